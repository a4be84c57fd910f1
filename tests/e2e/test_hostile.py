#!/usr/bin/python3
"""End-to-end: hostile and huge inputs (issue 12). Every case runs the CLI once and must
end within 10 s using at most 2 GB (measured with wait4's max RSS); a bad input must exit
2 with a message naming the file and the key or line, and write nothing. Cases are
tables of (name, how to make the input, command, what the message must say)."""
import hashlib
import json
import os
import subprocess
import sys
import threading
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, kill_session, temp_path  # noqa: E402

BIN = os.environ.get("ATTNSWEEP_BIN", "build/attnsweep")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
ENV.pop("ATTNSWEEP_MEMORY_LIMIT", None)
check = Checks(verbose=True)
TMP = temp_path("attnsweep-hostile-")
MAX_RSS_KB = 2 * 1024 * 1024
MAX_SECONDS = 10.0
TRAIN_SECONDS = 300.0


def j(*names):
    return os.path.join(TMP, *names)


def run(args, env=None, trains=False):
    """Runs the CLI; returns (exit status, stdout, stderr, seconds, max RSS in KB). A
    command that does not train must end within MAX_SECONDS using at most MAX_RSS_KB
    (the goal: no input makes a command use more before it trains or exits 2): it is
    killed at the deadline (its whole session: a hang fails the test, it does not stall
    it) and the bounds are checked here, for every such call. A training command gets a
    deadline of TRAIN_SECONDS and no bound."""
    t0 = time.monotonic()
    out, err = j("out.txt"), j("err.txt")
    deadline = TRAIN_SECONDS if trains else MAX_SECONDS
    with open(out, "w") as fo, open(err, "w") as fe:
        p = subprocess.Popen([BIN] + args, env=env or ENV, stdout=fo, stderr=fe,
                             start_new_session=True)
        timer = threading.Timer(deadline, kill_session, (p.pid,))  # its session, not its group
        timer.start()
        _, status, ru = os.wait4(p.pid, 0)
        timer.cancel()
    secs = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    p.returncode = code
    what = " ".join(os.path.basename(a) for a in args)[:120]
    if secs >= deadline:
        check(False, f"{what}: killed at the {deadline:.0f} s deadline")
    elif not trains:
        check(secs < MAX_SECONDS and ru.ru_maxrss < MAX_RSS_KB,
              f"{what}: {secs:.2f} s, {ru.ru_maxrss // 1024} MiB (bounds {MAX_SECONDS:.0f} s, "
              f"{MAX_RSS_KB // 1024} MiB)")
    with open(out) as fo, open(err) as fe:
        return code, fo.read(), fe.read(), secs, ru.ru_maxrss


def expect_refusal(name, args, must, env=None, absent=()):
    """Exit 2, every string of must in stderr, within the time and memory bounds (run),
    and no file of absent created."""
    code, out, err, secs, rss = run(args, env)
    msg = err.strip().splitlines()[-1] if err.strip() else "(no message)"
    check(code == 2 and all(m in err for m in must),
          f"{name}: exit {code}, message names {must}: {msg[:300]}")
    for a in absent:
        check(not os.path.exists(a), f"{name}: nothing written at {os.path.basename(a)}")
    return err


def write_spec(name, spec):
    path = j(name)
    with open(path, "w") as f:
        json.dump(spec, f)
    return path


def regression_file(path, n=40, t=32):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.attrs["task"] = "regression"
        f["train/x"] = rng.standard_normal((n, t, 1)).astype(np.float32)
        f["train/y"] = rng.standard_normal((n, t, 1)).astype(np.float32)


def small_spec(data, **train):
    tr = {"epochs": 1, "batch_size": 8, "seed": 1}
    tr.update(train)
    return {"data": data, "model": [{"type": "conv1d", "filters": 4, "kernel_size": 3,
                                     "activation": "relu"},
                                    {"type": "conv1d", "filters": 1, "kernel_size": 3}],
            "train": tr}


# ---- datasets: attributes of the wrong shape, forged sizes, symlink loops, a writer ----

def dataset_cases():
    good = j("good.h5")
    regression_file(good)

    def with_attr(name, key, value):
        path = j(name + ".h5")
        regression_file(path)
        with h5py.File(path, "a") as f:
            del f.attrs["task"]
            if key == "n_classes":
                f.attrs["task"] = "classification"
                del f["train/y"]
                f["train/y"] = np.zeros(40, np.int32)
            f.attrs[key] = value
        return path

    vlen = h5py.string_dtype()
    cases = [
        ("task as a 2-element variable-length string array",
         with_attr("task_vlen", "task", np.array(["regression", "classification"], dtype=vlen)),
         ["task", "not a single string (2 values)"]),
        ("task as a 2-element fixed-length string array",
         with_attr("task_fixed", "task", np.array([b"regression", b"classification"], dtype="S14")),
         ["task", "not a single string (2 values)"]),
        ("n_classes as an integer array",
         with_attr("ncls_array", "n_classes", np.array([2, 3], np.int64)),
         ["n_classes", "is not a single integer (2 values)"]),
    ]
    forged = j("forged.h5")  # a few KB declaring 10M rows of chunks never written
    with h5py.File(forged, "w") as f:
        f.attrs["task"] = "regression"
        f.create_dataset("train/x", shape=(10_000_000, 100, 1), dtype=np.float32, chunks=(1, 100, 1))
        f.create_dataset("train/y", shape=(10_000_000, 100, 1), dtype=np.float32, chunks=(1, 100, 1))
    check(os.path.getsize(forged) < 20000, f"forged file is {os.path.getsize(forged)} bytes")
    cases.append(("10M declared rows in a small chunked file", forged,
                  ["/train/x", "declares 1000000000 values", "stores only"]))
    deflated = j("deflated.h5")  # compressed: the ratio is bounded too
    with h5py.File(deflated, "w") as f:
        f.attrs["task"] = "regression"
        for k in ("x", "y"):
            d = f.create_dataset("train/" + k, shape=(2_000_000, 100, 1), dtype=np.float32,
                                 chunks=(1000, 100, 1), compression="gzip")
            d[0:1000] = 0
    cases.append(("2M declared rows with one compressed chunk", deflated,
                  ["/train/x", "declares", "compressed"]))
    loop = j("loop.h5")
    os.symlink(loop, loop)
    cases.append(("a symlink loop", loop, ["loop.h5", "Too many levels of symbolic links"]))
    for name, path, must in cases:
        expect_refusal("data info: " + name, ["data", "info", path], [path] + must)
        spec = write_spec("ds_spec.json", small_spec(path))
        expect_refusal("train: " + name, ["train", spec, "--save-weights", j("w.h5")],
                       [spec, path] + must, absent=[j("w.h5")])

    # a dataset another process is writing: the reader refuses instead of reading it
    writer = subprocess.Popen(
        ["/usr/bin/python3", "-c",
         "import h5py, sys\nf = h5py.File(sys.argv[1], 'a')\nprint('open', flush=True)\n"
         "sys.stdin.read()\n", good], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    check(writer.stdout.readline().strip() == "open", "a writer holds the dataset open")
    expect_refusal("data info on a file being written", ["data", "info", good],
                   [good, "open for writing"])
    writer.stdin.close()
    writer.wait(timeout=30)
    code, out, err, _, _ = run(["data", "info", good])
    check(code == 0 and "valid: regression" in out, "the same file reads once the writer closed it")


# ---- checkpoints: tampered attributes and order ----

def checkpoint_cases():
    data = j("ck_data.h5")
    regression_file(data, n=40)
    spec = write_spec("ck_spec.json", small_spec(data, epochs=2))
    ck = j("ck.h5")
    code, _, err, _, _ = run(["train", spec, "--epochs", "1", "--checkpoint", ck, "--quiet"],
                               trains=True)
    check(code == 0 and os.path.exists(ck), f"a 1-epoch checkpoint ({err.strip()[:200]})")

    def perm_set(v):
        return lambda f: f["perm"].__setitem__(0, v)

    def attr_set(k, v):
        return lambda f: f.attrs.__setitem__(k, v)

    def perm_dup(f):
        p = f["perm"][()]
        p[1] = p[0]
        f["perm"][...] = p

    def v_negative(f):
        f["optimizer/v"][0] = -1.0

    def format_array(f):
        f.attrs["format"] = np.array(["attnsweep-checkpoint"] * 2, dtype=h5py.string_dtype())

    cases = [
        ("perm entry out of range", perm_set(1_000_000),
         ["perm[0] = 1000000 is not a training row", "rows 0..39"]),
        ("negative perm entry", perm_set(-3), ["perm[0] = -3 is negative"]),
        ("perm not a permutation", perm_dup, ["appears twice"]),
        ("negative step", attr_set("step", np.int64(-5)), ["'step' = -5"]),
        ("epoch 2^40", attr_set("epoch", np.int64(2 ** 40)), ["'epoch' = 1099511627776"]),
        ("negative epoch", attr_set("epoch", np.int64(-1)), ["'epoch' = -1"]),
        ("negative second moment", v_negative, ["optimizer/v[0]"]),
        ("format as a string array", format_array, ["format", "not a single string"]),
    ]
    for name, tamper, must in cases:
        bad = j("ck_bad.h5")
        with open(ck, "rb") as f_in, open(bad, "wb") as f_out:
            f_out.write(f_in.read())
        with h5py.File(bad, "a") as f:
            tamper(f)
        before = hashlib.sha256(open(bad, "rb").read()).hexdigest()
        expect_refusal("checkpoint: " + name,
                       ["train", spec, "--checkpoint", bad, "--history", j("h.h5"),
                        "--save-weights", j("w.h5")], [bad] + must,
                       absent=[j("h.h5"), j("w.h5")])
        after = hashlib.sha256(open(bad, "rb").read()).hexdigest()
        check(before == after, f"checkpoint: {name}: the checkpoint is left as it was")


# ---- specs and models: overflows and memory before allocation ----

def model_cases():
    t256 = j("t256.h5")
    regression_file(t256, n=40, t=256)
    toy = j("toy.h5")
    code, _, _, _, _ = run(["data", "toy", "--samples", "200", "--test-samples", "0", "-o", toy])
    check(code == 0, "toy data")

    def spec_with(name, model, data=toy, **train):
        s = small_spec(data, **train)
        if model is not None:
            s["model"] = model
        return write_spec(name, s)

    flat_dense = [{"type": "flatten"}, {"type": "dense", "units": 1 << 24}]
    dense_flat = [{"type": "dense", "units": 1 << 24}, {"type": "flatten"}]
    huge_wrong = [{"type": "conv1d", "filters": 1 << 16, "kernel_size": 1}]
    # the case: dense after flatten, 6400 x 300000 weights (7.7 GB, 31 GB with
    # gradients and Adam's moments), an output that does not match the targets
    huge_dense = [{"type": "conv1d", "filters": 64, "kernel_size": 1}, {"type": "flatten"},
                  {"type": "dense", "units": 300000}]
    lim = dict(ENV, ATTNSWEEP_MEMORY_LIMIT="64M")
    wide = [{"type": "conv1d", "filters": 4096, "kernel_size": 1},
            {"type": "conv1d", "filters": 1, "kernel_size": 1}]
    cases = [
        ("dense 2^24 units after flatten on T = 256", spec_with("s1.json", flat_dense, t256),
         ["model[1] (dense)", "exceed"], ENV),
        ("flatten after dense 2^24 units on T = 256", spec_with("s2.json", dense_flat, t256),
         ["model[0] (dense)", "exceed"], ENV),
        ("an invalid 1.6 GB model: its output is checked first", spec_with("s3.json", huge_wrong),
         ["model[0] (conv1d)", "outputs (batch, 100, 65536)"], ENV),
        ("an invalid 31 GB model (dense after flatten): its output is checked first",
         spec_with("s3b.json", huge_dense), ["model[2] (dense)", "outputs (batch, 1, 300000)"], ENV),
        ("a model beyond the memory budget", spec_with("s4.json", wide, batch_size=64),
         ["needs", "MiB, 64.0 MiB available"], lim),
        ("validation_split 0.999", spec_with("s5.json", None, validation_split=0.999),
         ["train.validation_split"], ENV),
    ]
    for name, spec, must, env in cases:
        expect_refusal("train: " + name, ["train", spec, "--save-weights", j("w.h5")],
                       [spec] + must, env=env, absent=[j("w.h5")])
    s = small_spec(toy)
    s["model"][0]["filters"] = "FILTERS"
    path = j("s6.json")
    with open(path, "w") as f:
        f.write(json.dumps(s).replace('"FILTERS"', "1e400"))
    err = expect_refusal("train: filters 1e400", ["train", path], [path, "model[0].filters"])
    check("null" not in err and "beyond the double range" in err, "filters 1e400: says why")
    with open(j("s7.json"), "wb") as f:
        f.write(json.dumps(small_spec(toy)).encode() + b"\0{\"junk\": 1}")
    expect_refusal("train: a NUL byte in the spec file", ["train", j("s7.json")],
                   [j("s7.json") + ":1", "NUL byte"])
    expect_refusal("train: /dev/zero as the spec", ["train", "/dev/zero"], ["/dev/zero", "NUL"])

    expect_refusal("data toy: 10^8 samples (75 GiB)",
                   ["data", "toy", "--samples", "100000000", "-o", j("big_toy.h5")],
                   ["--samples", "needs 74.5 GiB, 8.0 GiB available"],
                   env=dict(ENV, ATTNSWEEP_MEMORY_LIMIT="8G"), absent=[j("big_toy.h5")])
    # batch_size 100000 on 200 rows: buffers for the rows that exist, and it trains
    spec = spec_with("s8.json", None, batch_size=100000)
    code, out, err, secs, rss = run(["train", spec, "--quiet"], trains=True)
    check(code == 0 and rss < 512 * 1024,
          f"batch_size 100000 on 200 rows trains in {rss // 1024} MiB (exit {code}) {err[:200]}")


# ---- UCR text ----

def ucr_cases():
    def text(name, data):
        path = j(name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    out = j("ucr.h5")
    cases = [
        ("a NUL byte inside a line", text("nul.tsv", b"1\t0.5\t0.25\n2\t0.5\0\t9\n"),
         [":2:", "NUL byte"]),
        ("a hexadecimal label", text("hex.tsv", b"1\t0.5\t0.25\n0x2\t0.5\t0.5\n"),
         [":2:", "field 1", "'0x2' is hexadecimal"]),
        ("a hexadecimal value", text("hexv.tsv", b"1\t0.5\t0x1p3\n2\t0.5\t0.5\n"),
         [":1:", "field 3", "hexadecimal"]),
        ("/dev/zero", "/dev/zero", [":1:", "NUL byte"]),
    ]
    for name, path, must in cases:
        expect_refusal("data ucr: " + name, ["data", "ucr", "--train", path, "-o", out],
                       [path] + must, absent=[out])
    # CR-only line ends (old Mac files) are read as lines
    rows = [[1, 0.5, 0.25, -1.0], [2, 1.5, 2.0, 3.0], [1, 0.0, 0.0, 1e-3]]
    cr = text("cr.csv", "\r".join(",".join(str(v) for v in r) for r in rows).encode() + b"\r")
    code, _, err, _, _ = run(["data", "ucr", "--train", cr, "-o", out])
    ok = code == 0
    if ok:
        with h5py.File(out, "r") as f:
            ok = np.allclose(f["train/x"][:, :, 0], np.array(rows)[:, 1:]) and \
                list(f["train/y"][()]) == [0, 1, 0]
    check(ok, f"data ucr: CR-only line ends read as 3 rows ({err.strip()[:200]})")


def many_labels_cases():
    """16,370 and 70,000 distinct labels: class_labels is larger than an HDF5 object
    header message (64 KiB) and goes to dense attribute storage. It reads back equal to
    numpy's sorted distinct labels (h5py, as the report reads it), `data info` reads it,
    and a classifier trains on the 16,370 classes."""
    rng = np.random.default_rng(3)
    files = {}
    for n in (16370, 70000):
        labels = rng.permutation(np.arange(n) * 7 - 3 * n)  # distinct, negative and positive
        x = rng.standard_normal((n, 4))
        src, out = j(f"labels{n}.tsv"), j(f"labels{n}.h5")
        with open(src, "w") as f:
            f.writelines(f"{lab}\t" + "\t".join(f"{v:.6g}" for v in row) + "\n"
                         for lab, row in zip(labels, x))
        code, _, err, secs, rss = run(["data", "ucr", "--train", src, "-o", out])
        check(code == 0 and secs < MAX_SECONDS and rss < MAX_RSS_KB,
              f"data ucr: {n} distinct labels: exit {code} in {secs:.2f} s, {rss // 1024} MiB "
              f"{err.strip()[-200:]}")
        if code:
            continue
        with h5py.File(out, "r") as f:
            cl, y = f.attrs["class_labels"], f["train/y"][()]
            k = int(f.attrs["n_classes"])
        check(k == n and np.array_equal(cl, np.unique(labels)) and np.array_equal(cl[y], labels),
              f"data ucr: {n} labels: class_labels read back equal (h5py), y maps through it")
        code, info, err, _, _ = run(["data", "info", out])
        check(code == 0 and f"class_labels = ({n} values)" in info and
              f"{n} training series, length 4, 1 channel(s), {n} classes" in info,
              f"data info: {n} labels: exit {code} {(info + err).strip()[-200:]}")
        files[n] = out
    if 16370 not in files:
        return
    spec = write_spec("labels.json", {
        "data": files[16370],
        "model": [{"type": "conv1d", "filters": 2, "kernel_size": 3, "activation": "relu"},
                  {"type": "global_average_pooling1d"}, {"type": "dense", "units": "n_classes"}],
        "train": {"epochs": 1, "batch_size": 256, "seed": 1}})
    hist = j("labels_history.h5")
    code, _, err, secs, _ = run(["train", spec, "--history", hist], trains=True)
    ok = code == 0 and os.path.exists(hist)
    if ok:
        with h5py.File(hist, "r") as f:
            ok = bool(np.isfinite(f["loss"][()]).all())
    check(ok, f"train: 16,370 classes, one epoch: exit {code} in {secs:.2f} s "
          f"{err.strip()[-200:]}")


# ---- sweep files: grid checks in linear time, limits ----

def grid_cases():
    toy = j("toy.h5")

    def sweep(name, grid, filters="$a0", **extra):
        s = small_spec(toy)
        s["model"][0]["filters"] = filters
        s["grid"] = grid
        s.update(extra)
        return write_spec(name, s)

    # 5,000 axes chained through placeholders, in reverse file order
    n = 5000
    chain = {f"a{i}": [f"$a{i + 1}"] if i < n - 1 else [4] for i in reversed(range(n))}
    path = sweep("chain.json", chain)
    check(os.path.getsize(path) < 1 << 20, f"chain sweep is {os.path.getsize(path)} bytes")
    code, out, err, secs, rss = run(["sweep", "--dry-run", path])
    check(code == 0 and out.startswith("1 variant x 1 repeat") and secs < MAX_SECONDS,
          f"sweep --dry-run: a 5,000-axis chain in reverse order: exit {code} in {secs:.2f} s "
          f"{err.strip()[:200]}")
    many = {f"a{i}": [0] for i in range(60000)}
    path = sweep("many.json", many)
    check(os.path.getsize(path) < 1 << 20, f"60,000-axis sweep is {os.path.getsize(path)} bytes")
    expect_refusal("sweep: 60,000 axes", ["sweep", "--dry-run", path],
                   [path, "grid: 60000 axes, more than the 10000"])
    deep = 4
    for _ in range(100):
        deep = [deep]
    expect_refusal("sweep: a value nested 100 deep",
                   ["sweep", "--dry-run", sweep("deep.json", {"a0": [4], "b": [deep]},
                                                train={"epochs": "$b"})],
                   ["deep.json", "grid.b", "nested deeper than 64"])
    expect_refusal("sweep: randint beyond its range",
                   ["sweep", "--dry-run", sweep("randint.json", {"a0": {"randint": [1, 1e18]}},
                                                search={"type": "random", "samples": 2})],
                   ["randint.json", "grid.a0.randint: a and b must be integers of at most 1e15 in "
                    "magnitude, got [1, 1e+18]"])
    expect_refusal("sweep: a placeholder cycle",
                   ["sweep", "--dry-run", sweep("cycle.json", {"a0": ["$b"], "b": ["$a0"]})],
                   ["cycle.json", "placeholder cycle $a0 -> $b -> $a0"])
    expect_refusal("sweep: an axis no placeholder uses",
                   ["sweep", "--dry-run", sweep("unused.json", {"a0": [4], "z": [1]})],
                   ["unused.json", "grid.z: axis not used"])
    path = j("dupinc.json")
    s = small_spec(toy)
    s["model"][0]["filters"] = "$a0"
    s["grid"] = {"a0": [4, 8]}
    s["include"] = "INCLUDE"
    with open(path, "w") as f:
        f.write(json.dumps(s).replace('"INCLUDE"', '[{"a0": 4, "a0": 16}]'))
    expect_refusal("sweep: a duplicate key inside an include entry", ["sweep", "--dry-run", path],
                   [path, "include[0].a0: key given twice"])
    # --dry-run on a sweep with the invalid 31 GB variant: planned, not built
    s = small_spec(toy)
    s["model"] = [{"type": "conv1d", "filters": 64, "kernel_size": 1}, {"type": "flatten"},
                  {"type": "dense", "units": "$a0"}]
    s["grid"] = {"a0": [100, 300000]}
    path = write_spec("huge_dry.json", s)
    code, out, err, secs, rss = run(["sweep", "--dry-run", path])
    check(code == 0 and "fails: variant 1 (a0=300000)" in out and
          "outputs (batch, 1, 300000)" in out and rss < 256 * 1024,
          f"sweep --dry-run: an invalid 31 GB variant is reported, not built ({rss // 1024} MiB)"
          f" {(out + err).strip()[-200:]}")
    # --dry-run prints each variant's memory from the plan, allocating nothing
    path = sweep("mem.json", {"a0": [4, 1 << 17]})
    code, out, err, secs, rss = run(["sweep", "--dry-run", path])
    lines = [ln for ln in out.splitlines() if "a0=" in ln]
    check(code == 0 and len(lines) == 2 and lines[0].endswith("bytes") and
          lines[1].endswith("GiB") and rss < 256 * 1024,
          f"sweep --dry-run: memory per variant without allocating it ({rss // 1024} MiB): {lines}")


def main():
    dataset_cases()
    checkpoint_cases()
    model_cases()
    ucr_cases()
    many_labels_cases()
    grid_cases()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
