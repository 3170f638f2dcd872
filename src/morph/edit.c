/* edit.c — an editable copy of a graph's node list, rebuilt into a graph
 * once an operator has finished rearranging it, plus the small graph
 * queries the operators share.
 *
 * Operators never modify a graph in place: they copy the parent's nodes,
 * insert/delete/rewire, and rebuild through sn_graph_add, which re-infers
 * every shape. The rebuild is the only place a child comes from, so the
 * child is valid by construction or the operator does not apply. */
#include "morph_internal.h"

#include <stdlib.h>
#include <string.h>

void ed_init(medit *ed, const sn_graph *g) {
    ed->n = g->n_nodes;
    ed->cap = g->n_nodes + 16;
    ed->nodes = sn_xmalloc(sizeof *ed->nodes * (size_t)ed->cap);
    ed->origin = sn_xmalloc(sizeof *ed->origin * (size_t)ed->cap);
    memcpy(ed->nodes, g->nodes, sizeof *ed->nodes * (size_t)g->n_nodes);
    for (int i = 0; i < ed->n; i++) ed->origin[i] = i;
}

void ed_free(medit *ed) {
    free(ed->nodes);
    free(ed->origin);
    memset(ed, 0, sizeof *ed);
}

void ed_fresh_name(const medit *ed, const char *prefix, char *out) {
    /* Smallest free number, so names stay short and readable ("conv7").
     * One pass marks the numbers the names already take: "<prefix>K"
     * with K written as %d writes it (no sign, no leading zero). The
     * answer is at most n + 1, so larger numbers need no mark. */
    int lim = ed->n + 1;
    unsigned char small[256];
    unsigned char *used = lim < (int)sizeof small
                              ? small
                              : sn_xmalloc((size_t)lim + 1);
    memset(used, 0, (size_t)lim + 1);
    size_t pl = strnlen(prefix, SN_NAME_LEN - 12);
    for (int i = 0; i < ed->n; i++) {
        const char *s = ed->nodes[i].name;
        if (strncmp(s, prefix, pl) != 0) continue;
        s += pl;
        if (*s < '1' || *s > '9') continue;
        long k = 0;
        for (; *s >= '0' && *s <= '9' && k <= lim; s++) k = 10 * k + (*s - '0');
        if (*s == 0 && k <= lim) used[k] = 1;
    }
    int k = 1;
    while (used[k]) k++;
    if (used != small) free(used);
    snprintf(out, SN_NAME_LEN, "%.*s%d", SN_NAME_LEN - 12, prefix, k);
}

int ed_insert(medit *ed, int at, sn_op_kind op, const sn_attr *a,
              const int *in, int n_in, const char *prefix) {
    SN_ASSERT(at >= 1 && at <= ed->n && n_in >= 1 && n_in <= SN_MAX_IN);
    if (ed->n == ed->cap) {
        ed->cap *= 2;
        ed->nodes = sn_xrealloc(ed->nodes, sizeof *ed->nodes * (size_t)ed->cap);
        ed->origin =
            sn_xrealloc(ed->origin, sizeof *ed->origin * (size_t)ed->cap);
    }
    for (int i = at; i < ed->n; i++)
        for (int k = 0; k < ed->nodes[i].n_in; k++)
            if (ed->nodes[i].in[k] >= at) ed->nodes[i].in[k]++;
    memmove(ed->nodes + at + 1, ed->nodes + at,
            sizeof *ed->nodes * (size_t)(ed->n - at));
    memmove(ed->origin + at + 1, ed->origin + at,
            sizeof *ed->origin * (size_t)(ed->n - at));
    ed->n++;
    sn_node *nd = &ed->nodes[at];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->attr = a ? *a : sn_attr_default(op);
    nd->n_in = n_in;
    for (int k = 0; k < n_in; k++) {
        SN_ASSERT(in[k] < at);
        nd->in[k] = in[k];
    }
    ed->origin[at] = -1;
    /* The name is picked after the node exists, so it is unique among all
     * nodes including this one's placeholder (empty) name. */
    char name[SN_NAME_LEN];
    ed_fresh_name(ed, prefix, name);
    memcpy(nd->name, name, SN_NAME_LEN);
    return at;
}

void ed_redirect(medit *ed, int from, int to, int first) {
    for (int i = first; i < ed->n; i++)
        for (int k = 0; k < ed->nodes[i].n_in; k++)
            if (ed->nodes[i].in[k] == from) ed->nodes[i].in[k] = to;
}

void ed_delete(medit *ed, int i, int repl) {
    SN_ASSERT(i > 0 && i < ed->n && repl < i);
    for (int j = i + 1; j < ed->n; j++)
        for (int k = 0; k < ed->nodes[j].n_in; k++) {
            int *r = &ed->nodes[j].in[k];
            if (*r == i) {
                SN_ASSERT(repl >= 0);
                *r = repl;
            } else if (*r > i) {
                (*r)--;
            }
        }
    memmove(ed->nodes + i, ed->nodes + i + 1,
            sizeof *ed->nodes * (size_t)(ed->n - i - 1));
    memmove(ed->origin + i, ed->origin + i + 1,
            sizeof *ed->origin * (size_t)(ed->n - i - 1));
    ed->n--;
}

void ed_drop_input(medit *ed, int i, int k) {
    sn_node *nd = &ed->nodes[i];
    SN_ASSERT(k >= 0 && k < nd->n_in);
    memmove(nd->in + k, nd->in + k + 1, sizeof *nd->in * (size_t)(nd->n_in - k - 1));
    nd->n_in--;
}

void ed_dce(medit *ed) {
    for (int i = ed->n - 2; i > 0; i--) {
        int read = 0;
        for (int j = i + 1; j < ed->n && !read; j++)
            for (int k = 0; k < ed->nodes[j].n_in; k++)
                if (ed->nodes[j].in[k] == i) read = 1;
        /* Deleting i can only make nodes before it unread, and the loop
         * walks downwards, so one pass finds every dead node. */
        if (!read) ed_delete(ed, i, -1);
    }
}

sn_graph *ed_build(const medit *ed, const sn_graph *g, sn_error *e) {
    sn_graph *c = sn_graph_new(g->name, g->input, g->classes);
    for (int i = 1; i < ed->n; i++) {
        const sn_node *nd = &ed->nodes[i];
        int r = sn_graph_add(c, nd->op, &nd->attr, nd->in, nd->n_in, nd->name,
                             e);
        if (r != i) {
            if (r >= 0) sn_errf(e, "internal: node %s landed at %d", nd->name, r);
            sn_graph_free(c);
            return NULL;
        }
    }
    if (sn_graph_validate(c, e) < 0) {
        sn_graph_free(c);
        return NULL;
    }
    return c;
}

/* ---- queries ------------------------------------------------------------ */

int mg_consumers(const sn_graph *g, int i, int *out, int max) {
    int n = 0;
    for (int j = i + 1; j < g->n_nodes; j++) {
        const sn_node *nd = &g->nodes[j];
        for (int k = 0; k < nd->n_in; k++)
            if (nd->in[k] == i) {
                if (out && n < max) out[n] = j;
                n++;
                break;
            }
    }
    return n;
}

sn_shape mg_in_shape(const sn_graph *g, int i) {
    SN_ASSERT(i > 0 && g->nodes[i].n_in > 0);
    return g->nodes[g->nodes[i].in[0]].out;
}

int mg_is_depthwise(const sn_graph *g, int i) {
    const sn_node *nd = &g->nodes[i];
    if (i == 0 || nd->op != SN_OP_CONV) return 0;
    int cin = mg_in_shape(g, i).c;
    return nd->attr.groups == cin && cin > 1;
}

int mg_is_full(const sn_graph *g, int i) {
    const sn_node *nd = &g->nodes[i];
    if (i == 0) return 0;
    return nd->op == SN_OP_DENSE ||
           (nd->op == SN_OP_CONV && nd->attr.groups == 1);
}

int mg_is_spatial(const sn_graph *g, int i) {
    return (int64_t)g->nodes[i].out.h * g->nodes[i].out.w > 1;
}

void mg_nonneg(const sn_graph *g, int *nn) {
    for (int i = 0; i < g->n_nodes; i++) {
        const sn_node *nd = &g->nodes[i];
        nn[i] = 0;
        switch (nd->op) {
        case SN_OP_RELU:
        case SN_OP_RELU6:
            nn[i] = 1;
            break;
        case SN_OP_MAXPOOL: /* max over a window (padding never wins) */
        case SN_OP_AVGPOOL:
        case SN_OP_GAP:
        case SN_OP_DROPOUT:
        case SN_OP_FLATTEN:
        case SN_OP_ADD:
        case SN_OP_CONCAT:
            nn[i] = 1;
            for (int k = 0; k < nd->n_in; k++) nn[i] &= nn[nd->in[k]];
            break;
        default:
            break;
        }
    }
}

int mg_readers_all_relu(const sn_graph *g, int i) {
    int c[SN_MAX_IN * 4];
    int n = mg_consumers(g, i, c, (int)(sizeof c / sizeof *c));
    if (n == 0 || n > (int)(sizeof c / sizeof *c)) return 0;
    for (int k = 0; k < n; k++) {
        sn_op_kind op = g->nodes[c[k]].op;
        if (op != SN_OP_RELU && op != SN_OP_RELU6) return 0;
    }
    return 1;
}

int mg_same_tensors(const sn_weights *w, int a, const sn_weights *w2, int b) {
    if (w->n_tensors[a] != w2->n_tensors[b]) return 0;
    for (int t = 0; t < w->n_tensors[a]; t++) {
        const sn_tensor_desc *x = &w->desc[a][t], *y = &w2->desc[b][t];
        if (x->ndim != y->ndim || x->trainable != y->trainable) return 0;
        for (int d = 0; d < x->ndim; d++)
            if (x->dims[d] != y->dims[d]) return 0;
    }
    return 1;
}

void mg_copy_tensors(const sn_weights *w, int a, sn_weights *w2, int b) {
    SN_ASSERT(mg_same_tensors(w, a, w2, b));
    for (int t = 0; t < w->n_tensors[a]; t++)
        memcpy(sn_weights_tensor(w2, b, t), sn_weights_tensor(w, a, t),
               sizeof(float) * (size_t)sn_tensor_desc_size(&w->desc[a][t]));
}

int mg_node_ref(const sn_graph *g, const char *s) {
    if (!s || !*s) return -1;
    int i = sn_graph_find(g, s);
    if (i >= 0) return i;
    long v;
    if (sn_parse_long(s, 0, g->n_nodes - 1, &v)) return -1;
    return (int)v;
}

/* ---- plans and candidate lists ------------------------------------------ */

void plan_free(mplan *p) {
    if (p->child) sn_graph_free(p->child);
    free(p->origin);
    if (p->has_chan) chan_free(&p->ch);
    memset(p, 0, sizeof *p);
}

/* The child for prediction: ed's nodes with shapes from each op's rule
 * (the checks sn_graph_add makes on shapes, without the name scans). */
static sn_graph *ed_build_light(const medit *ed, const sn_graph *g,
                                sn_error *e) {
    sn_graph *c = sn_graph_clone(g);
    free(c->nodes);
    c->nodes = sn_xmalloc(sizeof *c->nodes * (size_t)ed->n);
    memcpy(c->nodes, ed->nodes, sizeof *c->nodes * (size_t)ed->n);
    c->n_nodes = c->cap = ed->n;
    c->nodes[0].out = g->input;
    for (int i = 1; i < c->n_nodes; i++) {
        sn_node *nd = &c->nodes[i];
        const sn_op_desc *op = sn_op_get(nd->op);
        sn_shape in[SN_MAX_IN];
        int bad = nd->n_in < op->min_inputs || nd->n_in > op->max_inputs;
        for (int k = 0; k < nd->n_in && !bad; k++) {
            bad = nd->in[k] < 0 || nd->in[k] >= i;
            if (!bad) in[k] = c->nodes[nd->in[k]].out;
        }
        if (bad) {
            sn_errf(e, "layer %d (%s): bad inputs", i, nd->name);
        } else if (op->infer(&nd->attr, in, nd->n_in, &nd->out, e) != 0) {
            sn_err_prefix(e, "layer %d (%s): ", i, nd->name);
            bad = 1;
        } else if (nd->out.c < 1 || nd->out.h < 1 || nd->out.w < 1) {
            sn_errf(e, "layer %d (%s): empty output", i, nd->name);
            bad = 1;
        }
        if (bad) {
            sn_graph_free(c);
            return NULL;
        }
    }
    sn_shape o = c->nodes[c->n_nodes - 1].out;
    if (o.c != g->classes || o.h != 1 || o.w != 1) {
        sn_errf(e, "the output would no longer be %d classes", g->classes);
        sn_graph_free(c);
        return NULL;
    }
    return c;
}

int plan_build(mplan *p, const medit *ed, const sn_graph *g, sn_error *e) {
    p->child = p->light ? ed_build_light(ed, g, e) : ed_build(ed, g, e);
    if (!p->child) return -1;
    p->origin = sn_xmalloc(sizeof *p->origin * (size_t)ed->n);
    memcpy(p->origin, ed->origin, sizeof *p->origin * (size_t)ed->n);
    return 0;
}

void cand_push(cand_list *l, int op, int pos, int arg) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = sn_xrealloc(l->v, sizeof *l->v * (size_t)l->cap);
    }
    l->v[l->n++] = (sn_morph_op){op, pos, arg};
}
