/* slimnas/graph.h — a network as a DAG of layers, its weights, its
 * execution, its per-layer stats, its files, and the base architectures.
 *
 * Nodes are kept in topological order: node 0 is the input, every node's
 * inputs have smaller indices, and the last node is the output (logits,
 * shape {classes,1,1}).
 *
 *   sn_graph *g = sn_graph_new_kind("cnn", &(sn_shape){1, 28, 28}, 10,
 *                                   &opts, &err);
 *   sn_weights *w = sn_weights_new(g); sn_weights_init(w, g, seed);
 *   sn_exec *ex = sn_exec_new(g, w, 128);
 *   const float *logits = sn_exec_forward(ex, x, n, 1);
 *   ... loss gives dlogits ...
 *   sn_exec_zero_grad(ex); sn_exec_backward(ex, dlogits);
 *   sn_optim_step(&opt, w->params, sn_exec_grads(ex), w->decay_mask);
 */
#ifndef SLIMNAS_GRAPH_H
#define SLIMNAS_GRAPH_H

#include "slimnas/nn.h"

#define SN_MAX_IN 32   /* inputs of one add/concat */
#define SN_NAME_LEN 48

typedef struct sn_node {
    char name[SN_NAME_LEN]; /* unique; "input" for node 0 */
    sn_op_kind op;
    sn_attr attr;
    int n_in;
    int in[SN_MAX_IN];      /* indices of earlier nodes */
    sn_shape out;           /* per-sample output shape (after infer) */
} sn_node;

/* What a trained model needs besides its layers to be run elsewhere: how
 * the input is laid out and normalised, and what its outputs mean. The
 * input is always float32 NCHW, one image [C][H][W] per sample, pixels
 * scaled to [0, 1] (byte / 255) and then x = (p - mean[c]) / std[c].
 * Saved in the graph JSON ("data": {...}) and in the weight file
 * (version 2); files without it load with known = 0. */
#define SN_INFO_MAX_C 16         /* channels with a mean/std */
#define SN_INFO_MAX_CLASSES 128  /* classes with a stored name */
typedef struct sn_model_info {
    int known;                   /* 1: mean/std below are valid */
    int c;                       /* channels they cover (= input.c) */
    float mean[SN_INFO_MAX_C], std[SN_INFO_MAX_C]; /* [0, 1] pixel scale */
    char dataset[SN_NAME_LEN];   /* "fashion-mnist", or "" */
    int n_names;                 /* 0, or classes */
    char names[SN_INFO_MAX_CLASSES][SN_NAME_LEN];
} sn_model_info;

typedef struct sn_graph {
    char name[SN_NAME_LEN]; /* free text, e.g. "cnn" */
    sn_shape input;         /* per-sample input shape */
    int classes;
    int n_nodes, cap;
    sn_node *nodes;
    sn_model_info info;     /* known = 0 unless trained/saved with data */
} sn_graph;

/* ---- building -------------------------------------------------------- */

sn_graph *sn_graph_new(const char *name, sn_shape input, int classes);
sn_graph *sn_graph_clone(const sn_graph *g);
void sn_graph_free(sn_graph *g);
/* Appends a node fed by the given earlier nodes, infers its shape, and
 * returns its index, or -1 (with e) on a bad shape. name NULL or "" picks
 * a fresh one ("conv3", "bn2", ...). */
int sn_graph_add(sn_graph *g, sn_op_kind op, const sn_attr *a,
                 const int *in, int n_in, const char *name, sn_error *e);
/* Re-infers every shape in order; -1 with "layer N (name): ..." on error.
 * Also checks the output is {classes,1,1}. */
int sn_graph_validate(sn_graph *g, sn_error *e);
int sn_graph_find(const sn_graph *g, const char *name); /* -1 if none */
/* Number of nodes that read node i. */
int sn_graph_consumers(const sn_graph *g, int i, int *out, int max);

/* ---- files ----------------------------------------------------------- */

/* Graph JSON (versioned, human-readable):
 * {"format": "slimnas-graph", "version": 1, "name": "cnn",
 *  "input": {"c": 1, "h": 28, "w": 28}, "classes": 10,
 *  "layers": [{"name": "conv1", "op": "conv", "inputs": ["bn1"],
 *              "filters": 64, "kernel": 3, "stride": 1, "padding": 1,
 *              "groups": 1, "bias": true}, ...]}
 * The input layer is implicit and named "input"; layers may be listed in
 * any order that names existing layers (cycles are refused); the last
 * layer listed is the output. Errors: "FILE:LINE:COL: what is wrong". */
sn_graph *sn_graph_from_json(const char *text, size_t len, const char *file,
                             sn_error *e);
sn_graph *sn_graph_load(const char *path, sn_error *e); /* "-" = stdin */
char *sn_graph_to_json(const sn_graph *g); /* malloc'd, pretty */
int sn_graph_save(const sn_graph *g, const char *path, sn_error *e);

/* ---- model info ------------------------------------------------------ */

struct sn_weights;

/* The info to use for a graph and its weights: the weights' when known
 * (they were trained with it), else the graph's, else NULL (unknown). */
const sn_model_info *sn_model_info_pick(const sn_graph *g,
                                        const struct sn_weights *w);
/* Its JSON object {"layout": "NCHW", "pixel_scale": ..., "mean": [...],
 * "std": [...], "dataset": ..., "class_names": [...]} as text (malloc'd). */
char *sn_model_info_to_json(const sn_model_info *mi);
/* Parses such an object (cJSON *) for a graph of the given input and
 * classes; -1 with a sentence in msg when it is malformed. */
int sn_model_info_from_cjson(const void *obj, sn_shape input, int classes,
                             sn_model_info *mi, char *msg, size_t n);
/* Class k's name: the stored one, else its number in buf. */
const char *sn_model_info_class(const sn_model_info *mi, int k, char *buf,
                                size_t n);

/* ---- weights --------------------------------------------------------- */

/* All trainable parameters in one flat array (params), buffers (bn running
 * stats) in another; each node's tensors are views at fixed offsets. The
 * optimiser and the gradients see the same flat layout. */
typedef struct sn_weights {
    int n_nodes;
    int64_t n_params, n_buffers;
    float *params, *buffers;
    unsigned char *decay_mask; /* 1 for weights, 0 for biases and bn */
    /* per node: tensor t of node i is at tensor[i][t] (NULL if absent) */
    int (*n_tensors);                       /* [n_nodes] */
    sn_tensor_desc (*desc)[SN_MAX_TENSORS]; /* [n_nodes] */
    int64_t (*offset)[SN_MAX_TENSORS];      /* into params or buffers */
    sn_model_info info; /* set by training; saved with the weights */
} sn_weights;

sn_weights *sn_weights_new(const sn_graph *g); /* zero-filled */
void sn_weights_free(sn_weights *w);
void sn_weights_init(sn_weights *w, const sn_graph *g, uint64_t seed);
float *sn_weights_tensor(const sn_weights *w, int node, int t);
/* Weight file: magic "SNWT", version, tensor count, then per tensor its
 * name ("conv1.weight"), dims and float32 data, then a CRC32 of all bytes
 * before it. Loading checks every name and shape against the graph.
 * Version 2 (written when the model info is known: w's, else g's) adds
 * the info's JSON (length, bytes) before the CRC; loading fills w->info
 * from it (version 1 files: known = 0). */
int sn_weights_save(const sn_weights *w, const sn_graph *g, const char *path,
                    sn_error *e);
sn_weights *sn_weights_load(const sn_graph *g, const char *path,
                            sn_error *e);
/* The same file format in memory: encode returns a malloc'd buffer of
 * *len bytes; decode checks data like load does (errors name `path`). */
void *sn_weights_encode(const sn_weights *w, const sn_graph *g,
                        size_t *len);
sn_weights *sn_weights_decode(const sn_graph *g, const void *data, size_t len,
                              const char *path, sn_error *e);
/* decode's checks (and errors) without keeping the weights: 0 or -1. */
int sn_weights_check(const sn_graph *g, const void *data, size_t len,
                     const char *path, sn_error *e);

/* ---- execution ------------------------------------------------------- */

typedef struct sn_exec sn_exec;

/* Plans buffers for batches of up to max_batch. The weights must outlive
 * the exec. */
sn_exec *sn_exec_new(const sn_graph *g, sn_weights *w, int max_batch);
void sn_exec_free(sn_exec *ex);
/* x: [n, C, H, W]; returns logits [n, classes] (owned by ex). training
 * selects batch statistics and dropout. */
const float *sn_exec_forward(sn_exec *ex, const float *x, int n,
                             int training);
/* Inference forward (running statistics, no dropout) for predictions
 * only: the logits agree with sn_exec_forward(.., 0) to float rounding,
 * but a conv whose only reader is a batch norm runs with the norm folded
 * into its weights and bias (so that norm's pass goes), and the conv's
 * own output is then not written: sn_exec_output is not valid after it
 * (a large batch goes through in several passes of a few samples, for
 * the cache; the returned logits are gathered apart). Evaluation uses
 * it. SLIMNAS_NO_FUSE=1 makes it the plain inference forward. */
const float *sn_exec_predict(sn_exec *ex, const float *x, int n);
/* How many convs sn_exec_predict runs folded into their batch norm (0
 * under SLIMNAS_NO_FUSE=1). */
int sn_exec_n_folded(const sn_exec *ex);
/* How many slices the last forward split its batch into across the
 * worker pool (0: it ran unsplit; see exec.c). */
int sn_exec_split(const sn_exec *ex);
void sn_exec_zero_grad(sn_exec *ex);
/* Back-propagates dlogits [n, classes] of the last forward. */
void sn_exec_backward(sn_exec *ex, const float *dlogits);
float *sn_exec_grads(sn_exec *ex); /* mirrors w->params */
const float *sn_exec_output(const sn_exec *ex, int node); /* activations */
void sn_exec_set_seed(sn_exec *ex, uint64_t seed);        /* dropout */

/* ---- stats ----------------------------------------------------------- */

typedef enum { SN_FLOPS_MACS, SN_FLOPS_AUTOKERAS } sn_flops_kind;

typedef struct sn_layer_stats {
    sn_shape out;
    int64_t params;
    int64_t flops;
    int64_t act_bytes; /* output tensor, batch 1, float32 */
} sn_layer_stats;

typedef struct sn_stats {
    int n;                  /* nodes */
    sn_layer_stats *layer;  /* [n] */
    int64_t params, flops;
    int64_t peak_bytes;     /* inference, batch 1 */
    int peak_at;            /* node index where the peak occurs */
} sn_stats;

/* Peak: walk the nodes in order; while node i runs, the live tensors are
 * its output and every earlier output still read by node i or a later one
 * (the input included); the peak is the largest such sum in bytes. */
int sn_stats_compute(const sn_graph *g, sn_flops_kind k, sn_stats *s);
void sn_stats_free(sn_stats *s);
int64_t sn_graph_params(const sn_graph *g);
int64_t sn_graph_flops(const sn_graph *g, sn_flops_kind k);
int64_t sn_graph_peak_bytes(const sn_graph *g);

/* ---- base architectures ---------------------------------------------- */

typedef struct sn_arch_opts {
    int width; /* 0 = kind's default (cnn 64, resnet 64, mobilenet 32) */
    int depth; /* 0 = kind's default (cnn 3, ...) */
} sn_arch_opts;

/* kind: cnn, resnet, densenet, mobilenet, mobilenetv2, mobile_tiny,
 * tiny2conv. NULL with e for an unknown kind or impossible input. */
sn_graph *sn_graph_new_kind(const char *kind, sn_shape input, int classes,
                            const sn_arch_opts *o, sn_error *e);
extern const char *const sn_arch_kinds[]; /* NULL-terminated */
/* The kind's default width (cnn 64, mobile_tiny 16, ...); 0: unknown. */
int sn_arch_default_width(const char *kind);
/* "cnn, resnet, ..., tiny2conv" into buf (for messages). */
const char *sn_arch_kinds_list(char *buf, size_t n);

#endif
