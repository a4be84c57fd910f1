#!/usr/bin/python3
"""compare.py: the comparisons of the multi-host tests.

  compare.py results A.h5 B.h5 [--rtol R]   every run of two sweep results files: the same
        runs (group names), status, run key, seed and, for every dataset of the run (curves,
        attention dumps, predictions, weights) but epoch_seconds, equal values: bit for bit,
        or within relative tolerance R
        (--curves: only the curves loss, val_loss, accuracy, val_accuracy)
  compare.py history A.h5 B.h5 --rtol R     two train --history files: the curves
  compare.py runs A.h5                      prints the number of runs in a results file
Exit status 0 when equal, 1 when not (the first differences are printed)."""
import os
import sys

import h5py
import numpy as np

SKIP = {"epoch_seconds"}  # wall-clock: differs between any two runs
CURVES = {"loss", "val_loss", "accuracy", "val_accuracy"}


def datasets(g, prefix=""):
    out = {}
    for k, v in g.items():
        if isinstance(v, h5py.Group):
            out.update(datasets(v, prefix + k + "/"))
        elif k not in SKIP:
            out[prefix + k] = v[()]
    return out


def equal(a, b, rtol):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if rtol == 0 or a.dtype.kind not in "fc":
        return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    return np.allclose(a, b, rtol=rtol, atol=0, equal_nan=True)


def results(pa, pb, rtol, curves_only):
    diffs = []
    with h5py.File(pa, "r") as fa, h5py.File(pb, "r") as fb:
        va, vb = fa["variants"], fb["variants"]
        if set(va) != set(vb):
            diffs.append(f"runs differ: only in A {sorted(set(va) - set(vb))[:5]}, "
                         f"only in B {sorted(set(vb) - set(va))[:5]}")
        n = 0
        for k in sorted(set(va) & set(vb)):
            ga, gb = va[k], vb[k]
            for attr in ("status", "run_key", "seed", "canonical"):
                if attr in ga.attrs and ga.attrs.get(attr) != gb.attrs.get(attr):
                    diffs.append(f"{k}: attribute {attr} differs")
            da, db = datasets(ga), datasets(gb)
            if curves_only:
                da = {k: v for k, v in da.items() if k in CURVES}
                db = {k: v for k, v in db.items() if k in CURVES}
            if set(da) != set(db):
                diffs.append(f"{k}: datasets differ: {sorted(set(da) ^ set(db))}")
            for name in sorted(set(da) & set(db)):
                if not equal(da[name], db[name], rtol):
                    diffs.append(f"{k}/{name} differs")
            n += 1
    for d in diffs[:10]:
        print("compare: " + d)
    if not diffs:
        what = "curves" if curves_only else "runs"
        print(f"compare: {n} {what} equal ({'bit for bit' if rtol == 0 else f'rtol {rtol}'})")
    return 1 if diffs else 0


def history(pa, pb, rtol):
    bad = 0
    with h5py.File(pa, "r") as fa, h5py.File(pb, "r") as fb:
        for k in ("loss", "val_loss", "accuracy", "val_accuracy"):
            if (k in fa) != (k in fb):
                print(f"compare: {k} in one file only")
                bad = 1
            elif k in fa:
                a, b = fa[k][()], fb[k][()]
                worst = np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30)) if a.shape == b.shape else np.inf
                print(f"compare: {k}: {len(a)} epochs, largest relative difference {worst:.3g}")
                bad |= not (a.shape == b.shape and worst <= rtol)
    return bad


def main(argv):
    rtol = 0.0
    if "--rtol" in argv:
        i = argv.index("--rtol")
        rtol = float(argv[i + 1])
        del argv[i:i + 2]
    curves_only = "--curves" in argv
    argv = [a for a in argv if a != "--curves"]
    mode = argv[1]
    if mode == "results":
        return results(argv[2], argv[3], rtol, curves_only)
    if mode == "history":
        return history(argv[2], argv[3], rtol)
    if mode == "runs":  # runs stored: /summary rows filled, and journal files not yet indexed
        try:
            with h5py.File(argv[2], "r") as f:
                s = f["summary"][()]
                if "key" not in s.dtype.names:
                    print(len(f["variants"]))
                    return 0
                keys = {k.split(b"\0")[0].decode() for k, st in zip(s["key"], s["status"])
                        if st.split(b"\0")[0]}
            journal = argv[2] + ".journal"
            if os.path.isdir(journal):
                keys |= {n[:-3] for n in os.listdir(journal) if n.endswith(".h5") and len(n) == 67}
            print(len(keys))
        except (OSError, KeyError):
            print(-1)
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
