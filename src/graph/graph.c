/* graph.c — building and checking the network DAG.
 *
 * Nodes live in one array in topological order (inputs have smaller
 * indices), node 0 is the input and the last node is the output, so every
 * pass over the network (shape inference, stats, execution) is one loop.
 * Shapes come from the op table (nn); this file adds what only a graph can
 * know: names, wiring, and the output contract. */
#include "slimnas/graph.h"

#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* A per-sample tensor or a parameter tensor bigger than this is refused:
 * it would not fit an edge device, and it keeps every size product (batch
 * times elements, dims products) far from int and int64 overflow. */
#define MAX_ELEMS ((int64_t)1 << 28)

void graph_reserve(sn_graph *g, int n) {
    if (n <= g->cap) return;
    int cap = g->cap ? g->cap : 16;
    while (cap < n) cap *= 2;
    g->nodes = sn_xrealloc(g->nodes, (size_t)cap * sizeof *g->nodes);
    g->cap = cap;
}

sn_graph *sn_graph_new(const char *name, sn_shape input, int classes) {
    sn_graph *g = sn_xcalloc(1, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name ? name : "");
    g->input = input;
    g->classes = classes;
    graph_reserve(g, 16);
    sn_node *n0 = &g->nodes[0];
    memset(n0, 0, sizeof *n0);
    snprintf(n0->name, sizeof n0->name, "input");
    n0->op = SN_OP_INPUT;
    n0->attr = sn_attr_default(SN_OP_INPUT);
    n0->out = input;
    g->n_nodes = 1;
    return g;
}

sn_graph *sn_graph_clone(const sn_graph *g) {
    sn_graph *c = sn_xcalloc(1, sizeof *c);
    *c = *g;
    c->cap = g->n_nodes > 0 ? g->n_nodes : 1;
    c->nodes = sn_xmalloc((size_t)c->cap * sizeof *c->nodes);
    memcpy(c->nodes, g->nodes, (size_t)g->n_nodes * sizeof *g->nodes);
    return c;
}

void sn_graph_free(sn_graph *g) {
    if (!g) return;
    free(g->nodes);
    free(g);
}

int sn_graph_find(const sn_graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return i;
    return -1;
}

int sn_graph_consumers(const sn_graph *g, int i, int *out, int max) {
    int count = 0;
    for (int j = i + 1; j < g->n_nodes; j++) {
        const sn_node *nd = &g->nodes[j];
        for (int k = 0; k < nd->n_in; k++) {
            if (nd->in[k] != i) continue;
            if (out && count < max) out[count] = j;
            count++;
            break; /* a node reading i twice (add(x, x)) counts once */
        }
    }
    return count;
}

int sn_graph_last_use(const sn_graph *g, int i) {
    for (int j = g->n_nodes - 1; j > i; j--) {
        const sn_node *nd = &g->nodes[j];
        for (int k = 0; k < nd->n_in; k++)
            if (nd->in[k] == i) return j;
    }
    return -1;
}

void sn_graph_last_uses(const sn_graph *g, int *last) {
    for (int i = 0; i < g->n_nodes; i++) last[i] = -1;
    for (int j = 0; j < g->n_nodes; j++)
        for (int k = 0; k < g->nodes[j].n_in; k++)
            last[g->nodes[j].in[k]] = j; /* j grows: ends at the max */
}

/* Infers node's output shape from its (already inferred) inputs and checks
 * that its tensors stay within MAX_ELEMS. Writes a bare sentence to e. */
int sn_node_infer(const sn_graph *g, const sn_node *nd, sn_shape *out,
                  sn_error *e) {
    const sn_op_desc *op = sn_op_get(nd->op);
    sn_shape in[SN_MAX_IN];
    for (int k = 0; k < nd->n_in; k++) in[k] = g->nodes[nd->in[k]].out;
    if (op->infer(&nd->attr, in, nd->n_in, out, e) != 0) return -1;
    if (out->c < 1 || out->h < 1 || out->w < 1)
        return sn_errf(e, "output shape %dx%dx%d (HxWxC) is empty", out->h,
                       out->w, out->c);
    if (sn_shape_size(*out) > MAX_ELEMS)
        return sn_errf(e, "output %dx%dx%d (HxWxC) is too large", out->h,
                       out->w, out->c);
    sn_tensor_desc t[SN_MAX_TENSORS];
    int nt = op->tensors(&nd->attr, in, nd->n_in, t);
    for (int i = 0; i < nt; i++)
        if (sn_tensor_desc_size(&t[i]) > MAX_ELEMS)
            return sn_errf(e, "its %s tensor is too large", t[i].name);
    return 0;
}

/* Fresh name "<op><k>" with k one more than the nodes of that op so far,
 * bumped until unique (names from JSON may already use it). An op name
 * ending in a digit gets a '_' ("relu6_2", not "relu62"). */
static void fresh_name(const sn_graph *g, sn_op_kind op, char *buf,
                       size_t n) {
    int k = 1;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == op) k++;
    const char *base = sn_op_get(op)->name;
    size_t len = strlen(base);
    const char *sep = len && base[len - 1] >= '0' && base[len - 1] <= '9'
                          ? "_" : "";
    for (;; k++) {
        snprintf(buf, n, "%s%s%d", base, sep, k);
        if (sn_graph_find(g, buf) < 0) return;
    }
}

int sn_graph_add(sn_graph *g, sn_op_kind op, const sn_attr *a,
                 const int *in, int n_in, const char *name, sn_error *e) {
    if ((int)op <= SN_OP_INPUT || op >= SN_OP_COUNT)
        return sn_errf(e, "op %d cannot be added to a graph", (int)op);
    const sn_op_desc *d = sn_op_get(op);
    if (n_in < d->min_inputs || n_in > d->max_inputs || n_in > SN_MAX_IN) {
        if (d->min_inputs == d->max_inputs)
            return sn_errf(e, "%s takes %d input%s, got %d", d->name,
                           d->min_inputs, d->min_inputs == 1 ? "" : "s",
                           n_in);
        return sn_errf(e, "%s takes %d to %d inputs, got %d", d->name,
                       d->min_inputs,
                       d->max_inputs < SN_MAX_IN ? d->max_inputs : SN_MAX_IN,
                       n_in);
    }
    for (int k = 0; k < n_in; k++)
        if (in[k] < 0 || in[k] >= g->n_nodes)
            return sn_errf(e, "input %d is not an existing node", in[k]);
    sn_node nd;
    memset(&nd, 0, sizeof nd);
    if (name && name[0]) {
        if (strlen(name) >= SN_NAME_LEN)
            return sn_errf(e, "name '%.20s...' is longer than %d bytes", name,
                           SN_NAME_LEN - 1);
        if (sn_graph_find(g, name) >= 0)
            return sn_errf(e, "name '%s' is already used", name);
        memcpy(nd.name, name, strlen(name) + 1); /* fits: checked above */
    } else {
        fresh_name(g, op, nd.name, sizeof nd.name);
    }
    nd.op = op;
    nd.attr = a ? *a : sn_attr_default(op);
    nd.n_in = n_in;
    memcpy(nd.in, in, (size_t)n_in * sizeof *in);
    if (sn_node_infer(g, &nd, &nd.out, e) != 0) return -1;
    graph_reserve(g, g->n_nodes + 1);
    g->nodes[g->n_nodes] = nd;
    return g->n_nodes++;
}

static int layer_err(sn_error *e, const sn_graph *g, int i, const char *msg) {
    char copy[sizeof e->msg];
    snprintf(copy, sizeof copy, "%s", msg);
    return sn_errf(e, "layer %d (%s): %s", i, g->nodes[i].name, copy);
}

int sn_graph_validate(sn_graph *g, sn_error *e) {
    sn_error sub;
    if (g->n_nodes < 2) return sn_errf(e, "the graph has no layers");
    if (g->classes < 1) return sn_errf(e, "classes must be at least 1");
    if (g->input.c < 1 || g->input.h < 1 || g->input.w < 1 ||
        sn_shape_size(g->input) > MAX_ELEMS)
        return sn_errf(e, "bad input shape %dx%dx%d (HxWxC)", g->input.h,
                       g->input.w, g->input.c);
    sn_node *n0 = &g->nodes[0];
    if (n0->op != SN_OP_INPUT || n0->n_in != 0)
        return sn_errf(e, "node 0 must be the input");
    n0->out = g->input;
    for (int i = 1; i < g->n_nodes; i++) {
        sn_node *nd = &g->nodes[i];
        if ((int)nd->op <= SN_OP_INPUT || nd->op >= SN_OP_COUNT)
            return layer_err(e, g, i, "bad op");
        if (!nd->name[0] || memchr(nd->name, 0, SN_NAME_LEN) == NULL)
            return sn_errf(e, "layer %d has no name", i);
        for (int j = 0; j < i; j++)
            if (strcmp(g->nodes[j].name, nd->name) == 0) {
                snprintf(sub.msg, sizeof sub.msg,
                         "duplicate name (also layer %d)", j);
                return layer_err(e, g, i, sub.msg);
            }
        const sn_op_desc *d = sn_op_get(nd->op);
        if (nd->n_in < d->min_inputs || nd->n_in > d->max_inputs ||
            nd->n_in > SN_MAX_IN) {
            snprintf(sub.msg, sizeof sub.msg, "%s cannot take %d inputs",
                     d->name, nd->n_in);
            return layer_err(e, g, i, sub.msg);
        }
        for (int k = 0; k < nd->n_in; k++)
            if (nd->in[k] < 0 || nd->in[k] >= i) {
                snprintf(sub.msg, sizeof sub.msg,
                         "input %d is not an earlier layer", nd->in[k]);
                return layer_err(e, g, i, sub.msg);
            }
        if (sn_node_infer(g, nd, &nd->out, &sub) != 0)
            return layer_err(e, g, i, sub.msg);
    }
    int *reader = sn_xmalloc((size_t)g->n_nodes * sizeof *reader);
    sn_graph_last_uses(g, reader);
    for (int i = 0; i < g->n_nodes - 1; i++)
        if (reader[i] < 0) {
            free(reader);
            return layer_err(e, g, i,
                             "its output is not used by any layer (only the "
                             "last layer, the output, may be unused)");
        }
    free(reader);
    int last = g->n_nodes - 1;
    sn_shape o = g->nodes[last].out;
    if (o.c != g->classes || o.h != 1 || o.w != 1) {
        snprintf(sub.msg, sizeof sub.msg,
                 "the output must have shape 1x1x%d (HxWxC, one logit per "
                 "class), got %dx%dx%d",
                 g->classes, o.h, o.w, o.c);
        return layer_err(e, g, last, sub.msg);
    }
    return 0;
}
