/* simple.c — the ops without parameters that touch each element once:
 * input, relu, relu6, dropout, add, concat, flatten.
 *
 * All are element-wise loops over the whole batch (N*C*H*W floats, NCHW
 * contiguous), so a batch is one flat range; big ranges are split across
 * the worker pool, small ones run inline (waking workers costs more than
 * a few thousand floats). Backward accumulates (+=) and skips NULL din. */
#include "ops_internal.h"

#include <string.h>

/* Below this many floats an element-wise pass runs on the calling thread. */
#define PAR_MIN_FLOATS (1 << 15)

static int check_shape(const char *op, int i, sn_shape s, sn_error *e) {
    if (s.c < 1 || s.h < 1 || s.w < 1)
        return sn_errf(e, "%s: input %d has shape %dx%dx%d (HxWxC); every "
                          "dimension must be at least 1",
                       op, i, s.h, s.w, s.c);
    return 0;
}

static int check_one_input(const char *op, const sn_shape *in, int n_in,
                           sn_error *e) {
    if (n_in != 1)
        return sn_errf(e, "%s takes exactly 1 input, got %d", op, n_in);
    return check_shape(op, 0, in[0], e);
}

static int64_t batch_floats(const sn_op_args *x) {
    return sn_shape_size(x->out_shape) * x->n;
}

/* Runs fn over [0, n) on the pool when n is large, else inline. */
static void run_range(int64_t n, sn_task_fn fn, void *ctx) {
    if (n >= PAR_MIN_FLOATS)
        sn_parallel_for(n, fn, ctx);
    else if (n > 0)
        fn(ctx, 0, n, 0);
}

/* Element-wise task context: y = f(x) forward, dx += g(dy, y) backward. */
typedef struct ew_ctx {
    const float *x;
    float *y;
    const float *dy;
    float *dx;
    const float *m; /* dropout mask */
} ew_ctx;


/* ---- input -------------------------------------------------------------- */

/* The graph's input node: its shape is the graph's declared input, which
 * the caller passes as in[0] (n_in may be 0 or 1); the executor writes the
 * batch into its output buffer, so forward and backward do nothing. */
int input_infer(const sn_attr *a, const sn_shape *in, int n_in,
                sn_shape *out, sn_error *e) {
    if (!in || n_in > 1)
        return sn_errf(e, "input: needs the graph's input shape and no "
                          "layer inputs");
    if (in[0].c < 1 || in[0].h < 1 || in[0].w < 1)
        return sn_errf(e, "input: shape %dx%dx%d (HxWxC) must be at least "
                          "1 in every dimension",
                       in[0].h, in[0].w, in[0].c);
    *out = in[0];
    return 0;
}
NO_PARAMS(input)
int64_t input_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,
                       sn_shape out) {
    return 0;
}
size_t input_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                         sn_shape out, int n) {
    return 0;
}
void input_forward(const sn_op_args *x) {}
void input_backward(const sn_op_args *x) {}

/* ---- relu --------------------------------------------------------------- */

int relu_infer(const sn_attr *a, const sn_shape *in, int n_in, sn_shape *out,
               sn_error *e) {
    if (check_one_input("relu", in, n_in, e)) return -1;
    *out = in[0];
    return 0;
}
NO_PARAMS(relu)
/* thop counts one op per element for ReLU. */
int64_t relu_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,
                      sn_shape out) {
    return sn_shape_size(out);
}
size_t relu_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                        sn_shape out, int n) {
    return 0; /* backward reads the output */
}

static void relu_fwd_task(void *p, int64_t b, int64_t e, int tid) {
    const ew_ctx *c = p;
    const float *x = c->x;
    float *y = c->y;
    for (int64_t i = b; i < e; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void relu_bwd_task(void *p, int64_t b, int64_t e, int tid) {
    const ew_ctx *c = p;
    const float *y = c->x, *dy = c->dy;
    float *dx = c->dx;
    for (int64_t i = b; i < e; i++) dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}

void relu_forward(const sn_op_args *x) {
    ew_ctx c = {.x = x->in[0], .y = x->out};
    run_range(batch_floats(x), relu_fwd_task, &c);
}

/* Uses the output: out > 0 exactly where x > 0, so backward needs no copy
 * of the input and would still work if a planner ran relu in place. */
void relu_backward(const sn_op_args *x) {
    if (!x->din[0]) return;
    ew_ctx c = {.x = x->out, .dy = x->dout, .dx = x->din[0]};
    run_range(batch_floats(x), relu_bwd_task, &c);
}

/* ---- relu6 -------------------------------------------------------------- */

int relu6_infer(const sn_attr *a, const sn_shape *in, int n_in,
                sn_shape *out, sn_error *e) {
    if (check_one_input("relu6", in, n_in, e)) return -1;
    *out = in[0];
    return 0;
}
NO_PARAMS(relu6)
/* thop hooks nn.ReLU6 to the same counter as ReLU: one op per element
 * (the second comparison is not counted). */
int64_t relu6_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,
                       sn_shape out) {
    return sn_shape_size(out);
}
size_t relu6_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                         sn_shape out, int n) {
    return 0;
}

static void relu6_fwd_task(void *p, int64_t b, int64_t e, int tid) {
    const ew_ctx *c = p;
    const float *x = c->x;
    float *y = c->y;
    for (int64_t i = b; i < e; i++) y[i] = sn_act_clamp(x[i], 6.0f);
}

static void relu6_bwd_task(void *p, int64_t b, int64_t e, int tid) {
    const ew_ctx *c = p;
    const float *y = c->x, *dy = c->dy;
    float *dx = c->dx;
    for (int64_t i = b; i < e; i++)
        dx[i] += (y[i] > 0.0f && y[i] < 6.0f) ? dy[i] : 0.0f;
}

void relu6_forward(const sn_op_args *x) {
    ew_ctx c = {.x = x->in[0], .y = x->out};
    run_range(batch_floats(x), relu6_fwd_task, &c);
}

void relu6_backward(const sn_op_args *x) {
    if (!x->din[0]) return;
    ew_ctx c = {.x = x->out, .dy = x->dout, .dx = x->din[0]};
    run_range(batch_floats(x), relu6_bwd_task, &c);
}

/* ---- dropout ------------------------------------------------------------ */

int dropout_infer(const sn_attr *a, const sn_shape *in, int n_in,
                  sn_shape *out, sn_error *e) {
    if (check_one_input("dropout", in, n_in, e)) return -1;
    if (!(a->rate >= 0.0f && a->rate < 1.0f))
        return sn_errf(e, "dropout: rate %g must be in [0, 1)",
                       (double)a->rate);
    *out = in[0];
    return 0;
}
NO_PARAMS(dropout)
int64_t dropout_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,
                         sn_shape out) {
    return 0;
}
/* The mask, one float per element: 0 or 1/(1-rate). */
size_t dropout_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                           sn_shape out, int n) {
    return (size_t)(sn_shape_size(out) * n) * sizeof(float);
}

static void dropout_apply_task(void *p, int64_t b, int64_t e, int tid) {
    const ew_ctx *c = p;
    const float *x = c->x, *m = c->m;
    float *y = c->y;
    for (int64_t i = b; i < e; i++) y[i] = x[i] * m[i];
}

static void dropout_bwd_task(void *p, int64_t b, int64_t e, int tid) {
    const ew_ctx *c = p;
    const float *dy = c->dy, *m = c->m;
    float *dx = c->dx;
    for (int64_t i = b; i < e; i++) dx[i] += dy[i] * m[i];
}

static void copy_task(void *p, int64_t b, int64_t e, int tid) {
    const ew_ctx *c = p;
    memcpy(c->y + b, c->x + b, (size_t)(e - b) * sizeof(float));
}

static void accumulate_task(void *p, int64_t b, int64_t e, int tid) {
    const ew_ctx *c = p;
    const float *dy = c->dy;
    float *dx = c->dx;
    for (int64_t i = b; i < e; i++) dx[i] += dy[i];
}

/* Inverted dropout: kept elements are scaled by 1/(1-rate) in training, so
 * inference is the identity. The mask is drawn serially from args->rng (a
 * deterministic sequence per seed), then applied in parallel. */
void dropout_forward(const sn_op_args *x) {
    int64_t total = batch_floats(x);
    float rate = x->attr->rate;
    if (!x->training || rate <= 0.0f) {
        ew_ctx c = {.x = x->in[0], .y = x->out};
        run_range(total, copy_task, &c);
        return;
    }
    if (!x->split) sn_dropout_mask(x); /* split: drawn for the batch */
    ew_ctx c = {.x = x->in[0], .y = x->out, .m = x->cache};
    run_range(total, dropout_apply_task, &c);
}

void sn_dropout_mask(const sn_op_args *x) {
    int64_t total = batch_floats(x);
    float rate = x->attr->rate;
    SN_ASSERT(x->rng != NULL && x->training && rate > 0.0f);
    float *m = x->cache;
    float keep = 1.0f / (1.0f - rate);
    /* Each 64-bit draw gives two 32-bit uniforms; an element is dropped
     * when its uniform is below rate * 2^32 (resolution 2^-32). */
    uint64_t thr = (uint64_t)((double)rate * 4294967296.0);
    int64_t i = 0;
    for (; i + 2 <= total; i += 2) {
        uint64_t r = sn_rng_u64(x->rng);
        m[i] = (r & 0xffffffffu) < thr ? 0.0f : keep;
        m[i + 1] = (r >> 32) < thr ? 0.0f : keep;
    }
    if (i < total) m[i] = (sn_rng_u64(x->rng) >> 32) < thr ? 0.0f : keep;
}

void dropout_backward(const sn_op_args *x) {
    if (!x->din[0]) return;
    ew_ctx c = {.dy = x->dout, .dx = x->din[0], .m = x->cache};
    if (!x->training || x->attr->rate <= 0.0f)
        run_range(batch_floats(x), accumulate_task, &c);
    else
        run_range(batch_floats(x), dropout_bwd_task, &c);
}

/* ---- add ---------------------------------------------------------------- */

int add_infer(const sn_attr *a, const sn_shape *in, int n_in, sn_shape *out,
              sn_error *e) {
    if (n_in < 1) return sn_errf(e, "add needs at least 1 input, got %d", n_in);
    for (int i = 0; i < n_in; i++) {
        if (check_shape("add", i, in[i], e)) return -1;
        if (in[i].c != in[0].c || in[i].h != in[0].h || in[i].w != in[0].w)
            return sn_errf(e, "add: input %d has shape %dx%dx%d but input 0 "
                              "has %dx%dx%d (HxWxC); add needs equal shapes",
                           i, in[i].h, in[i].w, in[i].c, in[0].h, in[0].w,
                           in[0].c);
    }
    *out = in[0];
    return 0;
}
NO_PARAMS(add)
int64_t add_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,
                     sn_shape out) {
    return 0;
}
size_t add_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                       sn_shape out, int n) {
    return 0;
}

typedef struct add_ctx {
    const float *const *in;
    int n_in;
    float *out;
} add_ctx;

static void add_fwd_task(void *p, int64_t b, int64_t e, int tid) {
    const add_ctx *c = p;
    float *y = c->out;
    const float *x0 = c->in[0];
    for (int64_t i = b; i < e; i++) y[i] = x0[i];
    for (int k = 1; k < c->n_in; k++) {
        const float *xk = c->in[k];
        for (int64_t i = b; i < e; i++) y[i] += xk[i];
    }
}

void add_forward(const sn_op_args *x) {
    add_ctx c = {.in = x->in, .n_in = x->n_in, .out = x->out};
    run_range(batch_floats(x), add_fwd_task, &c);
}

typedef struct add_bwd_ctx {
    float *const *din;
    int n_in;
    const float *dout;
} add_bwd_ctx;

static void add_bwd_task(void *p, int64_t b, int64_t e, int tid) {
    const add_bwd_ctx *c = p;
    const float *dy = c->dout;
    for (int k = 0; k < c->n_in; k++) {
        float *dx = c->din[k];
        if (!dx) continue;
        for (int64_t i = b; i < e; i++) dx[i] += dy[i];
    }
}

void add_backward(const sn_op_args *x) {
    add_bwd_ctx c = {.din = x->din, .n_in = x->n_in, .dout = x->dout};
    run_range(batch_floats(x), add_bwd_task, &c);
}

/* ---- concat ------------------------------------------------------------- */

int concat_infer(const sn_attr *a, const sn_shape *in, int n_in,
                 sn_shape *out, sn_error *e) {
    if (n_in < 1)
        return sn_errf(e, "concat needs at least 1 input, got %d", n_in);
    int64_t c = 0;
    for (int i = 0; i < n_in; i++) {
        if (check_shape("concat", i, in[i], e)) return -1;
        if (in[i].h != in[0].h || in[i].w != in[0].w)
            return sn_errf(e, "concat: input %d is %dx%d (HxW) but input 0 "
                              "is %dx%d; concatenating channels needs equal "
                              "height and width",
                           i, in[i].h, in[i].w, in[0].h, in[0].w);
        c += in[i].c;
    }
    if (c > INT32_MAX)
        return sn_errf(e, "concat: %lld channels in total is too many",
                       (long long)c);
    *out = (sn_shape){(int)c, in[0].h, in[0].w};
    return 0;
}
NO_PARAMS(concat)
int64_t concat_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,
                        sn_shape out) {
    return 0;
}
size_t concat_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                          sn_shape out, int n) {
    return 0;
}

/* One task item per sample, covering all its inputs: the same node may
 * feed a concat twice (din[0] == din[1]), so two items that write one
 * input-gradient block must never run on different threads. */
typedef struct concat_ctx {
    const sn_op_args *x;
    int dir; /* 0 forward, 1 backward */
} concat_ctx;

static void concat_task(void *p, int64_t b, int64_t e, int tid) {
    const concat_ctx *c = p;
    const sn_op_args *x = c->x;
    int64_t per_out = sn_shape_size(x->out_shape);
    for (int64_t s = b; s < e; s++) {
        int64_t off = 0; /* floats before input k in one output sample */
        for (int k = 0; k < x->n_in; k++) {
            int64_t len = sn_shape_size(x->in_shape[k]);
            float *o = x->out + s * per_out + off;
            if (c->dir == 0) {
                memcpy(o, x->in[k] + s * len, (size_t)len * sizeof(float));
            } else if (x->din[k]) {
                const float *dy = x->dout + s * per_out + off;
                float *dx = x->din[k] + s * len;
                for (int64_t i = 0; i < len; i++) dx[i] += dy[i];
            }
            off += len;
        }
    }
}

static void concat_run(const sn_op_args *x, int dir) {
    concat_ctx c = {.x = x, .dir = dir};
    if (batch_floats(x) >= PAR_MIN_FLOATS)
        sn_parallel_for(x->n, concat_task, &c);
    else
        concat_task(&c, 0, x->n, 0);
}

void concat_forward(const sn_op_args *x) { concat_run(x, 0); }
void concat_backward(const sn_op_args *x) { concat_run(x, 1); }

/* ---- flatten ------------------------------------------------------------ */

int flatten_infer(const sn_attr *a, const sn_shape *in, int n_in,
                  sn_shape *out, sn_error *e) {
    if (check_one_input("flatten", in, n_in, e)) return -1;
    int64_t s = sn_shape_size(in[0]);
    if (s > INT32_MAX)
        return sn_errf(e, "flatten: %lld elements per sample is too many",
                       (long long)s);
    *out = (sn_shape){(int)s, 1, 1};
    return 0;
}
NO_PARAMS(flatten)
int64_t flatten_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,
                         sn_shape out) {
    return 0;
}
size_t flatten_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                           sn_shape out, int n) {
    return 0;
}

/* NCHW per sample is already C-major, so flattening is a plain copy. */
void flatten_forward(const sn_op_args *x) {
    ew_ctx c = {.x = x->in[0], .y = x->out};
    run_range(batch_floats(x), copy_task, &c);
}

void flatten_backward(const sn_op_args *x) {
    if (!x->din[0]) return;
    ew_ctx c = {.dy = x->dout, .dx = x->din[0]};
    run_range(batch_floats(x), accumulate_task, &c);
}
