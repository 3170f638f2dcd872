/* morph.c — the operator table and what every operator shares: listing
 * the applicable morphisms with their predicted size, applying one
 * (graph, then weights: copy what is unchanged, move what the channel maps
 * say, then the operator's own initialisation), and parsing
 * "OP:POSITION:ARG". */
#include "morph_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const morph_def *const table[] = {
    [SN_MORPH_DEEPER] = &morph_deeper,
    [SN_MORPH_DEEPER_DENSE] = &morph_deeper_dense,
    [SN_MORPH_DEEPER_MBV2] = &morph_deeper_mbv2,
    [SN_MORPH_WIDER] = &morph_wider,
    [SN_MORPH_ADD_SKIP] = &morph_add_skip,
    [SN_MORPH_CONCAT_SKIP] = &morph_concat_skip,
    [SN_MORPH_SEPARABLE] = &morph_separable,
    [SN_MORPH_PRUNE] = &morph_prune,
    [SN_MORPH_REMOVE] = &morph_remove,
    [SN_MORPH_REMOVE_SKIP] = &morph_remove_skip,
    [SN_MORPH_NARROW_KERNEL] = &morph_narrow_kernel,
};
_Static_assert(sizeof table / sizeof *table == SN_MORPH_COUNT,
               "one table entry per sn_morph_id");

const sn_morph_info *sn_morph_get(sn_morph_id id) {
    SN_ASSERT(id >= 0 && id < SN_MORPH_COUNT && table[id]);
    return &table[id]->info;
}

int sn_morph_from_name(const char *name) {
    for (int i = 0; i < SN_MORPH_COUNT; i++)
        if (!strcmp(table[i]->info.name, name)) return i;
    return -1;
}

static int op_ok(sn_morph_op op, sn_error *e) {
    if (op.op < 0 || op.op >= SN_MORPH_COUNT)
        return sn_errf(e, "unknown morphism operator %d", op.op);
    return 0;
}

/* light: for prediction only (see plan_build); a child without weights
 * (sn_morph_child) is built in full. */
static int build(const sn_graph *g, const sn_weights *w, sn_morph_op op,
                 uint64_t seed, int light, mplan *p, sn_error *e) {
    memset(p, 0, sizeof *p);
    p->light = light;
    if (op_ok(op, e) < 0) return -1;
    if (table[op.op]->build(g, w, op, seed, p, e) < 0) {
        plan_free(p);
        return -1;
    }
    return 0;
}

int sn_morph_predict(const sn_graph *g, sn_morph_op op, sn_morph_cand *pred,
                     sn_error *e) {
    mplan p;
    if (build(g, NULL, op, 0, 1, &p, e) < 0) return -1;
    sn_stats s;
    int r = sn_stats_compute(p.child, SN_FLOPS_MACS, &s);
    if (r < 0) {
        plan_free(&p);
        return sn_errf(e, "internal: no stats for the child");
    }
    pred->op = op;
    pred->params = s.params;
    pred->flops = s.flops;
    pred->peak_bytes = s.peak_bytes;
    sn_stats_free(&s);
    plan_free(&p);
    return 0;
}

static void list_candidates(const sn_graph *g, int id, cand_list *l) {
    table[id]->candidates(g, id, l);
}

int sn_morph_enumerate(const sn_graph *g, sn_morph_cand **out, sn_error *e) {
    *out = NULL;
    sn_graph *chk = sn_graph_clone(g);
    int ok = sn_graph_validate(chk, e);
    sn_graph_free(chk);
    if (ok < 0) return -1;
    cand_list l = {0};
    for (int id = 0; id < SN_MORPH_COUNT; id++) list_candidates(g, id, &l);
    sn_morph_cand *c = l.n ? sn_xmalloc(sizeof *c * (size_t)l.n) : NULL;
    int n = 0;
    for (int i = 0; i < l.n; i++)
        if (sn_morph_predict(g, l.v[i], &c[n], NULL) == 0) n++;
    free(l.v);
    if (n == 0) {
        free(c);
        c = NULL;
    }
    *out = c;
    return n;
}

/* The tensors w holds for each node must be those g's layers need. */
static int weights_match(const sn_graph *g, const sn_weights *w,
                         sn_error *e) {
    if (w->n_nodes != g->n_nodes)
        return sn_errf(e, "weights are for %d layers, the graph has %d",
                       w->n_nodes, g->n_nodes);
    for (int i = 1; i < g->n_nodes; i++) {
        const sn_node *nd = &g->nodes[i];
        sn_shape in[SN_MAX_IN];
        for (int k = 0; k < nd->n_in; k++) in[k] = g->nodes[nd->in[k]].out;
        sn_tensor_desc t[SN_MAX_TENSORS];
        const sn_op_desc *od = sn_op_get(nd->op);
        int nt = od->tensors ? od->tensors(&nd->attr, in, nd->n_in, t) : 0;
        int bad = nt != w->n_tensors[i];
        for (int k = 0; k < nt && !bad; k++) {
            bad |= t[k].ndim != w->desc[i][k].ndim;
            for (int d = 0; d < t[k].ndim && !bad; d++)
                bad |= t[k].dims[d] != w->desc[i][k].dims[d];
        }
        if (bad)
            return sn_errf(e, "weights do not match layer %d (%s)", i,
                           nd->name);
    }
    return 0;
}

int sn_morph_apply(const sn_graph *g, const sn_weights *w, sn_morph_op op,
                   uint64_t seed, sn_graph **child, sn_weights **child_w,
                   char *desc, sn_error *e) {
    *child = NULL;
    *child_w = NULL;
    if (op_ok(op, e) < 0 || weights_match(g, w, e) < 0) return -1;
    mplan p;
    if (build(g, w, op, seed, 0, &p, e) < 0) return -1;
    sn_graph *c = p.child;
    sn_weights *cw = sn_weights_new(c);
    cw->info = w->info; /* same input, same normalisation and classes */
    /* Fresh layers and fresh channels start from the usual initialisation;
     * everything inherited is overwritten below. */
    sn_weights_init(cw, c, seed ^ 0x6d6f727068ULL);
    for (int k = 1; k < c->n_nodes; k++) {
        int o = p.origin[k];
        if (o < 0 || (p.has_chan && chan_changed(&p.ch, o))) continue;
        if (mg_same_tensors(w, o, cw, k)) mg_copy_tensors(w, o, cw, k);
    }
    if (p.has_chan)
        chan_transfer(&p.ch, w, c, p.origin, cw, p.noise, seed);
    table[op.op]->init(g, w, op, &p, cw);
    if (desc) sn_morph_describe(g, op, desc, SN_MORPH_DESC_LEN);
    p.child = NULL;
    plan_free(&p);
    *child = c;
    *child_w = cw;
    return 0;
}

int sn_morph_child(const sn_graph *g, sn_morph_op op, sn_graph **child,
                   sn_error *e) {
    *child = NULL;
    mplan p;
    if (build(g, NULL, op, 0, 0, &p, e) < 0) return -1;
    *child = p.child;
    p.child = NULL;
    plan_free(&p);
    return 0;
}

void sn_morph_describe(const sn_graph *g, sn_morph_op op, char *desc,
                       size_t len) {
    if (op.op < 0 || op.op >= SN_MORPH_COUNT || op.pos <= 0 ||
        op.pos >= g->n_nodes) {
        snprintf(desc, len, "invalid morphism");
        return;
    }
    if (table[op.op]->info.arg == SN_MORPH_ARG_NODE &&
        (op.arg <= 0 || op.arg >= g->n_nodes)) {
        snprintf(desc, len, "%s %s -> ?", table[op.op]->info.name,
                 g->nodes[op.pos].name);
        return;
    }
    table[op.op]->describe(g, op, desc, len);
}

/* ---- parsing -------------------------------------------------------------- */

static int parse_int(const char *s, int *v) {
    long x;
    if (sn_parse_long(s, -1000000, 1000000, &x)) return -1;
    *v = (int)x;
    return 0;
}

int sn_morph_parse(const sn_graph *g, const char *spec, uint64_t seed,
                   sn_morph_op *op, sn_error *e) {
    char buf[256];
    if (strlen(spec) >= sizeof buf) return sn_errf(e, "morphism too long");
    strcpy(buf, spec);
    char *field[3] = {buf, NULL, NULL};
    int nf = 1;
    for (char *s = buf; *s; s++)
        if (*s == ':') {
            if (nf == 3)
                return sn_errf(e, "'%s': expected OP[:POSITION[:ARG]]", spec);
            *s = 0;
            field[nf++] = s + 1;
        }
    int id = sn_morph_from_name(field[0]);
    if (id < 0) {
        char names[512] = "";
        for (int i = 0; i < SN_MORPH_COUNT; i++) {
            strncat(names, table[i]->info.name, sizeof names - strlen(names) - 1);
            if (i + 1 < SN_MORPH_COUNT)
                strncat(names, ", ", sizeof names - strlen(names) - 1);
        }
        return sn_errf(e, "unknown operator '%s' (operators: %s)", field[0],
                       names);
    }
    const sn_morph_info *info = &table[id]->info;
    int pos = -1, arg = 0, have_arg = info->arg == SN_MORPH_ARG_NONE;
    if (nf >= 2 && *field[1]) {
        pos = mg_node_ref(g, field[1]);
        if (pos < 0)
            return sn_errf(e, "%s: no layer '%s' in the graph", info->name,
                           field[1]);
    }
    if (nf == 3) {
        if (info->arg == SN_MORPH_ARG_NONE)
            return sn_errf(e, "%s takes no argument (usage: %s)", info->name,
                           info->usage);
        if (info->arg == SN_MORPH_ARG_NODE) {
            arg = mg_node_ref(g, field[2]);
            if (arg < 0)
                return sn_errf(e, "%s: no layer '%s' in the graph",
                               info->name, field[2]);
        } else if (parse_int(field[2], &arg) < 0) {
            return sn_errf(e, "%s: '%s' is not a number (usage: %s)",
                           info->name, field[2], info->usage);
        }
        have_arg = 1;
    }
    if (pos >= 0 && have_arg) {
        *op = (sn_morph_op){id, pos, arg};
        sn_morph_cand c;
        return sn_morph_predict(g, *op, &c, e);
    }
    /* Fill in what is missing from the applicable morphisms. */
    cand_list l = {0};
    list_candidates(g, id, &l);
    int n = 0, any_at_pos = 0, first_arg = 0;
    for (int i = 0; i < l.n; i++) {
        sn_morph_cand c;
        sn_morph_op t = l.v[i];
        if (pos >= 0 && t.pos != pos) continue;
        if (pos >= 0 && !any_at_pos++) first_arg = t.arg;
        if (have_arg) {
            /* A given argument is tried once at each listed position
             * (it need not be one of the values enumerate offers). */
            if (i > 0 && l.v[i - 1].pos == t.pos) continue;
            t.arg = arg;
        }
        if (sn_morph_predict(g, t, &c, NULL) == 0) l.v[n++] = t;
    }
    free(n ? NULL : l.v);
    if (n == 0 && pos < 0 && have_arg && info->arg != SN_MORPH_ARG_NONE)
        return sn_errf(e, "%s applies nowhere in this graph with argument "
                       "%s (usage: %s)", info->name, field[2], info->usage);
    if (n == 0 && pos < 0)
        return sn_errf(e, "%s applies nowhere in this graph", info->name);
    if (n == 0) {
        if (info->arg == SN_MORPH_ARG_NODE && !have_arg && !any_at_pos)
            return sn_errf(e, "%s: no later block output (relu, add, "
                           "concat, pool) of %s's size or smaller can take a "
                           "skip from it", info->name, g->nodes[pos].name);
        /* The operator's own check says why (its argument is tested last,
         * so a placeholder argument does not mask the real reason). */
        sn_morph_cand c;
        sn_morph_op t = {id, pos, have_arg ? arg : first_arg};
        if (sn_morph_predict(g, t, &c, e) < 0) return -1;
        return sn_errf(e, "%s does not apply at %s (usage: %s)", info->name,
                       g->nodes[pos].name, info->usage);
    }
    sn_rng r;
    sn_rng_seed(&r, seed);
    *op = l.v[sn_rng_int(&r, n)];
    free(l.v);
    return 0;
}
