/* dense.c — fully connected layer on flat inputs {In, 1, 1}.
 *
 * Legend: N batch, In inputs, Out units. Weight [Out, In], bias [Out]
 * (PyTorch's nn.Linear), so y[N, Out] = x[N, In] x W^T + b.
 *
 * Every product is one cblas_sgemm. Threads split the batch rows for the
 * forward pass and the input gradient, and the output units for the
 * weight gradient, so no two threads ever write the same float and no
 * partial sums need reducing. */
#include "ops_internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

int dense_infer(const sn_attr *a, const sn_shape *in, int n_in,
                sn_shape *out, sn_error *e) {
    if (n_in != 1) return sn_errf(e, "dense takes 1 input, got %d", n_in);
    if (a->out < 1)
        return sn_errf(e, "dense needs at least 1 unit, got %d", a->out);
    if (in[0].h != 1 || in[0].w != 1)
        return sn_errf(e,
                       "dense needs a flat input, got %dx%dx%d (HxWxC); add flatten "
                       "or gap",
                       in[0].h, in[0].w, in[0].c);
    if (in[0].c < 1) return sn_errf(e, "dense input is empty");
    *out = (sn_shape){a->out, 1, 1};
    return 0;
}

int dense_tensors(const sn_attr *a, const sn_shape *in, int n_in,
                  sn_tensor_desc t[SN_MAX_TENSORS]) {
    t[0] = (sn_tensor_desc){"weight", 2, {a->out, in[0].c, 0, 0}, 1};
    if (!a->bias) return 1;
    t[1] = (sn_tensor_desc){"bias", 1, {a->out, 0, 0, 0}, 1};
    return 2;
}

int64_t dense_macs(const sn_attr *a, const sn_shape *in, int n_in,
                   sn_shape out) {
    return (int64_t)in[0].c * a->out;
}

/* thop (mid-2019): In multiplies and In - 1 adds per output, bias not
 * counted. */
int64_t dense_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,
                       sn_shape out) {
    return (2 * (int64_t)in[0].c - 1) * a->out;
}

size_t dense_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,
                         sn_shape out, int n) {
    return 0;
}

size_t dense_work_floats(const sn_attr *a, const sn_shape *in, int n_in,
                         sn_shape out, int n) {
    return 0;
}

void dense_init(const sn_attr *a, const sn_shape *in, int n_in,
                float *const *tensor, sn_rng *rng) {
    int64_t nw = (int64_t)a->out * in[0].c;
    double std = sqrt(2.0 / in[0].c); /* He et al. 2015, fan_in = In */
    for (int64_t i = 0; i < nw; i++)
        tensor[0][i] = (float)(sn_rng_normal(rng) * std);
    if (a->bias) memset(tensor[1], 0, sizeof(float) * (size_t)a->out);
}

typedef struct dense_run {
    const sn_op_args *x;
    int in, out;
} dense_run;

/* y[b:e] = x[b:e] W^T (+ b) */
static void forward_task(void *ctx, int64_t b, int64_t e, int tid) {
    const dense_run *r = ctx;
    const sn_op_args *x = r->x;
    const float *bias = x->attr->bias ? x->tensor[1] : NULL;
    float *y = x->out + (size_t)b * r->out;
    if (bias)
        for (int64_t i = b; i < e; i++)
            memcpy(y + (size_t)(i - b) * r->out, bias,
                   sizeof(float) * (size_t)r->out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(e - b),
                r->out, r->in, 1.0f, x->in[0] + (size_t)b * r->in, r->in,
                x->tensor[0], r->in, bias ? 1.0f : 0.0f, y, r->out);
}

/* din[b:e] += dout[b:e] W */
static void backward_input_task(void *ctx, int64_t b, int64_t e, int tid) {
    const dense_run *r = ctx;
    const sn_op_args *x = r->x;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(e - b),
                r->in, r->out, 1.0f, x->dout + (size_t)b * r->out, r->out,
                x->tensor[0], r->in, 1.0f, x->din[0] + (size_t)b * r->in,
                r->in);
}

/* For units [b, e): dW[b:e] += dout[:, b:e]^T x, db[b:e] += column sums. */
static void backward_param_task(void *ctx, int64_t b, int64_t e, int tid) {
    const dense_run *r = ctx;
    const sn_op_args *x = r->x;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(e - b), r->in,
                x->n, 1.0f, x->dout + b, r->out, x->in[0], r->in, 1.0f,
                x->grad[0] + (size_t)b * r->in, r->in);
    if (x->attr->bias && x->grad[1]) {
        float *restrict db = x->grad[1];
        for (int i = 0; i < x->n; i++) {
            const float *restrict d = x->dout + (size_t)i * r->out;
            for (int64_t o = b; o < e; o++) db[o] += d[o];
        }
    }
}

void dense_forward(const sn_op_args *x) {
    dense_run r = {x, x->in_shape[0].c, x->attr->out};
    sn_parallel_for(x->n, forward_task, &r);
}

void dense_backward(const sn_op_args *x) {
    dense_run r = {x, x->in_shape[0].c, x->attr->out};
    if (x->din && x->din[0]) sn_parallel_for(x->n, backward_input_task, &r);
    if (x->grad && x->grad[0])
        sn_parallel_for(r.out, backward_param_task, &r);
}
