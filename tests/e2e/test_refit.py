#!/usr/bin/python3
"""e2e: train.refit (retrain on every training row for the kept epoch's count).

On a small 3-class set with a test split, `train` with a stratified validation split,
early stopping (restore best) and reduce_lr_on_plateau, and "refit": true:
- the history records refit_epochs = kept_epoch; the saved weights and test metrics equal,
  bit for bit, an independent `train` of a spec with no validation split and no callbacks,
  the same seed, kept_epoch epochs and the selection run's learning rates written out as a
  piecewise_constant_decay schedule (built here from the history's learning_rate curve);
- a sweep with refit stores refit_epochs, a refit_loss curve of that length and the refit
  model's test metrics (equal to train's on the exported spec);
- "refit_keep": "best" keeps the refit's epoch of lowest training loss: refit_kept_epoch
  is the first minimum of the reference's loss curve (not its last epoch here), and the
  weights and test metrics equal the reference trained for that many epochs; a sweep
  stores refit_kept_epoch = the first minimum of its refit_loss curve;
- with --init-weights the refit starts from those weights, not the seed's (the reference
  is built from that run's own kept epoch and rates, with the same --init-weights);
- a SIGTERM during the refit (test hook ATTNSWEEP_TEST_SIGTERM_REFIT_EPOCH) stops it after
  that epoch: nothing is written;
- a refit sweep run's kept_val_loss/kept_val_accuracy are the selection run's curves at
  its kept epoch (the refit has no validation rows);
- evaluate on a refit model warns that its validation rows were trained on;
- a halving sweep with refit (and refit_keep): its stopped runs export without refit, and
  train on the export reproduces their stored test metrics;
- "refit" must be a boolean, "refit_keep" best|last and only with refit (exit 2 naming
  the key).
Skips (exit 77) without numpy/h5py."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, ENV, Checks, need_h5py, temp_dir, sine_classes  # noqa: E402

h5py, np = need_h5py()
check = Checks(verbose=True)
TMP, j = temp_dir("attnsweep-refit-")


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600, env=ENV, cwd=TMP)


def make_data(path):
    sine_classes(path, n=60, n_test=30, T=24, k=3, seed=0, noise=0.9, sort=True)


SPEC = {
    "data": "cls.h5",
    "model": [{"type": "conv1d", "filters": 6, "kernel_size": 5},
              {"type": "batch_normalization", "momentum": 0.9},
              {"type": "activation", "activation": "relu"},
              {"type": "global_average_pooling1d"}, {"type": "dense", "units": "n_classes"}],
    "train": {"epochs": 40, "batch_size": 8, "seed": 5,
              "validation": {"split": 0.25, "mode": "stratified", "seed": 1},
              "optimizer": {"type": "adam", "learning_rate": 0.02},
              "early_stopping": {"patience": 6, "restore_best_weights": True},
              "reduce_lr_on_plateau": {"patience": 1, "factor": 0.5, "min_lr": 1e-4},
              "refit": True},
}


def write(name, doc):
    with open(j(name), "w") as fh:
        json.dump(doc, fh)


def weights(path, group="weights"):
    out = {}
    with h5py.File(path, "r") as f:
        f[group].visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def attrs_rates(name):
    with h5py.File(j(name), "r") as h:
        return dict(h.attrs), h["learning_rate"][()]


def reference(name, epochs, lr, kept, *args, base=SPEC):
    """train on all 60 rows for `epochs` epochs at the selection run's rates (its first
    `kept` epochs as a step schedule), no validation or callbacks: (run, attrs, rates, loss)."""
    spe = -(-60 // 8)  # steps per epoch on every row
    changes = [e for e in range(1, kept) if lr[e] != lr[e - 1]]
    ref = json.loads(json.dumps(base))
    t = ref["train"]
    for k in ("validation", "early_stopping", "reduce_lr_on_plateau", "refit", "refit_keep"):
        t.pop(k, None)
    t["epochs"] = epochs
    if changes:
        t["lr_schedule"] = {"type": "piecewise_constant_decay",
                            "boundaries": [e * spe - 1 for e in changes],
                            "values": [float(lr[0])] + [float(lr[e]) for e in changes]}
    write(name + ".json", ref)
    r = run("train", name + ".json", "--threads", "1", "--history", name + "_h.h5",
            "--save-weights", name + "_w.h5", *args)
    with h5py.File(j(name + "_h.h5"), "r") as h:
        return r, dict(h.attrs), h["learning_rate"][()], h["loss"][()]


def main():
    make_data(j("cls.h5"))
    write("refit.json", SPEC)
    r = run("train", "refit.json", "--threads", "1", "--history", "h.h5", "--save-weights", "w.h5")
    check(r.returncode == 0 and "refit:" in r.stdout, f"train with refit exits 0 {r.stderr[-200:]}")
    a, lr = attrs_rates("h.h5")
    kept = int(a["kept_epoch"])
    check(a["refit_epochs"] == kept and 1 <= kept < 40, f"refit_epochs = kept_epoch = {kept}")
    changes = [e for e in range(1, kept) if lr[e] != lr[e - 1]]
    check(len(changes) >= 1, f"the selection run reduced its rate before epoch {kept} ({changes})")
    r, b, rlr, rloss = reference("ref", kept, lr, kept)
    wa, wb = weights(j("w.h5")), weights(j("ref_w.h5"))
    check(r.returncode == 0 and np.array_equal(rlr, lr[:kept]), "the reference trains at the same rates")
    check(same(wa, wb), "the refit's weights = an independent train on every row for kept_epoch epochs (bit for bit)")
    check(a["test_loss"] == b["test_loss"] and a["test_accuracy"] == b["test_accuracy"],
          f"and its test metrics (accuracy {a['test_accuracy']:.3f})")
    check(a["refit_kept_epoch"] == kept, "refit_keep last (default): refit_kept_epoch = its last epoch")

    # refit_keep best: the refit's epoch of lowest training loss (the reference's curve);
    # a constant, high rate so that the refit's loss is not monotonic
    tb = dict(SPEC["train"], refit_keep="best", optimizer={"type": "adam", "learning_rate": 0.1})
    tb.pop("reduce_lr_on_plateau")
    best = dict(SPEC, train=tb)
    write("best.json", best)
    r = run("train", "best.json", "--threads", "1", "--history", "hb.h5", "--save-weights", "wbest.h5")
    ab, lrb = attrs_rates("hb.h5")
    kb, kept_b = int(ab.get("refit_kept_epoch", -1)), int(ab["kept_epoch"])
    _, _, _, rloss = reference("refbf", kept_b, lrb, kept_b, base=best)
    check(r.returncode == 0 and ab["refit_epochs"] == kept_b and kb == int(np.argmin(rloss)) + 1
          and kb < kept_b, f"refit_keep best: refit_kept_epoch {kb} = the first minimum of the "
          f"refit's loss, before its last epoch {kept_b} ({r.stdout.strip().splitlines()[-2:]})")
    r, bb, _, _ = reference("refb", kb, lrb, kept_b, base=best)
    check(same(weights(j("wbest.h5")), weights(j("refb_w.h5"))) and
          ab["test_loss"] == bb["test_loss"] and ab["test_accuracy"] == bb["test_accuracy"],
          "and its weights and test metrics = the reference trained for that many epochs")

    # --init-weights: the refit starts from them too (w.h5 as a start)
    r = run("train", "refit.json", "--threads", "1", "--init-weights", "w.h5", "--history", "hi.h5",
            "--save-weights", "wi.h5")
    ai, lri = attrs_rates("hi.h5")
    ki = int(ai["kept_epoch"])
    r2, bi, _, _ = reference("refi", ki, lri, ki, "--init-weights", "w.h5")
    wi = weights(j("wi.h5"))
    check(r.returncode == 0 and r2.returncode == 0 and same(wi, weights(j("refi_w.h5"))) and
          not same(wi, wa), f"with --init-weights the refit starts from them ({ki} epochs)")

    # a stop during the refit: nothing written
    env = dict(ENV, ATTNSWEEP_TEST_SIGTERM_REFIT_EPOCH="2")
    r = subprocess.run([BIN, "train", "refit.json", "--threads", "1", "--history", "hs.h5",
                        "--save-weights", "ws.h5"], capture_output=True, text=True, timeout=600,
                       env=env, cwd=TMP)
    check("during the refit (epoch 2 of" in r.stdout and not os.path.exists(j("hs.h5")) and
          not os.path.exists(j("ws.h5")), f"SIGTERM in the refit: stops, nothing written "
          f"(rc {r.returncode}: {r.stdout.strip().splitlines()[-1:]})")

    sw = dict(SPEC, train=dict(SPEC["train"], optimizer={"type": "adam", "learning_rate": "$lr"}),
              grid={"lr": [0.02, 0.01]}, save_weights=True)
    sw["train"].pop("seed")
    write("sw.json", sw)
    r = run("sweep", "sw.json", "-o", "res.h5", "--threads", "1")
    ok = r.returncode == 0
    with h5py.File(j("res.h5"), "r") as f:
        key = next(k for k, g in f["variants"].items() if g.attrs["id"] == 1)
        g = f["variants"][key]
        ga = dict(g.attrs)
        n_refit = len(g["refit_loss"])
        sel = (float(g["val_loss"][ga["kept_epoch"] - 1]), float(g["val_accuracy"][ga["kept_epoch"] - 1]))
        row = next(x for x in f["summary"][()] if x["key"].decode() == key)
    check(ok and ga["refit_epochs"] == ga["kept_epoch"] == n_refit,
          f"a sweep run stores refit_epochs and a refit_loss curve ({n_refit} epochs)")
    check(ga.get("kept_val_loss") == sel[0] and ga.get("kept_val_accuracy") == sel[1] and
          row["kept_val_loss"] == sel[0] and row["kept_val_accuracy"] == sel[1],
          f"a refit run ranks by the selection run's figures at its kept epoch {ga['kept_epoch']} "
          f"(kept_val_loss {ga.get('kept_val_loss')}, attribute and /summary)")
    swb = dict(sw, train=dict(sw["train"], refit_keep="best"))
    write("swb.json", swb)
    r = run("sweep", "swb.json", "-o", "resb.h5", "--threads", "1")
    with h5py.File(j("resb.h5"), "r") as f:
        got = [(int(g.attrs["refit_kept_epoch"]), int(np.argmin(g["refit_loss"][()])) + 1)
               for g in f["variants"].values()]
    check(r.returncode == 0 and len(got) == 2 and all(k == m for k, m in got),
          f"a sweep with refit_keep best stores refit_kept_epoch = the refit_loss minimum ({got})")
    r = run("export", "res.h5", "--run", key, "-o", "e.json")
    r2 = run("train", "e.json", "--history", "eh.h5", "--save-weights", "ew.h5", "--quiet")
    with h5py.File(j("eh.h5"), "r") as h:
        ea = dict(h.attrs)
    we, ws = weights(j("ew.h5")), weights(j("res.h5"), f"variants/{key}/weights")
    check(r.returncode == 0 and r2.returncode == 0 and ea["test_accuracy"] == ga["test_accuracy"] and
          ea["test_loss"] == ga["test_loss"] and all(np.array_equal(we[k], ws[k]) for k in we),
          "train on the exported run reproduces the sweep's refit model (test metrics, weights)")

    # evaluate on a refit model warns: its "validation" rows were trained on by the refit
    r = run("export", "res.h5", "--run", key, "-o", "ev.json", "--weights", "evw.h5")
    r2 = run("evaluate", "ev.json", "--weights", "evw.h5")
    tl = [float(ln.split()[2]) for ln in r2.stdout.splitlines() if ln.startswith("test:")]
    check(r.returncode == 0 and r2.returncode == 0 and "warning" in r2.stderr and "refit model" in r2.stderr
          and "validation rows included" in r2.stderr and tl and abs(tl[0] - ga["test_loss"]) <= 1e-8 * ga["test_loss"],
          f"evaluate on the refit run warns that validation is not held out; its test line is the "
          f"run's ({r2.stderr.strip()[:160]})")
    # the weights files record the refit (train's and the sweep's, copied by export)
    rec = []
    for wname in ("w.h5", "evw.h5", "ref_w.h5"):
        with h5py.File(j(wname), "r") as wf:
            rec.append(wf["weights"].attrs.get("refit_epochs"))
    check(rec[0] == kept and rec[1] == ga["refit_epochs"] and rec[2] is None,
          f"weights files record refit_epochs (train {rec[0]}, sweep export {rec[1]}; none for a plain run)")
    write("norefit.json", dict(SPEC, train=dict(SPEC["train"], refit=False)))
    r2 = run("evaluate", "norefit.json", "--weights", "w.h5")
    check(r2.returncode == 0 and "warning" in r2.stderr and "w.h5" in r2.stderr and "refit_epochs recorded" in r2.stderr,
          f"the refit weights with a spec without refit: still warned, from the weights file ({r2.stderr.strip()[:120]})")
    r2 = run("evaluate", "norefit.json", "--weights", "ref_w.h5")
    check(r2.returncode == 0 and "validation:" in r2.stdout and "warning" not in r2.stderr,
          "no warning for weights that were not refit and a spec without refit")

    # a rung search with refit: a stopped run had no refit (only finished runs get one), so
    # its export must not ask for one; train on it reproduces the stored test metrics
    hv = dict(sw, train=dict(sw["train"], refit_keep="best"), grid={"lr": [0.02, 0.01, 0.005, 0.002]},
              search={"type": "successive_halving", "min_epochs": 2, "max_epochs": 4, "eta": 2})
    write("hv.json", hv)
    r = run("sweep", "hv.json", "-o", "hv.h5", "--threads", "1")
    with h5py.File(j("hv.h5"), "r") as f:
        stopped = {k: dict(g.attrs, epochs_run=len(g["loss"])) for k, g in f["variants"].items()
                   if g.attrs["status"] == "stopped"}
        done = [dict(g.attrs) for g in f["variants"].values() if g.attrs["status"] == "ok"]
    check(r.returncode == 0 and stopped and done and all(g["refit_epochs"] > 0 for g in done) and
          all(g.get("refit_epochs", 0) == 0 for g in stopped.values()),
          f"halving with refit: {len(stopped)} stopped runs without a refit, finished ones refit")
    key, sa = min(stopped.items())
    r = run("export", "hv.h5", "--run", key, "-o", "hs.json")
    with open(j("hs.json")) as fh:
        hs = json.load(fh)["train"]
    r2 = run("train", "hs.json", "--history", "hsh.h5", "--quiet")
    with h5py.File(j("hsh.h5"), "r") as h:
        ha = dict(h.attrs)
    check(r.returncode == 0 and "refit" not in hs and "refit_keep" not in hs and hs["epochs"] == sa["epochs_run"] and
          r2.returncode == 0 and ha.get("refit_epochs", 0) == 0 and ha["test_loss"] == sa["test_loss"] and
          ha["test_accuracy"] == sa["test_accuracy"],
          f"export of a stopped run drops refit; train reproduces its test metrics bit for bit "
          f"({ha.get('test_loss')} vs {sa.get('test_loss')})")

    write("bad.json", dict(SPEC, train=dict(SPEC["train"], refit=1)))
    r = run("train", "bad.json")
    check(r.returncode == 2 and "train.refit" in r.stderr, f"refit 1: exit 2 ({r.stderr.strip()[:100]})")
    for bad, why in (({"refit_keep": "first"}, "refit_keep first"),
                     ({"refit": False, "refit_keep": "best"}, "refit_keep without refit")):
        write("bad.json", dict(SPEC, train=dict(SPEC["train"], **bad)))
        r = run("train", "bad.json")
        check(r.returncode == 2 and "train.refit_keep" in r.stderr and "bad.json" in r.stderr,
              f"{why}: exit 2 naming the key ({r.stderr.strip()[:120]})")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
