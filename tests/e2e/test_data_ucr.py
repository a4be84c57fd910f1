#!/usr/bin/python3
"""e2e: `attnsweep data ucr` on the hand-written fixtures (tests/fixtures/ucr):
layouts, label mapping, class counts printed, merge-shuffle, and every input error
exiting 2 with the file and line named and no output file left behind."""
import os
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:
    print(f"SKIP: python3 lacks numpy/h5py ({e})")
    sys.exit(77)

BIN = os.environ["ATTNSWEEP_BIN"]
FX = os.path.join(os.environ["ATTNSWEEP_FIXTURES"], "ucr")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, temp_path  # noqa: E402
tmp = temp_path("attnsweep-ucr-")
check = Checks()


def run(*args):
    return subprocess.run([BIN, "data", "ucr", *args], capture_output=True, text=True)


def fx(name):
    return os.path.join(FX, name)


# tab layout, train + test, labels -1/1
out = os.path.join(tmp, "tab.h5")
r = run("--train", fx("tab_TRAIN.tsv"), "--test", fx("tab_TEST.tsv"), "-o", out)
check(r.returncode == 0, f"tab: {r.returncode} {r.stderr}")
check("train: 3 series of length 4; class counts: -1->0: 1, 1->1: 2" in r.stdout, r.stdout)
check("test: 2 series of length 4; class counts: -1->0: 1, 1->1: 1" in r.stdout, r.stdout)
with h5py.File(out) as f:
    check(list(f.attrs["class_labels"]) == [-1, 1], f"class_labels {f.attrs['class_labels']}")
    check(f.attrs["task"] == "classification" and f.attrs["n_classes"] == 2, "task attrs")
    check(f["/train/x"].shape == (3, 4, 1) and f["/train/y"].dtype == np.int32, "shapes")
    ref = np.loadtxt(fx("tab_TRAIN.tsv"), delimiter="\t")
    check(np.array_equal(f["/train/x"][:, :, 0], ref[:, 1:].astype(np.float32)), "train values")
    check(list(f["/train/y"][()]) == [1, 0, 1], f"labels {f['/train/y'][()]}")

# whitespace layout with float labels, comma layout with CRLF
for name, labels in (("space_old.txt", [2, 1]), ("comma_crlf.csv", [3, 1, 3, 2])):
    out = os.path.join(tmp, name + ".h5")
    r = run("--train", fx(name), "-o", out)
    check(r.returncode == 0, f"{name}: {r.returncode} {r.stderr}")
    with h5py.File(out) as f:
        cl = list(f.attrs["class_labels"])
        check(cl == sorted(set(labels)), f"{name}: class_labels {cl}")
        check([cl[k] for k in f["/train/y"][()]] == labels, f"{name}: labels")
        check("test" not in f, f"{name}: unexpected /test")

# merge-shuffle: one split with every row, same seed same order, class totals kept
outs = []
for seed in ("3", "3", "4"):
    out = os.path.join(tmp, f"m{len(outs)}.h5")
    r = run("--train", fx("comma_crlf.csv"), "--test", fx("comma_crlf.csv"), "--merge-shuffle",
            "--seed", seed, "-o", out)
    check(r.returncode == 0, f"merge: {r.stderr}")
    with h5py.File(out) as f:
        check("test" not in f, "merge: /test written")
        outs.append((f["/train/x"][()], f["/train/y"][()]))
check(np.array_equal(outs[0][0], outs[1][0]), "merge: same seed, different order")
check(sorted(outs[0][1].tolist()) == [0, 0, 1, 1, 2, 2, 2, 2], f"merge totals {outs[0][1]}")
ref = np.loadtxt(fx("comma_crlf.csv"), delimiter=",")[:, 1:].astype(np.float32)
rows = sorted(map(tuple, np.concatenate([ref, ref])))
check(sorted(map(tuple, outs[0][0][:, :, 0])) == rows, "merge: rows are not the merged rows")

# errors: exit 2, file and line named, no output file
bad = [("bad_ragged.tsv", ":2:"), ("bad_nan.tsv", ":2:"), ("bad_empty_field.tsv", ":2:"),
       ("bad_token.tsv", ":3:"), ("bad_label.tsv", ":1:"), ("empty.tsv", "empty file"),
       ("missing.tsv", "cannot open")]
one = os.path.join(tmp, "one_class.tsv")
with open(one, "w") as fh:
    fh.write("1\t0.5\t0.25\n1\t0.1\t0.2\n")
r = run("--train", one, "-o", os.path.join(tmp, "one.h5"))
check(r.returncode == 2 and "only one class" in r.stderr and one in r.stderr and
      not os.path.exists(os.path.join(tmp, "one.h5")), f"one class: {r.stderr}")
r = run("--train", fx("tab_TRAIN.tsv"), "--seed", "5", "-o", os.path.join(tmp, "seed.h5"))
check(r.returncode == 2 and "--merge-shuffle" in r.stderr and
      not os.path.exists(os.path.join(tmp, "seed.h5")), f"--seed without --merge-shuffle: {r.stderr}")
for name, want in bad:
    for args in (["--train", fx(name)], ["--train", fx("tab_TRAIN.tsv"), "--test", fx(name)]):
        out = os.path.join(tmp, "bad.h5")
        r = run(*args, "-o", out)
        check(r.returncode == 2, f"{name}: exit {r.returncode}")
        check(fx(name) in r.stderr and want in r.stderr, f"{name}: stderr {r.stderr!r}")
        check(not os.path.exists(out) and not [p for p in os.listdir(tmp) if ".tmp." in p],
              f"{name}: output left behind")
r = run("--train", fx("tab_TRAIN.tsv"), "--test", fx("short_TEST.tsv"), "-o", os.path.join(tmp, "b.h5"))
check(r.returncode == 2 and "short_TEST.tsv:1:" in r.stderr, f"short test: {r.stderr}")
r = run("-o", os.path.join(tmp, "b.h5"))
check(r.returncode == 2 and "--train" in r.stderr, "missing --train")
r = run("--train", fx("tab_TRAIN.tsv"), "--seed", "x", "-o", os.path.join(tmp, "b.h5"))
check(r.returncode == 2, "bad --seed")

sys.exit(check.summary())
