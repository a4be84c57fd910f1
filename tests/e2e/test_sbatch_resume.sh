#!/usr/bin/env bash
# scripts/slurm/sweep.sbatch run as a plain script (no Slurm needed): --resume is passed
# exactly when the results file exists. A requeued job (SLURM_RESTART_COUNT=1) whose sweep
# never wrote the file (a node failing before the first pack) starts the sweep afresh
# instead of passing --resume, which the sweep refuses for a missing file.
set -u
BIN=${ATTNSWEEP_BIN:-build/attnsweep}
SRC=${ATTNSWEEP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
source "$SRC/tests/util/tmpdir.sh"
tmp=$(mktemp -d /tmp/attnsweep-sh.XXXXXX)
trap 'as_tmp_done "$tmp" $?' EXIT
fails=0
check() {
  if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; echo "$out"; fails=$((fails + 1)); fi
}
"$BIN" data toy --samples 24 --test-samples 4 -o "$tmp/toy.h5" > /dev/null || exit 1
cat > "$tmp/q.json" <<'JSON'
{"data": "toy.h5", "model": [{"type": "conv1d", "filters": "$f", "kernel_size": 3},
           {"type": "conv1d", "filters": 1, "kernel_size": 1}],
 "train": {"epochs": 1, "batch_size": 8}, "grid": {"f": [1, 2]}}
JSON
sb() {
  (cd "$tmp" && env -u SLURM_SUBMIT_DIR ATTNSWEEP_BIN="$BIN" ATTNSWEEP_LAUNCHER="mpirun -np 1" \
     "$@" bash "$SRC/scripts/slurm/sweep.sbatch" q.json slr.h5 2>&1)
}
out=$(sb SLURM_RESTART_COUNT=1); rc=$?
check "a restart before the results file exists runs a fresh sweep (exit $rc)" \
  '[ $rc = 0 ] && [ -e "$tmp/slr.h5" ] && ! grep -q -- "--resume" <<< "$out" &&
   grep -q "does not exist yet: a fresh sweep" <<< "$out" && ! grep -q "resume was refused" <<< "$out"'
out=$(sb SLURM_RESTART_COUNT=2); rc=$?
check "a restart with the results file resumes (exit $rc)" \
  '[ $rc = 0 ] && grep -q -- "slr.h5 --threads 1 --resume" <<< "$out" &&
   grep -q "runs already in" <<< "$out"'
out=$(sb SLURM_RESTART_COUNT=0); rc=$?
check "a resubmission with the results file resumes (exit $rc)" \
  '[ $rc = 0 ] && grep -q -- "--resume" <<< "$out"'
[ $fails = 0 ] || exit 1
