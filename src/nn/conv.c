/* conv.c — conv2d: shape rule, tensors, counts, initialisation, scratch
 * layout, the im2col/sgemm kernel (with the fused max pool) and the entry
 * points. The direct depthwise kernels are in conv_dw.c, the types both
 * share in conv_internal.h.
 *
 * Legend: N batch, Cin/Cout channels, H W input size, Ho Wo output size,
 * K kernel, S stride, P padding, G groups, Cg = Cin/G, Og = Cout/G,
 * KK = K*K, HW = Ho*Wo. Weight [Cout, Cg, K, K], bias [Cout].
 *
 * Two kernels, picked by the shape:
 *   gemm       Cg > 1 or G == 1: per group, out[Og, HW] = W_g[Og, Cg*KK] x
 *              col[Cg*KK, HW] with col = im2col(input). The sgemm N is kept
 *              between CONV_MIN_COLS and CONV_MAX_COLS output pixels:
 *              several small images side by side, or a large one in bands
 *              of rows. A 1x1 stride-1 unpadded conv needs no im2col: the
 *              input already is the column matrix, one sample per product
 *              (straight from and into the NCHW tensors, no copies).
 *              The forward and input-gradient products go to
 *              gemm_small.c up to sn_gemm_small_fits, else to sgemm
 *              (conv_gemm); weight gradients to sgemm.
 *   depthwise  Cg == 1 and G > 1 (MobileNet depthwise, optionally with a
 *              channel multiplier M = Og): a direct kernel (conv_dw.c).
 *              Each input plane is copied, zero padded, into a polyphase
 *              buffer, after which every kernel tap is a
 *              contiguous shift of that buffer, so sixteen outputs at a
 *              time are summed over all taps in vector registers.
 *
 * Threads: the batch (gemm) or the batch's planes (depthwise) are split
 * across sn_parallel_for; each worker has its own slice of `work` (column
 * buffers and partial weight gradients). Partial gradients are summed in
 * thread order afterwards, so results are deterministic for a given
 * thread count. OpenBLAS runs single-threaded inside the workers.
 *
 * Nothing is cached between forward and backward: backward recomputes
 * im2col, which costs far less than keeping Cin*KK*HW floats per sample. */
#include "conv_internal.h"

#include "gemm.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* The sgemm N (output pixels per call) is kept between these: smaller
 * images are packed several samples per call, larger ones split into bands
 * of rows. On the 2-core target (64->64 3x3 convs, batch 128) packing 7x7
 * images lifts sgemm from ~58 to ~82 GFLOP/s per thread; with the max
 * pool fused into the conv, 392..784 (eight 7x7 images per call, a 28x28
 * image whole) trained ak_cnn ~3% faster than 256..512, the other
 * benchmark nets no slower. Banding keeps a larger image's column matrix
 * (Cin*K*K x N floats per thread) inside the core's own L2 and bounds the
 * scratch. */
#ifndef CONV_MIN_COLS
#define CONV_MIN_COLS 392
#endif
#ifndef CONV_MAX_COLS
#define CONV_MAX_COLS 784
#endif

static int out_size(int in, int k, int s, int p) {
    return (in + 2 * p - k) / s + 1;
}

static geom geom_make(const sn_attr *a, sn_shape in) {
    geom g;
    g.cin = in.c;
    g.h = in.h;
    g.w = in.w;
    g.cout = a->out;
    g.k = a->k;
    g.s = a->stride;
    g.p = a->pad;
    g.g = a->groups;
    g.ho = out_size(g.h, g.k, g.s, g.p);
    g.wo = out_size(g.w, g.k, g.s, g.p);
    g.cg = g.cin / g.g;
    g.og = g.cout / g.g;
    g.kk = g.k * g.k;
    g.rows = g.cg * g.kk;
    g.hw = g.ho * g.wo;
    g.bias = a->bias != 0;
    g.pointwise = g.k == 1 && g.s == 1 && g.p == 0;
    /* A one-channel input with G = 1 (a grayscale first layer) has
     * Cg == 1 too, but feeds many filters from one plane: there sgemm
     * (K = KK) measured faster from 4 filters up, so only true depthwise
     * convs take the direct kernel. */
    g.depthwise = g.cg == 1 && g.g > 1;
    g.lh = (g.h + 2 * g.p + g.s - 1) / g.s;
    g.lw = (g.w + 2 * g.p + g.s - 1) / g.s;
    return g;
}

static gemm_geom geom_unfold(const geom *g) {
    gemm_geom u = {g->cin, g->h, g->w, g->k, g->s, g->p, g->ho, g->wo};
    return u;
}


/* ---- shape rule and counts ------------------------------------------- */

int conv_infer(const sn_attr *a, const sn_shape *in, int n_in,
               sn_shape *out, sn_error *e) {
    if (n_in != 1) return sn_errf(e, "conv takes 1 input, got %d", n_in);
    const sn_shape x = in[0];
    if (a->out < 1)
        return sn_errf(e, "conv needs at least 1 filter, got %d", a->out);
    if (a->k < 1)
        return sn_errf(e, "conv kernel size must be at least 1, got %d",
                       a->k);
    if (a->stride < 1)
        return sn_errf(e, "conv stride must be at least 1, got %d",
                       a->stride);
    if (a->pad < 0)
        return sn_errf(e, "conv padding must not be negative, got %d",
                       a->pad);
    if (x.c < 1 || x.h < 1 || x.w < 1)
        return sn_errf(e, "conv input %dx%dx%d (HxWxC) is empty", x.h, x.w,
                       x.c);
    if (a->groups < 1 || a->groups > x.c)
        return sn_errf(e, "groups %d out of range 1..%d (input channels)",
                       a->groups, x.c);
    if (x.c % a->groups)
        return sn_errf(e, "groups %d does not divide input channels %d",
                       a->groups, x.c);
    if (a->out % a->groups)
        return sn_errf(e, "groups %d does not divide output channels %d",
                       a->groups, a->out);
    if (a->k > x.h + 2 * a->pad || a->k > x.w + 2 * a->pad)
        return sn_errf(e, "kernel %d larger than padded input %dx%d", a->k,
                       x.h + 2 * a->pad, x.w + 2 * a->pad);
    out->c = a->out;
    out->h = out_size(x.h, a->k, a->stride, a->pad);
    out->w = out_size(x.w, a->k, a->stride, a->pad);
    return 0;
}

int conv_tensors(const sn_attr *a, const sn_shape *in, int n_in,
                 sn_tensor_desc t[SN_MAX_TENSORS]) {
    t[0] = (sn_tensor_desc){"weight", 4,
                            {a->out, in[0].c / a->groups, a->k, a->k}, 1};
    if (!a->bias) return 1;
    t[1] = (sn_tensor_desc){"bias", 1, {a->out, 0, 0, 0}, 1};
    return 2;
}

int64_t conv_macs(const sn_attr *a, const sn_shape *in, int n_in,
                  sn_shape out) {
    return sn_shape_size(out) * (in[0].c / a->groups) * a->k * a->k;
}

/* thop (mid-2019) counted a conv as output elements x (K*K + bias) x
 * Cin / G: it multiplied its one bias add per output by the input channel
 * count, a quirk the AutoKeras-era reference table depends on. Without a
 * bias the +1 drops out; for grouped convs the channels one output sees
 * (Cin/G) take Cin's place, as in thop's own code. */
int64_t conv_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,
                      sn_shape out) {
    int64_t per = (int64_t)a->k * a->k + (a->bias ? 1 : 0);
    return sn_shape_size(out) * per * (in[0].c / a->groups);
}

size_t conv_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                        sn_shape out, int n) {
    return 0;
}


static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Pointwise convs whose weight gradient goes a pack of samples at a time
 * (see PK_FLOATS). */
#define PACK_PW_MAX 128
static int pack_pw(const geom *g) {
    return g->pointwise && g->og <= PACK_PW_MAX && g->rows <= PACK_PW_MAX;
}

/* The weight gradient goes to OpenBLAS (its packed outer products beat
 * dot products along the pixels); for a narrow pointwise conv, several
 * samples' dout and input copied side by side into one sgemm of K = pack * HW:
 * fewer calls, so fewer trips through OpenBLAS's buffer lock, which two
 * threads training slices of a batch contend for. At most PK_FLOATS per
 * thread. */
#define PK_FLOATS 65536
#define PK_MAX 16

/* The forward and input-gradient products: C = op(A) x B (beta 0) or
 * C += op(A) x B (beta 1), row-major, op(A) [M, K]; gemm_small.c's where
 * sn_gemm_small_fits says it is at least as fast, else cblas_sgemm. */
static void conv_gemm(int trans_a, int M, int N, int K, const float *A,
                      int lda, const float *B, int ldb, float beta, float *C,
                      int ldc) {
    if (sn_gemm_small_fits(M, K))
        sn_gemm_small(trans_a, M, N, K, A, lda, B, ldb, beta != 0.0f, C, ldc);
    else
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, beta, C,
                    ldc);
}

static layout layout_make(const geom *g) {
    layout l = {0};
    size_t at = 0;
    if (g->depthwise) {
        size_t pad = (size_t)g->s * g->s * g->lh * g->lw;
        size_t dpad = pad, ibuf = 0;
        if (g->s == 1 && g->p <= g->k - 1) { /* see dw_gather_back */
            size_t lq = (size_t)g->w + g->k - 1;
            dpad = ((size_t)g->h + g->k - 1) * lq;
            ibuf = (size_t)g->h * lq;
        }
        l.block = 1;
        l.col = at;
        at += round16(pad + DW_SLACK);
        l.dpad = at;
        at += round16(dpad + DW_SLACK);
        l.ibuf = at;
        at += round16(ibuf + DW_SLACK);
        l.obuf = at;
        at += round16((size_t)g->ho * g->lw + DW_SLACK);
        /* tap offsets (two sets), column map, flipped kernel */
        l.off = at;
        at += round16((2 * (size_t)g->kk * sizeof(int) +
                       (size_t)g->s * sizeof(dw_cols) +
                       (size_t)g->kk * sizeof(float) + sizeof(float) - 1) /
                      sizeof(float));
    } else {
        /* small images: samples per piece (sized for the largest block,
         * whatever the batch, so scratch sized for one batch size also
         * serves any other); large images: bands of rows, as even as
         * possible */
        /* ... except pointwise convs: there one sample's input and
         * output already are the sgemm operands, and packing samples
         * costs a copy in and a copy out of every activation, more than
         * the wider sgemm gains (mobile_tiny: ~11% of a training step in
         * memmove, against ~3% after, sgemm's share up ~9%) */
        int b = g->pointwise ? 1 : (CONV_MIN_COLS + g->hw - 1) / g->hw;
        int bands = (g->hw + CONV_MAX_COLS - 1) / CONV_MAX_COLS;
        l.block = b;
        l.band = (g->ho + bands - 1) / bands;
        size_t cols = (size_t)b * l.band * g->wo;
        l.col = at;
        at += round16((size_t)g->cin * g->kk * cols);
        l.obuf = at;
        /* one sample per piece needs it only for a fused max pool's
         * backward (see unpool_piece) */
        at += round16((size_t)g->cout * cols);
        if (pack_pw(g) && bands == 1) {
            size_t per = (size_t)(g->cin + g->cout) * g->hw;
            l.pack = PK_FLOATS / per < PK_MAX ? (int)(PK_FLOATS / per) : PK_MAX;
            if (l.pack < 1) l.pack = 1;
            l.pk = at;
            at += round16(per * l.pack);
        }
    }
    l.dw = at;
    at += round16((size_t)g->cout * g->rows + g->cout);
    l.stride = at;
    return l;
}

/* Scratch for every worker thread: depends on sn_threads_here() (so ask
 * after sn_threads_init; inside a task or a serial section, one thread's)
 * but not on the batch size. */
size_t conv_work_floats(const sn_attr *a, const sn_shape *in, int n_in,
                        sn_shape out, int n) {
    geom g = geom_make(a, in[0]);
    return layout_make(&g).stride * (size_t)sn_threads_here();
}

void conv_init(const sn_attr *a, const sn_shape *in, int n_in,
               float *const *tensor, sn_rng *rng) {
    int64_t fan_in = (int64_t)(in[0].c / a->groups) * a->k * a->k;
    int64_t nw = (int64_t)a->out * fan_in;
    double std = sqrt(2.0 / (double)fan_in); /* He et al. 2015 */
    for (int64_t i = 0; i < nw; i++)
        tensor[0][i] = (float)(sn_rng_normal(rng) * std);
    if (a->bias) memset(tensor[1], 0, sizeof(float) * (size_t)a->out);
}


static void run_make(run *r, const sn_op_args *x) {
    memset(r, 0, sizeof *r);
    r->x = x;
    r->g = geom_make(x->attr, x->in_shape[0]);
    r->threads = sn_threads_here();
    SN_ASSERT(r->threads <= CONV_MAX_THREADS);
    r->l = layout_make(&r->g);
    /* no point packing more samples than a thread gets */
    int per_thread = (x->n + r->threads - 1) / r->threads;
    if (r->l.block > per_thread) r->l.block = per_thread > 0 ? per_thread : 1;
    r->want_dw = x->grad != NULL && x->grad[0] != NULL;
}


/* grad[0] (then grad[1]) += sum over threads of the partials, over the
 * flat index range [b, e) of [dw | db]. */
static void reduce_task(void *ctx, int64_t b, int64_t e, int tid) {
    const run *r = ctx;
    const int64_t nw = (int64_t)r->g.cout * r->g.rows;
    float *const *grad = r->x->grad;
    for (int t = 0; t < r->threads; t++) {
        if (!r->ran[t]) continue;
        const float *restrict p = run_scratch(r, t) + r->l.dw;
        int64_t mid = e < nw ? e : nw;
        float *restrict gw = grad[0];
        for (int64_t i = b; i < mid; i++) gw[i] += p[i];
        if (r->g.bias && grad[1]) {
            float *restrict gb = grad[1];
            for (int64_t i = mid > b ? mid : b; i < e; i++)
                gb[i - nw] += p[i];
        }
    }
}

static void reduce_partials(run *r) {
    int64_t n = (int64_t)r->g.cout * r->g.rows + (r->g.bias ? r->g.cout : 0);
    sn_parallel_for(n, reduce_task, r);
}

/* ---- gemm kernel -----------------------------------------------------
 * Work goes to sgemm in pieces: either several whole samples side by side
 * (small images, see CONV_MIN_COLS) or one sample, a band of output rows
 * at a time (large images, see CONV_MAX_COLS), so the column matrix stays
 * within the core's own cache. */

typedef struct piece {
    int64_t n0;   /* first sample */
    int ns;       /* samples (several only with whole images) */
    int r0, r1;   /* band of output rows */
    int cols;     /* sgemm N: ns * (r1 - r0) * Wo */
} piece;

/* Steps *p through samples [b, e): returns 0 when done. */
static int piece_next(const run *r, int64_t b, int64_t e, piece *p) {
    const geom *g = &r->g;
    if (p->ns == 0) { /* first call */
        p->n0 = b;
        p->r0 = 0;
    } else if (p->r1 < g->ho) { /* next band of the same sample */
        p->r0 = p->r1;
    } else { /* next samples */
        p->n0 += p->ns;
        p->r0 = 0;
    }
    if (p->n0 >= e) return 0;
    p->ns = e - p->n0 < r->l.block ? (int)(e - p->n0) : r->l.block;
    p->r1 = p->r0 + r->l.band < g->ho ? p->r0 + r->l.band : g->ho;
    p->cols = p->ns * (p->r1 - p->r0) * g->wo;
    return 1;
}

/* The piece's column matrix: the input itself for a pointwise conv of one
 * sample, else im2col into col. *ld gets its row stride. */
static const float *piece_cols(const run *r, const piece *p, float *col,
                               int *ld) {
    const geom *g = &r->g;
    const size_t in_sz = (size_t)g->cin * g->h * g->w;
    const float *in0 = r->x->in[0] + (size_t)p->n0 * in_sz;
    if (p->ns == 1 && g->pointwise) {
        *ld = g->hw;
        return in0 + (size_t)p->r0 * g->wo;
    }
    const gemm_geom u = geom_unfold(g);
    for (int i = 0; i < p->ns; i++)
        gemm_im2col(&u, in0 + i * in_sz, col + (size_t)i * g->hw,
                    (size_t)p->cols, p->r0, p->r1);
    *ld = p->cols;
    return col;
}

/* Fused max pool (see sn_conv_maxpool_forward): the pool windows of the
 * piece's output rows [r0, r1), which start on an even row (bands have an
 * even number of rows or cover the image); the last band of an odd Ho
 * drops its last row, as the pool's floor mode does. Then the fused relu
 * of the pooled rows, if any, while they are in L1. */
static void pool_piece(const run *r, const piece *p) {
    const geom *g = &r->g;
    const sn_op_args *q = r->pool;
    const int oh = q->out_shape.h, ow = q->out_shape.w;
    const int oy0 = p->r0 / 2, oy1 = p->r1 / 2 < oh ? p->r1 / 2 : oh;
    for (int i = 0; i < p->ns; i++)
        for (int co = 0; co < g->cout; co++) {
            size_t pl = (size_t)(p->n0 + i) * g->cout + co;
            const float *src = r->x->out + pl * g->hw;
            if (r->prelu) { /* relu of the piece's rows, then pool that */
                const float *restrict v = src;
                float *restrict y = r->prelu->out + pl * g->hw;
                for (int j = p->r0 * g->wo; j < p->r1 * g->wo; j++)
                    y[j] = v[j] > 0.0f ? v[j] : 0.0f;
                src = y;
            }
            sn_maxpool_2x2_rows(src,
                                q->out + pl * oh * ow,
                                (uint8_t *)q->cache + pl * oh * ow, g->wo,
                                oy0, oy1, ow);
            if (!r->relu) continue;
            const float *restrict v = q->out + pl * oh * ow;
            float *restrict y = r->relu->out + pl * oh * ow;
            for (int j = oy0 * ow; j < oy1 * ow; j++)
                y[j] = v[j] > 0.0f ? v[j] : 0.0f;
        }
}

static void gemm_forward_task(void *ctx, int64_t b, int64_t e, int tid) {
    const run *r = ctx;
    const geom *g = &r->g;
    const sn_op_args *x = r->x;
    float *col = run_scratch(r, tid) + r->l.col;
    float *obuf = run_scratch(r, tid) + r->l.obuf;
    const float *wt = x->tensor[0];
    const float *bias = g->bias ? x->tensor[1] : NULL;
    const size_t out_sz = (size_t)g->cout * g->hw;

    piece p = {0};
    while (piece_next(r, b, e, &p)) {
        int ldb, ldc;
        const float *bmat = piece_cols(r, &p, col, &ldb);
        /* one sample writes straight into out; several go through obuf
         * [Cout, cols] and are scattered back to NCHW */
        float *out0 = x->out + (size_t)p.n0 * out_sz;
        float *c = obuf;
        ldc = p.cols;
        if (p.ns == 1) {
            c = out0 + (size_t)p.r0 * g->wo;
            ldc = g->hw;
        }
        if (bias)
            for (int co = 0; co < g->cout; co++) {
                float *row = c + (size_t)co * ldc;
                for (int j = 0; j < p.cols; j++) row[j] = bias[co];
            }
        for (int gr = 0; gr < g->g; gr++)
            conv_gemm(0, g->og, p.cols, g->rows,
                      wt + (size_t)gr * g->og * g->rows, g->rows,
                      bmat + (size_t)gr * g->rows * ldb, ldb,
                      bias ? 1.0f : 0.0f, c + (size_t)gr * g->og * ldc, ldc);
        if (p.ns > 1)
            for (int i = 0; i < p.ns; i++)
                for (int co = 0; co < g->cout; co++)
                    memcpy(out0 + i * out_sz + (size_t)co * g->hw,
                           obuf + (size_t)co * ldc + (size_t)i * g->hw,
                           sizeof(float) * (size_t)g->hw);
        if (x->out_clamp > 0.0f) /* the piece's rows, in cache */
            for (int i = 0; i < p.ns; i++)
                for (int co = 0; co < g->cout; co++)
                    clamp_out(out0 + i * out_sz + (size_t)co * g->hw +
                                  (size_t)p.r0 * g->wo,
                              (size_t)(p.r1 - p.r0) * g->wo, x->out_clamp);
        if (r->pool) pool_piece(r, &p);
        /* the next bn's statistics while the piece is in cache: whole
         * planes only (a banded plane's come once its last band is out) */
        if (x->plane_stats && p.r1 == g->ho)
            for (int i = 0; i < p.ns; i++)
                for (int co = 0; co < g->cout; co++) {
                    size_t pl = (size_t)(p.n0 + i) * g->cout + co;
                    sn_bn_plane_stats(x->out + pl * g->hw, g->hw,
                                      x->plane_stats + pl * 2);
                }
    }
}

/* Fused max pool backward (see sn_conv_maxpool_backward): the piece's
 * dout [Cout, cols] built in dst from the pool's output gradient (or the
 * fused relu's, masked by its output) and argmax codes: each window's
 * gradient goes to the element its code names, every other element (and
 * a dropped odd last row) is zero. */
static void unpool_piece(const run *r, const piece *p, float *dst) {
    const geom *g = &r->g;
    const sn_op_args *q = r->pool;
    const int oh = q->out_shape.h, ow = q->out_shape.w;
    const int rows = p->r1 - p->r0;
    const int oy0 = p->r0 / 2, oy1 = p->r1 / 2 < oh ? p->r1 / 2 : oh;
    memset(dst, 0, sizeof(float) * (size_t)g->cout * p->cols);
    for (int i = 0; i < p->ns; i++)
        for (int co = 0; co < g->cout; co++) {
            size_t pl = (size_t)(p->n0 + i) * g->cout + co;
            const sn_op_args *src = r->relu ? r->relu : q;
            /* relu before the pool: the pooled value (max of the relu'd
             * window) is > 0 exactly where the relu passes the gradient
             * at the window's argmax */
            const sn_op_args *mask = r->relu ? r->relu : r->prelu ? q : NULL;
            sn_maxpool_2x2_unpool_rows(
                src->dout + pl * oh * ow,
                mask ? mask->out + pl * oh * ow : NULL,
                (const uint8_t *)q->cache + pl * oh * ow, ow, oy0, oy1,
                dst + (size_t)co * p->cols + (size_t)i * rows * g->wo, g->wo);
        }
}

static void gemm_backward_task(void *ctx, int64_t b, int64_t e, int tid) {
    run *r = ctx;
    const geom *g = &r->g;
    const sn_op_args *x = r->x;
    float *col = run_scratch(r, tid) + r->l.col;
    float *obuf = run_scratch(r, tid) + r->l.obuf;
    float *dw = run_scratch(r, tid) + r->l.dw;
    float *db = dw + (size_t)g->cout * g->rows;
    const float *wt = x->tensor[0];
    float *din = x->din ? x->din[0] : NULL;
    const size_t in_sz = (size_t)g->cin * g->h * g->w;
    const size_t out_sz = (size_t)g->cout * g->hw;

    if (r->want_dw) {
        memset(dw, 0, sizeof(float) * ((size_t)g->cout * g->rows + g->cout));
        r->ran[tid] = 1;
    }
    piece p = {0};
    int packed = 0; /* samples in the pack (l.pack) */
    while (piece_next(r, b, e, &p)) {
        /* dout of the piece as [Cout, cols] with row stride ldd */
        const float *dout0 = x->dout + (size_t)p.n0 * out_sz;
        const float *dmat = dout0 + (size_t)p.r0 * g->wo;
        int ldd = g->hw;
        if (r->pool) {
            unpool_piece(r, &p, obuf);
            dmat = obuf;
            ldd = p.cols;
        } else if (p.ns > 1) {
            for (int i = 0; i < p.ns; i++)
                for (int co = 0; co < g->cout; co++)
                    memcpy(obuf + (size_t)co * p.cols + (size_t)i * g->hw,
                           dout0 + i * out_sz + (size_t)co * g->hw,
                           sizeof(float) * (size_t)g->hw);
            dmat = obuf;
            ldd = p.cols;
        }
        const int direct = p.ns == 1 && g->pointwise;
        int ldb = p.cols;
        if (r->want_dw) {
            if (g->bias)
                for (int co = 0; co < g->cout; co++)
                    db[co] += sum_lanes(dmat + (size_t)co * ldd,
                                        (size_t)p.cols);
            if (r->l.pack) { /* narrow pointwise: see PK_FLOATS */
                const size_t W = (size_t)r->l.pack * g->hw;
                float *pd = run_scratch(r, tid) + r->l.pk;
                float *px = pd + (size_t)g->cout * W;
                const float *xin = x->in[0] + (size_t)p.n0 * in_sz;
                const size_t at = (size_t)packed * g->hw;
                for (int co = 0; co < g->cout; co++)
                    memcpy(pd + co * W + at, dmat + (size_t)co * ldd,
                           sizeof(float) * (size_t)g->hw);
                for (int ci = 0; ci < g->cin; ci++)
                    memcpy(px + ci * W + at, xin + (size_t)ci * g->hw,
                           sizeof(float) * (size_t)g->hw);
                if (++packed == r->l.pack || p.n0 + p.ns >= e) {
                    for (int gr = 0; gr < g->g; gr++)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                                    g->og, g->rows, packed * g->hw, 1.0f,
                                    pd + (size_t)gr * g->og * W, (int)W,
                                    px + (size_t)gr * g->rows * W, (int)W,
                                    1.0f, dw + (size_t)gr * g->og * g->rows,
                                    g->rows);
                    packed = 0;
                }
            } else {
                const float *bmat = piece_cols(r, &p, col, &ldb);
                /* dW_g[Og, Cg*KK] += dout_g[Og, cols] x col_g^T */
                for (int gr = 0; gr < g->g; gr++)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                                g->og, g->rows, p.cols, 1.0f,
                                dmat + (size_t)gr * g->og * ldd, ldd,
                                bmat + (size_t)gr * g->rows * ldb, ldb, 1.0f,
                                dw + (size_t)gr * g->og * g->rows, g->rows);
            }
        }
        if (!din) continue;
        /* dcol_g[Cg*KK, cols] = W_g^T x dout_g; a direct 1x1 conv adds it
         * straight into din, otherwise it is folded back with col2im */
        float *din0 = din + (size_t)p.n0 * in_sz;
        float *dst = col;
        int ldx = p.cols;
        if (direct) {
            dst = din0 + (size_t)p.r0 * g->wo;
            ldx = g->hw;
        }
        /* din_fresh: din holds no gradient yet (not even zeros): a direct
         * 1x1 conv writes it (beta 0), col2im adds to the piece's samples
         * zeroed here, in cache, on their first band */
        float beta = direct && !x->din_fresh ? 1.0f : 0.0f;
        for (int gr = 0; gr < g->g; gr++)
            conv_gemm(1, g->rows, p.cols, g->og,
                      wt + (size_t)gr * g->og * g->rows, g->rows,
                      dmat + (size_t)gr * g->og * ldd, ldd, beta,
                      dst + (size_t)gr * g->rows * ldx, ldx);
        if (!direct && x->din_fresh && p.r0 == 0)
            memset(din0, 0, sizeof(float) * in_sz * (size_t)p.ns);
        if (!direct) {
            const gemm_geom u = geom_unfold(g);
            for (int i = 0; i < p.ns; i++)
                gemm_col2im(&u, col + (size_t)i * g->hw, (size_t)p.cols,
                            din0 + i * in_sz, p.r0, p.r1);
        }
    }
}


/* ---- entry points ---------------------------------------------------- */

void conv_forward(const sn_op_args *x) {
    run r;
    run_make(&r, x);
    if (r.g.depthwise)
        sn_parallel_for((int64_t)x->n * r.g.cin, conv_dw_forward_task, &r);
    else
        sn_parallel_for(x->n, gemm_forward_task, &r);
}

int sn_conv_maxpool_fusable(const sn_attr *conv, sn_shape conv_in,
                            const sn_attr *pool) {
    if (!(pool->k == 2 && pool->stride == 2 && pool->pad == 0)) return 0;
    geom g = geom_make(conv, conv_in);
    if (g.depthwise || g.ho < 2 || g.wo < 2) return 0;
    layout l = layout_make(&g);
    return l.band == g.ho || l.band % 2 == 0;
}

/* The run of a conv whose 2x2 max pool (and the pool's relu) are fused
 * into it, both directions. */
static void fused_run_make(run *r, const sn_op_args *x,
                           const sn_op_args *pool, const sn_op_args *relu) {
    run_make(r, x);
    SN_ASSERT(sn_conv_maxpool_fusable(x->attr, x->in_shape[0], pool->attr) &&
              pool->n == x->n && pool->in[0] == x->out);
    SN_ASSERT(!relu || (relu->n == x->n && relu->in[0] == pool->out));
    r->pool = pool;
    r->relu = relu;
}

void sn_conv_maxpool_forward(const sn_op_args *x, const sn_op_args *pool,
                             const sn_op_args *relu) {
    run r;
    fused_run_make(&r, x, pool, relu);
    sn_parallel_for(x->n, gemm_forward_task, &r);
}

void sn_conv_maxpool_backward(const sn_op_args *x, const sn_op_args *pool,
                              const sn_op_args *relu) {
    run r;
    fused_run_make(&r, x, pool, relu);
    if (!r.want_dw && !(x->din && x->din[0])) return;
    sn_parallel_for(x->n, gemm_backward_task, &r);
    if (r.want_dw) reduce_partials(&r);
}

/* conv -> relu -> 2x2 max pool (see nn.h) */
static void pre_run_make(run *r, const sn_op_args *x, const sn_op_args *relu,
                         const sn_op_args *pool) {
    run_make(r, x);
    SN_ASSERT(sn_conv_maxpool_fusable(x->attr, x->in_shape[0], pool->attr) &&
              relu->n == x->n && relu->in[0] == x->out &&
              pool->n == x->n && pool->in[0] == relu->out);
    r->pool = pool;
    r->prelu = relu;
}

void sn_conv_relu_maxpool_forward(const sn_op_args *x, const sn_op_args *relu,
                                  const sn_op_args *pool) {
    run r;
    pre_run_make(&r, x, relu, pool);
    sn_parallel_for(x->n, gemm_forward_task, &r);
}

void sn_conv_relu_maxpool_backward(const sn_op_args *x,
                                   const sn_op_args *relu,
                                   const sn_op_args *pool) {
    run r;
    pre_run_make(&r, x, relu, pool);
    if (!r.want_dw && !(x->din && x->din[0])) return;
    sn_parallel_for(x->n, gemm_backward_task, &r);
    if (r.want_dw) reduce_partials(&r);
}

void conv_backward(const sn_op_args *x) {
    run r;
    run_make(&r, x);
    if (!r.want_dw && !(x->din && x->din[0])) return;
    if (r.g.depthwise)
        sn_parallel_for((int64_t)x->n * r.g.cin, conv_dw_backward_task, &r);
    else
        sn_parallel_for(x->n, gemm_backward_task, &r);
    if (r.want_dw) reduce_partials(&r);
}
