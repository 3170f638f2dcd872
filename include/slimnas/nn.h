/* slimnas/nn.h — tensors and ops: shape rules, parameter counts, FLOPs,
 * forward, backward and initialisation, one table entry per op.
 *
 * Legend used in comments: N batch, C channels, H height, W width, K kernel
 * size, G groups. Activations are float32 NCHW; a per-sample shape is
 * sn_shape {c, h, w}; flat vectors (dense layers) are {c, 1, 1}.
 *
 * Parameter layouts follow PyTorch so reference tensors compare directly:
 *   conv    weight [Cout, Cin/G, K, K], bias [Cout]
 *   dense   weight [out, in],           bias [out]
 *   bn      weight (gamma) [C], bias (beta) [C]; buffers running_mean [C],
 *           running_var [C] (unbiased batch variance goes into running_var,
 *           running = (1 - momentum) * running + momentum * batch).
 *
 * Example, one conv forward on a batch of 8:
 *   sn_attr a = sn_attr_default(SN_OP_CONV); a.out = 16; a.k = 3; a.pad = 1;
 *   sn_shape in = {3, 32, 32}, out;
 *   sn_op_get(SN_OP_CONV)->infer(&a, &in, 1, &out, &err);
 *   ... fill an sn_op_args and call ->forward(&args).
 */
#ifndef SLIMNAS_NN_H
#define SLIMNAS_NN_H

#include "slimnas/util.h"

typedef struct sn_shape {
    int c, h, w;
} sn_shape;

static inline int64_t sn_shape_size(sn_shape s) {
    return (int64_t)s.c * s.h * s.w;
}

/* The one notation users see for a shape: HxWxC ("28x28x1"), as
 * `new --input` takes it; stored {c, h, w} order is internal. */
const char *sn_shape_fmt(char *buf, size_t n, sn_shape s);

typedef enum sn_op_kind {
    SN_OP_INPUT,   /* the graph's input; no computation */
    SN_OP_CONV,    /* conv2d: out, k, stride, pad, groups, bias */
    SN_OP_DENSE,   /* fully connected on {c,1,1}: out, bias */
    SN_OP_BN,      /* batch norm over channels: eps, momentum */
    SN_OP_RELU,
    SN_OP_RELU6,
    SN_OP_MAXPOOL, /* k, stride, pad (pad counts as -inf) */
    SN_OP_AVGPOOL, /* k, stride, pad (divides by k*k, zero padding counted) */
    SN_OP_GAP,     /* global average pool -> {c,1,1} */
    SN_OP_DROPOUT, /* rate; inverted dropout, identity in inference */
    SN_OP_ADD,     /* n inputs of equal shape */
    SN_OP_CONCAT,  /* n inputs, equal h and w, channels concatenated */
    SN_OP_FLATTEN, /* {c,h,w} -> {c*h*w,1,1} */
    SN_OP_COUNT
} sn_op_kind;

/* Attributes of every op in one struct; each op reads only its own. */
typedef struct sn_attr {
    int out;        /* conv filters, dense units */
    int k;          /* kernel size (conv, pools) */
    int stride;     /* conv, pools */
    int pad;        /* conv, pools: zero padding on every side */
    int groups;     /* conv: 1..Cin; Cin and out divisible by it */
    int bias;       /* conv, dense: 1 = has bias */
    float rate;     /* dropout probability */
    float eps;      /* bn */
    float momentum; /* bn */
} sn_attr;

/* Defaults per op: stride 1, pad 0, groups 1, bias 1, eps 1e-5,
 * momentum 0.1, rate 0.5, k 2 for pools (stride = k). */
sn_attr sn_attr_default(sn_op_kind op);

#define SN_MAX_TENSORS 4 /* per op: parameters first, then buffers */
#define SN_MAX_DIMS 4

typedef struct sn_tensor_desc {
    const char *name; /* "weight", "bias", "running_mean", "running_var" */
    int ndim;
    int dims[SN_MAX_DIMS];
    int trainable; /* 0 for buffers (bn running stats) */
} sn_tensor_desc;

static inline int64_t sn_tensor_desc_size(const sn_tensor_desc *t) {
    int64_t s = 1;
    for (int i = 0; i < t->ndim; i++) s *= t->dims[i];
    return s;
}

/* A batch split across the worker pool's threads (the executor's
 * split mode): each thread runs every node on its slice of the batch, and
 * a bn, whose training statistics (and parameter gradients) are over the
 * whole batch, meets the other slices at a barrier. Slices start on a
 * multiple of 8 samples (bn's chunk), so bn's sums add the same partials
 * in the same order as the unsplit batch does: the same bits. */
typedef struct sn_batch_split {
    int first;         /* this slice's first sample in the batch */
    int total;         /* the whole batch */
    int lead;          /* the first slice: writes what is written once
                          (running statistics, bn's parameter gradients) */
    double *shared;    /* bn: [total][C][2], every slice's plane
                          statistics (forward) or chunk sums (backward) */
    sn_barrier *bar;   /* all slices */
} sn_batch_split;

/* Everything a forward or backward call sees. Pointers are to batch
 * tensors of n samples. Backward ACCUMULATES (+=) into din[i] and grad[j]
 * (a node may feed several consumers); callers zero them first. din[i] may
 * be NULL: that input needs no gradient (e.g. the graph input). */
typedef struct sn_op_args {
    const sn_attr *attr;
    int n;                     /* batch size */
    int n_in;                  /* number of inputs */
    const sn_shape *in_shape;  /* [n_in], per sample */
    sn_shape out_shape;        /* per sample */
    const float *const *in;    /* [n_in] inputs */
    float *out;                /* output */
    float *const *tensor;      /* [SN_MAX_TENSORS] params then buffers */
    float *const *grad;        /* [SN_MAX_TENSORS] grads of trainable ones */
    float *const *din;         /* backward: [n_in] input grads (+=) */
    const float *dout;         /* backward: output grad */
    void *cache;               /* op-owned, cache_bytes() long, kept from
                                  forward to backward */
    float *work;               /* scratch, work_floats() long, shared */
    int training;              /* bn batch stats, dropout on */
    sn_rng *rng;               /* dropout masks */
    int din_fresh;             /* backward, bn and conv: din[0] holds no
                                  gradient yet (not even zeros) and is
                                  written, not added to; the executor sets
                                  it where the op is its input's only
                                  reader, saving the zeroing and a read */
    double *plane_stats;       /* training forward, [n][C][2]: conv (not
                                  fused with a pool) fills it with each
                                  output plane's mean and centred sum of
                                  squares while the plane is in cache; a
                                  bn reading that conv then takes them
                                  instead of its own statistics pass
                                  (the executor sets both; NULL: none) */
    const sn_batch_split *split; /* bn and dropout in split mode (n, in,
                                  out: the slice); NULL: the whole batch */
    float out_clamp;           /* conv forward (predictions): > 0, a
                                  relu (INFINITY) or relu6 (6) applied to
                                  the output as it is written, with the
                                  activation's own comparisons; 0: none */
} sn_op_args;

/* Graph-file limits on attribute values (graph.h's reader applies them). */
#define SN_MAX_WIDTH 65536 /* filters, units, groups (and a graph's classes) */
#define SN_MAX_KERNEL 64   /* kernel, stride, padding */

/* One attribute an op reads, as a graph file spells it: the JSON key,
 * its type and range, the sn_attr field it fills and its default. The
 * graph reader and writer (graph/json.c) and sn_attr_default walk an
 * op's list; the list ends with {0}. */
typedef enum sn_attr_type { SN_ATTR_INT, SN_ATTR_BOOL, SN_ATTR_FLOAT } sn_attr_type;

typedef struct sn_attr_key {
    const char *key;   /* "filters", "kernel", ... */
    sn_attr_type type;
    size_t off;        /* offsetof(sn_attr, field) */
    int required;      /* a graph file must give it */
    double lo, hi;     /* inclusive range (ints, floats) */
    int lo_open, hi_open; /* floats: 1 excludes that end */
    double dflt;       /* sn_attr_default's value */
    const char *same_as; /* absent from a file: takes this key's value
                            (a pool's stride is its kernel); NULL: dflt */
} sn_attr_key;

typedef struct sn_op_desc {
    const char *name; /* JSON name: "conv", "dense", "bn", ... */
    int min_inputs, max_inputs;
    const sn_attr_key *keys; /* the attributes it reads; none: {{0}} */
    /* The explorer's short form of a layer ("conv 3x3/2 16", "dwconv 3x3
     * 32", "dropout 0.2") from its attributes and input shapes; NULL: the
     * name alone. Callers use sn_op_describe. */
    void (*describe)(const sn_attr *a, const sn_shape *in, int n_in,
                     char *buf, size_t n);
    /* Shape rule: fills *out or returns -1 with a sentence in e. */
    int (*infer)(const sn_attr *a, const sn_shape *in, int n_in,
                 sn_shape *out, sn_error *e);
    /* Tensor descriptions (params, then buffers); returns how many. */
    int (*tensors)(const sn_attr *a, const sn_shape *in, int n_in,
                   sn_tensor_desc t[SN_MAX_TENSORS]);
    /* Multiply-accumulates per sample (conv and dense only, others 0). */
    int64_t (*macs)(const sn_attr *a, const sn_shape *in, int n_in,
                    sn_shape out);
    /* FLOPs per sample as counted by thop (mid-2019), see README. */
    int64_t (*flops_autokeras)(const sn_attr *a, const sn_shape *in,
                               int n_in, sn_shape out);
    /* Bytes of cache kept from forward to backward for a batch of n. */
    size_t (*cache_bytes)(const sn_attr *a, const sn_shape *in, int n_in,
                          sn_shape out, int n);
    /* Floats of scratch needed for a batch of n (all threads together). */
    size_t (*work_floats)(const sn_attr *a, const sn_shape *in, int n_in,
                          sn_shape out, int n);
    /* Fills params/buffers: He-normal conv/dense weights, zero bias, BN
     * gamma 1 beta 0, running mean 0 var 1. */
    void (*init)(const sn_attr *a, const sn_shape *in, int n_in,
                 float *const *tensor, sn_rng *rng);
    void (*forward)(const sn_op_args *x);
    void (*backward)(const sn_op_args *x);
} sn_op_desc;

const sn_op_desc *sn_op_get(sn_op_kind op);

/* The op's short form (sn_op_desc.describe, or its name) into buf. */
const char *sn_op_describe(sn_op_kind op, const sn_attr *a,
                           const sn_shape *in, int n_in, char *buf,
                           size_t n);

/* Fused forward of a conv and the 2x2 stride-2 max pool reading its output:
 * the pool runs on each piece of the conv's output while it is still in
 * cache, instead of re-reading the whole output from memory afterwards.
 * Both outputs (and the pool's cache) come out exactly as from the two
 * forwards in turn, so backward is unchanged. Fusable: a conv on the
 * im2col/sgemm path (not depthwise) whose output rows go to sgemm in
 * pieces of whole pool windows, and a 2x2 stride-2 unpadded max pool. */
int sn_conv_maxpool_fusable(const sn_attr *conv, sn_shape conv_in,
                            const sn_attr *pool);
/* relu: NULL, or a relu reading the pool's output, computed in the same
 * pass (its output exactly as its own forward gives it). */
void sn_conv_maxpool_forward(const sn_op_args *conv, const sn_op_args *pool,
                             const sn_op_args *relu);
/* Backward of both when the pool is the conv's only reader: the conv's
 * output gradient is rebuilt piece by piece in cache from the pool's
 * (pool->dout and the codes in pool->cache) instead of being zeroed,
 * scattered to and read back from memory; conv->dout is not read. Writes
 * the conv's input and parameter gradients as conv backward does. relu:
 * NULL, or a relu that is the pool's only reader; then the gradient comes
 * from relu->dout through relu backward's mask, and neither pool->dout nor
 * the relu's input gradient is touched. */
void sn_conv_maxpool_backward(const sn_op_args *conv, const sn_op_args *pool,
                              const sn_op_args *relu);
/* The other order, conv -> relu -> pool (tiny2conv, PyTorch's usual
 * Conv2d, ReLU, MaxPool2d): forward writes the relu's output rows of each
 * piece while in cache and pools them (all outputs and codes exactly as
 * the three forwards give them). Backward, when the relu is the conv's
 * only reader and the pool the relu's: the conv's output gradient is
 * rebuilt per piece from pool->dout and the codes, passed where the
 * pooled value is > 0 (there the relu passes it at the argmax); the
 * relu's and the pool's passes go. Bit-identical to the unfused ops. */
void sn_conv_relu_maxpool_forward(const sn_op_args *conv,
                                  const sn_op_args *relu,
                                  const sn_op_args *pool);
void sn_conv_relu_maxpool_backward(const sn_op_args *conv,
                                   const sn_op_args *relu,
                                   const sn_op_args *pool);
/* Fused batch norm + activation: act is a relu or relu6 reading the bn's
 * output (sn_bn_act_fusable). Forward computes both outputs in one pass
 * over the batch (each exactly as its own forward gives it). Backward,
 * when the activation is the bn's only reader: the bn's output gradient is
 * built from act->dout through the activation's mask (recomputed from the
 * bn's input and its forward's scale and shift) inside the bn's passes
 * (bn->dout is never touched), and the activation's own backward pass
 * goes. Results are
 * bit-identical to the two ops in turn. skip_bn_out: the bn's own output
 * is not written (only the act's): for a training forward whose backward
 * is fused too, where nothing reads it. */
int sn_bn_act_fusable(sn_op_kind act);
void sn_bn_act_forward(const sn_op_args *bn, const sn_op_args *act,
                       sn_op_kind act_op, int skip_bn_out);
void sn_bn_act_backward(const sn_op_args *bn, const sn_op_args *act,
                        sn_op_kind act_op);
/* Dropout in split mode (see sn_batch_split): the executor draws the
 * whole batch's mask into x->cache (x: the whole batch, training, rate >
 * 0) before the slices run, in the order dropout's forward draws it, and
 * a slice's dropout (args with split set, cache: its part of that mask)
 * only applies it: the same masks as unsplit. */
void sn_dropout_mask(const sn_op_args *x);
/* -1 when the name is unknown. */
int sn_op_from_name(const char *name);
int64_t sn_op_params(sn_op_kind op, const sn_attr *a, const sn_shape *in,
                     int n_in); /* trainable scalars */

/* ---- loss ------------------------------------------------------------ */

/* Softmax cross-entropy over n rows of k logits, mean over the batch, with
 * label smoothing s (target = (1-s) one-hot + s/k). Writes dlogits (mean
 * gradient, may be NULL), returns the mean loss; *correct (may be NULL)
 * gets the number of argmax hits. */
double sn_softmax_xent(const float *logits, const int *labels, int n, int k,
                       float smoothing, float *dlogits, int *correct);

/* ---- optimisers and schedules ---------------------------------------- */

typedef enum { SN_OPT_SGD, SN_OPT_ADAMW } sn_opt_kind;

typedef struct sn_optim {
    sn_opt_kind kind;
    float lr;           /* current rate, set from the schedule */
    float momentum;     /* sgd */
    int nesterov;       /* sgd */
    float weight_decay; /* decoupled: p -= lr * wd * p */
    float beta1, beta2, eps; /* adamw */
    int64_t n;          /* number of parameters */
    float *m, *v;       /* state, n each (v only for adamw) */
    int64_t step;
} sn_optim;

void sn_optim_init(sn_optim *o, sn_opt_kind kind, int64_t n);
void sn_optim_free(sn_optim *o);
/* One update of params from grads; decay is applied to every parameter
 * with decay_mask[i] != 0 (NULL: all). */
void sn_optim_step(sn_optim *o, float *params, const float *grads,
                   const unsigned char *decay_mask);

typedef enum {
    SN_SCHED_CONSTANT,
    SN_SCHED_STEP,   /* lr * gamma^(floor(step / step_size)) */
    SN_SCHED_COSINE  /* lr_min + (lr - lr_min)(1 + cos(pi t / T)) / 2 */
} sn_sched_kind;

/* Their names on the command line, indexed by kind, NULL-terminated. */
extern const char *const sn_optimizer_names[];
extern const char *const sn_schedule_names[];

typedef struct sn_schedule {
    sn_sched_kind kind;
    float lr, lr_min;
    int64_t total_steps;  /* cosine horizon */
    int64_t step_size;    /* step schedule */
    float gamma;          /* step schedule */
    int64_t warmup_steps; /* linear warm-up from 0 in front of any kind */
} sn_schedule;

float sn_schedule_lr(const sn_schedule *s, int64_t step);

#endif
