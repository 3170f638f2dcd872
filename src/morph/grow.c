/* grow.c — the exact (function-preserving) operators: deeper (conv-bn-relu
 * block, dense+relu, MobileNetV2 inverted residual), wider (Net2WiderNet)
 * and the two skip connections.
 *
 * Why each is exact in inference mode:
 *  - deeper: conv initialised to the identity kernel, bn to pass-through
 *    (gamma = sqrt(var + eps), beta = mean = 0), relu after an input that
 *    is already >= 0, or in front of readers that apply relu anyway
 *    (relu(relu(x)) = relu(x)).
 *  - deeper-mbv2: the branch ends in bn with gamma = beta = 0, so it adds
 *    exactly 0 to its input; the rest of the branch is freshly initialised
 *    so training can open it.
 *  - wider: see chan.c (replicas carry equal values; readers divide).
 *  - add-skip: the added branch ends in a zero 1x1 conv (or, when the
 *    channels already match, a bn with gamma = beta = 0).
 *  - concat-skip: readers' weights for the appended channels are zero.
 */
#include "morph_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

static int pos_ok(const sn_graph *g, int pos, const char *what, sn_error *e) {
    if (pos == g->n_nodes - 1)
        return sn_errf(e, "%s: %s is the output layer", what,
                       g->nodes[pos].name);
    if (pos <= 0 || pos >= g->n_nodes)
        return sn_errf(e, "%s: position %d is not an inner layer (1..%d)",
                       what, pos, g->n_nodes - 2);
    return 0;
}

/* Sets a bn node's four tensors: per-channel gamma, beta, running mean 0,
 * running var 1. */
static void bn_set(sn_weights *cw, int node, float gamma, float beta) {
    SN_ASSERT(cw->n_tensors[node] == 4);
    int c = cw->desc[node][0].dims[0];
    float *t[4];
    for (int k = 0; k < 4; k++) t[k] = sn_weights_tensor(cw, node, k);
    for (int j = 0; j < c; j++) {
        t[0][j] = gamma;
        t[1][j] = beta;
        t[2][j] = 0.0f;
        t[3][j] = 1.0f;
    }
}

/* Gamma that makes bn(x) = x with running mean 0, var 1. */
static float bn_identity_gamma(const sn_graph *child, int node) {
    return sqrtf(1.0f + child->nodes[node].attr.eps);
}

/* Node kinds where a block or a skip naturally begins or ends. */
static int is_block_end(const sn_graph *g, int i) {
    switch (g->nodes[i].op) {
    case SN_OP_RELU:
    case SN_OP_RELU6:
    case SN_OP_ADD:
    case SN_OP_CONCAT:
    case SN_OP_MAXPOOL:
    case SN_OP_AVGPOOL:
        return 1;
    default:
        return 0;
    }
}

/* relu inserted after `pos` keeps the function: pos is >= 0 already, or
 * every reader applies relu first. */
static int relu_safe(const sn_graph *g, int pos) {
    int *nn = sn_xmalloc(sizeof *nn * (size_t)g->n_nodes);
    mg_nonneg(g, nn);
    int ok = nn[pos] || mg_readers_all_relu(g, pos);
    free(nn);
    return ok;
}

/* ---- deeper: conv-bn-relu ------------------------------------------------ */

static int deeper_check(const sn_graph *g, int pos, int k, sn_error *e) {
    if (pos_ok(g, pos, "deeper", e) < 0) return -1;
    const sn_node *nd = &g->nodes[pos];
    if (!mg_is_spatial(g, pos))
        return sn_errf(e, "deeper: %s is not a feature map (use deeper-dense)",
                       nd->name);
    if (!relu_safe(g, pos))
        return sn_errf(e, "deeper: %s can be negative and not every reader "
                       "applies relu, so a relu block there would change "
                       "the function", nd->name);
    if (k != 1 && k != 3 && k != 5)
        return sn_errf(e, "deeper: kernel must be 1, 3 or 5 (got %d)", k);
    int small = nd->out.h < nd->out.w ? nd->out.h : nd->out.w;
    if (k > 2 * small - 1)
        return sn_errf(e, "deeper: kernel %d is larger than %s's %dx%d map "
                       "needs", k, nd->name, nd->out.h, nd->out.w);
    return 0;
}

static void deeper_candidates(const sn_graph *g, int id, cand_list *l) {
    for (int i = 1; i < g->n_nodes - 1; i++)
        for (int k = 1; k <= 5; k += 2)
            if (deeper_check(g, i, k, NULL) == 0) cand_push(l, id, i, k);
}

static int deeper_build(const sn_graph *g, const sn_weights *w,
                        sn_morph_op op, uint64_t seed, mplan *p,
                        sn_error *e) {
    if (deeper_check(g, op.pos, op.arg, e) < 0) return -1;
    int i = op.pos;
    medit ed;
    ed_init(&ed, g);
    sn_attr a = sn_attr_default(SN_OP_CONV);
    a.out = g->nodes[i].out.c;
    a.k = op.arg;
    a.pad = op.arg / 2;
    a.bias = 0; /* bn follows */
    int conv = ed_insert(&ed, i + 1, SN_OP_CONV, &a, &i, 1, "conv");
    int bn = ed_insert(&ed, i + 2, SN_OP_BN, NULL, &conv, 1, "bn");
    int relu = ed_insert(&ed, i + 3, SN_OP_RELU, NULL, &bn, 1, "relu");
    ed_redirect(&ed, i, relu, relu + 1);
    p->node[0] = conv;
    p->node[1] = bn;
    p->n_node = 2;
    int r = plan_build(p, &ed, g, e);
    ed_free(&ed);
    return r;
}

static void deeper_init(const sn_graph *g, const sn_weights *w,
                        sn_morph_op op, const mplan *p, sn_weights *cw) {
    int conv = p->node[0], bn = p->node[1];
    const sn_tensor_desc *d = &cw->desc[conv][0];
    int c = d->dims[0], k = d->dims[2];
    float *W = sn_weights_tensor(cw, conv, 0);
    memset(W, 0, sizeof *W * (size_t)sn_tensor_desc_size(d));
    for (int j = 0; j < c; j++)
        W[(((size_t)j * c + j) * k + k / 2) * k + k / 2] = 1.0f;
    bn_set(cw, bn, bn_identity_gamma(p->child, bn), 0.0f);
}

static void deeper_describe(const sn_graph *g, sn_morph_op op, char *buf,
                            size_t n) {
    const sn_node *nd = &g->nodes[op.pos];
    snprintf(buf, n, "deeper after %s: conv%dx%d-bn-relu, %d channels",
             nd->name, op.arg, op.arg, nd->out.c);
}

const morph_def morph_deeper = {
    {"deeper", SN_MORPH_EXACT, SN_MORPH_ARG_INT,
     "deeper:NODE[:K]  insert conv KxK (1, 3, 5)-bn-relu after NODE, "
     "initialised to the identity"},
    deeper_candidates, deeper_build, deeper_init, deeper_describe};

/* ---- deeper-dense -------------------------------------------------------- */

static int ddense_check(const sn_graph *g, int pos, sn_error *e) {
    if (pos_ok(g, pos, "deeper-dense", e) < 0) return -1;
    const sn_node *nd = &g->nodes[pos];
    if (nd->out.h != 1 || nd->out.w != 1)
        return sn_errf(e, "deeper-dense: %s is a %dx%d map, not a vector",
                       nd->name, nd->out.h, nd->out.w);
    if (!relu_safe(g, pos))
        return sn_errf(e, "deeper-dense: %s can be negative and not every "
                       "reader applies relu", nd->name);
    return 0;
}

static void ddense_candidates(const sn_graph *g, int id, cand_list *l) {
    for (int i = 1; i < g->n_nodes - 1; i++)
        if (ddense_check(g, i, NULL) == 0) cand_push(l, id, i, 0);
}

static int ddense_build(const sn_graph *g, const sn_weights *w,
                        sn_morph_op op, uint64_t seed, mplan *p,
                        sn_error *e) {
    if (ddense_check(g, op.pos, e) < 0) return -1;
    int i = op.pos;
    medit ed;
    ed_init(&ed, g);
    sn_attr a = sn_attr_default(SN_OP_DENSE);
    a.out = g->nodes[i].out.c;
    int d = ed_insert(&ed, i + 1, SN_OP_DENSE, &a, &i, 1, "dense");
    int relu = ed_insert(&ed, i + 2, SN_OP_RELU, NULL, &d, 1, "relu");
    ed_redirect(&ed, i, relu, relu + 1);
    p->node[0] = d;
    p->n_node = 1;
    int r = plan_build(p, &ed, g, e);
    ed_free(&ed);
    return r;
}

static void ddense_init(const sn_graph *g, const sn_weights *w,
                        sn_morph_op op, const mplan *p, sn_weights *cw) {
    int d = p->node[0];
    const sn_tensor_desc *t = &cw->desc[d][0];
    int c = t->dims[0];
    float *W = sn_weights_tensor(cw, d, 0);
    memset(W, 0, sizeof *W * (size_t)c * c);
    for (int j = 0; j < c; j++) W[(size_t)j * c + j] = 1.0f;
    if (cw->n_tensors[d] > 1)
        memset(sn_weights_tensor(cw, d, 1), 0, sizeof(float) * (size_t)c);
}

static void ddense_describe(const sn_graph *g, sn_morph_op op, char *buf,
                            size_t n) {
    const sn_node *nd = &g->nodes[op.pos];
    snprintf(buf, n, "deeper-dense after %s: dense %d + relu", nd->name,
             nd->out.c);
}

const morph_def morph_deeper_dense = {
    {"deeper-dense", SN_MORPH_EXACT, SN_MORPH_ARG_NONE,
     "deeper-dense:NODE  insert dense+relu after a vector NODE, "
     "initialised to the identity"},
    ddense_candidates, ddense_build, ddense_init, ddense_describe};

/* ---- deeper-mbv2: inverted residual -------------------------------------- */

static int mbv2_check(const sn_graph *g, int pos, int t, sn_error *e) {
    if (pos_ok(g, pos, "deeper-mbv2", e) < 0) return -1;
    const sn_node *nd = &g->nodes[pos];
    if (!mg_is_spatial(g, pos))
        return sn_errf(e, "deeper-mbv2: %s is not a feature map", nd->name);
    if (!is_block_end(g, pos) && nd->op != SN_OP_BN)
        return sn_errf(e, "deeper-mbv2: %s (%s) does not end a block",
                       nd->name, sn_op_get(nd->op)->name);
    if (t < 1 || t > 16)
        return sn_errf(e, "deeper-mbv2: expansion must be 1..16 (got %d)", t);
    return 0;
}

static void mbv2_candidates(const sn_graph *g, int id, cand_list *l) {
    static const int ts[] = {2, 6};
    for (int i = 1; i < g->n_nodes - 1; i++)
        for (size_t k = 0; k < sizeof ts / sizeof *ts; k++)
            if (mbv2_check(g, i, ts[k], NULL) == 0) cand_push(l, id, i, ts[k]);
}

static int mbv2_build(const sn_graph *g, const sn_weights *w,
                      sn_morph_op op, uint64_t seed, mplan *p, sn_error *e) {
    if (mbv2_check(g, op.pos, op.arg, e) < 0) return -1;
    int i = op.pos, c = g->nodes[i].out.c, x = c * op.arg;
    medit ed;
    ed_init(&ed, g);
    sn_attr a = sn_attr_default(SN_OP_CONV);
    a.out = x;
    a.k = 1;
    a.bias = 0;
    int at = i + 1;
    int expand = ed_insert(&ed, at++, SN_OP_CONV, &a, &i, 1, "conv");
    int bn1 = ed_insert(&ed, at++, SN_OP_BN, NULL, &expand, 1, "bn");
    int r1 = ed_insert(&ed, at++, SN_OP_RELU6, NULL, &bn1, 1, "relu6_");
    a.k = 3;
    a.pad = 1;
    a.groups = x;
    int dw = ed_insert(&ed, at++, SN_OP_CONV, &a, &r1, 1, "conv");
    int bn2 = ed_insert(&ed, at++, SN_OP_BN, NULL, &dw, 1, "bn");
    int r2 = ed_insert(&ed, at++, SN_OP_RELU6, NULL, &bn2, 1, "relu6_");
    a = sn_attr_default(SN_OP_CONV);
    a.out = c;
    a.k = 1;
    a.bias = 0;
    int proj = ed_insert(&ed, at++, SN_OP_CONV, &a, &r2, 1, "conv");
    int bn3 = ed_insert(&ed, at++, SN_OP_BN, NULL, &proj, 1, "bn");
    int ins[2] = {i, bn3};
    int add = ed_insert(&ed, at++, SN_OP_ADD, NULL, ins, 2, "add");
    ed_redirect(&ed, i, add, add + 1);
    p->node[0] = bn3;
    p->n_node = 1;
    int r = plan_build(p, &ed, g, e);
    ed_free(&ed);
    return r;
}

static void mbv2_init(const sn_graph *g, const sn_weights *w, sn_morph_op op,
                      const mplan *p, sn_weights *cw) {
    bn_set(cw, p->node[0], 0.0f, 0.0f);
}

static void mbv2_describe(const sn_graph *g, sn_morph_op op, char *buf,
                          size_t n) {
    const sn_node *nd = &g->nodes[op.pos];
    snprintf(buf, n, "deeper-mbv2 after %s: inverted residual %d->%d->%d",
             nd->name, nd->out.c, nd->out.c * op.arg, nd->out.c);
}

const morph_def morph_deeper_mbv2 = {
    {"deeper-mbv2", SN_MORPH_EXACT, SN_MORPH_ARG_INT,
     "deeper-mbv2:NODE[:T]  add a MobileNetV2 inverted residual block "
     "(expansion T) after NODE, its branch starting at zero"},
    mbv2_candidates, mbv2_build, mbv2_init, mbv2_describe};

/* ---- wider --------------------------------------------------------------- */

static int wider_check(const sn_graph *g, int pos, int width, sn_error *e) {
    if (pos_ok(g, pos, "wider", e) < 0) return -1;
    const sn_node *nd = &g->nodes[pos];
    if (!mg_is_full(g, pos))
        return sn_errf(e, "wider: %s (%s) is not a conv with groups 1 or a "
                       "dense layer", nd->name, sn_op_get(nd->op)->name);
    if (width <= nd->attr.out)
        return sn_errf(e, "wider: new width %d of %s must exceed %d", width,
                       nd->name, nd->attr.out);
    if (width > 16 * nd->attr.out || width > (1 << 16))
        return sn_errf(e, "wider: new width %d of %s is too large", width,
                       nd->name);
    return 0;
}

static void wider_candidates(const sn_graph *g, int id, cand_list *l) {
    for (int i = 1; i < g->n_nodes - 1; i++) {
        if (!mg_is_full(g, i)) continue;
        int c = g->nodes[i].attr.out;
        int a = c + (c / 2 > 0 ? c / 2 : 1), b = 2 * c;
        cand_push(l, id, i, a);
        if (b != a) cand_push(l, id, i, b);
    }
}

/* First the old channels in order, then the added ones copying channels
 * drawn without replacement (cycling through fresh permutations when more
 * than doubling). */
static int *replication_map(int c, int width, uint64_t seed) {
    int *m = cm_new(width);
    int *perm = sn_xmalloc(sizeof *perm * (size_t)c);
    sn_rng r;
    sn_rng_seed(&r, seed);
    for (int j = 0; j < c; j++) CM_AT(m, j) = j;
    int have = 0;
    for (int j = c; j < width; j++) {
        if (have == 0) {
            for (int q = 0; q < c; q++) perm[q] = q;
            for (int q = c - 1; q > 0; q--) {
                int s = sn_rng_int(&r, q + 1), tmp = perm[q];
                perm[q] = perm[s];
                perm[s] = tmp;
            }
            have = c;
        }
        CM_AT(m, j) = perm[--have];
    }
    free(perm);
    return m;
}

static int wider_build(const sn_graph *g, const sn_weights *w,
                       sn_morph_op op, uint64_t seed, mplan *p, sn_error *e) {
    if (wider_check(g, op.pos, op.arg, e) < 0) return -1;
    chan_init(&p->ch, g);
    p->has_chan = 1;
    p->noise = 0.01f;
    chan_set_producer(&p->ch, op.pos,
                      replication_map(g->nodes[op.pos].attr.out, op.arg, seed));
    if (chan_build_child(g, p, e) < 0) {
        sn_err_prefix(e, "wider %s: ", g->nodes[op.pos].name);
        return -1;
    }
    return 0;
}

static void no_init(const sn_graph *g, const sn_weights *w, sn_morph_op op,
                    const mplan *p, sn_weights *cw) {}

static void wider_describe(const sn_graph *g, sn_morph_op op, char *buf,
                           size_t n) {
    const sn_node *nd = &g->nodes[op.pos];
    snprintf(buf, n, "wider %s %d->%d", nd->name, nd->attr.out, op.arg);
}

const morph_def morph_wider = {
    {"wider", SN_MORPH_EXACT, SN_MORPH_ARG_INT,
     "wider:LAYER[:WIDTH]  grow a conv or dense to WIDTH filters by "
     "replicating existing ones (Net2WiderNet)"},
    wider_candidates, wider_build, no_init, wider_describe};

/* ---- skips --------------------------------------------------------------- */

/* Pool factor s so that an s x s average pool maps src's map onto dst's;
 * -1 when none does. */
static int skip_factor(const sn_graph *g, int src, int dst) {
    sn_shape a = g->nodes[src].out, b = g->nodes[dst].out;
    if (b.h <= 0 || b.w <= 0 || a.h < b.h || a.w < b.w) return -1;
    int s = a.h / b.h;
    if (s < 1 || a.w / s != b.w || a.h / s != b.h) return -1;
    return s;
}

/* x carries a's values: x is a, or a short chain of single-input gates
 * (bn, conv, avgpool) from a, as a skip or a shortcut inserts. */
static int carries(const sn_graph *g, int x, int a) {
    for (int hop = 0; hop < 3 && x != a && x > 0; hop++) {
        const sn_node *nd = &g->nodes[x];
        if (nd->n_in != 1 || (nd->op != SN_OP_BN && nd->op != SN_OP_CONV &&
                              nd->op != SN_OP_AVGPOOL))
            return 0;
        x = nd->in[0];
    }
    return x == a;
}

/* dst already receives src through an add or concat (dst itself, or one
 * of its readers), e.g. from an earlier skip between the same nodes. */
static int already_joined(const sn_graph *g, int src, int dst) {
    int t[SN_MAX_IN * 4 + 1], n = 0;
    t[n++] = dst;
    int rd[SN_MAX_IN * 4];
    int nr = mg_consumers(g, dst, rd, SN_MAX_IN * 4);
    for (int k = 0; k < nr && k < SN_MAX_IN * 4; k++) t[n++] = rd[k];
    for (int k = 0; k < n; k++) {
        const sn_node *nd = &g->nodes[t[k]];
        if (nd->op != SN_OP_ADD && nd->op != SN_OP_CONCAT) continue;
        for (int q = 0; q < nd->n_in; q++)
            if (nd->in[q] != dst && carries(g, nd->in[q], src)) return 1;
    }
    return 0;
}

static int skip_check(const sn_graph *g, const char *what, int src, int dst,
                      sn_error *e) {
    if (pos_ok(g, src, what, e) < 0) return -1;
    if (dst <= src || dst >= g->n_nodes - 1)
        return sn_errf(e, "%s: the target must be a later inner layer than "
                       "%s", what, g->nodes[src].name);
    const sn_node *a = &g->nodes[src], *b = &g->nodes[dst];
    if (!mg_is_spatial(g, src) || !mg_is_spatial(g, dst))
        return sn_errf(e, "%s: %s and %s must both be feature maps", what,
                       a->name, b->name);
    if (!is_block_end(g, src) || !is_block_end(g, dst))
        return sn_errf(e, "%s: skips join block outputs (relu, add, concat, "
                       "pool), not %s (%s)", what,
                       is_block_end(g, src) ? b->name : a->name,
                       sn_op_get(is_block_end(g, src) ? b->op : a->op)->name);
    for (int k = 0; k < b->n_in; k++)
        if (b->in[k] == src)
            return sn_errf(e, "%s: %s already reads %s", what, b->name,
                           a->name);
    if (already_joined(g, src, dst))
        return sn_errf(e, "%s: %s already receives %s", what, b->name,
                       a->name);
    if (skip_factor(g, src, dst) < 0)
        return sn_errf(e, "%s: %s (%dx%d) cannot be pooled onto %s (%dx%d)",
                       what, a->name, a->out.h, a->out.w, b->name, b->out.h,
                       b->out.w);
    return 0;
}

/* Every pair of block outputs would be quadratic in the depth (19,000
 * candidates on DenseNet-121), so a source is offered only its nearest
 * SKIP_PER_RES targets at each map size; any other valid pair can still
 * be asked for by name. */
#define SKIP_PER_RES 3

static void skip_candidates(const sn_graph *g, int id, cand_list *l,
                            const char *what) {
    for (int a = 1; a < g->n_nodes - 1; a++) {
        if (!is_block_end(g, a) || !mg_is_spatial(g, a)) continue;
        sn_shape res[16];
        int cnt[16], nres = 0;
        for (int b = a + 1; b < g->n_nodes - 1; b++) {
            if (skip_check(g, what, a, b, NULL) != 0) continue;
            sn_shape s = g->nodes[b].out;
            int r = 0;
            while (r < nres && (res[r].h != s.h || res[r].w != s.w)) r++;
            if (r == nres) {
                if (nres == 16) continue;
                res[nres] = s;
                cnt[nres++] = 0;
            }
            if (cnt[r]++ < SKIP_PER_RES) cand_push(l, id, a, b);
        }
    }
}

/* Inserts the pool (when the maps differ in size) in front of dst and
 * returns the node carrying src's values at dst's size; *dst follows. */
static int skip_source(medit *ed, const sn_graph *g, int src, int *dst) {
    int s = skip_factor(g, src, *dst);
    if (s == 1) return src;
    sn_attr a = sn_attr_default(SN_OP_AVGPOOL);
    a.k = s;
    a.stride = s;
    a.pad = 0;
    int pool = ed_insert(ed, *dst, SN_OP_AVGPOOL, &a, &src, 1, "avgpool");
    (*dst)++;
    return pool;
}

static void add_skip_candidates(const sn_graph *g, int id, cand_list *l) {
    skip_candidates(g, id, l, "add-skip");
}

static int add_skip_build(const sn_graph *g, const sn_weights *w,
                          sn_morph_op op, uint64_t seed, mplan *p,
                          sn_error *e) {
    int src = op.pos, dst = op.arg;
    if (skip_check(g, "add-skip", src, dst, e) < 0) return -1;
    medit ed;
    ed_init(&ed, g);
    int from = skip_source(&ed, g, src, &dst);
    int gate;
    if (g->nodes[src].out.c == g->nodes[op.arg].out.c) {
        gate = ed_insert(&ed, dst, SN_OP_BN, NULL, &from, 1, "bn");
    } else {
        sn_attr a = sn_attr_default(SN_OP_CONV);
        a.out = g->nodes[op.arg].out.c;
        a.k = 1;
        a.bias = 0;
        gate = ed_insert(&ed, dst, SN_OP_CONV, &a, &from, 1, "conv");
    }
    dst++;
    if (ed.nodes[dst].op == SN_OP_ADD && ed.nodes[dst].n_in < SN_MAX_IN) {
        ed.nodes[dst].in[ed.nodes[dst].n_in++] = gate;
    } else {
        int ins[2] = {dst, gate};
        int add = ed_insert(&ed, dst + 1, SN_OP_ADD, NULL, ins, 2, "add");
        ed_redirect(&ed, dst, add, add + 1);
    }
    p->node[0] = gate;
    p->n_node = 1;
    int r = plan_build(p, &ed, g, e);
    ed_free(&ed);
    return r;
}

static void add_skip_init(const sn_graph *g, const sn_weights *w,
                          sn_morph_op op, const mplan *p, sn_weights *cw) {
    int gate = p->node[0];
    if (p->child->nodes[gate].op == SN_OP_BN) {
        bn_set(cw, gate, 0.0f, 0.0f);
    } else {
        for (int t = 0; t < cw->n_tensors[gate]; t++)
            memset(sn_weights_tensor(cw, gate, t), 0,
                   sizeof(float) *
                       (size_t)sn_tensor_desc_size(&cw->desc[gate][t]));
    }
}

static void add_skip_describe(const sn_graph *g, sn_morph_op op, char *buf,
                              size_t n) {
    const sn_node *a = &g->nodes[op.pos], *b = &g->nodes[op.arg];
    int s = skip_factor(g, op.pos, op.arg);
    char pool[32] = "";
    if (s > 1) snprintf(pool, sizeof pool, ", avgpool %d", s);
    if (a->out.c == b->out.c)
        snprintf(buf, n, "add-skip %s -> %s (bn gate%s)", a->name, b->name,
                 pool);
    else
        snprintf(buf, n, "add-skip %s -> %s (1x1 %d->%d%s)", a->name, b->name,
                 a->out.c, b->out.c, pool);
}

const morph_def morph_add_skip = {
    {"add-skip", SN_MORPH_EXACT, SN_MORPH_ARG_NODE,
     "add-skip:FROM[:TO]  add FROM into the later TO through a "
     "zero-initialised 1x1 conv (a zero bn gate when channels match)"},
    add_skip_candidates, add_skip_build, add_skip_init, add_skip_describe};

static void concat_skip_candidates(const sn_graph *g, int id, cand_list *l) {
    skip_candidates(g, id, l, "concat-skip");
}

static int concat_skip_build(const sn_graph *g, const sn_weights *w,
                             sn_morph_op op, uint64_t seed, mplan *p,
                             sn_error *e) {
    int src = op.pos, dst = op.arg;
    if (skip_check(g, "concat-skip", src, dst, e) < 0) return -1;
    const sn_node *b = &g->nodes[dst];
    int into = b->op == SN_OP_CONCAT && b->n_in < SN_MAX_IN;
    chan_init(&p->ch, g);
    p->has_chan = 1;
    int *m = cm_identity_ext(b->out.c, g->nodes[src].out.c);
    if (into)
        chan_fix_own(&p->ch, dst, m);
    else
        chan_fix_view(&p->ch, dst, m);
    if (chan_solve(&p->ch, e) < 0) {
        sn_err_prefix(e, "concat-skip %s -> %s: ", g->nodes[src].name,
                      b->name);
        return -1;
    }
    medit ed;
    ed_init(&ed, g);
    chan_apply_attrs(&p->ch, &ed);
    int from = skip_source(&ed, g, src, &dst);
    if (into) {
        ed.nodes[dst].in[ed.nodes[dst].n_in++] = from;
    } else {
        int ins[2] = {dst, from};
        int cat = ed_insert(&ed, dst + 1, SN_OP_CONCAT, NULL, ins, 2, "concat");
        ed_redirect(&ed, dst, cat, cat + 1);
    }
    int r = plan_build(p, &ed, g, e);
    ed_free(&ed);
    return r;
}

static void concat_skip_describe(const sn_graph *g, sn_morph_op op, char *buf,
                                 size_t n) {
    const sn_node *a = &g->nodes[op.pos], *b = &g->nodes[op.arg];
    snprintf(buf, n, "concat-skip %s -> %s (%d+%d channels)", a->name, b->name,
             b->out.c, a->out.c);
}

const morph_def morph_concat_skip = {
    {"concat-skip", SN_MORPH_EXACT, SN_MORPH_ARG_NODE,
     "concat-skip:FROM[:TO]  concatenate FROM onto the later TO; the "
     "readers' weights for the new channels start at zero"},
    concat_skip_candidates, concat_skip_build, no_init,
    concat_skip_describe};
