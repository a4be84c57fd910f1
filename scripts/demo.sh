#!/usr/bin/env bash
# The main job: install what is missing, build, generate the notebook's toy data, run the
# quick sweep over every core with mpirun, and write the results and the HTML report.
#
#   scripts/demo.sh                 the quick sweep (sweeps/quick.json), a few minutes on 2 cores
#   scripts/demo.sh --full [--ucr DIR]
#                                   the notebook's full sweeps: toy conv vs attention, and the
#                                   Trace attention and residual sweeps (Trace from the UCR folder
#                                   DIR or $ATTNSWEEP_UCR_DIR, default ../shared/data/ucr)
# Outputs: data/*.h5, results/*.h5 and results/<name>-report/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
full=0
ucr="${ATTNSWEEP_UCR_DIR:-../shared/data/ucr}"
while [ $# -gt 0 ]; do
  case "$1" in
    --full) full=1 ;;
    --ucr) ucr="${2:?--ucr needs a folder}"; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null
bin=build/attnsweep
np=$(nproc)
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mkdir -p data results

[ -f data/toy.h5 ] || "$bin" data toy --seed 0 --samples 1000 --test-samples 10 -o data/toy.h5

run_sweep() { # name sweepfile data
  local name=$1 file=$2 data=$3 out=results/$1.h5 resume=()
  [ -f "$out" ] && resume=(--resume)
  echo "== sweep $file -> $out (${np} ranks)"
  mpirun --bind-to none -np "$np" "$bin" sweep "$file" -o "$out" --threads 1 "${resume[@]}"
  "$bin" summary "$out" --top 10
  /usr/bin/python3 scripts/report.py "$out" --data "$data" -o "results/$name-report"
}

if [ "$full" -eq 0 ]; then
  run_sweep quick sweeps/quick.json data/toy.h5
else
  run_sweep toy-conv-vs-attention sweeps/toy-conv-vs-attention.json data/toy.h5
  if [ -f "$ucr/Trace/Trace_TRAIN.tsv" ]; then
    [ -f data/trace.h5 ] || "$bin" data ucr --train "$ucr/Trace/Trace_TRAIN.tsv" \
      --test "$ucr/Trace/Trace_TEST.tsv" --merge-shuffle --seed 0 -o data/trace.h5
    run_sweep trace-attention sweeps/trace-attention.json data/trace.h5
    run_sweep trace-residual sweeps/trace-residual.json data/trace.h5
  else
    echo "demo.sh: no Trace data in $ucr (get the UCR archive, see README): Trace sweeps skipped" >&2
  fi
fi
echo "results: $(pwd)/results"
