/* exec.c — running a graph forward and backward on batches.
 *
 * Everything is planned and allocated once in sn_exec_new (nothing is
 * allocated per batch):
 *   - one activation buffer per node, max_batch samples each, kept from
 *     forward to backward (backward kernels read their inputs and outputs);
 *   - gradient buffers for activations, shared between nodes whose
 *     gradients are never live at the same time: node i's gradient lives
 *     from the backward of its last reader (the first to write it, going
 *     backwards) to its own backward, and a slot is reused as soon as that
 *     interval ends. ResNet-like graphs need about a quarter of the memory
 *     of one buffer per node;
 *   - each op's cache (forward -> backward), one shared work buffer (the
 *     largest any op asks for), and the parameter gradients, which mirror
 *     w->params so the optimiser sees one flat array.
 * The op argument blocks (sn_op_args) are filled once too; forward and
 * backward only set the batch size and the training flag.
 *
 * One fusion: a conv directly followed by a 2x2 max pool of its output
 * (and, if the next node is a relu of the pool, that relu) runs forward
 * as sn_conv_maxpool_forward (the pool reads each piece of the conv's
 * output from cache); the nodes' outputs and the pool's cache are exactly
 * those of the separate forwards, so backward does not change.
 * When the pool is the conv's only reader, backward is fused too: the
 * conv rebuilds its output gradient piece by piece from the pool's, so
 * that gradient is never zeroed, scattered or read in memory; if the
 * relu is the pool's only reader, from the relu's gradient and output
 * (relu backward's mask), so the relu's backward pass goes as well.
 * SLIMNAS_PROFILE then books the pool's time to the conv. The other
 * order, conv, relu, max pool (relu'ing commutes with taking the max),
 * runs as sn_conv_relu_maxpool_forward/backward the same way (backward
 * when each node is the next one's only reader).
 *
 * Second fusion: a batch norm directly followed by a relu or relu6 of its
 * output runs forward as sn_bn_act_forward (one pass writes both
 * outputs); when the activation is the bn's only reader (and has a
 * gradient), backward is sn_bn_act_backward: the bn builds its own output
 * gradient from the activation's through the mask, so that buffer is
 * never zeroed and the activation's backward pass goes (the activation's
 * gradient then lives until the bn's backward; the profile books the
 * activation's time to the bn). A training forward with the backward
 * fused leaves the bn's own output unwritten (nothing reads it).
 *
 * Predictions (sn_exec_predict, an inference forward for evaluation) fold
 * a batch norm into the conv before it when the conv's output is read by
 * nothing else: the conv runs once with W' = W * s and bias' = (b - mean)
 * * s + beta, s = gamma / sqrt(running_var + eps) per output channel,
 * straight into the norm's output, so the norm's pass over the batch goes
 * (the folded tensors are remade on every call: the weights change
 * between calls; a few thousand multiplies).
 *
 * A conv whose output a batch norm reads computes, in a training forward,
 * the norm's per-plane statistics while each output plane is in cache
 * (sn_op_args.plane_stats), and the norm skips its own statistics pass
 * over the batch.
 * SLIMNAS_NO_FUSE=1 turns fusion off (tests compare both). */
#include "slimnas/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

#define ALIGN_FLOATS 16

typedef struct xnode {
    sn_op_args a;
    const float *in[SN_MAX_IN];
    float *din[SN_MAX_IN];
    sn_shape in_shape[SN_MAX_IN];
    float *tensor[SN_MAX_TENSORS];
    float *grad[SN_MAX_TENSORS];
    int64_t size;    /* floats per sample of the output */
    float *act;      /* [max_batch * size] */
    float *dact;     /* [max_batch * size], may share memory; NULL: none */
    int last_use;    /* last node reading this one; -1 for none */
    int fuse_pool;   /* conv whose output node i + 1 max pools: forward
                        runs both in one pass (sn_conv_maxpool_forward);
                        2: node i + 2 is a relu of the pool, run too */
    int fuse_bwd;    /* ... and the pool is its only reader: so does
                        backward (sn_conv_maxpool_backward); 2: the relu
                        too, being the pool's only reader */
    int pre_relu;    /* with fuse_pool/fuse_bwd 2: the order is conv i,
                        relu i + 1, max pool i + 2 (sn_conv_relu_maxpool_*) */
    int fuse_act;    /* bn whose output node i + 1 (relu/relu6) reads:
                        forward runs both (sn_bn_act_forward) */
    int fuse_act_bwd; /* ... the act is its only reader: so does backward */
    /* conv whose only reader, node i + 1, is a bn: folded in predictions */
    int fold_bn;
    sn_attr fattr;                /* the conv's attributes, with a bias */
    float *ftensor[SN_MAX_TENSORS]; /* folded weight and bias */
    sn_op_args fa;                /* the conv's args, folded, out = bn's */
    /* conv read by a bn at i + 1: [max_batch][C][2] plane statistics the
     * conv computes for the bn in a training forward; NULL: none */
    double *stats;
} xnode;

struct sn_exec {
    const sn_graph *g;
    sn_weights *w;
    int n_nodes, max_batch, n; /* n: batch of the last forward */
    xnode *x;
    float *act_mem, *grad_mem, *work, *pgrad;
    void **cache;
    sn_rng rng;
    /* SLIMNAS_PROFILE=1: seconds per node, printed when the exec is freed */
    double *t_fwd, *t_bwd;
    int64_t prof_fwd, prof_bwd;
};

static void profile_print(const sn_exec *ex) {
    double tf = 0, tb = 0;
    for (int i = 0; i < ex->n_nodes; i++) tf += ex->t_fwd[i], tb += ex->t_bwd[i];
    if (tf + tb <= 0) return;
    fprintf(stderr, "profile: %lld forward, %lld backward passes (ms per pass)\n",
            (long long)ex->prof_fwd, (long long)ex->prof_bwd);
    fprintf(stderr, "%4s %-16s %-8s %9s %9s %6s\n", "#", "name", "op", "fwd",
            "bwd", "%");
    for (int i = 1; i < ex->n_nodes; i++) {
        const sn_node *nd = &ex->g->nodes[i];
        double f = ex->prof_fwd ? ex->t_fwd[i] / ex->prof_fwd * 1e3 : 0;
        double b = ex->prof_bwd ? ex->t_bwd[i] / ex->prof_bwd * 1e3 : 0;
        fprintf(stderr, "%4d %-16s %-8s %9.3f %9.3f %5.1f%%\n", i, nd->name,
                sn_op_get(nd->op)->name, f, b,
                100 * (ex->t_fwd[i] + ex->t_bwd[i]) / (tf + tb));
    }
}

static int64_t round_up(int64_t x) {
    return (x + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

/* Assigns gradient slots by liveness over the backward order; returns the
 * total floats and sets each node's offset (or -1: no gradient needed). */
static int64_t plan_grads(sn_exec *ex, int64_t *off) {
    int n = ex->n_nodes;
    int64_t *slot_cap = sn_xcalloc((size_t)n, sizeof *slot_cap);
    int *slot_free = sn_xcalloc((size_t)n, sizeof *slot_free);
    int *slot_of = sn_xmalloc((size_t)n * sizeof *slot_of);
    int n_slots = 0;
    for (int i = 0; i < n; i++) slot_of[i] = -1;
    /* Going backwards over j = n-1 .. 1: at j, gradients of j's inputs
     * (first write if j is their last reader) must exist; after j, j's own
     * gradient is dead. The output's gradient exists from the start. */
    for (int j = n - 1; j >= 1; j--) {
        int need[SN_MAX_IN + 1], nn = 0;
        if (j == n - 1) need[nn++] = j;
        const sn_node *nd = &ex->g->nodes[j];
        for (int k = 0; k < nd->n_in; k++) {
            int i = nd->in[k];
            if (i >= 1 && ex->x[i].last_use == j && slot_of[i] < 0) {
                int dup = 0;
                for (int q = 0; q < nn; q++) dup |= need[q] == i;
                if (!dup) need[nn++] = i;
            }
        }
        for (int q = 0; q < nn; q++) {
            int i = need[q];
            int64_t want = round_up(ex->x[i].size * ex->max_batch);
            /* Best fit among free slots; else grow the largest free one;
             * else open a new slot. */
            int best = -1, largest = -1;
            for (int s = 0; s < n_slots; s++) {
                if (!slot_free[s]) continue;
                if (slot_cap[s] >= want &&
                    (best < 0 || slot_cap[s] < slot_cap[best]))
                    best = s;
                if (largest < 0 || slot_cap[s] > slot_cap[largest])
                    largest = s;
            }
            int s = best >= 0 ? best : largest >= 0 ? largest : n_slots++;
            if (slot_cap[s] < want) slot_cap[s] = want;
            slot_free[s] = 0;
            slot_of[i] = s;
        }
        /* a max pool (and relu) fused with its conv (fuse_bwd) hands its
         * gradient to the conv's backward: it dies after the conv's */
        int handed = ex->x[j - 1].fuse_bwd ||
                     (j >= 2 && ex->x[j - 2].fuse_bwd == 2) || /* the relu */
                     ex->x[j - 1].fuse_act_bwd; /* bn's activation */
        if (slot_of[j] >= 0 && !handed) slot_free[slot_of[j]] = 1;
        for (int k = 1; k <= ex->x[j].fuse_bwd; k++)
            if (slot_of[j + k] >= 0) slot_free[slot_of[j + k]] = 1;
        if (ex->x[j].fuse_act_bwd && slot_of[j + 1] >= 0)
            slot_free[slot_of[j + 1]] = 1;
    }
    int64_t total = 0;
    int64_t *slot_off = sn_xcalloc((size_t)(n_slots ? n_slots : 1),
                                   sizeof *slot_off);
    for (int s = 0; s < n_slots; s++) {
        slot_off[s] = total;
        total += slot_cap[s];
    }
    for (int i = 0; i < n; i++)
        off[i] = slot_of[i] >= 0 ? slot_off[slot_of[i]] : -1;
    free(slot_off);
    free(slot_cap);
    free(slot_free);
    free(slot_of);
    return total;
}

sn_exec *sn_exec_new(const sn_graph *g, sn_weights *w, int max_batch) {
    SN_ASSERT(g->n_nodes >= 2 && w->n_nodes == g->n_nodes && max_batch >= 1);
    sn_exec *ex = sn_xcalloc(1, sizeof *ex);
    int n = g->n_nodes;
    ex->g = g;
    ex->w = w;
    ex->n_nodes = n;
    ex->max_batch = max_batch;
    ex->x = sn_xcalloc((size_t)n, sizeof *ex->x);
    ex->cache = sn_xcalloc((size_t)n, sizeof *ex->cache);
    sn_rng_seed(&ex->rng, 0x5EEDull);
    const char *prof = getenv("SLIMNAS_PROFILE");
    if (prof && *prof && strcmp(prof, "0") != 0) {
        ex->t_fwd = sn_xcalloc((size_t)n, sizeof(double));
        ex->t_bwd = sn_xcalloc((size_t)n, sizeof(double));
    }

    int64_t act_total = 0;
    int64_t *act_off = sn_xmalloc((size_t)n * sizeof *act_off);
    int *last = sn_xmalloc((size_t)n * sizeof *last);
    sn_graph_last_uses(g, last);
    for (int i = 0; i < n; i++) {
        xnode *x = &ex->x[i];
        x->size = sn_shape_size(g->nodes[i].out);
        x->last_use = last[i];
        act_off[i] = act_total;
        act_total += round_up(x->size * max_batch);
    }
    ex->act_mem = sn_falloc((size_t)act_total);
    const char *nofuse = getenv("SLIMNAS_NO_FUSE"); /* tests compare */
    int fuse = !(nofuse && *nofuse && strcmp(nofuse, "0") != 0);
    for (int i = 1; fuse && i + 1 < n; i++) {
        const sn_node *c = &g->nodes[i], *p = &g->nodes[i + 1];
        ex->x[i].fuse_pool =
            c->op == SN_OP_CONV && p->op == SN_OP_MAXPOOL && p->in[0] == i &&
            sn_conv_maxpool_fusable(&c->attr, g->nodes[c->in[0]].out, &p->attr);
        ex->x[i].fuse_bwd = ex->x[i].fuse_pool && last[i] == i + 1;
        if (ex->x[i].fuse_pool && i + 2 < n &&
            g->nodes[i + 2].op == SN_OP_RELU && g->nodes[i + 2].in[0] == i + 1)
            ex->x[i].fuse_pool = 2;
        if (ex->x[i].fuse_bwd && ex->x[i].fuse_pool == 2 &&
            last[i + 1] == i + 2)
            ex->x[i].fuse_bwd = 2;
        /* conv, relu, pool: forward always; backward when each reads the
         * one before alone and the pool's gradient exists */
        const sn_node *q = i + 2 < n ? &g->nodes[i + 2] : NULL;
        if (!ex->x[i].fuse_pool && q && c->op == SN_OP_CONV &&
            p->op == SN_OP_RELU && p->in[0] == i && q->op == SN_OP_MAXPOOL &&
            q->in[0] == i + 1 &&
            sn_conv_maxpool_fusable(&c->attr, g->nodes[c->in[0]].out,
                                    &q->attr)) {
            ex->x[i].fuse_pool = 2;
            ex->x[i].pre_relu = 1;
            ex->x[i].fuse_bwd = last[i] == i + 1 && last[i + 1] == i + 2 &&
                                        (last[i + 2] >= 0 || i + 2 == n - 1)
                                    ? 2
                                    : 0;
        }
    }
    for (int i = 1; fuse && i + 1 < n; i++) {
        const sn_node *c = &g->nodes[i], *p = &g->nodes[i + 1];
        ex->x[i].fold_bn = c->op == SN_OP_CONV && !ex->x[i].fuse_pool &&
                           p->op == SN_OP_BN && p->in[0] == i &&
                           last[i] == i + 1;
    }
    for (int i = 1; fuse && i + 1 < n; i++) {
        const sn_node *b = &g->nodes[i], *p = &g->nodes[i + 1];
        /* not the relu of a conv + pool + relu fusion (that relu reads a
         * pool, never a bn, so the two cannot overlap; checked anyway) */
        int taken = ex->x[i - 1].fuse_pool || (i >= 2 &&
                    ex->x[i - 2].fuse_pool == 2);
        ex->x[i].fuse_act = !taken && b->op == SN_OP_BN && p->in[0] == i &&
                            sn_bn_act_fusable(p->op);
        /* the act must have a gradient (a reader, or be the output) */
        ex->x[i].fuse_act_bwd = ex->x[i].fuse_act && last[i] == i + 1 &&
                                (last[i + 1] >= 0 || i + 1 == n - 1);
    }
    int64_t *grad_off = sn_xmalloc((size_t)n * sizeof *grad_off);
    int64_t grad_total = plan_grads(ex, grad_off);
    ex->grad_mem = sn_falloc((size_t)grad_total);
    ex->pgrad = sn_falloc((size_t)w->n_params);

    size_t work = 0;
    for (int i = 0; i < n; i++) {
        const sn_node *nd = &g->nodes[i];
        const sn_op_desc *op = sn_op_get(nd->op);
        xnode *x = &ex->x[i];
        x->act = ex->act_mem + act_off[i];
        x->dact = grad_off[i] >= 0 ? ex->grad_mem + grad_off[i] : NULL;
        for (int k = 0; k < nd->n_in; k++) {
            x->in_shape[k] = g->nodes[nd->in[k]].out;
            x->in[k] = ex->x[nd->in[k]].act;
        }
        for (int t = 0; t < w->n_tensors[i]; t++) {
            x->tensor[t] = sn_weights_tensor(w, i, t);
            if (w->desc[i][t].trainable)
                x->grad[t] = ex->pgrad + w->offset[i][t];
        }
        size_t cb = op->cache_bytes(&nd->attr, x->in_shape, nd->n_in, nd->out,
                                    max_batch);
        if (cb) ex->cache[i] = sn_falloc((cb + sizeof(float) - 1) /
                                         sizeof(float));
        size_t wf = op->work_floats(&nd->attr, x->in_shape, nd->n_in, nd->out,
                                    max_batch);
        if (wf > work) work = wf;
    }
    ex->work = sn_falloc(work);
    for (int i = 1; fuse && i + 1 < n; i++) {
        const sn_node *c = &g->nodes[i], *b = &g->nodes[i + 1];
        if (c->op == SN_OP_CONV && !ex->x[i].fuse_pool &&
            b->op == SN_OP_BN && b->in[0] == i)
            ex->x[i].stats = sn_xmalloc((size_t)max_batch * c->out.c * 2 *
                                        sizeof(double));
    }
    for (int i = 0; i < n; i++) {
        xnode *x = &ex->x[i];
        if (!x->fold_bn) continue;
        const sn_node *nd = &g->nodes[i];
        x->fattr = nd->attr;
        x->fattr.bias = 1;
        int64_t nw = (int64_t)nd->attr.out *
                     (x->in_shape[0].c / nd->attr.groups) * nd->attr.k *
                     nd->attr.k;
        x->ftensor[0] = sn_falloc((size_t)nw);
        x->ftensor[1] = sn_falloc((size_t)nd->attr.out);
    }
    for (int i = 0; i < n; i++) {
        const sn_node *nd = &g->nodes[i];
        xnode *x = &ex->x[i];
        for (int k = 0; k < nd->n_in; k++)
            x->din[k] = nd->in[k] >= 1 ? ex->x[nd->in[k]].dact : NULL;
        sn_op_args *a = &x->a;
        a->attr = &nd->attr;
        a->n_in = nd->n_in;
        a->in_shape = x->in_shape;
        a->out_shape = nd->out;
        a->in = x->in;
        a->out = x->act;
        a->tensor = x->tensor;
        a->grad = x->grad;
        a->din = x->din;
        a->dout = x->dact;
        a->cache = ex->cache[i];
        a->work = ex->work;
        a->rng = &ex->rng;
        /* a bn that alone reads its input writes that gradient instead
         * of adding to a zeroed one */
        int only = 0;
        if (fuse && nd->op == SN_OP_BN && nd->in[0] >= 1 &&
            (x->last_use >= 0 || i == n - 1) && /* its backward runs */
            ex->x[nd->in[0]].last_use == i &&
            sn_graph_consumers(g, nd->in[0], NULL, 0) == 1)
            only = 1;
        a->din_fresh = only;
    }
    for (int i = 0; i < n; i++) {
        xnode *x = &ex->x[i];
        if (!x->fold_bn) continue;
        x->fa = x->a;
        x->fa.attr = &x->fattr;
        x->fa.tensor = x->ftensor;
        x->fa.grad = NULL;
        x->fa.out = ex->x[i + 1].act;
    }
    free(last);
    free(act_off);
    free(grad_off);
    return ex;
}

void sn_exec_free(sn_exec *ex) {
    if (!ex) return;
    if (ex->t_fwd) {
        profile_print(ex);
        free(ex->t_fwd);
        free(ex->t_bwd);
    }
    for (int i = 0; i < ex->n_nodes; i++) {
        sn_free_aligned(ex->cache[i]);
        sn_free_aligned(ex->x[i].ftensor[0]);
        sn_free_aligned(ex->x[i].ftensor[1]);
        free(ex->x[i].stats);
    }
    free(ex->cache);
    sn_free_aligned(ex->act_mem);
    sn_free_aligned(ex->grad_mem);
    sn_free_aligned(ex->work);
    sn_free_aligned(ex->pgrad);
    free(ex->x);
    free(ex);
}

int sn_exec_n_folded(const sn_exec *ex) {
    int k = 0;
    for (int i = 0; i < ex->g->n_nodes; i++) k += ex->x[i].fold_bn != 0;
    return k;
}

/* The folded weight and bias of conv i (see the header): per output
 * channel s = gamma * invstd, as bn's inference forward computes it. */
static void fold_weights(sn_exec *ex, int i) {
    xnode *x = &ex->x[i];
    const sn_node *nd = &ex->g->nodes[i], *bn = &ex->g->nodes[i + 1];
    const float *w = x->tensor[0], *b = nd->attr.bias ? x->tensor[1] : NULL;
    const float *gamma = ex->x[i + 1].tensor[0], *beta = ex->x[i + 1].tensor[1];
    const float *rmean = ex->x[i + 1].tensor[2], *rvar = ex->x[i + 1].tensor[3];
    int cout = nd->attr.out;
    int64_t per = (int64_t)(x->in_shape[0].c / nd->attr.groups) * nd->attr.k *
                  nd->attr.k;
    for (int co = 0; co < cout; co++) {
        float invstd =
            (float)(1.0 / sqrt((double)rvar[co] + (double)bn->attr.eps));
        float s = gamma[co] * invstd;
        for (int64_t t = 0; t < per; t++)
            x->ftensor[0][co * per + t] = w[co * per + t] * s;
        x->ftensor[1][co] = ((b ? b[co] : 0.0f) - rmean[co]) * s + beta[co];
    }
}

static const float *forward(sn_exec *ex, const float *x, int n, int training,
                            int predict);

const float *sn_exec_predict(sn_exec *ex, const float *x, int n) {
    return forward(ex, x, n, 0, 1);
}

const float *sn_exec_forward(sn_exec *ex, const float *x, int n,
                             int training) {
    return forward(ex, x, n, training, 0);
}

static const float *forward(sn_exec *ex, const float *x, int n, int training,
                            int predict) {
    SN_ASSERT(n >= 1 && n <= ex->max_batch);
    ex->n = n;
    /* The input is copied: backward of the first layers reads it, and the
     * caller's batch buffer may be refilled meanwhile. */
    memcpy(ex->x[0].act, x, (size_t)(ex->x[0].size * n) * sizeof(float));
    if (ex->t_fwd) ex->prof_fwd++;
    for (int i = 1; i < ex->n_nodes; i++) {
        sn_op_args *a = &ex->x[i].a;
        a->n = n;
        a->training = training;
        if (ex->x[i].stats) { /* conv i computes bn i + 1's statistics */
            a->plane_stats = training ? ex->x[i].stats : NULL;
            ex->x[i + 1].a.plane_stats = a->plane_stats;
        }
        double t0 = ex->t_fwd ? sn_now() : 0;
        if (predict && ex->x[i].fold_bn) { /* conv i with bn i + 1 */
            fold_weights(ex, i);
            ex->x[i].fa.n = n;
            ex->x[i].fa.training = 0;
            sn_op_get(SN_OP_CONV)->forward(&ex->x[i].fa);
            if (ex->t_fwd) ex->t_fwd[i] += sn_now() - t0;
            i++;
            continue;
        }
        if (ex->x[i].pre_relu) { /* conv i, relu i + 1, max pool i + 2 */
            sn_op_args *r = &ex->x[i + 1].a, *q = &ex->x[i + 2].a;
            r->n = q->n = n;
            r->training = q->training = training;
            sn_conv_relu_maxpool_forward(a, r, q);
            if (ex->t_fwd) ex->t_fwd[i] += sn_now() - t0;
            i += 2;
            continue;
        }
        if (ex->x[i].fuse_pool) { /* conv i, max pool i + 1 (relu i + 2) */
            sn_op_args *q = &ex->x[i + 1].a, *r = NULL;
            q->n = n;
            q->training = training;
            if (ex->x[i].fuse_pool == 2) {
                r = &ex->x[i + 2].a;
                r->n = n;
                r->training = training;
            }
            sn_conv_maxpool_forward(a, q, r);
            if (ex->t_fwd) ex->t_fwd[i] += sn_now() - t0;
            i += ex->x[i].fuse_pool;
            continue;
        }
        if (ex->x[i].fuse_act) { /* bn i, relu/relu6 i + 1 */
            sn_op_args *q = &ex->x[i + 1].a;
            q->n = n;
            q->training = training;
            /* a training forward whose backward is fused too leaves the
             * bn's output unwritten: nothing reads it (an inference
             * forward writes it, for sn_exec_output readers) */
            sn_bn_act_forward(a, q, ex->g->nodes[i + 1].op,
                              training && ex->x[i].fuse_act_bwd);
            if (ex->t_fwd) ex->t_fwd[i] += sn_now() - t0;
            i++;
            continue;
        }
        sn_op_get(ex->g->nodes[i].op)->forward(a);
        if (ex->t_fwd) ex->t_fwd[i] += sn_now() - t0;
    }
    return ex->x[ex->n_nodes - 1].act;
}

void sn_exec_zero_grad(sn_exec *ex) {
    memset(ex->pgrad, 0, (size_t)ex->w->n_params * sizeof(float));
}

void sn_exec_backward(sn_exec *ex, const float *dlogits) {
    int n = ex->n, last = ex->n_nodes - 1;
    SN_ASSERT(n >= 1);
    if (ex->t_bwd) ex->prof_bwd++;
    memcpy(ex->x[last].dact, dlogits,
           (size_t)(ex->x[last].size * n) * sizeof(float));
    for (int j = last; j >= 1; j--) {
        const sn_node *nd = &ex->g->nodes[j];
        xnode *x = &ex->x[j];
        /* a pool (or relu) fused with its conv: nothing to do until the
         * conv */
        if (ex->x[j - 1].fuse_bwd && x->dact) continue;
        if (j >= 2 && ex->x[j - 2].fuse_bwd == 2 && x->dact) continue;
        if (ex->x[j - 1].fuse_act_bwd) continue; /* done by the bn */
        /* This node is the first (backwards) to write the gradients of the
         * inputs it reads last; they start from zero here. */
        for (int k = 0; k < nd->n_in; k++) {
            int i = nd->in[k];
            if (i >= 1 && ex->x[i].last_use == j && !x->a.din_fresh)
                memset(ex->x[i].dact, 0,
                       (size_t)(ex->x[i].size * n) * sizeof(float));
        }
        if (!x->dact) continue; /* feeds nothing: its gradient is zero */
        x->a.n = n;
        double t0 = ex->t_bwd ? sn_now() : 0;
        if (x->pre_relu && x->fuse_bwd) { /* relu j + 1, pool j + 2 */
            ex->x[j + 1].a.n = ex->x[j + 2].a.n = n;
            sn_conv_relu_maxpool_backward(&x->a, &ex->x[j + 1].a,
                                          &ex->x[j + 2].a);
        } else if (x->fuse_bwd && ex->x[j + 1].dact) {
            sn_op_args *relu = NULL;
            ex->x[j + 1].a.n = n;
            if (x->fuse_bwd == 2 && ex->x[j + 2].dact) {
                relu = &ex->x[j + 2].a;
                relu->n = n;
            }
            sn_conv_maxpool_backward(&x->a, &ex->x[j + 1].a, relu);
        } else if (x->fuse_act_bwd) {
            ex->x[j + 1].a.n = n;
            sn_bn_act_backward(&x->a, &ex->x[j + 1].a, ex->g->nodes[j + 1].op);
        } else
            sn_op_get(nd->op)->backward(&x->a);
        if (ex->t_bwd) ex->t_bwd[j] += sn_now() - t0;
    }
}

float *sn_exec_grads(sn_exec *ex) { return ex->pgrad; }

const float *sn_exec_output(const sn_exec *ex, int node) {
    SN_ASSERT(node >= 0 && node < ex->n_nodes);
    return ex->x[node].act;
}

void sn_exec_set_seed(sn_exec *ex, uint64_t seed) {
    sn_rng_seed(&ex->rng, seed);
}
