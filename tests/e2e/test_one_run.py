#!/usr/bin/python3
"""End-to-end test: two variants that are one run (the same run key for every repeat) are
refused before anything is written, naming both variants and the cause; they were stored
under one key, so one trained run was lost, the other mislabelled, and every --resume
retrained one:
- a data axis with two files of the same content (a copy), and in --dry-run with the run's
  message also toy.h5 against ./toy.h5, a hard link and a copy (the dry run compared paths);
- `--epochs N` on a sweep whose train.epochs is a grid axis (plain and --dry-run);
- a rung search (max_epochs replaces train.epochs) over a train.epochs axis;
and the same sweeps without what makes the variants equal still run (exit 0, every run
stored under its own key)."""
import json
import os
import shutil
import subprocess
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, ENV, Checks, temp_dir  # noqa: E402

check = Checks(verbose=True)
MODEL = [{"type": "conv1d", "filters": "$f", "kernel_size": 3, "activation": "relu"},
         {"type": "conv1d", "filters": 1, "kernel_size": 3}]
TRAIN = {"batch_size": 16, "validation_split": 0.2}


def run(args):
    return subprocess.run([BIN] + args, env=ENV, capture_output=True, text=True, timeout=300)


def stored_keys(path):
    with h5py.File(path, "r") as f:
        return sorted(k for k in f["variants"])


def refused(r, out, names, why):
    """exit 2, both variants and why named, no output (nor journal, lock, search folder)."""
    left = [p for p in os.listdir(os.path.dirname(out)) if p.startswith(os.path.basename(out))]
    return (r.returncode == 2 and all(n in r.stderr for n in names) and why in r.stderr
            and "one run" in r.stderr and not left)


def main():
    tmp, p = temp_dir("attnsweep-one-run-")
    r = run(["data", "toy", "--samples", "60", "--test-samples", "5", "-o", p("toy.h5")])
    if not check(r.returncode == 0, "data toy"):
        return check.summary()
    shutil.copyfile(p("toy.h5"), p("copy.h5"))

    def sweep(name, **kw):
        spec = {"data": "toy.h5", "model": MODEL, "train": dict(TRAIN, epochs=1)}
        spec.update(kw)
        with open(p(name), "w") as fh:
            json.dump(spec, fh)
        return p(name)

    dd = sweep("dd.json", data="$ds", grid={"ds": ["toy.h5", "copy.h5"], "f": [2, 4]})
    r = run(["sweep", dd, "-o", p("dd.h5")])
    check(refused(r, p("dd.h5"), ["v0000", "v0002", "toy.h5", "copy.h5"], "same content"),
          "a data axis over a file and its copy: exit 2 naming v0000 and v0002 and both files (%d: %s)"
          % (r.returncode, r.stderr.strip()[-300:]))
    # the dry run gives the run's verdict and message: toy.h5 against ./toy.h5, a hard link
    # and a copy are one dataset only once the files are hashed (it compared paths)
    os.link(p("toy.h5"), p("hard.h5"))
    for name, other in (("dot", "./toy.h5"), ("hard", "hard.h5"), ("copy", "copy.h5")):
        f = sweep(name + ".json", data="$ds", grid={"ds": ["toy.h5", other], "f": [2]})
        dry = run(["sweep", "--dry-run", f])
        real = run(["sweep", f, "-o", p(name + "-out.h5")])
        check(refused(dry, p(name + "-out.h5"), ["v0000", "v0001", other], "same content")
              and dry.stderr == real.stderr and refused(real, p(name + "-out.h5"), [], "one run"),
              "--dry-run over toy.h5 and %s: exit 2 with the real run's message (dry %d: %s; "
              "real %d: %s)" % (other, dry.returncode, dry.stderr.strip()[-300:], real.returncode,
                                real.stderr.strip()[-300:]))
    r = run(["data", "toy", "--seed", "1", "--samples", "60", "--test-samples", "5", "-o",
             p("toy1.h5")])
    two = sweep("two.json", data="$ds", grid={"ds": ["toy.h5", "toy1.h5"], "f": [2]})
    r = run(["sweep", "--dry-run", two]) if r.returncode == 0 else r
    check(r.returncode == 0 and "2 datasets (a data axis)" in r.stdout,
          "--dry-run over two datasets of different content: exit 0 (%d: %s)"
          % (r.returncode, r.stderr.strip()[-300:]))
    one = sweep("one.json", data="$ds", grid={"ds": ["toy.h5"], "f": [2, 4]})
    r = run(["sweep", one, "-o", p("one.h5")])
    check(r.returncode == 0 and len(stored_keys(p("one.h5"))) == 2,
          "the axis with one of the two files: 2 runs stored (%d)" % r.returncode)

    ep = sweep("ep.json", train=dict(TRAIN, epochs="$ep"), grid={"ep": [1, 2], "f": [2]})
    for extra in ([], ["--dry-run"]):
        r = run(["sweep", ep, "-o", p("ep.h5"), "--epochs", "1"] + extra)
        check(refused(r, p("ep.h5"), ["v0000", "v0001"], "--epochs 1 replaced train.epochs"),
              "--epochs 1 over an epochs axis%s: exit 2 naming v0000, v0001 and --epochs (%d: %s)"
              % (" (--dry-run)" if extra else "", r.returncode, r.stderr.strip()[-300:]))
    r = run(["sweep", ep, "-o", p("ep.h5")])
    keys = stored_keys(p("ep.h5")) if r.returncode == 0 else []
    check(len(keys) == 2, "the same sweep without --epochs: 2 runs under 2 keys (%d)" % r.returncode)

    sh = sweep("sh.json", train=dict(TRAIN, epochs="$ep"), grid={"ep": [1, 2], "f": [2]},
               search={"type": "successive_halving", "min_epochs": 1, "max_epochs": 2, "eta": 2})
    r = run(["sweep", sh, "-o", p("sh.h5")])
    check(refused(r, p("sh.h5"), ["v0000", "v0001"], "search.max_epochs 2 replaced train.epochs"),
          "a halving search over an epochs axis: exit 2 naming the variants and max_epochs (%d: %s)"
          % (r.returncode, r.stderr.strip()[-300:]))
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
