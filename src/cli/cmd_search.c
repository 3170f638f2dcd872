/* cmd_search.c — `slimnas search`, `show`, `resume` and `fork`.
 *
 * search, resume and fork run the engine (include/slimnas/engine.h) and
 * print from its snapshots, exactly as the explorer would read them: one
 * line per finished candidate, then the front. show reads a run
 * directory without touching it. */
#include <cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slimnas/cli.h"
#include "slimnas/engine.h"
#include "slimnas/export.h"

/* Options that are settings keys (search.h's table), shared by search
 * and fork; each maps 1:1 onto sn_settings_set. */
#define SETTING_OPTS                                                           \
    {"objective", 0, "M[,M]", "size objective(s): params, flops, memory"},     \
    {"max-params", 0, "SIZE", "hard limit on parameters (20k, 1.5M)"},         \
    {"max-flops", 0, "SIZE", "hard limit on multiply-accumulates"},            \
    {"max-memory", 0, "SIZE", "hard limit on peak activation bytes"},          \
    {"strategy", 0, "bo|evolution|random", "search strategy (bo)"},            \
    {"budget", 0, "TIME", "wall-time budget, s/m/h (30m; 0 = none)"},          \
    {"max-candidates", 0, "N", "stop after N candidates"},                     \
    {"epochs", 'e', "K", "epochs per candidate (1)"},                          \
    {"root-epochs", 0, "K", "epochs for the roots, from scratch (3)"},         \
    {"max-train", 0, "N", "training images per candidate (10k; 0 = all)"},    \
    {"batch", 'b', "N", "batch size (128)"},                                   \
    {"lr", 0, "RATE", "learning rate (0.05, SGD + cosine)"},                   \
    {"final", 0, "N", "retrain N front members on all data at the end"},       \
    {"final-epochs", 0, "K", "epochs of the final retraining (10)"},           \
    {"final-at", 0, "SIZE,...", "also retrain the best member under each size"}, \
    {"hv-accuracy", 0, "ACC", "hypervolume reference accuracy (chance)"},      \
    {"rates", 0, "OP=W,...", "operator rates, e.g. prune=2,remove=0"},         \
    {"pin", 0, "OP", "draw only this operator"}

static const char *const setting_keys[] = {
    "objective", "max-params", "max-flops", "max-memory", "strategy",
    "budget", "max-candidates", "epochs", "root-epochs", "max-train", "batch", "lr",
    "final", "final-epochs", "final-at", "hv-accuracy", "pin", NULL};

#define RUN_OPTS                                                               \
    {"headless", 0, NULL, "print progress lines (the default without the "    \
                          "explorer)"},                                        \
    {"json", 0, NULL, "print JSON lines instead of tables"},                   \
    {"export-front", 0, "DIR", "at the end, export every front member to DIR "  \
                               "(with front.json)"},                           \
    {"export-format", 0, "FMT,...", "formats for --export-front: onnx, c, "      \
                                   "c-int8 (onnx)"},                           \
    {"threads", 'j', "T", "worker threads (default: all cores)"}

static const sn_cli_opt search_opts[] = {
    {"data", 'd', "SPEC", "dataset: fashion-mnist, cifar10, synthetic:N, ..."},
    {"run", 'r', "DIR", "run directory (default runs/search-DATE-TIME)"},
    {"config", 'c', "FILE", "settings from a JSON file (options override)"},
    SETTING_OPTS,
    {"bases", 0, "LIST", "roots: KIND[:WIDTH[:DEPTH]],... (cnn:16,mobile_tiny)"},
    {"val-split", 0, "F", "validation fraction (0.1)"},
    {"seed", 0, "S", "seed of the search (1)"},
    RUN_OPTS,
    {0}};

static const sn_cli_opt resume_opts[] = {SETTING_OPTS, RUN_OPTS, {0}};

static const sn_cli_opt fork_opts[] = {
    {"run", 'r', "DIR", "the new run directory (required)"},
    SETTING_OPTS,
    RUN_OPTS,
    {0}};

static const sn_cli_opt show_opts[] = {
    {"front", 0, NULL, "the Pareto front only"},
    {"tree", 0, NULL, "the search tree as indented text"},
    {"candidate", 0, "N", "one candidate: lineage and per-layer table"},
    {"json", 0, NULL, "machine-readable output"},
    {0}};

static int cmd_search(int argc, char **argv);
static int cmd_resume(int argc, char **argv);
static int cmd_fork(int argc, char **argv);
static int cmd_show(int argc, char **argv);

const sn_cli_cmd sn_cmd_search = {
    "search", "search for small accurate networks (Pareto front)",
    "slimnas search --data SPEC [--run runs/NAME] [--objective params] "
    "[--max-params 20k] [--strategy bo|evolution|random] [--budget 30m] "
    "--headless",
    "Grows a tree of candidates from the base networks by network "
    "morphisms, trains\neach for a few epochs with inherited weights, and "
    "keeps the Pareto front of\nvalidation accuracy against size. Limits "
    "are checked before training. The run\ndirectory is durable: "
    "'slimnas resume DIR' continues a stopped or killed run.\nThe "
    "hypervolume's reference point is (--hv-accuracy, default chance; size "
    "=\n10 x the limit, or 100 x the largest root without one), sizes on a "
    "log scale\nover three decades below it (see 'slimnas show'). Ctrl-C "
    "stops after dropping\nthe candidate in training.",
    search_opts, cmd_search};

const sn_cli_cmd sn_cmd_resume = {
    "resume", "continue a stopped or interrupted search",
    "slimnas resume runs/NAME [--budget 1h] [--final N] [--final-at 10k] "
    "[--max-params ...] [--headless] [--json]",
    "Live settings given here (limits, objective, strategy, budget, epochs, "
    "final, rates,\n...) replace the run's before it continues and are "
    "saved with it; a finished run\ngiven more budget or more --final "
    "members goes on.",
    resume_opts, cmd_resume};

const sn_cli_cmd sn_cmd_fork = {
    "fork", "start a new search rooted at a candidate of another run",
    "slimnas fork runs/NAME CANDIDATE --run runs/NEW [--max-params ...] "
    "[--strategy ...] [--budget ...]",
    "The new run starts from the candidate's graph and trained weights, "
    "with the\nparent run's settings plus the options given, and records "
    "its origin.",
    fork_opts, cmd_fork};

const sn_cli_cmd sn_cmd_show = {
    "show", "print a run: summary, front, tree or one candidate",
    "slimnas show runs/NAME [--front | --tree | --candidate N] [--json]",
    NULL, show_opts, cmd_show};

/* ---- settings from options ------------------------------------------------ */

/* Hands each setting option (KEY VALUE, --rates split into rate.OP W) to
 * set(ctx, key, value, e); a refusal is a usage error naming the option. */
typedef int (*setting_fn)(void *ctx, const char *key, const char *value,
                          sn_error *e);

static int each_setting_opt(const sn_cli_args *a, setting_fn set, void *ctx) {
    sn_error e;
    for (int i = 0; setting_keys[i]; i++) {
        const char *v = sn_cli_get(a, setting_keys[i]);
        if (v && set(ctx, setting_keys[i], v, &e))
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

static cJSON *cand_json(const sn_cand_info *c) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", c->id);
    cJSON_AddNumberToObject(j, "parent", c->parent);
    cJSON_AddStringToObject(j, "op", c->op);
    cJSON_AddStringToObject(j, "morph", c->morph);
    cJSON_AddStringToObject(j, "status", sn_cand_status_name(c->status));
    cJSON_AddNumberToObject(j, "params", (double)c->params);
    cJSON_AddNumberToObject(j, "flops", (double)c->flops);
    cJSON_AddNumberToObject(j, "memory", (double)c->memory);
    if (c->val_acc >= 0) cJSON_AddNumberToObject(j, "val_acc", c->val_acc);
    else cJSON_AddNullToObject(j, "val_acc");
    if (c->test_acc >= 0) cJSON_AddNumberToObject(j, "test_acc", c->test_acc);
    else cJSON_AddNullToObject(j, "test_acc");
    cJSON_AddNumberToObject(j, "seconds", c->seconds);
    cJSON_AddNumberToObject(j, "epochs", c->epochs);
    cJSON_AddBoolToObject(j, "front", c->on_front);
    cJSON_AddNumberToObject(j, "hypervolume", c->hypervolume);
    return j;
}

static void print_json(cJSON *j, int pretty) {
    char *s = pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
    printf("%s\n", s);
    free(s);
    fflush(stdout);
}

static void print_record(const sn_snapshot *s, int id, int json) {
    const sn_cand_info *c = &s->cands[id];
    if (json) {
        cJSON *j = cand_json(c);
        cJSON_AddNumberToObject(j, "front_size", s->n_front);
        cJSON_AddNumberToObject(j, "run_hypervolume", s->hypervolume);
        print_json(j, 0);
        cJSON_Delete(j);
        return;
    }
    char p[32], f[32], par[16], acc[16];
    sn_fmt_int(p, sizeof p, c->params);
    sn_fmt_si(f, sizeof f, (double)c->flops);
    if (c->parent >= 0) snprintf(par, sizeof par, "#%d", c->parent);
    else snprintf(par, sizeof par, "-");
    if (c->status == SN_CAND_DONE) snprintf(acc, sizeof acc, "%6.2f%%", 100 * c->val_acc);
    else snprintf(acc, sizeof acc, "%s", sn_cand_status_name(c->status));
    printf("#%-4d %-5s %-44.44s %9s %7s %10s  front %-3d hv %.4f\n", c->id,
           par, c->op, p, f, acc, s->n_front, c->hypervolume);
    fflush(stdout);
}

static void print_front_table(const sn_cand_info *cands, const int *front,
                              int n_front, double hv, FILE *f) {
    fprintf(f, "\nPareto front (%d members, hypervolume %.4f):\n", n_front,
            hv);
    fprintf(f, "%6s %10s %10s %10s %8s %8s  %s\n", "id", "params", "MACs",
            "memory", "val", "test", "operation");
    for (int i = 0; i < n_front; i++) {
        const sn_cand_info *c = &cands[front[i]];
        char p[32], fl[32], m[32], t[16];
        sn_fmt_int(p, sizeof p, c->params);
        sn_fmt_si(fl, sizeof fl, (double)c->flops);
        sn_fmt_si(m, sizeof m, (double)c->memory);
        if (c->test_acc >= 0) snprintf(t, sizeof t, "%6.2f%%", 100 * c->test_acc);
        else snprintf(t, sizeof t, "%7s", "-");
        fprintf(f, "%6d %10s %10s %9sB %7.2f%% %8s  %s\n", c->id, p, fl, m,
                100 * c->val_acc, t, c->op);
    }
}

static cJSON *run_json(const char *dir, const sn_search_settings *st,
                       const sn_cand_info *cands, int n, const int *front,
                       int n_front, double hv, double elapsed) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "run", dir);
    cJSON *arr = cJSON_AddArrayToObject(j, "candidates");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, cand_json(&cands[i]));
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

/* Follows search h until it is over, printing records as they finish. */
static int follow(sn_engine *en, int h, int json) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int printed = 0, stopping = 0, log_seen = 0;
    uint64_t log_seq = 0;
    int tty = isatty(2) && !json;
    double last_bar = 0;
    int rc = 0;
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
            if (l->level != SN_LOG_INFO || !log_seen) {
                if (tty) fprintf(stderr, "\r\033[K");
                fprintf(stderr, "%s%s\n",
                        l->level == SN_LOG_ERROR  ? "error: "
                        : l->level == SN_LOG_WARN ? "warning: "
                                                  : "",
                        l->text);
            }
        }
        log_seen = 1;
        if (printed < s->n_records && tty) fprintf(stderr, "\r\033[K");
        for (; printed < s->n_records; printed++) print_record(s, printed, json);
        if (tty && s->current >= 0 && sn_now() - last_bar > 0.2) {
            const sn_progress *g = &s->progress;
            last_bar = sn_now();
            if (s->final_n)
                fprintf(stderr, "\r\033[Kfinal %d/%d #%d: epoch %d/%d batch "
                                "%d/%d loss %.3f",
                        s->final_k + 1, s->final_n, s->current, g->epoch + 1,
                        g->epochs, g->batch, g->batches, g->loss);
            else
                fprintf(stderr, "\r\033[K#%d training: epoch %d/%d batch "
                                "%d/%d loss %.3f %.0f img/s  [%.0fs of "
                                "budget used]",
                        s->current, g->epoch + 1, g->epochs, g->batch,
                        g->batches, g->loss, g->img_s, s->elapsed);
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
                print_front_table(s->cands, s->front, s->n_front,
                                  s->hypervolume, stdout);
                printf("\n%s: %s after %d candidates, %.0f s of search\n",
                       s->dir, sn_run_state_name(s->state), s->n_records,
                       s->elapsed);
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
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return rc;
}

static int run_engine(sn_engine *en, int h, int json) {
    int rc = follow(en, h, json);
    sn_engine_free(en);
    sn_threads_shutdown();
    return rc;
}

static int cmd_search(int argc, char **argv) {
    sn_cli_args a;
    const sn_cli_cmd *c = &sn_cmd_search;
    int rc = sn_cli_parse(c, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.n_pos) return sn_cli_usage_error(c, "unexpected '%s'", a.pos[0]);
    sn_search_settings s = sn_settings_default();
    sn_error e;
    const char *v;
    if ((v = sn_cli_get(&a, "config")) && sn_settings_load(&s, v, &e)) {
        fprintf(stderr, "slimnas search: %s\n", e.msg);
        return 1;
    }
    static const char *const fixed[] = {"data", "bases", "val-split", "seed",
                                        NULL};
    for (int i = 0; fixed[i]; i++)
        if ((v = sn_cli_get(&a, fixed[i])) &&
            sn_settings_set(&s, fixed[i], v, &e))
            return sn_cli_usage_error(c, "--%s", e.msg);
    if ((rc = apply_setting_opts(&a, &s))) return rc;
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
    int h = sn_engine_start(en, dir, &s, 0, &e);
    if (h < 0) {
        fprintf(stderr, "slimnas search: %s\n", e.msg);
        sn_engine_free(en);
        sn_threads_shutdown();
        return 1;
    }
    if (!json)
        fprintf(stderr, "slimnas: search in %s (strategy %s, %s)\n", dir,
                sn_strategy_name(s.strategy),
                s.budget > 0 ? "budget set" : "no time budget");
    return run_engine(en, h, json);
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
    int rc = sn_cli_parse(c, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.n_pos != 1) return sn_cli_usage_error(c, "expected one run directory");
    if ((rc = export_front_opts(&a)) || (rc = sn_cli_threads(&a))) return rc;
    sn_error e;
    sn_engine *en = sn_engine_new();
    /* opened paused, so new settings are in place before anything runs */
    int h = sn_engine_open(en, a.pos[0], 1, &e);
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
    if (!json) {
        const sn_snapshot *s = sn_engine_snapshot(en, h);
        fprintf(stderr, "slimnas: resuming %s at candidate %d (%.0f s of "
                        "search spent)\n",
                a.pos[0], s->n_records, s->elapsed);
        sn_snapshot_release(s);
    }
    return run_engine(en, h, json);
}

static int cmd_fork(int argc, char **argv) {
    sn_cli_args a;
    const sn_cli_cmd *c = &sn_cmd_fork;
    int rc = sn_cli_parse(c, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.n_pos != 2)
        return sn_cli_usage_error(c, "expected runs/NAME and CANDIDATE");
    const char *dst = sn_cli_get(&a, "run");
    if (!dst) return sn_cli_usage_error(c, "--run runs/NEW is required");
    char *end;
    const char *idt = a.pos[1][0] == '#' ? a.pos[1] + 1 : a.pos[1];
    long id = strtol(idt, &end, 10);
    if (!*idt || *end || id < 0)
        return sn_cli_usage_error(c, "CANDIDATE must be an id, got '%s'",
                                  a.pos[1]);
    sn_error e;
    sn_search *src = sn_search_load(a.pos[0], &e);
    if (!src) {
        fprintf(stderr, "slimnas fork: %s\n", e.msg);
        return 1;
    }
    sn_search_settings s = *sn_search_settings_get(src);
    sn_search_free(src);
    /* the new run gets its own reference point and origin */
    for (int m = 0; m < SN_OBJ_COUNT; m++) s.hv_ref[m] = 0;
    if ((rc = apply_setting_opts(&a, &s))) return rc;
    if (sn_search_fork(a.pos[0], (int)id, dst, &s, &e)) {
        fprintf(stderr, "slimnas fork: %s\n", e.msg);
        return 1;
    }
    if ((rc = export_front_opts(&a)) || (rc = sn_cli_threads(&a))) return rc;
    sn_engine *en = sn_engine_new();
    int h = sn_engine_open(en, dst, 0, &e);
    if (h < 0) {
        fprintf(stderr, "slimnas fork: %s\n", e.msg);
        sn_engine_free(en);
        sn_threads_shutdown();
        return 1;
    }
    int json = sn_cli_flag(&a, "json");
    if (!json)
        fprintf(stderr, "slimnas: forked %s#%ld into %s\n", a.pos[0], id, dst);
    return run_engine(en, h, json);
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

static int show_candidate(const sn_search *se, int id, int json) {
    const sn_cand_info *c = sn_search_cand(se, id);
    if (!c) {
        fprintf(stderr, "slimnas show: no candidate %d (ids 0..%d)\n", id,
                sn_search_count(se) - 1);
        return 1;
    }
    const sn_graph *g = sn_search_graph(se, id);
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
        cJSON *j = cand_json(c);
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
    if (c->val_acc >= 0) printf("  val acc     %.2f%%\n", 100 * c->val_acc);
    if (c->test_acc >= 0) printf("  test acc    %.2f%% (after --final)\n", 100 * c->test_acc);
    printf("  trained     %d epochs in %.1f s\n", c->epochs, c->seconds);
    printf("  graph       %s\n", fg);
    printf("  weights     %s\n", has_f ? ff : has_w ? fw
                                          : "none (never trained)");
    if (has_f && has_w) printf("              %s (search)\n", fw);
    if (g->info.known) {
        printf("  input       NCHW %dx%dx%d, pixels/255, mean", g->input.c,
               g->input.h, g->input.w);
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
           "output", "params", "MACs", "act bytes");
    for (int i = 0; i < g->n_nodes; i++) {
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%dx%d", st.layer[i].out.c,
                 st.layer[i].out.h, st.layer[i].out.w);
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
    int rc = sn_cli_parse(c, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.n_pos != 1) return sn_cli_usage_error(c, "expected one run directory");
    int json = sn_cli_flag(&a, "json");
    const char *cv = sn_cli_get(&a, "candidate");
    long cid = -1;
    if (cv) {
        char *end;
        const char *t = cv[0] == '#' ? cv + 1 : cv;
        cid = strtol(t, &end, 10);
        if (!*t || *end || cid < 0)
            return sn_cli_usage_error(c, "--candidate needs an id");
    }
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
    if (json) {
        cJSON *j = run_json(a.pos[0], st, cands, n, front, nf,
                            sn_search_hypervolume(se), sn_search_elapsed(se));
        print_json(j, 1);
        cJSON_Delete(j);
    } else if (sn_cli_flag(&a, "tree")) {
        int **kids = sn_xcalloc((size_t)n + 1, sizeof *kids);
        int *nk = sn_xcalloc((size_t)n + 1, sizeof *nk);
        for (int i = 0; i < n; i++) kids[i] = sn_xmalloc(((size_t)n + 1) * sizeof(int));
        for (int i = 0; i < n; i++)
            if (cands[i].parent >= 0) {
                int p = cands[i].parent;
                kids[p][nk[p]++] = i;
            }
        for (int i = 0; i < n; i++)
            if (cands[i].parent < 0) print_tree(se, i, 0, kids, nk);
        for (int i = 0; i < n; i++) free(kids[i]);
        free(kids);
        free(nk);
        printf("(* = on the Pareto front)\n");
    } else {
        if (!sn_cli_flag(&a, "front")) {
            char obj[64];
            sn_settings_get(st, "objective", obj, sizeof obj);
            int done = 0, inf = 0;
            for (int i = 0; i < n; i++) {
                done += cands[i].status == SN_CAND_DONE;
                inf += cands[i].status == SN_CAND_INFEASIBLE;
            }
            printf("run %s: %d candidates (%d trained, %d infeasible), %.0f s "
                   "of search\n", a.pos[0], n, done, inf, sn_search_elapsed(se));
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
    return 0;
}
