#!/usr/bin/env bash
# bench_engine.sh: single-thread training speed of the notebook's three models against
# the machine's single-core sgemm rate. Builds nothing but a tiny sgemm probe.
#
#   scripts/bench_engine.sh [BIN]          (BIN default build/attnsweep)
#   env: EPOCHS (default 5), SAMPLES (toy training series, default 1000),
#        ATTNSWEEP_UCR_DIR (uses the real Trace data when $ATTNSWEEP_UCR_DIR/Trace exists)
#
# Per model it prints the median seconds per epoch (from --history epoch_seconds), the
# training samples/s and the achieved GFLOP/s = 2 * MACs/sample * (3 n_train + n_val) /
# seconds: every multiply-add the epoch performs -- forward + backward (~3x the forward
# multiply-adds) on the training rows and the forward pass on the validation rows, which
# the epoch's seconds include. MACs per
# sample are counted by hand from the architecture (see macs() below):
#   conv1d / residual_conv1d (same padding): T * k * C_in * filters
#   self_attention (H heads, key_dim Dk, value_dim Dv, out O): T*C*H*(2 Dk + Dv) for the
#     q, k, v projections + H*T*T*(Dk + Dv) for QK^T and PV + T*H*Dv*O output projection
#   dense: C_in * units (per time step); pooling and activations are not counted.
# The sgemm rate: a C probe against -lopenblas with openblas_set_num_threads(1), 1024^3
# sgemm, best of 5, with the same OpenBLAS kernel attnsweep reports.
set -euo pipefail
BIN=${1:-build/attnsweep}
EPOCHS=${EPOCHS:-5}
SAMPLES=${SAMPLES:-1000}
PY=/usr/bin/python3
[ -x "$BIN" ] || { echo "bench_engine: no executable at $BIN (build first)" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
WORK=$(mktemp -d /tmp/attnsweep-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# --- single-core sgemm probe ---
cat > "$WORK/sgemm.c" <<'EOF'
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
char *openblas_get_corename(void);
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
int main(void) {
    const int n = 1024;
    openblas_set_num_threads(1);
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
          *c = malloc(sizeof(float) * n * n);
    for (int i = 0; i < n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.2f;
    }
    double best = 1e30;
    for (int r = 0; r < 6; r++) { /* the first is a warm-up */
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = now() - t0;
        if (r > 0 && t < best) best = t;
    }
    printf("%s %.3f\n", openblas_get_corename(), 2.0 * n * n * (double)n / best * 1e-9);
    free(a); free(b); free(c);
    return 0;
}
EOF
cc -O2 -o "$WORK/sgemm" "$WORK/sgemm.c" $(pkg-config --cflags --libs openblas)
# The machine may be shared: probe before and after the runs and keep the better rate.
read -r SGEMM_CORE SGEMM_GFLOPS < <("$WORK/sgemm")

# --- data ---
"$BIN" data toy --samples "$SAMPLES" -o "$WORK/toy.h5" >/dev/null
TRACE_SRC="synthetic (N=200, T=275, 4 classes)"
UCR=${ATTNSWEEP_UCR_DIR:-}
if [ -n "$UCR" ] && [ -f "$UCR/Trace/Trace_TRAIN.tsv" ] && [ -f "$UCR/Trace/Trace_TEST.tsv" ]; then
    "$BIN" data ucr --train "$UCR/Trace/Trace_TRAIN.tsv" --test "$UCR/Trace/Trace_TEST.tsv" \
        --merge-shuffle -o "$WORK/trace.h5" >/dev/null
    TRACE_SRC="UCR Trace ($UCR/Trace, merged and shuffled)"
else
    "$PY" - "$WORK/trace.h5" <<'EOF'
import sys, h5py, numpy as np
rng = np.random.default_rng(0)
n, t = 200, 275
y = rng.integers(0, 4, n).astype(np.int32)
s = np.linspace(0, 1, t)
x = np.stack([np.tanh(8 * (s - 0.2 - 0.15 * k)) for k in y])[:, :, None]
x = (x + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)
with h5py.File(sys.argv[1], "w") as f:
    f["/train/x"], f["/train/y"] = x, y
    f.attrs["task"], f.attrs["n_classes"] = "classification", np.int32(4)
EOF
fi

# --- the models, their MACs, the runs ---
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
"$PY" - "$BIN" "$WORK" "$EPOCHS" "$TRACE_SRC" > "$WORK/runs.txt" <<'EOF'
import json, os, statistics, subprocess, sys
import h5py

BIN, WORK, EPOCHS, TRACE_SRC = sys.argv[1:5]
EPOCHS = int(EPOCHS)

def conv(f, act="relu"):
    return {"type": "conv1d", "filters": f, "kernel_size": 5, "activation": act}
ATTN = {"type": "self_attention", "num_heads": 1, "key_dim": 64}
RES = {"type": "residual_conv1d", "kernel_size": 5, "activation": "relu"}
MODELS = [
    ("toy conv stack", "toy.h5", [conv(64), conv(64), conv(64), conv(64), conv(1, "linear")]),
    ("toy attention", "toy.h5", [conv(64), conv(64), ATTN, conv(64), conv(1, "linear")]),
    ("Trace classifier", "trace.h5", [conv(64), RES, ATTN, RES,
                                      {"type": "global_average_pooling1d"},
                                      {"type": "dense", "units": 4}]),
]

def macs(model, t, c):
    """Forward multiply-adds per sample, by hand (same padding keeps t)."""
    total, rank = 0, 3
    for L in model:
        ty = L["type"]
        if ty in ("conv1d", "residual_conv1d"):
            f = L.get("filters", c)
            total += t * L["kernel_size"] * c * f
            c = f
        elif ty == "self_attention":
            h, dk = L["num_heads"], L["key_dim"]
            dv, o = L.get("value_dim", dk), L.get("output_dim", c)
            total += t * c * h * (2 * dk + dv) + h * t * t * (dk + dv) + t * h * dv * o
            c = o
        elif ty == "global_average_pooling1d":
            t, rank = 1, 2
        elif ty == "dense":
            total += t * c * L["units"]
            c = L["units"]
    return total

print(f"Trace data: {TRACE_SRC}; {EPOCHS} epochs each, batch 32, validation_split 0.2, --threads 1")
print(f"{'model':18s} {'T':>4s} {'n_train':>7s} {'MACs/sample':>12s} {'s/epoch':>8s} "
      f"{'samples/s':>9s} {'GFLOP/s':>8s}")
for name, data, model in MODELS:
    with h5py.File(os.path.join(WORK, data), "r") as f:
        n, t, c = f["/train/x"].shape
    spec = {"data": data, "model": model,
            "train": {"epochs": EPOCHS, "batch_size": 32, "validation_split": 0.2, "seed": 0}}
    sp, hist = os.path.join(WORK, "spec.json"), os.path.join(WORK, "hist.h5")
    with open(sp, "w") as f:
        json.dump(spec, f)
    r = subprocess.run([BIN, "train", sp, "--threads", "1", "--quiet", "--history", hist],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"{name}: attnsweep train failed ({r.returncode}): {r.stderr.strip()}")
        continue
    with h5py.File(hist, "r") as f:
        secs = statistics.median(f["epoch_seconds"][()])
    n_train = int(n * (1 - 0.2))  # keras: floor(n * (1 - validation_split))
    n_val = n - n_train
    m = macs(model, t, c)
    gflops = 2 * m * (3 * n_train + n_val) / secs * 1e-9
    print(f"{name:18s} {t:4d} {n_train:7d} {m:12,d} {secs:8.3f} {n_train / secs:9.0f} "
          f"{gflops:8.1f}")
EOF
read -r _ SGEMM_AFTER < <("$WORK/sgemm")
SGEMM_GFLOPS=$(awk -v a="$SGEMM_GFLOPS" -v b="$SGEMM_AFTER" 'BEGIN { print (a > b ? a : b) }')
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "single-core sgemm (OpenBLAS $SGEMM_CORE, 1024^3, best of 5, before/after the runs):" \
     "$SGEMM_GFLOPS GFLOP/s"
# append each model's share of the sgemm rate
awk -v s="$SGEMM_GFLOPS" 'NR == 2 { print $0 "  % sgemm"; next }
     NR > 2 && $NF ~ /^[0-9.]+$/ { printf "%s  %6.0f%%\n", $0, 100 * $NF / s; next } { print }' \
    "$WORK/runs.txt"
