/* quant.c — int8 quantisation of a lowered program (calibration on
 * training images through slimnas's float forward, per-channel weight
 * scales, integer requantisation), and the in-process reference run of
 * the float and int8 programs: the same loops, in the same order, with
 * the same integer arithmetic as the kernels c.c writes into model.c, so
 * the int8 logits here equal the compiled model's bit for bit
 * (tests/test_export_c.c checks it). */
#include "export_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- integer helpers (mirrored as text in c.c) ------------------------ */

static int64_t rshift_round(int64_t v, int sh) {
    if (sh <= 0) return v;
    int64_t h = (int64_t)1 << (sh - 1);
    return v >= 0 ? (v + h) >> sh : -((-v + h) >> sh);
}

static int8_t sat8(int64_t v, int lo, int hi) {
    return (int8_t)(v < lo ? lo : v > hi ? hi : v);
}

/* round half away from zero, clamped to [-127, 127] (NaN -> 0) */
static int8_t quant_in(float v) {
    if (!(v == v)) return 0;
    if (v > 127.0f) v = 127.0f;
    if (v < -127.0f) v = -127.0f;
    return (int8_t)(v >= 0.0f ? (int)(v + 0.5f) : -(int)(-v + 0.5f));
}

/* r as mul * 2^-shift, mul in [2^30, 2^31) when r allows, shift <= 62. */
static void decompose(double r, int32_t *mul, int8_t *shift) {
    double a = fabs(r);
    if (a == 0.0 || !isfinite(a)) {
        *mul = 0;
        *shift = 0;
        return;
    }
    int ex;
    double f = frexp(a, &ex); /* a = f * 2^ex, f in [0.5, 1) */
    int sh = 31 - ex;
    double m = round(f * 2147483648.0);
    if (m >= 2147483648.0) {
        m /= 2;
        sh--;
    }
    if (sh > 62) {
        m = round(ldexp(a, 62));
        sh = 62;
    }
    if (sh < 0) {
        m = 2147483647.0;
        sh = 0;
    }
    *mul = (int32_t)(r < 0 ? -m : m);
    *shift = (int8_t)sh;
}

/* ---- calibration ------------------------------------------------------ */

static int is_passthrough(xs_kind k) {
    return k == XS_RELU || k == XS_RELU6 || k == XS_MAXPOOL;
}

/* max |x| of every node's output over n training images of d. */
static int calibrate(const sn_graph *g, const sn_weights *w,
                     const float *mean, const float *std, const sn_data *d,
                     int n, uint64_t seed, double *maxabs, int *used,
                     sn_error *e) {
    int avail = sn_data_count(d, SN_SPLIT_TRAIN);
    sn_shape ds = sn_data_shape(d);
    if (ds.c != g->input.c || ds.h != g->input.h || ds.w != g->input.w)
        return sn_errf(e, "calibration data %s has images %dx%dx%d (HxWxC), "
                          "the graph takes %dx%dx%d",
                       sn_data_name(d), ds.h, ds.w, ds.c, g->input.h,
                       g->input.w, g->input.c);
    if (avail < 1)
        return sn_errf(e, "calibration data %s has no training images",
                       sn_data_name(d));
    if (n <= 0 || n > avail) n = avail;
    int *idx = sn_xmalloc((size_t)avail * sizeof *idx);
    for (int i = 0; i < avail; i++) idx[i] = i;
    sn_rng r;
    sn_rng_seed(&r, seed ? seed : 1);
    for (int i = 0; i < n; i++) { /* partial Fisher-Yates */
        int j = i + sn_rng_int(&r, avail - i);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    enum { B = 50 };
    int64_t isz = sn_shape_size(g->input);
    float *x = sn_falloc((size_t)(B * isz));
    /* sn_exec needs a non-const weights pointer; forward does not write */
    sn_exec *ex = sn_exec_new(g, (sn_weights *)w, B);
    int hw = g->input.h * g->input.w;
    for (int i = 0; i < g->n_nodes; i++) maxabs[i] = 0;
    for (int b0 = 0; b0 < n; b0 += B) {
        int nb = n - b0 < B ? n - b0 : B;
        for (int k = 0; k < nb; k++) {
            const uint8_t *px = sn_data_raw(d, SN_SPLIT_TRAIN, idx[b0 + k]);
            for (int64_t t = 0; t < isz; t++) {
                float v = (float)px[t] / 255.0f;
                int c = (int)(t / hw);
                if (mean) v = (v - mean[c]) * (float)(1.0 / (double)std[c]);
                x[k * isz + t] = v;
            }
        }
        sn_exec_forward(ex, x, nb, 0);
        for (int i = 0; i < g->n_nodes; i++) {
            const float *o = i == 0 ? x : sn_exec_output(ex, i);
            int64_t cnt = (int64_t)nb * sn_shape_size(g->nodes[i].out);
            double m = maxabs[i];
            for (int64_t t = 0; t < cnt; t++)
                if (fabs((double)o[t]) > m) m = fabs((double)o[t]);
            maxabs[i] = m;
        }
    }
    sn_exec_free(ex);
    sn_free_aligned(x);
    free(idx);
    *used = n;
    return 0;
}

/* ---- quantisation ----------------------------------------------------- */

static void clamp_act(xs_step *s, float so) {
    s->q.lo = -127;
    s->q.hi = 127;
    if (s->act != XS_ACT_NONE) s->q.lo = 0;
    if (s->act == XS_ACT_RELU6) {
        double six = round(6.0 / so);
        if (six < 127) s->q.hi = (int)six;
    }
}

static void quant_layer(xs_prog *p, xs_step *s) {
    int out = s->out_shape.c;
    int64_t per = s->n_w / out;
    double si = p->scale[s->in[0]], so = p->scale[s->value];
    s->q.w = sn_xmalloc((size_t)s->n_w);
    s->q.bias = sn_xmalloc((size_t)out * sizeof *s->q.bias);
    s->q.mul = sn_xmalloc((size_t)out * sizeof *s->q.mul);
    s->q.shift = sn_xmalloc((size_t)out * sizeof *s->q.shift);
    s->q.wscale = sn_xmalloc((size_t)out * sizeof *s->q.wscale);
    s->q.float_out = s->value == p->g->n_nodes - 1;
    if (s->q.float_out)
        s->q.deq = sn_xmalloc((size_t)out * sizeof *s->q.deq);
    for (int m = 0; m < out; m++) {
        double mx = 0;
        for (int64_t t = 0; t < per; t++)
            if (fabs((double)s->w[m * per + t]) > mx)
                mx = fabs((double)s->w[m * per + t]);
        double sw = mx / 127.0;
        double bmin = fabs((double)s->b[m]) / (si * 1073741824.0);
        if (sw < bmin) sw = bmin; /* the bias must fit 2^30 */
        if (!(sw > 0)) sw = 1.0;  /* weights and bias all zero */
        for (int64_t t = 0; t < per; t++) {
            double v = round((double)s->w[m * per + t] / sw);
            s->q.w[m * per + t] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
        s->q.bias[m] = (int32_t)round((double)s->b[m] / (si * sw));
        decompose(si * sw / so, &s->q.mul[m], &s->q.shift[m]);
        if (s->q.float_out) s->q.deq[m] = (float)(si * sw);
        s->q.wscale[m] = (float)sw;
    }
    clamp_act(s, (float)so);
}

int xs_quantize(xs_prog *p, const sn_weights *w, const float *mean,
                const float *std, const sn_data *calib, int n,
                uint64_t seed, int *used, sn_error *e) {
    const sn_graph *g = p->g;
    if (!calib) return sn_errf(e, "int8 export needs calibration data");
    double *mx = sn_xmalloc((size_t)g->n_nodes * sizeof *mx);
    if (calibrate(g, w, mean, std, calib, n, seed, mx, used, e)) {
        free(mx);
        return -1;
    }
    p->scale = sn_xmalloc((size_t)g->n_nodes * sizeof *p->scale);
    for (int i = 0; i < g->n_nodes; i++) {
        const sn_node *nd = &g->nodes[i];
        double s = mx[i] / 127.0;
        if (!(s > 1e-12)) s = 1e-12; /* a tensor that is always zero */
        p->scale[i] = (float)s;
        if (nd->op == SN_OP_FLATTEN || nd->op == SN_OP_DROPOUT)
            p->scale[i] = p->scale[nd->in[0]];
    }
    /* steps run in node order, so an input's scale is final when read */
    for (int k = 0; k < p->n_steps; k++) {
        xs_step *s = &p->steps[k];
        if (is_passthrough(s->kind)) {
            p->scale[s->value] = p->scale[s->in[0]];
            for (int i = s->value + 1; i < g->n_nodes; i++) {
                const sn_node *nd = &g->nodes[i]; /* views of it follow */
                if ((nd->op == SN_OP_FLATTEN || nd->op == SN_OP_DROPOUT) &&
                    p->node_buf[i] == s->out_buf)
                    p->scale[i] = p->scale[nd->in[0]];
            }
        }
    }
    free(mx);
    for (int k = 0; k < p->n_steps; k++) {
        xs_step *s = &p->steps[k];
        double so = p->scale[s->value];
        int C = s->out_shape.c;
        switch (s->kind) {
        case XS_INPUT:
            s->q.inq = sn_xmalloc((size_t)C * sizeof *s->q.inq);
            for (int c = 0; c < C; c++)
                s->q.inq[c] =
                    (float)((mean ? 1.0 / (double)std[c] : 1.0) / so);
            break;
        case XS_CONV:
        case XS_DENSE:
            quant_layer(p, s);
            break;
        case XS_AFFINE: {
            double si = p->scale[s->in[0]];
            s->q.mul = sn_xmalloc((size_t)C * sizeof *s->q.mul);
            s->q.shift = sn_xmalloc((size_t)C * sizeof *s->q.shift);
            s->q.add = sn_xmalloc((size_t)C * sizeof *s->q.add);
            for (int c = 0; c < C; c++) {
                decompose((double)s->w[c] * si / so, &s->q.mul[c],
                          &s->q.shift[c]);
                double a = ldexp((double)s->b[c] / so, s->q.shift[c]);
                if (a > 0x1p61) a = 0x1p61;
                if (a < -0x1p61) a = -0x1p61;
                s->q.add[c] = (int64_t)round(a);
            }
            clamp_act(s, (float)so);
            break;
        }
        case XS_RELU:
            s->q.lo = 0;
            s->q.hi = 127;
            break;
        case XS_RELU6: {
            s->q.lo = 0;
            s->q.hi = 127;
            double six = round(6.0 / so);
            if (six < 127) s->q.hi = (int)six;
            break;
        }
        case XS_MAXPOOL:
            break;
        case XS_AVGPOOL:
        case XS_GAP: {
            double div = s->kind == XS_GAP
                             ? (double)s->in_shape[0].h * s->in_shape[0].w
                             : (double)s->attr.k * s->attr.k;
            s->q.mul = sn_xmalloc(sizeof *s->q.mul);
            s->q.shift = sn_xmalloc(sizeof *s->q.shift);
            decompose(p->scale[s->in[0]] / (so * div), s->q.mul, s->q.shift);
            break;
        }
        case XS_ADD: {
            double mxr = 0;
            for (int j = 0; j < s->n_in; j++)
                if (p->scale[s->in[j]] / so > mxr)
                    mxr = p->scale[s->in[j]] / so;
            int32_t m0;
            int8_t sh;
            decompose(mxr, &m0, &sh);
            s->q.mul = sn_xmalloc((size_t)s->n_in * sizeof *s->q.mul);
            s->q.shift = sn_xmalloc(sizeof *s->q.shift);
            s->q.shift[0] = sh;
            for (int j = 0; j < s->n_in; j++) {
                double v = round(ldexp(p->scale[s->in[j]] / so, sh));
                s->q.mul[j] = (int32_t)(v > 2147483647.0 ? 2147483647.0 : v);
            }
            break;
        }
        case XS_CONCAT:
            s->q.mul = sn_xmalloc((size_t)s->n_in * sizeof *s->q.mul);
            s->q.shift = sn_xmalloc((size_t)s->n_in * sizeof *s->q.shift);
            for (int j = 0; j < s->n_in; j++)
                decompose(p->scale[s->in[j]] / so, &s->q.mul[j],
                          &s->q.shift[j]);
            break;
        }
        if (s->kind != XS_CONV && s->kind != XS_DENSE &&
            s->kind != XS_AFFINE && s->kind != XS_RELU &&
            s->kind != XS_RELU6) {
            s->q.lo = -127;
            s->q.hi = 127;
        }
    }
    p->quantized = 1;
    return 0;
}

/* ---- reference run: float --------------------------------------------- */

static void conv_f(const float *x, int C, int H, int W, float *y, int M,
                   int OH, int OW, int K, int S, int P, int G,
                   const float *w, const float *b, int act) {
    int cg = C / G, mg = M / G;
    for (int m = 0; m < M; m++) {
        const float *xg = x + (long)(m / mg) * cg * H * W;
        const float *wm = w + (long)m * cg * K * K;
        for (int oy = 0; oy < OH; oy++) {
            int iy = oy * S - P;
            int ky0 = iy < 0 ? -iy : 0, ky1 = H - iy < K ? H - iy : K;
            for (int ox = 0; ox < OW; ox++) {
                int ix = ox * S - P;
                int kx0 = ix < 0 ? -ix : 0, kx1 = W - ix < K ? W - ix : K;
                float s = b[m];
                for (int c = 0; c < cg; c++) {
                    const float *xc = xg + (long)c * H * W + (long)iy * W + ix;
                    const float *wc = wm + (long)c * K * K;
                    for (int ky = ky0; ky < ky1; ky++)
                        for (int kx = kx0; kx < kx1; kx++)
                            s += wc[ky * K + kx] * xc[(long)ky * W + kx];
                }
                if (act && s < 0.0f) s = 0.0f;
                if (act == 2 && s > 6.0f) s = 6.0f;
                y[((long)m * OH + oy) * OW + ox] = s;
            }
        }
    }
}

static void dense_f(const float *x, int I, float *y, int O, const float *w,
                    const float *b, int act) {
    for (int o = 0; o < O; o++) {
        const float *wo = w + (long)o * I;
        float s = b[o];
        for (int i = 0; i < I; i++) s += wo[i] * x[i];
        if (act && s < 0.0f) s = 0.0f;
        if (act == 2 && s > 6.0f) s = 6.0f;
        y[o] = s;
    }
}

static void pool_f(const float *x, int C, int H, int W, float *y, int OH,
                   int OW, int K, int S, int P, int avg) {
    float inv = 1.0f / (float)(K * K);
    for (int c = 0; c < C; c++) {
        const float *xc = x + (long)c * H * W;
        for (int oy = 0; oy < OH; oy++) {
            int y0 = oy * S - P, y1 = y0 + K;
            if (y0 < 0) y0 = 0;
            if (y1 > H) y1 = H;
            for (int ox = 0; ox < OW; ox++) {
                int x0 = ox * S - P, x1 = x0 + K;
                if (x0 < 0) x0 = 0;
                if (x1 > W) x1 = W;
                float m = xc[(long)y0 * W + x0], s = 0.0f;
                for (int yy = y0; yy < y1; yy++)
                    for (int xx = x0; xx < x1; xx++) {
                        float v = xc[(long)yy * W + xx];
                        if (v > m) m = v;
                        s += v;
                    }
                y[((long)c * OH + oy) * OW + ox] = avg ? s * inv : m;
            }
        }
    }
}

int xs_run_float(const xs_prog *p, const float *in, float *logits,
                 float *A) {
    for (int k = 0; k < p->n_steps; k++) {
        const xs_step *s = &p->steps[k];
        float *y = A + p->bufs[s->out_buf].off;
        const float *x = s->kind == XS_INPUT
                             ? in
                             : A + p->bufs[p->node_buf[s->in[0]]].off;
        sn_shape is = s->in_shape[0], os = s->out_shape;
        long n = (long)sn_shape_size(os), hw = (long)os.h * os.w;
        switch (s->kind) {
        case XS_INPUT:
            for (long i = 0; i < n; i++)
                y[i] = p->has_norm ? (x[i] - s->w[i / hw]) * s->b[i / hw]
                                   : x[i];
            break;
        case XS_CONV:
            conv_f(x, is.c, is.h, is.w, y, os.c, os.h, os.w, s->attr.k,
                   s->attr.stride, s->attr.pad, s->attr.groups, s->w, s->b,
                   s->act);
            break;
        case XS_DENSE:
            dense_f(x, is.c, y, os.c, s->w, s->b, s->act);
            break;
        case XS_AFFINE:
            for (long i = 0; i < n; i++) {
                float v = x[i] * s->w[i / hw] + s->b[i / hw];
                if (s->act && v < 0.0f) v = 0.0f;
                if (s->act == 2 && v > 6.0f) v = 6.0f;
                y[i] = v;
            }
            break;
        case XS_RELU:
        case XS_RELU6:
            for (long i = 0; i < n; i++) {
                float v = x[i] < 0.0f ? 0.0f : x[i];
                if (s->kind == XS_RELU6 && v > 6.0f) v = 6.0f;
                y[i] = v;
            }
            break;
        case XS_MAXPOOL:
        case XS_AVGPOOL:
            pool_f(x, is.c, is.h, is.w, y, os.h, os.w, s->attr.k,
                   s->attr.stride, s->attr.pad, s->kind == XS_AVGPOOL);
            break;
        case XS_GAP: {
            long ihw = (long)is.h * is.w;
            for (int c = 0; c < is.c; c++) {
                float sum = 0.0f;
                for (long i = 0; i < ihw; i++) sum += x[c * ihw + i];
                y[c] = sum / (float)ihw;
            }
            break;
        }
        case XS_ADD:
            for (long i = 0; i < n; i++) {
                float v = 0.0f;
                for (int j = 0; j < s->n_in; j++)
                    v += A[p->bufs[p->node_buf[s->in[j]]].off + i];
                y[i] = v;
            }
            break;
        case XS_CONCAT: {
            long at = 0;
            for (int j = 0; j < s->n_in; j++) {
                long cnt = (long)sn_shape_size(s->in_shape[j]);
                memcpy(y + at, A + p->bufs[p->node_buf[s->in[j]]].off,
                       (size_t)cnt * sizeof *y);
                at += cnt;
            }
            break;
        }
        }
    }
    const float *o = A + p->bufs[p->out_buf].off;
    int best = 0;
    for (int c = 0; c < p->g->classes; c++) {
        logits[c] = o[c];
        if (o[c] > o[best]) best = c;
    }
    return best;
}

/* ---- reference run: int8 ---------------------------------------------- */

static void conv_q(const int8_t *x, int C, int H, int W, int8_t *y, int M,
                   int OH, int OW, int K, int S, int P, int G,
                   const int8_t *w, const int32_t *b, const int32_t *mul,
                   const int8_t *sh, int lo, int hi, float *yf,
                   const float *deq, int act) {
    int cg = C / G, mg = M / G;
    for (int m = 0; m < M; m++) {
        const int8_t *xg = x + (long)(m / mg) * cg * H * W;
        const int8_t *wm = w + (long)m * cg * K * K;
        for (int oy = 0; oy < OH; oy++) {
            int iy = oy * S - P;
            int ky0 = iy < 0 ? -iy : 0, ky1 = H - iy < K ? H - iy : K;
            for (int ox = 0; ox < OW; ox++) {
                int ix = ox * S - P;
                int kx0 = ix < 0 ? -ix : 0, kx1 = W - ix < K ? W - ix : K;
                int32_t acc = b[m];
                for (int c = 0; c < cg; c++) {
                    const int8_t *xc =
                        xg + (long)c * H * W + (long)iy * W + ix;
                    const int8_t *wc = wm + (long)c * K * K;
                    for (int ky = ky0; ky < ky1; ky++)
                        for (int kx = kx0; kx < kx1; kx++)
                            acc += (int32_t)wc[ky * K + kx] *
                                   xc[(long)ky * W + kx];
                }
                long o = ((long)m * OH + oy) * OW + ox;
                if (yf) {
                    float v = (float)acc * deq[m];
                    if (act && v < 0.0f) v = 0.0f;
                    if (act == 2 && v > 6.0f) v = 6.0f;
                    yf[o] = v;
                } else {
                    y[o] = sat8(rshift_round((int64_t)acc * mul[m], sh[m]),
                                lo, hi);
                }
            }
        }
    }
}

static void dense_q(const int8_t *x, int I, int8_t *y, int O,
                    const int8_t *w, const int32_t *b, const int32_t *mul,
                    const int8_t *sh, int lo, int hi, float *yf,
                    const float *deq, int act) {
    for (int o = 0; o < O; o++) {
        const int8_t *wo = w + (long)o * I;
        int32_t acc = b[o];
        for (int i = 0; i < I; i++) acc += (int32_t)wo[i] * x[i];
        if (yf) {
            float v = (float)acc * deq[o];
            if (act && v < 0.0f) v = 0.0f;
            if (act == 2 && v > 6.0f) v = 6.0f;
            yf[o] = v;
        } else {
            y[o] = sat8(rshift_round((int64_t)acc * mul[o], sh[o]), lo, hi);
        }
    }
}

static void pool_q(const int8_t *x, int C, int H, int W, int8_t *y, int OH,
                   int OW, int K, int S, int P, int avg, int32_t mul,
                   int sh) {
    for (int c = 0; c < C; c++) {
        const int8_t *xc = x + (long)c * H * W;
        for (int oy = 0; oy < OH; oy++) {
            int y0 = oy * S - P, y1 = y0 + K;
            if (y0 < 0) y0 = 0;
            if (y1 > H) y1 = H;
            for (int ox = 0; ox < OW; ox++) {
                int x0 = ox * S - P, x1 = x0 + K;
                if (x0 < 0) x0 = 0;
                if (x1 > W) x1 = W;
                int m = xc[(long)y0 * W + x0];
                int32_t s = 0;
                for (int yy = y0; yy < y1; yy++)
                    for (int xx = x0; xx < x1; xx++) {
                        int v = xc[(long)yy * W + xx];
                        if (v > m) m = v;
                        s += v;
                    }
                y[((long)c * OH + oy) * OW + ox] =
                    avg ? sat8(rshift_round((int64_t)s * mul, sh), -127, 127)
                        : (int8_t)m;
            }
        }
    }
}

int xs_run_int8(const xs_prog *p, const float *in, float *logits,
                int8_t *A) {
    SN_ASSERT(p->quantized);
    int float_done = 0;
    for (int k = 0; k < p->n_steps; k++) {
        const xs_step *s = &p->steps[k];
        const xs_q *q = &s->q;
        int8_t *y = A + p->bufs[s->out_buf].off;
        const int8_t *x =
            s->kind == XS_INPUT ? NULL : A + p->bufs[p->node_buf[s->in[0]]].off;
        sn_shape is = s->in_shape[0], os = s->out_shape;
        long n = (long)sn_shape_size(os), hw = (long)os.h * os.w;
        float *yf = q->float_out ? logits : NULL;
        switch (s->kind) {
        case XS_INPUT:
            for (long i = 0; i < n; i++)
                y[i] = quant_in(
                    ((p->has_norm ? in[i] - s->w[i / hw] : in[i])) *
                    q->inq[i / hw]);
            break;
        case XS_CONV:
            conv_q(x, is.c, is.h, is.w, y, os.c, os.h, os.w, s->attr.k,
                   s->attr.stride, s->attr.pad, s->attr.groups, q->w, q->bias,
                   q->mul, q->shift, q->lo, q->hi, yf, q->deq, s->act);
            break;
        case XS_DENSE:
            dense_q(x, is.c, y, os.c, q->w, q->bias, q->mul, q->shift, q->lo,
                    q->hi, yf, q->deq, s->act);
            break;
        case XS_AFFINE:
            for (long i = 0; i < n; i++) {
                long c = i / hw;
                y[i] = sat8(rshift_round((int64_t)x[i] * q->mul[c] + q->add[c],
                                         q->shift[c]),
                            q->lo, q->hi);
            }
            break;
        case XS_RELU:
        case XS_RELU6:
            for (long i = 0; i < n; i++)
                y[i] = sat8(x[i], q->lo, q->hi);
            break;
        case XS_MAXPOOL:
            pool_q(x, is.c, is.h, is.w, y, os.h, os.w, s->attr.k,
                   s->attr.stride, s->attr.pad, 0, 0, 0);
            break;
        case XS_AVGPOOL:
            pool_q(x, is.c, is.h, is.w, y, os.h, os.w, s->attr.k,
                   s->attr.stride, s->attr.pad, 1, q->mul[0], q->shift[0]);
            break;
        case XS_GAP: {
            long ihw = (long)is.h * is.w;
            for (int c = 0; c < is.c; c++) {
                int32_t sum = 0;
                for (long i = 0; i < ihw; i++) sum += x[c * ihw + i];
                y[c] = sat8(rshift_round((int64_t)sum * q->mul[0],
                                         q->shift[0]),
                            -127, 127);
            }
            break;
        }
        case XS_ADD:
            for (long i = 0; i < n; i++) {
                int64_t v = 0;
                for (int j = 0; j < s->n_in; j++)
                    v += (int64_t)A[p->bufs[p->node_buf[s->in[j]]].off + i] *
                         q->mul[j];
                y[i] = sat8(rshift_round(v, q->shift[0]), -127, 127);
            }
            break;
        case XS_CONCAT: {
            long at = 0;
            for (int j = 0; j < s->n_in; j++) {
                long cnt = (long)sn_shape_size(s->in_shape[j]);
                const int8_t *xj = A + p->bufs[p->node_buf[s->in[j]]].off;
                for (long i = 0; i < cnt; i++)
                    y[at + i] = sat8(rshift_round((int64_t)xj[i] * q->mul[j],
                                                  q->shift[j]),
                                     -127, 127);
                at += cnt;
            }
            break;
        }
        }
        if (yf) float_done = 1;
    }
    if (!float_done) {
        const int8_t *o = A + p->bufs[p->out_buf].off;
        float so = p->scale[p->g->n_nodes - 1];
        for (int c = 0; c < p->g->classes; c++) logits[c] = (float)o[c] * so;
    }
    int best = 0;
    for (int c = 1; c < p->g->classes; c++)
        if (logits[c] > logits[best]) best = c;
    return best;
}
