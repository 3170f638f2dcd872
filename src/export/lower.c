/* lower.c — a graph as an inference program for the C exporter: steps in
 * execution order (bn folded, activations fused, in-place ops, views), and
 * the arena plan (tensor intervals, first-fit offsets). See export_c.h. */
#include "export_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int sole_consumer(const sn_graph *g, int i) {
    int out[2];
    if (i == g->n_nodes - 1) return -1; /* the output stays a tensor */
    return sn_graph_consumers(g, i, out, 2) == 1 ? out[0] : -1;
}

static int new_buf(xs_prog *p, int64_t size, int def) {
    p->bufs[p->n_bufs] = (xs_buf){.size = size, .def = def, .last = def};
    return p->n_bufs++;
}

/* Whether the buffer holding node v's value is read by nobody after the
 * step running at graph node at (the graph's output is read at the end). */
static int dies_at(const xs_prog *p, const int *reader, int v, int at) {
    const sn_graph *g = p->g;
    int b = p->node_buf[v];
    for (int m = 0; m < g->n_nodes; m++) {
        if (p->node_buf[m] != b) continue;
        if (m == g->n_nodes - 1) return 0;
        if (reader[m] > at) return 0;
    }
    return 1;
}

/* bn at node j as y = x * a + c, in double then rounded once. */
static void bn_affine(const sn_weights *w, const sn_graph *g, int j, int k,
                      double *a, double *c) {
    const float *gamma = sn_weights_tensor(w, j, 0);
    const float *beta = sn_weights_tensor(w, j, 1);
    const float *mean = sn_weights_tensor(w, j, 2);
    const float *var = sn_weights_tensor(w, j, 3);
    double inv = 1.0 / sqrt((double)var[k] + (double)g->nodes[j].attr.eps);
    *a = (double)gamma[k] * inv;
    *c = (double)beta[k] - (double)mean[k] * *a;
}

/* Fills the float parameters of a conv/dense step at node i, folding the
 * bn at node j (or -1). */
static void layer_params(xs_step *s, const sn_graph *g, const sn_weights *w,
                         int i, int j) {
    int out = g->nodes[i].attr.out;
    int64_t nw = w->desc[i][0].ndim ? sn_tensor_desc_size(&w->desc[i][0]) : 0;
    const float *wt = sn_weights_tensor(w, i, 0);
    const float *bt = g->nodes[i].attr.bias ? sn_weights_tensor(w, i, 1)
                                            : NULL;
    s->n_w = nw;
    s->n_b = out;
    s->w = sn_xmalloc((size_t)nw * sizeof *s->w);
    s->b = sn_xmalloc((size_t)out * sizeof *s->b);
    int64_t per = nw / out;
    for (int m = 0; m < out; m++) {
        double a = 1.0, c = 0.0, b = bt ? bt[m] : 0.0;
        if (j >= 0) bn_affine(w, g, j, m, &a, &c);
        for (int64_t t = 0; t < per; t++)
            s->w[m * per + t] = (float)((double)wt[m * per + t] * a);
        s->b[m] = (float)(b * a + c);
    }
}

/* First-fit offsets for the buffers taken in order ord; returns the arena
 * size in elements. */
static int64_t pack(xs_prog *p, const int *ord, int64_t *off) {
    int n = p->n_bufs;
    int *placed = sn_xmalloc((size_t)(n ? n : 1) * sizeof *placed);
    int n_placed = 0;
    int64_t top = 0;
    for (int t = 0; t < n; t++) {
        const xs_buf *b = &p->bufs[ord[t]];
        /* candidate offsets: 0 and the end of every conflicting buffer;
         * the lowest that fits wins */
        int64_t best = -1;
        for (int c = -1; c < n_placed; c++) {
            int64_t o = 0;
            if (c >= 0) {
                const xs_buf *q = &p->bufs[placed[c]];
                if (q->last < b->def || b->last < q->def) continue;
                o = off[placed[c]] + q->size;
            }
            if (best >= 0 && o >= best) continue;
            int ok = 1;
            for (int d = 0; d < n_placed && ok; d++) {
                const xs_buf *q = &p->bufs[placed[d]];
                if (q->last < b->def || b->last < q->def) continue;
                int64_t qo = off[placed[d]];
                if (o < qo + q->size && qo < o + b->size) ok = 0;
            }
            if (ok) best = o;
        }
        off[ord[t]] = best;
        placed[n_placed++] = ord[t];
        if (best + b->size > top) top = best + b->size;
    }
    free(placed);
    return top;
}

static const xs_prog *sort_prog;
static int by_size(const void *a, const void *b) {
    const xs_buf *x = &sort_prog->bufs[*(const int *)a];
    const xs_buf *y = &sort_prog->bufs[*(const int *)b];
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    if (x->def != y->def) return x->def < y->def ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

static void plan(xs_prog *p) {
    int n = p->n_bufs;
    int *ord = sn_xmalloc((size_t)n * sizeof *ord);
    int64_t *o1 = sn_xmalloc((size_t)n * sizeof *o1);
    int64_t *o2 = sn_xmalloc((size_t)n * sizeof *o2);
    for (int i = 0; i < n; i++) ord[i] = i; /* buffers are made in order */
    int64_t a2 = pack(p, ord, o2);
    sort_prog = p;
    qsort(ord, (size_t)n, sizeof *ord, by_size);
    sort_prog = NULL;
    int64_t a1 = pack(p, ord, o1);
    const int64_t *o = a1 <= a2 ? o1 : o2;
    p->arena = a1 <= a2 ? a1 : a2;
    for (int i = 0; i < n; i++) p->bufs[i].off = o[i];
    /* the lower bound: the largest sum of buffers live at one step */
    p->live_peak = 0;
    for (int s = 0; s <= p->n_steps; s++) {
        int64_t live = 0;
        for (int i = 0; i < n; i++)
            if (p->bufs[i].def <= s && s <= p->bufs[i].last)
                live += p->bufs[i].size;
        if (live > p->live_peak) p->live_peak = live;
    }
    free(ord);
    free(o1);
    free(o2);
}

xs_prog *xs_lower(const sn_graph *g, const sn_weights *w, const float *mean,
                  const float *std, sn_error *e) {
    sn_graph *chk = sn_graph_clone(g);
    int bad = sn_graph_validate(chk, e);
    sn_graph_free(chk);
    if (bad) return NULL;
    if (w && w->n_nodes != g->n_nodes) {
        sn_errf(e, "the weights are for %d layers, the graph has %d",
                w->n_nodes - 1, g->n_nodes - 1);
        return NULL;
    }
    if (mean || std) {
        for (int c = 0; c < g->input.c; c++)
            if (!mean || !std || !isfinite(mean[c]) || !(std[c] > 0) ||
                !isfinite(std[c])) {
                sn_errf(e, "input normalisation of channel %d is not usable "
                           "(mean %g, std %g)",
                        c, mean ? (double)mean[c] : 0.0,
                        std ? (double)std[c] : 0.0);
                return NULL;
            }
    }
    if (w) {
        for (int64_t i = 0; i < w->n_params; i++)
            if (!isfinite(w->params[i])) {
                sn_errf(e, "the weights hold a non-finite value (NaN or "
                           "Inf); a diverged training cannot be exported");
                return NULL;
            }
        for (int64_t i = 0; i < w->n_buffers; i++)
            if (!isfinite(w->buffers[i])) {
                sn_errf(e, "the batch-norm statistics hold a non-finite "
                           "value (NaN or Inf)");
                return NULL;
            }
    }
    int n = g->n_nodes;
    xs_prog *p = sn_xcalloc(1, sizeof *p);
    p->g = g;
    p->steps = sn_xcalloc((size_t)n, sizeof *p->steps);
    p->bufs = sn_xcalloc((size_t)n, sizeof *p->bufs);
    p->node_buf = sn_xmalloc((size_t)n * sizeof *p->node_buf);
    int *reader = sn_xmalloc((size_t)n * sizeof *reader);
    unsigned char *done = sn_xcalloc((size_t)n, 1);
    for (int i = 0; i < n; i++) {
        p->node_buf[i] = -1;
        reader[i] = -1;
    }
    for (int j = 0; j < n; j++)
        for (int k = 0; k < g->nodes[j].n_in; k++)
            reader[g->nodes[j].in[k]] = j;
    p->has_norm = mean != NULL;

    for (int i = 0; i < n; i++) {
        if (done[i]) continue;
        const sn_node *nd = &g->nodes[i];
        if (nd->op == SN_OP_FLATTEN || nd->op == SN_OP_DROPOUT) {
            p->node_buf[i] = p->node_buf[nd->in[0]];
            continue;
        }
        int si = p->n_steps++;
        xs_step *s = &p->steps[si];
        s->node = s->value = i;
        s->attr = nd->attr;
        s->n_in = nd->n_in;
        for (int k = 0; k < nd->n_in; k++) {
            s->in[k] = nd->in[k];
            s->in_shape[k] = g->nodes[nd->in[k]].out;
            xs_buf *b = &p->bufs[p->node_buf[nd->in[k]]];
            if (b->last < si) b->last = si;
        }
        int inplace = -1; /* input whose buffer the output takes over */
        int fused[3] = {i, -1, -1}, n_fused = 1;
        switch (nd->op) {
        case SN_OP_INPUT:
            s->kind = XS_INPUT;
            if (w && mean) {
                s->n_w = s->n_b = g->input.c;
                s->w = sn_xmalloc((size_t)g->input.c * sizeof *s->w);
                s->b = sn_xmalloc((size_t)g->input.c * sizeof *s->b);
                for (int c = 0; c < g->input.c; c++) {
                    s->w[c] = mean[c];
                    s->b[c] = (float)(1.0 / (double)std[c]);
                }
            }
            break;
        case SN_OP_CONV:
        case SN_OP_DENSE: {
            s->kind = nd->op == SN_OP_CONV ? XS_CONV : XS_DENSE;
            int j = sole_consumer(g, i), bn = -1;
            if (j >= 0 && g->nodes[j].op == SN_OP_BN) {
                bn = j;
                s->folded_bn = j;
                done[j] = 1;
                s->value = fused[n_fused++] = j;
            }
            if (w) layer_params(s, g, w, i, bn);
            break;
        }
        case SN_OP_BN:
            s->kind = XS_AFFINE;
            if (w) {
                int C = nd->out.c;
                s->n_w = s->n_b = C;
                s->w = sn_xmalloc((size_t)C * sizeof *s->w);
                s->b = sn_xmalloc((size_t)C * sizeof *s->b);
                for (int c = 0; c < C; c++) {
                    double a, cc;
                    bn_affine(w, g, i, c, &a, &cc);
                    s->w[c] = (float)a;
                    s->b[c] = (float)cc;
                }
            }
            if (dies_at(p, reader, nd->in[0], i)) inplace = 0;
            break;
        case SN_OP_RELU:
        case SN_OP_RELU6:
            s->kind = nd->op == SN_OP_RELU ? XS_RELU : XS_RELU6;
            if (dies_at(p, reader, nd->in[0], i)) inplace = 0;
            break;
        case SN_OP_MAXPOOL: s->kind = XS_MAXPOOL; break;
        case SN_OP_AVGPOOL: s->kind = XS_AVGPOOL; break;
        case SN_OP_GAP: s->kind = XS_GAP; break;
        case SN_OP_ADD:
            s->kind = XS_ADD;
            for (int k = 0; k < nd->n_in && inplace < 0; k++)
                if (dies_at(p, reader, nd->in[k], i)) inplace = k;
            break;
        case SN_OP_CONCAT: s->kind = XS_CONCAT; break;
        default: /* an op added to the table but not here */
            sn_errf(e, "layer %d (%s): op '%s' has no C form", i, nd->name,
                    sn_op_get(nd->op)->name);
            free(reader);
            free(done);
            xs_free(p);
            return NULL;
        }
        if (s->kind == XS_CONV || s->kind == XS_DENSE ||
            s->kind == XS_AFFINE) {
            int k = sole_consumer(g, s->value);
            if (k >= 0 && (g->nodes[k].op == SN_OP_RELU ||
                           g->nodes[k].op == SN_OP_RELU6)) {
                s->act = g->nodes[k].op == SN_OP_RELU ? XS_ACT_RELU
                                                      : XS_ACT_RELU6;
                done[k] = 1;
                s->value = fused[n_fused++] = k;
            }
        }
        s->out_shape = g->nodes[s->value].out;
        if (inplace >= 0) {
            s->out_buf = p->node_buf[nd->in[inplace]];
        } else {
            s->out_buf = new_buf(p, sn_shape_size(s->out_shape), si);
        }
        /* the fused nodes (this one, a folded bn, a fused activation) all
         * name the step's output */
        for (int f = 0; f < n_fused; f++) p->node_buf[fused[f]] = s->out_buf;
    }
    p->out_buf = p->node_buf[n - 1];
    p->bufs[p->out_buf].last = p->n_steps; /* copied out at the end */
    free(reader);
    free(done);
    plan(p);
    return p;
}

void xs_free(xs_prog *p) {
    if (!p) return;
    for (int i = 0; i < p->n_steps; i++) {
        xs_step *s = &p->steps[i];
        free(s->w);
        free(s->b);
        free(s->q.w);
        free(s->q.wscale);
        free(s->q.bias);
        free(s->q.mul);
        free(s->q.shift);
        free(s->q.add);
        free(s->q.deq);
        free(s->q.inq);
    }
    free(p->steps);
    free(p->bufs);
    free(p->node_buf);
    free(p->scale);
    free(p);
}

int64_t sn_export_c_arena_bytes(const sn_graph *g, int int8, sn_error *e) {
    xs_prog *p = xs_lower(g, NULL, NULL, NULL, e);
    if (!p) return -1;
    int64_t bytes = p->arena * (int8 ? 1 : (int64_t)sizeof(float));
    xs_free(p);
    return bytes;
}
