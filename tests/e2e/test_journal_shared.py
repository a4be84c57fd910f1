#!/usr/bin/python3
"""End-to-end tests of `sweep --journal shared` through the CLI (mpirun on this machine,
where every rank sees the results folder): each rank writes the journal files of the runs
it trains and rank 0 only indexes them. Checked against the default store (rank 0 writes
every run): the packed results hold the same runs bit for bit on 2 and 3 ranks; the
workers really wrote their own runs (the store's benchmark log, ATTNSWEEP_STORE_LOG); a
worker killed (test hooks ATTNSWEEP_TEST_CRASH + ATTNSWEEP_TEST_HOOK_RANK) while writing
its journal file, or after writing it and before rank 0 heard of it, leaves a results
file that opens and holds exactly the runs stored (the journal is the source of truth:
`summary` and `--resume` find the worker's run), and `--resume` ends equal to an
uninterrupted sweep, with no temporary left. The cluster test with node-local folders
(tests/cluster/test_journal_shared.sh) checks the refusal and the fallback."""
import csv
import io
import os
import signal
import subprocess
import sys

import h5py

BIN = os.environ.get("ATTNSWEEP_BIN", "build/attnsweep")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, kill_session, temp_path  # noqa: E402
from test_store import content, equal_content, text, write  # noqa: E402
check = Checks(verbose=True)


def sweep(args, np_, env=None, timeout=600):
    """mpirun -np np_ attnsweep sweep ARGS in its own session; whatever is left of the job
    when mpirun has returned (or timed out) is killed with the session."""
    cmd = ["mpirun", "--bind-to", "none", "-np", str(np_), BIN, "sweep"] + args + ["--threads", "1"]
    p = subprocess.Popen(cmd, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(p.pid)
        out, err = p.communicate()
    left = kill_session(p.pid)
    return subprocess.CompletedProcess(cmd, p.returncode, out, err + "".join(
        f"\nsurvivor {x}" for x in left))


def logged(path):
    """(rank 0's stores, the workers' own stores) from the benchmark log."""
    lines = open(path).read().split() if os.path.exists(path) else []
    return lines.count("put"), lines.count("wput")


def stored_runs(out):
    """{key: source} of the runs the index and the journal hold ('index' or 'journal')."""
    keys = {}
    with h5py.File(out, "r") as f:
        for row in f["summary"][()]:
            if text(row["status"]):
                keys[text(row["key"])] = "index"
    j = out + ".journal"
    for name in os.listdir(j) if os.path.isdir(j) else []:
        if name.endswith(".h5") and ".tmp." not in name:
            keys.setdefault(name[:-3], "journal")
    return keys


def main():
    tmp = temp_path("attnsweep-jshared-")
    data = os.path.join(tmp, "toy.h5")
    r = subprocess.run([BIN, "data", "toy", "--samples", "48", "--test-samples", "2", "-o", data],
                       env=ENV, capture_output=True, text=True)
    check(r.returncode == 0, "toy data generated")
    spec = {
        "data": "toy.h5",
        "model": [{"type": "conv1d", "filters": "$filters", "kernel_size": 3, "activation": "relu"},
                  {"type": "self_attention", "num_heads": 1, "key_dim": "$k"},
                  {"type": "conv1d", "filters": 1, "kernel_size": 3}],
        "train": {"epochs": 2, "batch_size": 16, "validation_split": 0.25},
        "grid": {"filters": [2, 3, 4], "k": [2, 4]}, "repeats": 2, "seed": 5,
        "attention_samples": 2, "prediction_samples": 3}
    sp = os.path.join(tmp, "sweep.json")
    write(sp, spec)
    ref = os.path.join(tmp, "ref.h5")
    r = sweep([sp, "-o", ref], 2)
    check(r.returncode == 0, "reference sweep, default store, 2 ranks")
    want = content(ref)
    check(len(want[0]) == 12, f"it holds the 12 runs ({len(want[0])})")

    for np_ in (2, 3):
        out = os.path.join(tmp, f"shared{np_}.h5")
        log = os.path.join(tmp, f"shared{np_}.log")
        r = sweep([sp, "-o", out, "--journal", "shared"], np_, env=dict(ENV, ATTNSWEEP_STORE_LOG=log))
        check(r.returncode == 0 and "every rank writes its own runs" in r.stdout,
              f"--journal shared on {np_} ranks: exit 0, says so ({r.stderr.strip()[-200:]})")
        check(equal_content(content(out), want),
              f"{np_} ranks: the packed file holds the default store's runs, bit for bit")
        with h5py.File(out, "r") as f:
            by_workers = sum(1 for row in f["summary"][()] if int(row["rank"]) != 0)
        puts, wputs = logged(log)
        check(puts == 12 and wputs == by_workers and wputs > 0,
              f"{np_} ranks: the workers wrote their {by_workers} runs themselves ({wputs} logged), "
              f"rank 0 indexed all 12 ({puts})")
        check(not os.path.exists(out + ".journal") and not os.path.exists(out + ".lock")
              and not [x for x in os.listdir(tmp) if ".tmp." in x],
              f"{np_} ranks: no journal, lock, probe or temporary left")

    r = sweep([sp, "-o", os.path.join(tmp, "bad.h5"), "--journal", "everyone"], 2)
    check(r.returncode == 2 and "--journal" in r.stderr and "everyone" in r.stderr,
          "--journal with an unknown mode: exit 2 naming it")
    r = sweep([sp, "-o", os.path.join(tmp, "auto.h5"), "--journal", "auto"], 2)
    check(r.returncode == 0 and "--journal auto: every rank writes" in r.stdout and
          equal_content(content(os.path.join(tmp, "auto.h5")), want),
          "--journal auto on one machine: shared, the same runs")

    # a worker killed while storing: at each point, only its run is not yet in the index
    for point, in_journal in [("journal-temp-written", False), ("journal-before-rename", False),
                              ("worker-journaled", True)]:
        out = os.path.join(tmp, f"crash-{point}.h5")
        env = dict(ENV, ATTNSWEEP_TEST_CRASH=f"{point}:1", ATTNSWEEP_TEST_HOOK_RANK="1")
        r = sweep([sp, "-o", out, "--journal", "shared"], 2, env=env)
        check(r.returncode != 0 and "test hook" in r.stderr and "survivor" not in r.stderr,
              f"{point}: rank 1 is killed there, the job ends, no process survives (rc {r.returncode})")
        try:
            held = stored_runs(out)
            opens = True
        except Exception as e:  # noqa: BLE001
            opens, held = False, {}
            print(e)
        check(opens, f"{point}: the results file opens with h5py")
        only_journal = [k for k, where in held.items() if where == "journal"]
        if in_journal:
            check(len(only_journal) >= 1, f"{point}: the worker's run is in the journal, not in "
                  f"the index ({len(only_journal)} such)")
        s = subprocess.run([BIN, "summary", out, "--csv"], env=ENV, capture_output=True, text=True)
        rows = list(csv.DictReader(io.StringIO(s.stdout))) if s.returncode == 0 else None
        got = sum(int(x["repeats_ok"]) + int(x["repeats_failed"]) for x in rows) if rows else -1
        check(s.returncode == 0 and got == len(held),
              f"{point}: summary holds exactly the {len(held)} runs stored (got {got})")
        r = sweep([sp, "-o", out, "--resume", "--journal", "shared"], 2)
        check(r.returncode == 0 and f"resume: {len(held)} runs already" in r.stdout,
              f"{point}: --resume keeps the {len(held)} stored runs, the worker's journal file "
              f"among them, and completes ({r.stderr.strip()[-200:]})")
        check(equal_content(content(out), want),
              f"{point}: the resumed file equals the uninterrupted sweep's, bit for bit")
        left = os.listdir(out + ".journal") if os.path.isdir(out + ".journal") else []
        tmps = [x for x in os.listdir(tmp) if ".tmp." in x]
        check(not left and not tmps, f"{point}: no journal file or temporary left ({left + tmps})")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
