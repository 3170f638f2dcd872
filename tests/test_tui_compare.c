/* test_tui_compare.c — the explorer's :compare, :forks and :report in tmux
 * at 80x24 (`slimnas ui`, path in $SLIMNAS, default ./slimnas): another
 * run's front appears in its own mark with a legend, a fork of the run is
 * shown and hidden, and :report writes a PNG that decodes. The same
 * tmux approach as test_tui_e2e.c (its own small harness, so the two
 * files change independently). Skipped (with a message) without tmux. */
#include "testutil.h"

#include <cairo.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char bin[PATH_MAX];
static char dir[128], sock[64];
static int have_tmux;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

static char *capture(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s capture-pane -p -t main 2>/dev/null",
             sock);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    pclose(p);
    return buf;
}

static int count_str(const char *s, const char *what) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

/* Polls until the screen has text at least `times` times (absent: no
 * longer has it); the screen or NULL on timeout. */
static char *wait_for(const char *text, int times, int absent, double timeout) {
    double end = sn_now() + timeout;
    do {
        char *s = capture();
        int k = count_str(s, text);
        if (absent ? k == 0 : k >= times) return s;
        free(s);
        usleep(100000);
    } while (sn_now() < end);
    return NULL;
}

static void must_see(const char *text, int times, double timeout) {
    char *s = wait_for(text, times, 0, timeout);
    if (!s) {
        char *now = capture();
        fail_msg("'%s' (%d times) did not appear within %.0f s; screen:\n%s",
                 text, times, timeout, now);
    }
    free(s);
}

static void must_vanish(const char *text, double timeout) {
    char *s = wait_for(text, 1, 1, timeout);
    if (!s) {
        char *now = capture();
        fail_msg("'%s' stayed on the screen:\n%s", text, now);
    }
    free(s);
}

static void command(const char *text) {
    assert_int_equal(sh("tmux -L %s send-keys -t main :", sock), 0);
    must_see("\n:", 1, 5);
    assert_int_equal(sh("tmux -L %s send-keys -t main -l '%s'", sock, text), 0);
    assert_int_equal(sh("tmux -L %s send-keys -t main Enter", sock), 0);
}

static void make_run(const char *name, const char *strategy, int seed) {
    assert_int_equal(
        sh("%s search --data synthetic:300 --run %s/%s --bases cnn:4:2,mobile_tiny:4 "
           "--max-candidates 8 --max-train 0 --root-epochs 1 --max-params 2k "
           "--strategy %s --seed %d --headless -j 1 >/dev/null 2>&1",
           bin, dir, name, strategy, seed),
        0);
}

static int setup(void **state) {
    (void)state;
    const char *b = getenv("SLIMNAS");
    if (!b || !*b) b = "./slimnas";
    if (!realpath(b, bin)) {
        fprintf(stderr, "test_tui_compare: %s not found (set SLIMNAS)\n", b);
        return -1;
    }
    have_tmux = sh("command -v tmux >/dev/null 2>&1") == 0;
    snprintf(dir, sizeof dir, "/tmp/sn-tui-cmp-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    if (sock[0]) sh("tmux -L %s kill-server >/dev/null 2>&1", sock);
    for (int i = 0; i < 50 && sh("rm -rf '%s' 2>/dev/null", dir); i++)
        usleep(100000);
    return 0;
}

static void test_compare_forks_report(void **state) {
    (void)state;
    if (!have_tmux) {
        printf("# tmux not installed: skipped\n");
        skip();
    }
    make_run("run-a", "random", 1);
    make_run("run-b", "evolution", 2);
    snprintf(sock, sizeof sock, "sn-tui-cmp-%d", (int)getpid());
    assert_int_equal(
        sh("tmux -L %s -f /dev/null new-session -d -s main -x 80 -y 24 "
           "\"env LANG=C.UTF-8 LC_ALL=C.UTF-8 HOME=%s XDG_STATE_HOME=%s/state "
           "XDG_CONFIG_HOME=%s/config %s ui %s/run-a; echo EXITED \\$?; "
           "sleep 60\"",
           sock, dir, dir, dir, bin, dir),
        0);
    must_see("Pareto", 1, 30);
    char *s = capture();
    assert_int_equal(count_str(s, "\xe2\x96\xb2"), 0); /* no ▲ yet */
    free(s);

    /* another run: its marks (▲) and the legend */
    {
        char line[300];
        snprintf(line, sizeof line, "compare %s/run-b", dir);
        command(line);
    }
    must_see("comparing with run-b", 1, 10);
    must_see("\xe2\x96\xb2 run-b", 1, 10);     /* legend: ▲ run-b */
    must_see("\xe2\x97\x86 this run", 1, 10);  /* legend: ◆ this run */
    must_see("\xe2\x96\xb2", 2, 10);           /* and at least one point */

    /* a bad run changes nothing */
    command("compare /nonexistent/run");
    must_see("compare: /nonexistent/run", 1, 10);
    must_see("\xe2\x96\xb2 run-b", 1, 5);

    /* :report writes what is on screen */
    {
        char line[300];
        snprintf(line, sizeof line, "report %s/screen.png", dir);
        command(line);
    }
    must_see("wrote ", 1, 20);
    char png[300];
    snprintf(png, sizeof png, "%s/screen.png", dir);
    cairo_surface_t *img = cairo_image_surface_create_from_png(png);
    assert_int_equal(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    assert_int_equal(cairo_image_surface_get_width(img), 960);
    cairo_surface_destroy(img);

    /* a fork of run-a: shown in run-a's pane as "fork NAME", toggled */
    {
        char line[300];
        snprintf(line, sizeof line, "fork 0 --run %s/fk", dir);
        command(line);
    }
    must_see("fk [2/2]", 1, 20); /* the status bar: the fork is shown */
    command("runs 1");
    must_see("run 1:", 1, 10);
    must_see(" fork fk", 1, 20);
    must_see("\xe2\x96\xa0 fork fk", 1, 10); /* its mark: ■ */
    command("forks off");
    must_see("forks hidden", 1, 10);
    must_vanish(" fork fk", 10);
    must_see("\xe2\x96\xb2 run-b", 1, 5);
    command("forks on");
    must_see(" fork fk", 1, 10);

    /* cleared: no legend, no marks */
    command("compare off");
    must_see("compare: cleared", 1, 10);
    command("forks off");
    must_vanish("\xe2\x97\x86 this run", 10);
    s = capture();
    assert_int_equal(count_str(s, "\xe2\x96\xb2"), 0);
    free(s);

    assert_int_equal(sh("tmux -L %s send-keys -t main q", sock), 0);
    s = wait_for("quit?", 1, 0, 3);
    if (s) {
        sh("tmux -L %s send-keys -t main y", sock);
        free(s);
    }
    must_see("EXITED 0", 1, 30);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_forks_report),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
