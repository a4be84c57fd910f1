#!/usr/bin/python3
"""End-to-end test: JSON nested deeper than the reader's limit (cJSON's CJSON_NESTING_LIMIT,
1000 levels) is refused by every command that reads JSON, with exit 2 and a message naming
the file, the limit, the line and the column of the bracket that opens level 1001 (it was
"invalid JSON" at that column), and nothing written:
- a spec (train, predict, evaluate), a sweep file (sweep, sweep --dry-run);
- the JSON a results file holds: a run's config (export), a shard's sweep text (merge);
and 1000 levels are read on (the commands then refuse the value for what it is)."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, ENV, Checks, need_h5py, temp_dir  # noqa: E402

check = Checks(verbose=True)
LIMIT = 1000


def run(args):
    return subprocess.run([BIN] + args, env=ENV, capture_output=True, text=True, timeout=300)


def deep(levels, head='{"data": "toy.h5",\n "model": '):
    """head + a value nested so that the whole text is `levels` deep (the root object is one);
    the column on line 2 of the opener of level LIMIT + 1."""
    inner = levels - 1
    return head + "[" * inner + "]" * inner + "}", len(head.split("\n")[-1]) + LIMIT


def refused(r, where, col, outputs):
    want = f"{where}: line 2, column {col}: nested deeper than {LIMIT} levels"
    return (r.returncode == 2 and want in r.stderr and "invalid JSON" not in r.stderr
            and not any(os.path.exists(o) for o in outputs))


def main():
    h5py, _ = need_h5py()
    tmp, p = temp_dir("attnsweep-json-depth-")
    r = run(["data", "toy", "--samples", "60", "--test-samples", "5", "-o", p("toy.h5")])
    if not check(r.returncode == 0, "data toy"):
        return check.summary()

    text, col = deep(LIMIT + 1)
    with open(p("deep.json"), "w") as fh:
        fh.write(text)
    out = [p("o.h5"), p("h.h5"), p("w.h5")]
    for args in (["train", p("deep.json"), "--history", p("h.h5"), "--save-weights", p("w.h5")],
                 ["predict", p("deep.json"), "--weights", p("w.h5"), "-o", p("o.h5")],
                 ["evaluate", p("deep.json"), "--weights", p("w.h5")],
                 ["sweep", p("deep.json"), "-o", p("o.h5")],
                 ["sweep", "--dry-run", p("deep.json")]):
        r = run(args)
        check(refused(r, p("deep.json"), col, out), "%s: %d levels: exit 2 naming the file, the "
              "limit, line 2 and column %d (%d: %s)" % (" ".join(args[:2]).replace(tmp + "/", ""),
                                                       LIMIT + 1, col, r.returncode, r.stderr.strip()))
    text, _ = deep(LIMIT)
    with open(p("limit.json"), "w") as fh:
        fh.write(text)
    r = run(["train", p("limit.json")])
    check(r.returncode == 2 and "model[0]: must be a layer object" in r.stderr,
          "train: %d levels are read (model[0] refused as a layer: %d: %s)"
          % (LIMIT, r.returncode, r.stderr.strip()))

    # the JSON inside a results file and a shard: a run's config, the sweep text
    sweep = {"data": "toy.h5", "grid": {"f": [2]}, "train": {"epochs": 1, "batch_size": 16},
             "model": [{"type": "conv1d", "filters": "$f", "kernel_size": 3},
                       {"type": "conv1d", "filters": 1, "kernel_size": 3}]}
    with open(p("s.json"), "w") as fh:
        json.dump(sweep, fh)
    r = run(["sweep", p("s.json"), "--shard", "0/1", "-o", p("r.h5")])
    if not check(r.returncode == 0, "a one-run sweep (%d: %s)" % (r.returncode, r.stderr.strip())):
        return check.summary()
    shutil.copyfile(p("r.h5"), p("shard.h5"))
    text, col = deep(LIMIT + 1)
    with h5py.File(p("r.h5"), "r+") as f:
        key = list(f["variants"])[0]
        f["variants"][key].attrs.modify("config", text)
    r = run(["export", p("r.h5"), "--run", "v0000_r0", "-o", p("e.json")])
    check(refused(r, f"{p('r.h5')}: run {key}: config", col, [p("e.json")]),
          "export: a run config %d levels deep: exit 2 naming the file, the run, the limit and "
          "where (%d: %s)" % (LIMIT + 1, r.returncode, r.stderr.strip()))
    with h5py.File(p("shard.h5"), "r+") as f:
        f.attrs.modify("sweep_text", text)
    r = run(["merge", p("shard.h5"), "-o", p("m.h5")])
    check(refused(r, p("shard.h5"), col, [p("m.h5")]),
          "merge: a shard's sweep text %d levels deep: exit 2 naming the shard, the limit and "
          "where (%d: %s)" % (LIMIT + 1, r.returncode, r.stderr.strip()))
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
