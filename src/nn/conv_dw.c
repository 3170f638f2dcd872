/* conv_dw.c — conv2d's direct depthwise kernels (Cg == 1, G > 1; see
 * conv.c for the shape rule, the scratch layout and the dispatch). */
#include "conv_internal.h"

#include <string.h>

/* ---- depthwise kernel -------------------------------------------------
 * The zero-padded input plane (Hp x Wp, Hp = H + 2P) is stored as S*S
 * phase planes: phase (a, b) holds padded pixels (y, x) with y % S == a,
 * x % S == b, at [y / S][x / S], row length lw = ceil(Wp / S). Output
 * pixel (oh, ow) with tap (kh, kw) reads padded (oh*S + kh, ow*S + kw),
 * i.e. phase (kh % S, kw % S) at [oh + kh/S][ow + kw/S]. So if the output
 * plane is also laid out with row length lw, tap t reads
 *     phase[off[t] + i]   for every flat output index i,
 * with off[t] = phase start + (kh/S)*lw + kw/S: each tap is a contiguous
 * shift of the buffer, whatever the stride. The lw - Wo extra entries per
 * output row are junk in forward (never copied out) and zero in backward
 * (so they add nothing).
 *
 * Backward, stride 1: the input gradient is itself a stride-1 convolution,
 * of dout zero-padded by Q = K-1-P with the kernel flipped, so it reuses
 * the forward kernel (a gather: one store per element). Other strides (or
 * P > K-1) scatter dout back tap by tap into a phase buffer. */

static size_t dw_plane(const geom *g) { return (size_t)g->lh * g->lw; }

/* Flat length of an output plane laid out with row length lw. */
static size_t dw_flat(const geom *g) {
    return (size_t)(g->ho - 1) * g->lw + g->wo;
}

/* The vector kernels run over whole blocks of 16: lengths are rounded up
 * and every buffer they touch has DW_SLACK floats of zeroed slack after
 * it, so the extra lanes read zeros and write junk nobody copies out. */
static size_t dw_round(size_t n) { return (n + 15) & ~(size_t)15; }

/* Stride-1 input-gradient path: dout padded by Q on every side. */
static int dw_gather_back(const geom *g) {
    return g->s == 1 && g->p <= g->k - 1;
}

static size_t dw_tap(const geom *g, int kh, int kw) {
    int s = g->s;
    return ((size_t)(kh % s) * s + kw % s) * dw_plane(g) +
           (size_t)(kh / s) * g->lw + kw / s;
}

static void dw_col_map(const geom *g, dw_cols *m) {
    for (int b = 0; b < g->s; b++) {
        int ix0 = ((b - g->p) % g->s + g->s) % g->s;
        m[b].ix0 = ix0;
        m[b].c0 = (ix0 + g->p) / g->s;
        m[b].cnt = ix0 < g->w ? (g->w - ix0 + g->s - 1) / g->s : 0;
    }
}

/* Walks the padded rows py = iy + P of the input, iy = 0, 1, ..., keeping
 * the phase py % S and phase row py / S without dividing each time. */
typedef struct dw_rows {
    int a, r;
} dw_rows;

static dw_rows dw_rows_start(const geom *g) {
    return (dw_rows){g->p % g->s, g->p / g->s};
}

static void dw_rows_next(const geom *g, dw_rows *it) {
    if (++it->a == g->s) {
        it->a = 0;
        it->r++;
    }
}

/* Start of the phase-(it.a, b) row of the current padded row. */
static float *dw_row(const geom *g, float *pad, dw_rows it, int b) {
    return pad + ((size_t)it.a * g->s + b) * dw_plane(g) +
           (size_t)it.r * g->lw;
}

/* Copies plane in[H, W] into the phase buffer; the padding positions are
 * never written, so zeroing the buffer once per task keeps them zero. */
static void dw_pack(const geom *g, const dw_cols *m, const float *in,
                    float *pad) {
    const int s = g->s;
    dw_rows it = dw_rows_start(g);
    for (int iy = 0; iy < g->h; iy++, dw_rows_next(g, &it)) {
        const float *restrict src = in + (size_t)iy * g->w;
        if (s == 1) {
            float *restrict d = dw_row(g, pad, it, 0) + g->p;
            for (int ix = 0; ix < g->w; ix++) d[ix] = src[ix];
        } else if (s == 2) {
            /* both phases in one loop: gcc vectorises the even/odd split
             * with shuffles (two separate strided loops it cannot) */
            float *restrict de = dw_row(g, pad, it, g->p % 2) + g->p / 2;
            float *restrict dodd =
                dw_row(g, pad, it, (g->p + 1) % 2) + (g->p + 1) / 2;
            int c = 0;
            for (; c < g->w / 2; c++) {
                de[c] = src[2 * c];
                dodd[c] = src[2 * c + 1];
            }
            if (g->w % 2) de[c] = src[2 * c];
        } else {
            for (int b = 0; b < s; b++) {
                float *restrict d = dw_row(g, pad, it, b) + m[b].c0;
                const float *restrict sp = src + m[b].ix0;
                for (int c = 0; c < m[b].cnt; c++) d[c] = sp[c * s];
            }
        }
    }
}

/* din[H, W] += the non-padding part of the phase buffer. */
static void dw_unpack_add(const geom *g, const dw_cols *m, float *pad,
                          float *din) {
    const int s = g->s;
    dw_rows it = dw_rows_start(g);
    for (int iy = 0; iy < g->h; iy++, dw_rows_next(g, &it)) {
        float *restrict dst = din + (size_t)iy * g->w;
        if (s == 2) { /* as in dw_pack */
            const float *restrict se = dw_row(g, pad, it, g->p % 2) + g->p / 2;
            const float *restrict so =
                dw_row(g, pad, it, (g->p + 1) % 2) + (g->p + 1) / 2;
            int c = 0;
            for (; c < g->w / 2; c++) {
                dst[2 * c] += se[c];
                dst[2 * c + 1] += so[c];
            }
            if (g->w % 2) dst[2 * c] += se[c];
            continue;
        }
        for (int b = 0; b < s; b++) {
            const float *restrict sp = dw_row(g, pad, it, b) + m[b].c0;
            float *restrict d = dst + m[b].ix0;
            for (int c = 0; c < m[b].cnt; c++) d[c * s] += sp[c];
        }
    }
}

/* dst[rows x cols] (+)= src rows of length ld: out of / into the row-length
 * lw layout. Inline loops: rows are short, a memcpy call would cost more
 * than the copy. */
static void rows_copy(float *restrict dst, const float *restrict src,
                      int rows, int cols, size_t ld_dst, size_t ld_src) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[r * ld_dst + c] = src[r * ld_src + c];
}

/* dst = 0 + src: as rows_add gives it on a zeroed dst (a -0 becomes +0),
 * so a fresh input gradient has the same bits */
static void rows_set(float *restrict dst, const float *restrict src,
                     int rows, int cols, size_t ld_dst, size_t ld_src) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[r * ld_dst + c] = 0.0f + src[r * ld_src + c];
}

static void rows_add(float *restrict dst, const float *restrict src,
                     int rows, int cols, size_t ld_dst, size_t ld_src) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[r * ld_dst + c] += src[r * ld_src + c];
}

/* Eight floats as one GCC/clang vector (plain C operators, lowered to
 * AVX, or to two SSE halves on older machines). Written out because gcc's
 * auto-vectoriser, given the tap loop inside the pixel loop, vectorises
 * the short tap loop with gathers instead of the pixel loop. Loads and
 * stores go through memcpy: unaligned and free of aliasing questions.
 * The helpers take pointers: a 32-byte vector passed or returned by value
 * changes the ABI when AVX is off, which gcc and clang warn about. */
typedef float vf8 __attribute__((vector_size(32)));

static inline void vf8_load(vf8 *v, const float *p) {
    memcpy(v, p, sizeof *v);
}

static inline void vf8_store(float *p, const vf8 *v) {
    memcpy(p, v, sizeof *v);
}

static inline void vf8_set(vf8 *v, float x) {
    *v = (vf8){x, x, x, x, x, x, x, x};
}

/* o[i] (+)= bias + sum over taps t of w[t] * src[off[t] + i], i < n.
 * Sixteen outputs at a time stay in two vector registers while the taps
 * stream past, so each output is stored once instead of loaded and stored
 * once per tap; leftovers take a scalar loop. */
static inline __attribute__((always_inline)) void
dw_taps(float *restrict o, const float *restrict src,
        const int *restrict off, const float *restrict w, int kk,
        float bias, size_t n, int accumulate) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        vf8 a0, a1, wv, s0, s1;
        if (accumulate) {
            vf8_load(&a0, o + i);
            vf8_load(&a1, o + i + 8);
        } else {
            vf8_set(&a0, bias);
            vf8_set(&a1, bias);
        }
        for (int t = 0; t < kk; t++) {
            vf8_set(&wv, w[t]);
            vf8_load(&s0, src + off[t] + i);
            vf8_load(&s1, src + off[t] + i + 8);
            a0 += wv * s0;
            a1 += wv * s1;
        }
        vf8_store(o + i, &a0);
        vf8_store(o + i + 8, &a1);
    }
    for (; i < n; i++) {
        float acc = accumulate ? o[i] : bias;
        for (int t = 0; t < kk; t++) acc += w[t] * src[off[t] + i];
        o[i] = acc;
    }
}

/* dw[t] += sum over i < n of d[i] * src[off[t] + i]: per tap a dot
 * product in two vector accumulators, lanes summed at the end. */
static inline __attribute__((always_inline)) void
dw_dots(float *restrict dw, const float *restrict d,
        const float *restrict src, const int *restrict off, int kk,
        size_t n) {
    for (int t = 0; t < kk; t++) {
        const float *restrict sp = src + off[t];
        vf8 a0, a1, d0, d1, s0, s1;
        vf8_set(&a0, 0.0f);
        vf8_set(&a1, 0.0f);
        size_t i = 0;
        for (; i + 16 <= n; i += 16) {
            vf8_load(&d0, d + i);
            vf8_load(&d1, d + i + 8);
            vf8_load(&s0, sp + i);
            vf8_load(&s1, sp + i + 8);
            a0 += d0 * s0;
            a1 += d1 * s1;
        }
        float sum = 0;
        for (; i < n; i++) sum += d[i] * sp[i];
        a0 += a1;
        for (int l = 0; l < 8; l++) sum += a0[l];
        dw[t] += sum;
    }
}

/* Dispatch to copies of dw_taps specialised for 3x3 and 5x5 (the tap loop
 * unrolls); any other size runs the same code with a run-time count. */
static void dw_taps_k(int k, float *o, const float *src, const int *off,
                      const float *w, float bias, size_t n, int accumulate) {
    if (k == 3)
        dw_taps(o, src, off, w, 9, bias, n, accumulate);
    else if (k == 5)
        dw_taps(o, src, off, w, 25, bias, n, accumulate);
    else
        dw_taps(o, src, off, w, k * k, bias, n, accumulate);
}

/* Tap offsets into the phase buffer (forward and weight gradient); int,
 * since a plane is small, and so the scratch needs only float alignment. */
static void dw_offsets(const geom *g, int *off) {
    for (int kh = 0; kh < g->k; kh++)
        for (int kw = 0; kw < g->k; kw++)
            off[kh * g->k + kw] = (int)dw_tap(g, kh, kw);
}

void conv_dw_forward_task(void *ctx, int64_t b, int64_t e, int tid) {
    const run *r = ctx;
    const geom *g = &r->g;
    const sn_op_args *x = r->x;
    float *pad = run_scratch(r, tid) + r->l.col;
    float *obuf = run_scratch(r, tid) + r->l.obuf;
    int *off = (int *)(void *)(run_scratch(r, tid) + r->l.off);
    const float *wt = x->tensor[0];
    const float *bias = g->bias ? x->tensor[1] : NULL;
    const int m = g->og; /* channel multiplier */
    const size_t nf = dw_round(dw_flat(g));
    dw_cols *cm = (dw_cols *)(void *)(off + 2 * g->kk);

    dw_offsets(g, off);
    dw_col_map(g, cm);
    memset(pad, 0,
           sizeof(float) * ((size_t)g->s * g->s * dw_plane(g) + DW_SLACK));
    for (int64_t pl = b; pl < e; pl++) { /* plane = (sample, in channel) */
        int64_t n = pl / g->cin;
        int ci = (int)(pl % g->cin);
        dw_pack(g, cm, x->in[0] + (size_t)pl * g->h * g->w, pad);
        for (int j = 0; j < m; j++) {
            int co = ci * m + j;
            dw_taps_k(g->k, obuf, pad, off, wt + (size_t)co * g->kk,
                      bias ? bias[co] : 0.0f, nf, 0);
            float *o = x->out + ((size_t)n * g->cout + co) * g->hw;
            rows_copy(o, obuf, g->ho, g->wo, (size_t)g->wo, (size_t)g->lw);
            if (x->plane_stats) /* the next bn's, while o is in L1 */
                sn_bn_plane_stats(o, g->hw,
                                  x->plane_stats +
                                      ((size_t)n * g->cout + co) * 2);
        }
    }
}

void conv_dw_backward_task(void *ctx, int64_t b, int64_t e, int tid) {
    run *r = ctx;
    const geom *g = &r->g;
    const sn_op_args *x = r->x;
    float *scratch = run_scratch(r, tid);
    float *pad = scratch + r->l.col;
    float *dpad = scratch + r->l.dpad;
    float *obuf = scratch + r->l.obuf;
    float *ibuf = scratch + r->l.ibuf;
    int *off = (int *)(void *)(scratch + r->l.off);
    int *boff = off + g->kk;
    dw_cols *cm = (dw_cols *)(void *)(boff + g->kk);
    float *flip = (float *)(void *)(cm + g->s);
    float *dw = scratch + r->l.dw;
    float *db = dw + (size_t)g->cout * g->kk;
    const float *wt = x->tensor[0];
    float *din = x->din ? x->din[0] : NULL;
    const int m = g->og;
    const size_t nf = dw_flat(g);
    const size_t nfr = dw_round(nf);
    const size_t padn = (size_t)g->s * g->s * dw_plane(g);
    const int gather = dw_gather_back(g);
    /* gather path: dout padded by q into dpad, rows of length lq */
    const int q = g->k - 1 - g->p;
    const size_t lq = (size_t)g->w + g->k - 1;
    const size_t nq = dw_round((size_t)(g->h - 1) * lq + g->w);

    dw_offsets(g, off);
    dw_col_map(g, cm);
    if (gather) {
        /* din tap t reads dpad[boff[t] + i] with the flipped weight */
        for (int kh = 0; kh < g->k; kh++)
            for (int kw = 0; kw < g->k; kw++)
                boff[kh * g->k + kw] = kh * (int)lq + kw;
        /* its borders are never written: zero them once */
        memset(dpad, 0, sizeof(float) * ((g->h + g->k - 1) * lq + DW_SLACK));
    }
    memset(pad, 0, sizeof(float) * (padn + DW_SLACK));
    /* the junk columns of obuf (and its slack) must be zero; the copies
     * below only ever write the Wo real columns of each row */
    memset(obuf, 0, sizeof(float) * ((size_t)g->ho * g->lw + DW_SLACK));
    if (r->want_dw) {
        memset(dw, 0, sizeof(float) * ((size_t)g->cout * g->kk + g->cout));
        r->ran[tid] = 1;
    }
    for (int64_t pl = b; pl < e; pl++) {
        int64_t n = pl / g->cin;
        int ci = (int)(pl % g->cin);
        if (r->want_dw)
            dw_pack(g, cm, x->in[0] + (size_t)pl * g->h * g->w, pad);
        if (din && !gather) memset(dpad, 0, sizeof(float) * padn);
        for (int j = 0; j < m; j++) {
            int co = ci * m + j;
            const float *dout = x->dout + ((size_t)n * g->cout + co) * g->hw;
            const float *w = wt + (size_t)co * g->kk;
            if (r->want_dw) {
                if (g->bias) db[co] += sum_lanes(dout, g->hw);
                rows_copy(obuf, dout, g->ho, g->wo, (size_t)g->lw,
                          (size_t)g->wo);
                dw_dots(dw + (size_t)co * g->kk, obuf, pad, off, g->kk, nfr);
            }
            if (!din) continue;
            if (gather) {
                rows_copy(dpad + (size_t)q * lq + q, dout, g->ho, g->wo, lq,
                          (size_t)g->wo);
                for (int t = 0; t < g->kk; t++) flip[t] = w[g->kk - 1 - t];
                dw_taps_k(g->k, ibuf, dpad, boff, flip, 0.0f, nq, j > 0);
            } else {
                if (!r->want_dw)
                    rows_copy(obuf, dout, g->ho, g->wo, (size_t)g->lw,
                              (size_t)g->wo);
                for (int t = 0; t < g->kk; t++) {
                    float *restrict dp = dpad + off[t];
                    const float *restrict d = obuf;
                    const float wv = w[t];
                    for (size_t i = 0; i < nf; i++) dp[i] += wv * d[i];
                }
            }
        }
        if (!din) continue;
        /* din_fresh: the plane holds no gradient yet (not even zeros):
         * written, not added to */
        float *dplane = din + (size_t)pl * g->h * g->w;
        if (gather && x->din_fresh)
            rows_set(dplane, ibuf, g->h, g->w, (size_t)g->w, lq);
        else if (gather)
            rows_add(dplane, ibuf, g->h, g->w, (size_t)g->w, lq);
        else {
            if (x->din_fresh) /* in cache: cheaper than a pass of its own */
                memset(dplane, 0, sizeof(float) * (size_t)g->h * g->w);
            dw_unpack_add(g, cm, dpad, dplane);
        }
    }
}
