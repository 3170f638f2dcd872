/* morph_internal.h — what the morphism operators share:
 *   edit.c   an editable copy of a graph's node list (insert, delete,
 *            rewire, dead-node removal) and its rebuild into an sn_graph;
 *            small graph queries (consumers, depthwise, non-negativity)
 *   chan.c   channel maps: how a change of the channels of some producers
 *            (wider, prune) or of what consumers see (concat-skip,
 *            remove-skip) travels through the graph, and the weight
 *            transfer that follows those maps
 *   grow.c   the exact operators
 *   shrink.c the approximate operators
 *   morph.c  the operator table, enumerate, predict, apply, parse
 */
#ifndef SLIMNAS_MORPH_INTERNAL_H
#define SLIMNAS_MORPH_INTERNAL_H

/* Every function reached through the operator table has the table's full
 * signature, and most use only part of it: unused parameters are the
 * norm here, so the warning is off in the files that implement table
 * entries (they include this header); it stays on everywhere else. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#include "slimnas/morph.h"

/* ---- editable node list (edit.c) --------------------------------------- */

/* Nodes in topological order (node 0 the input); origin[i] is the parent
 * node node i came from, or -1 for a node an operator created. Indices in
 * nodes[].in always refer to the current list. */
typedef struct medit {
    int n, cap;
    sn_node *nodes;
    int *origin;
} medit;

void ed_init(medit *ed, const sn_graph *g);
void ed_free(medit *ed);
/* Inserts a node at index `at` (later nodes shift up; references to them
 * follow). in[] are indices before the insertion and must all be < at.
 * The node gets a fresh name "<prefix>N". Returns at. */
int ed_insert(medit *ed, int at, sn_op_kind op, const sn_attr *a,
              const int *in, int n_in, const char *prefix);
/* Every node with index >= first that reads `from` reads `to` instead. */
void ed_redirect(medit *ed, int from, int to, int first);
/* Deletes node i; its readers read repl (an index < i) instead. */
void ed_delete(medit *ed, int i, int repl);
/* Removes input k of node i (an add or concat). */
void ed_drop_input(medit *ed, int i, int k);
/* Deletes nodes nobody reads (never the input or the output). */
void ed_dce(medit *ed);
/* Writes a fresh unique name "<prefix>N" into out (SN_NAME_LEN). */
void ed_fresh_name(const medit *ed, const char *prefix, char *out);
/* Builds the graph (shapes inferred, names kept); NULL with e. */
sn_graph *ed_build(const medit *ed, const sn_graph *g, sn_error *e);

/* ---- graph queries (edit.c) -------------------------------------------- */

int mg_consumers(const sn_graph *g, int i, int *out, int max);
sn_shape mg_in_shape(const sn_graph *g, int i); /* shape of input 0 */
/* conv whose groups equal its input channels (> 1): per-channel filters */
int mg_is_depthwise(const sn_graph *g, int i);
/* conv with groups 1, or dense: mixes all input channels */
int mg_is_full(const sn_graph *g, int i);
int mg_is_spatial(const sn_graph *g, int i); /* output h * w > 1 */
/* 1 when node i's output can never be negative (after relu, pools of
 * such, ...). nonneg must hold g->n_nodes ints. */
void mg_nonneg(const sn_graph *g, int *nonneg);
/* 1 when every reader of i applies relu or relu6 to it first, so that
 * relu(x) may be inserted after i without changing anything. */
int mg_readers_all_relu(const sn_graph *g, int i);
/* 1 when tensor shapes of node a in w and node b in w2 are the same. */
int mg_same_tensors(const sn_weights *w, int a, const sn_weights *w2, int b);
void mg_copy_tensors(const sn_weights *w, int a, sn_weights *w2, int b);
/* Node by name or decimal index; -1 when none. */
int mg_node_ref(const sn_graph *g, const char *s);

/* ---- channel maps (chan.c) --------------------------------------------- */

/* A map lists, for each channel of a node's new output, the channel of the
 * parent's output it copies, or -1 for a fresh channel. It is stored with
 * its length first: m[0] = n, m[1..n] the entries. NULL means unchanged. */
#define CM_LEN(m) ((m)[0])
#define CM_AT(m, j) ((m)[1 + (j)])
int *cm_new(int n);
int *cm_identity_ext(int n, int extra); /* 0..n-1 then extra fresh (-1) */

typedef struct chan {
    const sn_graph *g;
    int n;
    int **S;           /* maps of producers (full conv, dense) */
    int **own_fix;     /* forced own map (operator-defined node) */
    int **view_fix;    /* forced map seen by the readers of a node */
    int **own, **view; /* solved: own output / what readers see */
    int **pool;        /* maps allocated while solving */
    int n_pool, cap_pool;
} chan;

void chan_init(chan *c, const sn_graph *g);
void chan_free(chan *c);
/* These take ownership of map. */
void chan_set_producer(chan *c, int node, int *map);
void chan_fix_own(chan *c, int node, int *map);
void chan_fix_view(chan *c, int node, int *map);
/* Propagates the maps through the graph in order; where an add meets
 * inputs with different maps, the producers behind the unchanged inputs
 * are given the same map and the pass restarts. -1 with a sentence when a
 * change cannot be propagated (reaches the output, a grouped conv, a
 * concat behind an add, ...). */
int chan_solve(chan *c, sn_error *e);
/* Sets the new filter counts of producers and the groups of depthwise
 * convs in ed, whose indices must still be the parent's. */
void chan_apply_attrs(const chan *c, medit *ed);
/* Fills the tensors of child nodes (origin o >= 0) whose input or output
 * map changed: copied through the maps, divided by the replication count
 * of each input channel, zero for fresh input channels, fresh output
 * channels left as initialised. noise > 0 adds zero-sum noise of that
 * relative size over the replicas of each input channel (symmetry
 * breaking that keeps the function). */
void chan_transfer(const chan *c, const sn_weights *w, const sn_graph *child,
                   const int *origin, sn_weights *cw, float noise,
                   uint64_t seed);
int chan_changed(const chan *c, int node); /* own or input view changed */

/* ---- operators ------------------------------------------------------- */

/* What building a child produced: the child graph, where each of its nodes
 * came from, and what the weight transfer needs. */
typedef struct mplan {
    sn_graph *child;
    int *origin;   /* [child->n_nodes] parent node or -1 */
    int has_chan;  /* chan holds the channel maps */
    chan ch;
    float noise;   /* wider's symmetry breaking */
    int node[8];   /* child indices of nodes the operator initialises */
    int n_node;
    int light;     /* prediction only: shapes inferred, no name checks */
} mplan;

void plan_free(mplan *p);
/* Builds p->child and p->origin from ed (consumes nothing; ed stays).
 * With p->light the child gets its shapes by the ops' own rules but
 * skips sn_graph_add's per-node name scans (quadratic in the layer
 * count): enough for stats, which do not read names. */
int plan_build(mplan *p, const medit *ed, const sn_graph *g, sn_error *e);

typedef struct cand_list {
    int n, cap;
    sn_morph_op *v;
} cand_list;
void cand_push(cand_list *l, int op, int pos, int arg);

typedef struct morph_def {
    sn_morph_info info;
    /* Appends the (pos, arg) pairs worth trying on g; enumerate keeps
     * those whose build succeeds. */
    void (*candidates)(const sn_graph *g, int id, cand_list *l);
    /* Builds the child graph. w may be NULL (prediction): the structure
     * must not depend on w or seed. */
    int (*build)(const sn_graph *g, const sn_weights *w, sn_morph_op op,
                 uint64_t seed, mplan *p, sn_error *e);
    /* Sets the weights the generic copy and channel transfer did not. */
    void (*init)(const sn_graph *g, const sn_weights *w, sn_morph_op op,
                 const mplan *p, sn_weights *cw);
    void (*describe)(const sn_graph *g, sn_morph_op op, char *buf,
                     size_t n);
} morph_def;

extern const morph_def morph_deeper, morph_deeper_dense, morph_deeper_mbv2,
    morph_wider, morph_add_skip, morph_concat_skip, morph_separable,
    morph_prune, morph_remove, morph_remove_skip, morph_narrow_kernel;

/* Shared by the channel operators (wider, prune): builds the child after
 * the maps in p->ch are set. */
int chan_build_child(const sn_graph *g, mplan *p, sn_error *e);

#endif
