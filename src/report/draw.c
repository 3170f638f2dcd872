/* draw.c — the report drawn with cairo: one drawing function for SVG, PNG
 * and PDF surfaces (all written to memory through cairo's stream
 * interface), and the HTML page around the SVG. The page layout is in
 * include/slimnas/report.h. */
#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "slimnas/report.h"

#define W SN_REPORT_WIDTH
#define MARGIN 20.0
#define FRONT_H 440.0
#define HV_H 260.0
#define MAX_ROWS 60 /* layers drawn per member */
#define ROW_H 13.0
#define FONT "sans-serif"

/* ---- colours, marks, text ------------------------------------------------ */

/* Okabe-Ito: told apart with the common colour-vision deficiencies. */
static const double palette[][3] = {
    {0.000, 0.447, 0.698}, /* blue */
    {0.835, 0.369, 0.000}, /* vermillion */
    {0.000, 0.620, 0.451}, /* bluish green */
    {0.800, 0.475, 0.655}, /* reddish purple */
    {0.902, 0.624, 0.000}, /* orange */
    {0.337, 0.706, 0.914}, /* sky blue */
    {0.000, 0.000, 0.000}, /* black */
    {0.600, 0.600, 0.200}, /* olive */
};
#define N_PALETTE ((int)(sizeof palette / sizeof palette[0]))

static void colour(cairo_t *cr, int run, double alpha) {
    const double *c = palette[run % N_PALETTE];
    cairo_set_source_rgba(cr, c[0], c[1], c[2], alpha);
}

static void grey(cairo_t *cr, double v) { cairo_set_source_rgb(cr, v, v, v); }

/* Mark shape k at (x, y), radius r: circle, square, triangle up, diamond,
 * triangle down, pentagon, hexagon, star. Filled. */
static void mark(cairo_t *cr, int k, double x, double y, double r) {
    static const int sides[] = {0, 4, 3, 4, 3, 5, 6, 10};
    static const double turn[] = {0, 45, -90, 0, 90, -90, 0, -90};
    k %= (int)(sizeof sides / sizeof sides[0]);
    cairo_new_sub_path(cr);
    if (!sides[k]) {
        cairo_arc(cr, x, y, r, 0, 2 * M_PI);
    } else {
        int n = sides[k];
        double rr = k == 1 ? r * 1.25 : k == 2 || k == 4 ? r * 1.35 : r * 1.2;
        for (int i = 0; i < n; i++) {
            double a = (turn[k] + 360.0 * i / n) * M_PI / 180;
            double rad = n == 10 && (i & 1) ? rr * 0.45 : rr;
            double px = x + rad * cos(a), py = y + rad * sin(a);
            if (i) cairo_line_to(cr, px, py);
            else cairo_move_to(cr, px, py);
        }
        cairo_close_path(cr);
    }
}

static void font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD
                                : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

/* Text with its baseline at y; align 0 left, 1 centre, 2 right of x.
 * Returns the width. */
static double text(cairo_t *cr, double x, double y, int align, const char *s) {
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    cairo_move_to(cr, x - (align == 1 ? te.x_advance / 2
                           : align == 2 ? te.x_advance
                                        : 0),
                  y);
    cairo_show_text(cr, s);
    return te.x_advance;
}

static double text_width(cairo_t *cr, const char *s) {
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    return te.x_advance;
}

/* Copies s into buf, cut with "..." to fit max_w. */
static const char *fit(cairo_t *cr, const char *s, double max_w, char *buf,
                       size_t n) {
    snprintf(buf, n, "%s", s);
    if (text_width(cr, buf) <= max_w) return buf;
    size_t len = strlen(buf);
    while (len > 0) {
        len--;
        while (len > 0 && ((unsigned char)buf[len] & 0xc0) == 0x80) len--;
        if (len + 4 > n) continue;
        memcpy(buf + len, "...", 4);
        if (text_width(cr, buf) <= max_w) break;
    }
    return buf;
}

static const char *axis_name(int m) {
    return m == SN_OBJ_PARAMS ? "parameters"
           : m == SN_OBJ_FLOPS ? "MACs"
                               : "peak activation bytes";
}

static int64_t size_of(const sn_cand_info *c, int m) {
    return m == SN_OBJ_PARAMS ? c->params
           : m == SN_OBJ_FLOPS ? c->flops
                               : c->memory;
}

static int64_t limit_of(const sn_search_settings *s, int m) {
    return m == SN_OBJ_PARAMS ? s->max_params
           : m == SN_OBJ_FLOPS ? s->max_flops
                               : s->max_memory;
}

static double nice_step(double span, int ticks) {
    double raw = span / ticks;
    if (raw <= 0) return 1;
    double p = pow(10, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

/* ---- layout -------------------------------------------------------------- */

static int member_rows(const sn_report_member *m) {
    return m->n_layers > MAX_ROWS ? MAX_ROWS + 1 : m->n_layers;
}

static double head_h(int n) { return 44 + 17.0 * n; }

static double members_h(const sn_report_run *runs, int n) {
    double h = 0;
    int any = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < runs[i].n_members; k++) {
            h += 52 + ROW_H * member_rows(&runs[i].members[k]);
            any = 1;
        }
    return any ? h + 30 : 0;
}

static int page_height(const sn_report_run *runs, int n) {
    return (int)ceil(head_h(n) + FRONT_H + HV_H + members_h(runs, n) + MARGIN);
}

/* A plot frame: the area inside the axes. */
typedef struct frame {
    double x0, y0, x1, y1; /* left, top, right, bottom */
    double lo, hi;         /* x data range (log10 for the fronts) */
    double ylo, yhi;
} frame;

static double fx(const frame *f, double v) {
    return f->x0 + (v - f->lo) / (f->hi - f->lo) * (f->x1 - f->x0);
}
static double fy(const frame *f, double v) {
    return f->y1 - (v - f->ylo) / (f->yhi - f->ylo) * (f->y1 - f->y0);
}

static void frame_box(cairo_t *cr, const frame *f) {
    grey(cr, 0.25);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, f->x0, f->y0, f->x1 - f->x0, f->y1 - f->y0);
    cairo_stroke(cr);
}

static void hgrid(cairo_t *cr, const frame *f, double step, int percent) {
    font(cr, 10, 0);
    for (double v = ceil(f->ylo / step - 1e-9) * step; v <= f->yhi + 1e-9;
         v += step) {
        double y = fy(f, v);
        grey(cr, 0.9);
        cairo_set_line_width(cr, 0.6);
        cairo_move_to(cr, f->x0, y);
        cairo_line_to(cr, f->x1, y);
        cairo_stroke(cr);
        char b[32];
        if (percent) snprintf(b, sizeof b, "%g%%", round(v * 1000) / 10 + 0.0);
        else snprintf(b, sizeof b, "%.3g", fabs(v) < step * 1e-6 ? 0.0 : v);
        grey(cr, 0.2);
        text(cr, f->x0 - 6, y + 3.5, 2, b);
    }
}

static const char *duration(double s, char *buf, size_t n) {
    if (s < 60) snprintf(buf, n, "%.1f s", s);
    else if (s < 3600) snprintf(buf, n, "%.1f min", s / 60);
    else snprintf(buf, n, "%.2f h", s / 3600);
    return buf;
}

/* ---- the parts ------------------------------------------------------------- */

static void draw_head(cairo_t *cr, const sn_report_run *runs, int n,
                      const sn_report_opts *o) {
    grey(cr, 0);
    font(cr, 16, 1);
    text(cr, MARGIN, 26, 0, o->title ? o->title : "slimnas report");
    font(cr, 10.5, 0);
    for (int i = 0; i < n; i++) {
        const sn_report_run *r = &runs[i];
        double y = 48 + 17.0 * i;
        colour(cr, i, 1);
        mark(cr, i, MARGIN + 6, y - 4, 4.5);
        cairo_fill(cr);
        char obj[64], line[1024], hv[32], dur[32];
        sn_settings_get(&r->settings, "objective", obj, sizeof obj);
        snprintf(hv, sizeof hv, "%.4f", r->hypervolume);
        snprintf(line, sizeof line,
                 "%s   %s, %s, accuracy vs %s, %d candidates, front %d, "
                 "hypervolume %s, %s of search",
                 r->label, r->settings.data,
                 sn_strategy_name(r->settings.strategy), obj, r->n,
                 r->n_front, hv, duration(r->elapsed, dur, sizeof dur));
        char cut[1024];
        grey(cr, 0.1);
        text(cr, MARGIN + 16, y, 0,
             fit(cr, line, W - 2 * MARGIN - 16, cut, sizeof cut));
    }
}

typedef struct rect {
    double x0, y0, x1, y1;
} rect;

static int overlaps(const rect *a, const rect *rs, int n) {
    for (int i = 0; i < n; i++)
        if (a->x0 < rs[i].x1 && rs[i].x0 < a->x1 && a->y0 < rs[i].y1 &&
            rs[i].y0 < a->y1)
            return 1;
    return 0;
}

static void draw_fronts(cairo_t *cr, const sn_report_run *runs, int n,
                        int axis, double top, const char *note) {
    frame f = {78, top + 40, W - 30, top + FRONT_H - 52, 0, 0, 0, 0};
    /* ranges: sizes of every trained candidate and the limits; accuracy
     * of the front members */
    double smin = INFINITY, smax = -INFINITY, amin = INFINITY,
           amax = -INFINITY;
    for (int i = 0; i < n; i++) {
        const sn_report_run *r = &runs[i];
        for (int c = 0; c < r->n; c++) {
            double s = (double)size_of(&r->cands[c], axis);
            if (r->cands[c].status != SN_CAND_DONE || s <= 0) continue;
            smin = fmin(smin, s);
            smax = fmax(smax, s);
        }
        double lim = (double)limit_of(&r->settings, axis);
        if (lim > 0) smin = fmin(smin, lim), smax = fmax(smax, lim);
        for (int k = 0; k < r->n_front; k++) {
            double a = r->cands[r->front[k]].val_acc;
            amin = fmin(amin, a);
            amax = fmax(amax, a);
        }
    }
    if (!isfinite(smin)) smin = 100, smax = 10000;
    if (!isfinite(amin)) amin = 0, amax = 1;
    f.lo = floor(log10(smin));
    f.hi = ceil(log10(smax) + 1e-9);
    if (f.hi - f.lo < 1) f.hi = f.lo + 1;
    double pad = fmax(0.02, 0.08 * (amax - amin));
    f.ylo = fmax(0, amin - pad);
    f.yhi = fmin(1, amax + pad);
    if (f.yhi - f.ylo < 0.04) f.ylo = fmax(0, f.yhi - 0.04);

    grey(cr, 0);
    font(cr, 13, 1);
    char title[160];
    snprintf(title, sizeof title,
             "Pareto fronts: validation accuracy vs %s (log scale)",
             axis_name(axis));
    text(cr, MARGIN, top + 18, 0, title);
    if (note && *note) {
        font(cr, 9.5, 0);
        grey(cr, 0.35);
        char cut[512];
        text(cr, MARGIN, top + 32, 0,
             fit(cr, note, W - 2 * MARGIN, cut, sizeof cut));
    }
    hgrid(cr, &f, nice_step((f.yhi - f.ylo), 6), 1);
    /* decades, with 2..9 minor lines */
    font(cr, 10, 0);
    for (int d = (int)f.lo; d <= (int)f.hi; d++) {
        for (int k = 1; k < 10; k++) {
            double v = d + log10(k);
            if (v > f.hi + 1e-9) break;
            double x = fx(&f, v);
            grey(cr, k == 1 ? 0.82 : 0.93);
            cairo_set_line_width(cr, k == 1 ? 0.8 : 0.5);
            cairo_move_to(cr, x, f.y0);
            cairo_line_to(cr, x, f.y1);
            cairo_stroke(cr);
            /* decades labelled; 2 and 5 too over two decades or less */
            if (k == 1 || ((k == 2 || k == 5) && f.hi - f.lo <= 2)) {
                char b[32];
                sn_fmt_si(b, sizeof b, k * pow(10, d));
                grey(cr, k == 1 ? 0.2 : 0.4);
                text(cr, x, f.y1 + 15, 1, b);
            }
        }
    }
    frame_box(cr, &f);
    grey(cr, 0.1);
    font(cr, 11, 0);
    text(cr, (f.x0 + f.x1) / 2, f.y1 + 34, 1, axis_name(axis));
    cairo_save(cr);
    cairo_translate(cr, MARGIN + 2, (f.y0 + f.y1) / 2);
    cairo_rotate(cr, -M_PI / 2);
    text(cr, 0, 8, 1, "validation accuracy");
    cairo_restore(cr);

    cairo_save(cr);
    cairo_rectangle(cr, f.x0, f.y0, f.x1 - f.x0, f.y1 - f.y0);
    cairo_clip(cr);
    /* limits: dashed verticals labelled at the bottom; one grey line for
     * a limit every run has */
    int n_lim = 0;
    for (int i = 0; i < n; i++) {
        double lim = (double)limit_of(&runs[i].settings, axis);
        if (lim <= 0) continue;
        int seen = 0, all = 1;
        for (int j = 0; j < n; j++) {
            double lj = (double)limit_of(&runs[j].settings, axis);
            seen |= j < i && lj == lim;
            all &= lj == lim;
        }
        if (seen) continue;
        double x = fx(&f, log10(lim));
        if (all && n > 1) grey(cr, 0.35);
        else colour(cr, i, 0.8);
        double dash[] = {5, 4};
        cairo_set_dash(cr, dash, 2, 0);
        cairo_set_line_width(cr, 1.2);
        cairo_move_to(cr, x, f.y0);
        cairo_line_to(cr, x, f.y1);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        char b[64], sz[32];
        sn_fmt_si(sz, sizeof sz, lim);
        snprintf(b, sizeof b, "max-%s %s",
                 sn_objective_name((sn_objective)axis), sz);
        font(cr, 9, 0);
        text(cr, x - 4, f.y1 - 6 - 11.0 * n_lim++, 2, b);
    }
    /* every trained candidate, faint */
    for (int i = 0; i < n; i++) {
        const sn_report_run *r = &runs[i];
        colour(cr, i, 0.28);
        for (int c = 0; c < r->n; c++) {
            const sn_cand_info *ci = &r->cands[c];
            double s = (double)size_of(ci, axis);
            if (ci->status != SN_CAND_DONE || s <= 0 || ci->on_front) continue;
            cairo_new_sub_path(cr);
            cairo_arc(cr, fx(&f, log10(s)), fy(&f, ci->val_acc), 2.2, 0,
                      2 * M_PI);
        }
        cairo_fill(cr);
    }
    /* fronts: staircases (a size reaches the accuracy of the best member
     * at or below it), members marked */
    for (int i = 0; i < n; i++) {
        const sn_report_run *r = &runs[i];
        if (!r->n_front) continue;
        int *ord = sn_xmalloc((size_t)r->n_front * sizeof *ord);
        memcpy(ord, r->front, (size_t)r->n_front * sizeof *ord);
        for (int a = 1; a < r->n_front; a++) /* by size on this axis */
            for (int b = a; b > 0 && size_of(&r->cands[ord[b]], axis) <
                                         size_of(&r->cands[ord[b - 1]], axis);
                 b--) {
                int t = ord[b];
                ord[b] = ord[b - 1];
                ord[b - 1] = t;
            }
        colour(cr, i, 0.9);
        cairo_set_line_width(cr, 1.6);
        double best = -1;
        for (int k = 0; k < r->n_front; k++) {
            const sn_cand_info *c = &r->cands[ord[k]];
            double x = fx(&f, log10(fmax(1, (double)size_of(c, axis))));
            if (k == 0) cairo_move_to(cr, x, fy(&f, c->val_acc));
            else cairo_line_to(cr, x, fy(&f, best));
            if (c->val_acc > best) best = c->val_acc;
            cairo_line_to(cr, x, fy(&f, best));
        }
        cairo_line_to(cr, f.x1, fy(&f, best));
        cairo_stroke(cr);
        for (int k = 0; k < r->n_front; k++) {
            const sn_cand_info *c = &r->cands[ord[k]];
            mark(cr, i, fx(&f, log10(fmax(1, (double)size_of(c, axis)))),
                 fy(&f, c->val_acc), 4.2);
            colour(cr, i, 1);
            cairo_fill_preserve(cr);
            cairo_set_source_rgb(cr, 1, 1, 1);
            cairo_set_line_width(cr, 0.8);
            cairo_stroke(cr);
        }
        free(ord);
    }
    cairo_restore(cr);
    /* labels "#ID", placed where they hit no other label */
    int total = 0;
    for (int i = 0; i < n; i++) total += runs[i].n_front;
    rect *placed = sn_xcalloc((size_t)total + 1, sizeof *placed);
    int n_placed = 0;
    font(cr, 9, 0);
    for (int i = 0; i < n; i++) {
        const sn_report_run *r = &runs[i];
        for (int k = 0; k < r->n_front; k++) {
            const sn_cand_info *c = &r->cands[r->front[k]];
            double x = fx(&f, log10(fmax(1, (double)size_of(c, axis))));
            double y = fy(&f, c->val_acc);
            if (y < f.y0 - 1 || y > f.y1 + 1) continue;
            char b[16];
            snprintf(b, sizeof b, "#%d", c->id);
            double tw = text_width(cr, b);
            static const double off[][2] = {{6, -5},  {6, 12},  {-1, -5},
                                            {-1, 12}, {6, -15}, {-1, 22},
                                            {6, 22},  {-1, -15}};
            rect best = {0, 0, 0, 0};
            int found = 0;
            for (size_t p = 0; p < sizeof off / sizeof off[0] && !found; p++) {
                double lx = off[p][0] < 0 ? x - 6 - tw : x + off[p][0];
                rect rc = {lx, y + off[p][1] - 8, lx + tw, y + off[p][1] + 1};
                if (p == 0) best = rc;
                if (rc.x1 > f.x1 || rc.x0 < f.x0 || overlaps(&rc, placed, n_placed))
                    continue;
                best = rc;
                found = 1;
            }
            placed[n_placed++] = best;
            colour(cr, i, 1);
            text(cr, best.x0, best.y1 - 1, 0, b);
        }
    }
    free(placed);
}

static void draw_hv(cairo_t *cr, const sn_report_run *runs, int n, int axis,
                    double top) {
    frame f = {78, top + 40, W - 30, top + HV_H - 44, 0, 0, 0, 0};
    double tmax = 0, hmax = 0;
    int same_ref = 1;
    for (int i = 0; i < n; i++) {
        const sn_report_run *r = &runs[i];
        tmax = fmax(tmax, r->elapsed);
        for (int c = 0; c < r->n; c++) {
            tmax = fmax(tmax, r->cands[c].elapsed);
            hmax = fmax(hmax, r->cands[c].hypervolume);
        }
        hmax = fmax(hmax, r->hypervolume);
        same_ref &= r->settings.n_obj == runs[0].settings.n_obj &&
                    fabs(r->settings.hv_ref_acc - runs[0].settings.hv_ref_acc) < 1e-12;
        for (int k = 0; k < r->settings.n_obj; k++)
            same_ref &= r->settings.obj[k] == runs[0].settings.obj[k] &&
                        r->settings.hv_ref[r->settings.obj[k]] ==
                            runs[0].settings.hv_ref[runs[0].settings.obj[k]];
    }
    (void)axis;
    int minutes = tmax >= 180;
    double scale = minutes ? 60 : 1;
    f.lo = 0;
    f.hi = tmax > 0 ? tmax / scale : 1;
    f.ylo = 0;
    f.yhi = hmax > 0 ? hmax * 1.1 : 1;
    grey(cr, 0);
    font(cr, 13, 1);
    text(cr, MARGIN, top + 18, 0, "Hypervolume against search time");
    font(cr, 9.5, 0);
    grey(cr, 0.35);
    text(cr, MARGIN, top + 32, 0,
         n < 2 ? "the front's hypervolume after each candidate"
         : same_ref ? "the same reference point for every run: the values compare"
                    : "each run against its own reference point, which differ: "
                      "compare the shapes, not the values");
    hgrid(cr, &f, nice_step(f.yhi, 5), 0);
    double step = nice_step(f.hi, 8);
    font(cr, 10, 0);
    for (double v = 0; v <= f.hi + 1e-9; v += step) {
        double x = fx(&f, v);
        grey(cr, 0.9);
        cairo_set_line_width(cr, 0.6);
        cairo_move_to(cr, x, f.y0);
        cairo_line_to(cr, x, f.y1);
        cairo_stroke(cr);
        char b[32];
        snprintf(b, sizeof b, "%g", v);
        grey(cr, 0.2);
        text(cr, x, f.y1 + 15, 1, b);
    }
    frame_box(cr, &f);
    grey(cr, 0.1);
    font(cr, 11, 0);
    text(cr, (f.x0 + f.x1) / 2, f.y1 + 32, 1,
         minutes ? "search time (minutes)" : "search time (seconds)");
    cairo_save(cr);
    cairo_rectangle(cr, f.x0 - 5, f.y0 - 5, f.x1 - f.x0 + 10, f.y1 - f.y0 + 10);
    cairo_clip(cr);
    for (int i = 0; i < n; i++) {
        const sn_report_run *r = &runs[i];
        colour(cr, i, 0.95);
        cairo_set_line_width(cr, 1.8);
        double h = 0, t = 0;
        cairo_move_to(cr, fx(&f, 0), fy(&f, 0));
        for (int c = 0; c < r->n; c++) {
            t = fmax(t, r->cands[c].elapsed / scale);
            cairo_line_to(cr, fx(&f, t), fy(&f, h));
            h = r->cands[c].hypervolume;
            cairo_line_to(cr, fx(&f, t), fy(&f, h));
        }
        t = fmax(t, r->elapsed / scale);
        cairo_line_to(cr, fx(&f, t), fy(&f, h));
        cairo_stroke(cr);
        mark(cr, i, fx(&f, t), fy(&f, h), 4.2);
        cairo_fill(cr);
    }
    cairo_restore(cr);
}

static void draw_bars(cairo_t *cr, const sn_report_layer *l, int n_rows,
                      int64_t vmax, int which, double x0, double x1, double y,
                      int run) {
    for (int k = 0; k < n_rows; k++) {
        int64_t v = which ? l[k].flops : l[k].params;
        double len = vmax > 0 ? (double)v / (double)vmax * (x1 - x0 - 52) : 0;
        double ry = y + ROW_H * k;
        colour(cr, run, which ? 0.45 : 0.85);
        cairo_rectangle(cr, x0, ry - 9, fmax(len, v > 0 ? 1 : 0), 9);
        cairo_fill(cr);
        char b[32];
        sn_fmt_si(b, sizeof b, (double)v);
        grey(cr, 0.25);
        text(cr, x0 + len + 4, ry - 1, 0, b);
    }
}

static double draw_member(cairo_t *cr, const sn_report_run *r, int run,
                          const sn_report_member *m, double top) {
    const sn_cand_info *c = &r->cands[m->id];
    colour(cr, run, 1);
    mark(cr, run, MARGIN + 5, top + 14, 4.5);
    cairo_fill(cr);
    char line[1024], p[32], fl[32], mem[32], acc[64], cut[1024];
    sn_fmt_int(p, sizeof p, c->params);
    sn_fmt_si(fl, sizeof fl, (double)c->flops);
    sn_fmt_si(mem, sizeof mem, (double)c->memory);
    if (c->test_acc >= 0)
        snprintf(acc, sizeof acc, "val %.2f%%, test %.2f%%", 100 * c->val_acc,
                 100 * c->test_acc);
    else
        snprintf(acc, sizeof acc, "val %.2f%%", 100 * c->val_acc);
    snprintf(line, sizeof line, "%s #%d: %s params, %s MACs, %sB peak, %s  (%s)",
             r->label, c->id, p, fl, mem, acc, c->op);
    grey(cr, 0.05);
    font(cr, 11, 1);
    text(cr, MARGIN + 15, top + 18, 0,
         fit(cr, line, W - 2 * MARGIN - 15, cut, sizeof cut));
    int rows = m->n_layers > MAX_ROWS ? MAX_ROWS : m->n_layers;
    int64_t pmax = 0, fmax_ = 0, ptot = 0, ftot = 0;
    for (int k = 0; k < m->n_layers; k++) {
        if (m->layers[k].params > pmax) pmax = m->layers[k].params;
        if (m->layers[k].flops > fmax_) fmax_ = m->layers[k].flops;
        ptot += m->layers[k].params;
        ftot += m->layers[k].flops;
    }
    const double px0 = 230, px1 = 585, fx0 = 600, fx1 = W - MARGIN;
    double y = top + 36;
    font(cr, 9.5, 1);
    grey(cr, 0.3);
    text(cr, MARGIN, y, 0, "layer");
    text(cr, 160, y, 0, "op");
    snprintf(line, sizeof line, "parameters (%s)", sn_fmt_int(p, sizeof p, ptot));
    text(cr, px0, y, 0, line);
    snprintf(line, sizeof line, "MACs (%s)", sn_fmt_int(fl, sizeof fl, ftot));
    text(cr, fx0, y, 0, line);
    y += ROW_H + 1;
    font(cr, 9.5, 0);
    for (int k = 0; k < rows; k++) {
        grey(cr, 0.15);
        text(cr, MARGIN, y + ROW_H * k - 1, 0,
             fit(cr, m->layers[k].name, 135, cut, sizeof cut));
        grey(cr, 0.4);
        text(cr, 160, y + ROW_H * k - 1, 0, m->layers[k].op);
    }
    draw_bars(cr, m->layers, rows, pmax, 0, px0, px1, y, run);
    draw_bars(cr, m->layers, rows, fmax_, 1, fx0, fx1, y, run);
    if (m->n_layers > rows) {
        snprintf(line, sizeof line, "... %d more layers", m->n_layers - rows);
        grey(cr, 0.4);
        text(cr, MARGIN, y + ROW_H * rows - 1, 0, line);
    }
    return 52 + ROW_H * member_rows(m);
}

static void draw_page(cairo_t *cr, const sn_report_run *runs, int n,
                      const sn_report_opts *o, const char *note, int h) {
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, 0, 0, W, h);
    cairo_fill(cr);
    draw_head(cr, runs, n, o);
    double y = head_h(n);
    draw_fronts(cr, runs, n, o->axis, y, note);
    y += FRONT_H;
    draw_hv(cr, runs, n, o->axis, y);
    y += HV_H;
    if (members_h(runs, n) > 0) {
        grey(cr, 0);
        font(cr, 13, 1);
        text(cr, MARGIN, y + 18, 0, "Parameters and MACs per layer");
        y += 30;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < runs[i].n_members; k++)
                y += draw_member(cr, &runs[i], i, &runs[i].members[k], y);
    }
}

/* ---- surfaces ---------------------------------------------------------------- */

typedef struct membuf {
    char *p;
    size_t n, cap;
} membuf;

static cairo_status_t mb_write(void *ctx, const unsigned char *d,
                               unsigned int len) {
    membuf *b = ctx;
    if (b->n + len + 1 > b->cap) {
        b->cap = (b->n + len + 1) * 2;
        b->p = sn_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, len);
    b->n += len;
    b->p[b->n] = 0;
    return CAIRO_STATUS_SUCCESS;
}

static int draw_to(membuf *b, sn_report_format f, const sn_report_run *runs,
                   int n, const sn_report_opts *o, const char *note, int h,
                   sn_error *e) {
    cairo_surface_t *s;
    if (f == SN_REPORT_PNG)
        s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, h);
    else if (f == SN_REPORT_PDF)
        s = cairo_pdf_surface_create_for_stream(mb_write, b, W, h);
    else
        s = cairo_svg_surface_create_for_stream(mb_write, b, W, h);
    cairo_t *cr = cairo_create(s);
    draw_page(cr, runs, n, o, note, h);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (st == CAIRO_STATUS_SUCCESS && f == SN_REPORT_PNG)
        st = cairo_surface_write_to_png_stream(s, mb_write, b);
    cairo_surface_finish(s);
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(s);
    cairo_surface_destroy(s);
    /* Text went through cairo's font cache and fontconfig; nothing else in
     * slimnas uses either, so give their memory back now (leak checkers
     * see none, and the next report starts afresh). */
    cairo_debug_reset_static_data();
    FcFini();
    if (st != CAIRO_STATUS_SUCCESS)
        return sn_errf(e, "drawing the report: %s", cairo_status_to_string(st));
    return 0;
}

/* ---- HTML -------------------------------------------------------------------- */

static void html_text(FILE *f, const char *s) {
    for (; *s; s++) switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
}

static const char html_head_1[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>";
static const char html_head_2[] =
    "</title>\n<style>\n"
    "body{font-family:sans-serif;margin:1em auto;max-width:1000px;"
    "padding:0 1em;color:#222}\n"
    ".plot svg{max-width:100%;height:auto}\n"
    "table{border-collapse:collapse;font-size:90%}\n"
    "th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}\n"
    "th{cursor:pointer;background:#f3f3f3;user-select:none}\n"
    "th.asc::after{content:' \\25b2'}th.desc::after{content:' \\25bc'}\n"
    "td.t,th.t{text-align:left}\n"
    "</style>\n</head>\n<body>\n<h1>";

/* Sorting: click a header; numeric columns sort by data-v. */
static const char html_script[] =
    "<script>\n"
    "document.querySelectorAll('table.sortable th').forEach(function(th, i) {\n"
    "  th.addEventListener('click', function() {\n"
    "    var body = th.closest('table').tBodies[0];\n"
    "    var up = !th.classList.contains('asc'), num = !th.classList.contains('t');\n"
    "    th.parentNode.querySelectorAll('th').forEach(function(h) { h.classList.remove('asc', 'desc'); });\n"
    "    th.classList.add(up ? 'asc' : 'desc');\n"
    "    var key = function(r) { var c = r.cells[i]; return num ? parseFloat(c.dataset.v) : c.textContent; };\n"
    "    Array.from(body.rows).sort(function(a, b) {\n"
    "      var x = key(a), y = key(b), d = num ? x - y : x.localeCompare(y);\n"
    "      return up ? d : -d;\n"
    "    }).forEach(function(r) { body.appendChild(r); });\n"
    "  });\n"
    "});\n"
    "</script>\n";

static void html_num(FILE *f, double v, const char *shown) {
    fprintf(f, "<td data-v=\"%.17g\">%s</td>", v, shown);
}

static int html_page(membuf *out, const membuf *svg, const sn_report_run *runs,
                     int n, const sn_report_opts *o) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    SN_ASSERT(f);
    const char *title = o->title ? o->title : "slimnas report";
    fputs(html_head_1, f);
    html_text(f, title);
    fputs(html_head_2, f);
    html_text(f, title);
    fputs("</h1>\n<div class=\"plot\">\n", f);
    const char *s = strstr(svg->p, "<svg");
    fputs(s ? s : svg->p, f);
    fputs("</div>\n<h2>Front members</h2>\n<p>Click a column to sort.</p>\n"
          "<table class=\"sortable\" id=\"front\">\n<thead><tr>"
          "<th class=\"t\">run</th><th>id</th><th>params</th><th>MACs</th>"
          "<th>memory (bytes)</th><th>val</th><th>test</th><th>epochs</th>"
          "<th>seconds</th><th class=\"t\">operation</th></tr></thead>\n<tbody>\n",
          f);
    for (int i = 0; i < n; i++) {
        const sn_report_run *r = &runs[i];
        for (int k = 0; k < r->n_front; k++) {
            const sn_cand_info *c = &r->cands[r->front[k]];
            char a[32], b[32];
            fprintf(f, "<tr class=\"member\"><td class=\"t\">");
            html_text(f, r->label);
            fprintf(f, "</td>");
            snprintf(a, sizeof a, "#%d", c->id);
            html_num(f, c->id, a);
            html_num(f, (double)c->params, sn_fmt_int(a, sizeof a, c->params));
            html_num(f, (double)c->flops, sn_fmt_int(a, sizeof a, c->flops));
            html_num(f, (double)c->memory, sn_fmt_int(a, sizeof a, c->memory));
            snprintf(a, sizeof a, "%.2f%%", 100 * c->val_acc);
            html_num(f, c->val_acc, a);
            if (c->test_acc >= 0) snprintf(b, sizeof b, "%.2f%%", 100 * c->test_acc);
            else snprintf(b, sizeof b, "-");
            html_num(f, c->test_acc, b);
            snprintf(a, sizeof a, "%d", c->epochs);
            html_num(f, c->epochs, a);
            snprintf(a, sizeof a, "%.1f", c->seconds);
            html_num(f, c->seconds, a);
            fprintf(f, "<td class=\"t\">");
            html_text(f, c->op);
            fprintf(f, "</td></tr>\n");
        }
    }
    fputs("</tbody>\n</table>\n", f);
    fputs(html_script, f);
    fputs("</body>\n</html>\n", f);
    fclose(f);
    out->p = buf;
    out->n = len;
    out->cap = len + 1;
    return 0;
}

int sn_report_render(const sn_report_run *runs, int n,
                     const sn_report_opts *o, sn_report_format f, char **out,
                     size_t *len, int *w, int *h, sn_error *e) {
    SN_ASSERT(o->axis >= 0 && o->axis < SN_OBJ_COUNT && n >= 1);
    if (f == SN_REPORT_CSV) {
        *out = sn_report_csv(runs, n, len);
        if (w) *w = 0;
        if (h) *h = 0;
        return 0;
    }
    /* the note of a partly shared axis goes on the page too */
    char note[512] = "";
    int axis = -1;
    sn_error ignored;
    if (sn_report_axis(runs, n, &axis, note, sizeof note, &ignored) == 0 &&
        axis != o->axis)
        snprintf(note, sizeof note, "fronts drawn against %s",
                 axis_name(o->axis));
    int ph = page_height(runs, n);
    membuf b = {0};
    int rc = draw_to(&b, f == SN_REPORT_HTML ? SN_REPORT_SVG : f, runs, n, o,
                     note, ph, e);
    if (rc) {
        free(b.p);
        return -1;
    }
    if (f == SN_REPORT_HTML) {
        membuf page = {0};
        html_page(&page, &b, runs, n, o);
        free(b.p);
        b = page;
    }
    *out = b.p;
    *len = b.n;
    if (w) *w = W;
    if (h) *h = ph;
    return 0;
}
