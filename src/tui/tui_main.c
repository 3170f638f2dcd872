/* tui_main.c — the explorer's loop and its one command parser.
 *
 * The UI thread sleeps in pselect() on the keyboard and the engine's
 * wake-up descriptor together (no polling with timeouts); SIGWINCH and
 * the termination signals are blocked everywhere except inside that
 * pselect, so they interrupt exactly this thread and never the engine's.
 * A wake-up takes the newest snapshot; a key becomes a command string
 * (sn_tui_key_command) and goes through tui_run_command, the same path
 * as a line typed after ':'. Commands the explorer does not own go to
 * sn_engine_exec. Handlers only change state and mark the screen dirty;
 * the loop redraws once per turn. */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slimnas/export.h"
#include "tui_compare.h"
#include "tui_internal.h"

sn_tui_opts sn_tui_opts_default(void) {
    sn_tui_opts o;
    memset(&o, 0, sizeof o);
    return o;
}

static const int handled_signals[] = {SIGWINCH, SIGTERM, SIGHUP, SIGINT};

void sn_tui_prepare(void) {
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof handled_signals / sizeof *handled_signals; i++)
        sigaddset(&set, handled_signals[i]);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static volatile sig_atomic_t got_term;

static void on_term(int sig) {
    (void)sig;
    got_term = 1;
}

runview *tui_view(tui *t) {
    if (t->h >= t->n_rv) {
        int n = t->h + 1;
        t->rv = sn_xrealloc(t->rv, (size_t)n * sizeof *t->rv);
        for (int i = t->n_rv; i < n; i++) {
            memset(&t->rv[i], 0, sizeof t->rv[i]);
            sn_tree_state_init(&t->rv[i].tree);
            t->rv[i].follow = 1;
        }
        t->n_rv = n;
    }
    return &t->rv[t->h];
}

void tui_message(tui *t, int error, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
    t->msg_error = error;
    t->dirty = 1;
}

/* Puts a y/n question on the bottom line; y runs cmd (with
 * t->confirmed set), anything else says "<what> cancelled". */
static void ask(tui *t, const char *what, const char *cmd,
                const char *question) {
    snprintf(t->ask, sizeof t->ask, "%s", question);
    snprintf(t->ask_cmd, sizeof t->ask_cmd, "%s", cmd);
    snprintf(t->ask_what, sizeof t->ask_what, "%.60s", what);
    t->dirty = 1;
}

void tui_layout_base(const tui *t, sn_layout *l) {
    sn_layout_compute(t->cols, t->lines, t->detail_open, l);
}

static void take_snapshot(tui *t) {
    const sn_snapshot *s = sn_engine_snapshot(t->en, t->h);
    if (!s) return;
    if (t->snap) sn_snapshot_release(t->snap);
    t->snap = s;
    runview *v = tui_view(t);
    /* following: the newest candidate with a result (its candidate view
     * has layers; the one in training has none yet) */
    if (v->follow && s->n_cands > 0)
        v->tree.selected = s->n_records > 0 ? s->n_records - 1 : 0;
    t->dirty = 1;
}

static void switch_run(tui *t, int h) {
    t->h = h;
    t->det_id = -1;
    sn_lines_free(&t->det_lines);
    take_snapshot(t);
}

static int state_active(sn_run_state s) {
    return s == SN_RUN_STARTING || s == SN_RUN_RUNNING || s == SN_RUN_FINAL;
}

static int any_running(tui *t) {
    int n = sn_engine_count(t->en), r = 0;
    for (int h = 0; h < n; h++) {
        const sn_snapshot *s = sn_engine_snapshot(t->en, h);
        if (s && state_active(s->state)) r = 1;
        sn_snapshot_release(s);
    }
    return r;
}

static int parse_int(const char *s, int *v) {
    long x;
    if (*s == '#') s++;
    if (sn_parse_long(s, INT_MIN, INT_MAX, &x)) return -1;
    *v = (int)x;
    return 0;
}

/* Selects id and unfolds its ancestors so it is visible. */
static void select_id(tui *t, int id) {
    runview *v = tui_view(t);
    const sn_snapshot *s = t->snap;
    for (int a = s->cands[id].parent, guard = 0; a >= 0 && a < s->n_cands &&
                                                 guard < s->n_cands;
         a = s->cands[a].parent, guard++)
        sn_tree_set_folded(&v->tree, a, 0);
    v->tree.selected = id;
    v->follow = 0;
    t->dirty = 1;
}

static int need_id(tui *t, const char *arg, int *id) {
    const sn_snapshot *s = t->snap;
    if (!arg || !*arg) {
        *id = tui_view(t)->tree.selected;
        if (*id < 0) {
            tui_message(t, 1, "no candidate yet");
            return -1;
        }
        return 0;
    }
    if (parse_int(arg, id)) {
        tui_message(t, 1, "'%s' is not a candidate id", arg);
        return -1;
    }
    if (*id < 0 || *id >= s->n_cands) {
        if (s->n_cands)
            tui_message(t, 1, "no candidate #%d (ids are 0..%d)", *id,
                        s->n_cands - 1);
        else
            tui_message(t, 1, "no candidate #%d (none yet)", *id);
        return -1;
    }
    return 0;
}

static int pane_height(tui *t, int pane) {
    sn_rect r = t->lay.pane[pane];
    return r.h > 2 ? r.h - 2 : 1;
}

static int cmp_pt(const void *a, const void *b) {
    const sn_plot_point *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return p->id - q->id;
}

static void move_selection(tui *t, int delta) {
    runview *v = tui_view(t);
    v->follow = 0;
    if (t->focus == SN_PANE_DETAIL) {
        v->detail_scroll += delta;
        if (v->detail_scroll < 0) v->detail_scroll = 0;
    } else if (t->focus == SN_PANE_LOG) {
        v->log_scroll -= delta;
        if (v->log_scroll < 0) v->log_scroll = 0;
    } else if (t->focus == SN_PANE_PLOT && t->n_pts > 0) {
        /* the plot moves along sizes, smallest first */
        sn_plot_point *p = sn_xmalloc((size_t)t->n_pts * sizeof *p);
        memcpy(p, t->pts, (size_t)t->n_pts * sizeof *p);
        qsort(p, (size_t)t->n_pts, sizeof *p, cmp_pt);
        int k = 0;
        for (int i = 0; i < t->n_pts; i++)
            if (p[i].id == v->tree.selected) k = i;
        long nk = (long)k + delta;
        if (nk < 0) nk = 0;
        if (nk >= t->n_pts) nk = t->n_pts - 1;
        select_id(t, p[nk].id);
        free(p);
    } else {
        sn_tree_move(&v->tree, t->rows, t->n_rows, delta);
    }
    t->dirty = 1;
}

static void cycle_focus(tui *t, int dir) {
    /* over the panes of the layout without zoom: zoomed, Tab shows the
     * next pane zoomed (the compact layout's plot and candidate view
     * share a place; the one not shown is skipped) */
    sn_layout base;
    tui_layout_base(t, &base);
    for (int k = 1; k <= SN_PANE_COUNT; k++) {
        int p = ((t->focus + dir * k) % SN_PANE_COUNT + SN_PANE_COUNT) %
                SN_PANE_COUNT;
        if (base.pane[p].w) {
            t->focus = p;
            break;
        }
    }
    t->dirty = 1;
}

/* Selects the next (dir 1) or previous (dir -1) candidate, in id order
 * and wrapping around, whose "#id op status" holds the find text. */
static void find_next(tui *t, int dir) {
    const sn_snapshot *s = t->snap;
    if (!t->find_text[0]) {
        tui_message(t, 1, "nothing to find (/ TEXT)");
        return;
    }
    if (s->n_cands == 0) {
        tui_message(t, 1, "no candidates yet");
        return;
    }
    char needle[128];
    size_t nl = strlen(t->find_text);
    for (size_t i = 0; i <= nl; i++)
        needle[i] = (char)tolower((unsigned char)t->find_text[i]);
    int start = tui_view(t)->tree.selected;
    if (start < 0) start = dir > 0 ? -1 : 0;
    for (int k = 1; k <= s->n_cands; k++) {
        int id = ((start + dir * k) % s->n_cands + s->n_cands) % s->n_cands;
        const sn_cand_info *c = &s->cands[id];
        char hay[512];
        snprintf(hay, sizeof hay, "#%d %s %s", id, c->op,
                 sn_engine_status_name(c->status));
        for (char *p = hay; *p; p++) *p = (char)tolower((unsigned char)*p);
        if (strstr(hay, needle)) {
            select_id(t, id);
            tui_message(t, 0, "found #%d: %s (n next, N previous)", id,
                        c->op);
            return;
        }
    }
    tui_message(t, 1, "no candidate matches '%s'", t->find_text);
}

static void apply_theme(tui *t, const char *name) {
    char path[PATH_MAX];
    sn_theme th;
    sn_error e;
    if (sn_theme_find(name, path, sizeof path)) {
        if (!strcmp(name, "default")) {
            sn_theme_default(&th); /* the built-in one needs no file */
        } else {
            tui_message(t, 1, "no theme '%s' (themes: ./themes, "
                              "~/.config/slimnas/themes)",
                        name);
            return;
        }
    } else if (sn_theme_load(&th, path, &e)) {
        tui_message(t, 1, "%s", e.msg);
        return;
    }
    t->theme = th;
    tui_colours_init(t);
    tui_message(t, 0, "theme %s%s", t->theme.name,
                sn_tui_no_color() ? " (NO_COLOR: attributes only)" : "");
    clearok(curscr, TRUE);
}

static void cmd_runs(tui *t, const char *arg) {
    if (!arg || !*arg) { /* the pick list */
        t->runs_open = 1;
        t->runs_sel = t->h;
        t->dirty = 1;
        return;
    }
    int n = sn_engine_count(t->en), k;
    if (!parse_int(arg, &k)) {
        if (k < 1 || k > n) {
            tui_message(t, 1, "no run %d (1..%d)", k, n);
            return;
        }
        switch_run(t, k - 1);
        tui_message(t, 0, "run %d: %s", k, t->snap->dir);
        return;
    }
    for (int h = 0; h < n; h++) {
        const sn_snapshot *s = sn_engine_snapshot(t->en, h);
        int same = s && (!strcmp(s->dir, arg) || !strcmp(s->name, arg));
        sn_snapshot_release(s);
        if (same) {
            switch_run(t, h);
            tui_message(t, 0, "run %d: %s", h + 1, t->snap->dir);
            return;
        }
    }
    sn_error e;
    int h = sn_engine_open(t->en, arg, 1, &e);
    if (h < 0) {
        tui_message(t, 1, "%s", e.msg);
        return;
    }
    switch_run(t, h);
    tui_message(t, 0, "opened %s (paused; space resumes)", arg);
}

static void engine_command(tui *t, const char *line) {
    char reply[SN_LOG_TEXT_LEN];
    int nh = -1;
    sn_error e;
    if (sn_engine_exec(t->en, t->h, line, reply, &nh, &e)) {
        tui_message(t, 1, "%s", e.msg);
        return;
    }
    if (nh >= 0) {
        int from = t->h + 1;
        switch_run(t, nh);
        tui_message(t, 0, "%s; showing it as run %d (r picks a run, "
                          ":runs %d goes back)",
                    reply, nh + 1, from);
    } else {
        take_snapshot(t);
        tui_message(t, 0, "%s", reply);
    }
}

/* Why a done run stopped and how to go on. */
static void done_message(tui *t) {
    const sn_snapshot *s = t->snap;
    const sn_search_settings *st = &s->settings;
    if (st->max_candidates > 0 && s->n_records >= st->max_candidates)
        tui_message(t, 1, "the run is done (max-candidates %d reached); "
                          "raise it to continue (:set max-candidates %d)",
                    st->max_candidates, st->max_candidates + 20);
    else if (st->budget > 0 && s->elapsed >= st->budget)
        tui_message(t, 1, "the run is done; raise the budget to continue "
                          "(:set budget %dm)",
                    (int)(s->elapsed / 60) + 10);
    else
        tui_message(t, 1, "the run is done: %s; change a setting (:set) or "
                          "fork it to continue",
                    s->message[0] ? s->message : "nothing left to try");
}

/* 1 when `set KEY VALUE` (rest = "KEY VALUE") on a done run would let
 * its search go on (budget and max-candidates no longer used up). */
static int set_resumes(tui *t, const char *rest) {
    const sn_snapshot *s = t->snap;
    if (s->state != SN_RUN_DONE) return 0;
    char key[64], val[128];
    if (sscanf(rest, "%63s %127s", key, val) != 2) return 0;
    sn_search_settings tmp;
    if (sn_engine_settings_try(&s->settings, key, val, &tmp, NULL))
        return 0; /* engine says */
    return (tmp.budget <= 0 || s->elapsed < tmp.budget) &&
           (tmp.max_candidates <= 0 || s->n_records < tmp.max_candidates);
}

static int first_child(const sn_snapshot *s, int id) {
    for (int i = id + 1; i < s->n_cands; i++)
        if (s->cands[i].parent == id) return i;
    return -1;
}

/* h/l: in the tree, fold or go to the parent / unfold or go to the
 * first child; in the candidate view and the log, scroll sideways; in
 * the plot, the next smaller / larger candidate. */
static void side_step(tui *t, int dir) {
    runview *v = tui_view(t);
    const sn_snapshot *s = t->snap;
    t->dirty = 1;
    if (t->focus == SN_PANE_DETAIL || t->focus == SN_PANE_LOG) {
        int *hs = t->focus == SN_PANE_DETAIL ? &v->detail_hscroll
                                             : &v->log_hscroll;
        *hs += 8 * dir; /* the upper bound is the drawing's to clamp */
        if (*hs < 0) *hs = 0;
        return;
    }
    if (t->focus == SN_PANE_PLOT) {
        move_selection(t, dir);
        return;
    }
    int id = v->tree.selected;
    if (id < 0 || id >= s->n_cands) {
        tui_message(t, 1, "no candidate yet");
        return;
    }
    int r = sn_tree_row_of(t->rows, t->n_rows, id);
    int kids = r >= 0 ? t->rows[r].n_kids : 0;
    int folded = t->sort == SN_SORT_TREE && sn_tree_is_folded(&v->tree, id);
    if (dir < 0) {
        if (t->sort == SN_SORT_TREE && kids && !folded) {
            sn_tree_set_folded(&v->tree, id, 1);
            v->follow = 0;
        } else if (s->cands[id].parent >= 0) {
            select_id(t, s->cands[id].parent);
        } else {
            tui_message(t, 0, "#%d is a root", id);
        }
    } else {
        int k = first_child(s, id);
        if (folded) {
            sn_tree_set_folded(&v->tree, id, 0);
            v->follow = 0;
        } else if (k >= 0) {
            select_id(t, k);
        } else {
            tui_message(t, 0, "#%d has no children", id);
        }
    }
}

/* ---- the explorer's commands ---------------------------------------------
 * One function per entry of sn_tui_commands; each gets the rest of the
 * line as arg and says what went wrong itself (tui_message). */

typedef struct tui_call {
    tui *t;
    char *arg; /* the words after the command name, as typed */
} tui_call;

#define TUI_CMD(name)                                                        \
    static void name##_(tui *t, char *arg, const char *cmd);                 \
    static int name(void *ctx, int argc, char **argv, sn_error *e) {        \
        tui_call *c = ctx;                                                   \
        (void)argc, (void)e;                                                 \
        name##_(c->t, c->arg, argv[0]);                                      \
        return 0;                                                            \
    }                                                                        \
    static void name##_(tui *t, char *arg, const char *cmd)

TUI_CMD(tc_select) {
    int id;
    (void)cmd;
    if (need_id(t, arg, &id)) return;
    select_id(t, id);
}

TUI_CMD(tc_open) {
    runview *v = tui_view(t);
    int id;
    (void)cmd;
    if (need_id(t, arg, &id)) return;
    select_id(t, id);
    if (t->lay.wide) {
        t->focus = t->focus == SN_PANE_DETAIL && (!arg || !*arg)
                       ? SN_PANE_TREE
                       : SN_PANE_DETAIL;
    } else {
        t->detail_open = arg && *arg ? 1 : !t->detail_open;
        t->focus = t->detail_open ? SN_PANE_DETAIL : SN_PANE_TREE;
    }
    v->detail_scroll = 0;
    v->detail_hscroll = 0;
}

TUI_CMD(tc_fold) {
    const sn_snapshot *s = t->snap;
    int id;
    if (need_id(t, arg, &id)) return;
    int kids = 0;
    for (int i = 0; i < s->n_cands; i++) kids += s->cands[i].parent == id;
    if (!kids) {
        tui_message(t, 0, "#%d has no children", id);
        return;
    }
    sn_tree_set_folded(&tui_view(t)->tree, id, cmd[0] == 'f');
    t->dirty = 1;
}

TUI_CMD(tc_side) {
    (void)arg;
    side_step(t, cmd[0] == 'r' ? 1 : -1);
}

TUI_CMD(tc_zoom) {
    (void)arg, (void)cmd;
    t->zoom = !t->zoom;
    t->dirty = 1;
    if (t->zoom) tui_message(t, 0, "zoomed (z: back, Tab: next pane)");
}

TUI_CMD(tc_sort) {
    int k;
    (void)cmd;
    if (!arg || !*arg || !strcmp(arg, "next"))
        k = (t->sort + 1) % SN_SORT_COUNT;
    else if ((k = sn_sort_from_name(arg)) < 0) {
        tui_message(t, 1, "usage: sort tree|accuracy|params|flops|memory"
                          "|next");
        return;
    }
    t->sort = (sn_sort)k;
    tui_view(t)->tree.top = 0;
    t->focus = SN_PANE_TREE;
    if (t->sort == SN_SORT_TREE) tui_message(t, 0, "the tree (s: sort)");
    else tui_message(t, 0, "all candidates by %s (s: next sort)",
                     sn_sort_name(t->sort));
}

TUI_CMD(tc_move) {
    int page = pane_height(t, t->focus), n;
    (void)cmd;
    if (!arg || !*arg) n = 1;
    else if (!strcmp(arg, "page")) n = page;
    else if (!strcmp(arg, "-page")) n = -page;
    else if (!strcmp(arg, "top")) n = -1000000;
    else if (!strcmp(arg, "bottom")) n = 1000000;
    else if (parse_int(arg, &n)) {
        tui_message(t, 1, "usage: move N|page|-page|top|bottom");
        return;
    }
    move_selection(t, n);
}

TUI_CMD(tc_focus) {
    static const char *const names[] = {"tree", "plot", "detail", "log"};
    (void)cmd;
    if (!arg || !*arg || !strcmp(arg, "next")) cycle_focus(t, 1);
    else if (!strcmp(arg, "prev")) cycle_focus(t, -1);
    else {
        int p = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(arg, names[i])) p = i;
        if (p < 0) {
            tui_message(t, 1, "usage: focus next|prev|tree|plot|detail|log");
            return;
        }
        if (p == SN_PANE_DETAIL && !t->lay.wide) t->detail_open = 1;
        if (p == SN_PANE_PLOT && !t->lay.wide) t->detail_open = 0;
        t->focus = p;
        t->dirty = 1;
    }
}

TUI_CMD(tc_find) {
    (void)cmd;
    if (!arg || !*arg) {
        t->find_prompt = 1;
        tui_cmdline_open(t, "/", NULL);
        return;
    }
    int dir = !strcmp(arg, "prev") ? -1 : 1;
    if (strcmp(arg, "next") && strcmp(arg, "prev"))
        snprintf(t->find_text, sizeof t->find_text, "%s", arg);
    find_next(t, dir);
}

TUI_CMD(tc_metric) {
    int m;
    (void)cmd;
    if (!arg || !*arg || !strcmp(arg, "next"))
        m = (t->metric + 1) % SN_OBJ_COUNT;
    else if ((m = sn_engine_objective_from_name(arg)) < 0) {
        tui_message(t, 1, "usage: metric params|flops|memory|next");
        return;
    }
    t->metric = (sn_objective)m;
    tui_message(t, 0, "size metric: %s", sn_engine_objective_name(t->metric));
}

TUI_CMD(tc_theme) {
    (void)cmd;
    if (!arg || !*arg || !strcmp(arg, "next")) {
        if (t->n_themes == 0) {
            tui_message(t, 1, "no theme files found");
            return;
        }
        int k = 0;
        for (int i = 0; i < t->n_themes; i++)
            if (!strcmp(t->themes[i], t->theme.name)) k = i + 1;
        apply_theme(t, t->themes[k % t->n_themes]);
    } else {
        apply_theme(t, arg);
    }
}

TUI_CMD(tc_glyphs) {
    sn_glyphs g;
    (void)cmd;
    if (arg && !strcmp(arg, "braille")) g = SN_GLYPH_BRAILLE;
    else if (arg && !strcmp(arg, "block")) g = SN_GLYPH_BLOCK;
    else if (arg && !strcmp(arg, "ascii")) g = SN_GLYPH_ASCII;
    else {
        tui_message(t, 1, "usage: glyphs braille|block|ascii");
        return;
    }
    if (g != SN_GLYPH_ASCII && t->ascii) {
        tui_message(t, 1, "the terminal is not UTF-8: only ascii");
        return;
    }
    t->glyphs = g;
    tui_message(t, 0, "plot glyphs: %s", arg);
}

TUI_CMD(tc_runs) {
    (void)cmd;
    cmd_runs(t, arg);
}

TUI_CMD(tc_toggle_pause) {
    const sn_snapshot *s = t->snap;
    (void)arg, (void)cmd;
    if (s->state == SN_RUN_DONE) done_message(t);
    else engine_command(t, s->state == SN_RUN_PAUSED ||
                                   sn_run_state_over(s->state)
                               ? "resume"
                               : "pause");
}

TUI_CMD(tc_export) {
    const sn_snapshot *s = t->snap;
    char msg[1024], line[512];
    (void)cmd;
    int rc = sn_export_command(s->dir, arg, s->n_cands, &s->settings, msg,
                               sizeof msg, line, sizeof line);
    tui_message(t, rc < 0, "%s", msg);
    if (rc == 1) {
        tui_cmdline_open(t, ":", line);
        snprintf(t->cmd_hint, sizeof t->cmd_hint, " %.400s", msg);
    }
}

TUI_CMD(tc_help) {
    (void)arg, (void)cmd;
    t->help_open = 1;
    t->help_scroll = 0;
    t->dirty = 1;
}

TUI_CMD(tc_quit) {
    (void)arg, (void)cmd;
    if (any_running(t) && !t->confirmed)
        ask(t, "quit", "quit",
            "A search is running: quit? It stays resumable.");
    else t->quit = 1;
    t->dirty = 1;
}

TUI_CMD(tc_compare) {
    (void)cmd;
    tui_cmd_compare(t, arg);
}

TUI_CMD(tc_forks) {
    (void)cmd;
    tui_cmd_forks(t, arg);
}

TUI_CMD(tc_report) {
    (void)cmd;
    tui_cmd_report(t, arg);
}

const sn_command sn_tui_commands[] = {
    {"select", "ID", "select candidate ID", 1, 1, "id", tc_select},
    {"open", "[ID]", "open or close the candidate view", 0, 1, "id", tc_open},
    {"fold", "[ID]", "hide the subtree of ID (default: selected)", 0, 1, "id",
     tc_fold},
    {"unfold", "[ID]", "show the subtree of ID again", 0, 1, "id", tc_fold},
    {"left", "", "tree: fold, or go to the parent; views: scroll left", 0, 0,
     "", tc_side},
    {"right", "", "tree: unfold, or go to the first child; views: scroll right",
     0, 0, "", tc_side},
    {"move", "N|page|-page|top|bottom", "move the selection in the tree", 0, 1,
     "page,-page,top,bottom", tc_move},
    {"focus", "next|prev|tree|plot|detail|log", "give a pane the keyboard", 0,
     1, "tree,plot,detail,log,next,prev", tc_focus},
    {"zoom", "", "the focused pane fills the screen (again: back)", 0, 0, "",
     tc_zoom},
    {"sort", "tree|accuracy|params|flops|memory|next", "tree, or a flat list",
     0, 1, "tree,accuracy,params,flops,memory,next", tc_sort},
    {"find", "TEXT|next|prev", "select the next candidate whose line has TEXT",
     0, -1, "next,prev", tc_find},
    {"metric", "params|flops|memory|next", "size metric of the plot", 0, 1,
     "params,flops,memory,next", tc_metric},
    {"theme", "NAME|next", "switch the colour theme", 0, -1, "theme",
     tc_theme},
    {"glyphs", "braille|block|ascii", "how the plot is drawn", 1, 1,
     "braille,block,ascii", tc_glyphs},
    {"runs", "[N|DIR]", "pick a run or fork, switch to run N, or open DIR", 0,
     -1, "", tc_runs},
    {"toggle-pause", "", "pause a running search, resume a paused one", 0, 0,
     "", tc_toggle_pause},
    {"export", "ID FORMAT PATH", "export a candidate (onnx, c, c-int8)", 0, -1,
     "id onnx,c,c-int8 path", tc_export},
    {"help", "", "show keys and commands", 0, 0, "", tc_help},
    {"quit", "", "leave (the run stays resumable)", 0, 0, "", tc_quit},
    {"compare", "[RUN...|off]", "overlay other runs' fronts in the Pareto pane",
     0, -1, "", tc_compare},
    {"forks", "[on|off]", "show or hide this run's forks in the Pareto pane",
     0, 1, "", tc_forks},
    {"report", "FILE",
     "write the report of the Pareto pane (.svg .png .pdf .html)", 0, -1, "",
     tc_report},
    {NULL, NULL, NULL, 0, 0, NULL, NULL}};

void tui_run_command(tui *t, const char *line) {
    char buf[1024];
    while (*line == ' ' || *line == '\t') line++;
    snprintf(buf, sizeof buf, "%s", line);
    size_t l = strlen(buf);
    while (l && (buf[l - 1] == ' ' || buf[l - 1] == '\n')) buf[--l] = 0;
    if (!*buf) return;
    char *rest = buf + strcspn(buf, " \t");
    if (*rest) *rest++ = 0;
    while (*rest == ' ' || *rest == '\t') rest++;
    const sn_command *const tabs[2] = {sn_tui_commands, sn_engine_commands};
    int local;
    sn_error e;
    const sn_command *c = sn_command_find(tabs, 2, buf, &local, SN_TUI_HINT,
                                          &e);
    if (!c) {
        tui_message(t, 1, "%s", e.msg);
        return;
    }
    const char *name = c->name;
    if (local == 0) {
        char words[1024], *w[64];
        snprintf(words, sizeof words, "%s", rest);
        int n = sn_split_words(words, w, 64);
        if (sn_command_check_args(c, n < 0 ? 64 : n, &e)) {
            tui_message(t, 1, "%s", e.msg);
            return;
        }
        char *argv[1] = {(char *)name};
        tui_call call = {t, rest};
        c->exec(&call, 1, argv, &e);
        return;
    }
    char full[1100];
    snprintf(full, sizeof full, "%s%s%s", name, *rest ? " " : "", rest);
    if (!strcmp(name, "resume") && t->snap->state == SN_RUN_DONE && !*rest) {
        done_message(t); /* resuming changes nothing: say what would */
        return;
    }
    if (!strcmp(name, "set") && !t->confirmed && set_resumes(t, rest)) {
        char q[320];
        snprintf(q, sizeof q, "The run is done; '%.200s' resumes its search. "
                              "Go on?", full);
        ask(t, full, full, q);
        return;
    }
    engine_command(t, full);
}

/* ---- input --------------------------------------------------------------------- */

static int translate_key(int is_code, wint_t ch) {
    if (!is_code) {
        if (ch == '\n' || ch == '\r') return SN_KEY_ENTER;
        if (ch == '\t') return SN_KEY_TAB;
        if (ch == 27) return SN_KEY_ESC;
        return (int)ch;
    }
    switch (ch) {
    case KEY_UP: return SN_KEY_UP;
    case KEY_DOWN: return SN_KEY_DOWN;
    case KEY_LEFT: return SN_KEY_LEFT;
    case KEY_RIGHT: return SN_KEY_RIGHT;
    case KEY_PPAGE: return SN_KEY_PGUP;
    case KEY_NPAGE: return SN_KEY_PGDN;
    case KEY_HOME: return SN_KEY_HOME;
    case KEY_END: return SN_KEY_END;
    case KEY_ENTER: return SN_KEY_ENTER;
    case KEY_BTAB: return SN_KEY_BTAB;
    default: return -1;
    }
}

static int pane_at(tui *t, int x, int y) {
    for (int p = 0; p < SN_PANE_COUNT; p++) {
        sn_rect r = t->lay.pane[p];
        if (r.w && x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h)
            return p;
    }
    return -1;
}

static void handle_mouse(tui *t) {
    MEVENT ev;
    if (getmouse(&ev) != OK) return;
    if (t->runs_open) { /* a click elsewhere closes the pick list */
        t->runs_open = 0;
        t->dirty = 1;
        return;
    }
    if (t->help_open) {
        if (ev.bstate & BUTTON4_PRESSED) t->help_scroll -= 3;
        else if (ev.bstate & BUTTON5_PRESSED) t->help_scroll += 3;
        else t->help_open = 0;
        t->dirty = 1;
        return;
    }
    int p = pane_at(t, ev.x, ev.y);
    if (p < 0) return;
    int wheel = ev.bstate & BUTTON4_PRESSED ? -3
                : ev.bstate & BUTTON5_PRESSED ? 3
                                              : 0;
    int old = t->focus;
    t->focus = p;
    if (wheel) {
        move_selection(t, wheel);
        t->focus = old;
        return;
    }
    if (!(ev.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED |
                       BUTTON1_DOUBLE_CLICKED)))
        return;
    runview *v = tui_view(t);
    if (p == SN_PANE_TREE) {
        int row = v->tree.top + ev.y - (t->lay.pane[p].y + 1);
        if (row >= 0 && row < t->n_rows) select_id(t, t->rows[row].id);
    } else if (p == SN_PANE_PLOT && t->plot.cells) {
        int id = sn_plot_pick(&t->plot, &t->spec, ev.x - t->plot_x,
                              ev.y - t->plot_y);
        if (id >= 0) {
            select_id(t, id);
            tui_message(t, 0, "#%d %s", id, t->snap->cands[id].op);
        }
    }
    t->dirty = 1;
}

static void handle_key(tui *t, int is_code, wint_t ch) {
    if (is_code && ch == KEY_RESIZE) {
        clearok(curscr, TRUE); /* repaint everything: no stale cells */
        t->dirty = 1;
        return;
    }
    if (t->cmd_active) {
        tui_cmdline_key(t, is_code, (unsigned)ch);
        return;
    }
    if (is_code && ch == KEY_MOUSE) {
        handle_mouse(t);
        return;
    }
    int key = translate_key(is_code, ch);
    if (key < 0) return;
    t->dirty = 1;
    if (t->help_open) {
        if (key == 'j' || key == SN_KEY_DOWN) t->help_scroll++;
        else if (key == 'k' || key == SN_KEY_UP) t->help_scroll--;
        else if (key == SN_KEY_PGDN || key == ' ') t->help_scroll += 10;
        else if (key == SN_KEY_PGUP) t->help_scroll -= 10;
        else t->help_open = 0;
        return;
    }
    if (t->ask[0]) {
        t->ask[0] = 0;
        if (key == 'y' || key == 'Y') {
            char cmd[sizeof t->ask_cmd];
            snprintf(cmd, sizeof cmd, "%s", t->ask_cmd);
            t->confirmed = 1;
            tui_run_command(t, cmd);
            t->confirmed = 0;
        } else {
            tui_message(t, 0, "%s cancelled", t->ask_what);
        }
        return;
    }
    if (t->runs_open) {
        int n = sn_engine_count(t->en);
        if (key == 'j' || key == SN_KEY_DOWN) {
            if (t->runs_sel + 1 < n) t->runs_sel++;
        } else if (key == 'k' || key == SN_KEY_UP) {
            if (t->runs_sel > 0) t->runs_sel--;
        } else if (key == SN_KEY_ENTER || (key >= '1' && key <= '9')) {
            int h = key == SN_KEY_ENTER ? t->runs_sel : key - '1';
            t->runs_open = 0;
            if (h < n) {
                char c[32];
                snprintf(c, sizeof c, "runs %d", h + 1);
                tui_run_command(t, c);
            }
        } else {
            t->runs_open = 0;
        }
        return;
    }
    t->msg[0] = 0;
    if (key == ':') {
        tui_cmdline_open(t, ":", NULL);
        return;
    }
    if (key == SN_KEY_ESC) {
        if (!t->lay.wide && t->detail_open) {
            t->detail_open = 0;
            t->focus = SN_PANE_TREE;
        }
        return;
    }
    char cmd[128];
    int sel = tui_view(t)->tree.selected;
    const sn_key_binding *b = sn_tui_key_binding(key);
    if (b && sn_tui_key_command(key, sel < 0 ? 0 : sel, cmd, sizeof cmd)) {
        if (strchr(b->command, '%') && sel < 0) {
            tui_message(t, 1, "no candidate selected yet");
            return;
        }
        if (b->ask) {
            char q[320], what[32];
            const char *pc = strstr(b->ask, "%d");
            if (pc)
                snprintf(q, sizeof q, "%.*s%d%s", (int)(pc - b->ask), b->ask,
                         sel, pc + 2);
            else
                snprintf(q, sizeof q, "%s", b->ask);
            snprintf(what, sizeof what, "%.*s", (int)strcspn(cmd, " "), cmd);
            ask(t, what, cmd, q);
            return;
        }
        tui_run_command(t, cmd);
    }
}

/* ---- setup and the loop ----------------------------------------------------------- */

static void redirect_stderr(int *saved) {
    /* Nothing may print over the screen: stderr goes to a file in the
     * state directory while curses runs (restored at the end). */
    *saved = -1;
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char path[PATH_MAX];
    if (xdg && *xdg) snprintf(path, sizeof path, "%s/slimnas", xdg);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.local/state/slimnas", home);
    else return;
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    mkdir(path, 0755);
    size_t l = strlen(path);
    snprintf(path + l, sizeof path - l, "/explorer.log");
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    fflush(stderr);
    *saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

static void restore_stderr(int saved) {
    if (saved < 0) return;
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
}

int sn_tui_run(sn_engine *en, int h, const sn_tui_opts *o, sn_error *e) {
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return sn_errf(e, "the explorer needs a terminal");
    tui *t = sn_xcalloc(1, sizeof *t);
    t->en = en;
    t->h = h;
    t->opts = o ? *o : sn_tui_opts_default();
    t->det_id = -1;
    t->metric = SN_OBJ_PARAMS;
    take_snapshot(t);
    if (!t->snap) {
        free(t);
        return sn_errf(e, "no search %d", h);
    }
    t->metric = t->snap->settings.obj[0];

    /* Signals: blocked here (and, via sn_tui_prepare, in every engine
     * thread), delivered only inside pselect below. */
    sigset_t block, waitmask;
    sigemptyset(&block);
    for (size_t i = 0; i < sizeof handled_signals / sizeof *handled_signals; i++)
        sigaddset(&block, handled_signals[i]);
    pthread_sigmask(SIG_BLOCK, &block, &waitmask);
    for (size_t i = 0; i < sizeof handled_signals / sizeof *handled_signals; i++)
        sigdelset(&waitmask, handled_signals[i]);
    struct sigaction sa, old_sa[3];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_sa[0]);
    sigaction(SIGHUP, &sa, &old_sa[1]);
    sigaction(SIGINT, &sa, &old_sa[2]);
    got_term = 0;

    int saved_err;
    redirect_stderr(&saved_err);
    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr) {
        restore_stderr(saved_err);
        sn_snapshot_release(t->snap);
        free(t);
        return sn_errf(e, "cannot set up the terminal (TERM=%s)",
                       getenv("TERM") ? getenv("TERM") : "");
    }
    set_term(scr);
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    mousemask(BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON1_DOUBLE_CLICKED |
                  BUTTON4_PRESSED | BUTTON5_PRESSED,
              NULL);
    mouseinterval(0);

    const char *cs = nl_langinfo(CODESET);
    t->ascii = t->opts.ascii || !cs || strcmp(cs, "UTF-8");
    t->glyphs = t->ascii ? SN_GLYPH_ASCII : SN_GLYPH_BRAILLE;
    t->n_themes = sn_theme_list(t->themes, TUI_MAX_THEMES);
    sn_theme_default(&t->theme);
    tui_colours_init(t);
    if (t->opts.theme) apply_theme(t, t->opts.theme);
    tui_cmdline_init(t);
    getmaxyx(stdscr, t->lines, t->cols);
    sn_layout_compute(t->cols, t->lines, 0, &t->lay);
    if (t->snap->state == SN_RUN_PAUSED && !t->msg[0])
        tui_message(t, 0, "%s is paused: space resumes", t->snap->dir);
    t->dirty = 1;

    int efd = sn_engine_fd(en);
    while (!t->quit && !got_term) {
        if (t->dirty) {
            t->dirty = 0;
            tui_draw(t);
        }
        fd_set rf;
        FD_ZERO(&rf);
        FD_SET(STDIN_FILENO, &rf);
        FD_SET(efd, &rf);
        int r = pselect((efd > STDIN_FILENO ? efd : STDIN_FILENO) + 1, &rf,
                        NULL, NULL, NULL, &waitmask);
        if (r < 0 && errno != EINTR) break;
        if (r > 0 && FD_ISSET(efd, &rf)) {
            sn_engine_drain(en);
            take_snapshot(t);
        }
        /* Read every key there is (also after EINTR: a SIGWINCH shows up
         * as KEY_RESIZE here). */
        wint_t ch;
        int rc;
        while (!t->quit && (rc = get_wch(&ch)) != ERR)
            handle_key(t, rc == KEY_CODE_YES, ch);
    }

    tui_cmdline_done(t);
    endwin();
    delscreen(scr);
    restore_stderr(saved_err);
    sigaction(SIGTERM, &old_sa[0], NULL);
    sigaction(SIGHUP, &old_sa[1], NULL);
    sigaction(SIGINT, &old_sa[2], NULL);
    for (int i = 0; i < t->n_rv; i++) sn_tree_state_free(&t->rv[i].tree);
    free(t->rv);
    free(t->rows);
    free(t->pts);
    tui_compare_free();
    sn_plot_free(&t->plot);
    sn_lines_free(&t->det_lines);
    sn_snapshot_release(t->snap);
    free(t);
    return 0;
}
