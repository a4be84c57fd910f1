#!/usr/bin/env bash
# The OpenBLAS kernel fix: a weak kernel (simulated with ATTNSWEEP_BLAS_ASSUME_CORE) makes
# attnsweep re-execute itself with OPENBLAS_CORETYPE set to what cpuid supports and say so;
# a kernel the user chose is kept.
set -u
BIN=${ATTNSWEEP_BIN:-build/attnsweep}
source "$(dirname "${BASH_SOURCE[0]}")/../util/tmpdir.sh"
tmp=$(mktemp -d /tmp/attnsweep-sh.XXXXXX)
trap 'as_tmp_done "$tmp" $?' EXIT
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }
if ! grep -qw avx2 /proc/cpuinfo || ! grep -qw fma /proc/cpuinfo; then
  echo "SKIP: this CPU has no AVX2+FMA, so no better OpenBLAS kernel to switch to"; exit 77
fi
"$BIN" data toy --samples 20 --test-samples 0 -o "$tmp/toy.h5" > /dev/null
cat > "$tmp/spec.json" <<'JSON'
{"data": "toy.h5", "model": [{"type": "conv1d", "filters": 1, "kernel_size": 3}],
 "train": {"epochs": 1, "batch_size": 10}}
JSON
out=$(env -u OPENBLAS_CORETYPE ATTNSWEEP_BLAS_ASSUME_CORE=Prescott "$BIN" train "$tmp/spec.json" 2>&1)
check "a weak kernel is replaced by a re-exec" \
  '[[ "$out" == *"re-executed with OPENBLAS_CORETYPE"* && "$out" == *"had loaded Prescott"* ]]'
check "the new kernel is a wide one" '[[ "$out" =~ OpenBLAS\ (Haswell|SkylakeX)\ kernel ]]'
check "training still runs after the re-exec" '[[ "$out" == *"epoch   1/1"* ]]'
out=$(OPENBLAS_CORETYPE=Haswell ATTNSWEEP_BLAS_ASSUME_CORE=Prescott "$BIN" train "$tmp/spec.json" 2>&1)
check "a kernel set by the user is kept" \
  '[[ "$out" != *"re-executed"* && "$out" == *"OpenBLAS Haswell kernel"* ]]'
echo "$(( 4 - fails )) passed, $fails failed"
[ "$fails" -eq 0 ]
