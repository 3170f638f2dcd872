/* gemm.h — internal helpers shared by the matrix-multiply conv paths:
 * im2col (unfold an image into the column matrix a convolution multiplies
 * by its weights) and col2im (fold column gradients back, accumulating).
 *
 * Column matrix layout, for one sample of C channels:
 *   row r = (c * K + kh) * K + kw   (matches the weight layout [.., C, K, K])
 *   col   = oh * Wo + ow            (the output pixel)
 * Rows are `ld` floats apart, so several samples can share one matrix side
 * by side (sample i starting at column i * Ho * Wo) and be multiplied by a
 * single sgemm call. */
#ifndef SLIMNAS_NN_GEMM_H
#define SLIMNAS_NN_GEMM_H

#include <stddef.h>

typedef struct gemm_geom {
    int c, h, w;    /* input channels and size */
    int k, stride, pad;
    int ho, wo;     /* output size */
} gemm_geom;

/* col[c*K*K rows, ld] = unfold(in[C, H, W]); padding becomes zeros. */
void gemm_im2col(const gemm_geom *g, const float *in, float *col, size_t ld);

/* din[C, H, W] += fold(col[c*K*K rows, ld]); the inverse scatter of
 * gemm_im2col, dropping whatever fell on the padding. col is scratch: its
 * padding entries may be overwritten with zeros. */
void gemm_col2im(const gemm_geom *g, float *col, size_t ld, float *din);

#endif
