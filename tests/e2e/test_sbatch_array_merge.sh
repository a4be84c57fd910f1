#!/usr/bin/env bash
# scripts/slurm/sweep.sbatch in array mode, run as a plain script (no Slurm needed): a task
# that finishes while another shard's sweep still writes its file (held after its last run
# by ATTNSWEEP_TEST_HOLD, its lock held, its runs in its journal only) does not merge: the
# merge refuses the shard being written ("missing or unfinished"), the task logs that the
# last task to finish merges and exits 0, and no RESULTS.h5 is written. Once that sweep is
# stopped (SIGTERM to its rank, the pid in its lock file) and has packed, its own task
# merges both shards: every /summary row of the merged file has its run.
set -u
BIN=${ATTNSWEEP_BIN:-build/attnsweep}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
SRC=${ATTNSWEEP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
source "$SRC/tests/util/tmpdir.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d /tmp/attnsweep-sh.XXXXXX)
fails=0
trap 'as_tmp_done "$tmp" $? $fails' EXIT
check() {
  if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; echo "$out" | tail -20; fails=$((fails + 1)); fi
}
"$BIN" data toy --samples 24 --test-samples 4 -o "$tmp/toy.h5" > /dev/null || exit 1
cat > "$tmp/q.json" <<'JSON'
{"data": "toy.h5", "model": [{"type": "conv1d", "filters": "$f", "kernel_size": 3},
           {"type": "conv1d", "filters": 1, "kernel_size": 1}],
 "train": {"epochs": 1, "batch_size": 8}, "grid": {"f": [1, 4, 5]}, "repeats": 2}
JSON
task() { # task I of the array 0-1
  local i=$1; shift
  (cd "$tmp" && env -u SLURM_SUBMIT_DIR ATTNSWEEP_BIN="$BIN" ATTNSWEEP_LAUNCHER="mpirun -np 1" \
     SLURM_ARRAY_TASK_ID="$i" SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=1 SLURM_ARRAY_TASK_COUNT=2 \
     "$@" bash "$SRC/scripts/slurm/sweep.sbatch" q.json arr.h5 2>&1)
}
# shard 1's run count: hold its sweep after its last run, before its final pack
k=$(cd "$tmp" && "$BIN" sweep q.json --dry-run --shard 1/2 | sed -n 's/^shard 1\/2: \([0-9]*\) of .*/\1/p')
check "shard 1/2 has runs ($k)" '[ "${k:-0}" -gt 0 ]'
task 1 ATTNSWEEP_TEST_HOLD="after-run:$k" > "$tmp/task1.out" &
t1=$!
for _ in $(seq 6000); do # waits for the hold (at most 600 s), not for a guessed time
  grep -q "holding until a stop signal" "$tmp/task1.out" && break
  kill -0 $t1 2> /dev/null || break
  sleep 0.1
done
out=$(cat "$tmp/task1.out")
check "task 1's sweep is held after its last run, lock held" \
  'grep -q "holding until a stop signal at after-run ($k)" <<< "$out" && [ -s "$tmp/arr.shard-1-of-2.h5.lock" ]'
out=$(task 0); rc=$?
check "task 0 finishes while shard 1 is written: it does not merge (exit $rc)" \
  '[ $rc = 0 ] && grep -q "arr.shard-1-of-2.h5 is being written: locked by" <<< "$out" &&
   grep -q "the last task to finish merges" <<< "$out" && [ ! -e "$tmp/arr.h5" ]'
read -r _ rank < "$tmp/arr.shard-1-of-2.h5.lock"
kill -TERM "$rank"
wait $t1; rc=$?
out=$(cat "$tmp/task1.out")
check "task 1, stopped after its last run, merges both shards (exit $rc)" \
  '[ $rc = 0 ] && grep -q "merged the 2 shards into arr.h5" <<< "$out" && [ -e "$tmp/arr.h5" ]'
out=$(/usr/bin/python3 - "$tmp/arr.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    rows = sorted(r["key"].split(b"\0")[0].decode() for r in f["summary"][()])
    print(len(rows), rows == sorted(f["variants"]))
PY
)
check "the merged file holds the 6 runs, each row with its group ($out)" '[ "$out" = "6 True" ]'
echo "$((6 - fails)) passed, $fails failed"
[ $fails = 0 ]
