/* gemm_small.c — the forward and input-gradient matrix products of
 * small convs, without OpenBLAS.
 *
 * A pointwise conv of one sample is out[Cout, HW] = W[Cout, Cin] x
 * in[Cin, HW] and its input gradient din = W^T x dout; a 3x3 conv's piece
 * the same with im2col's column matrix. With 8-64 channels each product
 * is a few thousand to a few hundred thousand multiply-adds, made per
 * sample or piece. Through cblas_sgemm each call packs both operands and
 * takes (and gives back) a buffer from OpenBLAS's pool under a global
 * mutex; with two threads training the slices of a batch that mutex was
 * contended thousands of times a step (sep5k at 2 threads: ~18% of the
 * samples in lock, unlock and futex system calls). These kernels read the
 * operands where they are: a strip of B two vectors wide stays in cache
 * while every row block of the output is made from it.
 *
 * Vectors are GCC/clang vector types of VW floats (AVX-512 or AVX with
 * -march=native, SSE halves on older targets); the multiply-adds
 * contract to FMAs under -ffp-contract=fast. Summation order differs
 * from OpenBLAS's, so results agree with it to float rounding, not bit
 * for bit (tests/test_gemm_small.c). */
#include "gemm.h"

#include <string.h>

/* VW floats per vector: sixteen where the target has AVX-512 (its 32
 * registers hold the same blocks twice as wide), else eight. */
#if defined(__AVX512F__)
#define VW 16
#else
#define VW 8
#endif
typedef float vfw __attribute__((vector_size(VW * 4)));

static inline void ldv(vfw *v, const float *p) { memcpy(v, p, sizeof *v); }

static inline void stv(float *p, const vfw *v) { memcpy(p, v, sizeof *v); }

static inline void splatv(vfw *v, float x) {
    float l[VW];
    for (int i = 0; i < VW; i++) l[i] = x;
    memcpy(v, l, sizeof *v);
}

/* Rows per block of the C = op(A) x B kernel: 6 rows x 2 vectors is 12
 * accumulators, two B vectors and a broadcast: 15 of AVX2's 16
 * registers. */
#define NN_MR 6

/* C[mr rows, nv*VW columns] (=, or += when acc) the rows of op(A) times B;
 * A's element (r, k) is at A[r * ars + k * acs]. Always inlined with
 * constant mr and nv, so the accumulators live in registers. */
static inline __attribute__((always_inline)) void
nn_block(int mr, int nv, int K, const float *A, int ars, int acs,
         const float *B, int ldb, int acc, float *C, int ldc) {
    vfw c[NN_MR][2];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) splatv(&c[r][v], 0.0f);
    for (int k = 0; k < K; k++) {
        vfw b[2];
        for (int v = 0; v < nv; v++) ldv(&b[v], B + (size_t)k * ldb + VW * v);
        for (int r = 0; r < mr; r++) {
            vfw a;
            splatv(&a, A[(size_t)r * ars + (size_t)k * acs]);
            for (int v = 0; v < nv; v++) c[r][v] += a * b[v];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            float *p = C + (size_t)r * ldc + VW * v;
            if (acc) {
                vfw o;
                ldv(&o, p);
                c[r][v] += o;
            }
            stv(p, &c[r][v]);
        }
}

/* Rows [0, M) of C for one column block of nv vectors. */
static void nn_rows(int nv, int M, int K, const float *A, int ars, int acs,
                    const float *B, int ldb, int acc, float *C, int ldc) {
    for (int i = 0; i < M; i += NN_MR) {
        const float *a = A + (size_t)i * ars;
        float *c = C + (size_t)i * ldc;
        int mr = M - i < NN_MR ? M - i : NN_MR;
#define NN_CASE(R)                                                         \
    case R:                                                                \
        if (nv == 2)                                                       \
            nn_block(R, 2, K, a, ars, acs, B, ldb, acc, c, ldc);           \
        else                                                               \
            nn_block(R, 1, K, a, ars, acs, B, ldb, acc, c, ldc);           \
        break;
        switch (mr) {
            NN_CASE(6)
            NN_CASE(5)
            NN_CASE(4)
            NN_CASE(3)
            NN_CASE(2)
            NN_CASE(1)
        }
#undef NN_CASE
    }
}

void sn_gemm_small(int trans_a, int M, int N, int K, const float *A, int lda,
                   const float *B, int ldb, int acc, float *C, int ldc) {
    const int ars = trans_a ? 1 : lda, acs = trans_a ? lda : 1;
    int j = 0;
    /* strips of two vectors: the strip of B (K x 2 VW floats) stays in
     * cache while every row block of C is made from it */
    for (; j + 2 * VW <= N; j += 2 * VW)
        nn_rows(2, M, K, A, ars, acs, B + j, ldb, acc, C + j, ldc);
    if (j + VW <= N) {
        nn_rows(1, M, K, A, ars, acs, B + j, ldb, acc, C + j, ldc);
        j += VW;
    }
    if (j == N) return;
    /* the last columns (fewer than a vector): B's zero padded to a vector
     * in bp, C's rows made in ct and the valid columns copied out (HW =
     * 49 or 196 leaves 1 or 4; at scalar speed they cost 10-20% of the
     * product) */
    enum { TAIL_K = 512, TAIL_M = 64 };
    const int w = N - j;
    for (int m0 = 0; m0 < M; m0 += TAIL_M)
        for (int k0 = 0; k0 < K; k0 += TAIL_K) {
            float bp[TAIL_K * VW], ct[TAIL_M * VW];
            int mk = M - m0 < TAIL_M ? M - m0 : TAIL_M;
            int kk = K - k0 < TAIL_K ? K - k0 : TAIL_K;
            memset(bp, 0, sizeof(float) * VW * (size_t)kk);
            for (int k = 0; k < kk; k++)
                memcpy(bp + VW * k, B + (size_t)(k0 + k) * ldb + j,
                       sizeof(float) * (size_t)w);
            nn_rows(1, mk, kk, A + (size_t)m0 * ars + (size_t)k0 * acs, ars,
                    acs, bp, VW, 0, ct, VW);
            const int add = acc || k0 > 0;
            for (int i = 0; i < mk; i++) {
                float *c = C + (size_t)(m0 + i) * ldc + j;
                for (int q = 0; q < w; q++)
                    c[q] = add ? c[q] + ct[VW * i + q] : ct[VW * i + q];
            }
        }
}

/* Measured on a Zen 5 (AVX-512; Debian's OpenBLAS 0.3.21 runs its
 * Haswell kernels there), single products against cblas_sgemm, best of
 * five: with sixteen-float vectors 1.3-2.1x its GFLOP/s for M, K from
 * 9 to 576 and N 49-784 (159 against 74 GF for the 1->16 3x3 stem's
 * M 16, K 9, N 784; 126 against 93 for M 576, K 64, N 49). Built with
 * eight-float vectors (-march=x86-64-v3, same machine): 0.88-1.19x, at
 * least 1.0 up to K 288 with N >= 196, 0.9 at 128 x 128 x 49; within 128
 * it stays here, where it also avoids OpenBLAS's buffer lock. */
int sn_gemm_small_fits(int M, int K) {
#if VW == 16
    return M <= 576 && K <= 576;
#else
    return M <= 128 && K <= 128;
#endif
}
