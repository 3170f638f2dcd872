/* test_graph.c — the graph module: reference architectures, stats, peak
 * memory, JSON (round trip and every error class), weight files, and the
 * executor (forward against a hand computation, backward against central
 * differences of the whole-graph loss). */
#include "testutil.h"

#include <unistd.h>

#include "slimnas/graph.h"

/* ---- helpers ------------------------------------------------------------ */

static sn_graph *kind(const char *k, int h, int w, int c, int classes) {
    sn_error e;
    sn_arch_opts o = {0, 0};
    sn_graph *g = sn_graph_new_kind(k, (sn_shape){c, h, w}, classes, &o, &e);
    if (!g) fail_msg("%s: %s", k, e.msg);
    return g;
}

static int add(sn_graph *g, sn_op_kind op, const sn_attr *a, int in0,
               int in1, const char *name) {
    sn_error e;
    int in[2] = {in0, in1};
    int i = sn_graph_add(g, op, a, in, in1 >= 0 ? 2 : 1, name, &e);
    if (i < 0) fail_msg("add %s: %s", name ? name : "?", e.msg);
    return i;
}

static sn_attr conv_attr(int out, int k, int stride, int pad) {
    sn_attr a = sn_attr_default(SN_OP_CONV);
    a.out = out;
    a.k = k;
    a.stride = stride;
    a.pad = pad;
    return a;
}

static sn_attr dense_attr(int out) {
    sn_attr a = sn_attr_default(SN_OP_DENSE);
    a.out = out;
    return a;
}

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char buf[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static int setup_tmp(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sn_test_graph.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- reference table ---------------------------------------------------- */

/* The AutoKeras reference table (exact int64 sums; the paper's float32
 * sums printed 667,985,920 and 273,725,152). */
static void test_reference_table(void **state) {
    (void)state;
    static const struct {
        const char *kind;
        int h, w, c;
        int64_t params, ak, macs;
    } ref[] = {
        {"cnn", 32, 32, 3, 80720, 15243510, 13570688},
        {"resnet", 32, 32, 3, 11529354, 667985910, 576394240},
        {"densenet", 32, 32, 3, 6974346, 273725142, 174708736},
        /* The bench nets; MACs hand-summed per layer. */
        {"cnn", 28, 28, 1, 79564, -1, 9488000},
        {"mobile_tiny", 28, 28, 1, 10474, -1, -1},
        {"tiny2conv", 28, 28, 1, 9098, -1, 290080},
    };
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        sn_graph *g = kind(ref[i].kind, ref[i].h, ref[i].w, ref[i].c, 10);
        assert_int_equal(sn_graph_params(g), ref[i].params);
        if (ref[i].macs >= 0)
            assert_int_equal(sn_graph_flops(g, SN_FLOPS_MACS), ref[i].macs);
        if (ref[i].ak >= 0)
            assert_int_equal(sn_graph_flops(g, SN_FLOPS_AUTOKERAS),
                             ref[i].ak);
        sn_graph_free(g);
    }
}

static void test_kinds_all_valid(void **state) {
    (void)state;
    sn_error e;
    for (int i = 0; sn_arch_kinds[i]; i++) {
        for (int s = 0; s < 2; s++) {
            sn_graph *g = s ? kind(sn_arch_kinds[i], 32, 32, 3, 10)
                            : kind(sn_arch_kinds[i], 28, 28, 1, 7);
            assert_int_equal(sn_graph_validate(g, &e), 0);
            sn_shape o = g->nodes[g->n_nodes - 1].out;
            assert_int_equal(o.c, s ? 10 : 7);
            assert_int_equal(o.h * o.w, 1);
            /* the parameter count alone is the full stats' count */
            sn_stats st;
            sn_stats_compute(g, SN_FLOPS_MACS, &st);
            assert_true(st.params > 0);
            assert_int_equal(sn_graph_params(g), st.params);
            sn_stats_free(&st);
            sn_graph_free(g);
        }
    }
    /* Width and depth knobs change the size monotonically. */
    sn_arch_opts small = {16, 2}, big = {32, 3};
    sn_graph *a = sn_graph_new_kind("cnn", (sn_shape){3, 32, 32}, 10, &small,
                                    &e);
    sn_graph *b = sn_graph_new_kind("cnn", (sn_shape){3, 32, 32}, 10, &big,
                                    &e);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(sn_graph_params(a) < sn_graph_params(b));
    sn_graph_free(a);
    sn_graph_free(b);
    /* Errors: unknown kind, input too small, depth on a fixed-depth kind. */
    assert_null(sn_graph_new_kind("vgg", (sn_shape){3, 32, 32}, 10, NULL, &e));
    assert_string_equal(e.msg, "unknown kind 'vgg' (kinds: cnn, resnet, "
                               "densenet, mobilenet, mobilenetv2, "
                               "mobile_tiny, tiny2conv)");
    assert_int_equal(sn_arch_default_width("cnn"), 64);
    assert_int_equal(sn_arch_default_width("mobile_tiny"), 16);
    assert_int_equal(sn_arch_default_width("tiny2conv"), 8);
    assert_int_equal(sn_arch_default_width("vgg"), 0);
    /* the default width is the one a kind gets without --width */
    for (int i = 0; sn_arch_kinds[i]; i++) {
        sn_arch_opts dw = {sn_arch_default_width(sn_arch_kinds[i]), 0};
        sn_graph *x = kind(sn_arch_kinds[i], 32, 32, 3, 10);
        sn_graph *y = sn_graph_new_kind(sn_arch_kinds[i], (sn_shape){3, 32, 32},
                                        10, &dw, &e);
        assert_non_null(y);
        assert_int_equal(sn_graph_params(x), sn_graph_params(y));
        sn_graph_free(x);
        sn_graph_free(y);
    }
    assert_null(sn_graph_new_kind("cnn", (sn_shape){3, 4, 4}, 10, NULL, &e));
    assert_non_null(strstr(e.msg, "maxpool"));
    sn_arch_opts d = {0, 3};
    assert_null(sn_graph_new_kind("tiny2conv", (sn_shape){1, 28, 28}, 10, &d,
                                  &e));
    assert_non_null(strstr(e.msg, "fixed depth"));
}

/* ---- stats ---------------------------------------------------------------- */

/* input 1x6x6 -> conv 2@3x3 (no pad) -> bn -> relu -> maxpool 2 -> flatten
 * -> dense 3. Every figure below is worked out by hand. */
static void test_stats_small(void **state) {
    (void)state;
    sn_graph *g = sn_graph_new("small", (sn_shape){1, 6, 6}, 3);
    sn_attr c = conv_attr(2, 3, 1, 0);
    add(g, SN_OP_CONV, &c, 0, -1, NULL);
    add(g, SN_OP_BN, NULL, 1, -1, NULL);
    add(g, SN_OP_RELU, NULL, 2, -1, NULL);
    add(g, SN_OP_MAXPOOL, NULL, 3, -1, NULL);
    add(g, SN_OP_FLATTEN, NULL, 4, -1, NULL);
    sn_attr d = dense_attr(3);
    add(g, SN_OP_DENSE, &d, 5, -1, NULL);
    sn_error e;
    assert_int_equal(sn_graph_validate(g, &e), 0);
    assert_string_equal(g->nodes[1].name, "conv1");
    assert_string_equal(g->nodes[2].name, "bn1");

    /* out shapes (c,h,w), params, MACs, autokeras FLOPs, act bytes */
    static const int64_t want[7][7] = {
        {1, 6, 6, 0, 0, 0, 144},       /* input: 36 floats */
        {2, 4, 4, 20, 288, 320, 128},  /* 2*9+2; 32 outs * 9; 1*(9+1)*32 */
        {2, 4, 4, 4, 0, 128, 128},     /* gamma+beta; 4 per element */
        {2, 4, 4, 0, 0, 32, 128},      /* 1 per element */
        {2, 2, 2, 0, 0, 16, 32},       /* kernel 2 per output */
        {8, 1, 1, 0, 0, 0, 32},        /* flatten */
        {3, 1, 1, 27, 24, 45, 12},     /* 8*3+3; 8*3; (2*8-1)*3 */
    };
    sn_stats s, ak;
    assert_int_equal(sn_stats_compute(g, SN_FLOPS_MACS, &s), 0);
    assert_int_equal(sn_stats_compute(g, SN_FLOPS_AUTOKERAS, &ak), 0);
    assert_int_equal(s.n, 7);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(s.layer[i].out.c, want[i][0]);
        assert_int_equal(s.layer[i].out.h, want[i][1]);
        assert_int_equal(s.layer[i].out.w, want[i][2]);
        assert_int_equal(s.layer[i].params, want[i][3]);
        assert_int_equal(s.layer[i].flops, want[i][4]);
        assert_int_equal(ak.layer[i].flops, want[i][5]);
        assert_int_equal(s.layer[i].act_bytes, want[i][6]);
    }
    assert_int_equal(s.params, 51);
    assert_int_equal(s.flops, 312);
    assert_int_equal(ak.flops, 541);
    /* A chain: the peak is input + conv output while conv runs. */
    assert_int_equal(s.peak_bytes, 144 + 128);
    assert_int_equal(s.peak_at, 1);
    assert_int_equal(sn_graph_peak_bytes(g), 272);
    sn_stats_free(&s);
    sn_stats_free(&ak);
    sn_graph_free(g);
}

/* input 1x4x4 (64 B) -> a = conv 2@1x1 (128) -> b = relu (128) -> c = conv
 * 2@1x1 (128) -> add(a, c) (128) -> gap (8) -> dense 2 (8). The skip keeps
 * a alive across b and c: while c runs, a, b and c are live = 384 bytes.
 * Without the skip the peak would be 256. */
static void test_peak_skip(void **state) {
    (void)state;
    sn_graph *g = sn_graph_new("skip", (sn_shape){1, 4, 4}, 2);
    sn_attr c = conv_attr(2, 1, 1, 0);
    int a = add(g, SN_OP_CONV, &c, 0, -1, "a");
    int b = add(g, SN_OP_RELU, NULL, a, -1, "b");
    int cc = add(g, SN_OP_CONV, &c, b, -1, "c");
    int s = add(g, SN_OP_ADD, NULL, a, cc, "sum");
    int gp = add(g, SN_OP_GAP, NULL, s, -1, NULL);
    sn_attr d = dense_attr(2);
    add(g, SN_OP_DENSE, &d, gp, -1, NULL);
    sn_stats st;
    sn_stats_compute(g, SN_FLOPS_MACS, &st);
    assert_int_equal(st.peak_bytes, 384);
    assert_int_equal(st.peak_at, cc);
    sn_stats_free(&st);
    /* Consumers: a feeds b and sum. */
    int out[4];
    assert_int_equal(sn_graph_consumers(g, a, out, 4), 2);
    assert_int_equal(out[0], b);
    assert_int_equal(out[1], s);
    assert_int_equal(sn_graph_find(g, "sum"), s);
    assert_int_equal(sn_graph_find(g, "nope"), -1);

    /* The same chain without the skip peaks at 256. */
    sn_graph *h = sn_graph_new("chain", (sn_shape){1, 4, 4}, 2);
    a = add(h, SN_OP_CONV, &c, 0, -1, NULL);
    b = add(h, SN_OP_RELU, NULL, a, -1, NULL);
    cc = add(h, SN_OP_CONV, &c, b, -1, NULL);
    gp = add(h, SN_OP_GAP, NULL, cc, -1, NULL);
    add(h, SN_OP_DENSE, &d, gp, -1, NULL);
    assert_int_equal(sn_graph_peak_bytes(h), 256);
    sn_graph_free(h);
    sn_graph_free(g);
}

static void test_graph_api_errors(void **state) {
    (void)state;
    sn_error e;
    sn_graph *g = sn_graph_new("t", (sn_shape){3, 8, 8}, 4);
    sn_attr c = conv_attr(4, 3, 1, 1);
    int in[2] = {0, 5};
    assert_int_equal(sn_graph_add(g, SN_OP_CONV, &c, in, 2, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "takes 1 input"));
    assert_int_equal(sn_graph_add(g, SN_OP_ADD, NULL, in, 2, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "not an existing node"));
    assert_int_equal(sn_graph_add(g, SN_OP_CONV, &c, in, 1, "input", &e), -1);
    assert_non_null(strstr(e.msg, "already used"));
    c.groups = 2; /* does not divide 3 input channels */
    assert_int_equal(sn_graph_add(g, SN_OP_CONV, &c, in, 1, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "groups"));
    assert_int_equal(g->n_nodes, 1); /* failed adds leave no trace */
    c.groups = 1;
    int x = add(g, SN_OP_CONV, &c, 0, -1, NULL);
    /* Not finished: the output is 4x8x8, not 4x1x1. */
    assert_int_equal(sn_graph_validate(g, &e), -1);
    assert_non_null(strstr(e.msg, "layer 1 (conv1)"));
    assert_non_null(strstr(e.msg, "output"));
    int gp = add(g, SN_OP_GAP, NULL, x, -1, NULL);
    add(g, SN_OP_GAP, NULL, x, -1, "dangling");
    sn_attr d = dense_attr(4);
    add(g, SN_OP_DENSE, &d, gp, -1, NULL);
    assert_int_equal(sn_graph_validate(g, &e), -1);
    assert_non_null(strstr(e.msg, "(dangling): its output is not used"));
    /* A clone is independent of its source. */
    sn_graph *k = sn_graph_clone(g);
    snprintf(k->nodes[1].name, SN_NAME_LEN, "changed");
    assert_string_equal(g->nodes[1].name, "conv1");
    assert_int_equal(k->n_nodes, g->n_nodes);
    sn_graph_free(k);
    sn_graph_free(g);
}

/* ---- JSON ----------------------------------------------------------------- */

/* The op table is the one source of an op's vocabulary: every sn_op_kind
 * has a name that maps back to it, a key list whose every attribute a
 * graph file writes and reads back (each set away from its default in
 * turn), and a short form for the explorer. An op added to the enum
 * without its table line fails here (sn_op_get asserts on the hole). */
static sn_graph *one_op_graph(sn_op_kind op, const sn_attr *a) {
    sn_graph *g = sn_graph_new("one", (sn_shape){4, 8, 8}, 3);
    sn_error e;
    int in = 0;
    int x = sn_graph_add(g, op, a, &in, 1, "x", &e);
    if (x < 0) { /* an op on flat vectors (dense) */
        in = add(g, SN_OP_GAP, NULL, 0, -1, "flat");
        x = sn_graph_add(g, op, a, &in, 1, "x", &e);
    }
    if (x < 0) fail_msg("%s: %s", sn_op_get(op)->name, e.msg);
    int p = add(g, SN_OP_GAP, NULL, x, -1, "pool");
    sn_attr d = dense_attr(3);
    add(g, SN_OP_DENSE, &d, p, -1, "out");
    return g;
}

static void test_op_table_vocabulary(void **state) {
    (void)state;
    assert_int_equal(sn_op_from_name("input"), SN_OP_INPUT);
    assert_int_equal(sn_op_from_name("no-such-op"), -1);
    for (int k = SN_OP_INPUT + 1; k < SN_OP_COUNT; k++) {
        const sn_op_desc *d = sn_op_get((sn_op_kind)k);
        assert_non_null(d->name);
        assert_int_equal(sn_op_from_name(d->name), k);
        assert_non_null(d->keys);
        char buf[64];
        sn_attr a0 = sn_attr_default((sn_op_kind)k);
        sn_shape in = {4, 8, 8};
        sn_op_describe((sn_op_kind)k, &a0, &in, 1, buf, sizeof buf);
        if (!buf[0]) fail_msg("op %s has an empty short form", d->name);
        /* Key -1: the defaults; key i: that attribute moved off them. */
        int n_keys = 0;
        while (d->keys[n_keys].key) n_keys++;
        for (int i = -1; i < n_keys; i++) {
            sn_attr a = a0;
            for (int j = 0; j < n_keys; j++) /* filters, units: 4 */
                if (d->keys[j].required && d->keys[j].type == SN_ATTR_INT &&
                    d->keys[j].dflt == 0) {
                    int four = 4;
                    memcpy((char *)&a + d->keys[j].off, &four, sizeof four);
                }
            if (i >= 0) {
                const sn_attr_key *key = &d->keys[i];
                char *field = (char *)&a + key->off;
                if (key->type == SN_ATTR_FLOAT) {
                    float v = (float)((key->lo + key->hi) / 2);
                    if (v == (float)key->dflt)
                        v = (float)((key->lo + key->dflt) / 2);
                    memcpy(field, &v, sizeof v);
                } else {
                    int v;
                    memcpy(&v, field, sizeof v);
                    v = key->type == SN_ATTR_BOOL ? !v
                        : v + 1 <= key->hi        ? v + 1
                                                  : v - 1;
                    memcpy(field, &v, sizeof v);
                }
            }
            sn_graph *g = one_op_graph((sn_op_kind)k, &a);
            int x = sn_graph_find(g, "x");
            assert_true(x > 0);
            char *s = sn_graph_to_json(g);
            for (int j = 0; j < n_keys; j++) {
                char quoted[64];
                snprintf(quoted, sizeof quoted, "\"%s\":", d->keys[j].key);
                if (!strstr(s, quoted))
                    fail_msg("op %s: the graph file lacks '%s'", d->name,
                             d->keys[j].key);
            }
            sn_error e;
            sn_graph *h = sn_graph_from_json(s, strlen(s), "mem", &e);
            if (!h) fail_msg("op %s key %d: %s", d->name, i, e.msg);
            assert_int_equal(h->nodes[x].op, k);
            if (memcmp(&h->nodes[x].attr, &g->nodes[x].attr, sizeof a))
                fail_msg("op %s: '%s' did not survive a save and load",
                         d->name, i >= 0 ? d->keys[i].key : "(defaults)");
            free(s);
            sn_graph_free(h);
            sn_graph_free(g);
        }
    }
}

/* The explorer's short forms, as its layer table shows them. */
static void test_op_describe(void **state) {
    (void)state;
    char b[64];
    sn_shape in = {4, 8, 8};
    sn_attr c = conv_attr(4, 3, 1, 1);
    assert_string_equal(sn_op_describe(SN_OP_CONV, &c, &in, 1, b, sizeof b),
                        "conv 3x3 4");
    c = conv_attr(8, 3, 2, 1);
    c.groups = 2;
    assert_string_equal(sn_op_describe(SN_OP_CONV, &c, &in, 1, b, sizeof b),
                        "conv 3x3/2 8 g2");
    c.groups = 4;
    assert_string_equal(sn_op_describe(SN_OP_CONV, &c, &in, 1, b, sizeof b),
                        "dwconv 3x3/2 8");
    sn_attr d = dense_attr(10);
    assert_string_equal(sn_op_describe(SN_OP_DENSE, &d, &in, 1, b, sizeof b),
                        "dense 10");
    sn_attr p = sn_attr_default(SN_OP_MAXPOOL);
    assert_string_equal(
        sn_op_describe(SN_OP_MAXPOOL, &p, &in, 1, b, sizeof b),
        "maxpool 2x2/2");
    p.k = 3;
    p.stride = 1;
    assert_string_equal(
        sn_op_describe(SN_OP_AVGPOOL, &p, &in, 1, b, sizeof b), "avgpool 3x3");
    sn_attr r = sn_attr_default(SN_OP_DROPOUT);
    r.rate = 0.25f;
    assert_string_equal(
        sn_op_describe(SN_OP_DROPOUT, &r, &in, 1, b, sizeof b), "dropout 0.25");
    sn_attr n = sn_attr_default(SN_OP_BN);
    assert_string_equal(sn_op_describe(SN_OP_BN, &n, &in, 1, b, sizeof b),
                        "bn");
    assert_string_equal(sn_op_describe(SN_OP_ADD, &n, &in, 1, b, sizeof b),
                        "add");
}

/* sn_attr_default comes from the key lists: the values the README and
 * nn.h promise. */
static void test_attr_defaults(void **state) {
    (void)state;
    sn_attr c = sn_attr_default(SN_OP_CONV);
    assert_int_equal(c.out, 0);
    assert_int_equal(c.k, 3);
    assert_int_equal(c.stride, 1);
    assert_int_equal(c.pad, 0);
    assert_int_equal(c.groups, 1);
    assert_int_equal(c.bias, 1);
    sn_attr p = sn_attr_default(SN_OP_AVGPOOL);
    assert_int_equal(p.k, 2);
    assert_int_equal(p.stride, 2);
    sn_attr b = sn_attr_default(SN_OP_BN);
    assert_true(b.eps == 1e-5f);
    assert_true(b.momentum == 0.1f);
    assert_true(sn_attr_default(SN_OP_DROPOUT).rate == 0.5f);
    sn_attr r = sn_attr_default(SN_OP_RELU);
    assert_int_equal(r.k, 1);
    assert_int_equal(r.stride, 1);
}


static void test_json_round_trip(void **state) {
    (void)state;
    sn_error e;
    for (int i = 0; sn_arch_kinds[i]; i++) {
        sn_graph *g = kind(sn_arch_kinds[i], 32, 32, 3, 10);
        char *s1 = sn_graph_to_json(g);
        sn_graph *h = sn_graph_from_json(s1, strlen(s1), "mem", &e);
        if (!h) fail_msg("%s: %s", sn_arch_kinds[i], e.msg);
        char *s2 = sn_graph_to_json(h);
        assert_string_equal(s1, s2);
        assert_int_equal(h->n_nodes, g->n_nodes);
        assert_int_equal(sn_graph_params(h), sn_graph_params(g));
        /* Through a file too. */
        const char *path = tmp_path("g.json");
        assert_int_equal(sn_graph_save(h, path, &e), 0);
        sn_graph *f = sn_graph_load(path, &e);
        assert_non_null(f);
        char *s3 = sn_graph_to_json(f);
        assert_string_equal(s1, s3);
        free(s1);
        free(s2);
        free(s3);
        sn_graph_free(f);
        sn_graph_free(h);
        sn_graph_free(g);
    }
    /* Non-default attributes survive, floats written shortest. */
    sn_graph *g = sn_graph_new("odd \"name\"", (sn_shape){4, 9, 7}, 3);
    sn_attr c = conv_attr(8, 5, 2, 2);
    c.groups = 4;
    c.bias = 0;
    int x = add(g, SN_OP_CONV, &c, 0, -1, "dw\\conv");
    sn_attr bn = sn_attr_default(SN_OP_BN);
    bn.eps = 1e-3f;
    bn.momentum = 0.01f;
    x = add(g, SN_OP_BN, &bn, x, -1, NULL);
    sn_attr p = sn_attr_default(SN_OP_AVGPOOL);
    p.k = 3;
    p.stride = 1;
    p.pad = 1;
    x = add(g, SN_OP_AVGPOOL, &p, x, -1, NULL);
    sn_attr dr = sn_attr_default(SN_OP_DROPOUT);
    dr.rate = 0.3f;
    x = add(g, SN_OP_DROPOUT, &dr, x, -1, NULL);
    x = add(g, SN_OP_GAP, NULL, x, -1, NULL);
    sn_attr d = dense_attr(3);
    d.bias = 0;
    add(g, SN_OP_DENSE, &d, x, -1, NULL);
    char *s1 = sn_graph_to_json(g);
    assert_non_null(strstr(s1, "\"eps\":\t0.001,"));
    assert_non_null(strstr(s1, "\"momentum\":\t0.01\n"));
    assert_non_null(strstr(s1, "\"rate\":\t0.3\n"));
    assert_non_null(strstr(s1, "\"name\":\t\"dw\\\\conv\""));
    sn_graph *h = sn_graph_from_json(s1, strlen(s1), "mem", &e);
    if (!h) fail_msg("%s", e.msg);
    char *s2 = sn_graph_to_json(h);
    assert_string_equal(s1, s2);
    assert_string_equal(h->name, "odd \"name\"");
    assert_true(h->nodes[2].attr.eps == 1e-3f);
    assert_true(h->nodes[4].attr.rate == 0.3f);
    assert_int_equal(h->nodes[1].attr.groups, 4);
    assert_int_equal(h->nodes[1].attr.bias, 0);
    free(s1);
    free(s2);
    sn_graph_free(h);
    sn_graph_free(g);
}

/* Layers listed in any order load into the same graph; pools' stride
 * defaults to the kernel; optional fields take their defaults. */
static void test_json_any_order(void **state) {
    (void)state;
    const char *text =
        "{\"format\": \"slimnas-graph\", \"version\": 1,\n"
        " \"input\": {\"c\": 2, \"h\": 8, \"w\": 8}, \"classes\": 3,\n"
        " \"layers\": [\n"
        "  {\"name\": \"s\", \"op\": \"concat\", \"inputs\": [\"a\", \"p\"]},\n"
        "  {\"name\": \"p\", \"op\": \"maxpool\", \"inputs\": [\"input\"],"
        " \"kernel\": 1},\n"
        "  {\"name\": \"a\", \"op\": \"conv\", \"inputs\": [\"input\"],"
        " \"filters\": 3, \"kernel\": 3, \"padding\": 1},\n"
        "  {\"name\": \"g\", \"op\": \"gap\", \"inputs\": [\"s\"]},\n"
        "  {\"name\": \"fc\", \"op\": \"dense\", \"inputs\": [\"g\"],"
        " \"units\": 3}\n"
        " ]}\n";
    sn_error e;
    sn_graph *g = sn_graph_from_json(text, strlen(text), "t.json", &e);
    if (!g) fail_msg("%s", e.msg);
    assert_int_equal(g->n_nodes, 6);
    /* Kahn with the listed order as priority: p (listed 2nd) before a. */
    assert_string_equal(g->nodes[1].name, "p");
    assert_string_equal(g->nodes[2].name, "a");
    assert_string_equal(g->nodes[3].name, "s");
    assert_string_equal(g->nodes[5].name, "fc");
    assert_int_equal(g->nodes[1].attr.stride, 1);
    assert_int_equal(g->nodes[2].attr.groups, 1);
    assert_int_equal(g->nodes[2].attr.bias, 1);
    assert_int_equal(g->nodes[3].out.c, 5);
    assert_string_equal(g->name, "");
    sn_graph_free(g);
}

typedef struct jcase {
    const char *what;
    const char *text;   /* a whole file, or NULL to use layers */
    const char *layers; /* replaces BASE_LAYERS (one layer per line) */
    const char *frag;
    int line, col;      /* col 0: not checked */
} jcase;

/* Lines 1-4 are the header, so layer k is on line 4 + k. */
#define HEAD                                                                   \
    "{\n"                                                                      \
    "  \"format\": \"slimnas-graph\", \"version\": 1, \"name\": \"t\",\n"      \
    "  \"input\": {\"c\": 3, \"h\": 8, \"w\": 8}, \"classes\": 4,\n"           \
    "  \"layers\": [\n"
#define TAIL "  ]\n}\n"
#define L_CONV                                                                 \
    "    {\"name\": \"c1\", \"op\": \"conv\", \"inputs\": [\"input\"], "       \
    "\"filters\": 4, \"kernel\": 3, \"padding\": 1},\n"
#define L_RELU "    {\"name\": \"r1\", \"op\": \"relu\", \"inputs\": [\"c1\"]},\n"
#define L_GAP "    {\"name\": \"g\", \"op\": \"gap\", \"inputs\": [\"r1\"]},\n"
#define L_FC                                                                   \
    "    {\"name\": \"fc\", \"op\": \"dense\", \"inputs\": [\"g\"], "          \
    "\"units\": 4}\n"

static void test_json_errors(void **state) {
    (void)state;
    static const jcase cases[] = {
        {"valid", NULL, L_CONV L_RELU L_GAP L_FC, NULL, 0, 0},
        {"empty", "", NULL, "empty file", 1, 1},
        {"truncated", HEAD L_CONV "    {\"name\": \"r1\", \"op", NULL,
         "unexpected end of file", 6, 23},
        {"syntax", "{\"format\": \"slimnas-graph\",,}", NULL, "invalid JSON",
         1, 0},
        {"trailing", HEAD L_CONV L_RELU L_GAP L_FC TAIL "x", NULL,
         "unexpected text after", 11, 1},
        {"not object", "[1, 2]", NULL, "expected a JSON object", 1, 1},
        {"no format", "{\"version\": 1}", NULL, "missing field 'format'", 1,
         1},
        {"wrong format", "{\n\"format\": \"onnx\"}", NULL,
         "not a slimnas graph", 2, 11},
        {"version", "{\"format\": \"slimnas-graph\",\n \"version\": 2}", NULL,
         "version 2 is not supported", 2, 13},
        {"unknown op", NULL,
         L_CONV "    {\"name\": \"r1\", \"op\": \"convv\", \"inputs\": "
                "[\"c1\"]},\n" L_GAP L_FC,
         "layer 2 'r1': unknown op 'convv'", 6, 26},
        {"missing name", NULL,
         L_CONV "    {\"op\": \"relu\", \"inputs\": [\"c1\"]},\n" L_GAP L_FC,
         "layer 2: missing field 'name'", 6, 5},
        {"missing filters", NULL,
         "    {\"name\": \"c1\", \"op\": \"conv\", \"inputs\": [\"input\"], "
         "\"kernel\": 3},\n" L_RELU L_GAP L_FC,
         "layer 1 'c1': missing field 'filters' for op conv", 5, 0},
        {"missing inputs", NULL,
         L_CONV "    {\"name\": \"r1\", \"op\": \"relu\"},\n" L_GAP L_FC,
         "missing field 'inputs'", 6, 0},
        {"wrong type", NULL,
         "    {\"name\": \"c1\", \"op\": \"conv\", \"inputs\": [\"input\"], "
         "\"filters\": \"4\", \"kernel\": 3},\n" L_RELU L_GAP L_FC,
         "'filters' must be an integer, got a string", 5, 66},
        {"bool type", NULL,
         "    {\"name\": \"c1\", \"op\": \"conv\", \"inputs\": [\"input\"], "
         "\"filters\": 4, \"kernel\": 3, \"bias\": 1},\n" L_RELU L_GAP L_FC,
         "'bias' must be true or false", 5, 0},
        {"range", NULL,
         "    {\"name\": \"c1\", \"op\": \"conv\", \"inputs\": [\"input\"], "
         "\"filters\": 4, \"kernel\": 0},\n" L_RELU L_GAP L_FC,
         "'kernel' must be an integer from 1 to", 5, 0},
        {"fraction", NULL,
         "    {\"name\": \"c1\", \"op\": \"conv\", \"inputs\": [\"input\"], "
         "\"filters\": 4.5, \"kernel\": 3},\n" L_RELU L_GAP L_FC,
         "got 4.5", 5, 0},
        {"unknown field", NULL,
         "    {\"name\": \"c1\", \"op\": \"conv\", \"inputs\": [\"input\"], "
         "\"filters\": 4, \"kernel\": 3, \"units\": 2},\n" L_RELU L_GAP L_FC,
         "unknown field 'units' for op conv", 5, 0},
        {"unknown input", NULL,
         L_CONV "    {\"name\": \"r1\", \"op\": \"relu\", \"inputs\": "
                "[\"c9\"]},\n" L_GAP L_FC,
         "layer 2 'r1': unknown input 'c9'", 6, 0},
        {"input count", NULL,
         L_CONV "    {\"name\": \"r1\", \"op\": \"relu\", \"inputs\": "
                "[\"c1\", \"input\"]},\n" L_GAP L_FC,
         "relu takes 1 input, got 2", 6, 0},
        {"cycle", NULL,
         "    {\"name\": \"c1\", \"op\": \"conv\", \"inputs\": [\"g\"], "
         "\"filters\": 4, \"kernel\": 3, \"padding\": 1},\n" L_RELU
         "    {\"name\": \"g\", \"op\": \"relu\", \"inputs\": [\"r1\"]},\n"
         "    {\"name\": \"p\", \"op\": \"gap\", \"inputs\": [\"input\"]},\n"
         "    {\"name\": \"fc\", \"op\": \"dense\", \"inputs\": [\"p\"], "
         "\"units\": 4}\n",
         "layer 1 'c1': cycle: c1 -> r1 -> g -> c1", 5, 0},
        {"self cycle", NULL,
         L_CONV "    {\"name\": \"r1\", \"op\": \"add\", \"inputs\": "
                "[\"c1\", \"r1\"]},\n" L_GAP L_FC,
         "cycle: r1 -> r1", 6, 0},
        {"duplicate", NULL,
         L_CONV "    {\"name\": \"c1\", \"op\": \"relu\", \"inputs\": "
                "[\"c1\"]},\n" L_GAP L_FC,
         "layer 2 'c1': duplicate name (also layer 1)", 6, 14},
        {"duplicate later", NULL,
         L_CONV L_RELU "    {\"name\": \"r1\", \"op\": \"relu\", \"inputs\": "
                "[\"c1\"]},\n" L_GAP L_FC,
         "layer 3 'r1': duplicate name (also layer 2)", 7, 14},
        {"reserved name", NULL,
         "    {\"name\": \"input\", \"op\": \"relu\", \"inputs\": "
         "[\"input\"]},\n" L_FC,
         "reserved", 5, 0},
        {"groups", NULL,
         "    {\"name\": \"c1\", \"op\": \"conv\", \"inputs\": [\"input\"], "
         "\"filters\": 4, \"kernel\": 3, \"groups\": 2},\n" L_RELU L_GAP L_FC,
         "layer 1 'c1': groups", 5, 14},
        {"shape mismatch", NULL,
         L_CONV "    {\"name\": \"r1\", \"op\": \"add\", \"inputs\": "
                "[\"c1\", \"input\"]},\n" L_GAP L_FC,
         "layer 2 'r1': add", 6, 14},
        {"output shape", NULL,
         L_CONV L_RELU L_GAP
         "    {\"name\": \"fc\", \"op\": \"dense\", \"inputs\": [\"g\"], "
         "\"units\": 5}\n",
         "layer 4 'fc': the output has shape 1x1x5 (HxWxC) but must be "
         "1x1x4",
         8, 14},
        {"spatial output", NULL, L_CONV "    {\"name\": \"r1\", \"op\": "
                                        "\"relu\", \"inputs\": [\"c1\"]}\n",
         "the output has shape 8x8x4", 6, 0},
        {"unused", NULL,
         L_CONV L_RELU
         "    {\"name\": \"x\", \"op\": \"relu\", \"inputs\": [\"c1\"]},\n"
         L_GAP L_FC,
         "layer 3 'x': its output is not used", 7, 0},
        {"output feeds", NULL,
         L_CONV L_RELU L_FC
         ",    {\"name\": \"g\", \"op\": \"gap\", \"inputs\": [\"r1\"]}\n",
         "the last layer listed is the output, but layer 3 'fc' reads it",
         8, 0},
        {"no layers", HEAD TAIL, NULL, "'layers' must hold 1 to", 4, 13},
        {"bad input", "{\"format\": \"slimnas-graph\", \"version\": 1,\n"
                      "\"input\": {\"c\": 0, \"h\": 8, \"w\": 8}}",
         NULL, "'c' must be an integer from 1", 2, 16},
        {"empty layers", "{\"format\": \"slimnas-graph\", \"version\": 1,\n"
                        "\"input\": {\"c\": 1, \"h\": 8, \"w\": 8}, "
                        "\"classes\": 2, \"layers\": [],\n\"extra\": 1}",
         NULL, "'layers' must hold", 2, 0},
    };
    char text[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const jcase *c = &cases[i];
        if (c->text)
            snprintf(text, sizeof text, "%s", c->text);
        else
            snprintf(text, sizeof text, HEAD "%s" TAIL, c->layers);
        sn_error e;
        memset(&e, 0, sizeof e);
        sn_graph *g = sn_graph_from_json(text, strlen(text), "bad.json", &e);
        if (!c->frag) {
            if (!g) fail_msg("%s: unexpected error %s", c->what, e.msg);
            sn_graph_free(g);
            continue;
        }
        if (g) fail_msg("case '%s' loaded but should fail", c->what);
        if (!strstr(e.msg, c->frag))
            fail_msg("case '%s': '%s' lacks '%s'", c->what, e.msg, c->frag);
        char want[32];
        if (c->col)
            snprintf(want, sizeof want, "bad.json:%d:%d: ", c->line, c->col);
        else
            snprintf(want, sizeof want, "bad.json:%d:", c->line);
        if (strncmp(e.msg, want, strlen(want)) != 0)
            fail_msg("case '%s': '%s' does not start with '%s'", c->what,
                     e.msg, want);
        assert_null(strchr(e.msg, '\n')); /* one line */
    }
    /* Unknown top-level field (with layers present). */
    snprintf(text, sizeof text,
             "{\"format\": \"slimnas-graph\", \"version\": 1, \"input\": "
             "{\"c\": 3, \"h\": 8, \"w\": 8}, \"classes\": 4,\n \"extra\": 1,"
             " \"layers\": [\n" L_CONV L_RELU L_GAP L_FC TAIL);
    sn_error e;
    assert_null(sn_graph_from_json(text, strlen(text), "bad.json", &e));
    if (!strstr(e.msg, "bad.json:2:11: unknown field 'extra'")) fail_msg("%s", e.msg);
    /* Every prefix of a valid file is refused cleanly (no crash). */
    snprintf(text, sizeof text, HEAD L_CONV L_RELU L_GAP L_FC TAIL);
    size_t len = strlen(text);
    for (size_t n = 0; n + 2 < len; n++) {
        sn_graph *g = sn_graph_from_json(text, n, "cut.json", &e);
        if (g) fail_msg("prefix of %zu bytes loaded", n);
        assert_non_null(strstr(e.msg, "cut.json:"));
    }
    /* Random byte corruptions never crash; most are refused. */
    sn_rng r;
    sn_rng_seed(&r, 7);
    for (int t = 0; t < 2000; t++) {
        char buf[4096];
        memcpy(buf, text, len);
        int flips = 1 + sn_rng_int(&r, 3);
        for (int k = 0; k < flips; k++)
            buf[sn_rng_int(&r, (int)len)] = (char)(32 + sn_rng_int(&r, 95));
        sn_graph *g = sn_graph_from_json(buf, len, "fuzz.json", &e);
        sn_graph_free(g);
    }
    /* Missing file. */
    assert_null(sn_graph_load(tmp_path("nope.json"), &e));
    assert_non_null(strstr(e.msg, "nope.json"));
}

/* ---- weights -------------------------------------------------------------- */

static int read_all(const char *path, unsigned char **data, size_t *len) {
    sn_error e;
    return sn_read_file(path, (char **)data, len, &e);
}

static void write_all(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Fills every tensor (params and buffers) with distinct values. */
static void fill_weights(sn_weights *w, uint64_t seed) {
    for (int i = 0; i < w->n_nodes; i++)
        for (int t = 0; t < w->n_tensors[i]; t++)
            tu_fill_normal(sn_weights_tensor(w, i, t),
                           (size_t)sn_tensor_desc_size(&w->desc[i][t]),
                           seed + (uint64_t)(i * SN_MAX_TENSORS + t), 1.0f);
}

static void expect_check_ok(const sn_graph *g, const char *path);

static void test_weights_round_trip(void **state) {
    (void)state;
    sn_error e;
    sn_graph *g = kind("mobile_tiny", 28, 28, 1, 10);
    sn_weights *w = sn_weights_new(g);
    assert_int_equal(sn_graph_params(g), 10474);
    /* params holds exactly the trainable scalars, packed. */
    int64_t real = 0;
    for (int i = 0; i < w->n_nodes; i++)
        for (int t = 0; t < w->n_tensors[i]; t++)
            if (w->desc[i][t].trainable)
                real += sn_tensor_desc_size(&w->desc[i][t]);
    assert_int_equal(real, 10474);
    assert_int_equal(w->n_params, real);
    /* decay: conv/dense kernels only */
    assert_int_equal(w->decay_mask[w->offset[1][0]], 1);  /* conv1.weight */
    assert_int_equal(w->decay_mask[w->offset[2][0]], 0);  /* bn1.weight */
    int last = g->n_nodes - 1;
    assert_int_equal(w->decay_mask[w->offset[last][1]], 0); /* dense bias */

    sn_weights_init(w, g, 1);
    /* He-normal-ish init leaves weights non-zero, bn gamma 1, var 1. */
    assert_true(sn_weights_tensor(w, 1, 0)[0] != 0.0f);
    assert_true(sn_weights_tensor(w, 2, 0)[0] == 1.0f);
    assert_true(sn_weights_tensor(w, 2, 3)[0] == 1.0f);
    fill_weights(w, 5);
    const char *p1 = tmp_path("w1.bin"), *p2 = tmp_path("w2.bin");
    assert_int_equal(sn_weights_save(w, g, p1, &e), 0);
    sn_weights *v = sn_weights_load(g, p1, &e);
    if (!v) fail_msg("%s", e.msg);
    expect_check_ok(g, p1);
    assert_int_equal(v->n_params, w->n_params);
    assert_memory_equal(v->params, w->params, (size_t)w->n_params * 4);
    assert_memory_equal(v->buffers, w->buffers, (size_t)w->n_buffers * 4);
    assert_int_equal(sn_weights_save(v, g, p2, &e), 0);
    unsigned char *a, *b;
    size_t la, lb;
    assert_int_equal(read_all(p1, &a, &la), 0);
    assert_int_equal(read_all(p2, &b, &lb), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_memory_equal(a, "SNWT", 4);
    free(a);
    free(b);
    /* Same graph loaded from JSON (new object) accepts the file. */
    char *js = sn_graph_to_json(g);
    sn_graph *g2 = sn_graph_from_json(js, strlen(js), "g", &e);
    free(js);
    sn_weights *u = sn_weights_load(g2, p1, &e);
    assert_non_null(u);
    sn_weights_free(u);
    sn_graph_free(g2);
    sn_weights_free(v);
    sn_weights_free(w);
    sn_graph_free(g);
}

static void expect_load_error(const sn_graph *g, const char *path,
                              const char *frag) {
    sn_error e;
    sn_weights *w = sn_weights_load(g, path, &e);
    if (w) fail_msg("%s loaded; expected '%s'", path, frag);
    if (!strstr(e.msg, frag)) fail_msg("'%s' lacks '%s'", e.msg, frag);
    if (!strstr(e.msg, path)) fail_msg("'%s' does not name the file", e.msg);
    /* the check without the weights finds the same */
    unsigned char *d;
    size_t len;
    sn_error ce;
    if (read_all(path, &d, &len) == 0) {
        assert_int_equal(sn_weights_check(g, d, len, path, &ce), -1);
        assert_string_equal(ce.msg, e.msg);
        free(d);
    }
}

/* A file that loads passes the check without the weights. */
static void expect_check_ok(const sn_graph *g, const char *path) {
    unsigned char *d;
    size_t len;
    sn_error e;
    assert_int_equal(read_all(path, &d, &len), 0);
    if (sn_weights_check(g, d, len, path, &e) != 0) fail_msg("%s", e.msg);
    free(d);
}

static void test_weights_bad_files(void **state) {
    (void)state;
    sn_error e;
    sn_graph *g = kind("tiny2conv", 28, 28, 1, 10);
    sn_weights *w = sn_weights_new(g);
    fill_weights(w, 9);
    const char *good = tmp_path("good.bin"), *bad = tmp_path("bad.bin");
    assert_int_equal(sn_weights_save(w, g, good, &e), 0);
    unsigned char *d;
    size_t len;
    assert_int_equal(read_all(good, &d, &len), 0);

    /* Any truncation is refused: short files say truncated, or, where a
     * cut lands so the count cannot fit, a checksum mismatch. */
    size_t cuts[] = {0, 3, 10, 13, 40, len / 2, len - 5, len - 4, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_all(bad, d, cuts[i]);
        sn_weights *x = sn_weights_load(g, bad, &e);
        if (x) fail_msg("cut at %zu loaded", cuts[i]);
        if (cuts[i] < 4)
            assert_non_null(strstr(e.msg, "magic"));
        else if (!strstr(e.msg, "truncated") && !strstr(e.msg, "checksum"))
            fail_msg("cut at %zu: %s", cuts[i], e.msg);
    }
    write_all(bad, d, len / 2);
    expect_load_error(g, bad, "truncated");
    /* A flipped data bit breaks the checksum. */
    unsigned char *c = malloc(len);
    memcpy(c, d, len);
    c[len - 100] ^= 0x10;
    write_all(bad, c, len);
    expect_load_error(g, bad, "checksum mismatch");
    /* Bad magic, newer version, trailing bytes. */
    memcpy(c, d, len);
    c[0] = 'X';
    write_all(bad, c, len);
    expect_load_error(g, bad, "bad magic");
    memcpy(c, d, len);
    c[4] = 3;
    write_all(bad, c, len);
    expect_load_error(g, bad, "version 3 is not supported");
    c = realloc(c, len + 3);
    memcpy(c, d, len);
    memset(c + len, 0, 3);
    write_all(bad, c, len + 3);
    expect_load_error(g, bad, "unexpected bytes");
    free(c);
    free(d);

    /* A different graph: wrong shapes, unknown and missing tensors. */
    sn_arch_opts wide = {16, 0};
    sn_graph *g16 = sn_graph_new_kind("tiny2conv", (sn_shape){1, 28, 28}, 10,
                                      &wide, &e);
    expect_load_error(g16, good, "tensor 'conv1.weight' has shape "
                                 "[8,1,3,3], the graph expects [16,1,3,3]");
    sn_graph *gr = sn_graph_clone(g);
    snprintf(gr->nodes[1].name, SN_NAME_LEN, "first");
    expect_load_error(gr, good, "tensor 'conv1.weight' is not in the graph");
    sn_graph *cnn = kind("cnn", 28, 28, 1, 10);
    expect_load_error(cnn, good, "'conv1.weight' has shape [8,1,3,3], the "
                                 "graph expects [64,1,3,3]");
    /* A file holding a subset: the graph's extra tensors are missing. */
    sn_graph *sub = sn_graph_new("sub", (sn_shape){1, 28, 28}, 10);
    sn_attr cv = conv_attr(8, 3, 1, 1);
    add(sub, SN_OP_CONV, &cv, 0, -1, NULL);
    add(sub, SN_OP_GAP, NULL, 1, -1, NULL);
    sn_attr dn = dense_attr(10);
    add(sub, SN_OP_DENSE, &dn, 2, -1, "dense9");
    sn_weights *ws = sn_weights_new(sub);
    const char *sp = tmp_path("sub.bin");
    assert_int_equal(sn_weights_save(ws, sub, sp, &e), 0);
    expect_load_error(g, sp, "tensor 'dense9.weight' is not in the graph");
    sn_graph *sub2 = sn_graph_clone(sub);
    snprintf(sub2->nodes[3].name, SN_NAME_LEN, "dense1");
    sn_graph *t2 = kind("tiny2conv", 28, 28, 1, 10);
    /* Save sub2 (conv1 + dense1 with another shape) and load into t2. */
    sn_weights *ws2 = sn_weights_new(sub2);
    assert_int_equal(sn_weights_save(ws2, sub2, sp, &e), 0);
    expect_load_error(t2, sp, "'dense1.weight' has shape [10,8]");
    sn_weights_free(ws2);
    sn_graph_free(t2);
    sn_graph_free(sub2);
    sn_weights_free(ws);
    sn_graph_free(sub);
    /* Missing: save a graph that lacks the last conv's bias. */
    sn_graph *nb = kind("tiny2conv", 28, 28, 1, 10);
    nb->nodes[4].attr.bias = 0;
    sn_weights *wnb = sn_weights_new(nb);
    assert_int_equal(sn_weights_save(wnb, nb, sp, &e), 0);
    expect_load_error(g, sp, "tensor 'conv2.bias' is missing");
    sn_weights_free(wnb);
    sn_graph_free(nb);
    assert_null(sn_weights_load(g, tmp_path("nothing.bin"), &e));
    sn_graph_free(cnn);
    sn_graph_free(gr);
    sn_graph_free(g16);
    sn_weights_free(w);
    sn_graph_free(g);
}

/* ---- execution ------------------------------------------------------------ */

/* Naive NCHW conv of one sample, the test's own oracle. */
static void ref_conv(const float *x, sn_shape in, const float *wt,
                     const float *bias, int out_c, int k, int stride, int pad,
                     sn_shape out, double *y) {
    for (int o = 0; o < out_c; o++)
        for (int i = 0; i < out.h; i++)
            for (int j = 0; j < out.w; j++) {
                double s = bias ? bias[o] : 0.0;
                for (int c = 0; c < in.c; c++)
                    for (int u = 0; u < k; u++)
                        for (int v = 0; v < k; v++) {
                            int r = i * stride - pad + u;
                            int q = j * stride - pad + v;
                            if (r < 0 || r >= in.h || q < 0 || q >= in.w)
                                continue;
                            s += (double)wt[((o * in.c + c) * k + u) * k + v] *
                                 x[(c * in.h + r) * in.w + q];
                        }
                y[(o * out.h + i) * out.w + j] = s;
            }
}

/* input 2x5x5 -> conv 3@3x3 pad 1 -> relu -> maxpool 2 (-> 3x2x2) ->
 * gap -> dense 2, batch 3, computed here with plain loops. */
static void test_exec_forward(void **state) {
    (void)state;
    sn_graph *g = sn_graph_new("fw", (sn_shape){2, 5, 5}, 2);
    sn_attr c = conv_attr(3, 3, 1, 1);
    add(g, SN_OP_CONV, &c, 0, -1, NULL);
    add(g, SN_OP_RELU, NULL, 1, -1, NULL);
    add(g, SN_OP_MAXPOOL, NULL, 2, -1, NULL);
    add(g, SN_OP_GAP, NULL, 3, -1, NULL);
    sn_attr d = dense_attr(2);
    add(g, SN_OP_DENSE, &d, 4, -1, NULL);
    sn_weights *w = sn_weights_new(g);
    fill_weights(w, 3);
    const int n = 3;
    float x[3 * 50];
    tu_fill_normal(x, sizeof x / sizeof x[0], 4, 1.0f);
    sn_exec *ex = sn_exec_new(g, w, 4);
    const float *y = sn_exec_forward(ex, x, n, 0);
    const float *cw = sn_weights_tensor(w, 1, 0), *cb = sn_weights_tensor(w, 1, 1);
    const float *dw = sn_weights_tensor(w, 5, 0), *db = sn_weights_tensor(w, 5, 1);
    for (int s = 0; s < n; s++) {
        double conv[3 * 25], gap[3];
        ref_conv(x + 50 * s, (sn_shape){2, 5, 5}, cw, cb, 3, 3, 1, 1,
                 (sn_shape){3, 5, 5}, conv);
        for (int o = 0; o < 3; o++) {
            double sum = 0;
            for (int i = 0; i < 2; i++) /* maxpool 2 stride 2: 5 -> 2 */
                for (int j = 0; j < 2; j++) {
                    double m = -INFINITY;
                    for (int u = 0; u < 2; u++)
                        for (int v = 0; v < 2; v++) {
                            double t = conv[o * 25 + (2 * i + u) * 5 + 2 * j +
                                            v];
                            t = t > 0 ? t : 0; /* relu */
                            if (t > m) m = t;
                        }
                    sum += m;
                }
            gap[o] = sum / 4;
        }
        for (int k = 0; k < 2; k++) {
            double z = db[k];
            for (int o = 0; o < 3; o++) z += (double)dw[k * 3 + o] * gap[o];
            /* float32 sums of ~20 unit-sized terms: error ~1e-6 */
            assert_close(y[s * 2 + k], z, 1e-4 * (1 + fabs(z)));
        }
        /* Intermediate outputs are reachable. */
        const float *co = sn_exec_output(ex, 1);
        assert_close(co[s * 75 + 7], conv[7], 1e-4 * (1 + fabs(conv[7])));
    }
    sn_exec_free(ex);
    sn_weights_free(w);
    sn_graph_free(g);
}

/* Sum of logits weighted by r, in double. */
static double wloss(const float *y, const float *r, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

/* A graph with a skip (add) and a concat, every layer linear, so the loss
 * is linear in each single parameter: the central difference is exact up
 * to float32 rounding for any step, and a large step (0.25) makes that
 * rounding small against the gradient. Also checks that backward
 * accumulates and zero_grad clears, through shared gradient buffers. */
static void test_exec_backward(void **state) {
    (void)state;
    sn_graph *g = sn_graph_new("bw", (sn_shape){2, 4, 4}, 3);
    sn_attr c3 = conv_attr(3, 3, 1, 1);
    int c1 = add(g, SN_OP_CONV, &c3, 0, -1, "c1");
    int c2 = add(g, SN_OP_CONV, &c3, c1, -1, "c2");
    int s = add(g, SN_OP_ADD, NULL, c1, c2, "skip");
    sn_attr k1 = conv_attr(2, 1, 1, 0);
    int c4 = add(g, SN_OP_CONV, &k1, 0, -1, "side");
    int cat = add(g, SN_OP_CONCAT, NULL, s, c4, "cat");
    sn_attr dn = conv_attr(4, 3, 2, 1);
    int c5 = add(g, SN_OP_CONV, &dn, cat, -1, "down");
    sn_attr ap = sn_attr_default(SN_OP_AVGPOOL);
    int p = add(g, SN_OP_AVGPOOL, &ap, c5, -1, NULL);
    int f = add(g, SN_OP_FLATTEN, NULL, p, -1, NULL);
    sn_attr d = dense_attr(3);
    add(g, SN_OP_DENSE, &d, f, -1, NULL);
    sn_error e;
    assert_int_equal(sn_graph_validate(g, &e), 0);

    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, 11);
    /* Non-zero biases so their gradients are exercised through values. */
    for (int i = 0; i < w->n_nodes; i++)
        for (int t = 0; t < w->n_tensors[i]; t++)
            if (w->desc[i][t].ndim == 1)
                tu_fill_normal(sn_weights_tensor(w, i, t),
                               (size_t)sn_tensor_desc_size(&w->desc[i][t]),
                               100 + i, 0.5f);
    const int n = 2, k = 3;
    float x[2 * 32], r[2 * 3];
    tu_fill_normal(x, 64, 12, 1.0f);
    tu_fill_normal(r, 6, 13, 1.0f);
    sn_exec *ex = sn_exec_new(g, w, n);
    sn_exec_forward(ex, x, n, 1);
    sn_exec_zero_grad(ex);
    sn_exec_backward(ex, r);
    float *grad = sn_exec_grads(ex);
    float *ana = malloc((size_t)w->n_params * sizeof *ana);
    memcpy(ana, grad, (size_t)w->n_params * sizeof *ana);

    const float h = 0.25f;
    int checked = 0;
    for (int i = 0; i < w->n_nodes; i++)
        for (int t = 0; t < w->n_tensors[i]; t++) {
            if (!w->desc[i][t].trainable) continue;
            float *pt = sn_weights_tensor(w, i, t);
            int64_t size = sn_tensor_desc_size(&w->desc[i][t]);
            for (int64_t j = 0; j < size; j++) {
                float old = pt[j];
                pt[j] = old + h;
                double lp = wloss(sn_exec_forward(ex, x, n, 1), r, n * k);
                pt[j] = old - h;
                double lm = wloss(sn_exec_forward(ex, x, n, 1), r, n * k);
                pt[j] = old;
                double num = (lp - lm) / (2 * h);
                double a = ana[(pt - w->params) + j];
                /* Loss magnitudes ~10 carry float32 rounding ~1e-5 per
                 * forward; divided by 2h = 0.5 that is ~4e-5, so 1e-3
                 * absolute plus 1e-3 relative is generous yet catches any
                 * missing or doubled path (errors of order 1). */
                if (fabs(num - a) > 1e-3 + 1e-3 * fabs(num))
                    fail_msg("%s tensor %d [%lld]: numeric %.6g analytic "
                             "%.6g", g->nodes[i].name, t, (long long)j, num,
                             a);
                checked++;
            }
        }
    assert_true(checked > 200);

    /* Backward again without zeroing doubles the gradient. */
    sn_exec_forward(ex, x, n, 1);
    sn_exec_backward(ex, r);
    for (int64_t j = 0; j < w->n_params; j++)
        assert_close(grad[j], 2 * ana[j], 1e-5 * (1 + fabs(ana[j])));
    sn_exec_zero_grad(ex);
    for (int64_t j = 0; j < w->n_params; j++) assert_true(grad[j] == 0.0f);
    free(ana);
    sn_exec_free(ex);
    sn_weights_free(w);
    sn_graph_free(g);
}

/* Every base architecture runs forward and backward (training mode: bn
 * batch statistics, dropout) on a small input with finite results, and a
 * batch smaller than max_batch works. */
static void test_exec_all_kinds(void **state) {
    (void)state;
    for (int i = 0; sn_arch_kinds[i]; i++) {
        const char *k = sn_arch_kinds[i];
        int big = !strcmp(k, "resnet") || !strcmp(k, "densenet");
        sn_arch_opts o = {big ? 4 : 0, big ? 1 : 0};
        if (!strcmp(k, "mobile_tiny") || !strcmp(k, "tiny2conv")) o.depth = 0;
        sn_error e;
        sn_graph *g = sn_graph_new_kind(k, (sn_shape){1, 32, 32}, 5, &o, &e);
        if (!g) fail_msg("%s: %s", k, e.msg);
        sn_weights *w = sn_weights_new(g);
        sn_weights_init(w, g, 1);
        sn_exec *ex = sn_exec_new(g, w, 4);
        float x[4 * 1024], dl[4 * 5];
        tu_fill_normal(x, 4 * 1024, 2, 1.0f);
        tu_fill_normal(dl, 20, 3, 0.1f);
        for (int n = 4; n >= 3; n--) {
            const float *y = sn_exec_forward(ex, x, n, 1);
            for (int j = 0; j < n * 5; j++) assert_true(isfinite(y[j]));
            sn_exec_zero_grad(ex);
            sn_exec_backward(ex, dl);
            const float *gr = sn_exec_grads(ex);
            double norm = 0;
            for (int64_t j = 0; j < w->n_params; j++) norm += fabs(gr[j]);
            assert_true(isfinite(norm));
            assert_true(norm > 0);
        }
        /* Inference mode is deterministic. */
        float y1[20];
        memcpy(y1, sn_exec_forward(ex, x, 4, 0), sizeof y1);
        const float *y2 = sn_exec_forward(ex, x, 4, 0);
        assert_memory_equal(y1, y2, sizeof y1);
        sn_exec_free(ex);
        sn_weights_free(w);
        sn_graph_free(g);
    }
}

/* The fused conv + max pool passes (forward, and backward when the pool
 * is the conv's only reader) give bit for bit the outputs and gradients
 * of the unfused ones (SLIMNAS_NO_FUSE=1), on the cnn base architecture
 * (28x28: conv output in bands; 14x14 and 7x7: packed samples) and on a
 * graph where the conv has a second reader. */
static void test_exec_fused_pool(void **state) {
    (void)state;
    sn_error e;
    sn_arch_opts o = {0, 0};
    sn_graph *g1 = sn_graph_new_kind("cnn", (sn_shape){1, 28, 28}, 10, &o, &e);
    if (!g1) fail_msg("%s", e.msg);
    sn_graph *g2 = sn_graph_new("skip", (sn_shape){2, 12, 12}, 3);
    sn_attr c3 = conv_attr(4, 3, 1, 1);
    int c = add(g2, SN_OP_CONV, &c3, 0, -1, "c");
    sn_attr mp = sn_attr_default(SN_OP_MAXPOOL);
    int p = add(g2, SN_OP_MAXPOOL, &mp, c, -1, "p");
    sn_attr ap = sn_attr_default(SN_OP_AVGPOOL);
    int q = add(g2, SN_OP_AVGPOOL, &ap, c, -1, "q");
    int s = add(g2, SN_OP_ADD, NULL, p, q, "s");
    int f = add(g2, SN_OP_FLATTEN, NULL, s, -1, NULL);
    sn_attr d = dense_attr(3);
    add(g2, SN_OP_DENSE, &d, f, -1, NULL);
    assert_int_equal(sn_graph_validate(g2, &e), 0);
    sn_graph *gs[2] = {g1, g2};
    for (int t = 1; t <= 2; t++) {
        sn_threads_init(t);
        for (int k = 0; k < 2; k++) {
            sn_graph *g = gs[k];
            sn_weights *w = sn_weights_new(g);
            sn_weights_init(w, g, 5);
            const int n = 9;
            int64_t in_sz = sn_shape_size(g->nodes[0].out) * n;
            int out_n = g->classes * n;
            float *x = sn_falloc((size_t)in_sz), dl[9 * 10];
            tu_fill_normal(x, (size_t)in_sz, 6, 1.0f);
            tu_fill_normal(dl, (size_t)out_n, 7, 0.1f);
            float *y[2], *gr[2];
            for (int fuse = 0; fuse < 2; fuse++) {
                setenv("SLIMNAS_NO_FUSE", fuse ? "0" : "1", 1);
                sn_exec *ex = sn_exec_new(g, w, n);
                y[fuse] = malloc(sizeof(float) * (size_t)out_n);
                memcpy(y[fuse], sn_exec_forward(ex, x, n, 1),
                       sizeof(float) * (size_t)out_n);
                sn_exec_zero_grad(ex);
                sn_exec_backward(ex, dl);
                gr[fuse] = malloc(sizeof(float) * (size_t)w->n_params);
                memcpy(gr[fuse], sn_exec_grads(ex),
                       sizeof(float) * (size_t)w->n_params);
                sn_exec_free(ex);
            }
            unsetenv("SLIMNAS_NO_FUSE");
            assert_memory_equal(y[0], y[1], sizeof(float) * (size_t)out_n);
            assert_memory_equal(gr[0], gr[1],
                                sizeof(float) * (size_t)w->n_params);
            for (int fuse = 0; fuse < 2; fuse++) {
                free(y[fuse]);
                free(gr[fuse]);
            }
            sn_free_aligned(x);
            sn_weights_free(w);
        }
    }
    sn_threads_init(1);
    sn_graph_free(g1);
    sn_graph_free(g2);
}

/* The records of a weight file in any order load alike (decode tries
 * the graph's order first, then looks a record up by name); a record
 * twice is an error, as is one missing. */
static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void test_weights_record_order(void **state) {
    (void)state;
    sn_error e;
    sn_graph *g = kind("mobile_tiny", 28, 28, 1, 10);
    sn_weights *w = sn_weights_new(g);
    fill_weights(w, 9);
    const char *p1 = tmp_path("order.bin"), *p2 = tmp_path("order2.bin");
    assert_int_equal(sn_weights_save(w, g, p1, &e), 0);
    unsigned char *d;
    size_t len;
    assert_int_equal(read_all(p1, &d, &len), 0);
    /* the records' spans: name length, name, ndim, dims, floats */
    uint32_t count = le32(d + 8);
    assert_true(count > 4);
    size_t *at = malloc((count + 1) * sizeof *at);
    size_t pos = 12;
    for (uint32_t r = 0; r < count; r++) {
        at[r] = pos;
        pos += 4 + le32(d + pos);
        uint32_t nd = le32(d + pos), size = 1;
        for (uint32_t k = 0; k < nd; k++) size *= le32(d + pos + 4 + 4 * k);
        pos += 4 + 4 * (size_t)nd + 4 * (size_t)size;
    }
    at[count] = pos; /* then the model info, then the CRC */
    unsigned char *o = malloc(2 * len); /* a record twice: longer */
    /* order[k]: which record goes k-th */
    uint32_t *order = malloc(count * sizeof *order);
    for (int round = 0; round < 4; round++) {
        for (uint32_t k = 0; k < count; k++) order[k] = k;
        if (round == 0) /* reversed */
            for (uint32_t k = 0; k < count; k++) order[k] = count - 1 - k;
        if (round == 1) { /* one moved from the middle to the front */
            for (uint32_t k = count / 2; k > 0; k--) order[k] = k - 1;
            order[0] = count / 2;
        }
        if (round == 2) order[count - 1] = 1;      /* record 1 twice */
        if (round == 3) order[2] = order[3] = 3; /* 2 gone, 3 twice */
        size_t n = 12;
        memcpy(o, d, 12);
        for (uint32_t k = 0; k < count; k++) {
            size_t span = at[order[k] + 1] - at[order[k]];
            memcpy(o + n, d + at[order[k]], span);
            n += span;
        }
        memcpy(o + n, d + at[count], len - 4 - at[count]);
        n += len - 4 - at[count];
        uint32_t crc = sn_crc32(0, o, n);
        for (int k = 0; k < 4; k++) o[n++] = (unsigned char)(crc >> (8 * k));
        write_all(p2, o, n);
        if (round >= 2) {
            expect_load_error(g, p2, "appears twice");
            continue;
        }
        sn_weights *v = sn_weights_load(g, p2, &e);
        if (!v) fail_msg("order %d: %s", round, e.msg);
        expect_check_ok(g, p2);
        assert_memory_equal(v->params, w->params, (size_t)w->n_params * 4);
        assert_memory_equal(v->buffers, w->buffers, (size_t)w->n_buffers * 4);
        sn_weights_free(v);
    }
    free(order);
    free(o);
    free(at);
    free(d);
    sn_weights_free(w);
    sn_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_table),
        cmocka_unit_test(test_op_table_vocabulary),
        cmocka_unit_test(test_op_describe),
        cmocka_unit_test(test_attr_defaults),
        cmocka_unit_test(test_kinds_all_valid),
        cmocka_unit_test(test_stats_small),
        cmocka_unit_test(test_peak_skip),
        cmocka_unit_test(test_graph_api_errors),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_any_order),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_weights_round_trip),
        cmocka_unit_test(test_weights_bad_files),
        cmocka_unit_test(test_weights_record_order),
        cmocka_unit_test(test_exec_forward),
        cmocka_unit_test(test_exec_backward),
        cmocka_unit_test(test_exec_all_kinds),
        cmocka_unit_test(test_exec_fused_pool),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
