/* cmd_ui.c — `slimnas ui`: the explorer (plain `slimnas` runs it too).
 *
 *   slimnas ui                    the default search in runs/<data>-<time>
 *   slimnas ui runs/NAME          open an existing run (paused)
 *   slimnas ui --data SPEC [...]  a new search with these settings
 *
 * Settings options are the keys of search.h's table (--max-params 20k,
 * --strategy evolution, --rate.prune 2 ...), applied over the defaults
 * and a --config file, so the loop below reads its own options from
 * OPTS (by long name or letter) and anything else from the settings
 * table, rather than through sn_cli_parse's fixed option list. Without a terminal (or on one curses cannot
 * drive, TERM=dumb) it refuses with exit 2 and names the command that
 * works there (resume, search); --headless asks for the line-per-
 * candidate fallback. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slimnas/cli.h"
#include "slimnas/export.h"
#include "slimnas/tui.h"

enum {
    O_DATA, O_RUN, O_CONFIG, O_KEY, O_THEME, O_ASCII, O_HEADLESS,
    O_EXPORT_FRONT, O_EXPORT_FORMAT, O_THREADS, O_COUNT
};

/* Help and parsing both read this table; O_KEY stands for the settings
 * (help only: the settings table names them). */
static const sn_cli_opt OPTS[] = {
    [O_DATA] = {"data", 'd', "SPEC", "dataset of a new search (fashion-mnist, "
                                     "cifar10, synthetic:N)"},
    [O_RUN] = {"run", 'r', "DIR", "run directory of a new search (default "
                                  "runs/DATA-DATE-TIME)"},
    [O_CONFIG] = {"config", 'c', "FILE", "settings of a new search from a "
                                         "JSON file"},
    [O_KEY] = {"KEY", 0, "VALUE", "any search setting: --max-params 20k, "
                                  "--budget 10m, --strategy evolution ..."},
    [O_THEME] = {"theme", 't', "NAME", "colour theme (default, light, "
                                       "solarized, mono, or a path)"},
    [O_ASCII] = {"ascii", 0, NULL, "plain ASCII drawing even on a UTF-8 "
                                   "terminal"},
    [O_HEADLESS] = {"headless", 0, NULL, "no explorer: one line per finished "
                                         "candidate"},
    [O_EXPORT_FRONT] = {"export-front", 0, "DIR", "headless: at the end, "
                                                  "export every front member "
                                                  "to DIR (with front.json)"},
    [O_EXPORT_FORMAT] = {"export-format", 0, "FMT,...", "formats for "
                                                        "--export-front: "
                                                        "onnx, c, c-int8 "
                                                        "(onnx)"},
    [O_THREADS] = {"threads", 'j', "T", "worker threads (default: all "
                                        "cores)"},
    [O_COUNT] = {0}};

static int run_ui(int argc, char **argv);

const sn_cli_cmd sn_cmd_ui = {
    .name = "ui",
    .summary = "the explorer: watch and steer a search (the default command)",
    .usage = "slimnas ui [runs/NAME] [--data SPEC] [--run DIR] [--KEY VALUE "
             "...] [--theme NAME]",
    .details =
        "With no run and no --data it starts the default search: "
        "Fashion-MNIST when\ninstalled (else synthetic data), the params "
        "objective, bo, a 30-minute budget.\nA run given by name is opened "
        "paused (space resumes it). Quitting stops the\nsearch cleanly; the "
        "run stays resumable. Keys: ? in the explorer, or README.\nIt needs "
        "a terminal curses can drive: without one (or on TERM=dumb) it\n"
        "exits with status 2 ('slimnas resume RUN' and 'slimnas search' run "
        "without one,\nand --headless asks for one line per candidate "
        "instead).\nThemes "
        "are looked up in ./themes, ~/.config/slimnas/themes and the install\n"
        "directory; NO_COLOR=1 drops colours. Command history lives in\n"
        "$XDG_STATE_HOME/slimnas/history (~/.local/state/slimnas/history).",
    .opts = OPTS,
    .run = run_ui,
};

#define FASHION_FILE "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* runs/<data>-YYYYmmdd-HHMMSS, made unique with -2, -3 ... */
static void default_dir(const char *data, char *buf, size_t n) {
    char name[64];
    size_t l = strcspn(data, ":/");
    if (l == 0 || l >= sizeof name) l = 0;
    snprintf(name, sizeof name, "%.*s", (int)l, data);
    if (!name[0]) snprintf(name, sizeof name, "search");
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
    snprintf(buf, n, "runs/%s-%s", name, ts);
    for (int k = 2; exists(buf) && k < 1000; k++)
        snprintf(buf, n, "runs/%s-%s-%d", name, ts, k);
}

static const char *opt_value(int argc, char **argv, int *i, const char *arg,
                             const char *name) {
    const char *eq = strchr(arg, '=');
    if (eq) return eq + 1;
    if (*i + 1 >= argc) {
        sn_cli_usage_error(&sn_cmd_ui, "option '%s' needs a value", name);
        return NULL;
    }
    return argv[++*i];
}

static int run_ui(int argc, char **argv) {
    const char *run = NULL, *data = NULL, *dir = NULL, *config = NULL;
    const char *threads = NULL, *export_dir = NULL, *export_fmt = NULL;
    sn_tui_opts o = sn_tui_opts_default();
    int headless = 0;
    const char *keys[64], *vals[64];
    int nset = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            sn_cli_print_help(&sn_cmd_ui, stdout);
            printf("\nsettings (--KEY VALUE):\n");
            for (int k = 0; sn_setting_keys[k].key; k++) {
                char d[96], h[256];
                sn_cli_setting_default(sn_setting_keys[k].key, d, sizeof d);
                printf("  --%-16s %-8s %s\n", sn_setting_keys[k].key,
                       sn_setting_keys[k].arg,
                       sn_cli_help_default(h, sizeof h,
                                           sn_setting_keys[k].help, d));
            }
            return 0;
        }
        if (a[0] != '-' || !a[1]) {
            if (run) return sn_cli_usage_error(&sn_cmd_ui, "one run at a time");
            run = a;
            continue;
        }
        char name[96];
        const char *nm = a + (a[1] == '-' ? 2 : 1);
        snprintf(name, sizeof name, "%.*s", (int)strcspn(nm, "="), nm);
        /* an option by its long name or its letter, after - or -- */
        int o_id = -1;
        for (int k = 0; k < O_COUNT && o_id < 0; k++)
            if (k != O_KEY &&
                (!strcmp(name, OPTS[k].name) ||
                 (OPTS[k].short_name && name[0] == OPTS[k].short_name &&
                  !name[1])))
                o_id = k;
        const char *v = NULL;
        if (o_id >= 0 && OPTS[o_id].arg) {
            char flag[64];
            snprintf(flag, sizeof flag, "--%s", OPTS[o_id].name);
            if (!(v = opt_value(argc, argv, &i, a, flag))) return 2;
        }
        if (o_id >= 0) {
            switch (o_id) {
            case O_DATA: data = v; break;
            case O_RUN: dir = v; break;
            case O_CONFIG: config = v; break;
            case O_THEME: o.theme = v; break;
            case O_ASCII: o.ascii = 1; break;
            case O_HEADLESS: headless = 1; break;
            case O_EXPORT_FRONT: export_dir = v; break;
            case O_EXPORT_FORMAT: export_fmt = v; break;
            case O_THREADS: threads = v; break;
            default: SN_ASSERT(!"an option without a case");
            }
        } else if (a[1] == '-' && sn_settings_is_live(name) >= 0) {
            if (!(v = opt_value(argc, argv, &i, a, a))) return 2;
            if (nset == 64)
                return sn_cli_usage_error(&sn_cmd_ui, "too many settings");
            keys[nset] = strdup(name); /* a may hold "=VALUE" */
            vals[nset++] = v;
        } else {
            return sn_cli_usage_error(&sn_cmd_ui, "unknown option '%s'", a);
        }
    }
    int rc = 0;
    sn_error e;
    sn_search_settings s = sn_settings_default();
    if (run && (data || dir || config || nset)) {
        rc = sn_cli_usage_error(&sn_cmd_ui,
                                "settings apply to new runs; open %s and "
                                "use ':set KEY VALUE' instead",
                                run);
        goto done;
    }
    if (!run) {
        if (config && sn_settings_load(&s, config, &e)) {
            fprintf(stderr, "slimnas ui: %s\n", e.msg);
            rc = 1;
            goto done;
        }
        for (int k = 0; k < nset; k++)
            if (sn_settings_set(&s, keys[k], vals[k], &e)) {
                rc = sn_cli_usage_error(&sn_cmd_ui, "--%s", e.msg);
                goto done;
            }
        if (data) {
            if (sn_settings_set(&s, "data", data, &e)) {
                rc = sn_cli_usage_error(&sn_cmd_ui, "--%s", e.msg);
                goto done;
            }
        } else if (!config) {
            /* the default search */
            const char *spec = exists(FASHION_FILE) ? "fashion-mnist"
                                                    : "synthetic:2000";
            if (!exists(FASHION_FILE))
                fprintf(stderr, "slimnas ui: Fashion-MNIST is not installed "
                                "(Debian package dataset-fashion-mnist); "
                                "searching synthetic data\n");
            sn_settings_set(&s, "data", spec, NULL);
        }
        if (sn_settings_check(&s, &e)) {
            rc = sn_cli_usage_error(&sn_cmd_ui, "%s", e.msg);
            goto done;
        }
        if (data || config) { /* bad data: one line, no run directory */
            sn_data_opts dopt = sn_settings_data_opts(&s, 0);
            sn_data *d = sn_data_open(s.data, &dopt, &e);
            if (!d) {
                fprintf(stderr, "slimnas ui: %s\n", e.msg);
                rc = 1;
                goto done;
            }
            sn_data_free(d);
        }
    }
    unsigned formats = 1u << SN_EXPORT_ONNX;
    if (export_fmt && !export_dir) {
        rc = sn_cli_usage_error(&sn_cmd_ui, "--export-format goes with "
                                "--export-front DIR");
        goto done;
    }
    if (export_dir && !headless) {
        rc = sn_cli_usage_error(&sn_cmd_ui, "--export-front is for headless "
                                "runs (--headless); in the explorer, press e "
                                "or use :export");
        goto done;
    }
    if (export_fmt && sn_export_formats_parse(export_fmt, &formats, &e)) {
        rc = sn_cli_usage_error(&sn_cmd_ui, "--export-format: %s", e.msg);
        goto done;
    }
    /* No terminal, or one curses cannot draw on: refuse before anything
     * is started or created (headless only when asked). */
    int explorer = !headless;
    if (!headless) {
        if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
            if (run)
                fprintf(stderr, "slimnas ui: the explorer needs a terminal "
                                "on stdin and stdout; to continue %s "
                                "without one: slimnas resume %s\n",
                        run, run);
            else
                fprintf(stderr, "slimnas ui: the explorer needs a terminal "
                                "on stdin and stdout; to search without "
                                "one: slimnas search --data SPEC (or ui "
                                "--headless)\n");
            rc = 2;
            goto done;
        }
        if (sn_tui_terminal_check(&e)) {
            fprintf(stderr, "slimnas ui: %s; use a terminal such as "
                            "xterm-256color, or --headless for one line "
                            "per finished candidate\n",
                    e.msg);
            rc = 2;
            goto done;
        }
        sn_tui_prepare(); /* before any thread starts */
    }
    if (threads) {
        long t;
        if (sn_parse_long(threads, 1, 64, &t) != 0) {
            rc = sn_cli_usage_error(&sn_cmd_ui, "--threads needs 1..64");
            goto done;
        }
        sn_threads_init((int)t);
    } else {
        sn_threads_init(0);
    }
    char dbuf[SN_SEARCH_PATH_LEN];
    if (!run && !dir) {
        default_dir(s.data, dbuf, sizeof dbuf);
        dir = dbuf;
    }
    sn_engine *en = sn_engine_new();
    int h = run ? sn_engine_open(en, run, explorer, &e)
                : sn_engine_start(en, dir, &s, 0, &e);
    if (h < 0) {
        fprintf(stderr, "slimnas ui: %s\n", e.msg);
        sn_engine_free(en);
        rc = 1;
        goto done;
    }
    const sn_snapshot *snap = sn_engine_snapshot(en, h);
    char where[SN_SEARCH_PATH_LEN];
    snprintf(where, sizeof where, "%s", snap->dir);
    sn_snapshot_release(snap);
    if (!explorer) {
        rc = sn_tui_headless(en, h, stdout) ? 1 : 0;
        const sn_snapshot *fin = sn_engine_snapshot(en, h);
        if (export_dir && fin && fin->state != SN_RUN_FAILED &&
            sn_export_front(fin->dir, fin->cands, fin->front, fin->n_front,
                            formats, &fin->settings, export_dir, stderr,
                            &e) != 0) {
            fprintf(stderr, "slimnas ui: --export-front: %s\n", e.msg);
            rc = 1;
        }
        if (fin) sn_snapshot_release(fin);
    } else if (sn_tui_run(en, h, &o, &e)) {
        fprintf(stderr, "slimnas ui: %s\n", e.msg);
        rc = 1;
    }
    int n = sn_engine_count(en);
    snap = sn_engine_snapshot(en, h);
    int failed = snap->state == SN_RUN_FAILED;
    char why[sizeof snap->message];
    snprintf(why, sizeof why, "%s", snap->message);
    sn_snapshot_release(snap);
    sn_engine_free(en); /* stops every search; runs stay resumable */
    if (failed) {
        /* nothing to continue: say why instead of "run saved" */
        fprintf(stderr, "slimnas ui: %s failed: %s\n", where, why);
        rc = 1;
    } else if (explorer) {
        printf("run saved in %s ('slimnas ui %s' continues it)\n", where,
               where);
        if (n > 1) printf("%d runs in this session (forks included)\n", n);
    }
done:
    for (int k = 0; k < nset; k++) free((void *)keys[k]);
    return rc;
}
