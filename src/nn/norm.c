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
 * Channels are independent, so they are the unit of parallel work.
 *
 * Fused with a following relu/relu6 (sn_bn_act_forward/backward, planned
 * by the executor): the normalise pass also writes the activation's
 * output, and both backward passes build dy from the activation's
 * gradient through its mask as they go, the mask recomputed from the
 * input with the forward's scale and shift (act_dy): neither the
 * activation's output nor a dy buffer is read or written, and there is no
 * activation pass. */
#include "ops_internal.h"

#include <math.h>

#define PAR_MIN_FLOATS (1 << 14)
#define BN_CHUNK 8 /* samples per unit of work, see bn_task */

enum { BN_GAMMA, BN_BETA, BN_RMEAN, BN_RVAR };

int bn_infer(const sn_attr *a, const sn_shape *in, int n_in, sn_shape *out,
             sn_error *e) {
    if (n_in != 1) return sn_errf(e, "bn takes exactly 1 input, got %d", n_in);
    if (in[0].c < 1 || in[0].h < 1 || in[0].w < 1)
        return sn_errf(e, "bn: input shape %dx%dx%d (HxWxC) must be at least "
                          "1 in every dimension",
                       in[0].h, in[0].w, in[0].c);
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

/* mean[C], invstd[C], then the scale[C] and shift[C] the forward
 * normalised with (a fused activation's backward rebuilds its mask from
 * them). */
size_t bn_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                      sn_shape out, int n) {
    return (size_t)4 * (size_t)in[0].c * sizeof(float);
}

static int64_t bn_chunks(int n) { return (n + BN_CHUNK - 1) / BN_CHUNK; }

/* The work buffer for C channels and a batch of n, in parts: W_PART, per
 * chunk of samples and channel two double partial sums (see bn_task);
 * W_CHAN, floats per channel (backward's k, mb, mg); W_PLANE, per plane
 * (sample, channel) its mean and centred sum of squares, two doubles
 * (forward); W_DY, per thread one plane's dy (backward with a fused
 * activation). bn_work_off gives a part's offset in floats. */
enum { W_PART, W_CHAN, W_PLANE, W_DY };

static size_t bn_work_off(int C, int n, int part) {
    size_t c = (size_t)C, part_f = (size_t)bn_chunks(n) * c * 4;
    const size_t off[] = {0, part_f, part_f + 4 * c,
                          part_f + 4 * c + (size_t)n * c * 4};
    return off[part];
}

static size_t bn_dy_stride(const sn_shape *in) {
    return ((size_t)in[0].h * in[0].w + 15) & ~(size_t)15;
}

size_t bn_work_floats(const sn_attr *a, const sn_shape *in, int n_in,
                      sn_shape out, int n) {
    return bn_work_off(in[0].c, n, W_DY) +
           bn_dy_stride(in) * (size_t)sn_threads_here();
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

/* Plane reductions in float lanes: 8 lanes (one AVX vector), and four
 * such vectors (32 lanes) over the bulk of the plane so that four
 * independent add chains hide the add latency (one chain leaves the
 * vector units idle three cycles in four). A single float accumulator
 * cannot be vectorised without reassociation; a lane sums at most HW/8
 * terms before the lanes are added in double, so precision stays near
 * float epsilon. Blocks of 32, then of 8 into the first vector, then
 * single terms in double; the four vectors are added into one in float
 * (fold_lanes) before the lanes are. */
#define LANES 8
#define UNROLL 4

/* acc[0] = (acc[0] + acc[1]) + (acc[2] + acc[3]), lane by lane: three
 * vector adds, so only 8 lanes go through the serial double sum */
static inline void fold_lanes(float acc[UNROLL][LANES]) {
    for (int l = 0; l < LANES; l++)
        acc[0][l] = (acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l]);
}

/* sum x */
static double plane_sum(const float *x, int64_t n) {
    float acc[UNROLL][LANES] = {{0}};
    int64_t i = 0;
    for (; i + UNROLL * LANES <= n; i += UNROLL * LANES)
        for (int u = 0; u < UNROLL; u++)
            for (int l = 0; l < LANES; l++) acc[u][l] += x[i + u * LANES + l];
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[0][l] += x[i + l];
    double s = 0;
    for (; i < n; i++) s += x[i];
    fold_lanes(acc);
    for (int l = 0; l < LANES; l++) s += acc[0][l];
    return s;
}

/* sum (x - m)^2: centred, so no cancellation */
static double plane_sqdev(const float *x, int64_t n, float m) {
    float acc[UNROLL][LANES] = {{0}};
    int64_t i = 0;
    for (; i + UNROLL * LANES <= n; i += UNROLL * LANES)
        for (int u = 0; u < UNROLL; u++)
            for (int l = 0; l < LANES; l++) {
                float d = x[i + u * LANES + l] - m;
                acc[u][l] += d * d;
            }
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float d = x[i + l] - m;
            acc[0][l] += d * d;
        }
    double s = 0;
    for (; i < n; i++) s += ((double)x[i] - m) * ((double)x[i] - m);
    fold_lanes(acc);
    for (int l = 0; l < LANES; l++) s += acc[0][l];
    return s;
}

/* sum dy and sum dy * (x - m) in one pass */
static void plane_dsums(const float *x, const float *dy, int64_t n, float m,
                        double *sdy, double *sdyx) {
    float a[UNROLL][LANES] = {{0}}, b[UNROLL][LANES] = {{0}};
    int64_t i = 0;
    for (; i + UNROLL * LANES <= n; i += UNROLL * LANES)
        for (int u = 0; u < UNROLL; u++)
            for (int l = 0; l < LANES; l++) {
                int64_t j = i + u * LANES + l;
                a[u][l] += dy[j];
                b[u][l] += dy[j] * (x[j] - m);
            }
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            a[0][l] += dy[i + l];
            b[0][l] += dy[i + l] * (x[i + l] - m);
        }
    double s = 0, t = 0;
    for (; i < n; i++) {
        s += dy[i];
        t += (double)dy[i] * ((double)x[i] - m);
    }
    fold_lanes(a);
    fold_lanes(b);
    for (int l = 0; l < LANES; l++) {
        s += a[0][l];
        t += b[0][l];
    }
    *sdy += s;
    *sdyx += t;
}

void sn_bn_plane_stats(const float *x, int64_t n, double out[2]) {
    float m = (float)(plane_sum(x, n) / (double)n);
    out[0] = m;
    out[1] = plane_sqdev(x, n, m);
}

/* Memory order: channels of one sample are contiguous, one channel's
 * planes are C*H*W floats apart. Walking a channel across the batch
 * (128 short planes far apart) defeats the hardware prefetcher, so every
 * pass walks the batch in memory order instead: the unit of work is a
 * chunk of BN_CHUNK samples, all channels. Sums over the batch go to one
 * partial per chunk and channel (in double), added up in chunk order:
 * the same result for any thread count. */

typedef struct bn_run {
    const sn_op_args *x;
    int C;
    int64_t HW;
    double *part;  /* [chunks][C][2] */
    const float *a, *b; /* per channel: mean/scale, invstd/shift, ... */
    const float *k, *mb, *mg;
    const float *sc, *sh;  /* backward with act: the forward's scale, shift */
    float *dybuf;          /* backward with act: per thread, HW (+ slack) */
    size_t dystride;
    int pass;
    const sn_op_args *act; /* fused relu/relu6, or NULL */
    float hi;              /* its upper clamp: 6, or INFINITY for relu */
    int skip_out;          /* fused: the bn's own output is never read */
    double *plane;         /* P_STATS: [n][C][2] plane mean, centred sum sq */
} bn_run;

/* The bn's output gradient under a fused relu/relu6: the activation's
 * gradient ady where the activation let it through, written as the
 * activation's backward adds it to a zeroed buffer (0 + v), so the bits
 * agree. The activation's output y = clamp(v, 0, hi) of the bn output
 * v = x * sc + sh passes where 0 < y < hi, that is where 0 < v < hi; v is
 * recomputed from the input with the forward's scale and shift (the same
 * expression, the same bits), so neither y nor a stored dy is read. */
static inline float act_dy(float x, float ady, float sc, float sh, float hi) {
    float v = x * sc + sh;
    return 0.0f + ((v > 0.0f && v < hi) ? ady : 0.0f);
}

/* dy[j] = act_dy(x[j], ady[j]) for one plane, into a per-thread buffer
 * that stays in cache: the passes then run their plain loops over it (the
 * same code, so the same rounding, as the unfused ops). */
static void act_fill(float *restrict dy, const float *restrict x,
                     const float *restrict ady, int64_t n, float sc, float sh,
                     float hi) {
    for (int64_t j = 0; j < n; j++) dy[j] = act_dy(x[j], ady[j], sc, sh, hi);
}

enum { P_STATS, P_NORM, P_DSUMS, P_DX };

static void bn_task(void *p, int64_t cb, int64_t ce, int tid) {
    const bn_run *r = p;
    const sn_op_args *x = r->x;
    const int C = r->C;
    const int64_t HW = r->HW;
    float *dyb = r->dybuf ? r->dybuf + (size_t)tid * r->dystride : NULL;
    for (int64_t ch = cb; ch < ce; ch++) {
        int i0 = (int)(ch * BN_CHUNK);
        int i1 = i0 + BN_CHUNK < x->n ? i0 + BN_CHUNK : x->n;
        /* only the sums pass has partials (in split mode they are shared
         * with the other slices, which read them after the pass) */
        double *part = NULL;
        if (r->pass == P_DSUMS) {
            part = r->part + (size_t)ch * C * 2;
            for (int c = 0; c < 2 * C; c++) part[c] = 0;
        }
        for (int i = i0; i < i1; i++)
            for (int c = 0; c < C; c++) {
                int64_t off = ((int64_t)i * C + c) * HW;
                const float *in = x->in[0] + off;
                switch (r->pass) {
                case P_STATS: {
                    /* the plane's own mean, then its squares centred on
                     * it while the plane is still in L1: one read of the
                     * batch from memory instead of two */
                    sn_bn_plane_stats(in, HW,
                                      r->plane + ((size_t)i * C + c) * 2);
                    break;
                }
                case P_NORM: { /* y = x * scale + shift */
                    float *restrict out = x->out + off;
                    float sc = r->a[c], sh = r->b[c];
                    if (!r->act) {
                        for (int64_t j = 0; j < HW; j++)
                            out[j] = in[j] * sc + sh;
                        break;
                    }
                    /* the same clamps as relu/relu6 forward */
                    float *restrict ao = r->act->out + off;
                    const float hi = r->hi;
                    if (r->skip_out) {
                        for (int64_t j = 0; j < HW; j++)
                            ao[j] = sn_act_clamp(in[j] * sc + sh, hi);
                        break;
                    }
                    for (int64_t j = 0; j < HW; j++) {
                        float v = in[j] * sc + sh;
                        out[j] = v;
                        ao[j] = sn_act_clamp(v, hi);
                    }
                    break;
                }
                case P_DSUMS: {
                    const float *dy = x->dout + off;
                    if (r->act) {
                        act_fill(dyb, in, r->act->dout + off, HW, r->sc[c],
                                 r->sh[c], r->hi);
                        dy = dyb;
                    }
                    plane_dsums(in, dy, HW, r->a[c], &part[2 * c],
                                &part[2 * c + 1]);
                    break;
                }
                case P_DX: {
                    const float *dy = x->dout + off;
                    float *dx = x->din[0] + off;
                    float k = r->k[c];
                    if (r->act) { /* dy from the activation's, as above */
                        act_fill(dyb, in, r->act->dout + off, HW, r->sc[c],
                                 r->sh[c], r->hi);
                        dy = dyb;
                    }
                    if (x->training && x->din_fresh) {
                        /* as below, written as 0 + v: the same bits */
                        float mean = r->a[c], mb = r->mb[c], mg = r->mg[c];
                        for (int64_t j = 0; j < HW; j++)
                            dx[j] = 0.0f +
                                    k * (dy[j] - mb - (in[j] - mean) * mg);
                    } else if (x->training) {
                        /* dx = k * (dy - dbeta/M - xhat * dgamma/M) */
                        float mean = r->a[c], mb = r->mb[c], mg = r->mg[c];
                        for (int64_t j = 0; j < HW; j++)
                            dx[j] += k * (dy[j] - mb - (in[j] - mean) * mg);
                    } else if (x->din_fresh) {
                        for (int64_t j = 0; j < HW; j++)
                            dx[j] = 0.0f + k * dy[j];
                    } else {
                        for (int64_t j = 0; j < HW; j++) dx[j] += k * dy[j];
                    }
                    break;
                }
                }
            }
    }
}

static void bn_pass(bn_run *r, int pass) {
    const sn_op_args *x = r->x;
    r->pass = pass;
    int64_t chunks = bn_chunks(x->n);
    if (r->C * r->HW * x->n >= PAR_MIN_FLOATS && chunks > 1)
        sn_parallel_for(chunks, bn_task, r);
    else
        bn_task(r, 0, chunks, 0);
}

/* Sum of the chunk partials part[chunks][C][2] of channel c, slot s (0
 * or 1), in order. */
static double bn_total(const double *part, int64_t chunks, int C, int c,
                       int s) {
    double t = 0;
    for (int64_t ch = 0; ch < chunks; ch++)
        t += part[((size_t)ch * C + c) * 2 + s];
    return t;
}

static float act_hi(sn_op_kind act_op) {
    return act_op == SN_OP_RELU6 ? 6.0f : INFINITY;
}

int sn_bn_act_fusable(sn_op_kind act) {
    return act == SN_OP_RELU || act == SN_OP_RELU6;
}

static void bn_forward_act(const sn_op_args *x, const sn_op_args *act,
                           sn_op_kind act_op, int skip_out) {
    const int C = x->in_shape[0].c;
    bn_run r = {.x = x, .C = C,
                .HW = (int64_t)x->in_shape[0].h * x->in_shape[0].w,
                .part = (double *)(void *)x->work, .act = act,
                .hi = act_hi(act_op), .skip_out = skip_out};
    /* split: the statistics are over the whole batch (sn_batch_split) */
    const sn_batch_split *sp = x->split;
    const int total = sp ? sp->total : x->n;
    const int64_t M = r.HW * total;
    float *const *t = x->tensor;
    float *mean_c = x->cache, *invstd_c = (float *)x->cache + C;
    /* per channel: scale then shift, kept for backward (see act_dy) */
    float *scale = (float *)x->cache + 2 * C;
    float *shift = scale + C;
    const double *plane = NULL; /* [total][C][2] */
    if (x->training) {
        /* One pass over memory: per plane its mean and its squares
         * centred on that mean (a one-pass E[x^2] - E[x]^2 would lose all
         * digits when |mean| >> std); the planes combine exactly below. */
        r.plane = (double *)(void *)(x->work + bn_work_off(C, x->n, W_PLANE));
        if (sp) /* this slice's planes in the shared array */
            r.plane = sp->shared + (size_t)sp->first * C * 2;
        if (x->plane_stats) /* from the conv before (sn_op_args) */
            r.plane = x->plane_stats;
        else
            bn_pass(&r, P_STATS);
        plane = r.plane;
        if (sp) { /* every slice's planes are in */
            sn_barrier_wait(sp->bar);
            plane = sp->shared;
        }
    }
    for (int c = 0; c < C; c++) {
        double mean, var;
        if (x->training) {
            /* equal-sized planes: the mean of the plane means, and the
             * within-plane plus between-plane squares (in plane order:
             * the same bits for any thread count, split or not) */
            double sm = 0, sq = 0;
            for (int i = 0; i < total; i++)
                sm += plane[((size_t)i * C + c) * 2];
            mean = sm / total;
            for (int i = 0; i < total; i++) {
                const double *pm = plane + ((size_t)i * C + c) * 2;
                sq += pm[1] + (double)r.HW * (pm[0] - mean) * (pm[0] - mean);
            }
            var = sq / (double)M;
            double mom = x->attr->momentum;
            double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
            if (!sp || sp->lead) {
                t[BN_RMEAN][c] =
                    (float)((1 - mom) * t[BN_RMEAN][c] + mom * mean);
                t[BN_RVAR][c] =
                    (float)((1 - mom) * t[BN_RVAR][c] + mom * unbiased);
            }
        } else {
            mean = t[BN_RMEAN][c];
            var = t[BN_RVAR][c];
        }
        float invstd = (float)(1.0 / sqrt(var + (double)x->attr->eps));
        mean_c[c] = (float)mean;
        invstd_c[c] = invstd;
        /* y = x * scale + shift: one fused multiply-add per element. */
        scale[c] = t[BN_GAMMA][c] * invstd;
        shift[c] = t[BN_BETA][c] - (float)mean * scale[c];
    }
    r.a = scale;
    r.b = shift;
    bn_pass(&r, P_NORM);
}

void bn_forward(const sn_op_args *x) {
    bn_forward_act(x, NULL, SN_OP_RELU, 0);
}

void sn_bn_act_forward(const sn_op_args *bn, const sn_op_args *act,
                       sn_op_kind act_op, int skip_bn_out) {
    SN_ASSERT(sn_bn_act_fusable(act_op) && act->n == bn->n &&
              act->in[0] == bn->out);
    bn_forward_act(bn, act, act_op, skip_bn_out);
}

static void bn_backward_act(const sn_op_args *x, const sn_op_args *act,
                            sn_op_kind act_op) {
    const int C = x->in_shape[0].c;
    bn_run r = {.x = x, .C = C,
                .HW = (int64_t)x->in_shape[0].h * x->in_shape[0].w,
                .part = (double *)(void *)x->work, .act = act,
                .hi = act_hi(act_op)};
    /* split: the sums are over the whole batch, one partial per chunk of
     * every slice in the shared array (slices start on a chunk) */
    const sn_batch_split *sp = x->split;
    const int total = sp ? sp->total : x->n;
    const int64_t M = r.HW * total;
    const float *mean_c = x->cache, *invstd_c = (const float *)x->cache + C;
    float *k = x->work + bn_work_off(C, x->n, W_CHAN);
    float *mb = k + C, *mg = mb + C;
    const double *part = r.part;
    if (sp) {
        SN_ASSERT(sp->first % BN_CHUNK == 0);
        r.part = sp->shared + (size_t)(sp->first / BN_CHUNK) * C * 2;
        part = sp->shared;
    }
    r.a = mean_c;
    r.sc = (const float *)x->cache + 2 * C;
    r.sh = r.sc + C;
    if (act) {
        r.dystride = bn_dy_stride(x->in_shape);
        r.dybuf = x->work + bn_work_off(C, x->n, W_DY);
    }
    bn_pass(&r, P_DSUMS);
    if (sp) sn_barrier_wait(sp->bar);
    const int lead = !sp || sp->lead;
    for (int c = 0; c < C; c++) {
        float invstd = invstd_c[c];
        double dbeta = bn_total(part, bn_chunks(total), C, c, 0);
        /* sum dy * xhat */
        double dgamma = bn_total(part, bn_chunks(total), C, c, 1) * invstd;
        if (lead && x->grad[BN_GAMMA]) x->grad[BN_GAMMA][c] += (float)dgamma;
        if (lead && x->grad[BN_BETA]) x->grad[BN_BETA][c] += (float)dbeta;
        k[c] = x->tensor[BN_GAMMA][c] * invstd;
        mb[c] = (float)(dbeta / (double)M);
        mg[c] = (float)(dgamma * invstd / (double)M);
    }
    if (!x->din[0]) return;
    r.k = k;
    r.mb = mb;
    r.mg = mg;
    bn_pass(&r, P_DX);
}

void bn_backward(const sn_op_args *x) { bn_backward_act(x, NULL, SN_OP_RELU); }

void sn_bn_act_backward(const sn_op_args *bn, const sn_op_args *act,
                        sn_op_kind act_op) {
    SN_ASSERT(sn_bn_act_fusable(act_op) && act->n == bn->n &&
              act->in[0] == bn->out && bn->dout != NULL);
    bn_backward_act(bn, act, act_op);
}
