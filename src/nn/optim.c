/* optim.c — SGD (momentum, Nesterov) and AdamW over one flat parameter
 * array, plus learning-rate schedules.
 *
 * Both follow PyTorch's update rules so hyper-parameters carry over:
 *   SGD:   buf = momentum * buf + g          (buf starts at 0, so the first
 *                                             step sets buf = g)
 *          d   = nesterov ? g + momentum * buf : buf
 *          p  -= lr * d
 *   AdamW: m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,  t = step
 *          p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * Weight decay is decoupled for both (p -= lr * wd * p, from the value
 * before the update), and applied only where decay_mask[i] != 0. */
#include "slimnas/nn.h"

#include <math.h>
#include <stdlib.h>

const char *const sn_optimizer_names[] = {[SN_OPT_SGD] = "sgd",
                                          [SN_OPT_ADAMW] = "adamw", NULL};
const char *const sn_schedule_names[] = {[SN_SCHED_CONSTANT] = "constant",
                                         [SN_SCHED_STEP] = "step",
                                         [SN_SCHED_COSINE] = "cosine", NULL};

/* Below this many parameters the update runs on the calling thread. */
#define PAR_MIN_PARAMS (1 << 16)

void sn_optim_init(sn_optim *o, sn_opt_kind kind, int64_t n) {
    SN_ASSERT(n >= 0);
    *o = (sn_optim){.kind = kind,
                    .lr = 0.0f, /* set from the schedule before each step */
                    .momentum = 0.9f,
                    .nesterov = 0,
                    .weight_decay = 0.0f,
                    .beta1 = 0.9f,
                    .beta2 = 0.999f,
                    .eps = 1e-8f,
                    .n = n,
                    .step = 0};
    o->m = sn_falloc((size_t)(n > 0 ? n : 1));
    if (kind == SN_OPT_ADAMW) o->v = sn_falloc((size_t)(n > 0 ? n : 1));
}

void sn_optim_free(sn_optim *o) {
    sn_free_aligned(o->m);
    sn_free_aligned(o->v);
    o->m = o->v = NULL;
}

typedef struct step_ctx {
    sn_optim *o;
    float *p;
    const float *g;
    const unsigned char *mask;
    float c1, c2; /* adamw: 1/(1 - b1^t), 1/sqrt(1 - b2^t) */
} step_ctx;

static void sgd_task(void *ctx, int64_t b, int64_t e, int tid) {
    (void)tid; /* the update of an element does not depend on the thread */
    const step_ctx *c = ctx;
    const sn_optim *o = c->o;
    float *p = c->p, *buf = o->m;
    const float *g = c->g;
    float lr = o->lr, mom = o->momentum, decay = o->lr * o->weight_decay;
    for (int64_t i = b; i < e; i++) {
        float d = g[i];
        if (mom != 0.0f) {
            buf[i] = mom * buf[i] + g[i];
            d = o->nesterov ? g[i] + mom * buf[i] : buf[i];
        }
        float dec = (!c->mask || c->mask[i]) ? decay : 0.0f;
        p[i] = p[i] - dec * p[i] - lr * d;
    }
}

static void adamw_task(void *ctx, int64_t b, int64_t e, int tid) {
    (void)tid; /* the update of an element does not depend on the thread */
    const step_ctx *c = ctx;
    const sn_optim *o = c->o;
    float *p = c->p, *m = o->m, *v = o->v;
    const float *g = c->g;
    float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    float lr = o->lr, decay = o->lr * o->weight_decay;
    for (int64_t i = b; i < e; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        float upd = (m[i] * c->c1) / (sqrtf(v[i]) * c->c2 + eps);
        float dec = (!c->mask || c->mask[i]) ? decay : 0.0f;
        p[i] = p[i] - dec * p[i] - lr * upd;
    }
}

void sn_optim_step(sn_optim *o, float *params, const float *grads,
                   const unsigned char *decay_mask) {
    o->step++;
    step_ctx c = {.o = o, .p = params, .g = grads, .mask = decay_mask};
    sn_task_fn fn = sgd_task;
    if (o->kind == SN_OPT_ADAMW) {
        SN_ASSERT(o->v != NULL);
        double t = (double)o->step;
        c.c1 = (float)(1.0 / (1.0 - pow(o->beta1, t)));
        c.c2 = (float)(1.0 / sqrt(1.0 - pow(o->beta2, t)));
        fn = adamw_task;
    }
    if (o->n >= PAR_MIN_PARAMS)
        sn_parallel_for(o->n, fn, &c);
    else if (o->n > 0)
        fn(&c, 0, o->n, 0);
}

/* Warm-up: lr * step / warmup_steps for step < warmup_steps (0 at step 0,
 * reaching the schedule's first value lr at the end). The schedule itself
 * then runs on t = step - warmup_steps, so a cosine reaches lr_min exactly
 * at step total_steps (its horizon is total_steps - warmup_steps) and stays
 * there after. */
float sn_schedule_lr(const sn_schedule *s, int64_t step) {
    if (step < 0) step = 0;
    if (step < s->warmup_steps)
        return (float)((double)s->lr * (double)step / (double)s->warmup_steps);
    int64_t t = step - (s->warmup_steps > 0 ? s->warmup_steps : 0);
    switch (s->kind) {
    case SN_SCHED_CONSTANT:
        return s->lr;
    case SN_SCHED_STEP:
        if (s->step_size <= 0) return s->lr;
        return (float)((double)s->lr *
                       pow((double)s->gamma, (double)(t / s->step_size)));
    case SN_SCHED_COSINE: {
        int64_t T = s->total_steps - (s->warmup_steps > 0 ? s->warmup_steps
                                                         : 0);
        if (T <= 0 || t >= T) return s->lr_min;
        double c = 0.5 * (1.0 + cos(M_PI * (double)t / (double)T));
        return (float)(s->lr_min + ((double)s->lr - s->lr_min) * c);
    }
    }
    SN_ASSERT(!"unknown schedule kind");
    return s->lr;
}
