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
 * (and when a relu/relu6 alone reads the norm, straight into its output,
 * clamped as the conv writes: sn_op_args.out_clamp; the bn's output is
 * then not written and the activation's pass goes too)
 * (the folded tensors are remade on every call: the weights change
 * between calls; a few thousand multiplies).
 *
 * A conv whose output a batch norm reads computes, in a training forward,
 * the norm's per-plane statistics while each output plane is in cache
 * (sn_op_args.plane_stats), and the norm skips its own statistics pass
 * over the batch.
 * SLIMNAS_NO_FUSE=1 turns fusion off (tests compare both).
 *
 * Split mode (a pool of T > 1 threads, a batch of at least 8 (T - 1) + 1
 * samples): instead of every op splitting its own work
 * (one wake-up and join of the pool per op and pass), each thread runs
 * the whole forward, or the whole backward, on its slice of the batch:
 * one sn_parallel_for per pass. Slices are whole chunks of 8 samples.
 * A slice has its own gradient buffers (the same plan for slice_cap
 * samples), op caches, work buffer and parameter gradients (slice 0
 * adds straight into the exec's); activations are the whole batch's,
 * each slice writing its own samples. Ops called inside a slice see one
 * thread (nested sn_parallel_for runs inline). A training bn meets the
 * other slices at a barrier (sn_batch_split): forward after each slice
 * put its planes' statistics into the bn's shared array, backward after
 * its chunk sums; every slice then combines all of them in the unsplit
 * order (bn's results are bit-identical to the unsplit path) and slice 0
 * alone updates the running statistics and adds the parameter
 * gradients. Dropout masks are drawn for the whole batch before the
 * slices start (sn_dropout_mask: the unsplit masks), each slice applying
 * its part. After backward the slices' parameter gradients are added to
 * slice 0's in slice order, each thread a range of parameters: the
 * convs' and dense's weight gradients are then sums of per-slice
 * partials (deterministic for a thread count, equal to the unsplit path
 * within float rounding). The unsplit path stays for smaller batches,
 * sized for them only. SLIMNAS_NO_SPLIT=1 turns split mode off. */
#include "slimnas/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

#define ALIGN_FLOATS 16
#define SPLIT_CHUNK 8 /* samples; bn's chunk (norm.c BN_CHUNK) */

/* One node's arguments in one view of the batch: the whole batch, or a
 * slice in split mode (what they point at). */
typedef struct vnode {
    sn_op_args a;
    sn_op_args fa; /* fold_bn: the conv's args, folded, out = bn's */
    const float *in[SN_MAX_IN];
    float *din[SN_MAX_IN];
    float *grad[SN_MAX_TENSORS];
    float *dact;   /* this view's gradient of the node's output, or NULL */
    double *stats; /* conv with stats: this view's planes in it */
    sn_batch_split split; /* bn, slices only */
} vnode;

/* A slice's own buffers (split mode). */
typedef struct slice {
    vnode *v;      /* [n_nodes] */
    float *grad_mem, *work, *pgrad; /* pgrad: slice 0's is the exec's */
    void **cache;  /* [n_nodes] */
    int first, n;  /* samples of the current batch */
} slice;

typedef struct xnode {
    sn_shape in_shape[SN_MAX_IN];
    float *tensor[SN_MAX_TENSORS];
    int64_t size;    /* floats per sample of the output */
    float *act;      /* [max_batch * size] */
    float *dact;     /* whole-batch view's [batch * size], may share
                        memory; NULL: none */
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
    /* ... and the bn's only reader, node i + 2, a relu or relu6: applied
     * as the folded conv writes (sn_op_args.out_clamp), straight into the
     * activation's output; the bn's own output is not written */
    int fold_act;
    sn_attr fattr;                /* the conv's attributes, with a bias */
    float *ftensor[SN_MAX_TENSORS]; /* folded weight and bias */
    /* conv read by a bn at i + 1: [max_batch][C][2] plane statistics the
     * conv computes for the bn in a training forward; NULL: none */
    double *stats;
    /* bn in split mode: its shared array (stats of the conv before, or
     * its own), [max_batch][C][2]; NULL: none */
    double *shared;
    int own_shared;
} xnode;

struct sn_exec {
    const sn_graph *g;
    sn_weights *w;
    int n_nodes, max_batch, n; /* n: batch of the last forward */
    xnode *x;
    vnode *v; /* [n_nodes]: the whole batch */
    float *act_mem, *grad_mem, *work, *pgrad;
    void **cache;
    sn_rng rng;
    /* split mode: n_split slices (0: off), each at most split_cap
     * samples; split_now: the last forward ran split */
    int n_split, split_cap, split_now;
    slice *sl;
    sn_barrier bar;
    /* SLIMNAS_PROFILE=1: seconds per node, printed when the exec is freed */
    double *t_fwd, *t_bwd;
    int64_t prof_fwd, prof_bwd;
    /* predictions: samples per pass through the network, and the logits
     * of a batch run in several passes [max_batch * classes] */
    int predict_chunk;
    float *logits;
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
static int64_t plan_grads(sn_exec *ex, int64_t *off, int batch) {
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
            int64_t want = round_up(ex->x[i].size * batch);
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

/* Allocates every node's op cache into cache[] for batches of cap
 * samples (dropout's mask for drop_cap; 0: none, the view uses a part of
 * the batch's) and returns the largest work buffer an op asks for at cap
 * (for the threads sn_threads_here() says). */
static size_t alloc_caches(const sn_exec *ex, int cap, int drop_cap,
                           void **cache) {
    size_t work = 0;
    for (int i = 0; i < ex->n_nodes; i++) {
        const sn_node *nd = &ex->g->nodes[i];
        const sn_op_desc *op = sn_op_get(nd->op);
        const xnode *x = &ex->x[i];
        int c = nd->op == SN_OP_DROPOUT ? drop_cap : cap;
        size_t cb = c ? op->cache_bytes(&nd->attr, x->in_shape, nd->n_in,
                                        nd->out, c)
                      : 0;
        if (cb) cache[i] = sn_falloc((cb + sizeof(float) - 1) / sizeof(float));
        size_t wf = op->work_floats(&nd->attr, x->in_shape, nd->n_in, nd->out,
                                    cap);
        if (wf > work) work = wf;
    }
    return work;
}

/* The folded conv's arguments of a view from its plain ones (conv x with
 * its bn folded in; fa.out is set by the caller). */
static void fold_args(const xnode *x, vnode *v) {
    v->fa = v->a;
    v->fa.attr = &x->fattr;
    v->fa.tensor = x->ftensor;
    v->fa.grad = NULL;
}

/* Samples per pass of sn_exec_predict: per thread, the largest multiple
 * of 8 samples for which the widest node's inputs and output together
 * fit in PREDICT_CACHE_BYTES (at least 8), times the threads (split mode
 * gives each its share). The budget is half of a 1 MiB L2: on mobile_tiny
 * (8 samples a pass) evaluation ran 20-25% faster than in whole batches
 * of 128, and ak_cnn the same (its convs are compute-bound). A batch no
 * larger goes in one pass. SLIMNAS_PREDICT_CHUNK=N sets it (tests). */
#define PREDICT_CACHE_BYTES (512 * 1024)
static int predict_chunk_for(const sn_exec *ex, int threads) {
    const char *env = getenv("SLIMNAS_PREDICT_CHUNK");
    int64_t c = env ? atoi(env) : 0;
    if (c <= 0) {
        int64_t widest = 1;
        for (int i = 1; i < ex->n_nodes; i++) {
            const sn_node *nd = &ex->g->nodes[i];
            int64_t f = ex->x[i].size;
            for (int k = 0; k < nd->n_in; k++) f += ex->x[nd->in[k]].size;
            if (f > widest) widest = f;
        }
        int64_t per = PREDICT_CACHE_BYTES / (widest * (int64_t)sizeof(float));
        per = per / SPLIT_CHUNK * SPLIT_CHUNK;
        c = (per < SPLIT_CHUNK ? SPLIT_CHUNK : per) * threads;
    }
    return c < ex->max_batch ? (int)c : ex->max_batch;
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
        const sn_node *q = i + 2 < n ? &g->nodes[i + 2] : NULL;
        ex->x[i].fold_act = ex->x[i].fold_bn && q && q->in[0] == i + 1 &&
                            (q->op == SN_OP_RELU || q->op == SN_OP_RELU6) &&
                            sn_graph_consumers(g, i + 1, NULL, 0) == 1;
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
    /* split mode (see the header): T slices of whole 8-sample chunks */
    const char *nosplit = getenv("SLIMNAS_NO_SPLIT");
    int T = sn_threads_count();
    int split = T > 1 && max_batch > SPLIT_CHUNK * (T - 1) &&
                !(nosplit && *nosplit && strcmp(nosplit, "0") != 0);
    /* the unsplit path then serves only batches too small to split */
    int whole_cap = split ? SPLIT_CHUNK * (T - 1) : max_batch;
    if (split) {
        ex->n_split = T;
        int chunks = (max_batch + SPLIT_CHUNK - 1) / SPLIT_CHUNK;
        ex->split_cap = SPLIT_CHUNK * ((chunks + T - 1) / T);
        sn_barrier_init(&ex->bar, T);
    }

    ex->predict_chunk = predict_chunk_for(ex, split ? T : 1);
    if (ex->predict_chunk < max_batch)
        ex->logits = sn_falloc((size_t)max_batch * g->classes);

    int64_t *grad_off = sn_xmalloc((size_t)n * sizeof *grad_off);
    int64_t grad_total = plan_grads(ex, grad_off, whole_cap);
    ex->grad_mem = sn_falloc((size_t)grad_total);
    ex->pgrad = sn_falloc((size_t)w->n_params);

    ex->v = sn_xcalloc((size_t)n, sizeof *ex->v);
    for (int i = 0; i < n; i++) {
        const sn_node *nd = &g->nodes[i];
        xnode *x = &ex->x[i];
        x->act = ex->act_mem + act_off[i];
        x->dact = grad_off[i] >= 0 ? ex->grad_mem + grad_off[i] : NULL;
        for (int k = 0; k < nd->n_in; k++)
            x->in_shape[k] = g->nodes[nd->in[k]].out;
        for (int t = 0; t < w->n_tensors[i]; t++)
            x->tensor[t] = sn_weights_tensor(w, i, t);
    }
    /* dropout in split mode: the whole batch's mask (see below) */
    ex->work = sn_falloc(alloc_caches(ex, whole_cap,
                                      split ? max_batch : whole_cap,
                                      ex->cache));
    for (int i = 1; fuse && i + 1 < n; i++) {
        const sn_node *c = &g->nodes[i], *b = &g->nodes[i + 1];
        if (c->op == SN_OP_CONV && !ex->x[i].fuse_pool &&
            b->op == SN_OP_BN && b->in[0] == i)
            ex->x[i].stats = sn_xmalloc((size_t)max_batch * c->out.c * 2 *
                                        sizeof(double));
    }
    for (int i = 1; split && i < n; i++) {
        if (g->nodes[i].op != SN_OP_BN) continue;
        xnode *x = &ex->x[i];
        if (g->nodes[i].in[0] == i - 1 && ex->x[i - 1].stats) {
            x->shared = ex->x[i - 1].stats;
        } else {
            x->shared = sn_xmalloc((size_t)max_batch * g->nodes[i].out.c *
                                   2 * sizeof(double));
            x->own_shared = 1;
        }
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
        vnode *v = &ex->v[i];
        v->dact = x->dact;
        v->stats = x->stats;
        for (int k = 0; k < nd->n_in; k++) {
            v->in[k] = ex->x[nd->in[k]].act;
            v->din[k] = nd->in[k] >= 1 ? ex->x[nd->in[k]].dact : NULL;
        }
        for (int t = 0; t < w->n_tensors[i]; t++)
            if (w->desc[i][t].trainable)
                v->grad[t] = ex->pgrad + w->offset[i][t];
        sn_op_args *a = &v->a;
        a->attr = &nd->attr;
        a->n_in = nd->n_in;
        a->in_shape = x->in_shape;
        a->out_shape = nd->out;
        a->in = v->in;
        a->out = x->act;
        a->tensor = x->tensor;
        a->grad = v->grad;
        a->din = v->din;
        a->dout = v->dact;
        a->cache = ex->cache[i];
        a->work = ex->work;
        a->rng = &ex->rng;
        /* a bn or conv that alone reads its input writes that gradient
         * instead of adding to a zeroed one */
        int only = 0;
        if (fuse && (nd->op == SN_OP_BN || nd->op == SN_OP_CONV) &&
            nd->in[0] >= 1 &&
            (x->last_use >= 0 || i == n - 1) && /* its backward runs */
            ex->x[nd->in[0]].last_use == i &&
            sn_graph_consumers(g, nd->in[0], NULL, 0) == 1)
            only = 1;
        a->din_fresh = only;
    }
    for (int i = 0; i < n; i++) {
        xnode *x = &ex->x[i];
        if (!x->fold_bn) continue;
        fold_args(x, &ex->v[i]);
        ex->v[i].fa.out = ex->x[i + 1 + x->fold_act].act;
    }
    if (split) {
        /* every slice: the same gradient plan for split_cap samples, its
         * own caches and work (sized for one thread: ops run serially in
         * a slice), its own parameter gradients (slice 0: the exec's) */
        grad_total = plan_grads(ex, grad_off, ex->split_cap);
        ex->sl = sn_xcalloc((size_t)T, sizeof *ex->sl);
        sn_threads_serial_begin();
        for (int s = 0; s < T; s++) {
            slice *sl = &ex->sl[s];
            sl->grad_mem = sn_falloc((size_t)grad_total);
            sl->pgrad = s == 0 ? ex->pgrad : sn_falloc((size_t)w->n_params);
            sl->cache = sn_xcalloc((size_t)n, sizeof *sl->cache);
            sl->v = sn_xcalloc((size_t)n, sizeof *sl->v);
            /* dropout: a part of the batch's mask (slice_bind) */
            sl->work = sn_falloc(alloc_caches(ex, ex->split_cap, 0,
                                              sl->cache));
            for (int i = 0; i < n; i++) {
                const sn_node *nd = &g->nodes[i];
                vnode *v = &sl->v[i];
                *v = ex->v[i];
                v->dact = grad_off[i] >= 0 ? sl->grad_mem + grad_off[i] : NULL;
                for (int k = 0; k < nd->n_in; k++)
                    v->din[k] = NULL;
                for (int t = 0; t < w->n_tensors[i]; t++)
                    if (w->desc[i][t].trainable)
                        v->grad[t] = sl->pgrad + w->offset[i][t];
                v->a.in = v->in;
                v->a.din = v->din;
                v->a.grad = v->grad;
                v->a.dout = v->dact;
                v->a.cache = sl->cache[i];
                v->a.work = sl->work;
                if (ex->x[i].fold_bn) fold_args(&ex->x[i], v);
                if (ex->x[i].shared) {
                    v->split.shared = ex->x[i].shared;
                    v->split.bar = &ex->bar;
                    v->split.lead = s == 0;
                    v->a.split = &v->split;
                }
                if (nd->op == SN_OP_DROPOUT) /* mask drawn for the batch */
                    v->a.split = &v->split;
            }
            for (int i = 0; i < n; i++) {
                const sn_node *nd = &g->nodes[i];
                for (int k = 0; k < nd->n_in; k++)
                    if (nd->in[k] >= 1)
                        sl->v[i].din[k] = sl->v[nd->in[k]].dact;
            }
        }
        sn_threads_serial_end();
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
        if (ex->x[i].own_shared) free(ex->x[i].shared);
    }
    for (int s = 0; s < ex->n_split; s++) {
        slice *sl = &ex->sl[s];
        for (int i = 0; i < ex->n_nodes; i++) sn_free_aligned(sl->cache[i]);
        free(sl->cache);
        free(sl->v);
        sn_free_aligned(sl->grad_mem);
        sn_free_aligned(sl->work);
        if (s > 0) sn_free_aligned(sl->pgrad);
    }
    if (ex->n_split) sn_barrier_destroy(&ex->bar);
    free(ex->sl);
    free(ex->v);
    free(ex->cache);
    sn_free_aligned(ex->act_mem);
    sn_free_aligned(ex->logits);
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

int sn_exec_split(const sn_exec *ex) {
    return ex->split_now ? ex->n_split : 0;
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

/* Points slice s's arguments at its samples [first, first + n) of the
 * batch of `total`. */
static void slice_bind(sn_exec *ex, int s, int first, int n, int total) {
    slice *sl = &ex->sl[s];
    sl->first = first;
    sl->n = n;
    for (int i = 0; i < ex->n_nodes; i++) {
        const sn_node *nd = &ex->g->nodes[i];
        vnode *v = &sl->v[i];
        for (int k = 0; k < nd->n_in; k++)
            v->in[k] = ex->x[nd->in[k]].act +
                       (size_t)first * ex->x[nd->in[k]].size;
        v->a.out = ex->x[i].act + (size_t)first * ex->x[i].size;
        if (nd->op == SN_OP_DROPOUT) /* its part of the batch's mask */
            v->a.cache = (float *)ex->cache[i] + (size_t)first * ex->x[i].size;
        if (ex->x[i].stats)
            v->stats = ex->x[i].stats + (size_t)first * nd->out.c * 2;
        if (ex->x[i].fold_bn) {
            int o = i + 1 + ex->x[i].fold_act;
            v->fa.out = ex->x[o].act + (size_t)first * ex->x[o].size;
        }
        v->split.first = first;
        v->split.total = total;
    }
}

/* Slices for a batch of n: whole chunks, as even as possible; 0 when
 * the batch is too small to give every slice one. */
static int split_plan(sn_exec *ex, int n) {
    int T = ex->n_split;
    int chunks = (n + SPLIT_CHUNK - 1) / SPLIT_CHUNK;
    if (T < 2 || chunks < T) return 0;
    /* the slices' barriers need T threads at once: the pool the exec was
     * made for (create execs after sn_threads_init), not inside a task */
    SN_ASSERT(sn_threads_here() == T);
    for (int s = 0; s < T; s++) {
        int c0 = (int)((int64_t)chunks * s / T);
        int c1 = (int)((int64_t)chunks * (s + 1) / T);
        int first = c0 * SPLIT_CHUNK;
        int end = c1 * SPLIT_CHUNK < n ? c1 * SPLIT_CHUNK : n;
        SN_ASSERT(end - first <= ex->split_cap);
        slice_bind(ex, s, first, end - first, n);
    }
    return 1;
}

/* Forward over the nodes of one view (the whole batch or a slice) of n
 * samples; fold: predictions remake the folded weights here (split mode
 * makes them once before the slices start); prof: this view books the
 * profile. */
static void run_forward(sn_exec *ex, vnode *V, int n, int training,
                        int predict, int fold, int prof) {
    for (int i = 1; i < ex->n_nodes; i++) {
        sn_op_args *a = &V[i].a;
        a->n = n;
        a->training = training;
        if (ex->x[i].stats) { /* conv i computes bn i + 1's statistics */
            a->plane_stats = training ? V[i].stats : NULL;
            V[i + 1].a.plane_stats = a->plane_stats;
        }
        double t0 = prof ? sn_now() : 0;
        if (predict && ex->x[i].fold_bn) { /* conv i with bn i + 1 */
            if (fold) fold_weights(ex, i);
            V[i].fa.n = n;
            V[i].fa.training = 0;
            V[i].fa.out_clamp =
                !ex->x[i].fold_act ? 0.0f
                : ex->g->nodes[i + 2].op == SN_OP_RELU6 ? 6.0f
                                                        : INFINITY;
            sn_op_get(SN_OP_CONV)->forward(&V[i].fa);
            if (prof) ex->t_fwd[i] += sn_now() - t0;
            i += 1 + ex->x[i].fold_act;
            continue;
        }
        if (ex->x[i].pre_relu) { /* conv i, relu i + 1, max pool i + 2 */
            sn_op_args *r = &V[i + 1].a, *q = &V[i + 2].a;
            r->n = q->n = n;
            r->training = q->training = training;
            sn_conv_relu_maxpool_forward(a, r, q);
            if (prof) ex->t_fwd[i] += sn_now() - t0;
            i += 2;
            continue;
        }
        if (ex->x[i].fuse_pool) { /* conv i, max pool i + 1 (relu i + 2) */
            sn_op_args *q = &V[i + 1].a, *r = NULL;
            q->n = n;
            q->training = training;
            if (ex->x[i].fuse_pool == 2) {
                r = &V[i + 2].a;
                r->n = n;
                r->training = training;
            }
            sn_conv_maxpool_forward(a, q, r);
            if (prof) ex->t_fwd[i] += sn_now() - t0;
            i += ex->x[i].fuse_pool;
            continue;
        }
        if (ex->x[i].fuse_act) { /* bn i, relu/relu6 i + 1 */
            sn_op_args *q = &V[i + 1].a;
            q->n = n;
            q->training = training;
            /* a training forward whose backward is fused too leaves the
             * bn's output unwritten: nothing reads it (an inference
             * forward writes it, for sn_exec_output readers) */
            sn_bn_act_forward(a, q, ex->g->nodes[i + 1].op,
                              training && ex->x[i].fuse_act_bwd);
            if (prof) ex->t_fwd[i] += sn_now() - t0;
            i++;
            continue;
        }
        sn_op_get(ex->g->nodes[i].op)->forward(a);
        if (prof) ex->t_fwd[i] += sn_now() - t0;
    }
}

typedef struct split_ctx {
    sn_exec *ex;
    const float *x;  /* forward: the batch; backward: dlogits */
    int training, predict;
} split_ctx;

static void split_forward_task(void *ctx, int64_t b, int64_t e, int tid) {
    (void)tid;
    const split_ctx *c = ctx;
    sn_exec *ex = c->ex;
    for (int64_t s = b; s < e; s++) {
        slice *sl = &ex->sl[s];
        size_t in_sz = (size_t)ex->x[0].size;
        memcpy(ex->x[0].act + (size_t)sl->first * in_sz,
               c->x + (size_t)sl->first * in_sz,
               (size_t)sl->n * in_sz * sizeof(float));
        run_forward(ex, sl->v, sl->n, c->training, c->predict, 0,
                    s == 0 && ex->t_fwd);
    }
}

static const float *forward(sn_exec *ex, const float *x, int n, int training,
                            int predict, int fold);

/* A batch of predictions goes through the network predict_chunk samples
 * at a time (see predict_chunk_for), each pass from the start of the
 * activation buffers, so that a layer's input and output for the pass
 * are still in L2 when the next layer reads them; the folded weights
 * are made once, in the first pass. The logits are gathered in
 * ex->logits. */
const float *sn_exec_predict(sn_exec *ex, const float *x, int n) {
    int c = ex->predict_chunk, k = ex->g->classes;
    if (ex->t_fwd) ex->prof_fwd++; /* one pass of the profile, however split */
    if (n <= c) return forward(ex, x, n, 0, 1, 1);
    size_t in_sz = (size_t)ex->x[0].size;
    for (int c0 = 0; c0 < n; c0 += c) {
        int m = n - c0 < c ? n - c0 : c;
        const float *l = forward(ex, x + (size_t)c0 * in_sz, m, 0, 1, c0 == 0);
        memcpy(ex->logits + (size_t)c0 * k, l, (size_t)m * k * sizeof(float));
    }
    return ex->logits;
}

const float *sn_exec_forward(sn_exec *ex, const float *x, int n,
                             int training) {
    if (ex->t_fwd) ex->prof_fwd++;
    return forward(ex, x, n, training, 0, 1);
}

static const float *forward(sn_exec *ex, const float *x, int n, int training,
                            int predict, int fold) {
    SN_ASSERT(n >= 1 && n <= ex->max_batch);
    ex->n = n;
    ex->split_now = split_plan(ex, n);
    if (ex->split_now) {
        for (int i = 1; i < ex->n_nodes; i++) {
            if (predict && fold && ex->x[i].fold_bn) fold_weights(ex, i);
            /* dropout masks from the one rng, in the unsplit order */
            sn_op_args *a = &ex->v[i].a;
            if (training && ex->g->nodes[i].op == SN_OP_DROPOUT &&
                a->attr->rate > 0.0f) {
                a->n = n;
                a->training = 1;
                sn_dropout_mask(a);
            }
        }
        split_ctx c = {ex, x, training, predict};
        sn_parallel_for(ex->n_split, split_forward_task, &c);
        return ex->x[ex->n_nodes - 1].act;
    }
    /* The input is copied: backward of the first layers reads it, and the
     * caller's batch buffer may be refilled meanwhile. */
    memcpy(ex->x[0].act, x, (size_t)(ex->x[0].size * n) * sizeof(float));
    run_forward(ex, ex->v, n, training, predict, fold, ex->t_fwd != NULL);
    return ex->x[ex->n_nodes - 1].act;
}

void sn_exec_zero_grad(sn_exec *ex) {
    memset(ex->pgrad, 0, (size_t)ex->w->n_params * sizeof(float));
}

/* Backward over the nodes of one view of n samples, from dlogits (the
 * view's samples). */
static void run_backward(sn_exec *ex, vnode *V, int n, const float *dlogits,
                         int prof) {
    int last = ex->n_nodes - 1;
    memcpy(V[last].dact, dlogits,
           (size_t)(ex->x[last].size * n) * sizeof(float));
    for (int j = last; j >= 1; j--) {
        const sn_node *nd = &ex->g->nodes[j];
        xnode *x = &ex->x[j];
        vnode *v = &V[j];
        /* a pool (or relu) fused with its conv: nothing to do until the
         * conv */
        if (ex->x[j - 1].fuse_bwd && v->dact) continue;
        if (j >= 2 && ex->x[j - 2].fuse_bwd == 2 && v->dact) continue;
        if (ex->x[j - 1].fuse_act_bwd) continue; /* done by the bn */
        /* This node is the first (backwards) to write the gradients of the
         * inputs it reads last; they start from zero here. */
        for (int k = 0; k < nd->n_in; k++) {
            int i = nd->in[k];
            if (i >= 1 && ex->x[i].last_use == j && !v->a.din_fresh)
                memset(V[i].dact, 0,
                       (size_t)(ex->x[i].size * n) * sizeof(float));
        }
        if (!v->dact) continue; /* feeds nothing: its gradient is zero */
        v->a.n = n;
        double t0 = prof ? sn_now() : 0;
        if (x->pre_relu && x->fuse_bwd) { /* relu j + 1, pool j + 2 */
            V[j + 1].a.n = V[j + 2].a.n = n;
            sn_conv_relu_maxpool_backward(&v->a, &V[j + 1].a, &V[j + 2].a);
        } else if (x->fuse_bwd && V[j + 1].dact) {
            sn_op_args *relu = NULL;
            V[j + 1].a.n = n;
            if (x->fuse_bwd == 2 && V[j + 2].dact) {
                relu = &V[j + 2].a;
                relu->n = n;
            }
            sn_conv_maxpool_backward(&v->a, &V[j + 1].a, relu);
        } else if (x->fuse_act_bwd) {
            V[j + 1].a.n = n;
            sn_bn_act_backward(&v->a, &V[j + 1].a, ex->g->nodes[j + 1].op);
        } else
            sn_op_get(nd->op)->backward(&v->a);
        if (prof) ex->t_bwd[j] += sn_now() - t0;
    }
}

static void split_backward_task(void *ctx, int64_t b, int64_t e, int tid) {
    (void)tid;
    const split_ctx *c = ctx;
    sn_exec *ex = c->ex;
    const int T = ex->n_split;
    const size_t P = (size_t)ex->w->n_params;
    for (int64_t s = b; s < e; s++) {
        slice *sl = &ex->sl[s];
        if (s > 0) memset(sl->pgrad, 0, P * sizeof(float));
        size_t out_sz = (size_t)ex->x[ex->n_nodes - 1].size;
        run_backward(ex, sl->v, sl->n, c->x + (size_t)sl->first * out_sz,
                     s == 0 && ex->t_bwd);
        /* every slice's parameter gradients are in: add them to slice
         * 0's (the exec's) in slice order, this thread a range of them */
        sn_barrier_wait(&ex->bar);
        size_t p0 = P * (size_t)s / (size_t)T, p1 = P * (size_t)(s + 1) / (size_t)T;
        float *restrict g = ex->pgrad;
        for (int t = 1; t < T; t++) {
            const float *restrict q = ex->sl[t].pgrad;
            for (size_t i = p0; i < p1; i++) g[i] += q[i];
        }
    }
}

void sn_exec_backward(sn_exec *ex, const float *dlogits) {
    int n = ex->n;
    SN_ASSERT(n >= 1);
    if (ex->t_bwd) ex->prof_bwd++;
    if (ex->split_now) {
        split_ctx c = {ex, dlogits, 0, 0};
        sn_parallel_for(ex->n_split, split_backward_task, &c);
        return;
    }
    run_backward(ex, ex->v, n, dlogits, ex->t_bwd != NULL);
}

float *sn_exec_grads(sn_exec *ex) { return ex->pgrad; }

const float *sn_exec_output(const sn_exec *ex, int node) {
    SN_ASSERT(node >= 0 && node < ex->n_nodes);
    return ex->x[node].act;
}

void sn_exec_set_seed(sn_exec *ex, uint64_t seed) {
    sn_rng_seed(&ex->rng, seed);
}
