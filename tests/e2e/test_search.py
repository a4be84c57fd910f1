#!/usr/bin/python3
"""End-to-end search policies through the CLI: successive halving identical on 1, 2 and 3
ranks (promotions, statuses, bit-identical curves), a continued run equal to one trained
straight to its epochs, stopped runs with their rungs, Hyperband and ASHA, kill -9 at
many instants then --resume (halving and Hyperband bit-identical to uninterrupted; ASHA
keeps every recorded decision), random search over distributions, and bad search blocks
exiting 2 with nothing written."""
import glob
import json
import os
import subprocess
import sys

import h5py
import numpy as np

BIN = os.environ.get("ATTNSWEEP_BIN", "build/attnsweep")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, kill_session, temp_path  # noqa: E402
checks = Checks(verbose=True)


def check(cond, what, info=None):
    """A check; on failure info (output, values) is printed after it."""
    if not checks(cond, what) and info is not None:
        print(f"      {info}")
    return cond


def run(args, np_=None, env=None, timeout=600):
    cmd = (["mpirun", "--bind-to", "none", "-np", str(np_)] if np_ else []) + [BIN] + args
    if env:  # forwarded to every rank
        cmd[1:1] = sum([["-x", k] for k in env], []) if np_ else []
    e = dict(ENV, **(env or {}))
    # a killed mpirun may leave ranks: start it as its own session and kill that
    p = subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    finally:  # every process of the job's session, ranks included
        kill_session(p.pid)
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def load(path):
    out = {}
    with h5py.File(path, "r") as f:
        for g in f["variants"].values():  # groups are named by run key: index by label
            k = "v%04d_r%d" % (g.attrs["id"], g.attrs["repeat"])
            d = {"status": g.attrs["status"], "keys": sorted(g.keys())}
            for c in ("loss", "val_loss", "rungs/epochs", "rungs/metric", "rungs/mean"):
                d[c] = g[c][:] if c in g else None
            out[k] = d
    return out


def same(a, b, prefix=False):
    """Same runs, statuses, arrays (bit for bit); prefix: b's curves may be longer."""
    if set(a) != set(b):
        return False
    for k in a:
        if not prefix and (a[k]["status"] != b[k]["status"] or a[k]["keys"] != b[k]["keys"]):
            return False
        for c in (("loss", "val_loss") if prefix else ("loss", "val_loss", "rungs/epochs",
                                                       "rungs/metric", "rungs/mean")):
            x, y = a[k][c], b[k][c]
            if (x is None) != (y is None):
                return False
            if x is not None and not np.array_equal(x, y[:len(x)] if prefix else y, equal_nan=True):
                return False
    return True


def decisions(out):
    with open(out + ".search/journal") as fh:
        return [ln.split()[:3] for ln in fh if ln[0] in "PS"]


def main():
    tmp = temp_path("attnsweep-search-")
    data = os.path.join(tmp, "toy.h5")
    r = run(["data", "toy", "--samples", "120", "--test-samples", "4", "-o", data])
    check(r.returncode == 0, "toy data generated")
    sweep = {
        "data": "toy.h5",
        "model": [{"type": "conv1d", "filters": "$f", "kernel_size": 3, "activation": "relu"}, "$L",
                  {"type": "conv1d", "filters": 1, "kernel_size": 3}],
        "train": {"epochs": 2, "batch_size": 16, "validation_split": 0.25,
                  "optimizer": {"type": "adam", "learning_rate": 0.003}},
        "grid": {"f": [4, 8],
                 "L": [{"type": "conv1d", "filters": 4, "kernel_size": 3},
                       {"type": "self_attention", "num_heads": "$h", "key_dim": 4}],
                 "h": [1, 2]},
        "repeats": 2, "attention_samples": 1, "prediction_samples": 2,
        "search": {"type": "successive_halving", "min_epochs": 1, "max_epochs": 9, "eta": 2},
    }

    def write(name, doc):
        p = os.path.join(tmp, name)
        with open(p, "w") as fh:
            json.dump(doc, fh, indent=1)
        return p

    sh = write("sh.json", sweep)
    outs = {}
    for np_ in (1, 2, 3):
        o = os.path.join(tmp, f"sh{np_}.h5")
        r = run(["sweep", sh, "-o", o], np_=np_ if np_ > 1 else None)
        check(r.returncode == 0, f"halving on {np_} rank(s) exit 0", r.stderr[-400:])
        outs[np_] = load(o)
    a = outs[1]
    check(same(a, outs[2]) and same(a, outs[3]), "halving: identical runs, statuses, rungs and curves "
          "on 1, 2 and 3 ranks (bit for bit)")
    check(sorted(decisions(os.path.join(tmp, "sh1.h5"))) == sorted(decisions(os.path.join(tmp, "sh3.h5"))),
          "halving: the same promotions and stops on 1 and 3 ranks")
    st = [a[k]["status"] for k in sorted(a)]
    check(st.count("ok") == 2 and st.count("stopped") == 10, "halving: one variant (2 repeats) "
          "finishes, the others are stopped", st)
    ladder = [1, 2, 4, 8, 9]
    check(all(list(a[k]["rungs/epochs"]) == ladder[:len(a[k]["rungs/epochs"])] and
              len(a[k]["val_loss"]) == a[k]["rungs/epochs"][-1] for k in a),
          "every run's rungs are the ladder 1, 2, 4, 8, 9 up to where it stopped, its curves that long")
    # 6 variants -> 3 -> 1 (floor(n / eta), at least 1): 2 repeats x (3 stopped at 1 epoch,
    # 2 at 2 epochs, 1 finished with 9)
    ep = sum(len(a[k]["val_loss"]) for k in a)
    check(ep == 2 * (3 * 1 + 2 * 2 + 1 * 9), "halving: stopped runs keep only their epochs", ep)
    fin = [k for k in a if a[k]["status"] == "ok"]
    check(all("predictions" in a[k]["keys"] for k in fin) and
          not any("predictions" in a[k]["keys"] for k in a if k not in fin),
          "dumps stored only for the runs' last rung")
    mean = {k: a[k]["rungs/mean"] for k in a}
    best0 = sorted(set(k[:5] for k in a), key=lambda v: (mean[v + "_r0"][0], v))
    check(set(k[:5] for k in a if len(a[k]["rungs/epochs"]) > 1) == set(best0[:3]),
          "rung 0 promotes the 3 variants with the best mean val_loss over repeats")
    # a continued run equals one trained straight to max_epochs
    g = dict(sweep)
    del g["search"]
    gp = write("grid.json", g)
    r = run(["sweep", gp, "-o", os.path.join(tmp, "grid.h5"), "--epochs", "9"])
    check(r.returncode == 0, "straight grid to 9 epochs")
    check(same(a, load(os.path.join(tmp, "grid.h5")), prefix=True),
          "rung-continued curves equal the straight runs' epochs bit for bit")
    check(not os.path.exists(os.path.join(tmp, "sh1.h5.search/ck")), "checkpoints removed at the end")

    # Hyperband and ASHA run through; resume after kill -9 at many instants
    hb = write("hb.json", dict(sweep, search=dict(sweep["search"], type="hyperband")))
    asha = write("asha.json", dict(sweep, search=dict(sweep["search"], type="asha")))
    ref = {}
    for name, path in (("sh", sh), ("hb", hb), ("asha", asha)):
        o = os.path.join(tmp, f"{name}-ref.h5")
        r = run(["sweep", path, "-o", o], np_=2)
        check(r.returncode == 0, f"{name} on 2 ranks exit 0", r.stderr[-300:])
        ref[name] = load(o)
        check(any(ref[name][k]["status"] == "ok" and len(ref[name][k]["val_loss"]) == 9 for k in ref[name]),
              f"{name}: some variant reaches max_epochs")
        with open(o + ".search/journal") as fh:
            nlines = sum(1 for _ in fh) - 1
        # up to the last line (the last rung's report, then its decisions): nlines + 1
        kills = [1, 2, nlines // 3, nlines // 2, nlines - 3, nlines - 1, nlines, nlines + 1]
        for kill in sorted(set(kills)):
            ko = os.path.join(tmp, f"{name}-k{kill}.h5")
            r = run(["sweep", path, "-o", ko], np_=2, env={"AS_TEST_SEARCH_KILL": str(kill)})
            killed = r.returncode != 0
            before = decisions(ko)
            r = run(["sweep", path, "-o", ko, "--resume"], np_=2)
            ok = r.returncode == 0 and killed
            if name == "asha":
                after = decisions(ko)
                ok = ok and after[:len(before)] == before and all(
                    load(ko)[k]["status"] in ("ok", "stopped") for k in ref[name])
                check(ok, f"asha: killed after journal line {kill}, --resume keeps every decision recorded "
                      "and finishes", r.stderr[-300:])
            else:
                check(ok and same(ref[name], load(ko)), f"{name}: killed after journal line {kill}, "
                      "--resume ends bit-identical to the uninterrupted sweep", r.stderr[-300:])

    # scripts/search_analysis.py's replay of halving and Hyperband on the straight grid's
    # curves trains and picks what the policies' real runs did
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
    import search_analysis as sa  # noqa: E402
    C, keys, _ = sa.grid_table(sa.load(os.path.join(tmp, "grid.h5"), "val_loss")[0], "min")

    def real(runs):
        fin = {int(k[1:5]) for k in runs if runs[k]["status"] == "ok" and len(runs[k]["val_loss"]) == 9}
        return fin, sum(len(x["val_loss"]) for x in runs.values())
    fin, ep, _ = sa.halving(C, keys, range(C.shape[0]), sa.ladder(1, 9, 2), 2)
    check((set(fin), ep) == real(ref["sh"]), "search_analysis: halving replayed on the grid's curves "
          "finishes the same variants with the same epochs as the real run", (fin, ep, real(ref["sh"])))
    first = {int(k[1:5]): int(x["rungs/epochs"][0]) for k, x in ref["hb"].items()}
    fin, ep, sizes = [], 0, []
    for lad, cnt in sa.hyperband_brackets(1, 9, 2, C.shape[0]):
        members = [v for v in sorted(first) if first[v] == lad[0]]
        sizes.append(len(members) == cnt)
        f, e, _ = sa.halving(C, keys, members, lad, 2)
        fin, ep = fin + f, ep + e
    check(all(sizes) and (set(fin), ep) == real(ref["hb"]), "search_analysis: Hyperband's brackets "
          "have the policy's sizes, and replayed they finish the same variants with the same epochs",
          (sizes, fin, ep, real(ref["hb"])))

    # random search over distributions through the CLI
    rnd = dict(sweep, grid={"f": {"randint": [3, 6]},
                            "L": {"choice": sweep["grid"]["L"]},
                            "h": [1, 2]},
               search={"type": "random", "samples": 3, "seed": 5}, repeats=1)
    rnd["train"] = dict(sweep["train"], optimizer={"type": "adam", "learning_rate": "$lr"})
    rnd["grid"]["lr"] = {"loguniform": [1e-4, 1e-2]}
    rp = write("rnd.json", rnd)
    o = os.path.join(tmp, "rnd.h5")
    r = run(["sweep", rp, "-o", o])
    check(r.returncode == 0, "random search over distributions runs", r.stderr[-300:])
    with h5py.File(o, "r") as f:
        ps = [json.loads(g.attrs["params"]) for g in f["variants"].values()]
    check(len(ps) == 3 and all(3 <= p["f"] <= 6 and 1e-4 <= p["lr"] <= 1e-2 for p in ps),
          "drawn values in range, recorded in params", ps)

    # bad search blocks: exit 2 naming the key, nothing written
    def bad(doc, want, name):
        p = write("bad.json", doc)
        o = os.path.join(tmp, "bad.h5")
        r = run(["sweep", p, "-o", o])
        check(r.returncode == 2 and want in r.stderr and not glob.glob(o + "*"),
              f"bad search ({name}): exit 2 naming {want}, nothing written", r.stderr[-300:])

    s0 = sweep["search"]
    bad(dict(sweep, search=dict(s0, eta=1)), "search.eta", "eta 1")
    bad(dict(sweep, search=dict(s0, min_epochs=10)), "search.min_epochs", "min > max")
    bad(dict(sweep, search=dict(s0, metric="val_f1")), "search.metric", "unknown metric")
    bad(dict(sweep, search=dict(s0, metric="val_accuracy")), "search.metric: val_accuracy needs a "
        "classification dataset", "val_accuracy on regression")
    bad(dict(sweep, train=dict(sweep["train"], validation_split=0)), "search.metric: val_loss needs "
        "validation rows", "no validation split")
    # the train.validation object gives a rung search its validation rows too (it read only
    # validation_split): dry run and a real halving sweep with a shuffled split
    tv = dict(sweep["train"], validation={"split": 0.25, "mode": "shuffled", "seed": 3})
    del tv["validation_split"]
    vo = write("val_object.json", dict(sweep, train=tv, grid=dict(sweep["grid"], f=[4]), repeats=1))
    o = os.path.join(tmp, "val_object.h5")
    r = run(["sweep", vo, "-o", o, "--dry-run"])
    check(r.returncode == 0 and not glob.glob(o + "*"), "halving with train.validation {split, "
          "mode shuffled}: the dry run passes", r.stderr[-300:])
    r = run(["sweep", vo, "-o", o])
    with h5py.File(o, "r") as f:
        vl = [g["val_loss"][:] for g in f["variants"].values()] if r.returncode == 0 else []
        split = [json.loads(g.attrs["validation"]) for g in f["variants"].values()] if vl else []
    check(r.returncode == 0 and vl and all(np.isfinite(v).all() for v in vl) and
          all(s["mode"] == "shuffled" and s["n_val"] == 30 for s in split),
          "halving with train.validation trains, validating on 30 shuffled rows", r.stderr[-300:])
    bad(dict(rnd, grid=dict(rnd["grid"], lr={"loguniform": [0, 1e-2]})), "grid.lr.loguniform", "loguniform 0")
    bad(dict(rnd, grid=dict(rnd["grid"], lr={"uniform": [1e-2, 1e-4]})), "grid.lr.uniform: a", "uniform a > b")
    bad(dict(rnd, search={"type": "grid"}), "a distribution cannot be enumerated", "grid with a distribution")
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
