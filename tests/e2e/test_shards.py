#!/usr/bin/python3
"""e2e: sweep --shard I/N and attnsweep merge.

3 shards (one with 2 MPI ranks) merged equal the unsharded sweep run for run, bit for bit
(curves, dumps, run keys, seeds); the shards are disjoint and chosen by run key (the same
runs whatever the variant order: the grid's axis values reversed); 7 shards of 12 runs
(some shards empty) merge too; a shard stopped half-way is finished by --resume; merge
refuses missing, overlapping, doubled or foreign shards and an existing output (exit 2,
nothing written); bad --shard values exit 2."""
import json
import os
import subprocess
import sys

import h5py

BIN = os.environ.get("ATTNSWEEP_BIN", "build/attnsweep")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
from e2e_checks import Checks, temp_path  # noqa: E402
import compare  # noqa: E402
check = Checks(verbose=True)


def run(args, np_=None):
    cmd = (["mpirun", "--bind-to", "none", "-np", str(np_)] if np_ else []) + [BIN] + args
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)


def keys(path):
    with h5py.File(path, "r") as f:
        return {(g.attrs["run_key"], int(g.attrs["repeat"])) for g in f["variants"].values()}


def main():
    tmp = temp_path("attnsweep-shards-")
    p = lambda name: os.path.join(tmp, name)  # noqa: E731
    check(run(["data", "toy", "--samples", "96", "--test-samples", "4", "-o", p("toy.h5")]).returncode == 0,
          "toy data")
    sweep = {"data": "toy.h5",
             "model": [{"type": "conv1d", "filters": 4, "kernel_size": 5, "activation": "relu"}, "$block",
                       {"type": "conv1d", "filters": 1, "kernel_size": 3}],
             "train": {"epochs": 2, "batch_size": 16, "validation_split": 0.25,
                       "optimizer": {"type": "adam", "learning_rate": "$lr"}},
             "grid": {"block": [{"type": "conv1d", "filters": 4, "kernel_size": 3},
                                {"type": "self_attention", "num_heads": "$heads", "key_dim": 4}],
                      "heads": [1, 2], "lr": [0.001, 0.01]},
             "repeats": 2, "seed": 5, "attention_samples": 1, "prediction_samples": 2}
    with open(p("sweep.json"), "w") as f:
        json.dump(sweep, f)
    r = run(["sweep", p("sweep.json"), "-o", p("full.h5"), "--threads", "1"])
    check(r.returncode == 0, "the unsharded sweep")
    total = len(keys(p("full.h5")))
    check(total == 12, f"12 runs (got {total})")

    shards = []
    for i in range(3):
        out = p(f"s{i}-of-3.h5")
        r = run(["sweep", p("sweep.json"), "--shard", f"{i}/3", "-o", out, "--threads", "1"],
                np_=2 if i == 1 else None)
        check(r.returncode == 0 and f"shard {i}/3: " in r.stdout, f"shard {i}/3 exits 0 ({r.stderr[-200:]})")
        shards.append(out)
    ks = [keys(s) for s in shards]
    check(sum(len(k) for k in ks) == 12 and set().union(*ks) == keys(p("full.h5")) and
          all(not (ks[a] & ks[b]) for a in range(3) for b in range(a + 1, 3)),
          f"the 3 shards are disjoint and cover the sweep ({[len(k) for k in ks]} runs)")
    r = run(["merge", "-o", p("merged.h5")] + shards)
    check(r.returncode == 0 and "merged 3 shard files" in r.stdout, f"merge exits 0 ({r.stderr.strip()})")
    check(compare.results(p("full.h5"), p("merged.h5"), 0.0, False) == 0,
          "3 shards merged equal the unsharded sweep bit for bit")
    with h5py.File(p("merged.h5"), "r") as f, h5py.File(p("full.h5"), "r") as g:
        s = f["summary"][()]
        check([(int(a), int(b)) for a, b in zip(s["id"], s["repeat"])] ==
              sorted((int(a), int(b)) for a, b in zip(g["summary"]["id"], g["summary"]["repeat"])),
              "the merged summary holds every run once, sorted by (id, repeat)")
        check(f.attrs["sweep_sha256"] == g.attrs["sweep_sha256"] and f.attrs["merged_shards"] == 3,
              "the merged file keeps the sweep's attributes and records merged_shards")
        check(f.attrs["runs_planned"] == 12, "the merged file plans the sweep's 12 runs")
    planned = []
    for s_, k in zip(shards, ks):
        with h5py.File(s_, "r") as f:
            planned.append((int(f.attrs["runs_planned"]), len(k)))
    check(all(a == b for a, b in planned),
          f"each shard's file plans its own runs, so a finished shard reads as finished ({planned})")
    r = run(["summary", p("merged.h5")])
    check(r.returncode == 0 and "±" in r.stdout, "summary reads the merged file")

    # shards by run key: the same runs land in the same shard whatever the variant order
    rev = dict(sweep, grid=dict(sweep["grid"], lr=[0.01, 0.001], heads=[2, 1]))
    with open(p("rev.json"), "w") as f:
        json.dump(rev, f)
    r = run(["sweep", p("rev.json"), "--shard", "0/3", "-o", p("rev0.h5"), "--threads", "1"])
    check(r.returncode == 0 and keys(p("rev0.h5")) == ks[0],
          "reordered grid values: shard 0/3 holds the same runs (chosen by run key, not id)")

    # 7 shards of 12 runs: some may be empty, the merge is still complete
    s7 = []
    for i in range(7):
        out = p(f"s{i}-of-7.h5")
        run(["sweep", p("sweep.json"), "--shard", f"{i}/7", "-o", out, "--threads", "1"])
        s7.append(out)
    r = run(["merge", "-o", p("merged7.h5")] + s7)
    check(r.returncode == 0 and compare.results(p("full.h5"), p("merged7.h5"), 0.0, False) == 0,
          f"7 shards merged equal the unsharded sweep ({[len(keys(s)) for s in s7]} runs)")

    # refusals: nothing written
    for args, what in ((shards[:2], "a missing shard"), (shards + [p("s0-of-7.h5")], "overlapping shards"),
                       (shards + [shards[0]], "a shard given twice"),
                       ([shards[0], shards[1], p("rev0.h5")], "a shard of another sweep file")):
        r = run(["merge", "-o", p("bad.h5")] + args)
        check(r.returncode == 2 and r.stderr.startswith("attnsweep merge: ") and not os.path.exists(p("bad.h5")),
              f"merge refuses {what}: exit 2, nothing written ({r.stderr.strip()[:150]})")
    r = run(["merge", "-o", p("merged.h5")] + shards)
    check(r.returncode == 2 and "exists" in r.stderr, "merge never replaces an existing file")
    for bad in ("3/3", "-1/3", "1/0", "x", "1/", "/3"):
        r = run(["sweep", p("sweep.json"), "--shard", bad, "-o", p("never.h5")])
        check(r.returncode == 2 and "--shard" in r.stderr and not os.path.exists(p("never.h5")),
              f"--shard {bad}: exit 2 naming the flag")

    # a shard stopped half-way: the results keep its finished runs, --resume finishes it
    half = p("half.h5")
    mine = len(ks[2])
    r = run(["sweep", p("sweep.json"), "--shard", "2/3", "-o", half, "--threads", "1"])
    with h5py.File(half, "r+") as f:  # drop its last run, as if it had been stopped
        last = sorted(f["variants"])[-1]
        del f["variants"][last]
        s = f["summary"][()]
        keep = [row for row in s if row["key"].decode() != last]  # groups: by run key
        del f["summary"]
        f.create_dataset("summary", data=keep, dtype=s.dtype)
    r = run(["sweep", p("sweep.json"), "--shard", "2/3", "-o", half, "--threads", "1", "--resume"])
    check(r.returncode == 0 and f"resume: {mine - 1} runs already in" in r.stdout and
          keys(half) == ks[2], "--resume of a shard trains only its missing run")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
