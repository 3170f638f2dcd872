/* slimnas/morph.h — network morphisms: operators that turn a parent graph
 * and its weights into a child graph that inherits them.
 *
 * Exact operators keep the function (the child's logits equal the parent's
 * in inference mode, up to float rounding); approximate ones shrink the
 * network and the fine-tuning that follows recovers the accuracy.
 *
 *   sn_morph_cand *c; int n = sn_morph_enumerate(g, &c, &err);
 *   ... drop candidates whose c[i].params / flops / peak_bytes are too big
 *   sn_graph *cg; sn_weights *cw; char desc[SN_MORPH_DESC_LEN];
 *   sn_morph_apply(g, w, c[i].op, seed, &cg, &cw, desc, &err);
 *   free(c);
 *
 * A morphism is (operator, position, argument). The position is a node
 * index of the parent; what it and the argument mean depends on the
 * operator (see each entry's `usage`):
 *
 *   operator       kind   POSITION                  ARG
 *   deeper         exact  node (block inserted after)  kernel 1, 3 or 5
 *   deeper-dense   exact  flat node {c,1,1}          -
 *   deeper-mbv2    exact  node (block inserted after)  expansion factor
 *   wider          exact  conv or dense              new width
 *   add-skip       exact  earlier node (source)      later node (target)
 *   concat-skip    exact  earlier node (source)      later node (target)
 *   separable      approx standard conv kxk, k > 1   -
 *   prune          approx conv or dense              filters to remove
 *   remove         approx conv/dense (+bn, +relu)    -
 *   remove-skip    approx add or concat node        input index to drop
 *   narrow-kernel  approx conv kxk                   new kernel size
 *
 * Every operator is deterministic given the seed. The child's structure
 * (hence its size) never depends on the seed or the weights, which is why
 * sn_morph_enumerate can predict sizes without building any weights.
 */
#ifndef SLIMNAS_MORPH_H
#define SLIMNAS_MORPH_H

#include "slimnas/graph.h"

typedef enum sn_morph_id {
    SN_MORPH_DEEPER,
    SN_MORPH_DEEPER_DENSE,
    SN_MORPH_DEEPER_MBV2,
    SN_MORPH_WIDER,
    SN_MORPH_ADD_SKIP,
    SN_MORPH_CONCAT_SKIP,
    SN_MORPH_SEPARABLE,
    SN_MORPH_PRUNE,
    SN_MORPH_REMOVE,
    SN_MORPH_REMOVE_SKIP,
    SN_MORPH_NARROW_KERNEL,
    SN_MORPH_COUNT
} sn_morph_id;

typedef enum { SN_MORPH_EXACT, SN_MORPH_APPROX } sn_morph_kind;

/* What the third field of "OP:POSITION:ARG" holds. */
typedef enum {
    SN_MORPH_ARG_NONE, /* no argument (stored as 0) */
    SN_MORPH_ARG_INT,  /* a number */
    SN_MORPH_ARG_NODE  /* a node of the parent, by name or index */
} sn_morph_arg_kind;

typedef struct sn_morph_info {
    const char *name;  /* "wider" */
    sn_morph_kind kind;
    sn_morph_arg_kind arg;
    const char *usage; /* "wider:CONV[:WIDTH]  replicate filters ..." */
} sn_morph_info;

const sn_morph_info *sn_morph_get(sn_morph_id id);
int sn_morph_from_name(const char *name); /* -1 when unknown */

/* One morphism. pos and arg index the PARENT graph. */
typedef struct sn_morph_op {
    int op;  /* sn_morph_id */
    int pos; /* node index */
    int arg; /* see the table above; 0 when the operator takes none */
} sn_morph_op;

/* A morphism plus the exact size of the child it would produce. flops are
 * multiply-accumulates (SN_FLOPS_MACS), peak_bytes as sn_graph_peak_bytes. */
typedef struct sn_morph_cand {
    sn_morph_op op;
    int64_t params, flops, peak_bytes;
} sn_morph_cand;

#define SN_MORPH_DESC_LEN 160

/* Lists the applicable morphisms of g, in operator-table order, then by
 * position and argument, with the child's predicted size. Integer
 * arguments are offered at a few useful values (wider: x1.5 and x2,
 * prune: a quarter and half of the filters, deeper: kernels 1, 3, 5,
 * deeper-mbv2: expansion 2 and 6), and each skip source its nearest 3
 * targets at each map size (all pairs would be quadratic in the depth);
 * sn_morph_predict and sn_morph_apply accept any other valid argument.
 * *out is malloc'd (free it; NULL when there are none); returns the
 * count, or -1 with e when g itself is invalid. */
int sn_morph_enumerate(const sn_graph *g, sn_morph_cand **out, sn_error *e);

/* Predicts the child's size without building weights. -1 with a sentence
 * when op does not apply to g ("wider: conv9 is not a conv or dense"). */
int sn_morph_predict(const sn_graph *g, sn_morph_op op, sn_morph_cand *pred,
                     sn_error *e);

/* Builds the child graph and its inherited weights. w must match g.
 * desc (SN_MORPH_DESC_LEN bytes, may be NULL) gets one line such as
 * "wider conv2 64->96". Returns 0, or -1 with e (nothing allocated). */
int sn_morph_apply(const sn_graph *g, const sn_weights *w, sn_morph_op op,
                   uint64_t seed, sn_graph **child, sn_weights **child_w,
                   char *desc, sn_error *e);

/* The child graph of sn_morph_apply without its weights (the structure
 * never depends on them): for a search that only looks at children.
 * Returns 0, or -1 with e (nothing allocated). */
int sn_morph_child(const sn_graph *g, sn_morph_op op, sn_graph **child,
                   sn_error *e);

/* One line describing op on g ("separable conv3"), without applying it. */
void sn_morph_describe(const sn_graph *g, sn_morph_op op, char *desc,
                       size_t len);

/* Parses "OP[:POSITION[:ARG]]" against g. POSITION is a node name or
 * index, ARG a number or (for skips) a node name or index. A missing
 * POSITION or ARG is filled by picking, with the seed, among the
 * applicable morphisms that match what was given. -1 with a sentence for
 * an unknown operator, a missing node, or a request that does not apply. */
int sn_morph_parse(const sn_graph *g, const char *spec, uint64_t seed,
                   sn_morph_op *op, sn_error *e);

#endif
