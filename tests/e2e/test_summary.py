#!/usr/bin/python3
"""e2e: `attnsweep summary`'s mean ± std of the repeats.

- Equal repeats print the value alone, not "± 0.00000" (a parameterless model, dropout
  only: every repeat of a real sweep has the same validation loss, bit for bit); the CSV's
  std is 0 and its mean the value itself (%.9g).
- Repeats that differ print "mean ± sample std" (best_val_loss 1, 2, 3 written into a copy
  of the results: "2.00000 ± 1.00000").
- A spread that rounds to 0 at the printed precision prints "± <0.00001", not "± 0.00000".
Skips (exit 77) without numpy/h5py."""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, ENV, Checks, need_h5py, temp_dir  # noqa: E402

h5py, np = need_h5py()
check = Checks(verbose=True)
TMP, j = temp_dir("attnsweep-summary-")


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600, env=ENV, cwd=TMP)


def line_of(out, name):
    """The leaderboard line of the variant called name."""
    return next((l for l in out.splitlines() if re.search(r"\s%s\s" % re.escape(name), l)), "")


def with_losses(src, dst, variant, losses):
    """A copy of results src whose /summary best_val_loss of variant's repeats is losses."""
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        s = f["summary"][()]
        rows = np.flatnonzero(s["id"] == variant)
        check(len(rows) == len(losses), f"{len(losses)} repeats of variant {variant} in {src}")
        s["best_val_loss"][rows] = losses
        f["summary"][...] = s


def main():
    r = run("data", "toy", "--samples", "40", "--test-samples", "0", "-o", j("toy.h5"))
    if not check(r.returncode == 0, f"data toy: {r.stderr}"):
        return check.summary()
    with open(j("sweep.json"), "w") as fh:
        json.dump({"data": "toy.h5", "model": [{"type": "dropout", "rate": "$r"}],
                   "train": {"epochs": 2, "batch_size": 10, "validation_split": 0.25},
                   "grid": {"r": [0.0, 0.5]}, "repeats": 3}, fh)
    r = run("sweep", "sweep.json", "-o", "res.h5", "--threads", "1")
    if not check(r.returncode == 0, f"sweep: {r.stderr[-300:]}"):
        return check.summary()
    with h5py.File(j("res.h5"), "r") as f:
        s = f["summary"][()]
    v0 = s["best_val_loss"][s["id"] == 0]
    check(len(v0) == 3 and np.all(v0 == v0[0]) and np.isfinite(v0[0]),
          f"a parameterless model's repeats have equal validation losses ({v0})")

    r = run("summary", "res.h5")
    line = line_of(r.stdout, "r=0")
    want = "%.5f" % v0[0]
    check(r.returncode == 0 and want in line and want + " ±" not in line,
          f"equal repeats: the value alone, no '± 0.00000' ({line!r})")
    r = run("summary", "res.h5", "--csv")
    rows = list(r.stdout.splitlines())
    head = rows[0].split(",") if rows else []
    row = next((x.split(",") for x in rows[1:] if x.split(",")[2:3] == ["r=0"]), None)
    ok = row is not None and "best_val_loss_std" in head
    check(ok and row[head.index("best_val_loss_std")] == "0" and
          row[head.index("best_val_loss_mean")] == "%.9g" % v0[0],
          f"equal repeats: --csv mean is the value, std 0 ({row})")

    with_losses(j("res.h5"), j("spread.h5"), 0, [1.0, 2.0, 3.0])
    line = line_of(run("summary", "spread.h5").stdout, "r=0")
    check("2.00000 ± 1.00000" in line, f"repeats 1, 2, 3: '2.00000 ± 1.00000' ({line!r})")

    with_losses(j("res.h5"), j("tiny.h5"), 0, [7.189308, 7.189309, 7.189310])
    line = line_of(run("summary", "tiny.h5").stdout, "r=0")
    check("7.18931 ± <0.00001" in line,
          f"a spread of 1e-6: '± <0.00001', not '± 0.00000' ({line!r})")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
