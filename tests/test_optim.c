/* test_optim.c — SGD (momentum, Nesterov, decoupled decay with a mask),
 * AdamW, and the learning-rate schedules against values worked out by hand
 * or from the closed forms. Tolerances: the updates run in float32, so a
 * few float ulps of values near 1 (~1e-7); 1e-6 leaves room and still
 * rejects any wrong term (the smallest term checked, lr*wd*p, is 1e-3). */
#include "testutil.h"

#include "slimnas/nn.h"

static void test_sgd_momentum_decay_mask(void **state) {
    sn_optim o;
    sn_optim_init(&o, SN_OPT_SGD, 2);
    o.lr = 0.1f;
    o.momentum = 0.9f;
    o.weight_decay = 0.01f;
    float p[2] = {1.0f, -2.0f};
    const float g[2] = {0.5f, 0.25f};
    const unsigned char mask[2] = {1, 0};
    /* step 1: buf = g.
     *   p0 = 1 - 0.1*0.01*1 - 0.1*0.5 = 0.949   (decayed)
     *   p1 = -2 - 0.1*0.25 = -2.025              (mask 0: no decay) */
    sn_optim_step(&o, p, g, mask);
    assert_close(p[0], 0.949, 1e-6);
    assert_close(p[1], -2.025, 1e-6);
    /* step 2: buf0 = 0.9*0.5 + 0.5 = 0.95, buf1 = 0.475.
     *   p0 = 0.949 - 0.001*0.949 - 0.1*0.95 = 0.853051
     *   p1 = -2.025 - 0.0475 = -2.0725 */
    sn_optim_step(&o, p, g, mask);
    assert_close(p[0], 0.853051, 1e-6);
    assert_close(p[1], -2.0725, 1e-6);
    assert_int_equal(o.step, 2);
    sn_optim_free(&o);
}

static void test_sgd_variants(void **state) {
    sn_optim o;
    /* Nesterov: d = g + momentum * buf.
     *   step 1: buf = 0.5, d = 0.5 + 0.45 = 0.95, p = 1 - 0.095 = 0.905
     *   step 2: buf = 0.95, d = 0.5 + 0.855 = 1.355, p = 0.7695 */
    sn_optim_init(&o, SN_OPT_SGD, 1);
    o.lr = 0.1f;
    o.momentum = 0.9f;
    o.nesterov = 1;
    float p = 1.0f;
    const float g = 0.5f;
    sn_optim_step(&o, &p, &g, NULL);
    assert_close(p, 0.905, 1e-6);
    sn_optim_step(&o, &p, &g, NULL);
    assert_close(p, 0.7695, 1e-6);
    sn_optim_free(&o);

    /* No momentum: plain p -= lr * g, twice. */
    sn_optim_init(&o, SN_OPT_SGD, 1);
    o.lr = 0.1f;
    o.momentum = 0.0f;
    p = 1.0f;
    sn_optim_step(&o, &p, &g, NULL);
    sn_optim_step(&o, &p, &g, NULL);
    assert_close(p, 0.9, 1e-6);
    sn_optim_free(&o);

    /* NULL mask decays everything: -2 - 0.1*0.01*(-2) - 0.1*0.25. */
    sn_optim_init(&o, SN_OPT_SGD, 1);
    o.lr = 0.1f;
    o.weight_decay = 0.01f;
    p = -2.0f;
    const float g1 = 0.25f;
    sn_optim_step(&o, &p, &g1, NULL);
    assert_close(p, -2.023, 1e-6);
    sn_optim_free(&o);
}

static void test_adamw(void **state) {
    sn_optim o;
    sn_optim_init(&o, SN_OPT_ADAMW, 2);
    o.lr = 0.1f;
    o.weight_decay = 0.01f;
    /* defaults as PyTorch: beta1 0.9, beta2 0.999, eps 1e-8 */
    assert_true(o.beta1 == 0.9f && o.beta2 == 0.999f && o.eps == 1e-8f);
    float p[2] = {1.0f, -2.0f};
    const unsigned char mask[2] = {1, 0};
    /* p0, decayed, grads 0.5 then -0.25:
     *   t=1: p = 1 - 0.001 = 0.999; m = 0.05, v = 0.00025; mhat = 0.5,
     *        vhat = 0.25; p -= 0.1 * 0.5 / (0.5 + 1e-8) -> 0.899000002
     *   t=2: p = 0.899000002 * 0.999; m = 0.045 - 0.025 = 0.02,
     *        v = 0.00024975 + 0.0000625 = 0.00031225;
     *        p -= 0.1 * (0.02/0.19) / (sqrt(0.00031225/0.001999) + 1e-8)
     *        -> 0.871467299
     * p1, not decayed, grads 2 and 2: each step moves by lr * 1 (mhat/
     * sqrt(vhat) = 1 for a constant gradient): -2.1, then -2.2. */
    float g[2] = {0.5f, 2.0f};
    sn_optim_step(&o, p, g, mask);
    assert_close(p[0], 0.8990000019999999, 1e-6);
    assert_close(p[1], -2.0999999995, 1e-6);
    g[0] = -0.25f;
    sn_optim_step(&o, p, g, mask);
    assert_close(p[0], 0.8714672987058462, 1e-6);
    assert_close(p[1], -2.199999998999999, 1e-6);
    sn_optim_free(&o);
}

/* Big parameter arrays are split across the pool; element-wise updates
 * must give the same bits as the serial loop. */
static void test_optim_parallel(void **state) {
    enum { N = 200000 };
    float *p[2], *g = sn_falloc(N);
    unsigned char *mask = sn_xmalloc(N);
    tu_fill_normal(g, N, 5, 1);
    for (int i = 0; i < N; i++) mask[i] = (unsigned char)(i % 3 != 0);
    for (int kind = 0; kind < 2; kind++) {
        for (int run = 0; run < 2; run++) {
            sn_threads_init(run + 1);
            sn_optim o;
            sn_optim_init(&o, kind ? SN_OPT_ADAMW : SN_OPT_SGD, N);
            o.lr = 0.05f;
            o.weight_decay = 0.1f;
            o.nesterov = 1;
            p[run] = sn_falloc(N);
            tu_fill_normal(p[run], N, 6, 1);
            for (int s = 0; s < 3; s++) sn_optim_step(&o, p[run], g, mask);
            sn_optim_free(&o);
        }
        sn_threads_init(1);
        assert_true(tu_max_abs_diff(p[0], p[1], N) == 0);
        sn_free_aligned(p[0]);
        sn_free_aligned(p[1]);
    }
    sn_free_aligned(g);
    free(mask);
}

/* ---- schedules ---------------------------------------------------------- */

static double cosine(double lr, double lr_min, double t, double T) {
    return lr_min + (lr - lr_min) * (1 + cos(M_PI * t / T)) / 2;
}

static void test_schedule_constant_step(void **state) {
    sn_schedule s = {.kind = SN_SCHED_CONSTANT, .lr = 0.1f};
    assert_close(sn_schedule_lr(&s, 0), 0.1, 1e-8);
    assert_close(sn_schedule_lr(&s, 123456), 0.1, 1e-8);

    s = (sn_schedule){
        .kind = SN_SCHED_STEP, .lr = 0.1f, .gamma = 0.5f, .step_size = 3};
    const int64_t steps[] = {0, 2, 3, 5, 6, 9, 30};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        assert_close(sn_schedule_lr(&s, steps[i]),
                     0.1 * pow(0.5, (double)(steps[i] / 3)), 1e-8);
    assert_close(sn_schedule_lr(&s, 5), 0.05, 1e-8); /* by hand */
    assert_close(sn_schedule_lr(&s, 9), 0.0125, 1e-8);
}

static void test_schedule_cosine(void **state) {
    sn_schedule s = {.kind = SN_SCHED_COSINE,
                     .lr = 0.1f,
                     .lr_min = 0.001f,
                     .total_steps = 10};
    for (int t = 0; t <= 10; t++)
        assert_close(sn_schedule_lr(&s, t), cosine(0.1, 0.001, t, 10), 1e-7);
    /* by hand: the start, the middle (0.001 + 0.099/2) and the end */
    assert_close(sn_schedule_lr(&s, 0), 0.1, 1e-7);
    assert_close(sn_schedule_lr(&s, 5), 0.0505, 1e-7);
    assert_close(sn_schedule_lr(&s, 10), 0.001, 1e-7);
    assert_close(sn_schedule_lr(&s, 50), 0.001, 1e-7); /* stays at lr_min */
}

static void test_schedule_warmup(void **state) {
    /* 4 warm-up steps from 0, then a cosine over the remaining 10 steps of
     * total_steps = 14. */
    sn_schedule s = {.kind = SN_SCHED_COSINE,
                     .lr = 0.1f,
                     .lr_min = 0.001f,
                     .total_steps = 14,
                     .warmup_steps = 4};
    assert_close(sn_schedule_lr(&s, 0), 0.0, 1e-9);
    assert_close(sn_schedule_lr(&s, 1), 0.025, 1e-8);
    assert_close(sn_schedule_lr(&s, 2), 0.05, 1e-8);
    assert_close(sn_schedule_lr(&s, 3), 0.075, 1e-8);
    assert_close(sn_schedule_lr(&s, 4), 0.1, 1e-7);
    for (int t = 4; t <= 14; t++)
        assert_close(sn_schedule_lr(&s, t), cosine(0.1, 0.001, t - 4, 10),
                     1e-7);
    assert_close(sn_schedule_lr(&s, 9), 0.0505, 1e-7);
    assert_close(sn_schedule_lr(&s, 14), 0.001, 1e-7);

    /* In front of a step schedule: its decay counts from the warm-up's
     * end. */
    s = (sn_schedule){.kind = SN_SCHED_STEP,
                      .lr = 0.2f,
                      .gamma = 0.1f,
                      .step_size = 3,
                      .warmup_steps = 2};
    assert_close(sn_schedule_lr(&s, 1), 0.1, 1e-8);
    assert_close(sn_schedule_lr(&s, 2), 0.2, 1e-8);
    assert_close(sn_schedule_lr(&s, 4), 0.2, 1e-8);
    assert_close(sn_schedule_lr(&s, 5), 0.02, 1e-8);
    assert_close(sn_schedule_lr(&s, 8), 0.002, 1e-8);

    s = (sn_schedule){
        .kind = SN_SCHED_CONSTANT, .lr = 0.3f, .warmup_steps = 5};
    assert_close(sn_schedule_lr(&s, 0), 0.0, 1e-9);
    assert_close(sn_schedule_lr(&s, 4), 0.24, 1e-7);
    assert_close(sn_schedule_lr(&s, 5), 0.3, 1e-7);
    assert_close(sn_schedule_lr(&s, 1000), 0.3, 1e-7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_momentum_decay_mask),
        cmocka_unit_test(test_sgd_variants),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_optim_parallel),
        cmocka_unit_test(test_schedule_constant_step),
        cmocka_unit_test(test_schedule_cosine),
        cmocka_unit_test(test_schedule_warmup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sn_threads_shutdown();
    return rc;
}
