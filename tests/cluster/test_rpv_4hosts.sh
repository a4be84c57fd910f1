#!/bin/bash
# 4 simulated hosts, one rank each, ranks_per_variant 2: every variant is trained data
# parallel by a group of 2 ranks on 2 hosts (gradients summed over TCP). The runs equal
# those of 2 ranks on one host with ranks_per_variant 2 bit for bit, and their curves
# one process's within 1e-5 (relative).
. "$(dirname "$0")/cluster_lib.sh"
cl_up 4
cl_make_sweep "$TMP/p"
cd "$TMP/p" || exit 1
"$BIN" sweep sweep.json -o one.h5 --threads 1 > one.log 2>&1
check "1 process: sweep exits 0" test $? = 0
mpirun --bind-to none -np 2 "$BIN" sweep sweep.json -o local2.h5 --threads 1 --ranks-per-variant 2 > local2.log 2>&1
check "2 ranks on one host, ranks_per_variant 2: exits 0" test $? = 0
cl_mpirun -np 4 "$BIN" sweep sweep.json -o four.h5 --threads 1 --ranks-per-variant 2 > four.log 2>&1
rc=$?
check "4 hosts, ranks_per_variant 2: exits 0" test $rc = 0
[ $rc = 0 ] || sed 's/^/    /' four.log
check "4 hosts: 4 ranks, 2 per variant" grep -q "4 ranks, 2 per variant" four.log
check "4 hosts: the groups' leaders are ranks 0 and 2" \
    bash -c "grep -q '(rank 0 on ${CL_HOSTS[0]})' four.log && grep -q '(rank 2 on ${CL_HOSTS[2]})' four.log"
check "4 hosts equal 2 ranks on one host bit for bit" cl_compare results local2.h5 four.h5
check "4 hosts: the curves equal 1 process's within 1e-5" cl_compare results one.h5 four.h5 --rtol 1e-5 --curves
cl_finish
