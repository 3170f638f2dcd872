/* onnx.c — a graph and its weights as an ONNX model (opset 13), encoded
 * with the protobuf writer in pb.c. Field numbers are onnx.proto's:
 *   ModelProto     ir_version 1, producer_name 2, producer_version 3,
 *                  doc_string 6, graph 7, opset_import 8,
 *                  metadata_props 14
 *   OperatorSetId  domain 1, version 2
 *   GraphProto     node 1, name 2, initializer 5, doc_string 10,
 *                  input 11, output 12
 *   NodeProto      input 1, output 2, name 3, op_type 4, attribute 5
 *   AttributeProto name 1, f 2, i 3, ints 8, type 20 (FLOAT 1, INT 2,
 *                  INTS 7)
 *   TensorProto    dims 1, data_type 2 (FLOAT 1, INT8 3, INT32 6, INT64 7),
 *                  name 8,
 *                  raw_data 9 (little-endian)
 *   ValueInfoProto name 1, type 2; TypeProto tensor_type 1;
 *   TypeProto.Tensor elem_type 1, shape 2; TensorShapeProto dim 1;
 *   Dimension      dim_value 1, dim_param 2
 *   StringStringEntryProto key 1, value 2
 * See export.h for how each slimnas op maps (float and int8). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "slimnas/export.h"
#include "export_internal.h"

#define ONNX_IR_VERSION 7
#define ONNX_OPSET 13
#define TNAME 96

enum { T_FLOAT = 1, T_INT8 = 3, T_INT32 = 6, T_INT64 = 7 };
enum { A_FLOAT = 1, A_INT = 2, A_INTS = 7 };

sn_export_onnx_opts sn_export_onnx_opts_default(void) {
    sn_export_onnx_opts o;
    memset(&o, 0, sizeof o);
    o.fold_bn = 1;
    return o;
}

typedef struct ox {
    const sn_graph *g;
    const sn_weights *w;
    sn_pb graph;          /* GraphProto body: nodes and initializers */
    char (*val)[TNAME];   /* tensor holding node i's output */
    int *rank;            /* 2 or 4 */
    char (*alt)[TNAME];   /* cached conversion to the other rank, or "" */
    int *fold;            /* bn node i: index of the conv/dense it folds into */
    int clip_done, unsq_done;
    sn_export_report *rep;
} ox;

/* ---- building blocks ---------------------------------------------------- */

static void attr_int(sn_pb *node, const char *name, int64_t v) {
    sn_pb a = {0};
    sn_pb_string(&a, 1, name);
    sn_pb_int(&a, 3, v);
    sn_pb_int(&a, 20, A_INT);
    sn_pb_msg(node, 5, &a);
    sn_pb_free(&a);
}

static void attr_float(sn_pb *node, const char *name, float v) {
    sn_pb a = {0};
    sn_pb_string(&a, 1, name);
    sn_pb_float(&a, 2, v);
    sn_pb_int(&a, 20, A_FLOAT);
    sn_pb_msg(node, 5, &a);
    sn_pb_free(&a);
}

static void attr_ints(sn_pb *node, const char *name, const int64_t *v,
                      int n) {
    sn_pb a = {0};
    sn_pb_string(&a, 1, name);
    for (int k = 0; k < n; k++) sn_pb_int(&a, 8, v[k]);
    sn_pb_int(&a, 20, A_INTS);
    sn_pb_msg(node, 5, &a);
    sn_pb_free(&a);
}

/* Starts a NodeProto with its inputs, one output, name and op type;
 * the caller adds attributes and passes it to node_end. */
static void node_begin(sn_pb *nd, const char *op, const char *name,
                       const char *const *in, int n_in, const char *out) {
    memset(nd, 0, sizeof *nd);
    for (int k = 0; k < n_in; k++) sn_pb_string(nd, 1, in[k]);
    sn_pb_string(nd, 2, out);
    sn_pb_string(nd, 3, name);
    sn_pb_string(nd, 4, op);
}

static void node_end(ox *x, sn_pb *nd) {
    sn_pb_msg(&x->graph, 1, nd);
    sn_pb_free(nd);
    x->rep->nodes++;
}

static void node1(ox *x, const char *op, const char *name, const char *in,
                  const char *out) {
    sn_pb nd;
    node_begin(&nd, op, name, &in, 1, out);
    node_end(x, &nd);
}

static void init_tensor(ox *x, const char *name, int type,
                        const int64_t *dims, int ndim, const void *data,
                        size_t elem_bytes) {
    sn_pb t = {0};
    int64_t count = 1;
    for (int k = 0; k < ndim; k++) {
        sn_pb_int(&t, 1, dims[k]);
        count *= dims[k];
    }
    sn_pb_int(&t, 2, type);
    sn_pb_string(&t, 8, name);
    /* raw_data is little-endian; copy through bytes so the file does not
     * depend on the host's order */
    size_t nb = (size_t)count * elem_bytes;
    unsigned char *raw = sn_xmalloc(nb ? nb : 1);
    const unsigned char *src = data;
    for (int64_t i = 0; i < count; i++) {
        uint64_t v = 0;
        if (elem_bytes == 1) {
            v = src[i];
        } else if (elem_bytes == 4) {
            uint32_t u;
            memcpy(&u, src + 4 * i, 4);
            v = u;
        } else {
            memcpy(&v, src + 8 * i, 8);
        }
        for (size_t b = 0; b < elem_bytes; b++)
            raw[(size_t)i * elem_bytes + b] = (unsigned char)(v >> (8 * b));
    }
    sn_pb_bytes(&t, 9, raw, nb);
    free(raw);
    sn_pb_msg(&x->graph, 5, &t);
    sn_pb_free(&t);
    if (type == T_FLOAT) {
        x->rep->weight_bytes += (int64_t)nb;
        x->rep->params += count;
    }
}

static void init_float(ox *x, const char *name, const int64_t *dims,
                       int ndim, const float *data) {
    init_tensor(x, name, T_FLOAT, dims, ndim, data, 4);
}

/* ValueInfoProto of a float [N, d1, ...] tensor, N dynamic. */
static void value_info(sn_pb *out, int field, const char *name,
                       const int *dims, int ndim) {
    sn_pb shape = {0}, tt = {0}, type = {0}, vi = {0}, dim = {0};
    sn_pb_string(&dim, 2, "N");
    sn_pb_msg(&shape, 1, &dim);
    for (int k = 0; k < ndim; k++) {
        sn_pb_free(&dim);
        sn_pb_int(&dim, 1, dims[k]);
        sn_pb_msg(&shape, 1, &dim);
    }
    sn_pb_int(&tt, 1, T_FLOAT);
    sn_pb_msg(&tt, 2, &shape);
    sn_pb_msg(&type, 1, &tt);
    sn_pb_string(&vi, 1, name);
    sn_pb_msg(&vi, 2, &type);
    sn_pb_msg(out, field, &vi);
    sn_pb_free(&dim);
    sn_pb_free(&shape);
    sn_pb_free(&tt);
    sn_pb_free(&type);
    sn_pb_free(&vi);
}

/* Node i's output tensor is named after its layer, with "_out" added
 * when the layer's name is one the model's own tensors use. */
static void set_name(ox *x, int i, const char *layer) {
    static const char *const reserved[] = {
        "input", "logits", "input_centered", "input_normalised",
        "input_mean", "input_std", "relu6_min", "relu6_max",
        "unsqueeze_axes_23", NULL};
    int clash = 0;
    for (int k = 0; reserved[k]; k++) clash |= !strcmp(layer, reserved[k]);
    snprintf(x->val[i], TNAME, clash ? "%s_out" : "%s", layer);
}

static const float *tensor(const ox *x, int i, const char *name) {
    for (int t = 0; t < x->w->n_tensors[i]; t++)
        if (!strcmp(x->w->desc[i][t].name, name))
            return sn_weights_tensor(x->w, i, t);
    return NULL;
}

/* Node i's output as a tensor of the given rank (2: [N, C]; 4: [N, C, H,
 * W]), adding a Flatten or Unsqueeze the first time it is asked for. */
static const char *value(ox *x, int i, int rank) {
    if (x->rank[i] == rank) return x->val[i];
    if (!x->alt[i][0]) {
        char name[TNAME];
        const char *base = x->g->nodes[i].name;
        snprintf(x->alt[i], TNAME, "%s_%dd", base, rank);
        if (rank == 2) {
            snprintf(name, sizeof name, "%s_flatten", base);
            sn_pb nd;
            const char *in = x->val[i];
            node_begin(&nd, "Flatten", name, &in, 1, x->alt[i]);
            attr_int(&nd, "axis", 1);
            node_end(x, &nd);
        } else {
            if (!x->unsq_done) {
                int64_t axes[2] = {2, 3}, d = 2;
                init_tensor(x, "unsqueeze_axes_23", T_INT64, &d, 1, axes, 8);
                x->unsq_done = 1;
            }
            snprintf(name, sizeof name, "%s_unsqueeze", base);
            const char *in[2] = {x->val[i], "unsqueeze_axes_23"};
            sn_pb nd;
            node_begin(&nd, "Unsqueeze", name, in, 2, x->alt[i]);
            node_end(x, &nd);
        }
    }
    return x->alt[i];
}

/* ---- ops ---------------------------------------------------------------- */

/* bn node b folded into layer i (conv or dense) with out channels c:
 * scale = gamma / sqrt(var + eps), W' = W * scale (per output channel),
 * b' = (b - mean) * scale + beta. */
static void fold_bn(const ox *x, int i, int b, float *wt, float *bias,
                    int c, int64_t per) {
    const float *gamma = tensor(x, b, "weight"), *beta = tensor(x, b, "bias");
    const float *mean = tensor(x, b, "running_mean");
    const float *var = tensor(x, b, "running_var");
    const float *b0 = tensor(x, i, "bias");
    double eps = x->g->nodes[b].attr.eps;
    for (int o = 0; o < c; o++) {
        double s = gamma[o] / sqrt((double)var[o] + eps);
        for (int64_t k = 0; k < per; k++)
            wt[(int64_t)o * per + k] = (float)(wt[(int64_t)o * per + k] * s);
        bias[o] = (float)(((b0 ? b0[o] : 0.0) - mean[o]) * s + beta[o]);
    }
}

static void emit_weighted(ox *x, int i) {
    const sn_node *nd = &x->g->nodes[i];
    const sn_attr *a = &nd->attr;
    int conv = nd->op == SN_OP_CONV;
    sn_shape in = x->g->nodes[nd->in[0]].out;
    int cout = a->out;
    int64_t per = conv ? (int64_t)(in.c / a->groups) * a->k * a->k : in.c;
    int64_t wn = cout * per;
    float *wt = sn_xmalloc((size_t)wn * sizeof *wt);
    float *bias = sn_xcalloc((size_t)cout, sizeof *bias);
    memcpy(wt, tensor(x, i, "weight"), (size_t)wn * sizeof *wt);
    int b = -1;
    for (int j = i + 1; j < x->g->n_nodes; j++)
        if (x->fold[j] == i) b = j;
    int has_bias = a->bias || b >= 0;
    if (b >= 0) fold_bn(x, i, b, wt, bias, cout, per);
    else if (a->bias) memcpy(bias, tensor(x, i, "bias"), (size_t)cout * 4);
    char wname[TNAME], bname[TNAME];
    snprintf(wname, sizeof wname, "%s.weight", nd->name);
    snprintf(bname, sizeof bname, "%s.bias", nd->name);
    if (conv) {
        int64_t d[4] = {cout, in.c / a->groups, a->k, a->k};
        init_float(x, wname, d, 4, wt);
    } else {
        int64_t d[2] = {cout, in.c};
        init_float(x, wname, d, 2, wt);
    }
    if (has_bias) {
        int64_t d = cout;
        init_float(x, bname, &d, 1, bias);
    }
    free(wt);
    free(bias);
    const char *ins[3] = {value(x, nd->in[0], conv ? 4 : 2), wname, bname};
    /* a folded bn's output is this layer's: name it after the bn */
    set_name(x, i, b >= 0 ? x->g->nodes[b].name : nd->name);
    x->rank[i] = conv ? 4 : 2;
    sn_pb n;
    node_begin(&n, conv ? "Conv" : "Gemm", nd->name, ins, has_bias ? 3 : 2,
               x->val[i]);
    if (conv) {
        int64_t k[2] = {a->k, a->k}, s[2] = {a->stride, a->stride};
        int64_t p[4] = {a->pad, a->pad, a->pad, a->pad}, dl[2] = {1, 1};
        attr_ints(&n, "kernel_shape", k, 2);
        attr_ints(&n, "strides", s, 2);
        attr_ints(&n, "pads", p, 4);
        attr_ints(&n, "dilations", dl, 2);
        attr_int(&n, "group", a->groups);
    } else {
        attr_int(&n, "transB", 1);
    }
    node_end(x, &n);
    if (b >= 0) {
        x->rep->folded_bn++;
        memcpy(x->val[b], x->val[i], TNAME);
        x->rank[b] = x->rank[i];
    }
}

static void emit_bn(ox *x, int i) {
    const sn_node *nd = &x->g->nodes[i];
    int c = x->g->nodes[nd->in[0]].out.c;
    const char *tn[4] = {"weight", "bias", "running_mean", "running_var"};
    char names[4][TNAME];
    const char *ins[5] = {x->val[nd->in[0]]};
    int64_t d = c;
    for (int t = 0; t < 4; t++) {
        snprintf(names[t], TNAME, "%s.%s", nd->name, tn[t]);
        init_float(x, names[t], &d, 1, tensor(x, i, tn[t]));
        ins[t + 1] = names[t];
    }
    set_name(x, i, nd->name);
    x->rank[i] = x->rank[nd->in[0]];
    sn_pb n;
    node_begin(&n, "BatchNormalization", nd->name, ins, 5, x->val[i]);
    attr_float(&n, "epsilon", nd->attr.eps);
    node_end(x, &n);
}

static void emit_pool(ox *x, int i, const char *op) {
    const sn_node *nd = &x->g->nodes[i];
    const sn_attr *a = &nd->attr;
    const char *in = value(x, nd->in[0], 4);
    set_name(x, i, nd->name);
    x->rank[i] = 4;
    sn_pb n;
    node_begin(&n, op, nd->name, &in, 1, x->val[i]);
    int64_t k[2] = {a->k, a->k}, s[2] = {a->stride, a->stride};
    int64_t p[4] = {a->pad, a->pad, a->pad, a->pad};
    attr_ints(&n, "kernel_shape", k, 2);
    attr_ints(&n, "strides", s, 2);
    attr_ints(&n, "pads", p, 4);
    if (nd->op == SN_OP_AVGPOOL) attr_int(&n, "count_include_pad", 1);
    node_end(x, &n);
}

static void emit_merge(ox *x, int i) {
    const sn_node *nd = &x->g->nodes[i];
    int rank = 4;
    for (int k = 0; k < nd->n_in; k++)
        if (x->rank[nd->in[k]] == 2) rank = 2; /* all are [C, 1, 1] then */
    x->rank[i] = rank;
    set_name(x, i, nd->name);
    if (nd->op == SN_OP_CONCAT) {
        const char *ins[SN_MAX_IN];
        for (int k = 0; k < nd->n_in; k++) ins[k] = value(x, nd->in[k], rank);
        sn_pb n;
        node_begin(&n, "Concat", nd->name, ins, nd->n_in, x->val[i]);
        attr_int(&n, "axis", 1);
        node_end(x, &n);
        return;
    }
    if (nd->n_in == 1) {
        node1(x, "Identity", nd->name, value(x, nd->in[0], rank), x->val[i]);
        return;
    }
    /* Add is binary: a chain, the last link writing the node's tensor */
    char acc[TNAME];
    snprintf(acc, sizeof acc, "%s", value(x, nd->in[0], rank));
    for (int k = 1; k < nd->n_in; k++) {
        char out[TNAME], name[TNAME];
        if (k == nd->n_in - 1) snprintf(out, sizeof out, "%s", x->val[i]);
        else snprintf(out, sizeof out, "%s_sum%d", nd->name, k);
        if (k == nd->n_in - 1) snprintf(name, sizeof name, "%s", nd->name);
        else snprintf(name, sizeof name, "%s_add%d", nd->name, k);
        const char *ins[2] = {acc, value(x, nd->in[k], rank)};
        sn_pb n;
        node_begin(&n, "Add", name, ins, 2, out);
        node_end(x, &n);
        snprintf(acc, sizeof acc, "%s", out);
    }
}

static int emit(ox *x, int i, sn_error *e) {
    const sn_node *nd = &x->g->nodes[i];
    int src = nd->n_in > 0 ? nd->in[0] : -1;
    switch (nd->op) {
    case SN_OP_CONV:
    case SN_OP_DENSE:
        emit_weighted(x, i);
        return 0;
    case SN_OP_BN:
        if (x->fold[i] < 0) emit_bn(x, i); /* else done with its layer */
        return 0;
    case SN_OP_RELU:
    case SN_OP_GAP: {
        int gap = nd->op == SN_OP_GAP;
        const char *in = gap ? value(x, src, 4) : x->val[src];
        set_name(x, i, nd->name);
        x->rank[i] = gap ? 4 : x->rank[src];
        node1(x, gap ? "GlobalAveragePool" : "Relu", nd->name, in, x->val[i]);
        return 0;
    }
    case SN_OP_RELU6: {
        if (!x->clip_done) {
            float lo = 0, hi = 6;
            init_float(x, "relu6_min", NULL, 0, &lo);
            init_float(x, "relu6_max", NULL, 0, &hi);
            x->clip_done = 1;
            x->rep->weight_bytes -= 8; /* constants, not weights */
            x->rep->params -= 2;
        }
        const char *ins[3] = {x->val[src], "relu6_min", "relu6_max"};
        set_name(x, i, nd->name);
        x->rank[i] = x->rank[src];
        sn_pb n;
        node_begin(&n, "Clip", nd->name, ins, 3, x->val[i]);
        node_end(x, &n);
        return 0;
    }
    case SN_OP_MAXPOOL:
        emit_pool(x, i, "MaxPool");
        return 0;
    case SN_OP_AVGPOOL:
        emit_pool(x, i, "AveragePool");
        return 0;
    case SN_OP_DROPOUT: /* identity in inference */
        memcpy(x->val[i], x->val[src], TNAME);
        x->rank[i] = x->rank[src];
        return 0;
    case SN_OP_FLATTEN:
        if (x->rank[src] == 2) {
            memcpy(x->val[i], x->val[src], TNAME);
            x->rank[i] = 2;
            return 0;
        } else {
            sn_pb n;
            const char *in = x->val[src];
            set_name(x, i, nd->name);
            x->rank[i] = 2;
            node_begin(&n, "Flatten", nd->name, &in, 1, x->val[i]);
            attr_int(&n, "axis", 1);
            node_end(x, &n);
            return 0;
        }
    case SN_OP_ADD:
    case SN_OP_CONCAT:
        emit_merge(x, i);
        return 0;
    default:
        return sn_errf(e, "layer %d (%s): op '%s' has no ONNX form", i,
                       nd->name, sn_op_get(nd->op)->name);
    }
}

/* bn node j folds into its input i when i is a conv or dense that only
 * the bn reads. */
static void plan_folds(ox *x, int fold) {
    const sn_graph *g = x->g;
    for (int j = 0; j < g->n_nodes; j++) {
        x->fold[j] = -1;
        const sn_node *nd = &g->nodes[j];
        if (!fold || nd->op != SN_OP_BN) continue;
        int i = nd->in[0];
        sn_op_kind op = g->nodes[i].op;
        if ((op == SN_OP_CONV || op == SN_OP_DENSE) &&
            sn_graph_consumers(g, i, NULL, 0) == 1)
            x->fold[j] = i;
    }
}

static void meta(sn_pb *m, const char *key, const char *value) {
    sn_pb kv = {0};
    sn_pb_string(&kv, 1, key);
    sn_pb_string(&kv, 2, value);
    sn_pb_msg(m, 14, &kv);
    sn_pb_free(&kv);
}

static void fmt_floats(char *buf, size_t n, const float *v, int c) {
    size_t used = 0;
    buf[0] = 0;
    for (int k = 0; k < c && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, "%s%.9g", k ? "," : "",
                                 (double)v[k]);
}

/* Wraps x->graph (all nodes and initializers written) into the
 * ModelProto: graph name, doc, input/output, opset, metadata. */
static void finish(ox *x, const sn_model_info *mi,
                   const sn_export_onnx_opts *o, unsigned char **out,
                   size_t *out_n) {
    const sn_graph *g = x->g;
    sn_pb *gp = &x->graph;
    sn_pb_string(gp, 2, g->name[0] ? g->name : "slimnas");
    sn_pb_string(gp, 10,
                 o->raw_input
                     ? "input: float32 [N, C, H, W], normalised pixels "
                       "(p / 255 - mean[c]) / std[c]; output: logits "
                       "[N, classes]"
                     : "input: float32 [N, C, H, W], raw pixels p / 255 "
                       "in [0, 1]; output: logits [N, classes]");
    int in_dims[3] = {g->input.c, g->input.h, g->input.w};
    value_info(gp, 11, "input", in_dims, 3);
    value_info(gp, 12, "logits", &g->classes, 1);

    sn_pb m = {0}, op = {0};
    sn_pb_int(&m, 1, ONNX_IR_VERSION);
    sn_pb_string(&m, 2, "slimnas");
    sn_pb_string(&m, 3, "1");
    sn_pb_string(&m, 6, "exported by slimnas");
    sn_pb_msg(&m, 7, gp);
    sn_pb_int(&op, 2, ONNX_OPSET);
    sn_pb_msg(&m, 8, &op);
    sn_pb_free(&op);
    meta(&m, "layout", "NCHW");
    meta(&m, "input", o->raw_input ? "normalised" : "pixels/255");
    if (o->int8) meta(&m, "quantization", "int8 QLinear, symmetric");
    if (mi && mi->known) {
        char buf[SN_INFO_MAX_C * 20];
        fmt_floats(buf, sizeof buf, mi->mean, mi->c);
        meta(&m, "mean", buf);
        fmt_floats(buf, sizeof buf, mi->std, mi->c);
        meta(&m, "std", buf);
        if (mi->dataset[0]) meta(&m, "dataset", mi->dataset);
        if (mi->n_names > 0) {
            sn_pb names = {0};
            for (int k = 0; k < mi->n_names; k++) {
                if (k) sn_pb_raw(&names, ",", 1);
                sn_pb_raw(&names, mi->names[k], strlen(mi->names[k]));
            }
            sn_pb_raw(&names, "", 1);
            meta(&m, "class_names", (const char *)names.p);
            sn_pb_free(&names);
        }
    }
    *out = m.p;
    *out_n = m.n;
    x->rep->bytes = (int64_t)m.n;
}

/* The leading Sub/Div unless o->raw_input; returns the name of the
 * (normalised) input tensor. */
static const char *normalise(ox *x, const sn_model_info *mi,
                             const sn_export_onnx_opts *o) {
    if (o->raw_input) return "input";
    /* [C, 1, 1] broadcasts over [N, C, H, W] (OpenCV 4.6 mis-reads a
     * Sub by [1, C, 1, 1]) */
    int c = x->g->input.c;
    int64_t d[3] = {c, 1, 1};
    init_float(x, "input_mean", d, 3, mi->mean);
    init_float(x, "input_std", d, 3, mi->std);
    x->rep->weight_bytes -= 8 * c; /* constants, not weights */
    x->rep->params -= 2 * c;
    const char *s[2] = {"input", "input_mean"};
    sn_pb nd;
    node_begin(&nd, "Sub", "normalise_sub", s, 2, "input_centered");
    node_end(x, &nd);
    const char *d2[2] = {"input_centered", "input_std"};
    node_begin(&nd, "Div", "normalise_div", d2, 2, "input_normalised");
    node_end(x, &nd);
    return "input_normalised";
}

/* ---- int8 (QLinear form) ------------------------------------------------
 * The int8 C export's lowered and quantised program (export_internal.h),
 * step by step. x->val[k] holds the base name B of node k's int8 tensor
 * ("B_quantized", "B_scale", "B_zero_point"), x->alt[k] its
 * DequantizeLinear'd float copy once one is needed. */

static const char *cat(char *buf, const char *base, const char *suffix) {
    /* layer names are under SN_NAME_LEN, suffixes short */
    int n = snprintf(buf, TNAME, "%s%s", base, suffix);
    SN_ASSERT(n > 0 && n < TNAME);
    return buf;
}

/* The scale and zero point initializers of int8 tensor base. */
static void q_params(ox *x, const char *base, float scale) {
    char nm[TNAME];
    int8_t z = 0;
    init_float(x, cat(nm, base, "_scale"), NULL, 0, &scale);
    init_tensor(x, cat(nm, base, "_zero_point"), T_INT8, NULL, 0, &z, 1);
}

/* QuantizeLinear of float tensor in into a new int8 tensor base. */
static void quantize(ox *x, const char *in, const char *base, float scale,
                     const char *name) {
    char s[TNAME], z[TNAME], q[TNAME];
    q_params(x, base, scale);
    const char *ins[3] = {in, cat(s, base, "_scale"),
                          cat(z, base, "_zero_point")};
    sn_pb nd;
    node_begin(&nd, "QuantizeLinear", name, ins, 3, cat(q, base, "_quantized"));
    node_end(x, &nd);
}

static void dequantize(ox *x, const char *base, const char *out) {
    char s[TNAME], z[TNAME], q[TNAME], name[TNAME];
    const char *ins[3] = {cat(q, base, "_quantized"), cat(s, base, "_scale"),
                          cat(z, base, "_zero_point")};
    sn_pb nd;
    node_begin(&nd, "DequantizeLinear", cat(name, out, "_op"), ins, 3, out);
    node_end(x, &nd);
}

/* Base name of node k's int8 tensor. Flatten and dropout are views in the
 * C program: they take their source's tensor, through a Reshape (on int8)
 * when the shapes differ. */
static const char *q_in(ox *x, const xs_prog *p, int k) {
    if (x->val[k][0]) return x->val[k];
    const sn_graph *g = x->g;
    int r = k;
    while (g->nodes[r].op == SN_OP_FLATTEN || g->nodes[r].op == SN_OP_DROPOUT)
        r = g->nodes[r].in[0];
    SN_ASSERT(x->val[r][0]);
    sn_shape a = g->nodes[k].out, b = g->nodes[r].out;
    if (a.c == b.c && a.h == b.h && a.w == b.w) {
        memcpy(x->val[k], x->val[r], TNAME);
        return x->val[k];
    }
    char shp[TNAME], in[TNAME], out[TNAME];
    const char *kn = g->nodes[k].name;
    int64_t dims[4] = {0, -1, a.h, a.w}, four = 4;
    init_tensor(x, cat(shp, kn, "_shape"), T_INT64, &four, 1, dims, 8);
    snprintf(x->val[k], TNAME, "%s", kn);
    q_params(x, kn, p->scale[r]);
    const char *ins[2] = {cat(in, x->val[r], "_quantized"), shp};
    sn_pb nd;
    node_begin(&nd, "Reshape", kn, ins, 2, cat(out, kn, "_quantized"));
    node_end(x, &nd);
    return x->val[k];
}

/* Node k's value as float (DequantizeLinear, once). */
static const char *f_in(ox *x, const xs_prog *p, int k) {
    if (!x->alt[k][0]) {
        const char *b = q_in(x, p, k);
        snprintf(x->alt[k], TNAME, "%s_dq", b);
        dequantize(x, b, x->alt[k]);
    }
    return x->alt[k];
}

/* relu or relu6 (XS_ACT_*) of float tensor in, into out. */
static void f_act(ox *x, int act, const char *in, const char *out,
                  const char *name) {
    if (act == XS_ACT_RELU) {
        node1(x, "Relu", name, in, out);
        return;
    }
    if (!x->clip_done) {
        float lo = 0, hi = 6;
        init_float(x, "relu6_min", NULL, 0, &lo);
        init_float(x, "relu6_max", NULL, 0, &hi);
        x->clip_done = 1;
    }
    const char *ins[3] = {in, "relu6_min", "relu6_max"};
    sn_pb nd;
    node_begin(&nd, "Clip", name, ins, 3, out);
    node_end(x, &nd);
}

static void q_layer(ox *x, const xs_prog *p, const xs_step *s,
                    const char *base) {
    const sn_graph *g = x->g;
    const char *ln = g->nodes[s->node].name;
    int conv = s->kind == XS_CONV, M = s->out_shape.c;
    int cin = s->in_shape[0].c, k = conv ? s->attr.k : 1;
    int groups = conv ? s->attr.groups : 1;
    char wn[TNAME], wsn[TNAME], wzn[TNAME], bn[TNAME];
    int64_t wd[4] = {M, cin / groups, k, k}, md = M;
    init_tensor(x, cat(wn, ln, ".weight"), T_INT8, wd, 4, s->q.w, 1);
    int64_t ks[2] = {k, k};
    int64_t st[2] = {conv ? s->attr.stride : 1, conv ? s->attr.stride : 1};
    int64_t pd = conv ? s->attr.pad : 0, pads[4] = {pd, pd, pd, pd};
    int64_t dl[2] = {1, 1};
    const char *xb = q_in(x, p, s->in[0]);
    if (s->q.float_out) {
        /* the last layer writes float logits, like model.c's
         * (float)acc * deq[m]: the int8 input as integers
         * (DequantizeLinear with scale 1), the int8 weights cast to float,
         * the int32 bias as float, a float Conv (exact: integer sums under
         * 2^24), then the per-channel Mul by deq */
        char one[TNAME], xz[TNAME], xq[TNAME], xi[TNAME], wf[TNAME],
            acc[TNAME], dq[TNAME], nm[TNAME];
        float unit = 1.0f;
        init_float(x, cat(one, ln, ".unit_scale"), NULL, 0, &unit);
        const char *di[3] = {cat(xq, xb, "_quantized"), one,
                             cat(xz, xb, "_zero_point")};
        sn_pb nd;
        node_begin(&nd, "DequantizeLinear", cat(nm, ln, "_int_input"), di, 3,
                   cat(xi, ln, "_int_input"));
        node_end(x, &nd);
        const char *wi = wn;
        node_begin(&nd, "Cast", cat(nm, ln, "_cast"), &wi, 1,
                   cat(wf, ln, ".weight_float"));
        attr_int(&nd, "to", T_FLOAT);
        node_end(x, &nd);
        float *bf = sn_xmalloc((size_t)M * sizeof *bf);
        for (int m = 0; m < M; m++) bf[m] = (float)s->q.bias[m];
        init_float(x, cat(bn, ln, ".bias"), &md, 1, bf);
        free(bf);
        int64_t d3[3] = {M, 1, 1};
        init_float(x, cat(dq, ln, ".deq"), d3, 3, s->q.deq);
        const char *ci[3] = {xi, wf, bn};
        node_begin(&nd, "Conv", ln, ci, 3, cat(acc, ln, "_acc"));
        attr_ints(&nd, "kernel_shape", ks, 2);
        attr_ints(&nd, "strides", st, 2);
        attr_ints(&nd, "pads", pads, 4);
        attr_ints(&nd, "dilations", dl, 2);
        attr_int(&nd, "group", groups);
        node_end(x, &nd);
        char f[TNAME], mo[TNAME];
        const char *mi2[2] = {acc, dq};
        cat(f, base, "_float");
        node_begin(&nd, "Mul", cat(nm, ln, "_deq"),
                   mi2, 2, s->act != XS_ACT_NONE ? cat(mo, ln, "_lin") : f);
        node_end(x, &nd);
        if (s->act != XS_ACT_NONE)
            f_act(x, s->act, mo, f, cat(nm, base, "_act_op"));
        snprintf(x->alt[s->value], TNAME, "%s", f);
        return;
    }
    init_float(x, cat(wsn, ln, ".weight_scale"), &md, 1, s->q.wscale);
    int8_t *zeros = sn_xcalloc((size_t)M, 1);
    init_tensor(x, cat(wzn, ln, ".weight_zero_point"), T_INT8, &md, 1, zeros,
                1);
    free(zeros);
    init_tensor(x, cat(bn, ln, ".bias"), T_INT32, &md, 1, s->q.bias, 4);

    /* with a fused activation the conv writes B_lin, then the activation
     * runs in float between DequantizeLinear and QuantizeLinear */
    char ob[TNAME], xq[TNAME], xs[TNAME], xz[TNAME], ys[TNAME], yz[TNAME],
        yq[TNAME];
    if (s->act != XS_ACT_NONE) snprintf(ob, sizeof ob, "%s_lin", base);
    else snprintf(ob, sizeof ob, "%s", base);
    float so = p->scale[s->value];
    q_params(x, ob, so);
    const char *ins[9] = {cat(xq, xb, "_quantized"), cat(xs, xb, "_scale"),
                          cat(xz, xb, "_zero_point"), wn, wsn, wzn,
                          cat(ys, ob, "_scale"), cat(yz, ob, "_zero_point"),
                          bn};
    sn_pb nd;
    node_begin(&nd, "QLinearConv", ln, ins, 9, cat(yq, ob, "_quantized"));
    attr_ints(&nd, "kernel_shape", ks, 2);
    attr_ints(&nd, "strides", st, 2);
    attr_ints(&nd, "pads", pads, 4);
    attr_ints(&nd, "dilations", dl, 2);
    attr_int(&nd, "group", groups);
    node_end(x, &nd);
    if (s->act != XS_ACT_NONE) {
        char f[TNAME], a[TNAME], nm[TNAME];
        dequantize(x, ob, cat(f, ob, "_dq"));
        f_act(x, s->act, f, cat(a, base, "_act"), cat(nm, base, "_act_op"));
        quantize(x, a, base, so, cat(nm, base, "_quantize"));
    }
}

/* One step of the int8 program: node s->value gets its int8 tensor. */
static void q_step(ox *x, const xs_prog *p, const xs_step *s,
                   const sn_model_info *mi, const sn_export_onnx_opts *o) {
    const sn_graph *g = x->g;
    const char *base = g->nodes[s->value].name;
    float so = p->scale[s->value];
    char f[TNAME], nm[TNAME], a[TNAME];
    cat(f, base, "_float");
    switch (s->kind) {
    case XS_INPUT:
        quantize(x, normalise(x, mi, o), base, so, "input_quantize");
        break;
    case XS_CONV:
    case XS_DENSE:
        q_layer(x, p, s, base);
        break;
    case XS_MAXPOOL: {
        char in[TNAME], out[TNAME];
        const char *ib = q_in(x, p, s->in[0]);
        q_params(x, base, so);
        sn_pb nd;
        const char *ip = cat(in, ib, "_quantized");
        node_begin(&nd, "MaxPool", g->nodes[s->node].name, &ip, 1,
                   cat(out, base, "_quantized"));
        int64_t k[2] = {s->attr.k, s->attr.k};
        int64_t st[2] = {s->attr.stride, s->attr.stride};
        int64_t pd[4] = {s->attr.pad, s->attr.pad, s->attr.pad, s->attr.pad};
        attr_ints(&nd, "kernel_shape", k, 2);
        attr_ints(&nd, "strides", st, 2);
        attr_ints(&nd, "pads", pd, 4);
        node_end(x, &nd);
        snprintf(x->val[s->value], TNAME, "%s", base);
        return;
    }
    case XS_RELU:
    case XS_RELU6:
        f_act(x, s->kind == XS_RELU ? XS_ACT_RELU : XS_ACT_RELU6,
              f_in(x, p, s->in[0]), f, g->nodes[s->node].name);
        break;
    case XS_AFFINE: {
        char sc[TNAME], sh[TNAME], m[TNAME];
        int64_t d[3] = {s->out_shape.c, 1, 1};
        const char *ln = g->nodes[s->node].name;
        init_float(x, cat(sc, ln, ".scale"), d, 3, s->w);
        init_float(x, cat(sh, ln, ".shift"), d, 3, s->b);
        const char *mi2[2] = {f_in(x, p, s->in[0]), sc};
        sn_pb nd;
        node_begin(&nd, "Mul", cat(nm, ln, "_mul"), mi2, 2, cat(m, ln, "_mul"));
        node_end(x, &nd);
        const char *ai[2] = {m, sh};
        const char *ao = s->act != XS_ACT_NONE ? cat(a, ln, "_affine") : f;
        node_begin(&nd, "Add", ln, ai, 2, ao);
        node_end(x, &nd);
        if (s->act != XS_ACT_NONE)
            f_act(x, s->act, ao, f, cat(nm, base, "_act_op"));
        break;
    }
    case XS_AVGPOOL: {
        const char *in = f_in(x, p, s->in[0]);
        sn_pb nd;
        node_begin(&nd, "AveragePool", g->nodes[s->node].name, &in, 1, f);
        int64_t k[2] = {s->attr.k, s->attr.k};
        int64_t st[2] = {s->attr.stride, s->attr.stride};
        int64_t pd[4] = {s->attr.pad, s->attr.pad, s->attr.pad, s->attr.pad};
        attr_ints(&nd, "kernel_shape", k, 2);
        attr_ints(&nd, "strides", st, 2);
        attr_ints(&nd, "pads", pd, 4);
        attr_int(&nd, "count_include_pad", 1);
        node_end(x, &nd);
        break;
    }
    case XS_GAP:
        node1(x, "GlobalAveragePool", g->nodes[s->node].name,
              f_in(x, p, s->in[0]), f);
        break;
    case XS_ADD: {
        char acc[TNAME];
        snprintf(acc, sizeof acc, "%s", f_in(x, p, s->in[0]));
        for (int k = 1; k < s->n_in; k++) {
            char out[TNAME], name[TNAME];
            if (k == s->n_in - 1) snprintf(out, sizeof out, "%s", f);
            else snprintf(out, sizeof out, "%s_sum%d", base, k);
            snprintf(name, sizeof name, "%s_add%d", base, k);
            const char *ins[2] = {acc, f_in(x, p, s->in[k])};
            sn_pb nd;
            node_begin(&nd, "Add", name, ins, 2, out);
            node_end(x, &nd);
            snprintf(acc, sizeof acc, "%s", out);
        }
        if (s->n_in == 1) node1(x, "Identity", base, acc, f);
        break;
    }
    case XS_CONCAT: {
        const char *ins[SN_MAX_IN];
        for (int k = 0; k < s->n_in; k++) ins[k] = f_in(x, p, s->in[k]);
        sn_pb nd;
        node_begin(&nd, "Concat", g->nodes[s->node].name, ins, s->n_in, f);
        attr_int(&nd, "axis", 1);
        node_end(x, &nd);
        break;
    }
    }
    if (s->kind != XS_INPUT && s->kind != XS_CONV && s->kind != XS_DENSE)
        quantize(x, f, base, so, cat(nm, base, "_quantize"));
    if (!s->q.float_out) snprintf(x->val[s->value], TNAME, "%s", base);
}

static int encode_int8(ox *x, const sn_model_info *mi,
                       const sn_export_onnx_opts *o, sn_error *e) {
    const sn_graph *g = x->g;
    if (!o->calib)
        return sn_errf(e, "int8 ONNX calibrates on training images: give "
                          "--data SPEC");
    const float *mean = o->raw_input ? NULL : mi->mean;
    const float *std = o->raw_input ? NULL : mi->std;
    xs_prog *p = xs_lower(g, x->w, mean, std, e);
    if (!p) return -1;
    sn_export_c_opts co = sn_export_c_opts_default();
    if (o->calibrate > 0) co.calibrate_n = o->calibrate;
    if (o->seed) co.seed = o->seed;
    int used;
    if (xs_quantize(p, x->w, mean, std, o->calib, co.calibrate_n, co.seed,
                    &used, e) != 0) {
        xs_free(p);
        return -1;
    }
    for (int k = 0; k < p->n_steps; k++) q_step(x, p, &p->steps[k], mi, o);
    const char *last = f_in(x, p, g->n_nodes - 1);
    sn_pb nd;
    node_begin(&nd, "Flatten", "output", &last, 1, "logits");
    attr_int(&nd, "axis", 1);
    node_end(x, &nd);
    /* the report: int8 weights, int32 biases and float weight scales of
     * every conv/dense, float scale and shift of an unfolded bn (not the
     * scalar activation scales and constants) */
    x->rep->params = x->rep->weight_bytes = 0;
    for (int k = 0; k < p->n_steps; k++) {
        const xs_step *s = &p->steps[k];
        x->rep->folded_bn += s->folded_bn > 0;
        if (s->kind == XS_CONV || s->kind == XS_DENSE) {
            x->rep->params += s->n_w + s->out_shape.c;
            x->rep->weight_bytes += s->n_w + 8 * (int64_t)s->out_shape.c;
        } else if (s->kind == XS_AFFINE) {
            x->rep->params += 2 * (int64_t)s->out_shape.c;
            x->rep->weight_bytes += 8 * (int64_t)s->out_shape.c;
        }
    }
    xs_free(p);
    return 0;
}

int sn_onnx_encode(const sn_graph *g, const sn_weights *w,
                   const sn_model_info *mi, const sn_export_onnx_opts *o,
                   unsigned char **out, size_t *out_n, sn_export_report *rep,
                   sn_error *e) {
    sn_export_onnx_opts def = sn_export_onnx_opts_default();
    if (!o) o = &def;
    sn_export_report dummy;
    if (!rep) rep = &dummy;
    memset(rep, 0, sizeof *rep);
    if (w->n_nodes != g->n_nodes)
        return sn_errf(e, "the weights do not belong to this graph");
    if (!o->raw_input && (!mi || !mi->known || mi->c != g->input.c))
        return sn_errf(e, "the input normalisation is unknown (the weights "
                       "predate it): give --data SPEC to take it from a "
                       "dataset, or --raw-input for a model that takes "
                       "normalised input");
    int n = g->n_nodes;
    ox x = {.g = g, .w = w, .rep = rep};
    x.val = sn_xcalloc((size_t)n, sizeof *x.val);
    x.alt = sn_xcalloc((size_t)n, sizeof *x.alt);
    x.rank = sn_xcalloc((size_t)n, sizeof *x.rank);
    x.fold = sn_xcalloc((size_t)n, sizeof *x.fold);
    plan_folds(&x, o->fold_bn);

    int rc = 0;
    if (o->int8) {
        rc = encode_int8(&x, mi, o, e);
        if (rc == 0) finish(&x, mi, o, out, out_n);
    } else {
        /* input and normalisation */
        x.rank[0] = 4;
        snprintf(x.val[0], TNAME, "%s", normalise(&x, mi, o));
        for (int i = 1; i < n && rc == 0; i++) rc = emit(&x, i, e);
    }
    if (rc == 0 && !o->int8) {
        const char *last = value(&x, n - 1, 2);
        node1(&x, "Identity", "output", last, "logits");
        finish(&x, mi, o, out, out_n);
    }
    sn_pb_free(&x.graph);
    free(x.val);
    free(x.alt);
    free(x.rank);
    free(x.fold);
    return rc;
}

int sn_export_onnx(const sn_graph *g, const sn_weights *w,
                   const sn_model_info *mi, const sn_export_onnx_opts *o,
                   const char *path, sn_export_report *rep, sn_error *e) {
    unsigned char *buf = NULL;
    size_t n = 0;
    if (sn_onnx_encode(g, w, mi, o, &buf, &n, rep, e) != 0) return -1;
    int rc = sn_write_atomic(path, buf, n, e);
    free(buf);
    return rc;
}
