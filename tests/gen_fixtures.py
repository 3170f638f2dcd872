#!/usr/bin/python3
"""gen_fixtures.py -- writes tests/fixtures/nn_ref_v1.bin, the PyTorch
reference tensors that tests/test_nn_ref.c compares our ops against.

Regenerate (needs Debian's python3-torch; the C test and CI need no Python):

    /usr/bin/python3 tests/gen_fixtures.py            # writes the default path
    /usr/bin/python3 tests/gen_fixtures.py OUT.bin    # somewhere else

The output is deterministic (fixed torch seed, fixed case list), so running
it again must reproduce the committed file byte for byte; if it does not,
torch changed behaviour and that is worth a look before committing.

How the references are made: every input and parameter is drawn in float32
(so it is exactly what the C side sees), then the op runs in float64 in
torch, and results are rounded to float32 only when stored. The references
are therefore correct to float32 precision, and the C test's tolerance only
has to cover our own float32 rounding.

Gradients: for an op with output `out`, a fixed random upstream gradient R
(stored as <case>/dout) defines loss = sum(out * R); the stored dx and
d<param> are the gradients of that loss. Cross-entropy instead stores the
gradient of the mean loss itself (what sn_softmax_xent writes).

The file format is documented at the top of tests/fixtures.h; in short:
"SNFX", u32 version 1, u32 count, then per tensor u16 name length, name,
u8 ndim, u32 dims[ndim], float32 data; then the zlib CRC32 of all of it.
Everything little-endian.

Cases and their tensors (a case's op is the name up to the first '_'):
    <case>/attr     10 floats: out k stride pad groups bias eps momentum
                    training smoothing (unused fields 0)
    <case>/x        input [N,C,H,W] (dense: [N,in])
    <case>/weight, /bias, /running_mean, /running_var   as the op has them
    <case>/out      forward output
    <case>/dout     upstream gradient R
    <case>/dx, /dweight, /dbias    gradients of sum(out * R)
    bn training also: /running_mean_after, /running_var_after
    xent: /logits [N,K], /labels [N] (integers as floats), /loss [1],
          /dlogits [N,K]
"""
import struct
import sys
import zlib

import torch
import torch.nn.functional as F

MAGIC = b"SNFX"
VERSION = 1
DEFAULT_OUT = "tests/fixtures/nn_ref_v1.bin"
ATTR_FIELDS = ["out", "k", "stride", "pad", "groups", "bias", "eps",
               "momentum", "training", "smoothing"]

torch.manual_seed(20240602)
records = []  # (name, float64 tensor)


def f32(v):
    """The float32 rounding of a Python float, as a Python float: attributes
    such as eps reach the C op as float, so the reference uses that value."""
    return float(torch.tensor(v, dtype=torch.float32).item())


def rand(*shape, scale=1.0):
    """Normal draws made in float32, then widened: exact on both sides."""
    return (torch.randn(*shape, dtype=torch.float32) * scale).double()


def put(case, key, t):
    records.append((case + "/" + key, t.detach().double().clone()))


def put_attr(case, **kw):
    for k in kw:
        assert k in ATTR_FIELDS, k
    vals = [f32(kw.get(k, 0.0)) for k in ATTR_FIELDS]
    put(case, "attr", torch.tensor(vals, dtype=torch.float64))


def run_case(case, x, params, fn, attr):
    """Runs out = fn(x, *params) in float64, backpropagates a random R and
    records x, params, out, R, dx and d<param> (params: list of (name, t))."""
    put_attr(case, **attr)
    # Round to float32 here once more: whatever arithmetic built an input,
    # the reference must start from exactly what the C side will read.
    x = x.float().double().requires_grad_(True)
    ps = [p.float().double().requires_grad_(True) for _, p in params]
    put(case, "x", x)
    for (name, _), p in zip(params, ps):
        put(case, name, p)
    out = fn(x, *ps)
    r = rand(*out.shape)
    (out * r).sum().backward()
    put(case, "out", out)
    put(case, "dout", r)
    put(case, "dx", x.grad)
    for (name, _), p in zip(params, ps):
        put(case, "d" + name, p.grad)


# ---- conv2d -------------------------------------------------------------


def conv_case(case, n, cin, cout, hw, k, stride, pad, groups, bias):
    x = rand(n, cin, hw, hw)
    # Weights scaled like He init so outputs stay O(1) whatever the fan-in.
    fan_in = cin // groups * k * k
    w = rand(cout, cin // groups, k, k, scale=(2.0 / fan_in) ** 0.5)
    params = [("weight", w)]
    if bias:
        params.append(("bias", rand(cout, scale=0.5)))

    def fn(xx, ww, bb=None):
        return F.conv2d(xx, ww, bb, stride=stride, padding=pad, groups=groups)

    run_case(case, x, params, fn,
             dict(out=cout, k=k, stride=stride, pad=pad, groups=groups,
                  bias=1 if bias else 0))


conv_case("conv_g1_k3s1p1", 2, 3, 4, 7, 3, 1, 1, 1, True)
conv_case("conv_g1_k3s2p1_nobias", 2, 3, 5, 8, 3, 2, 1, 1, False)
conv_case("conv_g1_k1s1p0", 2, 5, 3, 6, 1, 1, 0, 1, True)   # the sgemm path
conv_case("conv_g1_k5s1p0", 2, 2, 3, 7, 5, 1, 0, 1, True)   # no padding
conv_case("conv_g2_k3s1p1", 2, 4, 6, 6, 3, 1, 1, 2, True)
conv_case("conv_dw_k3s1p1", 2, 4, 4, 7, 3, 1, 1, 4, True)
conv_case("conv_dw_k3s2p1", 2, 4, 4, 9, 3, 2, 1, 4, True)
conv_case("conv_dw_mult2_k3s1p1", 2, 3, 6, 5, 3, 1, 1, 3, True)

# ---- dense --------------------------------------------------------------

run_case("dense_12to5", rand(3, 12),
         [("weight", rand(5, 12, scale=(2.0 / 12) ** 0.5)),
          ("bias", rand(5, scale=0.5))],
         lambda xx, ww, bb: F.linear(xx, ww, bb), dict(out=5, bias=1))
run_case("dense_nobias", rand(2, 7),
         [("weight", rand(4, 7, scale=(2.0 / 7) ** 0.5))],
         lambda xx, ww: F.linear(xx, ww), dict(out=4, bias=0))

# ---- batch norm ---------------------------------------------------------

EPS = f32(1e-5)
MOMENTUM = f32(0.1)


def bn_case(case, training):
    n, c, hw = 3, 4, 5
    # A per-channel offset and scale, so mean and variance are not ~0 and ~1
    # and a formula that ignores either shows.
    x = (rand(n, c, hw, hw) * rand(1, c, 1, 1).abs().add(0.5)
         + rand(1, c, 1, 1, scale=2.0))
    gamma = rand(c).abs().add(0.5)
    beta = rand(c, scale=0.5)
    rm = rand(c, scale=0.5)
    rv = rand(c).abs().add(0.5).float().double()  # stored as float32
    put(case, "running_mean", rm)
    put(case, "running_var", rv)
    rm_run, rv_run = rm.clone(), rv.clone()  # updated in place by torch

    def fn(xx, g, b):
        return F.batch_norm(xx, rm_run, rv_run, g, b, training=training,
                            momentum=MOMENTUM, eps=EPS)

    run_case(case, x, [("weight", gamma), ("bias", beta)], fn,
             dict(eps=EPS, momentum=MOMENTUM, training=1 if training else 0))
    if training:
        # torch keeps the unbiased batch variance in running_var.
        put(case, "running_mean_after", rm_run)
        put(case, "running_var_after", rv_run)
    else:
        assert torch.equal(rm_run, rm) and torch.equal(rv_run, rv)


bn_case("bn_train", True)
bn_case("bn_eval", False)

# ---- pooling and activations ----------------------------------------------

run_case("maxpool_k2s2", rand(2, 3, 7, 7), [],
         lambda xx: F.max_pool2d(xx, 2, 2), dict(k=2, stride=2))
run_case("maxpool_k3s2p1", rand(2, 3, 7, 7), [],
         lambda xx: F.max_pool2d(xx, 3, 2, 1), dict(k=3, stride=2, pad=1))
run_case("avgpool_k2s2", rand(2, 3, 6, 6), [],
         lambda xx: F.avg_pool2d(xx, 2, 2), dict(k=2, stride=2))
run_case("avgpool_k3s1p1", rand(2, 3, 5, 5), [],
         lambda xx: F.avg_pool2d(xx, 3, 1, 1, count_include_pad=True),
         dict(k=3, stride=1, pad=1))
run_case("gap_a", rand(3, 4, 5, 5), [],
         lambda xx: F.adaptive_avg_pool2d(xx, 1), dict())


def kink_free(t, kinks, margin=1e-3):
    """Moves values within margin of a kink (where the derivative jumps)
    away from it, so float32 and float64 agree on which side they are."""
    for k in kinks:
        near = (t - k).abs() < margin
        t = torch.where(near, t + 2 * margin, t)
    return t


run_case("relu6_a", kink_free(rand(2, 3, 5, 5, scale=4.0).add(2.0), [0, 6]),
         [], lambda xx: F.relu6(xx), dict())
run_case("relu_a", kink_free(rand(2, 3, 5, 5), [0]), [],
         lambda xx: F.relu(xx), dict())

# ---- softmax cross-entropy ----------------------------------------------


def xent_case(case, n, k, smoothing):
    s = f32(smoothing)
    put_attr(case, smoothing=s)
    logits = rand(n, k, scale=2.0).requires_grad_(True)
    labels = torch.randint(0, k, (n,))
    loss = F.cross_entropy(logits, labels, reduction="mean",
                           label_smoothing=s)
    loss.backward()
    put(case, "logits", logits)
    put(case, "labels", labels.double())
    put(case, "loss", loss.reshape(1))
    put(case, "dlogits", logits.grad)


xent_case("xent_plain", 4, 6, 0.0)
xent_case("xent_smooth", 4, 6, 0.1)

# ---- write --------------------------------------------------------------


def encode():
    names = [n for n, _ in records]
    assert len(names) == len(set(names)), "duplicate tensor name"
    body = bytearray(MAGIC + struct.pack("<II", VERSION, len(records)))
    for name, t in records:
        nb = name.encode("ascii")
        body += struct.pack("<H", len(nb)) + nb
        dims = list(t.shape)
        assert 1 <= len(dims) <= 8
        body += struct.pack("<B", len(dims))
        body += struct.pack("<%dI" % len(dims), *dims)
        vals = t.float().reshape(-1).tolist()  # round to float32 once
        body += struct.pack("<%df" % len(vals), *vals)
    body += struct.pack("<I", zlib.crc32(bytes(body)) & 0xFFFFFFFF)
    return bytes(body)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    data = encode()
    with open(out, "wb") as fh:
        fh.write(data)
    print("%s: %d tensors, %d bytes" % (out, len(records), len(data)))


if __name__ == "__main__":
    main()
