#!/usr/bin/python3
"""Writes a synthetic sweep results file following the README's "Sweep results" layout.

Used to test scripts/report.py without running a sweep. Two variants of the task:

  regression      the notebook's toy seq2seq task (T=100, C=1): a 5-layer conv stack whose
                  3rd layer is conv1d or self_attention (heads 1/2, key_dim 16/32), filters
                  32/64; repeats 2.
  classification  a Trace-like task (T=96, K=4): conv1d or residual_conv1d blocks, filters
                  16/32, plus one conv + self_attention + dense variant; repeats 2.

Each file holds one diverged variant (non-finite loss) and one failed variant (no
datasets at all, only its attributes), like a real sweep. Values are random but shaped
like the real thing (curves decrease, attention rows sum to 1, softmax rows sum to 1).

  make_fake_results.py --task regression -o RESULTS.h5 [--data-out DATA.h5] [--seed S]
                       [--layer-objects] [--repeats N] [--old-summary] [--shuffle-rows]
                       [--unfinished N]

--data-out also writes a dataset file in the README's dataset layout, whose first test
series are the ones the results' pred_inputs/attention refer to. --layer-objects writes
grid values that are layer objects as whole JSON objects in `params` (instead of the
layer type name), the other form the report must understand.
"""
import argparse
import hashlib
import json
import sys

import os

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_toy  # noqa: E402  (the notebook's gen_data)

STR = h5py.string_dtype(encoding="utf-8")
SUMMARY_DTYPE = np.dtype([
    ("id", "<i4"), ("repeat", "<i4"), ("name", "S128"), ("status", "S16"),
    ("n_params", "<i8"), ("epochs_run", "<i4"), ("best_epoch", "<i4"),
    ("best_val_loss", "<f8"), ("final_val_loss", "<f8"), ("best_val_accuracy", "<f8"),
    ("train_seconds", "<f8"), ("rank", "<i4")])


# ---- datasets -------------------------------------------------------------------------

def gen_toy(seed, n):
    """The notebook's toy data (tests/ref/numpy_toy.py), as float32."""
    np.random.seed(seed)
    x, y = numpy_toy.gen_data(n)
    return x.astype(np.float32), y.astype(np.float32)


def gen_trace_like(rng, n, k=4, sz=96):
    """K classes of step/bump shapes at class-dependent positions."""
    y = rng.integers(0, k, size=n).astype(np.int32)
    t = np.arange(sz)
    x = np.empty((n, sz, 1), dtype=np.float32)
    for i, c in enumerate(y):
        centre = sz * (c + 1) / (k + 1) + rng.normal(0, 2)
        s = np.tanh((t - centre) / 3.) if c % 2 == 0 else np.exp(-((t - centre) / 6.) ** 2)
        x[i, :, 0] = s + rng.normal(0, .1, sz)
    return x, y


# ---- variants -------------------------------------------------------------------------

def conv(filters, act="relu"):
    return {"type": "conv1d", "filters": filters, "kernel_size": 5, "activation": act,
            "padding": "same"}


def attention(heads, key_dim, out):
    return {"type": "self_attention", "num_heads": heads, "key_dim": key_dim,
            "output_dim": out}


def regression_grid():
    """(params, model) for each variant, in expansion order."""
    out = []
    for f in (32, 64):
        out.append(({"block": "conv1d", "filters": f},
                    [conv(f), conv(f), conv(f), conv(f), conv(1, "linear")]))
        for h in (1, 2):
            for kd in (16, 32):
                out.append(({"block": "self_attention", "heads": h, "key_dim": kd,
                             "filters": f},
                            [conv(f), conv(f), attention(h, kd, f), conv(f), conv(1, "linear")]))
    return out


def classification_grid(k):
    out = []
    for f in (16, 32):
        for block in ("conv1d", "residual_conv1d"):
            layer = dict(conv(f), type=block)
            if block == "residual_conv1d":
                layer.pop("padding")
            out.append(({"block": block, "filters": f},
                        [conv(f), layer, dict(layer), {"type": "global_avg_pool1d"},
                         {"type": "dense", "units": k, "activation": "linear"}]))
    out.append(({"block": "self_attention", "heads": 2, "filters": 16},
                [conv(16), attention(2, 16, 16), {"type": "global_avg_pool1d"},
                 {"type": "dense", "units": k, "activation": "linear"}]))
    return out


def param_count(model, c_in):
    n, c = 0, c_in
    for L in model:
        if L["type"] in ("conv1d", "residual_conv1d"):
            f = L["filters"]
            n += L["kernel_size"] * c * f + f
            c = f
        elif L["type"] == "self_attention":
            h, d, o = L["num_heads"], L["key_dim"], L["output_dim"]
            n += 3 * (c * h * d + h * d) + h * d * o + o
            c = o
        elif L["type"] == "dense":
            n += c * L["units"] + L["units"]
            c = L["units"]
    return n


def name_of(params):
    return ",".join("%s=%s" % (k, v if not isinstance(v, dict) else v["type"])
                    for k, v in params.items())


def softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def fake_curves(rng, epochs, quality, classification):
    e = np.arange(1, epochs + 1)
    loss = quality + 2.0 * np.exp(-e / 3.) + rng.normal(0, .02, epochs) ** 2
    val = quality * 1.1 + 2.0 * np.exp(-e / 3.5) + np.abs(rng.normal(0, .05, epochs))
    acc = None
    if classification:
        acc = np.clip(1. - val / (val.max() * 1.1) + rng.normal(0, .01, epochs), 0., 1.)
    return loss, val, acc


def fake_attention(rng, x, heads):
    """[n, heads, T, T] probabilities peaked on the input's large values."""
    n, T, _ = x.shape
    out = np.empty((n, heads, T, T), dtype=np.float32)
    for i in range(n):
        salience = np.abs(x[i, :, 0]) / (np.abs(x[i, :, 0]).max() + 1e-6)
        for h in range(heads):
            logits = rng.normal(0, .3, (T, T)) + (3. + h) * salience[None, :]
            out[i, h] = softmax(logits, axis=-1)
    return out


# ---- writer ---------------------------------------------------------------------------

def write(args):
    rng = np.random.default_rng(args.seed)
    classification = args.task == "classification"
    k = 4
    if classification:
        xtr, ytr = gen_trace_like(rng, 120, k)
        xte, yte = gen_trace_like(rng, 20, k)
        grid = classification_grid(k)
    else:
        xtr, ytr = gen_toy(args.seed, 60)
        xte, yte = gen_toy(args.seed + 1, 10)
        grid = regression_grid()
    repeats, epochs, n_att, m_pred = args.repeats, 12, 3, 4
    # one diverged and one failed variant, leaving a finished one in every family
    diverged_id, failed_id = (2, 3) if classification else (1, len(grid) - 2)

    if args.data_out:
        with h5py.File(args.data_out, "w") as d:
            d["train/x"], d["train/y"] = xtr, ytr
            d["test/x"], d["test/y"] = xte, yte
            d.attrs["task"] = args.task
            if classification:
                d.attrs["n_classes"] = np.int32(k)
                d.attrs["class_labels"] = np.arange(1, k + 1, dtype=np.int32)  # as data ucr

    sweep = {"data": "data.h5", "model": "(see each variant)", "grid": {"...": []},
             "repeats": repeats}
    sweep_text = json.dumps(sweep, indent=1)
    rows = []
    with h5py.File(args.output, "w") as f:
        f.attrs["format_version"] = np.int32(1)
        f.attrs["attnsweep_version"] = "0.0.0-fake"
        f.attrs["sweep_text"] = sweep_text
        f.attrs["sweep_sha256"] = hashlib.sha256(sweep_text.encode()).hexdigest()
        f.attrs["data_path"] = args.data_out or "data.h5"
        # the data file's SHA-256 when it is written here, as attnsweep records it
        f.attrs["data_sha256"] = (hashlib.sha256(open(args.data_out, "rb").read()).hexdigest()
                                  if args.data_out else "0" * 64)
        f.attrs["ranks"] = np.int32(2)
        f.attrs["ranks_per_variant"] = np.int32(1)
        f.attrs["runs_planned"] = np.int32(len(grid) * repeats + args.unfinished)
        f.attrs["start_time"] = "2026-01-01T00:00:00Z"
        f.attrs["end_time"] = "" if args.unfinished else "2026-01-01T00:10:00Z"
        f.attrs["wall_seconds"] = 600.0
        f.attrs["task"] = args.task
        if classification:
            f.attrs["n_classes"] = np.int32(k)
        for vid, (params, model) in enumerate(grid):
            plain_conv = not any(L["type"] in ("self_attention", "residual_conv1d")
                                 for L in model)
            family_bonus = .4 if plain_conv else .0
            for r in range(repeats):
                key = "v%04d_r%d" % (vid, r)
                g = f.create_group("variants/" + key)
                ptext = params
                if args.layer_objects:
                    ptext = {a: (next(L for L in model if L["type"] == v) if a == "block" else v)
                             for a, v in params.items()}
                g.attrs["config"] = json.dumps({"data": "data.h5", "model": model,
                                                "train": {"epochs": epochs, "batch_size": 32,
                                                          "validation_split": .2}})
                g.attrs["params"] = json.dumps(ptext)
                g.attrs["name"] = name_of(params)
                g.attrs["seed"] = np.uint64(1000 * vid + r)
                g.attrs["id"] = np.int32(vid)
                g.attrs["repeat"] = np.int32(r)
                npar = param_count(model, xtr.shape[2])
                row = dict(id=vid, repeat=r, name=name_of(params), n_params=npar, rank=(vid + r) % 2)
                if vid == failed_id:
                    g.attrs["status"], g.attrs["error"] = "failed", \
                        "grid variant %d: model[2].key_dim: must be an integer >= 1 (got 0)" % vid
                    rows.append(dict(row, status="failed", epochs_run=0, best_epoch=0,
                                     best_val_loss=np.nan, final_val_loss=np.nan,
                                     best_val_accuracy=np.nan, train_seconds=0.))
                    continue
                quality = .05 + family_bonus + .02 * vid / len(grid) + rng.normal(0, .01)
                loss, val, acc = fake_curves(rng, epochs, quality, classification)
                status, err, run = "ok", "", epochs
                if vid == diverged_id and (r == 1 or not classification):
                    run = 5
                    loss, val = loss[:run].copy(), val[:run].copy()
                    loss[-1], val[-1] = np.inf, np.nan
                    acc = acc[:run] if acc is not None else None
                    status, err = "diverged", "non-finite loss at epoch %d (batch 3)" % run
                g.attrs["status"], g.attrs["error"] = status, err
                g["loss"], g["val_loss"] = loss, val
                if classification:
                    g["val_accuracy"] = acc
                g["epoch_seconds"] = np.full(run, .5 + .1 * vid)
                finite = np.where(np.isfinite(val))[0]
                best = int(finite[np.argmin(val[finite])]) if len(finite) else -1
                rows.append(dict(row, status=status, epochs_run=run, best_epoch=best + 1,
                                 best_val_loss=val[best] if best >= 0 else np.nan,
                                 final_val_loss=val[-1],
                                 best_val_accuracy=(np.nanmax(acc) if classification
                                                    else np.nan),
                                 train_seconds=float(run * (.5 + .1 * vid))))
                if status != "ok":
                    continue
                g.attrs["pred_split"] = "test"
                g["pred_inputs"] = xte[:m_pred]
                g["pred_targets"] = yte[:m_pred]
                if classification:
                    logits = rng.normal(0, 1, (m_pred, k))
                    logits[np.arange(m_pred), yte[:m_pred]] += 3. - quality * 3
                    g["predictions"] = softmax(logits).astype(np.float32)
                else:
                    g["predictions"] = (yte[:m_pred] * (1 - quality)
                                        + rng.normal(0, .3, yte[:m_pred].shape)).astype(np.float32)
                for li, L in enumerate(model):
                    if L["type"] == "self_attention":
                        att = fake_attention(rng, xte[:n_att], L["num_heads"])
                        g["attention/layer_%d" % li] = att
                        g["attention/layer_%d_mean" % li] = att.mean(axis=2)
        dtype = SUMMARY_DTYPE
        if args.old_summary:  # files written before the count was renamed n_params
            dtype = np.dtype([("params" if n == "n_params" else n, t)
                              for n, (t, _) in SUMMARY_DTYPE.fields.items()])
            rows = [{("params" if k == "n_params" else k): v for k, v in row.items()}
                    for row in rows]
        order = rng.permutation(len(rows)) if args.shuffle_rows else range(len(rows))
        rows = [rows[i] for i in order]  # a real sweep writes rows in completion order
        s = np.zeros(len(rows), dtype=dtype)
        for i, row in enumerate(rows):
            for key, v in row.items():
                s[i][key] = v.encode() if isinstance(v, str) else v
        f["summary"] = s


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=("regression", "classification"), default="regression")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--data-out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layer-objects", action="store_true")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--unfinished", type=int, default=0, metavar="N",
                   help="a sweep still running: N planned runs missing, no end time")
    p.add_argument("--old-summary", action="store_true",
                   help="name the parameter count 'params' in /summary (older files)")
    p.add_argument("--shuffle-rows", action="store_true",
                   help="/summary rows in a random order, like a sweep's completion order")
    write(p.parse_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
