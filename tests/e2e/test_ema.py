#!/usr/bin/python3
"""e2e: `train.optimizer.use_ema` / `ema_momentum` (Keras 3's optimizer weight average).

- the trajectory: full-batch runs (one optimizer step per epoch) of 1..E epochs without
  the average give the weights after every step; Keras's average of them (the first
  step copies the weights, then m a + (1 - m) w, float32) computed here in numpy equals
  the weights an E-epoch use_ema run ends with;
- validation and test judge the average: with ema_momentum 1 the average stays the
  first step's weights, so every epoch's val_loss, and the test loss, equal the 1-epoch
  run's; `evaluate` of the saved weights gives the history's test metrics;
- ema_momentum 0 is the plain run bit for bit; keep best with use_ema keeps the average
  of the best epoch;
- --checkpoint: stopped and resumed equals the uninterrupted run bit for bit (the
  averages are saved as /optimizer/ema, /optimizer/ema_buffers); a NaN in either is
  refused (exit 2 naming it);
- bad values exit 2 naming the key, nothing written.
Skips (exit 77) without numpy/h5py."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, Checks, h5_history as hist, h5_weights as weights, need_h5py, temp_dir, train_json  # noqa: E402

h5py, np = need_h5py()
check = Checks(verbose=True)
TMP, j = temp_dir("attnsweep-ema-")
MODEL = [{"type": "conv1d", "filters": 6, "kernel_size": 5, "activation": "relu"},
         {"type": "conv1d", "filters": 1, "kernel_size": 3}]
E = 5


def train(spec, name, *flags):
    return train_json(spec, j(name + ".json"), *flags)


def spec(epochs, batch=128, model=MODEL, **opt):
    o = {"type": "adam", "learning_rate": 0.01}
    o.update(opt)
    return {"data": "toy.h5", "model": model,
            "train": {"epochs": epochs, "batch_size": batch, "validation_split": 0.25, "seed": 2,
                      "optimizer": o}}


def run(sp, name):
    r = train(sp, name, "--history", j(name + "_h.h5"), "--save-weights", j(name + "_w.h5"))
    check(r.returncode == 0, f"{name}: exit 0 ({r.stderr.strip()[-120:]})")
    return (*hist(j(name + "_h.h5")), weights(j(name + "_w.h5"))) if r.returncode == 0 else ({}, {}, {})


def average(plain, k, steps, mom):
    """Keras's average of tensor k over the first `steps` plain runs' weights, in float32."""
    m32 = np.float32(mom)
    avg = plain[0][2][k].astype(np.float32)
    for e in range(1, steps):
        avg = m32 * avg + (np.float32(1) - m32) * plain[e][2][k]
    return avg


def check_buffers():
    """Batch norm: moving statistics not averaged (Keras), or averaged with ema_buffers."""
    model = [MODEL[0], {"type": "batch_normalization", "momentum": 0.5}, MODEL[1]]
    plain = [run(spec(e, model=model), f"bn{e}") for e in range(1, E + 1)]
    _, _, w = run(spec(E, model=model, use_ema=True, ema_momentum=0.7), "bn_ema")
    _, _, wb = run(spec(E, model=model, use_ema=True, ema_momentum=0.7, ema_buffers=True), "bn_emab")
    stats = [k for k in w if k.endswith(("moving_mean", "moving_variance"))]
    close = lambda a, b: np.allclose(a, b, rtol=1e-6, atol=1e-7)  # noqa: E731
    check(len(stats) == 2 and all(close(w[k], average(plain, k, E, 0.7)) for k in w if k not in stats)
          and all(np.array_equal(w[k], plain[-1][2][k]) for k in stats),
          "batch norm, use_ema: trainable weights averaged, moving statistics the last step's (Keras)")
    check(bool(wb) and all(close(wb[k], average(plain, k, E, 0.7)) for k in wb) and
          any(not np.allclose(wb[k], w[k]) for k in stats),
          "ema_buffers: the moving statistics are averaged by the same rule too")


def main():
    subprocess.run([BIN, "data", "toy", "--samples", "96", "--test-samples", "24", "-o", j("toy.h5")],
                   check=True, capture_output=True)
    # 72 training rows, batch 128: one optimizer step per epoch
    plain = [run(spec(e), f"plain{e}") for e in range(1, E + 1)]
    mom = 0.8
    h, a, w = run(spec(E, use_ema=True, ema_momentum=mom), "ema")
    ok = bool(w) and all(np.allclose(w[k], average(plain, k, E, mom), rtol=1e-6, atol=1e-7) for k in w)
    check(ok, f"use_ema, {E} steps: the saved weights are Keras's average (momentum {mom}) of the "
          "plain runs' weights after each step")
    check(ok and any(not np.array_equal(w[k], plain[-1][2][k]) for k in w),
          "and differ from the last step's weights")
    check(np.array_equal(h["loss"], plain[-1][0]["loss"]),
          "the training loss (raw weights, as Keras) is the plain run's")

    h1, a1, w1 = run(spec(E, use_ema=True, ema_momentum=1.0), "ema1")
    check(bool(w1) and all(np.array_equal(w1[k], plain[0][2][k]) for k in w1),
          "ema_momentum 1: the kept weights are the first step's")
    check(bool(h1) and np.all(h1["val_loss"] == plain[0][0]["val_loss"][0]) and
          a1["test_loss"] == plain[0][1]["test_loss"],
          "and every epoch's val_loss and the test loss are the 1-epoch run's: validation and "
          "test judge the average")
    ev = subprocess.run([BIN, "evaluate", j("ema1.json"), "--weights", j("ema1_w.h5"), "--threads", "1"],
                        capture_output=True, text=True, timeout=600)
    line = [x for x in ev.stdout.splitlines() if x.startswith("test:")]
    got = float(line[0].split()[2]) if line else float("nan")
    check(ev.returncode == 0 and abs(got - a1["test_loss"]) <= 1e-6 * abs(a1["test_loss"]),
          f"evaluate of the saved weights gives the history's test loss ({line[:1]})")

    h0, a0, w0 = run(spec(E, use_ema=True, ema_momentum=0.0), "ema0")
    check(bool(w0) and all(np.array_equal(w0[k], plain[-1][2][k]) for k in w0) and
          np.array_equal(h0["val_loss"], plain[-1][0]["val_loss"]),
          "ema_momentum 0: weights and curves are the plain run's bit for bit")

    # keep best: the kept weights are the best epoch's average
    sb = spec(E, use_ema=True, ema_momentum=mom)
    sb["train"]["keep"] = "best"
    hb, ab, wb = run(sb, "best")
    best = int(np.argmin(hb["val_loss"])) + 1 if hb else 0
    ok = bool(wb) and ab["kept_epoch"] == best and \
        all(np.allclose(wb[k], average(plain, k, best, mom), rtol=1e-6, atol=1e-7) for k in wb)
    check(ok, f"keep best: epoch {best} = argmin val_loss, its average is kept")

    check_buffers()

    # checkpoint: several steps per epoch, stopped and resumed (batch norm, ema_buffers)
    bn = [MODEL[0], {"type": "batch_normalization"}, MODEL[1]]
    sc = spec(6, batch=16, model=bn, use_ema=True, ema_buffers=True)
    hf, _, wf = run(sc, "ck_full")
    r1 = train(sc, "ck_full", "--epochs", "2", "--checkpoint", j("ck.h5"))
    with h5py.File(j("ck.h5"), "r") as f:
        has = "optimizer/ema" in f and f["optimizer/ema"].shape == f["optimizer/m"].shape and \
            "optimizer/ema_buffers" in f
    r2 = train(sc, "ck_full", "--checkpoint", j("ck.h5"), "--history", j("ck_h.h5"),
               "--save-weights", j("ck_w.h5"))
    hc = hist(j("ck_h.h5"))[0] if r2.returncode == 0 else {}
    wc = weights(j("ck_w.h5")) if r2.returncode == 0 else {}
    check(r1.returncode == 0 and r2.returncode == 0 and has and "resuming from" in r2.stdout and
          all(np.array_equal(hc[x], hf[x]) for x in ("loss", "val_loss")) and
          wc.keys() == wf.keys() and all(np.array_equal(wc[k], wf[k]) for k in wf),
          "checkpoint holds /optimizer/ema and ema_buffers; stopped at 2 and resumed equals the "
          "uninterrupted run")

    # a tampered average is refused (exit 2 naming the element), nothing written
    for name in ("optimizer/ema", "optimizer/ema_buffers"):
        r1 = train(sc, "ck_full", "--epochs", "2", "--checkpoint", j("bad_ck.h5"))
        with h5py.File(j("bad_ck.h5"), "r+") as f:
            f[name][0] = np.nan
        out = j("bad_ck_h.h5")
        r = train(sc, "ck_full", "--checkpoint", j("bad_ck.h5"), "--history", out)
        check(r1.returncode == 0 and r.returncode == 2 and f"{name}[0] is not finite" in r.stderr and
              not os.path.exists(out), f"a NaN in {name}: exit 2 naming it ({r.stderr.strip()[-90:]})")
        os.remove(j("bad_ck.h5"))

    table = [({"use_ema": "yes"}, "train.optimizer.use_ema"),
             ({"use_ema": True, "ema_momentum": 1.5}, "train.optimizer.ema_momentum"),
             ({"ema_momentum": -0.01}, "train.optimizer.ema_momentum"),
             ({"ema_momentum": "0.9"}, "train.optimizer.ema_momentum"),
             ({"use_ema": True, "ema_buffers": 1}, "train.optimizer.ema_buffers"),
             ({"use_ema": True, "ema_overwrite_frequency": 4}, "train.optimizer.ema_overwrite_frequency")]
    for i, (opt, key) in enumerate(table):
        out = j(f"bad{i}_h.h5")
        r = train(spec(2, **opt), f"bad{i}", "--history", out)
        check(r.returncode == 2 and key in r.stderr and f"bad{i}.json" in r.stderr and not os.path.exists(out),
              f"{key}: exit 2 naming it ({r.stderr.strip()[-80:]})")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
