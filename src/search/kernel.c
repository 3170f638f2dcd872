/* kernel.c — the AutoKeras graph kernel and a Gaussian process over
 * graphs.
 *
 * Descriptor: the conv, dense and pooling nodes in topological order
 * (ReLU, BN, dropout, flatten, add and concat carry no width and are left
 * out), and the skip connections: every input of an add or concat other
 * than its main one (the input reached through the most layers). A skip
 * starts at its fork point (walking back from the branch input through
 * nodes with one reader until a node read by several), so u = number of
 * layers up to the fork point, delta = layers from there to the merge.
 *
 * Distance d = D_l + lambda D_s (REFERENCES.md): D_l is a Levenshtein
 * distance over the layer lists with insert/delete 1 and substitution
 * cost 1 between types, else the mean relative difference |a-b|/max(a,b)
 * of the attributes (conv: filters, kernel, stride, groups; dense:
 * units; pools: padding, kernel, stride); D_s matches skips optimally
 * (Hungarian) with cost (|du| + |ddelta|) / (max u + max delta) for two
 * skips of the same type, 1 for add against concat, 1 per unmatched.
 *
 * GP: see search.h. The Bourgain embedding makes the kernel an RBF on
 * vectors, hence positive semi-definite for any set of graphs, including
 * graphs seen only at prediction time (the embedding of a new graph uses
 * the same subsets of training graphs). */
#include "slimnas/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { L_CONV, L_DENSE, L_MAXPOOL, L_AVGPOOL };
enum { S_ADD, S_CONCAT };

typedef struct layer {
    int type;
    int n_attr;
    double attr[4];
} layer;

typedef struct skip {
    int type;
    double u, delta;
} skip;

struct sn_graph_desc {
    int n_layers, n_skips;
    double log_params; /* log10 of the parameter count: the GP's prior mean */
    layer *layers;
    skip *skips;
};

static int is_layer(sn_op_kind op) {
    return op == SN_OP_CONV || op == SN_OP_DENSE || op == SN_OP_MAXPOOL ||
           op == SN_OP_AVGPOOL;
}

/* with_params 0: log_params left 0 (the hash does not read it). */
static sn_graph_desc *desc_make(const sn_graph *g, int with_params) {
    int n = g->n_nodes;
    sn_graph_desc *d = sn_xcalloc(1, sizeof *d);
    int64_t np = with_params ? sn_graph_params(g) : 1;
    d->log_params = log10((double)(np > 1 ? np : 1));
    d->layers = sn_xcalloc((size_t)n + 1, sizeof *d->layers);
    /* rank[i]: layers among nodes 0..i; depth[i]: most layers on a path
     * from the input to node i (inclusive). */
    int *rank = sn_xcalloc((size_t)n, sizeof *rank);
    int *depth = sn_xcalloc((size_t)n, sizeof *depth);
    int *readers = sn_xcalloc((size_t)n, sizeof *readers);
    int count = 0, n_skip = 0;
    for (int i = 0; i < n; i++) {
        const sn_node *nd = &g->nodes[i];
        int best = 0;
        for (int k = 0; k < nd->n_in; k++) {
            readers[nd->in[k]]++;
            if (depth[nd->in[k]] > best) best = depth[nd->in[k]];
        }
        depth[i] = best + (is_layer(nd->op) ? 1 : 0);
        if (is_layer(nd->op)) {
            layer *l = &d->layers[count++];
            const sn_attr *a = &nd->attr;
            switch (nd->op) {
            case SN_OP_CONV:
                *l = (layer){L_CONV, 4, {a->out, a->k, a->stride, a->groups}};
                break;
            case SN_OP_DENSE:
                *l = (layer){L_DENSE, 1, {a->out, 0, 0, 0}};
                break;
            default:
                *l = (layer){nd->op == SN_OP_MAXPOOL ? L_MAXPOOL : L_AVGPOOL,
                             3, {a->pad, a->k, a->stride, 0}};
                break;
            }
        }
        rank[i] = count;
        if ((nd->op == SN_OP_ADD || nd->op == SN_OP_CONCAT) && nd->n_in > 1)
            n_skip += nd->n_in - 1;
    }
    d->n_layers = count;
    d->skips = sn_xcalloc((size_t)n_skip + 1, sizeof *d->skips);
    for (int i = 0; i < n; i++) {
        const sn_node *nd = &g->nodes[i];
        if (!((nd->op == SN_OP_ADD || nd->op == SN_OP_CONCAT) && nd->n_in > 1))
            continue;
        int main_k = 0;
        for (int k = 1; k < nd->n_in; k++)
            if (depth[nd->in[k]] > depth[nd->in[main_k]]) main_k = k;
        int v = i > 0 ? rank[i - 1] : 0; /* layers before the merge */
        for (int k = 0; k < nd->n_in; k++) {
            if (k == main_k) continue;
            int x = nd->in[k];
            while (x > 0 && readers[x] == 1 && g->nodes[x].n_in > 0)
                x = g->nodes[x].in[0];
            double u = rank[x];
            double delta = v - u;
            if (delta < 0) delta = 0;
            d->skips[d->n_skips++] =
                (skip){nd->op == SN_OP_ADD ? S_ADD : S_CONCAT, u, delta};
        }
    }
    free(rank);
    free(depth);
    free(readers);
    return d;
}

sn_graph_desc *sn_graph_desc_new(const sn_graph *g) {
    return desc_make(g, 1);
}

uint64_t sn_graph_hash(const sn_graph *g) {
    sn_graph_desc *d = desc_make(g, 0);
    uint64_t h = sn_graph_desc_hash(d);
    sn_graph_desc_free(d);
    return h;
}

void sn_graph_desc_free(sn_graph_desc *d) {
    if (!d) return;
    free(d->layers);
    free(d->skips);
    free(d);
}

static double rel(double a, double b) {
    double m = fmax(fabs(a), fabs(b));
    return m > 0 ? fabs(a - b) / m : 0;
}

static double layer_cost(const layer *a, const layer *b) {
    if (a->type != b->type) return 1;
    double s = 0;
    for (int k = 0; k < a->n_attr; k++) s += rel(a->attr[k], b->attr[k]);
    return a->n_attr ? s / a->n_attr : 0;
}

/* The smaller of two costs: costs are finite and >= 0, where this is
 * fmin (which the compiler calls out of line for NaN's sake). */
static inline double cmin(double a, double b) { return b < a ? b : a; }

/* The edit distance's rows in prev and cur (m + 1 each). Out of line:
 * inlined into its caller, gcc takes the stack rows for unset. */
__attribute__((noinline)) static double
layers_dp(const sn_graph_desc *a, const sn_graph_desc *b, double *prev,
          double *cur) {
    int n = a->n_layers, m = b->n_layers;
    for (int j = 0; j <= m; j++) prev[j] = j;
    for (int i = 1; i <= n; i++) {
        cur[0] = i;
        const layer *la = &a->layers[i - 1];
        for (int j = 1; j <= m; j++) {
            double sub = prev[j - 1] + layer_cost(la, &b->layers[j - 1]);
            double del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = cmin(sub, cmin(del, ins));
        }
        double *t = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

static double layers_distance(const sn_graph_desc *a, const sn_graph_desc *b) {
    int m = b->n_layers;
    if (m < 128) {
        double buf[2 * 128];
        return layers_dp(a, b, buf, buf + 128);
    }
    double *w = sn_xmalloc(2 * ((size_t)m + 1) * sizeof *w);
    double d = layers_dp(a, b, w, w + m + 1);
    free(w);
    return d;
}

static double skip_cost(const skip *a, const skip *b) {
    if (a->type != b->type) return 1;
    double den = fmax(a->u, b->u) + fmax(a->delta, b->delta);
    if (den <= 0) return 0;
    return (fabs(a->u - b->u) + fabs(a->delta - b->delta)) / den;
}

/* Minimum-cost assignment with row/column potentials (the O(n^3)
 * shortest-augmenting-path form of the Hungarian algorithm), 1-based
 * internally. */
double sn_hungarian(const double *cost, int n, int *assign) {
    if (n <= 0) return 0;
    /* one work block: on the stack for the small problems of the graph
     * kernel (a skip per row), else on the heap; carved the same way */
    enum { SMALL = 32 };
    size_t m = (size_t)n + 1;
    size_t bytes = m * (3 * sizeof(double) + 2 * sizeof(int) + 1);
    double sbuf[(3 * sizeof(double) + 2 * sizeof(int) + 1) * (SMALL + 1) /
                    sizeof(double) + 1];
    void *block = n <= SMALL ? (void *)sbuf : sn_xmalloc(bytes);
    memset(block, 0, bytes);
    double *u = block, *v = u + m, *minv = v + m;
    int *p = (int *)(minv + m), *way = p + m; /* p: column -> row */
    char *used = (char *)(way + m);
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= n; j++) minv[j] = INFINITY;
        memset(used, 0, (size_t)n + 1);
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int j = 1; j <= n; j++) {
                if (used[j]) continue;
                double c = cost[(size_t)(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                if (c < minv[j]) {
                    minv[j] = c;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for (int j = 0; j <= n; j++) {
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    double total = 0;
    for (int j = 1; j <= n; j++) {
        int i = p[j];
        if (assign) assign[i - 1] = j - 1;
        total += cost[(size_t)(i - 1) * n + (j - 1)];
    }
    if (block != (void *)sbuf) free(block);
    return total;
}

/* The skips' matching on an s x s cost matrix c (padded with 1: an
 * unmatched skip costs 1). Out of line for the reason of layers_dp. */
__attribute__((noinline)) static double
skips_match(const sn_graph_desc *a, const sn_graph_desc *b, int s, double *c) {
    int n = a->n_skips, m = b->n_skips;
    for (int i = 0; i < s; i++)
        for (int j = 0; j < s; j++)
            c[(size_t)i * s + j] = i < n && j < m
                                       ? skip_cost(&a->skips[i], &b->skips[j])
                                       : 1;
    return sn_hungarian(c, s, NULL);
}

static double skips_distance(const sn_graph_desc *a, const sn_graph_desc *b) {
    int n = a->n_skips, m = b->n_skips;
    int s = n > m ? n : m;
    if (s == 0) return 0;
    if (n == 0 || m == 0) return s;
    if (s <= 16) {
        double buf[16 * 16];
        return skips_match(a, b, s, buf);
    }
    double *c = sn_xmalloc((size_t)s * s * sizeof *c);
    double d = skips_match(a, b, s, c);
    free(c);
    return d;
}

double sn_graph_distance(const sn_graph_desc *a, const sn_graph_desc *b,
                         double lambda) {
    return layers_distance(a, b) + lambda * skips_distance(a, b);
}

/* Hash of what the distance sees (layer types and attributes, skips),
 * FNV-1a over the doubles' bits: equal hashes mean distance 0. */
uint64_t sn_graph_desc_hash(const sn_graph_desc *d) {
    uint64_t h = 0xcbf29ce484222325ull;
#define MIX(v)                                                                \
    do {                                                                      \
        uint64_t b_;                                                          \
        double v_ = (double)(v) + 0.0; /* -0 and 0 hash alike */              \
        memcpy(&b_, &v_, sizeof b_);                                          \
        for (int s_ = 0; s_ < 64; s_ += 8) {                                  \
            h ^= (b_ >> s_) & 0xff;                                           \
            h *= 0x100000001b3ull;                                            \
        }                                                                     \
    } while (0)
    MIX(d->n_layers);
    for (int i = 0; i < d->n_layers; i++) {
        MIX(d->layers[i].type);
        for (int k = 0; k < d->layers[i].n_attr; k++) MIX(d->layers[i].attr[k]);
    }
    MIX(d->n_skips);
    for (int i = 0; i < d->n_skips; i++) {
        MIX(d->skips[i].type);
        MIX(d->skips[i].u);
        MIX(d->skips[i].delta);
    }
#undef MIX
    return h;
}

/* ---- Gaussian process ----------------------------------------------- */

int sn_gp_fail_next; /* tests: make the next fits fail (see search.h) */

struct sn_gp {
    int n, m;                 /* training graphs, embedding dimension */
    double lambda;
    const sn_graph_desc **x;  /* borrowed */
    int *sub_start, *sub;     /* subset j: sub[sub_start[j] .. [j+1]) */
    double *emb;              /* [n][m] */
    double *l;                /* Cholesky factor of K + noise I, [n][n] */
    double *alpha;            /* (K + noise I)^-1 (y - prior) */
    double mean, slope, lp0;  /* prior(x) = mean + slope (log_params - lp0) */
    sn_gp_hyper h;
    double lml;               /* log marginal likelihood at h */
};

static double prior_mean(const sn_gp *gp, const sn_graph_desc *x) {
    return gp->mean + gp->slope * (x->log_params - gp->lp0);
}

/* Small deterministic generator for the subsets (AutoKeras seeds its
 * numpy generator with a constant too): fits stay reproducible. */
static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void embed(const sn_gp *gp, const double *dist_to_train, double *e) {
    for (int j = 0; j < gp->m; j++) {
        double best = INFINITY;
        for (int k = gp->sub_start[j]; k < gp->sub_start[j + 1]; k++)
            best = fmin(best, dist_to_train[gp->sub[k]]);
        e[j] = best;
    }
}

/* rho^2: squared Euclidean distance of two embeddings over m. */
static double rho2(const sn_gp *gp, const double *a, const double *b) {
    double s = 0;
    for (int j = 0; j < gp->m; j++) {
        double t = a[j] - b[j];
        s += t * t;
    }
    return s / gp->m;
}

static double kern(const sn_gp_hyper *h, double r2) {
    return h->amp * exp(-r2 / (h->len * h->len));
}

/* In-place lower Cholesky of a [n][n]; -1 when not positive definite.
 * Below the diagonal, four rows at a time: each row's sum runs in the
 * same order as one row alone would (the result is the same to the
 * bit), but four independent sums keep the FPU busy. */
static int cholesky(double *a, int n) {
    for (int j = 0; j < n; j++) {
        const double *rj = a + (size_t)j * n;
        double s = rj[j];
        for (int k = 0; k < j; k++) s -= rj[k] * rj[k];
        if (!(s > 0)) return -1;
        double d = sqrt(s);
        a[(size_t)j * n + j] = d;
        int i = j + 1;
        for (; i + 3 < n; i += 4) {
            double *r0 = a + (size_t)i * n, *r1 = r0 + n, *r2 = r1 + n,
                   *r3 = r2 + n;
            double t0 = r0[j], t1 = r1[j], t2 = r2[j], t3 = r3[j];
            for (int k = 0; k < j; k++) {
                double x = rj[k];
                t0 -= r0[k] * x;
                t1 -= r1[k] * x;
                t2 -= r2[k] * x;
                t3 -= r3[k] * x;
            }
            r0[j] = t0 / d;
            r1[j] = t1 / d;
            r2[j] = t2 / d;
            r3[j] = t3 / d;
        }
        for (; i < n; i++) {
            double *ri = a + (size_t)i * n;
            double t = ri[j];
            for (int k = 0; k < j; k++) t -= ri[k] * rj[k];
            ri[j] = t / d;
        }
        for (int i2 = 0; i2 < j; i2++) a[(size_t)i2 * n + j] = 0;
    }
    return 0;
}

/* Solves L z = b in place. */
static void forward_solve(const double *l, int n, double *b) {
    for (int i = 0; i < n; i++) {
        double s = b[i];
        for (int k = 0; k < i; k++) s -= l[(size_t)i * n + k] * b[k];
        b[i] = s / l[(size_t)i * n + i];
    }
}

/* Solves L^T z = b in place. */
static void backward_solve(const double *l, int n, double *b) {
    for (int i = n - 1; i >= 0; i--) {
        double s = b[i];
        for (int k = i + 1; k < n; k++) s -= l[(size_t)k * n + i] * b[k];
        b[i] = s / l[(size_t)i * n + i];
    }
}

/* ---- hyperparameters by maximum marginal likelihood -------------------
 * Model: y ~ N(0, amp (E + g I)), E_ab = exp(-r2_ab / len^2), g the noise
 * to amplitude ratio. For fixed (len, g) the best amp has a closed form,
 * amp = y^T (E + g I)^-1 y / n, so the search is over (log len, log g)
 * only (the profile likelihood); amp and noise = g amp are then clipped
 * to their bounds. The optimiser is a compass (coordinate) search in log
 * space inside the bounds: try +-step on each coordinate, keep a better
 * point, halve the step when none is (1 down to 1/8), from two fixed
 * starts. */

#define LEN_MIN 0.05
#define LEN_MAX 50.0
#define G_MIN 1e-6
#define G_MAX 10.0
#define AMP_MIN 1e-6
#define AMP_MAX 1.0
#define NOISE_MIN 1e-8

/* The compass search comes back to the same few lengthscales (the
 * current one and a step either side) while it tries noise levels: the
 * matrices E of the last ML_KEEP lengthscales are kept. */
#define ML_KEEP 4

typedef struct ml_work {
    const double *r2, *y;
    int n;
    double *a, *v; /* [n][n], [n] */
    int evals;
    double *e[ML_KEEP]; /* E at log lengthscale e_llen[k] ([n][n], below
                           the diagonal); NULL while unused */
    double e_llen[ML_KEEP];
    int e_next;
} ml_work;

/* E (below the diagonal) at log lengthscale llen, made or kept. */
static const double *ml_kernel(ml_work *w, double llen) {
    int n = w->n;
    for (int k = 0; k < ML_KEEP; k++)
        if (w->e[k] && w->e_llen[k] == llen) return w->e[k];
    int k = w->e_next;
    w->e_next = (k + 1) % ML_KEEP;
    if (!w->e[k]) w->e[k] = sn_xmalloc((size_t)n * n * sizeof(double));
    w->e_llen[k] = llen;
    double len = exp(llen);
    double *e = w->e[k];
    for (int a = 0; a < n; a++)
        for (int b = 0; b < a; b++)
            e[(size_t)a * n + b] = exp(-w->r2[(size_t)a * n + b] / (len * len));
    return e;
}

/* Profile log likelihood at (log len, log g), amp filled in; -inf when
 * the factorisation fails. */
static double profile_lml(ml_work *w, double llen, double lg, double *amp) {
    int n = w->n;
    double g = exp(lg);
    w->evals++;
    const double *e = ml_kernel(w, llen);
    /* the Cholesky reads the lower triangle only */
    for (int a = 0; a < n; a++) {
        memcpy(w->a + (size_t)a * n, e + (size_t)a * n,
               (size_t)a * sizeof(double));
        w->a[(size_t)a * n + a] = 1 + g;
    }
    if (cholesky(w->a, n)) return -INFINITY;
    memcpy(w->v, w->y, (size_t)n * sizeof *w->v);
    forward_solve(w->a, n, w->v);
    double q = 0, logdet = 0;
    for (int i = 0; i < n; i++) {
        q += w->v[i] * w->v[i];
        logdet += log(w->a[(size_t)i * n + i]);
    }
    double s = q / n;
    if (!(s > 0)) s = AMP_MIN;
    double am = fmin(fmax(s, AMP_MIN), AMP_MAX);
    if (amp) *amp = am;
    /* log N(y; 0, am (E + gI)) with the Cholesky of E + gI */
    return -0.5 * q / am - logdet - 0.5 * n * log(am) -
           0.5 * n * log(2 * M_PI);
}

int sn_gp_ml_fit(const double *r2, const double *y, int n,
                 const sn_gp_hyper *start, sn_gp_hyper *out, double *lml) {
    if (n < 1) return -1;
    ml_work w = {r2, y, n, sn_xmalloc((size_t)n * n * sizeof(double)),
                 sn_xmalloc((size_t)n * sizeof(double)), 0, {NULL}, {0}, 0};
    const double lo[2] = {log(LEN_MIN), log(G_MIN)};
    const double hi[2] = {log(LEN_MAX), log(G_MAX)};
    double starts[3][2] = {{log(1.0), log(0.1)},
                           {log(0.25), log(0.01)},
                           {0, 0}};
    int ns = 2;
    if (start && start->len > 0 && start->amp > 0 && start->noise > 0) {
        starts[ns][0] = log(start->len);
        starts[ns][1] = log(start->noise / start->amp);
        ns++;
    }
    double best = -INFINITY, bx[2] = {0, 0};
    for (int s = 0; s < ns; s++) {
        double x[2];
        for (int k = 0; k < 2; k++)
            x[k] = fmin(fmax(starts[s][k], lo[k]), hi[k]);
        double f = profile_lml(&w, x[0], x[1], NULL);
        double step = 1.0;
        while (step > 0.09) {
            int moved = 0;
            for (int k = 0; k < 2; k++)
                for (int sg = -1; sg <= 1; sg += 2) {
                    double t[2] = {x[0], x[1]};
                    t[k] = fmin(fmax(t[k] + sg * step, lo[k]), hi[k]);
                    if (t[k] == x[k]) continue;
                    double ft = profile_lml(&w, t[0], t[1], NULL);
                    if (ft > f) {
                        f = ft;
                        x[0] = t[0];
                        x[1] = t[1];
                        moved = 1;
                    }
                }
            if (!moved) step *= 0.5;
        }
        if (f > best) {
            best = f;
            bx[0] = x[0];
            bx[1] = x[1];
        }
    }
    int rc = -1;
    if (best > -INFINITY) {
        double amp = AMP_MIN;
        profile_lml(&w, bx[0], bx[1], &amp);
        out->len = exp(bx[0]);
        out->amp = amp;
        out->noise = fmax(exp(bx[1]) * amp, NOISE_MIN);
        if (lml) *lml = best;
        rc = 0;
    }
    free(w.a);
    free(w.v);
    for (int k = 0; k < ML_KEEP; k++) free(w.e[k]);
    return rc;
}

sn_gp *sn_gp_fit(const sn_graph_desc *const *x, const double *y, int n,
                 double lambda, sn_error *e) {
    if (n < 1) {
        sn_errf(e, "gp: no training data");
        return NULL;
    }
    double *dist = sn_xmalloc((size_t)n * n * sizeof *dist);
    for (int i = 0; i < n; i++) {
        dist[(size_t)i * n + i] = 0;
        for (int j = 0; j < i; j++)
            dist[(size_t)i * n + j] = dist[(size_t)j * n + i] =
                sn_graph_distance(x[i], x[j], lambda);
    }
    sn_gp *gp = sn_gp_fit_dist(x, y, n, dist, lambda, e);
    free(dist);
    return gp;
}

sn_gp *sn_gp_fit_dist(const sn_graph_desc *const *x, const double *y, int n,
                      const double *dist, double lambda, sn_error *e) {
    return sn_gp_fit_hyper(x, y, n, dist, lambda, NULL, e);
}

sn_gp *sn_gp_fit_hyper(const sn_graph_desc *const *x, const double *y, int n,
                       const double *dist, double lambda,
                       const sn_gp_hyper *fixed, sn_error *e) {
    if (n < 1) {
        sn_errf(e, "gp: no training data");
        return NULL;
    }
    sn_gp *gp = sn_xcalloc(1, sizeof *gp);
    gp->n = n;
    gp->lambda = lambda;
    gp->x = sn_xmalloc((size_t)n * sizeof *gp->x);
    memcpy(gp->x, x, (size_t)n * sizeof *x);
    /* Subsets of sizes 2^i, i = 0..k, k = ceil(log2 n) - 1, t = ceil(ln n)
     * of each, drawn with replacement. */
    int k = n > 1 ? (int)ceil(log2((double)n)) - 1 : 0;
    if (k < 0) k = 0;
    int t = n > 1 ? (int)ceil(log((double)n)) : 1;
    if (t < 1) t = 1;
    gp->m = (k + 1) * t;
    gp->sub_start = sn_xmalloc(((size_t)gp->m + 1) * sizeof(int));
    int total = 0;
    for (int i = 0; i <= k; i++) total += t << i;
    gp->sub = sn_xmalloc((size_t)total * sizeof(int));
    uint64_t st = 123;
    int pos = 0, j = 0;
    for (int i = 0; i <= k; i++)
        for (int r = 0; r < t; r++) {
            gp->sub_start[j++] = pos;
            for (int q = 0; q < (1 << i); q++)
                gp->sub[pos++] = (int)(splitmix(&st) % (uint64_t)n);
        }
    gp->sub_start[j] = pos;
    gp->emb = sn_xmalloc((size_t)n * gp->m * sizeof *gp->emb);
    for (int i = 0; i < n; i++)
        embed(gp, dist + (size_t)i * n, gp->emb + (size_t)i * gp->m);

    /* Prior mean: least squares of y on log10(params), the slope kept
     * >= 0 (more parameters do not cost accuracy a priori). A graph far
     * from all training graphs then gets the accuracy typical of its size
     * rather than the overall mean, so a tiny network is not predicted to
     * be as good as the big ones it was cut from. */
    double mean = 0, lp0 = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        mean += y[i];
        lp0 += x[i]->log_params;
    }
    mean /= n;
    lp0 /= n;
    for (int i = 0; i < n; i++) {
        double dx = x[i]->log_params - lp0;
        sxx += dx * dx;
        sxy += dx * (y[i] - mean);
    }
    gp->mean = mean;
    gp->lp0 = lp0;
    gp->slope = n >= 2 && sxx > 1e-6 && sxy > 0 ? sxy / sxx : 0;
    double *res = sn_xmalloc((size_t)n * sizeof *res);
    double *r2 = sn_xmalloc((size_t)n * n * sizeof *r2);
    for (int i = 0; i < n; i++) res[i] = y[i] - prior_mean(gp, x[i]);
    for (int a = 0; a < n; a++) {
        r2[(size_t)a * n + a] = 0;
        for (int b = 0; b < a; b++)
            r2[(size_t)a * n + b] = r2[(size_t)b * n + a] =
                rho2(gp, gp->emb + (size_t)a * gp->m,
                     gp->emb + (size_t)b * gp->m);
    }
    /* Amplitude, lengthscale and noise: given, or by the likelihood. */
    if (fixed) {
        gp->h = *fixed;
        gp->lml = NAN;
    } else if (sn_gp_ml_fit(r2, res, n, NULL, &gp->h, &gp->lml)) {
        gp->h = (sn_gp_hyper){AMP_MIN, 1.0, NOISE_MIN}; /* factor fails below */
        gp->lml = -INFINITY;
    }
    gp->l = sn_xmalloc((size_t)n * n * sizeof *gp->l);
    for (int a = 0; a < n; a++) {
        for (int b = 0; b < a; b++)
            gp->l[(size_t)a * n + b] = gp->l[(size_t)b * n + a] =
                kern(&gp->h, r2[(size_t)a * n + b]);
        gp->l[(size_t)a * n + a] = gp->h.amp + gp->h.noise;
    }
    free(r2);
    int failed = sn_gp_fail_next > 0;
    if (failed) sn_gp_fail_next--;
    if (failed || cholesky(gp->l, n)) {
        free(res);
        sn_gp_free(gp);
        sn_errf(e, "gp: kernel matrix is not positive definite");
        return NULL;
    }
    gp->alpha = res;
    forward_solve(gp->l, n, gp->alpha);
    backward_solve(gp->l, n, gp->alpha);
    return gp;
}

void sn_gp_hyper_get(const sn_gp *gp, sn_gp_hyper *h) { *h = gp->h; }

void sn_gp_free(sn_gp *gp) {
    if (!gp) return;
    free(gp->x);
    free(gp->sub_start);
    free(gp->sub);
    free(gp->emb);
    free(gp->l);
    free(gp->alpha);
    free(gp);
}

void sn_gp_predict(const sn_gp *gp, const sn_graph_desc *x, double *mean,
                   double *sd) {
    int n = gp->n;
    double *d = sn_xmalloc((size_t)n * sizeof *d);
    double *e = sn_xmalloc((size_t)gp->m * sizeof *e);
    double *ks = sn_xmalloc((size_t)n * sizeof *ks);
    for (int i = 0; i < n; i++) d[i] = sn_graph_distance(x, gp->x[i], gp->lambda);
    embed(gp, d, e);
    double mu = prior_mean(gp, x);
    for (int i = 0; i < n; i++) {
        ks[i] = kern(&gp->h, rho2(gp, e, gp->emb + (size_t)i * gp->m));
        mu += ks[i] * gp->alpha[i];
    }
    forward_solve(gp->l, n, ks);
    /* the latent accuracy's spread (a retraining's noise left out) */
    double v = gp->h.amp;
    for (int i = 0; i < n; i++) v -= ks[i] * ks[i];
    if (mean) *mean = mu;
    if (sd) *sd = v > 0 ? sqrt(v) : 0;
    free(d);
    free(e);
    free(ks);
}

void sn_gp_kernel_matrix(const sn_gp *gp, double *k) {
    int n = gp->n;
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++)
            k[(size_t)a * n + b] =
                kern(&gp->h, rho2(gp, gp->emb + (size_t)a * gp->m,
                                  gp->emb + (size_t)b * gp->m));
}

double sn_gp_min_distance(const sn_gp *gp, const sn_graph_desc *x) {
    double best = INFINITY;
    for (int i = 0; i < gp->n; i++)
        best = fmin(best, sn_graph_distance(x, gp->x[i], gp->lambda));
    return best;
}
