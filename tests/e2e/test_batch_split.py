#!/usr/bin/python3
"""e2e: train.batch_split (each rank's rows of a batch split into parts run on the rank's
threads, gradients summed in part order; src/train/fit.c).

- The split is arithmetic, not scheduling: batch_split 2 (and 3) with --threads 1 and
  --threads 2 give bitwise identical histories and weights, with dropout too (a dropout
  layer and attention dropout: masks keyed by the global row);
- its training loss is the one of `mpirun -np 2 train` with batch_split 1 (the same
  shards summed in the same order: bit for bit), val_loss within 1e-6;
- it equals batch_split 1 within 1e-5 relative per epoch (regression and
  classification, an uneven last batch, more parts than rows in a batch);
- `sweep --dry-run` counts the parts' workspaces in a variant's memory;
- evaluation batches larger than a training shard (validation and test splits) equal
  batch_split 1's within 1e-5, and a run records the thread count it was given;
- bad values (0, 257, a string) and a model with batch_normalization exit 2 naming
  train.batch_split.
Skips (77) without h5py/numpy; the mpirun case is skipped visibly without mpirun."""
import json
import os
import shutil
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"SKIP: python3 lacks numpy/h5py ({e})")
    sys.exit(77)

BIN = os.environ["ATTNSWEEP_BIN"]
MPIRUN = shutil.which("mpirun")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
ENV.pop("OPENBLAS_NUM_THREADS", None)  # --threads decides
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, temp_path  # noqa: E402
check = Checks()
tmp = temp_path("attnsweep-split-")


def path(name):
    return os.path.join(tmp, name)


def run(args, np_=0):
    cmd = ([MPIRUN, "--bind-to", "none", "-np", str(np_)] if np_ else []) + [BIN, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)


def spec(name, data, model, **kw):
    t = {"epochs": 3, "batch_size": 10, "validation_split": 0.2, "seed": 3}
    t.update(kw)
    with open(path(name), "w") as f:
        json.dump({"data": data, "model": model, "train": t}, f)
    return path(name)


def train(sp, threads, np_=0):
    h, w = path(f"h{train.n}.h5"), path(f"w{train.n}.h5")
    train.n += 1
    r = run(["train", sp, "--threads", str(threads), "--history", h, "--save-weights", w], np_)
    if not check(r.returncode == 0, f"train {sp} threads {threads} np {np_}: {r.stderr}"):
        return None
    with h5py.File(h, "r") as f:
        hist = {k: f[k][()] for k in f.keys()}
        hist.update({f"@{k}": v for k, v in f.attrs.items()})
    wts = {}
    with h5py.File(w, "r") as f:
        f.visititems(lambda n, o: wts.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return hist, wts


train.n = 0


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30)))


r = run(["data", "toy", "--samples", "29", "--test-samples", "0", "-o", path("toy.h5")])
if not check(r.returncode == 0, f"data toy: {r.stderr}"):
    sys.exit(check.summary())
rng = np.random.RandomState(7)
with open(path("cls_TRAIN.tsv"), "w") as f:
    for i in range(31):
        s = np.sin(np.arange(30) * (0.2 + 0.3 * (i % 3))) + 0.3 * rng.randn(30)
        f.write(f"{i % 3 + 1}\t" + "\t".join(f"{v:.6g}" for v in s) + "\n")
r = run(["data", "ucr", "--train", path("cls_TRAIN.tsv"), "-o", path("cls.h5")])
if not check(r.returncode == 0, f"data ucr: {r.stderr}"):
    sys.exit(check.summary())

REG = [{"type": "conv1d", "filters": 8, "kernel_size": 5, "activation": "relu"},
       {"type": "dropout", "rate": 0.3},
       {"type": "self_attention", "num_heads": 2, "key_dim": 4, "dropout": 0.2},
       {"type": "conv1d", "filters": 1, "kernel_size": 3}]
CLS = [{"type": "conv1d", "filters": 8, "kernel_size": 5, "activation": "relu"},
       {"type": "residual_conv1d", "kernel_size": 3, "activation": "relu"},
       {"type": "self_attention", "num_heads": 2, "key_dim": 4},
       {"type": "global_average_pooling1d"}, {"type": "dense", "units": 3}]
ADAM = {"type": "adam", "learning_rate": 0.01}

# ---- thread count does not change the arithmetic; batch_split 1 is the reference
for name, data, model, kw in [("reg", "toy.h5", REG, {}),
                              ("cls", "cls.h5", CLS, {"optimizer": ADAM}),
                              ("cls_b4", "cls.h5", CLS, {"optimizer": ADAM, "batch_size": 4})]:
    ref = train(spec(f"{name}_1.json", data, model, **kw), 1)
    for parts in (2, 3, 5):
        sp = spec(f"{name}_{parts}.json", data, model, batch_split=parts, **kw)
        one, two = train(sp, 1), train(sp, 2)
        if not (ref and one and two):
            continue
        for k in ("loss", "val_loss"):
            check(np.array_equal(one[0][k], two[0][k]),
                  f"{name} split {parts}: {k} differs between 1 and 2 threads: "
                  f"{one[0][k]} vs {two[0][k]}")
            e = rel(one[0][k], ref[0][k])
            check(e <= 1e-5, f"{name} split {parts}: {k} {one[0][k]} vs split 1 {ref[0][k]} "
                  f"(rel {e:.1e})")
        check(all(np.array_equal(one[1][k], two[1][k]) for k in one[1]),
              f"{name} split {parts}: weights differ between 1 and 2 threads")
        check(ref[0]["loss"][-1] < ref[0]["loss"][0], f"{name}: the loss does not decrease")

# ---- evaluation batches larger than a training shard (batch 32 > 10 training rows; the
# test split evaluated in batches of 20) and the recorded thread count
r = run(["data", "toy", "--samples", "20", "--test-samples", "30", "-o", path("toyt.h5")])
check(r.returncode == 0, f"data toy with a test split: {r.stderr}")
REG_T = [REG[0], REG[2], REG[3]]
ref = train(spec("t_1.json", "toyt.h5", REG_T, batch_size=32, validation_split=0.5), 2)
sp = spec("t_2.json", "toyt.h5", REG_T, batch_size=32, validation_split=0.5, batch_split=2)
one, two = train(sp, 1), train(sp, 2)
if ref and one and two:
    for k in ("val_loss", "@test_loss"):
        check(np.array_equal(one[0][k], two[0][k]), f"test split: {k} differs between 1 and 2 threads")
        e = rel(two[0][k], ref[0][k])
        check(e <= 1e-5, f"test split: {k} {two[0][k]} vs split 1 {ref[0][k]} (rel {e:.1e})")
    check(two[0]["@threads"] == 2 and one[0]["@threads"] == 1,
          f"recorded threads: {one[0]['@threads']} and {two[0]['@threads']} (want 1 and 2)")

# ---- batch_split 2 on one rank is the arithmetic of two data-parallel ranks
if MPIRUN:
    sp1 = spec("dp_1.json", "toy.h5", REG)
    sp2 = spec("dp_2.json", "toy.h5", REG, batch_split=2)
    a, b = train(sp2, 2), train(sp1, 1, np_=2)
    if a and b:
        check(np.array_equal(a[0]["loss"], b[0]["loss"]),
              f"split 2 vs 2 ranks: loss {a[0]['loss']} vs {b[0]['loss']}")
        e = rel(a[0]["val_loss"], b[0]["val_loss"])
        check(e <= 1e-6, f"split 2 vs 2 ranks: val_loss rel {e:.1e}")
else:
    print("SKIP (visible): no mpirun, batch_split vs data-parallel ranks not checked")

# ---- sweep --dry-run counts the parts' workspaces in a variant's memory
sw = {"data": "cls.h5", "model": CLS, "grid": {"parts": [1, 4]},
      "train": {"epochs": 1, "batch_size": 16, "batch_split": "$parts"}}
with open(path("sw.json"), "w") as f:
    json.dump(sw, f)
r = run(["sweep", path("sw.json"), "--dry-run"])
mem = {}
for line in r.stdout.splitlines():
    parts_ = line.split()
    unit = {"bytes": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}
    if len(parts_) >= 6 and parts_[1].startswith("parts=") and parts_[-1] in unit:
        mem[parts_[1]] = float(parts_[-2]) * unit[parts_[-1]]
check(r.returncode == 0 and len(mem) == 2 and mem["parts=4"] > mem["parts=1"],
      f"dry-run memory with 4 parts above 1 part: {mem} ({r.stdout!r} {r.stderr!r})")

# ---- bad values name the key, exit 2, write nothing
BN = [{"type": "conv1d", "filters": 4, "kernel_size": 3}, {"type": "batch_normalization"},
      {"type": "conv1d", "filters": 1, "kernel_size": 3}]
for label, model, val in [("zero", REG, 0), ("too many", REG, 257), ("string", REG, "2"),
                          ("batch norm", BN, 2)]:
    sp = spec(f"bad_{label.replace(' ', '_')}.json", "toy.h5", model, batch_split=val)
    out = path(f"bad_{label.replace(' ', '_')}_h.h5")
    r = run(["train", sp, "--threads", "2", "--history", out])
    check(r.returncode == 2 and "batch_split" in r.stderr and not os.path.exists(out),
          f"batch_split {label}: exit {r.returncode}, stderr {r.stderr.strip()!r}")

sys.exit(check.summary())
