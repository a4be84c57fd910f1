#!/usr/bin/env bash
# Threads from what the process may use and Open MPI's fast start, through the CLI:
# the default thread count follows taskset, SLURM_CPUS_PER_TASK, OMP_NUM_THREADS and the
# ranks on the node (disjoint bindings keep their own CPUs); --threads wins; a singleton
# runs isolated (no session directory) with pml ob1 unless the user chose, and the user's
# choice is kept.
set -u
BIN=${ATTNSWEEP_BIN:-build/attnsweep}
MPIRUN=${MPIRUN:-mpirun}
source "$(dirname "${BASH_SOURCE[0]}")/../util/tmpdir.sh"
tmp=$(mktemp -d /tmp/attnsweep-sh.XXXXXX)
trap 'as_tmp_done "$tmp" $?' EXIT
fails=0 total=0
check() {
  total=$((total + 1))
  if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; echo "$out"; fails=$((fails + 1)); fi
}
"$BIN" data toy --samples 20 --test-samples 0 -o "$tmp/toy.h5" > /dev/null
cat > "$tmp/spec.json" <<'JSON'
{"data": "toy.h5", "model": [{"type": "conv1d", "filters": 2, "kernel_size": 3},
           {"type": "conv1d", "filters": 1, "kernel_size": 1}],
 "train": {"epochs": 1, "batch_size": 10}}
JSON
run() { env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS -u SLURM_CPUS_PER_TASK "$@" 2>&1; }
out=$(run taskset -c 0 "$BIN" train "$tmp/spec.json")
check "taskset: the affinity mask is what may be used" \
  '[[ "$out" == *"affinity 1,"* && "$out" == *"; 1 thread per rank (1 usable"* ]]'
out=$(run SLURM_CPUS_PER_TASK=1 "$BIN" train "$tmp/spec.json")
check "SLURM_CPUS_PER_TASK caps the threads" \
  '[[ "$out" == *"SLURM_CPUS_PER_TASK 1)"* && "$out" == *"; 1 thread per rank"* ]]'
out=$(run OMP_NUM_THREADS=3 "$BIN" train "$tmp/spec.json")
check "OMP_NUM_THREADS is the user's choice" \
  '[[ "$out" == *"3 threads per rank (OMP_NUM_THREADS)"* ]]'
out=$(run SLURM_CPUS_PER_TASK=1 "$BIN" train "$tmp/spec.json" --threads 2)
check "--threads wins" '[[ "$out" == *"2 threads per rank (--threads)"* ]]'
n=$(nproc)
out=$(run "$BIN" train "$tmp/spec.json")
u=$(sed -n 's/^threads: .*CPUs usable \([0-9]*\) .*/\1/p' <<< "$out")
check "a lone rank uses every CPU it may (${u:-?} of $n in its affinity mask)" \
  '[[ -n "$u" && "$u" -ge 1 && "$u" -le "$n" && "$out" == *"affinity $n,"* &&
     "$out" == *"; $u thread"*" per rank ($u usable / 1 rank"* ]]'
check "a singleton starts isolated, without a session directory, on pml ob1" \
  '[[ "$out" == *"MPI: isolated singleton (no session dir), pml ob1"*"set by attnsweep"* &&
     "$out" == *"epoch   1/1"* ]]'
# Every isolated singleton is Open MPI job family 0: with session directories, concurrent
# ones raced on TMPDIR/ompi.HOST.UID/jf.0 (one start in forty failed, 8 at once). A file
# where that folder would be makes the old start fail every time.
mkdir "$tmp/td" && touch "$tmp/td/ompi.$(hostname).$(id -u)"
out=$(run TMPDIR="$tmp/td" "$BIN" train "$tmp/spec.json")
check "an isolated singleton needs no session directory (TMPDIR/ompi.HOST.UID is a file)" \
  '[[ "$out" == *"epoch   1/1"* ]]'
out=$(run TMPDIR="$tmp/td" OMPI_MCA_orte_create_session_dirs=1 "$BIN" train "$tmp/spec.json")
check "... the user's orte_create_session_dirs is kept (and that start fails here)" \
  '[[ "$out" != *"no session dir"* && "$out" != *"epoch   1/1"* ]]'
out=$(run OMPI_MCA_pml=ob1 OMPI_MCA_ess_singleton_isolated=0 "$BIN" train "$tmp/spec.json")
check "the user's Open MPI settings are kept" \
  '[[ "$out" != *"isolated singleton"* && "$out" != *"pml ob1"* && "$out" == *"epoch   1/1"* ]]'
out=$(run "$MPIRUN" -np 2 --bind-to none "$BIN" train "$tmp/spec.json")
check "two ranks on a node share its CPUs, one line per node" \
  '[[ "$out" == *"threads: node "*": 2 ranks; "*"/ 2 ranks on the node)"* &&
     $(grep -c "^threads: node" <<< "$out") -eq 1 ]]'
if [ "$n" -ge 2 ]; then
  out=$(run "$MPIRUN" -np 2 --bind-to core "$BIN" train "$tmp/spec.json")
  check "ranks bound to their own cores keep them" \
    '[[ "$out" == *"each bound to its own CPUs"* && "$out" == *"; 1 thread per rank"* ]]'
fi
echo "$(( total - fails )) passed, $fails failed"
[ "$fails" -eq 0 ]
