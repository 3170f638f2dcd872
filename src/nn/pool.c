/* pool.c — max pool, average pool, global average pool.
 *
 * Every (sample, channel) plane is pooled independently, so the N*C planes
 * are the unit of work for the pool. Windows are clipped to the input;
 * max pool treats padding as -inf (it never wins), average pool as zeros
 * that count in the divisor (PyTorch's count_include_pad=True default, and
 * with floor-mode output sizes the divisor is always K*K). */
#include "ops_internal.h"

#include <math.h>
#include <string.h>

/* Below this many input floats a pass runs on the calling thread. */
#define PAR_MIN_FLOATS (1 << 15)


static int check_input(const char *op, const sn_shape *in, int n_in,
                       sn_error *e) {
    if (n_in != 1)
        return sn_errf(e, "%s takes exactly 1 input, got %d", op, n_in);
    if (in[0].c < 1 || in[0].h < 1 || in[0].w < 1)
        return sn_errf(e, "%s: input shape %dx%dx%d (HxWxC) must be at "
                          "least 1 in every dimension",
                       op, in[0].h, in[0].w, in[0].c);
    return 0;
}

/* Shape rule shared by max and average pool (PyTorch floor mode). */
static int window_infer(const char *op, const sn_attr *a, const sn_shape *in,
                        int n_in, sn_shape *out, sn_error *e) {
    if (check_input(op, in, n_in, e)) return -1;
    if (a->k < 1)
        return sn_errf(e, "%s: kernel %d must be at least 1", op, a->k);
    if (a->stride < 1)
        return sn_errf(e, "%s: stride %d must be at least 1", op, a->stride);
    if (a->pad < 0)
        return sn_errf(e, "%s: padding %d must not be negative", op, a->pad);
    /* PyTorch's rule; it also guarantees every window holds at least one
     * real element, so a max pool never outputs -inf. */
    if (2 * a->pad > a->k)
        return sn_errf(e, "%s: padding %d is more than half the kernel %d",
                       op, a->pad, a->k);
    int hp = in[0].h + 2 * a->pad, wp = in[0].w + 2 * a->pad;
    if (a->k > hp || a->k > wp)
        return sn_errf(e, "%s: kernel %d does not fit the input %dx%d (HxW) "
                          "with padding %d",
                       op, a->k, in[0].h, in[0].w, a->pad);
    out->c = in[0].c;
    out->h = (hp - a->k) / a->stride + 1;
    out->w = (wp - a->k) / a->stride + 1;
    return 0;
}


typedef struct plane_ctx {
    const sn_op_args *x;
} plane_ctx;

/* Runs fn over the N*C input planes of x: across the pool when the input
 * is large enough to pay for it, on the calling thread otherwise. */
static void run_planes(const sn_op_args *x, sn_task_fn fn) {
    plane_ctx c = {x};
    int64_t planes = (int64_t)x->n * x->in_shape[0].c;
    if (planes * x->in_shape[0].h * x->in_shape[0].w >= PAR_MIN_FLOATS)
        sn_parallel_for(planes, fn, &c);
    else if (planes > 0)
        fn(&c, 0, planes, 0);
}

/* ---- max pool ----------------------------------------------------------- */

int maxpool_infer(const sn_attr *a, const sn_shape *in, int n_in,
                  sn_shape *out, sn_error *e) {
    return window_infer("maxpool", a, in, n_in, out, e);
}
NO_PARAMS(maxpool)

/* thop (mid-2019) multiplies the output size by torch.prod of
 * [kernel_size]; with an integer kernel size that is K, not K*K. */
int64_t maxpool_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,
                         sn_shape out) {
    return (int64_t)a->k * sn_shape_size(out);
}

/* The common 2x2 stride-2 unpadded pool keeps, per output element, a
 * one-byte code of where its maximum was (0..3: row-major in the window);
 * every other pool keeps an int32 offset into its input plane (y*W + x).
 * The byte codes cut the cache traffic of the most frequent pool by 4. */
static int is_2x2(const sn_attr *a) {
    return a->k == 2 && a->stride == 2 && a->pad == 0;
}

int sn_maxpool_is_2x2(const sn_attr *a) { return is_2x2(a); }

size_t maxpool_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                           sn_shape out, int n) {
    return (size_t)(sn_shape_size(out) * n) *
           (is_2x2(a) ? sizeof(uint8_t) : sizeof(int32_t));
}

/* 2x2 stride-2: branch-free selects over the four elements of a window (a
 * tie keeps the earlier element in row-major order, as the general loop
 * does: the row winners first, then row 1 only when strictly greater; NaN
 * is not propagated here, it still reaches the loss through the other
 * paths of the network). The codes are written in inference too, so
 * backward is valid after a forward in either mode.
 *
 * Eight outputs at a time with GCC/clang vector types: two 8-float loads
 * per input row, de-interleaved into even and odd columns. (gcc does not
 * vectorise the stride-2 scalar loop by itself.) */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* Macros rather than functions: a function taking or returning a 32-byte
 * vector changes the ABI (and warns) when AVX is not enabled. */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v))
#define SELECT8(m, a, b) ((v8f)(((v8i)(a) & (m)) | ((v8i)(b) & ~(m))))

void sn_maxpool_2x2_rows(const float *in, float *out, uint8_t *code, int W,
                         int oy0, int oy1, int OW) {
    for (int oy = oy0; oy < oy1; oy++) {
        const float *r0 = in + (int64_t)2 * oy * W, *r1 = r0 + W;
        float *o = out + (int64_t)oy * OW;
        uint8_t *c = code + (int64_t)oy * OW;
        /* The last eight outputs of a row go as one more (overlapping)
         * vector: recomputing a few outputs is cheaper than a scalar tail.
         * Rows under eight outputs take the scalar loop, written without
         * branches (on data, they would mispredict half the time). */
        for (int ox = 0; OW >= 8 && ox < OW; ox += 8) {
            if (ox + 8 > OW) ox = OW - 8;
            v8f a0, a1, b0, b1;
            LOAD8(a0, r0 + 2 * ox);
            LOAD8(a1, r0 + 2 * ox + 8);
            LOAD8(b0, r1 + 2 * ox);
            LOAD8(b1, r1 + 2 * ox + 8);
            v8f v0 = __builtin_shufflevector(a0, a1, 0, 2, 4, 6, 8, 10, 12, 14);
            v8f v1 = __builtin_shufflevector(a0, a1, 1, 3, 5, 7, 9, 11, 13, 15);
            v8f v2 = __builtin_shufflevector(b0, b1, 0, 2, 4, 6, 8, 10, 12, 14);
            v8f v3 = __builtin_shufflevector(b0, b1, 1, 3, 5, 7, 9, 11, 13, 15);
            v8i g01 = v1 > v0, g23 = v3 > v2; /* -1 where true */
            v8f m01 = SELECT8(g01, v1, v0), m23 = SELECT8(g23, v3, v2);
            v8i take = m23 > m01;
            v8f m = SELECT8(take, m23, m01);
            /* code: row 1 adds 2, the right column adds 1 */
            v8i k = (take & 2) - (take & g23) - (~take & g01);
            memcpy(o + ox, &m, sizeof m);
            for (int j = 0; j < 8; j++) c[ox + j] = (uint8_t)k[j];
        }
        for (int ox = OW < 8 ? 0 : OW; ox < OW; ox++) {
            float v0 = r0[2 * ox], v1 = r0[2 * ox + 1];
            float v2 = r1[2 * ox], v3 = r1[2 * ox + 1];
            int g01 = v1 > v0, g23 = v3 > v2;
            float m01 = g01 ? v1 : v0, m23 = g23 ? v3 : v2;
            int take = m23 > m01;
            o[ox] = take ? m23 : m01;
            c[ox] = (uint8_t)((take << 1) | (take & g23) | (~take & 1 & g01));
        }
    }
}

void sn_maxpool_2x2_unpool_rows(const float *dout, const float *relu_out,
                                const uint8_t *code, int OW, int oy0,
                                int oy1, float *dst, int W) {
    for (int oy = oy0; oy < oy1; oy++) {
        float *r0 = dst + (int64_t)2 * (oy - oy0) * W;
        const float *d = dout + (int64_t)oy * OW;
        const uint8_t *c = code + (int64_t)oy * OW;
        if (relu_out) {
            const float *y = relu_out + (int64_t)oy * OW;
            for (int ox = 0; ox < OW; ox++) {
                int k = c[ox];
                r0[(k >> 1) * W + 2 * ox + (k & 1)] =
                    y[ox] > 0.0f ? d[ox] : 0.0f;
            }
            continue;
        }
        for (int ox = 0; ox < OW; ox++) {
            int k = c[ox];
            r0[(k >> 1) * W + 2 * ox + (k & 1)] = d[ox];
        }
    }
}

/* Backward of the 2x2 pool: the gradient of each output goes to the input
 * element its code names (the executor zeroed din, or it holds the other
 * readers' gradients). */
static void maxpool_2x2_plane_bwd(float *din, const float *dout,
                                  const uint8_t *code, int W, int OH,
                                  int OW) {
    for (int oy = 0; oy < OH; oy++) {
        float *r0 = din + (int64_t)2 * oy * W;
        const float *d = dout + (int64_t)oy * OW;
        const uint8_t *c = code + (int64_t)oy * OW;
        for (int ox = 0; ox < OW; ox++) {
            int k = c[ox];
            r0[(k >> 1) * W + 2 * ox + (k & 1)] += d[ox];
        }
    }
}

static void maxpool_fwd_task(void *p, int64_t b, int64_t e, int tid) {
    const sn_op_args *x = ((const plane_ctx *)p)->x;
    const sn_attr *a = x->attr;
    int H = x->in_shape[0].h, W = x->in_shape[0].w;
    int OH = x->out_shape.h, OW = x->out_shape.w;
    if (is_2x2(a)) {
        for (int64_t pl = b; pl < e; pl++)
            sn_maxpool_2x2_rows(
                x->in[0] + pl * H * W, x->out + pl * OH * OW,
                (uint8_t *)x->cache + pl * OH * OW, W, 0, OH, OW);
        return;
    }
    for (int64_t pl = b; pl < e; pl++) {
        const float *in = x->in[0] + pl * H * W;
        float *out = x->out + pl * OH * OW;
        int32_t *arg = (int32_t *)x->cache + pl * OH * OW;
        for (int oy = 0; oy < OH; oy++) {
            int y0 = oy * a->stride - a->pad, y1 = y0 + a->k;
            if (y0 < 0) y0 = 0;
            if (y1 > H) y1 = H;
            for (int ox = 0; ox < OW; ox++) {
                int x0 = ox * a->stride - a->pad, x1 = x0 + a->k;
                if (x0 < 0) x0 = 0;
                if (x1 > W) x1 = W;
                /* First maximum wins on ties, like PyTorch. */
                int best = y0 * W + x0;
                float bv = in[best];
                for (int yy = y0; yy < y1; yy++)
                    for (int xx = x0; xx < x1; xx++) {
                        float v = in[yy * W + xx];
                        if (v > bv || v != v) { /* NaN propagates */
                            bv = v;
                            best = yy * W + xx;
                        }
                    }
                out[oy * OW + ox] = bv;
                arg[oy * OW + ox] = best;
            }
        }
    }
}

static void maxpool_bwd_task(void *p, int64_t b, int64_t e, int tid) {
    const sn_op_args *x = ((const plane_ctx *)p)->x;
    int64_t HW = (int64_t)x->in_shape[0].h * x->in_shape[0].w;
    int64_t OHW = (int64_t)x->out_shape.h * x->out_shape.w;
    if (is_2x2(x->attr)) {
        for (int64_t pl = b; pl < e; pl++)
            maxpool_2x2_plane_bwd(x->din[0] + pl * HW, x->dout + pl * OHW,
                                  (const uint8_t *)x->cache + pl * OHW,
                                  x->in_shape[0].w, x->out_shape.h,
                                  x->out_shape.w);
        return;
    }
    for (int64_t pl = b; pl < e; pl++) {
        float *din = x->din[0] + pl * HW;
        const float *dout = x->dout + pl * OHW;
        const int32_t *arg = (const int32_t *)x->cache + pl * OHW;
        for (int64_t i = 0; i < OHW; i++) din[arg[i]] += dout[i];
    }
}

void maxpool_forward(const sn_op_args *x) {
    run_planes(x, maxpool_fwd_task);
}

void maxpool_backward(const sn_op_args *x) {
    if (!x->din[0]) return;
    run_planes(x, maxpool_bwd_task);
}

/* ---- average pool ------------------------------------------------------- */

int avgpool_infer(const sn_attr *a, const sn_shape *in, int n_in,
                  sn_shape *out, sn_error *e) {
    return window_infer("avgpool", a, in, n_in, out, e);
}
NO_PARAMS(avgpool)

/* thop (mid-2019) counts avg pool as (adds + 1 division) per output with
 * adds = torch.prod([kernel_size]) = K for an integer kernel size: K + 1
 * per output element. This is the figure that reproduces the reference
 * DenseNet total (273,725,142 with its 2x2 transition pools: 3 each). */
int64_t avgpool_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,
                         sn_shape out) {
    return (int64_t)(a->k + 1) * sn_shape_size(out);
}
size_t avgpool_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                           sn_shape out, int n) {
    return 0;
}

static void avgpool_fwd_task(void *p, int64_t b, int64_t e, int tid) {
    const sn_op_args *x = ((const plane_ctx *)p)->x;
    const sn_attr *a = x->attr;
    int H = x->in_shape[0].h, W = x->in_shape[0].w;
    int OH = x->out_shape.h, OW = x->out_shape.w;
    float inv = 1.0f / (float)(a->k * a->k);
    for (int64_t pl = b; pl < e; pl++) {
        const float *in = x->in[0] + pl * H * W;
        float *out = x->out + pl * OH * OW;
        for (int oy = 0; oy < OH; oy++) {
            int y0 = oy * a->stride - a->pad, y1 = y0 + a->k;
            if (y0 < 0) y0 = 0;
            if (y1 > H) y1 = H;
            for (int ox = 0; ox < OW; ox++) {
                int x0 = ox * a->stride - a->pad, x1 = x0 + a->k;
                if (x0 < 0) x0 = 0;
                if (x1 > W) x1 = W;
                float s = 0.0f;
                for (int yy = y0; yy < y1; yy++)
                    for (int xx = x0; xx < x1; xx++) s += in[yy * W + xx];
                out[oy * OW + ox] = s * inv;
            }
        }
    }
}

static void avgpool_bwd_task(void *p, int64_t b, int64_t e, int tid) {
    const sn_op_args *x = ((const plane_ctx *)p)->x;
    const sn_attr *a = x->attr;
    int H = x->in_shape[0].h, W = x->in_shape[0].w;
    int OH = x->out_shape.h, OW = x->out_shape.w;
    float inv = 1.0f / (float)(a->k * a->k);
    for (int64_t pl = b; pl < e; pl++) {
        float *din = x->din[0] + pl * H * W;
        const float *dout = x->dout + pl * OH * OW;
        for (int oy = 0; oy < OH; oy++) {
            int y0 = oy * a->stride - a->pad, y1 = y0 + a->k;
            if (y0 < 0) y0 = 0;
            if (y1 > H) y1 = H;
            for (int ox = 0; ox < OW; ox++) {
                int x0 = ox * a->stride - a->pad, x1 = x0 + a->k;
                if (x0 < 0) x0 = 0;
                if (x1 > W) x1 = W;
                float g = dout[oy * OW + ox] * inv;
                for (int yy = y0; yy < y1; yy++)
                    for (int xx = x0; xx < x1; xx++) din[yy * W + xx] += g;
            }
        }
    }
}

void avgpool_forward(const sn_op_args *x) {
    run_planes(x, avgpool_fwd_task);
}

void avgpool_backward(const sn_op_args *x) {
    if (!x->din[0]) return;
    run_planes(x, avgpool_bwd_task);
}

/* ---- global average pool ------------------------------------------------ */

int gap_infer(const sn_attr *a, const sn_shape *in, int n_in, sn_shape *out,
              sn_error *e) {
    if (check_input("gap", in, n_in, e)) return -1;
    *out = (sn_shape){in[0].c, 1, 1};
    return 0;
}
NO_PARAMS(gap)
/* thop (mid-2019) had no counter for AdaptiveAvgPool2d: 0. */
int64_t gap_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,
                     sn_shape out) {
    return 0;
}
size_t gap_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                       sn_shape out, int n) {
    return 0;
}

/* Sum with 8 independent float lanes (vectorises; each lane adds only
 * HW/8 terms, and the lanes meet in double), so a 32x32 plane keeps close
 * to float precision. */
static double plane_sum(const float *x, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += x[i + l];
    double s = 0;
    for (; i < n; i++) s += x[i];
    for (int l = 0; l < 8; l++) s += acc[l];
    return s;
}

static void gap_fwd_task(void *p, int64_t b, int64_t e, int tid) {
    const sn_op_args *x = ((const plane_ctx *)p)->x;
    int64_t HW = (int64_t)x->in_shape[0].h * x->in_shape[0].w;
    for (int64_t pl = b; pl < e; pl++)
        x->out[pl] = (float)(plane_sum(x->in[0] + pl * HW, HW) / (double)HW);
}

static void gap_bwd_task(void *p, int64_t b, int64_t e, int tid) {
    const sn_op_args *x = ((const plane_ctx *)p)->x;
    int64_t HW = (int64_t)x->in_shape[0].h * x->in_shape[0].w;
    float inv = 1.0f / (float)HW;
    for (int64_t pl = b; pl < e; pl++) {
        float *din = x->din[0] + pl * HW;
        float g = x->dout[pl] * inv;
        for (int64_t i = 0; i < HW; i++) din[i] += g;
    }
}

/* Output {C,1,1} per sample: plane pl of the input is output element pl. */
void gap_forward(const sn_op_args *x) {
    run_planes(x, gap_fwd_task);
}

void gap_backward(const sn_op_args *x) {
    if (!x->din[0]) return;
    run_planes(x, gap_bwd_task);
}
