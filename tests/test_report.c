/* test_report.c — reports of small synthetic runs: each format rendered
 * and read back (the PNG decoded by cairo, the SVG parsed as XML by
 * python3's xml.dom.minidom, the HTML's table rows counted against the
 * front, the PDF's header and trailer), CSV rows and quoting, the shared
 * axis of runs with different objectives, and the command line's bad
 * input (one line, exit 1 or 2, no file left). Runs are made through the
 * search API, so the library tests need no binary; the command-line
 * tests use $SLIMNAS (default ./slimnas). */
#include "testutil.h"

#include <cairo.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slimnas/report.h"

static char tmp[256];
static char run_a[300], run_b[300], run_f[300], run_pf[300];
static const char *bin;

/* A small run on synthetic data: 6 candidates, under 1 s. */
static void make_run(const char *dir, sn_strategy strat, const char *obj) {
    sn_search_settings s = sn_settings_default();
    snprintf(s.data, sizeof s.data, "synthetic:300");
    snprintf(s.bases, sizeof s.bases, "cnn:4:2,mobile_tiny:4");
    s.max_train = 0;
    s.epochs = 1;
    s.root_epochs = 1;
    s.batch = 32;
    s.budget = 0;
    s.max_candidates = 6;
    s.max_params = 2000;
    s.strategy = strat;
    sn_error e;
    if (sn_settings_set(&s, "objective", obj, &e)) fail_msg("%s", e.msg);
    sn_search *se = sn_search_create(dir, &s, &e);
    if (!se) fail_msg("%s", e.msg);
    sn_data_opts o = sn_settings_data_opts(&s, 0);
    sn_data *d = sn_data_open(s.data, &o, &e);
    if (!d) fail_msg("%s", e.msg);
    assert_int_equal(sn_search_attach_data(se, d, NULL, &e), 0);
    int rc;
    while ((rc = sn_search_step(se, NULL, &e)) == 1)
        ;
    if (rc < 0) fail_msg("%s", e.msg);
    assert_int_equal(sn_search_count(se), 6);
    sn_search_free(se);
    sn_data_free(d);
}

static int setup(void **state) {
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/sn_test_report_%d", (int)getpid());
    tu_rm_rf(tmp);
    if (mkdir(tmp, 0755)) return -1;
    bin = getenv("SLIMNAS");
    if (!bin || !*bin) bin = "./slimnas";
    sn_threads_init(1);
    snprintf(run_a, sizeof run_a, "%s/run-a", tmp);
    snprintf(run_b, sizeof run_b, "%s/run-b", tmp);
    snprintf(run_f, sizeof run_f, "%s/run-flops", tmp);
    snprintf(run_pf, sizeof run_pf, "%s/run-pf", tmp);
    make_run(run_a, SN_STRAT_RANDOM, "params");
    make_run(run_b, SN_STRAT_EVOLUTION, "params");
    make_run(run_f, SN_STRAT_RANDOM, "flops");
    make_run(run_pf, SN_STRAT_RANDOM, "params,flops");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sn_threads_shutdown();
    if (!getenv("SN_KEEP_TMP")) tu_rm_rf(tmp);
    return 0;
}

static const char *path(const char *name) {
    static char buf[4][400];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

static void load2(sn_report_run r[2]) {
    sn_error e;
    if (sn_report_run_load(&r[0], run_a, NULL, 0, &e)) fail_msg("%s", e.msg);
    if (sn_report_run_load(&r[1], run_b, NULL, 0, &e)) fail_msg("%s", e.msg);
    assert_true(r[0].n_front >= 1 && r[1].n_front >= 1);
}

/* Pixels of the exact colour (r, g, b) in an RGB24 image. */
static int count_colour(cairo_surface_t *s, int r, int g, int b) {
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s), n = 0;
    const unsigned char *d = cairo_image_surface_get_data(s);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t px = *(const uint32_t *)(d + (size_t)y * stride + 4 * (size_t)x);
            n += (int)((px >> 16) & 255) == r && (int)((px >> 8) & 255) == g &&
                 (int)(px & 255) == b;
        }
    return n;
}

static void test_png_decodes(void **state) {
    (void)state;
    sn_report_run r[2];
    load2(r);
    sn_report_opts o = {-1, "two runs"};
    sn_error e;
    char note[256];
    assert_int_equal(sn_report_axis(r, 2, &o.axis, note, sizeof note, &e), 0);
    assert_int_equal(o.axis, SN_OBJ_PARAMS);
    assert_string_equal(note, "");
    int w = 0, h = 0;
    if (sn_report_write(path("r.png"), r, 2, &o, &w, &h, &e)) fail_msg("%s", e.msg);
    assert_int_equal(w, SN_REPORT_WIDTH);
    /* legend, fronts, hypervolume and the members' layer rows */
    int rows = 0;
    for (int i = 0; i < 2; i++) rows += r[i].members[0].n_layers;
    assert_true(h > 700 + 13 * rows);
    cairo_surface_t *s = cairo_image_surface_create_from_png(path("r.png"));
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    assert_int_equal(cairo_image_surface_get_width(s), w);
    assert_int_equal(cairo_image_surface_get_height(s), h);
    /* both runs' marks are drawn in their colours (blue, vermillion) */
    cairo_surface_flush(s);
    assert_true(count_colour(s, 0, 114, 178) > 50);
    assert_true(count_colour(s, 213, 94, 0) > 50);
    /* a third run has a third colour; one run has neither of the others */
    cairo_surface_destroy(s);
    if (sn_report_write(path("a.png"), r, 1, &o, &w, &h, &e)) fail_msg("%s", e.msg);
    s = cairo_image_surface_create_from_png(path("a.png"));
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    assert_true(count_colour(s, 0, 114, 178) > 50);
    assert_int_equal(count_colour(s, 213, 94, 0), 0);
    cairo_surface_destroy(s);
    sn_report_run_free(&r[0]);
    sn_report_run_free(&r[1]);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st)) fail_msg("could not run: %s", cmd);
    return WEXITSTATUS(st);
}

/* 0 when python3's minidom parses the file and its root is <svg>. */
static int xml_ok(const char *file) {
    return sh("python3 -c 'import sys, xml.dom.minidom as m; "
              "d = m.parse(sys.argv[1]); "
              "sys.exit(d.documentElement.tagName != \"svg\")' '%s' 2>/dev/null",
              file);
}

__attribute__((noinline)) static char *slurp(const char *file) {
    char *d;
    size_t n;
    sn_error e;
    if (sn_read_file(file, &d, &n, &e)) fail_msg("%s", e.msg);
    return d;
}

static int count_str(const char *s, const char *what) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

static void test_svg_parses(void **state) {
    (void)state;
    sn_report_run r[2];
    load2(r);
    sn_report_opts o = {SN_OBJ_PARAMS, NULL};
    sn_error e;
    int w, h;
    if (sn_report_write(path("r.svg"), r, 2, &o, &w, &h, &e)) fail_msg("%s", e.msg);
    assert_int_equal(xml_ok(path("r.svg")), 0);
    /* the check can fail: a cut file does not parse */
    char *t = slurp(path("r.svg"));
    FILE *f = fopen(path("cut.svg"), "w");
    fwrite(t, 1, strlen(t) / 2, f);
    fclose(f);
    assert_int_not_equal(xml_ok(path("cut.svg")), 0);
    char want[64];
    snprintf(want, sizeof want, "width=\"%dpt\" height=\"%dpt\"", w, h);
    if (!strstr(t, want)) fail_msg("no %s in the SVG", want);
    free(t);
    /* PDF from the same path */
    if (sn_report_write(path("r.pdf"), r, 2, &o, &w, &h, &e)) fail_msg("%s", e.msg);
    size_t n;
    if (sn_read_file(path("r.pdf"), &t, &n, &e)) fail_msg("%s", e.msg);
    assert_true(n > 1000);
    assert_memory_equal(t, "%PDF-", 5);
    assert_non_null(strstr(t + n - 8, "%%EOF"));
    free(t);
    sn_report_run_free(&r[0]);
    sn_report_run_free(&r[1]);
}

static void test_html(void **state) {
    (void)state;
    sn_report_run r[2];
    load2(r);
    sn_report_opts o = {SN_OBJ_PARAMS, "a <b> & c"};
    sn_error e;
    int w, h;
    if (sn_report_write(path("r.html"), r, 2, &o, &w, &h, &e)) fail_msg("%s", e.msg);
    char *t = slurp(path("r.html"));
    assert_int_equal(count_str(t, "<tr class=\"member\">"),
                     r[0].n_front + r[1].n_front);
    /* every member's row: its run, its id */
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < r[i].n_front; k++) {
            char row[128];
            snprintf(row, sizeof row,
                     "<tr class=\"member\"><td class=\"t\">%s</td><td "
                     "data-v=\"%d\">#%d</td>",
                     r[i].label, r[i].front[k], r[i].front[k]);
            if (!strstr(t, row)) fail_msg("no row %s", row);
        }
    assert_non_null(strstr(t, "<title>a &lt;b&gt; &amp; c</title>"));
    /* self-contained: one inline SVG, a script, nothing fetched */
    assert_int_equal(count_str(t, "<svg"), 1);
    assert_non_null(strstr(t, "<script>"));
    assert_null(strstr(t, "src="));
    assert_null(strstr(t, "<link"));
    assert_null(strstr(t, "url(http"));
    /* the inline SVG is well-formed XML */
    char *a = strstr(t, "<svg"), *b = strstr(t, "</svg>");
    assert_true(a && b && b > a);
    FILE *f = fopen(path("inline.svg"), "w");
    fwrite(a, 1, (size_t)(b - a) + 6, f);
    fclose(f);
    assert_int_equal(xml_ok(path("inline.svg")), 0);
    free(t);
    sn_report_run_free(&r[0]);
    sn_report_run_free(&r[1]);
}

/* Splits one CSV record (RFC 4180) into fields; returns the count. */
static int csv_split(const char *line, char fields[16][256]) {
    int n = 0;
    const char *p = line;
    for (;;) {
        char *o = fields[n];
        size_t k = 0;
        if (*p == '"') {
            for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
                if (*p == '"') p++;
                if (k < 255) o[k++] = *p;
            }
            if (*p == '"') p++;
        } else {
            for (; *p && *p != ',' && *p != '\n'; p++)
                if (k < 255) o[k++] = *p;
        }
        o[k] = 0;
        n++;
        if (*p != ',' || n == 16) break;
        p++;
    }
    return n;
}

static void test_csv(void **state) {
    (void)state;
    char buf[256];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    sn_report_csv_field(f, "wider conv2 4->8, \"x\"");
    fputc('|', f);
    sn_report_csv_field(f, "plain");
    fclose(f);
    assert_string_equal(buf, "\"wider conv2 4->8, \"\"x\"\"\"|plain");

    sn_report_run r[2];
    load2(r);
    size_t len;
    char *t = sn_report_csv(r, 2, &len);
    assert_int_equal(len, strlen(t));
    char *save = NULL, *line = strtok_r(t, "\n", &save);
    assert_string_equal(line, "run,id,parent,ops,params,macs,memory,fidelity,"
                              "val,test,seconds,status");
    int rows = 0;
    char fl[16][256];
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < r[i].n; k++) {
            line = strtok_r(NULL, "\n", &save);
            assert_non_null(line);
            assert_int_equal(csv_split(line, fl), 12);
            const sn_cand_info *c = &r[i].cands[k];
            assert_string_equal(fl[0], r[i].label);
            assert_int_equal(atoi(fl[1]), c->id);
            if (c->parent < 0) assert_string_equal(fl[2], "");
            else assert_int_equal(atoi(fl[2]), c->parent);
            assert_string_equal(fl[3], c->op); /* quoting round-trips */
            assert_int_equal(atoll(fl[4]), c->params);
            assert_int_equal(atoll(fl[5]), c->flops);
            assert_int_equal(atoll(fl[6]), c->memory);
            assert_int_equal(atoi(fl[7]), c->fidelity);
            assert_true(c->fidelity == 1 || c->fidelity == 2);
            assert_string_equal(fl[11], sn_cand_status_name(c->status));
            rows++;
        }
    assert_null(strtok_r(NULL, "\n", &save));
    assert_int_equal(rows, 12);
    free(t);
    sn_report_run_free(&r[0]);
    sn_report_run_free(&r[1]);
}

/* Axes: the same objectives share the first; partly shared objectives
 * draw the shared one and say so; none shared is refused. */
static void test_axes(void **state) {
    (void)state;
    sn_report_run r[3];
    sn_error e;
    assert_int_equal(sn_report_run_load(&r[0], run_a, NULL, 0, &e), 0);
    assert_int_equal(sn_report_run_load(&r[1], run_pf, NULL, 0, &e), 0);
    assert_int_equal(sn_report_run_load(&r[2], run_f, NULL, 0, &e), 0);
    char note[512];
    int axis = -1;
    assert_int_equal(sn_report_axis(r, 2, &axis, note, sizeof note, &e), 0);
    assert_int_equal(axis, SN_OBJ_PARAMS);
    assert_non_null(strstr(note, "drawing params"));
    axis = -1; /* pf and flops share flops */
    assert_int_equal(sn_report_axis(r + 1, 2, &axis, note, sizeof note, &e), 0);
    assert_int_equal(axis, SN_OBJ_FLOPS);
    axis = -1; /* params and flops: nothing */
    sn_report_run pair[2] = {r[0], r[2]};
    assert_int_equal(sn_report_axis(pair, 2, &axis, note, sizeof note, &e), -1);
    assert_non_null(strstr(e.msg, "no size axis in common"));
    assert_non_null(strstr(e.msg, run_a));
    assert_non_null(strstr(e.msg, run_f));
    axis = SN_OBJ_FLOPS; /* asked for: every run must have it */
    assert_int_equal(sn_report_axis(r, 2, &axis, note, sizeof note, &e), -1);
    assert_non_null(strstr(e.msg, "has no front over flops"));
    assert_non_null(strstr(e.msg, "the runs share params"));
    /* an untrained or unknown member is refused */
    int bad = 99;
    sn_report_run x;
    assert_int_equal(sn_report_run_load(&x, run_a, &bad, 1, &e), -1);
    assert_non_null(strstr(e.msg, "no candidate 99"));
    for (int i = 0; i < 3; i++) sn_report_run_free(&r[i]);
    assert_int_equal(sn_report_format_of("x.PNG"), SN_REPORT_PNG);
    assert_int_equal(sn_report_format_of("x.htm"), SN_REPORT_HTML);
    assert_int_equal(sn_report_format_of("x.gif"), -1);
    assert_int_equal(sn_report_format_of("dir.svg/x"), -1);
}

/* The experiments' configs load and pass the settings check. */
static void test_experiment_configs(void **state) {
    (void)state;
    static const char *const names[] = {"experiment-bases", "experiment-budget"};
    for (int i = 0; i < 2; i++) {
        char p[128];
        snprintf(p, sizeof p, "samples/searches/%s.json", names[i]);
        sn_search_settings s = sn_settings_default();
        sn_error e;
        if (sn_settings_load(&s, p, &e)) fail_msg("%s", e.msg);
        if (sn_settings_check(&s, &e)) fail_msg("%s: %s", p, e.msg);
        assert_int_equal(s.max_params, 50000);
        assert_int_equal(s.final_n, 0);
        assert_true(s.budget > 0);
    }
}

/* ---- the command line ---------------------------------------------------- */

static int have_bin(void) {
    if (access(bin, X_OK) == 0) return 1;
    fail_msg("%s is not executable (set SLIMNAS)", bin);
    return 0;
}

/* Runs the binary with stdout/stderr to files; the exit code. */
static int run(const char *args) {
    return sh("%s %s >'%s' 2>'%s'", bin, args, path("out.txt"), path("err.txt"));
}

static int lines_of(const char *file) {
    char *t = slurp(file);
    int n = count_str(t, "\n");
    free(t);
    return n;
}

/* Nothing named NAME or NAME.tmp.* in dir. */
static void assert_no_file(const char *dir, const char *name) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, name, strlen(name)))
            fail_msg("%s/%s was left behind", dir, de->d_name);
    closedir(d);
}

static void test_cli_formats(void **state) {
    (void)state;
    if (!have_bin()) return;
    char args[1200];
    static const char *const ext[] = {"svg", "png", "pdf", "html", "csv"};
    for (int i = 0; i < 5; i++) {
        snprintf(args, sizeof args, "report %s %s -o %s/cli.%s", run_a, run_b,
                 tmp, ext[i]);
        if (run(args)) fail_msg("report -o .%s failed: %s", ext[i], slurp(path("err.txt")));
        char *t = slurp(path("out.txt"));
        char want[64];
        snprintf(want, sizeof want, "cli.%s (", ext[i]);
        if (!strstr(t, want)) fail_msg("'%s' printed %s", args, t);
        free(t);
    }
    cairo_surface_t *s = cairo_image_surface_create_from_png(path("cli.png"));
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    assert_int_equal(cairo_image_surface_get_width(s), SN_REPORT_WIDTH);
    cairo_surface_destroy(s);
    assert_int_equal(xml_ok(path("cli.svg")), 0);
    assert_int_equal(lines_of(path("cli.csv")), 13);
    /* show --csv: the header and one row per candidate, no run column */
    snprintf(args, sizeof args, "show %s --csv", run_a);
    assert_int_equal(run(args), 0);
    char *t = slurp(path("out.txt"));
    assert_int_equal(count_str(t, "\n"), 7);
    assert_memory_equal(t, "id,parent,ops,params,macs,memory,fidelity,val,"
                           "test,seconds,status\n0,,root cnn:4",
                        strlen("id,parent,ops,params,macs,memory,fidelity,val,"
                               "test,seconds,status\n0,,root cnn:4"));
    free(t);
    /* report --csv to stdout: two runs, the run column */
    snprintf(args, sizeof args, "report %s %s --csv", run_a, run_b);
    assert_int_equal(run(args), 0);
    assert_int_equal(lines_of(path("out.txt")), 13);
    /* members by RUN:ID; a run whose objectives differ but share params */
    snprintf(args, sizeof args, "report %s %s -m 1:0,2:1 -o %s/pf.png",
             run_a, run_pf, tmp);
    assert_int_equal(run(args), 0);
    t = slurp(path("err.txt"));
    assert_non_null(strstr(t, "drawing params"));
    free(t);
    /* --members none: no per-layer section, so a shorter page */
    snprintf(args, sizeof args, "report %s -o %s/m.png", run_a, tmp);
    assert_int_equal(run(args), 0);
    int h1 = 0, h2 = 0;
    t = slurp(path("out.txt"));
    assert_int_equal(sscanf(strstr(t, "(960x"), "(960x%d", &h1), 1);
    free(t);
    snprintf(args, sizeof args, "report %s -m none -o %s/m.png", run_a, tmp);
    assert_int_equal(run(args), 0);
    t = slurp(path("out.txt"));
    assert_int_equal(sscanf(strstr(t, "(960x"), "(960x%d", &h2), 1);
    free(t);
    assert_true(h2 < h1);
}

static void test_cli_bad_input(void **state) {
    (void)state;
    if (!have_bin()) return;
    static const struct {
        const char *args; /* %1$s = tmp, %2$s = run_a, %3$s = other run */
        int rc;
        const char *says, *file;
    } cases[] = {
        {"report %1$s/missing -o %1$s/bad1.png", 1, "missing", "bad1.png"},
        {"report %1$s -o %1$s/bad2.png", 1, "settings.json", "bad2.png"},
        {"report %2$s %3$s -o %1$s/bad3.png", 1, "no size axis in common",
         "bad3.png"},
        {"report %2$s --axis flops -o %1$s/bad4.svg", 1, "no front over flops",
         "bad4.svg"},
        {"report %2$s -o %1$s/out.txt/bad5.png", 1, "bad5.png", "bad5"},
        {"report %2$s -o %1$s/bad6.gif", 2, ".svg, .png", "bad6.gif"},
        {"report %2$s", 2, "is required", "bad7"},
        {"report %2$s -m 2:1 -o %1$s/bad8.png", 2, "--members", "bad8.png"},
        {"report %2$s -m 50 -o %1$s/bad9.png", 1, "no candidate 50", "bad9.png"},
        {"report %2$s --csv -o %1$s/bad10.png", 2, "--csv", "bad10.png"},
        {"show %2$s --csv --json", 2, "--csv", "bad11"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[1200];
        /* the positional arguments by hand: tmp, run_a, run_f */
        const char *fmt = cases[i].args;
        char *o = args;
        for (const char *p = fmt; *p && o < args + sizeof args - 320; p++) {
            if (p[0] == '%' && p[2] == '$' && p[3] == 's') {
                const char *v = p[1] == '1' ? tmp : p[1] == '2' ? run_a : run_f;
                o += sprintf(o, "%s", v);
                p += 3;
            } else {
                *o++ = *p;
            }
        }
        *o = 0;
        int rc = run(args);
        char *err = slurp(path("err.txt"));
        if (rc != cases[i].rc)
            fail_msg("'%s': exit %d, not %d; stderr: %s", args, rc, cases[i].rc, err);
        if (count_str(err, "\n") != 1 || !strstr(err, cases[i].says))
            fail_msg("'%s': stderr is not one line saying '%s': %s", args,
                     cases[i].says, err);
        free(err);
        assert_no_file(tmp, cases[i].file);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_decodes),
        cmocka_unit_test(test_svg_parses),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_axes),
        cmocka_unit_test(test_experiment_configs),
        cmocka_unit_test(test_cli_formats),
        cmocka_unit_test(test_cli_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
