/* gemm.h — internal helpers shared by the matrix-multiply conv paths:
 * im2col (unfold an image into the column matrix a convolution multiplies
 * by its weights) and col2im (fold column gradients back, accumulating).
 *
 * Column matrix layout, for one sample of C channels and a band of output
 * rows [r0, r1):
 *   row r = (c * K + kh) * K + kw   (matches the weight layout [.., C, K, K])
 *   col   = (oh - r0) * Wo + ow     (the output pixel)
 * Rows are `ld` floats apart, so several samples can share one matrix side
 * by side (sample i starting at column i * (r1 - r0) * Wo) and go through
 * a single sgemm call, and a large image can go a band at a time. */
#ifndef SLIMNAS_NN_GEMM_H
#define SLIMNAS_NN_GEMM_H

#include <stddef.h>

typedef struct gemm_geom {
    int c, h, w;    /* input channels and size */
    int k, stride, pad;
    int ho, wo;     /* output size */
} gemm_geom;

/* col[c*K*K rows, ld] = unfold(in[C, H, W]) for output rows [r0, r1);
 * padding becomes zeros. */
void gemm_im2col(const gemm_geom *g, const float *in, float *col, size_t ld,
                 int r0, int r1);

/* din[C, H, W] += fold(col[c*K*K rows, ld]) for output rows [r0, r1): the
 * inverse scatter of gemm_im2col, dropping whatever fell on the padding.
 * col is scratch: its padding entries may be overwritten with zeros. */
void gemm_col2im(const gemm_geom *g, float *col, size_t ld, float *din,
                 int r0, int r1);

/* gemm_small.c: row-major products for small convs, in place of
 * cblas_sgemm (no packing, no OpenBLAS buffer lock); see there.
 * sn_gemm_small_fits(M, K): whether C = op(A) x B with op(A) [M, K] is
 * measured at least as fast here as in OpenBLAS on this build's vectors. */
int sn_gemm_small_fits(int M, int K);
/* C[M, N] = op(A) x B, or C += op(A) x B when acc: op(A) is A [M, K]
 * (lda), or with trans_a A^T of A stored [K, M]; B [K, N] (ldb). */
void sn_gemm_small(int trans_a, int M, int N, int K, const float *A, int lda,
                   const float *B, int ldb, int acc, float *C, int ldc);

#endif
