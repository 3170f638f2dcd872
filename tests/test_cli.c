/* test_cli.c — runs the real `slimnas` binary (path in $SLIMNAS, default
 * ./slimnas) for `new` and `stats`: the acceptance pipelines of issue 2,
 * one-line errors with exit code 1 for malformed graphs, and exit code 2
 * for usage errors. */
#include "testutil.h"

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

static char *slurp(const char *name) {
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
        snprintf(want, sizeof want, "\"params\": %lld,", ref[i].params);
        if (!strstr(out, want)) fail_msg("%s: no %s", ref[i].kind, want);
        snprintf(want, sizeof want, "\"flops\": %lld,", ref[i].macs);
        if (!strstr(out, want)) fail_msg("%s: no %s", ref[i].kind, want);
        assert_non_null(strstr(out, "\"flops_kind\": \"macs\""));
        assert_non_null(strstr(out, "\"peak_bytes\": "));
        assert_non_null(strstr(out, "\"layers\": ["));
        free(out);
        assert_int_equal(run("%s new %s --input 32x32x3 --classes 10 | "
                             "%s stats - --json --flops autokeras",
                             bin, ref[i].kind, bin),
                         0);
        out = slurp("out.txt");
        snprintf(want, sizeof want, "\"flops\": %lld,", ref[i].ak);
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
    assert_non_null(strstr(out, "\"params\": 2956,"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_pipelines),
        cmocka_unit_test(test_table_and_files),
        cmocka_unit_test(test_malformed_graphs),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
