/* export_internal.h — the inference program the C exporter emits: a list
 * of steps over buffers in one arena (lower.c), its int8 quantisation and
 * the in-process reference run of both (quant.c), the C text (c.c). */
#ifndef SLIMNAS_EXPORT_INTERNAL_H
#define SLIMNAS_EXPORT_INTERNAL_H

#include "slimnas/export_c.h"

typedef enum xs_kind {
    XS_INPUT,   /* caller's floats -> normalised (float) / quantised (int8) */
    XS_CONV,    /* conv with folded bn and fused relu/relu6 */
    XS_DENSE,   /* dense, the same */
    XS_AFFINE,  /* a batch norm that could not be folded: y = x*a[c] + b[c] */
    XS_RELU,
    XS_RELU6,
    XS_MAXPOOL,
    XS_AVGPOOL,
    XS_GAP,
    XS_ADD,
    XS_CONCAT
} xs_kind;

enum { XS_ACT_NONE, XS_ACT_RELU, XS_ACT_RELU6 };

/* int8 parameters of one step (quant.c). Requantisation of an int32/int64
 * value v to an int8: clamp(round(v * mul / 2^shift), lo, hi), rounding
 * half away from zero. */
typedef struct xs_q {
    int8_t *w;        /* conv/dense weights, per-channel scales */
    float *wscale;    /* conv/dense: the weight scale of each channel (the
                         int8 ONNX export writes it as the weights' scale) */
    int32_t *bias;    /* conv/dense, in accumulator units */
    int32_t *mul;     /* per output channel (conv, dense, affine), per
                         input (add, concat), or [1] (pools) */
    int8_t *shift;    /* the same count as mul (add: [1], shared) */
    int64_t *add;     /* affine: per channel, added before the shift */
    float *deq;       /* final conv/dense: float logits = acc * deq[c] */
    float *inq;       /* input: per channel (x - mean) * inq[c] */
    int lo, hi;       /* output clamp (activation folded in) */
    int float_out;    /* writes float logits (the graph's last step) */
} xs_q;

typedef struct xs_step {
    xs_kind kind;
    int node;       /* graph node where it runs (the first one fused) */
    int value;      /* graph node whose value it produces */
    int act;        /* XS_ACT_* (conv, dense, affine) */
    int folded_bn;  /* node of the bn folded into this conv/dense, or 0 */
    int n_in;
    int in[SN_MAX_IN];      /* graph nodes whose values it reads */
    sn_shape in_shape[SN_MAX_IN], out_shape;
    int out_buf;
    sn_attr attr;
    /* float parameters (NULL when lowered without weights): conv/dense
     * weight in PyTorch layout with bn folded, bias [out] (zeros when the
     * layer has none); affine scale and shift [C]; input mean and 1/std. */
    float *w, *b;
    int64_t n_w, n_b;
    xs_q q;
} xs_step;

typedef struct xs_buf {
    int64_t size;  /* elements */
    int def, last; /* step interval (inclusive) */
    int64_t off;   /* elements into the arena */
} xs_buf;

typedef struct xs_prog {
    const sn_graph *g;
    int n_steps, n_bufs;
    xs_step *steps;
    xs_buf *bufs;
    int *node_buf;      /* [n_nodes] buffer holding each node's value */
    int64_t arena;      /* elements */
    int64_t live_peak;  /* elements */
    int out_buf;
    int has_norm;       /* mean/std baked in */
    /* int8 (after xs_quantize) */
    int quantized;
    float *scale;       /* [n_nodes] activation scale of each value */
} xs_prog;

/* lower.c. w may be NULL (plan only); mean/std NULL = no normalisation. */
xs_prog *xs_lower(const sn_graph *g, const sn_weights *w, const float *mean,
                  const float *std, sn_error *e);
void xs_free(xs_prog *p);
/* quant.c */
int xs_quantize(xs_prog *p, const sn_weights *w, const float *mean,
                const float *std, const sn_data *calib, int n,
                uint64_t seed, int *used, sn_error *e);
/* One image of raw [0,1] floats (CHW) -> logits; returns the argmax.
 * arena: p->arena floats / int8s. */
int xs_run_float(const xs_prog *p, const float *in, float *logits,
                 float *arena);
int xs_run_int8(const xs_prog *p, const float *in, float *logits,
                int8_t *arena);

#endif
