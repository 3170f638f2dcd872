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

/* Four floats, for rows too short for eight. */
typedef float vf4 __attribute__((vector_size(16)));

/* d[0..n) = s[0..n): whole vectors, the last one overlapping the one
 * before when n is not a multiple (rows are 7-28 floats: a loop with a
 * scalar remainder spends more on its bookkeeping than on the copy). */
static inline void row_copy(float *restrict d, const float *restrict s,
                            int n) {
    if (n >= 8) {
        vf8 v;
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            vf8_load(&v, s + i);
            vf8_store(d + i, &v);
        }
        if (i < n) {
            vf8_load(&v, s + n - 8);
            vf8_store(d + n - 8, &v);
        }
    } else if (n >= 4) {
        vf4 a, b;
        memcpy(&a, s, sizeof a);
        memcpy(&b, s + n - 4, sizeof b);
        memcpy(d, &a, sizeof a);
        memcpy(d + n - 4, &b, sizeof b);
    } else {
        for (int i = 0; i < n; i++) d[i] = s[i];
    }
}

/* de[c] = s[2c], dodd[c] = s[2c + 1] for c < w / 2, and de[w / 2] =
 * s[w - 1] when w is odd: one row split into its even and odd columns,
 * as a stride-2 convolution's phase planes hold it. Loads of 2 x 8 (or
 * 2 x 4) floats split by shuffles, the last group overlapping. */
static inline void row_split(float *restrict de, float *restrict dodd,
                             const float *restrict s, int w) {
    const int n = w / 2;
    if (n >= 8) {
        vf8 a, b;
        for (int c = 0;; c += 8) {
            if (c + 8 > n) c = n - 8;
            vf8_load(&a, s + 2 * c);
            vf8_load(&b, s + 2 * c + 8);
            vf8 e = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
            vf8 o = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15);
            vf8_store(de + c, &e);
            vf8_store(dodd + c, &o);
            if (c + 8 >= n) break;
        }
    } else if (n >= 4) {
        vf4 a, b;
        for (int c = 0;; c = n - 4) {
            memcpy(&a, s + 2 * c, sizeof a);
            memcpy(&b, s + 2 * c + 4, sizeof b);
            vf4 e = __builtin_shufflevector(a, b, 0, 2, 4, 6);
            vf4 o = __builtin_shufflevector(a, b, 1, 3, 5, 7);
            memcpy(de + c, &e, sizeof e);
            memcpy(dodd + c, &o, sizeof o);
            if (c == n - 4) break;
        }
    } else {
        for (int c = 0; c < n; c++) {
            de[c] = s[2 * c];
            dodd[c] = s[2 * c + 1];
        }
    }
    if (w % 2) de[n] = s[w - 1];
}

/* Copies plane in[H, W] into the phase buffer; the padding positions are
 * never written, so zeroing the buffer once per task keeps them zero. */
static void dw_pack(const geom *g, const dw_cols *m, const float *in,
                    float *pad) {
    const int s = g->s;
    if (s == 1) {
        float *d = pad + (size_t)g->p * g->lw + g->p;
        for (int iy = 0; iy < g->h; iy++, d += g->lw, in += g->w)
            row_copy(d, in, g->w);
        return;
    }
    if (s == 2) {
        /* padded row py = iy + P is phase row py / 2 of the phase planes
         * (py % 2, b); its even columns (x + P even) go to phase b = P % 2
         * at column (x + P) / 2, the odd ones to the other */
        const size_t plane = dw_plane(g);
        const int be = g->p % 2, bo = 1 - be;
        const int ce = g->p / 2, co = (g->p + 1) / 2;
        for (int iy = 0; iy < g->h; iy++, in += g->w) {
            int py = iy + g->p;
            float *row = pad + (size_t)(py % 2) * 2 * plane +
                         (size_t)(py / 2) * g->lw;
            row_split(row + be * plane + ce, row + bo * plane + co, in, g->w);
        }
        return;
    }
    dw_rows it = dw_rows_start(g);
    for (int iy = 0; iy < g->h; iy++, dw_rows_next(g, &it)) {
        const float *restrict src = in + (size_t)iy * g->w;
        for (int b = 0; b < s; b++) {
            float *restrict d = dw_row(g, pad, it, b) + m[b].c0;
            const float *restrict sp = src + m[b].ix0;
            for (int c = 0; c < m[b].cnt; c++) d[c] = sp[c * s];
        }
    }
}

/* The inverse of row_split: d[2c] (+)= se[c], d[2c + 1] (+)= so[c] for
 * c < w / 2, and d[w - 1] (+)= se[w / 2] when w is odd. fresh: d holds no
 * gradient yet and is written as 0 + v (the bits a zeroed d plus v would
 * give), else added to. Eight of each merged by shuffles per step; a
 * written row overlaps its last step, an added one finishes in scalars. */
static inline void row_merge(float *restrict d, const float *restrict se,
                             const float *restrict so, int w, int fresh) {
    const int n = w / 2;
    int c = 0;
    if (n >= 8) {
        vf8 e, o, lo, hi, z;
        vf8_set(&z, 0.0f);
        for (;; c += 8) {
            if (c + 8 > n) {
                if (!fresh) break;
                c = n - 8;
            }
            vf8_load(&e, se + c);
            vf8_load(&o, so + c);
            lo = __builtin_shufflevector(e, o, 0, 8, 1, 9, 2, 10, 3, 11);
            hi = __builtin_shufflevector(e, o, 4, 12, 5, 13, 6, 14, 7, 15);
            if (fresh) {
                lo += z;
                hi += z;
            } else {
                vf8 a, b;
                vf8_load(&a, d + 2 * c);
                vf8_load(&b, d + 2 * c + 8);
                lo = a + lo;
                hi = b + hi;
            }
            vf8_store(d + 2 * c, &lo);
            vf8_store(d + 2 * c + 8, &hi);
            if (c + 8 >= n) {
                c = n;
                break;
            }
        }
    }
    if (fresh)
        for (; c < n; c++) {
            d[2 * c] = 0.0f + se[c];
            d[2 * c + 1] = 0.0f + so[c];
        }
    else
        for (; c < n; c++) {
            d[2 * c] += se[c];
            d[2 * c + 1] += so[c];
        }
    if (w % 2) d[w - 1] = fresh ? 0.0f + se[n] : d[w - 1] + se[n];
}

/* din[H, W] (+)= the non-padding part of the phase buffer (fresh: din
 * holds no gradient yet, written as 0 + v). */
static void dw_unpack(const geom *g, const dw_cols *m, float *pad,
                      float *din, int fresh) {
    const int s = g->s;
    if (s == 2) { /* as in dw_pack */
        const size_t plane = dw_plane(g);
        const int be = g->p % 2, bo = 1 - be;
        const int ce = g->p / 2, co = (g->p + 1) / 2;
        for (int iy = 0; iy < g->h; iy++, din += g->w) {
            int py = iy + g->p;
            const float *row = pad + (size_t)(py % 2) * 2 * plane +
                               (size_t)(py / 2) * g->lw;
            row_merge(din, row + be * plane + ce, row + bo * plane + co,
                      g->w, fresh);
        }
        return;
    }
    if (fresh) /* in cache: cheaper than a pass of its own */
        memset(din, 0, sizeof(float) * (size_t)g->h * g->w);
    dw_rows it = dw_rows_start(g);
    for (int iy = 0; iy < g->h; iy++, dw_rows_next(g, &it)) {
        float *restrict dst = din + (size_t)iy * g->w;
        for (int b = 0; b < s; b++) {
            const float *restrict sp = dw_row(g, pad, it, b) + m[b].c0;
            float *restrict d = dst + m[b].ix0;
            for (int c = 0; c < m[b].cnt; c++) d[c * s] += sp[c];
        }
    }
}

/* d[0..n) = 0 + s[0..n) (a -0 becomes +0, as adding to a zeroed d
 * gives it), whole vectors as in row_copy. */
static inline void row_set(float *restrict d, const float *restrict s,
                           int n) {
    if (n < 8) {
        for (int i = 0; i < n; i++) d[i] = 0.0f + s[i];
        return;
    }
    vf8 v, z;
    vf8_set(&z, 0.0f);
    for (int i = 0;; i += 8) {
        if (i + 8 > n) i = n - 8;
        vf8_load(&v, s + i);
        v += z;
        vf8_store(d + i, &v);
        if (i + 8 >= n) break;
    }
}

/* d[0..n) += s[0..n): whole vectors, then scalars (an overlapping vector
 * would add twice). */
static inline void row_add(float *restrict d, const float *restrict s,
                           int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        vf8 a, b;
        vf8_load(&a, d + i);
        vf8_load(&b, s + i);
        a += b;
        vf8_store(d + i, &a);
    }
    for (; i < n; i++) d[i] += s[i];
}

/* dst[rows x cols] (+)= src rows of length ld: out of / into the row-length
 * lw layout, a row at a time (rows are 7-28 floats). */
static void rows_copy(float *restrict dst, const float *restrict src,
                      int rows, int cols, size_t ld_dst, size_t ld_src) {
    for (int r = 0; r < rows; r++)
        row_copy(dst + r * ld_dst, src + r * ld_src, cols);
}

/* dst = 0 + src: as rows_add gives it on a zeroed dst, so a fresh input
 * gradient has the same bits */
static void rows_set(float *restrict dst, const float *restrict src,
                     int rows, int cols, size_t ld_dst, size_t ld_src) {
    for (int r = 0; r < rows; r++)
        row_set(dst + r * ld_dst, src + r * ld_src, cols);
}

static void rows_add(float *restrict dst, const float *restrict src,
                     int rows, int cols, size_t ld_dst, size_t ld_src) {
    for (int r = 0; r < rows; r++)
        row_add(dst + r * ld_dst, src + r * ld_src, cols);
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
            if (x->out_clamp > 0.0f) clamp_out(o, g->hw, x->out_clamp);
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
        else
            dw_unpack(g, cm, dpad, dplane, x->din_fresh);
    }
}
