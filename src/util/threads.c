/* threads.c — one process-wide worker pool for data-parallel loops.
 *
 * The caller runs chunk 0 itself; workers 1..T-1 wait for a new generation.
 * A worker spins briefly before sleeping on a condition variable, so the
 * back-to-back regions of one training step cost microseconds, while an
 * idle pool uses no CPU (spinning forever is pathological on a shared
 * 2-core machine). */
#include "slimnas/util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_THREADS 64
/* ~600 us of spinning on this machine's Zen 5 (200,000 rounds measured
 * 62 us). At 20,000 (~6 us) a thread slept at about half of a split
 * step's barriers; 200,000 was 2-5% faster for 2-thread training of
 * mobile_tiny / sep5k in A/B pairs, and the README's speed table was
 * measured at this value. */
#define SPIN_ROUNDS 2000000

extern void openblas_set_num_threads(int);

typedef struct pool {
    int n;
    pthread_t th[MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;      /* bumped once per region */
    unsigned start_gen;   /* gen when the workers were created */
    atomic_int pending;   /* workers still busy in this region */
    int quit;
    sn_task_fn fn;
    void *ctx;
    int64_t total;
} pool;

static pool P = {.n = 1, .mu = PTHREAD_MUTEX_INITIALIZER,
                 .cv = PTHREAD_COND_INITIALIZER};

/* > 0 while this thread runs a task (or asked for serial): nested
 * sn_parallel_for calls run inline, sn_threads_here() says 1. Workers
 * only ever run tasks. */
static _Thread_local int tl_serial;

static void chunk(int64_t total, int n, int tid, int64_t *b, int64_t *e) {
    *b = total * tid / n;
    *e = total * (tid + 1) / n;
}

static void *worker(void *arg) {
    int tid = (int)(intptr_t)arg;
    tl_serial = 1;
    /* Start from the generation before creation: a region posted before
     * this thread first runs must still be seen as new. */
    unsigned seen = P.start_gen;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&P.gen, memory_order_acquire) == seen &&
               spins < SPIN_ROUNDS)
            spins++;
        if (atomic_load_explicit(&P.gen, memory_order_acquire) == seen) {
            pthread_mutex_lock(&P.mu);
            while (atomic_load(&P.gen) == seen && !P.quit)
                pthread_cond_wait(&P.cv, &P.mu);
            pthread_mutex_unlock(&P.mu);
        }
        pthread_mutex_lock(&P.mu);
        int quit = P.quit;
        pthread_mutex_unlock(&P.mu);
        if (quit) return NULL;
        seen = atomic_load(&P.gen);
        int64_t b, e;
        chunk(P.total, P.n, tid, &b, &e);
        if (b < e) P.fn(P.ctx, b, e, tid);
        atomic_fetch_sub_explicit(&P.pending, 1, memory_order_release);
    }
}

void sn_threads_init(int n) {
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    if (n > MAX_THREADS) n = MAX_THREADS;
    sn_threads_shutdown();
    openblas_set_num_threads(1);
    P.quit = 0;
    P.n = n;
    P.start_gen = atomic_load(&P.gen);
    for (int i = 1; i < n; i++)
        pthread_create(&P.th[i], NULL, worker, (void *)(intptr_t)i);
}

int sn_threads_count(void) { return P.n; }

int sn_threads_here(void) { return tl_serial ? 1 : P.n; }

void sn_threads_serial_begin(void) { tl_serial++; }

void sn_threads_serial_end(void) { tl_serial--; }

void sn_threads_shutdown(void) {
    if (P.n <= 1) {
        P.n = 1;
        return;
    }
    pthread_mutex_lock(&P.mu);
    P.quit = 1;
    atomic_fetch_add(&P.gen, 1);
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
    for (int i = 1; i < P.n; i++) pthread_join(P.th[i], NULL);
    P.n = 1;
    P.quit = 0;
}

void sn_parallel_for(int64_t n, sn_task_fn fn, void *ctx) {
    if (n <= 0) return;
    if (P.n <= 1 || n == 1 || tl_serial) {
        tl_serial++;
        fn(ctx, 0, n, 0);
        tl_serial--;
        return;
    }
    pthread_mutex_lock(&P.mu);
    P.fn = fn;
    P.ctx = ctx;
    P.total = n;
    atomic_store(&P.pending, P.n - 1);
    atomic_fetch_add_explicit(&P.gen, 1, memory_order_release);
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
    int64_t b, e;
    chunk(n, P.n, 0, &b, &e);
    tl_serial = 1;
    if (b < e) fn(ctx, b, e, 0);
    tl_serial = 0;
    long spins = 0;
    while (atomic_load_explicit(&P.pending, memory_order_acquire) > 0)
        if (++spins > SPIN_ROUNDS) sched_yield();
}

void sn_barrier_init(sn_barrier *b, int n) {
    atomic_init(&b->count, 0);
    atomic_init(&b->phase, 0u);
    atomic_init(&b->sleepers, 0);
    b->n = n;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
}

void sn_barrier_destroy(sn_barrier *b) {
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
}

/* The last to arrive resets the count and opens the next phase (and wakes
 * any sleepers); the others spin on the phase, then sleep until it
 * changes. A sleeper counts itself and checks the phase under the mutex;
 * the opener bumps the phase, then reads the count (both sequentially
 * consistent): either the sleeper sees the new phase or the opener sees
 * the sleeper, and broadcasts under the mutex, which the sleeper holds
 * until it waits. Acquire on the phase: a waiter sees every write made
 * before any thread arrived. */
void sn_barrier_wait(sn_barrier *b) {
    unsigned ph = atomic_load_explicit(&b->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) ==
        b->n - 1) {
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
        atomic_fetch_add(&b->phase, 1u);
        if (atomic_load(&b->sleepers) > 0) {
            pthread_mutex_lock(&b->mu);
            pthread_cond_broadcast(&b->cv);
            pthread_mutex_unlock(&b->mu);
        }
        return;
    }
    for (long spins = 0; spins < SPIN_ROUNDS; spins++)
        if (atomic_load_explicit(&b->phase, memory_order_acquire) != ph)
            return;
    pthread_mutex_lock(&b->mu);
    atomic_fetch_add(&b->sleepers, 1);
    while (atomic_load(&b->phase) == ph) pthread_cond_wait(&b->cv, &b->mu);
    atomic_fetch_sub(&b->sleepers, 1);
    pthread_mutex_unlock(&b->mu);
}
