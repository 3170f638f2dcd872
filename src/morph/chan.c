/* chan.c — channel maps: how changing the output channels of some nodes
 * travels through the graph, and the weight transfer that follows.
 *
 * wider replicates filters of a producer, prune keeps a subset,
 * concat-skip appends fresh channels to what the readers of a node see,
 * remove-skip drops a concat input's channels. In every case each node's
 * new output channel is a copy of one parent channel, or fresh. The map
 * flows forward unchanged through per-channel ops (bn, relu, pools,
 * dropout, depthwise convs), is concatenated by concat and expanded by
 * flatten, and stops at the next full conv or dense, whose incoming
 * weights are rearranged to match (Net2WiderNet: divided by the
 * replication count, so the sum over the copies is unchanged).
 *
 * An add needs every input to carry the same map (x + y channel by
 * channel), so when one input changed, the producers behind the others
 * get the same map too, and the pass starts over with them. */
#include "morph_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int *cm_new(int n) {
    int *m = sn_xmalloc(sizeof *m * (size_t)(n + 1));
    m[0] = n;
    return m;
}

int *cm_identity_ext(int n, int extra) {
    int *m = cm_new(n + extra);
    for (int j = 0; j < n + extra; j++) CM_AT(m, j) = j < n ? j : -1;
    return m;
}

static int *cm_copy(const int *m) {
    int *c = cm_new(CM_LEN(m));
    memcpy(c, m, sizeof *m * (size_t)(CM_LEN(m) + 1));
    return c;
}

static int cm_equal(const int *a, const int *b) {
    if (a == b) return 1;
    if (!a || !b) return 0;
    return !memcmp(a, b, sizeof *a * (size_t)(CM_LEN(a) + 1));
}

void chan_init(chan *c, const sn_graph *g) {
    memset(c, 0, sizeof *c);
    c->g = g;
    c->n = g->n_nodes;
    size_t n = (size_t)c->n;
    c->S = sn_xcalloc(n, sizeof *c->S);
    c->own_fix = sn_xcalloc(n, sizeof *c->own_fix);
    c->view_fix = sn_xcalloc(n, sizeof *c->view_fix);
    c->own = sn_xcalloc(n, sizeof *c->own);
    c->view = sn_xcalloc(n, sizeof *c->view);
}

static void pool_clear(chan *c) {
    for (int i = 0; i < c->n_pool; i++) free(c->pool[i]);
    c->n_pool = 0;
}

void chan_free(chan *c) {
    if (!c->S) return;
    for (int i = 0; i < c->n; i++) {
        free(c->S[i]);
        free(c->own_fix[i]);
        free(c->view_fix[i]);
    }
    pool_clear(c);
    free(c->pool);
    free(c->S);
    free(c->own_fix);
    free(c->view_fix);
    free(c->own);
    free(c->view);
    memset(c, 0, sizeof *c);
}

void chan_set_producer(chan *c, int node, int *map) {
    free(c->S[node]);
    c->S[node] = map;
}

void chan_fix_own(chan *c, int node, int *map) {
    free(c->own_fix[node]);
    c->own_fix[node] = map;
}

void chan_fix_view(chan *c, int node, int *map) {
    free(c->view_fix[node]);
    c->view_fix[node] = map;
}

static int *pool_add(chan *c, int *m) {
    if (c->n_pool == c->cap_pool) {
        c->cap_pool = c->cap_pool ? 2 * c->cap_pool : 32;
        c->pool = sn_xrealloc(c->pool, sizeof *c->pool * (size_t)c->cap_pool);
    }
    c->pool[c->n_pool++] = m;
    return m;
}

/* Each input channel j of m becomes `rep` consecutive channels: the
 * outputs of a depthwise conv with channel multiplier rep, or the h*w
 * units of one channel after flatten. */
static int *cm_expand(chan *c, const int *m, int rep) {
    if (!m) return NULL;
    int *r = pool_add(c, cm_new(CM_LEN(m) * rep));
    for (int j = 0; j < CM_LEN(m); j++)
        for (int s = 0; s < rep; s++) {
            int v = CM_AT(m, j);
            CM_AT(r, j * rep + s) = v < 0 ? -1 : v * rep + s;
        }
    return r;
}

static int is_passthrough(const sn_graph *g, int i) {
    switch (g->nodes[i].op) {
    case SN_OP_BN:
    case SN_OP_RELU:
    case SN_OP_RELU6:
    case SN_OP_MAXPOOL:
    case SN_OP_AVGPOOL:
    case SN_OP_GAP:
    case SN_OP_DROPOUT:
        return 1;
    case SN_OP_CONV: /* depthwise with one filter per channel */
        return mg_is_depthwise(g, i) &&
               g->nodes[i].attr.out == g->nodes[i].attr.groups;
    default:
        return 0;
    }
}

/* Gives the producers behind node x the map R (an add partner must carry
 * the same channels as the add's changed input). Sets *changed. */
static int walk_back(chan *c, int x, const int *R, int *changed,
                     const char *add_name, sn_error *e) {
    const sn_graph *g = c->g;
    const sn_node *nd = &g->nodes[x];
    if (c->own_fix[x] || c->view_fix[x])
        return sn_errf(e, "%s would need %s to change as well", add_name,
                       nd->name);
    if (c->S[x]) {
        if (cm_equal(c->S[x], R)) return 0;
        return sn_errf(e, "%s needs %s to change in two different ways",
                       add_name, nd->name);
    }
    if (mg_is_full(g, x)) {
        SN_ASSERT(nd->out.c >= 0);
        for (int j = 0; j < CM_LEN(R); j++)
            if (CM_AT(R, j) >= nd->out.c)
                return sn_errf(e, "internal: map too wide for %s", nd->name);
        c->S[x] = cm_copy(R);
        *changed = 1;
        return 0;
    }
    if (x > 0 && is_passthrough(g, x))
        return walk_back(c, nd->in[0], R, changed, add_name, e);
    if (nd->op == SN_OP_ADD) {
        for (int k = 0; k < nd->n_in; k++)
            if (walk_back(c, nd->in[k], R, changed, add_name, e) < 0)
                return -1;
        return 0;
    }
    return sn_errf(e, "%s adds %s (%s), whose channels cannot change",
                   add_name, x == 0 ? "the input" : nd->name,
                   sn_op_get(nd->op)->name);
}

/* One forward pass; returns 1 when producers were added (start over). */
static int solve_pass(chan *c, sn_error *e) {
    const sn_graph *g = c->g;
    pool_clear(c);
    for (int i = 0; i < c->n; i++) {
        const sn_node *nd = &g->nodes[i];
        const int *v0 = i > 0 && nd->n_in > 0 ? c->view[nd->in[0]] : NULL;
        int *own = NULL;
        if (c->own_fix[i]) {
            own = c->own_fix[i];
        } else if (c->S[i]) {
            own = c->S[i];
            if (v0 && nd->op == SN_OP_CONV && nd->attr.groups != 1)
                return sn_errf(e, "grouped conv %s cannot follow a change of "
                               "its input channels", nd->name);
        } else if (i == 0) {
            own = NULL;
        } else if (nd->op == SN_OP_CONV) {
            if (mg_is_depthwise(g, i)) {
                own = cm_expand(c, v0, nd->attr.out / nd->attr.groups);
            } else if (v0 && nd->attr.groups != 1) {
                return sn_errf(e, "grouped conv %s cannot follow a change of "
                               "its input channels", nd->name);
            }
        } else if (nd->op == SN_OP_DENSE) {
            own = NULL;
        } else if (nd->op == SN_OP_FLATTEN) {
            sn_shape s = mg_in_shape(g, i);
            own = cm_expand(c, v0, s.h * s.w);
        } else if (nd->op == SN_OP_ADD) {
            const int *R = NULL;
            for (int k = 0; k < nd->n_in && !R; k++) R = c->view[nd->in[k]];
            int changed = 0;
            for (int k = 0; R && k < nd->n_in; k++) {
                const int *vk = c->view[nd->in[k]];
                if (!vk) {
                    if (walk_back(c, nd->in[k], R, &changed, nd->name, e) < 0)
                        return -1;
                } else if (!cm_equal(vk, R)) {
                    return sn_errf(e, "%s would add inputs whose channels "
                                   "changed differently", nd->name);
                }
            }
            if (changed) return 1;
            own = (int *)R;
        } else if (nd->op == SN_OP_CONCAT) {
            int any = 0, len = 0;
            for (int k = 0; k < nd->n_in; k++) {
                const int *vk = c->view[nd->in[k]];
                any |= vk != NULL;
                len += vk ? CM_LEN(vk) : g->nodes[nd->in[k]].out.c;
            }
            if (any) {
                own = pool_add(c, cm_new(len));
                int at = 0, off = 0;
                for (int k = 0; k < nd->n_in; k++) {
                    const int *vk = c->view[nd->in[k]];
                    int ck = g->nodes[nd->in[k]].out.c;
                    int nk = vk ? CM_LEN(vk) : ck;
                    for (int j = 0; j < nk; j++) {
                        int s = vk ? CM_AT(vk, j) : j;
                        CM_AT(own, at++) = s < 0 ? -1 : off + s;
                    }
                    off += ck;
                }
            }
        } else if (is_passthrough(g, i)) {
            own = (int *)v0;
        } else if (v0) {
            return sn_errf(e, "%s (%s) cannot follow a change of its input "
                           "channels", nd->name, sn_op_get(nd->op)->name);
        }
        c->own[i] = own;
        c->view[i] = c->view_fix[i] ? c->view_fix[i] : own;
    }
    if (c->view[c->n - 1])
        return sn_errf(e, "the change would reach the output %s",
                       g->nodes[c->n - 1].name);
    return 0;
}

int chan_solve(chan *c, sn_error *e) {
    /* Every restart adds a producer, so at most n + 1 passes. */
    for (int pass = 0; pass <= c->n; pass++) {
        int r = solve_pass(c, e);
        if (r <= 0) return r;
    }
    return sn_errf(e, "internal: channel maps did not settle");
}

void chan_apply_attrs(const chan *c, medit *ed) {
    const sn_graph *g = c->g;
    SN_ASSERT(ed->n == g->n_nodes);
    for (int i = 1; i < c->n; i++) {
        const sn_node *nd = &g->nodes[i];
        sn_node *en = &ed->nodes[i];
        if (c->S[i]) en->attr.out = CM_LEN(c->S[i]);
        if (mg_is_depthwise(g, i)) {
            const int *v0 = c->view[nd->in[0]];
            if (v0) {
                int mult = nd->attr.out / nd->attr.groups;
                en->attr.groups = CM_LEN(v0);
                en->attr.out = CM_LEN(v0) * mult;
            }
        }
    }
}

int chan_changed(const chan *c, int node) {
    const sn_node *nd = &c->g->nodes[node];
    if (c->own[node]) return 1;
    return node > 0 && nd->n_in > 0 && c->view[nd->in[0]] != NULL;
}

/* splitmix64: a stateless hash to seed per-row noise, so replicated rows
 * of a producer that is itself replicated get identical noise. */
static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Full conv or dense: W'[o', j', t] = W[om(o'), im(j'), t] / count(im(j')),
 * zero for a fresh input channel, untouched for a fresh output channel. */
static void transfer_full(const chan *c, const sn_weights *w, int o,
                          sn_weights *cw, int k, float noise, uint64_t seed) {
    const sn_graph *g = c->g;
    const sn_node *nd = &g->nodes[o];
    const int *im = c->view[nd->in[0]], *om = c->own[o];
    const sn_tensor_desc *pd = &w->desc[o][0], *cd = &cw->desc[k][0];
    int co_p = pd->dims[0], ci_p = pd->dims[1];
    int co_c = cd->dims[0], ci_c = cd->dims[1];
    int taps = 1;
    for (int d = 2; d < pd->ndim; d++) taps *= pd->dims[d];
    const float *W = sn_weights_tensor(w, o, 0);
    float *W2 = sn_weights_tensor(cw, k, 0);
    SN_ASSERT(!im || CM_LEN(im) == ci_c);
    SN_ASSERT(!om || CM_LEN(om) == co_c);

    int *cnt = sn_xcalloc((size_t)ci_p, sizeof *cnt);
    for (int j = 0; j < ci_c; j++) {
        int s = im ? CM_AT(im, j) : j;
        if (s >= 0) cnt[s]++;
    }
    double ss = 0;
    for (int64_t q = 0; q < (int64_t)co_p * ci_p * taps; q++) ss += (double)W[q] * W[q];
    float sigma = noise * (float)sqrt(ss / ((double)co_p * ci_p * taps));
    int want_noise = noise > 0 && im && sigma > 0;
    float *z = want_noise ? sn_xmalloc(sizeof *z * (size_t)ci_c * taps) : NULL;
    int *rep = want_noise ? sn_xmalloc(sizeof *rep * (size_t)ci_c) : NULL;

    for (int oc = 0; oc < co_c; oc++) {
        int so = om ? CM_AT(om, oc) : oc;
        if (so < 0) continue; /* fresh filter keeps its initialisation */
        float *row = W2 + (size_t)oc * ci_c * taps;
        for (int j = 0; j < ci_c; j++) {
            int sj = im ? CM_AT(im, j) : j;
            for (int t = 0; t < taps; t++)
                row[(size_t)j * taps + t] =
                    sj < 0 ? 0.0f
                           : W[((size_t)so * ci_p + sj) * taps + t] / (float)cnt[sj];
        }
        if (!want_noise) continue;
        /* Zero-sum noise over the copies of each input channel: the copies
         * carry equal activations, so only the sum of their weights
         * matters, and that sum is kept. Seeded by the parent row so
         * copies of this filter (if it is itself replicated) match. */
        sn_rng r;
        sn_rng_seed(&r, mix64(seed ^ mix64((uint64_t)o << 32 | (uint32_t)so)));
        for (int sj = 0; sj < ci_p; sj++) {
            if (cnt[sj] < 2) continue;
            int nr = 0;
            for (int j = 0; j < ci_c; j++)
                if (CM_AT(im, j) == sj) rep[nr++] = j;
            for (int t = 0; t < taps; t++) {
                double mean = 0;
                for (int q = 0; q < nr; q++) {
                    z[q] = (float)(sn_rng_normal(&r) * sigma);
                    mean += z[q];
                }
                mean /= nr;
                for (int q = 0; q < nr; q++)
                    row[(size_t)rep[q] * taps + t] += z[q] - (float)mean;
            }
        }
    }
    if (nd->attr.bias && w->n_tensors[o] > 1 && cw->n_tensors[k] > 1) {
        const float *b = sn_weights_tensor(w, o, 1);
        float *b2 = sn_weights_tensor(cw, k, 1);
        for (int oc = 0; oc < co_c; oc++) {
            int so = om ? CM_AT(om, oc) : oc;
            if (so >= 0) b2[oc] = b[so];
        }
    }
    free(cnt);
    free(z);
    free(rep);
}

/* Per-channel tensors (bn, depthwise conv): channel c' copies om(c'). */
static void transfer_per_channel(const chan *c, const sn_weights *w, int o,
                                 sn_weights *cw, int k) {
    const int *om = c->own[o];
    for (int t = 0; t < w->n_tensors[o]; t++) {
        const sn_tensor_desc *pd = &w->desc[o][t], *cd = &cw->desc[k][t];
        int64_t per = sn_tensor_desc_size(pd) / pd->dims[0];
        SN_ASSERT(sn_tensor_desc_size(cd) / cd->dims[0] == per);
        const float *src = sn_weights_tensor(w, o, t);
        float *dst = sn_weights_tensor(cw, k, t);
        for (int ch = 0; ch < cd->dims[0]; ch++) {
            int s = om ? CM_AT(om, ch) : ch;
            if (s >= 0)
                memcpy(dst + (size_t)ch * per, src + (size_t)s * per,
                       sizeof *dst * (size_t)per);
        }
    }
}

void chan_transfer(const chan *c, const sn_weights *w, const sn_graph *child,
                   const int *origin, sn_weights *cw, float noise,
                   uint64_t seed) {
    for (int k = 1; k < child->n_nodes; k++) {
        int o = origin[k];
        if (o < 0 || !chan_changed(c, o) || w->n_tensors[o] == 0) continue;
        const sn_graph *g = c->g;
        if (mg_is_full(g, o))
            transfer_full(c, w, o, cw, k, noise, seed);
        else if (g->nodes[o].op == SN_OP_BN || mg_is_depthwise(g, o))
            transfer_per_channel(c, w, o, cw, k);
        else
            SN_ASSERT(!"channel change reached a node with tensors");
    }
}

int chan_build_child(const sn_graph *g, mplan *p, sn_error *e) {
    if (chan_solve(&p->ch, e) < 0) return -1;
    medit ed;
    ed_init(&ed, g);
    chan_apply_attrs(&p->ch, &ed);
    int r = plan_build(p, &ed, g, e);
    ed_free(&ed);
    return r;
}
