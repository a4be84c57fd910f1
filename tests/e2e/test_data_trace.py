#!/usr/bin/python3
"""e2e: import the real UCR Trace dataset from $ATTNSWEEP_UCR_DIR/Trace (never copied
into the repository). Checks 100 + 100 rows of length 275, the class counts of the
dataset's description (train 26/21/22/31, test 24/29/28/19), the values against
numpy's own parser, --merge-shuffle (200 rows, class totals kept, the same rows),
--znorm, and `data info`. Skips (exit 77) when the folder is absent."""
import os
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:
    print(f"SKIP: python3 lacks numpy/h5py ({e})")
    sys.exit(77)

src = os.environ.get("ATTNSWEEP_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
ucr = os.environ.get("ATTNSWEEP_UCR_DIR") or os.path.join(src, "..", "shared", "data", "ucr")
train, test = (os.path.join(ucr, "Trace", f"Trace_{s}.tsv") for s in ("TRAIN", "TEST"))
if not (os.path.exists(train) and os.path.exists(test)):
    print(f"SKIP: UCR Trace not found under {ucr} (set ATTNSWEEP_UCR_DIR)")
    sys.exit(77)

BIN = os.environ["ATTNSWEEP_BIN"]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, temp_path  # noqa: E402
tmp = temp_path("attnsweep-trace-")
check = Checks()


def ucr_import(*extra):
    out = os.path.join(tmp, f"trace{len(extra)}_{'_'.join(extra)}.h5".replace("-", ""))
    r = subprocess.run([BIN, "data", "ucr", "--train", train, "--test", test, *extra, "-o", out],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"import {extra}: {r.returncode} {r.stderr}")
    return out, r.stdout


ref_tr = np.loadtxt(train, delimiter="\t")
ref_te = np.loadtxt(test, delimiter="\t")

out, text = ucr_import()
check("train: 100 series of length 275; class counts: 1->0: 26, 2->1: 21, 3->2: 22, 4->3: 31"
      in text, text)
check("test: 100 series of length 275; class counts: 1->0: 24, 2->1: 29, 3->2: 28, 4->3: 19"
      in text, text)
with h5py.File(out) as f:
    check(f["/train/x"].shape == (100, 275, 1) and f["/test/x"].shape == (100, 275, 1), "shapes")
    check(list(f.attrs["class_labels"]) == [1, 2, 3, 4] and f.attrs["n_classes"] == 4, "classes")
    check(np.bincount(f["/train/y"][()]).tolist() == [26, 21, 22, 31], "train counts")
    check(np.bincount(f["/test/y"][()]).tolist() == [24, 29, 28, 19], "test counts")
    check(np.array_equal(f["/train/x"][:, :, 0], ref_tr[:, 1:].astype(np.float32)), "train x")
    check(np.array_equal(f["/test/x"][:, :, 0], ref_te[:, 1:].astype(np.float32)), "test x")
    check(np.array_equal(f["/train/y"][()] + 1, ref_tr[:, 0].astype(int)), "train y order")

out, _ = ucr_import("--merge-shuffle", "--seed", "7")
merged = np.concatenate([ref_tr, ref_te])
with h5py.File(out) as f:
    check("test" not in f and f["/train/x"].shape == (200, 275, 1), "merge shape")
    y = f["/train/y"][()]
    check(np.bincount(y).tolist() == [50, 50, 50, 50], f"merge totals {np.bincount(y)}")
    check(not np.array_equal(y + 1, merged[:, 0].astype(int)), "merge did not shuffle")
    got = sorted(map(tuple, np.column_stack([y + 1, f["/train/x"][:, :, 0]]).tolist()))
    want = sorted(map(tuple, np.column_stack([merged[:, 0], merged[:, 1:].astype(np.float32)])
                      .astype(np.float64).tolist()))
    check(got == want, "merged rows are not the train+test rows")

out, _ = ucr_import("--znorm")
with h5py.File(out) as f:
    x = f["/train/x"][:, :, 0].astype(np.float64)
    check(np.abs(x.mean(axis=1)).max() < 1e-5 and np.abs(x.std(axis=1) - 1).max() < 1e-4, "znorm")

r = subprocess.run([BIN, "data", "info", out], capture_output=True, text=True)
check(r.returncode == 0 and "class counts: 0: 26, 1: 21, 2: 22, 3: 31" in r.stdout, r.stdout)
sys.exit(check.summary())
