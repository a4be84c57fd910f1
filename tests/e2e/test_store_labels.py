#!/usr/bin/python3
"""End-to-end test of the labels of stored runs after --resume --force: runs are grouped
into variants by their configuration (the expanded spec after overrides and the dataset:
the run key less repeat and seed), never by a stale id. After a forced resume with another
--epochs, and after removing a grid value, every variant id holds runs of one configuration
only (checked against each group's own config_key attribute), the current grid's runs have
its ids and names, the runs of other configurations have ids after the grid's and names
marked "[not in grid]"; summary, /summary, the groups, export --run/--best and
attnsweep_results.load agree.
Then `attnsweep export` on a results file that is not packed (the writer killed after its
3rd run with the test hook ATTNSWEEP_TEST_CRASH=after-run:3: 3 runs in the journal, none of
their groups in the index): export --best, --run v<id>_r<r> and --run <run key>, with
--weights, read the journal like summary does, leave the file and the journal byte for
byte, and write exactly what they write after `results pack`."""
import csv
import hashlib
import io
import json
import os
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, ENV, Checks, temp_path  # noqa: E402

check = Checks(verbose=True)
SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts")


def run(args, env=None):
    return subprocess.run([BIN] + args, env=env or ENV, capture_output=True, text=True, timeout=600)


def text(v):
    return v.split(b"\0")[0].decode() if isinstance(v, bytes) else str(v)


def stored(path):
    """[(id, repeat, name, filters, epochs, config_key, best_val_loss)] of every run, from /summary and
    the run's group; also checks the group's id/name attributes equal the row's."""
    out = []
    with h5py.File(path, "r") as f:
        for row in f["summary"][()]:
            if not text(row["status"]):
                continue
            g = f["variants"][text(row["key"])]
            cfg = json.loads(g.attrs["config"])
            rid, name = int(row["id"]), text(row["name"])
            check(int(g.attrs["id"]) == rid and text(g.attrs["name"]) == name,
                  "run %s: group id/name %s/%s equal the /summary row's %d/%s"
                  % (text(row["key"])[:8], g.attrs["id"], text(g.attrs["name"]), rid, name))
            out.append((rid, int(row["repeat"]), name, cfg["model"][0]["filters"],
                        cfg["train"]["epochs"], text(g.attrs["config_key"]),
                        float(row["best_val_loss"])))
    return out


def summary_csv(path):
    r = run(["summary", path, "--csv"])
    check(r.returncode == 0, "summary --csv " + r.stderr.strip()[-200:])
    return {int(row["id"]): row for row in csv.DictReader(io.StringIO(r.stdout))}


def one_config_per_id(runs, what):
    by_id = {}
    for rid, _, _, _, _, ck, _ in runs:
        by_id.setdefault(rid, set()).add(ck)
    check(all(len(v) == 1 for v in by_id.values()),
          what + ": every variant id holds runs of one configuration only (%s)"
          % {k: len(v) for k, v in by_id.items()})
    check(len(set().union(*by_id.values())) == len(by_id),
          what + ": no configuration is split over two ids")


def exported(path, tmp, *sel):
    out = os.path.join(tmp, "e%d.json" % len(os.listdir(tmp)))
    r = run(["export", path, *sel, "-o", out])
    check(r.returncode == 0, "export %s: %s" % (" ".join(sel), r.stderr.strip()[-200:]))
    if r.returncode:
        return None
    with open(out) as fh:
        return json.load(fh)


def agree(path, tmp, runs, what):
    """summary, attnsweep_results.load and export --best agree with the stored runs."""
    rows = summary_csv(path)
    ids = {r[0] for r in runs}
    check(set(rows) == ids, what + ": summary lists every variant id %s (got %s)" % (sorted(ids), sorted(rows)))
    for rid, row in rows.items():
        mine = [r for r in runs if r[0] == rid]
        check(int(row["repeats_ok"]) == len(mine) and row["name"] == mine[0][2]
              and int(row["epochs_run"]) == mine[0][4],
              what + ": summary row of id %d: %s repeats of %s, %s epochs"
              % (rid, row["repeats_ok"], row["name"], row["epochs_run"]))
    sys.path.insert(0, SCRIPTS)
    import attnsweep_results
    cols = attnsweep_results.load(path, pandas=False)
    got = sorted(zip((int(i) for i in cols["id"]), (int(r) for r in cols["repeat"]), cols["name"]))
    check(got == sorted((r[0], r[1], r[2]) for r in runs), what + ": attnsweep_results.load agrees")
    best = min(runs, key=lambda r: r[6])
    spec = exported(path, tmp, "--best")
    check(spec is not None and spec["model"][0]["filters"] == best[3]
          and spec["train"]["epochs"] == best[4],
          what + ": export --best is the run of the lowest val_loss (v%04d_r%d, %s)" % (best[0], best[1], best[2]))
    return rows


def digest(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


def weights(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def exports(res, tmp, tag):
    """{selection: (exit status, spec text, weights)} of the three ways to name a run."""
    out = {}
    for sel in (["--best"], ["--run", "v0001_r0"], ["--run", "KEY"]):
        if sel[-1] == "KEY":
            with h5py.File(res, "r") as f:  # a run key, from the journal or the index
                jdir = res + ".journal"
                keys = [k[:-3] for k in os.listdir(jdir)] if os.path.isdir(jdir) else []
                keys += list(f["variants"].keys()) if "variants" in f else []
            sel = ["--run", sorted(keys)[0]]
        spec, w = os.path.join(tmp, tag + "%d.json" % len(out)), os.path.join(tmp, tag + "%d.h5" % len(out))
        r = run(["export", res, *sel, "-o", spec, "--weights", w])
        txt = open(spec).read() if r.returncode == 0 else r.stderr.strip()
        out[" ".join(sel)] = (r.returncode, txt, weights(w) if r.returncode == 0 else None)
    return out


def toy_sweep(tmp):
    """toy.h5 and sw.json (grid f [2, 4], 2 repeats, 2 epochs, weights saved) in tmp."""
    data = os.path.join(tmp, "toy.h5")
    check(run(["data", "toy", "--samples", "200", "--test-samples", "20", "-o", data]).returncode == 0,
          "toy data")
    sweep = {"data": "toy.h5",
             "model": [{"type": "conv1d", "filters": "$f", "kernel_size": 3},
                       {"type": "conv1d", "filters": 1, "kernel_size": 3}],
             "train": {"epochs": 2, "validation_split": 0.2}, "grid": {"f": [2, 4]},
             "repeats": 2, "save_weights": True, "attention_samples": 0, "prediction_samples": 1}
    sp = os.path.join(tmp, "sw.json")
    with open(sp, "w") as fh:
        json.dump(sweep, fh)
    return sweep, sp


def labels():
    tmp = temp_path("attnsweep-labels-")
    ex = temp_path("attnsweep-labels-export-")
    sweep, sp = toy_sweep(tmp)
    out = os.path.join(tmp, "f.h5")
    check(run(["sweep", sp, "-o", out]).returncode == 0, "sweep of 2 epochs")
    r = run(["sweep", sp, "-o", out, "--resume", "--force", "--epochs", "4"])
    check(r.returncode == 0, "--resume --force --epochs 4: " + r.stderr.strip()[-200:])
    runs = stored(out)
    check(len(runs) == 8, "8 runs stored (got %d)" % len(runs))
    one_config_per_id(runs, "--epochs 4")
    cur = sorted((r[0], r[2], r[3]) for r in runs if r[4] == 4)
    check(cur == [(0, "f=2", 2), (0, "f=2", 2), (1, "f=4", 4), (1, "f=4", 4)],
          "the 4-epoch runs have the grid's ids and names: %s" % cur)
    old = [r for r in runs if r[4] == 2]
    check(all(r[0] >= 2 and r[2].endswith("[not in grid]") for r in old),
          "the 2-epoch runs have ids after the grid's and names marked [not in grid]: %s"
          % sorted((r[0], r[2]) for r in old))
    agree(out, ex, runs, "--epochs 4")
    spec = exported(out, ex, "--run", "v0000_r0")
    check(spec is not None and spec["train"]["epochs"] == 4 and spec["model"][0]["filters"] == 2,
          "export --run v0000_r0 is the current f=2 run of 4 epochs")

    # removing a grid value: f=4 becomes id 0; the stored f=2 runs must not take its label
    sweep["grid"] = {"f": [4, 8]}
    with open(sp, "w") as fh:
        json.dump(sweep, fh)
    r = run(["sweep", sp, "-o", out, "--resume", "--force", "--epochs", "4"])
    check(r.returncode == 0 and "2 to go" in r.stdout, "grid [4, 8]: only f=8 trained: " + r.stdout[-200:])
    runs = stored(out)
    check(len(runs) == 10, "10 runs stored (got %d)" % len(runs))
    one_config_per_id(runs, "grid [4, 8]")
    cur = sorted((r[0], r[2], r[3], r[4]) for r in runs if r[0] < 2)
    check(cur == [(0, "f=4", 4, 4)] * 2 + [(1, "f=8", 8, 4)] * 2,
          "ids 0 and 1 are f=4 and f=8 of 4 epochs only: %s" % cur)
    check(all(r[2].endswith("[not in grid]") and r[2].count("[not in grid]") == 1
              for r in runs if r[0] >= 2), "every other run is marked [not in grid] once")
    rows = agree(out, ex, runs, "grid [4, 8]")
    check(len(rows) == 5, "5 variants: f=4, f=8 and three not in the grid (got %d)" % len(rows))
    spec = exported(out, ex, "--run", "v0000_r0")
    check(spec is not None and spec["model"][0]["filters"] == 4 and spec["train"]["epochs"] == 4,
          "export --run v0000_r0 is the f=4 run, not a stale f=2 one")
    r = run(["results", "pack", out])
    check(r.returncode == 0 and stored(out) == runs, "results pack keeps every label")
    report = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                          "report.py")
    r = subprocess.run([sys.executable, report, out, "-o", os.path.join(tmp, "rep")],
                       capture_output=True, text=True, timeout=600)
    page = open(os.path.join(tmp, "rep", "index.html")).read() if r.returncode == 0 else ""
    check("4 of 4 runs, and 6 runs of configurations not in the current grid" in page,
          "the report counts the grid's 4 runs as planned and the 6 others apart "
          "(%d: %s)" % (r.returncode, r.stderr.strip()[-160:]))


def unpacked_export():
    tmp = temp_path("attnsweep-unpacked-")
    _, sp = toy_sweep(tmp)
    res = os.path.join(tmp, "k.h5")
    r = run(["sweep", sp, "-o", res], env=dict(ENV, ATTNSWEEP_TEST_CRASH="after-run:3"))
    check(r.returncode != 0, "the sweep is killed after its 3rd run (exit %d)" % r.returncode)
    jdir = res + ".journal"
    jfiles = sorted(os.path.join(jdir, n) for n in os.listdir(jdir))
    check(len(jfiles) == 3, "3 runs in the journal (got %d)" % len(jfiles))
    with h5py.File(res, "r") as f:
        check(len(f["variants"]) == 0, "and none of their groups in the index")
    before = digest([res] + jfiles)
    r = run(["summary", res])
    check(r.returncode == 0 and "3 runs" in r.stdout, "summary lists the 3 runs")

    live = exports(res, tmp, "live")
    for sel, (rc, txt, _) in live.items():
        check(rc == 0, "export %s on the unpacked file: %s" % (sel, "ok" if rc == 0 else txt[-200:]))
    check(digest([res] + jfiles) == before and sorted(os.listdir(jdir)) == [os.path.basename(p) for p in jfiles],
          "export left the results file and the journal byte for byte")

    r = run(["results", "pack", res])
    check(r.returncode == 0, "results pack")
    packed = exports(res, tmp, "packed")
    for sel in live:
        a, b = live[sel], packed[sel]
        check(a[0] == b[0] == 0 and a[1] == b[1], "export %s: the same spec before and after the pack" % sel)
        same = a[2] is not None and b[2] is not None and a[2].keys() == b[2].keys() and \
            all(np.array_equal(a[2][k], b[2][k]) for k in a[2])
        check(same, "export %s: the same weights before and after the pack" % sel)


def shared_labels():
    """A changed sweep seed under --force: the same configurations' new runs share the
    labels v<id>_r<repeat> with the old ones; export --run LABEL refuses the ambiguity
    (exit 2, naming a key) and the run key still selects either run."""
    tmp = temp_path("attnsweep-labels-seed-")
    sweep, sp = toy_sweep(tmp)
    out = os.path.join(tmp, "s.h5")
    check(run(["sweep", sp, "-o", out]).returncode == 0, "sweep with seed 0")
    sweep["seed"] = 1
    with open(sp, "w") as fh:
        json.dump(sweep, fh)
    check(run(["sweep", sp, "-o", out, "--resume", "--force"]).returncode == 0,
          "--resume --force with seed 1")
    with h5py.File(out, "r") as f:
        rows = [(int(x["id"]), int(x["repeat"]), text(x["key"])) for x in f["summary"][()]
                if text(x["status"])]
    same = [k for i, rep, k in rows if i == 0 and rep == 0]
    r = run(["export", out, "--run", "v0000_r0", "-o", os.path.join(tmp, "e.json")])
    check(len(rows) == 8 and len(same) == 2 and r.returncode == 2
          and "several runs carry this label" in r.stderr
          and sum(k in r.stderr for k in same) == 1 and not os.path.exists(os.path.join(tmp, "e.json")),
          "export --run v0000_r0 with two runs of that label: exit 2 naming one key (%d: %s)"
          % (r.returncode, r.stderr.strip()[-160:]))
    specs = [exported(out, tmp, "--run", k) for k in same[:2]]
    check(len(same) >= 2 and all(s is not None for s in specs) and specs[0] != specs[1],
          "each of them is exported by its run key, and they differ (their seeds)")


def main():
    labels()
    unpacked_export()
    shared_labels()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
