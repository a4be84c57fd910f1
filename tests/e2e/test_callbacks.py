#!/usr/bin/python3
"""e2e: `attnsweep train` with Keras callbacks, keep best/last and test evaluation.

- early stopping + reduce-on-plateau: the stop epoch, the best epoch and the learning
  rate of every epoch equal an independent Python implementation of Keras's rules run on
  the history's own val_loss; the run is status ok with stopped_epoch recorded;
- restore_best_weights: the saved weights equal, bit for bit, a run without early
  stopping trained for exactly best_epoch epochs, and so do the test metrics;
- keep "best" without early stopping: the kept epoch is argmin val_loss;
- a schedule (cosine decay with warmup): learning_rate[e] = the Keras formula at step
  e * steps_per_epoch;
- --checkpoint: stopped before the early stop and resumed, and resumed after it, equals
  the uninterrupted run bit for bit (callback state and best weights survive);
- bad monitors for the data (exit 2 naming the key, nothing written).
Skips (exit 77) without numpy/h5py."""
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, h5_history as hist, h5_weights as weights, need_h5py, train_json, temp_path  # noqa: E402

_, np = need_h5py()

BIN = os.environ.get("ATTNSWEEP_BIN", "build/attnsweep")
check = Checks(verbose=True)
TMP = temp_path("attnsweep-cb-")


def j(name):
    return os.path.join(TMP, name)


def train(spec, name, *flags):
    return train_json(spec, j(name + ".json"), *flags)


def same_weights(a, b):
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


def keras_early_stopping(vals, patience, min_delta, start=0, greater=False):
    """keras.callbacks.EarlyStopping.on_epoch_end, written from its source."""
    best, best_epoch, wait, have = (-math.inf if greater else math.inf), 0, 0, False
    md = abs(min_delta) * (1 if greater else -1)
    for epoch, cur in enumerate(vals):
        if epoch < start:
            continue
        if not have:
            have, best_epoch = True, epoch
        wait += 1
        better = (cur - md > best) if greater else (cur - md < best)
        if better:
            best, best_epoch, wait = cur, epoch, 0
            continue
        if wait >= patience and epoch > 0:
            return epoch + 1, best_epoch + 1
    return 0, best_epoch + 1


def keras_reduce_lr(vals, lr, factor, patience, min_delta, cooldown, min_lr):
    """keras.callbacks.ReduceLROnPlateau.on_epoch_end: the rate of each epoch."""
    best, wait, cd, out = math.inf, 0, 0, []
    for cur in vals:
        out.append(lr)
        if cd > 0:
            cd -= 1
            wait = 0
        if cur < best - min_delta:
            best, wait = cur, 0
        elif cd <= 0:
            wait += 1
            if wait >= patience and lr > float(np.float32(min_lr)):
                lr = float(np.float32(max(lr * factor, min_lr)))
                cd, wait = cooldown, 0
    return out


MODEL = [{"type": "conv1d", "filters": 8, "kernel_size": 5, "activation": "relu"},
         {"type": "conv1d", "filters": 1, "kernel_size": 5}]


def spec(**train):
    t = {"epochs": 40, "batch_size": 16, "validation_split": 0.25, "seed": 1,
         "optimizer": {"type": "adam", "learning_rate": 0.02}}
    t.update(train)
    return {"data": "toy.h5", "model": MODEL, "train": t}


def main():
    subprocess.run([BIN, "data", "toy", "--samples", "160", "--test-samples", "24", "-o", j("toy.h5")],
                   check=True, capture_output=True)
    es = {"patience": 3, "min_delta": 0.05, "restore_best_weights": True}
    rl = {"patience": 2, "factor": 0.5, "cooldown": 1, "min_lr": 0.004}
    s_es = spec(early_stopping=es, reduce_lr_on_plateau=rl)
    r = train(s_es, "es", "--history", j("es_h.h5"), "--save-weights", j("es_w.h5"))
    check(r.returncode == 0, f"early-stopping run exits 0 ({r.stderr.strip()})")
    h, a = hist(j("es_h.h5"))
    n = len(h["loss"])
    stop, best = keras_early_stopping(list(h["val_loss"]), 3, 0.05)
    check(a["status"] == "ok" and stop > 0 and n == stop and a["stopped_epoch"] == stop,
          f"stops at epoch {a['stopped_epoch']} of 40 (Keras's rule on its val_loss: {stop}), status ok")
    check(a["best_epoch"] == best and a["kept"] == "best" and a["kept_epoch"] == best,
          f"best epoch {a['best_epoch']} (Keras: {best}) is the one kept")
    lrs = keras_reduce_lr(list(h["val_loss"]), float(np.float32(0.02)), 0.5, 2, 1e-4, 1, 0.004)
    check(np.array_equal(h["learning_rate"], np.array(lrs)) and len(set(lrs)) > 1,
          f"learning rate per epoch follows ReduceLROnPlateau: {sorted(set(lrs), reverse=True)}")
    check("early stopping at epoch" in r.stdout and "test: loss" in r.stdout and "test_loss" in a,
          "the run reports early stopping and its test loss")

    # data parallel: every rank sees the same reduced metrics, so the callbacks agree
    path = j("es.json")
    r = subprocess.run(["mpirun", "--bind-to", "none", "-np", "2", BIN, "train", path, "--threads", "1",
                        "--history", j("dp_h.h5"), "--save-weights", j("dp_w.h5")], capture_output=True,
                       text=True, timeout=600, env=dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
                                                        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                                                        OMPI_MCA_rmaps_base_oversubscribe="1"))
    if r.returncode == 0:
        hd, ad = hist(j("dp_h.h5"))
        wd, w1 = weights(j("dp_w.h5")), weights(j("es_w.h5"))
        check(ad["stopped_epoch"] == a["stopped_epoch"] and ad["kept_epoch"] == a["kept_epoch"] and
              np.array_equal(hd["learning_rate"], h["learning_rate"]) and
              np.allclose(hd["val_loss"], h["val_loss"], rtol=1e-4, atol=0) and
              all(np.allclose(wd[k], w1[k], rtol=1e-3, atol=1e-5) for k in w1),
              "2 ranks: the same stop, kept epoch and learning rates; curves and weights within rounding")
    else:
        check(False, f"2-rank run exits 0 ({r.stderr.strip()[-200:]})")

    # restore_best_weights == a run without early stopping stopped at the best epoch
    s_plain = spec(epochs=best, reduce_lr_on_plateau=rl)
    r = train(s_plain, "plain", "--history", j("plain_h.h5"), "--save-weights", j("plain_w.h5"))
    hp, ap = hist(j("plain_h.h5"))
    check(r.returncode == 0 and same_weights(j("es_w.h5"), j("plain_w.h5")),
          f"restored weights equal the epoch-{best} weights bit for bit")
    check(ap["test_loss"] == a["test_loss"] and np.array_equal(hp["val_loss"], h["val_loss"][:best]),
          "and give the same test loss; the curves agree up to there")

    # keep best without early stopping (train's default is last)
    r = train(spec(keep="best"), "keep", "--history", j("keep_h.h5"), "--save-weights", j("keep_w.h5"))
    hk, ak = hist(j("keep_h.h5"))
    want = int(np.argmin(hk["val_loss"])) + 1
    r2 = train(spec(epochs=want), "keep_ref", "--save-weights", j("keep_ref_w.h5"))
    check(r.returncode == 0 and ak["kept_epoch"] == want and ak["kept"] == ("best" if want else "last")
          and r2.returncode == 0 and same_weights(j("keep_w.h5"), j("keep_ref_w.h5")),
          f"keep best: epoch {ak['kept_epoch']} of 40 = argmin val_loss, its weights")
    r = train(spec(epochs=5), "last", "--history", j("last_h.h5"))
    _, al = hist(j("last_h.h5"))
    check(r.returncode == 0 and al["kept"] == "last" and al["kept_epoch"] == 5 and al["stopped_epoch"] == 0,
          "train keeps the last epoch by default (Keras's fit)")

    # cosine decay with warmup: 120 training rows / 16 = 8 steps per epoch
    sched = {"type": "cosine_decay", "decay_steps": 40, "alpha": 0.1, "warmup_target": 0.02,
             "warmup_steps": 12}
    r = train(spec(epochs=8, lr_schedule=sched, optimizer={"type": "adam", "learning_rate": 0.001}),
              "sched", "--history", j("sched_h.h5"))
    hs, _ = hist(j("sched_h.h5"))

    def cosine(step):
        lr0, W, ws, ds, al = 0.001, 0.02, 12, 40, 0.1
        s = min(step, ds + ws)
        if s < ws:
            return (W - lr0) * (s / ws) + lr0
        return W * ((1 - al) * 0.5 * (1 + math.cos(math.pi * (s - ws) / ds)) + al)
    want = np.array([float(np.float32(cosine(8 * e))) for e in range(8)])
    check(r.returncode == 0 and np.array_equal(hs["learning_rate"], want),
          f"cosine warmup/decay rates per epoch {np.round(want, 5).tolist()}")

    # checkpoints: stopped before the early stop, resumed; resumed after it
    k = max(1, stop - 2)
    r1 = train(s_es, "es", "--epochs", str(k), "--checkpoint", j("ck.h5"))
    r2 = train(s_es, "es", "--checkpoint", j("ck.h5"), "--history", j("ck_h.h5"), "--save-weights", j("ck_w.h5"))
    hc, ac = hist(j("ck_h.h5")) if r2.returncode == 0 else ({}, {})
    check(r1.returncode == 0 and r2.returncode == 0 and "resuming from" in r2.stdout and
          all(np.array_equal(hc[x], h[x]) for x in ("loss", "val_loss", "learning_rate")) and
          ac["stopped_epoch"] == stop and ac["test_loss"] == a["test_loss"] and
          same_weights(j("ck_w.h5"), j("es_w.h5")),
          f"stopped at epoch {k}, resumed: curves, learning rates, stop, kept weights bit-identical")
    r3 = train(s_es, "es", "--checkpoint", j("ck.h5"), "--history", j("ck2_h.h5"), "--save-weights", j("ck2_w.h5"))
    hc2, ac2 = hist(j("ck2_h.h5")) if r3.returncode == 0 else ({}, {})
    check(r3.returncode == 0 and len(hc2.get("loss", [])) == stop and ac2["stopped_epoch"] == stop and
          same_weights(j("ck2_w.h5"), j("es_w.h5")),
          "resuming a checkpoint written at the early stop trains no more and keeps the same weights")

    # every new key's bad values through the CLI: exit 2, the file and the key named
    table = [({"early_stopping": {"patience": -1}}, "train.early_stopping.patience"),
             ({"early_stopping": {"monitor": "mse"}}, "train.early_stopping.monitor"),
             ({"early_stopping": {"mode": "up"}}, "train.early_stopping.mode"),
             ({"early_stopping": {"min_delta": -1}}, "train.early_stopping.min_delta"),
             ({"early_stopping": {"restore_best_weights": "yes"}}, "train.early_stopping.restore_best_weights"),
             ({"early_stopping": {"start_from_epoch": 0.5}}, "train.early_stopping.start_from_epoch"),
             ({"early_stopping": {"baseline": 1}}, "train.early_stopping.baseline"),
             ({"reduce_lr_on_plateau": {"factor": 1.5}}, "train.reduce_lr_on_plateau.factor"),
             ({"reduce_lr_on_plateau": {"patience": "3"}}, "train.reduce_lr_on_plateau.patience"),
             ({"reduce_lr_on_plateau": {"cooldown": -1}}, "train.reduce_lr_on_plateau.cooldown"),
             ({"reduce_lr_on_plateau": {"min_lr": -0.1}}, "train.reduce_lr_on_plateau.min_lr"),
             ({"reduce_lr_on_plateau": {"min_delta": "x"}}, "train.reduce_lr_on_plateau.min_delta"),
             ({"lr_schedule": {"type": "cosine"}}, "train.lr_schedule.type"),
             ({"lr_schedule": {"type": "cosine_decay", "decay_steps": 0}}, "train.lr_schedule.decay_steps"),
             ({"lr_schedule": {"type": "cosine_decay", "decay_steps": 5, "alpha": -1}}, "train.lr_schedule.alpha"),
             ({"lr_schedule": {"type": "exponential_decay", "decay_steps": 5}}, "train.lr_schedule.decay_rate"),
             ({"lr_schedule": {"type": "piecewise_constant_decay", "boundaries": [3, 2],
                               "values": [1, 2, 3]}}, "train.lr_schedule.boundaries[1]"),
             ({"keep": "first"}, "train.keep"),
             ({"validation": {"mode": "kfold"}}, "train.validation.mode"),
             ({"validation": {"split": 1.5}}, "train.validation.split"),
             ({"validation": {"seed": "abc"}}, "train.validation.seed"),
             ({"seed": "12x"}, "train.seed")]
    for i, (extra, key) in enumerate(table):
        sp_ = spec(**extra)
        if "validation" in extra:
            sp_["train"].pop("validation_split")
        out = j(f"tab{i}_h.h5")
        r = train(sp_, f"tab{i}", "--history", out)
        check(r.returncode == 2 and key in r.stderr and f"tab{i}.json" in r.stderr and not os.path.exists(out),
              f"{key}: exit 2 naming it ({r.stderr.strip()[-80:]})")

    # monitors the data cannot give: exit 2 naming the key, nothing written
    bad = [(spec(early_stopping={"monitor": "val_accuracy"}), "train.early_stopping.monitor"),
           (spec(validation_split=0, early_stopping={}), "train.early_stopping.monitor: val_loss needs"),
           (spec(reduce_lr_on_plateau={"monitor": "accuracy"}), "train.reduce_lr_on_plateau.monitor"),
           (dict(spec(), train={"validation": {"split": 0.2, "mode": "stratified"}}),
            "train.validation.mode")]
    for i, (sp_, key) in enumerate(bad):
        out = j(f"bad{i}_h.h5")
        r = train(sp_, f"bad{i}", "--history", out)
        check(r.returncode == 2 and key in r.stderr and f"bad{i}.json" in r.stderr and not os.path.exists(out),
              f"bad {key}: exit 2 naming it ({r.stderr.strip()[:90]})")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
