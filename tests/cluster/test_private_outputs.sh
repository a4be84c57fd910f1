#!/bin/bash
# Node-local output folders: OUT is private to hosts 2 and 3 (each sees its own empty
# copy), so OUT/res, made on host 1, does not exist there. Only the writing rank (rank 0,
# host 1) checks and writes outputs: a sweep with -o OUT/res/r.h5 over 3 hosts, and a
# data-parallel train with --history, --save-weights and --checkpoint in OUT/res, both
# succeed and nothing appears on the other hosts. The checkpoint exists on host 1 only:
# rank 0 reads it and broadcasts it, so the resumed training (more epochs) equals an
# uninterrupted one; the same for --init-weights.
. "$(dirname "$0")/cluster_lib.sh"
OUT=$TMP/out
cl_up 3 --private "@2,@3:$OUT"
h1=${CL_HOSTS[0]} h2=${CL_HOSTS[1]} h3=${CL_HOSTS[2]}
cl_make_sweep "$TMP/p"
cl_make_spec "$TMP/p" 5
cd "$TMP/p" || exit 1
mkdir -p "$OUT/res"
check "OUT/res is missing on $h2 and $h3" bash -c "! bash '$NC' exec $h2 test -e '$OUT/res' && ! bash '$NC' exec $h3 test -e '$OUT/res'"

cl_mpirun -np 3 "$BIN" sweep sweep.json -o "$OUT/res/r.h5" --threads 1 > sweep.log 2>&1
rc=$?
check "sweep over 3 hosts into a folder only $h1 has: exits 0" test $rc = 0
[ $rc = 0 ] || sed 's/^/    /' sweep.log
"$BIN" sweep sweep.json -o one.h5 --threads 1 > one.log 2>&1
check "its runs equal one process's bit for bit" cl_compare results one.h5 "$OUT/res/r.h5"

"$BIN" train spec.json --threads 1 --epochs 5 --history full.h5 > full.log 2>&1
cl_mpirun -np 3 "$BIN" train spec.json --threads 1 --epochs 3 --checkpoint "$OUT/res/ck.h5" \
    --history "$OUT/res/h3.h5" --save-weights "$OUT/res/w3.h5" > train.log 2>&1
rc=$?
check "train over 3 hosts with node-local outputs: exits 0" test $rc = 0
[ $rc = 0 ] || sed 's/^/    /' train.log
check "rank 0 wrote the history, weights and checkpoint" test -s "$OUT/res/h3.h5" -a -s "$OUT/res/w3.h5" -a -s "$OUT/res/ck.h5"
cl_mpirun -np 3 "$BIN" train spec.json --threads 1 --epochs 5 --checkpoint "$OUT/res/ck.h5" \
    --history "$OUT/res/h5.h5" > resume.log 2>&1
rc=$?
check "resume from a checkpoint only $h1 has: exits 0" bash -c "test $rc = 0 && grep -q 'resuming from .*ck.h5 after epoch 3 of 5' resume.log"
[ $rc = 0 ] || sed 's/^/    /' resume.log
check "resumed (3 + 2 epochs over 3 hosts) equals 5 epochs in one process within 1e-5" \
    cl_compare history "$OUT/res/h5.h5" full.h5 --rtol 1e-5
cl_mpirun -np 3 "$BIN" train spec.json --threads 1 --epochs 1 --init-weights "$OUT/res/w3.h5" > init.log 2>&1
check "--init-weights only $h1 has (rank 0 reads and broadcasts it): exits 0" test $? = 0
for h in "$h2" "$h3"; do
    check "nothing was written in $h's own OUT" test -z "$(bash "$NC" exec "$h" ls -A "$OUT")"
done
cl_finish
