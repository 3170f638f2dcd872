/* bench.c — `make bench`: training and inference throughput of the
 * reference networks, printed as one JSON object beside the same run's
 * measured cblas_sgemm peak, so each figure is also a fraction of what
 * this machine can do.
 *
 * Every figure is the best of several timed windows after warm-up (the
 * machine is shared; the best window is the least disturbed one).
 * Environment: SLIMNAS_BENCH_SECONDS (per window, default 1.5),
 * SLIMNAS_THREADS (default: online cores), SLIMNAS_BENCH_NETS (only the
 * nets named in it, e.g. "ak_cnn,tiny2conv"; default all). */
#include <cblas.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slimnas/graph.h"

extern void openblas_set_num_threads(int);

static double window_seconds(void) {
    const char *s = getenv("SLIMNAS_BENCH_SECONDS");
    double v = s ? atof(s) : 1.5;
    return v > 0.05 ? v : 1.5;
}

/* GFLOP/s of one 1024^3 sgemm, best of several, with OpenBLAS using
 * `threads` threads (our pool is idle meanwhile). */
static double sgemm_gflops(int threads) {
    const int n = 1024;
    float *a = sn_falloc((size_t)n * n), *b = sn_falloc((size_t)n * n),
          *c = sn_falloc((size_t)n * n);
    for (int i = 0; i < n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    openblas_set_num_threads(threads);
    double best = 0;
    for (int r = 0; r < 8; r++) {
        double t0 = sn_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f,
                    a, n, b, n, 0.0f, c, n);
        double dt = sn_now() - t0;
        double g = 2.0 * n * n * n / dt / 1e9;
        if (g > best) best = g;
    }
    openblas_set_num_threads(1);
    sn_free_aligned(a);
    sn_free_aligned(b);
    sn_free_aligned(c);
    return best;
}

typedef struct net_result {
    int64_t params, macs;
    double train_img_s, infer_b128, infer_b1;
} net_result;

/* Images per second of fn over timed windows: best window of `reps`. */
typedef void (*step_fn)(void *ctx);
static double rate(step_fn fn, void *ctx, int imgs_per_call, int reps) {
    double best = 0, win = window_seconds();
    for (int r = 0; r < reps; r++) {
        int calls = 0;
        double t0 = sn_now(), t;
        do {
            fn(ctx);
            calls++;
            t = sn_now();
        } while (t - t0 < win);
        double v = (double)calls * imgs_per_call / (t - t0);
        if (v > best) best = v;
    }
    return best;
}

typedef struct bench_ctx {
    sn_exec *ex;
    sn_weights *w;
    sn_optim opt;
    const float *x;
    const int *y;
    int n, classes;
    float *dlogits;
} bench_ctx;

static void train_step(void *p) {
    bench_ctx *c = p;
    const float *logits = sn_exec_forward(c->ex, c->x, c->n, 1);
    sn_softmax_xent(logits, c->y, c->n, c->classes, 0.0f, c->dlogits, NULL);
    sn_exec_zero_grad(c->ex);
    sn_exec_backward(c->ex, c->dlogits);
    sn_optim_step(&c->opt, c->w->params, sn_exec_grads(c->ex),
                  c->w->decay_mask);
}

static void infer_step(void *p) {
    bench_ctx *c = p;
    sn_exec_forward(c->ex, c->x, c->n, 0);
}

static int bench_net(const char *kind, net_result *r) {
    sn_error e;
    sn_shape in = {1, 28, 28};
    sn_arch_opts o = {0, 0};
    sn_graph *g = sn_graph_new_kind(kind, in, 10, &o, &e);
    if (!g) {
        fprintf(stderr, "bench: %s\n", e.msg);
        return -1;
    }
    r->params = sn_graph_params(g);
    r->macs = sn_graph_flops(g, SN_FLOPS_MACS);
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, 1);
    const int B = 128;
    float *x = sn_falloc((size_t)B * 784);
    int *y = sn_xmalloc(sizeof(int) * B);
    sn_rng rng;
    sn_rng_seed(&rng, 7);
    for (int i = 0; i < B * 784; i++) x[i] = (float)sn_rng_normal(&rng);
    for (int i = 0; i < B; i++) y[i] = sn_rng_int(&rng, 10);
    float *dl = sn_falloc((size_t)B * 10);

    bench_ctx c = {.w = w, .x = x, .y = y, .n = B, .classes = 10,
                   .dlogits = dl};
    c.ex = sn_exec_new(g, w, B);
    sn_optim_init(&c.opt, SN_OPT_SGD, w->n_params);
    c.opt.lr = 0.01f;
    c.opt.momentum = 0.9f;
    for (int i = 0; i < 3; i++) train_step(&c); /* warm-up */
    r->train_img_s = rate(train_step, &c, B, 3);
    infer_step(&c);
    r->infer_b128 = rate(infer_step, &c, B, 2);
    c.n = 1;
    infer_step(&c);
    r->infer_b1 = rate(infer_step, &c, 1, 2);
    sn_exec_free(c.ex);
    sn_optim_free(&c.opt);
    sn_free_aligned(x);
    sn_free_aligned(dl);
    free(y);
    sn_weights_free(w);
    sn_graph_free(g);
    return 0;
}

int main(void) {
    const char *t = getenv("SLIMNAS_THREADS");
    sn_threads_init(t ? atoi(t) : 0);
    int threads = sn_threads_count();
    double peak = sgemm_gflops(threads);
    static const struct { const char *key, *kind; } nets[] = {
        {"ak_cnn", "cnn"}, {"mobile_tiny", "mobile_tiny"},
        {"tiny2conv", "tiny2conv"}};
    cJSON *root = cJSON_CreateObject(), *jn = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "sgemm_gflops", (int)(peak * 10) / 10.0);
    cJSON_AddNumberToObject(root, "threads", threads);
    const char *only = getenv("SLIMNAS_BENCH_NETS");
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        if (only && *only && !strstr(only, nets[i].key)) continue;
        net_result r;
        if (bench_net(nets[i].kind, &r) != 0) return 1;
        /* training = forward + backward (~2x forward) = 3x forward MACs,
         * 2 FLOPs per MAC */
        double gf = r.train_img_s * 6.0 * (double)r.macs / 1e9;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "params", (double)r.params);
        cJSON_AddNumberToObject(o, "macs", (double)r.macs);
        cJSON_AddNumberToObject(o, "train_img_s", (int)r.train_img_s);
        cJSON_AddNumberToObject(o, "infer_img_s_b128", (int)r.infer_b128);
        cJSON_AddNumberToObject(o, "infer_img_s_b1", (int)r.infer_b1);
        cJSON_AddNumberToObject(o, "train_gflops", (int)(gf * 10) / 10.0);
        cJSON_AddNumberToObject(o, "train_fraction_of_sgemm_peak",
                                (int)(gf / peak * 1000) / 1000.0);
        cJSON_AddItemToObject(jn, nets[i].key, o);
    }
    cJSON_AddItemToObject(root, "nets", jn);
    char *s = cJSON_Print(root);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(root);
    sn_threads_shutdown();
    return 0;
}
