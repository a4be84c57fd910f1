#!/usr/bin/python3
"""End-to-end --resume of rung searches under changed settings, and --dry-run with --shard.

- The journal header records the settings the decisions depend on: --resume (with or
  without --force) of a search whose min_epochs, mode, repeats or (ASHA) seed changed
  exits 2 naming each changed key with both values, writing nothing (results file and
  search state byte for byte unchanged); a first-format journal header (policy only) of
  unchanged settings still resumes, to a complete search.
- A refused --resume --force of a halving search into the results of a grid sweep
  (no journal) leaves no RESULTS.h5.search behind.
- sweep --dry-run --shard I/N lists exactly the runs the real run trains, with its shard
  line, and refuses a rung search like the real run (exit 2)."""
import glob
import hashlib
import json
import os
import re
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import temp_path  # noqa: E402
from test_search import check, checks, run  # noqa: E402


def snapshot(out):
    """Every file of a results file, its store and search state, with its content hash (not
    the lock, nor the empty store folder a kill leaves: the next sweep tidies those)."""
    files = {}
    for p in sorted(glob.glob(out + "*") + glob.glob(out + "*/**", recursive=True)):
        if os.path.isfile(p) and not p.endswith(".lock"):
            with open(p, "rb") as fh:
                files[p] = hashlib.sha256(fh.read()).hexdigest()
    return files


def runs_of(path):
    with h5py.File(path, "r") as f:
        return {(int(g.attrs["id"]), int(g.attrs["repeat"])): g.attrs["status"]
                for g in f["variants"].values()}


def main():
    tmp = temp_path("attnsweep-search-resume-")
    data = os.path.join(tmp, "toy.h5")
    r = run(["data", "toy", "--samples", "60", "--test-samples", "5", "-o", data])
    check(r.returncode == 0, "toy data generated")
    base = {"data": "toy.h5",
            "model": [{"type": "conv1d", "filters": "$f", "kernel_size": 3, "activation": "relu"},
                      {"type": "conv1d", "filters": 1, "kernel_size": 3}],
            "train": {"epochs": 2, "batch_size": 16, "validation_split": 0.2},
            "grid": {"f": [1, 2, 3, 4]}, "repeats": 2,
            "search": {"type": "successive_halving", "min_epochs": 1, "max_epochs": 3, "eta": 2}}

    def write(name, doc):
        p = os.path.join(tmp, name)
        with open(p, "w") as fh:
            json.dump(doc, fh)
        return p

    def variant(**kw):
        doc = json.loads(json.dumps(base))
        for k, v in kw.items():
            if k in ("repeats", "grid", "train"):
                doc[k] = v
            elif v is None:
                doc.pop("search")
            else:
                doc["search"][k] = v
        return doc

    def refused(path, out, want, what, force=True):
        before = snapshot(out)
        r = run(["sweep", path, "-o", out, "--resume"] + (["--force"] if force else []))
        ok = r.returncode == 2 and all(w in r.stderr for w in want)
        check(ok and snapshot(out) == before, f"{what}: exit 2 naming {want}, nothing written",
              (r.returncode, r.stderr[-500:]))

    # (a) killed after 6 journal lines, then resumed under another min_epochs
    sh = write("sh.json", base)
    k = os.path.join(tmp, "k.h5")
    r = run(["sweep", sh, "-o", k], env={"AS_TEST_SEARCH_KILL": "6"})
    check(r.returncode != 0 and os.path.exists(k + ".search/journal"), "halving killed after 6 lines")
    with open(k + ".search/journal") as fh:
        header = fh.readline().split()
    check(header[:3] == ["attnsweep-search", "2", "successive_halving"] and
          "search.min_epochs=1" in header and "repeats=2" in header and "search.mode=min" in header,
          "the journal header records the policy, its settings and repeats", header)
    sh5 = write("sh5.json", variant(min_epochs=2))
    refused(sh5, k, ["search.min_epochs: the journal has 1, the sweep file 2", "another -o"],
            "--resume --force, min_epochs 1 -> 2")
    refused(write("shm.json", variant(min_epochs=2, mode="max")), k,
            ["search.min_epochs: the journal has 1, the sweep file 2",
             "search.mode: the journal has min, the sweep file max"],
            "--resume (no --force), min_epochs and mode changed", force=False)

    # a first-format header (the policy only) of unchanged settings still resumes
    with open(k + ".search/journal") as fh:
        lines = fh.readlines()
    with open(k + ".search/journal", "w") as fh:
        fh.writelines(["attnsweep-search 1 successive_halving\n"] + lines[1:])
    r = run(["sweep", sh, "-o", k, "--resume"])
    st = runs_of(k) if r.returncode == 0 else {}
    check(r.returncode == 0 and len(st) == 8 and set(st.values()) <= {"ok", "stopped"} and
          "ok" in st.values(), "a first-format journal of the same settings resumes to a complete "
          "search", (r.returncode, r.stderr[-300:], st))

    # (b) a finished search with 1 repeat, resumed with 2
    one = write("one.json", variant(repeats=1))
    o1 = os.path.join(tmp, "one.h5")
    r = run(["sweep", one, "-o", o1])
    check(r.returncode == 0, "halving with 1 repeat", r.stderr[-300:])
    refused(write("two.json", variant(repeats=2)), o1, ["repeats: the journal has 1, the sweep file 2"],
            "--resume --force, repeats 1 -> 2")

    # ASHA: its seed orders the variants it starts; a changed seed is refused
    asha = write("asha.json", variant(type="asha", seed=3))
    ka = os.path.join(tmp, "asha.h5")
    r = run(["sweep", asha, "-o", ka], env={"AS_TEST_SEARCH_KILL": "3"})
    check(r.returncode != 0, "asha killed after 3 journal lines")
    refused(write("asha4.json", variant(type="asha", seed=4)), ka,
            ["search.seed: the journal has 3, the sweep file 4"], "asha --resume --force, seed 3 -> 4")

    # a grid sweep's results, resumed as a halving search: no journal, nothing created
    grid = write("grid.json", variant(search=None, train=dict(base["train"], epochs=3)))
    g = os.path.join(tmp, "g.h5")
    r = run(["sweep", grid, "-o", g])
    check(r.returncode == 0, "grid sweep", r.stderr[-300:])
    refused(sh, g, ["g.h5.search/journal is missing"], "halving --resume --force into a grid's results")
    check(not os.path.exists(g + ".search"), "the refused resume left no g.h5.search behind")

    # --dry-run --shard: the runs the real run trains
    sg = write("sg.json", variant(search=None, grid={"f": [1, 2, 3]}))
    r = run(["sweep", sg, "--shard", "1/2", "--dry-run"])
    listed = set()
    for ln in r.stdout.splitlines():
        m = re.match(r"\s*(\d+)  \S", ln)
        if m:
            rep = re.search(r"this shard's repeats: ([\d ]+)\)", ln)
            for rr in (map(int, rep.group(1).split()) if rep else range(2)):
                listed.add((int(m.group(1)), rr))
    line = re.search(r"shard 1/2: (\d+) of the sweep's 6 runs", r.stdout)
    x = os.path.join(tmp, "x.h5")
    rr = run(["sweep", sg, "--shard", "1/2", "-o", x])
    trained = set(runs_of(x)) if rr.returncode == 0 else None
    check(r.returncode == 0 and line and int(line.group(1)) == len(listed) and listed == trained and
          0 < len(listed) < 6, "--dry-run --shard 1/2 lists the shard's runs, as the real run trains them",
          (r.stdout[-600:], trained))
    r = run(["sweep", sh, "--shard", "1/2", "--dry-run"])
    check(r.returncode == 2 and "cannot be split into shards" in r.stderr,
          "--dry-run --shard of a halving search: exit 2, as the real run", (r.returncode, r.stderr[-300:]))
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
