#!/usr/bin/python3
"""e2e: what attnsweep merge accepts and refuses, and --resume of a shard.

- A shard killed before its final pack (its runs in SHARD.h5.journal only, test hook
  ATTNSWEEP_TEST_CRASH=pack-temp-written:2) merges with every run copied: the merged file
  has a group for each /summary row, equals the unsharded sweep bit for bit, and summary,
  export --best, scripts/attnsweep_results.py and --resume read it.
- A shard whose sweep still writes it (held after its last run, ATTNSWEEP_TEST_HOLD, the
  lock held) is refused naming the holder (exit 2, nothing written); once that sweep has
  ended the merge goes through.
- A /summary row without its run, shards trained with different --epochs, runs of another
  grid kept by --resume --force ("[not in grid]") and a shard of an older version (no
  run_keys_sha256) are refused, exit 2, naming the shard and what differs.
- --resume with another --shard than the file records (or none, or a whole sweep's file
  with one) is refused, also with --force, naming both; the same --shard resumes.
"""
import json
import os
import signal
import subprocess
import sys

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
from e2e_checks import BIN, ENV, Checks, signal_session, small_grid_sweep, temp_dir  # noqa: E402
import compare  # noqa: E402
check = Checks(verbose=True)


def run(args, env=None):
    return subprocess.run([BIN] + args, env=dict(ENV, **(env or {})), capture_output=True,
                          text=True, timeout=600)


def text(v):
    return v.split(b"\0")[0].decode() if isinstance(v, bytes) else str(v)


def stored(path):
    """(run keys of the /summary rows, group names under /variants) of a results file."""
    with h5py.File(path, "r") as f:
        rows = [text(r["key"]) for r in f["summary"][()] if text(r["status"])]
        groups = sorted(f["variants"]) if "variants" in f else []
    return rows, groups


def main():
    tmp, p = temp_dir("attnsweep-merge-")
    q = small_grid_sweep(p, run)
    common = ["--epochs", "5", "--threads", "1"]
    check(run(["sweep", q, "-o", p("full.h5")] + common).returncode == 0, "the unsharded sweep")
    full, _ = stored(p("full.h5"))
    check(len(full) == 6, f"6 runs ({len(full)})")

    # 1. a shard killed before its final pack: its runs are in its journal only
    r0 = run(["sweep", q, "--shard", "0/2", "-o", p("mk0.h5")] + common)
    r1 = run(["sweep", q, "--shard", "1/2", "-o", p("mk1.h5")] + common,
             env={"ATTNSWEEP_TEST_CRASH": "pack-temp-written:2"})
    journal = sorted(os.listdir(p("mk1.h5.journal")))
    rows1, groups1 = stored(p("mk1.h5"))
    check(r0.returncode == 0 and r1.returncode == -signal.SIGKILL and len(journal) > 0 and
          not groups1 and len(rows1) == len(journal),
          f"shard 1/2 killed before its final pack: {len(journal)} runs in its journal, "
          f"{len(groups1)} in its index")
    r = run(["merge", "-o", p("mk.h5"), p("mk0.h5"), p("mk1.h5")])
    rows, groups = stored(p("mk.h5")) if os.path.exists(p("mk.h5")) else ([], [])
    check(r.returncode == 0 and sorted(rows) == groups == sorted(full),
          f"merge copies the journal's runs too: {len(rows)} rows, {len(groups)} groups "
          f"({r.stderr.strip()[:200]})")
    check(r.returncode == 0 and compare.results(p("full.h5"), p("mk.h5"), 0.0, False) == 0,
          "the merged file equals the unsharded sweep bit for bit")
    check(sorted(os.listdir(p("mk1.h5.journal"))) == journal, "merge leaves the shard's journal as it was")
    with h5py.File(p("mk.h5"), "r") as f:
        check(int(f.attrs.get("n_shards", -1)) == 0 and int(f.attrs["runs_planned"]) == 6,
              "the merged file is the whole sweep (n_shards 0, 6 runs planned)")
    r = run(["summary", p("mk.h5")])
    check(r.returncode == 0 and "6 runs" in r.stdout, "summary reads the merged file: 6 runs")
    r = run(["export", p("mk.h5"), "--best", "-o", p("best.json")])
    check(r.returncode == 0 and os.path.exists(p("best.json")), f"export --best ({r.stderr.strip()[:200]})")
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "attnsweep_results.py"), p("mk.h5")],
                       capture_output=True, text=True, timeout=600)
    check(r.returncode == 0, f"attnsweep_results.py reads the merged file ({r.stderr.strip()[:200]})")
    r = run(["sweep", q, "--resume", "-o", p("mk.h5")] + common)
    check(r.returncode == 0 and "resume: 6 runs already in" in r.stdout and stored(p("mk.h5"))[1] == groups,
          "--resume of the merged file trains nothing")

    # 2. a shard its sweep still writes: held after its last run, the lock held
    n1 = len(journal)
    hold = subprocess.Popen([BIN, "sweep", q, "--shard", "1/2", "-o", p("h1.h5")] + common,
                            env=dict(ENV, ATTNSWEEP_TEST_HOLD=f"after-run:{n1}"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    seen = []
    for line in hold.stderr:  # blocks until the sweep reaches the hold point
        seen.append(line)
        if "holding until a stop signal" in line:
            break
    r = run(["merge", "-o", p("hm.h5"), p("mk0.h5"), p("h1.h5")])
    check(r.returncode == 2 and "h1.h5 is being written" in r.stderr and f" {hold.pid} " in r.stderr
          and "missing or unfinished" in r.stderr and not os.path.exists(p("hm.h5")),
          f"merge refuses a shard whose lock a live sweep holds, naming it ({r.stderr.strip()[:240]})")
    signal_session(hold.pid, signal.SIGTERM)  # started as its own session
    out, _ = hold.communicate(timeout=600)
    check(hold.returncode == 0, f"the held sweep stops cleanly ({''.join(seen)[-200:]})")
    r = run(["merge", "-o", p("hm.h5"), p("mk0.h5"), p("h1.h5")])
    check(r.returncode == 0 and compare.results(p("full.h5"), p("hm.h5"), 0.0, False) == 0,
          f"once its sweep has ended the shard merges ({r.stderr.strip()[:200]})")

    # 2b. a failed run retried by --resume, killed before the final pack: the index holds the
    # failed run, the journal the retried one (newer): merge, summary and the reader take it
    subprocess.run(["cp", p("mk0.h5"), p("rt0.h5")], check=True)
    with h5py.File(p("rt0.h5"), "r+") as f:
        s = f["summary"][()]
        retried = text(s[0]["key"])
        s[0]["status"] = b"failed"
        f["summary"][0] = s[0]
        f["variants"][retried].attrs["status"] = "failed"
    r = run(["sweep", q, "--shard", "0/2", "--resume", "-o", p("rt0.h5")] + common,
            env={"ATTNSWEEP_TEST_CRASH": "pack-temp-written:2"})
    check(r.returncode == -signal.SIGKILL and os.listdir(p("rt0.h5.journal")) == [retried + ".h5"],
          "a failed run retried, the sweep killed before its final pack: the retried run in the journal")
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "attnsweep_results.py"), p("rt0.h5")],
                       capture_output=True, text=True, timeout=600)
    mine = [ln for ln in r.stdout.splitlines()[1:] if ln.strip()]
    check(r.returncode == 0 and len(mine) == len(stored(p("mk0.h5"))[1]) and ",failed," not in r.stdout,
          f"attnsweep_results.py: one row per run, the retried run's ({len(mine)} rows; {r.stderr.strip()[:160]})")
    r = run(["merge", "-o", p("rt.h5"), p("rt0.h5"), p("mk1.h5")])
    check(r.returncode == 0 and compare.results(p("full.h5"), p("rt.h5"), 0.0, False) == 0,
          f"merge takes the retried run from the journal: equal to the unsharded sweep ({r.stderr.strip()[:160]})")

    # 3. a /summary row whose run is nowhere
    with h5py.File(p("mk0.h5"), "r") as f:
        n0 = len(f["variants"])
    subprocess.run(["cp", p("mk0.h5"), p("gap0.h5")], check=True)
    with h5py.File(p("gap0.h5"), "r+") as f:
        lost = sorted(f["variants"])[0]
        del f["variants"][lost]
    r = run(["merge", "-o", p("gap.h5"), p("gap0.h5"), p("mk1.h5")])
    check(n0 > 0 and r.returncode == 2 and "gap0.h5" in r.stderr and lost in r.stderr and
          "has no run" in r.stderr and not os.path.exists(p("gap.h5")),
          f"a /summary row without its run is refused, naming the shard and run ({r.stderr.strip()[:200]})")

    # 4. shards trained with different --epochs
    run(["sweep", q, "--shard", "0/2", "--epochs", "3", "-o", p("e0.h5"), "--threads", "1"])
    run(["sweep", q, "--shard", "1/2", "--epochs", "4", "-o", p("e1.h5"), "--threads", "1"])
    r = run(["merge", "-o", p("e.h5"), p("e0.h5"), p("e1.h5")])
    check(r.returncode == 2 and "e1.h5" in r.stderr and "--epochs 4 there, 3 in" in r.stderr and
          not os.path.exists(p("e.h5")), f"shards of different --epochs are refused ({r.stderr.strip()[:200]})")
    r = run(["merge", "-o", p("e.h5"), p("e0.h5"), p("mk1.h5")])
    check(r.returncode == 2 and "--epochs 5 there, 3 in" in r.stderr, "also against the journal-only shard")

    # 5. runs of another grid kept by --resume --force: not the sweep's planned runs
    with open(q) as f:
        sweep = json.load(f)
    other = dict(sweep, train=dict(sweep["train"], optimizer={"type": "adam", "learning_rate": 0.02}))
    with open(p("other.json"), "w") as f:
        json.dump(other, f)
    run(["sweep", p("other.json"), "--shard", "0/2", "-o", p("f0.h5")] + common)
    r = run(["sweep", q, "--shard", "0/2", "--resume", "--force", "-o", p("f0.h5")] + common)
    r2 = run(["merge", "-o", p("f.h5"), p("f0.h5"), p("mk1.h5")])
    check(r.returncode == 0 and r2.returncode == 2 and "f0.h5" in r2.stderr and
          "not one of the sweep's planned runs" in r2.stderr and "[not in grid]" in r2.stderr and
          not os.path.exists(p("f.h5")), f"runs [not in grid] are refused ({r2.stderr.strip()[:220]})")

    # 6. a shard written before run_keys_sha256 was recorded
    subprocess.run(["cp", p("mk0.h5"), p("old0.h5")], check=True)
    with h5py.File(p("old0.h5"), "r+") as f:
        del f.attrs["run_keys_sha256"]
    r = run(["merge", "-o", p("old.h5"), p("old0.h5"), p("mk1.h5")])
    check(r.returncode == 2 and "old0.h5" in r.stderr and "older attnsweep" in r.stderr and
          "--resume" in r.stderr, f"a shard of an older version: resume it first ({r.stderr.strip()[:200]})")
    r = run(["sweep", q, "--shard", "0/2", "--resume", "-o", p("old0.h5")] + common)
    r2 = run(["merge", "-o", p("old.h5"), p("old0.h5"), p("mk1.h5")])
    check(r.returncode == 0 and r2.returncode == 0, "resumed with this version, it merges")

    # 7. --resume never mixes shards
    before = stored(p("mk1.h5"))
    for args, was, now in ((["--shard", "0/3"], "shard 1/2", "--shard 0/3"),
                           (["--shard", "0/3", "--force"], "shard 1/2", "--shard 0/3"),
                           ([], "shard 1/2", "the whole sweep")):
        r = run(["sweep", q, "--resume", "-o", p("mk1.h5")] + args + common)
        check(r.returncode == 2 and was in r.stderr and now in r.stderr and stored(p("mk1.h5")) == before,
              f"--resume {' '.join(args) or 'without --shard'} of shard 1/2's file: exit 2 naming both "
              f"({r.stderr.strip()[:200]})")
    r = run(["sweep", q, "--resume", "--shard", "1/2", "-o", p("full.h5")] + common)
    check(r.returncode == 2 and "the whole sweep" in r.stderr and "--shard 1/2" in r.stderr,
          "--resume --shard 1/2 of a whole sweep's file: exit 2")
    r = run(["sweep", q, "--resume", "--shard", "1/2", "-o", p("mk1.h5")] + common)
    check(r.returncode == 0 and f"resume: {n1} runs already in" in r.stdout,
          "--resume with the file's own --shard goes on")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
