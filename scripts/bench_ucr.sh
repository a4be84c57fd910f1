#!/usr/bin/env bash
# UCR accuracy benchmark: imports every set under UCR_DIR (default ../shared/data/ucr;
# the archive's train/test split kept; --fill interpolate --length pad, which leave
# complete fixed-length sets unchanged), runs sweeps/ucr-classifier.json on each set in
# SETS (default: all of them) with `--data`, and prints per set the variant chosen on
# validation (highest mean kept_val_accuracy over the repeats, ties by lower mean
# kept_val_loss: the kept model's validation figures, at its kept epoch, whose weights are
# the ones tested; not the curves' best epoch), its mean ± std test accuracy over the repeats next to the published FCN,
# ResNet and 1-NN DTW test accuracies of UCR_DIR/README.md, the sweep's wall time and
# the CPU time of the mpirun job (user + system of every rank: the machine is shared).
# SWEEP (default sweeps/ucr-classifier.json) is the sweep file.
# Usage: [UCR_DIR=..] [SETS="Trace GunPoint"] [NP=2] [SWEEP=..] scripts/bench_ucr.sh [BIN] [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/attnsweep}
out=${2:-$(mktemp -d)}
ucr=${UCR_DIR:-../shared/data/ucr}
np=${NP:-2}
sweep=${SWEEP:-sweeps/ucr-classifier.json}
if [ ! -d "$ucr" ]; then echo "bench_ucr: no UCR data at $ucr (set UCR_DIR)" >&2; exit 2; fi
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$out"
all=()
for d in "$ucr"/*/; do
  s=$(basename "$d")
  [ -f "$d/${s}_TRAIN.tsv" ] || continue
  "$bin" data ucr --train "$d/${s}_TRAIN.tsv" --test "$d/${s}_TEST.tsv" --fill interpolate \
         --length pad -o "$out/$s.h5" > "$out/$s.import.log"
  all+=("$s")
done
sets=${SETS:-${all[*]}}
t0=$(date +%s)
for s in $sets; do
  rm -f "$out/$s.results.h5"
  /usr/bin/time -f "%e %U %S" -o "$out/$s.time" \
    mpirun --bind-to none -np "$np" "$bin" sweep "$sweep" --data "$out/$s.h5" \
           -o "$out/$s.results.h5" --threads 1 > "$out/$s.sweep.log"
done
echo "total wall $(( $(date +%s) - t0 )) s for: $sets (results in $out)"
/usr/bin/python3 - "$out" "$ucr/README.md" $sets <<'PY'
import sys, json, re
import h5py
import numpy as np

out, readme, sets = sys.argv[1], sys.argv[2], sys.argv[3:]
published = {}
for line in open(readme):
    m = re.match(r"\|\s*(\w+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|", line)
    if m:
        published[m.group(1)] = tuple(float(v) for v in m.groups()[1:])


def family(config):
    types = [L["type"] for L in json.loads(config)["model"]]
    if "self_attention" in types:
        return "attention"
    return "residual" if "residual_conv1d" in types else "conv"


print("| dataset | chosen variant | val acc | test acc (mean ± std, 3 seeds) | FCN | ResNet "
      "| 1-NN DTW | >= ResNet | sweep wall s | CPU s |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
cpu_total = 0.0
for s in sets:
    f = h5py.File(f"{out}/{s}.results.h5", "r")
    rows = f["summary"][:]
    ok = rows[np.char.strip(rows["status"].astype(str)) == "ok"]
    best = None
    for v in sorted(set(ok["id"].tolist())):
        r = ok[ok["id"] == v]
        key = (-float(np.mean(r["kept_val_accuracy"])), float(np.mean(r["kept_val_loss"])))
        if best is None or key < best[0]:
            best = (key, v, r)
    _, v, r = best
    group = next(g for g in f["variants"].values() if g.attrs["id"] == v)  # groups: run keys
    name = family(group.attrs["config"])
    test = r["test_accuracy"]
    wall, user, sys_ = (float(x) for x in open(f"{out}/{s}.time").read().split()[-3:])
    cpu_total += user + sys_
    fcn, resnet, dtw = published.get(s, (float("nan"),) * 3)
    meets = "yes" if np.mean(test) >= resnet else ("no" if resnet == resnet else "–")
    fcn, resnet, dtw = (f"{x:.3f}" if x == x else "–" for x in (fcn, resnet, dtw))  # none published
    print(f"| {s} | {name} (v{v}) | {-best[0][0]:.3f} | {np.mean(test):.3f} ± {np.std(test):.3f} "
          f"| {fcn} | {resnet} | {dtw} | {meets} | {wall:.0f} | {user + sys_:.0f} |")
print(f"total CPU {cpu_total:.0f} s (user + system of the sweeps' ranks)")
PY
