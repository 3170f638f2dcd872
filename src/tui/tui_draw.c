/* tui_draw.c — draws the explorer from its state: status bar, tree, plot,
 * candidate view, log, bottom line and the help overlay. Every decision
 * about content (rows, plot cells, tables, layout) is made by the pure
 * functions of tui.h; this file copies their output to curses and picks
 * each piece's slot. Drawing code names slots only, never colours. */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tui_compare.h"
#include "tui_internal.h"

/* ---- colours and small drawing helpers ------------------------------------ */

static short pair_colour(sn_colour c, sn_colour fallback) {
    if (c.kind == SN_COLOUR_DEFAULT) c = fallback;
    return (short)sn_colour_to_terminal(c, COLORS);
}

void tui_colours_init(tui *t) {
    int no_color = sn_tui_no_color();
    if (no_color) sn_theme_strip_colour(&t->theme);
    t->colour = 0;
    if (!has_colors() || no_color) return;
    static int started;
    if (!started) {
        start_color();
        use_default_colors();
        started = 1;
    }
    const sn_style *normal = &t->theme.slot[SN_SLOT_NORMAL];
    for (int i = 0; i < SN_SLOT_COUNT && i + 1 < COLOR_PAIRS; i++) {
        const sn_style *s = &t->theme.slot[i];
        init_pair((short)(i + 1), pair_colour(s->fg, normal->fg),
                  pair_colour(s->bg, normal->bg));
    }
    t->colour = 1;
}

static attr_t slot_attr(const tui *t, int slot) {
    const sn_style *s = &t->theme.slot[slot];
    attr_t a = A_NORMAL;
    if (t->colour) a |= COLOR_PAIR(slot + 1);
    if (s->attr & SN_ATTR_BOLD) a |= A_BOLD;
    if (s->attr & SN_ATTR_DIM) a |= A_DIM;
    if (s->attr & SN_ATTR_UNDERLINE) a |= A_UNDERLINE;
    if (s->attr & SN_ATTR_REVERSE) a |= A_REVERSE;
#ifdef A_ITALIC
    if (s->attr & SN_ATTR_ITALIC) a |= A_ITALIC;
#endif
    return a;
}

unsigned long tui_slot_attr(const tui *t, int slot) {
    return slot_attr(t, slot);
}

/* Text at (y, x), at most w columns; returns the columns written. */
static int put(const tui *t, int y, int x, int w, int slot, const char *s) {
    if (w <= 0) return 0;
    char buf[1024];
    int n = sn_tui_clip(buf, sizeof buf, s, w, 1, t->ascii);
    attrset(slot_attr(t, slot));
    mvaddstr(y, x, buf);
    return n;
}

static void fill(const tui *t, int y, int x, int w, int slot) {
    if (w <= 0) return;
    attrset(slot_attr(t, slot));
    mvhline(y, x, ' ', w);
}

static void frame(const tui *t, sn_rect r, const char *title, int focused) {
    if (r.w < 2 || r.h < 2) return;
    attrset(slot_attr(t, SN_SLOT_BORDER));
    /* plain ASCII when asked (or no UTF-8): '+', '-', '|' rather than the
     * terminal's alternate character set, which not every one has */
    chtype hl = t->ascii ? '-' : ACS_HLINE, vl = t->ascii ? '|' : ACS_VLINE;
    chtype ul = t->ascii ? '+' : ACS_ULCORNER, ur = t->ascii ? '+' : ACS_URCORNER;
    chtype ll = t->ascii ? '+' : ACS_LLCORNER, lr = t->ascii ? '+' : ACS_LRCORNER;
    mvhline(r.y, r.x + 1, hl, r.w - 2);
    mvhline(r.y + r.h - 1, r.x + 1, hl, r.w - 2);
    mvvline(r.y + 1, r.x, vl, r.h - 2);
    mvvline(r.y + 1, r.x + r.w - 1, vl, r.h - 2);
    mvaddch(r.y, r.x, ul);
    mvaddch(r.y, r.x + r.w - 1, ur);
    mvaddch(r.y + r.h - 1, r.x, ll);
    mvaddch(r.y + r.h - 1, r.x + r.w - 1, lr);
    if (title && r.w > 6) {
        char tb[512];
        snprintf(tb, sizeof tb, " %s ", title);
        put(t, r.y, r.x + 2, r.w - 4, focused ? SN_SLOT_FOCUS : SN_SLOT_TITLE,
            tb);
    }
}

static const char *metric_name(sn_objective m) {
    return m == SN_OBJ_FLOPS ? "flops" : m == SN_OBJ_MEMORY ? "memory"
                                                            : "params";
}

static const char *metric_unit(sn_objective m) {
    return m == SN_OBJ_FLOPS ? "MACs" : m == SN_OBJ_MEMORY ? "bytes"
                                                           : "params";
}

static double cand_size(const sn_cand_info *c, sn_objective m) {
    return (double)(m == SN_OBJ_FLOPS ? c->flops
                    : m == SN_OBJ_MEMORY ? c->memory
                                         : c->params);
}

/* ---- status bar ----------------------------------------------------------- */

static void draw_status(tui *t) {
    const sn_snapshot *s = t->snap;
    int w = t->cols;
    fill(t, 0, 0, w, SN_SLOT_STATUS);
    const char *hint = "? help";
    int room = w - 2 - (w >= 60 ? (int)strlen(hint) + 2 : 0);
    char buf[512];
    int nr = sn_engine_count(t->en);
    sn_tui_status(s, t->h, nr, room, buf, sizeof buf);
    put(t, 0, 1, room, SN_SLOT_STATUS, buf);
    /* run name and state stand out: everything before the first " | " */
    char key[256];
    const char *bar = strstr(buf, " | ");
    snprintf(key, sizeof key, "%.*s", bar ? (int)(bar - buf) : (int)strlen(buf),
             buf);
    put(t, 0, 1, room, SN_SLOT_STATUS_KEY, key);
    if (w >= 60) put(t, 0, w - (int)strlen(hint) - 1, (int)strlen(hint),
                     SN_SLOT_STATUS, hint);
}

/* ---- tree ------------------------------------------------------------------- */

static void progress_bar(char *buf, size_t n, double frac, int width,
                         int ascii) {
    if (frac < 0) frac = 0;
    if (frac > 1) frac = 1;
    int full = (int)lround(frac * width);
    size_t o = 0;
    for (int i = 0; i < width && o + 4 < n; i++) {
        const char *c = i < full ? (ascii ? "#" : "\xe2\x96\x88")  /* █ */
                                 : (ascii ? "." : "\xe2\x96\x91"); /* ░ */
        size_t l = strlen(c);
        memcpy(buf + o, c, l);
        o += l;
    }
    buf[o] = 0;
}

static void draw_tree(tui *t) {
    sn_rect r = t->lay.pane[SN_PANE_TREE];
    if (!r.w) return;
    const sn_snapshot *s = t->snap;
    char title[128];
    if (t->sort == SN_SORT_TREE)
        snprintf(title, sizeof title, "Tree  %d candidates  front %d",
                 s->n_cands, s->n_front);
    else
        snprintf(title, sizeof title, "By %s  %d candidates  front %d",
                 sn_sort_name(t->sort), s->n_cands, s->n_front);
    /* the size column: the list's sort key when it is a size */
    sn_objective metric = t->sort == SN_SORT_PARAMS   ? SN_OBJ_PARAMS
                          : t->sort == SN_SORT_FLOPS  ? SN_OBJ_FLOPS
                          : t->sort == SN_SORT_MEMORY ? SN_OBJ_MEMORY
                                                      : t->metric;
    frame(t, r, title, t->focus == SN_PANE_TREE);
    int x0 = r.x + 1, y0 = r.y + 1, iw = r.w - 2, ih = r.h - 2;
    runview *v = tui_view(t);
    sn_tree_scroll(&v->tree, t->rows, t->n_rows, ih);
    if (t->n_rows == 0) {
        put(t, y0, x0 + 1, iw - 1, SN_SLOT_DIM,
            s->state == SN_RUN_STARTING ? "opening the dataset..."
                                        : "no candidates yet");
        return;
    }
    const int rightw = 13;
    for (int i = 0; i < ih && v->tree.top + i < t->n_rows; i++) {
        const sn_tree_row *row = &t->rows[v->tree.top + i];
        const sn_cand_info *c = &s->cands[row->id];
        int y = y0 + i, sel = row->id == v->tree.selected;
        int base = SN_SLOT_NORMAL;
        if (c->status == SN_CAND_FAILED || c->status == SN_CAND_DIVERGED)
            base = SN_SLOT_FAILED;
        else if (c->status == SN_CAND_INFEASIBLE) base = SN_SLOT_INFEASIBLE;
        else if (c->status == SN_CAND_QUEUED) base = SN_SLOT_QUEUED;
        else if (c->status == SN_CAND_TRAINING) base = SN_SLOT_TRAINING;
        if (sel) fill(t, y, x0, iw, SN_SLOT_SELECTED);
        int x = x0, lw = iw - rightw - 1;
        if (lw < 8) lw = iw;
        x += put(t, y, x, lw - (x - x0), sel ? SN_SLOT_SELECTED : SN_SLOT_DIM,
                 row->prefix);
        const char *mark = " ";
        int mslot = base;
        if (c->status == SN_CAND_TRAINING) mark = t->ascii ? ">" : "\xe2\x96\xb6";
        else if (c->on_front) mark = t->ascii ? "*" : "\xe2\x97\x86", mslot = SN_SLOT_FRONT;
        else if (row->folded) mark = "+";
        x += put(t, y, x, lw - (x - x0), sel ? SN_SLOT_SELECTED : mslot, mark);
        char txt[320];
        if (row->folded)
            snprintf(txt, sizeof txt, " #%d %s [+%d]", c->id, c->op,
                     row->hidden);
        else
            snprintf(txt, sizeof txt, " #%d %s", c->id, c->op);
        put(t, y, x, lw - (x - x0), sel ? SN_SLOT_SELECTED : base, txt);
        if (lw == iw) continue;
        char right[160], num[32];
        int rslot = sel ? SN_SLOT_SELECTED : SN_SLOT_DIM;
        if (c->status == SN_CAND_TRAINING && s->current == c->id &&
            s->progress.batches > 0) {
            const sn_progress *p = &s->progress;
            double done = p->batch + 1.0 < p->batches ? p->batch + 1.0
                                                       : p->batches;
            double frac = (p->epoch + done / p->batches) /
                          (p->epochs > 0 ? p->epochs : 1);
            char bar[64];
            progress_bar(bar, sizeof bar, frac, 8, t->ascii);
            snprintf(right, sizeof right, "%s %3.0f%%", bar, 100 * frac);
            rslot = sel ? SN_SLOT_SELECTED : SN_SLOT_PROGRESS;
        } else if (c->status == SN_CAND_DONE && c->val_acc >= 0) {
            snprintf(right, sizeof right, "%5.1f%% %6s", 100 * c->val_acc,
                     sn_tui_fmt_num(num, sizeof num, cand_size(c, metric)));
            if (!sel && c->on_front) rslot = SN_SLOT_FRONT;
            else if (!sel) rslot = SN_SLOT_NORMAL;
        } else {
            const char *st = c->status == SN_CAND_INFEASIBLE ? "over"
                                                             : sn_engine_status_name(c->status);
            snprintf(right, sizeof right, "%-6.6s %6s", st,
                     sn_tui_fmt_num(num, sizeof num, cand_size(c, metric)));
            if (!sel) rslot = base == SN_SLOT_NORMAL ? SN_SLOT_DIM : base;
        }
        int rw = sn_tui_width(right);
        put(t, y, x0 + iw - rw, rw, rslot, right);
    }
}

/* ---- plot ------------------------------------------------------------------- */

static void build_points(tui *t) {
    const sn_snapshot *s = t->snap;
    free(t->pts);
    t->pts = sn_xmalloc(((size_t)s->n_cands + 1) * sizeof *t->pts);
    t->n_pts = 0;
    int sel = tui_view(t)->tree.selected;
    for (int i = 0; i < s->n_cands; i++) {
        const sn_cand_info *c = &s->cands[i];
        if (c->status != SN_CAND_DONE || c->val_acc < 0) continue;
        sn_plot_point *p = &t->pts[t->n_pts++];
        p->x = cand_size(c, t->metric);
        if (p->x < 1) p->x = 1;
        p->y = c->val_acc;
        p->id = c->id;
        p->flags = 0;
        if (c->on_front) p->flags |= SN_PT_FRONT;
        if (c->id == sel) p->flags |= SN_PT_SELECTED;
        if (!sn_engine_fits(&s->settings, c->params, c->flops, c->memory))
            p->flags |= SN_PT_INFEASIBLE;
    }
    const sn_search_settings *st = &s->settings;
    int64_t lim = t->metric == SN_OBJ_FLOPS    ? st->max_flops
                  : t->metric == SN_OBJ_MEMORY ? st->max_memory
                                               : st->max_params;
    tui_compare_points(t); /* other runs' fronts: :compare, forks */
    t->spec.pts = t->pts;
    t->spec.n = t->n_pts;
    t->spec.limit = (double)lim;
    t->spec.unit = metric_unit(t->metric);
    t->spec.glyphs = t->glyphs;
}

static void draw_plot(tui *t) {
    sn_rect r = t->lay.pane[SN_PANE_PLOT];
    sn_plot_free(&t->plot);
    if (!r.w) return;
    const sn_snapshot *s = t->snap;
    char lim[160], title[256];
    sn_tui_limits(&s->settings, lim, sizeof lim);
    snprintf(title, sizeof title, "Pareto: accuracy vs %s (log)%s%s",
             metric_name(t->metric), lim[0] ? " | " : "", lim);
    frame(t, r, title, t->focus == SN_PANE_PLOT);
    int x0 = r.x + 1, y0 = r.y + 1, iw = r.w - 2, ih = r.h - 2;
    int spark = ih >= 7;
    build_points(t);
    if (sn_plot_render(&t->spec, iw - 1, ih - spark, &t->plot) == 0) {
        t->plot_x = x0 + 1;
        t->plot_y = y0;
        for (int y = 0; y < t->plot.h; y++)
            for (int x = 0; x < t->plot.w; x++) {
                const sn_cell *c = &t->plot.cells[y * t->plot.w + x];
                if (c->ch[0] == ' ' && !c->ch[1]) continue;
                attrset(slot_attr(t, c->slot));
                mvaddstr(t->plot_y + y, t->plot_x + x, c->ch);
            }
        tui_compare_draw(t, r);
    }
    if (spark) {
        int y = y0 + ih - 1;
        int n = s->n_records;
        double *hv = sn_xmalloc(((size_t)n + 1) * sizeof *hv);
        for (int i = 0; i < n; i++) hv[i] = s->cands[i].hypervolume;
        char val[64], line[1024];
        snprintf(val, sizeof val, " %.4f", s->hypervolume);
        int room = iw - 4 - (int)strlen(val);
        int x = x0 + 1;
        x += put(t, y, x, iw, SN_SLOT_DIM, "hv ");
        sn_sparkline(hv, n, room > 0 ? room : 0, t->ascii, line, sizeof line);
        x += put(t, y, x, room, SN_SLOT_SPARK, line);
        put(t, y, x, iw - (x - x0), SN_SLOT_DIM, val);
        free(hv);
    }
}

/* ---- candidate view ---------------------------------------------------------- */

static void det_add(sn_lines *l, int slot, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void det_add(sn_lines *l, int slot, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + 1, sizeof buf - 1, fmt, ap);
    va_end(ap);
    buf[0] = (char)(slot == DET_GRAPH ? DET_GRAPH : slot + 1);
    sn_lines_add(l, "%s", buf);
}

static void curve_text(char *buf, size_t n, const double *v, int k, int pct,
                       int ascii) {
    char sp[256], a[32], b[32];
    sn_sparkline(v, k, 24, ascii, sp, sizeof sp);
    if (pct) {
        snprintf(a, sizeof a, "%.1f%%", 100 * v[0]);
        snprintf(b, sizeof b, "%.1f%%", 100 * v[k - 1]);
    } else {
        snprintf(a, sizeof a, "%.3f", v[0]);
        snprintf(b, sizeof b, "%.3f", v[k - 1]);
    }
    if (k == 1) snprintf(buf, n, "%s", b);
    else snprintf(buf, n, "%s %s %s %s", a, sp, ascii ? "->" : "\xe2\x86\x92", b);
}

void tui_detail_update(tui *t, int width) {
    const sn_snapshot *s = t->snap;
    int id = tui_view(t)->tree.selected;
    if (id < 0 || id >= s->n_cands) {
        sn_lines_free(&t->det_lines);
        t->det_id = -1;
        return;
    }
    const sn_cand_info *ci = &s->cands[id];
    if (t->det_h == t->h && t->det_id == id && t->det_status == ci->status &&
        t->det_width == width && t->det_lines.n)
        return;
    sn_lines_free(&t->det_lines);
    t->det_h = t->h, t->det_id = id, t->det_status = ci->status;
    t->det_width = width;
    sn_lines *l = &t->det_lines;
    sn_cand_detail d;
    sn_error e;
    int ok = sn_engine_candidate(t->en, t->h, id, &d, &e) == 0;
    const sn_cand_info *c = ok ? &d.info : ci;
    char a[32], b[32], m[32];
    det_add(l, SN_SLOT_HEADER, "#%d  %s", c->id, c->op);
    char acc[32] = "-";
    if (c->val_acc >= 0) snprintf(acc, sizeof acc, "%.2f%%", 100 * c->val_acc);
    det_add(l, SN_SLOT_NORMAL, "%s  val %s  params %s  MACs %s  mem %sB",
            sn_engine_status_name(c->status), acc,
            sn_fmt_int(a, sizeof a, c->params),
            sn_tui_fmt_num(b, sizeof b, (double)c->flops),
            sn_tui_fmt_num(m, sizeof m, (double)c->memory));
    char extra[128] = "";
    if (c->test_acc >= 0)
        snprintf(extra, sizeof extra, "  test %.2f%%", 100 * c->test_acc);
    if (c->parent >= 0)
        det_add(l, SN_SLOT_DIM, "parent #%d  depth %d  %d epoch%s in %.1fs%s%s",
                c->parent, c->depth, c->epochs, c->epochs == 1 ? "" : "s",
                c->seconds, c->on_front ? "  on the front" : "", extra);
    else
        det_add(l, SN_SLOT_DIM, "root  %d epoch%s in %.1fs%s%s", c->epochs,
                c->epochs == 1 ? "" : "s", c->seconds,
                c->on_front ? "  on the front" : "", extra);
    if (ok && d.graph) { /* what the network takes and tells apart */
        const sn_graph *g = d.graph;
        char sh[32], names[256] = "";
        size_t o = 0;
        for (int k = 0; k < g->info.n_names && o + 2 < sizeof names; k++)
            o += (size_t)snprintf(names + o, sizeof names - o, "%s%s",
                                  k ? ", " : ": ", g->info.names[k]);
        det_add(l, SN_SLOT_DIM, "input %s  %d classes%s",
                sn_shape_fmt(sh, sizeof sh, g->input), g->classes, names);
    }
    /* lineage: the ops from the root, newest last */
    int path[64];
    int np = sn_tree_lineage(s->cands, s->n_cands, id, path, 64);
    if (np > 1) {
        det_add(l, SN_SLOT_TITLE, "lineage");
        for (int i = 0; i < np; i++)
            det_add(l, SN_SLOT_NORMAL, "  %*s#%d %s", 2 * (i < 8 ? i : 8), "",
                    path[i], s->cands[path[i]].op);
    }
    if (ok && d.n_epochs > 0 && d.loss && d.val_acc) {
        char lc[512], vc[512];
        curve_text(lc, sizeof lc, d.loss, d.n_epochs, 0, t->ascii);
        /* a search child is evaluated after its last epoch only: the
         * other epochs' accuracies are unknown (< 0) and left out */
        double known[SN_MAX_EPOCHS];
        int nk = 0;
        for (int k = 0; k < d.n_epochs && k < SN_MAX_EPOCHS; k++)
            if (d.val_acc[k] >= 0) known[nk++] = d.val_acc[k];
        if (nk) curve_text(vc, sizeof vc, known, nk, 1, t->ascii);
        else snprintf(vc, sizeof vc, "-");
        det_add(l, SN_SLOT_TITLE, "training (%d epoch%s)", d.n_epochs,
                d.n_epochs == 1 ? "" : "s");
        det_add(l, SN_SLOT_NORMAL, "  loss %s", lc);
        det_add(l, SN_SLOT_NORMAL, "  val  %s", vc);
    }
    if (!ok) {
        if (ci->status == SN_CAND_TRAINING || ci->status == SN_CAND_QUEUED)
            det_add(l, SN_SLOT_DIM, "layers and graph appear when it has "
                                    "trained");
        else
            det_add(l, SN_SLOT_ERROR, "%s", e.msg);
        return;
    }
    if (d.graph) {
        sn_stats st;
        if (sn_stats_compute(d.graph, SN_FLOPS_MACS, &st) == 0) {
            sn_lines tab = {0};
            /* every column, however narrow the pane: it scrolls
             * sideways (h/l) and zooms (z) instead of dropping MACs,
             * shares and activations */
            (void)width;
            sn_layer_table(d.graph, &st, 1 << 20, &tab);
            det_add(l, SN_SLOT_TITLE, "layers");
            for (int i = 0; i < tab.n; i++)
                det_add(l,
                        i == 0 || i == tab.n - 2 ? SN_SLOT_HEADER
                        : i == tab.n - 1         ? SN_SLOT_DIM
                                                 : SN_SLOT_NORMAL,
                        "%s", tab.s[i]);
            sn_lines_free(&tab);
            sn_stats_free(&st);
        }
        sn_lines gr = {0};
        t->det_gw = sn_graph_text(d.graph, t->ascii, &gr);
        det_add(l, SN_SLOT_TITLE, "graph");
        for (int i = 0; i < gr.n; i++) det_add(l, DET_GRAPH, "%s", gr.s[i]);
        sn_lines_free(&gr);
    }
    sn_cand_detail_free(&d);
}

/* Copies n columns of UTF-8 text starting at column `from` of s. */
static const char *skip_cols(const char *s, int from) {
    while (*s && from > 0) {
        s++;
        while ((*s & 0xc0) == 0x80) s++;
        from--;
    }
    return s;
}

int tui_detail_width(const tui *t) {
    int w = 0;
    for (int i = 0; i < t->det_lines.n; i++) {
        int l = sn_tui_width(t->det_lines.s[i] + 1);
        if (l > w) w = l;
    }
    return w;
}

/* Clamps a sideways scroll to [0, content - room]. */
static int clamp_hscroll(int *hs, int content, int room) {
    int max = content - room > 0 ? content - room : 0;
    if (*hs > max) *hs = max;
    if (*hs < 0) *hs = 0;
    return max;
}

static void draw_detail(tui *t) {
    sn_rect r = t->lay.pane[SN_PANE_DETAIL];
    if (!r.w) return;
    int x0 = r.x + 1, y0 = r.y + 1, iw = r.w - 2, ih = r.h - 2;
    tui_detail_update(t, iw - 1);
    runview *v = tui_view(t);
    int more = clamp_hscroll(&v->detail_hscroll, tui_detail_width(t), iw - 1);
    int hs = v->detail_hscroll;
    char title[160], cols[64] = "";
    if (more)
        snprintf(cols, sizeof cols, "  cols %d-%d of %d (h/l)", hs + 1,
                 hs + iw - 1, tui_detail_width(t));
    if (t->det_id >= 0)
        snprintf(title, sizeof title, "Candidate #%d%s%s", t->det_id,
                 t->lay.wide || t->zoom ? "" : "  (Enter closes)", cols);
    else
        snprintf(title, sizeof title, "Candidate");
    frame(t, r, title, t->focus == SN_PANE_DETAIL);
    int n = t->det_lines.n;
    if (v->detail_scroll > n - ih) v->detail_scroll = n - ih;
    if (v->detail_scroll < 0) v->detail_scroll = 0;
    for (int i = 0; i < ih && v->detail_scroll + i < n; i++) {
        const char *ln = t->det_lines.s[v->detail_scroll + i];
        int y = y0 + i;
        if ((unsigned char)ln[0] == DET_GRAPH) {
            char gut[256];
            const char *rest = skip_cols(ln + 1, t->det_gw);
            snprintf(gut, sizeof gut, "%.*s", (int)(rest - (ln + 1)), ln + 1);
            int x = x0 + 1;
            x += put(t, y, x, iw - 1, SN_SLOT_GRAPH, skip_cols(gut, hs));
            put(t, y, x, iw - (x - x0), SN_SLOT_NORMAL,
                skip_cols(rest, hs > t->det_gw ? hs - t->det_gw : 0));
        } else {
            put(t, y, x0 + 1, iw - 1, (unsigned char)ln[0] - 1,
                skip_cols(ln + 1, hs));
        }
    }
}

/* ---- log -------------------------------------------------------------------- */

static void draw_log(tui *t) {
    sn_rect r = t->lay.pane[SN_PANE_LOG];
    if (!r.w) return;
    const sn_snapshot *s = t->snap;
    int x0 = r.x + 1, y0 = r.y + 1, iw = r.w - 2, ih = r.h - 2;
    runview *v = tui_view(t);
    int n = s->n_log;
    if (v->log_scroll > n - ih) v->log_scroll = n - ih;
    if (v->log_scroll < 0) v->log_scroll = 0;
    int first = n - ih - v->log_scroll;
    if (first < 0) first = 0;
    /* the text scrolls sideways (h/l); the time stays */
    int textw = 0;
    for (int i = 0; i < ih && first + i < n; i++) {
        int l = sn_tui_width(s->log[first + i].text);
        if (l > textw) textw = l;
    }
    char tm[48];
    int tw = (int)strlen(sn_tui_fmt_clock(tm, sizeof tm, s->elapsed)) + 1;
    int more = clamp_hscroll(&v->log_hscroll, textw, iw - 1 - tw);
    char title[96];
    if (v->log_hscroll)
        snprintf(title, sizeof title, "Log (search time)  from column %d "
                                      "(h/l)",
                 v->log_hscroll + 1);
    else
        snprintf(title, sizeof title, "Log (search time)%s",
                 more && t->focus == SN_PANE_LOG ? "  h/l scroll" : "");
    frame(t, r, title, t->focus == SN_PANE_LOG);
    for (int i = 0; i < ih && first + i < n; i++) {
        const sn_log_line *ll = &s->log[first + i];
        int slot = ll->level == SN_LOG_ERROR  ? SN_SLOT_LOG_ERROR
                   : ll->level == SN_LOG_WARN ? SN_SLOT_LOG_WARN
                                              : SN_SLOT_LOG_INFO;
        sn_tui_fmt_clock(tm, sizeof tm, ll->time);
        strcat(tm, " ");
        int x = x0 + 1;
        x += put(t, y0 + i, x, iw - 1, SN_SLOT_DIM, tm);
        put(t, y0 + i, x, iw - (x - x0), slot,
            skip_cols(ll->text, v->log_hscroll));
    }
}

/* ---- bottom line and help ---------------------------------------------------- */

void tui_draw_bottom(tui *t) {
    sn_rect b = t->lay.bottom;
    if (!b.h) return;
    fill(t, b.y, 0, t->cols, SN_SLOT_NORMAL);
    if (t->cmd_active) {
        if (t->cmd_hint[0] && b.y > 0) { /* completion list above the line */
            fill(t, b.y - 1, 0, t->cols, SN_SLOT_HELP);
            put(t, b.y - 1, 0, t->cols, SN_SLOT_HELP, t->cmd_hint);
        }
        tui_cmdline_draw(t, b.y, t->cols);
        return;
    }
    if (t->ask[0]) {
        char q[400];
        snprintf(q, sizeof q, " %s (y/n) ", t->ask);
        put(t, b.y, 0, t->cols, SN_SLOT_ERROR, q);
        return;
    }
    if (t->msg[0]) {
        put(t, b.y, 0, t->cols, t->msg_error ? SN_SLOT_ERROR : SN_SLOT_MESSAGE,
            t->msg);
        return;
    }
    if (sn_run_state_over(t->snap->state) && t->snap->message[0]) {
        char m[600];
        snprintf(m, sizeof m, " %s: %s", sn_run_state_name(t->snap->state),
                 t->snap->message);
        put(t, b.y, 0, t->cols,
            t->snap->state == SN_RUN_FAILED ? SN_SLOT_ERROR : SN_SLOT_MESSAGE,
            m);
        return;
    }
    int paused = t->snap->state == SN_RUN_PAUSED;
    put(t, b.y, 0, t->cols, SN_SLOT_DIM,
        paused ? " paused: space resumes  q quit  ? help  : command  Enter "
                 "open  z zoom  s sort  r runs  f fork  / find"
               : " q quit  ? help  : command  space pause  Enter open  z "
                 "zoom  s sort  r runs  f fork  / find");
}

void tui_help_lines(sn_lines *out) {
    sn_lines_add(out, "Keys");
    for (int i = 0; sn_tui_keys[i].keys; i++) {
        char cmd[64];
        const char *c = sn_tui_keys[i].command, *pc = strstr(c, "%d");
        if (pc) snprintf(cmd, sizeof cmd, "%.*sID%s", (int)(pc - c), c, pc + 2);
        else snprintf(cmd, sizeof cmd, "%s", c);
        sn_lines_add(out, "  %-10s %-16s %s", sn_tui_keys[i].keys, cmd,
                     sn_tui_keys[i].help);
    }
    sn_lines_add(out, "  %-10s %-16s %s", "mouse", "",
                 "click a node or a point to select it; wheel scrolls");
    sn_lines_add(out, "%s", "");
    sn_lines_add(out, "Commands (':'; a unique prefix is enough, Tab "
                      "completes)");
    const sn_command *const tabs[2] = {sn_engine_commands, sn_tui_commands};
    for (int k = 0; k < 2; k++)
        for (const sn_command *c = tabs[k]; c->name; c++) {
            char line[256];
            sn_command_help_line(c, line, sizeof line);
            sn_lines_add(out, "  %s", line);
        }
    sn_lines_add(out, "%s", "");
    sn_lines_add(out, "Settings for set KEY VALUE (live ones)");
    for (const sn_setting_info *t = sn_engine_settings_table(); t->key; t++)
        if (t->live)
            sn_lines_add(out, "  %-14s %-8s %s", t->key, t->arg, t->help);
}

static void draw_help(tui *t) {
    sn_lines l = {0};
    tui_help_lines(&l);
    int w = t->cols - 4 < 100 ? t->cols - 4 : 100;
    int h = t->lines - 2 < l.n + 3 ? t->lines - 2 : l.n + 3;
    int x = (t->cols - w) / 2, y = (t->lines - h) / 2;
    int ih = h - 3;
    if (t->help_scroll > l.n - ih) t->help_scroll = l.n - ih;
    if (t->help_scroll < 0) t->help_scroll = 0;
    for (int i = 0; i < h; i++) fill(t, y + i, x, w, SN_SLOT_HELP);
    sn_rect r = {x, y, w, h};
    frame(t, r, "Help  (j/k scroll, any other key closes)", 1);
    for (int i = 0; i < ih && t->help_scroll + i < l.n; i++) {
        const char *s = l.s[t->help_scroll + i];
        put(t, y + 1 + i, x + 2, w - 4, s[0] == ' ' ? SN_SLOT_HELP
                                                     : SN_SLOT_HEADER, s);
    }
    char more[64];
    snprintf(more, sizeof more, " %d-%d of %d ", t->help_scroll + 1,
             t->help_scroll + ih < l.n ? t->help_scroll + ih : l.n, l.n);
    put(t, y + h - 1, x + w - (int)strlen(more) - 2, (int)strlen(more),
        SN_SLOT_TITLE, more);
    sn_lines_free(&l);
}

/* The run pick list: every run of the session (the first and its
 * forks), the highlighted one in the selected slot. */
static void draw_runs(tui *t) {
    int n = sn_engine_count(t->en);
    if (t->runs_sel >= n) t->runs_sel = n - 1;
    if (t->runs_sel < 0) t->runs_sel = 0;
    int w = t->cols - 4 < 140 ? t->cols - 4 : 140;
    int h = t->lines - 2 < n + 2 ? t->lines - 2 : n + 2;
    int x = (t->cols - w) / 2, y = (t->lines - h) / 2;
    int ih = h - 2;
    int top = t->runs_sel >= ih ? t->runs_sel - ih + 1 : 0;
    for (int i = 0; i < h; i++) fill(t, y + i, x, w, SN_SLOT_HELP);
    sn_rect r = {x, y, w, h};
    frame(t, r, "Runs  (j/k, Enter or 1-9 switches, Esc closes)", 1);
    for (int i = 0; i < ih && top + i < n; i++) {
        int k = top + i;
        const sn_snapshot *s = sn_engine_snapshot(t->en, k);
        if (!s) continue;
        char line[1024], full[1100];
        sn_tui_run_line(s, k, w - 6, line, sizeof line);
        snprintf(full, sizeof full, "%s%s", k == t->h ? "*" : " ", line);
        int slot = k == t->runs_sel ? SN_SLOT_SELECTED : SN_SLOT_HELP;
        if (k == t->runs_sel) fill(t, y + 1 + i, x + 1, w - 2, slot);
        put(t, y + 1 + i, x + 2, w - 4, slot, full);
        sn_snapshot_release(s);
    }
    put(t, y + h - 1, x + 2, w - 4, SN_SLOT_TITLE,
        " * the run shown; forks are named RUN-forkID ");
}

/* ---- the frame ---------------------------------------------------------------- */

void tui_draw(tui *t) {
    getmaxyx(stdscr, t->lines, t->cols);
    tui_layout_base(t, &t->lay);
    if (t->zoom) sn_layout_zoom(&t->lay, t->focus);
    bkgdset(' ' | slot_attr(t, SN_SLOT_NORMAL));
    erase();
    if (t->lay.too_small) {
        put(t, t->lines / 2, 0, t->cols, SN_SLOT_ERROR,
            "terminal too small: need 60x16");
        refresh();
        return;
    }
    /* rows of the tree, from this snapshot and the view state */
    runview *v = tui_view(t);
    free(t->rows);
    /* indentation may take about a fifth of the tree pane */
    int levels = (t->lay.pane[SN_PANE_TREE].w - 2) / 10;
    if (t->sort == SN_SORT_TREE)
        t->n_rows = sn_tree_flatten(t->snap->cands, t->snap->n_cands,
                                    &v->tree, levels < 2 ? 2 : levels,
                                    t->ascii, &t->rows);
    else
        t->n_rows = sn_cand_list(t->snap->cands, t->snap->n_cands, t->sort,
                                 &t->rows);
    if (!t->lay.pane[t->focus].w) t->focus = SN_PANE_TREE;
    draw_status(t);
    draw_tree(t);
    draw_plot(t);
    draw_detail(t);
    draw_log(t);
    if (t->runs_open) draw_runs(t);
    if (t->help_open) draw_help(t);
    tui_draw_bottom(t);
    if (!t->cmd_active) curs_set(0);
    refresh();
}
