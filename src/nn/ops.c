/* ops.c — the op table: one entry per sn_op_kind, in enum order.
 *
 * Everything that needs to know about ops goes through sn_op_get(): the
 * graph file reader and writer (the JSON name and attribute keys),
 * sn_attr_default, the explorer's layer table (sn_op_describe), stats,
 * training and the executor. Adding an op means: its enum value
 * (slimnas/nn.h), one line in OPS below (with its key list and short
 * form here if it has attributes), its functions in the family file
 * (ops_internal.h lists them) and its tests. Beyond that only what
 * cannot be a table entry: an export form in export/onnx.c (which
 * refuses an op it has none for) and export/lower.c (the C lowering,
 * which asserts on one), and a case in the switches on what an op means
 * to a morphism or the search if that applies: it passes channels
 * through (morph/chan.c), keeps signs (morph/edit.c), ends a block
 * (morph/grow.c), counts in the architecture distance (search/
 * kernel.c). An op those switches do not name is none of these.
 * tests/test_graph.c checks that every op has a name that reads back,
 * survives a save and load with its attributes, and has a short form. */
#include "ops_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Upper bound on inputs of add/concat. The graph layer has its own, equal
 * limit (SN_MAX_IN); nn sits below graph, so the number is repeated. */
#define MULTI_MAX_INPUTS 32

/* ---- attribute keys per op (JSON key, sn_attr field, range, default) -- */

#define I_KEY(k, f, req, lo, hi, d)                                            \
    {k, SN_ATTR_INT, offsetof(sn_attr, f), req, lo, hi, 0, 0, d, NULL}
#define B_KEY(k, f, d)                                                         \
    {k, SN_ATTR_BOOL, offsetof(sn_attr, f), 0, 0, 1, 0, 0, d, NULL}
#define F_KEY(k, f, lo, hi, lo_open, hi_open, d)                               \
    {k, SN_ATTR_FLOAT, offsetof(sn_attr, f), 0, lo, hi, lo_open, hi_open, d,  \
     NULL}

/* out = 0 means "not set": conv and dense infer reject it, so a layer
 * built without its width is an error rather than a silent guess. */
static const sn_attr_key CONV_KEYS[] = {
    I_KEY("filters", out, 1, 1, SN_MAX_WIDTH, 0),
    I_KEY("kernel", k, 1, 1, SN_MAX_KERNEL, 3), /* the common case */
    I_KEY("stride", stride, 0, 1, SN_MAX_KERNEL, 1),
    I_KEY("padding", pad, 0, 0, SN_MAX_KERNEL, 0),
    I_KEY("groups", groups, 0, 1, SN_MAX_WIDTH, 1),
    B_KEY("bias", bias, 1),
    {0},
};
static const sn_attr_key DENSE_KEYS[] = {
    I_KEY("units", out, 1, 1, SN_MAX_WIDTH, 0),
    B_KEY("bias", bias, 1),
    {0},
};
static const sn_attr_key BN_KEYS[] = {
    F_KEY("eps", eps, 0, 1, 1, 0, 1e-5),
    F_KEY("momentum", momentum, 0, 1, 0, 0, 0.1),
    {0},
};
/* PyTorch's MaxPool2d(2): the stride defaults to the kernel size. */
static const sn_attr_key POOL_KEYS[] = {
    I_KEY("kernel", k, 0, 1, SN_MAX_KERNEL, 2),
    {"stride", SN_ATTR_INT, offsetof(sn_attr, stride), 0, 1, SN_MAX_KERNEL,
     0, 0, 2, "kernel"},
    I_KEY("padding", pad, 0, 0, SN_MAX_KERNEL, 0),
    {0},
};
static const sn_attr_key DROPOUT_KEYS[] = {
    F_KEY("rate", rate, 0, 1, 0, 1, 0.5),
    {0},
};
static const sn_attr_key NO_KEYS[] = {{0}};

/* ---- short forms for the explorer's layer table ----------------------- */

static void conv_describe(const sn_attr *a, const sn_shape *in, int n_in,
                          char *buf, size_t n) {
    int cin = n_in > 0 ? in[0].c : 0;
    char stride[16] = "";
    if (a->stride > 1) snprintf(stride, sizeof stride, "/%d", a->stride);
    if (a->groups > 1 && a->groups == cin && a->out % cin == 0)
        snprintf(buf, n, "dwconv %dx%d%s %d", a->k, a->k, stride, a->out);
    else if (a->groups > 1)
        snprintf(buf, n, "conv %dx%d%s %d g%d", a->k, a->k, stride, a->out,
                 a->groups);
    else
        snprintf(buf, n, "conv %dx%d%s %d", a->k, a->k, stride, a->out);
}

static void dense_describe(const sn_attr *a, const sn_shape *in, int n_in,
                           char *buf, size_t n) {
    snprintf(buf, n, "dense %d", a->out);
}

static void window_describe(const char *name, const sn_attr *a, char *buf,
                            size_t n) {
    char stride[16] = "";
    if (a->stride > 1) snprintf(stride, sizeof stride, "/%d", a->stride);
    snprintf(buf, n, "%s %dx%d%s", name, a->k, a->k, stride);
}

static void maxpool_describe(const sn_attr *a, const sn_shape *in, int n_in,
                             char *buf, size_t n) {
    window_describe(sn_op_get(SN_OP_MAXPOOL)->name, a, buf, n);
}

static void avgpool_describe(const sn_attr *a, const sn_shape *in, int n_in,
                             char *buf, size_t n) {
    window_describe(sn_op_get(SN_OP_AVGPOOL)->name, a, buf, n);
}

static void dropout_describe(const sn_attr *a, const sn_shape *in, int n_in,
                             char *buf, size_t n) {
    snprintf(buf, n, "dropout %.2g", a->rate);
}

/* ---- the table ---------------------------------------------------------- */

#define OP_ENTRY(kind, nm, lo, hi, x, key_list, desc)                          \
    [kind] = {.name = nm,                                                      \
              .min_inputs = lo,                                                \
              .max_inputs = hi,                                                \
              .keys = key_list,                                                \
              .describe = desc,                                                \
              .infer = x##_infer,                                              \
              .tensors = x##_tensors,                                          \
              .macs = x##_macs,                                                \
              .flops_autokeras = x##_flops_ak,                                 \
              .cache_bytes = x##_cache_bytes,                                  \
              .work_floats = x##_work_floats,                                  \
              .init = x##_init,                                                \
              .forward = x##_forward,                                          \
              .backward = x##_backward}

static const sn_op_desc OPS[] = {
    OP_ENTRY(SN_OP_INPUT, "input", 0, 0, input, NO_KEYS, NULL),
    OP_ENTRY(SN_OP_CONV, "conv", 1, 1, conv, CONV_KEYS, conv_describe),
    OP_ENTRY(SN_OP_DENSE, "dense", 1, 1, dense, DENSE_KEYS, dense_describe),
    OP_ENTRY(SN_OP_BN, "bn", 1, 1, bn, BN_KEYS, NULL),
    OP_ENTRY(SN_OP_RELU, "relu", 1, 1, relu, NO_KEYS, NULL),
    OP_ENTRY(SN_OP_RELU6, "relu6", 1, 1, relu6, NO_KEYS, NULL),
    OP_ENTRY(SN_OP_MAXPOOL, "maxpool", 1, 1, maxpool, POOL_KEYS,
             maxpool_describe),
    OP_ENTRY(SN_OP_AVGPOOL, "avgpool", 1, 1, avgpool, POOL_KEYS,
             avgpool_describe),
    OP_ENTRY(SN_OP_GAP, "gap", 1, 1, gap, NO_KEYS, NULL),
    OP_ENTRY(SN_OP_DROPOUT, "dropout", 1, 1, dropout, DROPOUT_KEYS,
             dropout_describe),
    /* One input is allowed: a morphism may leave a skip with one branch,
     * and add/concat of one tensor is a well-defined identity. */
    OP_ENTRY(SN_OP_ADD, "add", 1, MULTI_MAX_INPUTS, add, NO_KEYS, NULL),
    OP_ENTRY(SN_OP_CONCAT, "concat", 1, MULTI_MAX_INPUTS, concat, NO_KEYS,
             NULL),
    OP_ENTRY(SN_OP_FLATTEN, "flatten", 1, 1, flatten, NO_KEYS, NULL),
};

/* A new enum value without a table line (or a line out of place at the
 * end) fails the build here rather than at run time. */
_Static_assert(sizeof OPS / sizeof OPS[0] == SN_OP_COUNT,
               "op table must have one entry per sn_op_kind");

const sn_op_desc *sn_op_get(sn_op_kind op) {
    SN_ASSERT((int)op >= 0 && op < SN_OP_COUNT);
    /* Designated initialisers leave a hole as all-NULL: catch that too. */
    SN_ASSERT(OPS[op].name != NULL);
    return &OPS[op];
}

int sn_op_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < SN_OP_COUNT; i++)
        if (OPS[i].name && strcmp(OPS[i].name, name) == 0) return i;
    return -1;
}

int64_t sn_op_params(sn_op_kind op, const sn_attr *a, const sn_shape *in,
                     int n_in) {
    sn_tensor_desc t[SN_MAX_TENSORS];
    int nt = sn_op_get(op)->tensors(a, in, n_in, t);
    int64_t total = 0;
    for (int i = 0; i < nt; i++)
        if (t[i].trainable) total += sn_tensor_desc_size(&t[i]);
    return total;
}

sn_attr sn_attr_default(sn_op_kind op) {
    /* The fields an op does not read hold these; its own come from its
     * key list. */
    sn_attr a = {.out = 0,
                 .k = 1,
                 .stride = 1,
                 .pad = 0,
                 .groups = 1,
                 .bias = 1,
                 .rate = 0.5f,
                 .eps = 1e-5f,
                 .momentum = 0.1f};
    for (const sn_attr_key *k = sn_op_get(op)->keys; k->key; k++) {
        char *field = (char *)&a + k->off;
        if (k->type == SN_ATTR_FLOAT) {
            float x = (float)k->dflt;
            memcpy(field, &x, sizeof x);
        } else {
            int x = (int)k->dflt;
            memcpy(field, &x, sizeof x);
        }
    }
    return a;
}

const char *sn_op_describe(sn_op_kind op, const sn_attr *a,
                           const sn_shape *in, int n_in, char *buf,
                           size_t n) {
    const sn_op_desc *d = sn_op_get(op);
    if (d->describe) d->describe(a, in, n_in, buf, n);
    else snprintf(buf, n, "%s", d->name);
    return buf;
}
