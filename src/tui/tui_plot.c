/* tui_plot.c — the Pareto plot rasteriser, axis ticks and the sparkline.
 *
 * The plot is drawn into a grid of cells (one UTF-8 character and one
 * slot each) that the curses layer copies to the screen. Lines (the
 * front's staircase, the limit) are drawn on a finer dot canvas: 2x4
 * dots per cell with braille, 2x2 with quadrant blocks, 1x1 in ASCII.
 * Points are whole-cell glyphs drawn over the lines, so they stay
 * readable at any resolution. Pure functions. */
#include "slimnas/tui.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- ticks ----------------------------------------------------------------- */

int sn_axis_log_ticks(double lo, double hi, int max, double *ticks) {
    SN_ASSERT(lo > 0 && hi > lo);
    if (max < 1) return 0;
    int a = (int)floor(log10(lo) + 1e-9), b = (int)ceil(log10(hi) - 1e-9);
    /* From the densest set of mantissas to the sparsest, then every k-th
     * decade; the first set that fits in max wins. */
    static const int m9[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, m3[] = {1, 2, 5},
                     m1[] = {1};
    const struct {
        const int *m;
        int nm, every;
    } sets[] = {{m9, 9, 1}, {m3, 3, 1}, {m1, 1, 1},  {m1, 1, 2},
                {m1, 1, 3}, {m1, 1, 5}, {m1, 1, 10}, {m1, 1, 20}};
    const double tol = 1e-9;
    for (size_t si = 0; si < sizeof sets / sizeof sets[0]; si++) {
        int n = 0;
        for (int k = a; k <= b; k++) {
            if (((k % sets[si].every) + sets[si].every) % sets[si].every)
                continue;
            for (int j = 0; j < sets[si].nm; j++) {
                double t = sets[si].m[j] * pow(10, k);
                if (t >= lo * (1 - tol) && t <= hi * (1 + tol)) n++;
            }
        }
        if (n > max && si + 1 < sizeof sets / sizeof sets[0]) continue;
        n = 0;
        for (int k = a; k <= b && n < max; k++) {
            if (((k % sets[si].every) + sets[si].every) % sets[si].every)
                continue;
            for (int j = 0; j < sets[si].nm && n < max; j++) {
                double t = sets[si].m[j] * pow(10, k);
                if (t >= lo * (1 - tol) && t <= hi * (1 + tol)) ticks[n++] = t;
            }
        }
        return n;
    }
    return 0;
}

int sn_axis_lin_ticks(double lo, double hi, int max, double *ticks) {
    SN_ASSERT(hi > lo);
    if (max < 1) return 0;
    int e = (int)floor(log10((hi - lo) / max)) - 1;
    for (;; e++) {
        static const int m[] = {1, 2, 5};
        for (int j = 0; j < 3; j++) {
            double step = m[j] * pow(10, e);
            double k0 = ceil(lo / step - 1e-9), k1 = floor(hi / step + 1e-9);
            if (k1 - k0 + 1 > max) continue;
            int n = 0;
            for (double k = k0; k <= k1; k++) {
                double t = k * step;
                if (fabs(t) < step * 1e-9) t = 0; /* no "-0" */
                ticks[n++] = t;
            }
            return n;
        }
    }
}

/* ---- the plot ---------------------------------------------------------------- */

static void cell_set(sn_plot *p, int x, int y, const char *ch, int slot) {
    if (x < 0 || y < 0 || x >= p->w || y >= p->h) return;
    sn_cell *c = &p->cells[y * p->w + x];
    snprintf(c->ch, sizeof c->ch, "%s", ch);
    c->slot = (unsigned char)slot;
}

static void text_at(sn_plot *p, int x, int y, const char *s, int slot) {
    /* ASCII only (labels), one cell per byte. */
    for (; *s; s++, x++) {
        char ch[2] = {*s, 0};
        cell_set(p, x, y, ch, slot);
    }
}

/* The dot canvas: bit per dot, plus what kind of line set it (for the
 * cell's slot and, in ASCII, for the character). */
typedef struct canvas {
    int dw, dh, sx, sy;
    unsigned char *dot;  /* dw * dh: 0 none, 1 limit, 2 front */
    unsigned char *dir;  /* ASCII: 1 horizontal, 2 vertical */
} canvas;

static void dot_set(canvas *cv, int x, int y, int kind, int dir) {
    if (x < 0 || y < 0 || x >= cv->dw || y >= cv->dh) return;
    unsigned char *d = &cv->dot[y * cv->dw + x];
    if (kind > *d) *d = (unsigned char)kind;
    cv->dir[y * cv->dw + x] |= (unsigned char)dir;
}

static void hline(canvas *cv, int x0, int x1, int y, int kind) {
    if (x0 > x1) {
        int t = x0;
        x0 = x1;
        x1 = t;
    }
    for (int x = x0; x <= x1; x++) dot_set(cv, x, y, kind, 1);
}

static void vline(canvas *cv, int x, int y0, int y1, int kind, int dotted) {
    if (y0 > y1) {
        int t = y0;
        y0 = y1;
        y1 = t;
    }
    for (int y = y0; y <= y1; y++)
        if (!dotted || y % 2 == 0) dot_set(cv, x, y, kind, 2);
}

/* Encodes code point u (< 0x10000) as UTF-8. */
static void utf8(unsigned u, char out[8]) {
    if (u < 0x80) {
        out[0] = (char)u;
        out[1] = 0;
    } else if (u < 0x800) {
        out[0] = (char)(0xc0 | (u >> 6));
        out[1] = (char)(0x80 | (u & 0x3f));
        out[2] = 0;
    } else {
        out[0] = (char)(0xe0 | (u >> 12));
        out[1] = (char)(0x80 | ((u >> 6) & 0x3f));
        out[2] = (char)(0x80 | (u & 0x3f));
        out[3] = 0;
    }
}

/* Quadrant blocks by bits (1 upper-left, 2 upper-right, 4 lower-left,
 * 8 lower-right). */
static const unsigned quadrant[16] = {
    ' ',    0x2598, 0x259d, 0x2580, 0x2596, 0x258c, 0x259e, 0x259b,
    0x2597, 0x259a, 0x2590, 0x259c, 0x2584, 0x2599, 0x259f, 0x2588};

/* Dot coordinates of a data point (shared by render, cell_of and pick). */
static double map_x(const sn_plot *p, int sx, double x) {
    double t = (log10(x) - p->lx0) / (p->lx1 - p->lx0);
    return t * (p->aw * sx - 1);
}

static double map_y(const sn_plot *p, int sy, double y) {
    double t = (p->y1 - y) / (p->y1 - p->y0);
    return t * (p->ah * sy - 1);
}

static void glyph_scale(sn_glyphs g, int *sx, int *sy) {
    *sx = g == SN_GLYPH_ASCII ? 1 : 2;
    *sy = g == SN_GLYPH_BRAILLE ? 4 : g == SN_GLYPH_BLOCK ? 2 : 1;
}

static int cmp_x(const void *a, const void *b) {
    const sn_plot_point *p = a, *q = b;
    return (p->x > q->x) - (p->x < q->x);
}

static void ranges(const sn_plot_spec *s, sn_plot *p) {
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY,
           ymax = -INFINITY;
    for (int i = 0; i < s->n; i++) {
        const sn_plot_point *q = &s->pts[i];
        if (!(q->x > 0)) continue;
        xmin = fmin(xmin, q->x), xmax = fmax(xmax, q->x);
        ymin = fmin(ymin, q->y), ymax = fmax(ymax, q->y);
    }
    if (s->limit > 0) xmin = fmin(xmin, s->limit), xmax = fmax(xmax, s->limit);
    if (xmin > xmax) xmin = 1e3, xmax = 1e5; /* nothing yet: a sane frame */
    if (ymin > ymax) ymin = 0, ymax = 1;
    double l0 = log10(xmin), l1 = log10(xmax);
    if (l1 - l0 < 0.3) {
        double c = (l0 + l1) / 2;
        l0 = c - 0.5, l1 = c + 0.5;
    } else {
        double pad = 0.06 * (l1 - l0);
        l0 -= pad, l1 += pad;
    }
    double pad = fmax(0.08 * (ymax - ymin), 0.01);
    double y0 = ymin - pad, y1 = ymax + pad;
    if (y1 - y0 < 0.05) {
        double c = (y0 + y1) / 2;
        y0 = c - 0.025, y1 = c + 0.025;
    }
    if (y0 < 0) y1 -= y0, y0 = 0;
    if (y1 > 1) y0 -= y1 - 1, y1 = 1;
    if (y0 < 0) y0 = 0;
    p->lx0 = l0, p->lx1 = l1, p->y0 = y0, p->y1 = y1;
}

int sn_plot_render(const sn_plot_spec *s, int w, int h, sn_plot *p) {
    memset(p, 0, sizeof *p);
    if (w < 16 || h < 5) return -1;
    int ascii = s->glyphs == SN_GLYPH_ASCII;
    p->w = w, p->h = h;
    p->cells = sn_xcalloc((size_t)w * h, sizeof *p->cells);
    for (int i = 0; i < w * h; i++) {
        p->cells[i].ch[0] = ' ';
        p->cells[i].slot = SN_SLOT_NORMAL;
    }
    ranges(s, p);

    /* Y labels decide the left margin. */
    p->ah = h - 2;
    double yt[32];
    int nyt = sn_axis_lin_ticks(p->y0, p->y1, p->ah >= 8 ? p->ah / 2 : 3, yt);
    double ystep = nyt > 1 ? yt[1] - yt[0] : 0.1;
    int dec = ystep >= 0.00999 ? 0 : ystep >= 0.000999 ? 1 : 2;
    char ylab[32][16];
    int lw = 0;
    for (int i = 0; i < nyt; i++) {
        snprintf(ylab[i], sizeof ylab[i], "%.*f%%", dec, 100 * yt[i]);
        int l = (int)strlen(ylab[i]);
        if (l > lw) lw = l;
    }
    p->ax = lw + 1, p->ay = 0, p->aw = w - lw - 1;

    int sx, sy;
    glyph_scale(s->glyphs, &sx, &sy);
    p->sx = sx, p->sy = sy;

    /* Axes. */
    const char *vbar = ascii ? "|" : "\xe2\x94\x82",   /* │ */
        *ytick = ascii ? "+" : "\xe2\x94\xa4",         /* ┤ */
        *hbar = ascii ? "-" : "\xe2\x94\x80",          /* ─ */
        *xtick = ascii ? "+" : "\xe2\x94\xac",         /* ┬ */
        *corner = ascii ? "+" : "\xe2\x94\x94";        /* └ */
    for (int y = 0; y < p->ah; y++) cell_set(p, lw, y, vbar, SN_SLOT_AXIS);
    for (int x = p->ax; x < w; x++) cell_set(p, x, p->ah, hbar, SN_SLOT_AXIS);
    cell_set(p, lw, p->ah, corner, SN_SLOT_AXIS);
    for (int i = 0; i < nyt; i++) {
        int row = (int)lround(map_y(p, sy, yt[i])) / sy;
        if (row < 0 || row >= p->ah) continue;
        cell_set(p, lw, row, ytick, SN_SLOT_AXIS);
        text_at(p, lw - (int)strlen(ylab[i]), row, ylab[i], SN_SLOT_AXIS);
    }
    double xt[32];
    int nxt = sn_axis_log_ticks(pow(10, p->lx0), pow(10, p->lx1),
                                p->aw / 6 > 1 ? p->aw / 6 : 2, xt);
    /* The unit goes at the right end first; tick labels that would run
     * into it are left out (the unit matters more than one more tick). */
    int label_limit = w;
    if (s->unit && *s->unit) {
        int l = (int)strlen(s->unit);
        if (l + 2 <= p->aw) {
            text_at(p, w - l, h - 1, s->unit, SN_SLOT_AXIS);
            label_limit = w - l - 1;
        }
    }
    int last_end = -1;
    for (int i = 0; i < nxt; i++) {
        int col = p->ax + (int)lround(map_x(p, sx, xt[i])) / sx;
        if (col < p->ax || col >= w) continue;
        cell_set(p, col, p->ah, xtick, SN_SLOT_AXIS);
        char lab[16];
        sn_tui_fmt_num(lab, sizeof lab, xt[i]);
        int l = (int)strlen(lab), x0 = col - l / 2;
        if (x0 < p->ax) x0 = p->ax;
        if (x0 <= last_end || x0 + l > label_limit) continue;
        text_at(p, x0, h - 1, lab, SN_SLOT_AXIS);
        last_end = x0 + l;
    }

    /* Lines on the dot canvas. */
    canvas cv = {p->aw * sx, p->ah * sy, sx, sy, NULL, NULL};
    cv.dot = sn_xcalloc((size_t)cv.dw * cv.dh, 1);
    cv.dir = sn_xcalloc((size_t)cv.dw * cv.dh, 1);
    if (s->limit > 0) {
        int lx = (int)lround(map_x(p, sx, s->limit));
        vline(&cv, lx, 0, cv.dh - 1, 1, 1);
    }
    int nf = 0;
    sn_plot_point *fr = sn_xmalloc(((size_t)s->n + 1) * sizeof *fr);
    for (int i = 0; i < s->n; i++)
        if ((s->pts[i].flags & SN_PT_FRONT) && !(s->pts[i].flags & SN_PT_OTHER) &&
            s->pts[i].x > 0)
            fr[nf++] = s->pts[i];
    qsort(fr, (size_t)nf, sizeof *fr, cmp_x);
    for (int i = 0; i + 1 < nf; i++) {
        /* The staircase: accuracy y_i is reachable from size x_i on. */
        int x0 = (int)lround(map_x(p, sx, fr[i].x));
        int x1 = (int)lround(map_x(p, sx, fr[i + 1].x));
        int y0 = (int)lround(map_y(p, sy, fr[i].y));
        int y1 = (int)lround(map_y(p, sy, fr[i + 1].y));
        hline(&cv, x0, x1, y0, 2);
        vline(&cv, x1, y0, y1, 2, 0);
    }
    free(fr);
    for (int cy = 0; cy < p->ah; cy++)
        for (int cx = 0; cx < p->aw; cx++) {
            unsigned bits = 0, kind = 0, dirs = 0;
            for (int j = 0; j < sy; j++)
                for (int i = 0; i < sx; i++) {
                    int k = (cy * sy + j) * cv.dw + cx * sx + i;
                    if (!cv.dot[k]) continue;
                    if (cv.dot[k] > kind) kind = cv.dot[k];
                    dirs |= cv.dir[k];
                    if (s->glyphs == SN_GLYPH_BRAILLE)
                        bits |= j < 3 ? (i ? 0x08u << j : 0x01u << j)
                                      : (i ? 0x80u : 0x40u);
                    else
                        bits |= 1u << (j * 2 + i);
                }
            if (!kind) continue;
            char ch[8];
            if (s->glyphs == SN_GLYPH_BRAILLE) utf8(0x2800 + bits, ch);
            else if (s->glyphs == SN_GLYPH_BLOCK) utf8(quadrant[bits & 15], ch);
            else if (kind == 1 && dirs == 2) snprintf(ch, sizeof ch, ":");
            else
                snprintf(ch, sizeof ch, "%s",
                         dirs == 3 ? "+" : dirs == 2 ? "|" : "-");
            cell_set(p, p->ax + cx, cy, ch,
                     kind == 2 ? SN_SLOT_FRONT_LINE : SN_SLOT_LIMIT);
        }
    free(cv.dot);
    free(cv.dir);

    /* Points over the lines, the most important one winning a cell. */
    unsigned char *prio = sn_xcalloc((size_t)w * h, 1);
    for (int i = 0; i < s->n; i++) {
        const sn_plot_point *q = &s->pts[i];
        int cx, cy;
        if ((q->flags & SN_PT_OTHER) || sn_plot_cell_of(p, q->x, q->y, &cx, &cy))
            continue;
        int pr, slot;
        const char *g;
        if (q->flags & SN_PT_SELECTED)
            pr = 4, slot = SN_SLOT_HIGHLIGHT, g = ascii ? "@" : "\xe2\x97\x89";
        else if (q->flags & SN_PT_FRONT)
            pr = 3, slot = SN_SLOT_FRONT_LINE, g = ascii ? "*" : "\xe2\x97\x86";
        else if (q->flags & SN_PT_INFEASIBLE)
            pr = 1, slot = SN_SLOT_INFEASIBLE, g = ascii ? "x" : "\xc2\xb7";
        else
            pr = 2, slot = SN_SLOT_POINT, g = ascii ? "o" : "\xe2\x80\xa2";
        if (pr <= prio[cy * w + cx]) continue;
        prio[cy * w + cx] = (unsigned char)pr;
        cell_set(p, cx, cy, g, slot);
    }
    free(prio);
    return 0;
}

void sn_plot_free(sn_plot *p) {
    free(p->cells);
    memset(p, 0, sizeof *p);
}

int sn_plot_cell_of(const sn_plot *p, double x, double y, int *cx, int *cy) {
    if (!p->cells || !(x > 0)) return -1;
    double dx = map_x(p, p->sx, x), dy = map_y(p, p->sy, y);
    /* the same rounding as the lines, so a point sits on its staircase */
    long ix = lround(dx), iy = lround(dy);
    if (ix < 0 || iy < 0 || ix >= (long)p->aw * p->sx ||
        iy >= (long)p->ah * p->sy)
        return -1;
    *cx = p->ax + (int)(ix / p->sx);
    *cy = p->ay + (int)(iy / p->sy);
    return 0;
}

int sn_plot_pick(const sn_plot *p, const sn_plot_spec *s, int cx, int cy) {
    int best = -1;
    long bestd = 0;
    for (int i = 0; i < s->n; i++) {
        int x, y;
        if ((s->pts[i].flags & SN_PT_OTHER) ||
            sn_plot_cell_of(p, s->pts[i].x, s->pts[i].y, &x, &y))
            continue;
        /* A cell is about twice as tall as wide: weigh rows double. */
        long dx = x - cx, dy = 2L * (y - cy), d = dx * dx + dy * dy;
        if (d > 9) continue;
        if (best < 0 || d < bestd) best = s->pts[i].id, bestd = d;
    }
    return best;
}

/* ---- sparkline ------------------------------------------------------------- */

int sn_sparkline(const double *v, int n, int width, int ascii, char *buf,
                 size_t bufn) {
    SN_ASSERT(bufn > 0);
    buf[0] = 0;
    if (n <= 0 || width <= 0) return 0;
    int cols = n < width ? n : width;
    double *col = sn_xmalloc((size_t)cols * sizeof *col);
    for (int c = 0; c < cols; c++) {
        /* bucket c covers [c*n/cols, (c+1)*n/cols); its last value shows */
        int last = (int)(((int64_t)(c + 1) * n) / cols) - 1;
        col[c] = v[last];
    }
    double lo = col[0], hi = col[0];
    for (int c = 1; c < cols; c++) lo = fmin(lo, col[c]), hi = fmax(hi, col[c]);
    static const char ascii_lv[] = "_.-=+*#@";
    size_t o = 0;
    int written = 0;
    for (int c = 0; c < cols; c++) {
        int lv = hi > lo ? (int)lround((col[c] - lo) / (hi - lo) * 7) : 3;
        char ch[8];
        if (ascii) ch[0] = ascii_lv[lv], ch[1] = 0;
        else utf8(0x2581 + (unsigned)lv, ch);
        size_t l = strlen(ch);
        if (o + l + 1 > bufn) break;
        memcpy(buf + o, ch, l);
        o += l;
        written++;
    }
    buf[o] = 0;
    free(col);
    return written;
}
