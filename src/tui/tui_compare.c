/* tui_compare.c — other runs' fronts in the Pareto pane (:compare, :forks)
 * and :report; see tui_compare.h. State is module-wide: there is one
 * explorer per process and only its UI thread gets here. */
#include <curses.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "slimnas/report.h"
#include "tui_compare.h"

#define MAX_SHOWN 12

/* One other run as shown: its label and its front on the plot's metric. */
typedef struct shown {
    char label[64];
    int fork;
    sn_plot_point *pts;
    int n;
} shown;

static struct {
    sn_report_run runs[SN_REPORT_MAX_RUNS]; /* from :compare */
    int n_runs;
    int forks_hidden;
    shown show[MAX_SHOWN];
    int n_show;
} cmp;

static const char *const marks_utf8[] = {"\xe2\x96\xb2", "\xe2\x96\xa0",
                                         "\xe2\x9c\x9a", "\xe2\x98\x85",
                                         "\xe2\x96\xbc", "\xe2\x9c\x96"};
static const char *const marks_ascii[] = {"A", "B", "C", "D", "E", "F"};
#define N_MARKS 6
static const int mark_slots[] = {SN_SLOT_LIMIT, SN_SLOT_SPARK,
                                 SN_SLOT_TRAINING, SN_SLOT_QUEUED,
                                 SN_SLOT_HEADER, SN_SLOT_FAILED};

static const char *mark_of(const tui *t, int k) {
    int ascii = t->ascii || t->glyphs == SN_GLYPH_ASCII;
    return (ascii ? marks_ascii : marks_utf8)[k % N_MARKS];
}

static int64_t size_on(const sn_cand_info *c, sn_objective m) {
    return m == SN_OBJ_FLOPS ? c->flops : m == SN_OBJ_MEMORY ? c->memory
                                                              : c->params;
}

static void clear_shown(void) {
    for (int i = 0; i < cmp.n_show; i++) free(cmp.show[i].pts);
    cmp.n_show = 0;
}

void tui_compare_free(void) {
    clear_shown();
    for (int i = 0; i < cmp.n_runs; i++) sn_report_run_free(&cmp.runs[i]);
    cmp.n_runs = 0;
}

static void add_shown(const char *label, int fork, const sn_cand_info *cands,
                      const int *front, int n_front, sn_objective m) {
    if (cmp.n_show >= MAX_SHOWN) return;
    shown *s = &cmp.show[cmp.n_show++];
    snprintf(s->label, sizeof s->label, "%.*s", (int)sizeof s->label - 1,
             label);
    s->fork = fork;
    s->pts = sn_xcalloc((size_t)n_front + 1, sizeof *s->pts);
    s->n = 0;
    for (int i = 0; i < n_front; i++) {
        const sn_cand_info *c = &cands[front[i]];
        sn_plot_point *p = &s->pts[s->n++];
        p->x = (double)size_on(c, m);
        if (p->x < 1) p->x = 1;
        p->y = c->val_acc;
        p->id = -1;
        p->flags = SN_PT_OTHER;
    }
}

/* 1 when snapshot s is a fork of directory dir. */
static int is_fork_of(const sn_snapshot *s, const char *dir) {
    if (!s->settings.origin_run[0]) return 0;
    if (!strcmp(s->settings.origin_run, dir)) return 1;
    char a[PATH_MAX], b[PATH_MAX];
    return realpath(s->settings.origin_run, a) && realpath(dir, b) &&
           !strcmp(a, b);
}

/* Handles of the current run's forks open in the engine. */
static int fork_handles(tui *t, int *hs, int max) {
    int n = 0, count = sn_engine_count(t->en);
    for (int h = 0; h < count && n < max; h++) {
        if (h == t->h) continue;
        const sn_snapshot *s = sn_engine_snapshot(t->en, h);
        if (s && is_fork_of(s, t->snap->dir)) hs[n++] = h;
        sn_snapshot_release(s);
    }
    return n;
}

void tui_compare_points(tui *t) {
    clear_shown();
    for (int i = 0; i < cmp.n_runs; i++)
        add_shown(cmp.runs[i].label, 0, cmp.runs[i].cands, cmp.runs[i].front,
                  cmp.runs[i].n_front, t->metric);
    if (!cmp.forks_hidden) {
        int hs[MAX_SHOWN];
        int nf = fork_handles(t, hs, MAX_SHOWN);
        for (int k = 0; k < nf; k++) {
            const sn_snapshot *s = sn_engine_snapshot(t->en, hs[k]);
            if (!s) continue;
            add_shown(s->name, 1, s->cands, s->front, s->n_front, t->metric);
            sn_snapshot_release(s);
        }
    }
    int extra = 0;
    for (int i = 0; i < cmp.n_show; i++) extra += cmp.show[i].n;
    if (!extra) return;
    t->pts = sn_xrealloc(t->pts, ((size_t)t->n_pts + (size_t)extra + 1) *
                                     sizeof *t->pts);
    for (int i = 0; i < cmp.n_show; i++)
        for (int k = 0; k < cmp.show[i].n; k++)
            t->pts[t->n_pts++] = cmp.show[i].pts[k];
}

void tui_compare_draw(tui *t, sn_rect r) {
    if (!cmp.n_show || !t->plot.cells) return;
    for (int i = 0; i < cmp.n_show; i++) {
        attrset((attr_t)tui_slot_attr(t, mark_slots[i % N_MARKS]) | A_BOLD);
        for (int k = 0; k < cmp.show[i].n; k++) {
            int cx, cy;
            const sn_plot_point *p = &cmp.show[i].pts[k];
            if (sn_plot_cell_of(&t->plot, p->x, p->y, &cx, &cy)) continue;
            mvaddstr(t->plot_y + cy, t->plot_x + cx, mark_of(t, i));
        }
    }
    /* legend: this run first, then the others, in the bottom right corner
     * of the data area (large and inaccurate: where fronts rarely are) */
    int w = 8;
    for (int i = 0; i < cmp.n_show; i++) {
        int l = (int)strlen(cmp.show[i].label) + (cmp.show[i].fork ? 5 : 0);
        if (l > w) w = l;
    }
    if (w > 18) w = 18;
    w += 2;
    int right = t->plot_x + t->plot.ax + t->plot.aw;
    int bottom = t->plot_y + t->plot.ay + t->plot.ah - 1;
    int x = right - w, y = bottom - cmp.n_show;
    if (x <= r.x + 6 || y <= r.y) return; /* no room */
    int ascii = t->ascii || t->glyphs == SN_GLYPH_ASCII;
    char line[64];
    attrset((attr_t)tui_slot_attr(t, SN_SLOT_FRONT_LINE));
    mvaddstr(y, x, ascii ? "*" : "\xe2\x97\x86");
    attrset((attr_t)tui_slot_attr(t, SN_SLOT_NORMAL));
    snprintf(line, sizeof line, " %-*.*s", w - 2, w - 2, "this run");
    mvaddstr(y, x + 1, line);
    for (int i = 0; i < cmp.n_show; i++) {
        attrset((attr_t)tui_slot_attr(t, mark_slots[i % N_MARKS]) | A_BOLD);
        mvaddstr(y + 1 + i, x, mark_of(t, i));
        attrset((attr_t)tui_slot_attr(t, SN_SLOT_NORMAL));
        char name[80];
        snprintf(name, sizeof name, "%s%.63s", cmp.show[i].fork ? "fork " : "",
                 cmp.show[i].label);
        snprintf(line, sizeof line, " %-*.*s", w - 2, w - 2, name);
        mvaddstr(y + 1 + i, x + 1, line);
    }
}

/* ---- commands ---------------------------------------------------------------- */

static int split(const char *arg, char words[][SN_SEARCH_PATH_LEN], int max) {
    int n = 0;
    const char *p = arg ? arg : "";
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        size_t l = strcspn(p, " \t");
        if (n == max) return -1;
        snprintf(words[n++], SN_SEARCH_PATH_LEN, "%.*s", (int)l, p);
        p += l;
    }
    return n;
}

void tui_cmd_compare(tui *t, const char *arg) {
    char w[SN_REPORT_MAX_RUNS][SN_SEARCH_PATH_LEN];
    int n = split(arg, w, SN_REPORT_MAX_RUNS - 1);
    if (n < 0) {
        tui_message(t, 1, "compare: at most %d runs", SN_REPORT_MAX_RUNS - 1);
        return;
    }
    if (n == 0 || (n == 1 && !strcmp(w[0], "off"))) {
        int had = cmp.n_runs;
        tui_compare_free();
        t->dirty = 1;
        tui_message(t, 0, had ? "compare: cleared" : "usage: compare RUN...");
        return;
    }
    sn_report_run runs[SN_REPORT_MAX_RUNS];
    sn_error e;
    for (int i = 0; i < n; i++)
        if (sn_report_run_load(&runs[i], w[i], NULL, -1, &e)) {
            for (int k = 0; k < i; k++) sn_report_run_free(&runs[k]);
            tui_message(t, 1, "compare: %s", e.msg);
            return;
        }
    tui_compare_free();
    memcpy(cmp.runs, runs, (size_t)n * sizeof *runs);
    cmp.n_runs = n;
    sn_report_unique_labels(cmp.runs, n);
    char msg[400] = "comparing with";
    const char *other_obj = NULL;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(msg);
        snprintf(msg + l, sizeof msg - l, "%s %s (front %d)", i ? "," : "",
                 cmp.runs[i].label, cmp.runs[i].n_front);
        int has = 0;
        for (int k = 0; k < cmp.runs[i].settings.n_obj; k++)
            has |= cmp.runs[i].settings.obj[k] == t->metric;
        if (!has && !other_obj) other_obj = cmp.runs[i].label;
    }
    if (other_obj) {
        size_t l = strlen(msg);
        snprintf(msg + l, sizeof msg - l, "; %s's front is over another "
                 "objective than %s", other_obj, sn_engine_objective_name(t->metric));
    }
    tui_message(t, 0, "%s", msg);
    t->dirty = 1;
}

void tui_cmd_forks(tui *t, const char *arg) {
    if (!arg || !*arg) cmp.forks_hidden = !cmp.forks_hidden;
    else if (!strcmp(arg, "on")) cmp.forks_hidden = 0;
    else if (!strcmp(arg, "off")) cmp.forks_hidden = 1;
    else {
        tui_message(t, 1, "usage: forks [on|off]");
        return;
    }
    int hs[MAX_SHOWN];
    int nf = fork_handles(t, hs, MAX_SHOWN);
    tui_message(t, 0, "forks %s (%d open fork%s of this run)",
                cmp.forks_hidden ? "hidden" : "shown", nf, nf == 1 ? "" : "s");
    t->dirty = 1;
}

void tui_cmd_report(tui *t, const char *arg) {
    char w[2][SN_SEARCH_PATH_LEN];
    if (split(arg, w, 1) != 1) {
        tui_message(t, 1, "usage: report FILE.svg|.png|.pdf|.html");
        return;
    }
    if (sn_report_format_of(w[0]) < 0) {
        tui_message(t, 1, "report: %s: the extension picks the format: .svg, "
                          ".png, .pdf, .html or .csv", w[0]);
        return;
    }
    sn_report_run runs[SN_REPORT_MAX_RUNS];
    int n = 0, nf = 0, hs[SN_REPORT_MAX_RUNS];
    sn_error e;
    int sel = tui_view(t)->tree.selected, member = sel;
    const sn_cand_info *c = sel >= 0 && sel < t->snap->n_cands
                                ? &t->snap->cands[sel] : NULL;
    if (sn_report_run_load(&runs[n], t->snap->dir, &member,
                           c && c->status == SN_CAND_DONE ? 1 : 0, &e)) {
        tui_message(t, 1, "report: %s", e.msg);
        return;
    }
    n++;
    if (!cmp.forks_hidden)
        nf = fork_handles(t, hs, SN_REPORT_MAX_RUNS - 1 - cmp.n_runs);
    for (int k = 0; k < nf; k++) {
        const sn_snapshot *s = sn_engine_snapshot(t->en, hs[k]);
        int rc = s ? sn_report_run_load(&runs[n], s->dir, NULL, -1, &e) : -1;
        sn_snapshot_release(s);
        if (rc) {
            for (int i = 0; i < n; i++) sn_report_run_free(&runs[i]);
            tui_message(t, 1, "report: %s", e.msg);
            return;
        }
        n++;
    }
    /* compared runs: shallow copies (their arrays stay :compare's) */
    int own = n;
    for (int i = 0; i < cmp.n_runs && n < SN_REPORT_MAX_RUNS; i++)
        runs[n++] = cmp.runs[i];
    sn_report_unique_labels(runs, n);
    sn_report_opts o = {(int)t->metric, NULL};
    int pw, ph;
    int rc = sn_report_write(w[0], runs, n, &o, &pw, &ph, &e);
    for (int i = 0; i < own; i++) sn_report_run_free(&runs[i]);
    if (rc) tui_message(t, 1, "report: %s", e.msg);
    else tui_message(t, 0, "wrote %s (%d run%s, %s)", w[0], n, n == 1 ? "" : "s",
                     sn_engine_objective_name(t->metric));
}
