#!/usr/bin/python3
"""End-to-end test of scripts/attnsweep_results.py (load, curves).

Every value of load() is compared with an independent h5py reading of /summary and the
per-run groups (rows in (id, repeat) order even when /summary is in completion order;
one column per grid axis, layer objects as their type); curves() with the stored
datasets; files written before the parameter count was renamed n_params still load;
bad files raise ResultsError naming the file. load() of a 500-run file must take under
2 CPU-seconds. With ATTNSWEEP_BIN, a real quick sweep's load() must agree with
`attnsweep summary --csv`. With pandas installed the DataFrame must equal the dict.
From the shell, --help prints the usage and exits 0.
"""
import csv
import io
import json
import math
import os
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np

SRC = os.environ.get("ATTNSWEEP_SRC",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PY = os.environ.get("AS_PYTHON", "/usr/bin/python3")
FAKE = os.path.join(SRC, "tests", "ref", "make_fake_results.py")
sys.path.insert(0, os.path.join(SRC, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attnsweep_results as ar  # noqa: E402
from e2e_checks import Checks, temp_path  # noqa: E402
check = Checks()


def s(v):
    return v.split(b"\0")[0].decode() if isinstance(v, bytes) else str(v)


def same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def reference(path):
    """[(id, repeat) -> {column: value}] read directly with h5py."""
    out = {}
    with h5py.File(path, "r") as f:
        summ = f["summary"][()]
        count = "n_params" if "n_params" in summ.dtype.names else "params"
        for row in summ:
            # the run's group: its run key (format 2) or v<id>_r<repeat> (format 1)
            key = (s(row["key"]) if "key" in summ.dtype.names
                   else "v%04d_r%d" % (row["id"], row["repeat"]))
            g = f["variants/" + key]
            d = {"key": key, "id": int(row["id"]), "repeat": int(row["repeat"]),
                 "name": s(row["name"]), "status": s(row["status"]),
                 "n_params": int(row[count]), "epochs_run": int(row["epochs_run"]),
                 "best_epoch": int(row["best_epoch"]),
                 "best_val_loss": float(row["best_val_loss"]),
                 "final_val_loss": float(row["final_val_loss"]),
                 "best_val_accuracy": float(row["best_val_accuracy"]),
                 "train_seconds": float(row["train_seconds"]), "rank": int(row["rank"]),
                 "error": s(g.attrs.get("error", "")),
                 "final_loss": float(g["loss"][-1]) if "loss" in g else math.nan,
                 "final_val_accuracy": (float(g["val_accuracy"][-1]) if "val_accuracy" in g
                                        else math.nan)}
            for a, v in json.loads(s(g.attrs["params"])).items():
                d["axis:" + a] = v["type"] if isinstance(v, dict) else v
            out[(d["id"], d["repeat"])] = d
    return out


def compare(label, path, table):
    ref = reference(path)
    keys = sorted(ref)
    n = len(table["key"])
    check(n == len(ref), "%s: %d rows, want %d" % (label, n, len(ref)))
    got_order = list(zip(table["id"].tolist(), table["repeat"].tolist()))
    check(got_order == keys, "%s: rows not in (id, repeat) order" % label)
    axes = sorted({k[5:] for d in ref.values() for k in d if k.startswith("axis:")})
    for a in axes:
        check(a in table, "%s: no column for grid axis %s (have %s)" % (label, a, list(table)))
    bad = []
    for i, k in enumerate(keys[:n]):
        d = ref[k]
        for c, want in d.items():
            col = c[5:] if c.startswith("axis:") else c
            if col not in table:
                bad.append("missing column " + col)
                continue
            got = table[col][i]
            got = got.item() if hasattr(got, "item") else got
            if not same(got, want):
                bad.append("%s %s: %r != %r" % (d["key"], col, got, want))
        for a in axes:  # an axis the variant does not use is missing, not a value
            if "axis:" + a not in d:
                v = table[a][i]
                if not (v is None or (isinstance(v, float) and math.isnan(v))):
                    bad.append("%s %s: %r for an unused axis" % (d["key"], a, v))
    check(not bad, "%s: values differ from /summary and the groups: %s" % (label, bad[:5]))
    fam = table["family"].tolist()
    with h5py.File(path, "r") as f:
        for i, k in enumerate(keys[:n]):
            types = {L["type"] for L in json.loads(s(f["variants/" + ref[k]["key"]]
                                                     .attrs["config"]))["model"]}
            want = ("attention" if "self_attention" in types else
                    "residual" if "residual_conv1d" in types else "conv")
            if "self_attention" in types and "residual_conv1d" in types:
                want = "attention+residual"
            if fam[i] != want:
                bad.append("%s family %s, want %s" % (keys[i], fam[i], want))
    check(not bad, "%s: families wrong: %s" % (label, bad[:5]))


def check_curves(label, path):
    for metric in ("val_loss", "loss"):
        got = ar.curves(path, metric, pandas=False)
        with h5py.File(path, "r") as f:
            want = {k: np.asarray(g[metric]) for k, g in f["variants"].items() if metric in g}
        check(sorted(got) == sorted(want), "%s: curves(%s) keys differ" % (label, metric))
        check(all(np.array_equal(got[k], want[k], equal_nan=True) for k in want if k in got),
              "%s: curves(%s) values differ" % (label, metric))
    for bad in ("no_such_curve", "lr"):  # a misspelled metric raises, naming file and name
        try:
            ar.curves(path, bad, pandas=False)
            check(False, "%s: curves(%r) should raise ResultsError" % (label, bad))
        except ar.ResultsError as e:
            check(path in str(e) and "'%s'" % bad in str(e) and "val_loss" in str(e),
                  "%s: curves(%r) raises naming the file, the name and the curves: %s" % (label, bad, e))


def make(tmp, name, *args):
    path = os.path.join(tmp, name + ".h5")
    p = subprocess.run([PY, FAKE, "-o", path] + list(args), capture_output=True, text=True,
                       timeout=600)
    check(p.returncode == 0, "make_fake_results %s: %s" % (args, p.stderr))
    return path


def check_fakes(tmp):
    for name, args in (("reg", ["--task", "regression", "--shuffle-rows"]),
                       ("cls", ["--task", "classification", "--layer-objects", "--shuffle-rows"]),
                       ("old", ["--task", "regression", "--old-summary"])):
        path = make(tmp, name, *args)
        table = ar.load(path, pandas=False)
        compare(name, path, table)
        check_curves(name, path)
    return path


def check_pandas(path):
    try:
        import pandas  # noqa: F401
    except ImportError:
        print("SKIP: pandas not installed (python3-pandas): the DataFrame form is not checked")
        return
    df = ar.load(path)
    d = ar.load(path, pandas=False)
    check(list(df.columns) == list(d), "pandas: columns differ from the dict form")
    for c in d:
        a, b = df[c].to_numpy(), d[c]
        eq = all(same(x.item() if hasattr(x, "item") else x, y.item() if hasattr(y, "item")
                      else y) for x, y in zip(a, b))
        check(eq, "pandas: column %s differs from the dict form" % c)
    cv = ar.curves(path, "val_loss")
    check(cv.index[0] == 1 and cv.index.name == "epoch", "pandas: curves index not epochs")


def check_speed(tmp):
    path = make(tmp, "big", "--task", "regression", "--repeats", "50", "--shuffle-rows")
    with h5py.File(path, "r") as f:
        check(len(f["summary"]) == 500, "big fake should hold 500 runs")
    t0 = time.process_time()
    table = ar.load(path, pandas=False)
    cpu = time.process_time() - t0
    print("load() of 500 runs: %.3f CPU-s" % cpu)
    check(cpu < 2.0, "load() of 500 runs took %.2f CPU-s (want < 2)" % cpu)
    check(len(table["key"]) == 500, "load() of 500 runs: %d rows" % len(table["key"]))


def check_bad(tmp, good):
    cases = [(os.path.join(tmp, "none.h5"), "no such file")]
    txt = os.path.join(tmp, "t.h5")
    with open(txt, "w") as f:
        f.write("x")
    cases.append((txt, "not an HDF5 file"))
    nos = os.path.join(tmp, "nos.h5")
    shutil.copy(good, nos)
    with h5py.File(nos, "a") as f:
        del f["summary"]
    cases.append((nos, "missing /summary"))
    nog = os.path.join(tmp, "nog.h5")
    shutil.copy(good, nog)
    with h5py.File(nog, "a") as f:
        del f["variants/v0000_r0"]
    cases.append((nog, "has no /variants/v0000_r0"))
    for path, what in cases:
        try:
            ar.load(path, pandas=False)
            check(False, "%s: load() should fail" % path)
        except ar.ResultsError as e:
            check(path in str(e) and what in str(e), "%s: message %r lacks %r" % (path, e, what))


def check_real(tmp):
    bin_ = os.environ.get("ATTNSWEEP_BIN")
    if not bin_ or not os.access(bin_, os.X_OK):
        print("SKIP: ATTNSWEEP_BIN not set: no real sweep compared with summary --csv")
        return
    toy = os.path.join(tmp, "toy.h5")
    res = os.path.join(tmp, "quick.h5")
    for cmd in ([bin_, "data", "toy", "--samples", "100", "-o", toy],
                [bin_, "sweep", os.path.join(SRC, "sweeps", "quick.json"), "--data", toy,
                 "--epochs", "2", "-o", res]):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if not check(p.returncode == 0, "%s: %s" % (" ".join(cmd[:3]), p.stderr[-400:])):
            return
    table = ar.load(res, pandas=False)
    compare("real quick", res, table)
    p = subprocess.run([bin_, "summary", res, "--csv", "--sort", "id"], capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 0, "summary --csv: %s" % p.stderr)
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    check(len(rows) == len(set(table["id"].tolist())), "summary --csv: one row per variant")
    for row in rows:
        i = table["id"].tolist().index(int(row["id"]))
        for c in ("name", "n_params", "epochs_run", "best_epoch", "layer3", "num_heads",
                  "key_dim"):
            if not check(c in row, "summary --csv lacks column %s (has %s)" % (c, list(row))):
                continue
            got = table[c][i]
            got = got.item() if hasattr(got, "item") else got
            if isinstance(got, float) and math.isnan(got):
                got = ""
            elif isinstance(got, float) and got == int(got):
                got = int(got)
            check(str(got) == row[c], "summary --csv %s of variant %s: %r vs load() %r"
                  % (c, row["id"], row[c], got))


def check_cli_help():
    """The script from the shell: --help prints the usage (exit 0), not "no such file"."""
    script = os.path.join(SRC, "scripts", "attnsweep_results.py")
    for flag in ("--help", "-h"):
        p = subprocess.run([PY, script, flag], capture_output=True, text=True, timeout=60)
        check(p.returncode == 0 and p.stdout.startswith("usage: attnsweep_results.py RESULTS.h5")
              and "no such file" not in p.stdout + p.stderr,
              "attnsweep_results.py %s: usage, exit 0 (%s, %r)" % (flag, p.returncode, p.stderr))
    p = subprocess.run([PY, script], capture_output=True, text=True, timeout=60)
    check(p.returncode == 2 and "usage" in p.stderr, "attnsweep_results.py without a file: exit 2")


def main():
    tmp = temp_path("test_results_api.")
    check_cli_help()
    last = check_fakes(tmp)
    check_bad(tmp, last)
    check_pandas(last)
    check_speed(tmp)
    check_real(tmp)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
