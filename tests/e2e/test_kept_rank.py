#!/usr/bin/python3
"""e2e: runs are ranked by their KEPT model's validation figures, not the curves' best.

A classification sweep (keep best: the lowest-val_loss epoch's weights are kept, tested and
exported) whose val_accuracy peaks at another epoch than the kept one in some runs:
- every ok run records kept_val_loss / kept_val_accuracy (run attributes and /summary) equal
  to its val_loss / val_accuracy curves at kept_epoch;
- `export --best` (and `--by val_loss`) picks the run a numpy ranking of those curves at
  kept_epoch picks (ties by kept val_loss, id, repeat), and `evaluate` on the exported spec
  and weights gives that run's kept_val_accuracy on its validation rows;
- `summary --csv` orders the variants by the repeats' mean kept val_accuracy (ties by the
  mean kept val_loss) with those means in kept_val_*_mean; `--sort best_val_accuracy` still
  orders by the curves' best;
- scripts/report.py's leaderboard has that order, and attnsweep_results.load()'s
  kept_val_loss / kept_val_accuracy columns those figures;
- a results file of the older format (no kept fields in /summary nor the runs' attributes)
  ranks the same: the kept figures are read from the curves.
Skips (exit 77) without numpy/h5py."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, ENV, Checks, need_h5py, temp_dir, sine_classes  # noqa: E402

h5py, np = need_h5py()
check = Checks(verbose=True)
TMP, j = temp_dir("attnsweep-kept-")
SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts")


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600, env=ENV, cwd=TMP)


def make_data(path):
    sine_classes(path, n=48, n_test=24, T=20, k=3, seed=2, noise=1.6)


SWEEP = {
    "data": "cls.h5",
    "model": [{"type": "conv1d", "filters": "$f", "kernel_size": 5, "activation": "relu"},
              {"type": "global_average_pooling1d"}, {"type": "dense", "units": "n_classes"}],
    "train": {"epochs": 15, "batch_size": 8, "validation": {"split": 0.25, "mode": "stratified"},
              "optimizer": {"type": "adam", "learning_rate": 0.03}},
    "grid": {"f": [2, 4, 8]}, "repeats": 3, "save_weights": True,
}


def runs_of(path):
    out = []
    with h5py.File(path, "r") as f:
        for key, g in f["variants"].items():
            if g.attrs["status"] != "ok":
                continue
            k = int(g.attrs["kept_epoch"])
            out.append({"key": key, "id": int(g.attrs["id"]), "rep": int(g.attrs["repeat"]), "kept": k,
                        "vl": float(g["val_loss"][k - 1]), "va": float(g["val_accuracy"][k - 1]),
                        "best_va": float(np.max(g["val_accuracy"][()])),
                        "attrs": {a: g.attrs.get(a) for a in ("kept_val_loss", "kept_val_accuracy")}})
        s = f["summary"][()]
    return out, s


def csv_rows(path, *extra):
    r = run("summary", path, "--csv", *extra)
    lines = r.stdout.splitlines()
    head = lines[0].split(",") if lines else []
    return r, head, [dict(zip(head, ln.split(","))) for ln in lines[1:]]


def want_order(runs):
    ids = sorted({x["id"] for x in runs})
    mean = {v: (np.mean([x["va"] for x in runs if x["id"] == v]),
                np.mean([x["vl"] for x in runs if x["id"] == v])) for v in ids}
    return sorted(ids, key=lambda v: (-mean[v][0], mean[v][1], v)), mean


def old_rows(s, drop):
    keep = [n for n in s.dtype.names if not n.startswith(drop)]
    old = np.empty(s.shape, dtype=[(n, s.dtype[n]) for n in keep])
    for n in keep:
        old[n] = s[n]
    return old


def make_old(src, dst, drop="kept_val"):
    """dst: src as an older format wrote it: no kept_val_* in /summary or the run
    attributes (drop "kept_": no kept_epoch either, the versions that kept the last epoch)."""
    with h5py.File(src, "r") as f:
        s = f["summary"][()]
    with open(src, "rb") as a, open(dst, "wb") as b:
        b.write(a.read())
    with h5py.File(dst, "a") as f:
        del f["summary"]
        f["summary"] = old_rows(s, drop)
        for g in f["variants"].values():
            for a in ("kept_val_loss", "kept_val_accuracy"):
                if a in g.attrs:
                    del g.attrs[a]


def old_journal():
    """A sweep killed before its final pack whose journal files are of the older format
    (their /summary_row without kept_val_*): (results path, number of journal files)."""
    env = dict(ENV, ATTNSWEEP_TEST_CRASH="pack-temp-written:2")
    subprocess.run([BIN, "sweep", "sw.json", "-o", "jr.h5", "--threads", "1"], capture_output=True,
                   text=True, timeout=600, env=env, cwd=TMP)
    files = [os.path.join(j("jr.h5.journal"), n) for n in os.listdir(j("jr.h5.journal"))
             if n.endswith(".h5")] if os.path.isdir(j("jr.h5.journal")) else []
    for p in files:
        with h5py.File(p, "a") as f:
            row = f["summary_row"][()]
            del f["summary_row"]
            f["summary_row"] = old_rows(row, "kept_val")
    return j("jr.h5"), len(files)


def main():
    make_data(j("cls.h5"))
    with open(j("sw.json"), "w") as fh:
        json.dump(SWEEP, fh)
    r = run("sweep", "sw.json", "-o", "res.h5", "--threads", "1")
    check(r.returncode == 0, f"the sweep runs {r.stderr[-200:]}")
    runs, s = runs_of(j("res.h5"))
    check(len(runs) == 9, f"9 ok runs ({len(runs)})")
    row = {(int(x["id"]), int(x["repeat"])): x for x in s}
    check(all(x["attrs"]["kept_val_loss"] == x["vl"] and x["attrs"]["kept_val_accuracy"] == x["va"] and
              row[(x["id"], x["rep"])]["kept_val_loss"] == x["vl"] and
              row[(x["id"], x["rep"])]["kept_val_accuracy"] == x["va"] for x in runs),
          "kept_val_loss/kept_val_accuracy (attributes, /summary) = the curves at kept_epoch")
    peaks = [x for x in runs if x["best_va"] > x["va"]]
    check(len(peaks) >= 1, f"{len(peaks)} runs' val_accuracy peaks above their kept epoch's "
          "(the case the ranking must not be fooled by)")

    best = sorted(runs, key=lambda x: (-x["va"], x["vl"], x["id"], x["rep"]))[0]
    by_max = sorted(runs, key=lambda x: (-x["best_va"], x["vl"], x["id"], x["rep"]))[0]
    label = f"v{best['id']:04d}_r{best['rep']}"
    check((by_max["id"], by_max["rep"]) != (best["id"], best["rep"]),
          "here the curves' max val_accuracy would pick another run than the kept figures")
    r = run("export", "res.h5", "--best", "-o", "b.json", "--weights", "bw.h5")
    check(r.returncode == 0 and label in r.stdout,
          f"export --best picks {label} by kept val_accuracy (the curves' max would pick "
          f"v{by_max['id']:04d}_r{by_max['rep']}) [{r.stdout.strip()[:120]}]")
    ev = run("evaluate", "b.json", "--weights", "bw.h5")
    m = dict(re.findall(r"^(\w+): loss \S+ accuracy (\S+)", ev.stdout, re.M))
    check(ev.returncode == 0 and abs(float(m.get("validation", "nan")) - best["va"]) <= 1e-9,
          f"evaluate on the exported best: validation accuracy {m.get('validation')} = the "
          f"kept_val_accuracy it was ranked by ({best['va']})")
    bl = min(runs, key=lambda x: (x["vl"], x["id"], x["rep"]))
    r = run("export", "res.h5", "--best", "--by", "val_loss", "-o", "bl.json")
    check(r.returncode == 0 and f"v{bl['id']:04d}_r{bl['rep']}" in r.stdout, "export --best --by val_loss "
          "picks the lowest kept val_loss")

    order, mean = want_order(runs)
    r, head, rows = csv_rows(j("res.h5"))
    got = [int(x["id"]) for x in rows]
    check(r.returncode == 0 and got == order and
          all(abs(float(x["kept_val_accuracy_mean"]) - mean[int(x["id"])][0]) <= 1e-8 and
              abs(float(x["kept_val_loss_mean"]) - mean[int(x["id"])][1]) <= 1e-8 * mean[int(x["id"])][1]
              for x in rows),
          f"summary --csv orders by the mean kept val_accuracy (ties by kept val_loss): {got} == {order}")
    r2 = run("summary", "res.h5")
    check(r2.returncode == 0 and "kept val_accuracy" in r2.stdout, "the table's columns are the kept figures")
    bmean = {v: np.mean([float(x["best_val_accuracy"]) for x in s if x["id"] == v]) for v in order}
    check(sorted(order, key=lambda v: (-bmean[v], v)) != order,
          "and order the variants otherwise than the kept figures")
    r, head, rows = csv_rows(j("res.h5"), "--sort", "best_val_accuracy")
    got_b = [int(x["id"]) for x in rows]
    check(r.returncode == 0 and [bmean[v] for v in got_b] == sorted(bmean.values(), reverse=True),
          f"--sort best_val_accuracy still orders by the curves' best ({got_b})")

    # the report's leaderboard and the Python API rank by the same figures
    rep = subprocess.run(["/usr/bin/python3", os.path.join(SCRIPTS, "report.py"), j("res.h5"), "-o", j("rep")],
                         capture_output=True, text=True, timeout=600, env=ENV)
    page = open(j("rep/index.html"), encoding="utf-8").read() if rep.returncode == 0 else ""
    got_r = [int(i) for i in re.findall(r'<tr[^>]*><td data-v="\d+">\d+</td><td data-v="(\d+)">', page)]
    check(rep.returncode == 0 and got_r[:len(order)] == order and "kept_val_accuracy" in page,
          f"report.py's leaderboard orders by kept_val_accuracy: {got_r[:len(order)]} {rep.stderr[-200:]}")
    sys.path.insert(0, SCRIPTS)
    import attnsweep_results as ar
    cols = ar.load(j("res.h5"), pandas=False)
    byk = {(int(i), int(r_)): (a, b) for i, r_, a, b in zip(cols["id"], cols["repeat"], cols["kept_val_loss"],
                                                          cols["kept_val_accuracy"])}
    check(all(byk[(x["id"], x["rep"])] == (x["vl"], x["va"]) for x in runs),
          "attnsweep_results.load(): kept_val_loss/kept_val_accuracy columns = the curves at kept_epoch")

    make_old(j("res.h5"), j("old.h5"))
    r, head, rows = csv_rows(j("old.h5"))
    check(r.returncode == 0 and [int(x["id"]) for x in rows] == order and
          all(abs(float(x["kept_val_accuracy_mean"]) - mean[int(x["id"])][0]) <= 1e-8 for x in rows),
          "a results file of the older format ranks the same (kept figures read from the curves)")
    r = run("export", "old.h5", "--best", "-o", "ob.json")
    check(r.returncode == 0 and label in r.stdout, "and export --best picks the same run on it")
    cols = ar.load(j("old.h5"), pandas=False)
    byk = {(int(i), int(r_)): (a, b) for i, r_, a, b in zip(cols["id"], cols["repeat"], cols["kept_val_loss"],
                                                          cols["kept_val_accuracy"])}
    check(all(byk[(x["id"], x["rep"])] == (x["vl"], x["va"]) for x in runs),
          "and attnsweep_results.load() reads its kept figures from the curves")

    # older still: no kept_epoch (those versions kept the last epoch's weights)
    make_old(j("res.h5"), j("old2.h5"), drop="kept_")
    with h5py.File(j("res.h5"), "r") as f:
        last = [dict(x, va=float(f["variants"][x["key"]]["val_accuracy"][-1]),
                     vl=float(f["variants"][x["key"]]["val_loss"][-1])) for x in runs]
    order2, mean2 = want_order(last)
    r, head, rows = csv_rows(j("old2.h5"))
    check(r.returncode == 0 and [int(x["id"]) for x in rows] == order2 and
          all(abs(float(x["kept_val_accuracy_mean"]) - mean2[int(x["id"])][0]) <= 1e-8 for x in rows),
          f"a file without kept_epoch ranks by its last epoch's figures ({[x['id'] for x in rows]})")
    lbl2 = sorted(last, key=lambda x: (-x["va"], x["vl"], x["id"], x["rep"]))[0]
    r = run("export", "old2.h5", "--best", "-o", "ob2.json")
    check(r.returncode == 0 and f"v{lbl2['id']:04d}_r{lbl2['rep']}" in r.stdout,
          f"and export --best picks its best last epoch [{(r.stdout + r.stderr).strip()[:120]}]")

    # a damaged run's params: summary says so (it went silently to family "other")
    with open(j("res.h5"), "rb") as a, open(j("dmg.h5"), "wb") as b:
        b.write(a.read())
    with h5py.File(j("dmg.h5"), "a") as f:
        for g in f["variants"].values():  # as stored (fixed-length string), cut short
            old = g.attrs["params"]
            g.attrs.create("params", np.bytes_(b"{" + b" " * (len(old) - 1)), dtype=g.attrs.get_id("params").dtype)
    r = run("summary", "dmg.h5")
    check(r.returncode == 0 and ": params" in r.stderr and "invalid JSON" in r.stderr,
          f"summary names a run whose params are not JSON [{r.stderr.strip()[:160]}]")

    # a killed sweep's journal files of the older format: ranked, and packed, from /run
    path, n_files = old_journal()
    r, head, rows = csv_rows(path)
    check(n_files >= 1 and r.returncode == 0 and [int(x["id"]) for x in rows] == order and
          all(abs(float(x["kept_val_accuracy_mean"]) - mean[int(x["id"])][0]) <= 1e-8 for x in rows),
          f"journal files of the older format ({n_files}) rank the same (figures from their /run)")
    r = run("results", "pack", path)
    with h5py.File(path, "r") as f:
        s2 = f["summary"][()]
    check(r.returncode == 0 and len(s2) == 9 and np.isfinite(s2["kept_val_loss"]).all(),
          f"and packing them stores finite kept figures, not NaN [{r.stderr.strip()[:120]}]")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
