/* test_export.c — the model info (normalisation, class names) in graph and
 * weight files, the protobuf writer, the ONNX exporter validated by
 * onnx.checker and OpenCV (tests/onnx_check.py) on Fashion-MNIST test
 * images, and `slimnas export` / `slimnas predict` (path in $SLIMNAS). */
#include "testutil.h"

#include <png.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slimnas/export.h"
#include "slimnas/morph.h"
#include "../src/export/export_internal.h"
#include "slimnas/train.h"

static const char *bin;
static char dir[64];
static sn_data *fm; /* Fashion-MNIST, opened once */

static const char *in_dir(const char *name) {
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
    char cmd[4096], full[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "( %s ) >'%s' 2>'%s'", cmd, in_dir("out.txt"),
             in_dir("err.txt"));
    int st = system(full);
    if (st == -1 || !WIFEXITED(st)) fail_msg("could not run: %s", cmd);
    return WEXITSTATUS(st);
}

__attribute__((noinline)) static char *slurp(const char *path) {
    char *d;
    size_t n;
    sn_error e;
    if (sn_read_file(path, &d, &n, &e) != 0) fail_msg("%s", e.msg);
    return d;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static int exists(const char *p) { return access(p, F_OK) == 0; }

static int setup(void **state) {
    bin = getenv("SLIMNAS");
    if (!bin || !*bin) bin = "./slimnas";
    snprintf(dir, sizeof dir, "/tmp/sn_test_export.XXXXXX");
    if (!mkdtemp(dir)) return -1;
    sn_error e;
    sn_data_opts o = sn_data_opts_default();
    o.max_train = 2000;
    fm = sn_data_open("fashion-mnist", &o, &e);
    if (!fm) fprintf(stderr, "test_export: %s\n", e.msg);
    return fm ? 0 : -1;
}

static int teardown(void **state) {
    sn_data_free(fm);
    tu_rm_rf(dir);
    return 0;
}

/* ---- protobuf writer ------------------------------------------------ */

static void expect_bytes(const sn_pb *b, const unsigned char *want,
                         size_t n) {
    assert_int_equal(b->n, n);
    assert_memory_equal(b->p, want, n);
}

static void test_pb_varint(void **state) {
    sn_pb b = {0};
    sn_pb_varint(&b, 1);
    expect_bytes(&b, (const unsigned char[]){0x01}, 1);
    sn_pb_free(&b);
    sn_pb_varint(&b, 150); /* the protobuf documentation's example */
    expect_bytes(&b, (const unsigned char[]){0x96, 0x01}, 2);
    sn_pb_free(&b);
    sn_pb_varint(&b, 300);
    expect_bytes(&b, (const unsigned char[]){0xac, 0x02}, 2);
    sn_pb_free(&b);
    sn_pb_varint(&b, 0);
    expect_bytes(&b, (const unsigned char[]){0x00}, 1);
    sn_pb_free(&b);
    /* int64 -1: ten bytes, two's complement */
    sn_pb_int(&b, 1, -1);
    expect_bytes(&b,
                 (const unsigned char[]){0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0x01},
                 11);
    sn_pb_free(&b);
}

static void test_pb_fields(void **state) {
    sn_pb b = {0}, sub = {0};
    sn_pb_int(&sub, 1, 150);      /* 08 96 01 */
    sn_pb_string(&b, 2, "testing"); /* 12 07 74 65 73 74 69 6e 67 */
    sn_pb_msg(&b, 3, &sub);        /* 1a 03 08 96 01 */
    sn_pb_float(&b, 2, 1.0f);      /* 15 00 00 80 3f */
    sn_pb_int(&b, 20, 7);          /* field 20: tag a0 01, 07 */
    const unsigned char want[] = {0x12, 0x07, 't',  'e',  's',  't',  'i',
                                  'n',  'g',  0x1a, 0x03, 0x08, 0x96, 0x01,
                                  0x15, 0x00, 0x00, 0x80, 0x3f, 0xa0, 0x01,
                                  0x07};
    expect_bytes(&b, want, sizeof want);
    sn_pb_free(&b);
    sn_pb_free(&sub);
    /* a long length prefix: 200 bytes -> c8 01 */
    char big[200];
    memset(big, 'x', sizeof big);
    sn_pb_bytes(&b, 1, big, sizeof big);
    assert_int_equal(b.n, 1 + 2 + 200);
    assert_int_equal(b.p[1], 0xc8);
    assert_int_equal(b.p[2], 0x01);
    sn_pb_free(&b);
}

/* ---- model info --------------------------------------------------------- */

static sn_graph *tiny_graph(void) {
    sn_error e;
    sn_graph *g =
        sn_graph_new_kind("tiny2conv", (sn_shape){1, 28, 28}, 10, NULL, &e);
    if (!g) fail_msg("%s", e.msg);
    return g;
}

static void test_info_graph_json(void **state) {
    sn_graph *g = tiny_graph();
    char *plain = sn_graph_to_json(g);
    assert_null(strstr(plain, "\"data\""));
    sn_model_info_from_data(&g->info, fm);
    assert_true(g->info.known);
    char *text = sn_graph_to_json(g);
    assert_non_null(strstr(text, "\"class_names\""));
    sn_error e;
    sn_graph *r = sn_graph_from_json(text, strlen(text), "g.json", &e);
    if (!r) fail_msg("%s", e.msg);
    assert_true(r->info.known);
    assert_int_equal(r->info.c, 1);
    assert_true(r->info.mean[0] == sn_data_mean(fm)[0]); /* exact */
    assert_true(r->info.std[0] == sn_data_std(fm)[0]);
    assert_string_equal(r->info.dataset, "fashion-mnist");
    assert_int_equal(r->info.n_names, 10);
    assert_string_equal(r->info.names[9], "Ankle boot");
    /* saved again: byte for byte the same */
    char *again = sn_graph_to_json(r);
    assert_string_equal(again, text);
    /* an old file (no "data") loads with the info unknown */
    sn_graph *old = sn_graph_from_json(plain, strlen(plain), "old.json", &e);
    assert_non_null(old);
    assert_false(old->info.known);
    /* a bad one: one located sentence */
    char *bad = strdup(text);
    char *p = strstr(bad, "\"std\":[");
    assert_non_null(p);
    p[7] = '-';
    assert_null(sn_graph_from_json(bad, strlen(bad), "bad.json", &e));
    assert_non_null(strstr(e.msg, "bad.json:"));
    assert_non_null(strstr(e.msg, "data.std"));
    free(bad);
    free(again);
    free(text);
    free(plain);
    sn_graph_free(r);
    sn_graph_free(old);
    sn_graph_free(g);
}

static void test_info_weights_file(void **state) {
    sn_graph *g = tiny_graph();
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, 3);
    sn_error e;
    /* no info anywhere: a version 1 file, as before */
    assert_int_equal(sn_weights_save(w, g, in_dir("v1.bin"), &e), 0);
    char *d = slurp(in_dir("v1.bin"));
    assert_int_equal(d[4], 1);
    free(d);
    sn_weights *r = sn_weights_load(g, in_dir("v1.bin"), &e);
    assert_non_null(r);
    assert_false(r->info.known);
    sn_weights_free(r);
    /* with it: version 2, read back equal */
    sn_model_info_from_data(&w->info, fm);
    assert_int_equal(sn_weights_save(w, g, in_dir("v2.bin"), &e), 0);
    d = slurp(in_dir("v2.bin"));
    assert_int_equal(d[4], 2);
    free(d);
    r = sn_weights_load(g, in_dir("v2.bin"), &e);
    if (!r) fail_msg("%s", e.msg);
    assert_true(r->info.known);
    assert_true(r->info.mean[0] == w->info.mean[0]);
    assert_true(r->info.std[0] == w->info.std[0]);
    assert_string_equal(r->info.names[0], "T-shirt/top");
    assert_memory_equal(r->params, w->params, (size_t)w->n_params * 4);
    /* the graph's info is written when the weights have none */
    sn_weights *w2 = sn_weights_new(g);
    sn_model_info_from_data(&g->info, fm);
    assert_int_equal(sn_weights_save(w2, g, in_dir("g.bin"), &e), 0);
    sn_graph *g2 = tiny_graph();
    sn_weights *r2 = sn_weights_load(g2, in_dir("g.bin"), &e);
    assert_non_null(r2);
    assert_true(r2->info.known);
    assert_ptr_equal(sn_model_info_pick(g2, r2), &r2->info);
    assert_null(sn_model_info_pick(g2, NULL));
    /* a truncated info block is refused in one sentence */
    char *data;
    size_t n;
    assert_int_equal(sn_read_file(in_dir("v2.bin"), &data, &n, &e), 0);
    FILE *f = fopen(in_dir("cut.bin"), "wb");
    fwrite(data, 1, n - 30, f);
    fclose(f);
    assert_null(sn_weights_load(g, in_dir("cut.bin"), &e));
    assert_non_null(strstr(e.msg, "cut.bin: "));
    free(data);
    sn_weights_free(r);
    sn_weights_free(r2);
    sn_weights_free(w2);
    sn_weights_free(w);
    sn_graph_free(g2);
    sn_graph_free(g);
}

static void test_train_records_info(void **state) {
    sn_error e;
    sn_data_opts o = sn_data_opts_default();
    sn_data *d = sn_data_open("synthetic:200", &o, &e);
    assert_non_null(d);
    sn_graph *g = sn_graph_new_kind("tiny2conv", sn_data_shape(d), 10, NULL,
                                    &e);
    assert_non_null(g);
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, 1);
    assert_false(w->info.known);
    sn_train_opts t = sn_train_opts_default();
    t.batch = 50;
    sn_train_result r;
    assert_int_equal(sn_train(g, w, d, &t, &r, &e), 0);
    sn_train_result_free(&r);
    assert_true(w->info.known);
    assert_true(w->info.mean[0] == sn_data_mean(d)[0]);
    assert_string_equal(w->info.dataset, "synthetic");
    sn_weights_free(w);
    sn_graph_free(g);
    sn_data_free(d);
}

/* ---- ONNX validation --------------------------------------------------- */

/* Random weights, and bn statistics and affine terms far from the
 * identity, so folding is really exercised. */
static sn_weights *random_weights(const sn_graph *g, uint64_t seed) {
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, seed);
    sn_rng r;
    sn_rng_seed(&r, seed + 17);
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op != SN_OP_BN) continue;
        int c = g->nodes[i].out.c;
        float *gm = sn_weights_tensor(w, i, 0), *bt = sn_weights_tensor(w, i, 1);
        float *mu = sn_weights_tensor(w, i, 2), *var = sn_weights_tensor(w, i, 3);
        for (int k = 0; k < c; k++) {
            gm[k] = (float)(0.5 + sn_rng_uniform(&r));
            bt[k] = (float)(0.3 * sn_rng_normal(&r));
            mu[k] = (float)(0.3 * sn_rng_normal(&r));
            var[k] = (float)(0.5 + sn_rng_uniform(&r));
        }
    }
    /* logits of a trained network's size (|logit| up to ~20, not
     * hundreds): float32 spacing near 128 is already 1.5e-5, which would
     * eat the 1e-4 tolerance without any error in the export */
    int last = g->n_nodes - 1;
    while (last > 0 && g->nodes[last].op != SN_OP_DENSE &&
           g->nodes[last].op != SN_OP_CONV)
        last--;
    float *lw = sn_weights_tensor(w, last, 0);
    for (int64_t k = 0; k < sn_tensor_desc_size(&w->desc[last][0]); k++)
        lw[k] *= 0.125f;
    return w;
}

typedef struct manifest {
    FILE *f;
    int models;
} manifest;

/* Exports g, computes slimnas's logits for N Fashion-MNIST test images
 * (padded and replicated to the graph's input when it is bigger or has
 * three channels) and adds a manifest line for onnx_check.py. */
static void add_model(manifest *m, const char *tag, const sn_graph *g,
                      const sn_weights *w, int fold, int raw) {
    enum { N = 8 };
    sn_shape s = g->input;
    size_t sz = (size_t)sn_shape_size(s);
    float *px = sn_xcalloc(N * sz, sizeof *px); /* pixel / 255 */
    float *xn = sn_falloc(N * sz);              /* normalised */
    sn_model_info mi;
    sn_model_info_from_data(&mi, fm);
    mi.c = s.c;
    for (int c = 1; c < s.c && c < SN_INFO_MAX_C; c++) {
        mi.mean[c] = mi.mean[0] * (1 + 0.1f * c);
        mi.std[c] = mi.std[0] * (1 - 0.05f * c);
    }
    int oy = (s.h - 28) / 2, ox = (s.w - 28) / 2;
    for (int n = 0; n < N; n++) {
        const uint8_t *raw8 = sn_data_raw(fm, SN_SPLIT_TEST, n * 37);
        for (int c = 0; c < s.c; c++)
            for (int y = 0; y < s.h; y++)
                for (int x = 0; x < s.w; x++) {
                    int sy = y - oy, sx = x - ox;
                    float v = sy >= 0 && sy < 28 && sx >= 0 && sx < 28
                                  ? raw8[sy * 28 + sx] / 255.0f
                                  : 0;
                    size_t at = (size_t)n * sz + ((size_t)c * s.h + y) * s.w + x;
                    px[at] = v;
                    xn[at] = (v - mi.mean[c]) / mi.std[c];
                }
    }
    sn_weights *wc = (sn_weights *)w;
    sn_exec *ex = sn_exec_new(g, wc, N);
    const float *lg = sn_exec_forward(ex, xn, N, 0);
    char onnx[256], xin[256], yout[256];
    snprintf(onnx, sizeof onnx, "%s/%s.onnx", dir, tag);
    snprintf(xin, sizeof xin, "%s/%s.x", dir, tag);
    snprintf(yout, sizeof yout, "%s/%s.y", dir, tag);
    sn_error e;
    FILE *f = fopen(xin, "wb");
    fwrite(raw ? xn : px, sizeof(float), N * sz, f);
    fclose(f);
    f = fopen(yout, "wb");
    fwrite(lg, sizeof(float), (size_t)N * g->classes, f);
    fclose(f);
    sn_export_onnx_opts o = sn_export_onnx_opts_default();
    o.fold_bn = fold;
    o.raw_input = raw;
    sn_export_report rep;
    if (sn_export_onnx(g, w, &mi, &o, onnx, &rep, &e) != 0)
        fail_msg("%s: %s", tag, e.msg);
    /* the initializers hold exactly the graph's parameters, plus the bn
     * buffers when bn stays, minus bn when folded (plus new biases) */
    assert_true(rep.params > 0 && rep.bytes > rep.weight_bytes);
    if (!fold) assert_int_equal(rep.folded_bn, 0);
    fprintf(m->f, "%s %s %s %d %d %d %d %d\n", onnx, xin, yout, N, s.c, s.h,
            s.w, g->classes);
    m->models++;
    sn_exec_free(ex);
    sn_free_aligned(xn);
    free(px);
}

/* Applies morph spec to (*g, *w), replacing them. */
static void morph(sn_graph **g, sn_weights **w, const char *spec) {
    sn_error e;
    sn_morph_op op;
    if (sn_morph_parse(*g, spec, 5, &op, &e) != 0)
        fail_msg("%s: %s", spec, e.msg);
    sn_graph *cg;
    sn_weights *cw;
    if (sn_morph_apply(*g, *w, op, 5, &cg, &cw, NULL, &e) != 0)
        fail_msg("%s: %s", spec, e.msg);
    assert_int_equal(cw->info.known, (*w)->info.known); /* inherited */
    sn_graph_free(*g);
    sn_weights_free(*w);
    *g = cg;
    *w = cw;
}

static int has_op(const sn_graph *g, sn_op_kind op, int depthwise) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == op &&
            (!depthwise || (g->nodes[i].attr.groups > 1 &&
                            g->nodes[i].attr.groups ==
                                g->nodes[g->nodes[i].in[0]].out.c)))
            return 1;
    return 0;
}

static void test_onnx_checker_and_opencv(void **state) {
    manifest m = {fopen(in_dir("manifest.txt"), "w"), 0};
    assert_non_null(m.f);
    sn_error e;
    /* every base architecture, narrow enough to run quickly */
    for (int k = 0; sn_arch_kinds[k]; k++) {
        sn_arch_opts ao = {8, 0};
        sn_graph *g = sn_graph_new_kind(sn_arch_kinds[k], (sn_shape){1, 28, 28},
                                        10, &ao, &e);
        if (!g) fail_msg("%s: %s", sn_arch_kinds[k], e.msg);
        sn_weights *w = random_weights(g, 100 + (uint64_t)k);
        char tag[64];
        snprintf(tag, sizeof tag, "%s", sn_arch_kinds[k]);
        add_model(&m, tag, g, w, 1, 0);
        snprintf(tag, sizeof tag, "%s_nofold_raw", sn_arch_kinds[k]);
        add_model(&m, tag, g, w, 0, 1);
        sn_weights_free(w);
        sn_graph_free(g);
    }
    /* the sample graphs as shipped (the 32x32x3 ones at full width) */
    const char *samples[] = {"tiny2conv_28x28x1", "mobile_tiny_28x28x1",
                             "ak_cnn_28x28x1", "cnn_32x32x3",
                             "mobilenetv2_32x32x3", "resnet_32x32x3"};
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        char p[128];
        snprintf(p, sizeof p, "samples/graphs/%s.json", samples[i]);
        sn_graph *g = sn_graph_load(p, &e);
        if (!g) fail_msg("%s", e.msg);
        sn_weights *w = random_weights(g, 7 + i);
        add_model(&m, samples[i], g, w, 1, 0);
        sn_weights_free(w);
        sn_graph_free(g);
    }
    /* morphed graphs with every operator: depthwise (separable),
     * concat and add skips, dense-deeper, conv-deeper, mbv2 blocks, wider */
    sn_graph *g = sn_graph_new_kind("cnn", (sn_shape){1, 28, 28}, 10,
                                    &(sn_arch_opts){8, 2}, &e);
    assert_non_null(g);
    sn_weights *w = random_weights(g, 9);
    sn_model_info_from_data(&w->info, fm);
    const char *specs[] = {"separable", "add-skip", "concat-skip",
                           "deeper-dense", "deeper", "deeper-mbv2",
                           "wider", "concat-skip", "add-skip"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++)
        morph(&g, &w, specs[i]);
    assert_true(has_op(g, SN_OP_CONV, 1));
    assert_true(has_op(g, SN_OP_ADD, 0));
    assert_true(has_op(g, SN_OP_CONCAT, 0));
    assert_true(has_op(g, SN_OP_RELU6, 0));
    int dense = 0;
    for (int i = 0; i < g->n_nodes; i++) dense += g->nodes[i].op == SN_OP_DENSE;
    assert_true(dense >= 3);
    sn_weights_free(w);
    w = random_weights(g, 11); /* bn statistics away from the identity */
    add_model(&m, "morphed", g, w, 1, 0);
    add_model(&m, "morphed_nofold", g, w, 0, 0);
    sn_weights_free(w);
    sn_graph_free(g);
    fclose(m.f);

    int rc = run("/usr/bin/python3 tests/onnx_check.py '%s'",
                 in_dir("manifest.txt"));
    char *out = slurp(in_dir("out.txt")), *err = slurp(in_dir("err.txt"));
    if (rc != 0) {
        fprintf(stderr, "%s%s", out, err);
        fail_msg("onnx_check.py exit %d", rc);
    }
    char want[64];
    snprintf(want, sizeof want, "%d models, 0 failed", m.models);
    if (!strstr(out, want)) fail_msg("%s", out);
    const char *ops[] = {"Conv",   "Gemm",    "Clip",    "Add",
                         "Concat", "MaxPool", "Sub",     "Div",
                         "BatchNormalization", "GlobalAveragePool",
                         "Flatten"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (!strstr(out, ops[i])) fail_msg("no model used %s:\n%s", ops[i], out);
    printf("%s", out);
    free(out);
    free(err);
}

/* ---- int8 ONNX --------------------------------------------------------- */

/* Exports g as int8 ONNX (calibrated on calib_n of fm's training images)
 * and adds an int8 manifest line: n test images (raw pixels / 255, the
 * graph takes 28x28x1) and the class the int8 C program (the in-process
 * reference, bit-exact with the generated model.c) gives each. */
static void add_int8_model(manifest *m, const char *tag, const sn_graph *g,
                           const sn_weights *w, int n, int calib_n,
                           sn_export_report *rep) {
    sn_error e;
    sn_model_info mi;
    sn_model_info_from_data(&mi, fm);
    size_t sz = (size_t)sn_shape_size(g->input);
    assert_int_equal(sz, 28 * 28);
    float *px = sn_xmalloc((size_t)n * sz * sizeof *px);
    int32_t *cls = sn_xmalloc((size_t)n * sizeof *cls);
    for (int i = 0; i < n; i++) {
        const uint8_t *raw8 = sn_data_raw(fm, SN_SPLIT_TEST, i);
        for (size_t t = 0; t < sz; t++) px[(size_t)i * sz + t] = raw8[t] / 255.0f;
    }
    xs_prog *p = xs_lower(g, w, mi.mean, mi.std, &e);
    if (!p) fail_msg("%s: %s", tag, e.msg);
    int used;
    sn_export_c_opts co = sn_export_c_opts_default();
    if (xs_quantize(p, w, mi.mean, mi.std, fm, calib_n, co.seed, &used, &e))
        fail_msg("%s: %s", tag, e.msg);
    int8_t *arena = sn_xmalloc((size_t)p->arena);
    float lg[64];
    assert_true(g->classes <= 64);
    int hist[64] = {0};
    for (int i = 0; i < n; i++) {
        cls[i] = xs_run_int8(p, px + (size_t)i * sz, lg, arena);
        hist[cls[i]]++;
    }
    /* a model that gives every image one class would agree trivially */
    for (int k = 0; k < g->classes; k++)
        if (hist[k] > n * 9 / 10) fail_msg("%s: int8 C gives class %d to "
                                           "%d of %d images", tag, k,
                                           hist[k], n);
    free(arena);
    xs_free(p);
    char onnx[256], xin[256], yout[256];
    snprintf(onnx, sizeof onnx, "%s/%s.onnx", dir, tag);
    snprintf(xin, sizeof xin, "%s/%s.x", dir, tag);
    snprintf(yout, sizeof yout, "%s/%s.cls", dir, tag);
    FILE *f = fopen(xin, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(px, sizeof *px, (size_t)n * sz, f), (size_t)n * sz);
    fclose(f);
    f = fopen(yout, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(cls, sizeof *cls, (size_t)n, f), (size_t)n);
    fclose(f);
    sn_export_onnx_opts o = sn_export_onnx_opts_default();
    o.int8 = 1;
    o.calib = fm;
    o.calibrate = calib_n;
    if (sn_export_onnx(g, w, &mi, &o, onnx, rep, &e) != 0)
        fail_msg("%s: %s", tag, e.msg);
    fprintf(m->f, "int8 %s %s %s %d 1 28 28 %d\n", onnx, xin, yout, n,
            g->classes);
    m->models++;
    free(px);
    free(cls);
}

/* Trains (g, w) for one epoch on fm's 2000 training images. */
static void train1(const sn_graph *g, sn_weights *w) {
    sn_error e;
    sn_train_opts to = sn_train_opts_default();
    to.epochs = 1;
    to.eval_val = 0;
    to.lr = 0.05f;
    sn_train_result tr;
    if (sn_train(g, w, fm, &to, &tr, &e) != 0) fail_msg("%s", e.msg);
    sn_train_result_free(&tr);
}

/* A graph of the given kind, trained (train1). */
static sn_graph *trained(const char *kind, sn_weights **w) {
    sn_error e;
    sn_graph *g = sn_graph_new_kind(kind, (sn_shape){1, 28, 28}, 10, NULL,
                                    &e);
    if (!g) fail_msg("%s: %s", kind, e.msg);
    *w = sn_weights_new(g);
    sn_weights_init(*w, g, 1);
    train1(g, *w);
    return g;
}

/* The int8 ONNX of trained tiny2conv and mobile_tiny models and of a
 * morphed graph with every operator (all trained for one epoch on 2000
 * images): onnx.checker and OpenCV accept them,
 * every weight is int8, and OpenCV's argmax agrees with the int8 C's on at
 * least 99% of 2000 Fashion-MNIST test images. */
static void test_onnx_int8_opencv_agrees_with_c(void **state) {
    manifest m = {fopen(in_dir("manifest8.txt"), "w"), 0};
    assert_non_null(m.f);
    enum { N = 2000 };
    const char *kinds[] = {"tiny2conv", "mobile_tiny"};
    for (size_t k = 0; k < 2; k++) {
        sn_weights *w;
        sn_graph *g = trained(kinds[k], &w);
        sn_export_report r8, rf;
        add_int8_model(&m, kinds[k], g, w, N, 500, &r8);
        sn_model_info mi;
        sn_model_info_from_data(&mi, fm);
        sn_export_onnx_opts fo = sn_export_onnx_opts_default();
        sn_error e;
        unsigned char *buf;
        size_t n;
        assert_int_equal(sn_onnx_encode(g, w, &mi, &fo, &buf, &n, &rf, &e), 0);
        free(buf);
        /* the same parameters; int8 weights, int32 biases, float scales */
        assert_int_equal(r8.params, rf.params);
        assert_true(r8.weight_bytes * 3 < rf.weight_bytes);
        print_message("# %s: float ONNX %lld B (weights %lld B), int8 ONNX "
                      "%lld B (weights %lld B)\n", kinds[k],
                      (long long)rf.bytes, (long long)rf.weight_bytes,
                      (long long)r8.bytes, (long long)r8.weight_bytes);
        sn_weights_free(w);
        sn_graph_free(g);
    }
    sn_error e;
    sn_graph *g = sn_graph_new_kind("cnn", (sn_shape){1, 28, 28}, 10,
                                    &(sn_arch_opts){8, 2}, &e);
    assert_non_null(g);
    sn_weights *w = random_weights(g, 9);
    const char *specs[] = {"separable", "add-skip", "concat-skip",
                           "deeper-dense", "deeper-mbv2", "concat-skip"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++)
        morph(&g, &w, specs[i]);
    assert_true(has_op(g, SN_OP_CONV, 1));
    assert_true(has_op(g, SN_OP_ADD, 0) && has_op(g, SN_OP_CONCAT, 0));
    train1(g, w);
    sn_export_report r8;
    add_int8_model(&m, "morphed_int8", g, w, N, 500, &r8);
    /* without calibration data: an error, no file */
    sn_model_info mi;
    sn_model_info_from_data(&mi, fm);
    sn_export_onnx_opts no = sn_export_onnx_opts_default();
    no.int8 = 1;
    assert_int_equal(sn_export_onnx(g, w, &mi, &no, in_dir("nocal.onnx"),
                                    NULL, &e),
                     -1);
    assert_non_null(strstr(e.msg, "--data"));
    assert_false(exists(in_dir("nocal.onnx")));
    sn_weights_free(w);
    sn_graph_free(g);
    fclose(m.f);

    int rc = run("/usr/bin/python3 tests/onnx_check.py '%s'",
                 in_dir("manifest8.txt"));
    char *out = slurp(in_dir("out.txt")), *err = slurp(in_dir("err.txt"));
    if (rc != 0) {
        fprintf(stderr, "%s%s", out, err);
        fail_msg("onnx_check.py exit %d", rc);
    }
    char want[64];
    snprintf(want, sizeof want, "%d models, 0 failed", m.models);
    if (!strstr(out, want)) fail_msg("%s", out);
    const char *ops[] = {"QuantizeLinear", "QLinearConv", "DequantizeLinear",
                         "MaxPool", "Reshape", "Add", "Concat",
                         "GlobalAveragePool", "Clip", "Relu"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (!strstr(out, ops[i])) fail_msg("no model used %s:\n%s", ops[i], out);
    printf("%s", out);
    free(out);
    free(err);
}

/* ---- the command line -------------------------------------------------- */

/* A trained tiny2conv with a v2 weight file, and the same weights as a
 * version-1 file (no info), in dir. */
static void make_model(void) {
    if (exists(in_dir("m.json"))) return;
    assert_int_equal(run("%s new tiny2conv --input 28x28x1 --classes 10 -o "
                         "'%s' && %s train '%s' --data fashion-mnist "
                         "--max-train 1000 --epochs 1 --threads 1 --save '%s'",
                         bin, in_dir("m.json"), bin, in_dir("m.json"),
                         in_dir("m.bin")),
                     0);
    sn_error e;
    sn_graph *g = sn_graph_load(in_dir("m.json"), &e);
    assert_non_null(g);
    sn_weights *w = sn_weights_load(g, in_dir("m.bin"), &e);
    assert_non_null(w);
    assert_true(w->info.known);
    w->info.known = 0;
    assert_int_equal(sn_weights_save(w, g, in_dir("old.bin"), &e), 0);
    sn_weights_free(w);
    sn_graph_free(g);
}

static void test_cli_export_and_predict(void **state) {
    make_model();
    assert_int_equal(run("%s export '%s' --weights '%s' -o '%s'", bin,
                         in_dir("m.json"), in_dir("m.bin"), in_dir("m.onnx")),
                     0);
    char *out = slurp(in_dir("out.txt"));
    assert_non_null(strstr(out, "wrote "));
    assert_non_null(strstr(out, "opset 13"));
    free(out);
    assert_true(exists(in_dir("m.onnx")));
    /* a PGM of test image 5 classifies as predict --data says */
    const uint8_t *px = sn_data_raw(fm, SN_SPLIT_TEST, 5);
    FILE *f = fopen(in_dir("img.pgm"), "wb");
    fprintf(f, "P5\n# test image 5\n28 28\n255\n");
    fwrite(px, 1, 28 * 28, f);
    fclose(f);
    assert_int_equal(run("%s predict '%s' --weights '%s' '%s' --logits", bin,
                         in_dir("m.json"), in_dir("m.bin"), in_dir("img.pgm")),
                     0);
    char *one = slurp(in_dir("out.txt"));
    assert_int_equal(count_lines(one), 1);
    assert_int_equal(run("%s predict '%s' --weights '%s' --data fashion-mnist "
                         "--first 5 -n 1 --logits",
                         bin, in_dir("m.json"), in_dir("m.bin")),
                     0);
    char *ds = slurp(in_dir("out.txt"));
    const char *a = strchr(one, ':'), *b = strchr(ds, ':');
    assert_non_null(a);
    assert_non_null(b);
    /* same class, name, score and logits; the dataset line adds the truth */
    const char *lg_a = strstr(a, "logits"), *lg_b = strstr(b, "logits");
    assert_non_null(lg_a);
    assert_non_null(lg_b);
    assert_memory_equal(a, b, (size_t)(strstr(a, "score") - a));
    size_t la = strcspn(lg_a, "\n");
    assert_int_equal(la, strcspn(lg_b, "\n"));
    assert_memory_equal(lg_a, lg_b, la);
    assert_non_null(strstr(ds, "1 of 1 correct") ? ds : strstr(ds, "0 of 1"));
    /* the same image as PNG (libpng) and as a colour PPM (grey = R = G = B)
     * gives the same logits */
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = pi.height = 28;
    pi.format = PNG_FORMAT_GRAY;
    assert_true(png_image_write_to_file(&pi, in_dir("img.png"), 0, px, 0,
                                        NULL));
    f = fopen(in_dir("img.ppm"), "wb");
    fprintf(f, "P6 28 28 255\n");
    for (int i = 0; i < 28 * 28; i++)
        for (int c = 0; c < 3; c++) fputc(px[i], f);
    fclose(f);
    assert_int_equal(run("%s predict '%s' --weights '%s' '%s' '%s' --logits",
                         bin, in_dir("m.json"), in_dir("m.bin"),
                         in_dir("img.png"), in_dir("img.ppm")),
                     0);
    char *two = slurp(in_dir("out.txt"));
    assert_int_equal(count_lines(two), 2);
    const char *l1 = strstr(two, "logits"), *l2 = l1 ? strstr(l1 + 1, "logits")
                                                     : NULL;
    assert_non_null(l2);
    assert_memory_equal(l1, lg_a, la);
    assert_memory_equal(l2, lg_a, la);
    free(two);
    free(one);
    free(ds);
}

/* `export --format onnx --int8`: the same scales as c-int8 with the same
 * calibration (the int8 accuracy printed is the c-int8 one), the usage
 * errors, and no file left behind on failure. */
static void test_cli_export_onnx_int8(void **state) {
    make_model();
    const char *m8 = in_dir("m8.onnx");
    assert_int_equal(run("%s export '%s' --weights '%s' --format onnx --int8 "
                         "--data fashion-mnist "
                         "--calibrate 200 -o '%s'",
                         bin, in_dir("m.json"), in_dir("m.bin"), m8),
                     0);
    char *out = slurp(in_dir("out.txt"));
    assert_non_null(strstr(out, "int8 QLinear"));
    const char *acc = strstr(out, "test accuracy");
    assert_non_null(acc);
    assert_true(exists(m8));
    assert_int_equal(run("%s export '%s' --weights '%s' --format c-int8 "
                         "--data fashion-mnist "
                         "--calibrate 200 -o '%s'",
                         bin, in_dir("m.json"), in_dir("m.bin"),
                         in_dir("m8c")),
                     0);
    char *outc = slurp(in_dir("out.txt"));
    const char *accc = strstr(outc, "test accuracy");
    assert_non_null(accc);
    assert_memory_equal(acc, accc, strcspn(acc, "\n"));
    free(outc);
    free(out);
    /* usage errors: exit 2, one line, nothing written */
    assert_int_equal(run("%s export '%s' --weights '%s' --int8 --no-fold-bn "
                         "-o '%s'", bin, in_dir("m.json"), in_dir("m.bin"),
                         in_dir("nofold8.onnx")),
                     2);
    assert_false(exists(in_dir("nofold8.onnx")));
    /* an unwritable path: exit 1, one line */
    assert_int_equal(run("%s export '%s' --weights '%s' --int8 --data "
                         "fashion-mnist -o '%s/no/such/x.onnx'",
                         bin, in_dir("m.json"), in_dir("m.bin"), dir),
                     1);
    char *err = slurp(in_dir("err.txt"));
    assert_int_equal(count_lines(err), 1);
    free(err);
}

static void test_cli_old_weights(void **state) {
    make_model();
    /* no normalisation in the weights: export refuses, --data supplies it */
    assert_int_equal(run("%s export '%s' --weights '%s' -o '%s'", bin,
                         in_dir("m.json"), in_dir("old.bin"),
                         in_dir("old.onnx")),
                     1);
    char *err = slurp(in_dir("err.txt"));
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "normalisation is unknown"));
    free(err);
    assert_false(exists(in_dir("old.onnx")));
    assert_int_equal(run("%s export '%s' --weights '%s' -o '%s' --data "
                         "fashion-mnist",
                         bin, in_dir("m.json"), in_dir("old.bin"),
                         in_dir("old.onnx")),
                     0);
    err = slurp(in_dir("err.txt"));
    assert_non_null(strstr(err, "holds no normalisation; using fashion-mnist"));
    free(err);
    assert_true(exists(in_dir("old.onnx")));
    /* eval says so too */
    assert_int_equal(run("%s eval '%s' --weights '%s' --data fashion-mnist "
                         "--json",
                         bin, in_dir("m.json"), in_dir("old.bin")),
                     0);
    err = slurp(in_dir("err.txt"));
    assert_non_null(strstr(err, "normalisation is unknown"));
    free(err);
    /* --raw-input needs no normalisation */
    assert_int_equal(run("%s export '%s' --weights '%s' -o '%s' --raw-input",
                         bin, in_dir("m.json"), in_dir("old.bin"),
                         in_dir("raw.onnx")),
                     0);
}

static void expect_error(int rc, int want, const char *needle,
                         const char *left) {
    char *err = slurp(in_dir("err.txt"));
    if (rc != want || count_lines(err) != 1 || !strstr(err, needle))
        fail_msg("exit %d (want %d), stderr:\n%s(want '%s')", rc, want, err,
                 needle);
    free(err);
    if (left && exists(left)) fail_msg("%s was left behind", left);
}

static void test_cli_bad_input(void **state) {
    make_model();
    char o[256];
    snprintf(o, sizeof o, "%s", in_dir("bad.onnx"));
    expect_error(run("%s export '%s' --weights '%s' --format tflite -o '%s'",
                     bin, in_dir("m.json"), in_dir("m.bin"), o),
                 2, "unknown format 'tflite'", o);
    expect_error(run("%s export '%s' --weights '%s' -o '%s/no/such/dir/x.onnx'",
                     bin, in_dir("m.json"), in_dir("m.bin"), dir),
                 1, "no/such/dir", NULL);
    expect_error(run("%s export '%s' -o '%s'", bin, in_dir("m.json"), o), 2,
                 "--weights", o);
    /* weights of another network */
    assert_int_equal(run("%s new mobile_tiny --input 28x28x1 --classes 10 -o "
                         "'%s'",
                         bin, in_dir("other.json")),
                     0);
    expect_error(run("%s export '%s' --weights '%s' -o '%s'", bin,
                     in_dir("other.json"), in_dir("m.bin"), o),
                 1, "m.bin: tensor", o);
    /* a run whose candidate was never trained */
    mkdir(in_dir("run"), 0755);
    mkdir(in_dir("run/cand"), 0755);
    assert_int_equal(run("cp '%s' '%s'", in_dir("m.json"),
                         in_dir("run/cand/0.json")),
                     0);
    expect_error(run("%s export '%s' 0 -o '%s'", bin, in_dir("run"), o), 1,
                 "candidate 0 has no weights", o);
    expect_error(run("%s export '%s' 3 -o '%s'", bin, in_dir("run"), o), 1,
                 "no candidate 3", o);
    /* with weights: N.bin, then N.final.bin once it exists */
    assert_int_equal(run("cp '%s' '%s'", in_dir("m.bin"),
                         in_dir("run/cand/0.bin")),
                     0);
    assert_int_equal(run("%s export '%s' 0 -o '%s'", bin, in_dir("run"), o), 0);
    char *err = slurp(in_dir("err.txt"));
    assert_non_null(strstr(err, "cand/0.bin"));
    free(err);
    assert_int_equal(run("cp '%s' '%s'", in_dir("m.bin"),
                         in_dir("run/cand/0.final.bin")),
                     0);
    assert_int_equal(run("%s export '%s' 0 -o '%s'", bin, in_dir("run"), o), 0);
    err = slurp(in_dir("err.txt"));
    assert_non_null(strstr(err, "cand/0.final.bin"));
    free(err);
    remove(o);
    /* predict: an image of the wrong size */
    FILE *f = fopen(in_dir("small.pgm"), "wb");
    fprintf(f, "P5 4 4 255\n");
    for (int i = 0; i < 16; i++) fputc(i, f);
    fclose(f);
    expect_error(run("%s predict '%s' --weights '%s' '%s'", bin,
                     in_dir("m.json"), in_dir("m.bin"), in_dir("small.pgm")),
                 1, "small.pgm: the image is 4x4", NULL);
}

static void test_cli_export_front(void **state) {
    assert_int_equal(run("%s search --data synthetic:300 --run '%s' "
                         "--max-candidates 3 --root-epochs 1 --bases "
                         "tiny2conv:4 --headless --threads 1 --export-front "
                         "'%s'",
                         bin, in_dir("srun"), in_dir("front")),
                     0);
    char *idx = slurp(in_dir("front/front.json"));
    assert_non_null(strstr(idx, "\"slimnas-front-export\""));
    /* every member listed has its file; the run lists the same members */
    int members = 0;
    for (const char *p = strstr(idx, "\"id\":"); p;
         p = strstr(p + 1, "\"id\":")) {
        int id = atoi(p + 5 + strspn(p + 5, " \t"));
        char f[64];
        snprintf(f, sizeof f, "front/cand-%d.onnx", id);
        if (!exists(in_dir(f))) fail_msg("%s missing", f);
        members++;
    }
    assert_true(members >= 1);
    free(idx);
    /* show --candidate names the files holding the network */
    assert_int_equal(run("%s show '%s' --candidate 0", bin, in_dir("srun")),
                     0);
    char *show = slurp(in_dir("out.txt"));
    char want[256];
    snprintf(want, sizeof want, "graph       %s/cand/0.json", in_dir("srun"));
    if (!strstr(show, want)) fail_msg("no '%s' in:\n%s", want, show);
    snprintf(want, sizeof want, "weights     %s/cand/0.bin", in_dir("srun"));
    if (!strstr(show, want)) fail_msg("no '%s' in:\n%s", want, show);
    assert_non_null(strstr(show, "input       12x12x1 (HxWxC), pixels/255"));
    free(show);
    /* the explorer's headless mode takes it too */
    assert_int_equal(run("%s ui --headless --data synthetic:300 --run '%s' "
                         "--max-candidates 2 --root-epochs 1 --bases "
                         "tiny2conv:4 --threads 1 --export-front '%s' "
                         "</dev/null",
                         bin, in_dir("urun"), in_dir("ufront")),
                     0);
    idx = slurp(in_dir("ufront/front.json"));
    assert_non_null(strstr(idx, "\"onnx\""));
    free(idx);
    /* usage errors come before any search starts */
    expect_error(run("%s search --data synthetic:300 --run '%s' "
                     "--export-format onnx",
                     bin, in_dir("srun2")),
                 2, "--export-front", in_dir("srun2"));
    expect_error(run("%s search --data synthetic:300 --run '%s' "
                     "--export-front x --export-format tflite",
                     bin, in_dir("srun2")),
                 2, "unknown format 'tflite'", in_dir("srun2"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pb_varint),
        cmocka_unit_test(test_pb_fields),
        cmocka_unit_test(test_info_graph_json),
        cmocka_unit_test(test_info_weights_file),
        cmocka_unit_test(test_train_records_info),
        cmocka_unit_test(test_onnx_checker_and_opencv),
        cmocka_unit_test(test_onnx_int8_opencv_agrees_with_c),
        cmocka_unit_test(test_cli_export_and_predict),
        cmocka_unit_test(test_cli_export_onnx_int8),
        cmocka_unit_test(test_cli_old_weights),
        cmocka_unit_test(test_cli_bad_input),
        cmocka_unit_test(test_cli_export_front),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
