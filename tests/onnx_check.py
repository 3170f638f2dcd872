#!/usr/bin/python3
"""onnx_check.py MANIFEST — validates slimnas's ONNX exports with two
independent tools (run by tests/test_export.c; the product needs no Python).

MANIFEST has one line per model:
    MODEL.onnx INPUT.f32 LOGITS.f32 N C H W CLASSES
INPUT.f32 holds N float32 images [N, C, H, W] as the model takes them,
LOGITS.f32 what slimnas computed for them [N, CLASSES].

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


def check(line):
    f = line.split()
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
    want = np.fromfile(yout, np.float32).reshape(n, k)
    net = opencv_net(model)
    net.setInput(x)
    got = net.forward()
    diff = float(np.max(np.abs(got.reshape(n, k) - want)))
    ops = sorted({nd.op_type for nd in model.graph.node})
    return diff, float(np.max(np.abs(want))), ops


def main():
    bad = 0
    worst = 0.0
    with open(sys.argv[1]) as mf:
        lines = [ln for ln in mf if ln.strip()]
    for line in lines:
        name = line.split()[0]
        try:
            diff, mag, ops = check(line)
        except Exception as ex:  # one line per failing model
            print("FAIL %s: %s" % (name, str(ex).strip().splitlines()[0]
                                   if str(ex).strip() else repr(ex)))
            bad += 1
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
