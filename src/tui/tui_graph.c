/* tui_graph.c — a network drawn as text, top to bottom.
 *
 * One line per layer. The layer just above feeds a layer implicitly (the
 * spine, read from adjacency); every other input is a skip connection
 * drawn in its own lane of the gutter, from the row of its source (╮) to
 * the row of the layer that reads it (╯):
 *
 *   ●     relu1  relu             16x14x14
 *   ●─╮   conv2  conv 3x3 16      16x14x14
 *   ● │   bn2    bn               16x14x14
 *   ●─╯   add1   add              16x14x14
 *
 * Lanes are reused once free (interval colouring, greedy by start row), so
 * a ResNet needs one lane per overlapping skip, not one per skip. Pure. */
#include "slimnas/tui.h"

#include <stdlib.h>
#include <string.h>

typedef struct edge {
    int u, v, lane;
} edge;

static int cmp_edge(const void *a, const void *b) {
    const edge *x = a, *y = b;
    if (x->u != y->u) return x->u - y->u;
    return x->v - y->v;
}

int sn_graph_text(const sn_graph *g, int ascii, sn_lines *out) {
    int n = g->n_nodes;
    int ne = 0, cap = 16;
    edge *e = sn_xmalloc((size_t)cap * sizeof *e);
    for (int v = 0; v < n; v++)
        for (int j = 0; j < g->nodes[v].n_in; j++) {
            int u = g->nodes[v].in[j];
            if (u == v - 1) continue;
            int dup = 0; /* the same input twice needs one lane */
            for (int k = 0; k < ne; k++)
                if (e[k].u == u && e[k].v == v) dup = 1;
            if (dup) continue;
            if (ne == cap) e = sn_xrealloc(e, (size_t)(cap *= 2) * sizeof *e);
            e[ne++] = (edge){u, v, -1};
        }
    qsort(e, (size_t)ne, sizeof *e, cmp_edge);
    int nl = 0;
    int *lane_end = sn_xmalloc(((size_t)ne + 1) * sizeof *lane_end);
    for (int k = 0; k < ne; k++) {
        int l = 0;
        while (l < nl && lane_end[l] >= e[k].u) l++;
        if (l == nl) nl++;
        lane_end[l] = e[k].v;
        e[k].lane = l;
    }
    free(lane_end);

    const char *mark = ascii ? "o" : "\xe2\x97\x8f",  /* ● */
        *vert = ascii ? "|" : "\xe2\x94\x82",         /* │ */
        *hor = ascii ? "-" : "\xe2\x94\x80",          /* ─ */
        *cross = ascii ? "+" : "\xe2\x94\xbc",        /* ┼ */
        *start_in = ascii ? "+" : "\xe2\x94\xac",     /* ┬ */
        *start_end = ascii ? "." : "\xe2\x95\xae",    /* ╮ */
        *stop_in = ascii ? "+" : "\xe2\x94\xb4",      /* ┴ */
        *stop_end = ascii ? "'" : "\xe2\x95\xaf";     /* ╯ */
    int gw = 2 + 2 * nl; /* marker, space, lanes with a column between */

    int nw = 4;
    for (int i = 0; i < n; i++) {
        int l = (int)strlen(g->nodes[i].name);
        if (l > nw) nw = l;
    }
    if (nw > 16) nw = 16;
    char *gut = sn_xmalloc((size_t)gw * 4 + 8);
    int *what = sn_xmalloc(((size_t)nl + 1) * sizeof *what);
    for (int r = 0; r < n; r++) {
        /* what[l]: 0 idle, 1 passing, 2 starts here, 3 ends here */
        int far = -1;
        for (int l = 0; l < nl; l++) what[l] = 0;
        for (int k = 0; k < ne; k++) {
            int l = e[k].lane;
            if (e[k].u == r) what[l] = 2;
            else if (e[k].v == r) what[l] = 3;
            else if (e[k].u < r && r < e[k].v && !what[l]) what[l] = 1;
            if ((e[k].u == r || e[k].v == r) && l > far) far = l;
        }
        size_t o = 0;
        gut[0] = 0;
#define PUT(s)                                                                 \
    do {                                                                       \
        size_t l_ = strlen(s);                                                 \
        memcpy(gut + o, s, l_);                                                \
        o += l_;                                                               \
    } while (0)
        PUT(mark);
        for (int l = 0; l < nl; l++) {
            int on_line = l <= far; /* the horizontal reaches this lane */
            PUT(on_line ? hor : " ");
            const char *c = " ";
            if (what[l] == 1) c = on_line ? cross : vert;
            else if (what[l] == 2) c = l == far ? start_end : start_in;
            else if (what[l] == 3) c = l == far ? stop_end : stop_in;
            else if (on_line) c = hor;
            PUT(c);
        }
        PUT(" ");
#undef PUT
        gut[o] = 0;
        char desc[64], shape[32], name[64];
        sn_tui_node_desc(g, r, desc, sizeof desc);
        sn_shape s = g->nodes[r].out;
        if (s.h == 1 && s.w == 1) snprintf(shape, sizeof shape, "%d", s.c);
        else sn_shape_fmt(shape, sizeof shape, s); /* HxWxC */
        sn_tui_clip(name, sizeof name, g->nodes[r].name, nw, 1, ascii);
        int pad = nw - sn_tui_width(name);
        sn_lines_add(out, "%s%s%*s  %-18s %s", gut, name, pad, "", desc,
                     shape);
    }
    free(what);
    free(gut);
    free(e);
    return gw;
}
