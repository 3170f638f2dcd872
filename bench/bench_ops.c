/* bench_ops.c — `make bench-ops`: the small networks' kernels one at a
 * time (mobile_tiny's shapes, batch 128, one thread), forward and
 * backward, printed as one JSON object.
 *
 * Why beside `make bench`: a whole-network figure on a shared virtual
 * machine moves by 20-50% between runs, which hides a change of 10-30% in
 * one kernel (a real 2-3x gain in the depthwise packing was once reverted
 * for "no measurable difference" that way). One kernel called many times
 * in a row on the same buffers gives a stable minimum: quote fwd_ms_min /
 * bwd_ms_min, and compare two builds by running them alternately.
 *
 * Kernels: depthwise 3x3 convs (dw_*), batch norm + relu6 as the executor
 * fuses them (bn_relu6_*: its statistics pass included, since here no
 * conv computes them), pointwise 1x1 convs (pw_*), and the 1->16 stem
 * conv. Names give channels, size and stride.
 *
 * Environment: SLIMNAS_BENCH_OPS_REPS (calls per kernel, default 100),
 * SLIMNAS_BENCH_OPS (only the kernels whose names contain it). */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slimnas/nn.h"
#include "slimnas/util.h"

#define BATCH 128

typedef struct kernel {
    const char *name;
    sn_op_kind op; /* SN_OP_CONV or SN_OP_BN (then with a fused relu6) */
    int cin, hw, cout, k, stride, groups;
} kernel;

static const kernel KERNELS[] = {
    {"stem_c1_28_16", SN_OP_CONV, 1, 28, 16, 3, 1, 1},
    {"c3_c16_14_32", SN_OP_CONV, 16, 14, 32, 3, 1, 1},
    {"c3_c8_14_16", SN_OP_CONV, 8, 14, 16, 3, 1, 1},
    {"c3_c32_14_64", SN_OP_CONV, 32, 14, 64, 3, 1, 1},
    {"c3_c64_7_64", SN_OP_CONV, 64, 7, 64, 3, 1, 1},
    {"dw_c16_28_s2", SN_OP_CONV, 16, 28, 16, 3, 2, 16},
    {"dw_c32_14_s1", SN_OP_CONV, 32, 14, 32, 3, 1, 32},
    {"dw_c32_14_s2", SN_OP_CONV, 32, 14, 32, 3, 2, 32},
    {"dw_c64_7_s1", SN_OP_CONV, 64, 7, 64, 3, 1, 64},
    {"pw_c16_32_14", SN_OP_CONV, 16, 14, 32, 1, 1, 1},
    {"pw_c32_32_14", SN_OP_CONV, 32, 14, 32, 1, 1, 1},
    {"pw_c64_64_7", SN_OP_CONV, 64, 7, 64, 1, 1, 1},
    {"bn_relu6_c16_28", SN_OP_BN, 16, 28, 16, 0, 0, 0},
    {"bn_relu6_c32_14", SN_OP_BN, 32, 14, 32, 0, 0, 0},
    {"bn_relu6_c64_7", SN_OP_BN, 64, 7, 64, 0, 0, 0},
};

/* Deterministic, not constant: (i % mod) * scale - 1.5 */
static float *filled(size_t n, unsigned mod, float scale) {
    float *p = sn_falloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(i % mod) * scale - 1.5f;
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v; its median (the minimum is then v[0]) */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* milliseconds to three decimals: microseconds */
static double ms3(double ms) { return (int)(ms * 1e3) / 1e3; }

/* Times `reps` forward + backward calls of kernel k; adds its object. */
static int run_kernel(const kernel *k, int reps, cJSON *ops) {
    sn_attr a = sn_attr_default(k->op), act = sn_attr_default(SN_OP_RELU6);
    if (k->op == SN_OP_CONV) {
        a.out = k->cout;
        a.k = k->k;
        a.stride = k->stride;
        a.pad = k->k / 2;
        a.groups = k->groups;
        a.bias = 0;
    }
    sn_shape in = {k->cin, k->hw, k->hw}, out;
    sn_error e;
    const sn_op_desc *op = sn_op_get(k->op);
    if (op->infer(&a, &in, 1, &out, &e) != 0) {
        fprintf(stderr, "bench_ops: %s: %s\n", k->name, e.msg);
        return -1;
    }
    sn_tensor_desc td[SN_MAX_TENSORS];
    int nt = op->tensors(&a, &in, 1, td);
    float *tens[SN_MAX_TENSORS] = {0}, *grads[SN_MAX_TENSORS] = {0};
    for (int j = 0; j < nt; j++) {
        size_t z = (size_t)sn_tensor_desc_size(&td[j]);
        /* weights in [-1.5, -0.9]; a bn's gamma, beta and running
         * statistics 2 higher, in [0.5, 1.1] (a positive variance) */
        tens[j] = filled(z, 7, 0.1f);
        if (k->op == SN_OP_BN)
            for (size_t i = 0; i < z; i++) tens[j][i] += 2.0f;
        grads[j] = sn_falloc(z);
        memset(grads[j], 0, z * sizeof(float));
    }
    size_t in_n = (size_t)BATCH * (size_t)sn_shape_size(in);
    size_t out_n = (size_t)BATCH * (size_t)sn_shape_size(out);
    size_t cb = op->cache_bytes(&a, &in, 1, out, BATCH);
    float *cache = sn_falloc(cb / sizeof(float) + 1);
    float *work = sn_falloc(op->work_floats(&a, &in, 1, out, BATCH) + 1);
    float *x = filled(in_n, 13, 0.3f), *y = sn_falloc(out_n);
    float *dx = sn_falloc(in_n), *dy = filled(out_n, 11, 0.1f);
    float *ay = sn_falloc(out_n), *ady = filled(out_n, 11, 0.1f);
    const float *ins[1] = {x}, *ains[1] = {y};
    float *dins[1] = {dx}, *adins[1] = {dy};
    sn_op_args args = {
        .attr = &a, .n = BATCH, .n_in = 1, .in_shape = &in, .out_shape = out,
        .in = ins, .out = y, .tensor = tens, .grad = grads, .din = dins,
        .dout = dy, .cache = cache, .work = work, .training = 1,
        .din_fresh = 1};
    sn_op_args aargs = {
        .attr = &act, .n = BATCH, .n_in = 1, .in_shape = &out,
        .out_shape = out, .in = ains, .out = ay, .din = adins, .dout = ady,
        .training = 1};
    double *tf = sn_xmalloc((size_t)reps * sizeof *tf);
    double *tb = sn_xmalloc((size_t)reps * sizeof *tb);
    for (int r = -3; r < reps; r++) { /* three warm-up calls */
        double t0 = sn_now();
        if (k->op == SN_OP_BN)
            sn_bn_act_forward(&args, &aargs, SN_OP_RELU6, 1);
        else
            op->forward(&args);
        double t1 = sn_now();
        if (k->op == SN_OP_BN)
            sn_bn_act_backward(&args, &aargs, SN_OP_RELU6);
        else
            op->backward(&args);
        double t2 = sn_now();
        if (r >= 0) {
            tf[r] = (t1 - t0) * 1e3;
            tb[r] = (t2 - t1) * 1e3;
        }
    }
    cJSON *o = cJSON_AddObjectToObject(ops, k->name);
    double f_med = median(tf, reps), b_med = median(tb, reps);
    cJSON_AddNumberToObject(o, "fwd_ms_min", ms3(tf[0]));
    cJSON_AddNumberToObject(o, "fwd_ms_median", ms3(f_med));
    cJSON_AddNumberToObject(o, "bwd_ms_min", ms3(tb[0]));
    cJSON_AddNumberToObject(o, "bwd_ms_median", ms3(b_med));
    cJSON_AddNumberToObject(o, "input_mb", (int)(in_n * 4 / 1e4) / 100.0);
    free(tf);
    free(tb);
    for (int j = 0; j < nt; j++) {
        sn_free_aligned(tens[j]);
        sn_free_aligned(grads[j]);
    }
    sn_free_aligned(cache);
    sn_free_aligned(work);
    sn_free_aligned(x);
    sn_free_aligned(y);
    sn_free_aligned(dx);
    sn_free_aligned(dy);
    sn_free_aligned(ay);
    sn_free_aligned(ady);
    return 0;
}

int main(void) {
    const char *r = getenv("SLIMNAS_BENCH_OPS_REPS");
    int reps = r ? atoi(r) : 100;
    if (reps < 1 || reps > 100000) {
        fprintf(stderr, "bench_ops: SLIMNAS_BENCH_OPS_REPS=%s: want 1 to "
                        "100000 calls per kernel\n", r);
        return 2;
    }
    const char *only = getenv("SLIMNAS_BENCH_OPS");
    sn_threads_init(1);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "threads", 1);
    cJSON_AddNumberToObject(root, "batch", BATCH);
    cJSON_AddNumberToObject(root, "calls", reps);
    cJSON *ops = cJSON_AddObjectToObject(root, "ops");
    int rc = 0, ran = 0;
    for (size_t i = 0; i < sizeof KERNELS / sizeof *KERNELS; i++) {
        if (only && *only && !strstr(KERNELS[i].name, only)) continue;
        ran++;
        if (run_kernel(&KERNELS[i], reps, ops) != 0) rc = 1;
    }
    if (!ran) {
        fprintf(stderr, "bench_ops: SLIMNAS_BENCH_OPS=%s names no kernel\n",
                only);
        rc = 2;
    }
    char *s = cJSON_Print(root);
    if (s) puts(s);
    free(s);
    cJSON_Delete(root);
    return rc;
}
