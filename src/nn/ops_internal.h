/* ops_internal.h — the per-op functions the op table (ops.c) points at.
 * Each op family lives in its own file:
 *   conv.c      conv2d (im2col + sgemm, 1x1 as plain sgemm; dispatch)
 *   conv_dw.c   conv2d's direct depthwise kernels (conv_internal.h: shared)
 *   dense.c     dense
 *   norm.c      batch norm
 *   simple.c    relu, relu6, dropout, add, concat, flatten, input
 *   pool.c      max pool, average pool, global average pool
 * The op table itself (names, arity, attribute keys, short forms) is
 * ops.c. Tests compare the kernels with a naive reference in
 * tests/test_nn_conv.c and with PyTorch in tests/test_nn_ref.c. */
#ifndef SLIMNAS_OPS_INTERNAL_H
#define SLIMNAS_OPS_INTERNAL_H

/* Every function reached through the operator table has the table's full
 * signature, and most use only part of it: unused parameters are the
 * norm here, so the warning is off in the files that implement table
 * entries (they include this header); it stays on everywhere else. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#include "slimnas/nn.h"

#define SN_DECLARE_OP(x)                                                       \
    int x##_infer(const sn_attr *a, const sn_shape *in, int n_in,              \
                  sn_shape *out, sn_error *e);                                 \
    int x##_tensors(const sn_attr *a, const sn_shape *in, int n_in,            \
                    sn_tensor_desc t[SN_MAX_TENSORS]);                         \
    int64_t x##_macs(const sn_attr *a, const sn_shape *in, int n_in,           \
                     sn_shape out);                                            \
    int64_t x##_flops_ak(const sn_attr *a, const sn_shape *in, int n_in,       \
                         sn_shape out);                                        \
    size_t x##_cache_bytes(const sn_attr *a, const sn_shape *in, int n_in,     \
                           sn_shape out, int n);                               \
    size_t x##_work_floats(const sn_attr *a, const sn_shape *in, int n_in,     \
                           sn_shape out, int n);                               \
    void x##_init(const sn_attr *a, const sn_shape *in, int n_in,              \
                  float *const *tensor, sn_rng *rng);                          \
    void x##_forward(const sn_op_args *x);                                     \
    void x##_backward(const sn_op_args *x);

/* The table entries of an op without parameters or scratch: no tensors,
 * no MACs, nothing to initialise, no work buffer. */
#define NO_PARAMS(x)                                                           \
    int x##_tensors(const sn_attr *a, const sn_shape *in, int n_in,            \
                    sn_tensor_desc t[SN_MAX_TENSORS]) {                        \
        return 0;                                                              \
    }                                                                          \
    int64_t x##_macs(const sn_attr *a, const sn_shape *in, int n_in,           \
                     sn_shape out) {                                           \
        return 0;                                                              \
    }                                                                          \
    void x##_init(const sn_attr *a, const sn_shape *in, int n_in,              \
                  float *const *tensor, sn_rng *rng) {}                        \
    size_t x##_work_floats(const sn_attr *a, const sn_shape *in, int n_in,     \
                           sn_shape out, int n) {                              \
        return 0;                                                              \
    }

SN_DECLARE_OP(input)
SN_DECLARE_OP(conv)
SN_DECLARE_OP(dense)
SN_DECLARE_OP(bn)
SN_DECLARE_OP(relu)
SN_DECLARE_OP(relu6)
SN_DECLARE_OP(maxpool)
SN_DECLARE_OP(avgpool)
SN_DECLARE_OP(gap)
SN_DECLARE_OP(dropout)
SN_DECLARE_OP(add)
SN_DECLARE_OP(concat)
SN_DECLARE_OP(flatten)

/* The 2x2 stride-2 max pool of output rows [oy0, oy1) of one plane
 * (input row length W, OW outputs per row); out and code point at the
 * plane's start (pool.c). conv.c calls it for the fused conv + max pool. */
void sn_maxpool_2x2_rows(const float *in, float *out, uint8_t *code, int W,
                         int oy0, int oy1, int OW);

/* Writes the gradient of windows in output rows [oy0, oy1) of one plane
 * (dout, code: the plane's start) to the element each code names in dst,
 * which starts at input row 2*oy0, rows W floats apart; the other
 * elements are left alone (the caller zeroes them). With relu_out (the
 * plane of a relu of the pool's output), dout is that relu's gradient and
 * passes only where relu_out > 0, as relu backward would pass it. For the
 * fused backward (conv.c). */
void sn_maxpool_2x2_unpool_rows(const float *dout, const float *relu_out,
                                const uint8_t *code, int OW, int oy0,
                                int oy1, float *dst, int W);

/* relu6 (hi 6) or relu (hi INFINITY) of v, as relu6's forward computes
 * it: one expression wherever an activation is fused into another op's
 * pass (bn + act, a folded conv's out_clamp), so the bits agree */
static inline float sn_act_clamp(float v, float hi) {
    float u = v > 0.0f ? v : 0.0f;
    return u < hi ? u : hi;
}

/* One plane's batch-norm statistics (norm.c): out[0] its mean (as a
 * float), out[1] the sum of squares centred on it. The conv before a bn
 * computes them while its output is in cache (sn_op_args.plane_stats). */
void sn_bn_plane_stats(const float *x, int64_t n, double out[2]);

#endif
