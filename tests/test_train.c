/* test_train.c — the trainer: it learns, it is deterministic, it guards
 * against divergence, it stops when told, and evaluation adds up. */
#include "testutil.h"

#include "slimnas/train.h"

static sn_data *synth(void) {
    sn_error e;
    sn_data *d = sn_data_open("synthetic:2000", NULL, &e);
    if (!d) fail_msg("%s", e.msg);
    return d;
}

static sn_graph *small_cnn(const sn_data *d) {
    sn_error e;
    sn_arch_opts o = {16, 2};
    sn_graph *g = sn_graph_new_kind("cnn", sn_data_shape(d),
                                    sn_data_classes(d), &o, &e);
    if (!g) fail_msg("%s", e.msg);
    return g;
}

/* A small CNN on the synthetic set must reach 90% validation accuracy in
 * 3 epochs: the classes are separable (a nearest-mean classifier gets
 * over 90%, see test_data.c), so a working trainer gets there and a broken
 * gradient or optimiser does not. */
static void test_learns_synthetic(void **state) {
    (void)state;
    sn_data *d = synth();
    sn_graph *g = small_cnn(d);
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, 3);
    sn_train_opts o = sn_train_opts_default();
    o.epochs = 3;
    o.batch = 32;
    sn_train_result r;
    sn_error e;
    assert_int_equal(sn_train(g, w, d, &o, &r, &e), 0);
    assert_int_equal(r.status, SN_TRAIN_OK);
    assert_int_equal(r.epochs_done, 3);
    printf("# synthetic: val acc %.3f after 3 epochs\n", r.val_acc);
    assert_true(r.val_acc >= 0.90);
    /* loss goes down epoch to epoch overall */
    assert_true(r.epoch_loss[2] < r.epoch_loss[0]);
    sn_eval_result ev;
    assert_int_equal(sn_evaluate(g, w, d, SN_SPLIT_TEST, 64, NULL, &ev, &e), 0);
    assert_true(ev.acc >= 0.85);
    /* the confusion matrix counts every test image once, and its diagonal
     * is the accuracy */
    int64_t tot = 0, diag = 0;
    for (int i = 0; i < ev.classes; i++)
        for (int j = 0; j < ev.classes; j++) {
            tot += ev.confusion[i * ev.classes + j];
            if (i == j) diag += ev.confusion[i * ev.classes + j];
        }
    assert_int_equal(tot, sn_data_count(d, SN_SPLIT_TEST));
    assert_int_equal(tot, ev.n);
    assert_close((double)diag / tot, ev.acc, 1e-12);
    sn_eval_result_free(&ev);
    sn_train_result_free(&r);
    sn_weights_free(w);
    sn_graph_free(g);
    sn_data_free(d);
}

static sn_weights *train_aug(sn_graph *g, sn_data *d, uint64_t seed,
                             int augment) {
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, seed);
    sn_train_opts o = sn_train_opts_default();
    o.epochs = 1;
    o.batch = 50;
    o.seed = seed;
    o.augment = augment;
    sn_train_result r;
    sn_error e;
    assert_int_equal(sn_train(g, w, d, &o, &r, &e), 0);
    sn_train_result_free(&r);
    return w;
}

static sn_weights *train_once(sn_graph *g, sn_data *d, uint64_t seed) {
    return train_aug(g, d, seed, SN_TRAIN_AUG_DATA);
}

/* Same seed and thread count: bit-identical weights. Another seed: not. */
static void test_deterministic(void **state) {
    (void)state;
    sn_data *d = synth();
    sn_graph *g = small_cnn(d);
    sn_weights *a = train_once(g, d, 5), *b = train_once(g, d, 5),
               *c = train_once(g, d, 6);
    assert_int_equal(a->n_params, b->n_params);
    assert_memory_equal(a->params, b->params,
                        (size_t)a->n_params * sizeof(float));
    assert_memory_equal(a->buffers, b->buffers,
                        (size_t)a->n_buffers * sizeof(float));
    assert_true(memcmp(a->params, c->params,
                       (size_t)a->n_params * sizeof(float)) != 0);
    sn_weights_free(a);
    sn_weights_free(b);
    sn_weights_free(c);
    sn_graph_free(g);
    sn_data_free(d);
}

static int same_weights(const sn_weights *a, const sn_weights *b) {
    return a->n_params == b->n_params &&
           !memcmp(a->params, b->params, (size_t)a->n_params * sizeof(float));
}

/* o.augment overrides how the dataset was opened, for one training:
 * AUG_ON on a plain dataset trains exactly as the dataset opened with
 * augmentation does, AUG_OFF on that one exactly as the plain one, and
 * the two differ (the crops and flips reach the weights). Unknown values
 * are refused. */
static void test_augment_override(void **state) {
    (void)state;
    sn_error e;
    sn_data *plain = synth();
    sn_data_opts o = sn_data_opts_default();
    o.augment = 1;
    sn_data *aug = sn_data_open("synthetic:2000", &o, &e);
    if (!aug) fail_msg("%s", e.msg);
    assert_int_equal(sn_data_augment(plain), 0);
    assert_int_equal(sn_data_augment(aug), 1);
    sn_graph *g = small_cnn(plain);
    sn_weights *on = train_aug(g, plain, 3, SN_TRAIN_AUG_ON),
               *aug_data = train_aug(g, aug, 3, SN_TRAIN_AUG_DATA),
               *off = train_aug(g, aug, 3, SN_TRAIN_AUG_OFF),
               *plain_data = train_aug(g, plain, 3, SN_TRAIN_AUG_DATA);
    assert_true(same_weights(on, aug_data));
    assert_true(same_weights(off, plain_data));
    assert_false(same_weights(on, off));
    sn_weights *w = sn_weights_new(g);
    sn_train_opts t = sn_train_opts_default();
    t.augment = 3;
    sn_train_result r;
    assert_int_equal(sn_train(g, w, plain, &t, &r, &e), -1);
    assert_non_null(strstr(e.msg, "augment"));
    sn_weights_free(w);
    sn_weights_free(on);
    sn_weights_free(aug_data);
    sn_weights_free(off);
    sn_weights_free(plain_data);
    sn_graph_free(g);
    sn_data_free(plain);
    sn_data_free(aug);
}

/* Validation after the last epoch only (what a search child does) gives
 * the same final accuracy and the same weights as after every epoch:
 * evaluating changes nothing the training depends on, and the earlier
 * epochs' validation figures are left unknown (-1). */
static void test_eval_last_epoch(void **state) {
    (void)state;
    sn_data *d = synth();
    sn_graph *g = small_cnn(d);
    sn_weights *w[3];
    sn_train_result r[3];
    const int when[3] = {SN_EVAL_EVERY_EPOCH, SN_EVAL_LAST_EPOCH,
                         SN_EVAL_NONE};
    for (int k = 0; k < 3; k++) {
        w[k] = sn_weights_new(g);
        sn_weights_init(w[k], g, 9);
        sn_train_opts o = sn_train_opts_default();
        o.epochs = 3;
        o.batch = 50;
        o.seed = 9;
        o.eval_val = when[k];
        sn_error e;
        assert_int_equal(sn_train(g, w[k], d, &o, &r[k], &e), 0);
        assert_int_equal(r[k].epochs_done, 3);
    }
    for (int ep = 0; ep < 3; ep++) assert_true(r[0].epoch_val_acc[ep] > 0.1);
    assert_true(r[1].epoch_val_acc[0] == -1 && r[1].epoch_val_acc[1] == -1);
    assert_close(r[1].epoch_val_acc[2], r[0].epoch_val_acc[2], 0);
    assert_close(r[1].val_acc, r[0].val_acc, 0);
    assert_true(r[2].epoch_val_acc[2] == -1);
    for (int k = 1; k < 3; k++) {
        assert_memory_equal(w[0]->params, w[k]->params,
                            (size_t)w[0]->n_params * sizeof(float));
        assert_memory_equal(w[0]->buffers, w[k]->buffers,
                            (size_t)w[0]->n_buffers * sizeof(float));
    }
    for (int k = 0; k < 3; k++) {
        sn_train_result_free(&r[k]);
        sn_weights_free(w[k]);
    }
    sn_graph_free(g);
    sn_data_free(d);
}

/* A weight that has become NaN (as after an overflowing step) makes the
 * loss NaN (last layer) or the gradients NaN (a middle layer, whose NaN
 * output the ReLUs after it hide from the loss): either way the trainer
 * reports "diverged" and returns normally instead of training on NaNs. */
static void diverge_at(int64_t at) {
    sn_data *d = synth();
    sn_graph *g = small_cnn(d);
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, 1);
    sn_train_opts o = sn_train_opts_default();
    o.epochs = 2;
    w->params[at < 0 ? w->n_params + at : at] = NAN;
    sn_train_result r;
    sn_error e;
    assert_int_equal(sn_train(g, w, d, &o, &r, &e), 0);
    assert_int_equal(r.status, SN_TRAIN_DIVERGED);
    assert_string_equal(sn_train_status_name(r.status), "diverged");
    assert_true(r.epochs_done < 2);
    sn_train_result_free(&r);
    sn_weights_free(w);
    sn_graph_free(g);
    sn_data_free(d);
}

static void test_divergence_guard(void **state) {
    (void)state;
    diverge_at(-20); /* a weight of the last dense layer */
    diverge_at(40);  /* a weight of the first conv */
}

typedef struct stopper {
    atomic_int *stop;
    int calls;
} stopper;

static void stop_after_3(void *ctx, const sn_progress *p) {
    stopper *s = ctx;
    s->calls++;
    assert_true(p->batch >= 1 && p->batch <= p->batches);
    assert_true(p->loss > 0);
    if (s->calls == 3) atomic_store(s->stop, 1);
}

/* The stop flag is read between batches: raised in the 3rd progress
 * callback, training ends before a 4th batch. */
static void test_stop_flag(void **state) {
    (void)state;
    sn_data *d = synth();
    sn_graph *g = small_cnn(d);
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, 1);
    atomic_int stop = 0;
    stopper s = {&stop, 0};
    sn_train_opts o = sn_train_opts_default();
    o.batch = 16;
    o.stop = &stop;
    o.progress = stop_after_3;
    o.progress_ctx = &s;
    sn_train_result r;
    sn_error e;
    assert_int_equal(sn_train(g, w, d, &o, &r, &e), 0);
    assert_int_equal(r.status, SN_TRAIN_STOPPED);
    assert_int_equal(s.calls, 3);
    sn_train_result_free(&r);
    sn_weights_free(w);
    sn_graph_free(g);
    sn_data_free(d);
}

/* A graph for other inputs or classes is refused with a sentence. */
static void test_mismatch(void **state) {
    (void)state;
    sn_data *d = synth();
    sn_error e;
    sn_arch_opts ao = {8, 1};
    sn_graph *g = sn_graph_new_kind("cnn", (sn_shape){3, 32, 32}, 10, &ao, &e);
    assert_non_null(g);
    sn_weights *w = sn_weights_new(g);
    sn_train_opts o = sn_train_opts_default();
    sn_train_result r;
    assert_int_equal(sn_train(g, w, d, &o, &r, &e), -1);
    assert_non_null(strstr(e.msg, "input"));
    o.epochs = 0;
    assert_int_equal(sn_train(g, w, d, &o, &r, &e), -1);
    sn_weights_free(w);
    sn_graph_free(g);
    sn_data_free(d);
}

int main(void) {
    sn_threads_init(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_synthetic),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_augment_override),
        cmocka_unit_test(test_eval_last_epoch),
        cmocka_unit_test(test_divergence_guard),
        cmocka_unit_test(test_stop_flag),
        cmocka_unit_test(test_mismatch),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sn_threads_shutdown();
    return rc;
}
