#!/usr/bin/env python3
"""make soak: kill -9 a search at random points, again and again, and check
after every kill that nothing finished was lost or changed and that the
run loads. Not in CI (a few minutes).

Usage: tests/soak.py SLIMNAS [KILLS] [SEED]

The kills land during resumes (mid-training, mid-write), during a resume's
start-up (within 0.15 s of exec), during --final retraining and during a
fork. After each: every log record written before is still there,
unchanged and in place; every file those records name (graph, weights,
final weights) has the same bytes; `slimnas show` loads the run with no
damaged candidate; `slimnas check` finds nothing but what a kill may leave
(the in-flight candidate's unlogged files, temp files, a torn last line),
and the next resume clears those. Prints the figures at the end."""
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SLIMNAS = os.path.abspath(sys.argv[1])
KILLS = int(sys.argv[2]) if len(sys.argv) > 2 else 50
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 14)
COMMON = ["--headless", "-j", "1"]


def sh(args, **kw):
    return subprocess.run([SLIMNAS] + args, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, **kw)


def whole_lines(run):
    try:
        with open(os.path.join(run, "results.log"), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return data.split(b"\n")[:-1]  # a torn last line is not a record


def named_files(run, lines):
    """The files the records name, with their hashes."""
    out = {}
    for ln in lines:
        r = json.loads(ln)
        names = []
        if "final" in r:
            if r.get("status") == "done":
                names.append("cand/%d.final.bin" % r["final"])
        else:
            names.append("cand/%d.json" % r["id"])
            if r["status"] == "done":
                names.append("cand/%d.bin" % r["id"])
        for n in names:
            with open(os.path.join(run, n), "rb") as f:
                out[n] = hashlib.sha256(f.read()).hexdigest()
    return out


def verify(run, before, hashes, figures):
    """Checks the run after a kill; returns its records and file hashes."""
    lines = whole_lines(run)
    if lines[: len(before)] != before:
        for i, (a, b) in enumerate(zip(before, lines)):
            if a != b:
                sys.exit("LOST OR CHANGED: record %d of %s:\n  was %s\n  now %s"
                         % (i + 1, run, a[:120], b[:120]))
        sys.exit("LOST: %s has %d records, had %d" % (run, len(lines),
                                                      len(before)))
    now = named_files(run, lines)
    for n, h in hashes.items():
        if now.get(n) != h:
            sys.exit("CHANGED: %s/%s" % (run, n))
    show = sh(["show", run, "--json"])
    if show.returncode != 0:
        sys.exit("DOES NOT LOAD: slimnas show %s:\n%s" % (run, show.stdout))
    cands = json.loads(show.stdout)["candidates"]
    bad = [c["id"] for c in cands if c["status"] == "damaged"]
    if bad:
        sys.exit("DAMAGED after a kill: %s in %s" % (bad, run))
    chk = sh(["check", run])
    for ln in chk.stdout.splitlines()[:-1]:
        if "temp file" in ln:
            figures["tmp"] += 1
        elif "no record of it" in ln:
            figures["unlogged"] += 1
        elif "incomplete last line" in ln:
            figures["torn"] += 1
        else:
            sys.exit("UNEXPECTED PROBLEM after a kill: %s" % ln)
    return lines, now


def count(run):
    return sum(1 for ln in whole_lines(run) if b'"final"' not in ln)


def main():
    global SLIMNAS
    tmp = tempfile.mkdtemp(prefix="sn_soak_")
    # a copy: a rebuild meanwhile must not pull the binary from under it
    shutil.copy2(SLIMNAS, os.path.join(tmp, "slimnas"))
    SLIMNAS = os.path.join(tmp, "slimnas")
    run = os.path.join(tmp, "run")
    t0 = time.time()
    r = sh(["search", "--data", "synthetic:3000", "--run", run, "--bases",
            "cnn:8:2,mobile_tiny:8", "--max-candidates", "4", "--max-train",
            "0", "--epochs", "1", "--root-epochs", "1", "--batch", "64",
            "--strategy", "evolution"] + COMMON)
    if r.returncode:
        sys.exit(r.stdout)
    figures = {"tmp": 0, "unlogged": 0, "torn": 0}
    kinds = {"resume": 0, "start-up": 0, "final": 0, "fork": 0}
    ended = 0
    before = whole_lines(run)
    hashes = named_files(run, before)
    forks = []
    kills = 0
    i = 0
    while kills < KILLS:
        n = count(run)
        kind = ("start-up" if i % 10 == 3 else "final" if i % 10 == 6
                else "fork" if i % 10 == 9 else "resume")
        i += 1
        if kind == "fork":
            done = [json.loads(l)["id"] for l in before
                    if b'"final"' not in l and b'"status":"done"' in l]
            dst = os.path.join(tmp, "fork%d" % i)
            args = ["fork", run, str(rng.choice(done)), "--run", dst,
                    "--max-candidates", "3"]
            delay = rng.uniform(0.02, 1.0)
        elif kind == "final":
            # enough epochs that the kill lands in the retraining (with 2,
            # the members were retrained before any kill came, and every
            # later final resume had nothing left to do)
            args = ["resume", run, "--max-candidates", str(n), "--final", "2",
                    "--final-epochs", "60"]
            delay = rng.uniform(0.2, 2.5)
        else:
            args = ["resume", run, "--max-candidates", str(n + 5), "--final",
                    "0"]
            delay = (rng.uniform(0.0, 0.15) if kind == "start-up"
                     else rng.uniform(0.2, 6.0))
        p = subprocess.Popen([SLIMNAS] + args + COMMON,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        time.sleep(delay)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
            kinds[kind] += 1
        else:
            ended += 1
            err = p.stderr.read().decode()
            if p.returncode != 0:
                sys.exit("%s failed by itself (%d):\n%s" % (args, p.returncode,
                                                            err))
        p.wait()
        if kind == "fork":
            forks.append(dst)
            if os.path.exists(os.path.join(dst, "settings.json")):
                s = sh(["show", dst])
                if s.returncode:
                    sys.exit("FORK DOES NOT LOAD: %s\n%s" % (dst, s.stdout))
        before, hashes = verify(run, before, hashes, figures)
    # the run goes on to a clean end, and checks clean
    n = count(run)
    r = sh(["resume", run, "--max-candidates", str(n + 2), "--final", "0"]
           + COMMON)
    if r.returncode:
        sys.exit("final resume failed:\n" + r.stdout)
    verify(run, before, hashes, figures)
    chk = sh(["check", run])
    if chk.returncode:
        sys.exit("check after the last resume:\n" + chk.stdout)
    records = count(run)
    finals = sum(1 for l in whole_lines(run) if b'"final"' in l)
    print("soak: %d kills (%s), %d runs ended before their kill; %d candidate "
          "records and %d final records at the end, 0 lost, 0 changed, the "
          "run loaded after every kill; after kills check saw %d temp files, "
          "%d unlogged in-flight files, %d torn last lines (all cleared by "
          "the next resume); %d forks; %.0f s" %
          (kills, ", ".join("%s %d" % kv for kv in kinds.items()), ended,
           records, finals, figures["tmp"], figures["unlogged"],
           figures["torn"], len(forks), time.time() - t0))
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
