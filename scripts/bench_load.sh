#!/bin/bash
# bench_load.sh: the time of attnsweep_results.load() on a real 500-run results file
# (README, "The results as a table").
#
#   scripts/bench_load.sh [BIN] [RESULTS.h5]     (defaults: build/attnsweep, a new file)
#
# Without RESULTS.h5 it runs the 500-variant sweep of scripts/bench_store.sh (conv1d f ->
# self_attention key_dim k -> conv1d 1 on 64 toy series, f in 1..50, k in 1..10, 1 epoch,
# default dumps) on one rank into a temporary folder. Then it loads the file 5 times as
# a dict of numpy columns and 5 times as a pandas DataFrame (when pandas is installed),
# in one Python process after importing pandas, and prints the CPU and wall seconds of
# each (min and median): CPU-seconds are the figure on a shared machine.
set -eu
BIN=${1:-build/attnsweep}
RES=${2:-}
PY=${AS_PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/attnsweep-bench-load.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
if [ -z "$RES" ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
  "$BIN" data toy --samples 64 --test-samples 6 -o "$TMP/toy.h5" > /dev/null
  f=$(seq -s, 1 50); k=$(seq -s, 1 10)
  cat > "$TMP/sweep.json" <<JSON
{"data": "toy.h5",
 "model": [{"type": "conv1d", "filters": "\$f", "kernel_size": 3, "activation": "relu"},
           {"type": "self_attention", "num_heads": 1, "key_dim": "\$k"},
           {"type": "conv1d", "filters": 1, "kernel_size": 3}],
 "train": {"epochs": 1, "batch_size": 32, "validation_split": 0.25},
 "grid": {"f": [$f], "k": [$k]}}
JSON
  RES=$TMP/r500.h5
  "$BIN" sweep "$TMP/sweep.json" -o "$RES" --threads 1 > "$TMP/sweep.out" 2>&1 ||
    { tail -5 "$TMP/sweep.out" >&2; exit 1; }
fi
"$PY" - "$HERE" "$RES" <<'PY'
import os, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import attnsweep_results as ar
path = sys.argv[2]
try:
    import pandas  # noqa: F401  (imported before timing: its import is not load()'s cost)
    kinds = [("dict", False), ("DataFrame", True)]
except ImportError:
    kinds = [("dict", False)]
print("%s: %.1f MB" % (path, os.path.getsize(path) / 1e6))
for name, pd in kinds:
    cpu, wall = [], []
    for _ in range(5):
        c0, w0 = time.process_time(), time.perf_counter()
        t = ar.load(path, pandas=pd)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    rows = len(t) if pd else len(t["key"])
    print("load() as %-9s %d rows: CPU %.3f s min, %.3f s median; wall %.3f s min, "
          "%.3f s median" % (name, rows, min(cpu), statistics.median(cpu), min(wall),
                             statistics.median(wall)))
print("load average: %s" % open("/proc/loadavg").read().split()[0])
PY
