/* shrink.c — the approximate operators, which make a network cheaper and
 * leave the fine-tuning that follows to recover the accuracy:
 *  - separable: conv kxk Cin->Cout becomes depthwise kxk + pointwise 1x1,
 *    fitted per input channel by the best rank-one approximation (SVD) of
 *    that channel's Cout x k^2 slice of the kernel;
 *  - prune: drop the filters with the smallest saliency (the |gamma| of a
 *    bn that reads the conv directly, else the L1 norm of the filter);
 *  - remove: drop a conv/dense (+ its bn, + its relu) whose output has the
 *    shape of its input;
 *  - remove-skip: drop one input of an add or concat (and whatever only
 *    fed it);
 *  - narrow-kernel: crop a kernel to its centre, padding reduced to keep
 *    the output size. */
#include "morph_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void no_init(const sn_graph *g, const sn_weights *w, sn_morph_op op,
                    const mplan *p, sn_weights *cw) {}

static int inner(const sn_graph *g, int pos, const char *what, sn_error *e) {
    if (pos == g->n_nodes - 1)
        return sn_errf(e, "%s: %s is the output layer", what,
                       g->nodes[pos].name);
    if (pos <= 0 || pos >= g->n_nodes)
        return sn_errf(e, "%s: position %d is not an inner layer (1..%d)",
                       what, pos, g->n_nodes - 2);
    return 0;
}

/* ---- separable ----------------------------------------------------------- */

static int sep_check(const sn_graph *g, int pos, sn_error *e) {
    if (pos <= 0 || pos >= g->n_nodes)
        return sn_errf(e, "separable: position %d does not exist", pos);
    const sn_node *nd = &g->nodes[pos];
    if (nd->op != SN_OP_CONV || nd->attr.groups != 1)
        return sn_errf(e, "separable: %s (%s) is not a standard conv",
                       nd->name, sn_op_get(nd->op)->name);
    if (nd->attr.k < 2)
        return sn_errf(e, "separable: %s is already 1x1", nd->name);
    return 0;
}

static void sep_candidates(const sn_graph *g, int id, cand_list *l) {
    for (int i = 1; i < g->n_nodes; i++)
        if (sep_check(g, i, NULL) == 0) cand_push(l, id, i, 0);
}

/* base + suffix, without piling suffixes up over generations: a layer
 * separated twice is "conv7_dw", not "conv7_dw_dw" (a clash gets a fresh
 * name). */
static void name_with_suffix(const medit *ed, const char *base,
                             const char *suffix, char *out) {
    char want[SN_NAME_LEN];
    int len = (int)strlen(base);
    while (len > 3 && base[len - 3] == '_' &&
           (!strncmp(base + len - 2, "dw", 2) ||
            !strncmp(base + len - 2, "pw", 2)))
        len -= 3;
    int room = (int)(SN_NAME_LEN - 1 - strlen(suffix));
    snprintf(want, sizeof want, "%.*s%s", len < room ? len : room, base,
             suffix);
    for (int i = 0; i < ed->n; i++)
        if (!strcmp(ed->nodes[i].name, want)) {
            ed_fresh_name(ed, want, out);
            return;
        }
    memcpy(out, want, SN_NAME_LEN);
}

static int sep_build(const sn_graph *g, const sn_weights *w, sn_morph_op op,
                     uint64_t seed, mplan *p, sn_error *e) {
    if (sep_check(g, op.pos, e) < 0) return -1;
    int i = op.pos;
    const sn_node *nd = &g->nodes[i];
    int cin = mg_in_shape(g, i).c;
    medit ed;
    ed_init(&ed, g);
    sn_attr pa = sn_attr_default(SN_OP_CONV);
    pa.out = nd->attr.out;
    pa.k = 1;
    pa.bias = nd->attr.bias;
    int pw = ed_insert(&ed, i + 1, SN_OP_CONV, &pa, &i, 1, "conv");
    ed_redirect(&ed, i, pw, pw + 1);
    sn_node *dw = &ed.nodes[i];
    dw->attr.groups = cin;
    dw->attr.out = cin;
    dw->attr.bias = 0; /* the pointwise conv carries the bias */
    ed.origin[i] = -1;
    char name[SN_NAME_LEN];
    name_with_suffix(&ed, nd->name, "_pw", name);
    memcpy(ed.nodes[pw].name, name, SN_NAME_LEN);
    name_with_suffix(&ed, nd->name, "_dw", name);
    memcpy(dw->name, name, SN_NAME_LEN);
    p->node[0] = i;
    p->node[1] = pw;
    p->n_node = 2;
    int r = plan_build(p, &ed, g, e);
    ed_free(&ed);
    return r;
}

/* Eigen-decomposition of the symmetric n x n matrix a (destroyed) by cyclic
 * Jacobi rotations: eigenvalues on a's diagonal, eigenvectors in the
 * columns of v. n is at most k^2 (49 for 7x7), so O(n^3) sweeps are
 * cheap, and Jacobi is robust where power iteration may start orthogonal
 * to the top vector. */
static void jacobi_eig(double *a, double *v, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) v[i * n + j] = i == j;
    for (int sweep = 0; sweep < 60; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < n; i++) {
            diag += a[i * n + i] * a[i * n + i];
            for (int j = i + 1; j < n; j++) off += a[i * n + j] * a[i * n + j];
        }
        if (off <= 1e-30 * (diag + 1e-300)) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (fabs(apq) < 1e-300) continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) /
                           (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) { /* columns p, q */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* rows p, q */
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) {
                    double vkp = v[k * n + p], vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
}

static void sep_init(const sn_graph *g, const sn_weights *w, sn_morph_op op,
                     const mplan *p, sn_weights *cw) {
    int o = op.pos, dwn = p->node[0], pwn = p->node[1];
    const sn_tensor_desc *d = &w->desc[o][0];
    int cout = d->dims[0], cin = d->dims[1], kk = d->dims[2] * d->dims[3];
    const float *W = sn_weights_tensor(w, o, 0);
    float *D = sn_weights_tensor(cw, dwn, 0); /* [cin, 1, k, k] */
    float *P = sn_weights_tensor(cw, pwn, 0); /* [cout, cin, 1, 1] */
    double *a = sn_xmalloc(sizeof *a * (size_t)kk * kk);
    double *v = sn_xmalloc(sizeof *v * (size_t)kk * kk);
    double *u = sn_xmalloc(sizeof *u * (size_t)cout);
    for (int i = 0; i < cin; i++) {
        /* M[o][t] = W[o, i, t]; A = M^T M; top eigenpair (lambda, v) gives
         * M ~ sigma u v^T with sigma = sqrt(lambda), sigma u = M v. */
        for (int s = 0; s < kk; s++)
            for (int t = 0; t < kk; t++) {
                double acc = 0;
                for (int oc = 0; oc < cout; oc++)
                    acc += (double)W[((size_t)oc * cin + i) * kk + s] *
                           W[((size_t)oc * cin + i) * kk + t];
                a[s * kk + t] = acc;
            }
        jacobi_eig(a, v, kk);
        int best = 0;
        for (int s = 1; s < kk; s++)
            if (a[s * kk + s] > a[best * kk + best]) best = s;
        double lambda = a[best * kk + best], sum = 0;
        for (int t = 0; t < kk; t++) sum += v[t * kk + best];
        double sign = sum < 0 ? -1 : 1; /* a deterministic orientation */
        double sigma = lambda > 0 ? sqrt(lambda) : 0;
        for (int oc = 0; oc < cout; oc++) {
            double acc = 0;
            for (int t = 0; t < kk; t++)
                acc += (double)W[((size_t)oc * cin + i) * kk + t] * sign *
                       v[t * kk + best];
            u[oc] = acc; /* = sigma * unit u */
        }
        /* Split sigma evenly between the two factors so neither starts
         * much larger than the other (better conditioned fine-tuning). */
        double rs = sigma > 0 ? sqrt(sigma) : 0;
        for (int t = 0; t < kk; t++)
            D[(size_t)i * kk + t] = (float)(rs * sign * v[t * kk + best]);
        for (int oc = 0; oc < cout; oc++)
            P[(size_t)oc * cin + i] = sigma > 0 ? (float)(u[oc] / rs) : 0.0f;
    }
    if (g->nodes[o].attr.bias && cw->n_tensors[pwn] > 1)
        memcpy(sn_weights_tensor(cw, pwn, 1), sn_weights_tensor(w, o, 1),
               sizeof(float) * (size_t)cout);
    free(a);
    free(v);
    free(u);
}

static void sep_describe(const sn_graph *g, sn_morph_op op, char *buf,
                         size_t n) {
    const sn_node *nd = &g->nodes[op.pos];
    snprintf(buf, n, "separable %s (%dx%d %d->%d)", nd->name, nd->attr.k,
             nd->attr.k, op.pos > 0 ? mg_in_shape(g, op.pos).c : 0,
             nd->attr.out);
}

const morph_def morph_separable = {
    {"separable", SN_MORPH_APPROX, SN_MORPH_ARG_NONE,
     "separable:CONV  replace a standard conv by depthwise + pointwise, "
     "fitted by a rank-one SVD per input channel"},
    sep_candidates, sep_build, sep_init, sep_describe};

/* ---- prune --------------------------------------------------------------- */

static int prune_check(const sn_graph *g, int pos, int c, sn_error *e) {
    if (inner(g, pos, "prune", e) < 0) return -1;
    const sn_node *nd = &g->nodes[pos];
    if (!mg_is_full(g, pos))
        return sn_errf(e, "prune: %s (%s) is not a conv with groups 1 or a "
                       "dense layer", nd->name, sn_op_get(nd->op)->name);
    if (c < 1 || c >= nd->attr.out)
        return sn_errf(e, "prune: can remove 1..%d of %s's %d filters, not %d",
                       nd->attr.out - 1, nd->name, nd->attr.out, c);
    return 0;
}

static void prune_candidates(const sn_graph *g, int id, cand_list *l) {
    for (int i = 1; i < g->n_nodes - 1; i++) {
        if (!mg_is_full(g, i) || g->nodes[i].attr.out < 2) continue;
        int c = g->nodes[i].attr.out;
        int a = c / 4 > 0 ? c / 4 : 1, b = c / 2;
        cand_push(l, id, i, a);
        if (b != a && b < c) cand_push(l, id, i, b);
    }
}

typedef struct sal {
    double s;
    int j;
} sal;

static int sal_cmp(const void *x, const void *y) {
    const sal *a = x, *b = y;
    if (a->s != b->s) return a->s > b->s ? -1 : 1; /* largest first */
    return a->j - b->j;
}

static int int_cmp(const void *x, const void *y) {
    return *(const int *)x - *(const int *)y;
}

/* The channels to keep (ascending). Without weights (prediction) any
 * choice gives the same structure. */
static int *prune_keep(const sn_graph *g, const sn_weights *w, int pos,
                       int c) {
    int n = g->nodes[pos].attr.out, keep = n - c;
    int *m = cm_new(keep);
    if (!w) {
        for (int j = 0; j < keep; j++) CM_AT(m, j) = j;
        return m;
    }
    sal *s = sn_xmalloc(sizeof *s * (size_t)n);
    int rd[2];
    int nr = mg_consumers(g, pos, rd, 2);
    if (nr == 1 && g->nodes[rd[0]].op == SN_OP_BN) {
        const float *gamma = sn_weights_tensor(w, rd[0], 0);
        for (int j = 0; j < n; j++) s[j] = (sal){fabs(gamma[j]), j};
    } else {
        const sn_tensor_desc *d = &w->desc[pos][0];
        int64_t per = sn_tensor_desc_size(d) / n;
        const float *W = sn_weights_tensor(w, pos, 0);
        for (int j = 0; j < n; j++) {
            double l1 = 0;
            for (int64_t q = 0; q < per; q++) l1 += fabs(W[j * per + q]);
            s[j] = (sal){l1, j};
        }
    }
    qsort(s, (size_t)n, sizeof *s, sal_cmp);
    for (int j = 0; j < keep; j++) CM_AT(m, j) = s[j].j;
    qsort(&CM_AT(m, 0), (size_t)keep, sizeof(int), int_cmp);
    free(s);
    return m;
}

static int prune_build(const sn_graph *g, const sn_weights *w,
                       sn_morph_op op, uint64_t seed, mplan *p, sn_error *e) {
    if (prune_check(g, op.pos, op.arg, e) < 0) return -1;
    chan_init(&p->ch, g);
    p->has_chan = 1;
    chan_set_producer(&p->ch, op.pos, prune_keep(g, w, op.pos, op.arg));
    if (chan_build_child(g, p, e) < 0) {
        sn_err_prefix(e, "prune %s: ", g->nodes[op.pos].name);
        return -1;
    }
    return 0;
}

static void prune_describe(const sn_graph *g, sn_morph_op op, char *buf,
                           size_t n) {
    const sn_node *nd = &g->nodes[op.pos];
    int rd[2];
    int nr = mg_consumers(g, op.pos, rd, 2);
    snprintf(buf, n, "prune %s %d->%d (by %s)", nd->name, nd->attr.out,
             nd->attr.out - op.arg,
             nr == 1 && g->nodes[rd[0]].op == SN_OP_BN ? "bn |gamma|"
                                                       : "L1 norm");
}

const morph_def morph_prune = {
    {"prune", SN_MORPH_APPROX, SN_MORPH_ARG_INT,
     "prune:LAYER[:C]  remove the C filters (units) of a conv or dense "
     "with the smallest bn |gamma| or L1 norm"},
    prune_candidates, prune_build, no_init, prune_describe};

/* ---- remove (a block) ---------------------------------------------------- */

/* The block starting at pos: the layer, then its bn and its relu when
 * each is the only reader of the previous one. Fills chain (up to 3
 * nodes, ascending) when given; returns the last node. */
static int block_chain(const sn_graph *g, int pos, int *chain, int *n) {
    int end = pos, rd[2], k = 0;
    if (chain) chain[k] = pos;
    k++;
    if (mg_consumers(g, end, rd, 2) == 1 && g->nodes[rd[0]].op == SN_OP_BN) {
        end = rd[0];
        if (chain) chain[k] = end;
        k++;
    }
    if (mg_consumers(g, end, rd, 2) == 1 &&
        (g->nodes[rd[0]].op == SN_OP_RELU ||
         g->nodes[rd[0]].op == SN_OP_RELU6)) {
        end = rd[0];
        if (chain) chain[k] = end;
        k++;
    }
    if (n) *n = k;
    return end;
}

static int block_end(const sn_graph *g, int pos) {
    return block_chain(g, pos, NULL, NULL);
}

static int remove_check(const sn_graph *g, int pos, sn_error *e) {
    if (inner(g, pos, "remove", e) < 0) return -1;
    const sn_node *nd = &g->nodes[pos];
    if (nd->op != SN_OP_CONV && nd->op != SN_OP_DENSE)
        return sn_errf(e, "remove: %s (%s) is not a conv or dense layer",
                       nd->name, sn_op_get(nd->op)->name);
    int end = block_end(g, pos);
    if (end >= g->n_nodes - 1)
        return sn_errf(e, "remove: %s feeds the output", nd->name);
    sn_shape in = mg_in_shape(g, pos), out = g->nodes[end].out;
    if (in.c != out.c || in.h != out.h || in.w != out.w)
        return sn_errf(e, "remove: %s maps %dx%dx%d to %dx%dx%d; only a "
                       "block that keeps the shape can go", nd->name, in.h,
                       in.w, in.c, out.h, out.w, out.c);
    return 0;
}

static void remove_candidates(const sn_graph *g, int id, cand_list *l) {
    for (int i = 1; i < g->n_nodes - 1; i++)
        if (remove_check(g, i, NULL) == 0) cand_push(l, id, i, 0);
}

static int remove_build(const sn_graph *g, const sn_weights *w,
                        sn_morph_op op, uint64_t seed, mplan *p,
                        sn_error *e) {
    if (remove_check(g, op.pos, e) < 0) return -1;
    int chain[3], n;
    int end = block_chain(g, op.pos, chain, &n), src = g->nodes[op.pos].in[0];
    medit ed;
    ed_init(&ed, g);
    ed_redirect(&ed, end, src, end + 1);
    /* Last first, so each deleted node's only reader is already gone. */
    for (int k = n - 1; k >= 0; k--) ed_delete(&ed, chain[k], -1);
    int r = plan_build(p, &ed, g, e);
    ed_free(&ed);
    return r;
}

static void remove_describe(const sn_graph *g, sn_morph_op op, char *buf,
                            size_t n) {
    int end = block_end(g, op.pos);
    if (end == op.pos)
        snprintf(buf, n, "remove %s", g->nodes[op.pos].name);
    else
        snprintf(buf, n, "remove %s..%s", g->nodes[op.pos].name,
                 g->nodes[end].name);
}

const morph_def morph_remove = {
    {"remove", SN_MORPH_APPROX, SN_MORPH_ARG_NONE,
     "remove:LAYER  remove a conv or dense (with the bn and relu that "
     "follow it) whose output has its input's shape"},
    remove_candidates, remove_build, no_init, remove_describe};

/* ---- remove-skip ---------------------------------------------------------- */

static int rskip_check(const sn_graph *g, int pos, int k, sn_error *e) {
    if (inner(g, pos, "remove-skip", e) < 0) return -1;
    const sn_node *nd = &g->nodes[pos];
    if (nd->op != SN_OP_ADD && nd->op != SN_OP_CONCAT)
        return sn_errf(e, "remove-skip: %s (%s) is not an add or concat",
                       nd->name, sn_op_get(nd->op)->name);
    if (nd->n_in < 2)
        return sn_errf(e, "remove-skip: %s has a single input", nd->name);
    if (k < 0 || k >= nd->n_in)
        return sn_errf(e, "remove-skip: %s has inputs 0..%d, not %d",
                       nd->name, nd->n_in - 1, k);
    return 0;
}

static void rskip_candidates(const sn_graph *g, int id, cand_list *l) {
    for (int i = 1; i < g->n_nodes - 1; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (rskip_check(g, i, k, NULL) == 0) cand_push(l, id, i, k);
}

static int rskip_build(const sn_graph *g, const sn_weights *w,
                       sn_morph_op op, uint64_t seed, mplan *p, sn_error *e) {
    if (rskip_check(g, op.pos, op.arg, e) < 0) return -1;
    const sn_node *nd = &g->nodes[op.pos];
    if (nd->op == SN_OP_CONCAT) {
        /* The concat keeps the channels of its other inputs; readers lose
         * the weights of the dropped ones (chan.c). */
        int keep = nd->out.c - g->nodes[nd->in[op.arg]].out.c, at = 0, off = 0;
        int *m = cm_new(keep);
        for (int k = 0; k < nd->n_in; k++) {
            int ck = g->nodes[nd->in[k]].out.c;
            if (k != op.arg)
                for (int j = 0; j < ck; j++) CM_AT(m, at++) = off + j;
            off += ck;
        }
        chan_init(&p->ch, g);
        p->has_chan = 1;
        chan_fix_own(&p->ch, op.pos, m);
        if (chan_solve(&p->ch, e) < 0) {
            sn_err_prefix(e, "remove-skip %s: ", nd->name);
            return -1;
        }
    }
    medit ed;
    ed_init(&ed, g);
    if (p->has_chan) chan_apply_attrs(&p->ch, &ed);
    if (nd->n_in > 2) {
        ed_drop_input(&ed, op.pos, op.arg);
    } else {
        int other = nd->in[1 - op.arg];
        ed_delete(&ed, op.pos, other);
    }
    ed_dce(&ed);
    int r = plan_build(p, &ed, g, e);
    ed_free(&ed);
    return r;
}

static void rskip_describe(const sn_graph *g, sn_morph_op op, char *buf,
                           size_t n) {
    const sn_node *nd = &g->nodes[op.pos];
    int src = op.arg >= 0 && op.arg < nd->n_in ? nd->in[op.arg] : 0;
    snprintf(buf, n, "remove-skip %s -> %s (input %d)", g->nodes[src].name,
             nd->name, op.arg);
}

const morph_def morph_remove_skip = {
    {"remove-skip", SN_MORPH_APPROX, SN_MORPH_ARG_INT,
     "remove-skip:NODE[:K]  drop input K of an add or concat NODE, and the "
     "layers that only fed it"},
    rskip_candidates, rskip_build, no_init, rskip_describe};

/* ---- narrow-kernel -------------------------------------------------------- */

static int narrow_check(const sn_graph *g, int pos, int k2, sn_error *e) {
    if (pos <= 0 || pos >= g->n_nodes)
        return sn_errf(e, "narrow-kernel: position %d does not exist", pos);
    const sn_node *nd = &g->nodes[pos];
    if (nd->op != SN_OP_CONV)
        return sn_errf(e, "narrow-kernel: %s (%s) is not a conv", nd->name,
                       sn_op_get(nd->op)->name);
    int k = nd->attr.k, d = (k - k2) / 2;
    if (k < 3)
        return sn_errf(e, "narrow-kernel: %s's %dx%d kernel has no smaller "
                       "centre", nd->name, k, k);
    if (k2 < 1 || k2 >= k || (k - k2) % 2)
        return sn_errf(e, "narrow-kernel: %s's %dx%d kernel can shrink to a "
                       "smaller size of the same parity (at most %d), not %d",
                       nd->name, k, k, k - 2, k2);
    if (nd->attr.pad < d)
        return sn_errf(e, "narrow-kernel: %s has padding %d; a %dx%d centre "
                       "would change the output size", nd->name, nd->attr.pad,
                       k2, k2);
    return 0;
}

static void narrow_candidates(const sn_graph *g, int id, cand_list *l) {
    for (int i = 1; i < g->n_nodes; i++)
        if (g->nodes[i].op == SN_OP_CONV)
            for (int k2 = g->nodes[i].attr.k - 2; k2 >= 1; k2 -= 2)
                if (narrow_check(g, i, k2, NULL) == 0) cand_push(l, id, i, k2);
}

static int narrow_build(const sn_graph *g, const sn_weights *w,
                        sn_morph_op op, uint64_t seed, mplan *p,
                        sn_error *e) {
    if (narrow_check(g, op.pos, op.arg, e) < 0) return -1;
    medit ed;
    ed_init(&ed, g);
    sn_node *nd = &ed.nodes[op.pos];
    nd->attr.pad -= (nd->attr.k - op.arg) / 2;
    nd->attr.k = op.arg;
    p->node[0] = op.pos;
    p->n_node = 1;
    int r = plan_build(p, &ed, g, e);
    ed_free(&ed);
    return r;
}

static void narrow_init(const sn_graph *g, const sn_weights *w,
                        sn_morph_op op, const mplan *p, sn_weights *cw) {
    int o = op.pos, c = p->node[0];
    const sn_tensor_desc *d = &w->desc[o][0];
    int rows = d->dims[0] * d->dims[1], k = d->dims[2], k2 = op.arg;
    int off = (k - k2) / 2;
    const float *W = sn_weights_tensor(w, o, 0);
    float *W2 = sn_weights_tensor(cw, c, 0);
    for (int r = 0; r < rows; r++)
        for (int y = 0; y < k2; y++)
            for (int x = 0; x < k2; x++)
                W2[((size_t)r * k2 + y) * k2 + x] =
                    W[((size_t)r * k + y + off) * k + x + off];
    if (w->n_tensors[o] > 1 && cw->n_tensors[c] > 1)
        memcpy(sn_weights_tensor(cw, c, 1), sn_weights_tensor(w, o, 1),
               sizeof(float) * (size_t)d->dims[0]);
}

static void narrow_describe(const sn_graph *g, sn_morph_op op, char *buf,
                            size_t n) {
    const sn_node *nd = &g->nodes[op.pos];
    snprintf(buf, n, "narrow-kernel %s %dx%d->%dx%d", nd->name, nd->attr.k,
             nd->attr.k, op.arg, op.arg);
}

const morph_def morph_narrow_kernel = {
    {"narrow-kernel", SN_MORPH_APPROX, SN_MORPH_ARG_INT,
     "narrow-kernel:CONV[:K]  crop a conv's kernel to its KxK centre, "
     "padding reduced to keep the output size"},
    narrow_candidates, narrow_build, narrow_init, narrow_describe};
