/* test_threads.c — the worker pool (sn_threads_*, sn_parallel_for)
 * directly: every index exactly once, disjoint chunks one per worker,
 * tids in range, work really spread over threads, thousands of
 * back-to-back regions, re-initialisation and shutdown. Its name makes
 * run_tests.sh run it under ThreadSanitizer (make check-tsan). */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct cover {
    int64_t n;
    atomic_int *hits;         /* per index */
    atomic_int calls[64];     /* per tid */
    atomic_int bad_tid;
    pthread_t who[64];
} cover;

static void mark(void *ctx, int64_t b, int64_t e, int tid) {
    cover *c = ctx;
    if (tid < 0 || tid >= sn_threads_count() || b < 0 || e > c->n || b >= e) {
        atomic_fetch_add(&c->bad_tid, 1);
        return;
    }
    atomic_fetch_add(&c->calls[tid], 1);
    c->who[tid] = pthread_self();
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&c->hits[i], 1);
}

static void check_cover(int threads, int64_t n) {
    sn_threads_init(threads);
    assert_int_equal(sn_threads_count(), threads);
    cover c;
    memset(&c, 0, sizeof c);
    c.n = n;
    c.hits = calloc((size_t)n + 1, sizeof *c.hits);
    sn_parallel_for(n, mark, &c);
    for (int64_t i = 0; i < n; i++)
        if (atomic_load(&c.hits[i]) != 1)
            fail_msg("%d threads, n %lld: index %lld ran %d times", threads,
                     (long long)n, (long long)i, atomic_load(&c.hits[i]));
    assert_int_equal(atomic_load(&c.bad_tid), 0);
    int used = 0;
    for (int t = 0; t < threads; t++) {
        assert_true(atomic_load(&c.calls[t]) <= 1); /* one chunk per worker */
        used += atomic_load(&c.calls[t]);
    }
    /* as many chunks as there is work for, up to one per thread */
    int64_t want = n < threads ? n : threads;
    if (n > 1 && threads > 1) assert_int_equal(used, want);
    /* chunks of different tids ran on different threads */
    for (int a = 0; a < threads; a++)
        for (int b = a + 1; b < threads; b++)
            if (atomic_load(&c.calls[a]) && atomic_load(&c.calls[b]))
                assert_false(pthread_equal(c.who[a], c.who[b]));
    free(c.hits);
    sn_threads_shutdown();
    assert_int_equal(sn_threads_count(), 1);
}

static void test_every_index_once(void **state) {
    static const int64_t sizes[] = {0, 1, 2, 3, 7, 64, 1000, 100003};
    for (int t = 1; t <= 4; t++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            check_cover(t, sizes[k]);
}

static void add_range(void *ctx, int64_t b, int64_t e, int tid) {
    (void)tid;
    atomic_llong *sum = ctx;
    long long s = 0;
    for (int64_t i = b; i < e; i++) s += i;
    atomic_fetch_add(sum, s);
}

/* Thousands of short regions back to back (the training loop's pattern:
 * workers spin between them, then sleep): each completes, in order. */
static void test_back_to_back(void **state) {
    sn_threads_init(3);
    for (int r = 0; r < 5000; r++) {
        atomic_llong sum = 0;
        int64_t n = 1 + r % 97;
        sn_parallel_for(n, add_range, &sum);
        if (atomic_load(&sum) != n * (n - 1) / 2)
            fail_msg("region %d: sum %lld, want %lld", r,
                     (long long)atomic_load(&sum), (long long)(n * (n - 1) / 2));
    }
    sn_threads_shutdown();
}

/* init picks the cores for 0, caps at 64; init twice and shutdown twice
 * are fine; a region after shutdown runs inline. */
static void test_init_shutdown(void **state) {
    sn_threads_init(0);
    assert_true(sn_threads_count() >= 1);
    sn_threads_init(1000);
    assert_int_equal(sn_threads_count(), 64);
    sn_threads_init(2);
    assert_int_equal(sn_threads_count(), 2);
    sn_threads_shutdown();
    sn_threads_shutdown();
    assert_int_equal(sn_threads_count(), 1);
    atomic_llong sum = 0;
    sn_parallel_for(10, add_range, &sum);
    assert_int_equal(atomic_load(&sum), 45);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_index_once),
        cmocka_unit_test(test_back_to_back),
        cmocka_unit_test(test_init_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
