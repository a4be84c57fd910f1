#!/usr/bin/python3
"""e2e: `attnsweep train` on the notebook's toy task.

Trains the notebook's conv stack and its attention variant for 3 epochs and checks the
per-epoch lines against the --history file (loss falls), the --save-weights file's
Keras shapes, --init-weights with a mismatched model (exit 2 naming both shapes),
bit-identical reruns with --threads 1 and a --seed that changes the run. Then a table
of bad inputs: each exits 2 with a message naming the file and the key, and writes
neither --history nor --save-weights. A diverging run exits 3 with "diverged".
Skips (exit 77) when /usr/bin/python3 lacks numpy or h5py."""
import copy
import json
import os
import re
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"SKIP: python3 lacks numpy/h5py ({e})")
    sys.exit(77)

BIN = os.environ["ATTNSWEEP_BIN"]
EPOCH_RE = re.compile(r"^epoch\s+(\d+)/(\d+)\s+loss (\S+)\s+val_loss (\S+)\s+(\S+)s\s", re.M)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, temp_path  # noqa: E402
check = Checks()


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300)


def conv(filters, **kw):
    return {"type": "conv1d", "filters": filters, "kernel_size": 5, **kw}


# The notebook's conv stack, and the same with its 3rd layer a self_attention.
CONV_STACK = [conv(64, activation="relu") for _ in range(4)] + [conv(1)]
ATTN_STACK = copy.deepcopy(CONV_STACK)
ATTN_STACK[2] = {"type": "self_attention", "num_heads": 1, "key_dim": 64}


def spec(model, **train):
    t = {"epochs": 3, "batch_size": 32, "validation_split": 0.2, "seed": 0}
    t.update(train)
    return {"data": "toy.h5", "model": copy.deepcopy(model), "train": t}


def write_spec(d, name, obj):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj, indent=1))
    return path


def read_history(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f.keys()}, dict(f.attrs)


def train_ok(d, name, model, *flags, **train):
    """Trains with --history and --save-weights; returns (printed epochs, history, weights)."""
    sp = write_spec(d, name + ".json", spec(model, **train))
    hist, wts = os.path.join(d, name + "_h.h5"), os.path.join(d, name + "_w.h5")
    r = run("train", sp, "--threads", "1", "--history", hist, "--save-weights", wts, *flags)
    check(r.returncode == 0, f"{name}: exit {r.returncode}: {r.stderr}")
    if r.returncode != 0:
        return None, None, None
    lines = [(int(a), int(b), float(c), float(v), float(s)) for a, b, c, v, s in
             EPOCH_RE.findall(r.stdout)]
    h, _ = read_history(hist)
    return lines, h, wts


def check_run(name, lines, h):
    check(len(lines) == 3 and [e[0] for e in lines] == [1, 2, 3] and all(e[1] == 3 for e in lines),
          f"{name}: expected 3 epoch lines, got {lines}")
    for key in ("loss", "val_loss", "epoch_seconds"):
        check(key in h and h[key].shape == (3,), f"{name}: history {key} has not 3 entries")
    if len(lines) != 3 or any(k not in h for k in ("loss", "val_loss", "epoch_seconds")):
        return
    for i, (_, _, loss, val, secs) in enumerate(lines):
        check(abs(loss - h["loss"][i]) <= 1e-5 * abs(loss), f"{name}: loss[{i}] {loss} vs {h['loss'][i]}")
        check(abs(val - h["val_loss"][i]) <= 1e-5 * abs(val), f"{name}: val_loss[{i}] {val}")
        check(abs(secs - h["epoch_seconds"][i]) <= 0.006, f"{name}: seconds[{i}] {secs}")
    check(h["loss"][2] < h["loss"][0] and h["val_loss"][2] < h["val_loss"][0],
          f"{name}: loss did not decrease: {h['loss']} {h['val_loss']}")


def check_weights(name, path, model):
    with h5py.File(path, "r") as f:
        c_in = 1
        for i, layer in enumerate(model):
            g = f.get(f"/weights/layer_{i}")
            check(g is not None, f"{name}: /weights/layer_{i} missing")
            if g is None:
                continue
            t = g.attrs.get("type")
            t = t.decode() if isinstance(t, bytes) else t
            check(t == layer["type"], f"{name}: layer_{i} type {t}")
            if layer["type"] == "conv1d":
                want = {"kernel": (5, c_in, layer["filters"]), "bias": (layer["filters"],)}
                c_in = layer["filters"]
            else:
                H, K = layer["num_heads"], layer["key_dim"]
                want = {"query_kernel": (c_in, H, K), "query_bias": (H, K),
                        "key_kernel": (c_in, H, K), "key_bias": (H, K),
                        "value_kernel": (c_in, H, K), "value_bias": (H, K),
                        "output_kernel": (H, K, c_in), "output_bias": (c_in,)}
            check(sorted(g.keys()) == sorted(want), f"{name}: layer_{i} holds {sorted(g.keys())}")
            for k, shape in want.items():
                if k in g:
                    check(g[k].shape == shape and g[k].dtype == np.float32,
                          f"{name}: layer_{i}/{k} {g[k].shape} {g[k].dtype}, want {shape}")
                    check(bool(np.all(np.isfinite(g[k][()]))), f"{name}: layer_{i}/{k} not finite")


def good_runs(d):
    conv_lines, conv_h, conv_w = train_ok(d, "conv", CONV_STACK)
    if conv_lines is None:
        return
    check_run("conv", conv_lines, conv_h)
    check_weights("conv", conv_w, CONV_STACK)
    attn_lines, attn_h, attn_w = train_ok(d, "attn", ATTN_STACK)
    if attn_lines is not None:
        check_run("attn", attn_lines, attn_h)
        check_weights("attn", attn_w, ATTN_STACK)

    # same spec and seed: bit-identical curves; another seed: different ones
    _, again, _ = train_ok(d, "conv_again", CONV_STACK)
    if again is not None:
        for k in ("loss", "val_loss"):
            check(np.array_equal(again[k], conv_h[k]), f"rerun: {k} {again[k]} vs {conv_h[k]}")
    _, other, _ = train_ok(d, "conv_seed", CONV_STACK, "--seed", "1")
    if other is not None:
        check(not np.array_equal(other["loss"], conv_h["loss"]), "--seed 1 gives the seed-0 curve")

    # --init-weights from the saved file continues from it (first loss below a fresh start)
    lines, _, _ = train_ok(d, "conv_cont", CONV_STACK, "--init-weights", conv_w, "--epochs", "1")
    if lines:
        check(lines[0][2] < conv_lines[0][2], f"--init-weights: loss {lines[0][2]} not below a "
              f"fresh start's {conv_lines[0][2]}")
    # ... and with a model of other shapes it fails naming both
    narrow = copy.deepcopy(CONV_STACK)
    narrow[1]["filters"] = 32
    sp = write_spec(d, "narrow.json", spec(narrow))
    r = run("train", sp, "--init-weights", conv_w)
    check(r.returncode == 2, f"--init-weights mismatch: exit {r.returncode}")
    check("[5, 64, 64]" in r.stderr and "[5, 64, 32]" in r.stderr and "layer_1" in r.stderr,
          f"--init-weights mismatch message: {r.stderr}")


def with_layer(model, i, **kw):
    m = copy.deepcopy(model)
    m[i].update(kw)
    return m


# (name, spec object or raw text or None for a missing file, extra args, substrings that the
# message must hold; "{spec}" stands for the spec file's name)
BAD = [
    ("unknown key", spec(with_layer(CONV_STACK, 0, fliters=3)), [], ["{spec}", "model[0].fliters"]),
    ("wrong type", spec(with_layer(CONV_STACK, 1, filters="64")), [], ["{spec}", "model[1].filters"]),
    ("filters 0", spec(with_layer(CONV_STACK, 0, filters=0)), [], ["{spec}", "model[0].filters"]),
    ("kernel_size 0", spec(with_layer(CONV_STACK, 3, kernel_size=0)), [],
     ["{spec}", "model[3].kernel_size"]),
    ("num_heads 0", spec(with_layer(ATTN_STACK, 2, num_heads=0)), [], ["{spec}", "model[2].num_heads"]),
    ("key_dim 0", spec(with_layer(ATTN_STACK, 2, key_dim=0)), [], ["{spec}", "model[2].key_dim"]),
    ("validation_split 1", spec(CONV_STACK, validation_split=1.0), [],
     ["{spec}", "train.validation_split"]),
    ("validation_split -0.1", spec(CONV_STACK, validation_split=-0.1), [],
     ["{spec}", "train.validation_split"]),
    ("epochs 0", spec(CONV_STACK, epochs=0), [], ["{spec}", "train.epochs"]),
    ("batch_size 0", spec(CONV_STACK, batch_size=0), [], ["{spec}", "train.batch_size"]),
    ("residual channels", spec([conv(64, activation="relu"),
                                {"type": "residual_conv1d", "filters": 32, "kernel_size": 5},
                                conv(1)]), [], ["{spec}", "model[1] (residual_conv1d)"]),
    ("output vs targets", spec(with_layer(CONV_STACK, 4, filters=2)), [],
     ["{spec}", "model[4] (conv1d)"]),
    ("missing data", dict(spec(CONV_STACK), data="nothere.h5"), [], ["{spec}", "data", "nothere.h5"]),
    ("data not HDF5", dict(spec(CONV_STACK), data="plain.h5"), [], ["{spec}", "data", "plain.h5"]),
    ("missing spec", None, [], ["{spec}"]),
    ("invalid JSON", '{"data": "toy.h5",\n "model": [\n  {"type": "conv1d",, }]}', [],
     ["{spec}: line 3, column 22: invalid JSON"]),
    ("nested too deep", '{"data": "toy.h5",\n "model": ' + "[" * 1000 + "]" * 1000 + "}", [],
     ["{spec}: line 2, column 1010: nested deeper than 1000 levels"]),
    ("unknown flag", spec(CONV_STACK), ["--frobnicate"], ["--frobnicate"]),
    ("bad flag value", spec(CONV_STACK), ["--epochs", "abc"], ["--epochs", "abc"]),
    ("bad threads", spec(CONV_STACK), ["--threads", "0"], ["--threads"]),
]


def bad_runs(d):
    with open(os.path.join(d, "plain.h5"), "w") as f:
        f.write("not an HDF5 file\n")
    for i, (name, obj, extra, expect) in enumerate(BAD):
        base = f"bad{i}.json"
        sp = os.path.join(d, base) if obj is None else write_spec(d, base, obj)
        hist, wts = os.path.join(d, f"bad{i}_h.h5"), os.path.join(d, f"bad{i}_w.h5")
        r = run("train", sp, "--history", hist, "--save-weights", wts, *extra)
        check(r.returncode == 2, f"{name}: exit {r.returncode} (want 2): {r.stderr}")
        for s in expect:
            s = s.replace("{spec}", base)
            check(s in r.stderr, f"{name}: message lacks '{s}': {r.stderr.strip()}")
        check(r.stderr.count("\n") <= 3, f"{name}: a short message expected: {r.stderr}")
        check(not os.path.exists(hist) and not os.path.exists(wts), f"{name}: an output was written")
        check(not [f for f in os.listdir(d) if ".tmp" in f], f"{name}: a temporary file was left")


def misc_runs(d):
    r = run("train", "--help")
    check(r.returncode == 0 and "--init-weights" in r.stdout and "--history" in r.stdout,
          f"train --help: exit {r.returncode}")
    sp = write_spec(d, "div.json", spec(CONV_STACK, optimizer={"type": "sgd", "learning_rate": 1e6}))
    hist, wts = os.path.join(d, "div_h.h5"), os.path.join(d, "div_w.h5")
    r = run("train", sp, "--threads", "1", "--history", hist, "--save-weights", wts)
    check(r.returncode == 3, f"diverging run: exit {r.returncode}: {r.stderr}")
    check("diverged" in r.stderr, f"diverging run: message {r.stderr}")
    check(not os.path.exists(wts), "diverging run saved weights")
    if os.path.exists(hist):
        _, attrs = read_history(hist)
        status = attrs.get("status")
        status = status.decode() if isinstance(status, bytes) else status
        check(status == "diverged", f"diverging run: history status {status}")


def main():
    d = temp_path("attnsweep-train-")
    r = run("data", "toy", "--samples", "200", "-o", os.path.join(d, "toy.h5"))
    if r.returncode != 0:
        print("FAIL: data toy:", r.stderr)
        return 1
    good_runs(d)
    bad_runs(d)
    misc_runs(d)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
