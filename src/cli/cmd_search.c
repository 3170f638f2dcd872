/* cmd_search.c — `slimnas search`, `show`, `resume` and `fork`.
 *
 * search, resume and fork run the engine (include/slimnas/engine.h) and
 * print from its snapshots, exactly as the explorer would read them: one
 * line per finished candidate, then the front. show reads a run
 * directory without touching it. */
#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slimnas/cli.h"
#include "slimnas/engine.h"
#include "slimnas/export.h"
#include "slimnas/report.h"
#include "slimnas/tui.h"

/* --headless is accepted and hidden: search, resume and fork never open
 * the explorer (that is `slimnas ui`); old scripts still pass it. */
#define RUN_OPTS                                                               \
    {"headless", 0, NULL, NULL},                                               \
    {"json", 0, NULL, "print JSON lines instead of tables"},                   \
    {"export-front", 0, "DIR", "at the end, export every front member to DIR "  \
                               "(with front.json)"},                           \
    {"export-format", 0, "FMT,...", "formats for --export-front: onnx, c, "      \
                                   "c-int8 (onnx)"},                           \
    {"threads", 'j', "T", "worker threads"}

#define MPI_OPTS                                                               \
    {"mpi", 0, NULL, "train candidates on MPI worker ranks (under mpirun)"},  \
    {"mpi-timeout", 0, "TIME", "a worker silent this long on one candidate " \
                               "is lost (none)"}

/* The options of search, resume and fork: their own, then one per
 * settings key the table (search.h's sn_setting_keys) gives the command
 * (SN_SETCLI_ALL, and SN_SETCLI_SEARCH for search), then --rates and the
 * run options. Built once, before the first parse. */
static sn_cli_opt search_opts[64], resume_opts[64], fork_opts[64];

static const sn_cli_opt rates_opt = {"rates", 0, "OP=W,...",
                                     "operator rates, e.g. prune=2,remove=0"};
static const sn_cli_opt run_opts[] = {RUN_OPTS, {0}};
static const sn_cli_opt mpi_opts[] = {MPI_OPTS, {0}};

static int add_opts(sn_cli_opt *o, int n, const sn_cli_opt *more) {
    for (; more->name; more++) o[n++] = *more;
    return n;
}

static int add_setting_opts(sn_cli_opt *o, int n, int search) {
    for (const sn_setting_info *k = sn_setting_keys; k->key; k++)
        if (k->cli == SN_SETCLI_ALL || (search && k->cli == SN_SETCLI_SEARCH))
            o[n++] = (sn_cli_opt){k->key, k->short_name, k->arg, k->help};
    o[n++] = rates_opt;
    return n;
}

static void build_opts(void) {
    static int built;
    if (built) return;
    built = 1;
    static const sn_cli_opt search_head[] = {
        {"data", 'd', "SPEC", "dataset: fashion-mnist, cifar10, folder:DIR, "
                              "..."},
        {"input", 0, "HxWxC", "convert images to this size (folder:, npy:)"},
        {"fit", 0, "crop|pad|stretch", "how other aspect ratios fit (crop)"},
        {"strict", 0, NULL, "refuse non-image files in a folder"},
        {"run", 'r', "DIR", "run directory (default runs/search-DATE-TIME)"},
        {"config", 'c', "FILE", "settings from a JSON file (options "
                                "override)"},
        {0}};
    static const sn_cli_opt resume_head[] = {
        {"data", 'd', "SPEC", "the run's dataset where it is now (same image "
                              "shape and classes)"},
        {0}};
    static const sn_cli_opt fork_head[] = {
        {"run", 'r', "DIR", "the new run directory (required)"},
        {"data", 'd', "SPEC", "dataset of the new run (same image shape and "
                              "classes as the candidate)"},
        {0}};
    int n = add_opts(search_opts, 0, search_head);
    n = add_setting_opts(search_opts, n, 1);
    n = add_opts(search_opts, n, run_opts);
    add_opts(search_opts, n, mpi_opts);
    n = add_opts(resume_opts, 0, resume_head);
    n = add_setting_opts(resume_opts, n, 0);
    n = add_opts(resume_opts, n, run_opts);
    add_opts(resume_opts, n, mpi_opts);
    n = add_opts(fork_opts, 0, fork_head);
    n = add_setting_opts(fork_opts, n, 0);
    add_opts(fork_opts, n, run_opts);
}

static const sn_cli_opt show_opts[] = {
    {"front", 0, NULL, "the Pareto front only"},
    {"tree", 0, NULL, "the search tree as indented text"},
    {"candidate", 0, "N", "one candidate: lineage and per-layer table"},
    {"json", 0, NULL, "machine-readable output"},
    {"csv", 0, NULL, "one CSV row per candidate (id,parent,ops,params,...)"},
    {0}};

static int cmd_search(int argc, char **argv);
static int cmd_resume(int argc, char **argv);
static int cmd_fork(int argc, char **argv);
static int cmd_show(int argc, char **argv);

/* resume and fork: settings not given keep the run's values, so only
 * --threads has a default to show. */
static void run_default(const char *opt, char *buf, size_t n) {
    snprintf(buf, n, "%s", strcmp(opt, "threads") ? "" : "all cores");
}

static void search_default(const char *opt, char *buf, size_t n) {
    sn_cli_setting_default(opt, buf, n);
    if (!buf[0]) run_default(opt, buf, n);
}

const sn_cli_cmd sn_cmd_search = {
    "search", "search for small accurate networks (Pareto front)",
    "slimnas search --data SPEC [--run runs/NAME] [--objective params] "
    "[--max-params 20k]\n                      [--strategy bo|evolution|random] "
    "[--budget 30m] [--json]",
    "Grows a tree of candidates from the base networks by network "
    "morphisms, trains\neach for a few epochs with inherited weights, and "
    "keeps the Pareto front of\nvalidation accuracy against size. Limits "
    "are checked before training. The run\ndirectory is durable: "
    "'slimnas resume DIR' continues a stopped or killed run.\nThe "
    "hypervolume's reference point is (--hv-accuracy, default chance; size "
    "=\n10 x the limit, or 100 x the largest root without one), sizes on a "
    "log scale\nover three decades below it (see 'slimnas show'). Ctrl-C "
    "stops after dropping\nthe candidate in training.\n"
    "search always runs headless, one line per finished candidate (the "
    "explorer is\n'slimnas ui --data SPEC ...'); --headless is still "
    "accepted and changes nothing.",
    search_opts, cmd_search, search_default};

const sn_cli_cmd sn_cmd_resume = {
    "resume", "continue a stopped or interrupted search",
    "slimnas resume runs/NAME [--budget 1h] [--final N] [--final-at 10k] "
    "[--max-params ...]\n                      [--data SPEC] [--json]",
    "Live settings given here (limits, objective, strategy, budget, epochs, "
    "final, rates,\n...) replace the run's before it continues and are "
    "saved with it (options not\ngiven keep the run's values); a finished "
    "run given more budget or more --final\nmembers goes on. --data "
    "points a run at its dataset after the files moved; it\nmust have the "
    "same image shape and number of classes. Runs headless.",
    resume_opts, cmd_resume, run_default};

const sn_cli_cmd sn_cmd_fork = {
    "fork", "start a new search rooted at a candidate of another run",
    "slimnas fork runs/NAME CANDIDATE --run runs/NEW [--max-params ...] "
    "[--strategy ...]\n                      [--budget ...] [--data SPEC]",
    "The new run starts from the candidate's graph and trained weights, "
    "with the\nparent run's settings plus the options given (options not "
    "given keep the\nparent's values), and records its origin. Runs "
    "headless.",
    fork_opts, cmd_fork, run_default};

const sn_cli_cmd sn_cmd_show = {
    "show", "print a run: summary, front, tree or one candidate",
    "slimnas show runs/NAME [--front | --tree | --candidate N] [--json | "
    "--csv]",
    NULL, show_opts, cmd_show, NULL};

/* ---- settings from options ------------------------------------------------ */

/* Hands each setting option (KEY VALUE, --rates split into rate.OP W) to
 * set(ctx, key, value, e); a refusal is a usage error naming the option. */
typedef int (*setting_fn)(void *ctx, const char *key, const char *value,
                          sn_error *e);

static int each_setting_opt(const sn_cli_args *a, setting_fn set, void *ctx) {
    sn_error e;
    for (const sn_setting_info *k = sn_setting_keys; k->key; k++) {
        if (k->cli != SN_SETCLI_ALL) continue; /* search's own: cmd_search */
        const char *v = sn_cli_get(a, k->key);
        if (v && set(ctx, k->key, v, &e))
            return sn_cli_usage_error(a->cmd, "--%s", e.msg);
    }
    const char *r = sn_cli_get(a, "rates");
    if (r) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", r);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
             t = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(t, '=');
            if (!eq)
                return sn_cli_usage_error(a->cmd, "--rates takes OP=W,..., "
                                                  "got '%s'", t);
            *eq = 0;
            char key[96];
            snprintf(key, sizeof key, "rate.%s", t);
            if (set(ctx, key, eq + 1, &e))
                return sn_cli_usage_error(a->cmd, "--rates: %s", e.msg);
        }
    }
    return 0;
}

static int set_in_settings(void *ctx, const char *key, const char *value,
                           sn_error *e) {
    return sn_settings_set(ctx, key, value, e);
}

static int apply_setting_opts(const sn_cli_args *a, sn_search_settings *s) {
    sn_error e;
    int rc = each_setting_opt(a, set_in_settings, s);
    if (rc) return rc;
    if (sn_settings_check(s, &e))
        return sn_cli_usage_error(a->cmd, "%s", e.msg);
    return 0;
}


/* ---- printing ------------------------------------------------------------- */

static void print_json(cJSON *j, int pretty) {
    char *s = pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
    printf("%s\n", s);
    free(s);
    fflush(stdout);
}

/* The budget and limits of a run in one line (the first line of search,
 * fork and resume). */
static const char *describe_limits(char *b, size_t n,
                                   const sn_search_settings *st) {
    char x[64], y[64];
    size_t l;
    char obj[64];
    sn_settings_get(st, "objective", obj, sizeof obj);
    snprintf(b, n, "strategy %s, objective %s; budget %s",
             sn_strategy_name(st->strategy), obj,
             st->budget > 0 ? sn_fmt_duration(x, sizeof x, st->budget) : "none");
    if (st->max_candidates > 0) {
        l = strlen(b);
        snprintf(b + l, n - l, ", at most %s", sn_cli_plural(x, sizeof x,
                 st->max_candidates, "candidate"));
    }
    l = strlen(b);
    if (!st->max_params && !st->max_flops && !st->max_memory) {
        snprintf(b + l, n - l, "; no hard limits");
    } else {
        snprintf(b + l, n - l, "; limits:");
        const char *sep = " ";
        if (st->max_params) {
            l = strlen(b);
            snprintf(b + l, n - l, "%s%s params", sep,
                     sn_fmt_int(x, sizeof x, st->max_params));
            sep = ", ";
        }
        if (st->max_flops) {
            l = strlen(b);
            snprintf(b + l, n - l, "%s%s MACs", sep,
                     sn_fmt_int(x, sizeof x, st->max_flops));
            sep = ", ";
        }
        if (st->max_memory) {
            l = strlen(b);
            snprintf(b + l, n - l, "%s%s bytes of activations", sep,
                     sn_fmt_int(x, sizeof x, st->max_memory));
        }
    }
    l = strlen(b);
    if (st->max_train > 0) sn_fmt_int(y, sizeof y, st->max_train);
    snprintf(b + l, n - l, "; children %s on %s images",
             sn_cli_plural(x, sizeof x, st->epochs, "epoch"),
             st->max_train > 0 ? y : "all");
    if (st->final_n > 0 || st->n_final_at > 0) {
        l = strlen(b);
        snprintf(b + l, n - l, "; final: %d member%s", st->final_n,
                 st->final_n == 1 ? "" : "s");
        if (st->n_final_at) {
            sn_settings_get(st, "final-at", y, sizeof y);
            l = strlen(b);
            snprintf(b + l, n - l, " + one at or under each of %s", y);
        }
        l = strlen(b);
        snprintf(b + l, n - l, ", %s each",
                 sn_cli_plural(x, sizeof x, st->final_epochs, "epoch"));
        if (st->final_augment_epochs > 0 &&
            st->final_augment_epochs != st->final_epochs) {
            l = strlen(b);
            snprintf(b + l, n - l, " (%s with crop+flip)",
                     sn_cli_plural(x, sizeof x, st->final_augment_epochs,
                                   "epoch"));
        }
        if (st->final_augment_from) {
            sn_settings_get(st, "final-augment", y, sizeof y);
            l = strlen(b);
            snprintf(b + l, n - l, ", crop+flip %s%s",
                     st->final_augment_from > 1 ? "from " : "", y);
        }
    }
    return b;
}

static void print_record(const sn_snapshot *s, int id, int json) {
    if (json) {
        cJSON *j = sn_cand_to_json(&s->cands[id]);
        cJSON_AddNumberToObject(j, "front_size", s->n_front);
        cJSON_AddNumberToObject(j, "run_hypervolume", s->hypervolume);
        cJSON_ReplaceItemInObject(j, "elapsed", cJSON_CreateNumber(s->elapsed));
        if (s->settings.budget > 0) {
            double r = s->settings.budget - s->elapsed;
            cJSON_AddNumberToObject(j, "left", r > 0 ? r : 0);
        }
        print_json(j, 0);
        cJSON_Delete(j);
        return;
    }
    char line[512];
    printf("%s\n", sn_snapshot_record_line(s, id, line, sizeof line));
    fflush(stdout);
}

/* One line on what a run already holds (resume). */
static void print_summary(const sn_snapshot *s, const sn_search_settings *st,
                          FILE *f) {
    int done = 0, inf = 0;
    for (int i = 0; i < s->n_records; i++) {
        done += s->cands[i].status == SN_CAND_DONE;
        inf += s->cands[i].status == SN_CAND_INFEASIBLE;
    }
    char a[32], b[32], left[64];
    double best = -1;
    for (int i = 0; i < s->n_front; i++)
        if (s->cands[s->front[i]].val_acc > best)
            best = s->cands[s->front[i]].val_acc;
    fprintf(f, "slimnas: %s holds %s (%d trained, %d infeasible), front %d, "
               "hv %.4f",
            s->dir, sn_cli_plural(a, sizeof a, s->n_records, "candidate"),
            done, inf, s->n_front, s->hypervolume);
    if (best >= 0) fprintf(f, ", best val %.2f%%", 100 * best);
    fprintf(f, "; %s of search spent, %s\n", sn_fmt_duration(b, sizeof b, s->elapsed),
            sn_run_left(left, sizeof left, st, s->elapsed, s->n_records));
}

static void print_front_table(const sn_cand_info *cands, const int *front,
                              int n_front, double hv, FILE *f) {
    char nm[32];
    fprintf(f, "\nPareto front (%s, hypervolume %.4f):\n",
            sn_cli_plural(nm, sizeof nm, n_front, "member"), hv);
    fprintf(f, "%6s %10s %10s %10s %8s %3s %8s  %s\n", "id", "params", "MACs",
            "memory", "val", "fid", "test", "operation");
    for (int i = 0; i < n_front; i++) {
        const sn_cand_info *c = &cands[front[i]];
        char p[32], fl[32], m[32], t[16];
        sn_fmt_int(p, sizeof p, c->params);
        sn_fmt_si(fl, sizeof fl, (double)c->flops);
        sn_fmt_si(m, sizeof m, (double)c->memory);
        if (c->test_acc >= 0) snprintf(t, sizeof t, "%6.2f%%", 100 * c->test_acc);
        else snprintf(t, sizeof t, "%7s", "-");
        fprintf(f, "%6d %10s %10s %9sB %7.2f%% %3d %8s  %s\n", c->id, p, fl, m,
                100 * c->val_acc, c->fidelity, t, c->op);
    }
}

static cJSON *run_json(const char *dir, const sn_search_settings *st,
                       const sn_cand_info *cands, int n, const int *front,
                       int n_front, double hv, double elapsed) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "run", dir);
    cJSON *arr = cJSON_AddArrayToObject(j, "candidates");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, sn_cand_to_json(&cands[i]));
    cJSON *fr = cJSON_AddArrayToObject(j, "front");
    for (int i = 0; i < n_front; i++)
        cJSON_AddItemToArray(fr, cJSON_CreateNumber(front[i]));
    cJSON_AddNumberToObject(j, "hypervolume", hv);
    cJSON *ref = cJSON_AddObjectToObject(j, "hv_reference");
    cJSON_AddNumberToObject(ref, "accuracy",
                            st->hv_ref_acc > 0 ? st->hv_ref_acc : 0);
    for (int k = 0; k < st->n_obj; k++)
        cJSON_AddNumberToObject(ref, sn_objective_name(st->obj[k]),
                                st->hv_ref[st->obj[k]]);
    char obj[64];
    sn_settings_get(st, "objective", obj, sizeof obj);
    cJSON_AddStringToObject(j, "objective", obj);
    cJSON_AddStringToObject(j, "strategy", sn_strategy_name(st->strategy));
    cJSON_AddNumberToObject(j, "elapsed", elapsed);
    if (st->origin_run[0]) {
        cJSON *o = cJSON_AddObjectToObject(j, "origin");
        cJSON_AddStringToObject(o, "run", st->origin_run);
        cJSON_AddNumberToObject(o, "cand", st->origin_cand);
    }
    return j;
}

/* ---- running ------------------------------------------------------------------ */

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted++;
}

/* What follow() has said about the --final retraining. */
typedef struct final_seen {
    int id, k, n;        /* member in retraining (-1 none), its k of n */
    int epoch;           /* its last epoch seen in progress */
    double loss;         /* running loss last seen in that epoch */
    unsigned char *told; /* per candidate: its test accuracy was printed */
    int n_told;
} final_seen;

/* Per-member lines of the final retraining: its start, every finished
 * epoch (without a terminal, where no bar shows it), its test result. */
static void follow_final(const sn_snapshot *s, final_seen *fs, int tty,
                         int json) {
    if (fs->n_told < s->n_cands) {
        fs->told = sn_xrealloc(fs->told, (size_t)s->n_cands);
        memset(fs->told + fs->n_told, 0, (size_t)(s->n_cands - fs->n_told));
        fs->n_told = s->n_cands;
    }
    /* results first: a member that finished since the last look */
    for (int i = 0; i < s->n_records; i++) {
        const sn_cand_info *c = &s->cands[i];
        if (c->test_acc < 0 || fs->told[i]) continue;
        fs->told[i] = 1;
        if (i != fs->id) continue; /* retrained before this process */
        if (tty) fprintf(stderr, "\r\033[K");
        if (json) {
            cJSON *j = sn_cand_to_json(c);
            cJSON_AddStringToObject(j, "event", "final");
            print_json(j, 0);
            cJSON_Delete(j);
        } else {
            char p[32];
            printf("final %d/%d: #%d  %s params  test %.2f%%  (val %.2f%% "
                   "after the final training)\n",
                   fs->k + 1, fs->n, i, sn_fmt_int(p, sizeof p, c->params),
                   100 * c->test_acc,
                   100 * (c->final_val_acc >= 0 ? c->final_val_acc
                                                : c->val_acc));
            fflush(stdout);
        }
        fs->id = -1;
    }
    if (json || !s->final_n || s->current < 0) return;
    const sn_progress *g = &s->progress;
    if (s->current != fs->id) {
        fs->id = s->current;
        fs->k = s->final_k;
        fs->n = s->final_n;
        fs->epoch = -1;
        if (tty) fprintf(stderr, "\r\033[K");
        char p[32], ep[32];
        fprintf(stderr, "final %d/%d: retraining #%d (%s params) for %s on "
                        "the full training set\n",
                fs->k + 1, fs->n, fs->id,
                sn_fmt_int(p, sizeof p,
                           fs->id < s->n_cands ? s->cands[fs->id].params : 0),
                sn_cli_plural(ep, sizeof ep,
                              g->epochs > 0 ? g->epochs
                                            : s->settings.final_epochs,
                              "epoch"));
    }
    if (g->epochs <= 0) return;
    int finished = g->batch >= g->batches && g->batches > 0 ? g->epoch
                                                            : g->epoch - 1;
    if (finished > fs->epoch && !tty) {
        double loss = g->batch >= g->batches ? g->loss : fs->loss;
        fprintf(stderr, "final %d/%d #%d: epoch %d/%d done, loss %.3f, "
                        "%.0f img/s\n",
                fs->k + 1, fs->n, fs->id, finished + 1, g->epochs, loss,
                g->img_s);
    }
    if (finished > fs->epoch) fs->epoch = finished;
    fs->loss = g->loss;
}

/* --export-front DIR and --export-format: what follow exports at the end. */
static const char *export_dir;
static unsigned export_formats;

static int export_front_opts(const sn_cli_args *a) {
    export_dir = sn_cli_get(a, "export-front");
    const char *v = sn_cli_get(a, "export-format");
    if (v && !export_dir)
        return sn_cli_usage_error(a->cmd, "--export-format goes with "
                                  "--export-front DIR");
    export_formats = 1u << SN_EXPORT_ONNX;
    sn_error e;
    if (v && sn_export_formats_parse(v, &export_formats, &e) != 0)
        return sn_cli_usage_error(a->cmd, "--export-format: %s", e.msg);
    return 0;
}

/* Exports the final front of snapshot s; 0 or 1. */
static int export_front(const sn_snapshot *s) {
    sn_error e;
    if (sn_export_front(s->dir, s->cands, s->front, s->n_front,
                        export_formats, &s->settings, export_dir, stderr,
                        &e) != 0) {
        fprintf(stderr, "slimnas: --export-front: %s\n", e.msg);
        return 1;
    }
    return 0;
}

/* Follows search h until it is over, printing records as they finish,
 * from record `printed` on (resume skips what was there). */
static int follow(sn_engine *en, int h, int json, int printed) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int stopping = 0;
    uint64_t log_seq = 0;
    int tty = isatty(2) && !json;
    /* under mpirun only stdout is a terminal: the workers' line goes there */
    int tty_out = isatty(1) && !json, shown = 0;
    double last_bar = 0;
    int rc = 0;
    final_seen fs = {.id = -1};
    for (;;) {
        struct pollfd p = {sn_engine_fd(en), POLLIN, 0};
        int pr = poll(&p, 1, 250);
        if (pr < 0 && errno != EINTR) break;
        if (interrupted && !stopping) {
            stopping = 1;
            fprintf(stderr, "\nslimnas: stopping (the candidate in training "
                            "is dropped)...\n");
            sn_engine_stop(en, h, NULL);
        }
        sn_engine_drain(en);
        const sn_snapshot *s = sn_engine_snapshot(en, h);
        /* warnings and errors from the engine's log go to stderr */
        for (int i = 0; i < s->n_log; i++) {
            const sn_log_line *l = &s->log[i];
            if (l->seq <= log_seq) continue;
            log_seq = l->seq;
            if (l->level != SN_LOG_INFO) {
                if (tty) fprintf(stderr, "\r\033[K");
                fprintf(stderr, "%s%s\n",
                        l->level == SN_LOG_ERROR ? "error: " : "warning: ",
                        l->text);
            }
        }
        if (printed < s->n_records && tty) fprintf(stderr, "\r\033[K");
        if (shown && (printed < s->n_records || sn_run_state_over(s->state))) {
            printf("\r\033[K");
            shown = 0;
        }
        for (; printed < s->n_records; printed++) print_record(s, printed, json);
        follow_final(s, &fs, tty, json);
        if (tty_out && s->n_workers > 0 && s->current < 0 && !s->final_n &&
            !sn_run_state_over(s->state) && sn_now() - last_bar > 0.5) {
            /* MPI: what every worker trains, on a status line */
            char st[512];
            last_bar = sn_now();
            sn_tui_status(s, 0, 1, 150, st, sizeof st);
            printf("\r\033[K%s", st);
            fflush(stdout);
            shown = 1;
        }
        if (tty && s->current >= 0 && sn_now() - last_bar > 0.2) {
            const sn_progress *g = &s->progress;
            char el[32], left[64];
            last_bar = sn_now();
            if (s->final_n)
                fprintf(stderr, "\r\033[Kfinal %d/%d #%d: epoch %d/%d batch "
                                "%d/%d loss %.3f",
                        s->final_k + 1, s->final_n, s->current, g->epoch + 1,
                        g->epochs, g->batch, g->batches, g->loss);
            else
                fprintf(stderr, "\r\033[K#%d training: epoch %d/%d batch "
                                "%d/%d loss %.3f %.0f img/s  [%s, %s]",
                        s->current, g->epoch + 1, g->epochs, g->batch,
                        g->batches, g->loss, g->img_s,
                        sn_fmt_duration(el, sizeof el, s->elapsed),
                        sn_run_left(left, sizeof left, &s->settings, s->elapsed,
                                 s->n_records));
        }
        int over = sn_run_state_over(s->state);
        if (over) {
            if (tty) fprintf(stderr, "\r\033[K");
            if (json) {
                cJSON *j = run_json(s->dir, &s->settings, s->cands,
                                    s->n_records, s->front, s->n_front,
                                    s->hypervolume, s->elapsed);
                cJSON_AddStringToObject(j, "state", sn_run_state_name(s->state));
                print_json(j, 0);
                cJSON_Delete(j);
            } else {
                char nc[48], el[32];
                print_front_table(s->cands, s->front, s->n_front,
                                  s->hypervolume, stdout);
                printf("\n%s: %s after %s, %s of search\n", s->dir,
                       sn_run_state_name(s->state),
                       sn_cli_plural(nc, sizeof nc, s->n_records, "candidate"),
                       sn_fmt_duration(el, sizeof el, s->elapsed));
                if (s->n_workers > 0 && s->controller_jobs > 0)
                    printf("%d MPI workers; the controller spent %.1f ms "
                           "per candidate (proposing, sending, recording)\n",
                           s->n_workers,
                           1e3 * s->controller_seconds / s->controller_jobs);
            }
            if (s->state != SN_RUN_FAILED && export_dir)
                rc = export_front(s);
            if (s->state == SN_RUN_FAILED) {
                fprintf(stderr, "slimnas: %s\n", s->message);
                rc = 1;
            } else if (s->state == SN_RUN_STOPPED) {
                fprintf(stderr, "slimnas: stopped; continue with 'slimnas "
                                "resume %s'\n", s->dir);
            }
            sn_snapshot_release(s);
            break;
        }
        sn_snapshot_release(s);
    }
    free(fs.told);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return rc;
}

static int run_engine(sn_engine *en, int h, int json, int printed) {
    int rc = follow(en, h, json, printed);
    sn_engine_free(en);
    sn_threads_shutdown();
    return rc;
}

static int cmd_search(int argc, char **argv) {
    sn_cli_args a;
    const sn_cli_cmd *c = &sn_cmd_search;
    build_opts();
    int rc = sn_cli_parse(c, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.n_pos) return sn_cli_usage_error(c, "unexpected '%s'", a.pos[0]);
    if (sn_cli_mpi_begin(&a, &rc)) return rc;
    sn_search_settings s = sn_settings_default();
    sn_error e;
    const char *v;
    if ((v = sn_cli_get(&a, "config")) && sn_settings_load(&s, v, &e)) {
        fprintf(stderr, "slimnas search: %s\n", e.msg);
        return 1;
    }
    for (const sn_setting_info *k = sn_setting_keys; k->key; k++)
        if ((k->cli == SN_SETCLI_SEARCH || !strcmp(k->key, "data")) &&
            (v = sn_cli_get(&a, k->key)) && sn_settings_set(&s, k->key, v, &e))
            return sn_cli_usage_error(c, "--%s", e.msg);
    if ((rc = apply_setting_opts(&a, &s))) return rc;
    if (sn_cli_get(&a, "input") || sn_cli_get(&a, "fit") ||
        sn_cli_flag(&a, "strict")) { /* stored in the spec */
        char spec[sizeof s.data];
        if (sn_data_spec_with(s.data, sn_cli_get(&a, "input"),
                              sn_cli_get(&a, "fit"), sn_cli_flag(&a, "strict"),
                              spec, sizeof spec, &e) != 0)
            return sn_cli_usage_error(c, "%s", e.msg);
        memcpy(s.data, spec, sizeof spec);
    }
    char dir[SN_SEARCH_PATH_LEN];
    if ((v = sn_cli_get(&a, "run"))) {
        snprintf(dir, sizeof dir, "%s", v);
    } else {
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(dir, sizeof dir, "runs/search-%Y%m%d-%H%M%S", &tm);
    }
    if ((rc = export_front_opts(&a)) || (rc = sn_cli_threads(&a))) return rc;
    int json = sn_cli_flag(&a, "json");
    sn_engine *en = sn_engine_new();
    /* bad data: one line, before a run directory exists; the engine keeps
     * the opened data for the search (it is read once) */
    char summary[4096] = ""; /* printed after the first line */
    if (sn_engine_load_data(en, &s, NULL, json ? NULL : summary,
                            sizeof summary, &e)) {
        fprintf(stderr, "slimnas search: %s\n", e.msg);
        sn_engine_free(en);
        sn_threads_shutdown();
        return 1;
    }
    if (sn_cli_mpi_attach(en, &s, &a)) {
        sn_engine_free(en);
        sn_threads_shutdown();
        return 1;
    }
    int h = sn_engine_start(en, dir, &s, 0, &e);
    if (h < 0) {
        fprintf(stderr, "slimnas search: %s\n", e.msg);
        sn_engine_free(en);
        sn_threads_shutdown();
        return 1;
    }
    if (!json) {
        char lim[512];
        fprintf(stderr, "slimnas: search in %s on %s: %s\n", dir, s.data,
                describe_limits(lim, sizeof lim, &s));
        fputs(summary, stderr);
    }
    return run_engine(en, h, json, 0);
}

/* resume's setting options go through the engine like the explorer's
 * `:set`: live settings only (limits, budget, strategy, final, ...), each
 * checked against the run's own settings and saved with them. */
typedef struct engine_target {
    sn_engine *en;
    int h;
} engine_target;

static int set_in_engine(void *ctx, const char *key, const char *value,
                         sn_error *e) {
    const engine_target *t = ctx;
    return sn_engine_set(t->en, t->h, key, value, e);
}

static int cmd_resume(int argc, char **argv) {
    sn_cli_args a;
    const sn_cli_cmd *c = &sn_cmd_resume;
    build_opts();
    int rc = sn_cli_parse(c, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.n_pos != 1) return sn_cli_usage_error(c, "expected one run directory");
    if ((rc = export_front_opts(&a))) return rc;
    if (sn_cli_mpi_begin(&a, &rc)) return rc;
    sn_error e;
    const char *data = sn_cli_get(&a, "data");
    if (data && sn_data_spec_check(data, &e))
        return sn_cli_usage_error(c, "--data: %s", e.msg);
    if ((rc = sn_cli_threads(&a))) return rc;
    sn_engine *en = sn_engine_new();
    if (sn_cli_flag(&a, "mpi")) {
        /* the workers need the settings the run will go on with */
        sn_search *old = sn_search_load(a.pos[0], &e);
        if (!old) {
            fprintf(stderr, "slimnas resume: %s\n", e.msg);
            sn_engine_free(en);
            return 1;
        }
        sn_search_settings st = *sn_search_settings_get(old);
        sn_search_free(old);
        if (data) snprintf(st.data, sizeof st.data, "%s", data); /* moved */
        if ((rc = each_setting_opt(&a, set_in_settings, &st)) ||
            (rc = sn_cli_mpi_attach(en, &st, &a))) {
            sn_engine_free(en);
            sn_threads_shutdown();
            return rc;
        }
    }
    /* opened paused, so new settings are in place before anything runs */
    int h = sn_engine_open_data(en, a.pos[0], data, 1, &e);
    engine_target tgt = {en, h};
    if (h >= 0 && (rc = each_setting_opt(&a, set_in_engine, &tgt))) {
        sn_engine_free(en);
        sn_threads_shutdown();
        return rc;
    }
    if (h >= 0 && sn_engine_resume(en, h, &e)) h = -1;
    if (h < 0) {
        fprintf(stderr, "slimnas resume: %s\n", e.msg);
        sn_engine_free(en);
        sn_threads_shutdown();
        return 1;
    }
    int json = sn_cli_flag(&a, "json");
    const sn_snapshot *s = sn_engine_snapshot(en, h);
    int had = s->n_records;
    if (!json) {
        /* the settings as they will be once the options given apply */
        sn_search_settings st = s->settings;
        char lim[512];
        each_setting_opt(&a, set_in_settings, &st);
        print_summary(s, &st, stderr);
        fprintf(stderr, "slimnas: resuming on %s: %s\n", st.data,
                describe_limits(lim, sizeof lim, &st));
    }
    sn_snapshot_release(s);
    return run_engine(en, h, json, had);
}

static int cmd_fork(int argc, char **argv) {
    sn_cli_args a;
    const sn_cli_cmd *c = &sn_cmd_fork;
    build_opts();
    int rc = sn_cli_parse(c, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.n_pos != 2)
        return sn_cli_usage_error(c, "expected runs/NAME and CANDIDATE");
    const char *dst = sn_cli_get(&a, "run");
    if (!dst) return sn_cli_usage_error(c, "--run runs/NEW is required");
    const char *idt = a.pos[1][0] == '#' ? a.pos[1] + 1 : a.pos[1];
    long id;
    if (sn_parse_long(idt, 0, LONG_MAX, &id))
        return sn_cli_usage_error(c, "CANDIDATE must be an id, got '%s'",
                                  a.pos[1]);
    sn_error e;
    sn_search *src = sn_search_load(a.pos[0], &e);
    if (!src) {
        fprintf(stderr, "slimnas fork: %s\n", e.msg);
        return 1;
    }
    sn_search_settings s = *sn_search_settings_get(src);
    /* the new run gets its own reference point and origin */
    for (int m = 0; m < SN_OBJ_COUNT; m++) s.hv_ref[m] = 0;
    const char *data = sn_cli_get(&a, "data");
    if ((data && sn_settings_set(&s, "data", data, &e) &&
         (rc = sn_cli_usage_error(c, "--%s", e.msg))) ||
        (rc = apply_setting_opts(&a, &s)) || (rc = export_front_opts(&a)) ||
        (rc = sn_cli_threads(&a))) {
        sn_search_free(src);
        return rc;
    }
    /* the data before the new directory: data that cannot be read or
     * does not fit the candidate leaves nothing behind */
    sn_engine *en = sn_engine_new();
    const sn_cand_info *ci = sn_search_cand(src, (int)id);
    int forkable = ci && ci->status == SN_CAND_DONE; /* else fork says why */
    if ((forkable &&
         sn_engine_load_data(en, &s, sn_search_graph(src, (int)id), NULL, 0,
                             &e)) ||
        sn_search_fork(a.pos[0], (int)id, dst, &s, &e)) {
        fprintf(stderr, "slimnas fork: %s\n", e.msg);
        sn_search_free(src);
        sn_engine_free(en);
        sn_threads_shutdown();
        return 1;
    }
    sn_search_free(src);
    int h = sn_engine_open(en, dst, 0, &e);
    if (h < 0) {
        fprintf(stderr, "slimnas fork: %s\n", e.msg);
        sn_engine_free(en);
        sn_threads_shutdown();
        return 1;
    }
    int json = sn_cli_flag(&a, "json");
    if (!json) {
        char lim[512];
        fprintf(stderr, "slimnas: forked %s#%ld into %s on %s: %s\n",
                a.pos[0], id, dst, s.data,
                describe_limits(lim, sizeof lim, &s));
    }
    return run_engine(en, h, json, 0);
}

/* ---- show -------------------------------------------------------------------- */

static void print_tree(const sn_search *se, int id, int depth,
                       int *const *kids, const int *n_kids) {
    const sn_cand_info *c = sn_search_cand(se, id);
    char p[32], acc[16];
    sn_fmt_int(p, sizeof p, c->params);
    if (c->status == SN_CAND_DONE) snprintf(acc, sizeof acc, "%.2f%%", 100 * c->val_acc);
    else snprintf(acc, sizeof acc, "%s", sn_cand_status_name(c->status));
    printf("%*s%s#%d %s  [%s params, %s]\n", 2 * depth, "",
           c->on_front ? "* " : "", id, c->op, p, acc);
    for (int k = 0; k < n_kids[id]; k++)
        print_tree(se, kids[id][k], depth + 1, kids, n_kids);
}

/* Candidate id with its subtree: {"id", ..., "children": [...]}. */
static cJSON *tree_json(const sn_cand_info *cands, int id, int *const *kids,
                        const int *n_kids) {
    cJSON *j = sn_cand_to_json(&cands[id]);
    cJSON *ch = cJSON_AddArrayToObject(j, "children");
    for (int k = 0; k < n_kids[id]; k++)
        cJSON_AddItemToArray(ch, tree_json(cands, kids[id][k], kids, n_kids));
    return j;
}

static int show_candidate(const sn_search *se, int id, int json) {
    const sn_cand_info *c = sn_search_cand(se, id);
    if (!c) {
        fprintf(stderr, "slimnas show: no candidate %d (ids 0..%d)\n", id,
                sn_search_count(se) - 1);
        return 1;
    }
    const sn_graph *g = sn_search_graph(se, id);
    if (!g) { /* a damaged candidate whose graph file does not load */
        fprintf(stderr, "slimnas show: candidate %d is damaged (%s); "
                        "'slimnas check' lists the problems\n", id,
                sn_search_damage(se, id) ? sn_search_damage(se, id) : "?");
        return 1;
    }
    sn_stats st;
    sn_stats_compute(g, SN_FLOPS_MACS, &st);
    /* the files that hold the network (what export and predict read) */
    char fg[SN_SEARCH_PATH_LEN + 64], fw[SN_SEARCH_PATH_LEN + 64],
        ff[SN_SEARCH_PATH_LEN + 64];
    snprintf(fg, sizeof fg, "%s/cand/%d.json", sn_search_dir(se), id);
    snprintf(fw, sizeof fw, "%s/cand/%d.bin", sn_search_dir(se), id);
    snprintf(ff, sizeof ff, "%s/cand/%d.final.bin", sn_search_dir(se), id);
    int has_w = access(fw, F_OK) == 0, has_f = access(ff, F_OK) == 0;
    if (json) {
        cJSON *j = sn_cand_to_json(c);
        cJSON *files = cJSON_AddObjectToObject(j, "files");
        cJSON_AddStringToObject(files, "graph", fg);
        if (has_w) cJSON_AddStringToObject(files, "weights", fw);
        if (has_f) cJSON_AddStringToObject(files, "final_weights", ff);
        cJSON *lin = cJSON_AddArrayToObject(j, "lineage");
        for (int x = id; x >= 0; x = sn_search_cand(se, x)->parent)
            cJSON_AddItemToArray(lin, cJSON_CreateNumber(x));
        cJSON *layers = cJSON_AddArrayToObject(j, "layers");
        for (int i = 0; i < g->n_nodes; i++) {
            cJSON *l = cJSON_CreateObject();
            cJSON_AddStringToObject(l, "name", g->nodes[i].name);
            cJSON_AddStringToObject(l, "op", sn_op_get(g->nodes[i].op)->name);
            cJSON_AddNumberToObject(l, "params", (double)st.layer[i].params);
            cJSON_AddNumberToObject(l, "flops", (double)st.layer[i].flops);
            cJSON_AddNumberToObject(l, "act_bytes", (double)st.layer[i].act_bytes);
            cJSON_AddItemToArray(layers, l);
        }
        print_json(j, 1);
        cJSON_Delete(j);
        sn_stats_free(&st);
        return 0;
    }
    char p[32], f[32], m[32];
    printf("candidate #%d: %s\n", id, sn_cand_status_name(c->status));
    printf("  operation   %s\n", c->op);
    if (c->morph[0]) printf("  morph       %s\n", c->morph);
    printf("  size        %s params, %s MACs, %s bytes peak activations\n",
           sn_fmt_int(p, sizeof p, c->params), sn_fmt_int(f, sizeof f, c->flops),
           sn_fmt_int(m, sizeof m, c->memory));
    if (c->val_acc >= 0)
        printf("  val acc     %.2f%% (fidelity %d: %s)\n", 100 * c->val_acc,
               c->fidelity, c->fidelity > 1 ? "promoted, trained longer"
                                            : "the cheap training");
    if (c->test_acc >= 0) printf("  test acc    %.2f%% (after --final)\n", 100 * c->test_acc);
    char ep[32];
    printf("  trained     %s in %.1f s\n",
           sn_cli_plural(ep, sizeof ep, c->epochs, "epoch"), c->seconds);
    printf("  graph       %s\n", fg);
    printf("  weights     %s\n", has_f ? ff : has_w ? fw
                                          : "none (never trained)");
    if (has_f && has_w) printf("              %s (search)\n", fw);
    if (g->info.known) {
        printf("  input       %dx%dx%d (HxWxC), pixels/255, mean",
               g->input.h, g->input.w, g->input.c);
        for (int k = 0; k < g->info.c; k++) printf(" %.4f", g->info.mean[k]);
        printf(", std");
        for (int k = 0; k < g->info.c; k++) printf(" %.4f", g->info.std[k]);
        if (g->info.dataset[0]) printf(" (%s)", g->info.dataset);
        printf("\n");
    }
    printf("  lineage    ");
    for (int x = id; x >= 0; x = sn_search_cand(se, x)->parent)
        printf(" #%d%s", x, sn_search_cand(se, x)->parent >= 0 ? " <-" : "");
    printf("\n\n%4s %-14s %-8s %-12s %10s %10s %10s\n", "#", "layer", "op",
           "output HxWxC", "params", "MACs", "act bytes");
    for (int i = 0; i < g->n_nodes; i++) {
        char shape[32];
        sn_shape_fmt(shape, sizeof shape, st.layer[i].out);
        printf("%4d %-14.14s %-8s %-12s %10lld %10lld %10lld\n", i,
               g->nodes[i].name, sn_op_get(g->nodes[i].op)->name, shape,
               (long long)st.layer[i].params, (long long)st.layer[i].flops,
               (long long)st.layer[i].act_bytes);
    }
    printf("total: %s params, %s MACs, peak %s bytes\n",
           sn_fmt_int(p, sizeof p, st.params), sn_fmt_int(f, sizeof f, st.flops),
           sn_fmt_int(m, sizeof m, st.peak_bytes));
    sn_stats_free(&st);
    return 0;
}

static int cmd_show(int argc, char **argv) {
    sn_cli_args a;
    const sn_cli_cmd *c = &sn_cmd_show;
    build_opts();
    int rc = sn_cli_parse(c, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.n_pos != 1) return sn_cli_usage_error(c, "expected one run directory");
    int json = sn_cli_flag(&a, "json");
    const char *cv = sn_cli_get(&a, "candidate");
    long cid = -1;
    if (cv) {
        const char *t = cv[0] == '#' ? cv + 1 : cv;
        if (sn_parse_long(t, 0, LONG_MAX, &cid))
            return sn_cli_usage_error(c, "--candidate needs an id");
    }
    if (sn_cli_flag(&a, "csv") &&
        (cv || json || sn_cli_flag(&a, "front") || sn_cli_flag(&a, "tree")))
        return sn_cli_usage_error(c, "--csv lists every candidate: not with "
                                     "--candidate, --json, --front or --tree");
    sn_error e;
    sn_search *se = sn_search_load(a.pos[0], &e);
    if (!se) {
        fprintf(stderr, "slimnas show: %s\n", e.msg);
        return 1;
    }
    if (cv) {
        rc = show_candidate(se, (int)cid, json);
        sn_search_free(se);
        return rc;
    }
    int n = sn_search_count(se);
    const int *front;
    int nf = sn_search_front(se, &front);
    sn_cand_info *cands = sn_xmalloc(((size_t)n + 1) * sizeof *cands);
    for (int i = 0; i < n; i++) cands[i] = *sn_search_cand(se, i);
    const sn_search_settings *st = sn_search_settings_get(se);
    int want_front = sn_cli_flag(&a, "front"), want_tree = sn_cli_flag(&a, "tree");
    if (want_front && want_tree)
        rc = sn_cli_usage_error(c, "--front and --tree: one at a time");
    else if (sn_cli_flag(&a, "csv")) {
        sn_report_csv_header(stdout, 0);
        sn_report_csv_rows(stdout, NULL, cands, n);
    } else if (json && want_front) {
        /* the front only: its members in full, smallest first */
        cJSON *j = run_json(a.pos[0], st, cands, 0, front, 0,
                            sn_search_hypervolume(se), sn_search_elapsed(se));
        cJSON_DeleteItemFromObjectCaseSensitive(j, "candidates");
        cJSON_DeleteItemFromObjectCaseSensitive(j, "front");
        cJSON *fr = cJSON_AddArrayToObject(j, "front");
        for (int i = 0; i < nf; i++)
            cJSON_AddItemToArray(fr, sn_cand_to_json(&cands[front[i]]));
        print_json(j, 1);
        cJSON_Delete(j);
    } else if (json && !want_tree) {
        cJSON *j = run_json(a.pos[0], st, cands, n, front, nf,
                            sn_search_hypervolume(se), sn_search_elapsed(se));
        print_json(j, 1);
        cJSON_Delete(j);
    } else if (want_tree) {
        int **kids = sn_xcalloc((size_t)n + 1, sizeof *kids);
        int *nk = sn_xcalloc((size_t)n + 1, sizeof *nk);
        for (int i = 0; i < n; i++) kids[i] = sn_xmalloc(((size_t)n + 1) * sizeof(int));
        for (int i = 0; i < n; i++)
            if (cands[i].parent >= 0) {
                int p = cands[i].parent;
                kids[p][nk[p]++] = i;
            }
        if (json) {
            cJSON *j = run_json(a.pos[0], st, cands, 0, front, nf,
                                sn_search_hypervolume(se),
                                sn_search_elapsed(se));
            cJSON_DeleteItemFromObjectCaseSensitive(j, "candidates");
            cJSON *roots = cJSON_AddArrayToObject(j, "tree");
            for (int i = 0; i < n; i++)
                if (cands[i].parent < 0)
                    cJSON_AddItemToArray(roots, tree_json(cands, i, kids, nk));
            print_json(j, 1);
            cJSON_Delete(j);
        } else {
            for (int i = 0; i < n; i++)
                if (cands[i].parent < 0) print_tree(se, i, 0, kids, nk);
            printf("(* = on the Pareto front)\n");
        }
        for (int i = 0; i < n; i++) free(kids[i]);
        free(kids);
        free(nk);
    } else {
        if (!sn_cli_flag(&a, "front")) {
            char obj[64];
            sn_settings_get(st, "objective", obj, sizeof obj);
            int done = 0, inf = 0;
            for (int i = 0; i < n; i++) {
                done += cands[i].status == SN_CAND_DONE;
                inf += cands[i].status == SN_CAND_INFEASIBLE;
            }
            char nc[32], el[32];
            printf("run %s: %s (%d trained, %d infeasible), %s of search\n",
                   a.pos[0], sn_cli_plural(nc, sizeof nc, n, "candidate"),
                   done, inf, sn_fmt_duration(el, sizeof el, sn_search_elapsed(se)));
            printf("data %s, strategy %s, objective accuracy vs %s",
                   st->data, sn_strategy_name(st->strategy), obj);
            if (st->max_params) printf(", max-params %lld", (long long)st->max_params);
            if (st->max_flops) printf(", max-flops %lld", (long long)st->max_flops);
            if (st->max_memory) printf(", max-memory %lld", (long long)st->max_memory);
            printf("\n");
            if (st->origin_run[0])
                printf("forked from %s#%d\n", st->origin_run, st->origin_cand);
            printf("hypervolume reference: accuracy %.3g",
                   st->hv_ref_acc > 0 ? st->hv_ref_acc : 0);
            for (int k = 0; k < st->n_obj; k++)
                printf(", %s %.0f (log scale over %g decades)",
                       sn_objective_name(st->obj[k]), st->hv_ref[st->obj[k]],
                       SN_HV_DECADES);
            printf("\n");
        }
        print_front_table(cands, front, nf, sn_search_hypervolume(se), stdout);
    }
    free(cands);
    sn_search_free(se);
    return rc;
}
