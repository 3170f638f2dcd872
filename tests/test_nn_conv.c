/* test_nn_conv.c — conv2d and dense: the fast kernels against a naive
 * double-precision reference, central-difference gradient checks,
 * accumulation, shape errors, and parameter / MAC / FLOP counts.
 *
 * conv.c picks a kernel by shape, so the cases below are chosen to reach
 * every path:
 *   gemm, one sample per sgemm   Ho*Wo >= 392, or batch 1; bands of
 *                                rows when Ho*Wo > 784
 *   gemm, packed samples         Ho*Wo < 392 and more than one sample per
 *                                thread (the column matrix holds several)
 *   im2col/col2im                flat (stride 1, Wo == W) and by rows
 *   pointwise direct             K 1, stride 1, pad 0, one sample per
 *                                product; the weight gradient of up to
 *                                128 channels by sgemm over `pack`
 *                                samples side by side
 *   forward and input-gradient products by gemm_small.c up to its
 *   sn_gemm_small_fits (576 or 128), by sgemm beyond
 *   depthwise                    Cin/G == 1, multiplier 1, 2 and more,
 *                                strides 1, 2, 3, kernels 1, 3, 4, 5, 7;
 *                                input gradient by gather (stride 1,
 *                                P <= K-1) and by scatter
 * and each runs with one and with two worker threads (the per-thread
 * scratch slices and the partial-gradient reduction differ). */
#include "testutil.h"

#include "gradcheck.h"
#include "slimnas/nn.h"

#include "../src/nn/ops_internal.h"

/* ---- the naive reference (the oracle) -------------------------------- */

typedef struct ccase {
    int cin, h, w, cout, k, s, p, g, bias, n;
} ccase;

static sn_attr conv_attr(const ccase *c) {
    sn_attr a = sn_attr_default(SN_OP_CONV);
    a.out = c->cout;
    a.k = c->k;
    a.stride = c->s;
    a.pad = c->p;
    a.groups = c->g;
    a.bias = c->bias;
    return a;
}

/* out[n, co, oh, ow] = b[co] + sum over ci in co's group, kh, kw of
 * w[co, ci - group start, kh, kw] * x[n, ci, oh*S - P + kh, ow*S - P + kw],
 * straight from the definition, in double. mag gets the sum of the
 * magnitudes of the terms, for the rounding bound. */
static void ref_conv(const ccase *c, const float *x, const float *w,
                     const float *b, double *out, double *mag) {
    int ho = (c->h + 2 * c->p - c->k) / c->s + 1;
    int wo = (c->w + 2 * c->p - c->k) / c->s + 1;
    int cg = c->cin / c->g, og = c->cout / c->g;
    for (int n = 0; n < c->n; n++)
        for (int co = 0; co < c->cout; co++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++) {
                    double acc = c->bias ? b[co] : 0.0;
                    double m = c->bias ? fabs(b[co]) : 0.0;
                    int gr = co / og;
                    for (int j = 0; j < cg; j++) {
                        int ci = gr * cg + j;
                        for (int kh = 0; kh < c->k; kh++)
                            for (int kw = 0; kw < c->k; kw++) {
                                int iy = oh * c->s - c->p + kh;
                                int ix = ow * c->s - c->p + kw;
                                if (iy < 0 || iy >= c->h || ix < 0 ||
                                    ix >= c->w)
                                    continue;
                                double t =
                                    (double)w[((co * cg + j) * c->k + kh) *
                                                  c->k +
                                              kw] *
                                    x[((n * c->cin + ci) * c->h + iy) * c->w +
                                      ix];
                                acc += t;
                                m += fabs(t);
                            }
                    }
                    size_t o = ((size_t)(n * c->cout + co) * ho + oh) * wo + ow;
                    out[o] = acc;
                    mag[o] = m;
                }
}

/* The gradients of L = sum(out * dout), from the same definition:
 * dx[n, ci, iy, ix] += w * dout, dw[...] += x * dout, db[co] += dout, with
 * the magnitude sums alongside. */
static void ref_conv_backward(const ccase *c, const float *x, const float *w,
                              const float *dout, double *dx, double *dxm,
                              double *dw, double *dwm, double *db,
                              double *dbm) {
    int ho = (c->h + 2 * c->p - c->k) / c->s + 1;
    int wo = (c->w + 2 * c->p - c->k) / c->s + 1;
    int cg = c->cin / c->g, og = c->cout / c->g;
    for (int n = 0; n < c->n; n++)
        for (int co = 0; co < c->cout; co++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++) {
                    double d =
                        dout[((size_t)(n * c->cout + co) * ho + oh) * wo + ow];
                    db[co] += d;
                    dbm[co] += fabs(d);
                    int gr = co / og;
                    for (int j = 0; j < cg; j++) {
                        int ci = gr * cg + j;
                        for (int kh = 0; kh < c->k; kh++)
                            for (int kw = 0; kw < c->k; kw++) {
                                int iy = oh * c->s - c->p + kh;
                                int ix = ow * c->s - c->p + kw;
                                if (iy < 0 || iy >= c->h || ix < 0 ||
                                    ix >= c->w)
                                    continue;
                                size_t wi =
                                    ((size_t)(co * cg + j) * c->k + kh) *
                                        c->k + kw;
                                size_t xi =
                                    ((size_t)(n * c->cin + ci) * c->h + iy) *
                                        c->w + ix;
                                dx[xi] += w[wi] * d;
                                dxm[xi] += fabs(w[wi] * d);
                                dw[wi] += x[xi] * d;
                                dwm[wi] += fabs(x[xi] * d);
                            }
                    }
                }
}

/* Worst-case float32 error of a sum of F terms with magnitude sum m,
 * computed in any order with or without FMA: F * 2^-24 * m (Higham's
 * bound for recursive and blocked summation alike). We allow (F + 2)
 * times that. A wrong tap, weight or channel moves a result by a whole
 * O(1) term, far above it. */
static double sum_tol(double f, double m) {
    return (f + 2) * f * 0x1p-24 * m + 1e-30;
}

/* ---- the cases ------------------------------------------------------- */

/*  cin  h  w cout k s p  g bias n */
static const ccase CASES[] = {
    /* gemm, groups 1 */
    {3, 21, 21, 8, 3, 1, 1, 1, 1, 3},   /* HW 441: one sample per sgemm */
    {3, 21, 21, 8, 3, 1, 1, 1, 1, 1},
    {2, 29, 29, 3, 3, 1, 1, 1, 1, 2},   /* HW 841 > 784: two row bands */
    {2, 31, 31, 3, 3, 1, 0, 1, 0, 1},   /* bands, by-rows im2col */
    {3, 29, 29, 4, 1, 1, 0, 1, 1, 1},   /* bands, pointwise direct */
    {4, 30, 30, 4, 3, 1, 1, 2, 1, 1},   /* bands of 15 rows, groups 2 */
    {4, 7, 9, 5, 3, 1, 1, 1, 1, 3},     /* packed, non-square */
    {4, 7, 9, 5, 3, 2, 1, 1, 0, 3},     /* stride 2, no bias */
    {5, 8, 8, 6, 5, 1, 2, 1, 1, 3},     /* k5 pad 2 */
    {5, 9, 7, 4, 5, 2, 0, 1, 1, 1},     /* k5 stride 2 pad 0 */
    {2, 6, 6, 3, 3, 3, 2, 1, 1, 3},     /* stride 3, pad > k/2 */
    {6, 5, 5, 7, 1, 1, 0, 1, 1, 3},     /* pointwise, packed */
    {6, 5, 5, 7, 1, 1, 0, 1, 0, 1},     /* pointwise direct */
    {6, 20, 20, 7, 1, 1, 0, 1, 1, 3},   /* pointwise direct, HW 400 */
    {100, 12, 12, 100, 1, 1, 0, 1, 1, 3}, /* pointwise: weight gradient
                                             packed 2 samples per sgemm,
                                             the last pack part full (few
                                             terms: a sample lost shows) */
    {130, 4, 4, 9, 1, 1, 0, 1, 0, 2},   /* pointwise too wide to pack
                                           its weight gradient */
    {70, 5, 5, 9, 3, 1, 1, 1, 1, 2},    /* K 630: wider than
                                           gemm_small's, OpenBLAS */
    {6, 9, 9, 4, 1, 2, 0, 1, 1, 3},     /* 1x1 stride 2 (im2col) */
    {3, 6, 6, 4, 1, 1, 1, 1, 1, 2},     /* 1x1 with padding */
    /* gemm, groups 2 and 3 */
    {4, 7, 7, 6, 3, 1, 1, 2, 1, 3},
    {4, 7, 7, 6, 3, 2, 1, 2, 0, 3},
    {6, 6, 5, 9, 1, 1, 0, 3, 1, 3},     /* grouped pointwise */
    {6, 16, 16, 6, 1, 1, 0, 3, 1, 2},   /* grouped pointwise direct */
    {8, 6, 6, 4, 5, 1, 2, 2, 1, 2},
    /* depthwise, multiplier 1 */
    {5, 8, 8, 5, 3, 1, 1, 5, 1, 3},
    {5, 9, 7, 5, 3, 2, 1, 5, 1, 3},     /* stride 2, odd sizes */
    {4, 10, 10, 4, 5, 1, 2, 4, 0, 2},
    {4, 11, 9, 4, 5, 2, 2, 4, 1, 3},
    {3, 8, 8, 3, 1, 1, 0, 3, 1, 2},     /* depthwise 1x1 */
    {3, 10, 11, 3, 4, 3, 1, 3, 1, 2},   /* even k, stride 3 */
    {2, 5, 5, 2, 3, 1, 0, 2, 1, 1},     /* no padding */
    /* depthwise, multiplier 2 and 3; one input channel (gemm path) */
    {3, 7, 7, 6, 3, 1, 1, 3, 1, 3},
    {3, 8, 9, 6, 3, 2, 1, 3, 0, 2},
    {1, 9, 9, 4, 3, 1, 1, 1, 1, 3},     /* grayscale first layer: gemm */
    {2, 6, 6, 6, 5, 2, 2, 2, 1, 2},
    /* depthwise input-gradient paths: stride 1 gathers (P <= K-1), the
     * rest scatter; 7x7 runs the generic tap count; 20x20 spans several
     * 16-float vector blocks */
    {3, 5, 5, 3, 3, 1, 3, 3, 1, 2},     /* P > K-1: scatter at stride 1 */
    {3, 4, 4, 3, 1, 1, 1, 3, 1, 2},     /* 1x1 padded */
    {2, 9, 9, 2, 7, 1, 3, 2, 1, 2},
    {2, 20, 20, 2, 3, 1, 1, 2, 1, 1},
    {2, 19, 21, 4, 3, 2, 1, 2, 1, 1},
    /* the packing's rows: stride 2 splits each into even and odd columns
     * (13 -> 7 + 6, odd; 28 unpadded -> 14 + 14), and a short row of 6
     * at stride 1 */
    {2, 6, 13, 2, 3, 2, 1, 2, 1, 1},
    {2, 5, 28, 2, 3, 2, 0, 2, 1, 2},
    {2, 6, 6, 2, 3, 1, 1, 2, 1, 2},
};
#define N_CASES ((int)(sizeof CASES / sizeof CASES[0]))

static void case_name(const ccase *c, char *buf, size_t n) {
    snprintf(buf, n, "cin %d %dx%d cout %d k%d s%d p%d g%d bias %d n %d",
             c->cin, c->h, c->w, c->cout, c->k, c->s, c->p, c->g, c->bias,
             c->n);
}

/* ---- forward and backward against the reference ----------------------- */

/* Runs every case's forward and backward through the op table with
 * `threads` workers and compares output and all gradients with the
 * reference, within sum_tol of the number of terms each result sums
 * (forward: Cin/G*K*K + bias; input gradient: Cout/G*K*K; weight and bias
 * gradients: N*Ho*Wo plus one partial sum per thread). */
static void check_against_ref(int threads) {
    sn_threads_init(threads);
    for (int ci = 0; ci < N_CASES; ci++) {
        const ccase *c = &CASES[ci];
        char name[128];
        case_name(c, name, sizeof name);
        sn_attr a = conv_attr(c);
        sn_shape in = {c->cin, c->h, c->w};
        gc_fix f;
        sn_error e;
        if (gc_fix_init(&f, SN_OP_CONV, &a, 1, &in, c->n, 100 + ci, &e))
            fail_msg("%s: %s", name, e.msg);
        tu_fill_normal(f.x[0], (size_t)f.in_size[0], 7 + ci, 1.0f);
        if (c->bias) tu_fill_normal(f.t[1], (size_t)c->cout, 9 + ci, 0.5f);
        gc_fix_forward(&f);

        size_t no = (size_t)f.out_size, ni = (size_t)f.in_size[0];
        size_t nw = (size_t)f.t_size[0], nb = (size_t)c->cout;
        double *ref = calloc(no, sizeof *ref), *mag = calloc(no, sizeof *mag);
        ref_conv(c, f.x[0], f.t[0], c->bias ? f.t[1] : NULL, ref, mag);
        double terms = (double)(c->cin / c->g) * c->k * c->k + 1;
        for (size_t i = 0; i < no; i++)
            if (!(fabs(f.out[i] - ref[i]) <= sum_tol(terms, mag[i])))
                fail_msg("%s, %d threads: out[%zu] = %.9g, reference %.9g",
                         name, threads, i, f.out[i], ref[i]);

        tu_fill_normal(f.dout, no, 31 + ci, 1.0f);
        memset(f.dx[0], 0, sizeof(float) * ni);
        for (int j = 0; j < f.nt; j++)
            memset(f.g[j], 0, sizeof(float) * (size_t)f.t_size[j]);
        gc_fix_backward(&f, 0);
        double *dx = calloc(ni, sizeof *dx), *dxm = calloc(ni, sizeof *dxm);
        double *dw = calloc(nw, sizeof *dw), *dwm = calloc(nw, sizeof *dwm);
        double *db = calloc(nb, sizeof *db), *dbm = calloc(nb, sizeof *dbm);
        ref_conv_backward(c, f.x[0], f.t[0], f.dout, dx, dxm, dw, dwm, db,
                          dbm);
        int ho = f.out_shape.h, wo = f.out_shape.w;
        double fx = (double)(c->cout / c->g) * c->k * c->k + 1;
        double fw = (double)c->n * ho * wo + threads + 1;
        for (size_t i = 0; i < ni; i++)
            if (!(fabs(f.dx[0][i] - dx[i]) <= sum_tol(fx, dxm[i])))
                fail_msg("%s, %d threads: din[%zu] = %.9g, reference %.9g",
                         name, threads, i, f.dx[0][i], dx[i]);
        for (size_t i = 0; i < nw; i++)
            if (!(fabs(f.g[0][i] - dw[i]) <= sum_tol(fw, dwm[i])))
                fail_msg("%s, %d threads: dweight[%zu] = %.9g, reference "
                         "%.9g", name, threads, i, f.g[0][i], dw[i]);
        for (size_t i = 0; c->bias && i < nb; i++)
            if (!(fabs(f.g[1][i] - db[i]) <= sum_tol(fw, dbm[i])))
                fail_msg("%s, %d threads: dbias[%zu] = %.9g, reference %.9g",
                         name, threads, i, f.g[1][i], db[i]);
        free(ref);
        free(mag);
        free(dx);
        free(dxm);
        free(dw);
        free(dwm);
        free(db);
        free(dbm);
        gc_fix_free(&f);
    }
    sn_threads_init(1);
}

static void test_reference_1thread(void **state) { check_against_ref(1); }
static void test_reference_2threads(void **state) { check_against_ref(2); }

/* A 3x3 input, one 3x3 filter of ones, pad 1: each output is the sum of
 * the input pixels in its window, easy to check by hand. */
static void test_forward_by_hand(void **state) {
    ccase c = {1, 3, 3, 1, 3, 1, 1, 1, 1, 1};
    sn_attr a = conv_attr(&c);
    sn_shape in = {1, 3, 3};
    gc_fix f;
    sn_error e;
    assert_int_equal(gc_fix_init(&f, SN_OP_CONV, &a, 1, &in, 1, 1, &e), 0);
    for (int i = 0; i < 9; i++) {
        f.x[0][i] = (float)(i + 1); /* 1 2 3 / 4 5 6 / 7 8 9 */
        f.t[0][i] = 1.0f;
    }
    f.t[1][0] = 0.5f;
    gc_fix_forward(&f);
    const float want[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
    for (int i = 0; i < 9; i++) assert_close(f.out[i], want[i] + 0.5, 1e-5);
    gc_fix_free(&f);
}

/* ---- gradient checks -------------------------------------------------- */

/* The gradient check is independent of the reference above (it only
 * needs forward), so a mistake shared by ref_conv and ref_conv_backward
 * cannot hide. It runs with one thread: it makes thousands of tiny forward
 * calls, and the two-thread kernels are already held to the reference.
 *
 * Conv is linear in its input and (separately) in its parameters, so the
 * central difference has no truncation error at any step: only float32
 * rounding remains, which shrinks as the step grows. A step of 0.25 (exact
 * in binary) lets the harness's rounding allowance stay tight; its
 * rtol 1e-3 is then ~100x the rounding noise and far below any real error
 * (a missing tap or a wrong channel is O(1) of the gradient). */
static void test_gradcheck(void **state) {
    sn_threads_init(1);
    for (int ci = 0; ci < N_CASES; ci++) {
        const ccase *c = &CASES[ci];
        if ((int64_t)c->n * c->cin * c->h * c->w > 900) continue; /* speed */
        sn_attr a = conv_attr(c);
        sn_shape in = {c->cin, c->h, c->w};
        gc_spec s = gc_spec_make(SN_OP_CONV, &a, 1, &in, c->n, 500 + ci);
        s.h = 0.25;
        gc_result r = gc_run(&s);
        char name[128];
        case_name(c, name, sizeof name);
        if (!r.ok || r.checked == 0) fail_msg("%s: %s", name, r.msg);
    }
}

/* The harness itself must catch a broken backward: drop the last weight
 * gradient element of an otherwise correct result. */
static void broken_backward(const sn_op_args *x) {
    float keep = x->grad[0][0];
    conv_backward(x);
    x->grad[0][0] = keep; /* as if tap 0 of filter 0 was forgotten */
}

static void test_gradcheck_catches_bug(void **state) {
    ccase c = {4, 6, 6, 4, 3, 1, 1, 2, 1, 2};
    sn_attr a = conv_attr(&c);
    sn_shape in = {4, 6, 6};
    gc_spec s = gc_spec_make(SN_OP_CONV, &a, 1, &in, 2, 3);
    s.h = 0.25;
    s.backward = broken_backward;
    gc_result r = gc_run(&s);
    assert_false(r.ok);
}

/* Dense is linear too; same reasoning for the step. One thread, as for
 * conv; test_dense_reference covers two. */
static void test_gradcheck_dense(void **state) {
    const int cfg[][4] = {/* in out bias n */
                          {12, 5, 1, 3},
                          {7, 4, 0, 2},
                          {20, 1, 1, 5},
                          {1, 3, 1, 1}};
    sn_threads_init(1);
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        sn_attr a = sn_attr_default(SN_OP_DENSE);
        a.out = cfg[i][1];
        a.bias = cfg[i][2];
        sn_shape in = {cfg[i][0], 1, 1};
        gc_spec s =
            gc_spec_make(SN_OP_DENSE, &a, 1, &in, cfg[i][3], 40 + i);
        s.h = 0.25;
        gc_assert(&s);
    }
}

/* Dense forward and backward against the definition, in double, with the
 * sum_tol bound: y = b + W x sums In + 1 terms, dx sums Out, dW and db
 * sum N. Gradients are accumulated onto a pre-fill of 1 (so F + 1). */
static void test_dense_reference(void **state) {
    const int in_n = 37, out_n = 11, n = 6;
    sn_attr a = sn_attr_default(SN_OP_DENSE);
    a.out = out_n;
    a.bias = 1;
    sn_shape in = {in_n, 1, 1};
    for (int t = 1; t <= 2; t++) {
        sn_threads_init(t);
        gc_fix f;
        sn_error e;
        assert_int_equal(gc_fix_init(&f, SN_OP_DENSE, &a, 1, &in, n, 5, &e),
                         0);
        tu_fill_normal(f.x[0], (size_t)f.in_size[0], 6, 1.0f);
        tu_fill_normal(f.t[1], out_n, 8, 1.0f);
        tu_fill_normal(f.dout, (size_t)n * out_n, 9, 1.0f);
        gc_fix_forward(&f);
        for (int64_t i = 0; i < f.in_size[0]; i++) f.dx[0][i] = 1.0f;
        for (int j = 0; j < 2; j++)
            for (int64_t i = 0; i < f.t_size[j]; i++) f.g[j][i] = 1.0f;
        gc_fix_backward(&f, 0);
        const float *x = f.x[0], *w = f.t[0], *dy = f.dout;
        for (int b = 0; b < n; b++)
            for (int o = 0; o < out_n; o++) {
                double acc = f.t[1][o], mag = fabs(f.t[1][o]);
                for (int i = 0; i < in_n; i++) {
                    double term = (double)w[o * in_n + i] * x[b * in_n + i];
                    acc += term;
                    mag += fabs(term);
                }
                assert_close(f.out[b * out_n + o], acc,
                             sum_tol(in_n + 1, mag));
            }
        for (int b = 0; b < n; b++)
            for (int i = 0; i < in_n; i++) {
                double acc = 1, mag = 1;
                for (int o = 0; o < out_n; o++) {
                    double term = (double)w[o * in_n + i] * dy[b * out_n + o];
                    acc += term;
                    mag += fabs(term);
                }
                assert_close(f.dx[0][b * in_n + i], acc,
                             sum_tol(out_n + 1, mag));
            }
        for (int o = 0; o < out_n; o++) {
            double accb = 1, magb = 1;
            for (int b = 0; b < n; b++) {
                accb += dy[b * out_n + o];
                magb += fabs(dy[b * out_n + o]);
            }
            assert_close(f.g[1][o], accb, sum_tol(n + 1, magb));
            for (int i = 0; i < in_n; i++) {
                double acc = 1, mag = 1;
                for (int b = 0; b < n; b++) {
                    double term = (double)x[b * in_n + i] * dy[b * out_n + o];
                    acc += term;
                    mag += fabs(term);
                }
                assert_close(f.g[0][o * in_n + i], acc, sum_tol(n + 1, mag));
            }
        }
        gc_fix_free(&f);
    }
    sn_threads_init(1);
}

/* ---- accumulation, NULL din, determinism ------------------------------ */

static void zero_grads(gc_fix *f) {
    memset(f->dx[0], 0, sizeof(float) * (size_t)f->in_size[0]);
    for (int j = 0; j < f->nt; j++)
        if (f->g[j]) memset(f->g[j], 0, sizeof(float) * (size_t)f->t_size[j]);
}

/* Small integers: every product and partial sum below stays an integer
 * under 2^24, so float32 arithmetic is exact in any order and results can
 * be compared with ==. */
static void fill_ints(float *x, int64_t n, uint64_t seed) {
    sn_rng r;
    sn_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(sn_rng_int(&r, 5) - 2);
}

/* Backward twice from zero must give exactly twice one backward, for
 * input and parameter gradients; with din NULL the input gradient is left
 * alone and the parameter gradients are the same as with it. */
static void accumulate_case(const ccase *c, int threads) {
    sn_threads_init(threads);
    sn_attr a = conv_attr(c);
    sn_shape in = {c->cin, c->h, c->w};
    gc_fix f;
    sn_error e;
    assert_int_equal(gc_fix_init(&f, SN_OP_CONV, &a, 1, &in, c->n, 11, &e),
                     0);
    fill_ints(f.x[0], f.in_size[0], 12);
    for (int j = 0; j < f.nt; j++) fill_ints(f.t[j], f.t_size[j], 14 + j);
    gc_fix_forward(&f);
    fill_ints(f.dout, f.out_size, 13);

    zero_grads(&f);
    gc_fix_backward(&f, 0);
    float *dx1 = sn_falloc((size_t)f.in_size[0]);
    memcpy(dx1, f.dx[0], sizeof(float) * (size_t)f.in_size[0]);
    float *g1[SN_MAX_TENSORS] = {0};
    for (int j = 0; j < f.nt; j++) {
        g1[j] = sn_falloc((size_t)f.t_size[j]);
        memcpy(g1[j], f.g[j], sizeof(float) * (size_t)f.t_size[j]);
    }
    gc_fix_backward(&f, 0);
    for (int64_t i = 0; i < f.in_size[0]; i++)
        assert_true(f.dx[0][i] == 2 * dx1[i]);
    for (int j = 0; j < f.nt; j++)
        for (int64_t i = 0; i < f.t_size[j]; i++)
            assert_true(f.g[j][i] == 2 * g1[j][i]);

    /* din NULL: input gradient untouched, parameter gradients equal */
    zero_grads(&f);
    for (int64_t i = 0; i < f.in_size[0]; i++) f.dx[0][i] = 3.0f;
    gc_fix_backward(&f, 1);
    for (int64_t i = 0; i < f.in_size[0]; i++)
        assert_true(f.dx[0][i] == 3.0f);
    for (int j = 0; j < f.nt; j++)
        for (int64_t i = 0; i < f.t_size[j]; i++)
            assert_true(f.g[j][i] == g1[j][i]);

    sn_free_aligned(dx1);
    for (int j = 0; j < f.nt; j++) sn_free_aligned(g1[j]);
    gc_fix_free(&f);
    sn_threads_init(1);
}

static void test_accumulates(void **state) {
    static const ccase cs[] = {
        {4, 7, 9, 5, 3, 1, 1, 1, 1, 5},   /* gemm packed */
        {3, 17, 17, 8, 3, 2, 1, 1, 1, 3}, /* gemm */
        {6, 20, 20, 7, 1, 1, 0, 1, 1, 3}, /* pointwise direct */
        {3, 8, 9, 6, 3, 2, 1, 3, 1, 2},   /* depthwise x2 */
    };
    for (int t = 1; t <= 2; t++)
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
            accumulate_case(&cs[i], t);
}

/* The fused conv + 2x2 max pool forward gives bit for bit the conv
 * output, pooled output and argmax codes of the two forwards in turn, and
 * the fused backward the conv's input and parameter gradients of the two
 * backwards in turn:
 * packed samples, one sample per sgemm, bands of rows, odd output sizes,
 * stride 2, pointwise, groups; 1 and 2 threads; inputs with many ties
 * (small integers); at 2 threads with a fused relu of the pool (its
 * output as the relu's own forward gives it, the gradients as relu,
 * pool and conv backward in turn give them). Shapes whose bands split a
 * pool window are refused. */
static void fused_pool_case(const ccase *c, int threads) {
    sn_threads_init(threads);
    sn_attr a = conv_attr(c);
    sn_attr pa = sn_attr_default(SN_OP_MAXPOOL);
    sn_shape in = {c->cin, c->h, c->w};
    assert_true(sn_conv_maxpool_fusable(&a, in, &pa));
    gc_fix f, p[2];
    sn_error e;
    assert_int_equal(gc_fix_init(&f, SN_OP_CONV, &a, 1, &in, c->n, 31, &e),
                     0);
    fill_ints(f.x[0], f.in_size[0], 32);
    for (int j = 0; j < f.nt; j++) fill_ints(f.t[j], f.t_size[j], 33 + j);
    gc_fix_forward(&f);
    float *want = sn_falloc((size_t)f.out_size);
    memcpy(want, f.out, sizeof(float) * (size_t)f.out_size);
    for (int k = 0; k < 2; k++)
        assert_int_equal(gc_fix_init(&p[k], SN_OP_MAXPOOL, &pa, 1,
                                     &f.out_shape, c->n, 34, &e),
                         0);
    /* unfused: the pool reads the conv's output */
    memcpy(p[0].x[0], f.out, sizeof(float) * (size_t)f.out_size);
    gc_fix_forward(&p[0]);
    /* fused: NaN everywhere first, so anything left unwritten shows */
    memset(f.out, 0xff, sizeof(float) * (size_t)f.out_size);
    memset(p[1].out, 0xff, sizeof(float) * (size_t)p[1].out_size);
    const float *cin_p[1] = {f.x[0]}, *pin_p[1] = {f.out};
    sn_op_args cx = {.attr = &f.attr, .n = f.n, .n_in = 1,
                     .in_shape = f.in_shape, .out_shape = f.out_shape,
                     .in = cin_p, .out = f.out, .tensor = f.t,
                     .work = f.work};
    sn_op_args px = {.attr = &p[1].attr, .n = p[1].n, .n_in = 1,
                     .in_shape = p[1].in_shape, .out_shape = p[1].out_shape,
                     .in = pin_p, .out = p[1].out, .cache = p[1].cache};
    /* and a relu of the pool in the same pass, against its own forward */
    sn_attr ra = sn_attr_default(SN_OP_RELU);
    gc_fix rl;
    assert_int_equal(gc_fix_init(&rl, SN_OP_RELU, &ra, 1, &p[0].out_shape,
                                 c->n, 36, &e),
                     0);
    memcpy(rl.x[0], p[0].out, sizeof(float) * (size_t)p[0].out_size);
    gc_fix_forward(&rl);
    float *ry = sn_falloc((size_t)rl.out_size);
    memset(ry, 0xff, sizeof(float) * (size_t)rl.out_size);
    const float *rin_p[1] = {p[1].out};
    sn_op_args rx = {.attr = &rl.attr, .n = rl.n, .n_in = 1,
                     .in_shape = rl.in_shape, .out_shape = rl.out_shape,
                     .in = rin_p, .out = ry};
    sn_conv_maxpool_forward(&cx, &px, threads == 2 ? &rx : NULL);
    assert_memory_equal(want, f.out, sizeof(float) * (size_t)f.out_size);
    assert_memory_equal(p[0].out, p[1].out,
                        sizeof(float) * (size_t)p[0].out_size);
    assert_memory_equal(p[0].cache, p[1].cache, p[0].cache_bytes);
    if (threads == 2)
        assert_memory_equal(rl.out, ry, sizeof(float) * (size_t)rl.out_size);

    /* backward: (at 2 threads relu backward into a zeroed pool dout, then)
     * pool backward into a zeroed conv dout, then conv backward, against
     * the fused backward, which must not read the conv's dout (nor, with
     * the relu, the pool's) */
    if (threads == 2) {
        fill_ints(rl.dout, rl.out_size, 37);
        memset(rl.dx[0], 0, sizeof(float) * (size_t)rl.in_size[0]);
        gc_fix_backward(&rl, 0);
        memcpy(p[0].dout, rl.dx[0], sizeof(float) * (size_t)p[0].out_size);
        memset(p[1].dout, 0xff, sizeof(float) * (size_t)p[1].out_size);
        rx.dout = rl.dout;
    } else {
        fill_ints(p[0].dout, p[0].out_size, 35);
        memcpy(p[1].dout, p[0].dout, sizeof(float) * (size_t)p[0].out_size);
    }
    memset(p[0].dx[0], 0, sizeof(float) * (size_t)p[0].in_size[0]);
    gc_fix_backward(&p[0], 0);
    memcpy(f.dout, p[0].dx[0], sizeof(float) * (size_t)f.out_size);
    zero_grads(&f);
    gc_fix_backward(&f, 0);
    float *dx = sn_falloc((size_t)f.in_size[0]);
    memcpy(dx, f.dx[0], sizeof(float) * (size_t)f.in_size[0]);
    float *g0[SN_MAX_TENSORS] = {0};
    for (int j = 0; j < f.nt; j++) {
        g0[j] = sn_falloc((size_t)f.t_size[j]);
        memcpy(g0[j], f.g[j], sizeof(float) * (size_t)f.t_size[j]);
    }
    zero_grads(&f);
    memset(f.dout, 0xff, sizeof(float) * (size_t)f.out_size);
    float *din_p[1] = {f.dx[0]};
    cx.grad = f.g;
    cx.din = din_p;
    cx.dout = f.dout;
    px.dout = p[1].dout;
    sn_conv_maxpool_backward(&cx, &px, threads == 2 ? &rx : NULL);
    assert_memory_equal(dx, f.dx[0], sizeof(float) * (size_t)f.in_size[0]);
    for (int j = 0; j < f.nt; j++) {
        assert_memory_equal(g0[j], f.g[j], sizeof(float) * (size_t)f.t_size[j]);
        sn_free_aligned(g0[j]);
    }
    sn_free_aligned(ry);
    gc_fix_free(&rl);
    sn_free_aligned(dx);
    sn_free_aligned(want);
    gc_fix_free(&p[0]);
    gc_fix_free(&p[1]);
    gc_fix_free(&f);
    sn_threads_init(1);
}

static void test_fused_maxpool(void **state) {
    static const ccase cs[] = {
        {4, 14, 14, 8, 3, 1, 1, 1, 1, 5}, /* packed, 2 samples per sgemm */
        {3, 7, 9, 5, 3, 1, 1, 1, 0, 5},   /* packed, odd Ho: row dropped */
        {8, 21, 21, 4, 3, 1, 1, 1, 1, 3}, /* one sample per sgemm, odd */
        {2, 32, 32, 6, 3, 1, 1, 1, 1, 3}, /* two bands of 16 rows */
        {1, 28, 28, 8, 3, 1, 1, 1, 1, 2}, /* grayscale first layer */
        {3, 17, 17, 8, 3, 2, 1, 1, 1, 3}, /* stride 2 */
        {6, 20, 20, 7, 1, 1, 0, 1, 1, 3}, /* pointwise direct */
        {4, 10, 10, 6, 3, 1, 1, 2, 1, 3}, /* groups 2 */
    };
    for (int t = 1; t <= 2; t++)
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
            fused_pool_case(&cs[i], t);
    /* 29 rows in two bands of 15: a window would straddle them */
    ccase odd = {2, 29, 29, 3, 3, 1, 1, 1, 1, 2};
    sn_attr a = conv_attr(&odd), pa = sn_attr_default(SN_OP_MAXPOOL);
    sn_shape in = {odd.cin, odd.h, odd.w};
    assert_false(sn_conv_maxpool_fusable(&a, in, &pa));
    pa.k = 3; /* not a 2x2 pool */
    in.h = in.w = 14;
    assert_false(sn_conv_maxpool_fusable(&a, in, &pa));
    /* depthwise: not on the sgemm path */
    ccase dw = {4, 14, 14, 4, 3, 1, 1, 4, 1, 2};
    a = conv_attr(&dw);
    in.c = dw.cin;
    pa = sn_attr_default(SN_OP_MAXPOOL);
    assert_false(sn_conv_maxpool_fusable(&a, in, &pa));
}

/* The same thread count gives bit-identical results run after run; one
 * and two threads agree to rounding (bound as in the forward test, on
 * gradients that sum over the batch and the image: F = N*Ho*Wo terms). */
static void test_threads_deterministic(void **state) {
    static const ccase cs[] = {
        {4, 7, 9, 5, 3, 1, 1, 1, 1, 6},
        {5, 9, 7, 5, 3, 2, 1, 5, 1, 5},
    };
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        const ccase *c = &cs[ci];
        sn_attr a = conv_attr(c);
        sn_shape in = {c->cin, c->h, c->w};
        float *first[2] = {0};
        int64_t nw = 0;
        for (int t = 1; t <= 2; t++) {
            sn_threads_init(t);
            gc_fix f;
            sn_error e;
            assert_int_equal(
                gc_fix_init(&f, SN_OP_CONV, &a, 1, &in, c->n, 21, &e), 0);
            tu_fill_normal(f.x[0], (size_t)f.in_size[0], 22, 1.0f);
            tu_fill_normal(f.dout, (size_t)f.out_size, 23, 1.0f);
            nw = f.t_size[0];
            float *runs[2];
            for (int rep = 0; rep < 2; rep++) {
                gc_fix_forward(&f);
                zero_grads(&f);
                gc_fix_backward(&f, 0);
                runs[rep] = sn_falloc((size_t)nw);
                memcpy(runs[rep], f.g[0], sizeof(float) * (size_t)nw);
            }
            assert_memory_equal(runs[0], runs[1], sizeof(float) * (size_t)nw);
            first[t - 1] = runs[0];
            sn_free_aligned(runs[1]);
            gc_fix_free(&f);
        }
        /* a weight gradient sums F = N*Ho*Wo <= N*H*W products of two
         * N(0,1) values (mean magnitude 2/pi), so sum|terms| < 4F with
         * overwhelming probability and the error is below F * 2^-24 * 4F */
        double terms = (double)c->n * (c->h * c->w);
        for (int64_t i = 0; i < nw; i++)
            assert_close(first[0][i], first[1][i],
                         4 * terms * terms * 0x1p-24);
        sn_free_aligned(first[0]);
        sn_free_aligned(first[1]);
    }
    sn_threads_init(1);
}

/* ---- shape errors ----------------------------------------------------- */

static void expect_conv_error(sn_shape in, int out, int k, int s, int p,
                              int g, const char *want) {
    sn_attr a = sn_attr_default(SN_OP_CONV);
    a.out = out;
    a.k = k;
    a.stride = s;
    a.pad = p;
    a.groups = g;
    sn_shape o;
    sn_error e = {{0}};
    assert_int_equal(sn_op_get(SN_OP_CONV)->infer(&a, &in, 1, &o, &e), -1);
    assert_string_equal(e.msg, want);
}

static void test_shape_errors(void **state) {
    expect_conv_error((sn_shape){64, 8, 8}, 64, 3, 1, 1, 3,
                      "groups 3 does not divide input channels 64");
    expect_conv_error((sn_shape){6, 8, 8}, 64, 3, 1, 1, 3,
                      "groups 3 does not divide output channels 64");
    expect_conv_error((sn_shape){4, 3, 3}, 8, 5, 1, 0, 1,
                      "kernel 5 larger than padded input 3x3");
    expect_conv_error((sn_shape){4, 3, 6}, 8, 7, 1, 1, 1,
                      "kernel 7 larger than padded input 5x8");
    expect_conv_error((sn_shape){4, 8, 8}, 8, 3, 1, 1, 5,
                      "groups 5 out of range 1..4 (input channels)");
    expect_conv_error((sn_shape){4, 8, 8}, 8, 3, 1, 1, 0,
                      "groups 0 out of range 1..4 (input channels)");
    expect_conv_error((sn_shape){4, 8, 8}, 0, 3, 1, 1, 1,
                      "conv needs at least 1 filter, got 0");
    expect_conv_error((sn_shape){4, 8, 8}, 8, 0, 1, 0, 1,
                      "conv kernel size must be at least 1, got 0");
    expect_conv_error((sn_shape){4, 8, 8}, 8, 3, 0, 1, 1,
                      "conv stride must be at least 1, got 0");
    expect_conv_error((sn_shape){4, 8, 8}, 8, 3, 1, -1, 1,
                      "conv padding must not be negative, got -1");

    /* and the output shape when it is fine: (H + 2P - K) / S + 1 */
    sn_attr a = sn_attr_default(SN_OP_CONV);
    a.out = 16;
    a.k = 3;
    a.stride = 2;
    a.pad = 1;
    sn_shape in = {3, 32, 31}, o;
    sn_error e;
    assert_int_equal(sn_op_get(SN_OP_CONV)->infer(&a, &in, 1, &o, &e), 0);
    assert_int_equal(o.c, 16);
    assert_int_equal(o.h, 16);
    assert_int_equal(o.w, 16);

    sn_attr d = sn_attr_default(SN_OP_DENSE);
    d.out = 10;
    sn_shape bad = {64, 7, 7};
    assert_int_equal(sn_op_get(SN_OP_DENSE)->infer(&d, &bad, 1, &o, &e), -1);
    assert_string_equal(e.msg,
                        "dense needs a flat input, got 7x7x64 (HxWxC); add flatten "
                        "or gap");
    d.out = 0;
    sn_shape flat = {64, 1, 1};
    assert_int_equal(sn_op_get(SN_OP_DENSE)->infer(&d, &flat, 1, &o, &e), -1);
    assert_string_equal(e.msg, "dense needs at least 1 unit, got 0");
    d.out = 10;
    assert_int_equal(sn_op_get(SN_OP_DENSE)->infer(&d, &flat, 1, &o, &e), 0);
    assert_int_equal(o.c, 10);
    assert_int_equal(o.h, 1);
    assert_int_equal(o.w, 1);
}

/* ---- counts ----------------------------------------------------------- */

typedef struct count_case {
    sn_op_kind op;
    sn_shape in;
    int out, k, s, p, g, bias;
    int64_t params, macs, ak;
} count_case;

/* Hand-computed:
 *   conv 3->64 k3 p1 on 32x32: params 64*3*9 + 64 = 1792; MACs
 *     32*32*64*27 = 1,769,472; thop 3*(9+1)*64*32*32 = 1,966,080.
 *   conv 64->64 k3 p1 s2 on 32x32, no bias: 36,864 params; MACs
 *     16*16*64*576 = 9,437,184; thop 64*9*64*256 = 9,437,184.
 *   depthwise 32 k3 p1 on 14x14: 32*9 + 32 = 320; 14*14*32*9 = 56,448;
 *     thop 1*(9+1)*32*196 = 62,720.
 *   grouped 8->4 g2 k3 on 5x5 (no bias): 4*4*9 = 144; 3*3*4*36 = 1,296;
 *     thop 4*9*4*9 = 1,296.
 *   pointwise 32->64 on 7x7: 2048 + 64 = 2112; 49*64*32 = 100,352;
 *     thop 32*(1+1)*64*49 = 200,704.
 *   dense 64->10: 650; 640; thop (2*64-1)*10 = 1270.
 *   dense 4096->64 no bias: 262,144; 262,144; thop 8191*64 = 524,224. */
static const count_case COUNTS[] = {
    {SN_OP_CONV, {3, 32, 32}, 64, 3, 1, 1, 1, 1, 1792, 1769472, 1966080},
    {SN_OP_CONV, {64, 32, 32}, 64, 3, 2, 1, 1, 0, 36864, 9437184, 9437184},
    {SN_OP_CONV, {32, 14, 14}, 32, 3, 1, 1, 32, 1, 320, 56448, 62720},
    {SN_OP_CONV, {8, 5, 5}, 4, 3, 1, 0, 2, 0, 144, 1296, 1296},
    {SN_OP_CONV, {32, 7, 7}, 64, 1, 1, 0, 1, 1, 2112, 100352, 200704},
    {SN_OP_DENSE, {64, 1, 1}, 10, 0, 1, 0, 1, 1, 650, 640, 1270},
    {SN_OP_DENSE, {4096, 1, 1}, 64, 0, 1, 0, 1, 0, 262144, 262144, 524224},
};

/* Scratch depends on the thread count only, so scratch sized for one
 * batch size serves any other (the trainer's evaluation batch may differ
 * from its training batch). */
static void test_work_independent_of_batch(void **state) {
    for (int ci = 0; ci < N_CASES; ci++) {
        sn_attr a = conv_attr(&CASES[ci]);
        sn_shape in = {CASES[ci].cin, CASES[ci].h, CASES[ci].w}, o;
        const sn_op_desc *d = sn_op_get(SN_OP_CONV);
        sn_error e;
        assert_int_equal(d->infer(&a, &in, 1, &o, &e), 0);
        assert_true(d->work_floats(&a, &in, 1, o, 1) ==
                    d->work_floats(&a, &in, 1, o, 256));
    }
}

static void test_counts(void **state) {
    for (size_t i = 0; i < sizeof COUNTS / sizeof COUNTS[0]; i++) {
        const count_case *c = &COUNTS[i];
        sn_attr a = sn_attr_default(c->op);
        a.out = c->out;
        if (c->op == SN_OP_CONV) {
            a.k = c->k;
            a.stride = c->s;
            a.pad = c->p;
            a.groups = c->g;
        }
        a.bias = c->bias;
        const sn_op_desc *d = sn_op_get(c->op);
        sn_shape o;
        sn_error e;
        assert_int_equal(d->infer(&a, &c->in, 1, &o, &e), 0);
        assert_int_equal(sn_op_params(c->op, &a, &c->in, 1), c->params);
        assert_int_equal(d->macs(&a, &c->in, 1, o), c->macs);
        assert_int_equal(d->flops_autokeras(&a, &c->in, 1, o), c->ak);
    }
}

/* Tensor layouts are PyTorch's. */
static void test_tensor_layout(void **state) {
    sn_attr a = sn_attr_default(SN_OP_CONV);
    a.out = 6;
    a.k = 5;
    a.groups = 2;
    sn_shape in = {4, 9, 9};
    sn_tensor_desc t[SN_MAX_TENSORS];
    assert_int_equal(sn_op_get(SN_OP_CONV)->tensors(&a, &in, 1, t), 2);
    assert_string_equal(t[0].name, "weight");
    assert_int_equal(t[0].ndim, 4);
    assert_int_equal(t[0].dims[0], 6);
    assert_int_equal(t[0].dims[1], 2);
    assert_int_equal(t[0].dims[2], 5);
    assert_int_equal(t[0].dims[3], 5);
    assert_true(t[0].trainable);
    assert_string_equal(t[1].name, "bias");
    assert_int_equal(t[1].ndim, 1);
    assert_int_equal(t[1].dims[0], 6);
    a.bias = 0;
    assert_int_equal(sn_op_get(SN_OP_CONV)->tensors(&a, &in, 1, t), 1);

    sn_attr d = sn_attr_default(SN_OP_DENSE);
    d.out = 10;
    sn_shape flat = {64, 1, 1};
    assert_int_equal(sn_op_get(SN_OP_DENSE)->tensors(&d, &flat, 1, t), 2);
    assert_int_equal(t[0].ndim, 2);
    assert_int_equal(t[0].dims[0], 10);
    assert_int_equal(t[0].dims[1], 64);
    assert_int_equal(t[1].dims[0], 10);
}

/* ---- initialisation --------------------------------------------------- */

/* He-normal: mean 0, std sqrt(2 / fan_in). With n draws the sample mean
 * has standard error std/sqrt(n) and the sample std about std/sqrt(2n);
 * we allow 5 standard errors. Biases start at exactly 0. */
static void check_init(sn_op_kind op, const sn_attr *a, sn_shape in,
                       double fan_in) {
    const sn_op_desc *d = sn_op_get(op);
    sn_tensor_desc t[SN_MAX_TENSORS];
    int nt = d->tensors(a, &in, 1, t);
    assert_int_equal(nt, 2);
    int64_t nw = sn_tensor_desc_size(&t[0]), nb = sn_tensor_desc_size(&t[1]);
    float *w = sn_falloc((size_t)nw), *b = sn_falloc((size_t)nb);
    for (int64_t i = 0; i < nb; i++) b[i] = NAN;
    float *ts[SN_MAX_TENSORS] = {w, b};
    sn_rng r;
    sn_rng_seed(&r, 77);
    d->init(a, &in, 1, ts, &r);
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < nw; i++) {
        s1 += w[i];
        s2 += (double)w[i] * w[i];
    }
    double mean = s1 / nw, sd = sqrt(s2 / nw - mean * mean);
    double want = sqrt(2.0 / fan_in);
    assert_close(mean, 0.0, 5 * want / sqrt((double)nw));
    assert_close(sd, want, 5 * want / sqrt(2.0 * nw));
    for (int64_t i = 0; i < nb; i++) assert_true(b[i] == 0.0f);
    sn_free_aligned(w);
    sn_free_aligned(b);
}

static void test_init(void **state) {
    sn_attr a = sn_attr_default(SN_OP_CONV);
    a.out = 64;
    a.k = 3;
    check_init(SN_OP_CONV, &a, (sn_shape){64, 8, 8}, 64 * 9);
    a.groups = 32; /* depthwise with multiplier 2: fan_in = 1 * 9 */
    check_init(SN_OP_CONV, &a, (sn_shape){32, 8, 8}, 9);
    sn_attr d = sn_attr_default(SN_OP_DENSE);
    d.out = 100;
    check_init(SN_OP_DENSE, &d, (sn_shape){300, 1, 1}, 300);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_by_hand),
        cmocka_unit_test(test_reference_1thread),
        cmocka_unit_test(test_reference_2threads),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_gradcheck_catches_bug),
        cmocka_unit_test(test_dense_reference),
        cmocka_unit_test(test_gradcheck_dense),
        cmocka_unit_test(test_accumulates),
        cmocka_unit_test(test_fused_maxpool),
        cmocka_unit_test(test_threads_deterministic),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_work_independent_of_batch),
        cmocka_unit_test(test_tensor_layout),
        cmocka_unit_test(test_init),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sn_threads_shutdown();
    return rc;
}
