#!/usr/bin/env bash
# bench_vs_torch.sh: attnsweep against PyTorch (Debian's python3-torch) side by side, the
# same models, data, batch and epoch protocol (Keras fit: shuffled training rows, Adam
# lr 1e-3, then a forward pass over the validation rows), ONE thread each, in one run with
# the two programs' repeats interleaved (A B A B ...) so both see the same machine load.
#
#   scripts/bench_vs_torch.sh [BIN]        (BIN default build/attnsweep)
#   env: REPEATS (default 3), EPOCHS (default 4), LONG (1: also T = 2000, default 1),
#        LONG_REPEATS (default 1), RT (1: as root, real-time priority for the wall-time
#        runs of the last part, default 1), TORCH (0: only that last part),
#        ATTNSWEEP_UCR_DIR (the real Trace data when present,
#        else a synthetic series set of Trace's shape), OUT (keep the work dir there)
#   needs: /usr/bin/python3 with torch, h5py, numpy (scripts/install-deps.sh python3-torch)
#
# Time is CPU-seconds per epoch, start-up excluded: each program runs the model for 1 and
# for EPOCHS epochs and the difference of the two runs' CPU-seconds (user + system,
# getrusage of the child) is divided by EPOCHS - 1; medians over the repeats. Peak RSS is
# the child's ru_maxrss in the EPOCHS run. ratio = attnsweep / PyTorch (< 1: faster).
# Models (channels-last input, Keras semantics; PyTorch written the natural way:
# nn.Conv1d on (B, C, T) with Keras's asymmetric same padding, nn.Linear q/k/v/out
# projections, matmul + softmax attention):
#   toy conv stack   toy data (T 100, 1000 series): conv1d 64 k5 relu x4, conv1d 1 k5
#   toy attention    the same with the third conv replaced by self_attention 1 x 64
#   Trace classifier conv1d 32 k5, residual_conv1d k5, self_attention 2 heads x 16,
#                    residual_conv1d k5, global_average_pooling1d, dense 4 (Trace, T 275)
#   long T=2000 b32 / b128   toy attention on 160 synthetic series of length 2000
set -euo pipefail
BIN=${1:-build/attnsweep}
PY=/usr/bin/python3
[ -x "$BIN" ] || { echo "bench_vs_torch: no executable at $BIN (build first)" >&2; exit 2; }
"$PY" -c "import torch, h5py, numpy" 2>/dev/null || {
    echo "bench_vs_torch: $PY lacks torch/h5py/numpy (scripts/install-deps.sh python3-torch)" >&2
    exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
if [ -n "${OUT:-}" ]; then WORK=$OUT; mkdir -p "$WORK"; else
    WORK=$(mktemp -d /tmp/attnsweep-vs-torch-XXXXXX); trap 'rm -rf "$WORK"' EXIT; fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

"$BIN" data toy --samples 1000 --test-samples 0 -o "$WORK/toy.h5" >/dev/null
UCR=${ATTNSWEEP_UCR_DIR:-}
TRACE_SRC=synthetic
if [ -n "$UCR" ] && [ -f "$UCR/Trace/Trace_TRAIN.tsv" ] && [ -f "$UCR/Trace/Trace_TEST.tsv" ]; then
    "$BIN" data ucr --train "$UCR/Trace/Trace_TRAIN.tsv" --test "$UCR/Trace/Trace_TEST.tsv" \
        --merge-shuffle -o "$WORK/trace.h5" >/dev/null
    TRACE_SRC="UCR Trace"
fi

cat > "$WORK/torch_fit.py" <<'PYEOF'
"""PyTorch twin of `attnsweep train SPEC --epochs E --threads 1` (see bench_vs_torch.sh)."""
import json, math, os, sys
import h5py, numpy as np, torch, torch.nn as nn, torch.nn.functional as F

torch.set_num_threads(1)
torch.set_num_interop_threads(1)
torch.manual_seed(0)


class Conv(nn.Module):  # (B, C, T) -> (B, F, T), Keras same padding, optional residual
    def __init__(self, c, f, k, act, residual):
        super().__init__()
        self.conv, self.span, self.act, self.res = nn.Conv1d(c, f, k), k - 1, act, residual

    def forward(self, x):
        y = self.conv(F.pad(x, (self.span // 2, self.span - self.span // 2)))
        y = torch.relu(y) if self.act == "relu" else y
        return x + y if self.res else y


class Attention(nn.Module):  # Keras MultiHeadAttention(x, x) on (B, C, T)
    def __init__(self, c, h, dk, dv, o, rate):
        super().__init__()
        self.h, self.dk, self.dv, self.rate = h, dk, dv, rate
        self.q, self.k = nn.Linear(c, h * dk), nn.Linear(c, h * dk)
        self.v, self.o = nn.Linear(c, h * dv), nn.Linear(h * dv, o)

    def forward(self, x):
        x = x.transpose(1, 2)
        B, T, _ = x.shape
        q = self.q(x).view(B, T, self.h, self.dk).transpose(1, 2) * (1.0 / math.sqrt(self.dk))
        k = self.k(x).view(B, T, self.h, self.dk).transpose(1, 2)
        v = self.v(x).view(B, T, self.h, self.dv).transpose(1, 2)
        p = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
        if self.rate > 0:
            p = F.dropout(p, self.rate, self.training)
        ctx = (p @ v).transpose(1, 2).reshape(B, T, self.h * self.dv)
        return self.o(ctx).transpose(1, 2)


class GAP(nn.Module):
    def forward(self, x):
        return x.mean(2)


def build(model, c):
    mods = []
    for L in model:
        t = L["type"]
        if t in ("conv1d", "residual_conv1d"):
            f = L.get("filters", c)
            mods.append(Conv(c, f, L["kernel_size"], L.get("activation", "linear"),
                             t == "residual_conv1d"))
            c = f
        elif t == "self_attention":
            dk = L["key_dim"]
            o = L.get("output_dim", c)
            mods.append(Attention(c, L["num_heads"], dk, L.get("value_dim", dk), o,
                                  L.get("rate", 0.0)))
            c = o
        elif t == "global_average_pooling1d":
            mods.append(GAP())
        elif t == "dense":
            mods.append(nn.Linear(c, L["units"]))
            c = L["units"]
        else:
            raise SystemExit(f"torch_fit: layer type {t} not in the benchmark")
    return nn.Sequential(*mods)


def main():
    spec = json.load(open(sys.argv[1]))
    epochs = int(sys.argv[2])
    tr = spec["train"]
    with h5py.File(os.path.join(os.path.dirname(sys.argv[1]), spec["data"]), "r") as f:
        x = torch.from_numpy(f["/train/x"][()]).float()
        y = torch.from_numpy(f["/train/y"][()])
        cls = f.attrs["task"] in ("classification", b"classification")
    y = y.long() if cls else y.float().transpose(1, 2)
    x = x.transpose(1, 2).contiguous()  # (N, C, T) once, as a PyTorch user would
    n = x.shape[0]
    n_train = int(n * (1 - tr["validation_split"]))
    net = build(spec["model"], x.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    bs = tr["batch_size"]
    lossf = F.cross_entropy if cls else F.mse_loss
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(n_train)
        for s in range(0, n_train, bs):
            idx = perm[s:s + bs]
            opt.zero_grad(set_to_none=True)
            loss = lossf(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            for s in range(n_train, n, bs):
                lossf(net(x[s:min(s + bs, n)]), y[s:min(s + bs, n)])


main()
PYEOF

"$PY" - "$BIN" "$WORK" "${REPEATS:-3}" "${EPOCHS:-4}" "${LONG:-1}" "${LONG_REPEATS:-1}" \
    "$TRACE_SRC" <<'PYEOF'
import json, os, statistics, subprocess, sys
import h5py, numpy as np

BIN, WORK, R, E, LONG, LR, TRACE_SRC = sys.argv[1:8]
R, E, LONG, LR = int(R), int(E), int(LONG), int(LR)
PY = "/usr/bin/python3"


def conv(f, act="relu"):
    return {"type": "conv1d", "filters": f, "kernel_size": 5, "activation": act}


RES = {"type": "residual_conv1d", "kernel_size": 5, "activation": "relu"}
ATT = {"type": "self_attention", "num_heads": 1, "key_dim": 64}
TOY_ATT = [conv(64), conv(64), ATT, conv(64), conv(1, "linear")]
if not os.path.exists(os.path.join(WORK, "trace.h5")):  # Trace's shape, 4 classes
    rng = np.random.default_rng(0)
    yy = rng.integers(0, 4, 200).astype(np.int32)
    s = np.linspace(0, 1, 275)
    xx = np.stack([np.tanh(8 * (s - 0.2 - 0.15 * k)) for k in yy])[:, :, None]
    with h5py.File(os.path.join(WORK, "trace.h5"), "w") as f:
        f["/train/x"] = (xx + 0.1 * rng.standard_normal(xx.shape)).astype(np.float32)
        f["/train/y"] = yy
        f.attrs["task"], f.attrs["n_classes"] = "classification", np.int32(4)
if LONG:
    rng = np.random.default_rng(1)
    t = np.arange(2000, dtype=np.float32)
    xl = np.sin(t[None, :] * rng.uniform(0.005, 0.05, (160, 1))).astype(np.float32)[:, :, None]
    with h5py.File(os.path.join(WORK, "long.h5"), "w") as f:
        f["/train/x"], f["/train/y"] = xl, np.roll(xl, 7, axis=1)
        f.attrs["task"] = "regression"

cases = [("toy conv stack", "toy.h5", [conv(64)] * 4 + [conv(1, "linear")], 32, R, E),
         ("toy attention", "toy.h5", TOY_ATT, 32, R, E),
         ("Trace classifier", "trace.h5",
          [conv(32), RES, {"type": "self_attention", "num_heads": 2, "key_dim": 16}, RES,
           {"type": "global_average_pooling1d"}, {"type": "dense", "units": 4}], 32, R, E)]
if LONG:
    cases += [("long T=2000 b32", "long.h5", TOY_ATT, 32, LR, 2),
              ("long T=2000 b128", "long.h5", TOY_ATT, 128, LR, 2)]


def run(cmd):
    """CPU-seconds and peak RSS (MiB) of one child."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    err = p.stderr.read().decode()
    p.stderr.close()
    if status != 0:
        raise SystemExit(f"bench_vs_torch: {' '.join(cmd)} failed: {err.strip()[-400:]}")
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


print(f"1 thread each; CPU-seconds per epoch (start-up excluded), medians; Trace data: "
      f"{TRACE_SRC}; load average {open('/proc/loadavg').read().split()[0]} on "
      f"{os.cpu_count()} CPUs")
print(f"{'model':18s} {'attnsweep s':>11s} {'PyTorch s':>10s} {'ratio':>6s} "
      f"{'attnsweep MiB':>13s} {'PyTorch MiB':>11s} {'RSS ratio':>9s}")
if os.environ.get("TORCH", "1") == "0":  # only the attnsweep-alone part below
    cases = []
for name, data, model, batch, reps, epochs in cases:
    spec = {"data": data, "model": model,
            "train": {"epochs": epochs, "batch_size": batch, "validation_split": 0.2, "seed": 0}}
    sp = os.path.join(WORK, "spec.json")
    json.dump(spec, open(sp, "w"))
    tools = {"attnsweep": lambda e: [BIN, "train", sp, "--threads", "1", "--quiet", "--epochs",
                                     str(e)],
             "torch": lambda e: [PY, os.path.join(WORK, "torch_fit.py"), sp, str(e)]}
    per, rss = {k: [] for k in tools}, {k: [] for k in tools}
    for r in range(reps):
        order = list(tools) if r % 2 == 0 else list(tools)[::-1]
        for k in order:
            c1, _ = run(tools[k](1))
            cE, m = run(tools[k](epochs))
            per[k].append((cE - c1) / (epochs - 1))
            rss[k].append(m)
    a, t = statistics.median(per["attnsweep"]), statistics.median(per["torch"])
    ma, mt = max(rss["attnsweep"]), max(rss["torch"])
    print(f"{name:18s} {a:11.3f} {t:10.3f} {a / t:6.2f} {ma:13.0f} {mt:11.0f} {ma / mt:9.2f}",
          flush=True)

# ---- attnsweep alone: two threads on one rank, and start-up (wall time). As root the
# runs get real-time priority (chrt -f 50; RT=0 turns it off) so that other processes
# of a shared machine do not take the second core; the kernel keeps 5% for them.
import shutil, time
RT = os.environ.get("RT", "1") != "0" and os.geteuid() == 0 and shutil.which("chrt")
PRE = ["chrt", "-f", "50"] if RT else []


def wall(cmd):
    t0 = time.perf_counter()
    subprocess.run(PRE + cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


TRACE = [conv(32), RES, {"type": "self_attention", "num_heads": 2, "key_dim": 16}, RES,
         {"type": "global_average_pooling1d"}, {"type": "dense", "units": 4}]
TE = max(E, 6)
print(f"\nattnsweep, Trace classifier, wall seconds per epoch ({TE} minus 1 epoch, /{TE - 1}), "
      f"medians of {max(R, 5)} interleaved repeats{', real-time priority' if RT else ''}")
runs = {}
for split in (1, 2):
    spec = {"data": "trace.h5", "model": TRACE,
            "train": {"epochs": TE, "batch_size": 32, "validation_split": 0.2, "seed": 0,
                      "batch_split": split}}
    sp = os.path.join(WORK, f"trace_split{split}.json")
    json.dump(spec, open(sp, "w"))
    for th in (1, 2):
        runs[(split, th)] = sp
per = {k: [] for k in runs}
for r in range(max(R, 5)):
    for k in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
        sp, th = runs[k], str(k[1])
        w1 = wall([BIN, "train", sp, "--threads", th, "--quiet", "--epochs", "1"])
        wE = wall([BIN, "train", sp, "--threads", th, "--quiet"])
        per[k].append((wE - w1) / (TE - 1))
med = {k: statistics.median(v) for k, v in per.items()}
for (split, th), v in med.items():
    print(f"  batch_split {split}, --threads {th}: {v:.3f} s/epoch; speed-up over 1 thread "
          f"(batch_split 1): {med[(1, 1)] / v:.2f}x", flush=True)
toy20 = os.path.join(WORK, "toy20.h5")
subprocess.run([BIN, "data", "toy", "--samples", "20", "--test-samples", "0", "-o", toy20],
               check=True, stdout=subprocess.DEVNULL)
sp = os.path.join(WORK, "start.json")
json.dump({"data": "toy20.h5", "model": [conv(8), conv(1, "linear")],
           "train": {"epochs": 1, "batch_size": 32, "validation_split": 0.2}}, open(sp, "w"))
st = sorted(wall([BIN, "train", sp, "--quiet"]) for _ in range(9))
print(f"start-up: 1-epoch train on 20 series, wall, 9 runs: median {st[4]:.3f} s "
      f"(best {st[0]:.3f}, worst {st[-1]:.3f})", flush=True)
PYEOF
