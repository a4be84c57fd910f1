#!/bin/bash
# A sweep over 2 simulated hosts (one rank each, Open MPI over TCP) gives bit-identical
# runs to the same sweep in one process; the start-up lines name both hosts and the
# progress lines name the host of each run's rank.
. "$(dirname "$0")/cluster_lib.sh"
cl_up 2
cl_make_sweep "$TMP/p"
cd "$TMP/p" || exit 1
"$BIN" sweep sweep.json -o one.h5 --threads 1 > one.log 2>&1
check "1 process: sweep exits 0" test $? = 0
cl_mpirun -np 2 "$BIN" sweep sweep.json -o two.h5 --threads 1 > two.log 2>&1
rc=$?
check "2 hosts: sweep exits 0" test $rc = 0
[ $rc = 0 ] || sed 's/^/    /' two.log
check "2 hosts: 12 runs bit-identical to 1 process" cl_compare results one.h5 two.h5
h1=${CL_HOSTS[0]} h2=${CL_HOSTS[1]}
check "start-up line names both hosts" grep -q "^hosts: 2 hosts: $h1 (rank 0, 1 BLAS thread), $h2 (rank 1, 1 BLAS thread)" two.log
check "progress lines name the host of rank 1" grep -q "(rank 1 on $h2): " two.log
check "progress lines name the host of rank 0" grep -q "(rank 0 on $h1): " two.log
cl_finish
