/* test_gemm_small.c — the pointwise convs' own matrix products
 * (src/nn/gemm_small.c) against a double-precision product and against
 * cblas_sgemm, on every path of the kernel: whole strips of two vectors,
 * one vector, the zero-padded last columns (every remainder 1-15), row
 * blocks of 1-6, A transposed or not, writing or adding, row strides
 * wider than the rows, and the padded path's chunks of rows (M > 64) and
 * of K (K > 512). The conv-level paths (bias, groups, the packed weight
 * gradient, two threads) are in test_nn_conv.c. */
#include "testutil.h"

#include <cblas.h>

#include "../src/nn/gemm.h"

/* C0 (copied into C first, for acc) and the product in double; mag gets
 * the sum of |terms|, for the tolerance */
static void ref_gemm(int ta, int M, int N, int K, const float *A, int lda,
                     const float *B, int ldb, int acc, const float *C0,
                     int ldc, double *R, double *mag) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = acc ? C0[(size_t)i * ldc + j] : 0.0, m = fabs(s);
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double t = a * B[(size_t)k * ldb + j];
                s += t;
                m += fabs(t);
            }
            R[(size_t)i * N + j] = s;
            mag[(size_t)i * N + j] = m;
        }
}

typedef struct gcase {
    int ta, M, N, K, acc, pad; /* pad: extra floats in every row stride */
} gcase;

/* Runs one case: the kernel against the double product, within float
 * rounding of K + 1 terms, and the cells of C outside the M x N block
 * untouched. Returns the largest difference from cblas_sgemm. */
static double check_case(const gcase *g, uint64_t seed) {
    const int lda = (g->ta ? g->M : g->K) + g->pad;
    const int ldb = g->N + g->pad, ldc = g->N + g->pad;
    const size_t na = (size_t)(g->ta ? g->K : g->M) * lda;
    const size_t nb = (size_t)g->K * ldb, nc = (size_t)g->M * ldc;
    float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb);
    float *C = malloc(sizeof(float) * nc), *C0 = malloc(sizeof(float) * nc);
    float *Cb = malloc(sizeof(float) * nc);
    double *R = malloc(sizeof(double) * (size_t)g->M * g->N);
    double *mag = malloc(sizeof(double) * (size_t)g->M * g->N);
    tu_fill_normal(A, na, seed, 1.0f);
    tu_fill_normal(B, nb, seed + 1, 1.0f);
    tu_fill_normal(C0, nc, seed + 2, 1.0f);
    memcpy(C, C0, sizeof(float) * nc);
    memcpy(Cb, C0, sizeof(float) * nc);

    sn_gemm_small(g->ta, g->M, g->N, g->K, A, lda, B, ldb, g->acc, C, ldc);
    ref_gemm(g->ta, g->M, g->N, g->K, A, lda, B, ldb, g->acc, C0, ldc, R,
             mag);
    double terms = g->K + 1.0;
    for (int i = 0; i < g->M; i++)
        for (int j = 0; j < ldc; j++) {
            size_t at = (size_t)i * ldc + j;
            if (j >= g->N) {
                if (C[at] != C0[at])
                    fail_msg("ta %d %dx%dx%d: C[%d][%d] outside the product "
                             "changed", g->ta, g->M, g->N, g->K, i, j);
                continue;
            }
            double r = R[(size_t)i * g->N + j];
            double tol = (terms + 2) * terms * 0x1p-24 * mag[(size_t)i * g->N + j];
            if (!(fabs(C[at] - r) <= tol))
                fail_msg("ta %d acc %d %dx%dx%d: C[%d][%d] = %.9g, reference "
                         "%.9g", g->ta, g->acc, g->M, g->N, g->K, i, j, C[at], r);
        }
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans,
                CblasNoTrans, g->M, g->N, g->K, 1.0f, A, lda, B, ldb,
                g->acc ? 1.0f : 0.0f, Cb, ldc);
    double d = 0;
    for (int i = 0; i < g->M; i++)
        for (int j = 0; j < g->N; j++) {
            double v = fabs((double)C[(size_t)i * ldc + j] - Cb[(size_t)i * ldc + j]);
            if (v > d) d = v;
        }
    free(A);
    free(B);
    free(C);
    free(C0);
    free(Cb);
    free(R);
    free(mag);
    return d;
}

/* Every column count 1..70 (strips, one vector, every padded remainder,
 * for eight- and sixteen-float vectors) with row counts 1..13 (every row
 * block size and a remainder), both layouts of A, both modes. */
static void test_shapes(void **state) {
    uint64_t seed = 1;
    for (int N = 1; N <= 70; N++)
        for (int M = 1; M <= 13; M += 3)
            for (int ta = 0; ta < 2; ta++) {
                gcase g = {ta, M, N, 1 + (N * 7 + M) % 40, N % 2, N % 3};
                double d = check_case(&g, seed += 3);
                /* float rounding of a sum of at most 41 unit-normal
                 * products: differences beyond 1e-4 are a wrong term */
                if (!(d <= 1e-4))
                    fail_msg("ta %d %dx%dx%d: %.3g from cblas_sgemm", ta, M,
                             N, g.K, d);
            }
}

/* The sizes pointwise convs give it: channels 8-128 against 7x7, 14x14,
 * 28x28 images (N 49, 196, 784), A transposed for the input gradient. */
static void test_conv_sizes(void **state) {
    static const int ch[] = {8, 12, 24, 64, 128}, hw[] = {49, 196, 784};
    uint64_t seed = 1000;
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b += 2)
            for (int h = 0; h < 3; h++)
                for (int ta = 0; ta < 2; ta++) {
                    gcase g = {ta, ch[a], hw[h], ch[b], ta, 0};
                    double d = check_case(&g, seed += 3);
                    if (!(d <= 1e-3))
                        fail_msg("%dx%dx%d: %.3g from cblas_sgemm", g.M, g.N,
                                 g.K, d);
                }
}

/* The padded last columns go in chunks of 64 rows and 512 of K. */
static void test_tail_chunks(void **state) {
    gcase c[] = {{0, 150, 21, 9, 1, 1},
                 {1, 70, 5, 700, 0, 0},
                 {0, 65, 37, 1100, 1, 2}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        check_case(&c[i], 500 + 10 * i);
}

/* The check fails on a wrong product: B's last column shifted. */
static void test_catches_wrong(void **state) {
    const int M = 3, N = 19, K = 5;
    float A[15], B[95], C[57];
    tu_fill_normal(A, 15, 3, 1.0f);
    tu_fill_normal(B, 95, 4, 1.0f);
    sn_gemm_small(0, M, N, K, A, K, B, N, 0, C, N);
    double R[57], mag[57];
    B[N - 1] += 1.0f; /* the reference sees another B */
    ref_gemm(0, M, N, K, A, K, B, N, 0, NULL, N, R, mag);
    int bad = 0;
    for (int i = 0; i < M; i++)
        bad += fabs(C[i * N + N - 1] - R[i * N + N - 1]) > 1e-3;
    assert_int_equal(bad, M);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_conv_sizes),
        cmocka_unit_test(test_tail_chunks),
        cmocka_unit_test(test_catches_wrong),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
