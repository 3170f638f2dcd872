/* conv_internal.h — what the two halves of conv2d share: conv.c (shape
 * rule, counts, scratch layout, the im2col/sgemm kernel, entry points) and
 * conv_dw.c (the direct depthwise kernels). Private to src/nn. */
#ifndef SLIMNAS_CONV_INTERNAL_H
#define SLIMNAS_CONV_INTERNAL_H

#include "ops_internal.h"

#include <stddef.h>

#define CONV_MAX_THREADS 64
#define DW_SLACK 16 /* depthwise: floats after each buffer, see dw_round */

/* ---- geometry -------------------------------------------------------- */

typedef struct geom {
    int cin, h, w, cout, ho, wo;
    int k, s, p, g;
    int cg, og;    /* channels per group, in and out */
    int kk;        /* K*K */
    int rows;      /* Cg*KK: rows of one group's column matrix */
    int hw;        /* Ho*Wo */
    int bias;
    int pointwise; /* K 1, stride 1, pad 0: input == column matrix */
    int depthwise; /* Cg == 1, G > 1: the direct kernel */
    /* depthwise polyphase buffer: S*S phase planes of lh x lw */
    int lh, lw;
} geom;

/* Depthwise (see dw_pack): where the input columns of phase b land. Input
 * column ix0 + c*S goes to column c0 + c of the phase row, for c < cnt.
 * Computed once per call: integer division costs tens of cycles, too much
 * per row. */
typedef struct dw_cols {
    int ix0, c0, cnt;
} dw_cols;

/* ---- scratch layout -------------------------------------------------- */

/* Offsets (floats) into one thread's slice of `work`. The partial weight
 * gradient dw [Cout, Cg*KK] is directly followed by the partial bias
 * gradient db [Cout], so one loop reduces both. */
typedef struct layout {
    size_t col;    /* gemm: column matrix; depthwise: padded input */
    size_t obuf;   /* gemm: packed out/dout; depthwise: out/dout plane */
    size_t dpad;   /* depthwise: padded input gradient (or padded dout) */
    size_t ibuf;   /* depthwise stride 1: input gradient plane */
    size_t off;    /* depthwise: tap offsets and flipped kernel */
    size_t dw;     /* partial weight then bias gradient */
    size_t pk;     /* narrow pointwise: dout and input of `pack` samples */
    size_t stride; /* floats per thread */
    int block;     /* gemm: samples packed per sgemm */
    int pack;      /* narrow pointwise: samples per weight-gradient sgemm */
    int band;      /* gemm: output rows per sgemm (Ho unless large) */
} layout;

/* ---- small vector helpers -------------------------------------------- */

/* A sum over eight independent lanes: a plain float reduction is a serial
 * dependency chain gcc may not reorder without -ffast-math, eight lanes
 * give it the vector code. */
static inline float sum_lanes(const float *restrict x, size_t n) {
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += x[i + l];
    float s = 0;
    for (; i < n; i++) s += x[i];
    for (int l = 0; l < 8; l++) s += acc[l];
    return s;
}

/* y = relu6(y) (hi 6) or relu(y) (hi INFINITY) in place
 * (sn_op_args.out_clamp) */
static inline void clamp_out(float *restrict y, size_t n, float hi) {
    for (size_t i = 0; i < n; i++) y[i] = sn_act_clamp(y[i], hi);
}

/* ---- one call's shared state ----------------------------------------- */

typedef struct run {
    const sn_op_args *x;
    geom g;
    layout l;
    int threads;
    int want_dw;                         /* weight/bias grads requested */
    const sn_op_args *pool;              /* fused 2x2 max pool */
    const sn_op_args *relu;              /* fused relu of the pool */
    const sn_op_args *prelu;             /* or: fused relu between the
                                            conv and the pool */
    unsigned char ran[CONV_MAX_THREADS]; /* which partials were written */
} run;

static inline float *run_scratch(const run *r, int tid) {
    return r->x->work + (size_t)tid * r->l.stride;
}

/* The depthwise kernels (conv_dw.c), sn_parallel_for tasks over the
 * batch's planes (sample, input channel); ctx is the call's run. */
void conv_dw_forward_task(void *ctx, int64_t b, int64_t e, int tid);
void conv_dw_backward_task(void *ctx, int64_t b, int64_t e, int tid);

#endif
