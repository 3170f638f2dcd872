/* test_cli.c — runs the real `slimnas` binary (path in $SLIMNAS, default
 * ./slimnas): `new` and `stats` (the reference pipelines,
 * one-line errors with exit code 1 for malformed graphs, exit code 2 for
 * usage errors), and the command line's promises: help
 * defaults, short options, show --front/--tree --json, headless progress,
 * one shape notation, plurals, data checked before a run exists, and
 * resume/fork --data for moved data. */
#include "testutil.h"

#include <cJSON.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *bin;
static char dir[64];

static const char *path_in_dir(const char *name) {
    static char buf[4][160];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Runs `sh -c cmd` with stdout to out.txt and stderr to err.txt in dir;
 * returns the exit code. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
    char cmd[2048], full[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "( %s ) >'%s' 2>'%s'", cmd,
             path_in_dir("out.txt"), path_in_dir("err.txt"));
    int st = system(full);
    if (st == -1 || !WIFEXITED(st)) fail_msg("could not run: %s", cmd);
    return WEXITSTATUS(st);
}

/* noinline: gcc 12 sees a dangling pointer in the inlined copies */
__attribute__((noinline)) static char *slurp(const char *name) {
    char *d;
    size_t n;
    sn_error e;
    if (sn_read_file(path_in_dir(name), &d, &n, &e) != 0)
        fail_msg("%s", e.msg);
    return d;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static int setup(void **state) {
    (void)state;
    bin = getenv("SLIMNAS");
    if (!bin || !*bin) bin = "./slimnas";
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "test_cli: %s is not executable (set SLIMNAS)\n",
                bin);
        return -1;
    }
    snprintf(dir, sizeof dir, "/tmp/sn_test_cli.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The acceptance rows: new KIND | stats - --json [--flops autokeras]. */
static void test_reference_pipelines(void **state) {
    (void)state;
    static const struct {
        const char *kind;
        long long params, macs, ak;
    } ref[] = {
        {"cnn", 80720, 13570688, 15243510},
        {"resnet", 11529354, 576394240, 667985910},
        {"densenet", 6974346, 174708736, 273725142},
    };
    char want[64];
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        assert_int_equal(run("%s new %s --input 32x32x3 --classes 10 | "
                             "%s stats - --json",
                             bin, ref[i].kind, bin),
                         0);
        char *out = slurp("out.txt");
        snprintf(want, sizeof want, "\"params\":\t%lld,", ref[i].params);
        if (!strstr(out, want)) fail_msg("%s: no %s", ref[i].kind, want);
        snprintf(want, sizeof want, "\"flops\":\t%lld,", ref[i].macs);
        if (!strstr(out, want)) fail_msg("%s: no %s", ref[i].kind, want);
        assert_non_null(strstr(out, "\"flops_kind\":\t\"macs\""));
        assert_non_null(strstr(out, "\"peak_bytes\":\t"));
        assert_non_null(strstr(out, "\"layers\":\t["));
        free(out);
        assert_int_equal(run("%s new %s --input 32x32x3 --classes 10 | "
                             "%s stats - --json --flops autokeras",
                             bin, ref[i].kind, bin),
                         0);
        out = slurp("out.txt");
        snprintf(want, sizeof want, "\"flops\":\t%lld,", ref[i].ak);
        if (!strstr(out, want)) fail_msg("%s: no %s", ref[i].kind, want);
        free(out);
    }
}

/* The table names every layer and ends with the totals and the peak. */
static void test_table_and_files(void **state) {
    (void)state;
    const char *g = path_in_dir("cnn.json");
    assert_int_equal(run("%s new cnn --input 28x28x1 --classes 10 -o %s", bin,
                         g),
                     0);
    assert_int_equal(run("%s stats %s", bin, g), 0);
    char *out = slurp("out.txt");
    assert_non_null(strstr(out, "conv1"));
    assert_non_null(strstr(out, "dense2"));
    assert_non_null(strstr(out, "28x28x64")); /* conv1's output, HxWxC */
    assert_non_null(strstr(out, "total: 79,564 params, 9,488,000 MACs"));
    assert_non_null(strstr(out, "peak activation memory:"));
    free(out);
    /* The committed samples are what the generator writes today. */
    static const char *const samples[][3] = {
        {"cnn", "32x32x3", "cnn_32x32x3"},
        {"resnet", "32x32x3", "resnet_32x32x3"},
        {"densenet", "32x32x3", "densenet_32x32x3"},
        {"mobilenet", "32x32x3", "mobilenet_32x32x3"},
        {"mobilenetv2", "32x32x3", "mobilenetv2_32x32x3"},
        {"cnn", "28x28x1", "ak_cnn_28x28x1"},
        {"mobile_tiny", "28x28x1", "mobile_tiny_28x28x1"},
        {"tiny2conv", "28x28x1", "tiny2conv_28x28x1"},
    };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char sample[128];
        snprintf(sample, sizeof sample, "samples/graphs/%s.json",
                 samples[i][2]);
        if (access(sample, R_OK) != 0) {
            /* Run from elsewhere than the source tree: nothing to compare. */
            continue;
        }
        assert_int_equal(run("%s new %s --input %s --classes 10 | cmp - %s",
                             bin, samples[i][0], samples[i][1], sample),
                         0);
        assert_int_equal(run("%s stats %s --json", bin, sample), 0);
    }
}

/* Each malformed graph: exit 1, exactly one line on stderr naming the
 * file and the problem, nothing on stdout. */
static void test_malformed_graphs(void **state) {
    (void)state;
    const char *head =
        "{\"format\": \"slimnas-graph\", \"version\": 1, \"name\": \"t\",\n"
        " \"input\": {\"c\": 3, \"h\": 8, \"w\": 8}, \"classes\": 4,\n"
        " \"layers\": [\n";
    static const struct {
        const char *file, *layers, *frag;
    } cases[] = {
        {"trunc.json",
         "  {\"name\": \"c1\", \"op\": \"conv\", \"inputs\": [\"inp",
         "trunc.json:4:"},
        {"unknown_op.json",
         "  {\"name\": \"c1\", \"op\": \"convv\", \"inputs\": [\"input\"]}\n"
         " ]}\n",
         "unknown op 'convv'"},
        {"groups.json",
         "  {\"name\": \"c1\", \"op\": \"conv\", \"inputs\": [\"input\"], "
         "\"filters\": 4, \"kernel\": 3, \"groups\": 2},\n"
         "  {\"name\": \"g\", \"op\": \"gap\", \"inputs\": [\"c1\"]},\n"
         "  {\"name\": \"fc\", \"op\": \"dense\", \"inputs\": [\"g\"], "
         "\"units\": 4}\n ]}\n",
         "groups 2 does not divide"},
        {"cycle.json",
         "  {\"name\": \"a\", \"op\": \"relu\", \"inputs\": [\"b\"]},\n"
         "  {\"name\": \"b\", \"op\": \"relu\", \"inputs\": [\"a\"]},\n"
         "  {\"name\": \"g\", \"op\": \"gap\", \"inputs\": [\"input\"]},\n"
         "  {\"name\": \"fc\", \"op\": \"dense\", \"inputs\": [\"g\"], "
         "\"units\": 4}\n ]}\n",
         "cycle: a -> b -> a"},
        {"shape.json",
         "  {\"name\": \"c1\", \"op\": \"conv\", \"inputs\": [\"input\"], "
         "\"filters\": 4, \"kernel\": 3},\n"
         "  {\"name\": \"s\", \"op\": \"add\", \"inputs\": [\"c1\", "
         "\"input\"]},\n"
         "  {\"name\": \"g\", \"op\": \"gap\", \"inputs\": [\"s\"]},\n"
         "  {\"name\": \"fc\", \"op\": \"dense\", \"inputs\": [\"g\"], "
         "\"units\": 4}\n ]}\n",
         "shape.json:5:12: layer 2 's'"},
    };
    char text[2048];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "%s%s", head, cases[i].layers);
        write_text(path_in_dir(cases[i].file), text);
        int rc = run("%s stats %s", bin, path_in_dir(cases[i].file));
        assert_int_equal(rc, 1);
        char *err = slurp("err.txt"), *out = slurp("out.txt");
        if (count_lines(err) != 1 || !strstr(err, cases[i].frag))
            fail_msg("%s: stderr '%s' (want one line with '%s')",
                     cases[i].file, err, cases[i].frag);
        assert_string_equal(out, "");
        free(err);
        free(out);
    }
    /* Missing file, empty stdin: exit 1, one line. */
    assert_int_equal(run("%s stats %s", bin, path_in_dir("none.json")), 1);
    char *err = slurp("err.txt");
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "none.json"));
    free(err);
    assert_int_equal(run("%s stats - </dev/null", bin), 1);
    err = slurp("err.txt");
    assert_non_null(strstr(err, "<stdin>:1:1: empty file"));
    free(err);
    /* An impossible architecture is a failure (1), not a usage error. */
    assert_int_equal(run("%s new cnn --input 4x4x3 --classes 10", bin), 1);
    err = slurp("err.txt");
    assert_int_equal(count_lines(err), 1);
    free(err);
}

static void test_usage_errors(void **state) {
    (void)state;
    static const char *const bad[] = {
        "stats --bogus x.json",
        "stats",
        "stats a.json b.json",
        "stats - --flops gflops",
        "new",
        "new vgg --input 32x32x3 --classes 10",
        "new cnn --classes 10",
        "new cnn --input 32x32x3",
        "new cnn --input 32x32 --classes ten",
        "new cnn --input 32xx3 --classes 10",
        "new cnn --input 0x32x3 --classes 10",
        "new cnn --input 32x32x3 --classes 10 --width -1",
        "new cnn --input 32x32x3 --classes 10 --depth",
        "nosuchcommand",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = run("%s %s </dev/null", bin, bad[i]);
        if (rc != 2) fail_msg("'%s' exited %d, want 2", bad[i], rc);
        char *err = slurp("err.txt");
        if (count_lines(err) < 1) fail_msg("'%s': nothing on stderr", bad[i]);
        free(err);
    }
    /* ui's own options come from its table, by long name or letter;
     * anything else must be a settings key */
    static const tu_case ui_bad[] = {
        {"--theme", "option '--theme' needs a value"},
        {"-t", "option '--theme' needs a value"},
        {"-j", "option '--threads' needs a value"},
        {"--export-format", "option '--export-format' needs a value"},
        {"--KEY x", "unknown option '--KEY'"},
        {"--bogus 1", "unknown option '--bogus'"},
        {"--max-params", "option '--max-params' needs a value"},
        {"runs/a runs/b", "one run at a time"},
    };
    for (size_t i = 0; i < sizeof ui_bad / sizeof ui_bad[0]; i++) {
        int rc = run("%s ui %s </dev/null", bin, ui_bad[i].in);
        if (rc != 2) fail_msg("'ui %s' exited %d, want 2", ui_bad[i].in, rc);
        char *err = slurp("err.txt");
        if (!strstr(err, ui_bad[i].msg))
            fail_msg("'ui %s': %s", ui_bad[i].in, err);
        free(err);
    }
    assert_int_equal(run("%s new --help", bin), 0);
    char *out = slurp("out.txt");
    assert_non_null(strstr(out, "mobilenetv2"));
    free(out);
    assert_int_equal(run("%s stats --help", bin), 0);
    out = slurp("out.txt");
    assert_non_null(strstr(out, "--flops"));
    free(out);
    /* Valid variants: HxW (one channel), width and depth knobs. */
    assert_int_equal(run("%s new cnn --input 28x28 --classes 10 --width 16 "
                         "--depth 2 | %s stats - --json",
                         bin, bin),
                     0);
    out = slurp("out.txt");
    /* bn 1: 2, conv 1->16: 160, bn 16: 32, conv 16->16: 2320,
     * dense 16->16: 272, dense 16->10: 170 */
    assert_non_null(strstr(out, "\"params\":\t2956,"));
    free(out);
}


/* ---- the CLI's traps ------------------------------------------------------ */

static int exists(const char *p) { return access(p, F_OK) == 0; }

/* The line of `text` that contains `needle` (a copy), or NULL. */
static char *line_with(const char *text, const char *needle) {
    const char *p = strstr(text, needle);
    if (!p) return NULL;
    const char *a = p, *b = p;
    while (a > text && a[-1] != '\n') a--;
    while (*b && *b != '\n') b++;
    return strndup(a, (size_t)(b - a));
}

/* "... (default X)" or "...; default X)" of the help line for --opt. */
static char *help_default(const char *help, const char *opt) {
    char key[64];
    snprintf(key, sizeof key, "    --%s ", opt); /* an option line */
    char *l = line_with(help, key);
    if (!l) {
        snprintf(key, sizeof key, ", --%s ", opt);
        l = line_with(help, key);
    }
    if (!l) fail_msg("no %s in help:\n%s", key, help);
    char *d = strstr(l, "default ");
    if (!d) {
        free(l);
        return NULL;
    }
    d += 8;
    size_t n = strcspn(d, ")");
    char *r = strndup(d, n);
    free(l);
    return r;
}

/* A setting as settings.json writes it: numbers by %g, strings as is. */
static void json_value(const cJSON *j, const char *key, char *buf, size_t n) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!it) fail_msg("settings.json has no '%s'", key);
    if (cJSON_IsNumber(it)) snprintf(buf, n, "%g", it->valuedouble);
    else if (cJSON_IsString(it)) snprintf(buf, n, "%s", it->valuestring);
    else fail_msg("settings.json: '%s' is neither number nor string", key);
}

static cJSON *load_json(const char *path) {
    char *text;
    size_t len;
    sn_error e;
    if (sn_read_file(path, &text, &len, &e)) fail_msg("%s", e.msg);
    cJSON *j = cJSON_Parse(text);
    if (!j) fail_msg("%s is not JSON:\n%s", path, text);
    free(text);
    return j;
}

/* A quick search on synthetic data into dir/NAME; extra options appended. */
static int quick_search(const char *name, const char *extra) {
    return run("%s search --data synthetic:300 --run %s --bases cnn:4:2 "
               "--max-train 0 --root-epochs 1 --strategy random -j 1 %s",
               bin, path_in_dir(name), extra);
}

/* --lr said 0.05 where the default is 0.1: every default that search's
 * help shows is the value a run started without that option stores, and
 * the explorer's and train's help agree. Settings are stored as typed. */
static void test_help_defaults(void **state) {
    (void)state;
    assert_int_equal(run("%s search --help", bin), 0);
    char *help = slurp("out.txt");
    /* only options whose defaults are not compared */
    assert_int_equal(run("%s search --data synthetic:300 --run %s/defaults "
                         "--bases cnn:4:2 --max-train 0 --root-epochs 1 "
                         "--max-candidates 1 -j 1", bin, dir), 0);
    cJSON *set = load_json(path_in_dir("defaults/settings.json"));
    static const char *const keys[] = {"lr",         "epochs",   "batch",
                                       "final-epochs", "val-split", "seed",
                                       "strategy",   "objective", "final",
                                       "weight-decay"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char *d = help_default(help, keys[i]), v[128];
        if (!d) fail_msg("search --help shows no default for --%s", keys[i]);
        json_value(set, keys[i], v, sizeof v);
        if (strcmp(d, v))
            fail_msg("--%s: help says default %s, a run stores %s", keys[i],
                     d, v);
        free(d);
    }
    cJSON_Delete(set);
    free(help);
    /* settings.json holds 0.1, not 0.10000000149011612 */
    char *text = slurp("defaults/settings.json");
    assert_non_null(strstr(text, "\"lr\":\t0.1,"));
    assert_non_null(strstr(text, "\"weight-decay\":\t0.0001,"));
    free(text);
    /* the explorer lists the same defaults; train shows its own */
    assert_int_equal(run("%s ui --help", bin), 0);
    help = slurp("out.txt");
    char *l = line_with(help, "--lr ");
    assert_non_null(l);
    if (!strstr(l, "default 0.1)")) fail_msg("ui --help: %s", l);
    assert_null(strstr(help, "0.05"));
    free(l);
    free(help);
    static const char *const cmds[] = {"resume", "fork", "train"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(run("%s %s --help", bin, cmds[i]), 0);
        help = slurp("out.txt");
        if (strstr(help, "0.05")) fail_msg("%s --help says 0.05", cmds[i]);
        free(help);
    }
    assert_int_equal(run("%s train --help", bin), 0);
    help = slurp("out.txt");
    char *d = help_default(help, "lr");
    assert_non_null(d);
    assert_string_equal(d, "0.1 for sgd, 0.001 for adamw");
    free(d);
    d = help_default(help, "epochs");
    assert_string_equal(d, "1");
    free(d);
    free(help);
}

/* Each short option means one thing in every command. */
static void test_short_options(void **state) {
    (void)state;
    assert_int_equal(run("%s --help", bin), 0);
    char *main_help = slurp("out.txt");
    char longs[128][32];
    memset(longs, 0, sizeof longs);
    int cmds = 0, shorts = 0;
    for (char *p = strstr(main_help, "commands:\n"); p && (p = strchr(p, '\n'));) {
        p++;
        char name[32];
        if (sscanf(p, "  %31s", name) != 1 || p[0] != ' ') break;
        assert_int_equal(run("%s %s --help", bin, name), 0);
        char *h = slurp("out.txt");
        cmds++;
        for (char *q = h; (q = strstr(q, "\n  -")); q++) {
            char c, lng[32];
            if (sscanf(q, "\n  -%c, --%31[a-z0-9-]", &c, lng) != 2) continue;
            if (c == 'h') continue;
            shorts++;
            if (!longs[(int)c][0])
                snprintf(longs[(int)c], sizeof longs[0], "%s", lng);
            else if (strcmp(longs[(int)c], lng))
                fail_msg("-%c is --%s in one command and --%s in %s", c,
                         longs[(int)c], lng, name);
        }
        free(h);
    }
    free(main_help);
    assert_true(cmds >= 10);
    assert_true(shorts >= 10);
    assert_string_equal(longs['j'], "threads");
    assert_string_equal(longs['d'], "data");
    assert_string_equal(longs['c'], "config");
    /* the explorer parses by hand: -j is --threads there too */
    assert_int_equal(run("%s ui --help", bin), 0);
    char *h = slurp("out.txt");
    assert_non_null(strstr(h, "-j, --threads"));
    assert_non_null(strstr(h, "-d, --data"));
    free(h);
    /* stats -j is gone (it meant --json), new -c (--classes) too */
    assert_int_equal(run("%s new cnn --input 8x8x1 --classes 3 | %s stats - -j",
                         bin, bin), 2);
    assert_int_equal(run("%s new cnn --input 8x8x1 -c 3", bin), 2);
}

static int count_tree(const cJSON *nodes, int parent, int *front) {
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, nodes) {
        assert_int_equal(
            (int)cJSON_GetObjectItem(c, "parent")->valuedouble, parent);
        *front += cJSON_IsTrue(cJSON_GetObjectItem(c, "front"));
        n += 1 + count_tree(cJSON_GetObjectItem(c, "children"),
                            (int)cJSON_GetObjectItem(c, "id")->valuedouble,
                            front);
    }
    return n;
}

/* show --front --json prints the front, --tree --json the tree. */
static void test_show_json_views(void **state) {
    (void)state;
    assert_int_equal(quick_search("show", "--max-candidates 6 --seed 3"), 0);
    char r[300];
    snprintf(r, sizeof r, "%s/show", dir);
    assert_int_equal(run("%s show %s --json", bin, r), 0);
    cJSON *all = load_json(path_in_dir("out.txt"));
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(all, "candidates"));
    const cJSON *ids = cJSON_GetObjectItem(all, "front");
    int nf = cJSON_GetArraySize(ids);
    assert_int_equal(n, 6);
    assert_true(nf >= 1);

    assert_int_equal(run("%s show %s --front --json", bin, r), 0);
    cJSON *fr = load_json(path_in_dir("out.txt"));
    assert_null(cJSON_GetObjectItem(fr, "candidates"));
    const cJSON *m = cJSON_GetObjectItem(fr, "front");
    assert_int_equal(cJSON_GetArraySize(m), nf);
    for (int i = 0; i < nf; i++) {
        const cJSON *c = cJSON_GetArrayItem(m, i);
        assert_true(cJSON_IsObject(c));
        assert_int_equal((int)cJSON_GetObjectItem(c, "id")->valuedouble,
                         (int)cJSON_GetArrayItem(ids, i)->valuedouble);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c, "front")));
    }
    cJSON_Delete(fr);

    assert_int_equal(run("%s show %s --tree --json", bin, r), 0);
    cJSON *tr = load_json(path_in_dir("out.txt"));
    assert_null(cJSON_GetObjectItem(tr, "candidates"));
    int on_front = 0;
    assert_int_equal(count_tree(cJSON_GetObjectItem(tr, "tree"), -1, &on_front),
                     n);
    assert_int_equal(on_front, nf);
    cJSON_Delete(tr);
    cJSON_Delete(all);
    assert_int_equal(run("%s show %s --tree --front", bin, r), 2);
}

/* search is always headless: the help says so, --headless still works. */
static void test_headless_flag(void **state) {
    (void)state;
    assert_int_equal(run("%s search --help", bin), 0);
    char *h = slurp("out.txt");
    assert_null(strstr(h, "    --headless")); /* not an option line */
    assert_non_null(strstr(h, "search always runs headless"));
    free(h);
    assert_int_equal(quick_search("headless", "--max-candidates 1 --headless"),
                     0);
}

/* The first line names the budget and limits; each candidate line its
 * search time and time left; the final retraining reports every member;
 * resume says in one line what was there and prints only new records;
 * counts agree with their nouns. */
static void test_progress_lines(void **state) {
    (void)state;
    assert_int_equal(quick_search("prog", "--max-candidates 3 --max-params 2k "
                                          "--budget 10m --final 2 "
                                          "--final-epochs 2 --hv-accuracy 0"),
                     0);
    char *out = slurp("out.txt"), *err = slurp("err.txt");
    char *first = strndup(err, strcspn(err, "\n"));
    if (!strstr(first, "budget 10m") || !strstr(first, "2,000 params") ||
        !strstr(first, "at most 3 candidates") ||
        !strstr(first, "final: 2 members, 2 epochs each"))
        fail_msg("first line: %s", first);
    free(first);
    int records = 0;
    for (char *l = out; *l == '#'; l = strchr(l, '\n') + 1) {
        char *line = strndup(l, strcspn(l, "\n"));
        if (!strstr(line, " left, ")) fail_msg("no time left: %s", line);
        records++;
        free(line);
    }
    assert_int_equal(records, 3);
    /* the final: each member announced, its epochs, its test accuracy */
    assert_non_null(strstr(err, "final 1/"));
    assert_non_null(strstr(err, ": retraining #"));
    assert_non_null(strstr(err, "epoch 2/2 done"));
    char *res = line_with(out, "final 1/");
    if (!res || !strstr(res, " test ")) fail_msg("no final result in:\n%s", out);
    free(res);
    assert_non_null(strstr(out, "done after 3 candidates, "));
    free(out);
    free(err);

    assert_int_equal(run("%s resume %s --max-candidates 4 -j 1", bin,
                         path_in_dir("prog")), 0);
    out = slurp("out.txt");
    err = slurp("err.txt");
    char *sum = line_with(err, " holds ");
    if (!sum || !strstr(sum, "3 candidates") || !strstr(sum, "left"))
        fail_msg("resume summary: %s", err);
    free(sum);
    assert_null(strstr(out, "#0 ")); /* earlier records are not repeated */
    assert_non_null(strstr(out, "#3 "));
    assert_non_null(strstr(err, "at most 4 candidates"));
    free(out);
    free(err);

    assert_int_equal(quick_search("one", "--max-candidates 1"), 0);
    out = slurp("out.txt");
    assert_non_null(strstr(out, "done after 1 candidate, "));
    free(out);
    assert_int_equal(run("%s show %s --candidate 0", bin, path_in_dir("one")),
                     0);
    out = slurp("out.txt");
    assert_non_null(strstr(out, "trained     1 epoch in"));
    free(out);
}

/* Shapes are HxWxC everywhere (12x12x1 synthetic images). */
static void test_shape_notation(void **state) {
    (void)state;
    char g[300];
    snprintf(g, sizeof g, "%s/t2.json", dir);
    assert_int_equal(run("%s new tiny2conv --input 12x12x1 --classes 10 -o %s",
                         bin, g), 0);
    assert_int_equal(run("%s train %s --data synthetic:200 --epochs 1 -j 1",
                         bin, g), 0);
    char *err = slurp("err.txt"), *out = slurp("out.txt");
    if (!strstr(err, "synthetic: 12x12x1, 10 classes") ||
        !strstr(err, "1 thread\n"))
        fail_msg("train said: %s", err);
    assert_non_null(strstr(out, "trained 1 epoch in"));
    free(err);
    free(out);
    if (!exists(path_in_dir("one/settings.json")))
        assert_int_equal(quick_search("one", "--max-candidates 1"), 0);
    assert_int_equal(run("%s show %s --candidate 0", bin, path_in_dir("one")),
                     0);
    out = slurp("out.txt");
    assert_non_null(strstr(out, "output HxWxC"));
    /* cnn:4 on 12x12x1: the first conv keeps 12x12 with 4 channels */
    assert_non_null(strstr(out, " 12x12x4 "));
    assert_null(strstr(out, " 4x12x12 "));
    free(out);
}

/* An unknown --data spec is a usage error everywhere, and no run
 * directory appears. */
static void test_unknown_data_spec(void **state) {
    (void)state;
    char r[300];
    snprintf(r, sizeof r, "%s/nodata", dir);
    char g[300];
    snprintf(g, sizeof g, "%s/t2.json", dir);
    assert_int_equal(run("%s new tiny2conv --input 12x12x1 --classes 10 -o %s",
                         bin, g), 0);
    const char *cmds[] = {"search --data bogus --run %s",
                          "search --data synthetic:0 --run %s",
                          "search --data idx --run %s",
                          "ui --data bogus --run %s",
                          "train %s --data nosuch",
                          "eval %s --weights w.bin --data nosuch:dir",
                          NULL};
    for (int i = 0; cmds[i]; i++) {
        char c[512];
        snprintf(c, sizeof c, cmds[i], i < 4 ? r : g);
        int rc = run("%s %s </dev/null", bin, c);
        if (rc != 2) fail_msg("'%s' exited %d, want 2", c, rc);
        char *err = slurp("err.txt");
        if (count_lines(err) != 1) fail_msg("'%s' stderr:\n%s", c, err);
        free(err);
        assert_false(exists(r));
    }
}

/* An IDX folder of n_train + n_test h x w images (10 classes). */
static void write_idx(const char *where, int h, int w, int n_train,
                      int n_test) {
    mkdir(where, 0755);
    static const char *const names[2][2] = {
        {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
        {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
    for (int set = 0; set < 2; set++) {
        int n = set ? n_test : n_train;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", where, names[set][0]);
        FILE *f = fopen(p, "wb");
        assert_non_null(f);
        uint8_t hd[16] = {0, 0, 8, 3};
        uint32_t v[3] = {(uint32_t)n, (uint32_t)h, (uint32_t)w};
        for (int k = 0; k < 3; k++)
            for (int b = 0; b < 4; b++)
                hd[4 + 4 * k + b] = (uint8_t)(v[k] >> (24 - 8 * b));
        fwrite(hd, 1, 16, f);
        for (int i = 0; i < n; i++)
            for (int y = 0; y < h * w; y++)
                fputc((i % 10) * 25 + (y % 7) * (i % 3), f);
        fclose(f);
        snprintf(p, sizeof p, "%s/%s", where, names[set][1]);
        f = fopen(p, "wb");
        assert_non_null(f);
        uint8_t lh[8] = {0, 0, 8, 1, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
                         (uint8_t)(n >> 8), (uint8_t)n};
        fwrite(lh, 1, 8, f);
        for (int i = 0; i < n; i++) fputc(i % 10, f);
        fclose(f);
    }
}

/* Trap 5: data that cannot be read leaves no run behind (search, ui);
 * after the files move, resume says how to point the run at them and
 * takes --data when it fits (refusing another shape), fork likewise. */
static void test_data_before_run(void **state) {
    (void)state;
    char r[300];
    snprintf(r, sizeof r, "%s/baddata", dir);
    int rc = run("%s search --data fashion-mnist:%s/none --run %s -j 1", bin,
                 dir, r);
    assert_int_equal(rc, 1);
    assert_false(exists(r));
    char *err = slurp("err.txt");
    assert_int_equal(count_lines(err), 1);
    free(err);
    rc = run("%s ui --data fashion-mnist:%s/none --run %s -j 1 </dev/null", bin,
             dir, r);
    assert_true(rc == 1 || rc == 2);
    assert_false(exists(r));
    assert_int_equal(run("%s search --data cifar10:%s/none --config /nonexistent "
                         "--run %s", bin, dir, r), 1);
    assert_false(exists(r));

    char d1[300], d2[300], spec[400];
    snprintf(d1, sizeof d1, "%s/idx-a", dir);
    snprintf(d2, sizeof d2, "%s/idx-b", dir);
    write_idx(d1, 10, 10, 200, 40);
    char run1[300];
    snprintf(run1, sizeof run1, "%s/moved", dir);
    assert_int_equal(run("%s search --data idx:%s --run %s --bases cnn:4:2 "
                         "--max-train 0 --root-epochs 1 --max-candidates 2 "
                         "-j 1", bin, d1, run1), 0);
    assert_int_equal(rename(d1, d2), 0);
    /* the data moved: resume fails in one line that says what to do */
    assert_int_equal(run("%s resume %s --max-candidates 3 -j 1", bin, run1), 1);
    err = slurp("err.txt");
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "--data SPEC"));
    free(err);
    /* other shape: refused, settings unchanged */
    assert_int_equal(run("%s resume %s --data synthetic:300 -j 1", bin, run1), 1);
    err = slurp("err.txt");
    if (!strstr(err, "10x10x1 images of 10 classes") ||
        !strstr(err, "synthetic:300 has 12x12x1"))
        fail_msg("resume --data synthetic: %s", err);
    free(err);
    char *set = slurp("moved/settings.json");
    snprintf(spec, sizeof spec, "\"data\":\t\"idx:%s\"", d1);
    assert_non_null(strstr(set, spec));
    free(set);
    /* unknown spec: usage */
    assert_int_equal(run("%s resume %s --data nonsense -j 1", bin, run1), 2);
    /* where it is now: goes on, and the new place is saved */
    assert_int_equal(run("%s resume %s --data idx:%s --max-candidates 3 -j 1",
                         bin, run1, d2), 0);
    char *out = slurp("out.txt");
    assert_non_null(strstr(out, "#2 "));
    free(out);
    set = slurp("moved/settings.json");
    snprintf(spec, sizeof spec, "\"data\":\t\"idx:%s\"", d2);
    assert_non_null(strstr(set, spec));
    free(set);
    /* fork: another shape refused before the new directory exists */
    char f1[300];
    snprintf(f1, sizeof f1, "%s/forked", dir);
    assert_int_equal(run("%s fork %s 0 --run %s --data synthetic:300 -j 1", bin,
                         run1, f1), 1);
    assert_false(exists(f1));
    assert_int_equal(run("%s fork %s 0 --run %s --data bogus -j 1", bin, run1,
                         f1), 2);
    assert_false(exists(f1));
    assert_int_equal(run("%s fork %s 0 --run %s --data idx:%s "
                         "--max-candidates 2 -j 1", bin, run1, f1, d2), 0);
    assert_true(exists(f1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_pipelines),
        cmocka_unit_test(test_table_and_files),
        cmocka_unit_test(test_malformed_graphs),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_help_defaults),
        cmocka_unit_test(test_short_options),
        cmocka_unit_test(test_show_json_views),
        cmocka_unit_test(test_headless_flag),
        cmocka_unit_test(test_progress_lines),
        cmocka_unit_test(test_shape_notation),
        cmocka_unit_test(test_unknown_data_spec),
        cmocka_unit_test(test_data_before_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
