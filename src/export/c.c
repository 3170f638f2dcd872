/* c.c — the standalone C export: writes PREFIX.h and PREFIX.c for a
 * lowered (and for int8, quantised) program, evaluates the exported
 * model's accuracy through the reference in quant.c, and benchmarks the
 * generated code with the system compiler. See export_c.h. */
#include "export_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

sn_export_c_opts sn_export_c_opts_default(void) {
    return (sn_export_c_opts){.int8 = 0,
                              .calibrate_n = 1000,
                              .calib = NULL,
                              .prefix = NULL,
                              .seed = 1};
}

/* ---- a growing text buffer -------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        SN_ASSERT(n >= 0);
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->s = sn_xrealloc(b->s, b->cap);
    }
}

static void sb_puts(sbuf *b, const char *s) { sb_printf(b, "%s", s); }

/* ---- kernels as text (the float ones mirror quant.c's reference) ------- */

/* Conv kernels are emitted once per (kernel, stride) in use, with both as
 * constants (@K@, @S@), so the compiler unrolls the window of pixels
 * whose window lies inside the image. */
static const char K_CONV_F[] =
    "/* Accumulates straight into the output rows (bias, then every input\n"
    " * channel and kernel tap in turn, the same order as a per-pixel sum),\n"
    " * so the inner loop runs along a row and vectorises. */\n"
    "static void conv_f_@K@_@S@(const float *x, int C, int H, int W, float *y,\n"
    "                         int M, int OH, int OW, int P, int G,\n"
    "                         const float *w, const float *b, int act)\n"
    "{\n"
    "    enum { K = @K@, S = @S@ };\n"
    "    int cg = C / G, mg = M / G, m, oy, ox, c, ky, kx;\n"
    "    for (m = 0; m < M; m++) {\n"
    "        const float *xg = x + (long)(m / mg) * cg * H * W;\n"
    "        const float *wm = w + (long)m * cg * K * K;\n"
    "        for (oy = 0; oy < OH; oy++) {\n"
    "            float *yr = y + ((long)m * OH + oy) * OW;\n"
    "            int iy = oy * S - P;\n"
    "            int ky0 = iy < 0 ? -iy : 0, ky1 = H - iy < K ? H - iy : K;\n"
    "            for (ox = 0; ox < OW; ox++) yr[ox] = b[m];\n"
    "            for (c = 0; c < cg; c++)\n"
    "                for (ky = ky0; ky < ky1; ky++) {\n"
    "                    const float *xr = xg + ((long)c * H + iy + ky) * W;\n"
    "                    for (kx = 0; kx < K; kx++) {\n"
    "                        float wv = wm[((long)c * K + ky) * K + kx];\n"
    "                        int lo = P - kx > 0 ? (P - kx + S - 1) / S : 0;\n"
    "                        int last = W - 1 + P - kx;\n"
    "                        int hi = last < 0 ? 0 : last / S + 1;\n"
    "                        if (hi > OW) hi = OW;\n"
    "                        for (ox = lo; ox < hi; ox++)\n"
    "                            yr[ox] += wv * xr[ox * S + kx - P];\n"
    "                    }\n"
    "                }\n"
    "            if (act)\n"
    "                for (ox = 0; ox < OW; ox++) {\n"
    "                    float v = yr[ox] < 0.0f ? 0.0f : yr[ox];\n"
    "                    yr[ox] = act == 2 && v > 6.0f ? 6.0f : v;\n"
    "                }\n"
    "        }\n"
    "    }\n"
    "}\n\n";

static const char K_DENSE_F[] =
    "static void dense_f(const float *x, int I, float *y, int O,\n"
    "                    const float *w, const float *b, int act)\n"
    "{\n"
    "    int o, i;\n"
    "    for (o = 0; o < O; o++) {\n"
    "        const float *wo = w + (long)o * I;\n"
    "        float s = b[o];\n"
    "        for (i = 0; i < I; i++) s += wo[i] * x[i];\n"
    "        if (act && s < 0.0f) s = 0.0f;\n"
    "        if (act == 2 && s > 6.0f) s = 6.0f;\n"
    "        y[o] = s;\n"
    "    }\n"
    "}\n\n";

static const char K_POOL_F[] =
    "static void pool_f(const float *x, int C, int H, int W, float *y, int OH,\n"
    "                   int OW, int K, int S, int P, int avg)\n"
    "{\n"
    "    float inv = 1.0f / (float)(K * K);\n"
    "    int c, oy, ox, yy, xx;\n"
    "    for (c = 0; c < C; c++) {\n"
    "        const float *xc = x + (long)c * H * W;\n"
    "        for (oy = 0; oy < OH; oy++) {\n"
    "            int y0 = oy * S - P, y1 = y0 + K;\n"
    "            if (y0 < 0) y0 = 0;\n"
    "            if (y1 > H) y1 = H;\n"
    "            for (ox = 0; ox < OW; ox++) {\n"
    "                int x0 = ox * S - P, x1 = x0 + K;\n"
    "                float m, s = 0.0f;\n"
    "                if (x0 < 0) x0 = 0;\n"
    "                if (x1 > W) x1 = W;\n"
    "                m = xc[(long)y0 * W + x0];\n"
    "                for (yy = y0; yy < y1; yy++)\n"
    "                    for (xx = x0; xx < x1; xx++) {\n"
    "                        float v = xc[(long)yy * W + xx];\n"
    "                        if (v > m) m = v;\n"
    "                        s += v;\n"
    "                    }\n"
    "                y[((long)c * OH + oy) * OW + ox] = avg ? s * inv : m;\n"
    "            }\n"
    "        }\n"
    "    }\n"
    "}\n\n";

static const char K_GAP_F[] =
    "static void gap_f(const float *x, int C, long hw, float *y)\n"
    "{\n"
    "    int c;\n"
    "    long i;\n"
    "    for (c = 0; c < C; c++) {\n"
    "        float s = 0.0f;\n"
    "        for (i = 0; i < hw; i++) s += x[c * hw + i];\n"
    "        y[c] = s / (float)hw;\n"
    "    }\n"
    "}\n\n";

static const char K_AFFINE_F[] =
    "/* y may be x (in place) */\n"
    "static void affine_f(const float *x, int C, long hw, float *y,\n"
    "                     const float *a, const float *b, int act)\n"
    "{\n"
    "    long i, n = C * hw;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        float v = x[i] * a[i / hw] + b[i / hw];\n"
    "        if (act && v < 0.0f) v = 0.0f;\n"
    "        if (act == 2 && v > 6.0f) v = 6.0f;\n"
    "        y[i] = v;\n"
    "    }\n"
    "}\n\n";

static const char K_RELU_F[] =
    "/* y may be x (in place); six: clip at 6 too */\n"
    "static void relu_f(const float *x, long n, float *y, int six)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        float v = x[i] < 0.0f ? 0.0f : x[i];\n"
    "        if (six && v > 6.0f) v = 6.0f;\n"
    "        y[i] = v;\n"
    "    }\n"
    "}\n\n";

static const char K_ADD_F[] =
    "/* y may be one of the inputs (in place) */\n"
    "static void add_f(const float *const *in, int k, long n, float *y)\n"
    "{\n"
    "    long i;\n"
    "    int j;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        float v = 0.0f;\n"
    "        for (j = 0; j < k; j++) v += in[j][i];\n"
    "        y[i] = v;\n"
    "    }\n"
    "}\n\n";

static const char K_INPUT_F[] =
    "static void input_f(const float *x, int C, long hw, float *y,\n"
    "                    const float *mean, const float *rstd)\n"
    "{\n"
    "    long i, n = C * hw;\n"
    "    for (i = 0; i < n; i++) y[i] = (x[i] - mean[i / hw]) * rstd[i / hw];\n"
    "}\n\n";

/* int8 helpers and kernels (mirror quant.c exactly) */
static const char K_Q_COMMON[] =
    "/* round(v / 2^sh), halves away from zero */\n"
    "static int64_t rshift_round(int64_t v, int sh)\n"
    "{\n"
    "    int64_t h;\n"
    "    if (sh <= 0) return v;\n"
    "    h = (int64_t)1 << (sh - 1);\n"
    "    return v >= 0 ? (v + h) >> sh : -((-v + h) >> sh);\n"
    "}\n\n"
    "static int8_t sat8(int64_t v, int lo, int hi)\n"
    "{\n"
    "    return (int8_t)(v < lo ? lo : v > hi ? hi : v);\n"
    "}\n\n";

static const char K_INPUT_Q[] =
    "/* (x - mean[c]) * k[c] rounded to int8 (mean NULL: x * k[c]) */\n"
    "static void input_q(const float *x, int C, long hw, int8_t *y,\n"
    "                    const float *mean, const float *k)\n"
    "{\n"
    "    long i, n = C * hw;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        float v = (mean ? x[i] - mean[i / hw] : x[i]) * k[i / hw];\n"
    "        if (!(v == v)) v = 0.0f;\n"
    "        if (v > 127.0f) v = 127.0f;\n"
    "        if (v < -127.0f) v = -127.0f;\n"
    "        y[i] = (int8_t)(v >= 0.0f ? (int)(v + 0.5f) : -(int)(-v + 0.5f));\n"
    "    }\n"
    "}\n\n";

static const char K_CONV_Q[] =
    "/* int32 accumulation in blocks of 16 output pixels of a row (the inner\n"
    " * loop runs along the block and vectorises); yf != NULL: float output\n"
    " * acc * deq[m] instead of int8. */\n"
    "static void conv_q_@K@_@S@(const int8_t *x, int C, int H, int W, int8_t *y,\n"
    "                         int M, int OH, int OW, int P, int G,\n"
    "                         const int8_t *w, const int32_t *b,\n"
    "                         const int32_t *mul, const int8_t *sh, int lo,\n"
    "                         int hi, float *yf, const float *deq, int act)\n"
    "{\n"
    "    enum { K = @K@, S = @S@, B = 16 };\n"
    "    int cg = C / G, mg = M / G, m, oy, ox0, c, ky, kx, j;\n"
    "    for (m = 0; m < M; m++) {\n"
    "        const int8_t *xg = x + (long)(m / mg) * cg * H * W;\n"
    "        const int8_t *wm = w + (long)m * cg * K * K;\n"
    "        for (oy = 0; oy < OH; oy++) {\n"
    "            int iy = oy * S - P;\n"
    "            int ky0 = iy < 0 ? -iy : 0, ky1 = H - iy < K ? H - iy : K;\n"
    "            for (ox0 = 0; ox0 < OW; ox0 += B) {\n"
    "                int nb = OW - ox0 < B ? OW - ox0 : B;\n"
    "                int32_t acc[B];\n"
    "                long o = ((long)m * OH + oy) * OW + ox0;\n"
    "                for (j = 0; j < B; j++) acc[j] = b[m];\n"
    "                for (c = 0; c < cg; c++)\n"
    "                    for (ky = ky0; ky < ky1; ky++) {\n"
    "                        const int8_t *xr = xg + ((long)c * H + iy + ky) * W;\n"
    "                        for (kx = 0; kx < K; kx++) {\n"
    "                            int32_t wv = wm[((long)c * K + ky) * K + kx];\n"
    "                            int j0 = P - kx > 0 ? (P - kx + S - 1) / S : 0;\n"
    "                            int last = W - 1 + P - kx;\n"
    "                            int j1 = last < 0 ? 0 : last / S + 1;\n"
    "                            j0 = j0 > ox0 ? j0 - ox0 : 0;\n"
    "                            j1 = j1 - ox0 < nb ? j1 - ox0 : nb;\n"
    "                            for (j = j0; j < j1; j++)\n"
    "                                acc[j] += wv * xr[(ox0 + j) * S + kx - P];\n"
    "                        }\n"
    "                    }\n"
    "                for (j = 0; j < nb; j++) {\n"
    "                    if (yf) {\n"
    "                        float v = (float)acc[j] * deq[m];\n"
    "                        if (act && v < 0.0f) v = 0.0f;\n"
    "                        if (act == 2 && v > 6.0f) v = 6.0f;\n"
    "                        yf[o + j] = v;\n"
    "                    } else {\n"
    "                        y[o + j] = sat8(rshift_round((int64_t)acc[j] * mul[m], sh[m]), lo, hi);\n"
    "                    }\n"
    "                }\n"
    "            }\n"
    "        }\n"
    "    }\n"
    "}\n\n";

static const char K_DENSE_Q[] =
    "static void dense_q(const int8_t *x, int I, int8_t *y, int O,\n"
    "                    const int8_t *w, const int32_t *b, const int32_t *mul,\n"
    "                    const int8_t *sh, int lo, int hi, float *yf,\n"
    "                    const float *deq, int act)\n"
    "{\n"
    "    int o, i;\n"
    "    for (o = 0; o < O; o++) {\n"
    "        const int8_t *wo = w + (long)o * I;\n"
    "        int32_t acc = b[o];\n"
    "        for (i = 0; i < I; i++) acc += (int32_t)wo[i] * x[i];\n"
    "        if (yf) {\n"
    "            float v = (float)acc * deq[o];\n"
    "            if (act && v < 0.0f) v = 0.0f;\n"
    "            if (act == 2 && v > 6.0f) v = 6.0f;\n"
    "            yf[o] = v;\n"
    "        } else {\n"
    "            y[o] = sat8(rshift_round((int64_t)acc * mul[o], sh[o]), lo, hi);\n"
    "        }\n"
    "    }\n"
    "}\n\n";

static const char K_POOL_Q[] =
    "static void pool_q(const int8_t *x, int C, int H, int W, int8_t *y, int OH,\n"
    "                   int OW, int K, int S, int P, int avg, int32_t mul, int sh)\n"
    "{\n"
    "    int c, oy, ox, yy, xx;\n"
    "    for (c = 0; c < C; c++) {\n"
    "        const int8_t *xc = x + (long)c * H * W;\n"
    "        for (oy = 0; oy < OH; oy++) {\n"
    "            int y0 = oy * S - P, y1 = y0 + K;\n"
    "            if (y0 < 0) y0 = 0;\n"
    "            if (y1 > H) y1 = H;\n"
    "            for (ox = 0; ox < OW; ox++) {\n"
    "                int x0 = ox * S - P, x1 = x0 + K, m;\n"
    "                int32_t s = 0;\n"
    "                if (x0 < 0) x0 = 0;\n"
    "                if (x1 > W) x1 = W;\n"
    "                m = xc[(long)y0 * W + x0];\n"
    "                for (yy = y0; yy < y1; yy++)\n"
    "                    for (xx = x0; xx < x1; xx++) {\n"
    "                        int v = xc[(long)yy * W + xx];\n"
    "                        if (v > m) m = v;\n"
    "                        s += v;\n"
    "                    }\n"
    "                y[((long)c * OH + oy) * OW + ox] =\n"
    "                    avg ? sat8(rshift_round((int64_t)s * mul, sh), -127, 127)\n"
    "                        : (int8_t)m;\n"
    "            }\n"
    "        }\n"
    "    }\n"
    "}\n\n";

static const char K_GAP_Q[] =
    "static void gap_q(const int8_t *x, int C, long hw, int8_t *y, int32_t mul,\n"
    "                  int sh)\n"
    "{\n"
    "    int c;\n"
    "    long i;\n"
    "    for (c = 0; c < C; c++) {\n"
    "        int32_t s = 0;\n"
    "        for (i = 0; i < hw; i++) s += x[c * hw + i];\n"
    "        y[c] = sat8(rshift_round((int64_t)s * mul, sh), -127, 127);\n"
    "    }\n"
    "}\n\n";

static const char K_AFFINE_Q[] =
    "/* y may be x (in place) */\n"
    "static void affine_q(const int8_t *x, int C, long hw, int8_t *y,\n"
    "                     const int32_t *mul, const int64_t *add,\n"
    "                     const int8_t *sh, int lo, int hi)\n"
    "{\n"
    "    long i, n = C * hw;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        long c = i / hw;\n"
    "        y[i] = sat8(rshift_round((int64_t)x[i] * mul[c] + add[c], sh[c]), lo, hi);\n"
    "    }\n"
    "}\n\n";

static const char K_CLAMP_Q[] =
    "/* relu / relu6 on int8 (the scale does not change); y may be x */\n"
    "static void clamp_q(const int8_t *x, long n, int8_t *y, int lo, int hi)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) y[i] = sat8(x[i], lo, hi);\n"
    "}\n\n";

static const char K_ADD_Q[] =
    "/* y may be one of the inputs (in place) */\n"
    "static void add_q(const int8_t *const *in, int k, long n, int8_t *y,\n"
    "                  const int32_t *mul, int sh)\n"
    "{\n"
    "    long i;\n"
    "    int j;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        int64_t v = 0;\n"
    "        for (j = 0; j < k; j++) v += (int64_t)in[j][i] * mul[j];\n"
    "        y[i] = sat8(rshift_round(v, sh), -127, 127);\n"
    "    }\n"
    "}\n\n";

static const char K_REQ_Q[] =
    "static void requant_q(const int8_t *x, long n, int8_t *y, int32_t mul, int sh)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++)\n"
    "        y[i] = sat8(rshift_round((int64_t)x[i] * mul, sh), -127, 127);\n"
    "}\n\n";

/* ---- emitting --------------------------------------------------------- */

typedef struct emit {
    sbuf src;        /* model.c */
    sbuf body;       /* model_predict's body */
    int64_t wbytes;  /* constant array bytes */
    const xs_prog *p;
    int int8;
    int n_ks, ks[256][2]; /* (kernel, stride) pairs of the convs */
} emit;

static void fmt_float(char *buf, size_t n, float v) {
    snprintf(buf, n, "%.9g", (double)v);
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", n - strlen(buf) - 1);
    strncat(buf, "f", n - strlen(buf) - 1);
}

static void arr_float(emit *m, const char *name, const float *v, int64_t n) {
    sb_printf(&m->src, "static const float %s[%lld] = {", name, (long long)n);
    char b[48];
    for (int64_t i = 0; i < n; i++) {
        fmt_float(b, sizeof b, v[i]);
        sb_printf(&m->src, "%s%s%s", i % 8 ? " " : "\n    ", b,
                  i + 1 < n ? "," : "");
    }
    sb_puts(&m->src, "\n};\n");
    m->wbytes += n * (int64_t)sizeof(float);
}

static void arr_int(emit *m, const char *type, int bytes, const char *name,
                    const void *v, int64_t n) {
    sb_printf(&m->src, "static const %s %s[%lld] = {", type, name,
              (long long)n);
    int per = bytes == 1 ? 16 : 8;
    for (int64_t i = 0; i < n; i++) {
        long long x = bytes == 1   ? ((const int8_t *)v)[i]
                      : bytes == 4 ? ((const int32_t *)v)[i]
                                   : ((const int64_t *)v)[i];
        sb_printf(&m->src, "%s%lld%s%s", i % per ? " " : "\n    ", x,
                  bytes == 8 ? "LL" : "", i + 1 < n ? "," : "");
    }
    sb_puts(&m->src, "\n};\n");
    m->wbytes += n * bytes;
}

/* A C identifier from a node name: step index plus [A-Za-z0-9_]. */
static void ident(char *out, size_t n, const char *kind, int step,
                  const char *node) {
    int k = snprintf(out, n, "%s%d_", kind, step);
    for (const char *c = node; *c && (size_t)k + 1 < n && k < 40; c++)
        out[k++] = isalnum((unsigned char)*c) ? *c : '_';
    out[k] = 0;
}

/* A node name safe inside a C comment. */
static const char *comment_safe(const char *s, char *buf, size_t n) {
    size_t k = 0;
    for (; *s && k + 1 < n; s++) {
        char c = *s;
        if (c == '*' || c == '/' || (unsigned char)c < 0x20 ||
            (unsigned char)c >= 0x7f)
            c = '_';
        buf[k++] = c;
    }
    buf[k] = 0;
    return buf;
}

static void arena_ref(const emit *m, char *buf, size_t n, int node) {
    snprintf(buf, n, "A + %lld",
             (long long)m->p->bufs[m->p->node_buf[node]].off);
}

static const char *act_name(int act) {
    return act == XS_ACT_RELU ? " + relu" : act == XS_ACT_RELU6 ? " + relu6" : "";
}

static void emit_step(emit *m, int k, unsigned *used) {
    const xs_prog *p = m->p;
    const sn_graph *g = p->g;
    const xs_step *s = &p->steps[k];
    const xs_q *q = &s->q;
    sn_shape is = s->in_shape[0], os = s->out_shape;
    long n = (long)sn_shape_size(os), hw = (long)os.h * os.w;
    char x[48], y[48], nw[64], nb[64], nm[64], ns[64], nd[64], cbuf[64];
    arena_ref(m, x, sizeof x, s->in[0]);
    snprintf(y, sizeof y, "A + %lld", (long long)p->bufs[s->out_buf].off);
    const char *name = comment_safe(g->nodes[s->node].name, cbuf, sizeof cbuf);
    ident(nw, sizeof nw, "w", k, g->nodes[s->node].name);
    ident(nb, sizeof nb, "b", k, g->nodes[s->node].name);
    ident(nm, sizeof nm, "mul", k, g->nodes[s->node].name);
    ident(ns, sizeof ns, "sh", k, g->nodes[s->node].name);
    ident(nd, sizeof nd, "deq", k, g->nodes[s->node].name);
    const char *T = m->int8 ? "int8_t" : "float";
    sbuf *B = &m->body;
    sb_printf(B, "    /* %d: %s", k, name);
    if (s->value != s->node) {
        char c2[64];
        sb_printf(B, " .. %s",
                  comment_safe(g->nodes[s->value].name, c2, sizeof c2));
    }
    sb_printf(B, " -> %dx%dx%d (HxWxC) at %s */\n", os.h, os.w, os.c, y);
    switch (s->kind) {
    case XS_INPUT:
        if (!m->int8) {
            if (p->has_norm) {
                *used |= 1u << 0;
                arr_float(m, "in_mean", s->w, s->n_w);
                arr_float(m, "in_rstd", s->b, s->n_b);
                sb_printf(B, "    input_f(input, %d, %ldL, %s, in_mean, "
                             "in_rstd);\n",
                          os.c, hw, y);
            } else {
                sb_printf(B, "    memcpy(%s, input, %ldUL * sizeof(float));\n",
                          y, n);
            }
        } else {
            *used |= 1u << 0;
            if (p->has_norm) arr_float(m, "in_mean", s->w, s->n_w);
            arr_float(m, "in_k", q->inq, os.c);
            sb_printf(B, "    input_q(input, %d, %ldL, %s, %s, in_k);\n", os.c,
                      hw, y, p->has_norm ? "in_mean" : "0");
        }
        break;
    case XS_CONV:
    case XS_DENSE: {
        int conv = s->kind == XS_CONV;
        *used |= 1u << (conv ? 1 : 2);
        if (!m->int8) {
            arr_float(m, nw, s->w, s->n_w);
            arr_float(m, nb, s->b, s->n_b);
        } else {
            arr_int(m, "int8_t", 1, nw, q->w, s->n_w);
            arr_int(m, "int32_t", 4, nb, q->bias, s->n_b);
            if (q->float_out) {
                arr_float(m, nd, q->deq, os.c);
            } else {
                arr_int(m, "int32_t", 4, nm, q->mul, os.c);
                arr_int(m, "int8_t", 1, ns, q->shift, os.c);
            }
        }
        if (conv)
            sb_printf(B, "    /* conv %dx%d/%d pad %d groups %d, %d->%d%s%s */\n",
                      s->attr.k, s->attr.k, s->attr.stride, s->attr.pad,
                      s->attr.groups, is.c, os.c,
                      s->folded_bn ? " + bn (folded)" : "", act_name(s->act));
        else
            sb_printf(B, "    /* dense %d->%d%s%s */\n", is.c, os.c,
                      s->folded_bn ? " + bn (folded)" : "", act_name(s->act));
        char tail[512];
        if (!m->int8)
            snprintf(tail, sizeof tail, "%s, %s, %d", nw, nb, s->act);
        else if (q->float_out)
            snprintf(tail, sizeof tail, "%s, %s, 0, 0, 0, 0, logits, %s, %d",
                     nw, nb, nd, s->act);
        else
            snprintf(tail, sizeof tail, "%s, %s, %s, %s, %d, %d, 0, 0, %d", nw,
                     nb, nm, ns, q->lo, q->hi, s->act);
        if (conv) {
            int seen = 0;
            for (int j = 0; j < m->n_ks; j++)
                seen |= m->ks[j][0] == s->attr.k &&
                        m->ks[j][1] == s->attr.stride;
            if (!seen) {
                SN_ASSERT(m->n_ks < 256);
                m->ks[m->n_ks][0] = s->attr.k;
                m->ks[m->n_ks++][1] = s->attr.stride;
            }
            sb_printf(B, "    conv_%c_%d_%d(%s, %d, %d, %d, %s, %d, %d, %d, "
                         "%d, %d,\n           %s);\n",
                      m->int8 ? 'q' : 'f', s->attr.k, s->attr.stride, x, is.c,
                      is.h, is.w, y, os.c, os.h, os.w, s->attr.pad,
                      s->attr.groups, tail);
        }
        else
            sb_printf(B, "    dense_%c(%s, %d, %s, %d, %s);\n",
                      m->int8 ? 'q' : 'f', x, is.c, y, os.c, tail);
        break;
    }
    case XS_AFFINE:
        *used |= 1u << 3;
        if (!m->int8) {
            arr_float(m, nw, s->w, s->n_w);
            arr_float(m, nb, s->b, s->n_b);
            sb_printf(B, "    affine_f(%s, %d, %ldL, %s, %s, %s, %d);\n", x,
                      os.c, hw, y, nw, nb, s->act);
        } else {
            arr_int(m, "int32_t", 4, nm, q->mul, os.c);
            arr_int(m, "int64_t", 8, nb, q->add, os.c);
            arr_int(m, "int8_t", 1, ns, q->shift, os.c);
            sb_printf(B, "    affine_q(%s, %d, %ldL, %s, %s, %s, %s, %d, %d);\n",
                      x, os.c, hw, y, nm, nb, ns, q->lo, q->hi);
        }
        break;
    case XS_RELU:
    case XS_RELU6:
        *used |= 1u << 4;
        if (!m->int8)
            sb_printf(B, "    relu_f(%s, %ldL, %s, %d);\n", x, n, y,
                      s->kind == XS_RELU6);
        else
            sb_printf(B, "    clamp_q(%s, %ldL, %s, %d, %d);\n", x, n, y, q->lo,
                      q->hi);
        break;
    case XS_MAXPOOL:
    case XS_AVGPOOL: {
        *used |= 1u << 5;
        int avg = s->kind == XS_AVGPOOL;
        sb_printf(B, "    pool_%c(%s, %d, %d, %d, %s, %d, %d, %d, %d, %d, %d",
                  m->int8 ? 'q' : 'f', x, is.c, is.h, is.w, y, os.h, os.w,
                  s->attr.k, s->attr.stride, s->attr.pad, avg);
        if (m->int8)
            sb_printf(B, ", %ld, %d", avg ? (long)q->mul[0] : 0L,
                      avg ? q->shift[0] : 0);
        sb_puts(B, ");\n");
        break;
    }
    case XS_GAP:
        *used |= 1u << 6;
        if (!m->int8)
            sb_printf(B, "    gap_f(%s, %d, %ldL, %s);\n", x, is.c,
                      (long)is.h * is.w, y);
        else
            sb_printf(B, "    gap_q(%s, %d, %ldL, %s, %ld, %d);\n", x, is.c,
                      (long)is.h * is.w, y, (long)q->mul[0], q->shift[0]);
        break;
    case XS_ADD: {
        *used |= 1u << 7;
        sb_printf(B, "    {\n        const %s *const in_[%d] = {", T, s->n_in);
        for (int j = 0; j < s->n_in; j++) {
            char r[48];
            arena_ref(m, r, sizeof r, s->in[j]);
            sb_printf(B, "%s%s", j ? ", " : "", r);
        }
        sb_puts(B, "};\n");
        if (!m->int8) {
            sb_printf(B, "        add_f(in_, %d, %ldL, %s);\n", s->n_in, n, y);
        } else {
            arr_int(m, "int32_t", 4, nm, q->mul, s->n_in);
            sb_printf(B, "        add_q(in_, %d, %ldL, %s, %s, %d);\n",
                      s->n_in, n, y, nm, q->shift[0]);
        }
        sb_puts(B, "    }\n");
        break;
    }
    case XS_CONCAT: {
        long at = 0;
        long long base = (long long)p->bufs[s->out_buf].off;
        for (int j = 0; j < s->n_in; j++) {
            long cnt = (long)sn_shape_size(s->in_shape[j]);
            char r[48];
            arena_ref(m, r, sizeof r, s->in[j]);
            if (!m->int8) {
                sb_printf(B, "    memcpy(A + %lld, %s, %ldUL * sizeof(float));\n",
                          base + at, r, cnt);
            } else {
                *used |= 1u << 8;
                sb_printf(B, "    requant_q(%s, %ldL, A + %lld, %ld, %d);\n", r,
                          cnt, base + at, (long)q->mul[j], q->shift[j]);
            }
            at += cnt;
        }
        break;
    }
    }
}

static void upper(const char *s, char *up, size_t n) {
    size_t k = 0;
    for (; s[k] && k + 1 < n; k++) up[k] = (char)toupper((unsigned char)s[k]);
    up[k] = 0;
}

static int valid_prefix(const char *s) {
    if (!s || !*s || strlen(s) > 32) return 0;
    if (!isalpha((unsigned char)s[0]) && s[0] != '_') return 0;
    for (const char *c = s; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_') return 0;
    return 1;
}

static void c_string(sbuf *b, const char *s) {
    sb_puts(b, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') sb_printf(b, "\\%c", *c);
        else if (*c < 0x20 || *c >= 0x7f) sb_printf(b, "\\%03o", *c);
        else sb_printf(b, "%c", *c);
    }
    sb_puts(b, "\"");
}

/* One copy of the conv template per (kernel, stride) pair. */
static void conv_kernels(sbuf *src, const char *tmpl, const emit *m) {
    for (int j = 0; j < m->n_ks; j++)
        for (const char *t = tmpl; *t; t++) {
            if (!strncmp(t, "@K@", 3)) {
                sb_printf(src, "%d", m->ks[j][0]);
                t += 2;
            } else if (!strncmp(t, "@S@", 3)) {
                sb_printf(src, "%d", m->ks[j][1]);
                t += 2;
            } else {
                sb_printf(src, "%c", *t);
            }
        }
}

/* Builds both texts. */
static void generate(const xs_prog *p, const char *prefix, int int8,
                     const char *const *class_names, sbuf *hdr, sbuf *src,
                     int64_t *wbytes) {
    const sn_graph *g = p->g;
    char up[40];
    upper(prefix, up, sizeof up);
    emit m = {.p = p, .int8 = int8};
    unsigned used = 0;
    for (int s = 0; s < p->n_steps; s++) emit_step(&m, s, &used);
    int64_t esz = int8 ? 1 : 4;
    int64_t arena_bytes = p->arena * esz;
    char cbuf[64];
    const char *gname = comment_safe(g->name[0] ? g->name : "graph", cbuf,
                                     sizeof cbuf);

    /* ---- header ---- */
    sb_printf(hdr,
              "/* %s.h — generated by slimnas %s from \"%s\" (%s).\n"
              " *\n"
              " * int %s_predict(const float *input, float *logits);\n"
              " *   input:  one image of %s_INPUT_SIZE floats, raw pixels in "
              "[0, 1]\n"
              " *           (pixel / 255), CHW order: channel planes, each "
              "row-major,\n"
              " *           input[(c * %s_INPUT_H + y) * %s_INPUT_W + x].%s\n"
              " *   logits: %s_CLASSES floats (%s).\n"
              " *   returns the class with the largest logit (the first on "
              "ties).\n"
              " * Not reentrant: one static arena of %s_ARENA_BYTES holds every "
              "activation.\n"
              " * C99; needs only <stdint.h> and <string.h>, no malloc.\n"
              " */\n"
              "#ifndef %s_H\n#define %s_H\n\n",
              prefix, SN_VERSION, gname, int8 ? "int8" : "float32", prefix,
              up, up, up,
              p->has_norm ? "\n *           The normalisation (x - mean[c]) / "
                            "std[c] is done inside."
                          : "\n *           Taken as already normalised.",
              up,
              int8 ? "dequantised from int8 accumulators" : "float32",
              up, up, up);
    sb_printf(hdr,
              "#define %s_INPUT_C %d\n#define %s_INPUT_H %d\n"
              "#define %s_INPUT_W %d\n#define %s_INPUT_SIZE %lld\n"
              "#define %s_CLASSES %d\n",
              up, g->input.c, up, g->input.h, up, g->input.w, up,
              (long long)sn_shape_size(g->input), up, g->classes);
    sb_printf(hdr, "#define %s_INT8 %d\n", up, int8);
    sb_printf(hdr, "#define %s_ARENA_BYTES %lld\n", up,
              (long long)arena_bytes);
    sb_printf(hdr, "#define %s_WEIGHT_BYTES %lld\n\n", up,
              (long long)m.wbytes);
    sb_printf(hdr,
              "/* class names, %s_CLASSES of them */\n"
              "extern const char *const %s_class_names[%s_CLASSES];\n\n"
              "int %s_predict(const float *input, float *logits);\n\n"
              "#endif\n",
              up, prefix, up, prefix);

    /* ---- source ---- */
    sb_printf(src,
              "/* %s.c — generated by slimnas %s from \"%s\" (%s):\n"
              " * %d steps, %lld bytes of weights, an arena of %lld bytes. "
              "Batch norm is\n"
              " * folded into the conv/dense before it; tensors whose "
              "lifetimes do not\n"
              " * overlap share arena bytes. Input and layout: see %s.h. */\n"
              "#include \"%s.h\"\n\n#include <stdint.h>\n#include <string.h>\n\n",
              prefix, SN_VERSION, gname, int8 ? "int8" : "float32",
              p->n_steps, (long long)m.wbytes, (long long)arena_bytes, prefix,
              prefix);
    if (int8)
        sb_printf(src,
                  "/* int8: weights per output channel as int8 * scale, "
                  "activations as int8 * a\n"
                  " * per-tensor scale; layers accumulate in int32 and "
                  "requantise as\n"
                  " * round(acc * mul / 2^sh) (halves away from zero), then "
                  "clamp. */\n\n");
    sb_puts(src, "const char *const ");
    sb_printf(src, "%s_class_names[%s_CLASSES] = {", prefix, up);
    for (int c = 0; c < g->classes; c++) {
        char num[16];
        snprintf(num, sizeof num, "%d", c);
        sb_puts(src, c % 5 ? " " : "\n    ");
        c_string(src, class_names && class_names[c] ? class_names[c] : num);
        if (c + 1 < g->classes) sb_puts(src, ",");
    }
    sb_puts(src, "\n};\n\n");
    sb_printf(src, "static %s %s_arena[%lld];\n\n", int8 ? "int8_t" : "float",
              prefix, (long long)(p->arena > 0 ? p->arena : 1));
    /* weights (emitted while walking the steps) */
    sb_printf(src, "/* ---- weights ---- */\n%.*s\n", (int)m.src.len,
              m.src.s ? m.src.s : "");
    sb_puts(src, "/* ---- kernels ---- */\n\n");
    if (!int8) {
        if (used & 1u << 0) sb_puts(src, K_INPUT_F);
        if (used & 1u << 1) conv_kernels(src, K_CONV_F, &m);
        if (used & 1u << 2) sb_puts(src, K_DENSE_F);
        if (used & 1u << 3) sb_puts(src, K_AFFINE_F);
        if (used & 1u << 4) sb_puts(src, K_RELU_F);
        if (used & 1u << 5) sb_puts(src, K_POOL_F);
        if (used & 1u << 6) sb_puts(src, K_GAP_F);
        if (used & 1u << 7) sb_puts(src, K_ADD_F);
    } else {
        sb_puts(src, K_Q_COMMON);
        if (used & 1u << 0) sb_puts(src, K_INPUT_Q);
        if (used & 1u << 1) conv_kernels(src, K_CONV_Q, &m);
        if (used & 1u << 2) sb_puts(src, K_DENSE_Q);
        if (used & 1u << 3) sb_puts(src, K_AFFINE_Q);
        if (used & 1u << 4) sb_puts(src, K_CLAMP_Q);
        if (used & 1u << 5) sb_puts(src, K_POOL_Q);
        if (used & 1u << 6) sb_puts(src, K_GAP_Q);
        if (used & 1u << 7) sb_puts(src, K_ADD_Q);
        if (used & 1u << 8) sb_puts(src, K_REQ_Q);
    }
    sb_printf(src, "int %s_predict(const float *input, float *logits)\n{\n",
              prefix);
    sb_printf(src, "    %s *const A = %s_arena;\n", int8 ? "int8_t" : "float",
              prefix);
    sb_puts(src, "    int c, best = 0;\n");
    sb_printf(src, "%.*s", (int)m.body.len, m.body.s ? m.body.s : "");
    long long out = (long long)p->bufs[p->out_buf].off;
    const xs_step *last = &p->steps[p->n_steps - 1];
    sb_puts(src, "    /* logits */\n");
    if (!int8) {
        sb_printf(src, "    memcpy(logits, A + %lld, %d * sizeof(float));\n",
                  out, g->classes);
    } else if (!last->q.float_out) {
        char b[48];
        fmt_float(b, sizeof b, p->scale[g->n_nodes - 1]);
        sb_printf(src,
                  "    for (c = 0; c < %d; c++) logits[c] = (float)A[%lld + c] "
                  "* %s;\n",
                  g->classes, out, b);
    }
    sb_printf(src,
              "    for (c = 1; c < %d; c++)\n"
              "        if (logits[c] > logits[best]) best = c;\n"
              "    return best;\n}\n",
              g->classes);
    *wbytes = m.wbytes;
    free(m.src.s);
    free(m.body.s);
}

/* ---- files ------------------------------------------------------------ */

static xs_prog *build(const sn_graph *g, const sn_weights *w,
                      const float *mean, const float *std,
                      const sn_export_c_opts *o, int *calib_used,
                      sn_error *e) {
    if (!w) {
        sn_errf(e, "no weights to export");
        return NULL;
    }
    if (w->n_nodes != g->n_nodes) {
        sn_errf(e, "the weights do not match the graph (%d layers, the graph "
                   "has %d)",
                w->n_nodes - 1, g->n_nodes - 1);
        return NULL;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const sn_node *nd = &g->nodes[i];
        sn_shape in[SN_MAX_IN];
        for (int k = 0; k < nd->n_in; k++) in[k] = g->nodes[nd->in[k]].out;
        sn_tensor_desc t[SN_MAX_TENSORS];
        int nt = sn_op_get(nd->op)->tensors(&nd->attr, in, nd->n_in, t);
        int ok = nt == w->n_tensors[i];
        for (int k = 0; ok && k < nt; k++) {
            ok = t[k].ndim == w->desc[i][k].ndim;
            for (int d = 0; ok && d < t[k].ndim; d++)
                ok = t[k].dims[d] == w->desc[i][k].dims[d];
        }
        if (!ok) {
            sn_errf(e, "the weights do not match the graph at layer %d (%s)",
                    i, nd->name);
            return NULL;
        }
    }
    xs_prog *p = xs_lower(g, w, mean, std, e);
    if (!p) return NULL;
    *calib_used = 0;
    if (o->int8 &&
        xs_quantize(p, w, mean, std, o->calib, o->calibrate_n, o->seed,
                    calib_used, e)) {
        xs_free(p);
        return NULL;
    }
    return p;
}

int sn_export_c(const sn_graph *g, const sn_weights *w, const float *mean,
                const float *std, const char *const *class_names,
                const sn_export_c_opts *opts, const char *dir,
                sn_export_c_report *rep, sn_error *e) {
    sn_export_c_opts o = opts ? *opts : sn_export_c_opts_default();
    const char *prefix = o.prefix ? o.prefix : "model";
    if (!valid_prefix(prefix))
        return sn_errf(e, "prefix '%s' is not a C identifier (letters, "
                          "digits, '_', at most 32)",
                       prefix);
    sn_export_c_report r;
    memset(&r, 0, sizeof r);
    int used = 0;
    xs_prog *p = build(g, w, mean, std, &o, &used, e);
    if (!p) return -1;
    sbuf hdr = {0}, src = {0};
    generate(p, prefix, o.int8, class_names, &hdr, &src, &r.weight_bytes);
    int64_t esz = o.int8 ? 1 : 4;
    r.params = sn_graph_params(g);
    r.arena_bytes = p->arena * esz;
    r.live_bytes = p->live_peak * esz;
    r.stats_peak_bytes = sn_graph_peak_bytes(g) / 4 * esz;
    r.steps = p->n_steps;
    r.calib_images = used;
    xs_free(p);

    int rc = -1, made_dir = 0;
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (mkdir(dir, 0755) != 0) {
            sn_errf(e, "%s: %s", dir, strerror(errno));
            goto out;
        }
        made_dir = 1;
    } else if (!S_ISDIR(st.st_mode)) {
        sn_errf(e, "%s: not a directory", dir);
        goto out;
    }
    snprintf(r.header, sizeof r.header, "%s/%s.h", dir, prefix);
    snprintf(r.source, sizeof r.source, "%s/%s.c", dir, prefix);
    /* both files complete under temporary names first, then renamed: an
     * old pair is replaced whole or not at all */
    char th[4200], ts[4200];
    snprintf(th, sizeof th, "%s/.%s.h.new", dir, prefix);
    snprintf(ts, sizeof ts, "%s/.%s.c.new", dir, prefix);
    if (sn_write_atomic(th, hdr.s, hdr.len, e)) goto fail;
    if (sn_write_atomic(ts, src.s, src.len, e)) {
        unlink(th);
        goto fail;
    }
    if (rename(th, r.header) != 0 || rename(ts, r.source) != 0) {
        sn_errf(e, "%s: %s", dir, strerror(errno));
        unlink(th);
        unlink(ts);
        goto fail;
    }
    rc = 0;
    if (rep) *rep = r;
    goto out;
fail:
    if (made_dir) rmdir(dir);
out:
    free(hdr.s);
    free(src.s);
    return rc;
}

struct sn_export_c_model {
    xs_prog *p;
    int int8;
    void *arena;
    const sn_graph *g;
};

sn_export_c_model *sn_export_c_model_new(const sn_graph *g,
                                         const sn_weights *w,
                                         const float *mean, const float *std,
                                         const sn_export_c_opts *opts,
                                         sn_error *e) {
    sn_export_c_opts o = opts ? *opts : sn_export_c_opts_default();
    int used;
    xs_prog *p = build(g, w, mean, std, &o, &used, e);
    if (!p) return NULL;
    sn_export_c_model *m = sn_xcalloc(1, sizeof *m);
    m->p = p;
    m->g = g;
    m->int8 = o.int8;
    m->arena = sn_xmalloc((size_t)(p->arena > 0 ? p->arena : 1) *
                          (o.int8 ? 1 : sizeof(float)));
    return m;
}

void sn_export_c_model_free(sn_export_c_model *m) {
    if (!m) return;
    xs_free(m->p);
    free(m->arena);
    free(m);
}

int sn_export_c_model_predict(sn_export_c_model *m, const float *input,
                              float *logits) {
    return m->int8 ? xs_run_int8(m->p, input, logits, m->arena)
                   : xs_run_float(m->p, input, logits, m->arena);
}

float sn_export_c_model_act_scale(const sn_export_c_model *m, int node) {
    if (!m->int8 || node < 0 || node >= m->g->n_nodes) return 0.0f;
    return m->p->scale[node];
}

int sn_export_c_model_weight_scales(const sn_export_c_model *m, int node,
                                    float *out) {
    if (!m->int8) return 0;
    for (int k = 0; k < m->p->n_steps; k++) {
        const xs_step *s = &m->p->steps[k];
        if (s->node != node || (s->kind != XS_CONV && s->kind != XS_DENSE))
            continue;
        if (out)
            for (int c = 0; c < s->out_shape.c; c++) out[c] = s->q.wscale[c];
        return s->out_shape.c;
    }
    return 0;
}

int sn_export_c_accuracy(const sn_graph *g, const sn_weights *w,
                         const float *mean, const float *std,
                         const sn_export_c_opts *opts, const sn_data *d,
                         sn_split s, int max_n, double *acc, sn_error *e) {
    sn_shape ds = sn_data_shape(d);
    if (ds.c != g->input.c || ds.h != g->input.h || ds.w != g->input.w)
        return sn_errf(e, "%s has images %dx%dx%d (HxWxC), the graph takes "
                          "%dx%dx%d",
                       sn_data_name(d), ds.h, ds.w, ds.c, g->input.h,
                       g->input.w, g->input.c);
    if (sn_data_classes(d) > g->classes)
        return sn_errf(e, "%s has %d classes, the graph %d", sn_data_name(d),
                       sn_data_classes(d), g->classes);
    sn_export_c_model *m = sn_export_c_model_new(g, w, mean, std, opts, e);
    if (!m) return -1;
    int n = sn_data_count(d, s);
    if (max_n > 0 && max_n < n) n = max_n;
    int64_t isz = sn_shape_size(g->input);
    float *x = sn_xmalloc((size_t)isz * sizeof *x);
    float *logits = sn_xmalloc((size_t)g->classes * sizeof *logits);
    const int *labels = sn_data_labels(d, s);
    int hit = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *px = sn_data_raw(d, s, i);
        for (int64_t t = 0; t < isz; t++) x[t] = (float)px[t] / 255.0f;
        hit += sn_export_c_model_predict(m, x, logits) == labels[i];
    }
    *acc = n ? (double)hit / n : 0.0;
    free(x);
    free(logits);
    sn_export_c_model_free(m);
    return 0;
}

/* ---- bench ------------------------------------------------------------ */

/* Runs argv with stdout to out (may be NULL) and stderr to err_path;
 * returns the exit status, or -1 when it could not run. */
static int run(char *const argv[], const char *out_path,
               const char *err_path) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fo = open(out_path ? out_path : "/dev/null",
                      O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo >= 0) dup2(fo, 1);
        if (fe >= 0) dup2(fe, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void first_line(const char *path, char *buf, size_t n) {
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (fgets(buf, (int)n, f)) buf[strcspn(buf, "\n")] = 0;
    fclose(f);
}

int sn_export_c_bench(const char *dir, const char *prefix,
                      double min_seconds, double *sec_per_image,
                      sn_error *e) {
    if (!prefix) prefix = "model";
    if (!valid_prefix(prefix))
        return sn_errf(e, "prefix '%s' is not a C identifier", prefix);
    if (min_seconds <= 0) min_seconds = 1.0;
    char src[4096], tmp[] = "/tmp/slimnas-bench.XXXXXX";
    snprintf(src, sizeof src, "%s/%s.c", dir, prefix);
    if (access(src, R_OK) != 0)
        return sn_errf(e, "%s: %s", src, strerror(errno));
    if (!mkdtemp(tmp)) return sn_errf(e, "mkdtemp: %s", strerror(errno));
    char drv[4200], bin[4200], errp[4200], outp[4200], inc[4200];
    snprintf(drv, sizeof drv, "%s/bench.c", tmp);
    snprintf(bin, sizeof bin, "%s/bench", tmp);
    snprintf(errp, sizeof errp, "%s/err.txt", tmp);
    snprintf(outp, sizeof outp, "%s/out.txt", tmp);
    snprintf(inc, sizeof inc, "-I%s", dir);
    int rc = -1;
    FILE *f = fopen(drv, "w");
    if (!f) {
        sn_errf(e, "%s: %s", drv, strerror(errno));
        goto done;
    }
    char up[40];
    upper(prefix, up, sizeof up);
    /* one fixed pseudo-random image; the loop stops after min_seconds */
    fprintf(f,
            "#define _POSIX_C_SOURCE 199309L\n"
            "#include <stdio.h>\n#include <time.h>\n#include \"%s.h\"\n"
            "static double now(void) {\n"
            "    struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);\n"
            "    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;\n}\n"
            "int main(void) {\n"
            "    static float in[%s_INPUT_SIZE]; float lg[%s_CLASSES];\n"
            "    unsigned s = 12345u; long i, n = 0, reps = 1; double t0, t;\n"
            "    volatile int sink = 0;\n"
            "    for (i = 0; i < %s_INPUT_SIZE; i++) {\n"
            "        s = s * 1103515245u + 12345u;\n"
            "        in[i] = (float)((s >> 16) & 255u) / 255.0f;\n    }\n"
            "    sink += %s_predict(in, lg);\n"
            "    t0 = now();\n"
            "    for (;;) {\n"
            "        for (i = 0; i < reps; i++) sink += %s_predict(in, lg);\n"
            "        n += reps; t = now() - t0;\n"
            "        if (t >= %.6f) break;\n"
            "        reps *= 2;\n    }\n"
            "    printf(\"%%.9g %%ld %%d\\n\", t / (double)n, n, (int)sink);\n"
            "    return 0;\n}\n",
            prefix, up, up, up, prefix, prefix, min_seconds);
    if (fclose(f) != 0) {
        sn_errf(e, "%s: %s", drv, strerror(errno));
        goto done;
    }
    const char *cc = getenv("CC");
    if (!cc || !*cc) cc = "cc";
    char *argv[] = {(char *)cc, "-std=c99", "-O2", "-march=native", inc,
                    "-o", bin, drv, src, "-lm", NULL};
    int st = run(argv, NULL, errp);
    if (st != 0) { /* a compiler without -march=native */
        char *argv2[] = {(char *)cc, "-std=c99", "-O2", inc, "-o", bin, drv,
                         src, "-lm", NULL};
        st = run(argv2, NULL, errp);
    }
    if (st != 0) {
        char line[512];
        first_line(errp, line, sizeof line);
        sn_errf(e, "%s did not compile %s%s%s", cc, src, line[0] ? ": " : "",
                line);
        goto done;
    }
    char *argv3[] = {bin, NULL};
    if (run(argv3, outp, errp) != 0) {
        sn_errf(e, "the benchmark of %s failed to run", src);
        goto done;
    }
    char line[256];
    first_line(outp, line, sizeof line);
    double sec;
    if (sscanf(line, "%lf", &sec) != 1 || !(sec > 0)) {
        sn_errf(e, "the benchmark of %s printed no time", src);
        goto done;
    }
    *sec_per_image = sec;
    rc = 0;
done:
    unlink(drv);
    unlink(bin);
    unlink(errp);
    unlink(outp);
    rmdir(tmp);
    return rc;
}
