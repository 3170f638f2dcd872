/* gradcheck.h — a central-difference gradient check for any op in the op
 * table, plus a small fixture that allocates and runs one op.
 *
 * Gradient check, the whole API in one example:
 *
 *   sn_shape in[] = {{4, 5, 5}};
 *   sn_attr a = sn_attr_default(SN_OP_CONV);
 *   a.out = 3; a.k = 3; a.pad = 1;
 *   gc_spec s = gc_spec_make(SN_OP_CONV, &a, 1, in, 2, 42); // batch 2, seed
 *   s.training = 1;            // optional: bn batch stats, dropout on
 *   gc_assert(&s);             // fails the cmocka test, naming the worst
 *                              // element, e.g. "param 0 'weight' [5] ..."
 *
 * gc_run(&s) does the same and returns a gc_result instead of failing, so
 * a test can also check that a broken backward IS caught (s.backward).
 *
 * What gc_run does:
 *   1. infer the output shape; allocate inputs, parameters and buffers;
 *      call the op's init, then perturb every tensor (trainable ones by
 *      param_jitter * N(0,1), buffers by + 0.5 * U[0,1) so a running
 *      variance stays positive) so biases and gammas are non-trivial;
 *   2. draw inputs ~ in_scale * N(0,1), redrawn while closer than `margin`
 *      to any of the `kinks` (relu: {0}; relu6: {0, 6}), or with
 *      `distinct` set, an evenly spaced shuffled ramp with gap 4h per input
 *      tensor, so that a +-h step never changes which element wins a max;
 *   3. L = sum(out * R) for a fixed random R, accumulated in double;
 *   4. run backward once with dout = R into din/grad pre-filled with
 *      1/64, and subtract it again: this checks that backward ACCUMULATES;
 *      then run it again with every din NULL and check the parameter
 *      gradients do not change (din may be NULL per the contract);
 *   5. for every input element and every trainable parameter element,
 *      numeric = (L(x+h) - L(x-h)) / 2h and compare with the analytic value.
 *   The rng handed to the op is reseeded before every forward call, so
 *   dropout draws the same mask each time. Scratch (work) and cache are
 *   filled with NaN bytes and out with NaN before forward, so an op that
 *   reads scratch it did not write, or leaves an output unwritten, fails.
 *
 * Tolerance (per element), pass when
 *     |num - ana| <= atol + rtol * max(|num|, |ana|) + noise,
 *     noise = 16 * FLT_EPSILON * S / (2h),
 *     S = sum over outputs j that changed of |R_j| * max(|out+_j|, |out-_j|).
 *   Why: ops run in float32, so each changed output carries a rounding
 *   error of a few float32 ulps of its size (conv sums with cancellation
 *   lose a few more: hence 16), and the difference quotient divides that by
 *   2h; outputs the step does not touch are bit-identical in both runs and
 *   cancel exactly, so only changed outputs count. Truncation error is zero
 *   for the piecewise-linear ops away from kinks and O(h^2 f''') ~ 1e-5
 *   relative for batch norm at h = 1e-2, well inside rtol = 1e-3. atol =
 *   1e-5 covers the analytic side: float32 sums whose terms cancel (bn's
 *   input gradient) are off by ~1e-6 in absolute terms. A wrong gradient
 *   (missing term, wrong scale, wrong index) is off by O(|g|), orders of
 *   magnitude above all three.
 *
 * Fixture, for forward tests against hand-computed values:
 *   gc_fix f;
 *   assert_int_equal(gc_fix_init(&f, SN_OP_MAXPOOL, &a, 1, in, 1, 7, &err), 0);
 *   memcpy(f.x[0], data, ...); gc_fix_forward(&f); ... f.out ...
 *   gc_fix_free(&f);
 */
#ifndef SLIMNAS_GRADCHECK_H
#define SLIMNAS_GRADCHECK_H

#include <float.h>

#include "slimnas/nn.h"
#include "testutil.h"

#define GC_MAX_IN 8
#define GC_ACC_PREFILL (1.0f / 64.0f) /* exact in binary, so it subtracts
                                         back out without rounding */

/* ---- fixture ---------------------------------------------------------- */

typedef struct gc_fix {
    sn_op_kind op;
    const sn_op_desc *d;
    sn_attr attr;
    int n, n_in, training;
    sn_shape in_shape[GC_MAX_IN], out_shape;
    int64_t in_size[GC_MAX_IN], out_size; /* whole batch, floats */
    float *x[GC_MAX_IN], *dx[GC_MAX_IN];  /* inputs and their gradients */
    float *out, *dout;
    int nt;
    sn_tensor_desc td[SN_MAX_TENSORS];
    int64_t t_size[SN_MAX_TENSORS];
    float *t[SN_MAX_TENSORS], *g[SN_MAX_TENSORS]; /* g NULL for buffers */
    void *cache;
    size_t cache_bytes;
    float *work;
    size_t work_floats;
    sn_rng rng;         /* handed to the op (dropout masks) */
    uint64_t rng_seed;  /* gc_fix_forward reseeds rng from it when != 0 */
    void (*backward)(const sn_op_args *x); /* defaults to the table's */
} gc_fix;

static inline float *gc_alloc_(int64_t count) {
    return sn_falloc((size_t)(count > 0 ? count : 1));
}

static inline void gc_fill_nan_(void *p, size_t bytes) {
    memset(p, 0xff, bytes); /* all-ones bytes are a quiet NaN as float */
}

/* Infers the output shape and allocates everything; params and buffers are
 * filled by the op's init with an rng seeded from seed. -1 (and the infer
 * error in e) on a bad shape. */
static inline int gc_fix_init(gc_fix *f, sn_op_kind op, const sn_attr *a,
                              int n_in, const sn_shape *in, int n,
                              uint64_t seed, sn_error *e) {
    memset(f, 0, sizeof *f);
    SN_ASSERT(n_in >= 0 && n_in <= GC_MAX_IN && n >= 1);
    f->op = op;
    f->d = sn_op_get(op);
    f->attr = *a;
    f->n = n;
    f->n_in = n_in;
    for (int i = 0; i < n_in; i++) f->in_shape[i] = in[i];
    if (f->d->infer(&f->attr, f->in_shape, n_in, &f->out_shape, e) != 0)
        return -1;
    for (int i = 0; i < n_in; i++) {
        f->in_size[i] = sn_shape_size(in[i]) * n;
        f->x[i] = gc_alloc_(f->in_size[i]);
        f->dx[i] = gc_alloc_(f->in_size[i]);
    }
    f->out_size = sn_shape_size(f->out_shape) * n;
    f->out = gc_alloc_(f->out_size);
    f->dout = gc_alloc_(f->out_size);
    f->nt = f->d->tensors(&f->attr, f->in_shape, n_in, f->td);
    SN_ASSERT(f->nt >= 0 && f->nt <= SN_MAX_TENSORS);
    for (int j = 0; j < f->nt; j++) {
        f->t_size[j] = sn_tensor_desc_size(&f->td[j]);
        f->t[j] = gc_alloc_(f->t_size[j]);
        if (f->td[j].trainable) f->g[j] = gc_alloc_(f->t_size[j]);
    }
    f->cache_bytes =
        f->d->cache_bytes(&f->attr, f->in_shape, n_in, f->out_shape, n);
    f->cache = sn_xmalloc(f->cache_bytes ? f->cache_bytes : 1);
    gc_fill_nan_(f->cache, f->cache_bytes);
    f->work_floats =
        f->d->work_floats(&f->attr, f->in_shape, n_in, f->out_shape, n);
    f->work = gc_alloc_((int64_t)f->work_floats);
    gc_fill_nan_(f->work, f->work_floats * sizeof(float));
    sn_rng_seed(&f->rng, seed);
    f->d->init(&f->attr, f->in_shape, n_in, f->t, &f->rng);
    f->rng_seed = seed ^ 0x9e3779b97f4a7c15ull;
    f->backward = f->d->backward;
    return 0;
}

static inline void gc_fix_free(gc_fix *f) {
    for (int i = 0; i < f->n_in; i++) {
        sn_free_aligned(f->x[i]);
        sn_free_aligned(f->dx[i]);
    }
    sn_free_aligned(f->out);
    sn_free_aligned(f->dout);
    for (int j = 0; j < f->nt; j++) {
        sn_free_aligned(f->t[j]);
        sn_free_aligned(f->g[j]);
    }
    free(f->cache);
    sn_free_aligned(f->work);
    memset(f, 0, sizeof *f);
}

/* Builds the args both passes share; din_null drops every input gradient. */
static inline sn_op_args gc_fix_args_(gc_fix *f, const float **in_ptrs,
                                      float **din, int din_null) {
    for (int i = 0; i < f->n_in; i++) {
        in_ptrs[i] = f->x[i];
        din[i] = din_null ? NULL : f->dx[i];
    }
    sn_op_args x = {.attr = &f->attr,
                    .n = f->n,
                    .n_in = f->n_in,
                    .in_shape = f->in_shape,
                    .out_shape = f->out_shape,
                    .in = in_ptrs,
                    .out = f->out,
                    .tensor = f->t,
                    .grad = f->g,
                    .din = din,
                    .dout = f->dout,
                    .cache = f->cache,
                    .work = f->work,
                    .training = f->training,
                    .rng = &f->rng};
    return x;
}

/* Fills out with NaN (forward must write all of it), reseeds the op's rng
 * when rng_seed != 0, and runs forward. */
static inline void gc_fix_forward(gc_fix *f) {
    const float *in_ptrs[GC_MAX_IN + 1];
    float *din[GC_MAX_IN + 1];
    sn_op_args x = gc_fix_args_(f, in_ptrs, din, 0);
    gc_fill_nan_(f->out, (size_t)f->out_size * sizeof(float));
    if (f->rng_seed) sn_rng_seed(&f->rng, f->rng_seed);
    f->d->forward(&x);
}

/* Runs backward with f->dout; accumulates into f->dx (unless din_null) and
 * f->g, which the caller zeroes or pre-fills. */
static inline void gc_fix_backward(gc_fix *f, int din_null) {
    const float *in_ptrs[GC_MAX_IN + 1];
    float *din[GC_MAX_IN + 1];
    sn_op_args x = gc_fix_args_(f, in_ptrs, din, din_null);
    f->backward(&x);
}

/* ---- gradient check --------------------------------------------------- */

typedef struct gc_spec {
    sn_op_kind op;
    sn_attr attr;
    int n_in;
    sn_shape in[GC_MAX_IN];
    int n;              /* batch */
    uint64_t seed;
    int training;       /* default 1 */
    double h;           /* step, default 1e-2 (see the tolerance note) */
    double rtol, atol;  /* defaults 1e-3, 1e-5 */
    float in_scale;     /* inputs ~ in_scale * N(0,1), default 1 */
    float param_jitter; /* added to trainable params * N(0,1), default 0.3 */
    float kinks[4];     /* input values to keep away from ... */
    int n_kinks;
    float margin;       /* ... by at least this (> h) */
    int distinct;       /* inputs: shuffled ramp with gap 4h (max pool) */
    /* Replaces the table's backward (tests that the harness fails). */
    void (*backward)(const sn_op_args *x);
} gc_spec;

static inline gc_spec gc_spec_make(sn_op_kind op, const sn_attr *a, int n_in,
                                   const sn_shape *in, int n, uint64_t seed) {
    gc_spec s;
    memset(&s, 0, sizeof s);
    SN_ASSERT(n_in >= 0 && n_in <= GC_MAX_IN);
    s.op = op;
    s.attr = *a;
    s.n_in = n_in;
    for (int i = 0; i < n_in; i++) s.in[i] = in[i];
    s.n = n;
    s.seed = seed;
    s.training = 1;
    s.h = 1e-2;
    s.rtol = 1e-3;
    s.atol = 1e-5;
    s.in_scale = 1.0f;
    s.param_jitter = 0.3f;
    return s;
}

typedef struct gc_result {
    int ok;            /* every element within tolerance, checks passed */
    int64_t checked;   /* elements compared */
    double worst;      /* largest |num - ana| / allowed (<= 1 passes) */
    double num, ana, allowed; /* at the worst element */
    char where[160];   /* the worst element, e.g. "input 0 [n=1 c=2 y=0 x=3]" */
    char msg[768];     /* one line for a failure report */
} gc_result;

static inline void gc_fill_inputs_(const gc_spec *s, gc_fix *f, sn_rng *r) {
    for (int i = 0; i < f->n_in; i++) {
        int64_t m = f->in_size[i];
        float *x = f->x[i];
        if (s->distinct) {
            /* Ramp centred on 0 with gap 4h, then a Fisher-Yates shuffle:
             * all values differ by >= 4h > 2h, so no +-h step reorders
             * two of them. */
            double gap = 4 * s->h;
            for (int64_t k = 0; k < m; k++)
                x[k] = (float)((k - (m - 1) / 2.0) * gap);
            for (int64_t k = m - 1; k > 0; k--) {
                int64_t j = (int64_t)(sn_rng_uniform(r) * (double)(k + 1));
                float t = x[k];
                x[k] = x[j];
                x[j] = t;
            }
            continue;
        }
        for (int64_t k = 0; k < m; k++) {
            float v;
            int tries = 0, near;
            do {
                v = (float)(sn_rng_normal(r) * s->in_scale);
                near = 0;
                for (int q = 0; q < s->n_kinks; q++)
                    if (fabsf(v - s->kinks[q]) < s->margin) near = 1;
                SN_ASSERT(++tries < 10000); /* margin too wide for scale */
            } while (near);
            x[k] = v;
        }
    }
}

static inline double gc_loss_(const gc_fix *f, const float *R) {
    double L = 0;
    for (int64_t j = 0; j < f->out_size; j++) L += (double)f->out[j] * R[j];
    return L;
}

/* Numeric derivative of L at *p, plus the float32 noise estimate S (see the
 * tolerance note). plus_out is scratch of out_size floats. */
static inline double gc_numeric_(gc_fix *f, float *p, double h,
                                 const float *R, float *plus_out,
                                 double *noise_s) {
    float saved = *p;
    *p = (float)(saved + h);
    double hp = (double)*p - saved; /* the step actually taken in float */
    gc_fix_forward(f);
    double Lp = gc_loss_(f, R);
    memcpy(plus_out, f->out, (size_t)f->out_size * sizeof(float));
    *p = (float)(saved - h);
    double hm = saved - (double)*p;
    gc_fix_forward(f);
    double Lm = gc_loss_(f, R);
    *p = saved;
    double s = 0;
    for (int64_t j = 0; j < f->out_size; j++)
        if (plus_out[j] != f->out[j])
            s += fabs(R[j]) *
                 fmax(fabs(plus_out[j]), fabs(f->out[j]));
    *noise_s = s;
    return (Lp - Lm) / (hp + hm);
}

static inline void gc_where_input_(char *buf, size_t len, int i, sn_shape s,
                                   int64_t k) {
    int64_t per = sn_shape_size(s);
    int64_t b = k / per, r = k % per;
    int c = (int)(r / ((int64_t)s.h * s.w));
    int y = (int)(r / s.w % s.h), x = (int)(r % s.w);
    snprintf(buf, len, "input %d [n=%lld c=%d y=%d x=%d]", i, (long long)b,
             c, y, x);
}

/* Compares one element; keeps the worst ratio in r. */
static inline void gc_compare_(const gc_spec *s, gc_result *r, double num,
                               double ana, double noise_s,
                               const char *where) {
    double noise = 16.0 * FLT_EPSILON * noise_s / (2 * s->h);
    double allowed =
        s->atol + s->rtol * fmax(fabs(num), fabs(ana)) + noise;
    double err = fabs(num - ana);
    double ratio = err / allowed;
    if (ratio != ratio) ratio = INFINITY; /* NaN is the worst */
    r->checked++;
    if (ratio > r->worst || r->checked == 1) {
        r->worst = ratio;
        r->num = num;
        r->ana = ana;
        r->allowed = allowed;
        snprintf(r->where, sizeof r->where, "%s", where);
    }
}

static inline gc_result gc_run(const gc_spec *s) {
    gc_result r;
    memset(&r, 0, sizeof r);
    const char *opname = sn_op_get(s->op)->name;
    gc_fix f;
    sn_error e = {{0}};
    if (gc_fix_init(&f, s->op, &s->attr, s->n_in, s->in, s->n, s->seed,
                    &e) != 0) {
        snprintf(r.msg, sizeof r.msg, "%s: infer failed: %s", opname, e.msg);
        return r;
    }
    if (s->n_kinks > 0) SN_ASSERT(s->margin > s->h);
    f.training = s->training;
    if (s->backward) f.backward = s->backward;

    sn_rng rng;
    sn_rng_seed(&rng, s->seed * 2654435761u + 17);
    for (int j = 0; j < f.nt; j++)
        for (int64_t k = 0; k < f.t_size[j]; k++)
            f.t[j][k] += f.td[j].trainable
                             ? (float)(s->param_jitter * sn_rng_normal(&rng))
                             : (float)(0.5 * sn_rng_uniform(&rng));
    gc_fill_inputs_(s, &f, &rng);
    float *R = gc_alloc_(f.out_size);
    float *scratch = gc_alloc_(f.out_size);
    for (int64_t j = 0; j < f.out_size; j++)
        R[j] = (float)sn_rng_normal(&rng);

    /* Analytic gradients, accumulated onto a pre-fill. */
    gc_fix_forward(&f);
    for (int64_t j = 0; j < f.out_size; j++)
        if (!isfinite(f.out[j])) {
            snprintf(r.msg, sizeof r.msg,
                     "%s: forward left out[%lld] = %g (unwritten or "
                     "overflow)", opname, (long long)j, f.out[j]);
            goto done;
        }
    memcpy(f.dout, R, (size_t)f.out_size * sizeof(float));
    for (int i = 0; i < f.n_in; i++)
        for (int64_t k = 0; k < f.in_size[i]; k++) f.dx[i][k] = GC_ACC_PREFILL;
    for (int j = 0; j < f.nt; j++)
        if (f.g[j])
            for (int64_t k = 0; k < f.t_size[j]; k++)
                f.g[j][k] = GC_ACC_PREFILL;
    gc_fix_backward(&f, 0);
    for (int i = 0; i < f.n_in; i++)
        for (int64_t k = 0; k < f.in_size[i]; k++) f.dx[i][k] -= GC_ACC_PREFILL;
    float *g_first[SN_MAX_TENSORS] = {0};
    for (int j = 0; j < f.nt; j++)
        if (f.g[j]) {
            g_first[j] = gc_alloc_(f.t_size[j]);
            for (int64_t k = 0; k < f.t_size[j]; k++) {
                f.g[j][k] -= GC_ACC_PREFILL;
                g_first[j][k] = f.g[j][k];
                f.g[j][k] = 0;
            }
        }
    /* Again with every din NULL: parameter gradients must not change. */
    gc_fix_backward(&f, 1);
    for (int j = 0; j < f.nt; j++)
        if (f.g[j])
            for (int64_t k = 0; k < f.t_size[j]; k++) {
                /* The pre-fill round trip above rounds to ~1e-9; the two
                 * runs are otherwise the same arithmetic. */
                double d = fabs((double)f.g[j][k] - g_first[j][k]);
                if (!(d <= 1e-6 + 1e-6 * fabs(g_first[j][k]))) {
                    snprintf(r.msg, sizeof r.msg,
                             "%s: param %d '%s' [%lld]: gradient %g with din "
                             "NULL, %g with din given", opname, j,
                             f.td[j].name, (long long)k, f.g[j][k],
                             g_first[j][k]);
                    goto done_free_first;
                }
            }

    /* Numeric gradients, element by element. */
    char where[160];
    for (int i = 0; i < f.n_in; i++)
        for (int64_t k = 0; k < f.in_size[i]; k++) {
            double ns;
            double num = gc_numeric_(&f, &f.x[i][k], s->h, R, scratch, &ns);
            gc_where_input_(where, sizeof where, i, f.in_shape[i], k);
            gc_compare_(s, &r, num, f.dx[i][k], ns, where);
        }
    for (int j = 0; j < f.nt; j++) {
        if (!f.td[j].trainable) continue;
        for (int64_t k = 0; k < f.t_size[j]; k++) {
            double ns;
            double num = gc_numeric_(&f, &f.t[j][k], s->h, R, scratch, &ns);
            snprintf(where, sizeof where, "param %d '%s' [%lld]", j,
                     f.td[j].name, (long long)k);
            gc_compare_(s, &r, num, g_first[j][k], ns, where);
        }
    }
    r.ok = r.worst <= 1.0;
    snprintf(r.msg, sizeof r.msg,
             "%s: %lld elements, worst %s: analytic %.7g numeric %.7g "
             "|diff| %.3g vs allowed %.3g (ratio %.3g)",
             opname, (long long)r.checked, r.where, r.ana, r.num,
             fabs(r.ana - r.num), r.allowed, r.worst);
done_free_first:
    for (int j = 0; j < f.nt; j++) sn_free_aligned(g_first[j]);
done:
    sn_free_aligned(R);
    sn_free_aligned(scratch);
    gc_fix_free(&f);
    return r;
}

/* Runs the check and fails the current cmocka test with the worst element
 * when it does not pass (or compared nothing). Use gc_run for the result. */
#define gc_assert(spec)                                                        \
    do {                                                                       \
        gc_result gc_r_ = gc_run(spec);                                        \
        if (!gc_r_.ok) fail_msg("gradient check failed: %s", gc_r_.msg);       \
        if (gc_r_.checked == 0)                                                \
            fail_msg("gradient check compared nothing: %s", gc_r_.msg);        \
    } while (0)

#endif
