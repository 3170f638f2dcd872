/* slimnas/train.h — training and evaluation of one graph on one dataset.
 *
 *   sn_train_opts o = sn_train_opts_default();   // SGD 0.9, lr 0.1 cosine, b 128
 *   o.epochs = 3;
 *   sn_train_result r;
 *   if (sn_train(g, w, d, &o, &r, &err) != 0) ...   // bad options only
 *   if (r.status == SN_TRAIN_DIVERGED) ...          // NaN/Inf loss: stopped
 *   printf("val %.2f%%\n", 100 * r.val_acc);
 *   sn_train_result_free(&r);
 *
 * Training is deterministic for a given seed and thread count: the batch
 * order and augmentation come from the data batcher seeded with o.seed,
 * dropout masks from the exec seeded with o.seed, and every reduction
 * has a fixed order for a fixed number of threads.
 *
 * Control: o.stop and o.pause (may be NULL) are read between batches, so
 * stop and pause take effect within one batch; while paused the trainer
 * sleeps (no CPU) and the progress callback is not called.
 */
#ifndef SLIMNAS_TRAIN_H
#define SLIMNAS_TRAIN_H

#include <stdatomic.h>

#include "slimnas/data.h"
#include "slimnas/graph.h"

typedef struct sn_progress {
    int epoch, epochs;       /* 0-based epoch in progress, total */
    int batch, batches;      /* 0-based batch done, batches per epoch */
    double loss;             /* running mean training loss of this epoch */
    double acc;              /* running training accuracy of this epoch */
    double img_s;            /* images per second over this training */
    double elapsed, eta;     /* seconds */
    double lr;
} sn_progress;

typedef void (*sn_progress_fn)(void *ctx, const sn_progress *p);

/* When sn_train evaluates the validation split. A search child needs
 * only its final accuracy: evaluating after every epoch cost it about 4%
 * of its time per extra epoch (6,000 images against 20,000 trained). */
enum { SN_EVAL_NONE = 0, SN_EVAL_EVERY_EPOCH = 1, SN_EVAL_LAST_EPOCH = 2 };

/* Whether sn_train augments: as the dataset was opened (its --augment or
 * default), or on or off for this training only, so one opened dataset
 * serves a search's plain children and an augmented final retraining. */
enum { SN_TRAIN_AUG_DATA = 0, SN_TRAIN_AUG_OFF = 1, SN_TRAIN_AUG_ON = 2 };

typedef struct sn_train_opts {
    int epochs;
    int batch;
    sn_opt_kind optimizer;
    float lr, lr_min;
    float momentum;
    int nesterov;
    float weight_decay;        /* decoupled; weights only, not bias/bn */
    sn_sched_kind schedule;
    float warmup_epochs;       /* linear warm-up in front of the schedule */
    float step_epochs, gamma;  /* step schedule */
    float label_smoothing;
    int augment;               /* SN_TRAIN_AUG_*: crop+flip of the training
                                  split (pad and flip as the dataset says) */
    uint64_t seed;
    int eval_val;              /* evaluate validation: SN_EVAL_* */
    sn_progress_fn progress;   /* called after every batch, may be NULL */
    void *progress_ctx;
    const atomic_int *stop;    /* non-zero: finish now with SN_TRAIN_STOPPED */
    const atomic_int *pause;   /* non-zero: sleep between batches */
} sn_train_opts;

sn_train_opts sn_train_opts_default(void);

typedef enum {
    SN_TRAIN_OK,
    SN_TRAIN_DIVERGED, /* loss became NaN or Inf; weights are not usable */
    SN_TRAIN_STOPPED   /* o.stop was raised */
} sn_train_status;

const char *sn_train_status_name(sn_train_status s); /* "ok", "diverged" */

#define SN_MAX_EPOCHS 1000

typedef struct sn_train_result {
    sn_train_status status;
    int epochs_done;
    double train_loss, train_acc;  /* last epoch */
    double val_loss, val_acc;      /* after the last epoch (-1 if none) */
    double seconds, img_s;
    /* seconds in the epochs' batch loops (batches, forward, backward,
     * optimiser): seconds less evaluation and set-up */
    double loop_seconds;
    /* per epoch, epochs_done entries each */
    double *epoch_loss, *epoch_acc, *epoch_val_loss, *epoch_val_acc;
} sn_train_result;

void sn_train_result_free(sn_train_result *r);

/* 1 when sn_train(…, d, o, …) crop+flips the training split: o->augment
 * resolved against the dataset's own setting. */
int sn_train_augments(const sn_train_opts *o, const sn_data *d);

/* Trains w in place. Returns -1 only for unusable options or a graph
 * that does not fit the data (shape, classes); a divergence or a stop is
 * a status, not an error. */
int sn_train(const sn_graph *g, sn_weights *w, const sn_data *d,
             const sn_train_opts *o, sn_train_result *r, sn_error *e);

typedef struct sn_eval_result {
    int64_t n;
    double loss, acc;
    int classes;
    int64_t *confusion;  /* [classes][classes]: row true, column predicted */
    double *class_acc;   /* [classes], -1 for a class with no samples */
} sn_eval_result;

void sn_eval_result_free(sn_eval_result *r);

/* Inference-mode evaluation of a split. ex may be NULL (one is made). */
int sn_evaluate(const sn_graph *g, sn_weights *w, const sn_data *d,
                sn_split split, int batch, sn_exec *ex, sn_eval_result *r,
                sn_error *e);

/* The model info training on d gives (mean/std, dataset and class names).
 * sn_train stores it in w->info, so every trained weight file carries it. */
void sn_model_info_from_data(sn_model_info *mi, const sn_data *d);

/* -1 with a sentence when the graph's input shape or classes do not match
 * the dataset's. */
int sn_train_check_fit(const sn_graph *g, const sn_data *d, sn_error *e);

#endif
