#!/bin/bash
# A host without mpirun's working directory: HIDE is private to host 2 (empty there), and
# mpirun runs in HIDE/run, so Open MPI starts host 2's rank in $HOME. The sweep file, the
# data and the output are given as relative paths (../../p/sweep.json); rank 0 resolves
# them and sends absolute paths, so the sweep completes and equals one process's, and so
# does a data-parallel train. A data file that host 2 cannot see (it lies in HIDE) stops
# every rank with exit 2 and one message naming rank 1, its host and the file.
. "$(dirname "$0")/cluster_lib.sh"
HIDE=$TMP/hide
cl_up 2 --private "@2:$HIDE"
h1=${CL_HOSTS[0]} h2=${CL_HOSTS[1]}
cl_make_sweep "$TMP/p"
cl_make_spec "$TMP/p" 4
mkdir -p "$HIDE/run"
cd "$HIDE/run" || exit 1
check "mpirun's folder is missing on $h2" bash -c "! bash '$NC' exec $h2 test -d '$HIDE/run'"
wd=$(cl_mpirun -np 2 sh -c 'echo "$OMPI_COMM_WORLD_RANK $PWD"' | sort | tail -1)
say "rank 1 starts in: ${wd#* }"
check "so Open MPI starts rank 1 elsewhere" test "${wd#* }" != "$HIDE/run"

cl_mpirun -np 2 "$BIN" sweep ../../p/sweep.json -o r.h5 --threads 1 > sweep.log 2>&1
rc=$?
check "sweep with relative paths over 2 hosts: exits 0" test $rc = 0
[ $rc = 0 ] || sed 's/^/    /' sweep.log
(cd "$TMP/p" && "$BIN" sweep sweep.json -o one.h5 --threads 1 > one.log 2>&1)
check "its runs equal one process's bit for bit" cl_compare results "$TMP/p/one.h5" r.h5

cl_mpirun -np 2 "$BIN" train ../../p/spec.json --threads 1 --history h.h5 > train.log 2>&1
rc=$?
check "data-parallel train with relative paths over 2 hosts: exits 0" test $rc = 0
[ $rc = 0 ] || sed 's/^/    /' train.log
(cd "$TMP/p" && "$BIN" train spec.json --threads 1 --history one_h.h5 > /dev/null 2>&1)
check "its curves equal one process's within 1e-5" cl_compare history h.h5 "$TMP/p/one_h.h5" --rtol 1e-5

cp "$TMP/p/toy.h5" "$HIDE/run/local.h5"
cl_mpirun -np 2 "$BIN" sweep ../../p/sweep.json -o bad.h5 --data local.h5 --threads 1 > bad.log 2>&1
rc=$?
msgs=$(grep -c '^attnsweep' bad.log)
check "data only on $h1: exit 2, one message naming rank 1, $h2 and the file" \
    bash -c "test $rc = 2 && test $msgs = 1 && grep -q '^attnsweep sweep: rank 1 on $h2: .*$HIDE/run/local.h5' bad.log"
grep '^attnsweep' bad.log | sed 's/^/    /'
check "nothing written" test ! -e bad.h5
cl_finish
