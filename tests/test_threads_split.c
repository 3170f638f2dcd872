/* test_threads_split.c — the executor's split mode (exec.c): the batch
 * split across the worker pool, each thread running every node on its
 * slice, batch norm meeting the other slices at a barrier. Checked
 * against the one-thread executor (training outputs, running statistics,
 * parameter gradients, inference and predictions, a few SGD steps: to a
 * stated float-rounding tolerance), for determinism (two runs, the same
 * bits), by central differences on a graph whose bn statistics span the
 * slices, and the pool's pieces (nested calls inline, the barrier).
 * Named *thread* so `make check-tsan` runs it under ThreadSanitizer. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gradutil.h"
#include "testutil.h"

#include "slimnas/graph.h"
#include "slimnas/nn.h"

/* ---- the pool's pieces ---------------------------------------------- */

typedef struct bar_ctx {
    sn_barrier bar;
    atomic_int slot[8];
    atomic_int bad;
    int rounds, n;
} bar_ctx;

/* Every round: write the round into this thread's slot, wait, check that
 * every slot has it, wait again (so nobody overwrites before all read). */
static void bar_task(void *p, int64_t b, int64_t e, int tid) {
    bar_ctx *c = p;
    if (e - b != 1 || b != tid) atomic_fetch_add(&c->bad, 1);
    for (int r = 1; r <= c->rounds; r++) {
        /* now and then one thread is late: the others spin out and
         * sleep, and must be woken */
        if (r % 50 == 0 && tid == r / 50 % c->n) usleep(3000);
        atomic_store_explicit(&c->slot[tid], r, memory_order_relaxed);
        sn_barrier_wait(&c->bar);
        for (int t = 0; t < c->n; t++)
            if (atomic_load_explicit(&c->slot[t], memory_order_relaxed) != r)
                atomic_fetch_add(&c->bad, 1);
        sn_barrier_wait(&c->bar);
    }
}

static void test_barrier(void **state) {
    (void)state;
    for (int t = 2; t <= 4; t++) {
        sn_threads_init(t);
        bar_ctx c = {.rounds = 300, .n = t};
        sn_barrier_init(&c.bar, t);
        sn_parallel_for(t, bar_task, &c);
        assert_int_equal(atomic_load(&c.bad), 0);
        for (int k = 0; k < t; k++)
            assert_int_equal(atomic_load(&c.slot[k]), c.rounds);
        sn_barrier_destroy(&c.bar);
    }
    sn_threads_init(1);
}

typedef struct nest_ctx {
    atomic_int bad, inner_calls;
    pthread_t outer[8];
} nest_ctx;

typedef struct inner_arg {
    nest_ctx *c;
    int outer_tid;
} inner_arg;

static void inner_task(void *p, int64_t b, int64_t e, int tid) {
    inner_arg *a = p;
    /* inline: the whole range, tid 0, on the outer task's thread */
    if (b != 0 || e != 100 || tid != 0 ||
        !pthread_equal(pthread_self(), a->c->outer[a->outer_tid]))
        atomic_fetch_add(&a->c->bad, 1);
    atomic_fetch_add(&a->c->inner_calls, 1);
}

static void outer_task(void *p, int64_t b, int64_t e, int tid) {
    nest_ctx *c = p;
    (void)b, (void)e;
    c->outer[tid] = pthread_self();
    if (sn_threads_here() != 1 || sn_threads_count() < 2)
        atomic_fetch_add(&c->bad, 1);
    inner_arg a = {c, tid};
    sn_parallel_for(100, inner_task, &a);
}

static void test_nested_inline(void **state) {
    (void)state;
    sn_threads_init(3);
    assert_int_equal(sn_threads_here(), 3);
    nest_ctx c;
    memset(&c, 0, sizeof c);
    sn_parallel_for(3, outer_task, &c);
    assert_int_equal(atomic_load(&c.bad), 0);
    assert_int_equal(atomic_load(&c.inner_calls), 3);
    sn_threads_serial_begin();
    assert_int_equal(sn_threads_here(), 1);
    sn_threads_serial_end();
    assert_int_equal(sn_threads_here(), 3);
    sn_threads_init(1);
}

/* ---- graphs ---------------------------------------------------------- */

static int add(sn_graph *g, sn_op_kind op, const sn_attr *a, int in0) {
    sn_error e;
    sn_attr d = sn_attr_default(op);
    int i = sn_graph_add(g, op, a ? a : &d, &in0, 1, NULL, &e);
    if (i < 0) fail_msg("add: %s", e.msg);
    return i;
}

static int add2(sn_graph *g, sn_op_kind op, int a, int b) {
    sn_error e;
    int in[2] = {a, b};
    sn_attr d = sn_attr_default(op);
    int i = sn_graph_add(g, op, &d, in, 2, NULL, &e);
    if (i < 0) fail_msg("add2: %s", e.msg);
    return i;
}

static sn_attr conv(int out, int k, int stride, int groups) {
    sn_attr a = sn_attr_default(SN_OP_CONV);
    a.out = out;
    a.k = k;
    a.stride = stride;
    a.pad = k / 2;
    a.groups = groups;
    a.bias = 0;
    return a;
}

/* A separable net with every kind of node a search grows: bn + relu6, a
 * depthwise stride 2, an add skip, a concat, a bn without a conv before,
 * a max pool, dropout, gap, dense. */
static sn_graph *mixed(void) {
    sn_graph *g = sn_graph_new("mixed", (sn_shape){2, 12, 12}, 5);
    sn_attr a = conv(6, 3, 1, 1);
    int x = add(g, SN_OP_CONV, &a, 0);
    x = add(g, SN_OP_BN, NULL, x);
    x = add(g, SN_OP_RELU6, NULL, x);
    a = conv(6, 3, 2, 6);
    int d = add(g, SN_OP_CONV, &a, x);
    d = add(g, SN_OP_BN, NULL, d);
    d = add(g, SN_OP_RELU, NULL, d);
    a = conv(6, 1, 1, 1);
    int p = add(g, SN_OP_CONV, &a, d);
    p = add(g, SN_OP_BN, NULL, p);
    int s = add2(g, SN_OP_ADD, p, d);
    int c = add2(g, SN_OP_CONCAT, s, d);
    c = add(g, SN_OP_BN, NULL, c);
    c = add(g, SN_OP_MAXPOOL, NULL, c);
    sn_attr dr = sn_attr_default(SN_OP_DROPOUT);
    dr.rate = 0.3f;
    c = add(g, SN_OP_DROPOUT, &dr, c);
    c = add(g, SN_OP_GAP, NULL, c);
    sn_attr de = sn_attr_default(SN_OP_DENSE);
    de.out = 5;
    add(g, SN_OP_DENSE, &de, c);
    sn_error e;
    if (sn_graph_validate(g, &e) != 0) fail_msg("%s", e.msg);
    return g;
}

static sn_graph *kind(const char *k) {
    sn_error e;
    sn_arch_opts o = {0, 0};
    sn_graph *g = sn_graph_new_kind(k, (sn_shape){1, 28, 28}, 10, &o, &e);
    if (!g) fail_msg("%s", e.msg);
    return g;
}

/* ---- split against one thread ---------------------------------------- */

typedef struct outcome {
    float *train, *grads, *infer, *pred, *pred_passes, *running, *params;
    int64_t n_out, n_params, n_running;
    int split;
} outcome;

static float *copy(const float *p, int64_t n) {
    float *q = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    memcpy(q, p, sizeof(float) * (size_t)n);
    return q;
}

static void outcome_free(outcome *o) {
    free(o->train);
    free(o->grads);
    free(o->infer);
    free(o->pred);
    free(o->pred_passes);
    free(o->running);
    free(o->params);
}

/* With `threads` in the pool: a training forward + backward (dropout
 * seeded), an inference forward, predictions, then `steps` SGD steps. */
static outcome run(const sn_graph *g, int threads, int n, int steps) {
    sn_threads_init(threads);
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, 5);
    /* non-trivial gammas and betas */
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == SN_OP_BN) {
            float *gam = sn_weights_tensor(w, i, 0);
            float *bet = sn_weights_tensor(w, i, 1);
            for (int c = 0; c < g->nodes[i].out.c; c++) {
                gam[c] = 0.8f + 0.1f * (float)(c % 5);
                bet[c] = 0.05f * (float)(c % 3) - 0.04f;
            }
        }
    int64_t in_sz = sn_shape_size(g->nodes[0].out) * n;
    int64_t out_n = (int64_t)g->classes * n;
    float *x = sn_falloc((size_t)in_sz), *dl = sn_falloc((size_t)out_n);
    tu_fill_normal(x, (size_t)in_sz, 41, 1.5f);
    tu_fill_normal(dl, (size_t)out_n, 42, 0.3f);
    sn_exec *ex = sn_exec_new(g, w, n);
    sn_exec_set_seed(ex, 9);
    outcome o = {.n_out = out_n, .n_params = w->n_params,
                 .n_running = w->n_buffers};
    o.train = copy(sn_exec_forward(ex, x, n, 1), out_n);
    o.split = sn_exec_split(ex);
    sn_exec_zero_grad(ex);
    sn_exec_backward(ex, dl);
    o.grads = copy(sn_exec_grads(ex), w->n_params);
    o.running = copy(w->buffers, w->n_buffers);
    o.infer = copy(sn_exec_forward(ex, x, n, 0), out_n);
    o.pred = copy(sn_exec_predict(ex, x, n), out_n);
    /* predictions 16 samples per pass (split, when the pass is) */
    setenv("SLIMNAS_PREDICT_CHUNK", "16", 1);
    sn_exec *ep = sn_exec_new(g, w, n);
    o.pred_passes = copy(sn_exec_predict(ep, x, n), out_n);
    sn_exec_free(ep);
    unsetenv("SLIMNAS_PREDICT_CHUNK");
    sn_optim opt;
    sn_optim_init(&opt, SN_OPT_SGD, w->n_params);
    opt.lr = 0.05f;
    opt.momentum = 0.9f;
    int *y = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) y[i] = i % g->classes;
    for (int s = 0; s < steps; s++) {
        const float *lg = sn_exec_forward(ex, x, n, 1);
        sn_softmax_xent(lg, y, n, g->classes, 0.0f, dl, NULL);
        sn_exec_zero_grad(ex);
        sn_exec_backward(ex, dl);
        sn_optim_step(&opt, w->params, sn_exec_grads(ex), w->decay_mask);
    }
    o.params = copy(w->params, w->n_params);
    free(y);
    sn_optim_free(&opt);
    sn_exec_free(ex);
    sn_free_aligned(x);
    sn_free_aligned(dl);
    sn_weights_free(w);
    return o;
}

/* |a - b| <= tol * (1 + max |a|) over the array, else fail naming it. */
static void near(const char *what, const char *net, const float *a,
                 const float *b, int64_t n, double tol) {
    double scale = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(a[i]));
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)a[i] - b[i]) <= tol * (1 + scale)))
            fail_msg("%s, %s[%lld]: %.9g one thread, %.9g split", net, what,
                     (long long)i, a[i], b[i]);
}

/* The tolerance: split sums a conv's or dense's weight gradient as
 * per-slice partials, one thread in one pass, so the two differ by float
 * rounding (a relative 1e-7 or so per sum; measured below 1e-6 of the
 * largest gradient); a slice whose gradient went missing or a bn
 * normalising with a slice's own statistics is off by O(1). The outputs
 * and bn statistics are computed the same way in both, within 1e-6. */
#define TOL_OUT 1e-6
#define TOL_GRAD 1e-5
#define TOL_STEPS 1e-4 /* after SGD steps the differences compound */

static void check_net(const sn_graph *g, const char *name, int threads,
                      int n, int want_split) {
    outcome a = run(g, 1, n, 3), b = run(g, threads, n, 3);
    assert_int_equal(a.split, 0);
    if (b.split != want_split)
        fail_msg("%s, %d threads, batch %d: split %d, want %d", name, threads,
                 n, b.split, want_split);
    near("training output", name, a.train, b.train, a.n_out, TOL_OUT);
    near("running statistics", name, a.running, b.running, a.n_running,
         TOL_OUT);
    near("gradient", name, a.grads, b.grads, a.n_params, TOL_GRAD);
    near("inference output", name, a.infer, b.infer, a.n_out, TOL_OUT);
    near("prediction", name, a.pred, b.pred, a.n_out, TOL_OUT);
    near("prediction in passes of 16", name, a.pred, a.pred_passes, a.n_out,
         TOL_OUT);
    near("prediction in split passes of 16", name, a.pred, b.pred_passes,
         a.n_out, TOL_OUT);
    near("parameters after 3 steps", name, a.params, b.params, a.n_params,
         TOL_STEPS);
    /* deterministic: the same thread count gives the same bits */
    outcome c = run(g, threads, n, 3);
    assert_memory_equal(b.train, c.train, sizeof(float) * (size_t)b.n_out);
    assert_memory_equal(b.grads, c.grads, sizeof(float) * (size_t)b.n_params);
    assert_memory_equal(b.params, c.params,
                        sizeof(float) * (size_t)b.n_params);
    outcome_free(&a);
    outcome_free(&b);
    outcome_free(&c);
}

static void test_split_matches_one_thread(void **state) {
    (void)state;
    static const char *kinds[] = {"mobile_tiny", "tiny2conv", "cnn"};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        sn_graph *g = kind(kinds[k]);
        check_net(g, kinds[k], 2, 32, 2);
        check_net(g, kinds[k], 2, 9, 2); /* slices of 8 and 1 */
        sn_graph_free(g);
    }
    sn_graph *g = mixed();
    check_net(g, "mixed", 2, 24, 2);  /* 16 + 8 */
    check_net(g, "mixed", 3, 20, 3);  /* 8 + 8 + 4 */
    check_net(g, "mixed", 3, 40, 3);  /* 16 + 16 + 8 */
    check_net(g, "mixed", 2, 8, 0);   /* one chunk: unsplit */
    check_net(g, "mixed", 3, 16, 0);  /* two chunks, three threads */
    sn_graph_free(g);
    sn_threads_init(1);
}

/* SLIMNAS_NO_SPLIT=1 keeps every op splitting its own work. */
static void test_no_split_env(void **state) {
    (void)state;
    sn_graph *g = mixed();
    setenv("SLIMNAS_NO_SPLIT", "1", 1);
    outcome a = run(g, 2, 24, 0);
    unsetenv("SLIMNAS_NO_SPLIT");
    assert_int_equal(a.split, 0);
    outcome_free(&a);
    sn_graph_free(g);
    sn_threads_init(1);
}

/* ---- central differences through the slices ------------------------- */

/* L = sum(logits * R) over a training forward of a smooth graph (no
 * kinks: conv, bn, depthwise conv, bn, add, gap, dense, bn on the logits)
 * split in slices of 8 + 8 (+ 1): every bn's statistics are over the
 * whole batch, so a slice normalising by its own would disagree with the
 * numeric gradient. */
static void gradcheck(int threads, int n) {
    sn_threads_init(threads);
    sn_graph *g = sn_graph_new("smooth", (sn_shape){2, 5, 5}, 3);
    sn_attr a = conv(3, 3, 1, 1);
    a.bias = 1;
    int x = add(g, SN_OP_CONV, &a, 0);
    int b1 = add(g, SN_OP_BN, NULL, x);
    a = conv(3, 3, 1, 3);
    x = add(g, SN_OP_CONV, &a, b1);
    x = add(g, SN_OP_BN, NULL, x);
    x = add2(g, SN_OP_ADD, x, b1);
    x = add(g, SN_OP_GAP, NULL, x);
    sn_attr d = sn_attr_default(SN_OP_DENSE);
    d.out = 3;
    x = add(g, SN_OP_DENSE, &d, x);
    add(g, SN_OP_BN, NULL, x);
    sn_error e;
    if (sn_graph_validate(g, &e) != 0) fail_msg("%s", e.msg);
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, 3);
    int64_t in_sz = sn_shape_size(g->nodes[0].out) * n;
    int64_t out_n = (int64_t)g->classes * n;
    float *in = sn_falloc((size_t)in_sz), *r = sn_falloc((size_t)out_n);
    tu_fill_normal(in, (size_t)in_sz, 7, 1.0f);
    tu_fill_normal(r, (size_t)out_n, 8, 1.0f);
    sn_exec *ex = sn_exec_new(g, w, n);
    tu_dot_loss(ex, in, r, n, out_n);
    assert_int_equal(sn_exec_split(ex), threads);
    /* h: L carries ~1e-6 relative float rounding (divided by 2h, about
     * 1e-3 at h = 1e-3), curvature an h^2 error (~5e-3 at 1e-2); at 3e-3
     * the one-thread executor's worst parameter is off by 6e-4; a wrong
     * term is off by O(|g|) */
    char what[32];
    snprintf(what, sizeof what, "%d threads", threads);
    assert_true(tu_exec_gradcheck(ex, w, in, r, n, out_n, 3e-3, 2e-3, 1e-3,
                                  what) > 20);
    sn_exec_free(ex);
    sn_free_aligned(in);
    sn_free_aligned(r);
    sn_weights_free(w);
    sn_graph_free(g);
    sn_threads_init(1);
}

static void test_split_gradcheck(void **state) {
    (void)state;
    gradcheck(2, 16);
    gradcheck(3, 17);
}

int main(void) {
    sn_threads_init(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_barrier),
        cmocka_unit_test(test_nested_inline),
        cmocka_unit_test(test_split_matches_one_thread),
        cmocka_unit_test(test_no_split_env),
        cmocka_unit_test(test_split_gradcheck),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sn_threads_shutdown();
    return rc;
}
