#!/bin/bash
# bench_store.sh: the cost of storing sweep results (README, "The results store").
#
#   scripts/bench_store.sh [BIN] [RANKS] [JOURNAL]   (defaults: build/attnsweep, 2, rank0)
#
# JOURNAL is the sweep's --journal mode: rank0 (rank 0 writes every run) or shared (each
# rank writes its own runs' journal files, rank 0 only indexes them).
#
# A sweep of 500 tiny attention variants (conv1d f -> self_attention key_dim k -> conv1d 1
# on 64 toy series; f in 1..50, k in 1..10), 1 epoch each, default dumps (3 attention
# samples, 6 predictions), over RANKS ranks. The store's benchmark hook
# (ATTNSWEEP_STORE_LOG) records the seconds of every store (journal file + /summary row)
# and every pack (and, with --journal shared, every worker's own store); the script prints the 10th and 500th store times (and the medians of
# stores 6-15 and 491-500), the share of the wall time spent storing, the file's size
# against the data it holds (h5stat), and the cost extrapolated to 10,000 runs.
set -eu
BIN=${1:-build/attnsweep}
NP=${2:-2}
JOURNAL=${3:-rank0}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
TMP=$(mktemp -d /tmp/attnsweep-bench-store.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
"$BIN" data toy --samples 64 --test-samples 6 -o "$TMP/toy.h5" >/dev/null
cat > "$TMP/sweep.json" <<'JSON'
{"data": "toy.h5",
 "model": [{"type": "conv1d", "filters": "$f", "kernel_size": 3, "activation": "relu"},
           {"type": "self_attention", "num_heads": 1, "key_dim": "$k"},
           {"type": "conv1d", "filters": 1, "kernel_size": 3}],
 "train": {"epochs": 1, "batch_size": 32, "validation_split": 0.25},
 "grid": {"f": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,
                26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50],
          "k": [1,2,3,4,5,6,7,8,9,10]}}
JSON
BIND=$(mpirun --help 2>&1 | grep -q -- --bind-to && echo "--bind-to none" || true)
t0=$(date +%s.%N)
ATTNSWEEP_STORE_LOG="$TMP/store.log" mpirun $BIND -np "$NP" "$BIN" sweep "$TMP/sweep.json" \
    -o "$TMP/r.h5" --threads 1 --journal "$JOURNAL" > "$TMP/sweep.out"
t1=$(date +%s.%N)
h5stat -S "$TMP/r.h5" > "$TMP/h5stat.txt"
grep -m1 -- '^--journal' "$TMP/sweep.out" || true
/usr/bin/python3 - "$TMP" "$t0" "$t1" "$NP" <<'PY'
import os, re, statistics, sys
tmp, t0, t1, np_ = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
puts, packs, wputs, cpu_of, proc_cpu = [], [], [], {}, 0.0
for line in open(os.path.join(tmp, "store.log")):
    what, n, s, c, pc, pid = line.split()
    {"put": puts, "pack": packs, "wput": wputs}[what].append((int(n), float(s), float(c)))
    cpu_of[pid] = max(cpu_of.get(pid, 0.0), float(pc))
    if what != "wput":
        proc_cpu = max(proc_cpu, float(pc))
puts.sort()
wall = t1 - t0
put_s = [s for _, s, _ in puts]
put_c = [c for _, _, c in puts]
store = sum(put_s) + sum(s for _, s, _ in packs)
store_cpu = sum(put_c) + sum(c for _, _, c in packs)
st = open(os.path.join(tmp, "h5stat.txt")).read()
def field(name):
    m = re.search(name + r":\s*(\d+)", st)
    return int(m.group(1)) if m else 0
raw, meta, total = field("Raw data"), field("File metadata"), os.path.getsize(os.path.join(tmp, "r.h5"))
print(f"runs stored: {len(puts)} on {np_} ranks, wall {wall:.1f} s")
print(f"store time of run 10: {put_s[9]*1e3:.2f} ms, run 500: {put_s[-1]*1e3:.2f} ms "
      f"(ratio {put_s[-1]/put_s[9]:.2f})")
print(f"median of runs 6-15: {statistics.median(put_s[5:15])*1e3:.2f} ms, of runs 491-500: "
      f"{statistics.median(put_s[-10:])*1e3:.2f} ms (ratio "
      f"{statistics.median(put_s[-10:])/statistics.median(put_s[5:15]):.2f})")
print(f"CPU time of a store: run 10 {put_c[9]*1e3:.2f} ms, run 500 {put_c[-1]*1e3:.2f} ms; medians "
      f"of runs 6-15 {statistics.median(put_c[5:15])*1e3:.2f} ms, of runs 491-500 "
      f"{statistics.median(put_c[-10:])*1e3:.2f} ms (ratio "
      f"{statistics.median(put_c[-10:])/statistics.median(put_c[5:15]):.2f})")
print(f"packs: " + ", ".join(f"{n} runs {s*1e3:.1f} ms ({c*1e3:.1f} ms CPU)" for n, s, c in packs))
print(f"storing (wall): {sum(put_s):.2f} s of stores + {sum(s for _, s, _ in packs):.2f} s of packs = "
      f"{100*store/wall:.1f}% of the wall time")
print(f"storing (CPU): {store_cpu:.2f} s of rank 0's {proc_cpu:.2f} CPU-s = {100*store_cpu/proc_cpu:.1f}%")
own = [c for _, _, c in wputs]
if own:
    all_cpu = sum(cpu_of.values())
    print(f"workers' own stores: {len(own)} runs, median {statistics.median(own)*1e3:.2f} ms CPU each; "
          f"rank 0 per stored run: median {statistics.median(put_c)*1e3:.3f} ms CPU")
    print(f"storing (CPU, every rank): {store_cpu + sum(own):.2f} s of {all_cpu:.2f} CPU-s "
          f"(each process up to its last store) = {100*(store_cpu + sum(own))/all_cpu:.1f}%")
print(f"file: {total} bytes, raw data {raw} bytes, metadata {meta} bytes: {total/raw:.3f}x the data")
per_put = statistics.median(put_s)
last_pack = packs[-1][1] / max(1, packs[-1][0])
print(f"10,000 runs: stores {10000*per_put:.0f} s (constant {per_put*1e3:.2f} ms each), the final "
      f"pack ~{10000*last_pack:.0f} s (linear in the runs), file ~{total/len(puts)*10000/1e6:.0f} MB")
PY
