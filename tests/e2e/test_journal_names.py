#!/usr/bin/python3
"""e2e: a journal file whose name is not its run (RESULTS.h5.journal/<key>.h5 holding the
row and group of another key: a renamed or copied file) is no stored run for anyone.
summary, export, scripts/attnsweep_results.py, --resume and results pack all ignore it
with a message naming it; pack leaves it in place and says so (not "journal empty"), and
never lets it replace or drop the run it holds (that run stays in the index across packs).
"""
import os
import shutil
import signal
import subprocess
import sys

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_PY = os.path.join(HERE, "..", "..", "scripts", "attnsweep_results.py")
sys.path.insert(0, HERE)
from e2e_checks import BIN, ENV, Checks, small_grid_sweep, temp_dir  # noqa: E402
check = Checks(verbose=True)


def run(args, env=None):
    return subprocess.run([BIN] + args, env=dict(ENV, **(env or {})), capture_output=True,
                          text=True, timeout=600)


def groups(path):
    with h5py.File(path, "r") as f:
        return sorted(f["variants"]) if "variants" in f else []


def main():
    tmp, p = temp_dir("attnsweep-jnames-")
    q = small_grid_sweep(p, run)
    res = p("r.h5")
    r = run(["sweep", q, "-o", res, "--threads", "1"], env={"ATTNSWEEP_TEST_CRASH": "pack-temp-written:2"})
    jdir = res + ".journal"
    names = sorted(os.listdir(jdir))
    check(r.returncode == -signal.SIGKILL and len(names) == 6 and not groups(res),
          f"a sweep killed before its final pack: 6 runs in the journal ({len(names)})")
    held = names[0][:-3]
    fake = "0" * 64
    shutil.copy(os.path.join(jdir, names[0]), os.path.join(jdir, fake + ".h5"))
    bad = os.path.join(jdir, fake + ".h5")
    said = f"{bad} holds run {held}, not the run its name says"

    r = run(["summary", res])
    check(r.returncode == 0 and "6 runs of 3 variants" in r.stdout and said in r.stderr,
          f"summary: 6 runs, the misnamed file ignored with a message naming it ({r.stderr.strip()[:160]})")
    r = subprocess.run(["/usr/bin/python3", RESULTS_PY, res], capture_output=True, text=True, timeout=600)
    lines = [ln for ln in r.stdout.splitlines()[1:] if ln.strip()]
    check(r.returncode == 0 and len(lines) == 6 and said in r.stderr,
          f"attnsweep_results.py: 6 runs, the same message ({len(lines)} rows; {r.stderr.strip()[:160]})")
    r = run(["export", res, "--run", fake, "-o", p("x.json")])
    check(r.returncode == 2 and not os.path.exists(p("x.json")), "export --run of the misnamed key: exit 2")
    r = run(["results", "pack", res])
    check(r.returncode == 0 and said in r.stderr and "journal empty" not in r.stdout and
          "1 file left" in r.stdout and os.path.exists(bad) and len(groups(res)) == 6 and held in groups(res),
          f"pack: every run packed, the misnamed file left in place and named ({r.stdout.strip()[-160:]})")
    r = run(["results", "pack", res])
    check(r.returncode == 0 and groups(res) == sorted(n[:-3] for n in names),
          "a second pack keeps the run the misnamed file holds (it is not taken for that run's journal)")
    r = run(["summary", res])
    check(r.returncode == 0 and "6 runs of 3 variants" in r.stdout, "summary after the packs: 6 runs")
    r = run(["sweep", q, "--resume", "-o", res, "--threads", "1"])
    check(r.returncode == 0 and "resume: 6 runs already in" in r.stdout and said in r.stderr,
          f"--resume trains nothing and names the file ({r.stdout.strip()[-160:]})")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
