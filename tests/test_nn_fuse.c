/* test_nn_fuse.c — the executor's fused kernels for small networks:
 * batch norm + relu/relu6 (sn_bn_act_forward/backward) and the
 * inference-mode conv + batch norm fold, checked bit for bit (or to a
 * tolerance where rounding legitimately differs) against the unfused ops
 * (SLIMNAS_NO_FUSE=1), and by central differences on whole graphs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "gradutil.h"
#include "testutil.h"

#include "slimnas/graph.h"
#include "slimnas/nn.h"

static int add(sn_graph *g, sn_op_kind op, const sn_attr *a, int in0,
               const char *name) {
    sn_error e;
    sn_attr d = sn_attr_default(op);
    int i = sn_graph_add(g, op, a ? a : &d, &in0, 1, name, &e);
    if (i < 0) fail_msg("add %s: %s", name ? name : "?", e.msg);
    return i;
}

static sn_attr conv(int out, int k, int stride, int groups, int bias) {
    sn_attr a = sn_attr_default(SN_OP_CONV);
    a.out = out;
    a.k = k;
    a.stride = stride;
    a.pad = k / 2;
    a.groups = groups;
    a.bias = bias;
    return a;
}

/* A small separable net: stem conv (bias) + bn + relu6, depthwise (no
 * bias, stride 2) + bn + relu6, pointwise + bn + relu, gap, dense, then
 * a bn + relu6 on the logits as the output (the act is the last node). */
static sn_graph *small_sep(int final_act) {
    sn_graph *g = sn_graph_new("sep", (sn_shape){2, 9, 9}, 4);
    sn_attr a = conv(4, 3, 1, 1, 1);
    int x = add(g, SN_OP_CONV, &a, 0, NULL);
    x = add(g, SN_OP_BN, NULL, x, NULL);
    x = add(g, SN_OP_RELU6, NULL, x, NULL);
    a = conv(4, 3, 2, 4, 0);
    x = add(g, SN_OP_CONV, &a, x, NULL);
    x = add(g, SN_OP_BN, NULL, x, NULL);
    x = add(g, SN_OP_RELU6, NULL, x, NULL);
    a = conv(6, 1, 1, 1, 0);
    x = add(g, SN_OP_CONV, &a, x, NULL);
    x = add(g, SN_OP_BN, NULL, x, NULL);
    x = add(g, SN_OP_RELU, NULL, x, NULL);
    x = add(g, SN_OP_GAP, NULL, x, NULL);
    sn_attr d = sn_attr_default(SN_OP_DENSE);
    d.out = 4;
    x = add(g, SN_OP_DENSE, &d, x, NULL);
    if (final_act) {
        x = add(g, SN_OP_BN, NULL, x, NULL);
        add(g, SN_OP_RELU6, NULL, x, NULL);
    }
    sn_error e;
    if (sn_graph_validate(g, &e) != 0) fail_msg("%s", e.msg);
    return g;
}

/* A bn with two readers (its relu and an add): forward fuses, backward
 * must not. */
static sn_graph *two_readers(void) {
    sn_graph *g = sn_graph_new("two", (sn_shape){3, 6, 6}, 3);
    sn_attr a = conv(3, 3, 1, 1, 0);
    int c = add(g, SN_OP_CONV, &a, 0, NULL);
    int b = add(g, SN_OP_BN, NULL, c, NULL);
    int r = add(g, SN_OP_RELU, NULL, b, NULL);
    sn_error e;
    int in[2] = {r, b};
    int s = sn_graph_add(g, SN_OP_ADD, &(sn_attr){0}, in, 2, NULL, &e);
    if (s < 0) fail_msg("%s", e.msg);
    s = add(g, SN_OP_FLATTEN, NULL, s, NULL);
    sn_attr d = sn_attr_default(SN_OP_DENSE);
    d.out = 3;
    add(g, SN_OP_DENSE, &d, s, NULL);
    if (sn_graph_validate(g, &e) != 0) fail_msg("%s", e.msg);
    return g;
}

typedef struct outcome {
    float *train_out, *grads, *infer_out, *infer_grads, *predict_out,
        *predict_passes, *rmean;
    int64_t n_out, n_params, n_rmean;
    int folded; /* convs folded into their bn in predictions */
} outcome;

static void outcome_free(outcome *o) {
    free(o->train_out);
    free(o->grads);
    free(o->infer_out);
    free(o->infer_grads);
    free(o->predict_out);
    free(o->predict_passes);
    free(o->rmean);
}

static float *copy(const float *p, int64_t n) {
    float *q = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    memcpy(q, p, sizeof(float) * (size_t)n);
    return q;
}

/* One training forward + backward and one inference forward of g with
 * weights seeded `seed`, fused or not. */
static outcome run_graph(const sn_graph *g, int fuse, int n, uint64_t seed) {
    setenv("SLIMNAS_NO_FUSE", fuse ? "0" : "1", 1);
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, seed);
    /* non-trivial gammas, betas and running statistics */
    tu_fill_normal(w->params, (size_t)w->n_params, seed + 1, 0.3f);
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == SN_OP_BN) {
            float *gam = sn_weights_tensor(w, i, 0);
            float *rv = sn_weights_tensor(w, i, 3);
            for (int c = 0; c < g->nodes[i].out.c; c++) {
                gam[c] = 1.0f + 0.5f * gam[c];
                rv[c] = 0.5f + (float)c * 0.25f;
            }
        }
    int64_t in_sz = sn_shape_size(g->nodes[0].out) * n;
    int64_t out_n = (int64_t)g->classes * n;
    float *x = sn_falloc((size_t)in_sz), *dl = sn_falloc((size_t)out_n);
    tu_fill_normal(x, (size_t)in_sz, seed + 2, 2.0f);
    tu_fill_normal(dl, (size_t)out_n, seed + 3, 0.5f);
    sn_exec *ex = sn_exec_new(g, w, n);
    outcome o = {.n_out = out_n, .n_params = w->n_params};
    o.train_out = copy(sn_exec_forward(ex, x, n, 1), out_n);
    sn_exec_zero_grad(ex);
    sn_exec_backward(ex, dl);
    o.grads = copy(sn_exec_grads(ex), w->n_params);
    o.infer_out = copy(sn_exec_forward(ex, x, n, 0), out_n);
    /* backward of an inference forward: bn's constant-statistics path
     * (a conv building the bn's input gradient takes it too) */
    sn_exec_zero_grad(ex);
    sn_exec_backward(ex, dl);
    o.infer_grads = copy(sn_exec_grads(ex), w->n_params);
    o.predict_out = copy(sn_exec_predict(ex, x, n), out_n);
    o.folded = sn_exec_n_folded(ex);
    /* the same predictions two samples per pass through the network (an
     * exec's pass size is fixed when it is made) */
    setenv("SLIMNAS_PREDICT_CHUNK", "2", 1);
    sn_exec *ep = sn_exec_new(g, w, n);
    o.predict_passes = copy(sn_exec_predict(ep, x, n), out_n);
    sn_exec_free(ep);
    unsetenv("SLIMNAS_PREDICT_CHUNK");
    /* the first bn's running mean, moved by the training forward */
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == SN_OP_BN) {
            o.n_rmean = g->nodes[i].out.c;
            o.rmean = copy(sn_weights_tensor(w, i, 2), o.n_rmean);
            break;
        }
    sn_exec_free(ex);
    sn_free_aligned(x);
    sn_free_aligned(dl);
    sn_weights_free(w);
    unsetenv("SLIMNAS_NO_FUSE");
    return o;
}

/* |a - b| <= tol * (1 + max |a|) over n logits, else fail naming them
 * (what: "a's name, b's name"). A sample dropped or logits copied to the
 * wrong place are off by O(1). */
static void near_logits(const char *net, const char *what, const float *a,
                        const float *b, int64_t n, double tol) {
    double scale = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(a[i]));
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)a[i] - b[i]) <= tol * (1 + scale)))
            fail_msg("%s: prediction %lld (%s): %.9g, %.9g", net,
                     (long long)i, what, a[i], b[i]);
}

/* Fused bn + act: training outputs, every gradient, the running
 * statistics and inference outputs bit for bit; predictions (conv + bn
 * folded) to a tolerance, since the scale is applied to the weights before
 * the sum instead of to the sum (unfused, predictions are the inference
 * forward exactly). */
static void compare(const sn_graph *g, int n, int folds) { /* folds: convs folded */
    for (int t = 1; t <= 2; t++) {
        sn_threads_init(t);
        outcome a = run_graph(g, 0, n, 11), b = run_graph(g, 1, n, 11);
        assert_memory_equal(a.train_out, b.train_out,
                            sizeof(float) * (size_t)a.n_out);
        assert_memory_equal(a.grads, b.grads,
                            sizeof(float) * (size_t)a.n_params);
        if (a.n_rmean)
            assert_memory_equal(a.rmean, b.rmean,
                                sizeof(float) * (size_t)a.n_rmean);
        assert_memory_equal(a.infer_out, b.infer_out,
                            sizeof(float) * (size_t)a.n_out);
        assert_memory_equal(a.infer_grads, b.infer_grads,
                            sizeof(float) * (size_t)a.n_params);
        assert_memory_equal(a.infer_out, a.predict_out,
                            sizeof(float) * (size_t)a.n_out);
        /* passes of two samples: the same sums, but sgemm may block a
         * sum differently for another column count (float rounding) */
        near_logits(g->name, "one pass, passes of 2", a.predict_out,
                    a.predict_passes, a.n_out, 1e-6);
        near_logits(g->name, "folded: one pass, passes of 2", b.predict_out,
                    b.predict_passes, a.n_out, 1e-6);
        near_logits(g->name, "unfused, folded", a.infer_out, b.predict_out,
                    a.n_out, 1e-5);
        /* the fold ran where the graph has a conv read only by a bn, and
         * only there; never unfused (comparing the outputs for a rounding
         * difference instead depends on the compiler's optimisation) */
        assert_int_equal(a.folded, 0);
        assert_int_equal(b.folded, folds);
        outcome_free(&a);
        outcome_free(&b);
    }
    sn_threads_init(1);
}

static void test_fused_matches_unfused(void **state) {
    (void)state;
    sn_graph *g1 = small_sep(0), *g2 = small_sep(1), *g3 = two_readers();
    compare(g1, 5, 3);
    compare(g2, 7, 3);
    compare(g3, 4, 1);
    sn_error e;
    sn_arch_opts o = {0, 0};
    sn_graph *g4 =
        sn_graph_new_kind("mobile_tiny", (sn_shape){1, 28, 28}, 10, &o, &e);
    if (!g4) fail_msg("%s", e.msg);
    compare(g4, 9, 9);
    /* a 40x40 conv output goes to sgemm in bands of rows: its planes'
     * statistics are taken when the last band is out */
    sn_graph *g5 = sn_graph_new("bands", (sn_shape){2, 40, 40}, 3);
    sn_attr a = conv(4, 3, 1, 1, 1);
    int x = add(g5, SN_OP_CONV, &a, 0, NULL);
    x = add(g5, SN_OP_BN, NULL, x, NULL);
    x = add(g5, SN_OP_RELU, NULL, x, NULL);
    x = add(g5, SN_OP_GAP, NULL, x, NULL);
    sn_attr d = sn_attr_default(SN_OP_DENSE);
    d.out = 3;
    add(g5, SN_OP_DENSE, &d, x, NULL);
    if (sn_graph_validate(g5, &e) != 0) fail_msg("%s", e.msg);
    compare(g5, 3, 1);
    sn_graph_free(g5);
    /* convs that alone read their input write its gradient (din_fresh):
     * a banded 40x40 3x3 conv (col2im on zeroed samples), a grouped 1x1
     * (sgemm with beta 0), a depthwise stride 2 (unpacked into a zeroed
     * plane) and stride 1 (written) */
    sn_graph *g9 = sn_graph_new("fresh", (sn_shape){2, 40, 40}, 3);
    a = conv(4, 3, 1, 1, 0);
    x = add(g9, SN_OP_CONV, &a, 0, NULL);
    x = add(g9, SN_OP_RELU, NULL, x, NULL);
    x = add(g9, SN_OP_CONV, &a, x, NULL);
    x = add(g9, SN_OP_BN, NULL, x, NULL);
    x = add(g9, SN_OP_RELU6, NULL, x, NULL);
    a = conv(6, 1, 1, 2, 0);
    x = add(g9, SN_OP_CONV, &a, x, NULL);
    x = add(g9, SN_OP_RELU, NULL, x, NULL);
    a = conv(6, 3, 2, 6, 0);
    x = add(g9, SN_OP_CONV, &a, x, NULL);
    x = add(g9, SN_OP_BN, NULL, x, NULL);
    x = add(g9, SN_OP_RELU, NULL, x, NULL);
    a = conv(12, 3, 1, 6, 1);
    x = add(g9, SN_OP_CONV, &a, x, NULL);
    x = add(g9, SN_OP_GAP, NULL, x, NULL);
    add(g9, SN_OP_DENSE, &d, x, NULL);
    if (sn_graph_validate(g9, &e) != 0) fail_msg("%s", e.msg);
    compare(g9, 3, 2);
    compare(g9, 17, 2); /* split across two threads */
    sn_graph_free(g9);
    /* conv -> relu -> max pool (tiny2conv: 28x28 and 14x14 outputs),
     * both directions fused */
    sn_graph *g6 =
        sn_graph_new_kind("tiny2conv", (sn_shape){1, 28, 28}, 10, &o, &e);
    if (!g6) fail_msg("%s", e.msg);
    compare(g6, 9, 0);
    sn_graph_free(g6);
    /* ... forward only: the relu has a second reader; and an odd 7x7
     * output (the pool drops its last row and column, the relu keeps
     * them) */
    sn_graph *g7 = sn_graph_new("relu2", (sn_shape){2, 7, 7}, 3);
    a = conv(3, 3, 1, 1, 1);
    int cv = add(g7, SN_OP_CONV, &a, 0, NULL);
    int rl = add(g7, SN_OP_RELU, NULL, cv, NULL);
    int mp = add(g7, SN_OP_MAXPOOL, NULL, rl, NULL);
    int gp = add(g7, SN_OP_GAP, NULL, mp, NULL);
    int g2p = add(g7, SN_OP_GAP, NULL, rl, NULL);
    int in2[2] = {gp, g2p};
    int s = sn_graph_add(g7, SN_OP_ADD, &(sn_attr){0}, in2, 2, NULL, &e);
    if (s < 0) fail_msg("%s", e.msg);
    s = add(g7, SN_OP_FLATTEN, NULL, s, NULL);
    add(g7, SN_OP_DENSE, &d, s, NULL);
    if (sn_graph_validate(g7, &e) != 0) fail_msg("%s", e.msg);
    compare(g7, 5, 0);
    /* and both directions on the odd size */
    sn_graph *g8 = sn_graph_new("odd", (sn_shape){2, 7, 7}, 3);
    cv = add(g8, SN_OP_CONV, &a, 0, NULL);
    rl = add(g8, SN_OP_RELU, NULL, cv, NULL);
    mp = add(g8, SN_OP_MAXPOOL, NULL, rl, NULL);
    s = add(g8, SN_OP_FLATTEN, NULL, mp, NULL);
    add(g8, SN_OP_DENSE, &d, s, NULL);
    if (sn_graph_validate(g8, &e) != 0) fail_msg("%s", e.msg);
    compare(g8, 6, 0);
    sn_graph_free(g7);
    sn_graph_free(g8);
    sn_graph_free(g1);
    sn_graph_free(g2);
    sn_graph_free(g3);
    sn_graph_free(g4);
}

/* L = sum(logits * R) over a training forward of a tiny graph (input ->
 * bn -> relu6 -> 1x1 conv -> bn -> relu -> flatten -> dense); with fusion
 * on, every parameter gradient agrees with central differences of L. The
 * input is redrawn until every bn output sits at least MARGIN from the
 * activations' kinks (0, and 6 for relu6: the first bn's gamma is large so
 * that some outputs pass 6), so the +-h steps cross none. */
#define MARGIN 0.05

static int near_kink(const sn_exec *ex, int node, int64_t count) {
    const float *v = sn_exec_output(ex, node);
    for (int64_t i = 0; i < count; i++)
        if (fabs(v[i]) < MARGIN || fabs(v[i] - 6.0) < MARGIN) return 1;
    return 0;
}

static void test_fused_gradcheck(void **state) {
    (void)state;
    sn_threads_init(2);
    setenv("SLIMNAS_NO_FUSE", "0", 1);
    sn_graph *g = sn_graph_new("tiny", (sn_shape){2, 4, 4}, 3);
    int b1 = add(g, SN_OP_BN, NULL, 0, NULL);
    int x = add(g, SN_OP_RELU6, NULL, b1, NULL);
    sn_attr a = conv(3, 1, 1, 1, 1);
    x = add(g, SN_OP_CONV, &a, x, NULL);
    int b2 = add(g, SN_OP_BN, NULL, x, NULL);
    x = add(g, SN_OP_RELU, NULL, b2, NULL);
    x = add(g, SN_OP_FLATTEN, NULL, x, NULL);
    sn_attr d = sn_attr_default(SN_OP_DENSE);
    d.out = 3;
    add(g, SN_OP_DENSE, &d, x, NULL);
    sn_error e;
    if (sn_graph_validate(g, &e) != 0) fail_msg("%s", e.msg);
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, 3);
    float *gamma = sn_weights_tensor(w, b1, 0), *beta = sn_weights_tensor(w, b1, 1);
    gamma[0] = 4.0f, gamma[1] = 1.5f, beta[0] = 1.0f, beta[1] = 0.5f;
    sn_weights_tensor(w, b2, 1)[1] = 0.3f;
    const int n = 4;
    int64_t in_sz = sn_shape_size(g->nodes[0].out) * n;
    int64_t out_n = (int64_t)g->classes * n;
    float *in = sn_falloc((size_t)in_sz), *r = sn_falloc((size_t)out_n);
    tu_fill_normal(r, (size_t)out_n, 22, 1.0f);
    /* the search reads the bn outputs: an unfused exec (a fused training
     * forward leaves them unwritten) */
    setenv("SLIMNAS_NO_FUSE", "1", 1);
    sn_exec *ex = sn_exec_new(g, w, n);
    uint64_t seed = 100;
    do {
        assert_true(seed < 10000);
        tu_fill_normal(in, (size_t)in_sz, seed++, 1.0f);
        sn_exec_forward(ex, in, n, 1);
    } while (near_kink(ex, b1, in_sz) ||
             near_kink(ex, b2, sn_shape_size(g->nodes[b2].out) * n));
    int above6 = 0;
    for (int64_t i = 0; i < in_sz; i++) above6 += sn_exec_output(ex, b1)[i] > 6;
    assert_true(above6 > 0);
    sn_exec_free(ex);
    setenv("SLIMNAS_NO_FUSE", "0", 1);
    ex = sn_exec_new(g, w, n);
    /* float32 outputs: L carries ~1e-6 relative rounding, divided by 2h;
     * a wrong mask or a missing term is off by O(|g|) */
    assert_true(tu_exec_gradcheck(ex, w, in, r, n, out_n, 1e-3, 2e-3, 0,
                                  "fused") > 10);
    sn_exec_free(ex);
    sn_free_aligned(in);
    sn_free_aligned(r);
    sn_weights_free(w);
    sn_graph_free(g);
    unsetenv("SLIMNAS_NO_FUSE");
    sn_threads_init(1);
}

/* bn's one-pass training statistics (per-plane mean and centred squares,
 * combined in double) keep their digits when |mean| >> std, where a
 * one-pass E[x^2] - E[x]^2 in float would lose them all: input 1e4 +
 * N(0, 1), output per channel mean 0 and variance 1; and the running
 * variance gets the unbiased batch variance, against a double reference. */
static void test_bn_stats_large_mean(void **state) {
    (void)state;
    for (int th = 1; th <= 2; th++) {
        sn_threads_init(th);
        sn_shape in[] = {{3, 5, 7}};
        sn_attr a = sn_attr_default(SN_OP_BN);
        a.momentum = 1.0f; /* running stats = this batch's */
        gc_fix f;
        sn_error e;
        assert_int_equal(gc_fix_init(&f, SN_OP_BN, &a, 1, in, 19, 5, &e), 0);
        f.training = 1;
        tu_fill_normal(f.x[0], (size_t)f.in_size[0], 9, 1.0f);
        for (int64_t i = 0; i < f.in_size[0]; i++) f.x[0][i] += 1e4f;
        for (int c = 0; c < 3; c++) f.t[0][c] = 1.0f, f.t[1][c] = 0.0f;
        gc_fix_forward(&f);
        for (int c = 0; c < 3; c++) {
            double s = 0, q = 0, xs = 0, xq = 0;
            int64_t m = 0;
            for (int i = 0; i < 19; i++)
                for (int j = 0; j < 35; j++, m++) {
                    double y = f.out[(i * 3 + c) * 35 + j];
                    double v = f.x[0][(i * 3 + c) * 35 + j];
                    s += y, q += y * y, xs += v;
                }
            double xm = xs / (double)m;
            for (int i = 0; i < 19; i++)
                for (int j = 0; j < 35; j++) {
                    double v = f.x[0][(i * 3 + c) * 35 + j] - xm;
                    xq += v * v;
                }
            assert_true(fabs(s / (double)m) < 1e-3);
            assert_true(fabs(q / (double)m - 1.0) < 1e-3);
            assert_true(fabs(f.t[2][c] - xm) < 1e-2); /* float of 1e4 */
            assert_true(fabs(f.t[3][c] / (xq / (double)(m - 1)) - 1) < 1e-4);
        }
        gc_fix_free(&f);
    }
    sn_threads_init(1);
}

int main(void) {
    sn_threads_init(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fused_matches_unfused),
        cmocka_unit_test(test_fused_gradcheck),
        cmocka_unit_test(test_bn_stats_large_mean),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sn_threads_shutdown();
    return rc;
}
