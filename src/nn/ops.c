/* ops.c — the op table: one entry per sn_op_kind, in enum order.
 *
 * Everything that needs to know about ops (JSON reader, stats, exporters,
 * morphisms, training) goes through sn_op_get(), so adding an op means one
 * line here, its functions in the family file, and its tests. */
#include "ops_internal.h"

#include <string.h>

/* Upper bound on inputs of add/concat. The graph layer has its own, equal
 * limit (SN_MAX_IN); nn sits below graph, so the number is repeated. */
#define MULTI_MAX_INPUTS 32

#define OP_ENTRY(kind, nm, lo, hi, x)                                          \
    [kind] = {.name = nm,                                                      \
              .min_inputs = lo,                                                \
              .max_inputs = hi,                                                \
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
    OP_ENTRY(SN_OP_INPUT, "input", 0, 0, input),
    OP_ENTRY(SN_OP_CONV, "conv", 1, 1, conv),
    OP_ENTRY(SN_OP_DENSE, "dense", 1, 1, dense),
    OP_ENTRY(SN_OP_BN, "bn", 1, 1, bn),
    OP_ENTRY(SN_OP_RELU, "relu", 1, 1, relu),
    OP_ENTRY(SN_OP_RELU6, "relu6", 1, 1, relu6),
    OP_ENTRY(SN_OP_MAXPOOL, "maxpool", 1, 1, maxpool),
    OP_ENTRY(SN_OP_AVGPOOL, "avgpool", 1, 1, avgpool),
    OP_ENTRY(SN_OP_GAP, "gap", 1, 1, gap),
    OP_ENTRY(SN_OP_DROPOUT, "dropout", 1, 1, dropout),
    /* One input is allowed: a morphism may leave a skip with one branch,
     * and add/concat of one tensor is a well-defined identity. */
    OP_ENTRY(SN_OP_ADD, "add", 1, MULTI_MAX_INPUTS, add),
    OP_ENTRY(SN_OP_CONCAT, "concat", 1, MULTI_MAX_INPUTS, concat),
    OP_ENTRY(SN_OP_FLATTEN, "flatten", 1, 1, flatten),
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
    /* out = 0 means "not set": conv and dense infer reject it, so a JSON
     * layer missing its width is an error rather than a silent guess. */
    sn_attr a = {.out = 0,
                 .k = 1,
                 .stride = 1,
                 .pad = 0,
                 .groups = 1,
                 .bias = 1,
                 .rate = 0.5f,
                 .eps = 1e-5f,
                 .momentum = 0.1f};
    switch (op) {
    case SN_OP_CONV:
        a.k = 3; /* the common case; every base architecture sets it */
        break;
    case SN_OP_MAXPOOL:
    case SN_OP_AVGPOOL:
        a.k = 2; /* PyTorch's MaxPool2d(2): stride defaults to k */
        a.stride = 2;
        break;
    default:
        break;
    }
    return a;
}
