#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/NAME/ (run once; the files are
committed). Usage: tests/fuzz/seeds.py build/slimnas (all), or
tests/fuzz/seeds.py --images (the image seeds alone)

Each seed is a valid input or a near miss (truncated, wrong magic, a
field of the wrong type); the fuzzers mutate from there."""
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    slimnas = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="sn_seeds_")
    run = os.path.join(tmp, "run")
    # the same run as the runlog and commands targets make
    subprocess.run([slimnas, "search", "--data", "synthetic:100", "--run", run,
                    "--bases", "cnn:4:2,mobile_tiny:4", "--max-candidates", "4",
                    "--max-train", "0", "--epochs", "1", "--root-epochs", "1",
                    "--batch", "32", "--strategy", "random", "--headless",
                    "-j", "1"], check=True, stdout=subprocess.DEVNULL)
    cand = os.path.join(run, "cand")

    # graph: candidate files and the sample graphs
    for n in sorted(os.listdir(cand)):
        if n.endswith(".json"):
            put("graph", "cand_" + n, open(os.path.join(cand, n), "rb").read())
    gdir = os.path.join(ROOT, "samples", "graphs")
    for n in sorted(os.listdir(gdir)):
        if n.startswith(("ak_cnn", "mobile_tiny", "tiny2conv", "resnet")):
            put("graph", n, open(os.path.join(gdir, n), "rb").read())
    g0 = open(os.path.join(cand, "0.json")).read()
    put("graph", "truncated.json", g0[: len(g0) // 2])
    put("graph", "cycle.json", json.dumps({
        "format": "slimnas-graph", "version": 1, "name": "c",
        "input": {"c": 1, "h": 4, "w": 4}, "classes": 2,
        "layers": [{"name": "a", "op": "relu", "inputs": ["b"]},
                   {"name": "b", "op": "relu", "inputs": ["a"]}]}))

    # weights: cand/0.bin is cnn:4:2 on 1x12x12, the target's graph
    w0 = open(os.path.join(cand, "0.bin"), "rb").read()
    put("weights", "cnn_4_2.bin", w0)
    put("weights", "truncated.bin", w0[: len(w0) // 3])
    put("weights", "bad_magic.bin", b"XXXX" + w0[4:])
    put("weights", "empty_tensors.bin", b"SNWT" + struct.pack("<II", 1, 0)
        + struct.pack("<I", 0))

    # runlog: the run's log, and damaged forms of it
    log = open(os.path.join(run, "results.log")).read()
    lines = log.splitlines(True)
    put("runlog", "two.log", "".join(lines[:2]))
    put("runlog", "four.log", log)
    put("runlog", "torn.log", "".join(lines[:2]) + lines[2][:30])
    put("runlog", "garbage.log", lines[0] + "#garbage\n" + "".join(lines[2:]))
    put("runlog", "gap.log", lines[0] + "".join(lines[2:]))
    put("runlog", "final.log", "".join(lines[:2]) +
        '{"final":0,"status":"done","val_acc":0.5,"test_acc":0.4,'
        '"epochs":1,"seconds":0.1}\n')
    put("runlog", "damaged.log", lines[0] +
        '{"id":1,"parent":-1,"status":"damaged","damage":"x"}\n')
    put("runlog", "empty.log", "")

    # config: sample search configs and a settings.json
    sdir = os.path.join(ROOT, "samples", "searches")
    for n in sorted(os.listdir(sdir)):
        put("config", n, open(os.path.join(sdir, n), "rb").read())
    put("config", "settings.json", open(os.path.join(run, "settings.json"),
                                        "rb").read())
    put("config", "bad_value.json", '{"max-params": "5q"}')
    put("config", "rates.json", '{"rates": {"wider": 2, "deeper": 0}}')

    # theme
    tdir = os.path.join(ROOT, "themes")
    for n in sorted(os.listdir(tdir)):
        put("theme", n, open(os.path.join(tdir, n), "rb").read())
    put("theme", "bad.theme", "front = bold nocolour\nwhatever = red on\n")

    # strings: sizes, durations, numbers, KEY=VALUE settings
    for i, s in enumerate(["20k", "1.5M", "300", "2G", "-1", "1e400", "nan",
                           "30m", "2h", "90s", "0.5", "12x",
                           "max-params=5k", "strategy=evolution",
                           "objective=params,flops", "rate.wider=2",
                           "pin=none", "budget=1h", "val-split=0.2",
                           "bases=cnn:16,mobile_tiny", "final-at=10k,50k",
                           "epochs=0", "seed=18446744073709551615"]):
        put("strings", "s%02d" % i, s)

    # commands: the explorer's ':' lines
    for i, s in enumerate(["set max-params 5k", "set strategy evolution",
                           "enqueue 0 wider", "enqueue #1 deeper:2",
                           "enqueue 0 wider:3:16", "ban wider", "unban wider",
                           "pin none", "pin deeper", "pause", "p", "s",
                           "set", "theme light", "select 1", "q",
                           "fork 0 --run x --max-params 5k",
                           "set final-at 10k,20k", "export 0 out.c"]):
        put("commands", "c%02d" % i, s)

    # idx: first byte = file (bits 0-1) | form << 2 (0 raw, 1 gzipped by
    # the target, 2 the bytes of a .gz file)
    def idx(k):
        n = 8 if k < 2 else 4
        if k % 2 == 0:
            return (struct.pack(">IIII", 0x803, n, 5, 5) +
                    bytes((i * 37) & 255 for i in range(n * 25)))
        return struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n))
    for k in range(4):
        put("idx", "raw%d" % k, bytes([k]) + idx(k))
        put("idx", "zlib%d" % k, bytes([k | 4]) + idx(k))
        put("idx", "gz%d" % k, bytes([k | 8]) + gzip.compress(idx(k)))
    put("idx", "label_range", bytes([1]) + struct.pack(">II", 0x801, 8) +
        bytes([0, 1, 2, 3, 4, 5, 6, 200]))
    put("idx", "short_images", bytes([0]) + idx(0)[:100])

    # cifar: first byte mod 6 = the file; two records
    rec = bytes([3]) + bytes((i * 31) & 255 for i in range(3072))
    for k in range(6):
        put("cifar", "batch%d" % k, bytes([k]) + rec + rec)
    put("cifar", "partial", bytes([0]) + rec + rec[:100])
    put("cifar", "label_range", bytes([5]) + bytes([11]) + rec[1:])

    shutil.rmtree(tmp)
    image_seeds()


def image_seeds():
    """image: tiny valid files of each format (JPEG baseline, progressive,
    grey and one big enough for DCT scaling; PNG RGB, grey, RGBA, 16-bit;
    BMP; PGM/PPM 8- and 16-bit) and near misses. Needs OpenCV (Debian's
    python3-opencv: run with /usr/bin/python3); skipped without it."""
    try:
        import cv2
        import numpy as np
    except ImportError:
        print("seeds.py: no OpenCV, image seeds left as they are")
        return
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (4, 3), dtype=np.uint8)

    def enc(ext, img, params=()):
        ok, buf = cv2.imencode(ext, img, list(params))
        assert ok
        return buf.tobytes()

    put("image", "rgb.jpg", enc(".jpg", rgb, (cv2.IMWRITE_JPEG_QUALITY, 90)))
    put("image", "grey.jpg", enc(".jpg", grey))
    put("image", "prog.jpg", enc(".jpg", rgb, (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)))
    put("image", "big.jpg",
        enc(".jpg", rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)))
    put("image", "rgb.png", enc(".png", rgb))
    put("image", "grey.png", enc(".png", grey))
    put("image", "rgba.png",
        enc(".png", np.dstack([rgb, np.full((5, 6), 200, np.uint8)])))
    put("image", "grey16.png", enc(".png", grey.astype(np.uint16) * 257))
    put("image", "rgb.bmp", enc(".bmp", rgb))
    put("image", "grey.bmp", enc(".bmp", grey))
    put("image", "grey.pgm", enc(".pgm", grey))
    put("image", "rgb.ppm", enc(".ppm", rgb))
    put("image", "grey16.pgm", enc(".pgm", grey.astype(np.uint16) * 257))
    png, jpg = enc(".png", rgb), enc(".jpg", rgb, (cv2.IMWRITE_JPEG_QUALITY, 90))
    put("image", "cut.png", png[: len(png) * 2 // 3])
    put("image", "cut.jpg", jpg[: len(jpg) // 2])
    put("image", "notimage.gif", b"GIF89a\x01\x00\x01\x00")


if __name__ == "__main__":
    if sys.argv[1:] == ["--images"]:
        image_seeds()
    else:
        main()
