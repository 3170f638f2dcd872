/* test_morph.c — network morphisms.
 *
 * Exact operators: at every position where they apply, on every base
 * architecture and along chains of random operators, the child's logits
 * equal the parent's (inference mode) on random inputs, with random
 * weights and non-trivial batch-norm statistics. Every operator: the
 * child's params / MACs / peak memory equal what enumerate predicted
 * before building anything. Shrinking operators: smaller as predicted,
 * closer to the parent than a random re-initialisation of the same layer
 * (separable, prune), and a short fine-tune recovers accuracy. */
#include "testutil.h"
#include "weightutil.h"

#include <sys/wait.h>
#include <unistd.h>

#include "slimnas/morph.h"
#include "slimnas/train.h"
#include "../src/morph/morph_internal.h"

/* The bound. Logits here are O(1..10); an exact morphism only
 * reorders float32 sums or adds exact zeros, which moves them by ~1e-6. */
#define EXACT_TOL 1e-4

typedef struct arch {
    const char *kind;
    sn_shape in;
    int width, depth;
} arch;

/* Small enough to run every position fast, deep enough that every
 * operator finds places to apply. densenet needs 32x32 to survive its
 * four pooling stages. */
static const arch ARCHS[] = {
    {"cnn", {3, 16, 16}, 8, 3},
    {"resnet", {3, 16, 16}, 4, 1},
    {"densenet", {3, 32, 32}, 4, 2},
    {"mobilenet", {3, 16, 16}, 4, 1},
    {"mobilenetv2", {3, 16, 16}, 8, 1},
    {"mobile_tiny", {1, 16, 16}, 4, 0},
    {"tiny2conv", {1, 12, 12}, 4, 0},
};
#define N_ARCHS ((int)(sizeof ARCHS / sizeof *ARCHS))
#define CLASSES 5
#define BATCH 3

static sn_graph *make_graph(const arch *a) {
    sn_error e;
    sn_arch_opts o = {a->width, a->depth};
    sn_graph *g = sn_graph_new_kind(a->kind, a->in, CLASSES, &o, &e);
    if (!g) fail_msg("%s: %s", a->kind, e.msg);
    return g;
}

static float *random_input(const sn_graph *g, int n, uint64_t seed) {
    size_t len = (size_t)n * (size_t)sn_shape_size(g->input);
    float *x = sn_falloc(len);
    tu_fill_normal(x, len, seed, 1.0f);
    return x;
}

/* Inference-mode logits [n, classes], malloc'd. */
static float *logits(const sn_graph *g, sn_weights *w, const float *x, int n) {
    sn_exec *ex = sn_exec_new(g, w, n);
    assert_non_null(ex);
    const float *y = sn_exec_forward(ex, x, n, 0);
    float *out = malloc(sizeof *out * (size_t)n * g->classes);
    memcpy(out, y, sizeof *out * (size_t)n * g->classes);
    sn_exec_free(ex);
    return out;
}

static void check_prediction(const sn_morph_cand *c, const sn_graph *child,
                             const char *desc) {
    sn_stats s;
    assert_int_equal(sn_stats_compute(child, SN_FLOPS_MACS, &s), 0);
    if (s.params != c->params || s.flops != c->flops ||
        s.peak_bytes != c->peak_bytes)
        fail_msg("%s: predicted params %lld flops %lld peak %lld, child has "
                 "%lld %lld %lld", desc, (long long)c->params,
                 (long long)c->flops, (long long)c->peak_bytes,
                 (long long)s.params, (long long)s.flops,
                 (long long)s.peak_bytes);
    sn_stats_free(&s);
}

/* The child must be a valid graph that survives a JSON round trip. */
static void check_child_graph(const sn_graph *child, const char *desc) {
    sn_error e;
    char *js = sn_graph_to_json(child);
    sn_graph *back = sn_graph_from_json(js, strlen(js), "child", &e);
    if (!back) fail_msg("%s: child JSON does not load: %s", desc, e.msg);
    assert_int_equal(back->n_nodes, child->n_nodes);
    sn_graph_free(back);
    free(js);
}

static double max_abs_logit(const float *y, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(y[i]));
    return m;
}

/* ---- exact operators at every position -------------------------------- */

static void test_exact_every_position(void **state) {
    (void)state;
    int used[SN_MORPH_COUNT] = {0};
    for (int a = 0; a < N_ARCHS; a++) {
        sn_graph *g = make_graph(&ARCHS[a]);
        sn_weights *w = tu_random_weights(g, 100 + (uint64_t)a);
        float *x = random_input(g, BATCH, 7 + (uint64_t)a);
        float *y0 = logits(g, w, x, BATCH);
        sn_morph_cand *c;
        sn_error e;
        int n = sn_morph_enumerate(g, &c, &e);
        assert_true(n > 0);
        int tried = 0;
        double worst = 0;
        for (int i = 0; i < n; i++) {
            if (sn_morph_get(c[i].op.op)->kind != SN_MORPH_EXACT) continue;
            sn_graph *cg;
            sn_weights *cw;
            char desc[SN_MORPH_DESC_LEN];
            if (sn_morph_apply(g, w, c[i].op, 1000 + (uint64_t)i, &cg, &cw,
                               desc, &e) != 0)
                fail_msg("%s: apply listed op failed: %s", ARCHS[a].kind,
                         e.msg);
            check_prediction(&c[i], cg, desc);
            float *y1 = logits(cg, cw, x, BATCH);
            double d = tu_max_abs_diff(y0, y1, (size_t)BATCH * CLASSES);
            if (!(d <= EXACT_TOL))
                fail_msg("%s: %s: logits differ by %.3g", ARCHS[a].kind,
                         desc, d);
            worst = fmax(worst, d);
            used[c[i].op.op]++;
            tried++;
            free(y1);
            sn_weights_free(cw);
            sn_graph_free(cg);
        }
        printf("# %-12s %3d exact morphisms, worst logit diff %.2g "
               "(logits up to %.2g)\n", ARCHS[a].kind, tried, worst,
               max_abs_logit(y0, (size_t)BATCH * CLASSES));
        free(c);
        free(y0);
        sn_free_aligned(x);
        sn_weights_free(w);
        sn_graph_free(g);
    }
    /* Every exact operator found somewhere to apply. */
    for (int k = 0; k < SN_MORPH_COUNT; k++)
        if (sn_morph_get(k)->kind == SN_MORPH_EXACT && used[k] == 0)
            fail_msg("exact operator %s never applied", sn_morph_get(k)->name);
}

/* ---- chains of random exact operators ---------------------------------- */

static void test_exact_chains(void **state) {
    (void)state;
    for (int a = 0; a < N_ARCHS; a++) {
        sn_graph *g0 = make_graph(&ARCHS[a]);
        sn_weights *w0 = tu_random_weights(g0, 200 + (uint64_t)a);
        float *x = random_input(g0, BATCH, 17 + (uint64_t)a);
        float *y0 = logits(g0, w0, x, BATCH);
        /* Keep the chain's size in check with the predictions, as the
         * search does: at most 5x the parameters and MACs of the start. */
        int64_t p_max = 5 * sn_graph_params(g0);
        int64_t f_max = 5 * sn_graph_flops(g0, SN_FLOPS_MACS);
        sn_graph *g = g0;
        sn_weights *w = w0;
        sn_rng r;
        sn_rng_seed(&r, 300 + (uint64_t)a);
        char trail[1024] = "";
        for (int step = 0; step < 10; step++) {
            sn_morph_cand *c;
            sn_error e;
            int n = sn_morph_enumerate(g, &c, &e);
            assert_true(n >= 0);
            int k = 0, cheapest = -1;
            for (int i = 0; i < n; i++) {
                if (sn_morph_get(c[i].op.op)->kind != SN_MORPH_EXACT) continue;
                if (cheapest < 0 || c[i].flops < c[cheapest].flops)
                    cheapest = i;
                if (c[i].params <= p_max && c[i].flops <= f_max)
                    c[k++] = c[i];
            }
            if (cheapest < 0)
                fail_msg("%s step %d: no exact morphism among %d (%s)",
                         ARCHS[a].kind, step, n, trail);
            if (k == 0) c[k++] = c[cheapest]; /* over budget: grow least */
            sn_morph_cand pick = c[sn_rng_int(&r, k)];
            free(c);
            sn_graph *cg;
            sn_weights *cw;
            char desc[SN_MORPH_DESC_LEN];
            if (sn_morph_apply(g, w, pick.op, sn_rng_u64(&r), &cg, &cw, desc,
                               &e) != 0)
                fail_msg("%s step %d: %s", ARCHS[a].kind, step, e.msg);
            check_prediction(&pick, cg, desc);
            check_child_graph(cg, desc);
            snprintf(trail + strlen(trail), sizeof trail - strlen(trail),
                     "%s%s", step ? "; " : "", desc);
            if (g != g0) {
                sn_weights_free(w);
                sn_graph_free(g);
            }
            g = cg;
            w = cw;
        }
        float *y1 = logits(g, w, x, BATCH);
        double d = tu_max_abs_diff(y0, y1, (size_t)BATCH * CLASSES);
        printf("# %-12s chain diff %.2g: %s\n", ARCHS[a].kind, d, trail);
        if (!(d <= EXACT_TOL))
            fail_msg("%s: chain changed logits by %.3g: %s", ARCHS[a].kind, d,
                     trail);
        free(y1);
        sn_weights_free(w);
        sn_graph_free(g);
        free(y0);
        sn_free_aligned(x);
        sn_weights_free(w0);
        sn_graph_free(g0);
    }
}

/* ---- approximate operators: predictions and size ----------------------- */

static void test_approx_predictions(void **state) {
    (void)state;
    int used[SN_MORPH_COUNT] = {0};
    for (int a = 0; a < N_ARCHS; a++) {
        sn_graph *g = make_graph(&ARCHS[a]);
        sn_weights *w = tu_random_weights(g, 400 + (uint64_t)a);
        float *x = random_input(g, BATCH, 27 + (uint64_t)a);
        int64_t params = sn_graph_params(g);
        int64_t flops = sn_graph_flops(g, SN_FLOPS_MACS);
        sn_morph_cand *c;
        sn_error e;
        int n = sn_morph_enumerate(g, &c, &e);
        for (int i = 0; i < n; i++) {
            const sn_morph_info *info = sn_morph_get(c[i].op.op);
            if (info->kind != SN_MORPH_APPROX) continue;
            sn_graph *cg;
            sn_weights *cw;
            char desc[SN_MORPH_DESC_LEN];
            if (sn_morph_apply(g, w, c[i].op, 5, &cg, &cw, desc, &e) != 0)
                fail_msg("%s: %s", ARCHS[a].kind, e.msg);
            check_prediction(&c[i], cg, desc);
            /* Shrinking: strictly fewer parameters and MACs, except that
             * dropping the identity input of an add removes nothing. */
            if (c[i].op.op == SN_MORPH_REMOVE_SKIP) {
                assert_true(c[i].params <= params && c[i].flops <= flops);
            } else if (!(c[i].params < params && c[i].flops < flops)) {
                fail_msg("%s: %s does not shrink: params %lld -> %lld, "
                         "MACs %lld -> %lld", ARCHS[a].kind, desc,
                         (long long)params, (long long)c[i].params,
                         (long long)flops, (long long)c[i].flops);
            }
            float *y = logits(cg, cw, x, BATCH);
            for (int j = 0; j < BATCH * CLASSES; j++)
                assert_true(isfinite(y[j]));
            used[c[i].op.op]++;
            free(y);
            sn_weights_free(cw);
            sn_graph_free(cg);
        }
        free(c);
        sn_free_aligned(x);
        sn_weights_free(w);
        sn_graph_free(g);
    }
    for (int k = 0; k < SN_MORPH_COUNT; k++)
        if (sn_morph_get(k)->kind == SN_MORPH_APPROX && used[k] == 0)
            fail_msg("approximate operator %s never applied",
                     sn_morph_get(k)->name);
}

/* ---- shrinking: error before fine-tuning ------------------------------- */

/* Mean absolute logit difference over a batch: a smoother measure than
 * the maximum for comparing two approximations. */
static double mean_abs_diff(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs((double)a[i] - (double)b[i]);
    return s / (double)n;
}

static sn_weights *weights_copy(const sn_graph *g, const sn_weights *w) {
    sn_weights *c = sn_weights_new(g);
    assert_int_equal(c->n_params, w->n_params);
    assert_int_equal(c->n_buffers, w->n_buffers);
    memcpy(c->params, w->params, sizeof(float) * (size_t)w->n_params);
    if (w->n_buffers)
        memcpy(c->buffers, w->buffers, sizeof(float) * (size_t)w->n_buffers);
    return c;
}

/* Copy of cw where the named layers get a fresh random initialisation. */
static sn_weights *reinit_layers(const sn_graph *cg, const sn_weights *cw,
                                 const char *const *names, int n,
                                 uint64_t seed) {
    sn_weights *r = weights_copy(cg, cw);
    sn_weights *fresh = sn_weights_new(cg);
    sn_weights_init(fresh, cg, seed);
    for (int k = 0; k < n; k++) {
        int i = sn_graph_find(cg, names[k]);
        if (i < 0) fail_msg("child has no layer %s", names[k]);
        for (int t = 0; t < r->n_tensors[i]; t++)
            memcpy(sn_weights_tensor(r, i, t), sn_weights_tensor(fresh, i, t),
                   sizeof(float) *
                       (size_t)sn_tensor_desc_size(&r->desc[i][t]));
    }
    sn_weights_free(fresh);
    return r;
}

/* Separable and prune at every position of every architecture, with
 * random weights: reports the error before fine-tuning next to that of
 * the same child with the changed layer freshly initialised. Random
 * kernels have no low-rank structure and random filters no saliency
 * ranking to exploit, so the strict per-position comparison is made on a
 * trained network (test_trained_shrink_and_finetune); here the inherited
 * weights must still win at 3 positions out of 4 (a broken fit, e.g. a
 * transposed layout, does no better than a coin toss). */
static void test_shrink_error_random_weights(void **state) {
    (void)state;
    enum { NB = 8 };
    int wins = 0, total = 0;
    for (int a = 0; a < N_ARCHS; a++) {
        sn_graph *g = make_graph(&ARCHS[a]);
        sn_weights *w = tu_random_weights(g, 500 + (uint64_t)a);
        float *x = random_input(g, NB, 37 + (uint64_t)a);
        float *y0 = logits(g, w, x, NB);
        sn_morph_cand *c;
        sn_error e;
        int n = sn_morph_enumerate(g, &c, &e);
        double sum[2] = {0, 0}, sum_r[2] = {0, 0};
        int cnt[2] = {0, 0};
        for (int i = 0; i < n; i++) {
            int op = c[i].op.op;
            int which = op == SN_MORPH_SEPARABLE ? 0 : op == SN_MORPH_PRUNE ? 1 : -1;
            if (which < 0) continue;
            sn_graph *cg;
            sn_weights *cw;
            char desc[SN_MORPH_DESC_LEN];
            assert_int_equal(
                sn_morph_apply(g, w, c[i].op, 9, &cg, &cw, desc, &e), 0);
            const char *base = g->nodes[c[i].op.pos].name;
            char n1[SN_NAME_LEN + 4], n2[SN_NAME_LEN + 4];
            const char *names[2] = {n1, n2};
            int nn = 1;
            if (which == 0) {
                snprintf(n1, sizeof n1, "%s_dw", base);
                snprintf(n2, sizeof n2, "%s_pw", base);
                nn = 2;
            } else {
                snprintf(n1, sizeof n1, "%s", base);
            }
            sn_weights *rw = reinit_layers(cg, cw, names, nn, 77 + (uint64_t)i);
            float *y1 = logits(cg, cw, x, NB);
            float *y2 = logits(cg, rw, x, NB);
            double d1 = mean_abs_diff(y0, y1, (size_t)NB * CLASSES);
            double d2 = mean_abs_diff(y0, y2, (size_t)NB * CLASSES);
            wins += d1 < d2;
            total++;
            sum[which] += d1;
            sum_r[which] += d2;
            cnt[which]++;
            free(y1);
            free(y2);
            sn_weights_free(rw);
            sn_weights_free(cw);
            sn_graph_free(cg);
        }
        printf("# %-12s mean |logit error|: separable %.3g (re-init %.3g, "
               "%d convs), prune %.3g (re-init %.3g, %d layers)\n",
               ARCHS[a].kind, cnt[0] ? sum[0] / cnt[0] : 0,
               cnt[0] ? sum_r[0] / cnt[0] : 0, cnt[0],
               cnt[1] ? sum[1] / cnt[1] : 0, cnt[1] ? sum_r[1] / cnt[1] : 0,
               cnt[1]);
        free(c);
        free(y0);
        sn_free_aligned(x);
        sn_weights_free(w);
        sn_graph_free(g);
    }
    printf("# inherited weights closer than re-initialised at %d of %d "
           "positions\n", wins, total);
    assert_true(total > 0 && 4 * wins >= 3 * total);
}

/* ---- shrinking: exact in the cases where nothing is lost --------------- */

/* A kernel that is rank one per input channel (W[o,i,:] = u_i[o] v_i) is
 * fitted exactly by separable: this checks the SVD and the layout of the
 * depthwise and pointwise kernels against an independent construction. */
static void test_separable_exact_on_rank_one(void **state) {
    (void)state;
    const arch a = {"cnn", {3, 12, 12}, 6, 2};
    sn_graph *g = make_graph(&a);
    sn_weights *w = tu_random_weights(g, 600);
    int conv = sn_graph_find(g, "conv2");
    assert_true(conv > 0);
    const sn_tensor_desc *d = &w->desc[conv][0];
    int co = d->dims[0], ci = d->dims[1], kk = d->dims[2] * d->dims[3];
    float *W = sn_weights_tensor(w, conv, 0);
    sn_rng r;
    sn_rng_seed(&r, 601);
    for (int i = 0; i < ci; i++) {
        float u[64], v[49];
        for (int o = 0; o < co; o++) u[o] = (float)sn_rng_normal(&r);
        for (int t = 0; t < kk; t++) v[t] = (float)(0.3 * sn_rng_normal(&r));
        for (int o = 0; o < co; o++)
            for (int t = 0; t < kk; t++)
                W[((size_t)o * ci + i) * kk + t] = u[o] * v[t];
    }
    float *x = random_input(g, BATCH, 602);
    float *y0 = logits(g, w, x, BATCH);
    sn_morph_op op;
    sn_error e;
    assert_int_equal(sn_morph_parse(g, "separable:conv2", 1, &op, &e), 0);
    sn_graph *cg;
    sn_weights *cw;
    char desc[SN_MORPH_DESC_LEN];
    assert_int_equal(sn_morph_apply(g, w, op, 1, &cg, &cw, desc, &e), 0);
    assert_true(sn_graph_find(cg, "conv2_dw") > 0);
    assert_true(sn_graph_find(cg, "conv2_pw") > 0);
    assert_int_equal(sn_graph_find(cg, "conv2"), -1);
    float *y1 = logits(cg, cw, x, BATCH);
    assert_true(tu_max_abs_diff(y0, y1, (size_t)BATCH * CLASSES) <= EXACT_TOL);
    /* The fit splits sigma evenly: |depthwise| and |pointwise| columns
     * have equal norms (both sqrt(sigma)). */
    int dw = sn_graph_find(cg, "conv2_dw"), pw = sn_graph_find(cg, "conv2_pw");
    const float *D = sn_weights_tensor(cw, dw, 0), *P = sn_weights_tensor(cw, pw, 0);
    for (int i = 0; i < ci; i++) {
        double nd = 0, np = 0;
        for (int t = 0; t < kk; t++) nd += (double)D[i * kk + t] * D[i * kk + t];
        for (int o = 0; o < co; o++) np += (double)P[o * ci + i] * P[o * ci + i];
        assert_close(sqrt(nd), sqrt(np), 1e-4 * (1 + sqrt(nd)));
    }
    free(y0);
    free(y1);
    sn_free_aligned(x);
    sn_weights_free(cw);
    sn_graph_free(cg);
    sn_weights_free(w);
    sn_graph_free(g);
}

static void apply_ok(const sn_graph *g, const sn_weights *w, const char *spec,
                     sn_graph **cg, sn_weights **cw) {
    sn_morph_op op;
    sn_error e;
    if (sn_morph_parse(g, spec, 1, &op, &e) != 0) fail_msg("%s: %s", spec, e.msg);
    char desc[SN_MORPH_DESC_LEN];
    if (sn_morph_apply(g, w, op, 3, cg, cw, desc, &e) != 0)
        fail_msg("%s: %s", spec, e.msg);
}

/* Filters that output exactly zero (zero weights and bias, then relu) are
 * the least salient, and removing them loses nothing: checks that prune
 * drops the right input columns of the reader. Likewise narrow-kernel on
 * a kernel whose outer ring is zero. */
static void test_prune_and_narrow_exact_when_lossless(void **state) {
    (void)state;
    const arch a = {"tiny2conv", {1, 12, 12}, 6, 0};
    sn_graph *g = make_graph(&a);
    sn_weights *w = tu_random_weights(g, 700);
    int c1 = sn_graph_find(g, "conv1"), c2 = sn_graph_find(g, "conv2");
    float *W = sn_weights_tensor(w, c1, 0), *b = sn_weights_tensor(w, c1, 1);
    const int dead[2] = {1, 4};
    for (int k = 0; k < 2; k++) {
        memset(W + dead[k] * 9, 0, sizeof(float) * 9);
        b[dead[k]] = 0;
    }
    float *W2 = sn_weights_tensor(w, c2, 0);
    int co = w->desc[c2][0].dims[0], ci = w->desc[c2][0].dims[1];
    for (int o = 0; o < co; o++)
        for (int i = 0; i < ci; i++)
            for (int t = 0; t < 9; t++)
                if (t != 4) W2[(o * ci + i) * 9 + t] = 0;
    float *x = random_input(g, BATCH, 701);
    float *y0 = logits(g, w, x, BATCH);
    sn_graph *cg;
    sn_weights *cw;
    apply_ok(g, w, "prune:conv1:2", &cg, &cw);
    assert_int_equal(cg->nodes[sn_graph_find(cg, "conv1")].attr.out, 4);
    float *y1 = logits(cg, cw, x, BATCH);
    assert_true(tu_max_abs_diff(y0, y1, (size_t)BATCH * CLASSES) <= EXACT_TOL);
    free(y1);
    sn_weights_free(cw);
    sn_graph_free(cg);

    apply_ok(g, w, "narrow-kernel:conv2:1", &cg, &cw);
    const sn_node *n2 = &cg->nodes[sn_graph_find(cg, "conv2")];
    assert_int_equal(n2->attr.k, 1);
    assert_int_equal(n2->attr.pad, 0);
    y1 = logits(cg, cw, x, BATCH);
    assert_true(tu_max_abs_diff(y0, y1, (size_t)BATCH * CLASSES) <= EXACT_TOL);
    free(y1);
    sn_weights_free(cw);
    sn_graph_free(cg);
    free(y0);
    sn_free_aligned(x);
    sn_weights_free(w);
    sn_graph_free(g);
}

static void expect_parse_error(const sn_graph *g, const char *spec,
                               const char *needle) {
    sn_morph_op op;
    sn_error e;
    e.msg[0] = 0;
    if (sn_morph_parse(g, spec, 1, &op, &e) == 0)
        fail_msg("'%s' parsed", spec);
    if (!strstr(e.msg, needle))
        fail_msg("'%s': error '%s' lacks '%s'", spec, e.msg, needle);
}

/* remove and remove-skip undo deeper and add-skip exactly. */
static void test_remove_undoes_growth(void **state) {
    (void)state;
    const arch a = {"cnn", {3, 12, 12}, 6, 2};
    sn_graph *g = make_graph(&a);
    sn_weights *w = tu_random_weights(g, 800);
    float *x = random_input(g, BATCH, 801);
    float *y0 = logits(g, w, x, BATCH);
    int64_t p0 = sn_graph_params(g);
    sn_graph *g1, *g2;
    sn_weights *w1, *w2;
    /* deeper after relu2 creates conv3 (+bn, +relu); remove takes it out */
    apply_ok(g, w, "deeper:relu2:3", &g1, &w1);
    assert_int_equal(g1->n_nodes, g->n_nodes + 3);
    int conv = g1->nodes[sn_graph_find(g1, "relu2") + 1].op == SN_OP_CONV
                   ? sn_graph_find(g1, "relu2") + 1 : -1;
    assert_true(conv > 0);
    char spec[64];
    snprintf(spec, sizeof spec, "remove:%s", g1->nodes[conv].name);
    apply_ok(g1, w1, spec, &g2, &w2);
    assert_int_equal(g2->n_nodes, g->n_nodes);
    assert_int_equal(sn_graph_params(g2), p0);
    float *y = logits(g2, w2, x, BATCH);
    assert_true(tu_max_abs_diff(y0, y, (size_t)BATCH * CLASSES) <= EXACT_TOL);
    free(y);
    sn_weights_free(w1);
    sn_graph_free(g1);
    sn_weights_free(w2);
    sn_graph_free(g2);
    /* add-skip relu1 -> maxpool2 adds an add (input 1 = the gate);
     * remove-skip drops the gate and the 1x1 conv behind it */
    apply_ok(g, w, "add-skip:relu1:maxpool2", &g1, &w1);
    int add = sn_graph_find(g1, "maxpool2") + 1;
    assert_int_equal(g1->nodes[add].op, SN_OP_ADD);
    /* the same skip twice is refused */
    expect_parse_error(g1, "add-skip:relu1:maxpool2", "already receives");
    expect_parse_error(g1, "concat-skip:relu1:maxpool2", "already receives");
    snprintf(spec, sizeof spec, "remove-skip:%s:1", g1->nodes[add].name);
    apply_ok(g1, w1, spec, &g2, &w2);
    assert_int_equal(g2->n_nodes, g->n_nodes);
    assert_int_equal(sn_graph_params(g2), p0);
    y = logits(g2, w2, x, BATCH);
    assert_true(tu_max_abs_diff(y0, y, (size_t)BATCH * CLASSES) <= EXACT_TOL);
    free(y);
    sn_weights_free(w1);
    sn_graph_free(g1);
    sn_weights_free(w2);
    sn_graph_free(g2);
    free(y0);
    sn_free_aligned(x);
    sn_weights_free(w);
    sn_graph_free(g);
}

/* ---- structure of the channel operators -------------------------------- */

/* wider on a ResNet block's conv must widen the add's other input (the
 * 1x1 shortcut) identically; the block's readers follow. */
static void test_wider_follows_add_partners(void **state) {
    (void)state;
    const arch a = {"resnet", {3, 16, 16}, 4, 1};
    sn_graph *g = make_graph(&a);
    sn_weights *w = tu_random_weights(g, 900);
    /* the first add and its two inputs */
    int add = -1;
    for (int i = 0; i < g->n_nodes && add < 0; i++)
        if (g->nodes[i].op == SN_OP_ADD) add = i;
    assert_true(add > 0);
    int m = g->nodes[add].in[0], s = g->nodes[add].in[1];
    assert_int_equal(g->nodes[m].op, SN_OP_CONV);
    assert_int_equal(g->nodes[s].op, SN_OP_CONV);
    char spec[96];
    snprintf(spec, sizeof spec, "wider:%s:7", g->nodes[m].name);
    sn_graph *cg;
    sn_weights *cw;
    apply_ok(g, w, spec, &cg, &cw);
    assert_int_equal(cg->nodes[sn_graph_find(cg, g->nodes[m].name)].attr.out, 7);
    assert_int_equal(cg->nodes[sn_graph_find(cg, g->nodes[s].name)].attr.out, 7);
    assert_int_equal(cg->nodes[sn_graph_find(cg, g->nodes[add].name)].out.c, 7);
    sn_weights_free(cw);
    sn_graph_free(cg);
    sn_weights_free(w);
    sn_graph_free(g);
}

/* Same seed, same child; the seed matters where the operator is random
 * (which filters wider replicates, its noise). */
static void test_deterministic(void **state) {
    (void)state;
    const arch a = {"cnn", {3, 12, 12}, 6, 2};
    sn_graph *g = make_graph(&a);
    sn_weights *w = tu_random_weights(g, 1000);
    sn_morph_op op;
    sn_error e;
    assert_int_equal(sn_morph_parse(g, "wider:conv1:10", 1, &op, &e), 0);
    sn_graph *c1, *c2, *c3;
    sn_weights *w1, *w2, *w3;
    assert_int_equal(sn_morph_apply(g, w, op, 5, &c1, &w1, NULL, &e), 0);
    assert_int_equal(sn_morph_apply(g, w, op, 5, &c2, &w2, NULL, &e), 0);
    assert_int_equal(sn_morph_apply(g, w, op, 6, &c3, &w3, NULL, &e), 0);
    assert_int_equal(w1->n_params, w2->n_params);
    assert_memory_equal(w1->params, w2->params, sizeof(float) * (size_t)w1->n_params);
    assert_memory_equal(w1->buffers, w2->buffers, sizeof(float) * (size_t)w1->n_buffers);
    assert_memory_not_equal(w1->params, w3->params, sizeof(float) * (size_t)w1->n_params);
    sn_weights_free(w1);
    sn_weights_free(w2);
    sn_weights_free(w3);
    sn_graph_free(c1);
    sn_graph_free(c2);
    sn_graph_free(c3);
    sn_weights_free(w);
    sn_graph_free(g);
}

/* ---- parsing, descriptions, errors ------------------------------------- */

static void test_parse_describe_errors(void **state) {
    (void)state;
    sn_error e;
    sn_graph *g = sn_graph_new_kind("cnn", (sn_shape){3, 32, 32}, 10, NULL, &e);
    assert_non_null(g);
    sn_morph_op op;
    char d[SN_MORPH_DESC_LEN];
    assert_int_equal(sn_morph_parse(g, "wider:conv2:96", 1, &op, &e), 0);
    assert_int_equal(op.op, SN_MORPH_WIDER);
    assert_int_equal(op.pos, sn_graph_find(g, "conv2"));
    assert_int_equal(op.arg, 96);
    sn_morph_describe(g, op, d, sizeof d);
    assert_string_equal(d, "wider conv2 64->96");
    /* a position by index, an argument left to the seed */
    char spec[32];
    snprintf(spec, sizeof spec, "separable:%d", sn_graph_find(g, "conv3"));
    assert_int_equal(sn_morph_parse(g, spec, 1, &op, &e), 0);
    sn_morph_describe(g, op, d, sizeof d);
    assert_true(!strncmp(d, "separable conv3", 15));
    assert_int_equal(sn_morph_parse(g, "prune:conv1", 1, &op, &e), 0);
    assert_true(op.arg == 16 || op.arg == 32);
    assert_int_equal(sn_morph_parse(g, "add-skip", 4, &op, &e), 0);
    assert_int_equal(op.op, SN_MORPH_ADD_SKIP);
    assert_true(op.arg > op.pos);
    for (int k = 0; k < SN_MORPH_COUNT; k++)
        assert_int_equal(sn_morph_from_name(sn_morph_get(k)->name), k);

    expect_parse_error(g, "widen:conv2", "unknown operator");
    expect_parse_error(g, "wider:conv99", "no layer 'conv99'");
    expect_parse_error(g, "wider:relu1:96", "not a conv");
    expect_parse_error(g, "wider:conv2:32", "must exceed 64");
    expect_parse_error(g, "wider:conv2:lots", "not a number");
    expect_parse_error(g, "separable:conv2:3", "takes no argument");
    expect_parse_error(g, "deeper:relu2:4", "1, 3 or 5");
    expect_parse_error(g, "wider:dense2:128", "output layer");
    expect_parse_error(g, "add-skip:maxpool3:relu1", "later");
    expect_parse_error(g, "remove-skip:conv1", "not an add or concat");
    expect_parse_error(g, "deeper:conv1", "can be negative");
    expect_parse_error(g, "add-skip:maxpool3", "no later block output");
    expect_parse_error(g, "a:b:c:d", "OP[:POSITION[:ARG]]");

    /* weights of another graph are refused */
    sn_graph *other = sn_graph_new_kind("tiny2conv", (sn_shape){3, 32, 32},
                                        10, NULL, &e);
    sn_weights *wo = sn_weights_new(other);
    sn_graph *cg = (sn_graph *)1;
    sn_weights *cw = (sn_weights *)1;
    assert_int_equal(sn_morph_parse(g, "wider:conv2:96", 1, &op, &e), 0);
    assert_int_equal(sn_morph_apply(g, wo, op, 1, &cg, &cw, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "weights"));
    assert_null(cg);
    assert_null(cw);
    /* and a morphism that does not apply is refused at apply time too */
    sn_weights *w = sn_weights_new(g);
    op = (sn_morph_op){SN_MORPH_SEPARABLE, sn_graph_find(g, "relu1"), 0};
    assert_int_equal(sn_morph_apply(g, w, op, 1, &cg, &cw, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "not a standard conv"));
    sn_weights_free(w);
    sn_weights_free(wo);
    sn_graph_free(other);
    sn_graph_free(g);
}

/* ---- fine-tuning recovers what shrinking lost --------------------------- */

static double val_acc(const sn_graph *g, sn_weights *w, const sn_data *d) {
    sn_eval_result r;
    sn_error e;
    if (sn_evaluate(g, w, d, SN_SPLIT_VAL, 100, NULL, &r, &e) != 0)
        fail_msg("%s", e.msg);
    double acc = r.acc;
    sn_eval_result_free(&r);
    return acc;
}

static void train_epochs(const sn_graph *g, sn_weights *w, const sn_data *d,
                         int epochs, float lr) {
    sn_train_opts o = sn_train_opts_default();
    o.epochs = epochs;
    o.batch = 32;
    o.lr = lr;
    o.eval_val = 0;
    sn_train_result r;
    sn_error e;
    if (sn_train(g, w, d, &o, &r, &e) != 0) fail_msg("%s", e.msg);
    assert_int_equal(r.status, SN_TRAIN_OK);
    sn_train_result_free(&r);
}

/* Mean |logit difference| from the parent over the validation split. */
static double val_logit_error(const sn_graph *g, sn_weights *w,
                              const sn_graph *cg, sn_weights *cw,
                              const sn_data *d) {
    sn_shape s = sn_data_shape(d);
    int n = sn_data_count(d, SN_SPLIT_VAL);
    if (n > 100) n = 100;
    float *x = sn_falloc((size_t)n * (size_t)sn_shape_size(s));
    int idx[100];
    for (int i = 0; i < n; i++) idx[i] = i;
    sn_data_gather(d, SN_SPLIT_VAL, idx, n, x, NULL);
    float *y0 = logits(g, w, x, n), *y1 = logits(cg, cw, x, n);
    double err = mean_abs_diff(y0, y1, (size_t)n * (size_t)g->classes);
    free(y0);
    free(y1);
    sn_free_aligned(x);
    return err;
}

/* On a trained network (where kernels and filters have structure to
 * exploit, unlike random ones): at every position, separable and prune
 * start closer to the parent than a random re-initialisation of the same
 * layer (mean |logit error| over validation images), and a short
 * fine-tune (5 epochs of 1,350 images) brings the validation accuracy back
 * to within 3 points of the parent's: the synthetic set is separable, so a
 * working child gets there (measured over parent seeds 11..14: always at
 * or above the parent, and 3 epochs already within 5 points). */
static void test_trained_shrink_and_finetune(void **state) {
    (void)state;
    sn_error e;
    sn_data *d = sn_data_open("synthetic:1500", NULL, &e);
    if (!d) fail_msg("%s", e.msg);
    sn_arch_opts ao = {16, 2};
    sn_graph *g = sn_graph_new_kind("cnn", sn_data_shape(d),
                                    sn_data_classes(d), &ao, &e);
    assert_non_null(g);
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, 11);
    train_epochs(g, w, d, 5, 0.05f);
    double parent = val_acc(g, w, d);
    printf("# trained cnn: val acc %.3f\n", parent);
    assert_true(parent >= 0.85);

    sn_morph_cand *c;
    int n = sn_morph_enumerate(g, &c, &e), tried = 0;
    for (int i = 0; i < n; i++) {
        int op = c[i].op.op;
        if (op != SN_MORPH_SEPARABLE && op != SN_MORPH_PRUNE) continue;
        sn_graph *cg;
        sn_weights *cw;
        char desc[SN_MORPH_DESC_LEN];
        assert_int_equal(sn_morph_apply(g, w, c[i].op, 9, &cg, &cw, desc, &e),
                         0);
        const char *base = g->nodes[c[i].op.pos].name;
        char n1[SN_NAME_LEN + 4], n2[SN_NAME_LEN + 4];
        const char *names[2] = {n1, n2};
        int nn = 1;
        if (op == SN_MORPH_SEPARABLE) {
            snprintf(n1, sizeof n1, "%s_dw", base);
            snprintf(n2, sizeof n2, "%s_pw", base);
            nn = 2;
        } else {
            snprintf(n1, sizeof n1, "%s", base);
        }
        sn_weights *rw = reinit_layers(cg, cw, names, nn, 123 + (uint64_t)i);
        double err = val_logit_error(g, w, cg, cw, d);
        double err_r = val_logit_error(g, w, cg, rw, d);
        double acc = val_acc(cg, cw, d), acc_r = val_acc(cg, rw, d);
        printf("# %-32s logit error %.3f (re-init %.3f), val acc %.3f "
               "(re-init %.3f), params %lld\n", desc, err, err_r, acc, acc_r,
               (long long)c[i].params);
        if (!(err < err_r))
            fail_msg("%s: error %.4g not below re-initialised %.4g", desc,
                     err, err_r);
        tried++;
        sn_weights_free(rw);
        sn_weights_free(cw);
        sn_graph_free(cg);
    }
    free(c);
    assert_true(tried >= 6);

    const char *specs[] = {"separable:conv2", "prune:conv2:8"};
    for (int k = 0; k < 2; k++) {
        sn_graph *cg;
        sn_weights *cw;
        apply_ok(g, w, specs[k], &cg, &cw);
        double before = val_acc(cg, cw, d);
        train_epochs(cg, cw, d, 5, 0.05f);
        double after = val_acc(cg, cw, d);
        printf("# fine-tune %-16s parent %.3f, child %.3f before, %.3f "
               "after 5 epochs\n", specs[k], parent, before, after);
        assert_true(after >= parent - 0.03);
        assert_true(after > before);
        sn_weights_free(cw);
        sn_graph_free(cg);
    }
    sn_weights_free(w);
    sn_graph_free(g);
    sn_data_free(d);
}

/* ---- the command line ------------------------------------------------- */

/* Runs `sh -c cmd` in dir with stdout/stderr to files; the exit code. */
static int sh(const char *dir, const char *cmd) {
    char full[4096];
    snprintf(full, sizeof full, "cd '%s' && ( %s ) >out.txt 2>err.txt", dir,
             cmd);
    int st = system(full);
    if (st == -1 || !WIFEXITED(st)) fail_msg("could not run: %s", cmd);
    return WEXITSTATUS(st);
}

static char *slurp_in(const char *dir, const char *name) {
    char path[512], *d;
    size_t n;
    sn_error e;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (sn_read_file(path, &d, &n, &e) != 0) fail_msg("%s", e.msg);
    return d;
}

static void expect_cli(const char *dir, const char *cmd, int code,
                       const char *file, const char *needle) {
    int rc = sh(dir, cmd);
    char *out = slurp_in(dir, "out.txt"), *err = slurp_in(dir, "err.txt");
    if (rc != code)
        fail_msg("'%s' exited %d, not %d; stderr: %s", cmd, rc, code, err);
    const char *txt = !strcmp(file, "out") ? out : err;
    if (needle && !strstr(txt, needle))
        fail_msg("'%s': std%s lacks '%s':\n%s", cmd, file, needle, txt);
    /* an error is one line */
    if (code == 1 && !strcmp(file, "err")) {
        int lines = 0;
        for (const char *q = err; *q; q++) lines += *q == '\n';
        assert_int_equal(lines, 1);
    }
    free(out);
    free(err);
}

/* `slimnas morph` ($SLIMNAS, default ./slimnas): --list, apply + --check
 * with files written that load back and compute what the library says,
 * and exit codes 1 (bad request, failed check) and 2 (usage). */
static void test_cli(void **state) {
    (void)state;
    const char *bin = getenv("SLIMNAS");
    char abs_bin[1024];
    if (!bin || !*bin) bin = "./slimnas";
    if (!realpath(bin, abs_bin) || access(abs_bin, X_OK) != 0)
        fail_msg("%s is not executable (set SLIMNAS)", bin);
    char dir[] = "/tmp/sn_test_morph.XXXXXX";
    assert_non_null(mkdtemp(dir));
    const arch a = {"cnn", {3, 12, 12}, 6, 2};
    sn_graph *g = make_graph(&a);
    sn_weights *w = tu_random_weights(g, 1100);
    sn_error e;
    char path[600], cmd[2048];
    snprintf(path, sizeof path, "%s/g.json", dir);
    assert_int_equal(sn_graph_save(g, path, &e), 0);
    snprintf(path, sizeof path, "%s/g.bin", dir);
    assert_int_equal(sn_weights_save(w, g, path, &e), 0);

    snprintf(cmd, sizeof cmd, "'%s' morph g.json --list", abs_bin);
    expect_cli(dir, cmd, 0, "out", "wider:conv1:9");
    snprintf(cmd, sizeof cmd, "'%s' morph g.json --list --op separable --exact",
             abs_bin);
    expect_cli(dir, cmd, 0, "out", "0 morphisms");

    snprintf(cmd, sizeof cmd, "'%s' morph g.json --weights g.bin --op "
             "wider:conv1:9 -o c.json --save c.bin --check", abs_bin);
    expect_cli(dir, cmd, 0, "out", "check: ok");
    /* the files hold what the library computes for the same request */
    snprintf(path, sizeof path, "%s/c.json", dir);
    sn_graph *cg = sn_graph_load(path, &e);
    if (!cg) fail_msg("%s", e.msg);
    snprintf(path, sizeof path, "%s/c.bin", dir);
    sn_weights *cw = sn_weights_load(cg, path, &e);
    if (!cw) fail_msg("%s", e.msg);
    sn_morph_op op;
    assert_int_equal(sn_morph_parse(g, "wider:conv1:9", 1, &op, &e), 0);
    sn_graph *lg;
    sn_weights *lw;
    assert_int_equal(sn_morph_apply(g, w, op, 1, &lg, &lw, NULL, &e), 0);
    assert_int_equal(cw->n_params, lw->n_params);
    assert_memory_equal(cw->params, lw->params,
                        sizeof(float) * (size_t)cw->n_params);
    float *x = random_input(g, BATCH, 1101);
    float *y0 = logits(g, w, x, BATCH), *y1 = logits(cg, cw, x, BATCH);
    assert_true(tu_max_abs_diff(y0, y1, (size_t)BATCH * CLASSES) <= EXACT_TOL);
    free(y0);
    free(y1);
    sn_free_aligned(x);
    sn_weights_free(lw);
    sn_graph_free(lg);
    sn_weights_free(cw);
    sn_graph_free(cg);

    /* an approximate morphism reports its difference and succeeds */
    snprintf(cmd, sizeof cmd, "'%s' morph g.json --weights g.bin --op "
             "separable:conv2 -o s.json --check", abs_bin);
    expect_cli(dir, cmd, 0, "out", "approximate");
    /* a failed check of an exact morphism exits 1: a NaN logit (in the
     * output layer's bias, where no relu or max pool can swallow it)
     * cannot be shown equal */
    sn_weights_tensor(w, g->n_nodes - 1, 1)[0] = NAN;
    snprintf(path, sizeof path, "%s/nan.bin", dir);
    assert_int_equal(sn_weights_save(w, g, path, &e), 0);
    snprintf(cmd, sizeof cmd, "'%s' morph g.json --weights nan.bin --op "
             "deeper:relu2:1 --check", abs_bin);
    expect_cli(dir, cmd, 1, "err", "check failed");

    snprintf(cmd, sizeof cmd, "'%s' morph g.json --op widen:conv1", abs_bin);
    expect_cli(dir, cmd, 1, "err", "unknown operator 'widen'");
    snprintf(cmd, sizeof cmd, "'%s' morph g.json --op wider:conv7", abs_bin);
    expect_cli(dir, cmd, 1, "err", "no layer 'conv7'");
    snprintf(cmd, sizeof cmd, "'%s' morph g.json --op wider:relu1", abs_bin);
    expect_cli(dir, cmd, 1, "err", "not a conv");
    snprintf(cmd, sizeof cmd, "'%s' morph c.json --weights g.bin --op "
             "wider:conv1:12 -o x.json", abs_bin);
    expect_cli(dir, cmd, 1, "err", "g.bin");
    snprintf(cmd, sizeof cmd, "'%s' morph g.json --op wider --save x.bin",
             abs_bin);
    expect_cli(dir, cmd, 2, "err", "--save needs --weights");
    snprintf(cmd, sizeof cmd, "'%s' morph g.json", abs_bin);
    expect_cli(dir, cmd, 2, "err", "--list or --op");

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    sn_weights_free(w);
    sn_graph_free(g);
}

/* ---- a child without weights, fresh names ---------------------------- */

/* sn_morph_child's graph is sn_morph_apply's, node for node (names,
 * attributes, inputs, shapes), for every listed morph of every base. */
static void test_child_without_weights(void **state) {
    (void)state;
    int total = 0;
    for (int a = 0; a < N_ARCHS; a++) {
        sn_graph *g = make_graph(&ARCHS[a]);
        sn_weights *w = tu_random_weights(g, 300 + (uint64_t)a);
        sn_morph_cand *c;
        sn_error e;
        int n = sn_morph_enumerate(g, &c, &e);
        assert_true(n > 0);
        for (int i = 0; i < n; i++) {
            sn_graph *cg, *kg;
            sn_weights *cw;
            if (sn_morph_apply(g, w, c[i].op, 77 + (uint64_t)i, &cg, &cw, NULL,
                               &e) != 0)
                fail_msg("%s: apply: %s", ARCHS[a].kind, e.msg);
            if (sn_morph_child(g, c[i].op, &kg, &e) != 0)
                fail_msg("%s: child: %s", ARCHS[a].kind, e.msg);
            char *x = sn_graph_to_json(cg), *y = sn_graph_to_json(kg);
            assert_string_equal(x, y);
            free(x);
            free(y);
            sn_graph_free(kg);
            sn_graph_free(cg);
            sn_weights_free(cw);
            total++;
        }
        /* an operator that does not apply: an error, nothing allocated */
        sn_graph *kg = (sn_graph *)&e;
        sn_morph_op bad = {SN_MORPH_WIDER, 0, 0};
        assert_int_equal(sn_morph_child(g, bad, &kg, &e), -1);
        assert_null(kg);
        free(c);
        sn_weights_free(w);
        sn_graph_free(g);
    }
    printf("# %d children alike with and without weights\n", total);
}

/* The first "<prefix>K" (K = 1, 2, ...) no node is named: what
 * ed_fresh_name must find, by trying each K in turn. */
static void naive_fresh_name(const medit *ed, const char *prefix, char *out) {
    for (int k = 1;; k++) {
        snprintf(out, SN_NAME_LEN, "%.*s%d", SN_NAME_LEN - 12, prefix, k);
        int used = 0;
        for (int i = 0; i < ed->n && !used; i++)
            used = !strcmp(ed->nodes[i].name, out);
        if (!used) return;
    }
}

static void test_fresh_name(void **state) {
    (void)state;
    static const char *const names[] = {
        "conv1", "conv2", "conv02", "conv4", "conv", "conv3x", "conv-5",
        "conv+6", "con", "conv7", "conv 8", "conv9", "conv10", "conv11",
        "conv3", "relu1", "conv0", "conv5", "conv12345678901234567890",
        "conv6", "conv8", "conv13", "conv99999999999", "1", "2", "01", "4"};
    const int nn = (int)(sizeof names / sizeof *names);
    const char *prefixes[] = {"conv", "con", "relu", "bn", "c", ""};
    /* a prefix longer than SN_NAME_LEN - 12 is cut to that */
    char longp[SN_NAME_LEN];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    sn_rng r;
    sn_rng_seed(&r, 5);
    for (int round = 0; round < 400; round++) {
        medit ed;
        /* 0..nn names drawn from the list, in a random order; sometimes
         * a run conv1..convM, or names from the long prefix */
        int n = sn_rng_int(&r, nn + 1) + (round % 7 == 0 ? 300 : 0);
        ed.n = ed.cap = n;
        ed.nodes = calloc((size_t)n + 1, sizeof *ed.nodes);
        ed.origin = NULL;
        for (int i = 0; i < n; i++) {
            if (i >= nn || round % 5 == 0)
                snprintf(ed.nodes[i].name, SN_NAME_LEN, "%.*s%d",
                         round % 3 ? 4 : SN_NAME_LEN - 12,
                         round % 3 ? "conv" : longp,
                         1 + sn_rng_int(&r, n + 2));
            else
                snprintf(ed.nodes[i].name, SN_NAME_LEN, "%s",
                         names[sn_rng_int(&r, nn)]);
        }
        for (size_t p = 0; p <= sizeof prefixes / sizeof *prefixes; p++) {
            const char *pre = p < sizeof prefixes / sizeof *prefixes
                                  ? prefixes[p] : longp;
            char a[SN_NAME_LEN], b[SN_NAME_LEN];
            ed_fresh_name(&ed, pre, a);
            naive_fresh_name(&ed, pre, b);
            assert_string_equal(a, b);
        }
        free(ed.nodes);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_every_position),
        cmocka_unit_test(test_exact_chains),
        cmocka_unit_test(test_approx_predictions),
        cmocka_unit_test(test_shrink_error_random_weights),
        cmocka_unit_test(test_separable_exact_on_rank_one),
        cmocka_unit_test(test_prune_and_narrow_exact_when_lossless),
        cmocka_unit_test(test_remove_undoes_growth),
        cmocka_unit_test(test_wider_follows_add_partners),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_parse_describe_errors),
        cmocka_unit_test(test_trained_shrink_and_finetune),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_child_without_weights),
        cmocka_unit_test(test_fresh_name),
    };
    /* MORPH_TEST=name runs one test (cmocka's pattern match). */
    if (getenv("MORPH_TEST")) cmocka_set_test_filter(getenv("MORPH_TEST"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
