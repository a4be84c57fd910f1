#!/bin/bash
# Data-parallel `train` over 2 simulated hosts (one rank each, gradients summed over TCP)
# equals one process within 1e-5 (relative, every epoch's loss and val_loss); each host's
# rank picks its BLAS threads from the ranks on its own node (the start-up line shows every
# host's count: a rank alone on a host picks what it picks alone, ranks sharing one get 1); a SIGTERM stop (test hook
# ATTNSWEEP_TEST_SIGTERM_EPOCH) prints a resume command that keeps the launcher and its
# host arguments, and that command, run on host 1, finishes the training equal to an
# uninterrupted run.
. "$(dirname "$0")/cluster_lib.sh"
cl_up 2
cl_make_spec "$TMP/p" 6
cd "$TMP/p" || exit 1
h1=${CL_HOSTS[0]} h2=${CL_HOSTS[1]}
"$BIN" train spec.json --threads 1 --history one.h5 > one.log 2>&1
check "1 process: train exits 0" test $? = 0
cl_mpirun -np 2 -H "$h1,$h2" "$BIN" train spec.json --threads 1 --history two.h5 > two.log 2>&1
rc=$?
check "2 hosts: train exits 0" test $rc = 0
[ $rc = 0 ] || sed 's/^/    /' two.log
check "2 hosts: data parallel over 2 ranks" grep -q "identical on 2 ranks" two.log
check "2 hosts: the curves equal 1 process's within 1e-5" cl_compare history two.h5 one.h5 --rtol 1e-5

# threads: no --threads, no OPENBLAS_NUM_THREADS; each host's rank alone on its host.
# --bind-to none: mpirun's default binding would give each rank one core, which is then
# all it may use (and gets: the threads follow the affinity mask).
lone=$(cl_exec "$h2" env -u OPENBLAS_NUM_THREADS "$BIN" train spec.json --epochs 1 | sed -n 's/^BLAS: .*, \([0-9]*\) threads\{0,1\} per rank.*/\1/p')
env -u OPENBLAS_NUM_THREADS bash "$NC" mpirun --bind-to none -np 2 -H "$h1,$h2" "$BIN" train spec.json --epochs 1 > threads.log 2>&1
check "threads: a lone rank on $h2 reports its thread count" test -n "$lone"
check "threads: the start-up line lists each host's threads ($lone, as a lone rank)" \
    grep -q "^hosts: 2 hosts: $h1 (rank 0, $lone BLAS threads\{0,1\}), $h2 (rank 1, $lone BLAS threads\{0,1\})" threads.log
env -u OPENBLAS_NUM_THREADS bash "$NC" mpirun --bind-to none -np 3 -H "$h1:2,$h2:1" "$BIN" train spec.json --epochs 1 > threads3.log 2>&1
check "threads: 2 ranks sharing $h1 get 1 each, the lone rank on $h2 gets $lone" \
    grep -q "^hosts: 2 hosts: $h1 (ranks 0-1, 1 BLAS thread each), $h2 (rank 2, $lone BLAS threads\{0,1\})" threads3.log
grep -h '^hosts:' threads.log threads3.log | sed 's/^/    /'

# SIGTERM after epoch 2 (rank 0's test hook): state saved, resume command printed
"$BIN" train spec.json --threads 1 --history full.h5 > full.log 2>&1
ATTNSWEEP_TEST_SIGTERM_EPOCH=2 cl_mpirun -np 2 -H "$h1,$h2" "$BIN" train spec.json --threads 1 \
    --checkpoint ck.h5 --history resumed.h5 > stop.log 2>&1
check "SIGTERM: exits 0 after epoch 2" bash -c "test $? = 0 && grep -q 'stopped by SIGTERM after epoch 2 of 6' stop.log"
cmdline=$(grep -A1 'resume with:' stop.log | tail -1)
say "printed: $cmdline"
keeps_launcher() { [[ $cmdline == *mpirun* && $cmdline == *"-H $h1,$h2 $BIN train"* && $cmdline == *"--checkpoint ck.h5"* ]]; }
check "the resume command keeps the launcher, the hosts and the program" keeps_launcher
cl_exec "$h1" bash -c "$cmdline" > resume.log 2>&1
check "the printed command, run on $h1, resumes and finishes" \
    bash -c "test $? = 0 && grep -q 'resuming from .*ck.h5 after epoch 2 of 6' resume.log"
check "stopped + resumed equals the uninterrupted run within 1e-5" cl_compare history resumed.h5 full.h5 --rtol 1e-5
cl_finish
