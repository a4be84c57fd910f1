#!/usr/bin/env bash
# bench_dp.sh: data-parallel speed-up of `attnsweep train` from 1 to 2 ranks (issue 5).
#
# Trains one model (conv1d 32 k5 relu -> conv1d 256 k5 relu -> conv1d 32 k5 relu ->
# conv1d 1 k3, ~82k parameters, ~0.25 GMAC per sample and step) on synthetic
# length-1000 regression data, 1 BLAS thread per rank, buckets of BUCKET_KB (3 buckets:
# the last two layers' gradients are reduced while backward runs through the
# 256-filter layer), and
# reports the median epoch seconds (epoch 1 dropped as warm-up), the speed-up over one
# rank, overlapped against blocking (--no-overlap) allreduce, --bind-to none against
# --bind-to core, and the time rank 0 waited on the gradient allreduce per step.
#
# usage: scripts/bench_dp.sh [BIN]     (BIN default: build/attnsweep or $ATTNSWEEP_BIN)
# env:   N (samples, default 320), T (length, 1000), EPOCHS (4), BATCH (32),
#        FILTERS (256), BUCKET_KB (64), RANKS (2), OUT (work dir, default a temp dir)
# needs: mpirun, GNU time (/usr/bin/time), /usr/bin/python3 with h5py and numpy.
# "cpu share" = CPU seconds the run got / (ranks x wall seconds): near 1 on an idle
# machine; well below 1 means other load took the cores and the speed-up is not the
# program's.
set -euo pipefail
BIN=${1:-${ATTNSWEEP_BIN:-$(dirname "$0")/../build/attnsweep}}
BIN=$(readlink -f "$BIN")
N=${N:-192} T=${T:-1000} EPOCHS=${EPOCHS:-4} BATCH=${BATCH:-32} FILTERS=${FILTERS:-256}
RANKS=${RANKS:-2} BUCKET_KB=${BUCKET_KB:-64}
OUT=${OUT:-$(mktemp -d /tmp/attnsweep-bench-dp.XXXXXX)}
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
cd "$OUT"
cut -d' ' -f1-3 /proc/loadavg > loadavg

# Regression data in the dataset layout: /train/x, /train/y float32 [N,T,1], task attr.
$PY - "$N" "$T" <<'PYEOF'
import sys, h5py, numpy as np
n, t = int(sys.argv[1]), int(sys.argv[2])
r = np.random.RandomState(0)
x = r.randn(n, t, 1).astype(np.float32)
k = np.array([0.25, 0.5, 0.25], np.float32)
y = np.stack([np.convolve(x[i, :, 0], k, mode="same") for i in range(n)])[..., None]
y = (np.cumsum(y, axis=1) / np.sqrt(np.arange(1, t + 1))[None, :, None]).astype(np.float32)
with h5py.File("bench.h5", "w") as f:
    f.attrs["task"] = "regression"
    g = f.create_group("train")
    g["x"] = x
    g["y"] = y
PYEOF

cat > spec.json <<JSON
{"data": "bench.h5",
 "model": [{"type": "conv1d", "filters": 32, "kernel_size": 5, "activation": "relu"},
           {"type": "conv1d", "filters": $FILTERS, "kernel_size": 5, "activation": "relu"},
           {"type": "conv1d", "filters": 32, "kernel_size": 5, "activation": "relu"},
           {"type": "conv1d", "filters": 1, "kernel_size": 3}],
 "train": {"epochs": $EPOCHS, "batch_size": $BATCH, "validation_split": 0, "seed": 1,
           "shuffle": true, "optimizer": {"type": "adam", "learning_rate": 0.001}}}
JSON

run() { # tag np bind [args...]
    local tag=$1 np=$2 bind=$3
    shift 3
    local cmd=(mpirun --bind-to "$bind" -np "$np" "$BIN" train spec.json --threads 1
               --bucket-kb "$BUCKET_KB" --history "h_$tag.h5" "$@")
    echo "\$ ${cmd[*]}" | tee "log_$tag.txt"
    # GNU time: wall, user and system seconds of mpirun and the ranks it reaps
    /usr/bin/time -f "%e %U %S" -o "time_$tag.txt" "${cmd[@]}" 2>&1 | tee -a "log_$tag.txt" |
        grep -E "^(epoch|data parallel|BLAS)" || true
}
run p1 1 none
run p${RANKS}_overlap "$RANKS" none
run p${RANKS}_blocking "$RANKS" none --no-overlap
run p${RANKS}_overlap_core "$RANKS" core
run p${RANKS}_blocking_core "$RANKS" core --no-overlap

$PY - "$N" "$BATCH" "$EPOCHS" "$RANKS" <<'PYEOF'
import math, re, sys, h5py, numpy as np
n, batch, epochs, P = (int(a) for a in sys.argv[1:])
steps = epochs * math.ceil(n / batch)
def med(tag):
    with h5py.File(f"h_{tag}.h5", "r") as f:
        s = f["epoch_seconds"][()]
        loss = f["loss"][()]
    return float(np.median(s[1:] if len(s) > 1 else s)), loss
def cpu_share(tag, p):
    # CPU the run's processes got / (ranks x wall): well below 1 means the ranks were
    # descheduled (other load on the machine), which no speed-up can be judged through
    e, u, s_ = (float(v) for v in open(f"time_{tag}.txt").read().split()[:3])
    return (u + s_) / (p * e)
def wait(tag):
    m = re.search(r"([0-9.]+) s waiting", open(f"log_{tag}.txt").read())
    return float(m.group(1)) if m else float("nan")
base, bloss = med("p1")
print(f"\nload average before: {open('loadavg').read().strip()}")
print(f"{n} series, batch {batch}, {epochs} epochs ({steps} steps), 1 BLAS thread per rank")
print(f"{'run':<24}{'median epoch s':>15}{'speed-up':>10}{'wait s/step':>13}{'max rel dloss':>15}"
      f"{'cpu share':>11}")
print(f"{'1 rank':<24}{base:>15.3f}{1.0:>10.2f}{'-':>13}{'-':>15}{cpu_share('p1', 1):>11.2f}")
for tag, name in ((f"p{P}_overlap", f"{P} overlap, bind none"),
                  (f"p{P}_blocking", f"{P} blocking, bind none"),
                  (f"p{P}_overlap_core", f"{P} overlap, bind core"),
                  (f"p{P}_blocking_core", f"{P} blocking, bind core")):
    s, loss = med(tag)
    d = float(np.max(np.abs(loss - bloss) / np.abs(bloss)))
    print(f"{name:<24}{s:>15.3f}{base / s:>10.2f}{wait(tag) / steps * 1e3:>11.2f}ms{d:>15.1e}"
          f"{cpu_share(tag, P):>11.2f}")
PYEOF
echo "(files in $OUT)"
