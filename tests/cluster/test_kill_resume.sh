#!/bin/bash
# kill -9 of one host's rank mid-sweep (test hook ATTNSWEEP_TEST_HOLD_RANK: the rank
# holds in its second run, so the kill lands inside the sweep): the job ends (Open MPI
# aborts the others) within seconds, no rank survives on any host, the results file opens and holds the runs
# finished before the kill; `--resume` over the same 2 hosts completes the sweep, equal
# bit for bit to an uninterrupted one-process sweep.
. "$(dirname "$0")/cluster_lib.sh"
cl_up 2
h1=${CL_HOSTS[0]} h2=${CL_HOSTS[1]}
cl_make_sweep "$TMP/p" 12
cd "$TMP/p" || exit 1
"$BIN" sweep sweep.json -o one.h5 --threads 1 > one.log 2>&1
check "1 process: sweep exits 0" test $? = 0

# rank 1 (host 2) holds in its second run (test hook, passed to the remote rank with -x),
# so the kill certainly lands inside a running sweep, however fast the runs are
setsid bash "$NC" mpirun -np 2 -x ATTNSWEEP_TEST_HOLD_RANK=1 "$BIN" sweep sweep.json -o r.h5 \
    --threads 1 > killed.log 2>&1 &
job=$!
for _ in $(seq 600); do # until rank 1 announces the hold (bounded: 60 s)
    grep -q "^test hook: rank 1 on $h2 holds" killed.log && break
    kill -0 "$job" 2> /dev/null || break
    sleep 0.1
done
n=$(cl_compare runs r.h5)
victim=$(cl_attnsweep_pids "$h2" | head -1)
check "rank 1 holds inside the sweep on $h2 ($n runs stored)" \
    bash -c "grep -q '^test hook: rank 1 on $h2 holds' killed.log && test -n '$victim'"
t0=$SECONDS
[ -n "$victim" ] && kill -9 "$victim"
for _ in $(seq 300); do kill -0 "$job" 2> /dev/null || break; sleep 0.1; done
if kill -0 "$job" 2> /dev/null; then
    fail "the job still runs 30 s after kill -9 of rank 1"
    pkill -9 -s "$job" 2> /dev/null # the whole session (setsid): mpirun and every rank
fi
wait "$job"
rc=$?
check "the job ended (status $rc, non-zero) within $((SECONDS - t0)) s of the kill" test "$rc" != 0
left="$(cl_attnsweep_pids "$h1") $(cl_attnsweep_pids "$h2")"
check "no attnsweep process is left on $h1 or $h2" test -z "${left// /}"
got=$(cl_compare runs r.h5)
check "the results file opens and holds the $got runs stored before the kill" test "$got" -ge 1 -a "$got" -lt 12

cl_mpirun -np 2 "$BIN" sweep sweep.json -o r.h5 --threads 1 --resume > resume.log 2>&1
rc=$?
check "--resume over the 2 hosts exits 0" test $rc = 0
[ $rc = 0 ] || sed 's/^/    /' resume.log
check "--resume trained only the missing runs" grep -q "resume: $got runs already in" resume.log
check "killed + resumed equals the uninterrupted sweep bit for bit" cl_compare results one.h5 r.h5
cl_finish
