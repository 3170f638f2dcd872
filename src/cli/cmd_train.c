/* cmd_train.c — `slimnas train` and `slimnas eval`. */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slimnas/cli.h"
#include "slimnas/train.h"

/* Options shared by every command that opens a dataset. */
#define DATA_OPTS                                                              \
    {"data", 'd', "SPEC",                                                      \
     "dataset: fashion-mnist, idx:DIR, cifar10, folder:DIR, npy:X,Y, ..."},  \
    {"input", 0, "HxWxC", "convert images to this size (folder:, npy:)"},     \
    {"fit", 0, "crop|pad|stretch", "how other aspect ratios fit (crop)"},    \
    {"strict", 0, NULL, "refuse non-image files in a folder"},                \
    {"val-split", 0, "F", "fraction of training images for validation"},     \
    {"max-train", 0, "N", "train on a seeded subset of N images"},            \
    {"augment", 0, "on|off", "crop+flip augmentation"},                       \
    {"threads", 'j', "T", "worker threads"}

static const sn_cli_opt train_opts[] = {
    DATA_OPTS,
    {"epochs", 'e', "N", "epochs"},
    {"batch", 'b', "N", "batch size"},
    {"lr", 0, "RATE", "learning rate"},
    {"optimizer", 0, "sgd|adamw", "optimiser (SGD with momentum)"},
    {"momentum", 0, "M", "SGD momentum"},
    {"nesterov", 0, NULL, "Nesterov momentum"},
    {"schedule", 0, "constant|cosine|step", "learning-rate schedule"},
    {"warmup", 0, "EPOCHS", "linear warm-up epochs"},
    {"weight-decay", 0, "WD", "decoupled weight decay"},
    {"label-smoothing", 0, "S", "label smoothing"},
    {"seed", 0, "S", "seed for initialisation, order, dropout"},
    {"weights", 'w', "IN.bin", "start from these weights"},
    {"save", 's', "OUT.bin", "save the trained weights"},
    {"json", 0, NULL, "print the result as JSON"},
    {0}};

#define EVAL_BATCH 256   /* eval's default batch */
#define ADAMW_LR 1e-3f   /* --optimizer adamw without --lr */

static const sn_cli_opt eval_opts[] = {
    DATA_OPTS,
    {"weights", 'w', "W.bin", "weights to evaluate (required)"},
    {"split", 0, "test|val|train", "split to evaluate"},
    {"batch", 'b', "N", "batch size"},
    {"json", 0, NULL, "print the result as JSON"},
    {0}};

/* Defaults for --help, read from sn_train_opts_default and
 * sn_data_opts_default. */
static void data_default(const char *opt, char *buf, size_t n) {
    sn_data_opts d = sn_data_opts_default();
    buf[0] = 0;
    if (!strcmp(opt, "val-split")) snprintf(buf, n, "%g", d.val_split);
    else if (!strcmp(opt, "max-train")) snprintf(buf, n, "all");
    else if (!strcmp(opt, "augment"))
        snprintf(buf, n, "on for CIFAR-10, off for the others");
    else if (!strcmp(opt, "threads")) snprintf(buf, n, "all cores");
}

/* --opt's value v as an index into a NULL-terminated name table: 0 with
 * *out set, or the usage error naming every value ("a, b or c"). */
static int parse_choice(const sn_cli_cmd *c, const char *opt,
                        const char *const *names, const char *v, int *out) {
    int k = 0;
    while (names[k] && strcmp(names[k], v) != 0) k++;
    if (names[k]) {
        *out = k;
        return 0;
    }
    char list[256];
    size_t at = 0;
    list[0] = 0;
    for (int i = 0; i < k && at < sizeof list; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s",
                               i == 0 ? "" : i == k - 1 ? " or " : ", ",
                               names[i]);
    return sn_cli_usage_error(c, "--%s takes %s", opt, list);
}

static void train_default(const char *opt, char *buf, size_t n) {
    sn_train_opts o = sn_train_opts_default();
    data_default(opt, buf, n);
    if (!strcmp(opt, "epochs")) snprintf(buf, n, "%d", o.epochs);
    else if (!strcmp(opt, "batch")) snprintf(buf, n, "%d", o.batch);
    else if (!strcmp(opt, "lr"))
        snprintf(buf, n, "%g for sgd, %g for adamw", (double)o.lr,
                 (double)ADAMW_LR);
    else if (!strcmp(opt, "optimizer"))
        snprintf(buf, n, "%s", sn_optimizer_names[o.optimizer]);
    else if (!strcmp(opt, "momentum")) snprintf(buf, n, "%g", (double)o.momentum);
    else if (!strcmp(opt, "schedule")) snprintf(buf, n, "%s", sn_schedule_names[o.schedule]);
    else if (!strcmp(opt, "warmup"))
        snprintf(buf, n, "%g", (double)o.warmup_epochs);
    else if (!strcmp(opt, "weight-decay"))
        snprintf(buf, n, "%g", (double)o.weight_decay);
    else if (!strcmp(opt, "label-smoothing"))
        snprintf(buf, n, "%g", (double)o.label_smoothing);
    else if (!strcmp(opt, "seed"))
        snprintf(buf, n, "%llu", (unsigned long long)o.seed);
}

static void eval_default(const char *opt, char *buf, size_t n) {
    data_default(opt, buf, n);
    if (!strcmp(opt, "split")) snprintf(buf, n, "test");
    else if (!strcmp(opt, "batch")) snprintf(buf, n, "%d", EVAL_BATCH);
}

static int cmd_train(int argc, char **argv);
static int cmd_eval(int argc, char **argv);

const sn_cli_cmd sn_cmd_train = {
    "train", "train a graph on a dataset",
    "slimnas train GRAPH.json --data SPEC [--epochs N] [options]",
    "Prints a progress bar on a terminal (plain lines otherwise) and ends "
    "with\nvalidation and test accuracy. A NaN/Inf loss stops training "
    "(exit 1,\nstatus \"diverged\").",
    train_opts, cmd_train, train_default};

const sn_cli_cmd sn_cmd_eval = {
    "eval", "evaluate trained weights: accuracy and confusion matrix",
    "slimnas eval GRAPH.json --weights W.bin --data SPEC [--json]", NULL,
    eval_opts, cmd_eval, eval_default};

static int parse_int(const sn_cli_cmd *c, const char *name, const char *v,
                     long lo, long hi, long *out) {
    if (sn_parse_long(v, lo, hi, out) != 0)
        return sn_cli_usage_error(c, "--%s needs an integer in [%ld, %ld], "
                                     "got '%s'", name, lo, hi, v);
    return 0;
}

static int parse_float(const sn_cli_cmd *c, const char *name, const char *v,
                       double lo, double hi, double *out) {
    if (sn_parse_double(v, lo, hi, out) != 0)
        return sn_cli_usage_error(c, "--%s needs a number in [%g, %g], got "
                                     "'%s'", name, lo, hi, v);
    return 0;
}

/* Reads the dataset options; opens nothing. Returns 0 or 2. */
static int data_opts(const sn_cli_args *a, sn_data_opts *o) {
    *o = sn_data_opts_default();
    const char *v;
    double f = 0;
    sn_error e;
    if ((v = sn_cli_get(a, "data")) && sn_data_spec_check(v, &e))
        return sn_cli_usage_error(a->cmd, "--data: %s", e.msg);
    if ((v = sn_cli_get(a, "val-split"))) {
        if (parse_float(a->cmd, "val-split", v, 0, 0.9, &f)) return 2;
        o->val_split = f;
    }
    if ((v = sn_cli_get(a, "max-train"))) {
        int64_t n;
        if (sn_parse_size(v, &n) != 0 || n < 1)
            return sn_cli_usage_error(a->cmd, "--max-train needs a count "
                                              "like 5000 or 5k, got '%s'", v);
        o->max_train = n;
    }
    if ((v = sn_cli_get(a, "input")) &&
        sn_data_parse_input(v, &o->input_h, &o->input_w, &o->input_c) != 0)
        return sn_cli_usage_error(a->cmd, "--input needs HxWxC like 32x32x3 "
                                          "(C 1 or 3), got '%s'", v);
    if ((v = sn_cli_get(a, "fit")) && (o->fit = sn_fit_from_name(v)) < 0)
        return sn_cli_usage_error(a->cmd, "--fit takes crop, pad or stretch");
    o->strict = sn_cli_flag(a, "strict");
    if ((v = sn_cli_get(a, "augment"))) {
        if (!strcmp(v, "on")) o->augment = 1;
        else if (!strcmp(v, "off")) o->augment = 0;
        else return sn_cli_usage_error(a->cmd, "--augment takes on or off");
    }
    return sn_cli_threads(a);
}

static sn_data *open_data(const sn_cli_args *a, const sn_data_opts *o) {
    const char *spec = sn_cli_get(a, "data");
    sn_error e;
    sn_data *d = sn_data_open(spec, o, &e);
    if (!d) fprintf(stderr, "slimnas %s: %s\n", a->cmd->name, e.msg);
    return d;
}

typedef struct bar_ctx {
    int tty;
    int last_epoch;
    double last_draw;
} bar_ctx;

static void fmt_time(char *b, size_t n, double s) {
    if (s < 0) s = 0;
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(b, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else snprintf(b, n, "%d:%02d", t / 60, t % 60);
}

static void on_progress(void *ctx, const sn_progress *p) {
    bar_ctx *b = ctx;
    double now = sn_now();
    int end_of_epoch = p->batch == p->batches;
    if (!b->tty) return; /* plain output prints one line per epoch below */
    if (!end_of_epoch && now - b->last_draw < 0.1) return;
    b->last_draw = now;
    const int width = 30;
    int fill = (int)((double)p->batch / p->batches * width);
    char bar[64], eta[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fmt_time(eta, sizeof eta, p->eta);
    fprintf(stderr,
            "\repoch %d/%d [%s] %5d/%d  loss %.4f  acc %5.2f%%  %6.0f img/s  "
            "eta %s ",
            p->epoch + 1, p->epochs, bar, p->batch, p->batches, p->loss,
            100 * p->acc, p->img_s, eta);
    if (end_of_epoch) fprintf(stderr, "\n");
    fflush(stderr);
}

static int cmd_train(int argc, char **argv) {
    sn_cli_args a;
    int rc = sn_cli_parse(&sn_cmd_train, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.n_pos != 1)
        return sn_cli_usage_error(&sn_cmd_train, "expected one GRAPH.json");
    if (!sn_cli_get(&a, "data"))
        return sn_cli_usage_error(&sn_cmd_train, "--data SPEC is required");
    sn_train_opts o = sn_train_opts_default();
    const char *v;
    long l = 0;
    double f = 0;
    const sn_cli_cmd *c = &sn_cmd_train;
    if ((v = sn_cli_get(&a, "epochs"))) {
        if (parse_int(c, "epochs", v, 1, SN_MAX_EPOCHS, &l)) return 2;
        o.epochs = (int)l;
    }
    if ((v = sn_cli_get(&a, "batch"))) {
        if (parse_int(c, "batch", v, 1, 65536, &l)) return 2;
        o.batch = (int)l;
    }
    if ((v = sn_cli_get(&a, "lr"))) {
        if (parse_float(c, "lr", v, 1e-9, 100, &f)) return 2;
        o.lr = (float)f;
    }
    if ((v = sn_cli_get(&a, "momentum"))) {
        if (parse_float(c, "momentum", v, 0, 0.999, &f)) return 2;
        o.momentum = (float)f;
    }
    if ((v = sn_cli_get(&a, "weight-decay"))) {
        if (parse_float(c, "weight-decay", v, 0, 1, &f)) return 2;
        o.weight_decay = (float)f;
    }
    if ((v = sn_cli_get(&a, "label-smoothing"))) {
        if (parse_float(c, "label-smoothing", v, 0, 0.99, &f)) return 2;
        o.label_smoothing = (float)f;
    }
    if ((v = sn_cli_get(&a, "warmup"))) {
        if (parse_float(c, "warmup", v, 0, SN_MAX_EPOCHS, &f)) return 2;
        o.warmup_epochs = (float)f;
    }
    if ((v = sn_cli_get(&a, "seed"))) {
        if (parse_int(c, "seed", v, 0, 2147483647L, &l)) return 2;
        o.seed = (uint64_t)l;
    }
    o.nesterov = sn_cli_flag(&a, "nesterov");
    int k;
    if ((v = sn_cli_get(&a, "optimizer"))) {
        if ((rc = parse_choice(c, "optimizer", sn_optimizer_names, v, &k)))
            return rc;
        o.optimizer = (sn_opt_kind)k;
        if (o.optimizer == SN_OPT_ADAMW && !sn_cli_get(&a, "lr"))
            o.lr = ADAMW_LR;
    }
    if ((v = sn_cli_get(&a, "schedule"))) {
        if ((rc = parse_choice(c, "schedule", sn_schedule_names, v, &k)))
            return rc;
        o.schedule = (sn_sched_kind)k;
    }
    sn_data_opts dopt;
    if ((rc = data_opts(&a, &dopt))) return rc;
    dopt.seed = o.seed;

    sn_error e;
    sn_graph *g = sn_graph_load(a.pos[0], &e);
    if (!g) {
        fprintf(stderr, "slimnas train: %s\n", e.msg);
        return 1;
    }
    sn_data *d = open_data(&a, &dopt);
    if (!d) {
        sn_graph_free(g);
        return 1;
    }
    int status = 1;
    sn_weights *w = NULL;
    if (sn_train_check_fit(g, d, &e) != 0) {
        fprintf(stderr, "slimnas train: %s\n", e.msg);
        goto out;
    }
    if ((v = sn_cli_get(&a, "weights"))) {
        w = sn_weights_load(g, v, &e);
        if (!w) {
            fprintf(stderr, "slimnas train: %s\n", e.msg);
            goto out;
        }
    } else {
        w = sn_weights_new(g);
        sn_weights_init(w, g, o.seed);
    }
    int json = sn_cli_flag(&a, "json");
    char desc[4096], num[32];
    char nt[32];
    fputs(sn_data_summary(d, desc, sizeof desc), stderr);
    fprintf(stderr, "%s: %s params, %s\n",
            sn_data_describe(d, desc, sizeof desc),
            sn_fmt_int(num, sizeof num, sn_graph_params(g)),
            sn_cli_plural(nt, sizeof nt, sn_threads_count(), "thread"));
    bar_ctx bar = {.tty = isatty(2), .last_epoch = -1};
    o.progress = on_progress;
    o.progress_ctx = &bar;
    sn_train_result r;
    if (sn_train(g, w, d, &o, &r, &e) != 0) {
        fprintf(stderr, "slimnas train: %s\n", e.msg);
        goto out;
    }
    if (!bar.tty || json)
        for (int i = 0; i < r.epochs_done; i++)
            fprintf(stderr, "epoch %d/%d  loss %.4f  train acc %.2f%%  val "
                            "acc %.2f%%\n",
                    i + 1, o.epochs, r.epoch_loss[i], 100 * r.epoch_acc[i],
                    100 * r.epoch_val_acc[i]);
    if (r.status == SN_TRAIN_DIVERGED) {
        fprintf(stderr, "slimnas train: diverged (loss became NaN/Inf) in "
                        "epoch %d; try a smaller --lr\n", r.epochs_done + 1);
        if (json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "status",
                                    sn_train_status_name(r.status));
            char *s = cJSON_Print(j);
            printf("%s\n", s);
            free(s);
            cJSON_Delete(j);
        }
        sn_train_result_free(&r);
        goto out;
    }
    sn_eval_result te;
    if (sn_evaluate(g, w, d, SN_SPLIT_TEST, 256, NULL, &te, &e) != 0) {
        fprintf(stderr, "slimnas train: %s\n", e.msg);
        sn_train_result_free(&r);
        goto out;
    }
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "status", sn_train_status_name(r.status));
        cJSON_AddNumberToObject(j, "epochs", r.epochs_done);
        cJSON_AddNumberToObject(j, "train_loss", r.train_loss);
        cJSON_AddNumberToObject(j, "val_acc", r.val_acc);
        cJSON_AddNumberToObject(j, "test_acc", te.acc);
        cJSON_AddNumberToObject(j, "seconds", r.seconds);
        cJSON_AddNumberToObject(j, "img_s", r.img_s);
        char *s = cJSON_Print(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        char ep[32];
        printf("trained %s in %.1f s (%.0f img/s): val acc %.2f%%, "
               "test acc %.2f%%\n",
               sn_cli_plural(ep, sizeof ep, r.epochs_done, "epoch"),
               r.seconds, r.img_s, 100 * r.val_acc, 100 * te.acc);
    }
    sn_eval_result_free(&te);
    sn_train_result_free(&r);
    status = 0;
    if ((v = sn_cli_get(&a, "save"))) {
        if (sn_weights_save(w, g, v, &e) != 0) {
            fprintf(stderr, "slimnas train: %s\n", e.msg);
            status = 1;
        } else {
            fprintf(stderr, "saved %s\n", v);
        }
    }
out:
    if (w) sn_weights_free(w);
    sn_data_free(d);
    sn_graph_free(g);
    sn_threads_shutdown();
    return status;
}

static int cmd_eval(int argc, char **argv) {
    sn_cli_args a;
    int rc = sn_cli_parse(&sn_cmd_eval, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    const sn_cli_cmd *c = &sn_cmd_eval;
    if (a.n_pos != 1) return sn_cli_usage_error(c, "expected one GRAPH.json");
    if (!sn_cli_get(&a, "data"))
        return sn_cli_usage_error(c, "--data SPEC is required");
    const char *wpath = sn_cli_get(&a, "weights");
    if (!wpath) return sn_cli_usage_error(c, "--weights W.bin is required");
    sn_split split = SN_SPLIT_TEST;
    const char *v;
    if ((v = sn_cli_get(&a, "split"))) {
        if (!strcmp(v, "test")) split = SN_SPLIT_TEST;
        else if (!strcmp(v, "val")) split = SN_SPLIT_VAL;
        else if (!strcmp(v, "train")) split = SN_SPLIT_TRAIN;
        else return sn_cli_usage_error(c, "--split takes test, val or train");
    }
    long batch = EVAL_BATCH;
    if ((v = sn_cli_get(&a, "batch")) &&
        parse_int(c, "batch", v, 1, 65536, &batch))
        return 2;
    sn_data_opts dopt;
    if ((rc = data_opts(&a, &dopt))) return rc;
    sn_error e;
    sn_graph *g = sn_graph_load(a.pos[0], &e);
    if (!g) {
        fprintf(stderr, "slimnas eval: %s\n", e.msg);
        return 1;
    }
    int status = 1;
    sn_data *d = NULL;
    sn_weights *w = sn_weights_load(g, wpath, &e);
    if (!w) {
        fprintf(stderr, "slimnas eval: %s\n", e.msg);
        goto out;
    }
    d = open_data(&a, &dopt);
    if (!d) goto out;
    const sn_model_info *mi = sn_model_info_pick(g, w);
    if (!mi) {
        fprintf(stderr, "slimnas eval: the normalisation is unknown (%s "
                "predates it); using %s's mean/std\n", wpath,
                sn_data_name(d));
    } else if (mi->c == g->input.c) {
        sn_data_set_norm(d, mi->mean, mi->std);
    }
    sn_eval_result r;
    if (sn_evaluate(g, w, d, split, (int)batch, NULL, &r, &e) != 0) {
        fprintf(stderr, "slimnas eval: %s\n", e.msg);
        goto out;
    }
    int k = r.classes;
    if (sn_cli_flag(&a, "json")) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "split", sn_split_name(split));
        cJSON_AddNumberToObject(j, "n", (double)r.n);
        cJSON_AddNumberToObject(j, "loss", r.loss);
        cJSON_AddNumberToObject(j, "accuracy", r.acc);
        cJSON *names = cJSON_AddArrayToObject(j, "class_names");
        for (int i = 0; i < k; i++)
            cJSON_AddItemToArray(names,
                                 cJSON_CreateString(sn_data_class_name(d, i)));
        cJSON *pc = cJSON_AddArrayToObject(j, "class_accuracy");
        cJSON *cm = cJSON_AddArrayToObject(j, "confusion");
        for (int i = 0; i < k; i++) {
            cJSON_AddItemToArray(pc, cJSON_CreateNumber(r.class_acc[i]));
            cJSON *row = cJSON_CreateArray();
            for (int jj = 0; jj < k; jj++)
                cJSON_AddItemToArray(
                    row, cJSON_CreateNumber((double)r.confusion[i * k + jj]));
            cJSON_AddItemToArray(cm, row);
        }
        char *s = cJSON_Print(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("%s split: %lld images, accuracy %.2f%%, loss %.4f\n\n",
               sn_split_name(split), (long long)r.n, 100 * r.acc, r.loss);
        printf("confusion matrix (rows: true class, columns: predicted)\n");
        printf("%-14s", "");
        for (int jj = 0; jj < k; jj++) printf("%6d", jj);
        printf("   acc\n");
        for (int i = 0; i < k; i++) {
            char name[15];
            snprintf(name, sizeof name, "%d %s", i, sn_data_class_name(d, i));
            printf("%-14s", name);
            for (int jj = 0; jj < k; jj++)
                printf("%6lld", (long long)r.confusion[i * k + jj]);
            if (r.class_acc[i] >= 0) printf("  %5.1f%%\n", 100 * r.class_acc[i]);
            else printf("     -\n");
        }
    }
    sn_eval_result_free(&r);
    status = 0;
out:
    if (d) sn_data_free(d);
    if (w) sn_weights_free(w);
    sn_graph_free(g);
    sn_threads_shutdown();
    return status;
}
