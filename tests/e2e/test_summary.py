#!/usr/bin/python3
"""e2e: `attnsweep summary`'s mean ± std of the repeats.

- Equal repeats print the value alone, not "± 0.00000" (a parameterless model, dropout
  only: every repeat of a real sweep has the same validation loss, bit for bit); the CSV's
  std is 0 and its mean the value itself (%.9g).
- Repeats that differ print "mean ± sample std" (kept_val_loss 1, 2, 3 written into a copy
  of the results: "2.00000 ± 1.00000").
- A spread that rounds to 0 at the printed precision prints "± <0.00001", not "± 0.00000".
- The order is a total order, the same whatever qsort does with ties: a successive halving
  result's stopped variants (no ok repeat, every value missing) come after the finished
  one, the higher rung (more epochs) first, then by id; an all-failed grid (valid
  convolutions with kernel_size 3, 150, 160, 170, 5 on series of length 100) by id;
  checked against an order computed from /summary here (glibc's merge sort put them in
  reverse with the old comparator). The table's list of stopped runs: the higher rung
  first, then the lowest kept val_loss (a missing one last), then id (it was in id order).
- Grid axes named like a fixed CSV column ("id", "name") are "axis_id", "axis_name", as
  scripts/attnsweep_results.py's load() names them, with the same values.
- Equal accuracies sort by the lower loss (--sort test_accuracy: test_loss, then
  best_val_loss; best_val_accuracy: best_val_loss), not by id. The CSV's family is the
  Python API's (flatten+dense, 'empty' for dropout alone; it said 'other').
- Messages name the file once: `summary` and `results pack` of a dataset (no /summary).
- scripts/search_analysis.py exits 2 with one line naming the option or the file for every
  bad option (--min-epochs 0 and -1 hung, --draws 0, an unknown --metric or val_accuracy
  on this regression grid, --eta 1 tracebacked or exited 1), a missing file, and a search's
  results given as the grid; the grid itself is analysed (exit 0).
Skips (exit 77) without numpy/h5py."""
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, ENV, Checks, need_h5py, temp_dir  # noqa: E402

h5py, np = need_h5py()
check = Checks(verbose=True)
TMP, j = temp_dir("attnsweep-summary-")


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600, env=ENV, cwd=TMP)


def line_of(out, name):
    """The leaderboard line of the variant called name."""
    return next((l for l in out.splitlines() if re.search(r"\s%s\s" % re.escape(name), l)), "")


def with_losses(src, dst, variant, losses):
    """A copy of results src whose /summary kept_val_loss (the table's val_loss: the kept
    model's) of variant's repeats is losses."""
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        s = f["summary"][()]
        rows = np.flatnonzero(s["id"] == variant)
        check(len(rows) == len(losses), f"{len(losses)} repeats of variant {variant} in {src}")
        s["kept_val_loss"][rows] = losses
        f["summary"][...] = s


SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts")
PY = "/usr/bin/python3"


def csv_rows(path, *flags):
    """(exit status, header, rows as dicts) of `summary path --csv flags`."""
    r = run("summary", path, "--csv", *flags)
    lines = r.stdout.splitlines()
    return r.returncode, (lines[0].split(",") if lines else []), list(csv.DictReader(io.StringIO(r.stdout)))


def expected_order(path):
    """Variant ids in the documented leaderboard order, from /summary: with an ok repeat
    first by the ok repeats' mean kept_val_loss (the kept model's), then the others by mean epochs run
    (all repeats) descending, then by id."""
    with h5py.File(path, "r") as f:
        s = f["summary"][()]
    ok, rest = [], []
    for v in sorted(set(s["id"].tolist())):
        rows = s[s["id"] == v]
        good = rows[rows["status"] == b"ok"]
        if len(good):
            ok.append((float(np.mean(good["kept_val_loss"])), v))
        else:
            rest.append((-float(np.mean(rows["epochs_run"])), v))
    return [v for _, v in sorted(ok)] + [v for _, v in sorted(rest)]


def write_sweep(name, doc):
    with open(j(name), "w") as fh:
        json.dump(doc, fh)
    return name


def order_checks():
    """Halving's stopped variants and a grid's failed ones in the documented order; axes
    named id and name."""
    conv = [{"type": "conv1d", "filters": "$f", "kernel_size": 3, "activation": "relu"},
            {"type": "conv1d", "filters": 1, "kernel_size": 3}]
    train = {"epochs": 4, "batch_size": 10, "validation_split": 0.25, "seed": 3}
    sh = write_sweep("sh.json", {"data": "toy.h5", "model": conv, "train": train,
                                 "grid": {"f": [1, 2, 3, 4, 5, 6]}, "repeats": 1,
                                 "search": {"type": "successive_halving", "min_epochs": 1,
                                            "max_epochs": 4, "eta": 2}})
    r = run("sweep", sh, "-o", "sh.h5", "--threads", "1")
    if not check(r.returncode == 0, f"halving sweep: {r.stderr[-300:]}"):
        return
    code, head, rows = csv_rows(j("sh.h5"))
    got = [int(x["id"]) for x in rows]
    want = expected_order(j("sh.h5"))
    eps = [x["epochs_run"] for x in rows]
    check(code == 0 and got == want and [x["position"] for x in rows] == [str(k + 1) for k in range(6)]
          and eps == ["4", "2", "2", "1", "1", "1"],
          f"halving: the finished variant, then the stopped ones by rung (epochs) and id: {got} "
          f"(want {want}), epochs {eps}")
    # the table's stopped list: higher rung first, the best (lowest val_loss) first within
    # a rung, then id; the losses of a copy are rewritten so that this is not the id order
    shutil.copy(j("sh.h5"), j("sh_losses.h5"))
    with h5py.File(j("sh_losses.h5"), "r+") as f:
        t = f["summary"][()]
        stop = np.flatnonzero(t["status"] == b"stopped")
        t["kept_val_loss"][stop] = 100.0 - t["id"][stop]  # the larger id, the better
        t["kept_val_loss"][stop[:1]] = np.nan  # a missing value: last in its rung
        f["summary"][...] = t
    want = sorted(((-int(t["epochs_run"][i]), np.isnan(t["kept_val_loss"][i]),
                    float(np.nan_to_num(t["kept_val_loss"][i])), int(t["id"][i])) for i in stop))
    want = [x[3] for x in want]
    r = run("summary", "sh_losses.h5")
    got = [int(m.group(1)) for m in re.finditer(r"^  v(\d{4})_r\d  rung at", r.stdout, re.M)]
    check(r.returncode == 0 and got == want and got != sorted(got, key=lambda v: (-int(
          t["epochs_run"][t["id"] == v][0]), v)),
          f"the stopped list: higher rung first, then the lowest val_loss (missing last), "
          f"not the id order: {got} (want {want})")

    failing = write_sweep("fail.json", {
        "data": "toy.h5", "train": dict(train, epochs=1), "repeats": 2,
        "model": [{"type": "conv1d", "filters": 2, "kernel_size": "$id", "activation": "$name",
                   "padding": "valid"},
                  {"type": "conv1d", "filters": 1, "kernel_size": 3}],
        "grid": {"id": [3, 150, 160, 170, 5], "name": ["relu"]}})
    r = run("sweep", failing, "-o", "fail.h5", "--threads", "1")
    st = []
    if os.path.exists(j("fail.h5")):
        with h5py.File(j("fail.h5"), "r") as f:
            st = sorted({(int(x["id"]), x["status"].decode()) for x in f["summary"][()]})
    check(r.returncode == 3 and st == [(v, "failed") for v in range(5)],
          f"valid convolutions (kernels longer than the series, outputs shorter than the "
          f"targets): every run fails, exit 3 ({st}) {r.stderr[-300:]}")
    code, head, rows = csv_rows(j("fail.h5"))
    got, want = [int(x["id"]) for x in rows], expected_order(j("fail.h5"))
    check(code == 0 and got == want == [0, 1, 2, 3, 4],
          f"an all-failed grid: by id: {got} (want {want})")
    check(head[:7] == ["position", "id", "name", "family", "axis_id", "axis_name", "n_params"]
          and len(head) == len(set(head)),
          f"axes id and name are the columns axis_id, axis_name, no name repeated: {head[:8]}")
    check([x.get("axis_id") for x in sorted(rows, key=lambda x: int(x["id"]))] == ["3", "150", "160", "170", "5"]
          and all(x.get("axis_name") == "relu" for x in rows), "axis_id, axis_name hold the grid values")
    sys.path.insert(0, SCRIPTS)
    import attnsweep_results as ar
    t = ar.load(j("fail.h5"), pandas=False)
    check("axis_id" in t and "axis_name" in t and
          {(int(i), int(k)) for i, k in zip(t["id"], t["axis_id"])} ==
          {(int(x["id"]), int(x["axis_id"])) for x in rows},
          "attnsweep_results.load() names the axes axis_id, axis_name too, with the same values")


def with_fields(src, dst, values):
    """A copy of results src whose /summary rows of variant v get values[v] ({field: x}),
    marked a classification sweep (accuracies are sort keys of those)."""
    shutil.copy(j(src), j(dst))
    with h5py.File(j(dst), "r+") as f:
        f.attrs["task"] = "classification"
        t = f["summary"][()]
        for v, fields in values.items():
            for k, x in fields.items():
                t[k][t["id"] == v] = x
        f["summary"][...] = t
    return dst


def tie_checks():
    """Equal accuracies are ordered by the lower loss (test_accuracy: test_loss, then
    best_val_loss; best_val_accuracy: best_val_loss), not by the variant id."""
    for key, fields, want in [
            ("test_accuracy", {0: {"test_accuracy": .5, "test_loss": 2.0, "best_val_loss": 1.0},
                               1: {"test_accuracy": .5, "test_loss": 1.0, "best_val_loss": 2.0}}, [1, 0]),
            ("test_accuracy", {0: {"test_accuracy": .5, "test_loss": 1.0, "best_val_loss": 2.0},
                               1: {"test_accuracy": .5, "test_loss": 1.0, "best_val_loss": 1.0}}, [1, 0]),
            ("test_accuracy", {0: {"test_accuracy": .5, "test_loss": 1.0},
                               1: {"test_accuracy": .7, "test_loss": 9.0}}, [1, 0]),
            ("best_val_accuracy", {0: {"best_val_accuracy": .5, "best_val_loss": 2.0},
                                   1: {"best_val_accuracy": .5, "best_val_loss": 1.0}}, [1, 0])]:
        path = with_fields("res.h5", "tie.h5", fields)
        code, head, rows = csv_rows(j(path), "--sort", key)
        got = [int(x["id"]) for x in rows]
        check(code == 0 and got == want, f"--sort {key} with {fields}: order {got} (want {want})")


def family_checks():
    """summary --csv's family is attnsweep_results.py's (family_of) for any layer types:
    flatten+dense, none but dropout ('empty'), conv."""
    shutil.copy(j("res.h5"), j("fam.h5"))
    models = {0: [{"type": "flatten"}, {"type": "dense", "units": 4}, {"type": "dropout", "rate": 0.1},
                  {"type": "dense", "units": 1}],
              1: [{"type": "dropout", "rate": 0.5}]}
    with h5py.File(j("fam.h5"), "r+") as f:
        for key in f["variants"]:
            g = f["variants"][key]
            cfg = json.loads(g.attrs["config"])
            v = int(f["summary"][()]["id"][[k.decode() for k in f["summary"]["key"]].index(key)])
            cfg["model"] = models[v]
            g.attrs["config"] = json.dumps(cfg)
    code, head, rows = csv_rows(j("fam.h5"))
    sys.path.insert(0, SCRIPTS)
    import attnsweep_results as ar
    t = ar.load(j("fam.h5"), pandas=False)
    py = {int(i): f for i, f in zip(t["id"], t["family"])}
    got = {int(x["id"]): x["family"] for x in rows}
    check(code == 0 and got == py == {0: "flatten+dense", 1: "empty"},
          f"summary --csv family {got}, the Python API's {py} (want flatten+dense, empty)")


def message_checks():
    """A dataset given as results: its name once, no doubled prefix."""
    for args in (["summary", "toy.h5"], ["summary", "toy.h5", "--csv"], ["results", "pack", "toy.h5"]):
        r = run(*args)
        check(r.returncode == 2 and r.stderr.count("toy.h5") == 1 and "/summary: missing" in r.stderr,
              f"{' '.join(args)}: exit 2 naming the file once ({r.returncode}, {r.stderr.strip()!r})")


def analysis_checks():
    """scripts/search_analysis.py: bad options and files exit 2 with one line naming them."""
    def sa(*args):
        try:
            return subprocess.run([PY, os.path.join(SCRIPTS, "search_analysis.py"), *args],
                                  capture_output=True, text=True, timeout=60, cwd=TMP)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, "timeout (a hang)", "", "")
    r = sa("res.h5", "--min-epochs", "1", "--draws", "8")
    check(r.returncode == 0 and "successive halving" in r.stdout,
          f"search_analysis.py on the grid: exit 0 ({r.returncode}, {r.stderr[-300:]})")
    cases = [(["res.h5", "--min-epochs", "0"], "--min-epochs 0"),
             (["res.h5", "--min-epochs", "-1"], "--min-epochs -1"),
             (["res.h5", "--min-epochs", "3"], "--min-epochs 3: more than the grid's 2 epochs"),
             (["res.h5", "--draws", "0"], "--draws 0"),
             (["res.h5", "--eta", "1"], "--eta 1"),
             (["res.h5", "--tol", "-1"], "--tol -1"),
             (["res.h5", "--goal", "0"], "--goal 0"),
             (["res.h5", "--seed", "-2"], "--seed -2"),
             (["res.h5", "--metric", "bogus"], "--metric"),
             (["res.h5", "--metric", "val_accuracy"], "--metric val_accuracy: no run of res.h5"),
             (["nosuch.h5"], "nosuch.h5: no such file"),
             (["res.h5", "nosuch2.h5"], "nosuch2.h5: no such file"),
             (["toy.h5"], "toy.h5: no /variants group"),
             (["sh.h5"], "sh.h5: run v"),
             (["sweep.json"], "sweep.json: not an HDF5 file")]
    for args, want in cases:
        r = sa(*args)
        check(r.returncode == 2 and want in r.stderr and "Traceback" not in r.stderr,
              f"search_analysis.py {' '.join(args)}: exit 2 naming {want!r} ({r.returncode}, "
              f"{r.stderr.strip()[-200:]!r})")


def main():
    r = run("data", "toy", "--samples", "40", "--test-samples", "0", "-o", j("toy.h5"))
    if not check(r.returncode == 0, f"data toy: {r.stderr}"):
        return check.summary()
    with open(j("sweep.json"), "w") as fh:
        json.dump({"data": "toy.h5", "model": [{"type": "dropout", "rate": "$r"}],
                   "train": {"epochs": 2, "batch_size": 10, "validation_split": 0.25},
                   "grid": {"r": [0.0, 0.5]}, "repeats": 3}, fh)
    r = run("sweep", "sweep.json", "-o", "res.h5", "--threads", "1")
    if not check(r.returncode == 0, f"sweep: {r.stderr[-300:]}"):
        return check.summary()
    with h5py.File(j("res.h5"), "r") as f:
        s = f["summary"][()]
    v0 = s["best_val_loss"][s["id"] == 0]
    check(len(v0) == 3 and np.all(v0 == v0[0]) and np.isfinite(v0[0]),
          f"a parameterless model's repeats have equal validation losses ({v0})")

    r = run("summary", "res.h5")
    line = line_of(r.stdout, "r=0")
    want = "%.5f" % v0[0]
    check(r.returncode == 0 and want in line and want + " ±" not in line,
          f"equal repeats: the value alone, no '± 0.00000' ({line!r})")
    r = run("summary", "res.h5", "--csv")
    rows = list(r.stdout.splitlines())
    head = rows[0].split(",") if rows else []
    row = next((x.split(",") for x in rows[1:] if x.split(",")[2:3] == ["r=0"]), None)
    ok = row is not None and "best_val_loss_std" in head
    check(ok and row[head.index("best_val_loss_std")] == "0" and
          row[head.index("best_val_loss_mean")] == "%.9g" % v0[0],
          f"equal repeats: --csv mean is the value, std 0 ({row})")

    with_losses(j("res.h5"), j("spread.h5"), 0, [1.0, 2.0, 3.0])
    line = line_of(run("summary", "spread.h5").stdout, "r=0")
    check("2.00000 ± 1.00000" in line, f"repeats 1, 2, 3: '2.00000 ± 1.00000' ({line!r})")

    with_losses(j("res.h5"), j("tiny.h5"), 0, [7.189308, 7.189309, 7.189310])
    line = line_of(run("summary", "tiny.h5").stdout, "r=0")
    check("7.18931 ± <0.00001" in line,
          f"a spread of 1e-6: '± <0.00001', not '± 0.00000' ({line!r})")
    order_checks()
    tie_checks()
    family_checks()
    message_checks()
    analysis_checks()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
