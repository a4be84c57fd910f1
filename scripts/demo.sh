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
# ATTNSWEEP_BIN=PATH runs that binary (e.g. an installed PREFIX/bin/attnsweep) instead of
# building build/attnsweep; AS_PYTHON the Python with h5py, numpy and matplotlib (default:
# /usr/bin/python3, else python3 on PATH).
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
if [ -n "${ATTNSWEEP_BIN:-}" ]; then
  bin=$ATTNSWEEP_BIN
  [ -x "$bin" ] || { echo "demo.sh: ATTNSWEEP_BIN=$bin is not an executable" >&2; exit 2; }
else
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build build -j"$(nproc)" > /dev/null
  bin=build/attnsweep
fi
py=
for p in "${AS_PYTHON:-}" /usr/bin/python3 python3; do
  [ -n "$p" ] && "$p" -c 'import h5py, numpy, matplotlib' 2> /dev/null && { py=$p; break; }
done
[ -n "$py" ] || { echo "demo.sh: no python3 with h5py, numpy and matplotlib (set AS_PYTHON)" >&2; exit 1; }
# Open MPI binds ranks to cores by default (one rank per core here anyway); other MPIs
# do not know the flag
bind=()
mpirun --version 2>&1 | grep -q 'Open MPI' && bind=(--bind-to none)
np=$(nproc)
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mkdir -p data results

[ -f data/toy.h5 ] || "$bin" data toy --seed 0 --samples 1000 --test-samples 10 -o data/toy.h5

run_sweep() { # name sweepfile data
  local name=$1 file=$2 data=$3 out=results/$1.h5 resume=()
  [ -f "$out" ] && resume=(--resume)
  echo "== sweep $file -> $out (${np} ranks)"
  mpirun "${bind[@]}" -np "$np" "$bin" sweep "$file" -o "$out" --threads 1 "${resume[@]}"
  "$bin" summary "$out" --top 10
  "$py" scripts/report.py "$out" --data "$data" -o "results/$name-report"
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
