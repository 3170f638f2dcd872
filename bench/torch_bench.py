#!/usr/bin/python3
"""PyTorch side of `make bench-torch`: training images/s of the four
reference networks at batch 128 on 1x28x28 inputs, the same definitions as
`slimnas new cnn|mobile_tiny|tiny2conv --input 28x28x1 --classes 10` and
bench.c's sep5k, with
SGD momentum 0.9. Prints one JSON object. Needs Debian's python3-torch;
run it beside `make bench` on the same machine (figures swing when the
other core is busy, so compare runs made back to back).

Usage: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_bench.py [threads]
"""
import json
import sys
import time

import torch
import torch.nn as nn


def ak_cnn():
    layers, c = [], 1
    for _ in range(3):
        layers += [nn.ReLU(), nn.BatchNorm2d(c), nn.Conv2d(c, 64, 3, padding=1),
                   nn.MaxPool2d(2)]
        c = 64
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.25),
               nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def mobile_tiny():
    # convs followed by batch norm carry no bias (10,474 parameters)
    def sep(cin, cout, stride):
        return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
                nn.BatchNorm2d(cin), nn.ReLU6(),
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()]
    layers = [nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6()]
    layers += sep(16, 32, 2) + sep(32, 32, 1) + sep(32, 64, 2) + sep(64, 64, 1)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def tiny2conv():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(784, 10))


def sep5k():
    # bench/bench.c's sep5k: narrow depthwise-separable, 5,210 parameters
    def cbr6(cin, cout, k, stride, groups):
        return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU6()]
    layers, c = cbr6(1, 8, 3, 1, 1), 8
    for out, stride in [(16, 2), (16, 1), (24, 2), (24, 1), (24, 1), (24, 1), (24, 1)]:
        layers += cbr6(c, c, 3, stride, c) + cbr6(c, out, 1, 1, 1)
        c = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10)]
    return nn.Sequential(*layers)


def rate(model, threads, seconds=3.0):
    torch.set_num_threads(threads)
    x = torch.randn(128, 1, 28, 28)
    y = torch.randint(0, 10, (128,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(5):
        step()
    best = 0.0
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            step()
            n += 1
        best = max(best, n * 128 / (time.perf_counter() - t0))
    return best


def main():
    threads = [int(sys.argv[1])] if len(sys.argv) > 1 else [1, 2]
    out = {"torch": torch.__version__, "nets": {}}
    for name, make in [("ak_cnn", ak_cnn), ("mobile_tiny", mobile_tiny),
                       ("tiny2conv", tiny2conv), ("sep5k", sep5k)]:
        model = make()
        params = sum(p.numel() for p in model.parameters())
        best = {t: rate(model, t) for t in threads}
        out["nets"][name] = {"params": params,
                             "train_img_s": int(max(best.values())),
                             "by_threads": {str(t): int(v) for t, v in best.items()}}
        if 1 in best and 2 in best:
            out["nets"][name]["thread_scaling"] = round(best[2] / best[1], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
