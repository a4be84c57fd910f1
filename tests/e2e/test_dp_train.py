#!/usr/bin/python3
"""e2e: data-parallel `mpirun -np P attnsweep train` (issue 5).

Against the single-process run of the same spec as the reference (P = 1 is the plain
Keras-style fit that tests/unit checks against PyTorch):
- P = 2, 3 give loss / val_loss (and accuracy / val_accuracy for a classifier) equal
  to P = 1 within relative 1e-5 per epoch, on a regression and a classification task,
  with an uneven last batch (23 training rows, batch 10) and batches smaller than P;
- the final weights (--save-weights) equal P = 1's within float rounding;
- also with batch normalization (synchronised: statistics reduced over the ranks,
  moving statistics equal too), including batch 1 (ranks without rows);
- also with dropout (a dropout layer at 0.3, attention dropout 0.2): masks are keyed
  by the global sample index, so P = 2, 3 equal P = 1, and the dropout changes the loss;
- overlapped and --no-overlap allreduce, and bucket sizes of 1 KiB (many buckets)
  and the default (one bucket), give bitwise identical histories;
- the start-weights checksum is printed once and agreed by all ranks;
- a huge SGD learning rate diverges on every rank together: exit 3, one "diverged"
  message, history status "diverged", no hang (timeouts);
- only rank 0 writes --history / --save-weights; a bad spec exits 2 with one message,
  also when only one rank fails to load its data (no hang).
Skips (77) without h5py/numpy or mpirun."""
import glob
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
if not MPIRUN:
    print("SKIP: no mpirun")
    sys.exit(77)
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
TIMEOUT = 120
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, temp_path  # noqa: E402
check = Checks()


def train(P, spec, *args):
    cmd = [MPIRUN, "--bind-to", "none", "-np", str(P), BIN, "train", spec, "--threads", "1",
           *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=ENV)
    except subprocess.TimeoutExpired:
        check(False, f"timeout (hang?) after {TIMEOUT}s: {' '.join(cmd)}")
        return None


def read_history(path):
    with h5py.File(path, "r") as f:
        h = {k: f[k][()] for k in f.keys()}
        h["status"] = f.attrs["status"]
        h["message"] = f.attrs["message"]
    for k in ("status", "message"):
        if isinstance(h[k], bytes):
            h[k] = h[k].decode()
    return h


def read_weights(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30))) if a.size else 0.0


tmp = temp_path("attnsweep-dp-")


def path(name):
    return os.path.join(tmp, name)


def write_spec(name, data, model, **train_kw):
    t = {"epochs": 3, "batch_size": 10, "validation_split": 0.2, "seed": 1, "shuffle": True}
    t.update(train_kw)
    import json
    with open(path(name), "w") as f:
        json.dump({"data": data, "model": model, "train": t}, f)
    return path(name)


# ---- data: toy regression (29 rows -> 23 train + 6 val) and a 3-class UCR fixture
r = subprocess.run([BIN, "data", "toy", "--samples", "29", "--test-samples", "0", "-o",
                    path("toy.h5")], capture_output=True, text=True)
if not check(r.returncode == 0, f"data toy: {r.stderr}"):
    sys.exit(1)
rng = np.random.RandomState(5)
rows = []
for i in range(31):
    k = i % 3
    t = np.arange(30)
    s = np.sin(t * (0.2 + 0.3 * k)) + 0.3 * rng.randn(30)
    rows.append(f"{k + 1}\t" + "\t".join(f"{v:.6g}" for v in s))
with open(path("cls_TRAIN.tsv"), "w") as f:
    f.write("\n".join(rows) + "\n")
r = subprocess.run([BIN, "data", "ucr", "--train", path("cls_TRAIN.tsv"), "-o", path("cls.h5")],
                   capture_output=True, text=True)
if not check(r.returncode == 0, f"data ucr: {r.stderr}"):
    sys.exit(1)

REG_MODEL = [{"type": "conv1d", "filters": 8, "kernel_size": 5, "activation": "relu"},
             {"type": "self_attention", "num_heads": 2, "key_dim": 4},
             {"type": "conv1d", "filters": 1, "kernel_size": 3}]
CLS_MODEL = [{"type": "conv1d", "filters": 8, "kernel_size": 5, "activation": "relu"},
             {"type": "self_attention", "num_heads": 2, "key_dim": 4},
             {"type": "global_average_pooling1d"}, {"type": "dense", "units": 3}]
# deeper: several layers with parameters, so that --bucket-kb 1 makes several buckets
DEEP_MODEL = [{"type": "conv1d", "filters": 16, "kernel_size": 5, "activation": "relu"},
              {"type": "self_attention", "num_heads": 2, "key_dim": 8},
              {"type": "conv1d", "filters": 16, "kernel_size": 3, "activation": "relu"},
              {"type": "self_attention", "num_heads": 2, "key_dim": 8},
              {"type": "conv1d", "filters": 1, "kernel_size": 3}]

# dropout (a dropout layer and attention-probability dropout): counter-based masks keyed
# by the global sample index, so every P draws the same masks for the same rows. Same
# parameters (and so the same initial weights) as REG_MODEL / CLS_MODEL.
DROP_MODEL = [REG_MODEL[0], {"type": "dropout", "rate": 0.3},
              dict(REG_MODEL[1], dropout=0.2), REG_MODEL[2]]
CLS_DROP_MODEL = [CLS_MODEL[0], {"type": "dropout", "rate": 0.3},
                  dict(CLS_MODEL[1], dropout=0.2), CLS_MODEL[2], CLS_MODEL[3]]

# batch normalization: the batch statistics (and their gradients) are reduced over the
# ranks (synchronised), so P = 2, 3 equal P = 1, moving statistics included; batch 1
# leaves ranks with no rows, which still take part in the reductions. SGD: the bias of a
# conv before a batch norm has an exact gradient of 0 (the norm removes it), and Adam
# would turn its rounding noise into full steps (as with key_bias below).
BN_MODEL = [{"type": "conv1d", "filters": 8, "kernel_size": 5},
            {"type": "batch_normalization"}, {"type": "activation", "activation": "relu"},
            {"type": "conv1d", "filters": 1, "kernel_size": 3}]
CLS_BN_MODEL = [{"type": "conv1d", "filters": 8, "kernel_size": 5},
                {"type": "batch_normalization", "momentum": 0.9},
                {"type": "activation", "activation": "relu"},
                {"type": "global_average_pooling1d"}, {"type": "batch_normalization", "center": False},
                {"type": "dense", "units": 3}]

cases = {
    "reg_bn": write_spec("reg_bn.json", "toy.h5", BN_MODEL, optimizer={"type": "sgd"}),
    "cls_bn": write_spec("cls_bn.json", "cls.h5", CLS_BN_MODEL, epochs=3,
                         optimizer={"type": "sgd", "learning_rate": 0.05}),
    "cls_bn_b1": write_spec("cls_bn_b1.json", "cls.h5", CLS_BN_MODEL, epochs=2, batch_size=1,
                            optimizer={"type": "sgd", "learning_rate": 0.02}),
    "reg": write_spec("reg.json", "toy.h5", REG_MODEL),
    "reg_drop": write_spec("reg_drop.json", "toy.h5", DROP_MODEL),
    "cls_drop": write_spec("cls_drop.json", "cls.h5", CLS_DROP_MODEL, epochs=3,
                           optimizer={"type": "adam", "learning_rate": 0.01}),
    "cls": write_spec("cls.json", "cls.h5", CLS_MODEL, epochs=4, optimizer={"type": "adam", "learning_rate": 0.01}),
    "reg_b2": write_spec("reg_b2.json", "toy.h5", REG_MODEL, epochs=2, batch_size=2),
    "cls_b1": write_spec("cls_b1.json", "cls.h5", CLS_MODEL, epochs=2, batch_size=1),
    "reg_noshuffle": write_spec("reg_ns.json", "toy.h5", REG_MODEL, epochs=2, batch_size=7, shuffle=False),
}

# ---- equivalence with P = 1
for name, spec in cases.items():
    ref = None
    for P in (1, 2, 3):
        h5, w5 = path(f"{name}_h{P}.h5"), path(f"{name}_w{P}.h5")
        r = train(P, spec, "--history", h5, "--save-weights", w5)
        if r is None or not check(r.returncode == 0, f"{name} P={P}: exit {r.returncode}: {r.stderr}"):
            continue
        h, w = read_history(h5), read_weights(w5)
        check(h["status"] == "ok", f"{name} P={P}: status {h['status']}")
        check(np.all(np.isfinite(h["loss"])) and np.all(np.isfinite(h["val_loss"])),
              f"{name} P={P}: non-finite curves")
        if P == 1:
            ref = (h, w)
            # the task must be learnt a little, otherwise equal curves say little
            check(h["loss"][-1] < h["loss"][0], f"{name}: loss does not decrease {h['loss']}")
            continue
        if ref is None:
            continue
        rh, rw = ref
        for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
            if key not in rh:
                check(key not in h, f"{name} P={P}: unexpected {key}")
                continue
            check(len(h[key]) == len(rh[key]), f"{name} P={P}: {key} has {len(h[key])} epochs")
            e = rel(h[key], rh[key])
            check(e <= 1e-5, f"{name} P={P}: {key} {h[key]} vs P=1 {rh[key]} (rel {e:.2e})")
        check(sorted(w) == sorted(rw), f"{name} P={P}: weight datasets {sorted(w)}")
        # key_bias is left out: softmax is invariant to it, so its exact gradient is 0
        # and what it receives is rounding noise, which Adam normalises to full steps.
        for k in rw:
            if name.startswith(("reg_bn", "cls_bn")) and k == "weights/layer_0/bias":
                # before a batch norm: gradient 0 in exact arithmetic, so only rounding
                # noise moves it; it must stay ~0 on every P
                check(float(np.max(np.abs(w[k]))) < 1e-5, f"{name} P={P}: {k} = {w[k]}")
                continue
            if k in w and not k.endswith("key_bias"):
                e = float(np.max(np.abs(w[k] - rw[k]))) / max(float(np.max(np.abs(rw[k]))), 1e-30)
                check(e <= 1e-4, f"{name} P={P}: weights {k} differ from P=1 (rel {e:.2e})")
        if name.startswith("cls"):
            check("accuracy" in h and "val_accuracy" in h, f"{name} P={P}: accuracy missing")

# dropout is really on: same initial weights as without dropout, different training loss
# (validation runs without dropout, so the first-epoch difference comes from the masks)
if all(os.path.exists(path(f"{n}_h1.h5")) for n in ("reg", "reg_drop")):
    l0, l1 = read_history(path("reg_h1.h5"))["loss"], read_history(path("reg_drop_h1.h5"))["loss"]
    check(rel(l1[:1], l0[:1]) > 1e-3, f"dropout has no effect on the loss: {l1} vs {l0}")

# ---- overlap / no-overlap / bucket sizes: bitwise identical histories
deep = write_spec("deep.json", "toy.h5", DEEP_MODEL, epochs=2)
for P in (2, 3):
    hs = {}
    for tag, args in (("overlap", []), ("blocking", ["--no-overlap"]),
                      ("kb1", ["--bucket-kb", "1"]), ("kb1_blocking", ["--bucket-kb", "1", "--no-overlap"])):
        h5, w5 = path(f"deep_{tag}_{P}.h5"), path(f"deep_{tag}_w{P}.h5")
        r = train(P, deep, "--history", h5, "--save-weights", w5, *args)
        if r is None or not check(r.returncode == 0, f"deep {tag} P={P}: {r.stderr}"):
            continue
        hs[tag] = (read_history(h5), read_weights(w5))
    if "overlap" not in hs:
        continue
    bh, bw = hs["overlap"]
    for tag, (h, w) in hs.items():
        for key in ("loss", "val_loss"):
            check(np.array_equal(h[key], bh[key]), f"deep P={P}: {tag} {key} {h[key]} != overlap {bh[key]}")
        for k in bw:
            check(np.array_equal(w[k], bw[k]), f"deep P={P}: {tag} weights {k} not bitwise equal")

# ---- start-weights checksum: one line from rank 0, on the ranks' agreement
r = train(3, cases["reg"], "--epochs", "1")
if r is not None:
    lines = [l for l in r.stdout.splitlines() if "start weights" in l]
    check(len(lines) == 1 and "identical on 3 ranks" in lines[0],
          f"checksum line: {lines!r} (stdout {r.stdout!r})")
    check(r.stdout.count("epoch   1/1") == 1, f"only rank 0 prints epochs: {r.stdout!r}")

# ---- divergence agreed by every rank
div = write_spec("div.json", "toy.h5", REG_MODEL, optimizer={"type": "sgd", "learning_rate": 1e6})
for P in (1, 2, 3):
    h5, w5 = path(f"div_h{P}.h5"), path(f"div_w{P}.h5")
    r = train(P, div, "--history", h5, "--save-weights", w5)
    if r is None:
        continue
    check(r.returncode == 3, f"diverged P={P}: exit {r.returncode} (want 3): {r.stderr}")
    msgs = [l for l in r.stderr.splitlines() if "diverged" in l and "attnsweep" in l]
    check(len(msgs) == 1, f"diverged P={P}: want one message, got {msgs!r}")
    if check(os.path.exists(h5), f"diverged P={P}: no history"):
        h = read_history(h5)
        check(h["status"] == "diverged" and "non-finite" in h["message"], f"diverged P={P}: {h}")
        check(not np.isfinite(h["loss"][-1]), f"diverged P={P}: last loss {h['loss']}")
    check(not os.path.exists(w5), f"diverged P={P}: weights written")
# every rank stops at the same batch: same message as one process
if all(os.path.exists(path(f"div_h{P}.h5")) for P in (1, 2, 3)):
    ms = [read_history(path(f"div_h{P}.h5"))["message"] for P in (1, 2, 3)]
    check(len(set(ms)) == 1, f"divergence point differs across P: {ms}")

# ---- only rank 0 writes: no leftovers, files valid (read above); bad spec
left = [os.path.basename(p) for p in glob.glob(path("*.tmp.*"))]
check(not left, f"temporary files left: {left}")
with open(path("bad.json"), "w") as f:
    f.write('{"data": "toy.h5", "model": [{"type": "conv1d", "filters": 0, "kernel_size": 3}],'
            ' "train": {"epochs": 1, "batch_size": 4}}')
for P in (2, 3):
    r = train(P, path("bad.json"), "--history", path("bad_h.h5"))
    if r is None:
        continue
    check(r.returncode == 2, f"bad spec P={P}: exit {r.returncode} (want 2)")
    msgs = [l for l in r.stderr.splitlines() if l.startswith("attnsweep")]
    check(len(msgs) == 1 and "filters" in msgs[0], f"bad spec P={P}: messages {msgs!r}")
    check(not os.path.exists(path("bad_h.h5")), f"bad spec P={P}: history written")
r = train(2, path("missing.json"))
if r is not None:
    msgs = [l for l in r.stderr.splitlines() if l.startswith("attnsweep")]
    check(r.returncode == 2 and len(msgs) == 1, f"missing spec: exit {r.returncode}, {msgs!r}")

# a failure on one rank only must not leave the other ranks waiting: an MPMD launch giving
# some ranks another spec than rank 0 is refused, exit 2, one message naming both files
# (a rank failing alone on its host's files is tested across hosts in tests/cluster)
with open(path("nodata.json"), "w") as f:
    f.write('{"data": "nope.h5", "model": [{"type": "conv1d", "filters": 1, "kernel_size": 3}],'
            ' "train": {"epochs": 1, "batch_size": 4}}')
for layout in ((1, cases["reg"], 2, path("nodata.json")), (1, path("nodata.json"), 2, cases["reg"])):
    n0, s0, n1, s1 = layout
    cmd = [MPIRUN, "--bind-to", "none", "-np", str(n0), BIN, "train", s0, "--threads", "1", ":",
           "-np", str(n1), BIN, "train", s1, "--threads", "1"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=ENV)
    except subprocess.TimeoutExpired:
        check(False, f"one rank failing alone hangs: {' '.join(cmd)}")
        continue
    msgs = [l for l in r.stderr.splitlines() if l.startswith("attnsweep")]
    check(r.returncode == 2 and len(msgs) == 1 and "nodata.json" in msgs[0] and
          "differs from rank 0" in msgs[0],
          f"one rank failing alone: exit {r.returncode}, messages {msgs!r}")

sys.exit(check.summary())
