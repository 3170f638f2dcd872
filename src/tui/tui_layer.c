/* tui_layer.c — the candidate view's per-layer table, built from the
 * graph module's stats (the numbers are computed there, once; this file
 * only lays them out for a given width). Pure functions. */
#include "slimnas/tui.h"

#include <stdlib.h>
#include <string.h>

const char *sn_tui_node_desc(const sn_graph *g, int i, char *buf, size_t n) {
    SN_ASSERT(i >= 0 && i < g->n_nodes);
    const sn_node *nd = &g->nodes[i];
    sn_shape in[SN_MAX_IN];
    for (int k = 0; k < nd->n_in; k++) in[k] = g->nodes[nd->in[k]].out;
    return sn_op_describe(nd->op, &nd->attr, in, nd->n_in, buf, n);
}

static void shape_str(char *buf, size_t n, sn_shape s) {
    if (s.h == 1 && s.w == 1) snprintf(buf, n, "%d", s.c);
    else sn_shape_fmt(buf, n, s); /* HxWxC */
}

static void pct(char *buf, size_t n, int64_t part, int64_t total) {
    if (total <= 0) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.1f%%", 100.0 * (double)part / (double)total);
}

/* Column order and drop priority (higher drops first). */
enum { C_IDX, C_NAME, C_OP, C_OUT, C_PAR, C_PPAR, C_FLOP, C_PFLOP, C_ACT, C_N };
static const int drop_rank[C_N] = {0, 0, 0, 0, 0, 3, 0, 2, 1};
static const int right_align[C_N] = {1, 0, 0, 1, 1, 1, 1, 1, 1};
static const char *const col_head[C_N] = {"#",      "layer", "op",
                                          "output", "params", "%par",
                                          "MACs",   "%MAC",  "act"};

typedef struct cellrow {
    char c[C_N][SN_NAME_LEN + 16];
} cellrow;

void sn_layer_table(const sn_graph *g, const sn_stats *st, int width,
                    sn_lines *out) {
    int n = g->n_nodes;
    cellrow *r = sn_xcalloc((size_t)n + 2, sizeof *r);
    for (int i = 0; i < n; i++) {
        const sn_layer_stats *L = &st->layer[i];
        snprintf(r[i].c[C_IDX], sizeof r[i].c[0], "%d", i);
        snprintf(r[i].c[C_NAME], sizeof r[i].c[0], "%s", g->nodes[i].name);
        sn_tui_node_desc(g, i, r[i].c[C_OP], sizeof r[i].c[0]);
        shape_str(r[i].c[C_OUT], sizeof r[i].c[0], L->out);
        sn_fmt_int(r[i].c[C_PAR], sizeof r[i].c[0], L->params);
        pct(r[i].c[C_PPAR], sizeof r[i].c[0], L->params, st->params);
        sn_tui_fmt_num(r[i].c[C_FLOP], sizeof r[i].c[0], (double)L->flops);
        pct(r[i].c[C_PFLOP], sizeof r[i].c[0], L->flops, st->flops);
        char b[32];
        snprintf(r[i].c[C_ACT], sizeof r[i].c[0], "%sB",
                 sn_tui_fmt_num(b, sizeof b, (double)L->act_bytes));
    }
    cellrow *tot = &r[n];
    snprintf(tot->c[C_NAME], sizeof tot->c[0], "total");
    sn_fmt_int(tot->c[C_PAR], sizeof tot->c[0], st->params);
    pct(tot->c[C_PPAR], sizeof tot->c[0], st->params, st->params);
    sn_tui_fmt_num(tot->c[C_FLOP], sizeof tot->c[0], (double)st->flops);
    pct(tot->c[C_PFLOP], sizeof tot->c[0], st->flops, st->flops);

    int cw[C_N], on[C_N];
    for (int k = 0; k < C_N; k++) {
        cw[k] = (int)strlen(col_head[k]);
        on[k] = 1;
        for (int i = 0; i <= n; i++) {
            int l = sn_tui_width(r[i].c[k]);
            if (l > cw[k]) cw[k] = l;
        }
    }
    /* Drop columns, then narrow the name column (min 6), to fit. */
    for (;;) {
        int tw = -1;
        for (int k = 0; k < C_N; k++)
            if (on[k]) tw += cw[k] + 1;
        if (tw <= width) break;
        int worst = -1;
        for (int k = 0; k < C_N; k++)
            if (on[k] && drop_rank[k] > 0 &&
                (worst < 0 || drop_rank[k] < drop_rank[worst]))
                worst = k;
        if (worst >= 0) {
            on[worst] = 0;
            continue;
        }
        int over = tw - width;
        int can = cw[C_NAME] - 6;
        if (can > 0) cw[C_NAME] -= over < can ? over : can;
        break;
    }

    char line[1024];
    for (int i = -1; i <= n; i++) {
        size_t o = 0;
        line[0] = 0;
        for (int k = 0; k < C_N; k++) {
            if (!on[k]) continue;
            const char *txt = i < 0 ? col_head[k] : r[i].c[k];
            char clip[160];
            sn_tui_clip(clip, sizeof clip, txt, cw[k], 1, 0);
            int pad = cw[k] - sn_tui_width(clip);
            if (o) line[o++] = ' ';
            if (right_align[k])
                o += (size_t)snprintf(line + o, sizeof line - o, "%*s%s", pad,
                                      "", clip);
            else
                o += (size_t)snprintf(line + o, sizeof line - o, "%s%*s", clip,
                                      pad, "");
            if (o >= sizeof line - 1) o = sizeof line - 1;
        }
        while (o && line[o - 1] == ' ') line[--o] = 0;
        sn_lines_add(out, "%s", line);
    }
    char pk[32];
    sn_lines_add(out, "peak activation memory %sB at %s (inference, batch 1)",
                 sn_tui_fmt_num(pk, sizeof pk, (double)st->peak_bytes),
                 st->peak_at >= 0 && st->peak_at < n
                     ? g->nodes[st->peak_at].name
                     : "?");
    free(r);
}
