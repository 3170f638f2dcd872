/* test_nn_ref.c — our ops against PyTorch.
 *
 * tests/gen_fixtures.py ran each op in torch (float64, from float32 inputs)
 * and stored inputs, parameters, outputs and the gradients of
 * loss = sum(out * R) for a fixed random R in tests/fixtures/nn_ref_v1.bin
 * (format: tests/fixtures.h). Here each case goes through the op table
 * exactly as the graph engine would call it — infer, tensors, cache_bytes,
 * work_floats, forward, backward — and every output, input gradient,
 * parameter gradient and (batch norm) running statistic is compared.
 * The tensor shapes the op declares must also equal PyTorch's layouts.
 *
 * Tolerance. The reference is exact to float32 precision, so the error is
 * ours. A float32 sum of F terms is off by at most about F * 2^-24 times
 * the sum of the terms' magnitudes (Higham). The largest fan-in here is
 * F = 98 (a conv weight gradient summed over 2 x 7 x 7 positions; BN
 * reduces over 75 values), so F * 2^-24 = 6e-6; the terms are O(1) with
 * random signs, so their magnitudes add up to at most ~5x max|ref|, and
 * the rigorous bound is ~3e-5 of max|ref|. We allow, per tensor,
 *     max |ours - ref| <= 1e-4 * max(1, max |ref|)
 * which covers that bound on any BLAS and summation order. Real errors are
 * far smaller (torch's own float32 path and our ops both stay under 3e-7
 * on these cases: rerun the generator in float32, or set the VERBOSE
 * variable below), while the slips a reference test is meant to catch are
 * far larger: N instead of N-1 in the running variance moves running_var
 * by 3e-3, smoothing spread over k-1 classes moves the loss by 2e-3 (both
 * seen by mutating the ops), a wrong padding tap, a transposed weight or a
 * missing gradient term by O(1).
 *
 * Each op case runs twice: once with gradients zeroed, and once with the
 * gradient buffers pre-filled with 0.5, checking that backward adds (+=)
 * as nn.h promises rather than overwriting.
 *
 * SLIMNAS_FIXTURES=path picks another fixture file; SLIMNAS_FIXTURES_VERBOSE=1
 * prints the relative error of every compared tensor.
 */
#include "testutil.h"

#include "fixtures.h"
#include "slimnas/nn.h"

#define REL_TOL 1e-4
#define PREFILL 0.5f

/* Every case in the fixture; a test below checks the two lists agree, so a
 * case added to gen_fixtures.py cannot go unchecked. */
static const char *const CASES[] = {
    "conv_g1_k3s1p1",   "conv_g1_k3s2p1_nobias", "conv_g1_k1s1p0",
    "conv_g1_k5s1p0",   "conv_g2_k3s1p1",        "conv_dw_k3s1p1",
    "conv_dw_k3s2p1",   "conv_dw_mult2_k3s1p1",  "dense_12to5",
    "dense_nobias",     "bn_train",              "bn_eval",
    "maxpool_k2s2",     "maxpool_k3s2p1",        "avgpool_k2s2",
    "avgpool_k3s1p1",   "gap_a",                 "relu6_a",
    "relu_a",           "xent_plain",            "xent_smooth",
};
#define N_CASES ((int)(sizeof CASES / sizeof CASES[0]))

/* The tensor names an op may declare; the fixture must hold exactly the
 * ones the op declares. */
static const char *const TENSOR_NAMES[] = {"weight", "bias", "running_mean",
                                           "running_var"};

static fx_file FX;
static int FX_OK;
static sn_error FX_ERR;
static int VERBOSE;

static void need_fixture(void) {
    if (!FX_OK)
        fail_msg("cannot load the fixture: %s (regenerate with "
                 "/usr/bin/python3 tests/gen_fixtures.py)",
                 FX_ERR.msg);
}

static const fx_tensor *lookup(const char *cs, const char *key) {
    char name[256];
    snprintf(name, sizeof name, "%s/%s", cs, key);
    return fx_find(&FX, name);
}

static const fx_tensor *need(const char *cs, const char *key) {
    const fx_tensor *t = lookup(cs, key);
    if (!t) fail_msg("the fixture has no tensor %s/%s", cs, key);
    return t;
}

/* Compares got[i] - offset with ref over the whole tensor (offset is the
 * value a gradient buffer held before backward accumulated into it). */
static void check_close(const char *cs, const char *what, const float *got,
                        int64_t n, const fx_tensor *ref, float offset) {
    if (n != ref->size)
        fail_msg("%s/%s: %lld values, the reference has %lld", cs, what,
                 (long long)n, (long long)ref->size);
    double scale = 1.0, worst = 0.0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(ref->data[i]) > scale) scale = fabs(ref->data[i]);
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(((double)got[i] - offset) - ref->data[i]);
        if (!(d <= worst)) { /* also catches NaN */
            worst = d == d ? d : INFINITY;
            at = i;
        }
    }
    if (VERBOSE)
        fprintf(stderr, "  %-24s %-18s rel err %.2e\n", cs, what,
                worst / scale);
    if (!(worst <= REL_TOL * scale))
        fail_msg("%s/%s%s: max |diff| %.3g at [%lld]: got %.9g, PyTorch "
                 "%.9g (tolerance %.3g)",
                 cs, what, offset != 0 ? " (accumulating)" : "", worst,
                 (long long)at, (double)got[at] - offset,
                 (double)ref->data[at], REL_TOL * scale);
}

/* Per-sample shape of a fixture activation [N,C,H,W] or [N,F]. */
static sn_shape sample_shape(const char *cs, const fx_tensor *t) {
    if (t->ndim == 4) return (sn_shape){t->dims[1], t->dims[2], t->dims[3]};
    if (t->ndim == 2) return (sn_shape){t->dims[1], 1, 1};
    fail_msg("%s/%s: expected 2 or 4 dimensions, got %d", cs, t->name,
             t->ndim);
    return (sn_shape){0, 0, 0};
}

static float *copy_floats(const float *src, int64_t n) {
    float *p = sn_falloc((size_t)n);
    memcpy(p, src, (size_t)n * sizeof *p);
    return p;
}

static float *filled(int64_t n, float v) {
    float *p = sn_falloc((size_t)n);
    for (int64_t i = 0; i < n; i++) p[i] = v;
    return p;
}

/* Runs one op case through the op table; prefill is what the gradient
 * buffers hold before backward (0 for the plain check). */
static void run_op_case(const char *cs, float prefill) {
    char opname[32];
    size_t len = strcspn(cs, "_");
    SN_ASSERT(len < sizeof opname);
    memcpy(opname, cs, len);
    opname[len] = 0;
    int kind = sn_op_from_name(opname);
    if (kind < 0) fail_msg("%s: sn_op_from_name(\"%s\") = -1", cs, opname);
    const sn_op_desc *op = sn_op_get((sn_op_kind)kind);
    assert_non_null(op);

    const fx_tensor *at = need(cs, "attr");
    assert_int_equal(at->size, 10);
    const float *v = at->data;
    /* Zero in the fixture means "not set": keep the op's default. pad is
     * always meaningful; bias only for the two ops that have the flag. */
    sn_attr a = sn_attr_default((sn_op_kind)kind);
    if (v[0] != 0) a.out = (int)v[0];
    if (v[1] != 0) a.k = (int)v[1];
    if (v[2] != 0) a.stride = (int)v[2];
    a.pad = (int)v[3];
    if (v[4] != 0) a.groups = (int)v[4];
    if (kind == SN_OP_CONV || kind == SN_OP_DENSE) a.bias = (int)v[5];
    if (v[6] != 0) a.eps = v[6];
    if (v[7] != 0) a.momentum = v[7];
    int training = v[8] != 0;

    const fx_tensor *x = need(cs, "x"), *ro = need(cs, "out");
    const fx_tensor *r = need(cs, "dout");
    int n = x->dims[0];
    sn_shape in = sample_shape(cs, x), outs;
    sn_error e;
    if (op->infer(&a, &in, 1, &outs, &e) < 0)
        fail_msg("%s: infer refused the input: %s", cs, e.msg);
    sn_shape want = sample_shape(cs, ro);
    if (ro->dims[0] != n || outs.c != want.c || outs.h != want.h ||
        outs.w != want.w)
        fail_msg("%s: infer gives {%d,%d,%d}, PyTorch's output is "
                 "{%d,%d,%d}",
                 cs, outs.c, outs.h, outs.w, want.c, want.h, want.w);
    int64_t in_n = n * sn_shape_size(in), out_n = n * sn_shape_size(outs);

    /* The op's tensors, loaded by name; their declared shapes must be
     * PyTorch's, and the fixture may hold no tensor the op lacks. */
    sn_tensor_desc td[SN_MAX_TENSORS];
    int nt = op->tensors(&a, &in, 1, td);
    assert_in_range(nt, 0, SN_MAX_TENSORS);
    for (size_t k = 0; k < sizeof TENSOR_NAMES / sizeof *TENSOR_NAMES; k++) {
        int declared = 0;
        for (int j = 0; j < nt; j++)
            declared |= strcmp(td[j].name, TENSOR_NAMES[k]) == 0;
        if (!declared && lookup(cs, TENSOR_NAMES[k]))
            fail_msg("%s: PyTorch has a %s tensor, the op declares none", cs,
                     TENSOR_NAMES[k]);
    }
    float *tens[SN_MAX_TENSORS] = {0}, *grads[SN_MAX_TENSORS] = {0};
    for (int j = 0; j < nt; j++) {
        const fx_tensor *t = need(cs, td[j].name);
        int same = t->ndim == td[j].ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = t->dims[d] == td[j].dims[d];
        if (!same)
            fail_msg("%s: %s is declared with %d dims [%d,%d,%d,%d], "
                     "PyTorch's has %d dims [%d,%d,%d,%d]",
                     cs, td[j].name, td[j].ndim, td[j].dims[0],
                     td[j].dims[1], td[j].dims[2], td[j].dims[3], t->ndim,
                     t->dims[0], t->ndim > 1 ? t->dims[1] : 0,
                     t->ndim > 2 ? t->dims[2] : 0,
                     t->ndim > 3 ? t->dims[3] : 0);
        tens[j] = copy_floats(t->data, t->size);
        if (td[j].trainable) grads[j] = filled(t->size, prefill);
    }

    size_t cb = op->cache_bytes(&a, &in, 1, outs, n);
    void *cache = sn_falloc((cb + sizeof(float) - 1) / sizeof(float));
    float *work = sn_falloc(op->work_floats(&a, &in, 1, outs, n));
    float *xin = copy_floats(x->data, in_n);
    float *out = filled(out_n, NAN); /* forward must write every value */
    float *dx = filled(in_n, prefill);
    const float *ins[1] = {xin};
    float *dins[1] = {dx};
    sn_rng rng;
    sn_rng_seed(&rng, 1);
    sn_op_args args = {
        .attr = &a, .n = n, .n_in = 1, .in_shape = &in, .out_shape = outs,
        .in = ins, .out = out, .tensor = tens, .grad = grads, .din = dins,
        .dout = r->data, .cache = cache, .work = work, .training = training,
        .rng = &rng,
    };

    op->forward(&args);
    check_close(cs, "out", out, out_n, ro, 0);
    for (int j = 0; j < nt; j++) {
        if (td[j].trainable) continue;
        /* Buffers: updated in training when the reference says so,
         * otherwise they must come through forward untouched. */
        char key[64];
        snprintf(key, sizeof key, "%s_after", td[j].name);
        const fx_tensor *after = training ? lookup(cs, key) : NULL;
        if (training && !after)
            fail_msg("%s: the fixture has no %s", cs, key);
        check_close(cs, after ? key : td[j].name, tens[j],
                    sn_tensor_desc_size(&td[j]),
                    after ? after : need(cs, td[j].name), 0);
    }

    op->backward(&args);
    check_close(cs, "dx", dx, in_n, need(cs, "dx"), prefill);
    for (int j = 0; j < nt; j++) {
        if (!td[j].trainable) continue;
        char key[64];
        snprintf(key, sizeof key, "d%s", td[j].name);
        check_close(cs, key, grads[j], sn_tensor_desc_size(&td[j]),
                    need(cs, key), prefill);
    }

    for (int j = 0; j < nt; j++) {
        sn_free_aligned(tens[j]);
        sn_free_aligned(grads[j]);
    }
    sn_free_aligned(cache);
    sn_free_aligned(work);
    sn_free_aligned(xin);
    sn_free_aligned(out);
    sn_free_aligned(dx);
}

static void run_xent_case(const char *cs) {
    float s = need(cs, "attr")->data[9];
    const fx_tensor *lg = need(cs, "logits"), *lb = need(cs, "labels");
    const fx_tensor *rl = need(cs, "loss"), *rd = need(cs, "dlogits");
    assert_int_equal(lg->ndim, 2);
    int n = lg->dims[0], k = lg->dims[1];
    assert_int_equal(lb->size, n);
    int *labels = sn_xcalloc((size_t)n, sizeof *labels);
    int want_correct = 0;
    for (int i = 0; i < n; i++) {
        labels[i] = (int)lb->data[i];
        int best = 0; /* argmax, computed here independently */
        for (int j = 1; j < k; j++)
            if (lg->data[i * k + j] > lg->data[i * k + best]) best = j;
        want_correct += best == labels[i];
    }
    /* "Writes dlogits": stale values in the buffer must not survive. */
    float *dl = filled((int64_t)n * k, 7.0f);
    int correct = -1;
    double loss = sn_softmax_xent(lg->data, labels, n, k, s, dl, &correct);
    if (VERBOSE)
        fprintf(stderr, "  %-24s %-18s rel err %.2e\n", cs, "loss",
                fabs(loss - rl->data[0]) / fmax(1.0, fabs(rl->data[0])));
    assert_close(loss, rl->data[0], REL_TOL * fmax(1.0, fabs(rl->data[0])));
    check_close(cs, "dlogits", dl, (int64_t)n * k, rd, 0);
    assert_int_equal(correct, want_correct);
    /* Both outputs are optional and the loss must not depend on them. */
    double again = sn_softmax_xent(lg->data, labels, n, k, s, NULL, NULL);
    assert_close(again, loss, 1e-6 * fmax(1.0, fabs(loss)));
    sn_free_aligned(dl);
    free(labels);
}

static void test_case(void **state) {
    const char *cs = *state;
    need_fixture();
    if (strncmp(cs, "xent_", 5) == 0) {
        run_xent_case(cs);
        return;
    }
    run_op_case(cs, 0.0f);
    run_op_case(cs, PREFILL);
}

/* Every case in the file is one of CASES (and the reverse holds because
 * each case's test needs its tensors). */
static void test_fixture_cases_covered(void **state) {
    (void)state;
    need_fixture();
    assert_true(FX.count > 0);
    for (int i = 0; i < FX.count; i++) {
        const char *name = FX.t[i].name;
        size_t len = strcspn(name, "/");
        int known = 0;
        for (int c = 0; c < N_CASES && !known; c++)
            known = strlen(CASES[c]) == len &&
                    strncmp(CASES[c], name, len) == 0;
        if (!known)
            fail_msg("fixture tensor %s belongs to no case this test runs",
                     name);
    }
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Recomputes the trailing CRC, so a test reaches the check after it. */
static void reseal(unsigned char *b, size_t len) {
    put_u32(b + len - 4, sn_crc32(0, b, len - 4));
}

static void expect_refused(const unsigned char *b, size_t len,
                           const char *why) {
    fx_file f;
    sn_error e = {{0}};
    assert_int_equal(fx_parse(&f, b, len, "buf", &e), -1);
    assert_int_equal(f.count, 0);
    assert_null(f.t);
    if (!strstr(e.msg, why))
        fail_msg("error \"%s\" does not mention \"%s\"", e.msg, why);
}

/* The reader refuses damaged files, so a bad fixture cannot silently test
 * less than it claims. */
static void test_reader_refuses_damage(void **state) {
    (void)state;
    need_fixture();
    char *raw;
    size_t len;
    sn_error e;
    assert_int_equal(sn_read_file(fx_default_path(), &raw, &len, &e), 0);
    unsigned char *b = sn_xmalloc(len);

    fx_file f;
    memcpy(b, raw, len);
    assert_int_equal(fx_parse(&f, b, len, "buf", &e), 0);
    assert_int_equal(f.count, FX.count);
    fx_free(&f);

    b[len / 2] ^= 0x10; /* one flipped bit in the data */
    expect_refused(b, len, "CRC32");

    memcpy(b, raw, len);
    expect_refused(b, len - 7, "CRC32"); /* cut short */

    memcpy(b, raw, len);
    b[0] = 'X';
    reseal(b, len);
    expect_refused(b, len, "magic");

    memcpy(b, raw, len);
    put_u32(b + 4, 2);
    reseal(b, len);
    expect_refused(b, len, "version 2");

    /* A cut that is sealed again: the CRC passes, the records run out.
     * (Two records claimed, so the count still looks plausible for the
     * length; the second, "conv_g1_k3s1p1/x", is over 1 KB.) */
    memcpy(b, raw, len);
    put_u32(b + 8, 2);
    reseal(b, 204);
    expect_refused(b, 204, "runs past the end");

    /* One record fewer than the file holds: stray bytes at the end. */
    memcpy(b, raw, len);
    put_u32(b + 8, (uint32_t)FX.count - 1);
    reseal(b, len);
    expect_refused(b, len, "stray bytes");

    free(b);
    free(raw);
}

int main(void) {
    VERBOSE = getenv("SLIMNAS_FIXTURES_VERBOSE") != NULL;
    FX_OK = fx_load(&FX, fx_default_path(), &FX_ERR) == 0;
    /* Two workers, so ops that split the batch across threads are checked
     * on that path too. */
    sn_threads_init(2);
    struct CMUnitTest tests[N_CASES + 2];
    for (int i = 0; i < N_CASES; i++)
        tests[i] = (struct CMUnitTest){.name = CASES[i],
                                       .test_func = test_case,
                                       .initial_state = (void *)CASES[i]};
    tests[N_CASES] = (struct CMUnitTest){
        .name = "fixture_cases_covered",
        .test_func = test_fixture_cases_covered};
    tests[N_CASES + 1] = (struct CMUnitTest){
        .name = "reader_refuses_damage",
        .test_func = test_reader_refuses_damage};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sn_threads_shutdown();
    fx_free(&FX);
    return rc;
}
