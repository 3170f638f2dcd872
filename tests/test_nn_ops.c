/* test_nn_ops.c — the op table, and the ops of norm.c, simple.c, pool.c,
 * loss.c: gradient checks (gradcheck.h) for every input and parameter,
 * forward values worked out by hand, shape errors, and the parallel paths
 * against the serial ones. */
#include "testutil.h"

#include "gradcheck.h"

/* ---- op table ----------------------------------------------------------- */

static void test_table_names(void **state) {
    static const char *names[SN_OP_COUNT] = {
        "input", "conv",    "dense", "bn",  "relu",   "relu6",  "maxpool",
        "avgpool", "gap", "dropout", "add", "concat", "flatten"};
    for (int i = 0; i < SN_OP_COUNT; i++) {
        const sn_op_desc *d = sn_op_get((sn_op_kind)i);
        assert_string_equal(d->name, names[i]);
        assert_int_equal(sn_op_from_name(names[i]), i);
        assert_non_null(d->infer);
        assert_non_null(d->forward);
        assert_non_null(d->backward);
        assert_true(d->min_inputs <= d->max_inputs);
    }
    assert_int_equal(sn_op_from_name("Conv"), -1);
    assert_int_equal(sn_op_from_name("softmax"), -1);
    assert_int_equal(sn_op_from_name(""), -1);
    assert_int_equal(sn_op_from_name(NULL), -1);
}

static void test_attr_defaults(void **state) {
    sn_attr a = sn_attr_default(SN_OP_MAXPOOL);
    assert_int_equal(a.k, 2);
    assert_int_equal(a.stride, 2);
    assert_int_equal(a.pad, 0);
    a = sn_attr_default(SN_OP_BN);
    assert_true(a.eps == 1e-5f);
    assert_true(a.momentum == 0.1f);
    a = sn_attr_default(SN_OP_DROPOUT);
    assert_close(a.rate, 0.5, 0);
    a = sn_attr_default(SN_OP_CONV);
    assert_int_equal(a.stride, 1);
    assert_int_equal(a.groups, 1);
    assert_int_equal(a.bias, 1);
}

/* Counts: params, MACs and the AutoKeras (thop mid-2019) FLOPs. */
static void test_counts(void **state) {
    sn_shape in = {8, 6, 6}, out;
    sn_error e;
    sn_attr a = sn_attr_default(SN_OP_BN);
    assert_int_equal(sn_op_params(SN_OP_BN, &a, &in, 1), 16);
    const sn_op_desc *bn = sn_op_get(SN_OP_BN);
    assert_int_equal(bn->infer(&a, &in, 1, &out, &e), 0);
    assert_int_equal(bn->flops_autokeras(&a, &in, 1, out), 4 * 8 * 36);
    assert_int_equal(bn->macs(&a, &in, 1, out), 0);
    sn_tensor_desc t[SN_MAX_TENSORS];
    assert_int_equal(bn->tensors(&a, &in, 1, t), 4);
    assert_string_equal(t[2].name, "running_mean");
    assert_int_equal(t[3].trainable, 0);

    a = sn_attr_default(SN_OP_RELU);
    assert_int_equal(sn_op_get(SN_OP_RELU)->flops_autokeras(&a, &in, 1, in),
                     288);
    assert_int_equal(sn_op_get(SN_OP_RELU6)->flops_autokeras(&a, &in, 1, in),
                     288);

    /* maxpool 3 stride 2 on 6x6 -> 2x2: K (not K*K) per output: 3*8*4. */
    a = sn_attr_default(SN_OP_MAXPOOL);
    a.k = 3;
    const sn_op_desc *mp = sn_op_get(SN_OP_MAXPOOL);
    assert_int_equal(mp->infer(&a, &in, 1, &out, &e), 0);
    assert_int_equal(out.h, 2);
    assert_int_equal(mp->flops_autokeras(&a, &in, 1, out), 96);
    /* avgpool 2: K + 1 per output: 3 * 8*3*3. */
    a = sn_attr_default(SN_OP_AVGPOOL);
    const sn_op_desc *ap = sn_op_get(SN_OP_AVGPOOL);
    assert_int_equal(ap->infer(&a, &in, 1, &out, &e), 0);
    assert_int_equal(ap->flops_autokeras(&a, &in, 1, out), 216);

    static const sn_op_kind zero[] = {SN_OP_GAP, SN_OP_DROPOUT, SN_OP_ADD,
                                      SN_OP_CONCAT, SN_OP_FLATTEN};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
        a = sn_attr_default(zero[i]);
        const sn_op_desc *d = sn_op_get(zero[i]);
        assert_int_equal(d->infer(&a, &in, 1, &out, &e), 0);
        assert_int_equal(d->flops_autokeras(&a, &in, 1, out), 0);
        assert_int_equal(d->macs(&a, &in, 1, out), 0);
        assert_int_equal(sn_op_params(zero[i], &a, &in, 1), 0);
    }
}

/* ---- shape errors ------------------------------------------------------- */

static int infer_fails(sn_op_kind op, const sn_attr *a, const sn_shape *in,
                       int n_in, const char *must_contain) {
    sn_shape out = {-7, -7, -7};
    sn_error e = {{0}};
    int rc = sn_op_get(op)->infer(a, in, n_in, &out, &e);
    if (rc != -1) {
        print_error("infer of %s succeeded: %dx%dx%d\n",
                    sn_op_get(op)->name, out.c, out.h, out.w);
        return 0;
    }
    if (!strstr(e.msg, must_contain)) {
        print_error("message '%s' lacks '%s'\n", e.msg, must_contain);
        return 0;
    }
    return 1;
}

static void test_shape_errors(void **state) {
    sn_attr a = sn_attr_default(SN_OP_ADD);
    sn_shape add_bad[] = {{4, 5, 5}, {4, 5, 5}, {4, 5, 6}};
    assert_true(infer_fails(SN_OP_ADD, &a, add_bad, 3, "input 2"));
    sn_shape add_c[] = {{4, 5, 5}, {3, 5, 5}};
    assert_true(infer_fails(SN_OP_ADD, &a, add_c, 2, "equal shapes"));
    assert_true(infer_fails(SN_OP_ADD, &a, add_c, 0, "at least 1"));

    a = sn_attr_default(SN_OP_CONCAT);
    sn_shape cat_bad[] = {{4, 5, 5}, {2, 4, 5}};
    assert_true(infer_fails(SN_OP_CONCAT, &a, cat_bad, 2, "height"));

    /* Single-input ops given two inputs, as a dense-style misuse. */
    sn_shape two[] = {{4, 5, 5}, {4, 5, 5}};
    static const sn_op_kind single[] = {
        SN_OP_BN,  SN_OP_RELU,    SN_OP_RELU6, SN_OP_MAXPOOL, SN_OP_AVGPOOL,
        SN_OP_GAP, SN_OP_DROPOUT, SN_OP_FLATTEN};
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++) {
        a = sn_attr_default(single[i]);
        assert_true(infer_fails(single[i], &a, two, 2, "exactly 1 input"));
    }

    sn_shape small[] = {{3, 2, 2}};
    a = sn_attr_default(SN_OP_MAXPOOL);
    a.k = 3;
    a.stride = 1;
    assert_true(infer_fails(SN_OP_MAXPOOL, &a, small, 1, "does not fit"));
    a.k = 2;
    a.pad = 2;
    assert_true(infer_fails(SN_OP_AVGPOOL, &a, small, 1, "half the kernel"));
    a = sn_attr_default(SN_OP_AVGPOOL);
    a.stride = 0;
    assert_true(infer_fails(SN_OP_AVGPOOL, &a, small, 1, "stride"));

    a = sn_attr_default(SN_OP_DROPOUT);
    a.rate = 1.0f;
    assert_true(infer_fails(SN_OP_DROPOUT, &a, small, 1, "rate"));
    a = sn_attr_default(SN_OP_BN);
    a.eps = 0;
    assert_true(infer_fails(SN_OP_BN, &a, small, 1, "eps"));
    sn_shape empty[] = {{0, 4, 4}};
    a = sn_attr_default(SN_OP_RELU);
    assert_true(infer_fails(SN_OP_RELU, &a, empty, 1, "at least 1"));
}

static void test_good_shapes(void **state) {
    sn_error e;
    sn_shape out;
    sn_attr a = sn_attr_default(SN_OP_CONCAT);
    sn_shape cat[] = {{4, 5, 6}, {1, 5, 6}, {3, 5, 6}};
    assert_int_equal(sn_op_get(SN_OP_CONCAT)->infer(&a, cat, 3, &out, &e), 0);
    assert_int_equal(out.c, 8);
    assert_int_equal(out.h, 5);
    assert_int_equal(out.w, 6);
    a = sn_attr_default(SN_OP_FLATTEN);
    assert_int_equal(sn_op_get(SN_OP_FLATTEN)->infer(&a, cat, 1, &out, &e), 0);
    assert_int_equal(out.c, 120);
    assert_int_equal(out.h, 1);
    a = sn_attr_default(SN_OP_GAP);
    assert_int_equal(sn_op_get(SN_OP_GAP)->infer(&a, cat, 1, &out, &e), 0);
    assert_int_equal(out.c, 4);
    assert_int_equal(out.w, 1);
    /* PyTorch floor mode: (7 + 2 - 3) / 2 + 1 = 4. */
    sn_shape seven = {2, 7, 7};
    a = sn_attr_default(SN_OP_MAXPOOL);
    a.k = 3;
    a.pad = 1;
    assert_int_equal(sn_op_get(SN_OP_MAXPOOL)->infer(&a, &seven, 1, &out, &e),
                     0);
    assert_int_equal(out.h, 4);
    /* The graph's input node echoes its declared shape. */
    a = sn_attr_default(SN_OP_INPUT);
    assert_int_equal(sn_op_get(SN_OP_INPUT)->infer(&a, &seven, 0, &out, &e),
                     0);
    assert_int_equal(out.c, 2);
    assert_int_equal(out.h, 7);
}

/* ---- gradient checks ---------------------------------------------------- */

static void test_grad_bn_train(void **state) {
    sn_attr a = sn_attr_default(SN_OP_BN);
    sn_shape in[] = {{3, 4, 3}};
    gc_spec s = gc_spec_make(SN_OP_BN, &a, 1, in, 2, 11);
    gc_assert(&s);
    /* Flat {C,1,1} (after dense): statistics over the batch only. */
    sn_shape flat[] = {{5, 1, 1}};
    s = gc_spec_make(SN_OP_BN, &a, 1, flat, 4, 12);
    gc_assert(&s);
    /* more samples than one chunk of work (8): sums over two chunks */
    sn_shape small[] = {{2, 3, 3}};
    s = gc_spec_make(SN_OP_BN, &a, 1, small, 10, 13);
    gc_assert(&s);
    /* 7x7 planes: the plane sums' blocks of 32 lanes, of 8, and a
     * remainder term (49 = 32 + 2 * 8 + 1) */
    sn_shape wide[] = {{2, 7, 7}};
    s = gc_spec_make(SN_OP_BN, &a, 1, wide, 2, 14);
    gc_assert(&s);
}

static void test_grad_bn_eval(void **state) {
    sn_attr a = sn_attr_default(SN_OP_BN);
    sn_shape in[] = {{3, 3, 4}};
    gc_spec s = gc_spec_make(SN_OP_BN, &a, 1, in, 2, 13);
    s.training = 0;
    gc_assert(&s);
}

static void test_grad_relu(void **state) {
    sn_attr a = sn_attr_default(SN_OP_RELU);
    sn_shape in[] = {{3, 4, 5}};
    gc_spec s = gc_spec_make(SN_OP_RELU, &a, 1, in, 2, 21);
    s.kinks[0] = 0;
    s.n_kinks = 1;
    s.margin = 0.05f; /* > h = 0.01: no step crosses the kink */
    gc_assert(&s);
}

static void test_grad_relu6(void **state) {
    sn_attr a = sn_attr_default(SN_OP_RELU6);
    sn_shape in[] = {{3, 4, 5}};
    gc_spec s = gc_spec_make(SN_OP_RELU6, &a, 1, in, 2, 22);
    s.in_scale = 5.0f; /* so that some inputs lie above 6 */
    s.kinks[0] = 0;
    s.kinks[1] = 6;
    s.n_kinks = 2;
    s.margin = 0.05f;
    gc_assert(&s);
}

static void test_grad_maxpool(void **state) {
    sn_attr a = sn_attr_default(SN_OP_MAXPOOL); /* k2 s2 */
    sn_shape in[] = {{2, 4, 6}};
    gc_spec s = gc_spec_make(SN_OP_MAXPOOL, &a, 1, in, 2, 31);
    s.distinct = 1;
    gc_assert(&s);
    a.k = 3;
    a.stride = 2;
    a.pad = 1;
    sn_shape odd[] = {{2, 5, 5}};
    s = gc_spec_make(SN_OP_MAXPOOL, &a, 1, odd, 2, 32);
    s.distinct = 1;
    gc_assert(&s);
}

static void test_grad_avgpool(void **state) {
    sn_attr a = sn_attr_default(SN_OP_AVGPOOL);
    sn_shape in[] = {{2, 4, 6}};
    gc_spec s = gc_spec_make(SN_OP_AVGPOOL, &a, 1, in, 2, 41);
    gc_assert(&s);
    a.k = 3;
    a.stride = 2;
    a.pad = 1;
    sn_shape odd[] = {{2, 5, 5}};
    s = gc_spec_make(SN_OP_AVGPOOL, &a, 1, odd, 2, 42);
    gc_assert(&s);
}

static void test_grad_gap(void **state) {
    sn_attr a = sn_attr_default(SN_OP_GAP);
    sn_shape in[] = {{3, 3, 5}};
    gc_spec s = gc_spec_make(SN_OP_GAP, &a, 1, in, 2, 51);
    gc_assert(&s);
}

static void test_grad_dropout(void **state) {
    sn_attr a = sn_attr_default(SN_OP_DROPOUT);
    a.rate = 0.3f;
    sn_shape in[] = {{3, 4, 4}};
    gc_spec s = gc_spec_make(SN_OP_DROPOUT, &a, 1, in, 2, 61);
    gc_assert(&s); /* training: the same mask on every forward (reseeded) */
    s.training = 0;
    gc_assert(&s);
}

static void test_grad_add_concat_flatten(void **state) {
    sn_attr a = sn_attr_default(SN_OP_ADD);
    sn_shape same[] = {{2, 3, 4}, {2, 3, 4}, {2, 3, 4}};
    gc_spec s = gc_spec_make(SN_OP_ADD, &a, 3, same, 2, 71);
    gc_assert(&s);
    a = sn_attr_default(SN_OP_CONCAT);
    sn_shape cat[] = {{2, 3, 4}, {1, 3, 4}, {3, 3, 4}};
    s = gc_spec_make(SN_OP_CONCAT, &a, 3, cat, 2, 72);
    gc_assert(&s);
    a = sn_attr_default(SN_OP_FLATTEN);
    s = gc_spec_make(SN_OP_FLATTEN, &a, 1, cat, 3, 73);
    gc_assert(&s);
}

/* The harness must catch broken backwards, or the checks above prove
 * nothing: a gradient off by 1 %, and one that overwrites instead of
 * accumulating. */
static void relu_backward_scaled(const sn_op_args *x) {
    if (!x->din[0]) return;
    sn_op_args y = *x;
    float *tmp = sn_falloc((size_t)(sn_shape_size(x->out_shape) * x->n));
    float *din[1] = {tmp};
    y.din = din;
    sn_op_get(SN_OP_RELU)->backward(&y);
    for (int64_t i = 0; i < sn_shape_size(x->out_shape) * x->n; i++)
        x->din[0][i] += 1.01f * tmp[i];
    sn_free_aligned(tmp);
}

static void relu_backward_overwrites(const sn_op_args *x) {
    int64_t n = sn_shape_size(x->out_shape) * x->n;
    if (x->din[0]) memset(x->din[0], 0, (size_t)n * sizeof(float));
    sn_op_get(SN_OP_RELU)->backward(x);
}

static void bn_backward_eval_formula(const sn_op_args *x) {
    /* Pretends statistics are constants in training mode: misses the
     * batch-statistic terms of the input gradient. */
    sn_op_args y = *x;
    y.training = 0;
    sn_op_get(SN_OP_BN)->backward(&y);
}

static void test_harness_catches_bugs(void **state) {
    sn_attr a = sn_attr_default(SN_OP_RELU);
    sn_shape in[] = {{2, 3, 3}};
    gc_spec s = gc_spec_make(SN_OP_RELU, &a, 1, in, 2, 81);
    s.kinks[0] = 0;
    s.n_kinks = 1;
    s.margin = 0.05f;
    gc_result r = gc_run(&s);
    assert_true(r.ok);
    s.backward = relu_backward_scaled;
    r = gc_run(&s);
    assert_false(r.ok);
    assert_non_null(strstr(r.msg, "input 0 [n="));
    s.backward = relu_backward_overwrites;
    r = gc_run(&s);
    assert_false(r.ok);

    sn_attr b = sn_attr_default(SN_OP_BN);
    s = gc_spec_make(SN_OP_BN, &b, 1, in, 2, 82);
    s.backward = bn_backward_eval_formula;
    r = gc_run(&s);
    assert_false(r.ok);
}

/* ---- forward values ----------------------------------------------------- */

/* C = 2, N = 2, H = 1, W = 2. Channel 0 holds 1, 2 (sample 0) and 3, 4
 * (sample 1): mean 2.5, biased var 1.25, unbiased 5/3. Channel 1 holds 10
 * everywhere: mean 10, var 0. Running stats start at 0 and 1. */
static void test_bn_forward_values(void **state) {
    sn_attr a = sn_attr_default(SN_OP_BN);
    sn_shape in = {2, 1, 2};
    gc_fix f;
    sn_error e;
    assert_int_equal(gc_fix_init(&f, SN_OP_BN, &a, 1, &in, 2, 1, &e), 0);
    const float x[] = {1, 2, 10, 10, 3, 4, 10, 10};
    memcpy(f.x[0], x, sizeof x);
    f.t[0][1] = 2.0f; /* gamma of channel 1 */
    f.t[1][1] = 0.5f; /* beta of channel 1 */
    f.training = 1;
    gc_fix_forward(&f);
    /* (1 - 2.5) / sqrt(1.25 + 1e-5) = -1.3416354199689269 */
    assert_close(f.out[0], -1.3416354199689269, 1e-6);
    assert_close(f.out[5], 1.3416354199689269, 1e-6);
    assert_close(f.out[2], 0.5, 1e-6); /* constant channel: just beta */
    /* running = 0.9 * old + 0.1 * batch (unbiased variance) */
    assert_close(f.t[2][0], 0.25, 1e-7);
    assert_close(f.t[3][0], 0.9 + 0.1 * 5.0 / 3.0, 1e-6);
    assert_close(f.t[2][1], 1.0, 1e-6);
    assert_close(f.t[3][1], 0.9, 1e-6);

    /* Inference uses the running stats just stored. */
    f.training = 0;
    gc_fix_forward(&f);
    double rv0 = 0.9 + 0.1 * 5.0 / 3.0;
    assert_close(f.out[0], (1 - 0.25) / sqrt(rv0 + 1e-5), 1e-6);
    assert_close(f.out[2], 2.0 * (10 - 1.0) / sqrt(0.9 + 1e-5) + 0.5, 1e-5);
    gc_fix_free(&f);
}

static void test_maxpool_forward_values(void **state) {
    sn_attr a = sn_attr_default(SN_OP_MAXPOOL);
    sn_shape in = {1, 4, 4};
    gc_fix f;
    sn_error e;
    assert_int_equal(gc_fix_init(&f, SN_OP_MAXPOOL, &a, 1, &in, 1, 1, &e), 0);
    for (int i = 0; i < 16; i++) f.x[0][i] = (float)i; /* row-major ramp */
    gc_fix_forward(&f);
    assert_int_equal(f.out_shape.h, 2);
    assert_close(f.out[0], 5, 0);
    assert_close(f.out[1], 7, 0);
    assert_close(f.out[2], 13, 0);
    assert_close(f.out[3], 15, 0);
    /* backward routes each output gradient to its argmax only */
    for (int i = 0; i < 4; i++) f.dout[i] = (float)(i + 1);
    memset(f.dx[0], 0, 16 * sizeof(float));
    gc_fix_backward(&f, 0);
    assert_close(f.dx[0][5], 1, 0);
    assert_close(f.dx[0][7], 2, 0);
    assert_close(f.dx[0][13], 3, 0);
    assert_close(f.dx[0][15], 4, 0);
    assert_close(f.dx[0][0] + f.dx[0][6] + f.dx[0][14], 0, 0);
    gc_fix_free(&f);

    /* k3 s2 p1 on all-negative values: padding is -inf, never 0. Input
     * -1 - i (row-major 4x4); the windows cover rows/cols {-1..1} and
     * {1..3}, so each max is the real element with the smallest index in
     * its window: (0,0) -> -1, (0,1) -> -2, (1,0) -> -5, (1,1) -> -6. */
    a.k = 3;
    a.pad = 1;
    assert_int_equal(gc_fix_init(&f, SN_OP_MAXPOOL, &a, 1, &in, 1, 1, &e), 0);
    for (int i = 0; i < 16; i++) f.x[0][i] = -1.0f - (float)i;
    gc_fix_forward(&f);
    assert_int_equal(f.out_shape.h, 2);
    assert_close(f.out[0], -1, 0);
    assert_close(f.out[1], -2, 0);
    assert_close(f.out[2], -5, 0);
    assert_close(f.out[3], -6, 0);
    gc_fix_free(&f);
}

/* The 2x2 stride-2 pool has its own vectorised path (8 outputs at a time,
 * the last 8 of a row overlapping the ones before; rows under 8 outputs
 * go scalar, without branches). Against a plain first-maximum reference
 * on odd-sized inputs with many ties (values from {0, 1, 2, 3}), forward
 * values and the element each gradient is routed to must agree exactly.
 * Widths: OW 20 (two vectors and an overlapping third), 14 (28x28 -> 14,
 * one overlapping), 8, 7 and 3 (scalar). */
static void maxpool_2x2_case(int W) {
    sn_attr a = sn_attr_default(SN_OP_MAXPOOL);
    const int n = 2, H = 9, OH = 4, OW = W / 2, planes = n * 3;
    sn_shape in = {3, H, W};
    gc_fix f;
    sn_error e;
    assert_int_equal(gc_fix_init(&f, SN_OP_MAXPOOL, &a, 1, &in, n, 1, &e), 0);
    sn_rng r;
    sn_rng_seed(&r, 11);
    for (int i = 0; i < planes * H * W; i++)
        f.x[0][i] = (float)sn_rng_int(&r, 4);
    gc_fix_forward(&f);
    for (int i = 0; i < planes * OH * OW; i++) f.dout[i] = (float)(i + 1);
    memset(f.dx[0], 0, (size_t)planes * H * W * sizeof(float));
    gc_fix_backward(&f, 0);
    float *want = sn_falloc((size_t)planes * H * W);
    for (int p = 0; p < planes; p++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                const float *x = f.x[0] + (size_t)p * H * W;
                int best = 2 * oy * W + 2 * ox; /* row-major first max */
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int at = (2 * oy + dy) * W + 2 * ox + dx;
                        if (x[at] > x[best]) best = at;
                    }
                int o = (p * OH + oy) * OW + ox;
                assert_true(f.out[o] == x[best]);
                want[(size_t)p * H * W + best] += f.dout[o];
            }
    assert_memory_equal(want, f.dx[0], (size_t)planes * H * W * sizeof(float));
    sn_free_aligned(want);
    gc_fix_free(&f);
}

static void test_maxpool_2x2_fast_path(void **state) {
    (void)state;
    static const int widths[] = {41, 28, 16, 15, 6};
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++)
        maxpool_2x2_case(widths[i]);
}

static void test_avgpool_forward_values(void **state) {
    /* 3x3 of ones, k3 s1 p1, zero padding counted (divide by 9): corners
     * see 4 ones, edges 6, the centre 9. */
    sn_attr a = sn_attr_default(SN_OP_AVGPOOL);
    a.k = 3;
    a.stride = 1;
    a.pad = 1;
    sn_shape in = {1, 3, 3};
    gc_fix f;
    sn_error e;
    assert_int_equal(gc_fix_init(&f, SN_OP_AVGPOOL, &a, 1, &in, 1, 1, &e), 0);
    for (int i = 0; i < 9; i++) f.x[0][i] = 1.0f;
    gc_fix_forward(&f);
    const double want[9] = {4 / 9., 6 / 9., 4 / 9., 6 / 9., 1,
                            6 / 9., 4 / 9., 6 / 9., 4 / 9.};
    for (int i = 0; i < 9; i++) assert_close(f.out[i], want[i], 1e-6);
    gc_fix_free(&f);

    /* k2 s2 on a 2x4 ramp: means of {0,1,4,5} and {2,3,6,7}. */
    a = sn_attr_default(SN_OP_AVGPOOL);
    in = (sn_shape){1, 2, 4};
    assert_int_equal(gc_fix_init(&f, SN_OP_AVGPOOL, &a, 1, &in, 1, 1, &e), 0);
    for (int i = 0; i < 8; i++) f.x[0][i] = (float)i;
    gc_fix_forward(&f);
    assert_close(f.out[0], 2.5, 1e-6);
    assert_close(f.out[1], 4.5, 1e-6);
    gc_fix_free(&f);
}

static void test_gap_concat_values(void **state) {
    sn_attr a = sn_attr_default(SN_OP_GAP);
    sn_shape in = {2, 2, 2};
    gc_fix f;
    sn_error e;
    assert_int_equal(gc_fix_init(&f, SN_OP_GAP, &a, 1, &in, 2, 1, &e), 0);
    const float x[] = {1, 2, 3, 4, -1, -1, -1, -1, 0, 0, 0, 8, 5, 5, 5, 5};
    memcpy(f.x[0], x, sizeof x);
    gc_fix_forward(&f);
    assert_close(f.out[0], 2.5, 1e-6);
    assert_close(f.out[1], -1, 1e-6);
    assert_close(f.out[2], 2, 1e-6);
    assert_close(f.out[3], 5, 1e-6);
    gc_fix_free(&f);

    /* concat of {1,1,2} and {2,1,2}, batch 2: per sample, A's channel
     * then B's two channels. */
    a = sn_attr_default(SN_OP_CONCAT);
    sn_shape cat[] = {{1, 1, 2}, {2, 1, 2}};
    assert_int_equal(gc_fix_init(&f, SN_OP_CONCAT, &a, 2, cat, 2, 1, &e), 0);
    const float xa[] = {1, 2, 3, 4};
    const float xb[] = {10, 11, 12, 13, 20, 21, 22, 23};
    memcpy(f.x[0], xa, sizeof xa);
    memcpy(f.x[1], xb, sizeof xb);
    gc_fix_forward(&f);
    const float want[] = {1, 2, 10, 11, 12, 13, 3, 4, 20, 21, 22, 23};
    for (int i = 0; i < 12; i++) assert_close(f.out[i], want[i], 0);
    gc_fix_free(&f);
}

static void test_dropout_values(void **state) {
    sn_attr a = sn_attr_default(SN_OP_DROPOUT);
    a.rate = 0.25f;
    sn_shape in = {4, 25, 25};
    gc_fix f;
    sn_error e;
    assert_int_equal(gc_fix_init(&f, SN_OP_DROPOUT, &a, 1, &in, 4, 5, &e), 0);
    for (int64_t i = 0; i < f.in_size[0]; i++) f.x[0][i] = 1.0f;
    f.training = 1;
    gc_fix_forward(&f);
    int64_t dropped = 0;
    for (int64_t i = 0; i < f.out_size; i++) {
        if (f.out[i] == 0.0f)
            dropped++;
        else
            assert_close(f.out[i], 1 / 0.75, 1e-6);
    }
    /* 10000 Bernoulli(0.25) draws: std 43, so +-250 (~6 sigma) is safe
     * yet rejects a mask that ignores the rate. */
    assert_true(dropped > 2500 - 250 && dropped < 2500 + 250);
    f.training = 0;
    gc_fix_forward(&f);
    for (int64_t i = 0; i < f.out_size; i++) assert_close(f.out[i], 1, 0);
    gc_fix_free(&f);
}

/* ---- parallel paths ----------------------------------------------------- */

/* Runs forward and backward with the pool at 1 thread and at 2 on a batch
 * large enough to take the parallel branch; every op splits work into
 * independent units (elements, planes, channels), so results must agree
 * bit for bit. */
static void check_parallel_matches(sn_op_kind op, const sn_attr *a, int n_in,
                                   const sn_shape *in, int n, int training) {
    gc_fix f[2];
    sn_error e;
    for (int run = 0; run < 2; run++) {
        sn_threads_init(run == 0 ? 1 : 2);
        assert_int_equal(gc_fix_init(&f[run], op, a, n_in, in, n, 3, &e), 0);
        f[run].training = training;
        for (int i = 0; i < n_in; i++) {
            tu_fill_normal(f[run].x[i], (size_t)f[run].in_size[i], 100 + i, 1);
            memset(f[run].dx[i], 0, (size_t)f[run].in_size[i] * 4);
        }
        for (int j = 0; j < f[run].nt; j++)
            if (f[run].g[j])
                memset(f[run].g[j], 0, (size_t)f[run].t_size[j] * 4);
        tu_fill_normal(f[run].dout, (size_t)f[run].out_size, 99, 1);
        gc_fix_forward(&f[run]);
        gc_fix_backward(&f[run], 0);
    }
    sn_threads_init(1);
    assert_true(tu_max_abs_diff(f[0].out, f[1].out, (size_t)f[0].out_size) ==
                0);
    for (int i = 0; i < n_in; i++)
        assert_true(tu_max_abs_diff(f[0].dx[i], f[1].dx[i],
                                    (size_t)f[0].in_size[i]) == 0);
    for (int j = 0; j < f[0].nt; j++) {
        float *p0 = f[0].g[j] ? f[0].g[j] : f[0].t[j];
        float *p1 = f[1].g[j] ? f[1].g[j] : f[1].t[j];
        assert_true(tu_max_abs_diff(p0, p1, (size_t)f[0].t_size[j]) == 0);
    }
    gc_fix_free(&f[0]);
    gc_fix_free(&f[1]);
}

static void test_parallel_paths(void **state) {
    sn_shape big[] = {{16, 32, 32}, {16, 32, 32}, {16, 32, 32}};
    static const sn_op_kind ops[] = {
        SN_OP_BN,   SN_OP_RELU,    SN_OP_RELU6, SN_OP_MAXPOOL, SN_OP_AVGPOOL,
        SN_OP_GAP,  SN_OP_DROPOUT, SN_OP_ADD,   SN_OP_CONCAT,  SN_OP_FLATTEN};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        sn_attr a = sn_attr_default(ops[i]);
        int n_in = (ops[i] == SN_OP_ADD || ops[i] == SN_OP_CONCAT) ? 3 : 1;
        check_parallel_matches(ops[i], &a, n_in, big, 4, 1);
        if (ops[i] == SN_OP_BN) /* and inference mode */
            check_parallel_matches(ops[i], &a, 1, big, 4, 0);
    }
    /* bn splits the batch into chunks of samples (sums per chunk, added
     * in chunk order): 20 samples are 3 chunks, the last one short */
    sn_shape mid[] = {{8, 12, 12}};
    sn_attr b = sn_attr_default(SN_OP_BN);
    check_parallel_matches(SN_OP_BN, &b, 1, mid, 20, 1);
    check_parallel_matches(SN_OP_BN, &b, 1, mid, 20, 0);
}

/* One node may feed an add or concat twice (in[0] == in[1], din[0] ==
 * din[1]); on the parallel path two threads must never write the same
 * gradient block. Expected values are exact: each gradient element is
 * 0 + a + b in the same order the op adds. */
static void test_aliased_inputs(void **state) {
    sn_threads_init(2);
    /* Odd N: split into two chunks of (sample, input) items, one sample
     * would straddle the threads. */
    enum { N = 3, C = 16, HW = 32 * 32 };
    const int64_t m = (int64_t)N * C * HW, per = (int64_t)C * HW;
    float *x = sn_falloc(m), *dx = sn_falloc(m);
    float *out = sn_falloc(2 * m), *dout = sn_falloc(2 * m);
    tu_fill_normal(x, m, 1, 1);
    tu_fill_normal(dout, 2 * m, 2, 1);
    const float *in[2] = {x, x};
    float *din[2] = {dx, dx};
    sn_shape shp[2] = {{C, 32, 32}, {C, 32, 32}};
    sn_attr a = sn_attr_default(SN_OP_CONCAT);
    sn_op_args args = {.attr = &a, .n = N, .n_in = 2, .in_shape = shp,
                       .out_shape = {2 * C, 32, 32}, .in = in, .out = out,
                       .din = din, .dout = dout, .training = 1};
    sn_op_get(SN_OP_CONCAT)->forward(&args);
    sn_op_get(SN_OP_CONCAT)->backward(&args);
    for (int s = 0; s < N; s++)
        for (int64_t i = 0; i < per; i++) {
            assert_true(out[2 * s * per + i] == x[s * per + i]);
            assert_true(out[(2 * s + 1) * per + i] == x[s * per + i]);
            float want = dout[2 * s * per + i] + dout[(2 * s + 1) * per + i];
            if (dx[s * per + i] != want)
                fail_msg("concat din[%d][%lld] = %g, want %g", s,
                         (long long)i, dx[s * per + i], want);
        }
    a = sn_attr_default(SN_OP_ADD);
    args.out_shape = shp[0];
    memset(dx, 0, (size_t)m * sizeof(float));
    sn_op_get(SN_OP_ADD)->forward(&args);
    sn_op_get(SN_OP_ADD)->backward(&args);
    for (int64_t i = 0; i < m; i++) {
        assert_true(out[i] == x[i] + x[i]);
        assert_true(dx[i] == dout[i] + dout[i]);
    }
    sn_threads_init(1);
    sn_free_aligned(x);
    sn_free_aligned(dx);
    sn_free_aligned(out);
    sn_free_aligned(dout);
}

/* ---- loss --------------------------------------------------------------- */

static void test_xent_hand(void **state) {
    /* Row 0: logits 1 2 3, label 0, smoothing 0.1 over k = 3:
     *   target (0.9 + 0.1/3, 0.1/3, 0.1/3);
     *   loss = log(e + e^2 + e^3) - (0.93333*1 + 0.03333*2 + 0.03333*3)
     *        = 3.40760596444438 - 1.1 = 2.30760596444438;
     *   dlogits = softmax - target = (-0.84330276, 0.21139514, 0.63190762),
     *   divided by the batch size. */
    const float z[] = {1, 2, 3};
    const int y[] = {0};
    float d[3];
    int correct = -1;
    double L = sn_softmax_xent(z, y, 1, 3, 0.1f, d, &correct);
    assert_close(L, 2.30760596444438, 1e-6);
    assert_close(d[0], -0.8433027601629529, 1e-6);
    assert_close(d[1], 0.21139513772146437, 1e-6);
    assert_close(d[2], 0.6319076224414887, 1e-6);
    assert_int_equal(correct, 0);

    /* Batch of 2, no smoothing: mean of the two rows; row 1 = logits
     * (0.5, -1, 2, 0), label 2: log(e^.5 + e^-1 + e^2 + 1) - 2 =
     * 0.342349582389822. Row 0 padded with a 4th logit. */
    const float z2[] = {1, 2, 3, -30, 0.5f, -1, 2, 0};
    const int y2[] = {2, 2};
    float d2[8];
    L = sn_softmax_xent(z2, y2, 2, 4, 0.0f, d2, &correct);
    double row0 = log(exp(1) + exp(2) + exp(3) + exp(-30)) - 3;
    assert_close(L, (row0 + 0.342349582389822) / 2, 1e-6);
    assert_int_equal(correct, 2);
    assert_close(d2[3], 0, 1e-13); /* e^-33 / 2 */

    /* Huge logits: the max is subtracted first, so nothing overflows. */
    const float big[] = {1000, 0, -1000};
    L = sn_softmax_xent(big, y, 1, 3, 0.0f, d, NULL);
    assert_close(L, 0, 1e-6);
    L = sn_softmax_xent(big, (const int[]){1}, 1, 3, 0.0f, d, NULL);
    assert_close(L, 1000, 1e-3);
    assert_close(d[0], 1, 1e-6);
    assert_close(d[1], -1, 1e-6);
}

/* dlogits against central differences of the returned (double) loss; the
 * loss is computed in double from float logits, so the only float error is
 * in the step itself, which is taken as actually represented. */
static void test_xent_grad(void **state) {
    enum { N = 3, K = 5 };
    float z[N * K], d[N * K];
    const int y[N] = {4, 0, 2};
    tu_fill_normal(z, N * K, 7, 2.0f);
    sn_softmax_xent(z, y, N, K, 0.2f, d, NULL);
    for (int i = 0; i < N * K; i++) {
        float s = z[i];
        z[i] = s + 1e-2f;
        double hp = (double)z[i] - s;
        double Lp = sn_softmax_xent(z, y, N, K, 0.2f, NULL, NULL);
        z[i] = s - 1e-2f;
        double hm = s - (double)z[i];
        double Lm = sn_softmax_xent(z, y, N, K, 0.2f, NULL, NULL);
        z[i] = s;
        /* truncation h^2/6 * |f'''| <= 1e-4/6 * 1/N; float dlogits 1e-7 */
        assert_close(d[i], (Lp - Lm) / (hp + hm), 2e-5);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_names),
        cmocka_unit_test(test_attr_defaults),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_good_shapes),
        cmocka_unit_test(test_grad_bn_train),
        cmocka_unit_test(test_grad_bn_eval),
        cmocka_unit_test(test_grad_relu),
        cmocka_unit_test(test_grad_relu6),
        cmocka_unit_test(test_grad_maxpool),
        cmocka_unit_test(test_grad_avgpool),
        cmocka_unit_test(test_grad_gap),
        cmocka_unit_test(test_grad_dropout),
        cmocka_unit_test(test_grad_add_concat_flatten),
        cmocka_unit_test(test_harness_catches_bugs),
        cmocka_unit_test(test_bn_forward_values),
        cmocka_unit_test(test_maxpool_forward_values),
        cmocka_unit_test(test_maxpool_2x2_fast_path),
        cmocka_unit_test(test_avgpool_forward_values),
        cmocka_unit_test(test_gap_concat_values),
        cmocka_unit_test(test_dropout_values),
        cmocka_unit_test(test_parallel_paths),
        cmocka_unit_test(test_aliased_inputs),
        cmocka_unit_test(test_xent_hand),
        cmocka_unit_test(test_xent_grad),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sn_threads_shutdown();
    return rc;
}
