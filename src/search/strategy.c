/* strategy.c — where the next candidate comes from.
 *
 *   random     a random morph of a uniformly drawn done candidate
 *   evolution  LEMONADE-style: a parent drawn from the front with
 *              probability inversely proportional to a kernel density
 *              estimate over log10 size(s) of the front (sparse regions
 *              first); 8 random children, one kept with probability
 *              inversely proportional to the same density at its size
 *   bo         AutoKeras-style: a GP over graphs (edit-distance kernel,
 *              hyperparameters by marginal likelihood, an active set of
 *              the front and the most recent candidates) predicts
 *              accuracy; the acquisition is the expected improvement of
 *              the front's hypervolume at the child's exact size; it is
 *              maximised by simulated annealing over morph sequences:
 *              every seed (front member above the reference accuracy;
 *              all of the front while none is) expanded, best first by
 *              the hypervolume only it holds, then children by EHVI
 *              per unit of training cost (MACs + 400k; chains of up to
 *              2 morphs, temperature on the acquisition's own
 *              scale, cooled per expansion only; up to 8 children from
 *              16 tries per expansion, 64 over all seeds together;
 *              graphs already trained, failed or diverged dropped)
 * Every draw of an operator follows the settings' rates (or the pinned
 * operator), among the morphs whose child satisfies the hard limits. */
#include "search_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KERNEL_LAMBDA 1.0 /* D_l + lambda D_s, as AutoKeras 0.3-0.4 */

/* Whether morph c's child fits the limits and, with limit > 0, has a
 * size (the first size objective) of at most limit. */
static int morph_fits(const sn_search *se, const sn_morph_cand *c,
                      int64_t limit) {
    return sn_settings_fits(&se->s, c->params, c->flops, c->peak_bytes) &&
           (limit <= 0 || search_metric(se->s.obj[0], c->params, c->flops,
                                        c->peak_bytes) <= limit);
}

/* Per operator: count[k] the morphs in list that fit (morph_fits with
 * limit), w[k] its rate where count[k] > 0, else 0. Returns the sum of
 * w: > 0 when draw_under can draw. */
static double fit_weights(const sn_search *se, const sn_morph_cand *list,
                          int n, int64_t limit, int *count, double *w) {
    for (int k = 0; k < SN_MORPH_COUNT; k++) count[k] = 0;
    for (int i = 0; i < n; i++) {
        const sn_morph_cand *c = &list[i];
        if ((unsigned)c->op.op < SN_MORPH_COUNT && morph_fits(se, c, limit))
            count[c->op.op]++;
    }
    double total = 0;
    for (int k = 0; k < SN_MORPH_COUNT; k++) {
        double rate = se->s.pinned >= 0 ? (k == se->s.pinned) : se->s.rates[k];
        w[k] = count[k] > 0 ? rate : 0;
        total += w[k];
    }
    return total;
}

/* Draws from an enumerated list: an operator with probability by its
 * rate among those with a feasible morph (morph_fits with limit), then
 * one of its feasible morphs uniformly. 1, or 0 when none is feasible. */
static int draw_under(const sn_search *se, const sn_morph_cand *list, int n,
                      int64_t limit, sn_rng *r, sn_morph_cand *out) {
    int count[SN_MORPH_COUNT];
    double w[SN_MORPH_COUNT];
    double total = fit_weights(se, list, n, limit, count, w);
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
        if (c->op.op != op || !morph_fits(se, c, limit)) continue;
        if (pick-- == 0) {
            *out = *c;
            return 1;
        }
    }
    return 0;
}

/* 1 when draw_under would find a morph in list (an operator with a
 * rate > 0 and a child that fits, see morph_fits). */
static int any_under(const sn_search *se, const sn_morph_cand *list, int n,
                     int64_t limit) {
    int count[SN_MORPH_COUNT];
    double w[SN_MORPH_COUNT];
    return fit_weights(se, list, n, limit, count, w) > 0;
}

static int draw_from(const sn_search *se, const sn_morph_cand *list, int n,
                     sn_rng *r, sn_morph_cand *out) {
    return draw_under(se, list, n, 0, r, out);
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

/* The morphs of candidate id's graph, listed on first use and kept (its
 * graph never changes): bo's seeds and evolution's parents are front
 * members, which every proposal would list again. Borrowed; the count
 * (<= 0: none). */
static int cand_morphs(sn_search *se, int id, const sn_morph_cand **list) {
    cand *c = &se->c[id];
    if (!c->morphs_listed) {
        sn_error e;
        c->n_morphs = sn_morph_enumerate(c->graph, &c->morphs, &e);
        c->morphs_listed = 1;
    }
    *list = c->morphs;
    return c->n_morphs;
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

/* The density of candidates ids[0..n) in log size space (a Gaussian
 * kernel estimate, k->pts owned by the caller's free), and each one's
 * own density in dens[0..n). n >= 1. */
static void size_density(const sn_search *se, const int *ids, int n, kde *k,
                         double *dens) {
    int dim = se->s.n_obj;
    *k = (kde){n, dim, sn_xmalloc((size_t)n * dim * sizeof(double)), 0.1};
    double sd = 0;
    for (int i = 0; i < n; i++) {
        const sn_cand_info *c = &se->c[ids[i]].info;
        log_sizes(se, c->params, c->flops, c->memory, &k->pts[i * dim]);
    }
    for (int j = 0; j < dim; j++) {
        double mean = 0, var = 0;
        for (int i = 0; i < n; i++) mean += k->pts[i * dim + j];
        mean /= n;
        for (int i = 0; i < n; i++)
            var += (k->pts[i * dim + j] - mean) * (k->pts[i * dim + j] - mean);
        sd = fmax(sd, sqrt(var / n));
    }
    /* Scott's rule, at least 0.1 decade so a front of near-equal sizes
     * still has a smooth density. */
    k->h = fmax(0.1, 1.06 * sd * pow(n, -0.2));
    for (int i = 0; i < n; i++) dens[i] = kde_density(k, &k->pts[i * dim]);
}

static int propose_evolution(sn_search *se, sn_rng *r, proposal *p) {
    int nf = se->n_front;
    if (nf == 0) return propose_random(se, r, p);
    kde k;
    double *dens = sn_xmalloc((size_t)nf * sizeof *dens);
    size_density(se, se->front, nf, &k, dens);
    int ok = 0;
    for (int t = 0; t < 2 * nf + 4 && !ok; t++) {
        int parent = se->front[pick_inverse(r, dens, nf)];
        sn_morph_cand kids[8];
        const sn_morph_cand *list;
        double kd[8];
        int nk = 0;
        int nl = cand_morphs(se, parent, &list);
        for (int tries = 0; tries < 16 && nk < 8 && nl > 0; tries++) {
            if (!draw_from(se, list, nl, r, &kids[nk])) break;
            double x[SN_SEARCH_MAX_OBJ];
            log_sizes(se, kids[nk].params, kids[nk].flops, kids[nk].peak_bytes,
                      x);
            kd[nk] = kde_density(&k, x);
            nk++;
        }
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

/* ---- what is known: the duplicate filter ------------------------------ */

static void hset_grow(hset *h);

static int hset_has(const hset *h, uint64_t k) {
    if (!h->cap) return 0;
    k = k ? k : 1;
    for (size_t i = k & (size_t)(h->cap - 1);; i = (i + 1) & (size_t)(h->cap - 1)) {
        if (h->k[i] == k) return 1;
        if (h->k[i] == 0) return 0;
    }
}

static void hset_add(hset *h, uint64_t k) {
    k = k ? k : 1;
    if (hset_has(h, k)) return;
    if (2 * (h->n + 1) > h->cap) hset_grow(h);
    size_t i = k & (size_t)(h->cap - 1);
    while (h->k[i]) i = (i + 1) & (size_t)(h->cap - 1);
    h->k[i] = k;
    h->n++;
}

static void hset_grow(hset *h) {
    hset t = {sn_xcalloc((size_t)(h->cap ? 2 * h->cap : 64), sizeof(uint64_t)),
              h->cap ? 2 * h->cap : 64, 0};
    for (int i = 0; i < h->cap; i++)
        if (h->k[i]) hset_add(&t, h->k[i]);
    free(h->k);
    *h = t;
}

static int known_status(sn_cand_status st) {
    return st == SN_CAND_DONE || st == SN_CAND_FAILED ||
           st == SN_CAND_DIVERGED;
}

/* Enters the candidates recorded since the last call: every trained,
 * failed or diverged graph in `known`, the failed and diverged ones in
 * `bad` as well. */
static void sync_known(sn_search *se) {
    for (; se->n_hashed < se->n; se->n_hashed++) {
        int i = se->n_hashed;
        const cand *c = &se->c[i];
        if (!known_status(c->info.status) || !c->graph) continue;
        /* the hash only: no descriptor is made to be kept (after a
         * resume, that would be one per candidate of the run) */
        uint64_t h = c->desc ? sn_graph_desc_hash(c->desc)
                             : sn_graph_hash(c->graph);
        hset_add(&se->known, h);
        if (se->c[i].info.status != SN_CAND_DONE) hset_add(&se->bad, h);
    }
}

int strategy_is_failed(sn_search *se, const sn_graph *g) {
    sync_known(se);
    if (se->bad.n == 0) return 0;
    return hset_has(&se->bad, sn_graph_hash(g));
}

void strategy_free(sn_search *se) {
    free(se->known.k);
    free(se->bad.k);
    free(se->act_ids);
    free(se->act_dist);
}

/* ---- bo ------------------------------------------------------------------ */

/* The GP learns from a bounded active set: the front and the most recent
 * other trained (or failed) candidates, ACT_MAX in all, kept sorted by
 * id so the set and the fit depend only on the log (a resumed run fits
 * what the uninterrupted one did). Its distance matrix is carried from
 * one proposal to the next: only pairs with a new member are computed
 * (about one row per candidate), never a matrix over the whole run. */
#define ACT_MAX 96

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

static int in_pool(const sn_search *se, int i) {
    const cand *c = &se->c[i];
    if (!c->graph) return 0;
    if (c->info.status == SN_CAND_DONE) return !c->superseded;
    return c->info.status == SN_CAND_FAILED ||
           c->info.status == SN_CAND_DIVERGED;
}

static int bsearch_id(const int *ids, int n, int id) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (ids[mid] == id) return mid;
        if (ids[mid] < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static void update_active(sn_search *se) {
    int *ids = sn_xmalloc(ACT_MAX * sizeof *ids);
    int m = 0;
    for (int i = 0; i < se->n_front && m < ACT_MAX / 2; i++)
        if (in_pool(se, se->front[i])) ids[m++] = se->front[i];
    int nfront = m;
    qsort(ids, (size_t)m, sizeof *ids, cmp_int);
    for (int i = se->n - 1; i >= 0 && m < ACT_MAX; i--) {
        if (!in_pool(se, i) || bsearch_id(ids, nfront, i) >= 0) continue;
        ids[m++] = i;
    }
    qsort(ids, (size_t)m, sizeof *ids, cmp_int);
    double *d = sn_xmalloc((size_t)ACT_MAX * ACT_MAX * sizeof *d);
    int *old = sn_xmalloc((size_t)m * sizeof *old + 1);
    for (int a = 0; a < m; a++) old[a] = bsearch_id(se->act_ids, se->n_act, ids[a]);
    for (int a = 0; a < m; a++) {
        d[(size_t)a * m + a] = 0;
        const sn_graph_desc *da = search_desc(se, ids[a]);
        for (int b = 0; b < a; b++) {
            double v;
            if (old[a] >= 0 && old[b] >= 0)
                v = se->act_dist[(size_t)old[a] * se->n_act + old[b]];
            else
                v = sn_graph_distance(da, search_desc(se, ids[b]),
                                      KERNEL_LAMBDA);
            d[(size_t)a * m + b] = d[(size_t)b * m + a] = v;
        }
    }
    free(old);
    free(se->act_ids);
    free(se->act_dist);
    se->act_ids = ids;
    se->act_dist = d;
    se->n_act = m;
}

void strategy_warm(sn_search *se) {
    sync_known(se);
    if (se->s.strategy == SN_STRAT_BO) update_active(se);
}

/* The mean gain of a promotion (accuracy after the longer training minus
 * the cheap one's) over the promoted candidates, shrunk towards 0 by one
 * pseudo-observation: what a cheap accuracy is corrected by before the
 * GP sees it, so the GP models the longer training's accuracy. */
static double fidelity_gap(const sn_search *se) {
    double sum = 0;
    int k = 0;
    for (int i = 0; i < se->n; i++) {
        const sn_cand_info *c = &se->c[i].info;
        if (c->fidelity < 2 || c->parent < 0 || c->status != SN_CAND_DONE)
            continue;
        const sn_cand_info *p = &se->c[c->parent].info;
        if (p->status != SN_CAND_DONE || p->fidelity >= c->fidelity) continue;
        sum += c->val_acc - p->val_acc;
        k++;
    }
    return sum / (k + 1);
}

/* Morphs replayed for candidate i: 0 for a root and for a promotion
 * (the same graph trained longer), else the ops of its morph chain. */
static int chain_len(const sn_cand_info *c) {
    if (c->parent < 0 || !c->morph[0] || c->fidelity >= 2) return 0;
    int n = 1;
    for (const char *q = c->morph; *q; q++) n += *q == ';';
    return n;
}

/* What a chain of two or more morphs costs a child's cheap accuracy
 * beyond what one morph costs, measured on the log: the mean change from
 * parent to child over the cheap children of longer chains minus the same
 * over one-morph children, each mean shrunk towards 0 by one pseudo-
 * observation (so a few children move it little). Every approximate morph
 * disturbs inherited weights that a 2-epoch training may not repair; the
 * GP, which sees graphs only, cannot tell that damage from a worse
 * architecture. It sees a long chain's accuracy less this (typically
 * negative) figure, and its prediction for a long chain is lowered by it,
 * so bo pays for the damage where it proposes a long chain and does not
 * blame the architecture. Races of the 50k config: two-morph children lost
 * a median 2-4.8 points against their parent, one-morph 0.4-2. */
double strategy_chain_damage(const sn_search *se) {
    double sum[2] = {0, 0};
    int k[2] = {0, 0};
    for (int i = 0; i < se->n; i++) {
        const sn_cand_info *c = &se->c[i].info;
        int L = chain_len(c);
        if (L == 0 || c->status != SN_CAND_DONE) continue;
        const sn_cand_info *p = &se->c[c->parent].info;
        if (p->status != SN_CAND_DONE) continue;
        sum[L >= 2] += c->val_acc - p->val_acc;
        k[L >= 2]++;
    }
    return sum[1] / (k[1] + 1) - sum[0] / (k[0] + 1);
}

/* What a child costs to train, up to a common factor: its multiply-
 * accumulates plus COST_FIXED_MACS for the work that does not grow with
 * the network (per-batch and per-epoch overheads, evaluation set-up).
 * The acquisition is EHVI per unit of this cost (expected improvement
 * per second, as in Snoek, Larochelle & Adams 2012): under a wall-time
 * budget it buys the most hypervolume from the cheapest promising
 * children, where plain EHVI favours the largest networks (their
 * accuracy has the most room) and a 30-minute run trained 49
 * candidates to evolution's 116. The constant is fixed, not fitted to the
 * run's measured times, so a run's proposals depend only on its log and
 * seed (a resumed run proposes what the uninterrupted one would): a line
 * through seconds per epoch against MACs over 239 Fashion-MNIST
 * children of four 30-minute runs crossed zero seconds at -470k MACs
 * (single runs: -200k to -900k; median relative error of the line 26%). */
#define COST_FIXED_MACS 400000.0

double strategy_train_cost(int64_t flops) {
    return COST_FIXED_MACS + (double)(flops > 0 ? flops : 0);
}

typedef struct elem {
    double value;
    int parent, n_ops;
    int seed; /* the seed (element index) this one descends from */
    sn_morph_op ops[MAX_CHAIN];
    sn_graph *graph; /* owned, or NULL for a trained seed (use parent's) */
    sn_graph_desc *desc;
} elem;

typedef struct heap {
    int *a, n;
    const elem *el;
} heap;

static int heap_less(const heap *h, int i, int j) {
    double a = h->el[h->a[i]].value, b = h->el[h->a[j]].value;
    return a < b || (a == b && h->a[i] > h->a[j]);
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

/* Annealing (AutoKeras' search over morph trees, reworked): every seed
 * is expanded, best seed first; then the children in a max-heap by
 * expected hypervolume improvement, each accepted for expansion with
 * probability exp(min(0, (EHVI - best) / T)). T starts at the mean
 * positive EHVI of the seeds' children (the acquisition's own scale) and
 * is multiplied by SA_ALPHA per expansion only; the search stops below
 * SA_TMIN_REL of the start or after SA_MAX_EXPANSIONS. A focused
 * proposal (see propose_bo) heaps, anneals and proposes only its focus
 * seed's descendants; the other seeds' children still set T's scale. */
#define SA_ALPHA 0.8
#define SA_TMIN_REL 1e-2
#define SA_MAX_EXPANSIONS 24
#define SA_CHILDREN 8
/* Children of all seeds together: a seed gets SA_SEED_CHILDREN / seeds
 * of them, at least 2 and at most SA_CHILDREN, so a large front costs a
 * proposal no more than a small one. */
#define SA_SEED_CHILDREN 64
#define SA_MAX_ELEMS 4096
/* Morphs per bo child. Longer chains reach further in size, where the
 * hypervolume pays most, but every approximate morph in a chain costs
 * inherited accuracy that a child's short training may not win back. */
#define SA_MAX_OPS 2
/* The GP sees accuracies clipped from below at the reference accuracy
 * minus this: a broken child at chance and a poor one just under the
 * reference mean the same to the acquisition, and the outliers would
 * otherwise inflate the GP's variance (and so every graph's EI).
 * Failed and diverged children are seen at this floor. */
#define GP_FLOOR_MARGIN 0.05
/* The share of bo's proposals restricted to one seed drawn inversely to
 * its size density (see propose_bo). */
#define BO_FOCUS_RATE 0.5
/* With --final-at sizes, the share of those focused proposals that
 * instead refine the most accurate front member at or under one of
 * the sizes or the hard limit above them (the one whose bracket holds
 * the fewest trained candidates, see strategy_final_at_sparsest), with
 * children that still fit it. */
#define BO_FINAL_AT_SHARE 0.5
/* Of those, the share that shrink into the size the most accurate front
 * member up to BO_SHRINK_REACH times it: a lineage above the size is
 * often more accurate than any under it (one seed-6 run on 2-epoch
 * validation: the mobile_tiny line at 87.8-90.1% from 10.5k parameters
 * up, everything under 10k at most 87.0%, and the final-at focus only
 * grew networks already under the size). */
#define BO_SHRINK_SHARE 0.5
#define BO_SHRINK_REACH 2

/* (search_internal.h) The last condition matters: on a front the larger
 * member is the more accurate, so without it this was the largest seed
 * in reach, and a focus on a seed with no child that fits draws nothing:
 * the proposal fell back to every seed. In one 30-minute run (seed 6)
 * the front member at 6,522 parameters and 89.8% had two children under
 * 5k; the 9,834-parameter member above it (90.2%), which took the focus,
 * had none, and the run's best at or under 5k stayed at 85.3%. */
int strategy_shrink_seed(sn_search *se, const int *seeds, int ns,
                         int64_t size) {
    int best = -1;
    for (int i = 0; i < ns; i++) {
        const sn_cand_info *c = &se->c[seeds[i]].info;
        int64_t m = search_metric(se->s.obj[0], c->params, c->flops,
                                  c->memory);
        if (m <= size || m > BO_SHRINK_REACH * size) continue;
        if (best >= 0 && c->val_acc <= se->c[seeds[best]].info.val_acc)
            continue;
        const sn_morph_cand *list;
        int nl = cand_morphs(se, seeds[i], &list);
        if (nl > 0 && any_under(se, list, nl, size)) best = i;
    }
    return best;
}

typedef struct anneal {
    sn_search *se;
    sn_rng *r;
    sn_gp *gp;
    const sn_hv_point *fp;
    int nf;
    elem *el;
    int n_el;
    heap h;
    hset seen; /* children made in this proposal */
    double opt;
    int best;
    int evaluated; /* GP predictions */
    double damage; /* strategy_chain_damage, for chains of 2+ morphs */
    int focus;     /* the seed whose descendants alone may be proposed
                      (and annealed), or -1 for all */
    int64_t limit; /* > 0: so may only children whose size (the first
                      size objective) is at most this */
} anneal;

/* Up to `want` new children of element cur (from 2 x want draws) into
 * the heap. */
static void expand(anneal *A, int cur, int want) {
    sn_search *se = A->se;
    elem *el = A->el;
    const sn_graph *g =
        el[cur].graph ? el[cur].graph : se->c[el[cur].parent].graph;
    sn_morph_cand *own = NULL;
    const sn_morph_cand *list = NULL;
    sn_error le;
    int nl;
    if (el[cur].graph) {
        nl = sn_morph_enumerate(g, &own, &le);
        list = own;
    } else {
        nl = cand_morphs(se, el[cur].parent, &list);
    }
    /* only the focus seed's lineage may be proposed (and expanded), and
     * it draws only children that fit the size limit */
    int in_focus = A->focus < 0 || el[cur].seed == A->focus;
    int64_t limit = in_focus ? A->limit : 0;
    int kids = 0;
    for (int tries = 0; tries < 2 * want && kids < want &&
                        A->n_el < SA_MAX_ELEMS && nl > 0;
         tries++) {
        sn_morph_cand mc;
        if (!draw_under(se, list, nl, limit, A->r, &mc)) break;
        sn_graph *cg;
        sn_error me;
        /* the child's graph only: its weights would go unused */
        if (sn_morph_child(g, mc.op, &cg, &me)) continue;
        sn_graph_desc *cd = sn_graph_desc_new(cg);
        uint64_t hh = sn_graph_desc_hash(cd);
        if (hset_has(&se->known, hh) || hset_has(&A->seen, hh)) {
            sn_graph_desc_free(cd);
            sn_graph_free(cg);
            continue;
        }
        hset_add(&A->seen, hh);
        double mu, sd;
        sn_gp_predict(A->gp, cd, &mu, &sd);
        A->evaluated++;
        if (el[cur].n_ops + 1 >= 2) mu += A->damage;
        sn_hv_point q;
        search_point(se, mc.params, mc.flops, mc.peak_bytes, 0, &q);
        elem *c = &el[A->n_el];
        /* search_point shifted q's accuracy by the reference */
        c->value = sn_hv_expected_improvement(A->fp, A->nf, se->s.n_obj, &q,
                                              mu + q.acc, sd) /
                   strategy_train_cost(mc.flops);
        c->parent = el[cur].parent;
        c->seed = el[cur].seed;
        c->n_ops = el[cur].n_ops + 1;
        memcpy(c->ops, el[cur].ops, sizeof c->ops);
        c->ops[el[cur].n_ops] = mc.op;
        c->graph = cg;
        c->desc = cd;
        /* draw_under gave only children that fit the limit */
        if (in_focus && c->value > A->opt) {
            A->opt = c->value;
            A->best = A->n_el;
        }
        if (in_focus) heap_push(&A->h, A->n_el);
        A->n_el++;
        kids++;
    }
    free(own);
}

typedef struct seed_rank {
    double merit, acc;
    int i;
} seed_rank;

static int cmp_seed(const void *a, const void *b) {
    const seed_rank *x = a, *y = b;
    if (x->merit != y->merit) return x->merit > y->merit ? -1 : 1;
    if (x->acc != y->acc) return x->acc > y->acc ? -1 : 1;
    return x->i - y->i;
}

int strategy_bo_seeds(sn_search *se, int *out) {
    int nf = se->n_front;
    sn_hv_point *fp = sn_xmalloc(((size_t)nf + 1) * sizeof *fp);
    sn_hv_point *rest = sn_xmalloc(((size_t)nf + 1) * sizeof *rest);
    for (int i = 0; i < nf; i++) {
        const sn_cand_info *c = &se->c[se->front[i]].info;
        search_point(se, c->params, c->flops, c->memory, c->val_acc, &fp[i]);
    }
    /* Seeds: the front members above the reference accuracy (a member
     * below it adds no hypervolume, nor do its look-alike children); all
     * of the front while none is above it. Merit: the hypervolume only
     * that member holds (the loss if it were removed), then accuracy. */
    int above = 0;
    for (int i = 0; i < nf; i++) above += fp[i].acc > 0;
    double hv = sn_hypervolume(fp, nf, se->s.n_obj);
    seed_rank *sr = sn_xmalloc(((size_t)nf + 1) * sizeof *sr);
    int ns = 0;
    for (int i = 0; i < nf; i++) {
        if (above && !(fp[i].acc > 0)) continue;
        int k = 0;
        for (int j = 0; j < nf; j++)
            if (j != i) rest[k++] = fp[j];
        sr[ns++] = (seed_rank){hv - sn_hypervolume(rest, k, se->s.n_obj),
                               fp[i].acc, i};
    }
    qsort(sr, (size_t)ns, sizeof *sr, cmp_seed);
    for (int i = 0; i < ns; i++) out[i] = se->front[sr[i].i];
    free(sr);
    free(rest);
    free(fp);
    return ns;
}

int strategy_focus_sizes(const sn_search *se, int64_t *sizes) {
    const sn_search_settings *st = &se->s;
    int n = st->n_final_at;
    if (n <= 0) return 0;
    for (int k = 0; k < n; k++) {
        int64_t x = st->final_at[k];
        int j = k;
        for (; j > 0 && sizes[j - 1] > x; j--) sizes[j] = sizes[j - 1];
        sizes[j] = x;
    }
    /* the limit is a size the user named too: the front's top end,
     * where a short search leaves the most accurate networks it could
     * have had (two 30-minute races: bo's best at or under 50k
     * parameters 90.30% and 89.77% validation, evolution's 90.68% and
     * 91.02%, while bo led at 10k; with the limit drawn, bo's seeds 5-7
     * reached 90.87%, 90.73% and 90.58%, evolution's 90.68%, 90.67% and
     * 91.02%) */
    int64_t lim = search_limit(st, st->obj[0]);
    if (lim > sizes[n - 1]) sizes[n++] = lim;
    return n;
}

int strategy_final_at_counts(const sn_search *se, int64_t *sizes,
                             int *count) {
    const sn_search_settings *st = &se->s;
    int n = strategy_focus_sizes(se, sizes);
    for (int k = 0; k < n; k++) count[k] = 0;
    for (int i = 0; i < se->n; i++) {
        if (!search_front_eligible(se, i)) continue;
        const sn_cand_info *c = &se->c[i].info;
        int64_t size =
            search_metric(st->obj[0], c->params, c->flops, c->memory);
        /* each size's bracket: (the next smaller size or 0, size] */
        for (int k = 0; k < n; k++)
            if (size <= sizes[k]) {
                for (int j = k; j < n && sizes[j] == sizes[k]; j++)
                    count[j]++;
                break;
            }
    }
    return n;
}

int64_t strategy_final_at_sparsest(const sn_search *se, sn_rng *r) {
    int64_t sizes[SN_FINAL_AT_MAX + 1];
    int count[SN_FINAL_AT_MAX + 1], ties = 0;
    int n = strategy_final_at_counts(se, sizes, count);
    if (n <= 0) return 0;
    int least = count[0];
    for (int k = 1; k < n; k++)
        if (count[k] < least) least = count[k];
    for (int k = 0; k < n; k++) ties += count[k] == least;
    int which = (int)(sn_rng_u64(r) % (uint64_t)ties);
    for (int k = 0; k < n; k++)
        if (count[k] == least && which-- == 0) return sizes[k];
    return 0;
}

/* Statistics of the last bo proposal (tests, the benchmark). */
static int last_expanded, last_seeds, last_seeds_grown, last_focus = -1,
                                                         last_parent = -1;
static int64_t last_limit;
void strategy_bo_stats(int *seeds, int *grown, int *expanded) {
    *seeds = last_seeds;
    *grown = last_seeds_grown;
    *expanded = last_expanded;
}
void strategy_bo_focus(int *focus, int *parent, int64_t *limit) {
    *focus = last_focus;
    *parent = last_parent;
    *limit = last_limit;
}

static int propose_bo(sn_search *se, sn_rng *r, proposal *p) {
    last_focus = last_parent = -1;
    last_limit = 0;
    sync_known(se);
    update_active(se);
    int n = se->n_act;
    if (n < 2 || se->n_front == 0) return propose_random(se, r, p);
    const sn_graph_desc **x = sn_xmalloc((size_t)n * sizeof *x);
    double *y = sn_xmalloc((size_t)n * sizeof *y);
    double floor_acc = se->s.hv_ref_acc - GP_FLOOR_MARGIN;
    double gap = fidelity_gap(se), damage = strategy_chain_damage(se);
    for (int i = 0; i < n; i++) {
        const cand *c = &se->c[se->act_ids[i]];
        x[i] = search_desc(se, se->act_ids[i]);
        y[i] = c->info.status == SN_CAND_DONE
                   ? c->info.val_acc + (c->info.fidelity < 2 ? gap : 0) -
                         (chain_len(&c->info) >= 2 ? damage : 0)
                   : floor_acc;
        y[i] = fmax(y[i], floor_acc);
    }
    sn_error ge;
    sn_gp *gp = sn_gp_fit_dist(x, y, n, se->act_dist, KERNEL_LAMBDA, &ge);
    free(y);
    if (!gp) {
        /* never fail the search over the model: this round is random */
        snprintf(se->warning, sizeof se->warning,
                 "bo: %.300s; candidate %d proposed at random", ge.msg,
                 se->n);
        free(x);
        return propose_random(se, r, p);
    }
    int nf = se->n_front;
    sn_hv_point *fp = sn_xmalloc((size_t)nf * sizeof *fp);
    for (int i = 0; i < nf; i++) {
        const sn_cand_info *c = &se->c[se->front[i]].info;
        search_point(se, c->params, c->flops, c->memory, c->val_acc, &fp[i]);
    }
    anneal A = {se, r, gp, fp, nf, sn_xcalloc(SA_MAX_ELEMS, sizeof(elem)), 0,
                {sn_xmalloc(SA_MAX_ELEMS * sizeof(int)), 0, NULL},
                {NULL, 0, 0}, -INFINITY, -1, 0, damage, -1, 0};
    A.h.el = A.el;
    int *seeds = sn_xmalloc(((size_t)nf + 1) * sizeof *seeds);
    int ns = strategy_bo_seeds(se, seeds);
    for (int i = 0; i < ns; i++) {
        elem *s = &A.el[A.n_el++];
        s->parent = seeds[i];
        s->seed = i;
        s->desc = search_desc(se, seeds[i]);
    }
    /* Every other proposal on average comes from one seed drawn as
     * evolution draws parents, inversely to its density in log size:
     * the acquisition alone can settle on one size range (one 30-minute
     * race trained 7 of 73 children under 10k parameters) and leave gaps
     * in the front that its model does not yet value. */
    /* With --final-at sizes, half of these refine instead the most
     * accurate front member at or under a size drawn from the
     * list (near what the final retraining takes there), among
     * children that fit it: the user named the sizes they will deploy,
     * and hypervolume alone ranks a gap there no higher than anywhere
     * (three 30-minute races trained bo's ≤10k pick at 5.9-7.9k
     * parameters to evolution's 9.5k, and retrained it to 89.7-90.3%
     * test against 90.8-91.0%). The size is the one whose bracket has
     * the fewest trained candidates so far: drawn uniformly, three runs
     * of the shipped config trained 18 to 41 candidates at or under 5k,
     * and their ≤5k finals tested 88.15% to 90.74% in the same order. */
    if (ns > 1 && sn_rng_uniform(r) < BO_FOCUS_RATE) {
        if (se->s.n_final_at > 0 && sn_rng_uniform(r) < BO_FINAL_AT_SHARE) {
            int64_t size = strategy_final_at_sparsest(se, r);
            /* seeds are front members above the reference, the ones
             * final.c chooses among; or (BO_SHRINK_SHARE of the time, and
             * whenever none is that small) the most accurate one above
             * the size, up to BO_SHRINK_REACH times it, that has a child
             * that fits (strategy_shrink_seed): its children that fit
             * the size (pruned, separable, with a layer removed) may
             * beat what the smaller lineages have reached */
            int at = search_best_at(se, seeds, ns, size),
                above = strategy_shrink_seed(se, seeds, ns, size);
            A.focus = above >= 0 &&
                              (at < 0 || sn_rng_uniform(r) < BO_SHRINK_SHARE)
                          ? above
                          : at;
            if (A.focus >= 0) A.limit = size;
        }
        if (A.focus < 0) {
            kde k;
            double *dens = sn_xmalloc((size_t)ns * sizeof *dens);
            size_density(se, seeds, ns, &k, dens);
            A.focus = pick_inverse(r, dens, ns);
            free(dens);
            free(k.pts);
        }
    }
    int n_seed = A.n_el, expanded = 0;
    /* every seed, best first */
    int per_seed = n_seed ? SA_SEED_CHILDREN / n_seed : SA_CHILDREN;
    per_seed = per_seed < 2 ? 2 : per_seed > SA_CHILDREN ? SA_CHILDREN : per_seed;
    for (int i = 0; i < n_seed; i++) {
        expand(&A, i, per_seed);
        expanded++;
    }
    double scale = 0;
    int pos = 0;
    for (int i = n_seed; i < A.n_el; i++)
        if (A.el[i].value > 0) {
            scale += A.el[i].value;
            pos++;
        }
    scale = pos ? scale / pos : 1e-12;
    double t = scale;
    int charged = 0;
    while (A.h.n > 0 && t > scale * SA_TMIN_REL &&
           charged < SA_MAX_EXPANSIONS) {
        int cur = heap_pop(&A.h);
        if (A.el[cur].n_ops >= SA_MAX_OPS) continue;
        double ex = fmin((A.el[cur].value - A.opt) / t, 0.0);
        if (exp(ex) < sn_rng_uniform(r)) continue;
        expand(&A, cur, SA_CHILDREN);
        expanded++;
        charged++;
        t *= SA_ALPHA;
    }
    last_seeds = n_seed;
    last_expanded = expanded;
    int unfocused = A.best < 0;
    if (unfocused) /* the focus seed had no new child (that fits): any
                      seed's, any size */
        for (int i = n_seed; i < A.n_el; i++)
            if (A.best < 0 || A.el[i].value > A.el[A.best].value) A.best = i;
    last_focus = A.focus >= 0 && !unfocused ? seeds[A.focus] : -1;
    last_limit = unfocused ? 0 : A.limit;
    last_parent = A.best >= 0 ? A.el[A.best].parent : -1;
    last_seeds_grown = 0;
    for (int i = 0; i < n_seed; i++) {
        int grown = 0;
        for (int k = n_seed; k < A.n_el && !grown; k++)
            grown = A.el[k].n_ops == 1 && A.el[k].parent == A.el[i].parent;
        last_seeds_grown += grown;
    }
    int ok = 0;
    if (A.best >= 0) {
        p->parent = A.el[A.best].parent;
        p->n_ops = A.el[A.best].n_ops;
        memcpy(p->ops, A.el[A.best].ops, sizeof p->ops);
        ok = 1;
    }
    for (int i = n_seed; i < A.n_el; i++) {
        sn_graph_free(A.el[i].graph);
        sn_graph_desc_free(A.el[i].desc);
    }
    free(seeds);
    free(A.seen.k);
    free(A.el);
    free(A.h.a);
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
    case SN_STRAT_BO: return propose_bo(se, &r, p);
    default: return sn_errf(e, "bad strategy %d", (int)se->s.strategy);
    }
}
