#!/usr/bin/python3
"""End-to-end tests of the results store through the CLI: run identity (run keys),
--resume refusing changed overrides or data, --force keeping stored runs beside new
ones, grid values inserted at the front keeping every stored run with its label; the
writer killed (test hook ATTNSWEEP_TEST_CRASH) at each named point of storing a run,
then --resume equal to an uninterrupted sweep; the lock (a second sweep refused while
the first holds it, its temporary kept; a dead holder's lock taken over)."""
import csv
import io
import json
import os
import signal
import subprocess
import sys

import h5py
import numpy as np

BIN = os.environ.get("ATTNSWEEP_BIN", "build/attnsweep")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, temp_path  # noqa: E402
check = Checks(verbose=True)


def run(args, np_=None, env=None, timeout=600):
    cmd = (["mpirun", "--bind-to", "none", "-np", str(np_)] if np_ else []) + [BIN] + args
    return subprocess.run(cmd, env=env or ENV, capture_output=True, text=True, timeout=timeout)


def text(v):
    return v.split(b"\0")[0].decode() if isinstance(v, bytes) else str(v)


def runs(path):
    """{run key: (id, repeat, name, epochs in config, loss curve)} from the file."""
    out = {}
    with h5py.File(path, "r") as f:
        for row in f["summary"][()]:
            if not text(row["status"]):
                continue
            key = text(row["key"])
            g = f["variants"][key]
            cfg = json.loads(g.attrs["config"])
            out[key] = (int(row["id"]), int(row["repeat"]), text(row["name"]),
                        cfg["train"]["epochs"], g["loss"][()] if "loss" in g else None,
                        text(g.attrs["name"]), int(g.attrs["id"]))
    return out


def content(path):
    """Everything a run holds that must not depend on timing: {key: {name: value}}."""
    out = {}
    with h5py.File(path, "r") as f:
        for key, g in f["variants"].items():
            d = {a: g.attrs[a] for a in ("config", "status", "error", "seed", "id", "repeat", "name")}
            def grab(name, obj):
                if isinstance(obj, h5py.Dataset) and name != "epoch_seconds":
                    d[name] = obj[()]
            g.visititems(grab)
            out[key] = d
        rows = sorted((int(r["id"]), int(r["repeat"]), text(r["key"]), text(r["status"]),
                       float(r["best_val_loss"])) for r in f["summary"][()])
    return out, rows


def equal_content(a, b):
    if a[1] != b[1] or set(a[0]) != set(b[0]):
        return False
    for k in a[0]:
        x, y = a[0][k], b[0][k]
        if set(x) != set(y):
            return False
        for n in x:
            if isinstance(x[n], np.ndarray):
                if not np.array_equal(x[n], y[n], equal_nan=True):
                    return False
            elif x[n] != y[n]:
                return False
    return True


def stopped(pid):
    """Waits (without a timed race) until process pid is stopped or gone."""
    import time
    t0 = time.time()
    while time.time() - t0 < 120:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state == "T":
            return True
        os.sched_yield()
    return False


def write(path, obj):
    with open(path, "w") as fh:
        json.dump(obj, fh)


def main():
    tmp = temp_path("attnsweep-store-")
    data = os.path.join(tmp, "toy.h5")
    r = run(["data", "toy", "--samples", "48", "--test-samples", "2", "-o", data])
    check(r.returncode == 0, "toy data generated")
    sweep = {
        "data": "toy.h5",
        "model": [{"type": "conv1d", "filters": "$filters", "kernel_size": 3, "activation": "relu"},
                  {"type": "conv1d", "filters": 1, "kernel_size": 3}],
        "train": {"epochs": 2, "batch_size": 16, "validation_split": 0.25},
        "grid": {"filters": [2, 3]}, "repeats": 2, "seed": 3,
        "attention_samples": 0, "prediction_samples": 1}
    sp = os.path.join(tmp, "sweep.json")
    write(sp, sweep)

    # run identity: --epochs is part of it; a resume with other overrides is refused
    out = os.path.join(tmp, "r.h5")
    r = run(["sweep", sp, "-o", out, "--epochs", "3"])
    check(r.returncode == 0, "sweep --epochs 3")
    first = runs(out)
    check(len(first) == 4 and all(v[3] == 3 for v in first.values()), "4 runs of 3 epochs stored")
    with open(out, "rb") as fh:
        before = fh.read()
    r = run(["sweep", sp, "-o", out, "--resume", "--epochs", "1"])
    check(r.returncode == 2 and "--epochs: stored 3, now 1" in r.stderr,
          "resume with --epochs 1 after 3 refused, naming the difference: " + r.stderr.strip()[-200:])
    with open(out, "rb") as fh:
        check(fh.read() == before, "the refused resume left the file byte for byte")
    r = run(["sweep", sp, "-o", out, "--resume"])
    check(r.returncode == 2 and "--epochs: stored 3, now none" in r.stderr,
          "resume without --epochs after --epochs 3 refused")
    other = os.path.join(tmp, "toy5.h5")
    run(["data", "toy", "--samples", "48", "--test-samples", "2", "--seed", "5", "-o", other])
    r = run(["sweep", sp, "-o", out, "--resume", "--epochs", "3", "--data", other])
    check(r.returncode == 2 and "--data: the dataset changed" in r.stderr and "toy5.h5" in r.stderr,
          "resume on another dataset refused, naming it")
    r = run(["sweep", sp, "-o", out, "--resume", "--epochs", "3"])
    check(r.returncode == 0 and "resume: 4 runs already" in r.stdout and "0 to go" in r.stdout,
          "resume with the same flags trains nothing")
    check(runs(out).keys() == first.keys(), "and keeps the same runs")

    # --force: stored runs are kept unchanged, the new ones are added beside them
    r = run(["sweep", sp, "-o", out, "--resume", "--force", "--epochs", "1"])
    check(r.returncode == 0, "--resume --force --epochs 1")
    both = runs(out)
    check(len(both) == 8, f"8 runs: the 4 of 3 epochs and 4 new of 1 epoch (got {len(both)})")
    check(all(np.array_equal(both[k][4], first[k][4]) and both[k][3] == 3 for k in first),
          "every stored 3-epoch run is unchanged")
    check(sorted(v[3] for k, v in both.items() if k not in first) == [1, 1, 1, 1],
          "the new runs have 1 epoch")

    # inserting a value at the front of an axis: every stored run keeps its right label
    out2 = os.path.join(tmp, "ins.h5")
    r = run(["sweep", sp, "-o", out2])
    check(r.returncode == 0, "sweep over filters [2, 3]")
    old = runs(out2)
    ins = dict(sweep, grid={"filters": [4, 2, 3]})
    write(sp, ins)
    r = run(["sweep", sp, "-o", out2, "--resume"])
    check(r.returncode == 2 and "sweep file changed" in r.stderr, "a changed sweep file is refused")
    r = run(["sweep", sp, "-o", out2, "--resume", "--force"])
    check(r.returncode == 0 and "resume: 4 runs already" in r.stdout and "2 to go" in r.stdout,
          "--force after inserting filters=4 at the front trains only its 2 runs")
    new = runs(out2)
    check(len(new) == 6 and all(np.array_equal(new[k][4], old[k][4]) for k in old),
          "every stored run is kept unchanged")
    ref = os.path.join(tmp, "ins_ref.h5")
    r = run(["sweep", sp, "-o", ref])
    want = runs(ref)
    check(set(want) == set(new), "the runs are exactly those of a fresh sweep of the new grid")
    check(all(new[k][:3] == want[k][:3] and new[k][5] == want[k][5] and new[k][6] == want[k][6]
              for k in want), "ids, repeats and names are the new grid's labels (summary and groups)")
    check(all(np.array_equal(new[k][4], want[k][4]) for k in want),
          "and their curves equal the fresh sweep's")
    crash_tests(tmp, data)
    lock_tests(tmp)
    data_mismatch(tmp, sweep)
    return check.summary()


def crash_tests(tmp, data):
    sweep = {
        "data": "toy.h5",
        "model": [{"type": "conv1d", "filters": "$filters", "kernel_size": 3, "activation": "relu"},
                  {"type": "self_attention", "num_heads": 1, "key_dim": 4},
                  {"type": "conv1d", "filters": 1, "kernel_size": 3}],
        "train": {"epochs": 2, "batch_size": 16, "validation_split": 0.25},
        "grid": {"filters": [2, 3, 4]}, "repeats": 1, "seed": 1,
        "attention_samples": 2, "prediction_samples": 2}
    sp = os.path.join(tmp, "crash.json")
    write(sp, sweep)
    ref = os.path.join(tmp, "crash_ref.h5")
    r = run(["sweep", sp, "-o", ref, "--threads", "1"])
    check(r.returncode == 0, "uninterrupted reference sweep")
    want = content(ref)
    # point, how many runs are finished when the writer dies at the 2nd store
    for point, finished in [("journal-temp-written", 1), ("journal-before-rename", 1),
                            ("index-update", 2), ("after-run", 2), ("pack-temp-written", 3),
                            ("pack-before-rename", 3)]:
        out = os.path.join(tmp, f"crash-{point}.h5")
        # the 2nd time: the 2nd run stored; for a pack, the one at the end (the 1st made the file)
        env = dict(ENV, ATTNSWEEP_TEST_CRASH=f"{point}:2")
        r = run(["sweep", sp, "-o", out, "--threads", "1"], env=env)
        check(r.returncode == -signal.SIGKILL and "test hook" in r.stderr,
              f"{point}: the writer is killed there (rc {r.returncode})")
        try:
            with h5py.File(out, "r") as f:
                in_file = sum(1 for row in f["summary"][()] if text(row["status"]))
            opens = True
        except Exception as e:  # noqa: BLE001
            opens, in_file = False, str(e)
        check(opens, f"{point}: the results file opens with h5py ({in_file})")
        s = run(["summary", out, "--csv"])
        rows = list(csv.DictReader(io.StringIO(s.stdout))) if s.returncode == 0 else None
        got = sum(int(x["repeats_ok"]) + int(x["repeats_failed"]) for x in rows) if rows else -1
        check(s.returncode == 0 and got == finished,
              f"{point}: summary (index + journal) holds exactly the {finished} finished runs (got {got})")
        r = run(["sweep", sp, "-o", out, "--threads", "1", "--resume"])
        check(r.returncode == 0, f"{point}: --resume completes it ({r.stderr.strip()[-200:]})")
        check(equal_content(content(out), want),
              f"{point}: the resumed file equals the uninterrupted sweep's, bit for bit")
        left = os.listdir(out + ".journal") if os.path.isdir(out + ".journal") else []
        tmps = [x for x in os.listdir(tmp) if ".tmp." in x and x.startswith(os.path.basename(out))]
        check(not left and not tmps, f"{point}: no journal file or temporary left ({left + tmps})")


def data_mismatch(tmp, sweep):
    """Rank 1's dataset differs from rank 0's (test hook ATTNSWEEP_TEST_RANK_DATA: its host
    holds another file at the same path): it must refuse to train, naming itself and its host."""
    other = os.path.join(tmp, "toy_other.h5")
    run(["data", "toy", "--samples", "48", "--test-samples", "2", "--seed", "1", "-o", other])
    sp = os.path.join(tmp, "mismatch.json")
    write(sp, sweep)
    r = subprocess.run(["mpirun", "--bind-to", "none", "-np", "2", BIN, "sweep", sp, "-o",
                        f"{tmp}/mismatch.h5", "--epochs", "1"],
                       env=dict(ENV, ATTNSWEEP_TEST_RANK_DATA="1:" + other),
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 2 and "rank 1" in r.stderr and "on host" in r.stderr and
          "other data" in r.stderr and not os.path.exists(f"{tmp}/mismatch.h5"),
          "a rank whose dataset differs from rank 0's: exit 2 naming the rank and its host, "
          "nothing written: " + r.stderr.strip()[-160:])


def lock_tests(tmp):
    sp = os.path.join(tmp, "crash.json")
    out = os.path.join(tmp, "locked.h5")
    env = dict(ENV, ATTNSWEEP_TEST_STOP="journal-temp-written:1")
    a = subprocess.Popen([BIN, "sweep", sp, "-o", out, "--threads", "1"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(stopped(a.pid), "the first sweep stops itself while writing its first run (test hook)")
    temps = [x for x in os.listdir(out + ".journal") if ".tmp." in x]
    b = run(["sweep", sp, "-o", out, "--threads", "1"])
    check(b.returncode == 2 and "in use" in b.stderr and str(a.pid) in b.stderr,
          "a second sweep on the same results exits 2 naming the holder: " + b.stderr.strip()[-160:])
    b = run(["sweep", sp, "-o", out, "--threads", "1", "--resume"])
    check(b.returncode == 2 and str(a.pid) in b.stderr, "so does a --resume")
    b = run(["results", "pack", out])
    check(b.returncode == 2 and str(a.pid) in b.stderr, "and results pack")
    check(temps and all(os.path.exists(os.path.join(out + ".journal", x)) for x in temps),
          "the live writer's temporary is not removed")
    os.kill(a.pid, signal.SIGCONT)
    so, se = a.communicate(timeout=300)
    check(a.returncode == 0 and len(runs(out)) == 3, "the first sweep then finishes all 3 runs")
    # a holder killed while holding the lock: its lock is taken over, with a message
    out2 = os.path.join(tmp, "stale.h5")
    env = dict(ENV, ATTNSWEEP_TEST_CRASH="after-run:1")
    r = run(["sweep", sp, "-o", out2, "--threads", "1"], env=env)
    check(r.returncode == -signal.SIGKILL and os.path.exists(out2 + ".lock"), "a sweep killed holding the lock")
    r = run(["sweep", sp, "-o", out2, "--threads", "1", "--resume"])
    check(r.returncode == 0 and "taking over the lock" in r.stdout and len(runs(out2)) == 3
          and not os.path.exists(out2 + ".lock"),
          "the next --resume takes the dead holder's lock over, says so, finishes and unlocks")


if __name__ == "__main__":
    sys.exit(main())
