/* front.c — Pareto front, hypervolume and its expected improvement.
 *
 * Coordinates are all "larger is better" and non-negative: accuracy and
 * the mapped sizes x = 1 - log(size)/log(ref) (see search.h). The
 * reference point is the origin, so a point (x, acc) dominates the box
 * [0,x]x[0,acc] (and [0,x1]x[0,x2]x[0,acc] with two size objectives). */
#include "slimnas/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double sn_hv_x(double size, double ref) {
    if (size <= 0) return 1;
    if (ref <= 0) return 0;
    double x = log10(ref / size) / SN_HV_DECADES;
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

static double pos(double v) { return v > 0 ? v : 0; }

/* a dominates b: >= everywhere, > somewhere. */
static int dominates(const sn_hv_point *a, const sn_hv_point *b, int dim) {
    int better = a->acc > b->acc;
    if (a->acc < b->acc) return 0;
    for (int k = 0; k < dim; k++) {
        if (a->x[k] < b->x[k]) return 0;
        if (a->x[k] > b->x[k]) better = 1;
    }
    return better;
}

static int same(const sn_hv_point *a, const sn_hv_point *b, int dim) {
    if (a->acc != b->acc) return 0;
    for (int k = 0; k < dim; k++)
        if (a->x[k] != b->x[k]) return 0;
    return 1;
}

typedef struct ranked {
    double acc, x[SN_SEARCH_MAX_OBJ];
    int i;
} ranked;

/* Accuracy descending, then sizes' x descending, then index: a point's
 * dominators and earlier duplicates all come before it. */
static int cmp_ranked(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->acc != b->acc) return a->acc > b->acc ? -1 : 1;
    for (int k = 0; k < SN_SEARCH_MAX_OBJ; k++)
        if (a->x[k] != b->x[k]) return a->x[k] > b->x[k] ? -1 : 1;
    return a->i - b->i;
}

/* In that order a point is compared with the members kept so far only:
 * whatever dominates it is either kept or dominated by a kept member
 * (dominance is transitive), so O(n log n + n x front), not O(n^2). */
int sn_pareto_front(const sn_hv_point *p, int n, int dim, int *idx) {
    SN_ASSERT(dim >= 1 && dim <= SN_SEARCH_MAX_OBJ);
    if (n <= 0) return 0;
    ranked *r = sn_xcalloc((size_t)n, sizeof *r);
    for (int i = 0; i < n; i++) {
        r[i].acc = p[i].acc;
        for (int k = 0; k < dim; k++) r[i].x[k] = p[i].x[k];
        r[i].i = i;
    }
    qsort(r, (size_t)n, sizeof *r, cmp_ranked);
    int m = 0;
    for (int a = 0; a < n; a++) {
        const sn_hv_point *q = &p[r[a].i];
        int keep = 1;
        for (int j = 0; j < m && keep; j++)
            if (dominates(&p[idx[j]], q, dim) || same(&p[idx[j]], q, dim))
                keep = 0;
        if (keep) idx[m++] = r[a].i;
    }
    free(r);
    /* Insertion sort by x[0] descending (smallest size first): qsort has
     * no context pointer and two searches may run this at once. Fronts
     * are small. */
    for (int i = 1; i < m; i++) {
        int v = idx[i], j = i;
        while (j > 0) {
            const sn_hv_point *a = &p[v], *b = &p[idx[j - 1]];
            int before = a->x[0] > b->x[0] ||
                         (a->x[0] == b->x[0] && a->acc > b->acc);
            if (!before) break;
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
    return m;
}

typedef struct xy {
    double x, y;
} xy;

static int cmp_x_desc(const void *pa, const void *pb) {
    const xy *a = pa, *b = pb;
    return a->x > b->x ? -1 : a->x < b->x ? 1 : 0;
}

/* Area of the union of rectangles [0,x]x[0,y]; sorts r in place. */
static double union_area(xy *r, int n) {
    qsort(r, (size_t)n, sizeof *r, cmp_x_desc);
    double area = 0, ymax = 0;
    for (int k = 0; k < n; k++) {
        ymax = fmax(ymax, pos(r[k].y));
        double next = k + 1 < n ? pos(r[k + 1].x) : 0;
        area += (pos(r[k].x) - next) * ymax;
    }
    return area;
}

typedef struct pa {
    double acc;
    int i;
} pa;

static int cmp_acc_desc(const void *x, const void *y) {
    const pa *a = x, *b = y;
    return a->acc > b->acc ? -1 : a->acc < b->acc ? 1 : a->i - b->i;
}

double sn_hypervolume(const sn_hv_point *p, int n, int dim) {
    SN_ASSERT(dim >= 1 && dim <= SN_SEARCH_MAX_OBJ);
    if (n <= 0) return 0;
    xy *r = sn_xmalloc((size_t)n * sizeof *r);
    double hv = 0;
    if (dim == 1) {
        for (int i = 0; i < n; i++) r[i] = (xy){p[i].x[0], p[i].acc};
        hv = union_area(r, n);
    } else {
        /* Slices along accuracy: between consecutive accuracy levels the
         * cross-section is the 2-D union of the points at or above it. */
        pa *o = sn_xmalloc((size_t)n * sizeof *o);
        for (int i = 0; i < n; i++) o[i] = (pa){pos(p[i].acc), i};
        qsort(o, (size_t)n, sizeof *o, cmp_acc_desc);
        for (int k = 0; k < n; k++) {
            double lo = k + 1 < n ? o[k + 1].acc : 0;
            double h = o[k].acc - lo;
            if (h <= 0) continue;
            for (int j = 0; j <= k; j++)
                r[j] = (xy){p[o[j].i].x[0], p[o[j].i].x[1]};
            hv += h * union_area(r, k + 1);
        }
        free(o);
    }
    free(r);
    return hv;
}

double sn_hv_improvement(const sn_hv_point *p, int n, int dim,
                         const sn_hv_point *q) {
    sn_hv_point *all = sn_xmalloc((size_t)(n + 1) * sizeof *all);
    if (n) memcpy(all, p, (size_t)n * sizeof *p);
    all[n] = *q;
    double d = sn_hypervolume(all, n + 1, dim) - sn_hypervolume(p, n, dim);
    free(all);
    return d > 0 ? d : 0;
}

/* Measure of q's box [0,q.x] not covered by the boxes of the points with
 * acc >= level, clipped to q's box. */
static double uncovered(const sn_hv_point *p, int n, int dim,
                        const sn_hv_point *q, double level, xy *r) {
    if (dim == 1) {
        double xm = 0;
        for (int i = 0; i < n; i++)
            if (p[i].acc >= level) xm = fmax(xm, fmin(p[i].x[0], q->x[0]));
        return pos(pos(q->x[0]) - xm);
    }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (p[i].acc >= level)
            r[m++] = (xy){fmin(p[i].x[0], q->x[0]), fmin(p[i].x[1], q->x[1])};
    return pos(pos(q->x[0]) * pos(q->x[1]) - union_area(r, m));
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* E[(A - b)^+] for A ~ N(mu, sd^2). */
static double expected_excess(double mu, double sd, double b) {
    if (sd <= 0) return pos(mu - b);
    double z = (mu - b) / sd;
    double cdf = 0.5 * erfc(-z / sqrt(2.0));
    double pdf = exp(-0.5 * z * z) / sqrt(2 * M_PI);
    return (mu - b) * cdf + sd * pdf;
}

/* The improvement as a function of q's accuracy a is
 *   HVI(a) = integral_0^a g(t) dt,
 * g(t) the uncovered measure of q's box at height t (points with acc >=
 * t cover it). g is a non-decreasing step function with steps at the
 * points' accuracies b_1 < ... < b_m, so HVI(a) = sum_j c_j (a - b_j)^+
 * with b_0 = 0 and c_j the step of g at b_j, and the expectation is a
 * sum of Gaussian expected excesses. */
double sn_hv_expected_improvement(const sn_hv_point *p, int n, int dim,
                                  const sn_hv_point *q, double mu,
                                  double sigma) {
    double *b = sn_xmalloc((size_t)(n + 1) * sizeof *b);
    xy *r = sn_xmalloc((size_t)(n + 1) * sizeof *r);
    int m = 0;
    b[m++] = 0;
    for (int i = 0; i < n; i++)
        if (p[i].acc > 0) b[m++] = p[i].acc;
    qsort(b, (size_t)m, sizeof *b, cmp_double);
    int u = 0;
    for (int i = 0; i < m; i++)
        if (i == 0 || b[i] != b[u - 1]) b[u++] = b[i];
    /* On (b_j, b_{j+1}] the points above t are those with acc >= b_{j+1};
     * above the highest level nothing covers q's box. */
    double ei = 0, gprev = 0;
    for (int j = 0; j < u; j++) {
        double g = j + 1 < u ? uncovered(p, n, dim, q, b[j + 1], r)
                             : uncovered(p, 0, dim, q, 0, r);
        double c = g - gprev;
        if (c != 0) ei += c * expected_excess(mu, sigma, b[j]);
        gprev = g;
    }
    free(r);
    free(b);
    return ei > 0 ? ei : 0;
}
