/* strategy.c — where the next candidate comes from.
 *
 *   random     a random morph of a uniformly drawn done candidate
 *   evolution  LEMONADE-style: a parent drawn from the front with
 *              probability inversely proportional to a kernel density
 *              estimate over log10 size(s) of the front (sparse regions
 *              first); 8 random children, one kept with probability
 *              inversely proportional to the same density at its size
 *   bo         AutoKeras-style: a GP over graphs (edit-distance kernel)
 *              predicts accuracy; the acquisition is the expected
 *              improvement of the front's hypervolume at the child's exact
 *              size; it is maximised by simulated annealing over morph
 *              sequences from the front members above the reference
 *              accuracy (all of the front while none is; chains of up to
 *              2 morphs; temperature 1, x0.9 per pop,
 *              down to 1e-4; up to 8 children from 16 tries per
 *              expansion; duplicates at distance < 1e-5 dropped)
 * Every draw of an operator follows the settings' rates (or the pinned
 * operator), among the morphs whose child satisfies the hard limits. */
#include "search_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KERNEL_LAMBDA 1.0 /* D_l + lambda D_s, as AutoKeras 0.3-0.4 */

/* Draws from an enumerated list: an operator with probability by its
 * rate among those with a feasible morph, then one of its feasible
 * morphs uniformly. 1, or 0 when none is feasible. */
static int draw_from(const sn_search *se, const sn_morph_cand *list, int n,
                     sn_rng *r, sn_morph_cand *out) {
    int count[SN_MORPH_COUNT] = {0};
    for (int i = 0; i < n; i++) {
        const sn_morph_cand *c = &list[i];
        if ((unsigned)c->op.op < SN_MORPH_COUNT &&
            sn_settings_fits(&se->s, c->params, c->flops, c->peak_bytes))
            count[c->op.op]++;
    }
    double w[SN_MORPH_COUNT], total = 0;
    for (int k = 0; k < SN_MORPH_COUNT; k++) {
        double rate = se->s.pinned >= 0 ? (k == se->s.pinned) : se->s.rates[k];
        w[k] = count[k] > 0 ? rate : 0;
        total += w[k];
    }
    if (total <= 0) return 0;
    double u = sn_rng_uniform(r) * total;
    int op = 0;
    for (op = 0; op < SN_MORPH_COUNT - 1; op++) {
        if (u < w[op] && w[op] > 0) break;
        u -= w[op];
    }
    while (w[op] <= 0) op--; /* rounding at the top end */
    int pick = sn_rng_int(r, count[op]);
    for (int i = 0; i < n; i++) {
        const sn_morph_cand *c = &list[i];
        if (c->op.op != op ||
            !sn_settings_fits(&se->s, c->params, c->flops, c->peak_bytes))
            continue;
        if (pick-- == 0) {
            *out = *c;
            return 1;
        }
    }
    return 0;
}

int strategy_draw(const sn_search *se, const sn_graph *g, sn_rng *r,
                  sn_morph_cand *out) {
    sn_morph_cand *list = NULL;
    sn_error e;
    int n = sn_morph_enumerate(g, &list, &e);
    int ok = n > 0 && draw_from(se, list, n, r, out);
    free(list);
    return ok;
}

static int done_ids(const sn_search *se, int *ids) {
    int m = 0;
    for (int i = 0; i < se->n; i++)
        if (se->c[i].info.status == SN_CAND_DONE) ids[m++] = i;
    return m;
}

static int propose_random(sn_search *se, sn_rng *r, proposal *p) {
    int *ids = sn_xmalloc(((size_t)se->n + 1) * sizeof *ids);
    int m = done_ids(se, ids);
    int ok = 0;
    for (int t = 0; t < 32 && m > 0 && !ok; t++) {
        int parent = ids[sn_rng_int(r, m)];
        sn_morph_cand c;
        if (strategy_draw(se, se->c[parent].graph, r, &c)) {
            p->parent = parent;
            p->n_ops = 1;
            p->ops[0] = c.op;
            ok = 1;
        }
    }
    /* Last resort: every done candidate in order (a tight limit may leave
     * feasible morphs on few of them). */
    for (int i = 0; i < m && !ok; i++) {
        sn_morph_cand c;
        if (strategy_draw(se, se->c[ids[i]].graph, r, &c)) {
            p->parent = ids[i];
            p->n_ops = 1;
            p->ops[0] = c.op;
            ok = 1;
        }
    }
    free(ids);
    return ok;
}

/* ---- evolution --------------------------------------------------------- */

typedef struct kde {
    int n, dim;
    double *pts; /* [n][dim] log10 sizes */
    double h;
} kde;

static void log_sizes(const sn_search *se, int64_t params, int64_t flops,
                      int64_t memory, double *out) {
    for (int k = 0; k < se->s.n_obj; k++) {
        int m = se->s.obj[k];
        double v = (double)(m == SN_OBJ_PARAMS ? params
                            : m == SN_OBJ_FLOPS ? flops
                                                : memory);
        out[k] = log10(v > 1 ? v : 1);
    }
}

static double kde_density(const kde *k, const double *x) {
    /* dim never exceeds SN_SEARCH_MAX_OBJ; saying so lets gcc see that a
     * point of that many coordinates is fully read (its maybe-uninitialized
     * warning fired under some -march inlining decisions). */
    int dim = k->dim < SN_SEARCH_MAX_OBJ ? k->dim : SN_SEARCH_MAX_OBJ;
    double s = 0;
    for (int i = 0; i < k->n; i++) {
        double d2 = 0;
        for (int j = 0; j < dim; j++) {
            double t = x[j] - k->pts[i * k->dim + j];
            d2 += t * t;
        }
        s += exp(-d2 / (2 * k->h * k->h));
    }
    return s / (k->n > 0 ? k->n : 1) + 1e-12;
}

static int pick_inverse(sn_rng *r, const double *dens, int n) {
    double total = 0;
    for (int i = 0; i < n; i++) total += 1 / dens[i];
    double u = sn_rng_uniform(r) * total;
    for (int i = 0; i < n; i++) {
        u -= 1 / dens[i];
        if (u < 0) return i;
    }
    return n - 1;
}

static int propose_evolution(sn_search *se, sn_rng *r, proposal *p) {
    int nf = se->n_front;
    if (nf == 0) return propose_random(se, r, p);
    int dim = se->s.n_obj;
    kde k = {nf, dim, sn_xmalloc((size_t)nf * dim * sizeof(double)), 0.1};
    double sd = 0;
    for (int i = 0; i < nf; i++) {
        const sn_cand_info *c = &se->c[se->front[i]].info;
        log_sizes(se, c->params, c->flops, c->memory, &k.pts[i * dim]);
    }
    for (int j = 0; j < dim; j++) {
        double mean = 0, var = 0;
        for (int i = 0; i < nf; i++) mean += k.pts[i * dim + j];
        mean /= nf;
        for (int i = 0; i < nf; i++)
            var += (k.pts[i * dim + j] - mean) * (k.pts[i * dim + j] - mean);
        sd = fmax(sd, sqrt(var / nf));
    }
    /* Scott's rule, at least 0.1 decade so a front of near-equal sizes
     * still has a smooth density. */
    k.h = fmax(0.1, 1.06 * sd * pow(nf, -0.2));
    double *dens = sn_xmalloc((size_t)nf * sizeof *dens);
    for (int i = 0; i < nf; i++) dens[i] = kde_density(&k, &k.pts[i * dim]);
    int ok = 0;
    for (int t = 0; t < 2 * nf + 4 && !ok; t++) {
        int parent = se->front[pick_inverse(r, dens, nf)];
        sn_morph_cand kids[8], *list = NULL;
        double kd[8];
        int nk = 0;
        sn_error e;
        int nl = sn_morph_enumerate(se->c[parent].graph, &list, &e);
        for (int tries = 0; tries < 16 && nk < 8 && nl > 0; tries++) {
            if (!draw_from(se, list, nl, r, &kids[nk])) break;
            double x[SN_SEARCH_MAX_OBJ];
            log_sizes(se, kids[nk].params, kids[nk].flops, kids[nk].peak_bytes,
                      x);
            kd[nk] = kde_density(&k, x);
            nk++;
        }
        free(list);
        if (nk == 0) continue;
        int c = pick_inverse(r, kd, nk);
        p->parent = parent;
        p->n_ops = 1;
        p->ops[0] = kids[c].op;
        ok = 1;
    }
    free(dens);
    free(k.pts);
    return ok ? 1 : propose_random(se, r, p);
}

/* ---- bo ------------------------------------------------------------------ */

/* Keeps se->dist the distance matrix over done candidates (gp_ids). */
static void update_distances(sn_search *se) {
    int *ids = sn_xmalloc(((size_t)se->n + 1) * sizeof *ids);
    int m = done_ids(se, ids);
    /* done candidates only ever get appended, so gp_ids is a prefix */
    if (m > se->gp_cap) {
        int cap = se->gp_cap ? se->gp_cap : 64;
        while (cap < m) cap *= 2;
        double *d = sn_xcalloc((size_t)cap * cap, sizeof *d);
        for (int i = 0; i < se->n_gp; i++)
            memcpy(d + (size_t)i * cap, se->dist + (size_t)i * se->gp_cap,
                   (size_t)se->n_gp * sizeof *d);
        free(se->dist);
        se->dist = d;
        se->gp_cap = cap;
        se->gp_ids = sn_xrealloc(se->gp_ids, (size_t)cap * sizeof(int));
    }
    int cap = se->gp_cap;
    for (int i = se->n_gp; i < m; i++) {
        se->gp_ids[i] = ids[i];
        const sn_graph_desc *a = search_desc(se, ids[i]);
        se->dist[(size_t)i * cap + i] = 0;
        for (int j = 0; j < i; j++) {
            double d = sn_graph_distance(a, search_desc(se, se->gp_ids[j]),
                                         KERNEL_LAMBDA);
            se->dist[(size_t)i * cap + j] = se->dist[(size_t)j * cap + i] = d;
        }
    }
    se->n_gp = m;
    free(ids);
}

typedef struct elem {
    double value;
    int parent, n_ops;
    sn_morph_op ops[MAX_CHAIN];
    sn_graph *graph; /* owned, or NULL for a trained seed (use parent's) */
    sn_graph_desc *desc;
} elem;

typedef struct heap {
    int *a, n;
    const elem *el;
} heap;

static int heap_less(const heap *h, int i, int j) {
    return h->el[h->a[i]].value < h->el[h->a[j]].value;
}
static void heap_swap(heap *h, int i, int j) {
    int t = h->a[i];
    h->a[i] = h->a[j];
    h->a[j] = t;
}
static void heap_push(heap *h, int x) {
    int i = h->n++;
    h->a[i] = x;
    while (i > 0 && heap_less(h, (i - 1) / 2, i)) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}
static int heap_pop(heap *h) {
    int top = h->a[0];
    h->a[0] = h->a[--h->n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && heap_less(h, m, l)) m = l;
        if (r < h->n && heap_less(h, m, r)) m = r;
        if (m == i) break;
        heap_swap(h, i, m);
        i = m;
    }
    return top;
}

#define SA_T0 1.0
#define SA_ALPHA 0.9
#define SA_TMIN 1e-4
#define SA_CHILDREN 8
#define SA_TRIES 16
#define SA_MAX_ELEMS 4096
/* Morphs per bo child. Longer chains reach further in size, where the
 * hypervolume pays most, but every approximate morph in a chain costs
 * inherited accuracy that a child's short training may not win back. */
#define SA_MAX_OPS 2
/* The GP sees accuracies clipped from below at the reference accuracy
 * minus this: a broken child at chance and a poor one just under the
 * reference mean the same to the acquisition, and the outliers would
 * otherwise inflate the GP's variance (and so every graph's EI). */
#define GP_FLOOR_MARGIN 0.05

static int propose_bo(sn_search *se, sn_rng *r, proposal *p, sn_error *e) {
    update_distances(se);
    int n = se->n_gp;
    if (n < 2 || se->n_front == 0) return propose_random(se, r, p);
    const sn_graph_desc **x = sn_xmalloc((size_t)n * sizeof *x);
    double *y = sn_xmalloc((size_t)n * sizeof *y);
    double floor_acc = se->s.hv_ref_acc - GP_FLOOR_MARGIN;
    double *d = sn_xmalloc((size_t)n * n * sizeof *d);
    for (int i = 0; i < n; i++) {
        x[i] = search_desc(se, se->gp_ids[i]);
        y[i] = fmax(se->c[se->gp_ids[i]].info.val_acc, floor_acc);
        memcpy(d + (size_t)i * n, se->dist + (size_t)i * se->gp_cap,
               (size_t)n * sizeof *d);
    }
    sn_gp *gp = sn_gp_fit_dist(x, y, n, d, KERNEL_LAMBDA, e);
    free(d);
    free(y);
    if (!gp) {
        free(x);
        return -1;
    }
    /* The current front, mapped. */
    int nf = se->n_front;
    sn_hv_point *fp = sn_xmalloc((size_t)nf * sizeof *fp);
    for (int i = 0; i < nf; i++) {
        const sn_cand_info *c = &se->c[se->front[i]].info;
        search_point(se, c->params, c->flops, c->memory, c->val_acc, &fp[i]);
    }
    elem *el = sn_xcalloc(SA_MAX_ELEMS, sizeof *el);
    int n_el = 0;
    heap h = {sn_xmalloc(SA_MAX_ELEMS * sizeof(int)), 0, el};
    /* Seeds: the front members above the reference accuracy (a member
     * below it adds no hypervolume, nor do its look-alike children); all
     * of the front while none is above it. */
    int above = 0;
    for (int i = 0; i < nf; i++) above += fp[i].acc > 0;
    for (int i = 0; i < nf && n_el < SA_MAX_ELEMS; i++) {
        if (above && !(fp[i].acc > 0)) continue;
        elem *s = &el[n_el];
        s->value = 0; /* a trained point adds no hypervolume */
        s->parent = se->front[i];
        s->desc = search_desc(se, s->parent);
        heap_push(&h, n_el++);
    }
    int n_seed = n_el;
    double t = SA_T0, opt = -INFINITY;
    int best = -1;
    while (h.n > 0 && t > SA_TMIN) {
        int cur = heap_pop(&h);
        double ex = fmin((el[cur].value - opt) / t, 1.0);
        if (exp(ex) >= sn_rng_uniform(r) && el[cur].n_ops < SA_MAX_OPS) {
            const sn_graph *g =
                el[cur].graph ? el[cur].graph : se->c[el[cur].parent].graph;
            sn_weights *zw = sn_weights_new(g);
            sn_morph_cand *list = NULL;
            sn_error le;
            int nl = sn_morph_enumerate(g, &list, &le);
            int kids = 0;
            for (int tries = 0; tries < SA_TRIES && kids < SA_CHILDREN &&
                                n_el < SA_MAX_ELEMS && nl > 0;
                 tries++) {
                sn_morph_cand mc;
                if (!draw_from(se, list, nl, r, &mc)) break;
                sn_graph *cg;
                sn_weights *cw;
                sn_error me;
                if (sn_morph_apply(g, zw, mc.op, 1, &cg, &cw, NULL, &me))
                    continue;
                sn_weights_free(cw);
                sn_graph_desc *cd = sn_graph_desc_new(cg);
                int dup = sn_gp_min_distance(gp, cd) < 1e-5;
                for (int k = n_seed; k < n_el && !dup; k++)
                    dup = sn_graph_distance(cd, el[k].desc, KERNEL_LAMBDA) <
                          1e-5;
                if (dup) {
                    sn_graph_desc_free(cd);
                    sn_graph_free(cg);
                    continue;
                }
                double mu, sd;
                sn_gp_predict(gp, cd, &mu, &sd);
                sn_hv_point q;
                search_point(se, mc.params, mc.flops, mc.peak_bytes, 0, &q);
                elem *c = &el[n_el];
                /* search_point shifted q's accuracy by the reference */
                c->value = sn_hv_expected_improvement(fp, nf, se->s.n_obj, &q,
                                                      mu + q.acc, sd);
                c->parent = el[cur].parent;
                c->n_ops = el[cur].n_ops + 1;
                memcpy(c->ops, el[cur].ops, sizeof c->ops);
                c->ops[el[cur].n_ops] = mc.op;
                c->graph = cg;
                c->desc = cd;
                if (c->value > opt) {
                    opt = c->value;
                    best = n_el;
                }
                heap_push(&h, n_el++);
                kids++;
            }
            free(list);
            sn_weights_free(zw);
        }
        t *= SA_ALPHA;
    }
    int ok = 0;
    if (best >= 0) {
        p->parent = el[best].parent;
        p->n_ops = el[best].n_ops;
        memcpy(p->ops, el[best].ops, sizeof p->ops);
        ok = 1;
    }
    for (int i = n_seed; i < n_el; i++) {
        sn_graph_free(el[i].graph);
        sn_graph_desc_free(el[i].desc);
    }
    free(el);
    free(h.a);
    free(fp);
    sn_gp_free(gp);
    free(x);
    return ok ? 1 : propose_random(se, r, p);
}

int strategy_propose(sn_search *se, uint64_t seed, proposal *p, sn_error *e) {
    sn_rng r;
    sn_rng_seed(&r, seed);
    memset(p, 0, sizeof *p);
    switch (se->s.strategy) {
    case SN_STRAT_RANDOM: return propose_random(se, &r, p);
    case SN_STRAT_EVOLUTION: return propose_evolution(se, &r, p);
    case SN_STRAT_BO: return propose_bo(se, &r, p, e);
    default: return sn_errf(e, "bad strategy %d", (int)se->s.strategy);
    }
}
