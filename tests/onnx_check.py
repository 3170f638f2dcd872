#!/usr/bin/python3
"""onnx_check.py MANIFEST — validates slimnas's ONNX exports with two
independent tools (run by tests/test_export.c; the product needs no Python).

MANIFEST has one line per model:
    MODEL.onnx INPUT.f32 LOGITS.f32 N C H W CLASSES
INPUT.f32 holds N float32 images [N, C, H, W] as the model takes them,
LOGITS.f32 what slimnas computed for them [N, CLASSES]. An int8 model's
line starts with the word int8:
    int8 MODEL.onnx INPUT.f32 CLASSES.i32 N C H W CLASSES
CLASSES.i32 holds the class (argmax) the int8 C program gives each image;
OpenCV's argmax must agree on at least 99% of them (logits of two
different int8 pipelines are not compared value by value), and every
conv/dense must be a QLinearConv with int8 weights (no float weight
tensor in the file).

For each model: onnx.checker (full check) and strict shape inference must
accept it, the inferred output shape must be [N, CLASSES] with N symbolic,
and OpenCV's DNN module must load it and give logits within 1e-4 of
slimnas's. Prints one line per model; exits 1 when any check fails.

OpenCV 4.6 reads Clip only in its pre-opset-11 form (min/max attributes);
for OpenCV alone, Clip nodes whose min/max are initializers are rewritten
into that form (the same numbers). Everything else is the file as written.
"""
import sys

import cv2
import numpy as np
import onnx
from onnx import helper, numpy_helper

TOL = 1e-4
AGREE = 0.99


def opencv_net(model):
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in m.graph.node:
        if n.op_type == "Clip" and len(n.input) == 3:
            lo = float(inits[n.input[1]])
            hi = float(inits[n.input[2]])
            del n.input[1:]
            n.attribute.extend([helper.make_attribute("min", lo),
                                helper.make_attribute("max", hi)])
    return cv2.dnn.readNetFromONNX(np.frombuffer(m.SerializeToString(),
                                                 np.uint8))


def int8_weights(model):
    """Raises unless every weight is int8: the only float initializers
    are scalars and per-channel vectors (scales, bn affine, constants)."""
    qconv = [n for n in model.graph.node if n.op_type == "QLinearConv"]
    if not qconv:
        raise ValueError("int8 model without QLinearConv")
    inits = {t.name: t for t in model.graph.initializer}
    cast = {n.output[0]: n.input[0] for n in model.graph.node
            if n.op_type == "Cast"}
    for n in model.graph.node:
        if n.op_type in ("Gemm", "MatMul"):
            raise ValueError("int8 model with a float %s" % n.op_type)
        # the last layer (float logits) is a Conv on int8 weights cast
        w = None
        if n.op_type == "QLinearConv":
            w = inits[n.input[3]]
        elif n.op_type == "Conv":
            w = inits.get(cast.get(n.input[1]))
            if w is None:
                raise ValueError("%s: float Conv weights" % n.name)
        if w is not None and w.data_type != onnx.TensorProto.INT8:
            raise ValueError("%s: weights are not int8" % n.name)
    for t in model.graph.initializer:
        if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) > 1 \
                and sum(d > 1 for d in t.dims) > 1:
            raise ValueError("float weight tensor %s %s in an int8 model"
                             % (t.name, list(t.dims)))


def check(line):
    f = line.split()
    int8 = f[0] == "int8"
    if int8:
        f = f[1:]
    path, xin, yout = f[0], f[1], f[2]
    n, c, h, w, k = (int(v) for v in f[3:8])
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    inf = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    out = inf.graph.output[0]
    dims = out.type.tensor_type.shape.dim
    if out.name != "logits" or len(dims) != 2 or dims[0].dim_param != "N" \
            or dims[1].dim_value != k:
        raise ValueError("output is %s %s, expected logits [N, %d]"
                         % (out.name, [str(d).strip() for d in dims], k))
    if inf.graph.input[0].name != "input":
        raise ValueError("input is named %s" % inf.graph.input[0].name)
    x = np.fromfile(xin, np.float32).reshape(n, c, h, w)
    net = opencv_net(model)
    ops = sorted({nd.op_type for nd in model.graph.node})
    if int8:
        int8_weights(model)
        want = np.fromfile(yout, np.int32)
        if want.size != n:
            raise ValueError("%s holds %d classes, expected %d"
                             % (yout, want.size, n))
        got = np.empty(n, np.int64)
        for b in range(0, n, 500):  # batches keep OpenCV's memory small
            net.setInput(x[b:b + 500])
            got[b:b + 500] = np.argmax(net.forward().reshape(-1, k), axis=1)
        return float(np.mean(got == want)), None, ops
    want = np.fromfile(yout, np.float32).reshape(n, k)
    net.setInput(x)
    got = net.forward()
    diff = float(np.max(np.abs(got.reshape(n, k) - want)))
    return diff, float(np.max(np.abs(want))), ops


def main():
    bad = 0
    worst = 0.0
    with open(sys.argv[1]) as mf:
        lines = [ln for ln in mf if ln.strip()]
    for line in lines:
        name = line.split()[1 if line.startswith("int8 ") else 0]
        try:
            diff, mag, ops = check(line)
        except Exception as ex:  # one line per failing model
            print("FAIL %s: %s" % (name, str(ex).strip().splitlines()[0]
                                   if str(ex).strip() else repr(ex)))
            bad += 1
            continue
        if mag is None:  # int8: diff is the argmax agreement
            status = "ok" if diff >= AGREE else "FAIL"
            bad += status != "ok"
            print("%s %s: int8 argmax agreement opencv vs int8 C = %.2f%% "
                  "(needs %.0f%%)  ops %s" % (status, name, 100 * diff,
                                             100 * AGREE, ",".join(ops)))
            continue
        worst = max(worst, diff)
        status = "ok" if diff <= TOL else "FAIL"
        bad += status != "ok"
        print("%s %s: max |opencv - slimnas| = %.3g (largest |logit| %.3g)"
              "  ops %s" % (status, name, diff, mag, ",".join(ops)))
    print("%d models, %d failed, worst difference %.3g"
          % (len(lines), bad, worst))
    sys.exit(1 if bad or not lines else 0)


if __name__ == "__main__":
    main()
