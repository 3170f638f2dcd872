/* stats.c — per-layer figures (shape, params, FLOPs, activation bytes),
 * totals, and peak activation memory of inference. All counts come from
 * the op table; this file only sums them and walks the liveness. */
#include "slimnas/graph.h"

#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

int sn_stats_compute(const sn_graph *g, sn_flops_kind k, sn_stats *s) {
    memset(s, 0, sizeof *s);
    int n = g->n_nodes;
    s->n = n;
    s->layer = sn_xcalloc((size_t)(n ? n : 1), sizeof *s->layer);
    for (int i = 0; i < n; i++) {
        const sn_node *nd = &g->nodes[i];
        const sn_op_desc *op = sn_op_get(nd->op);
        sn_shape in[SN_MAX_IN];
        for (int j = 0; j < nd->n_in; j++) in[j] = g->nodes[nd->in[j]].out;
        sn_layer_stats *L = &s->layer[i];
        L->out = nd->out;
        L->params = sn_op_params(nd->op, &nd->attr, in, nd->n_in);
        L->flops = k == SN_FLOPS_AUTOKERAS
                       ? op->flops_autokeras(&nd->attr, in, nd->n_in, nd->out)
                       : op->macs(&nd->attr, in, nd->n_in, nd->out);
        L->act_bytes = sn_shape_size(nd->out) * (int64_t)sizeof(float);
        s->params += L->params;
        s->flops += L->flops;
    }
    /* Peak: while node i runs, its output and every earlier output still
     * read by node i or later are live. A tensor read by nobody (only the
     * output) dies with the node that made it. */
    int *last = sn_xmalloc((size_t)(n ? n : 1) * sizeof *last);
    int64_t *freed = sn_xcalloc((size_t)(n ? n : 1), sizeof *freed);
    sn_graph_last_uses(g, last);
    for (int i = 0; i < n; i++)
        freed[last[i] < 0 ? i : last[i]] += s->layer[i].act_bytes;
    int64_t live = 0; /* bytes of outputs 0..i-1 still needed at step i */
    for (int i = 0; i < n; i++) {
        int64_t now = live + s->layer[i].act_bytes;
        if (now > s->peak_bytes) {
            s->peak_bytes = now;
            s->peak_at = i;
        }
        live = now - freed[i]; /* outputs last read by node i die here */
    }
    free(freed);
    free(last);
    return 0;
}

void sn_stats_free(sn_stats *s) {
    if (!s) return;
    free(s->layer);
    s->layer = NULL;
    s->n = 0;
}

int64_t sn_graph_params(const sn_graph *g) {
    /* the sum sn_stats_compute makes, without the rest of the stats */
    int64_t v = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const sn_node *nd = &g->nodes[i];
        sn_shape in[SN_MAX_IN];
        for (int j = 0; j < nd->n_in; j++) in[j] = g->nodes[nd->in[j]].out;
        v += sn_op_params(nd->op, &nd->attr, in, nd->n_in);
    }
    return v;
}

int64_t sn_graph_flops(const sn_graph *g, sn_flops_kind k) {
    sn_stats s;
    sn_stats_compute(g, k, &s);
    int64_t v = s.flops;
    sn_stats_free(&s);
    return v;
}

int64_t sn_graph_peak_bytes(const sn_graph *g) {
    sn_stats s;
    sn_stats_compute(g, SN_FLOPS_MACS, &s);
    int64_t v = s.peak_bytes;
    sn_stats_free(&s);
    return v;
}
