#!/usr/bin/python3
"""e2e: "data" as a grid axis (a sweep over datasets), on 2 MPI ranks.

Two classification sets with 3 and 4 classes; "data": "$ds" and a grid over them plus a
learning rate, "units": "n_classes":
- every run trains on its own dataset: its stored data path, its data_sha256 (= the file's
  SHA-256, computed here with hashlib), its predictions' class count (n_classes per dataset);
- the run keys of the two datasets differ (the key holds the data hash), summary --csv has
  the axis as a column;
- --resume trains nothing; a changed dataset is refused on --resume (exit 2, names it);
- export of a run of the second dataset points at that dataset;
- bad values exit 2 naming the key: --data with a data axis (even of one value, naming
  the axis and the override), a non-string axis value, a
  missing file, a rank whose file differs (test hook ATTNSWEEP_TEST_RANK_DATA).
Skips (exit 77) without numpy/h5py."""
import csv
import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, ENV, Checks, need_h5py, temp_dir, sine_classes  # noqa: E402

h5py, np = need_h5py()
check = Checks(verbose=True)
TMP, j = temp_dir("attnsweep-data-axis-")


def run(*args, np_=0, env=None):
    cmd = (["mpirun", "--bind-to", "none", "-np", str(np_)] if np_ else []) + [BIN, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env or ENV, cwd=TMP)


def make_data(path, k, seed=0):
    sine_classes(path, n=40, n_test=12, T=24, k=k, seed=seed, noise=0.3)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def sweep(ds, **extra):
    return dict({
        "data": "$ds",
        "model": [{"type": "conv1d", "filters": 4, "kernel_size": 3, "activation": "relu"},
                  {"type": "global_average_pooling1d"}, {"type": "dense", "units": "n_classes"}],
        "train": {"epochs": 3, "batch_size": 8,
                  "validation": {"split": 0.25, "mode": "stratified", "seed": 1},
                  "optimizer": {"type": "adam", "learning_rate": "$lr"}},
        "grid": {"ds": ds, "lr": [0.01, 0.003]},
        "seed": 3, "prediction_samples": 12}, **extra)


def write(name, doc):
    with open(j(name), "w") as fh:
        json.dump(doc, fh)


def main():
    os.makedirs(j("data"))
    make_data(j("data/a.h5"), 3, seed=1)
    make_data(j("data/b.h5"), 4, seed=2)
    write("sw.json", sweep(["data/a.h5", "data/b.h5"]))
    r = run("sweep", "sw.json", "-o", "res.h5", "--threads", "1", np_=2)
    check(r.returncode == 0, f"a sweep over 2 datasets on 2 ranks exits 0 {r.stderr[-300:]}")
    with h5py.File(j("res.h5"), "r") as f:
        runs = {k: dict(g.attrs) for k, g in f["variants"].items()}
        ncls = {k: g["predictions"].shape[1] for k, g in f["variants"].items()}
        root = dict(f.attrs)
    check(len(runs) == 4, f"4 runs stored ({len(runs)})")
    want = {"a.h5": (sha(j("data/a.h5")), 3), "b.h5": (sha(j("data/b.h5")), 4)}
    for k, a in runs.items():
        name = os.path.basename(a["data"])
        check(a["data"] == j("data/" + name) and json.loads(a["config"])["data"] == a["data"] and
              a["data_sha256"] == want[name][0] and ncls[k] == want[name][1],
              f"run {a['name']}: trained on {name}, its data_sha256 is the file's, {ncls[k]} classes")
    by = {}
    for k, a in runs.items():
        by.setdefault(json.loads(a["params"])["lr"], set()).add(k)
    check(all(len(v) == 2 for v in by.values()),
          "the same config on the two datasets has two run keys (the key holds the data hash)")
    check(json.loads(root["data_path"]) == [j("data/a.h5"), j("data/b.h5")] and
          root["data_sha256"] == hashlib.sha256(
              (want["a.h5"][0] + "\n" + want["b.h5"][0] + "\n").encode()).hexdigest(),
          "root data_path lists the datasets; data_sha256 hashes their hashes")
    r = run("summary", "res.h5", "--csv")
    rows = list(csv.reader(r.stdout.splitlines()))
    head = rows[0]
    vals = {row[head.index("ds")] for row in rows[1:]} if "ds" in head else set()
    check(r.returncode == 0 and "ds" in head and vals == {"data/a.h5", "data/b.h5"},
          f"summary --csv: a ds column with each run's data ({vals})")

    before = os.path.getmtime(j("res.h5")), {k: a["run_key"] for k, a in runs.items()}
    r = run("sweep", "sw.json", "-o", "res.h5", "--threads", "1", "--resume", np_=2)
    with h5py.File(j("res.h5"), "r") as f:
        keys = {k: g.attrs["run_key"] for k, g in f["variants"].items()}
    check(r.returncode == 0 and "4 runs already" in r.stdout and "0 epochs trained" in r.stdout and
          keys == before[1], f"--resume trains nothing {r.stdout[-200:]}")

    bkey = next(k for k, a in runs.items() if a["data"].endswith("b.h5"))
    r = run("export", "res.h5", "--run", bkey, "-o", "eb.json")
    check(r.returncode == 0 and json.load(open(j("eb.json")))["data"] == os.path.realpath(j("data/b.h5")),
          f"export of a run on b.h5 points at b.h5 {r.stderr}")

    make_data(j("data/c.h5"), 4, seed=9)
    cases = [
        (("sweep", "sw.json", "-o", "x.h5", "--data", "data/a.h5"), "--data: the data of"),
        # one value: --data would train on c.h5 but label the runs ds=data/a.h5
        (("sweep", "one.json", "-o", "x.h5", "--data", "data/c.h5"), '("data": "$ds", values ["data/a.h5"])'),
        (("sweep", "bad1.json", "-o", "x.h5"), "data: must be a non-empty string"),
        (("sweep", "bad2.json", "-o", "x.h5"), "data"),
        (("sweep", "bad3.json", "-o", "x.h5"), "grid.ds"),
    ]
    write("one.json", sweep(["data/a.h5"]))
    write("bad1.json", sweep(["data/a.h5", 5]))
    write("bad2.json", sweep(["data/a.h5", "data/nothere.h5"]))
    write("bad3.json", sweep([]))
    for args, msg in cases:
        r = run(*args)
        extra = {"bad2.json": "nothere.h5" in r.stderr,
                 "one.json": "/data/c.h5 replaces a single dataset" in r.stderr}.get(args[1], True)
        check(r.returncode == 2 and msg in r.stderr and extra and not os.path.exists(j("x.h5")),
              f"{args[1]}: exit 2 naming '{msg}' ({r.stderr.strip()[:160]})")
    env = dict(ENV, ATTNSWEEP_TEST_RANK_DATA="1:" + j("data/c.h5"))
    r = run("sweep", "sw.json", "-o", "x.h5", "--threads", "1", np_=2, env=env)
    check(r.returncode == 2 and "holds other data than rank 0's" in r.stderr and not os.path.exists(j("x.h5")),
          f"a rank whose dataset differs: exit 2 ({r.stderr.strip()[-160:]})")
    make_data(j("data/b.h5"), 4, seed=5)  # the second dataset changes
    r = run("sweep", "sw.json", "-o", "res.h5", "--threads", "1", "--resume")
    check(r.returncode == 2 and "the dataset changed" in r.stderr,
          f"--resume after a dataset of the axis changed: exit 2 ({r.stderr.strip()[:160]})")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
