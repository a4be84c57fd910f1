#!/usr/bin/python3
"""End-to-end: `attnsweep train --checkpoint` -- a run stopped (by --epochs or by SIGTERM)
and resumed from its checkpoint equals the uninterrupted run, bit for bit on one rank and
within float rounding on two; checkpoints of another spec, seed or dataset are refused
(an old checkpoint without the dataset's hash resumes with a warning)."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, temp_path  # noqa: E402

BIN = os.environ.get("ATTNSWEEP_BIN", "build/attnsweep")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
check = Checks(verbose=True)


def train(*args, np_=None):
    cmd = (["mpirun", "--bind-to", "none", "-np", str(np_)] if np_ else []) + [BIN, "train"]
    threads = [] if "--threads" in args else ["--threads", "1"]  # (a printed command has it)
    return subprocess.run(cmd + list(args) + threads, env=ENV, capture_output=True,
                          text=True, timeout=600)


def curves(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][:] for k in ("loss", "val_loss")}


def weights(path):
    out = {}
    with h5py.File(path, "r") as f:
        f["weights"].visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def main():
    tmp = temp_path("attnsweep-ckpt-")
    subprocess.run([BIN, "data", "toy", "--samples", "120", "-o", os.path.join(tmp, "toy.h5")],
                   check=True, capture_output=True)
    spec = {"data": "toy.h5",
            "model": [{"type": "conv1d", "filters": 8, "kernel_size": 5, "activation": "relu"},
                      {"type": "self_attention", "num_heads": 2, "key_dim": 4, "dropout": 0.1},
                      {"type": "dropout", "rate": 0.2},
                      {"type": "conv1d", "filters": 1, "kernel_size": 3}],
            "train": {"epochs": 6, "batch_size": 16, "validation_split": 0.25, "seed": 3}}
    sp = os.path.join(tmp, "spec.json")
    with open(sp, "w") as fh:
        json.dump(spec, fh)
    j = lambda n: os.path.join(tmp, n)  # noqa: E731

    r = train(sp, "--history", j("full.h5"), "--save-weights", j("full_w.h5"))
    check(r.returncode == 0, "uninterrupted 6 epochs")
    full = curves(j("full.h5"))

    r = train(sp, "--epochs", "2", "--checkpoint", j("ck.h5"))
    check(r.returncode == 0 and os.path.exists(j("ck.h5")), "2 epochs with a checkpoint")
    with h5py.File(j("ck.h5"), "r") as f:
        check(f.attrs["epoch"] == 2 and f["perm"].shape == (90,) and "weights/layer_1/query_kernel" in f
              and "optimizer/v" in f and len(f["history/loss"]) == 2, "checkpoint layout")
    r = train(sp, "--checkpoint", j("ck.h5"), "--history", j("resumed.h5"), "--save-weights", j("res_w.h5"))
    res = curves(j("resumed.h5"))
    check(r.returncode == 0 and "resuming from" in r.stdout and "after epoch 2" in r.stdout,
          "the second run resumes from epoch 2")
    check(all(np.array_equal(full[k], res[k]) for k in full),
          "stopped at 2 and resumed to 6 equals the uninterrupted run bit for bit (dropout included)")
    wf, wr = weights(j("full_w.h5")), weights(j("res_w.h5"))
    check(wf.keys() == wr.keys() and all(np.array_equal(wf[k], wr[k]) for k in wf),
          "and ends with the same weights")

    # SIGTERM: stop after the current epoch, state saved, exact resume command printed
    os.remove(j("ck.h5"))
    p = subprocess.Popen([BIN, "train", sp, "--epochs", "40", "--checkpoint", j("ck.h5"),
                          "--history", j("long.h5"), "--threads", "1"], env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while time.time() - t0 < 60 and not os.path.exists(j("ck.h5")):
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    lines = out.splitlines()
    hint = [lines[i + 1].strip() for i, l in enumerate(lines[:-1]) if "resume with:" in l]
    with h5py.File(j("ck.h5"), "r") as f:
        stopped_at = int(f.attrs["epoch"])
    check(p.returncode == 0 and "stopped by SIGTERM" in out and hint and "--checkpoint" in hint[0]
          and 1 <= stopped_at < 40 and not os.path.exists(j("long.h5")),
          f"SIGTERM stops after epoch {stopped_at}, saves the state, prints the resume command, "
          "writes no final history")
    if hint:
        args = hint[0].split()[2:]
        r = train(*args)
        r_full = train(sp, "--epochs", "40", "--history", j("long_ref.h5"))
        check(r.returncode == 0 and r_full.returncode == 0 and
              all(np.array_equal(curves(j("long.h5"))[k], curves(j("long_ref.h5"))[k]) for k in full),
              "the printed command finishes the run, equal to an uninterrupted one")

    # a checkpoint resumed on 2 ranks (the global batch order is kept)
    os.remove(j("ck.h5"))
    train(sp, "--epochs", "2", "--checkpoint", j("ck.h5"))
    r = train(sp, "--checkpoint", j("ck.h5"), "--history", j("dp.h5"), np_=2)
    dp = curves(j("dp.h5")) if r.returncode == 0 else None
    check(dp is not None and all(np.allclose(dp[k], full[k], rtol=1e-5, atol=0) for k in full),
          "a 1-rank checkpoint resumed on 2 ranks matches within 1e-5")

    # the checkpoint records the dataset's SHA-256: a resume on other data (same path, same
    # shapes, other rows) is refused naming both files and hashes; an old-format checkpoint
    # (no hash) resumes with a warning
    os.remove(j("ck.h5"))
    train(sp, "--epochs", "2", "--checkpoint", j("ck.h5"))
    with open(j("toy.h5"), "rb") as fh:
        toy = fh.read()
    want = hashlib.sha256(toy).hexdigest()
    with h5py.File(j("ck.h5"), "r") as f:
        rec = f.attrs.get("data_sha256")
    check(rec is not None and (rec.decode() if isinstance(rec, bytes) else rec) == want,
          "the checkpoint records the dataset's SHA-256")
    subprocess.run([BIN, "data", "toy", "--samples", "120", "--seed", "7", "-o", j("toy.h5")],
                   check=True, capture_output=True)
    with open(j("toy.h5"), "rb") as fh:
        other = hashlib.sha256(fh.read()).hexdigest()
    ck_bytes = open(j("ck.h5"), "rb").read()
    r = train(sp, "--checkpoint", j("ck.h5"), "--history", j("other.h5"))
    check(r.returncode == 2 and "ck.h5" in r.stderr and "toy.h5" in r.stderr and want[:12] in r.stderr
          and other[:12] in r.stderr and "another dataset" in r.stderr and not os.path.exists(j("other.h5"))
          and open(j("ck.h5"), "rb").read() == ck_bytes,
          "a resume on another dataset exits 2 naming the checkpoint, the dataset and both hashes; "
          f"nothing written ({r.stderr.strip()[-300:]})")
    with open(j("toy.h5"), "wb") as fh:
        fh.write(toy)
    with h5py.File(j("ck.h5"), "a") as f:  # the format before the hash was recorded
        del f.attrs["data_sha256"]
    r = train(sp, "--checkpoint", j("ck.h5"), "--history", j("old.h5"))
    check(r.returncode == 0 and "warning" in r.stderr and "records no dataset hash" in r.stderr and
          "resuming from" in r.stdout and all(np.array_equal(full[k], curves(j("old.h5"))[k]) for k in full),
          f"an old-format checkpoint resumes with a warning, equal to the uninterrupted run "
          f"({r.stderr.strip()[-200:]})")

    # refusals: another seed, another spec file
    r = train(sp, "--checkpoint", j("ck.h5"), "--seed", "4")
    check(r.returncode == 2 and "ck.h5" in r.stderr and "seed" in r.stderr, "a checkpoint of another seed is refused")
    spec["train"]["batch_size"] = 8
    with open(sp, "w") as fh:
        json.dump(spec, fh)
    r = train(sp, "--checkpoint", j("ck.h5"))
    check(r.returncode == 2 and "ck.h5" in r.stderr and "spec" in r.stderr, "a checkpoint of another spec is refused")
    with open(j("bad.h5"), "w") as fh:
        fh.write("not hdf5")
    r = train(sp, "--checkpoint", j("bad.h5"))
    check(r.returncode == 2 and "bad.h5" in r.stderr, "a file that is not a checkpoint is refused")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
