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
    must_see(c, "\n:", 15); /* the line is open */
    assert_int_equal(
        sh("tmux -L %s send-keys -t main -l '%s'", c->sock, text), 0);
    keys(c, "Enter");
}

/* Starts `slimnas ui ARGS` in a new tmux server of w x h. After it exits
 * the pane shows "EXITED rc" and stays. */
static void start_env(ctx *c, int w, int h, const char *env,
                      const char *args) {
    static int seq;
    snprintf(c->sock, sizeof c->sock, "sn-tui-%d-%d", (int)getpid(), ++seq);
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "tmux -L %s -f /dev/null new-session -d -s main -x %d -y %d "
             "\"env LANG=C.UTF-8 LC_ALL=C.UTF-8 HOME=%s XDG_STATE_HOME=%s/state "
             "XDG_CONFIG_HOME=%s/config SLIMNAS_THEMES=%s %s %s ui %s; "
             "echo EXITED \\$?; sleep 60\"",
             c->sock, w, h, c->dir, c->dir, c->dir, themes, env, bin, args);
    assert_int_equal(sh("%s", cmd), 0);
}

static void start(ctx *c, int w, int h, const char *args) {
    start_env(c, w, h, "", args);
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
    must_see(c, "Candidate #", 15);
    keys(c, "Escape");
    must_see(c, "Pareto", 15);
    /* help overlay */
    keys(c, "'?'");
    must_see(c, "Help", 15);
    must_see(c, "toggle-pause", 15);
    keys(c, "Escape");
    assert_true(wait_text(c, "toggle-pause", 15, 1));
    finish(c);
}

/* The time in a status bar "| 17s, 29m43s left" or "| 3m05s" (seconds),
 * -1 if none. */
static int status_seconds(const char *screen) {
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(screen, "\n"), screen);
    for (char *p = strstr(line, " | "); p; p = strstr(p + 1, " | ")) {
        int a, b;
        char u1, u2;
        int n = sscanf(p + 3, "%d%c%d%c", &a, &u1, &b, &u2);
        if (n >= 2 && u1 == 's') return a;
        if (n == 4 && u1 == 'm' && u2 == 's') return 60 * a + b;
        if (n == 4 && u1 == 'h' && u2 == 'm') return 3600 * a + 60 * b;
    }
    return -1;
}

/* The time of the newest log line ("│ 01:15 #12 ..."), -1 if none. */
static int last_log_seconds(const char *screen) {
    int t = -1;
    for (const char *p = screen; (p = strstr(p, "\xe2\x94\x82 ")); p++) {
        int m, sec;
        char after;
        if (sscanf(p + 4, "%2d:%2d%c", &m, &sec, &after) == 3 && after == ' ')
            t = 60 * m + sec;
    }
    return t;
}

/* Trap 7: log lines put id, accuracy and size first, the morph last;
 * roots say "root"; times are search time, never ahead of the status
 * bar's clock, also after a pause (wall time would be).
 * log_root_check runs first, with the search paused, while the root's
 * line is still among the SN_LOG_KEEP (256) lines a search keeps: with
 * synthetic:400 the search trains tens of candidates a second. It leaves
 * the log pane focused. */
static void log_root_check(const ctx *c) {
    /* the root's line, scrolled into view: "#0 NN.NN% P params ... root:" */
    keys(c, "Tab");
    keys(c, "Tab"); /* tree -> plot -> log */
    keys(c, "g");
    must_see(c, "Log (search time)", 15);
    char *s = NULL, line[512] = "";
    /* the data summary comes first (a short log pane shows only its top
     * lines), and new lines may arrive between the key and the capture:
     * scroll down a few lines at a time, from the top again now and then,
     * before calling the line missing */
    for (int tries = 0; tries < 24 && !line[0]; tries++) {
        if (tries) {
            free(s);
            keys(c, tries % 12 ? "j j j" : "g");
            usleep(200000);
        }
        s = capture(c);
        for (const char *l = s; *l;) {
            size_t len = strcspn(l, "\n");
            snprintf(line, sizeof line, "%.*s", (int)len, l);
            l += len + (l[len] != 0);
            const char *r = strstr(line, " #0 ");
            if (r && strstr(line, "root: ")) {
                memmove(line, r, strlen(r) + 1);
                break;
            }
            line[0] = 0;
        }
    }
    if (!line[0]) {
        /* cmocka cuts long messages: the screen goes to stderr whole */
        fprintf(stderr, "no log line of #0 on this screen:\n%s\n", s);
        fail_msg("no log line of #0 (the screen is above)");
    }
    double acc;
    char unit[16];
    if (sscanf(line, " #0 %lf%% %*s %15s", &acc, unit) != 2 ||
        strcmp(unit, "params") || !strstr(line, "root: "))
        fail_msg("root's log line: '%s'", line);
    assert_null(strstr(s, "from #-1"));
    free(s);
}

/* The newest log line's time against the status bar's (called after a
 * pause and a resume, the log pane focused). */
static void log_time_check(const ctx *c) {
    char *s;
    keys(c, "G");
    double end = sn_now() + 10;
    int st = -1, lt = -1;
    do { /* a frame can be mid-update: retry until both are read */
        s = capture(c);
        st = status_seconds(s);
        lt = last_log_seconds(s);
        free(s);
        if (st >= 0 && lt >= 0 && lt <= st) break;
        sleep_ms(200);
    } while (sn_now() < end);
    if (st < 0 || lt < 0 || lt > st)
        fail_msg("log time %d s, status bar %d s: not search time", lt, st);
}

static void test_pause_resume_set(void **state) {
    if (!have_tmux) skip();
    ctx *c = *state;
    new_search(c, 100, 30);
    must_see(c, "run running", 30);
    /* the root's log line first, paused: tiny candidates train at tens
     * a second (228 in one .ci/run before the check), and a search keeps
     * its last 256 log lines */
    assert_true(wait_count(c, 2, 30) >= 2); /* the root trained */
    keys(c, "Space");
    must_see(c, "run paused", 10);
    log_root_check(c);
    keys(c, "Space");
    must_see(c, "run running", 10);
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
    log_time_check(c);
    finish(c);
}

static void test_commands_fork(void **state) {
    if (!have_tmux) skip();
    ctx *c = *state;
    new_search(c, 100, 30);
    wait_count(c, 3, 30);
    /* a bad command shows one error line and changes nothing */
    command(c, "frobnicate now");
    must_see(c, "unknown command 'frobnicate'", 15);
    command(c, "select 99999");
    must_see(c, "no candidate #99999", 15);
    command(c, "set max-params 5q");
    must_see(c, "max-params", 15);
    char *s = capture(c);
    assert_null(strstr(s, "| max-params")); /* no limit took effect */
    free(s);
    /* trap 2: f asks first; n forks nothing */
    keys(c, "f");
    must_see(c, "into a new run? This run pauses. (y/n)", 15);
    keys(c, "n");
    must_see(c, "fork cancelled", 15);
    s = capture(c);
    assert_null(strstr(s, "[2/2]"));
    free(s);
    assert_int_equal(sh("ls -d %s-fork* >/dev/null 2>&1", c->run), 2);
    /* a typed fork is deliberate: it runs at once and says where */
    command(c, "fork 0");
    must_see(c, "forked #0", 15);
    must_see(c, "[2/2]", 10);
    char fork_dir[256];
    snprintf(fork_dir, sizeof fork_dir, "%s-fork0/settings.json", c->run);
    struct stat sb;
    if (stat(fork_dir, &sb)) fail_msg("no %s", fork_dir);
    /* f, y: a fork of the selected candidate, and where it went */
    keys(c, "f");
    must_see(c, "(y/n)", 15);
    keys(c, "y");
    must_see(c, "[3/3]", 15);
    s = capture(c);
    const char *m = strstr(s, "forked #");
    if (!m || !strstr(m, " into ") || !strstr(m, "-fork"))
        fail_msg("the fork did not say where it went:\n%s", s);
    free(s);
    /* trap 8: r opens a pick list of the runs, Enter or a digit switches */
    keys(c, "r");
    must_see(c, "Runs  (j/k", 15);
    must_see(c, "1  run  ", 15);
    must_see(c, "2  run-fork0  ", 15);
    must_see(c, "3  run-fork", 15);
    keys(c, "1");
    must_see(c, "[1/3]", 15);
    assert_true(wait_text(c, "Runs  (j/k", 15, 1));
    keys(c, "r");
    must_see(c, "Runs  (j/k", 15);
    keys(c, "j");
    keys(c, "Enter");
    must_see(c, "[2/3]", 15);
    command(c, "runs 1");
    must_see(c, "[1/3]", 15);
    finish(c);
}

/* Trap 9: a finished run says how to go on; raising the budget asks
 * before it resumes the search. */
static void test_done_run(void **state) {
    if (!have_tmux) skip();
    ctx *c = *state;
    char args[512];
    snprintf(args, sizeof args,
             "--data synthetic:400 --run %s --budget 2s --threads 1", c->run);
    start(c, 100, 30, args);
    must_see(c, "run done", 60);
    keys(c, "Space");
    must_see(c, "the run is done; raise the budget to continue", 15);
    sleep_ms(300);
    char *s = capture(c);
    assert_non_null(strstr(s, "run done"));
    free(s);
    command(c, "set budget 30m");
    must_see(c, "resumes its search. Go on? (y/n)", 15);
    keys(c, "n");
    must_see(c, "set budget 30m cancelled", 15);
    sleep_ms(500);
    s = capture(c);
    assert_non_null(strstr(s, "run done"));
    free(s);
    command(c, "set budget 30m");
    must_see(c, "(y/n)", 15);
    keys(c, "y");
    must_see(c, "run running", 10);
    finish(c);
}

/* Trap 8: the flat list sorted by accuracy and by params; h on a leaf
 * goes to its parent; N finds the previous match. */
static void test_list_parent_find(void **state) {
    if (!have_tmux) skip();
    ctx *c = *state;
    new_search(c, 100, 30);
    int n0 = wait_count(c, 6, 60);
    if (n0 < 6) fail_msg("only %d candidates after 60 s", n0);
    keys(c, "Space");
    must_see(c, "run paused", 10);
    keys(c, "s");
    must_see(c, "By accuracy", 15);
    sleep_ms(300);
    /* rows: "│  #12 op…  65.0%  1.08k│": accuracy never rises */
    char *s = capture(c);
    double prev = 1000, a; /* percent */
    int rows = 0;
    for (char *l = strtok(s, "\n"); l; l = strtok(NULL, "\n")) {
        char *pc = strstr(l, "%  ");
        char *hash = strstr(l, " #");
        if (!pc || !hash || pc < hash || strstr(l, "Pareto")) continue;
        char *q = pc;
        while (q > l && (q[-1] == '.' || (q[-1] >= '0' && q[-1] <= '9'))) q--;
        if (sscanf(q, "%lf", &a) != 1) continue;
        if (a > prev + 1e-9) {
            char *again = capture(c);
            fail_msg("accuracy rises in the list: %s\n%s", l, again);
        }
        prev = a;
        rows++;
    }
    free(s);
    if (rows < 4) fail_msg("only %d list rows", rows);
    keys(c, "s");
    must_see(c, "By params", 15);
    keys(c, "s");
    keys(c, "s");
    keys(c, "s");
    must_see(c, "Tree  ", 15);
    /* the newest candidate (always a leaf); its parent from its view */
    char sel[32];
    snprintf(sel, sizeof sel, "select %d", tree_count(c) - 1);
    command(c, sel);
    keys(c, "Enter");
    must_see(c, "parent #", 15);
    s = capture(c);
    int cand = -1, parent = -1;
    sscanf(strstr(s, "Candidate #") + 11, "%d", &cand);
    sscanf(strstr(s, "parent #") + 8, "%d", &parent);
    free(s);
    assert_true(cand > 0 && parent >= 0);
    keys(c, "Escape");
    must_see(c, "Pareto", 15);
    keys(c, "h");
    keys(c, "Enter");
    char want[64];
    snprintf(want, sizeof want, "Candidate #%d ", parent);
    must_see(c, want, 15);
    keys(c, "Escape");
    /* find: n forward, N back, in id order */
    command(c, "select 3");
    command(c, "find #");
    must_see(c, "found #4", 15);
    keys(c, "N");
    must_see(c, "found #3", 15);
    keys(c, "N");
    must_see(c, "found #2", 15);
    keys(c, "n");
    must_see(c, "found #3", 15);
    finish(c);
}

/* Trap 6: at 80x24 the candidate view scrolls sideways to its last
 * columns and zooms to the whole screen; at 200 columns the tree and
 * the log use the width. */
static void test_zoom_scroll_width(void **state) {
    if (!have_tmux) skip();
    ctx *c = *state;
    new_search(c, 80, 24);
    wait_count(c, 3, 30);
    keys(c, "Space");
    must_see(c, "run paused", 10);
    keys(c, "Enter");
    must_see(c, "layers", 15);
    /* down to the table's header, then right until "act" shows */
    for (int i = 0; i < 30 && !wait_text(c, " op ", 0.3, 0); i++)
        keys(c, "j");
    must_see(c, "params", 15);
    int seen = 0;
    for (int i = 0; i < 12 && !seen; i++) {
        keys(c, "l");
        seen = wait_text(c, "act", 0.5, 0);
    }
    if (!seen) fail_msg("the act column never scrolled into view");
    must_see(c, "MACs", 2);
    must_see(c, "  cols ", 2); /* the title says it scrolled */
    /* zoom: the candidate view alone, the full width */
    keys(c, "z");
    must_see(c, "zoomed", 15);
    assert_true(wait_text(c, "Tree  ", 15, 1));
    char *s = capture(c);
    char *row1 = strchr(s, '\n') + 1;
    if (strncmp(row1, "\xe2\x94\x8c\xe2\x94\x80 Candidate #", 10))
        fail_msg("zoomed, row 1 is not the candidate view's frame:\n%s", s);
    free(s);
    check_frames(c, 80, 24);
    keys(c, "z");
    must_see(c, "Tree  ", 15);
    check_frames(c, 80, 24);
    /* wide: the tree two fifths (80 columns), the log the whole width */
    assert_int_equal(
        sh("tmux -L %s resize-window -t main -x 200 -y 50", c->sock), 0);
    check_frames(c, 200, 50);
    s = capture(c);
    char *tree = strstr(s, "Tree  ");
    assert_non_null(tree);
    char *eol = strchr(tree, '\n');
    int w; /* columns to the tree's top-right corner */
    char *bol = tree;
    while (bol > s && bol[-1] != '\n') bol--;
    char first[1024];
    snprintf(first, sizeof first, "%.*s", (int)(eol - bol), bol);
    char *corner = strstr(first, "\xe2\x94\x90"); /* ┐ */
    assert_non_null(corner);
    *corner = 0;
    w = sn_tui_width(first) + 1;
    assert_int_equal(w, 80);
    /* a log line shows its end (the morph) at 200 columns */
    if (!strstr(s, "; from #") && !strstr(s, "; root: "))
        fail_msg("no whole log line at 200 columns:\n%s", s);
    free(s);
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
    must_see(c, "unknown format 'tflite'", 15);
    keys(c, "e");
    must_see(c, "onnx cand-", 15);
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
    must_see(c, "quit?", 15);
    keys(c, "n");
    must_see(c, "quit cancelled", 15);
    keys(c, "q");
    must_see(c, "quit?", 15);
    keys(c, "y");
    must_see(c, "EXITED 0", 30);
    must_see(c, "run saved in", 15);
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

/* The last non-empty line of the screen (the bottom line), trimmed. */
static void bottom_line(const ctx *c, char *buf, size_t n) {
    char *s = capture(c);
    size_t l = strlen(s);
    while (l && (s[l - 1] == '\n' || s[l - 1] == ' ')) s[--l] = 0;
    char *nl = strrchr(s, '\n');
    snprintf(buf, n, "%s", nl ? nl + 1 : s);
    free(s);
}

/* Writes the readline history the explorer reads at start. */
static void write_history_file(const ctx *c, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/state", c->dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/state/slimnas", c->dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/state/slimnas/history", c->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A reverse search cancelled with C-g, Esc or C-c must
 * not survive into the next command line. */
static void test_cancelled_search_does_not_leak(void **state) {
    if (!have_tmux) skip();
    ctx *c = *state;
    write_history_file(c, "glyphs block\nfork 0 --keep-running\n");
    new_search(c, 100, 30);
    wait_count(c, 1, 30);
    static const char *const cancel[] = {"C-g", "Escape", "C-c"};
    static const char *const typed[] = {"theme light", "ban wider",
                                        "theme default"};
    static const char *const reply[] = {"theme light", "ban wider",
                                        "theme default"};
    static const char *const search[] = {"glyphs", "fork", "glyphs"};
    for (int k = 0; k < 3; k++) {
        keys(c, ":");
        must_see(c, "\n:", 15);
        keys(c, "C-r");
        must_see(c, "reverse-i-search", 15);
        assert_int_equal(sh("tmux -L %s send-keys -t main -l '%s'", c->sock,
                            search[k]),
                         0);
        must_see(c, k == 1 ? "fork 0 --keep" : "glyphs block", 15);
        keys(c, cancel[k]);
        assert_true(wait_text(c, "reverse-i-search", 15, 1));
        /* the line opens empty: no search, no old text */
        keys(c, ":");
        must_see(c, "\n:", 15);
        char line[512];
        double end = sn_now() + 5;
        do {
            bottom_line(c, line, sizeof line);
            if (!strcmp(line, ":")) break;
            sleep_ms(100);
        } while (sn_now() < end);
        if (strcmp(line, ":"))
            fail_msg("after %s the line opens as '%s'", cancel[k], line);
        assert_int_equal(sh("tmux -L %s send-keys -t main -l '%s'", c->sock,
                            typed[k]),
                         0);
        keys(c, "Enter");
        must_see(c, reply[k], 10);
        char *s = capture(c);
        if (strstr(s, "plot glyphs") || strstr(s, "forked") ||
            strstr(s, "[2/2]"))
            fail_msg("after %s + '%s' an old command ran:\n%s", cancel[k],
                     typed[k], s);
        free(s);
    }
    finish(c);
}

/* Trap 3: a terminal curses cannot drive is refused (exit 2, a clear
 * line) before any run directory is made. */
static void test_dumb_terminal_refused(void **state) {
    if (!have_tmux) skip();
    ctx *c = *state;
    char args[512];
    snprintf(args, sizeof args, "--data synthetic:400 --run %s", c->run);
    start_env(c, 100, 30, "TERM=dumb", args);
    must_see(c, "EXITED 2", 20);
    must_see(c, "TERM=dumb cannot move the cursor", 2);
    must_see(c, "--headless", 2);
    struct stat sb;
    if (stat(c->run, &sb) == 0) fail_msg("%s was created", c->run);
    /* an unknown terminal type likewise */
    sh("tmux -L %s kill-server >/dev/null 2>&1", c->sock);
    start_env(c, 100, 30, "TERM=no-such-terminal-xyz", args);
    must_see(c, "EXITED 2", 20);
    must_see(c, "not in the terminfo database", 2);
    if (stat(c->run, &sb) == 0) fail_msg("%s was created", c->run);
}

static int count_lines(const char *path) {
    char *text = NULL;
    size_t len = 0;
    if (sn_read_file(path, &text, &len, NULL)) return -1;
    int n = 0;
    for (size_t i = 0; i < len; i++) n += text[i] == '\n';
    free(text);
    return n;
}

/* Trap 4: without a terminal `ui RUN` refuses and points to resume; it
 * does not resume the search headless. A new search likewise leaves
 * nothing behind. No tmux needed: the point is that there is none. */
static void test_no_terminal_refused(void **state) {
    ctx *c = *state;
    char out[256], log[256], fresh[256];
    snprintf(out, sizeof out, "%s/out.txt", c->dir);
    snprintf(log, sizeof log, "%s/results.log", c->run);
    snprintf(fresh, sizeof fresh, "%s/fresh", c->dir);
    assert_int_equal(sh("%s search --data synthetic:400 --run %s "
                        "--max-candidates 2 --threads 1 >%s 2>&1",
                        bin, c->run, out),
                     0);
    int before = count_lines(log);
    assert_true(before >= 1);
    assert_int_equal(sh("%s ui %s </dev/null >%s 2>&1", bin, c->run, out), 2);
    char *text = NULL;
    size_t len;
    assert_int_equal(sn_read_file(out, &text, &len, NULL), 0);
    if (!strstr(text, "needs a terminal") || !strstr(text, "slimnas resume"))
        fail_msg("ui without a terminal said: %s", text);
    free(text);
    assert_int_equal(count_lines(log), before); /* nothing trained */
    assert_int_equal(sh("%s ui --data synthetic:400 --run %s </dev/null "
                        ">%s 2>&1",
                        bin, fresh, out),
                     2);
    struct stat sb;
    if (stat(fresh, &sb) == 0) fail_msg("%s was created", fresh);
    /* asked for: headless runs */
    assert_int_equal(sh("%s ui --data synthetic:400 --run %s --headless "
                        "--max-candidates 2 --threads 1 </dev/null >%s 2>&1",
                        bin, fresh, out),
                     0);
    assert_true(count_lines(out) >= 2);
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
        cmocka_unit_test_setup_teardown(test_cancelled_search_does_not_leak,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dumb_terminal_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_done_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_parent_find, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_zoom_scroll_width, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_terminal_refused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
