#!/bin/bash
# sweep --journal over 3 simulated hosts. OUT is private to hosts 2 and 3 (node-local:
# each sees its own empty copy): --journal shared with -o OUT/res/r.h5 must refuse (exit
# 2, naming rank 1 and its host, before writing anything); --journal auto falls back to
# rank 0 writing every run, says so, and gives the runs of one process bit for bit. The
# project folder is seen by every host: there --journal shared lets each host write its
# own runs' journal files and equals one process too.
. "$(dirname "$0")/cluster_lib.sh"
OUT=$TMP/out
cl_up 3 --private "@2,@3:$OUT"
h1=${CL_HOSTS[0]} h2=${CL_HOSTS[1]}
cl_make_sweep "$TMP/p" 2
cd "$TMP/p" || exit 1
mkdir -p "$OUT/res"
"$BIN" sweep sweep.json -o one.h5 --threads 1 > one.log 2>&1
check "1 process: sweep exits 0" test $? = 0

cl_mpirun -np 3 "$BIN" sweep sweep.json -o "$OUT/res/r.h5" --threads 1 --journal shared > refuse.log 2>&1
rc=$?
check "--journal shared into a node-local folder: exit 2" test $rc = 2
check "the message names rank 1 on $h2 and the folder not every rank sees" \
    grep -q "journal shared: rank 1 on $h2: the folder of $OUT/res/r.h5 is not on a file system every rank sees" refuse.log
[ $rc = 2 ] || sed 's/^/    /' refuse.log
check "nothing was written on $h1 (no results, journal, lock or probe)" test -z "$(ls -A "$OUT/res")"

cl_mpirun -np 3 "$BIN" sweep sweep.json -o "$OUT/res/r.h5" --threads 1 --journal auto > auto.log 2>&1
rc=$?
check "--journal auto into the node-local folder: exits 0" test $rc = 0
[ $rc = 0 ] || sed 's/^/    /' auto.log
check "it says it falls back to rank 0 writing every run" grep -q "^--journal auto: rank 1 on $h2: .*; rank 0 writes every run" auto.log
check "its runs equal one process's bit for bit" cl_compare results one.h5 "$OUT/res/r.h5"

STORE_LOG=$TMP/p/store.log
ATTNSWEEP_STORE_LOG=$STORE_LOG cl_mpirun -np 3 -x ATTNSWEEP_STORE_LOG "$BIN" sweep sweep.json -o shared.h5 --threads 1 --journal shared > shared.log 2>&1
rc=$?
check "--journal shared in the folder every host sees: exits 0" test $rc = 0
[ $rc = 0 ] || sed 's/^/    /' shared.log
check "it says every rank writes its own runs" grep -q "^--journal shared: every rank writes its own runs" shared.log
check "hosts 2 and 3 wrote journal files themselves (store log)" test "$(grep -c '^wput ' "$STORE_LOG" 2>/dev/null)" -gt 0
check "its runs equal one process's bit for bit" cl_compare results one.h5 shared.h5
cl_finish
