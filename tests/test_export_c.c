/* test_export_c.c — the standalone C export: the generated code compiles
 * as strict C99 under gcc and clang, runs under ASan + UBSan, and its
 * float logits match slimnas's inference forward within 1e-4 for every
 * base architecture and for morphed graphs that use every operator; its
 * int8 logits equal the in-process reference bit for bit; the arena plan
 * is sound (no two live tensors overlap) and never larger than the stats
 * peak; int8 loses at most 1 point of accuracy on a Fashion-MNIST model
 * trained here; bad input leaves nothing behind. */
#include "testutil.h"
#include "weightutil.h"

#include <sys/stat.h>
#include <unistd.h>

#include "../src/export/export_internal.h"
#include "slimnas/export_c.h"
#include "slimnas/graph.h"
#include "slimnas/morph.h"
#include "slimnas/train.h"

static char tmpdir[64];
static int have_clang;

static int setup(void **state) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sn_test_export_c.XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    have_clang = system("clang --version >/dev/null 2>&1") == 0;
    sn_threads_init(2);
    return 0;
}

static int teardown(void **state) {
    tu_rm_rf(tmpdir);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static sn_graph *kind(const char *k, sn_shape in, int width, int depth) {
    sn_error e;
    sn_arch_opts o = {width, depth};
    sn_graph *g = sn_graph_new_kind(k, in, 10, &o, &e);
    if (!g) fail_msg("%s: %s", k, e.msg);
    return g;
}

/* n images of raw [0, 1] pixels (multiples of 1/255, like a camera's). */
static float *raw_images(const sn_graph *g, int n, uint64_t seed) {
    size_t len = (size_t)n * (size_t)sn_shape_size(g->input);
    float *x = sn_xmalloc(len * sizeof *x);
    sn_rng r;
    sn_rng_seed(&r, seed);
    for (size_t i = 0; i < len; i++) x[i] = (float)sn_rng_int(&r, 256) / 255.0f;
    return x;
}

static const float MEAN[3] = {0.3f, 0.45f, 0.5f}, STD[3] = {0.25f, 0.3f, 0.2f};

/* slimnas's inference logits for raw images normalised with MEAN/STD. */
static float *reference(const sn_graph *g, sn_weights *w, const float *raw,
                        int n) {
    int64_t isz = sn_shape_size(g->input), hw = (int64_t)g->input.h * g->input.w;
    float *x = sn_falloc((size_t)(n * isz));
    for (int64_t i = 0; i < n * isz; i++) {
        int c = (int)(i % isz / hw);
        x[i] = (raw[i] - MEAN[c]) / STD[c];
    }
    sn_exec *ex = sn_exec_new(g, w, n);
    const float *y = sn_exec_forward(ex, x, n, 0);
    float *out = sn_xmalloc(sizeof *out * (size_t)n * g->classes);
    memcpy(out, y, sizeof *out * (size_t)n * g->classes);
    sn_exec_free(ex);
    sn_free_aligned(x);
    return out;
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static const char DRIVER[] =
    "#include <stdio.h>\n#include \"model.h\"\n"
    "int main(void) {\n"
    "    static float in[MODEL_INPUT_SIZE]; float lg[MODEL_CLASSES];\n"
    "    while (fread(in, sizeof(float), MODEL_INPUT_SIZE, stdin) ==\n"
    "           MODEL_INPUT_SIZE) {\n"
    "        float k = (float)model_predict(in, lg);\n"
    "        fwrite(lg, sizeof(float), MODEL_CLASSES, stdout);\n"
    "        fwrite(&k, sizeof k, 1, stdout);\n"
    "    }\n"
    "    return 0;\n}\n";

/* Compiles DIR/model.c with gcc (strict C99, ASan + UBSan) and checks it
 * with clang, runs it on n raw images; returns [n][classes + 1] floats
 * (logits, then the returned class). */
static float *compile_and_run(const char *dir, const sn_graph *g,
                              const float *raw, int n) {
    char path[256], cmd[2048];
    snprintf(path, sizeof path, "%s/main.c", dir);
    write_file(path, DRIVER, sizeof DRIVER - 1);
    const char *strict = "-std=c99 -Wall -Wextra -Werror -pedantic";
    snprintf(cmd, sizeof cmd,
             "cd %s && gcc %s -O1 -g -fsanitize=address,undefined "
             "-fno-sanitize-recover=all -o run main.c model.c -lm 2>&1",
             dir, strict);
    if (system(cmd) != 0) fail_msg("gcc rejected %s/model.c", dir);
    if (have_clang) {
        snprintf(cmd, sizeof cmd,
                 "cd %s && clang %s -fsyntax-only model.c main.c 2>&1", dir,
                 strict);
        if (system(cmd) != 0) fail_msg("clang rejected %s/model.c", dir);
    }
    int64_t isz = sn_shape_size(g->input);
    snprintf(path, sizeof path, "%s/in.bin", dir);
    write_file(path, raw, (size_t)(n * isz) * sizeof(float));
    snprintf(cmd, sizeof cmd,
             "cd %s && ASAN_OPTIONS=detect_leaks=1 ./run < in.bin > out.bin",
             dir);
    if (system(cmd) != 0) fail_msg("%s/run failed (sanitizer report?)", dir);
    size_t per = (size_t)g->classes + 1;
    float *out = sn_xmalloc((size_t)n * per * sizeof *out);
    snprintf(path, sizeof path, "%s/out.bin", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(out, sizeof *out, (size_t)n * per, f),
                     (size_t)n * per);
    fclose(f);
    return out;
}

/* The plan is sound: buffers live at the same step never share bytes,
 * all fit the arena, and the arena is within [live peak, stats peak]. */
static void check_plan(const xs_prog *p, const sn_graph *g, const char *what) {
    for (int a = 0; a < p->n_bufs; a++) {
        const xs_buf *x = &p->bufs[a];
        assert_true(x->off >= 0 && x->off + x->size <= p->arena);
        for (int b = a + 1; b < p->n_bufs; b++) {
            const xs_buf *y = &p->bufs[b];
            if (x->last < y->def || y->last < x->def) continue;
            if (x->off < y->off + y->size && y->off < x->off + x->size)
                fail_msg("%s: buffers %d and %d overlap while both live", what,
                         a, b);
        }
    }
    assert_true(p->arena >= p->live_peak);
    int64_t peak = sn_graph_peak_bytes(g);
    if (p->arena * 4 > peak)
        fail_msg("%s: arena %lld bytes > stats peak %lld", what,
                 (long long)p->arena * 4, (long long)peak);
}

/* Exports g float and int8 and checks everything on 3 random images. */
static void check_graph(const sn_graph *g, sn_weights *w, const char *what) {
    sn_error e;
    enum { N = 3 };
    char dir[160];
    static int count;
    int c = g->input.c;
    assert_true(c <= 3);
    float *raw = raw_images(g, N, 11);
    float *ref = reference(g, w, raw, N);

    /* float: the plan, the files, the compiled logits */
    xs_prog *p = xs_lower(g, w, MEAN, STD, &e);
    if (!p) fail_msg("%s: %s", what, e.msg);
    check_plan(p, g, what);
    snprintf(dir, sizeof dir, "%s/g%d", tmpdir, count++);
    sn_export_c_opts o = sn_export_c_opts_default();
    sn_export_c_report rep;
    if (sn_export_c(g, w, MEAN, STD, NULL, &o, dir, &rep, &e))
        fail_msg("%s: %s", what, e.msg);
    assert_int_equal(rep.arena_bytes, p->arena * 4);
    assert_int_equal(rep.arena_bytes, sn_export_c_arena_bytes(g, 0, &e));
    float *got = compile_and_run(dir, g, raw, N);
    float *lg = sn_xmalloc((size_t)g->classes * sizeof *lg);
    float *arena = sn_xmalloc((size_t)p->arena * sizeof *arena);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        const float *row = got + (size_t)i * (g->classes + 1);
        const float *r = ref + (size_t)i * g->classes;
        int best = 0;
        for (int k = 0; k < g->classes; k++) {
            double d = fabs((double)row[k] - r[k]);
            if (d > worst) worst = d;
            if (row[k] > row[best]) best = k;
        }
        assert_int_equal((int)row[g->classes], best);
        /* the in-process float reference agrees with the compiled code */
        int kk = xs_run_float(p, raw + (size_t)i * sn_shape_size(g->input), lg,
                              arena);
        assert_int_equal(kk, best);
        for (int k = 0; k < g->classes; k++) assert_close(lg[k], row[k], 1e-4);
    }
    if (!(worst <= 1e-4))
        fail_msg("%s: float C logits differ from slimnas by %.3g", what, worst);
    print_message("# %s: %d steps, arena %lld B (stats peak %lld B), weights "
                  "%lld B, max |diff| %.2g\n",
                  what, rep.steps, (long long)rep.arena_bytes,
                  (long long)sn_graph_peak_bytes(g),
                  (long long)rep.weight_bytes, worst);
    free(got);
    free(arena);
    xs_free(p);

    /* int8: calibrated on random images, bit-exact against the reference */
    int n_cal = 8;
    uint8_t *px = sn_xmalloc((size_t)n_cal * (size_t)sn_shape_size(g->input));
    int *lab = sn_xcalloc((size_t)n_cal, sizeof *lab);
    sn_rng r;
    sn_rng_seed(&r, 5);
    for (int64_t i = 0; i < n_cal * sn_shape_size(g->input); i++)
        px[i] = (uint8_t)sn_rng_int(&r, 256);
    sn_data_opts dopt = sn_data_opts_default();
    dopt.val_split = 0;
    sn_data *d = sn_data_from_arrays("rand", g->input, 10, n_cal, px, lab,
                                     n_cal, px, lab, &dopt, &e);
    if (!d) fail_msg("%s: %s", what, e.msg);
    o.int8 = 1;
    o.calib = d;
    o.calibrate_n = n_cal;
    snprintf(dir, sizeof dir, "%s/g%d", tmpdir, count++);
    sn_export_c_report rq;
    if (sn_export_c(g, w, MEAN, STD, NULL, &o, dir, &rq, &e))
        fail_msg("%s int8: %s", what, e.msg);
    assert_int_equal(rq.arena_bytes * 4, rep.arena_bytes);
    assert_true(rq.weight_bytes < rep.weight_bytes);
    got = compile_and_run(dir, g, raw, N);
    p = xs_lower(g, w, MEAN, STD, &e);
    int used;
    assert_int_equal(xs_quantize(p, w, MEAN, STD, d, n_cal, 1, &used, &e), 0);
    int8_t *qa = sn_xmalloc((size_t)p->arena);
    sn_export_c_model *mdl = sn_export_c_model_new(g, w, MEAN, STD, &o, &e);
    if (!mdl) fail_msg("%s: %s", what, e.msg);
    for (int i = 0; i < N; i++) {
        const float *row = got + (size_t)i * (g->classes + 1);
        const float *img = raw + (size_t)i * sn_shape_size(g->input);
        int k = xs_run_int8(p, img, lg, qa);
        assert_int_equal(k, (int)row[g->classes]);
        if (memcmp(lg, row, (size_t)g->classes * sizeof *lg) != 0)
            fail_msg("%s: int8 C logits differ from the reference", what);
        /* the public handle is the same reference */
        assert_int_equal(sn_export_c_model_predict(mdl, img, lg), k);
        assert_memory_equal(lg, row, (size_t)g->classes * sizeof *lg);
    }
    /* scales for other exporters: every value has one; convs and denses
     * have one weight scale per output channel */
    for (int i = 0; i < g->n_nodes; i++) {
        assert_true(sn_export_c_model_act_scale(mdl, i) > 0);
        const sn_node *nd = &g->nodes[i];
        int ns = sn_export_c_model_weight_scales(mdl, i, NULL);
        if (nd->op == SN_OP_CONV || nd->op == SN_OP_DENSE) {
            assert_int_equal(ns, nd->out.c);
            float *ws = sn_xmalloc((size_t)ns * sizeof *ws);
            sn_export_c_model_weight_scales(mdl, i, ws);
            for (int ch = 0; ch < ns; ch++) assert_true(ws[ch] > 0);
            free(ws);
        } else {
            assert_int_equal(ns, 0);
        }
    }
    sn_export_c_model_free(mdl);
    free(qa);
    xs_free(p);
    free(got);
    sn_data_free(d);
    free(px);
    free(lab);
    free(lg);
    free(ref);
    free(raw);
}

/* ---- every base architecture ------------------------------------------- */

static void test_base_architectures(void **state) {
    static const struct {
        const char *kind;
        sn_shape in;
        int width, depth;
    } A[] = {
        {"tiny2conv", {1, 28, 28}, 0, 0},  {"mobile_tiny", {1, 28, 28}, 0, 0},
        {"cnn", {3, 16, 16}, 8, 0},        {"resnet", {3, 16, 16}, 8, 1},
        {"densenet", {3, 32, 32}, 4, 2},   {"mobilenet", {3, 16, 16}, 8, 1},
        {"mobilenetv2", {3, 16, 16}, 8, 1},
    };
    int n = (int)(sizeof A / sizeof A[0]);
    for (int k = 0; sn_arch_kinds[k]; k++) { /* every kind is listed */
        int found = 0;
        for (int i = 0; i < n; i++) found |= !strcmp(A[i].kind, sn_arch_kinds[k]);
        if (!found) fail_msg("base architecture %s is not tested", sn_arch_kinds[k]);
    }
    for (int i = 0; i < n; i++) {
        sn_graph *g = kind(A[i].kind, A[i].in, A[i].width, A[i].depth);
        sn_weights *w = tu_random_weights(g, 3 + (uint64_t)i);
        check_graph(g, w, A[i].kind);
        sn_weights_free(w);
        sn_graph_free(g);
    }
}

/* ---- morphed graphs using every operator ------------------------------- */

/* Applies the first enumerated morphism of operator id (at or after node
 * from, when given) to *g / *w. */
static void morph(sn_graph **g, sn_weights **w, sn_morph_id id, int arg) {
    sn_error e;
    sn_morph_cand *c;
    int n = sn_morph_enumerate(*g, &c, &e);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        if (c[i].op.op != (int)id) continue;
        if (arg && c[i].op.arg != arg) continue;
        sn_graph *cg;
        sn_weights *cw;
        if (sn_morph_apply(*g, *w, c[i].op, 9, &cg, &cw, NULL, &e))
            fail_msg("%s: %s", sn_morph_get(id)->name, e.msg);
        sn_graph_free(*g);
        sn_weights_free(*w);
        *g = cg;
        *w = cw;
        free(c);
        return;
    }
    free(c);
    fail_msg("no %s morphism applies", sn_morph_get(id)->name);
}

static void test_morphed_graphs(void **state) {
    sn_graph *g = kind("cnn", (sn_shape){3, 12, 12}, 8, 0);
    sn_weights *w = tu_random_weights(g, 21);
    morph(&g, &w, SN_MORPH_DEEPER, 3);
    morph(&g, &w, SN_MORPH_SEPARABLE, 0);
    morph(&g, &w, SN_MORPH_ADD_SKIP, 0);
    morph(&g, &w, SN_MORPH_CONCAT_SKIP, 0);
    morph(&g, &w, SN_MORPH_DEEPER_DENSE, 0);
    morph(&g, &w, SN_MORPH_DEEPER_MBV2, 0);
    morph(&g, &w, SN_MORPH_WIDER, 0);
    sn_weights *rw = tu_random_weights(g, 22); /* not the identity-like ones */
    int ops[SN_OP_COUNT] = {0};
    for (int i = 0; i < g->n_nodes; i++) ops[g->nodes[i].op]++;
    assert_true(ops[SN_OP_ADD] && ops[SN_OP_CONCAT] && ops[SN_OP_RELU6]);
    check_graph(g, rw, "cnn+deeper+separable+add+concat+dense+mbv2+wider");
    sn_weights_free(rw);
    sn_weights_free(w);
    sn_graph_free(g);
}

/* ---- a hand-made graph with every op and the awkward cases -------------- */

static int add_node(sn_graph *g, sn_op_kind op, sn_attr a, int in0, int in1,
                    int in2) {
    sn_error e;
    int in[3] = {in0, in1, in2};
    int n = in2 >= 0 ? 3 : in1 >= 0 ? 2 : 1;
    int i = sn_graph_add(g, op, &a, in, n, NULL, &e);
    if (i < 0) fail_msg("%s", e.msg);
    return i;
}

static void test_every_op(void **state) {
    sn_graph *g = sn_graph_new("every-op", (sn_shape){2, 11, 11}, 7);
    sn_attr cv = sn_attr_default(SN_OP_CONV);
    cv.out = 6;
    cv.k = 3;
    cv.pad = 1;
    int c1 = add_node(g, SN_OP_CONV, cv, 0, -1, -1);
    /* relu read twice: not fused into the conv, not in place */
    int r1 = add_node(g, SN_OP_RELU, sn_attr_default(SN_OP_RELU), c1, -1, -1);
    sn_attr gc = cv;
    gc.groups = 2;
    gc.out = 6;
    gc.bias = 0;
    int c2 = add_node(g, SN_OP_CONV, gc, r1, -1, -1); /* grouped */
    int b2 = add_node(g, SN_OP_BN, sn_attr_default(SN_OP_BN), c2, -1, -1);
    int r2 = add_node(g, SN_OP_RELU6, sn_attr_default(SN_OP_RELU6), b2, -1, -1);
    sn_attr dw = cv;
    dw.groups = 6;
    dw.k = 5;
    dw.pad = 2;
    int c3 = add_node(g, SN_OP_CONV, dw, r1, -1, -1); /* depthwise 5x5 */
    int a1 = add_node(g, SN_OP_ADD, sn_attr_default(SN_OP_ADD), r2, c3, r1);
    /* bn after add: stays a bn (affine), in place */
    int b3 = add_node(g, SN_OP_BN, sn_attr_default(SN_OP_BN), a1, -1, -1);
    sn_attr mp = sn_attr_default(SN_OP_MAXPOOL);
    mp.k = 3;
    mp.stride = 2;
    mp.pad = 1;
    int p1 = add_node(g, SN_OP_MAXPOOL, mp, b3, -1, -1);
    sn_attr ap = sn_attr_default(SN_OP_AVGPOOL);
    ap.k = 3;
    ap.stride = 2;
    ap.pad = 1;
    int p2 = add_node(g, SN_OP_AVGPOOL, ap, r1, -1, -1);
    int cc = add_node(g, SN_OP_CONCAT, sn_attr_default(SN_OP_CONCAT), p1, p2,
                      -1);
    int rr = add_node(g, SN_OP_RELU, sn_attr_default(SN_OP_RELU), cc, -1, -1);
    int dr = add_node(g, SN_OP_DROPOUT, sn_attr_default(SN_OP_DROPOUT), rr, -1,
                      -1);
    int gp = add_node(g, SN_OP_GAP, sn_attr_default(SN_OP_GAP), dr, -1, -1);
    sn_attr pl = sn_attr_default(SN_OP_MAXPOOL);
    int p3 = add_node(g, SN_OP_MAXPOOL, pl, dr, -1, -1);
    int fl = add_node(g, SN_OP_FLATTEN, sn_attr_default(SN_OP_FLATTEN), p3, -1,
                      -1);
    sn_attr dn = sn_attr_default(SN_OP_DENSE);
    dn.out = 12;
    int d1 = add_node(g, SN_OP_DENSE, dn, fl, -1, -1);
    int b4 = add_node(g, SN_OP_BN, sn_attr_default(SN_OP_BN), d1, -1, -1);
    int r4 = add_node(g, SN_OP_RELU, sn_attr_default(SN_OP_RELU), b4, -1, -1);
    int cat2 = add_node(g, SN_OP_CONCAT, sn_attr_default(SN_OP_CONCAT), r4, gp,
                        -1);
    dn.out = 7;
    add_node(g, SN_OP_DENSE, dn, cat2, -1, -1);
    sn_error e;
    if (sn_graph_validate(g, &e)) fail_msg("%s", e.msg);
    int ops[SN_OP_COUNT] = {0};
    for (int i = 0; i < g->n_nodes; i++) ops[g->nodes[i].op]++;
    for (int k = 0; k < SN_OP_COUNT; k++)
        if (!ops[k]) fail_msg("op %s is not in the graph", sn_op_get(k)->name);
    sn_weights *w = tu_random_weights(g, 31);
    check_graph(g, w, "every-op");
    sn_weights_free(w);
    sn_graph_free(g);
}

/* ---- int8 on a trained Fashion-MNIST model ------------------------------ */

static void test_int8_fashion_mnist(void **state) {
    struct stat st;
    if (stat("/usr/share/datasets/fashion-mnist", &st) != 0) {
        print_message("# no /usr/share/datasets/fashion-mnist: skipped\n");
        skip();
    }
    sn_error e;
    sn_data_opts dopt = sn_data_opts_default();
    dopt.max_train = 12000;
    dopt.max_test = 3000;
    sn_data *d = sn_data_open("fashion-mnist", &dopt, &e);
    if (!d) fail_msg("%s", e.msg);
    sn_graph *g = kind("tiny2conv", sn_data_shape(d), 0, 0);
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, 1);
    sn_train_opts to = sn_train_opts_default();
    to.epochs = 1;
    to.eval_val = 0;
    to.lr = 0.05f;
    sn_train_result tr;
    assert_int_equal(sn_train(g, w, d, &to, &tr, &e), 0);
    sn_train_result_free(&tr);
    const float *mean = sn_data_mean(d), *sd = sn_data_std(d);
    sn_export_c_opts o = sn_export_c_opts_default();
    double af, aq;
    assert_int_equal(sn_export_c_accuracy(g, w, mean, sd, &o, d, SN_SPLIT_TEST,
                                          0, &af, &e),
                     0);
    o.int8 = 1;
    o.calib = d;
    o.calibrate_n = 500;
    assert_int_equal(sn_export_c_accuracy(g, w, mean, sd, &o, d, SN_SPLIT_TEST,
                                          0, &aq, &e),
                     0);
    print_message("# tiny2conv, 1 epoch on 12k: float %.2f%%, int8 %.2f%% "
                  "(3000 test images)\n",
                  100 * af, 100 * aq);
    assert_true(af > 0.75); /* it did learn */
    if (aq < af - 0.01)
        fail_msg("int8 accuracy %.2f%% is more than 1 point below float "
                 "%.2f%%", 100 * aq, 100 * af);
    /* the float export's accuracy is slimnas's own */
    sn_exec *ex = sn_exec_new(g, w, 100);
    int n = sn_data_count(d, SN_SPLIT_TEST), hit = 0;
    float *x = sn_falloc((size_t)100 * 784);
    int y[100], idx[100];
    for (int b = 0; b < n; b += 100) {
        int m = n - b < 100 ? n - b : 100;
        for (int i = 0; i < m; i++) idx[i] = b + i;
        sn_data_gather(d, SN_SPLIT_TEST, idx, m, x, y);
        const float *lg = sn_exec_forward(ex, x, m, 0);
        for (int i = 0; i < m; i++) {
            int best = 0;
            for (int k = 1; k < 10; k++)
                if (lg[i * 10 + k] > lg[i * 10 + best]) best = k;
            hit += best == y[i];
        }
    }
    assert_close(af, (double)hit / n, 0.0015); /* a few argmax ties */

    /* the compiled exports on real test images, under the sanitizers */
    enum { R = 200 };
    float *raw = sn_xmalloc((size_t)R * 784 * sizeof *raw);
    for (int i = 0; i < R; i++) {
        const uint8_t *px = sn_data_raw(d, SN_SPLIT_TEST, i);
        for (int t = 0; t < 784; t++) raw[i * 784 + t] = (float)px[t] / 255.0f;
    }
    float *ref = sn_xmalloc((size_t)R * 10 * sizeof *ref);
    for (int b = 0; b < R; b += 100) {
        for (int i = 0; i < 100; i++) idx[i] = b + i;
        sn_data_gather(d, SN_SPLIT_TEST, idx, 100, x, y);
        memcpy(ref + (size_t)b * 10, sn_exec_forward(ex, x, 100, 0),
               sizeof *ref * 1000);
    }
    for (int q = 0; q < 2; q++) {
        char dir[160];
        snprintf(dir, sizeof dir, "%s/fm%d", tmpdir, q);
        o.int8 = q;
        sn_export_c_report rep;
        if (sn_export_c(g, w, mean, sd, NULL, &o, dir, &rep, &e))
            fail_msg("%s", e.msg);
        float *got = compile_and_run(dir, g, raw, R);
        sn_export_c_model *m = sn_export_c_model_new(g, w, mean, sd, &o, &e);
        assert_non_null(m);
        double worst = 0;
        int agree = 0;
        for (int i = 0; i < R; i++) {
            const float *row = got + (size_t)i * 11;
            float lg[10];
            int k = sn_export_c_model_predict(m, raw + (size_t)i * 784, lg);
            int kr = 0;
            for (int c = 0; c < 10; c++) {
                if (ref[i * 10 + c] > ref[i * 10 + kr]) kr = c;
                worst = fmax(worst, fabs((double)row[c] - ref[i * 10 + c]));
            }
            agree += kr == (int)row[10];
            if (q) { /* int8: the reference, bit for bit */
                assert_int_equal(k, (int)row[10]);
                assert_memory_equal(lg, row, sizeof lg);
            }
        }
        if (!q && !(worst <= 1e-4))
            fail_msg("float C logits differ from slimnas by %.3g", worst);
        print_message("# %s C on %d test images: max |logit diff| %.3g, "
                      "argmax agrees with slimnas on %d\n",
                      q ? "int8" : "float", R, worst, agree);
        if (!q) assert_int_equal(agree, R);
        else assert_true(agree >= R * 95 / 100);
        sn_export_c_model_free(m);
        free(got);
    }
    free(ref);
    free(raw);
    sn_free_aligned(x);
    sn_exec_free(ex);
    sn_weights_free(w);
    sn_graph_free(g);
    sn_data_free(d);
}

/* ---- bad input and the bench --------------------------------------------- */

static int dir_empty(const char *path) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "[ -z \"$(ls -A %s)\" ]", path);
    return system(cmd) == 0;
}

static void test_errors(void **state) {
    sn_error e;
    sn_graph *g = kind("tiny2conv", (sn_shape){1, 12, 12}, 0, 0);
    sn_graph *g2 = kind("mobile_tiny", (sn_shape){1, 12, 12}, 0, 0);
    sn_weights *w = tu_random_weights(g, 1), *w2 = tu_random_weights(g2, 1);
    sn_export_c_opts o = sn_export_c_opts_default();
    char dir[160];
    snprintf(dir, sizeof dir, "%s/err", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);

    o.prefix = "9lives";
    assert_int_equal(sn_export_c(g, w, NULL, NULL, NULL, &o, dir, NULL, &e),
                     -1);
    assert_non_null(strstr(e.msg, "not a C identifier"));
    o.prefix = NULL;
    /* weights of another graph */
    assert_int_equal(sn_export_c(g, w2, NULL, NULL, NULL, &o, dir, NULL, &e),
                     -1);
    assert_non_null(strstr(e.msg, "do not match"));
    /* the same layers, other widths */
    sn_graph *g3 = kind("tiny2conv", (sn_shape){1, 12, 12}, 4, 0);
    sn_weights *w3 = tu_random_weights(g3, 1);
    assert_int_equal(sn_export_c(g, w3, NULL, NULL, NULL, &o, dir, NULL, &e),
                     -1);
    assert_non_null(strstr(e.msg, "do not match the graph at layer 1"));
    sn_weights_free(w3);
    sn_graph_free(g3);
    /* NaN weights */
    w->params[3] = NAN;
    assert_int_equal(sn_export_c(g, w, NULL, NULL, NULL, &o, dir, NULL, &e),
                     -1);
    assert_non_null(strstr(e.msg, "non-finite"));
    w->params[3] = 0.1f;
    /* int8 without calibration data */
    o.int8 = 1;
    assert_int_equal(sn_export_c(g, w, NULL, NULL, NULL, &o, dir, NULL, &e),
                     -1);
    assert_non_null(strstr(e.msg, "calibration"));
    o.int8 = 0;
    /* a bad std */
    float m0 = 0.5f, s0 = 0.0f;
    assert_int_equal(sn_export_c(g, w, &m0, &s0, NULL, &o, dir, NULL, &e), -1);
    assert_true(dir_empty(dir));
    /* an unwritable place: under a regular file, and a missing parent */
    char bad[200];
    snprintf(bad, sizeof bad, "%s/file", tmpdir);
    write_file(bad, "x", 1);
    snprintf(bad, sizeof bad, "%s/file/out", tmpdir);
    assert_int_equal(sn_export_c(g, w, NULL, NULL, NULL, &o, bad, NULL, &e),
                     -1);
    snprintf(bad, sizeof bad, "%s/no/such/dir", tmpdir);
    assert_int_equal(sn_export_c(g, w, NULL, NULL, NULL, &o, bad, NULL, &e),
                     -1);
    struct stat st;
    snprintf(bad, sizeof bad, "%s/no", tmpdir);
    assert_int_equal(stat(bad, &st), -1);
    if (geteuid() != 0) { /* a read-only folder: no partial file, no temp */
        assert_int_equal(chmod(dir, 0555), 0);
        assert_int_equal(
            sn_export_c(g, w, NULL, NULL, NULL, &o, dir, NULL, &e), -1);
        assert_int_equal(chmod(dir, 0755), 0);
        assert_true(dir_empty(dir));
    }
    /* class names and a prefix make it into the files */
    const char *names[10] = {"T-shirt/top", "Trouser", "Pull\"over", "Dress",
                             "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                             "Ankle boot"};
    o.prefix = "fm";
    sn_export_c_report r;
    assert_int_equal(sn_export_c(g, w, NULL, NULL, names, &o, dir, &r, &e), 0);
    char *text;
    size_t len;
    assert_int_equal(sn_read_file(r.source, &text, &len, &e), 0);
    assert_non_null(strstr(text, "\"Pull\\\"over\""));
    assert_non_null(strstr(text, "int fm_predict(const float *input"));
    assert_null(strstr(text, "malloc"));
    free(text);
    assert_int_equal(sn_read_file(r.header, &text, &len, &e), 0);
    assert_non_null(strstr(text, "#define FM_CLASSES 10"));
    free(text);
    /* the bench compiles and times it */
    double sec = 0;
    if (sn_export_c_bench(dir, "fm", 0.05, &sec, &e))
        fail_msg("bench: %s", e.msg);
    assert_true(sec > 0 && sec < 0.1);
    assert_int_equal(sn_export_c_bench(dir, "nothere", 0.05, &sec, &e), -1);
    sn_weights_free(w);
    sn_weights_free(w2);
    sn_graph_free(g);
    sn_graph_free(g2);
}

/* `slimnas stats` reports the export's arena next to its peak. */
static void test_stats_reports_arena(void **state) {
    const char *bin = getenv("SLIMNAS");
    if (!bin) {
        print_message("# SLIMNAS not set: skipped\n");
        skip();
    }
    sn_error e;
    const char *path = "samples/graphs/mobile_tiny_28x28x1.json";
    sn_graph *g = sn_graph_load(path, &e);
    if (!g) fail_msg("%s", e.msg);
    int64_t arena = sn_export_c_arena_bytes(g, 0, &e);
    assert_true(arena > 0 && arena < sn_graph_peak_bytes(g));
    char cmd[512], want[64], buf[4096];
    snprintf(cmd, sizeof cmd, "%s stats --json %s", bin, path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    buf[len] = 0;
    char rest[4096]; /* read to the end: no SIGPIPE for the writer */
    while (fread(rest, 1, sizeof rest, f) > 0) continue;
    assert_int_equal(pclose(f), 0);
    snprintf(want, sizeof want, "\"arena_bytes\":\t%lld,", (long long)arena);
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof want, "\"arena_bytes_int8\":\t%lld,",
             (long long)arena / 4);
    assert_non_null(strstr(buf, want));
    sn_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TU_TIMED(test_base_architectures),
        TU_TIMED(test_morphed_graphs),
        TU_TIMED(test_every_op),
        TU_TIMED(test_int8_fashion_mnist),
        TU_TIMED(test_errors),
        cmocka_unit_test(test_stats_reports_arena),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
