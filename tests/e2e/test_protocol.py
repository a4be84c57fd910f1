#!/usr/bin/python3
"""e2e: a sweep run reproduced on its own, and Keras-style predict / evaluate.

On a small class-sorted classification set (like the archive's SyntheticControl TRAIN
file) with a test split, a sweep with a stratified validation split, early stopping,
keep best and saved weights; then:
- every run has its own seed; two repeats' seeds give different shuffle orders (the same
  start weights, no dropout: only the order differs);
- `export --run` + `train` reproduce the run bit for bit (curves, learning rates, kept
  weights, test metrics), also exported from another directory, for a run that averages
  its weights (use_ema) too;
- `export --best` picks the best val_accuracy (ties by val_loss), never test;
- `predict` equals the sweep's dumps (probabilities, attention maps, targets) and
  `evaluate` the run's test_loss/test_accuracy and its val_loss at the kept epoch;
- the stratified validation rows hold each class's share;
- summary sorts by test_accuracy and prints the test columns in --csv;
- bad flags and inputs exit 2 naming the run, file or flag, writing nothing.
Skips (exit 77) without numpy/h5py."""
import json
import os
import re
import shutil
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"SKIP: python3 lacks numpy/h5py ({e})")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, temp_path  # noqa: E402

BIN = os.path.abspath(os.environ.get("ATTNSWEEP_BIN", "build/attnsweep"))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
check = Checks(verbose=True)
TMP = temp_path("attnsweep-protocol-")


def j(name):
    return os.path.join(TMP, name)


def run(*args, cwd=TMP, env=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600, env=env or ENV,
                          cwd=cwd)


def make_data(path, counts=(14, 10, 6), n_test=24, T=32, seed=0):
    """Three shapes (sine, square, ramp) plus noise; /train sorted by class."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, T)

    def series(k, n):
        base = [np.sin(2 * np.pi * 2 * t), np.sign(np.sin(2 * np.pi * 3 * t)), 2 * t - 1][k]
        return base[None, :] + 0.6 * rng.standard_normal((n, T))
    xs = [series(k, c) for k, c in enumerate(counts)]
    ys = [np.full(c, k, np.int32) for k, c in enumerate(counts)]
    tl = rng.integers(0, 3, n_test).astype(np.int32)
    tx = np.stack([series(k, 1)[0] for k in tl])
    with h5py.File(path, "w") as f:
        f.attrs["task"] = "classification"
        f.attrs["n_classes"] = np.int32(3)
        f["train/x"] = np.concatenate(xs)[:, :, None].astype(np.float32)
        f["train/y"] = np.concatenate(ys)
        f["test/x"] = tx[:, :, None].astype(np.float32)
        f["test/y"] = tl


def curves(path_or_group):
    g = path_or_group
    return {k: g[k][()] for k in ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate")}


def weights(path, group="weights"):
    out = {}
    with h5py.File(path, "r") as f:
        f[group].visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def same_weights(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


SWEEP = {
    "data": "cls.h5",
    "model": [{"type": "conv1d", "filters": 6, "kernel_size": 5, "activation": "relu"},
              {"type": "self_attention", "num_heads": 2, "key_dim": 4},
              {"type": "global_average_pooling1d"},
              {"type": "dense", "units": 3}],
    "train": {"epochs": 14, "batch_size": 8,
              "validation": {"split": 0.3, "mode": "stratified", "seed": 4},
              "optimizer": "$opt",
              "early_stopping": {"patience": 3}},
    # v0001 (exported, predicted and evaluated below) averages its weights (use_ema)
    "grid": {"opt": [{"type": "adam", "learning_rate": 0.003},
                     {"type": "adam", "learning_rate": 0.01, "use_ema": True, "ema_momentum": 0.9}]},
    "repeats": 2, "seed": 7, "save_weights": True,
    "attention_samples": 2, "prediction_samples": 24,
}


def main():
    make_data(j("cls.h5"))
    with open(j("sw.json"), "w") as fh:
        json.dump(SWEEP, fh)
    r = run("sweep", "sw.json", "-o", "res.h5", "--threads", "1")
    check(r.returncode == 0, f"sweep exits 0 {r.stderr[-200:]}")
    res = h5py.File(j("res.h5"), "r")
    # groups are named by run key; the tests name runs by their label v<id>_r<repeat>
    by_label = {"v%04d_r%d" % (g.attrs["id"], g.attrs["repeat"]): k for k, g in res["variants"].items()}
    runs = sorted(by_label)
    seeds = {k: res["variants"][by_label[k]].attrs["seed"] for k in runs}
    check(len(set(seeds.values())) == len(runs), f"every run has its own seed ({len(runs)} runs)")

    # 30 rows, validation 30 - floor(30 * 0.7) = 9: shares 9*14/30 = 4.2, 9*10/30 = 3,
    # 9*6/30 = 1.8 -> 4, 3, 1 and the remainder to class 2 (0.8 > 0.2): 4, 3, 2
    g0 = res["variants"][by_label["v0000_r0"]]
    val = json.loads(g0.attrs["validation"])
    check(val["mode"] == "stratified" and val["n_val"] == 9 and val["n_train"] == 21,
          f"the split is recorded with the run: {g0.attrs['validation']}")

    # export --run from another directory: the data path resolves from the results' folder
    r = run("export", j("res.h5"), "--run", "v0001_r1", "-o", j("e11.json"), "--weights", j("e11_w.h5"), cwd="/")
    check(r.returncode == 0 and "v0001_r1" in r.stdout, f"export --run from / exits 0 {r.stderr}")
    spec = json.load(open(j("e11.json")))
    check(os.path.isabs(spec["data"]) and os.path.exists(spec["data"]) and
          spec["train"]["seed"] == seeds["v0001_r1"] and spec["train"]["keep"] == "best",
          "the exported spec has an absolute data path that resolves, the run's seed, keep best")
    g = res["variants"][by_label["v0001_r1"]]
    check(g.attrs["threads"] == 1 and spec["train"]["threads"] == 1,
          "the run records the threads it used (sweep --threads 1) and export puts them in the spec")
    # no --threads: the spec's train.threads decides (over OPENBLAS_NUM_THREADS, set to 3 here)
    r = run("train", j("e11.json"), "--quiet", "--history", j("t11_h.h5"),
            "--save-weights", j("t11_w.h5"), cwd="/", env=dict(ENV, OPENBLAS_NUM_THREADS="3"))
    with h5py.File(j("t11_h.h5"), "r") as h:
        a, b = curves(g), curves(h)
        ha = dict(h.attrs)
    check(r.returncode == 0 and all(np.array_equal(a[k], b[k]) for k in a) and ha["threads"] == 1,
          "train on the exported spec (its train.threads, no --threads) reproduces the run's curves "
          "and learning rates bit for bit; the history records threads 1")
    check(ha["test_loss"] == g.attrs["test_loss"] and ha["test_accuracy"] == g.attrs["test_accuracy"] and
          ha["kept_epoch"] == g.attrs["kept_epoch"] and ha["stopped_epoch"] == g.attrs["stopped_epoch"],
          f"and its test metrics, kept epoch {ha['kept_epoch']} and stop {ha['stopped_epoch']}")
    check(same_weights(weights(j("t11_w.h5")), weights(j("e11_w.h5"))) and
          same_weights(weights(j("e11_w.h5")), weights(j("res.h5"), "variants/%s/weights" % by_label["v0001_r1"])),
          "and its kept weights (= export --weights = the sweep's saved weights)")

    # --threads other than the spec's: trained with --threads, and a warning says so
    r = run("train", "e11.json", "--quiet", "--threads", "2", "--epochs", "1", "--history", "t2_h.h5")
    check(r.returncode == 0 and "--threads 2 differs from train.threads 1" in r.stderr and
          h5py.File(j("t2_h.h5"), "r").attrs["threads"] == 2,
          f"train --threads 2 on a spec with train.threads 1 warns and uses 2 ({r.stderr.strip()[:120]})")
    sw = dict(SWEEP, train=dict(SWEEP["train"], threads=1))
    with open(j("swt.json"), "w") as fh:
        json.dump(sw, fh)
    r = run("sweep", "swt.json", "-o", "x.h5")
    check(r.returncode == 2 and "train.threads: a sweep sets the threads" in r.stderr and
          not os.path.exists(j("x.h5")), "a sweep refuses train.threads (exit 2 naming the key)")
    bad = dict(spec, train=dict(spec["train"], threads=0))
    with open(j("badt.json"), "w") as fh:
        json.dump(bad, fh)
    r = run("train", "badt.json", "--quiet")
    check(r.returncode == 2 and "train.threads" in r.stderr, f"train.threads 0: exit 2 ({r.stderr.strip()[:100]})")

    # groups named otherwise (run keys): --run v<id>_r<repeat> and --best find them by attributes
    shutil.copy(j("res.h5"), j("renamed.h5"))
    with h5py.File(j("renamed.h5"), "a") as f:
        for k in list(f["variants"].keys()):
            f["variants"].move(k, "key_" + k[::-1])
    r = run("export", "renamed.h5", "--run", "v0001_r1", "-o", "ren.json")
    r2 = run("export", "renamed.h5", "--best", "-o", "renb.json")
    check(r.returncode == 0 and "key_" + by_label["v0001_r1"][::-1] in r.stdout and
          json.load(open(j("ren.json"))) == spec and
          r2.returncode == 0, f"groups renamed: export finds v0001_r1 by its id and repeat {r.stderr}")

    # repeats shuffle differently: same start weights, seeds of r0 and r1, no dropout
    run("export", "res.h5", "--run", "v0000_r0", "-o", "e00.json")
    s00 = json.load(open(j("e00.json")))
    s00["train"].pop("early_stopping")
    s00["train"]["epochs"] = 2
    with open(j("e00b.json"), "w") as fh:
        json.dump(s00, fh)
    outs = []
    for k in ("v0000_r0", "v0000_r1"):
        rr = run("train", "e00b.json", "--seed", seeds[k], "--init-weights", "t11_w.h5",
                 "--threads", "1", "--quiet", "--history", f"sh_{k}.h5")
        outs.append(rr.returncode == 0 and h5py.File(j(f"sh_{k}.h5"), "r")["loss"][()])
    check(outs[0] is not False and outs[1] is not False and not np.array_equal(outs[0], outs[1]),
          "the two repeats' seeds shuffle differently (same start weights, different epoch losses)")

    # export --best: the kept model's best val_accuracy, ties by its val_loss, never test
    s = res["summary"][()]
    ok = [x for x in s if x["status"] == b"ok"]
    best = sorted(ok, key=lambda x: (-x["kept_val_accuracy"], x["kept_val_loss"], x["id"], x["repeat"]))[0]
    want = f"v{best['id']:04d}_r{best['repeat']}"
    r = run("export", "res.h5", "--best", "-o", "eb.json")
    check(r.returncode == 0 and want in r.stdout, f"export --best picks {want} by val_accuracy")
    r = run("export", "res.h5", "--best", "--by", "val_loss", "-o", "ebl.json")
    wl = min(ok, key=lambda x: (x["kept_val_loss"], x["id"], x["repeat"]))
    check(r.returncode == 0 and f"v{wl['id']:04d}_r{wl['repeat']}" in r.stdout, "export --best --by val_loss")

    # predict equals the sweep's dumps; evaluate its metrics
    r = run("predict", "e11.json", "--weights", "e11_w.h5", "--attention", "2", "-o", "p.h5", "--threads", "1")
    with h5py.File(j("p.h5"), "r") as p:
        same = all(np.array_equal(p[k][()], g[k][()]) for k in
                   ("predictions", "pred_inputs", "pred_targets", "attention/layer_1", "attention/layer_1_mean"))
        split = p.attrs["split"]
    check(r.returncode == 0 and split == "test" and same,
          "predict on test = the sweep's predictions, targets and attention maps bit for bit")
    r = run("evaluate", "e11.json", "--weights", "e11_w.h5", "--threads", "1")
    m = dict((s_, (float(l), float(a_))) for s_, l, a_ in re.findall(r"^(\w+): loss (\S+) accuracy (\S+)", r.stdout, re.M))
    kept = int(g.attrs["kept_epoch"])
    check(r.returncode == 0 and set(m) == {"train", "validation", "test"} and
          abs(m["test"][0] - g.attrs["test_loss"]) <= 1e-8 * abs(g.attrs["test_loss"]) and
          abs(m["test"][1] - g.attrs["test_accuracy"]) <= 1e-8 and
          abs(m["validation"][0] - g["val_loss"][kept - 1]) <= 1e-8 * abs(g["val_loss"][kept - 1]) and
          abs(m["validation"][1] - g["val_accuracy"][kept - 1]) <= 1e-8,
          f"evaluate = test_loss/test_accuracy and val_loss/val_accuracy at epoch {kept}: {m}")
    r = run("predict", "e11.json", "--weights", "e11_w.h5", "--split", "validation", "-o", "pv.h5")
    with h5py.File(j("pv.h5"), "r") as p:
        cnt = np.bincount(p["pred_targets"][()], minlength=3).tolist()
        rows = p["rows"][()]
    check(r.returncode == 0 and cnt == [4, 3, 2] and len(rows) == 9 and rows.max() >= 24,
          f"the stratified validation rows: class counts {cnt} (4, 3, 2), not the last rows")

    r = run("summary", "res.h5", "--sort", "test_accuracy")
    r2 = run("summary", "res.h5", "--csv")
    check(r.returncode == 0 and "test accuracy" in r.stdout and r2.returncode == 0 and
          "test_accuracy_mean" in r2.stdout.splitlines()[0], "summary sorts by test_accuracy; --csv has it")

    # bad inputs: exit 2 naming what is wrong, nothing written
    # results and dataset moved together: the data resolves next to the results
    os.makedirs(j("moved"))
    shutil.copy(j("res.h5"), j("moved/res.h5"))
    shutil.copy(j("cls.h5"), j("moved/cls.h5"))
    os.rename(j("cls.h5"), j("cls.away"))
    r = run("export", j("moved/res.h5"), "--run", "v0000_r0", "-o", j("mv.json"), cwd="/")
    check(r.returncode == 0 and json.load(open(j("mv.json")))["data"] == os.path.realpath(j("moved/cls.h5")),
          "results and data moved together: the export finds the data next to the results")
    os.remove(j("moved/cls.h5"))
    cases = [
        (("export", "res.h5", "--run", "v0099_r0", "-o", "x.json"), "no run v0099_r0"),
        (("export", "res.h5", "-o", "x.json"), "exactly one of --run KEY and --best"),
        (("export", "res.h5", "--best"), "missing -o"),
        (("export", "res.h5", "--run", "v0000_r0", "--by", "val_loss", "-o", "x.json"), "--by needs --best"),
        (("export", "res.h5", "--best", "--by", "test_accuracy", "-o", "x.json"), "--by test_accuracy"),
        (("export", "nothere.h5", "--best", "-o", "x.json"), "nothere.h5"),
        (("export", j("moved/res.h5"), "--best", "-o", j("x.json")), "does not resolve"),
        (("export", "res.h5", "--best", "--data", "toy.h5", "-o", "x.json"), "is not the dataset"),
        (("predict", "e11.json", "--weights", "e11_w.h5", "--split", "val", "-o", "x.h5"), "--split val"),
        (("predict", "e11.json", "-o", "x.h5"), "missing --weights"),
        (("predict", "e00b.json", "--weights", "sh_v0000_r0.h5", "-o", "x.h5"), "sh_v0000_r0.h5"),
        (("evaluate", "e11.json", "--weights", "e11_w.h5", "--bogus"), "unknown option '--bogus'"),
    ]
    run("data", "toy", "--samples", "10", "-o", "toy.h5")
    for args, want in cases:
        if args[1] == "res.h5" and "--data" in args:
            os.rename(j("cls.away"), j("cls.h5"))
        r = run(*args, cwd="/" if "moved" in args[1] else TMP)
        check(r.returncode == 2 and want in r.stderr and not os.path.exists(j("x.json")) and
              not os.path.exists(j("x.h5")), f"{' '.join(args[:2])} ...: exit 2, '{want}' ({r.stderr.strip()[:100]})")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
