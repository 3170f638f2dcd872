/* norm.c — batch normalisation over channels (BatchNorm2d, and BatchNorm1d
 * on flat {C,1,1} tensors, which is the same computation with H = W = 1).
 *
 * Per channel c over its M = N*H*W values:
 *   training:  mean, var = batch mean and biased variance (the ones that
 *              normalise); running_mean/var move towards mean and the
 *              UNBIASED variance var * M / (M - 1) (PyTorch's convention);
 *   inference: mean, var = running_mean, running_var;
 *   y = gamma * (x - mean) * invstd + beta,  invstd = 1 / sqrt(var + eps).
 * The cache keeps the mean and invstd actually used, so backward sees the
 * statistics of its forward even after the running ones moved.
 *
 * Backward, with xhat = (x - mean) * invstd and sums over the channel:
 *   dbeta  = sum dy,  dgamma = sum dy * xhat;
 *   training (mean and var depend on x):
 *     dx = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma)
 *   inference (constants): dx = gamma * invstd * dy.
 * Channels are independent, so they are the unit of parallel work. */
#include "ops_internal.h"

#include <math.h>

#define PAR_MIN_FLOATS (1 << 14)

enum { BN_GAMMA, BN_BETA, BN_RMEAN, BN_RVAR };

int bn_infer(const sn_attr *a, const sn_shape *in, int n_in, sn_shape *out,
             sn_error *e) {
    if (n_in != 1) return sn_errf(e, "bn takes exactly 1 input, got %d", n_in);
    if (in[0].c < 1 || in[0].h < 1 || in[0].w < 1)
        return sn_errf(e, "bn: input shape %dx%dx%d (CxHxW) must be at least "
                          "1 in every dimension",
                       in[0].c, in[0].h, in[0].w);
    if (!(a->eps > 0.0f))
        return sn_errf(e, "bn: eps %g must be positive", (double)a->eps);
    if (!(a->momentum >= 0.0f && a->momentum <= 1.0f))
        return sn_errf(e, "bn: momentum %g must be in [0, 1]",
                       (double)a->momentum);
    *out = in[0];
    return 0;
}

int bn_tensors(const sn_attr *a, const sn_shape *in, int n_in,
               sn_tensor_desc t[SN_MAX_TENSORS]) {
    static const char *names[4] = {"weight", "bias", "running_mean",
                                   "running_var"};
    for (int i = 0; i < 4; i++)
        t[i] = (sn_tensor_desc){.name = names[i],
                                .ndim = 1,
                                .dims = {in[0].c},
                                .trainable = i < 2};
    return 4;
}

int64_t bn_macs(const sn_attr *a, const sn_shape *in, int n_in,
                sn_shape out) {
    return 0;
}

/* thop (mid-2019): subtract, divide, and with affine multiply, add. */
int64_t bn_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,
                    sn_shape out) {
    return 4 * sn_shape_size(out);
}

/* mean[C] then invstd[C]. */
size_t bn_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                      sn_shape out, int n) {
    return (size_t)2 * (size_t)in[0].c * sizeof(float);
}

size_t bn_work_floats(const sn_attr *a, const sn_shape *in, int n_in,
                      sn_shape out, int n) {
    return 0;
}

void bn_init(const sn_attr *a, const sn_shape *in, int n_in,
             float *const *tensor, sn_rng *rng) {
    for (int c = 0; c < in[0].c; c++) {
        tensor[BN_GAMMA][c] = 1.0f;
        tensor[BN_BETA][c] = 0.0f;
        tensor[BN_RMEAN][c] = 0.0f;
        tensor[BN_RVAR][c] = 1.0f;
    }
}

typedef struct bn_ctx {
    const sn_op_args *x;
} bn_ctx;

/* Plane reductions with 8 independent float lanes: the compiler turns
 * them into SIMD adds (a single float accumulator cannot be vectorised
 * without reassociation), and a lane sums at most HW/8 terms before the
 * lanes are added in double, so precision stays near float epsilon. */
#define LANES 8

/* sum x */
static double plane_sum(const float *x, int64_t n) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += x[i + l];
    double s = 0;
    for (; i < n; i++) s += x[i];
    for (int l = 0; l < LANES; l++) s += acc[l];
    return s;
}

/* sum (x - m)^2: centred, so no cancellation */
static double plane_sqdev(const float *x, int64_t n, float m) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float d = x[i + l] - m;
            acc[l] += d * d;
        }
    double s = 0;
    for (; i < n; i++) s += ((double)x[i] - m) * ((double)x[i] - m);
    for (int l = 0; l < LANES; l++) s += acc[l];
    return s;
}

/* sum dy and sum dy * (x - m) in one pass */
static void plane_dsums(const float *x, const float *dy, int64_t n, float m,
                        double *sdy, double *sdyx) {
    float a[LANES] = {0}, b[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            a[l] += dy[i + l];
            b[l] += dy[i + l] * (x[i + l] - m);
        }
    double s = 0, t = 0;
    for (; i < n; i++) {
        s += dy[i];
        t += (double)dy[i] * ((double)x[i] - m);
    }
    for (int l = 0; l < LANES; l++) {
        s += a[l];
        t += b[l];
    }
    *sdy += s;
    *sdyx += t;
}

static void bn_fwd_task(void *p, int64_t b, int64_t e, int tid) {
    const sn_op_args *x = ((const bn_ctx *)p)->x;
    int C = x->in_shape[0].c, N = x->n;
    int64_t HW = (int64_t)x->in_shape[0].h * x->in_shape[0].w;
    int64_t M = (int64_t)N * HW;
    float *const *t = x->tensor;
    float *mean_c = x->cache, *invstd_c = (float *)x->cache + C;
    for (int64_t c = b; c < e; c++) {
        double mean, var;
        if (x->training) {
            /* Two passes (mean, then centred squares): a one-pass
             * E[x^2] - E[x]^2 loses all digits when |mean| >> std. */
            double s = 0;
            for (int i = 0; i < N; i++)
                s += plane_sum(x->in[0] + ((int64_t)i * C + c) * HW, HW);
            mean = s / (double)M;
            double q = 0;
            for (int i = 0; i < N; i++)
                q += plane_sqdev(x->in[0] + ((int64_t)i * C + c) * HW, HW,
                                 (float)mean);
            var = q / (double)M;
            double mom = x->attr->momentum;
            double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
            t[BN_RMEAN][c] =
                (float)((1 - mom) * t[BN_RMEAN][c] + mom * mean);
            t[BN_RVAR][c] = (float)((1 - mom) * t[BN_RVAR][c] + mom * unbiased);
        } else {
            mean = t[BN_RMEAN][c];
            var = t[BN_RVAR][c];
        }
        float invstd = (float)(1.0 / sqrt(var + (double)x->attr->eps));
        mean_c[c] = (float)mean;
        invstd_c[c] = invstd;
        /* y = x * scale + shift: one fused multiply-add per element. */
        float scale = t[BN_GAMMA][c] * invstd;
        float shift = t[BN_BETA][c] - (float)mean * scale;
        for (int i = 0; i < N; i++) {
            const float *in = x->in[0] + ((int64_t)i * C + c) * HW;
            float *out = x->out + ((int64_t)i * C + c) * HW;
            for (int64_t j = 0; j < HW; j++) out[j] = in[j] * scale + shift;
        }
    }
}

static void bn_bwd_task(void *p, int64_t b, int64_t e, int tid) {
    const sn_op_args *x = ((const bn_ctx *)p)->x;
    int C = x->in_shape[0].c, N = x->n;
    int64_t HW = (int64_t)x->in_shape[0].h * x->in_shape[0].w;
    int64_t M = (int64_t)N * HW;
    const float *mean_c = x->cache, *invstd_c = (const float *)x->cache + C;
    for (int64_t c = b; c < e; c++) {
        float mean = mean_c[c], invstd = invstd_c[c];
        double dbeta = 0, dgamma = 0;
        for (int i = 0; i < N; i++) {
            int64_t off = ((int64_t)i * C + c) * HW;
            plane_dsums(x->in[0] + off, x->dout + off, HW, mean, &dbeta,
                        &dgamma);
        }
        dgamma *= invstd; /* sum dy * xhat */
        if (x->grad[BN_GAMMA]) x->grad[BN_GAMMA][c] += (float)dgamma;
        if (x->grad[BN_BETA]) x->grad[BN_BETA][c] += (float)dbeta;
        if (!x->din[0]) continue;
        float k = x->tensor[BN_GAMMA][c] * invstd;
        if (x->training) {
            /* dx = k * (dy - dbeta/M - xhat * dgamma/M), k = gamma*invstd;
             * xhat * dgamma/M = (x - mean) * (invstd * dgamma / M). */
            float mb = (float)(dbeta / (double)M);
            float mg = (float)(dgamma * invstd / (double)M);
            for (int i = 0; i < N; i++) {
                int64_t off = ((int64_t)i * C + c) * HW;
                const float *in = x->in[0] + off, *dy = x->dout + off;
                float *dx = x->din[0] + off;
                for (int64_t j = 0; j < HW; j++)
                    dx[j] += k * (dy[j] - mb - (in[j] - mean) * mg);
            }
        } else {
            for (int i = 0; i < N; i++) {
                int64_t off = ((int64_t)i * C + c) * HW;
                const float *dy = x->dout + off;
                float *dx = x->din[0] + off;
                for (int64_t j = 0; j < HW; j++) dx[j] += k * dy[j];
            }
        }
    }
}

static void bn_run(const sn_op_args *x, sn_task_fn fn) {
    bn_ctx ctx = {x};
    int C = x->in_shape[0].c;
    if (C > 1 && sn_shape_size(x->in_shape[0]) * x->n >= PAR_MIN_FLOATS)
        sn_parallel_for(C, fn, &ctx);
    else
        fn(&ctx, 0, C, 0);
}

void bn_forward(const sn_op_args *x) { bn_run(x, bn_fwd_task); }
void bn_backward(const sn_op_args *x) { bn_run(x, bn_bwd_task); }
