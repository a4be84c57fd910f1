#!/usr/bin/python3
"""End-to-end rung policies with early stopping (sweeps/README.md, "Search"): a run that
early stopping ends, inside a rung or on its last epoch, is finished -- status ok, with its
dumps, on the leaderboard, rung metric its kept epoch's value, rungs/mean finite -- and its
variant is never promoted; it keeps its place in the rung's ranking; with repeats, the
repeats it did not end are stopped there. Checked for successive halving, Hyperband and
ASHA, ended inside rung 0, on its last epoch and inside rung 1, on 1, 2 and 3 ranks
(statuses, promotions and curves bit for bit identical), and after kill -9 at every
journal line then --resume (bit-identical to the uninterrupted sweep, the ended runs'
dumps retrained). With a repeat that diverged in the same rung as one early stopping ended
(or as one that reached max_epochs), the finished run is stored, with its dumps, live and
on 1 and 2 ranks, and after kill -9 at every journal line then --resume, on 1 and 2 ranks."""
import glob
import json
import os
import re
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import temp_path  # noqa: E402
from test_search import check, checks, decisions, run, same  # noqa: E402


def load(path):
    out = {}
    with h5py.File(path, "r") as f:
        for g in f["variants"].values():
            k = "v%04d_r%d" % (g.attrs["id"], g.attrs["repeat"])
            d = {"status": g.attrs["status"], "keys": sorted(g.keys()), "key": g.name,
                 "stopped_epoch": int(g.attrs["stopped_epoch"]), "kept_epoch": int(g.attrs["kept_epoch"])}
            for c in ("loss", "val_loss", "rungs/epochs", "rungs/metric", "rungs/mean"):
                d[c] = g[c][:] if c in g else None
            out[k] = d
    return out


def leaderboard(path):
    """The variant ids `summary` ranks, and whether it lists runs the search stopped."""
    r = run(["summary", path])
    ids, board = [], True
    for ln in r.stdout.splitlines():
        if ln.startswith("stopped by the search"):
            board = False
        m = re.match(r"\s+\d+\s+(\d+)\s", ln)
        if board and m:
            ids.append(int(m.group(1)))
    return r.returncode, ids, "stopped by the search" in r.stdout


def main():
    tmp = temp_path("attnsweep-search-es-")
    data = os.path.join(tmp, "toy.h5")
    r = run(["data", "toy", "--samples", "200", "--test-samples", "20", "-o", data])
    check(r.returncode == 0, "toy data generated")

    def write(name, doc):
        p = os.path.join(tmp, name)
        with open(p, "w") as fh:
            json.dump(doc, fh)
        return p

    conv = [{"type": "conv1d", "filters": "$f", "kernel_size": 3, "activation": "relu"},
            {"type": "conv1d", "filters": 1, "kernel_size": 3}]
    # patience 0 and min_delta 100: every run stops at epoch 2 (inside rung 0 of 3 epochs)
    es = {"data": "toy.h5", "model": conv, "prediction_samples": 2,
          "train": {"epochs": 6, "batch_size": 64, "validation_split": 0.2,
                    "early_stopping": {"patience": 0, "min_delta": 100}},
          "grid": {"f": [2, 4, 8]},
          "search": {"type": "successive_halving", "min_epochs": 3, "max_epochs": 6, "eta": 2}}
    for typ in ("successive_halving", "hyperband", "asha"):
        o = os.path.join(tmp, f"es-{typ}.h5")
        r = run(["sweep", write("es.json", dict(es, search=dict(es["search"], type=typ))), "-o", o])
        a = load(o) if r.returncode == 0 else {}
        check(len(a) == 3 and all(x["status"] == "ok" and x["stopped_epoch"] == 2 and len(x["val_loss"]) == 2
                                  and "predictions" in x["keys"] for x in a.values()),
              f"{typ}: every run early-stopped at epoch 2 inside rung 0 is stored ok, with its dumps",
              ({k: (x["status"], x["stopped_epoch"]) for k, x in a.items()}, r.stderr[-300:]))
        check(all(len(x["rungs/epochs"]) == 1 and x["rungs/metric"][0] == x["val_loss"][x["kept_epoch"] - 1]
                  and x["rungs/mean"][0] == x["rungs/metric"][0] for x in a.values()),
              f"{typ}: rung metric and mean are the kept epoch's val_loss (finite)")
        rc, ids, listed = leaderboard(o)
        check(rc == 0 and sorted(ids) == [0, 1, 2] and not listed,
              f"{typ}: all 3 runs on the leaderboard, none listed as stopped", ids)
        best = min(a, key=lambda k: (np.nanmin(a[k]["val_loss"]), k)) if a else None
        check(best is not None and ids and ids[0] == int(best[1:5]),
              f"{typ}: the lowest best val_loss leads the leaderboard", (best, ids))

    # 9 variants, rungs 2, 4, 6: every run stops on the boundary of rung 0 (epoch 2)
    att = [conv[0], {"type": "self_attention", "num_heads": "$h", "key_dim": 4}, conv[1]]
    g9 = {"data": "toy.h5", "model": att, "prediction_samples": 2,
          "train": {"epochs": 9, "batch_size": 64, "validation_split": 0.2,
                    "early_stopping": {"patience": 0, "min_delta": 100},
                    "optimizer": {"type": "adam", "learning_rate": 0.01}},
          "grid": {"f": [2, 4, 8], "h": [1, 2, 3]},
          "search": {"type": "successive_halving", "min_epochs": 2, "max_epochs": 6, "eta": 2}}
    # half the variants never early-stop (patience 50): the ended ones keep their places
    # in rung 0's top 3, the others go on
    mx = {"data": "toy.h5", "model": conv, "prediction_samples": 2,
          "train": {"epochs": 6, "batch_size": 64, "validation_split": 0.2,
                    "early_stopping": {"patience": "$p", "min_delta": 100},
                    "optimizer": {"type": "adam", "learning_rate": 0.01}},
          "grid": {"f": [2, 4, 8], "p": [0, 50]},
          "search": {"type": "successive_halving", "min_epochs": 2, "max_epochs": 6, "eta": 2}}
    # patience 2 (stop at epoch 3) or 50: nothing ends in rung 0; the promoted variants with
    # patience 2 end inside rung 1 (4 epochs)
    mx2 = dict(mx, grid={"f": [2, 4, 8], "p": [2, 50]})
    # 2 repeats, patience 0, min_delta 3: early stopping ends some repeats of a variant and
    # not the others (the seeds differ); such a variant is not promoted
    mr = dict(mx, repeats=2, grid={"f": [2, 4, 8, 16]},
              train=dict(mx["train"], early_stopping={"patience": 0, "min_delta": 3}))
    for name, doc in (("g9", g9), ("mx", mx), ("mx-hb", dict(mx, search=dict(mx["search"], type="hyperband"))),
                      ("mx2", mx2), ("mr", mr)):
        path = write(name + ".json", doc)
        outs = {}
        for np_ in (1, 2, 3):
            o = os.path.join(tmp, f"{name}-{np_}.h5")
            r = run(["sweep", path, "-o", o], np_=np_ if np_ > 1 else None)
            check(r.returncode == 0, f"{name} on {np_} rank(s) exit 0", r.stderr[-300:])
            outs[np_] = load(o) if r.returncode == 0 else {}
        a = outs[1]
        check(a and same(a, outs[2]) and same(a, outs[3]), f"{name}: identical statuses, rungs and "
              "curves (bit for bit) on 1, 2 and 3 ranks",
              {np_: sorted((k, x["status"]) for k, x in outs[np_].items()) for np_ in outs})
        d1 = sorted(decisions(os.path.join(tmp, f"{name}-1.h5")))
        check(all(d1 == sorted(decisions(os.path.join(tmp, f"{name}-{n}.h5"))) for n in (2, 3)),
              f"{name}: the same promotions and stops on 1, 2 and 3 ranks")
        ended = [k for k in a if a[k]["stopped_epoch"] > 0]
        if name != "mr":
            at = 2 if name == "mx2" else 1  # the rung early stopping ends them in, its last epoch
            check(ended and all(len(a[k]["rungs/epochs"]) == at and len(a[k]["val_loss"]) == at + 1
                                for k in ended), f"{name}: early stopping ends {len(ended)} runs at the "
                  f"last epoch of rung {at - 1}", {k: list(a[k]["rungs/epochs"]) for k in ended})
        check(ended and all(a[k]["status"] == "ok" and "predictions" in a[k]["keys"] and
                            np.isfinite(a[k]["rungs/mean"]).all() for k in ended),
              f"{name}: the {len(ended)} early-stopped runs are ok, with dumps and finite means",
              {k: (a[k]["status"], list(a[k]["rungs/epochs"])) for k in ended})
        mixed = variants_never_promoted(name, a, ended)
        if name == "mr":
            check(mixed, "mr: some variant has a repeat early stopping ended and one it did not")
        check(all(np.isfinite(x["rungs/mean"]).all() for x in a.values()) and
              not glob.glob(os.path.join(tmp, f"{name}-1.h5.search", "ck", "*")),
              f"{name}: rungs/mean finite for every rung a run finished; no checkpoint left")
        rc, ids, _ = leaderboard(os.path.join(tmp, f"{name}-1.h5"))
        check(set(int(k[1:5]) for k in ended) <= set(ids), f"{name}: every early-stopped run on the leaderboard",
              (ended, ids))
        if name == "mx":  # rung 0's top max(1, 6 // 2) = 3 by val_loss; only the non-ended go on
            top = sorted(a, key=lambda k: a[k]["rungs/metric"][0])[:3]
            went = sorted(k for k in a if len(a[k]["rungs/epochs"]) > 1)
            check(went == sorted(k for k in top if k not in ended) and
                  all(a[k]["status"] == "stopped" for k in a if k not in ended and k not in top),
                  "mx: rung 0 promotes the non-ended variants of its top 3 (the ended keep their places); "
                  "the rest are stopped", (top, went, ended))
        if name in ("mx", "mx2", "mr"):
            kill_resume(name, path, a, tmp)
    dead_repeat(tmp, write, conv)
    return checks.summary()


def dead_repeat(tmp, write, conv):
    """A variant one of whose repeats diverged (sgd, learning rate 0.2 or 0.3: deterministic,
    the seeds come from the run keys) while the other was finished in the same rung, by early
    stopping (dr-*: epoch 2 inside rung 0 of 3 epochs) or at max_epochs (dr-R: one rung of 2
    epochs). --resume replays the stop decision the dead repeat brings before the finished
    run's dumps are retrained; the retrained run must still be stored (it was held, then
    dropped unstored at the end, before the fix)."""
    dr = {"data": "toy.h5", "model": conv, "prediction_samples": 2, "repeats": 2,
          "train": {"epochs": 6, "batch_size": 64, "validation_split": 0.2,
                    "optimizer": {"type": "sgd", "learning_rate": "$lr"},
                    "early_stopping": {"patience": 0, "min_delta": 100}},
          "grid": {"f": [2], "lr": [0.01, 0.1, 0.2, 0.25]},
          "search": {"type": "successive_halving", "min_epochs": 3, "max_epochs": 6, "eta": 2}}
    dr_r = dict(dr, train={k: v for k, v in dr["train"].items() if k != "early_stopping"},
                grid={"f": [2], "lr": [0.01, 0.3]}, search=dict(dr["search"], min_epochs=2, max_epochs=2))
    dr_r["train"]["epochs"] = 2
    # (finished, diverged) repeats of one variant: either may report first
    both = [("v0001_r1", "v0001_r0"), ("v0002_r0", "v0002_r1")]
    cases = [(f"dr-{t}", dict(dr, search=dict(dr["search"], type=t)), 2, both)
             for t in ("successive_halving", "hyperband", "asha")] + [("dr-R", dr_r, 0, [("v0001_r0", "v0001_r1")])]
    for name, doc, stop_ep, pairs in cases:
        path = write(name + ".json", doc)
        outs = {}
        for np_ in (1, 2):
            o = os.path.join(tmp, f"{name}-{np_}.h5")
            r = run(["sweep", path, "-o", o], np_=np_ if np_ > 1 else None)
            outs[np_] = load(o) if r.returncode == 0 else {}
        a = outs[1]
        check(len(a) == len(doc["grid"]["lr"]) * 2 and same(a, outs[2]),
              f"{name}: every run stored, identical on 1 and 2 ranks", {n: sorted(outs[n]) for n in outs})
        for fin, dead in pairs:
            x, y = a.get(fin), a.get(dead)
            check(x and y and y["status"] == "diverged" and "predictions" in x["keys"] and
                  x["stopped_epoch"] == stop_ep and x["status"] == ("ok" if stop_ep else "stopped"),
                  f"{name}: {dead} diverged and {fin} finished in the same rung "
                  f"({'early stopping ended it: ok' if stop_ep else 'at max_epochs: stopped'}, with its dumps)",
                  [(z["status"], z["stopped_epoch"], len(z["val_loss"])) for z in (x, y) if z])
        for np_ in (1, 2):  # on 2 ranks the dead repeat may report first: the other still trains
            kill_resume(name, path, a, tmp, np_=np_, every=True)


def kill_resume(name, path, ref, tmp, np_=1, every=False):
    """kill -9 after every journal line, then --resume: bit-identical to the uninterrupted
    sweep, the ended runs' dumps retrained from their rung's checkpoint. every: after the
    last two lines too (the rung's last report, its decisions)."""
    with open(os.path.join(tmp, f"{name}-1.h5") + ".search/journal") as fh:
        nlines = sum(1 for _ in fh) - 1
    bad = []
    last = nlines + 1 if every else nlines - 1
    mpi = np_ if np_ > 1 else None
    for kill in range(1, last + 1):
        ko = os.path.join(tmp, f"{name}-k{kill}-{np_}.h5")
        r1 = run(["sweep", path, "-o", ko], np_=mpi, env={"AS_TEST_SEARCH_KILL": str(kill)})
        r2 = run(["sweep", path, "-o", ko, "--resume"], np_=mpi)
        got = load(ko) if r2.returncode == 0 else {}
        if r1.returncode == 0 or r2.returncode != 0 or not same(ref, got):
            bad.append((kill, r1.returncode, r2.returncode, r2.stderr[-200:],
                        sorted((k, x["status"], "predictions" in x["keys"]) for k, x in got.items())))
    check((nlines > 8 or every) and not bad, f"{name}: killed after each of journal lines 1..{last} "
          f"on {np_} rank(s), --resume ends bit-identical to the uninterrupted sweep (finished runs "
          "stored as there, with their dumps)", bad)


def variants_never_promoted(name, a, ended):
    """Checks that no repeat of a variant went past the rung where early stopping ended one of
    them, that its other repeats were stopped there (unless it was the last rung), and that
    rungs/mean is the mean of the repeats' rungs/metric. Returns the mixed variants."""
    by_v = {}
    for k in a:
        by_v.setdefault(k[:5], []).append(k)
    mixed, bad = [], []
    for v, runs in by_v.items():
        end = [k for k in runs if k in ended]
        nr = {k: len(a[k]["rungs/epochs"]) for k in runs}
        n = min(len(a[k]["rungs/metric"]) for k in runs)
        mean = np.mean([a[k]["rungs/metric"][:n] for k in runs], axis=0)
        if not all(np.array_equal(a[k]["rungs/mean"][:n], mean) for k in runs):
            bad.append((v, "mean"))
        if not end:
            continue
        if len(end) < len(runs):
            mixed.append(v)
        # the others stop at that rung; at R (6 epochs) they are finished
        if any(nr[k] != nr[end[0]] for k in runs) or any(
                a[k]["status"] != ("ok" if len(a[k]["val_loss"]) == 6 else "stopped")
                for k in runs if k not in ended):
            bad.append((v, {k: (a[k]["status"], nr[k]) for k in runs}))
    check(not bad, f"{name}: a variant early stopping ended a repeat of is never promoted, its other "
          "repeats are stopped there; rungs/mean is the mean of its repeats' rung metrics", bad)
    return mixed



if __name__ == "__main__":
    sys.exit(main())
