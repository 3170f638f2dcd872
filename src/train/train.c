/* train.c — mini-batch training and evaluation of one graph on one
 * dataset, with a divergence guard, progress callbacks and stop/pause
 * flags read between batches. */
#include "slimnas/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

sn_train_opts sn_train_opts_default(void) {
    sn_train_opts o;
    memset(&o, 0, sizeof o);
    o.epochs = 1;
    o.batch = 128;
    o.optimizer = SN_OPT_SGD;
    o.lr = 0.1f;
    o.lr_min = 0.0f;
    o.momentum = 0.9f;
    o.nesterov = 0;
    o.weight_decay = 1e-4f;
    o.schedule = SN_SCHED_COSINE;
    o.step_epochs = 1;
    o.gamma = 0.1f;
    o.seed = 1;
    o.eval_val = SN_EVAL_EVERY_EPOCH;
    return o;
}

const char *sn_train_status_name(sn_train_status s) {
    switch (s) {
    case SN_TRAIN_OK: return "ok";
    case SN_TRAIN_DIVERGED: return "diverged";
    case SN_TRAIN_STOPPED: return "stopped";
    }
    return "?";
}

void sn_train_result_free(sn_train_result *r) {
    free(r->epoch_loss);
    free(r->epoch_acc);
    free(r->epoch_val_loss);
    free(r->epoch_val_acc);
    memset(r, 0, sizeof *r);
}

void sn_eval_result_free(sn_eval_result *r) {
    free(r->confusion);
    free(r->class_acc);
    memset(r, 0, sizeof *r);
}

void sn_model_info_from_data(sn_model_info *mi, const sn_data *d) {
    memset(mi, 0, sizeof *mi);
    sn_shape s = sn_data_shape(d);
    if (s.c > SN_INFO_MAX_C) return;
    mi->c = s.c;
    for (int c = 0; c < s.c; c++) {
        mi->mean[c] = sn_data_mean(d)[c];
        mi->std[c] = sn_data_std(d)[c];
    }
    snprintf(mi->dataset, sizeof mi->dataset, "%s", sn_data_name(d));
    int k = sn_data_classes(d);
    if (k <= SN_INFO_MAX_CLASSES) {
        mi->n_names = k;
        for (int i = 0; i < k; i++)
            snprintf(mi->names[i], SN_NAME_LEN, "%s", sn_data_class_name(d, i));
    }
    mi->known = 1;
}

int sn_train_check_fit(const sn_graph *g, const sn_data *d, sn_error *e) {
    sn_shape s = sn_data_shape(d);
    if (g->input.c != s.c || g->input.h != s.h || g->input.w != s.w)
        return sn_errf(e,
                       "the graph takes %dx%dx%d (HxWxC) input but %s images "
                       "are %dx%dx%d",
                       g->input.h, g->input.w, g->input.c, sn_data_name(d),
                       s.h, s.w, s.c);
    if (g->classes != sn_data_classes(d))
        return sn_errf(e, "the graph has %d classes but %s has %d",
                       g->classes, sn_data_name(d), sn_data_classes(d));
    return 0;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int grads_finite(const float *g, int64_t n) {
    float acc = 0; /* NaN or Inf anywhere makes the sum NaN or Inf */
    for (int64_t i = 0; i < n; i++) acc += g[i] * 0.0f;
    return acc == 0.0f;
}

static int flag(const atomic_int *f) { return f && atomic_load(f); }

int sn_evaluate(const sn_graph *g, sn_weights *w, const sn_data *d,
                sn_split split, int batch, sn_exec *ex, sn_eval_result *r,
                sn_error *e) {
    memset(r, 0, sizeof *r);
    if (sn_train_check_fit(g, d, e) != 0) return -1;
    if (batch <= 0) batch = 256;
    int own = ex == NULL;
    if (own) ex = sn_exec_new(g, w, batch);
    int k = g->classes;
    r->classes = k;
    r->confusion = sn_xcalloc((size_t)k * k, sizeof *r->confusion);
    r->class_acc = sn_xcalloc((size_t)k, sizeof *r->class_acc);
    sn_shape s = sn_data_shape(d);
    float *x = sn_falloc((size_t)batch * sn_shape_size(s));
    int *y = sn_xmalloc(sizeof(int) * (size_t)batch);
    sn_batcher *b = sn_batcher_new(d, split, batch, 0, 0);
    double loss_sum = 0;
    int64_t correct = 0;
    int n;
    while ((n = sn_batcher_next(b, x, y, NULL)) > 0) {
        const float *logits = sn_exec_predict(ex, x, n);
        loss_sum += sn_softmax_xent(logits, y, n, k, 0.0f, NULL, NULL) * n;
        for (int i = 0; i < n; i++) {
            const float *l = logits + (size_t)i * k;
            int best = 0;
            for (int j = 1; j < k; j++)
                if (l[j] > l[best]) best = j;
            r->confusion[(size_t)y[i] * k + best]++;
            correct += best == y[i];
        }
        r->n += n;
    }
    for (int c = 0; c < k; c++) {
        int64_t tot = 0;
        for (int j = 0; j < k; j++) tot += r->confusion[(size_t)c * k + j];
        r->class_acc[c] =
            tot ? (double)r->confusion[(size_t)c * k + c] / tot : -1.0;
    }
    r->loss = r->n ? loss_sum / r->n : 0;
    r->acc = r->n ? (double)correct / r->n : 0;
    sn_batcher_free(b);
    free(y);
    sn_free_aligned(x);
    if (own) sn_exec_free(ex);
    return 0;
}

int sn_train_augments(const sn_train_opts *o, const sn_data *d) {
    return o->augment == SN_TRAIN_AUG_ON ||
           (o->augment == SN_TRAIN_AUG_DATA &&
            (sn_batch_flags(d, SN_SPLIT_TRAIN) & SN_BATCH_AUGMENT));
}

static int check_opts(const sn_train_opts *o, sn_error *e) {
    if (o->epochs < 1 || o->epochs > SN_MAX_EPOCHS)
        return sn_errf(e, "epochs must be between 1 and %d, got %d",
                       SN_MAX_EPOCHS, o->epochs);
    if (o->batch < 1 || o->batch > 65536)
        return sn_errf(e, "batch must be between 1 and 65536, got %d",
                       o->batch);
    if (!(o->lr > 0) || !isfinite(o->lr))
        return sn_errf(e, "learning rate must be positive, got %g",
                       (double)o->lr);
    if (o->weight_decay < 0 || o->momentum < 0 || o->momentum >= 1)
        return sn_errf(e, "weight decay must be >= 0 and momentum in "
                          "[0, 1)");
    if (o->label_smoothing < 0 || o->label_smoothing >= 1)
        return sn_errf(e, "label smoothing must be in [0, 1)");
    if (o->augment < SN_TRAIN_AUG_DATA || o->augment > SN_TRAIN_AUG_ON)
        return sn_errf(e, "augment must be SN_TRAIN_AUG_DATA, _OFF or _ON, "
                          "got %d", o->augment);
    return 0;
}

int sn_train(const sn_graph *g, sn_weights *w, const sn_data *d,
             const sn_train_opts *o, sn_train_result *r, sn_error *e) {
    memset(r, 0, sizeof *r);
    r->val_loss = r->val_acc = -1;
    if (check_opts(o, e) != 0 || sn_train_check_fit(g, d, e) != 0) return -1;
    if (sn_data_count(d, SN_SPLIT_TRAIN) == 0)
        return sn_errf(e, "%s has no training images", sn_data_name(d));
    sn_model_info_from_data(&w->info, d);
    int k = g->classes, B = o->batch;
    sn_shape s = sn_data_shape(d);
    sn_exec *ex = sn_exec_new(g, w, B);
    sn_exec_set_seed(ex, o->seed);
    int flags = sn_batch_flags(d, SN_SPLIT_TRAIN) & ~SN_BATCH_AUGMENT;
    if (sn_train_augments(o, d)) flags |= SN_BATCH_AUGMENT;
    sn_batcher *bt = sn_batcher_new(d, SN_SPLIT_TRAIN, B, flags, o->seed);
    int batches = sn_batcher_batches(bt);
    float *x = sn_falloc((size_t)B * sn_shape_size(s));
    float *dl = sn_falloc((size_t)B * k);
    int *y = sn_xmalloc(sizeof(int) * (size_t)B);
    sn_optim opt;
    sn_optim_init(&opt, o->optimizer, w->n_params);
    opt.momentum = o->momentum;
    opt.nesterov = o->nesterov;
    opt.weight_decay = o->weight_decay;
    sn_schedule sch = {.kind = o->schedule,
                       .lr = o->lr,
                       .lr_min = o->lr_min,
                       .total_steps = (int64_t)batches * o->epochs,
                       .step_size = (int64_t)(o->step_epochs * batches),
                       .gamma = o->gamma,
                       .warmup_steps = (int64_t)(o->warmup_epochs * batches)};
    if (sch.step_size < 1) sch.step_size = 1;
    size_t ne = (size_t)o->epochs;
    r->epoch_loss = sn_xcalloc(ne, sizeof(double));
    r->epoch_acc = sn_xcalloc(ne, sizeof(double));
    r->epoch_val_loss = sn_xcalloc(ne, sizeof(double));
    r->epoch_val_acc = sn_xcalloc(ne, sizeof(double));

    double t0 = sn_now(), paused = 0, loop = 0, tb = 0;
    int64_t step = 0, images = 0;
    sn_train_status status = SN_TRAIN_OK;
    for (int ep = 0; ep < o->epochs && status == SN_TRAIN_OK; ep++) {
        sn_batcher_epoch(bt, ep);
        double loss_sum = 0;
        int64_t seen = 0, correct = 0;
        int n, bi = 0;
        /* loop: the steps, and fetching their batches */
        while ((tb = sn_now()), (n = sn_batcher_next(bt, x, y, NULL)) > 0) {
            loop += sn_now() - tb;
            if (flag(o->pause)) {
                double p0 = sn_now();
                while (flag(o->pause) && !flag(o->stop)) sleep_ms(20);
                paused += sn_now() - p0;
            }
            if (flag(o->stop)) {
                status = SN_TRAIN_STOPPED;
                break;
            }
            double tl = sn_now();
            opt.lr = sn_schedule_lr(&sch, step);
            const float *logits = sn_exec_forward(ex, x, n, 1);
            int hit = 0;
            double loss = sn_softmax_xent(logits, y, n, k, o->label_smoothing,
                                          dl, &hit);
            if (!isfinite(loss)) {
                status = SN_TRAIN_DIVERGED;
                break;
            }
            sn_exec_zero_grad(ex);
            sn_exec_backward(ex, dl);
            /* ReLU and max pool map NaN to a number, so a broken weight
             * deep in the network may not reach the loss; its gradient
             * does reach the parameters below it. */
            if (!grads_finite(sn_exec_grads(ex), w->n_params)) {
                status = SN_TRAIN_DIVERGED;
                break;
            }
            sn_optim_step(&opt, w->params, sn_exec_grads(ex), w->decay_mask);
            loop += sn_now() - tl;
            step++;
            images += n;
            loss_sum += loss * n;
            correct += hit;
            seen += n;
            bi++;
            if (o->progress) {
                double el = sn_now() - t0 - paused;
                sn_progress p = {.epoch = ep,
                                 .epochs = o->epochs,
                                 .batch = bi,
                                 .batches = batches,
                                 .loss = loss_sum / seen,
                                 .acc = (double)correct / seen,
                                 .img_s = el > 0 ? images / el : 0,
                                 .elapsed = el,
                                 .lr = opt.lr};
                int64_t left = (int64_t)batches * o->epochs - step;
                p.eta = step ? el / step * left : 0;
                o->progress(o->progress_ctx, &p);
            }
        }
        if (status != SN_TRAIN_OK) break;
        r->epoch_loss[ep] = r->train_loss = seen ? loss_sum / seen : 0;
        r->epoch_acc[ep] = r->train_acc = seen ? (double)correct / seen : 0;
        r->epoch_val_loss[ep] = r->epoch_val_acc[ep] = -1;
        int eval = o->eval_val == SN_EVAL_EVERY_EPOCH ||
                   (o->eval_val == SN_EVAL_LAST_EPOCH && ep == o->epochs - 1);
        if (eval && sn_data_count(d, SN_SPLIT_VAL) > 0) {
            sn_eval_result ev;
            if (sn_evaluate(g, w, d, SN_SPLIT_VAL, B, ex, &ev, e) == 0) {
                r->epoch_val_loss[ep] = r->val_loss = ev.loss;
                r->epoch_val_acc[ep] = r->val_acc = ev.acc;
                sn_eval_result_free(&ev);
            }
        }
        r->epochs_done = ep + 1;
    }
    r->status = status;
    r->loop_seconds = loop;
    r->seconds = sn_now() - t0 - paused;
    r->img_s = r->seconds > 0 ? images / r->seconds : 0;
    sn_optim_free(&opt);
    sn_batcher_free(bt);
    free(y);
    sn_free_aligned(dl);
    sn_free_aligned(x);
    sn_exec_free(ex);
    return 0;
}
