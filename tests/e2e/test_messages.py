#!/usr/bin/python3
"""e2e: messages that state what the input holds and name the right key or file.

- A dataset's n_classes of 2^40 (int64) or 2^64-1 (uint64) is quoted as stored with its
  real bound, 1..2147483647 (it read "must be >= 1", and 2^64-1 as 9223372036854775807);
  class labels of 2^32+1 (int64) and 2^64-1 (uint64) are quoted as stored (they read
  2147483647, the saturated int).
- A validation fraction that leaves no training row names the key the spec used:
  train.validation.split (stratified) or train.validation_split.
- predict --split validation on a spec without a validation split names the spec file.
- data toy --noise reads decimal numbers only, like data ucr (0x10 was read as 16), and
  states the bound (1e39: "a number >= 0").
- predict on a model without attention says it has no attention maps ("attention maps of
  3"); with attention it counts them.
- scripts/search_analysis.py on a grid whose runs early stopping ended says so (it called
  the grid "a search's" results).
Skips (exit 77) without numpy/h5py."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, ENV, Checks, need_h5py, temp_dir  # noqa: E402

h5py, np = need_h5py()
check = Checks(verbose=True)
TMP, j = temp_dir("attnsweep-messages-")
SRC = os.environ.get("ATTNSWEEP_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600, env=ENV, cwd=TMP)


def expect(args, rc, want, what):
    r = run(*args)
    check(r.returncode == rc and want in (r.stdout + r.stderr),
          f"{what}: exit {rc} with '{want}' ({r.returncode}: {(r.stdout + r.stderr).strip()[-220:]})")
    return r


def cls_data(name, n_classes=2, labels=None, ldtype=np.int32, kdtype=np.int32):
    with h5py.File(j(name), "w") as f:
        f["train/x"] = np.random.default_rng(0).standard_normal((20, 8, 1)).astype(np.float32)
        y = (np.arange(20) % 2).astype(ldtype)
        if labels is not None:
            y[1] = labels
        f["train/y"] = y
        f.attrs["task"] = "classification"
        f.attrs["n_classes"] = np.array(n_classes, kdtype)


def dataset_checks():
    for name, kw, want in [
            ("k40.h5", dict(n_classes=2 ** 40, kdtype=np.int64), "n_classes = 1099511627776 must be in 1..2147483647"),
            ("k64.h5", dict(n_classes=2 ** 64 - 1, kdtype=np.uint64), "n_classes = 18446744073709551615 must be in 1..2147483647"),
            ("k0.h5", dict(n_classes=0), "n_classes = 0 must be in 1..2147483647"),
            ("l33.h5", dict(labels=2 ** 32 + 1, ldtype=np.int64), "/train/y: label 4294967297 of series 1 is outside 0..1"),
            ("lneg.h5", dict(labels=-(2 ** 40), ldtype=np.int64), "/train/y: label -1099511627776 of series 1"),
            ("l64.h5", dict(labels=2 ** 64 - 1, ldtype=np.uint64), "/train/y: label 18446744073709551615 of series 1"),
    ]:
        cls_data(name, **kw)
        expect(["data", "info", name], 2, want, f"data info {name}")
    cls_data("u8.h5", ldtype=np.uint8, kdtype=np.uint8)
    r = run("data", "info", "u8.h5")
    check(r.returncode == 0, f"uint8 labels and n_classes are read (exit {r.returncode}: {r.stderr[-200:]})")


def spec_checks():
    cls_data("c.h5")
    model = [{"type": "conv1d", "filters": 2, "kernel_size": 3}, {"type": "global_average_pooling1d"},
             {"type": "dense", "units": "n_classes"}]
    for name, train, want in [
            ("strat.json", {"validation": {"split": 0.999, "mode": "stratified"}}, "train.validation.split: 0.999 of 20 rows"),
            ("obj.json", {"validation": {"split": 0.999}}, "train.validation.split: 0.999 of 20 rows"),
            ("flat.json", {"validation_split": 0.999}, "train.validation_split: 0.999 of 20 rows")]:
        with open(j(name), "w") as fh:
            json.dump({"data": "c.h5", "model": model, "train": dict(train, epochs=1, batch_size=10)}, fh)
        expect(["train", name], 2, want, f"train {name}")
        r = run("train", name)
        check(("train.validation_split" in r.stderr) == (name == "flat.json"),
              f"train {name}: only the key it used is named ({r.stderr.strip()[-160:]})")


def predict_checks():
    check(run("data", "toy", "--samples", "20", "--test-samples", "4", "-o", "toy.h5").returncode == 0,
          "toy data")
    conv = {"data": "toy.h5", "model": [{"type": "conv1d", "filters": 1, "kernel_size": 3}],
            "train": {"epochs": 1, "batch_size": 10}}
    att = dict(conv, model=[{"type": "conv1d", "filters": 4, "kernel_size": 3},
                            {"type": "self_attention", "num_heads": 1, "key_dim": 2},
                            {"type": "conv1d", "filters": 1, "kernel_size": 1}])
    for name, spec in (("conv.json", conv), ("att.json", att)):
        with open(j(name), "w") as fh:
            json.dump(spec, fh)
        check(run("train", name, "--save-weights", name + ".w.h5").returncode == 0, f"train {name}")
    expect(["predict", "conv.json", "--weights", "conv.json.w.h5", "--split", "validation", "-o", "p.h5"],
           2, "conv.json: the spec has no validation split", "predict --split validation without one")
    r = expect(["predict", "conv.json", "--weights", "conv.json.w.h5", "-o", "p1.h5"], 0,
               "no attention layer: no attention maps", "predict without attention")
    check("attention maps of" not in r.stdout, f"no 'attention maps of' count: {r.stdout.strip()}")
    expect(["predict", "att.json", "--weights", "att.json.w.h5", "-o", "p2.h5"], 0,
           "predictions of 4 test series, attention maps of 3", "predict with attention")


def noise_checks():
    for v in ("0x10", "1e39", "inf", "nan", "-1", "1,5", ""):
        expect(["data", "toy", "--noise", v, "-o", "n.h5"], 2,
               f"--noise must be a decimal number in 0..1e30, got '{v}'", f"data toy --noise {v!r}")
    check(not os.path.exists(j("n.h5")), "no file written for a bad --noise")
    expect(["data", "toy", "--samples", "2", "--test-samples", "0", "--noise", "5e-2", "-o", "n.h5"], 0,
           "noise 0.05", "data toy --noise 5e-2")


def analysis_checks():
    with open(j("es.json"), "w") as fh:
        json.dump({"data": "toy.h5", "model": [{"type": "conv1d", "filters": "$f", "kernel_size": 3},
                                               {"type": "conv1d", "filters": 1, "kernel_size": 1}],
                   "train": {"epochs": 4, "batch_size": 10, "validation_split": 0.25,
                             "early_stopping": {"patience": "$p", "min_delta": 1e9}},
                   "grid": {"f": [1, 2], "p": [0, 9]}}, fh)
    r = run("sweep", "es.json", "-o", "es.h5", "--threads", "1")
    if not check(r.returncode == 0, f"a grid with early stopping: {r.stderr[-200:]}"):
        return
    p = subprocess.run([sys.executable, os.path.join(SRC, "scripts", "search_analysis.py"), "es.h5",
                        "--min-epochs", "1"],
                       capture_output=True, text=True, timeout=120, cwd=TMP)
    check(p.returncode == 2 and "early stopping ended it" in p.stderr and "a search's" not in p.stderr,
          f"search_analysis.py on it: exit 2, early stopping named ({p.returncode}: {p.stderr.strip()[-200:]})")


def main():
    dataset_checks()
    spec_checks()
    predict_checks()
    noise_checks()
    analysis_checks()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
