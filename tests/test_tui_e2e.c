/* test_tui_e2e.c — drives the real explorer (`slimnas ui`, path in
 * $SLIMNAS, default ./slimnas) inside tmux on a small synthetic search:
 * send-keys in, capture-pane out. Each test has its own tmux server
 * (tmux -L NAME) and a temporary directory holding the run, HOME and the
 * history. Screens are polled with timeouts, never read after a fixed
 * sleep; the one deliberate wait is the pause check, which watches for
 * two seconds that nothing moves. Skipped (with a message) without tmux. */
#include "testutil.h"

#include "slimnas/tui.h"

#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char bin[PATH_MAX];
static char themes[PATH_MAX];
static int have_tmux;

typedef struct ctx {
    char sock[64];
    char dir[128];
    char run[192];
} ctx;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[20000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

/* The visible screen of the test's window (malloc'd). */
static char *capture(const ctx *c) {
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "tmux -L %s capture-pane -p -t main 2>/dev/null", c->sock);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    pclose(p);
    return buf;
}

static void sleep_ms(int ms) { usleep((useconds_t)ms * 1000); }

/* Polls the screen until it contains text (or, with absent, no longer
 * does); 1 on success, 0 after timeout seconds or as soon as the explorer
 * has exited (the pane then shows "EXITED rc") when text is not that. */
static int wait_text(const ctx *c, const char *text, double timeout,
                     int absent) {
    double end = sn_now() + timeout;
    int want_exit = !strncmp(text, "EXITED", 6);
    do {
        char *s = capture(c);
        int found = strstr(s, text) != NULL;
        int exited = strstr(s, "EXITED ") != NULL;
        free(s);
        if (found != absent) return 1;
        if (exited && !want_exit) return 0;
        sleep_ms(100);
    } while (sn_now() < end);
    return 0;
}

static void must_see(const ctx *c, const char *text, double timeout) {
    if (!wait_text(c, text, timeout, 0)) {
        static char screen[1 << 16];
        char *s = capture(c);
        snprintf(screen, sizeof screen, "%s", s);
        free(s);
        fail_msg("'%s' did not appear within %.0f s; screen:\n%s", text,
                 timeout, screen);
    }
}

/* "Tree  N candidates" in the tree pane's title; -1 if not on screen. */
static int tree_count(const ctx *c) {
    char *s = capture(c);
    const char *p = strstr(s, "Tree  ");
    int n = -1;
    if (p) sscanf(p + 6, "%d", &n);
    free(s);
    return n;
}

static int wait_count(const ctx *c, int at_least, double timeout) {
    double end = sn_now() + timeout;
    int n;
    do {
        if ((n = tree_count(c)) >= at_least) return n;
        sleep_ms(100);
    } while (sn_now() < end);
    return n;
}

static void keys(const ctx *c, const char *k) {
    assert_int_equal(sh("tmux -L %s send-keys -t main %s", c->sock, k), 0);
}

/* Types text literally, then Enter. */
static void command(const ctx *c, const char *text) {
    keys(c, ":");
    must_see(c, "\n:", 5); /* the line is open */
    assert_int_equal(
        sh("tmux -L %s send-keys -t main -l '%s'", c->sock, text), 0);
    keys(c, "Enter");
}

/* Starts `slimnas ui ARGS` in a new tmux server of w x h. After it exits
 * the pane shows "EXITED rc" and stays. */
static void start(ctx *c, int w, int h, const char *args) {
    static int seq;
    snprintf(c->sock, sizeof c->sock, "sn-tui-%d-%d", (int)getpid(), ++seq);
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "tmux -L %s -f /dev/null new-session -d -s main -x %d -y %d "
             "\"env LANG=C.UTF-8 LC_ALL=C.UTF-8 HOME=%s XDG_STATE_HOME=%s/state "
             "XDG_CONFIG_HOME=%s/config SLIMNAS_THEMES=%s %s ui %s; "
             "echo EXITED \\$?; sleep 60\"",
             c->sock, w, h, c->dir, c->dir, c->dir, themes, bin, args);
    assert_int_equal(sh("%s", cmd), 0);
}

static void new_search(ctx *c, int w, int h) {
    char args[512];
    /* 400 tiny images: candidates train in well under a second, and the
     * budget is far beyond any test, which quits by itself */
    snprintf(args, sizeof args,
             "--data synthetic:400 --run %s --budget 30m --threads 1",
             c->run);
    start(c, w, h, args);
    must_see(c, "Tree  ", 30);
}

/* Quits (confirming when asked) and checks the explorer exited with 0
 * and that no sanitizer complained: while curses runs, stderr goes to
 * $XDG_STATE_HOME/slimnas/explorer.log; after it, to the pane (and a
 * sanitizer's report makes the exit code non-zero). */
static void finish(ctx *c) {
    keys(c, "q");
    double end = sn_now() + 10;
    for (;;) {
        char *s = capture(c);
        int asked = strstr(s, "quit?") != NULL, gone = strstr(s, "EXITED") != NULL;
        free(s);
        if (gone) break;
        if (asked) {
            keys(c, "y");
            break;
        }
        if (sn_now() > end) fail_msg("q did not quit or ask");
        sleep_ms(100);
    }
    must_see(c, "EXITED 0", 60);
    char path[256], *log = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/state/slimnas/explorer.log", c->dir);
    if (sn_read_file(path, &log, &len, NULL) == 0) {
        if (strstr(log, "Sanitizer") || strstr(log, "runtime error"))
            fail_msg("sanitizer report while the explorer ran:\n%s", log);
        free(log);
    }
}

static int setup(void **state) {
    ctx *c = calloc(1, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "/tmp/sn-tui-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    snprintf(c->run, sizeof c->run, "%s/run", c->dir);
    *state = c;
    return 0;
}

static int teardown(void **state) {
    ctx *c = *state;
    if (c->sock[0]) sh("tmux -L %s kill-server >/dev/null 2>&1", c->sock);
    /* the explorer may still be finishing its last writes after the
     * hang-up: retry for a while */
    for (int i = 0; i < 50 && sh("rm -rf '%s' 2>/dev/null", c->dir); i++)
        sleep_ms(100);
    free(c);
    return 0;
}

/* Rows 1..h-2 of a screen are pane frames: every such row starts with a
 * frame character and ends with one at column w-1 (a resize that left
 * stale cells or a half-drawn frame breaks this). NULL when the screen
 * is right, else what is wrong (static). */
static const char *frames_wrong(const ctx *c, int w, int h) {
    static char why[2048];
    char *s = capture(c);
    int row = 0;
    why[0] = 0;
    for (char *line = strtok(s, "\n"); line && !why[0];
         line = strtok(NULL, "\n"), row++) {
        int cols = sn_tui_width(line);
        if (row == 0 || row >= h - 1) continue;
        if (cols != w) {
            snprintf(why, sizeof why, "row %d is %d columns wide, not %d: '%s'",
                     row, cols, w, line);
            break;
        }
        const char *first[] = {"\xe2\x94\x8c", "\xe2\x94\x82", "\xe2\x94\x94"};
        const char *lastc[] = {"\xe2\x94\x90", "\xe2\x94\x82", "\xe2\x94\x98"};
        const char *last = line + strlen(line) - 3;
        int ok1 = 0, ok2 = 0;
        for (int k = 0; k < 3; k++) {
            ok1 |= !strncmp(line, first[k], 3);
            ok2 |= !strncmp(last, lastc[k], 3);
        }
        if (!ok1 || !ok2)
            snprintf(why, sizeof why, "row %d is not framed: '%s'", row, line);
    }
    if (!why[0] && row < h - 1)
        snprintf(why, sizeof why, "only %d rows on a %d-row screen", row, h);
    free(s);
    return why[0] ? why : NULL;
}

/* tmux truncates or pads the old screen at once; the explorer redraws
 * when its SIGWINCH arrives, so poll until the frames are right. */
static void check_frames(const ctx *c, int w, int h) {
    double end = sn_now() + 10;
    const char *why;
    while ((why = frames_wrong(c, w, h)) && sn_now() < end) sleep_ms(100);
    if (why) fail_msg("%dx%d: %s", w, h, why);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_panes_grow_resize(void **state) {
    if (!have_tmux) skip();
    ctx *c = *state;
    new_search(c, 80, 24);
    must_see(c, "Pareto", 10);
    must_see(c, "Log", 10);
    must_see(c, "run running", 30); /* status bar: run name and state */
    check_frames(c, 80, 24);
    /* the tree gains nodes while the search runs */
    int n0 = wait_count(c, 1, 30);
    assert_true(n0 >= 1);
    int n1 = wait_count(c, n0 + 3, 30);
    if (n1 < n0 + 3) fail_msg("tree stayed at %d candidates", n1);

    /* 200x50: the wide layout shows the candidate view as well */
    assert_int_equal(
        sh("tmux -L %s resize-window -t main -x 200 -y 50", c->sock), 0);
    must_see(c, "Candidate", 10);
    must_see(c, "layers", 10);
    check_frames(c, 200, 50);
    /* and back: no stale cells from the big layout */
    assert_int_equal(
        sh("tmux -L %s resize-window -t main -x 80 -y 24", c->sock), 0);
    assert_true(wait_text(c, "Candidate", 10, 1));
    check_frames(c, 80, 24);
    /* Enter opens the candidate view in the compact layout */
    keys(c, "Enter");
    must_see(c, "Candidate #", 5);
    keys(c, "Escape");
    must_see(c, "Pareto", 5);
    /* help overlay */
    keys(c, "'?'");
    must_see(c, "Help", 5);
    must_see(c, "toggle-pause", 5);
    keys(c, "Escape");
    assert_true(wait_text(c, "toggle-pause", 5, 1));
    finish(c);
}

static void test_pause_resume_set(void **state) {
    if (!have_tmux) skip();
    ctx *c = *state;
    new_search(c, 100, 30);
    must_see(c, "run running", 30);
    int n0 = wait_count(c, 2, 30);
    assert_true(n0 >= 2);

    /* a live limit shows in the plot's title once the search applies it */
    command(c, "set max-params 5k");
    must_see(c, "max-params 5k", 15);

    /* space pauses: nothing moves for two seconds */
    keys(c, "Space");
    must_see(c, "run paused", 10);
    /* the baseline is a settled screen: a capture taken while curses is
     * still writing the paused frame can mix it with the one before */
    sleep_ms(500);
    int np = tree_count(c);
    char *before = capture(c);
    const char *st = strstr(before, "run paused");
    char status[128];
    snprintf(status, sizeof status, "%.*s", (int)strcspn(st, "\n"), st);
    free(before);
    for (int i = 0; i < 20; i++) {
        sleep_ms(100);
        assert_int_equal(tree_count(c), np);
        char *s = capture(c);
        if (!strstr(s, status))
            fail_msg("status changed while paused: was '%s', screen:\n%s",
                     status, s);
        free(s);
    }
    /* space resumes and the tree grows again */
    keys(c, "Space");
    must_see(c, "run running", 10);
    int n2 = wait_count(c, np + 2, 30);
    if (n2 < np + 2) fail_msg("no progress after resume (%d -> %d)", np, n2);
    finish(c);
}

static void test_commands_fork(void **state) {
    if (!have_tmux) skip();
    ctx *c = *state;
    new_search(c, 100, 30);
    wait_count(c, 3, 30);
    /* a bad command shows one error line and changes nothing */
    command(c, "frobnicate now");
    must_see(c, "unknown command 'frobnicate'", 5);
    command(c, "select 99999");
    must_see(c, "no candidate #99999", 5);
    command(c, "set max-params 5q");
    must_see(c, "max-params", 5);
    char *s = capture(c);
    assert_null(strstr(s, "| max-params")); /* no limit took effect */
    free(s);
    /* fork: a second run appears, the explorer shows it */
    command(c, "fork 0");
    must_see(c, "forked #0", 15);
    must_see(c, "[2/2]", 10);
    char fork_dir[256];
    snprintf(fork_dir, sizeof fork_dir, "%s-fork0/settings.json", c->run);
    struct stat sb;
    if (stat(fork_dir, &sb)) fail_msg("no %s", fork_dir);
    command(c, "runs");
    must_see(c, "runs: 1 run", 5);
    command(c, "runs 1");
    must_see(c, "[1/2]", 5);
    finish(c);
}

/* :export writes an ONNX file; `e` opens the line with a suggested
 * format and path to edit; bad formats get one error line. */
static void test_export_keys(void **state) {
    if (!have_tmux) skip();
    ctx *c = *state;
    new_search(c, 120, 30);
    wait_count(c, 3, 30);
    char line[512], path[320];
    struct stat sb;
    snprintf(path, sizeof path, "%s/x.onnx", c->dir);
    snprintf(line, sizeof line, "export 0 onnx %s", path);
    command(c, line);
    must_see(c, "wrote ", 10);
    if (stat(path, &sb) || sb.st_size < 100) fail_msg("no %s", path);
    command(c, "export 0 tflite y.onnx");
    must_see(c, "unknown format 'tflite'", 5);
    keys(c, "e");
    must_see(c, "onnx cand-", 5);
    keys(c, "C-u");
    snprintf(path, sizeof path, "%s/z.onnx", c->dir);
    snprintf(line, sizeof line, "export 0 onnx %s", path);
    assert_int_equal(
        sh("tmux -L %s send-keys -t main -l '%s'", c->sock, line), 0);
    keys(c, "Enter");
    must_see(c, "z.onnx (ONNX", 10);
    if (stat(path, &sb) || sb.st_size < 100) fail_msg("no %s", path);
    finish(c);
}

static void test_quit_resumable(void **state) {
    if (!have_tmux) skip();
    ctx *c = *state;
    new_search(c, 100, 30);
    int n = wait_count(c, 3, 30);
    assert_true(n >= 3);
    keys(c, "q");
    must_see(c, "quit?", 5);
    keys(c, "n");
    must_see(c, "quit cancelled", 5);
    keys(c, "q");
    must_see(c, "quit?", 5);
    keys(c, "y");
    must_see(c, "EXITED 0", 30);
    must_see(c, "run saved in", 5);
    /* the run opens again, paused, with every finished candidate */
    char *log = NULL;
    size_t len;
    char path[256];
    sn_error e;
    snprintf(path, sizeof path, "%s/results.log", c->run);
    if (sn_read_file(path, &log, &len, &e)) fail_msg("%s", e.msg);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += log[i] == '\n';
    free(log);
    assert_true(lines >= 2);
    sh("tmux -L %s kill-server >/dev/null 2>&1", c->sock);
    start(c, 100, 30, c->run);
    must_see(c, "run paused", 30);
    int m = wait_count(c, lines, 10);
    if (m < lines) fail_msg("reopened run shows %d candidates, log has %d", m,
                            lines);
    finish(c); /* paused: q quits without asking */
}

int main(void) {
    const char *b = getenv("SLIMNAS");
    if (!b || !*b) b = "./slimnas";
    if (!realpath(b, bin)) {
        fprintf(stderr, "test_tui_e2e: no slimnas binary at %s (set SLIMNAS)\n",
                b);
        return 1;
    }
    if (!realpath("themes", themes)) snprintf(themes, sizeof themes, "themes");
    have_tmux = system("tmux -V >/dev/null 2>&1") == 0;
    if (!have_tmux)
        fprintf(stderr, "test_tui_e2e: tmux not found, skipping the "
                        "end-to-end tests\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_panes_grow_resize, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pause_resume_set, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_commands_fork, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quit_resumable, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
