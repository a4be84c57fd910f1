#!/usr/bin/python3
"""End-to-end test that attnsweep's HDF5 writers are byte-reproducible: the same `data toy`,
`data ucr` (UCR data under ATTNSWEEP_UCR_DIR, default ../shared/data/ucr; that part is
skipped visibly without it) and `train --save-weights` written twice, more than a second
apart, give the same bytes (HDF5 stamps object headers with their creation time unless
told not to), so a regenerated dataset keeps its SHA-256: `sweep --resume` and `export`
accept it."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, ENV, Checks, temp_dir  # noqa: E402

check = Checks(verbose=True)
HERE = os.path.dirname(os.path.abspath(__file__))
UCR = os.environ.get("ATTNSWEEP_UCR_DIR", os.path.join(HERE, "..", "..", "..", "shared", "data", "ucr"))


def run(*args):
    return subprocess.run([BIN, *args], env=ENV, capture_output=True, text=True, timeout=600)


def twice(j, what, make):
    """make(path) twice, over a second apart (the clock the timestamps would carry moves):
    the two files are equal byte for byte."""
    a, b = j(what + "-1.h5"), j(what + "-2.h5")
    r1 = make(a)
    time.sleep(1.1)  # not a race: only so that a creation time, if written, differs
    r2 = make(b)
    check(r1.returncode == 0 and r2.returncode == 0, what + ": both written " + (r1.stderr + r2.stderr)[-200:])
    with open(a, "rb") as fa, open(b, "rb") as fb:
        x, y = fa.read(), fb.read()
    diff = sum(1 for p, q in zip(x, y) if p != q) + abs(len(x) - len(y))
    check(x == y, what + ": the two files are byte-identical (%d bytes differ)" % diff)


def main():
    tmp, j = temp_dir("attnsweep-repro-")
    toy = ("data", "toy", "--samples", "200", "--test-samples", "20", "-o")
    twice(j, "data toy", lambda p: run(*toy, p))
    spec = {"data": j("data toy-1.h5"),
            "model": [{"type": "conv1d", "filters": 2, "kernel_size": 3},
                      {"type": "conv1d", "filters": 1, "kernel_size": 3}],
            "train": {"epochs": 2, "validation_split": 0.2, "seed": 1}}
    with open(j("t.json"), "w") as fh:
        json.dump(spec, fh)
    twice(j, "train --save-weights", lambda p: run("train", j("t.json"), "--save-weights", p, "--quiet"))

    # a regenerated dataset: --resume and export accept it
    sweep = {"data": "toy.h5", "model": spec["model"], "train": {"epochs": 2, "validation_split": 0.2},
             "grid": {"f": [1, 2]}, "attention_samples": 0, "prediction_samples": 1}
    sweep["model"] = [{"type": "conv1d", "filters": "$f", "kernel_size": 3}, spec["model"][1]]
    with open(j("sw.json"), "w") as fh:
        json.dump(sweep, fh)
    check(run(*toy, j("toy.h5")).returncode == 0, "toy.h5")
    r = run("sweep", j("sw.json"), "-o", j("d.h5"))
    check(r.returncode == 0, "sweep " + r.stderr[-200:])
    time.sleep(1.1)
    check(run(*toy, j("toy.h5")).returncode == 0, "toy.h5 generated again")
    r = run("sweep", j("sw.json"), "-o", j("d.h5"), "--resume")
    check(r.returncode == 0 and "0 to go" in r.stdout,
          "--resume accepts the regenerated dataset: %d %s" % (r.returncode, (r.stdout + r.stderr)[-200:]))
    r = run("export", j("d.h5"), "--best", "-o", j("best.json"))
    check(r.returncode == 0, "export accepts it: " + r.stderr[-200:])

    gp = os.path.join(UCR, "GunPoint")
    if not os.path.isfile(os.path.join(gp, "GunPoint_TRAIN.tsv")):
        print("SKIP data ucr: no UCR data at %s (set ATTNSWEEP_UCR_DIR)" % UCR)
    else:
        twice(j, "data ucr", lambda p: run("data", "ucr", "--train", os.path.join(gp, "GunPoint_TRAIN.tsv"),
                                             "--test", os.path.join(gp, "GunPoint_TEST.tsv"), "--znorm", "-o", p))
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
