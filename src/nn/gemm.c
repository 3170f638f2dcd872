/* gemm.c — im2col and col2im for the sgemm conv paths (see gemm.h).
 *
 * Both walk the column matrix row by row. For a row (c, kh, kw) the input
 * column read by output column ow is iw = ow*stride - pad + kw, so the
 * output columns that land inside the image form one contiguous range
 * [lo, hi), the same for every output row; likewise the output rows whose
 * input row exists form one range [oh0, oh1). Everything outside is
 * padding.
 *
 * Two ways to walk a row (over a band of output rows, see gemm.h):
 *   flat     stride 1 and Wo == W (the usual "same" padding, 2P = K - 1):
 *            output pixel i = oh*W + ow reads input pixel i + shift with
 *            shift = (kh - P)*W + (kw - P), so the whole row is ONE long
 *            shifted copy (or add), after which the few padding columns
 *            at the left and right edges are fixed up. Images late in a
 *            network are 14x14 or 7x7: a loop per output row would be
 *            all start-up cost.
 *   by rows  anything else: per output row, zeros, then the copy of
 *            [lo, hi), then zeros.
 * The inner loops are plain loops gcc vectorises; the edge fix-ups run
 * down a column (stride Wo), so gcc does not turn them into memset calls
 * of one or two floats. */
#include "gemm.h"

#include <stddef.h>

/* Output columns [*lo, *hi) whose input column lies inside [0, w). */
static void valid_cols(const gemm_geom *g, int kw, int *lo, int *hi) {
    int off = g->pad - kw; /* ow*stride >= off */
    int l = off <= 0 ? 0 : (off + g->stride - 1) / g->stride;
    int last = g->w - 1 + off; /* ow*stride <= last */
    int h = last < 0 ? 0 : last / g->stride + 1;
    if (h > g->wo) h = g->wo;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* Output rows [*r0, *r1) whose input row ih = oh*stride - pad + kh lies
 * inside [0, h). Same arithmetic as valid_cols. */
static void valid_rows(const gemm_geom *g, int kh, int *r0, int *r1) {
    int off = g->pad - kh;
    int l = off <= 0 ? 0 : (off + g->stride - 1) / g->stride;
    int last = g->h - 1 + off;
    int h = last < 0 ? 0 : last / g->stride + 1;
    if (h > g->ho) h = g->ho;
    if (l > h) l = h;
    *r0 = l;
    *r1 = h;
}

static int flat_ok(const gemm_geom *g) {
    return g->stride == 1 && g->wo == g->w;
}

/* Zeroes columns [0, lo) and [hi, Wo) of rows [r0, r1) of a band. */
static void zero_edges(const gemm_geom *g, float *row, int r0, int r1,
                       int lo, int hi) {
    for (int ow = 0; ow < lo; ow++)
        for (int oh = r0; oh < r1; oh++) row[(size_t)oh * g->wo + ow] = 0.0f;
    for (int ow = hi; ow < g->wo; ow++)
        for (int oh = r0; oh < r1; oh++) row[(size_t)oh * g->wo + ow] = 0.0f;
}

/* Of the band's valid rows [r0, r1) (band-relative), the pixel range
 * [*a, *b) whose input index i + shift stays inside the plane; the pixels
 * cut off are all edge (padding) pixels, handled by zero_edges. shift is
 * band-relative too. */
static void flat_range(const gemm_geom *g, int r0, int r1, ptrdiff_t shift,
                       ptrdiff_t *a, ptrdiff_t *b) {
    ptrdiff_t plane = (ptrdiff_t)g->h * g->w;
    *a = (ptrdiff_t)r0 * g->wo;
    *b = (ptrdiff_t)r1 * g->wo;
    if (*a < -shift) *a = -shift;
    if (*b > plane - shift) *b = plane - shift;
    if (*b < *a) *b = *a;
}

/* The valid output rows of tap row kh within band [b0, b1), made relative
 * to the band: [*r0, *r1) of its b1 - b0 rows. */
static void band_rows(const gemm_geom *g, int kh, int b0, int b1, int *r0,
                      int *r1) {
    valid_rows(g, kh, r0, r1);
    if (*r0 < b0) *r0 = b0;
    if (*r1 > b1) *r1 = b1;
    if (*r1 < *r0) *r1 = *r0;
    *r0 -= b0;
    *r1 -= b0;
}

/* Band-relative shift: output pixel i of the band reads input pixel
 * i + shift (flat layout, Wo == W). */
static ptrdiff_t flat_shift(const gemm_geom *g, int kh, int kw, int b0) {
    return (ptrdiff_t)(b0 + kh - g->pad) * g->w + (kw - g->pad);
}

static void im2col_flat(const gemm_geom *g, const float *restrict plane,
                        float *restrict row, int kh, int kw, int b0,
                        int b1) {
    int r0, r1, lo, hi;
    band_rows(g, kh, b0, b1, &r0, &r1);
    valid_cols(g, kw, &lo, &hi);
    const ptrdiff_t n = (ptrdiff_t)(b1 - b0) * g->wo;
    const ptrdiff_t shift = flat_shift(g, kh, kw, b0);
    ptrdiff_t a, b;
    flat_range(g, r0, r1, shift, &a, &b);
    for (ptrdiff_t i = 0; i < a; i++) row[i] = 0.0f;
    for (ptrdiff_t i = a; i < b; i++) row[i] = plane[i + shift];
    for (ptrdiff_t i = b; i < n; i++) row[i] = 0.0f;
    zero_edges(g, row, r0, r1, lo, hi);
}

static void im2col_rows(const gemm_geom *g, const float *restrict plane,
                        float *restrict row, int kh, int kw, int b0,
                        int b1) {
    const int s = g->stride;
    int lo, hi;
    valid_cols(g, kw, &lo, &hi);
    const int off = kw - g->pad; /* ow in [lo, hi) reads ow*s + off >= 0 */
    for (int oh = b0; oh < b1; oh++) {
        float *restrict dst = row + (size_t)(oh - b0) * g->wo;
        int ih = oh * s - g->pad + kh;
        if (ih < 0 || ih >= g->h) {
            for (int ow = 0; ow < g->wo; ow++) dst[ow] = 0.0f;
            continue;
        }
        const float *restrict src = plane + (size_t)ih * g->w;
        for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
        for (int ow = lo; ow < hi; ow++) dst[ow] = src[ow * s + off];
        for (int ow = hi; ow < g->wo; ow++) dst[ow] = 0.0f;
    }
}

void gemm_im2col(const gemm_geom *g, const float *in, float *col, size_t ld,
                 int r0, int r1) {
    const int k = g->k;
    const int flat = flat_ok(g);
    for (int c = 0; c < g->c; c++) {
        const float *plane = in + (size_t)c * g->h * g->w;
        for (int kh = 0; kh < k; kh++)
            for (int kw = 0; kw < k; kw++) {
                float *row = col + ((size_t)(c * k + kh) * k + kw) * ld;
                if (flat)
                    im2col_flat(g, plane, row, kh, kw, r0, r1);
                else
                    im2col_rows(g, plane, row, kh, kw, r0, r1);
            }
    }
}

/* The edge entries of the row are zeroed first (the row is scratch), so
 * the one long add can run straight across them: they land on pixels of
 * the neighbouring image row but add nothing. */
static void col2im_flat(const gemm_geom *g, float *restrict row,
                        float *restrict plane, int kh, int kw, int b0,
                        int b1) {
    int r0, r1, lo, hi;
    band_rows(g, kh, b0, b1, &r0, &r1);
    valid_cols(g, kw, &lo, &hi);
    const ptrdiff_t shift = flat_shift(g, kh, kw, b0);
    ptrdiff_t a, b;
    flat_range(g, r0, r1, shift, &a, &b);
    zero_edges(g, row, r0, r1, lo, hi);
    for (ptrdiff_t i = a; i < b; i++) plane[i + shift] += row[i];
}

static void col2im_rows(const gemm_geom *g, const float *restrict row,
                        float *restrict plane, int kh, int kw, int b0,
                        int b1) {
    const int s = g->stride;
    int lo, hi;
    valid_cols(g, kw, &lo, &hi);
    const int off = kw - g->pad;
    for (int oh = b0; oh < b1; oh++) {
        int ih = oh * s - g->pad + kh;
        if (ih < 0 || ih >= g->h) continue;
        const float *restrict src = row + (size_t)(oh - b0) * g->wo;
        float *restrict dst = plane + (size_t)ih * g->w;
        for (int ow = lo; ow < hi; ow++) dst[ow * s + off] += src[ow];
    }
}

void gemm_col2im(const gemm_geom *g, float *col, size_t ld, float *din,
                 int r0, int r1) {
    const int k = g->k;
    const int flat = flat_ok(g);
    for (int c = 0; c < g->c; c++) {
        float *plane = din + (size_t)c * g->h * g->w;
        for (int kh = 0; kh < k; kh++)
            for (int kw = 0; kw < k; kw++) {
                float *row = col + ((size_t)(c * k + kh) * k + kw) * ld;
                if (flat)
                    col2im_flat(g, row, plane, kh, kw, r0, r1);
                else
                    col2im_rows(g, row, plane, kh, kw, r0, r1);
            }
    }
}
