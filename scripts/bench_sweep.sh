#!/usr/bin/env bash
# Sweep scheduling efficiency on P ranks (default 2, 1 BLAS thread each):
#   efficiency = (sum of the runs' training seconds / P) / wall seconds of the sweep
# for sweeps/quick.json and a 16-variant sweep of unequal variants (filters 8..64 x conv or
# attention with 1, 2 or 4 heads). The wall time is the results file's wall_seconds: from the first
# variant handed out to the last result written (dumps and every results-file write included).
# Usage: scripts/bench_sweep.sh [BIN] [P]     (BIN default build/attnsweep)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/attnsweep}
P=${2:-2}
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" data toy --samples 1000 -o "$tmp/toy.h5" > /dev/null
cat > "$tmp/unequal.json" <<'JSON'
{ "data": "toy.h5",
  "model": [ {"type": "conv1d", "filters": "$filters", "kernel_size": 5, "activation": "relu"},
             "$layer2",
             {"type": "conv1d", "filters": 1, "kernel_size": 5} ],
  "train": {"epochs": 4, "batch_size": 32, "validation_split": 0.2},
  "grid": { "filters": [8, 16, 32, 64],
            "layer2": [ {"type": "conv1d", "filters": 16, "kernel_size": 5, "activation": "relu"},
                        {"type": "self_attention", "num_heads": "$heads", "key_dim": 16} ],
            "heads": [1, 2, 4] } }
JSON
for sweep in sweeps/quick.json "$tmp/unequal.json"; do
  out="$tmp/r.h5"
  rm -f "$out"
  mpirun --bind-to none -np "$P" "$bin" sweep "$sweep" --data "$tmp/toy.h5" -o "$out" --threads 1 > "$tmp/log"
  /usr/bin/python3 - "$out" "$P" "$sweep" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
P = int(sys.argv[2])
s = f["summary"][:]
work = float(s["train_seconds"].sum())
wall = float(f.attrs["wall_seconds"])
print(f"{sys.argv[3].split('/')[-1]:>20}: {len(s)} runs, sum of run times {work:.1f} s, "
      f"ideal {work / P:.1f} s on {P} ranks, makespan {wall:.1f} s, efficiency {work / P / wall:.1%}")
PY
done
