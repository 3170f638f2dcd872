/* arch.c — the base architectures `slimnas new` writes.
 *
 * cnn, resnet and densenet reproduce the AutoKeras-era generators that the
 * reference table was computed from (README "Sizes"); their layer lists, paddings
 * and biases are what make the parameter and FLOP counts come out exactly.
 * mobilenet, mobilenetv2, mobile_tiny and tiny2conv are ours, sized for
 * 28x28 and 32x32 inputs (no early stride-2 stem, unlike the ImageNet
 * originals). Width and depth knobs per kind:
 *
 *   kind         width (default)                 depth (default)
 *   cnn          conv filters and dense units 64 conv blocks 3
 *   resnet       first stage filters 64          blocks per stage 2
 *   densenet     growth rate 32                  layers per dense block
 *                                                (6, 12, 24, 16)
 *   mobilenet    stem filters 32                 blocks per stage 2
 *   mobilenetv2  stem filters 32                 blocks per stage 2
 *   mobile_tiny  stem filters 16                 fixed
 *   tiny2conv    first conv filters 8            fixed
 *
 * Names are generated (conv1, bn1, relu1, ...) in execution order. */
#include "slimnas/graph.h"

#include <string.h>

/* The kinds, one line each and in this order everywhere: name, default
 * width, default depth (0: the generator's own, FIXED: not settable),
 * generator. sn_arch_kinds and the table in sn_graph_new_kind both come
 * from this list. */
#define FIXED (-1)
#define ARCH_KINDS(X)                                                          \
    X("cnn", 64, 3, gen_cnn)                                                   \
    X("resnet", 64, 2, gen_resnet)                                             \
    X("densenet", 32, 0, gen_densenet)                                         \
    X("mobilenet", 32, 2, gen_mobilenet)                                       \
    X("mobilenetv2", 32, 2, gen_mobilenetv2)                                   \
    X("mobile_tiny", 16, FIXED, gen_mobile_tiny)                               \
    X("tiny2conv", 8, FIXED, gen_tiny2conv)

#define KIND_NAME(name, width, depth, gen) name,
const char *const sn_arch_kinds[] = {ARCH_KINDS(KIND_NAME) NULL};

#define MAX_ARCH_WIDTH 4096
#define MAX_ARCH_DEPTH 256

/* Builder: each call appends one node fed by `in` and returns its index;
 * after the first failure every call returns -1 and the first error is
 * kept, so generators read as straight-line code. */
typedef struct bld {
    sn_graph *g;
    sn_error err;
    int failed;
} bld;

static int b_add(bld *b, sn_op_kind op, const sn_attr *a, const int *in,
                 int n_in) {
    if (b->failed) return -1;
    for (int k = 0; k < n_in; k++)
        if (in[k] < 0) return -1;
    int i = sn_graph_add(b->g, op, a, in, n_in, NULL, &b->err);
    if (i < 0) {
        b->failed = 1;
        /* Name the layer that could not be added, as the next free name. */
        char msg[sizeof b->err.msg];
        snprintf(msg, sizeof msg, "%s", b->err.msg);
        sn_errf(&b->err, "layer %d (%s): %s", b->g->n_nodes,
                sn_op_get(op)->name, msg);
    }
    return i;
}

static int b_conv(bld *b, int in, int out, int k, int stride, int groups,
                  int bias) {
    sn_attr a = sn_attr_default(SN_OP_CONV);
    a.out = out;
    a.k = k;
    a.stride = stride;
    a.pad = k / 2; /* "same" padding, as AutoKeras's conv layers (k odd) */
    a.groups = groups;
    a.bias = bias;
    return b_add(b, SN_OP_CONV, &a, &in, 1);
}

static int b_simple(bld *b, sn_op_kind op, int in) {
    sn_attr a = sn_attr_default(op);
    return b_add(b, op, &a, &in, 1);
}

static int b_pool(bld *b, sn_op_kind op, int in, int k, int stride) {
    sn_attr a = sn_attr_default(op);
    a.k = k;
    a.stride = stride;
    a.pad = 0;
    return b_add(b, op, &a, &in, 1);
}

static int b_dropout(bld *b, int in, float rate) {
    sn_attr a = sn_attr_default(SN_OP_DROPOUT);
    a.rate = rate;
    return b_add(b, SN_OP_DROPOUT, &a, &in, 1);
}

static int b_dense(bld *b, int in, int units) {
    sn_attr a = sn_attr_default(SN_OP_DENSE);
    a.out = units;
    a.bias = 1;
    return b_add(b, SN_OP_DENSE, &a, &in, 1);
}

static int b_two(bld *b, sn_op_kind op, int x, int y) {
    sn_attr a = sn_attr_default(op);
    int in[2] = {x, y};
    return b_add(b, op, &a, in, 2);
}

static int channels(const bld *b, int node) {
    return node >= 0 ? b->g->nodes[node].out.c : 1;
}

/* conv + BN + ReLU6 without conv bias (BN's beta is the bias), the unit
 * of the mobile kinds. groups < 0 means depthwise. */
static int b_cbr6(bld *b, int in, int out, int k, int stride, int groups) {
    if (groups < 0) groups = out = channels(b, in);
    int x = b_conv(b, in, out, k, stride, groups, 0);
    x = b_simple(b, SN_OP_BN, x);
    return b_simple(b, SN_OP_RELU6, x);
}

/* ---- AutoKeras CNN ----------------------------------------------------
 * depth x [ReLU, BN, conv3x3 width (bias)], a 2x2 max pool after every
 * block when depth < 4, else after every depth/4 blocks but the last;
 * then global average pool, dropout 0.25, dense width, ReLU, dense. */
static void gen_cnn(bld *b, int width, int depth) {
    int x = 0;
    int pool_every = depth / 4;
    for (int i = 0; i < depth; i++) {
        x = b_simple(b, SN_OP_RELU, x);
        x = b_simple(b, SN_OP_BN, x);
        x = b_conv(b, x, width, 3, 1, 1, 1);
        if (pool_every == 0 || ((i + 1) % pool_every == 0 && i != depth - 1))
            x = b_pool(b, SN_OP_MAXPOOL, x, 2, 2);
    }
    x = b_simple(b, SN_OP_GAP, x);
    x = b_dropout(b, x, 0.25f);
    x = b_dense(b, x, width);
    x = b_simple(b, SN_OP_RELU, x);
    b_dense(b, x, b->g->classes);
}

/* ---- AutoKeras ResNet (pre-activation, ResNet-18 layout) ---------------
 * conv3x3 width + BN; four stages of `depth` blocks with width, 2, 4, 8x
 * width filters, the first block of stages 2-4 with stride 2. A block:
 * BN, ReLU -> t; main branch conv3x3(stride), BN, ReLU, conv3x3; shortcut
 * ReLU(t), conv1x1(stride) (every block, even at equal widths); add. Then
 * global average pool and dense. All convs have biases. */
static void gen_resnet(bld *b, int width, int depth) {
    int x = b_conv(b, 0, width, 3, 1, 1, 1);
    x = b_simple(b, SN_OP_BN, x);
    for (int s = 0; s < 4; s++) {
        int planes = width << s;
        for (int blk = 0; blk < depth; blk++) {
            int stride = s > 0 && blk == 0 ? 2 : 1;
            int t = b_simple(b, SN_OP_BN, x);
            t = b_simple(b, SN_OP_RELU, t);
            int m = b_conv(b, t, planes, 3, stride, 1, 1);
            m = b_simple(b, SN_OP_BN, m);
            m = b_simple(b, SN_OP_RELU, m);
            m = b_conv(b, m, planes, 3, 1, 1, 1);
            int r = b_simple(b, SN_OP_RELU, t);
            r = b_conv(b, r, planes, 1, stride, 1, 1);
            x = b_two(b, SN_OP_ADD, m, r);
        }
    }
    x = b_simple(b, SN_OP_GAP, x);
    b_dense(b, x, b->g->classes);
}

/* ---- AutoKeras DenseNet (DenseNet-121 layout) --------------------------
 * conv7x7 2*growth (stride 1, padding 3), BN, ReLU, max pool 3 stride 2
 * (no padding); dense blocks of 6, 12, 24, 16 layers, each layer BN, ReLU,
 * conv1x1 4*growth, BN, ReLU, conv3x3 growth, dropout (rate 0, the
 * generator's default), concatenated after its input; between blocks a
 * transition BN, ReLU, conv1x1 to half the channels, avg pool 2; then BN,
 * ReLU, global average pool, dense. All convs have biases. */
static void gen_densenet(bld *b, int growth, int depth) {
    static const int layers[4] = {6, 12, 24, 16};
    int x = b_conv(b, 0, 2 * growth, 7, 1, 1, 1);
    x = b_simple(b, SN_OP_BN, x);
    x = b_simple(b, SN_OP_RELU, x);
    x = b_pool(b, SN_OP_MAXPOOL, x, 3, 2);
    for (int blk = 0; blk < 4; blk++) {
        int n = depth > 0 ? depth : layers[blk];
        for (int l = 0; l < n; l++) {
            int y = b_simple(b, SN_OP_BN, x);
            y = b_simple(b, SN_OP_RELU, y);
            y = b_conv(b, y, 4 * growth, 1, 1, 1, 1);
            y = b_simple(b, SN_OP_BN, y);
            y = b_simple(b, SN_OP_RELU, y);
            y = b_conv(b, y, growth, 3, 1, 1, 1);
            y = b_dropout(b, y, 0.0f);
            x = b_two(b, SN_OP_CONCAT, x, y);
        }
        if (blk < 3) {
            x = b_simple(b, SN_OP_BN, x);
            x = b_simple(b, SN_OP_RELU, x);
            x = b_conv(b, x, channels(b, x) / 2, 1, 1, 1, 1);
            x = b_pool(b, SN_OP_AVGPOOL, x, 2, 2);
        }
    }
    x = b_simple(b, SN_OP_BN, x);
    x = b_simple(b, SN_OP_RELU, x);
    x = b_simple(b, SN_OP_GAP, x);
    b_dense(b, x, b->g->classes);
}

/* ---- MobileNet v1 -------------------------------------------------------
 * stem conv3x3 width (stride 1) + BN + ReLU6; four stages of `depth`
 * depthwise-separable blocks [dw3x3 + BN + ReLU6, pw1x1 + BN + ReLU6]
 * with 2, 4, 8, 16x width channels, the first block of stages 2-4 with
 * stride 2 in its depthwise conv; global average pool, dropout 0.2, dense.
 * Defaults (width 32, depth 2) on 32x32x3: 547,978 parameters, 27.7 M
 * MACs, resolutions 32, 16, 8, 4. */
static void gen_mobilenet(bld *b, int width, int depth) {
    int x = b_cbr6(b, 0, width, 3, 1, 1);
    for (int s = 0; s < 4; s++)
        for (int blk = 0; blk < depth; blk++) {
            int stride = s > 0 && blk == 0 ? 2 : 1;
            x = b_cbr6(b, x, 0, 3, stride, -1);
            x = b_cbr6(b, x, width << (s + 1), 1, 1, 1);
        }
    x = b_simple(b, SN_OP_GAP, x);
    x = b_dropout(b, x, 0.2f);
    b_dense(b, x, b->g->classes);
}

/* ---- MobileNet v2 ------------------------------------------------------
 * stem conv3x3 width + BN + ReLU6; inverted residual blocks (expand 1x1 by
 * t + BN + ReLU6 unless t = 1, dw3x3 + BN + ReLU6, project 1x1 + BN, no
 * activation; added to the block input when stride 1 and widths match) in
 * stages (t, channels, blocks, stride) = (1, w/2, 1, 1), (6, 3w/4, d, 2),
 * (6, w, d, 2), (6, 2w, d, 2), (6, 3w, d, 1); then conv1x1 8w + BN +
 * ReLU6, global average pool, dropout 0.2, dense. The stages are the
 * paper's first five (16, 24, 32, 64, 96 at w = 32) with CIFAR-sized
 * strides (resolutions 32, 16, 8, 4). Defaults (w 32, d 2) on 32x32x3:
 * 328,522 parameters, 13.1 M MACs. */
static int scaled(int width, int num, int den) {
    int c = (width * num + den / 2) / den;
    return c > 0 ? c : 1;
}

static void gen_mobilenetv2(bld *b, int width, int depth) {
    const struct { int t, num, den, blocks, stride; } st[5] = {
        {1, 1, 2, 1, 1}, {6, 3, 4, 0, 2}, {6, 1, 1, 0, 2},
        {6, 2, 1, 0, 2}, {6, 3, 1, 0, 1},
    };
    int x = b_cbr6(b, 0, width, 3, 1, 1);
    for (int s = 0; s < 5; s++) {
        int cout = scaled(width, st[s].num, st[s].den);
        int n = st[s].blocks ? st[s].blocks : depth;
        for (int blk = 0; blk < n; blk++) {
            int stride = blk == 0 ? st[s].stride : 1;
            int cin = channels(b, x);
            int y = x;
            if (st[s].t != 1) y = b_cbr6(b, y, cin * st[s].t, 1, 1, 1);
            y = b_cbr6(b, y, 0, 3, stride, -1);
            y = b_conv(b, y, cout, 1, 1, 1, 0);
            y = b_simple(b, SN_OP_BN, y);
            x = stride == 1 && cin == cout ? b_two(b, SN_OP_ADD, x, y) : y;
        }
    }
    x = b_cbr6(b, x, 8 * width, 1, 1, 1);
    x = b_simple(b, SN_OP_GAP, x);
    x = b_dropout(b, x, 0.2f);
    b_dense(b, x, b->g->classes);
}

/* ---- the bench networks ------------------------------------------------------
 * mobile_tiny: conv3x3 1->16 + BN + ReLU6, four depthwise-separable blocks
 * 16->32 (stride 2), 32->32, 32->64 (stride 2), 64->64, global average
 * pool, dense: 10,474 parameters on 28x28x1. Convs have no bias. */
static void gen_mobile_tiny(bld *b, int width, int depth) {
    (void)depth; /* fixed */
    static const struct { int mult, stride; } blk[4] = {
        {2, 2}, {2, 1}, {4, 2}, {4, 1}};
    int x = b_cbr6(b, 0, width, 3, 1, 1);
    for (int i = 0; i < 4; i++) {
        x = b_cbr6(b, x, 0, 3, blk[i].stride, -1);
        x = b_cbr6(b, x, width * blk[i].mult, 1, 1, 1);
    }
    x = b_simple(b, SN_OP_GAP, x);
    b_dense(b, x, b->g->classes);
}

/* tiny2conv: conv3x3 pad 1 1->8 + ReLU + maxpool 2, conv3x3 8->16 + ReLU +
 * maxpool 2, flatten, dense: 9,098 parameters on 28x28x1. */
static void gen_tiny2conv(bld *b, int width, int depth) {
    (void)depth; /* fixed */
    int x = b_conv(b, 0, width, 3, 1, 1, 1);
    x = b_simple(b, SN_OP_RELU, x);
    x = b_pool(b, SN_OP_MAXPOOL, x, 2, 2);
    x = b_conv(b, x, 2 * width, 3, 1, 1, 1);
    x = b_simple(b, SN_OP_RELU, x);
    x = b_pool(b, SN_OP_MAXPOOL, x, 2, 2);
    x = b_simple(b, SN_OP_FLATTEN, x);
    b_dense(b, x, b->g->classes);
}

typedef struct arch_kind {
    const char *name;
    int width, depth; /* defaults; depth FIXED: not settable */
    void (*gen)(bld *b, int width, int depth);
} arch_kind;

#define KIND_ENTRY(name, width, depth, gen) {name, width, depth, gen},
static const arch_kind KINDS[] = {ARCH_KINDS(KIND_ENTRY)};
#define N_KINDS ((int)(sizeof KINDS / sizeof KINDS[0]))

static const arch_kind *find_kind(const char *kind) {
    for (int i = 0; kind && i < N_KINDS; i++)
        if (strcmp(kind, KINDS[i].name) == 0) return &KINDS[i];
    return NULL;
}

int sn_arch_default_width(const char *kind) {
    const arch_kind *k = find_kind(kind);
    return k ? k->width : 0;
}

const char *sn_arch_kinds_list(char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < N_KINDS; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "",
                         KINDS[i].name);
        if (w < 0 || (size_t)w >= n - used) break;
        used += (size_t)w;
    }
    return buf;
}

sn_graph *sn_graph_new_kind(const char *kind, sn_shape input, int classes,
                            const sn_arch_opts *o, sn_error *e) {
    int width = o ? o->width : 0, depth = o ? o->depth : 0;
    const arch_kind *k = find_kind(kind);
    if (!k) {
        char list[160];
        sn_errf(e, "unknown kind '%s' (kinds: %s)", kind ? kind : "",
                sn_arch_kinds_list(list, sizeof list));
        return NULL;
    }
    if (input.c < 1 || input.h < 1 || input.w < 1 || input.c > 16384 ||
        input.h > 16384 || input.w > 16384) {
        sn_errf(e, "%s: bad input shape %dx%dx%d (HxWxC)", kind, input.h,
                input.w, input.c);
        return NULL;
    }
    if (classes < 1 || classes > 65536) {
        sn_errf(e, "%s: classes must be from 1 to 65536, got %d", kind,
                classes);
        return NULL;
    }
    if (width < 0 || width > MAX_ARCH_WIDTH || depth < 0 ||
        depth > MAX_ARCH_DEPTH) {
        sn_errf(e, "%s: width must be from 1 to %d and depth from 1 to %d",
                kind, MAX_ARCH_WIDTH, MAX_ARCH_DEPTH);
        return NULL;
    }
    if (k->depth == FIXED && depth) {
        sn_errf(e, "%s has a fixed depth; only the width can be set", kind);
        return NULL;
    }
    bld b = {sn_graph_new(kind, input, classes), {{0}}, 0};
    k->gen(&b, width ? width : k->width,
           depth || k->depth == FIXED ? depth : k->depth);
    if (!b.failed && sn_graph_validate(b.g, &b.err) != 0) b.failed = 1;
    if (b.failed) {
        sn_errf(e, "%s on input %dx%dx%d: %s", kind, input.h, input.w,
                input.c, b.err.msg);
        sn_graph_free(b.g);
        return NULL;
    }
    return b.g;
}
