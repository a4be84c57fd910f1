#!/usr/bin/env bash
# The test command: installs what is missing, builds with -Werror, runs every ctest suite
# (unit, mpi, e2e, slurm, install, cluster), installs into a fresh prefix and runs the main
# job's quick path (scripts/demo.sh) from the installed binary, then rebuilds
# under AddressSanitizer + UBSan and runs the unit suites again.
# Usage: scripts/test.sh [--quick]   (--quick skips the sanitizer pass)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
# python3-torch regenerates reference fixtures (tests/ref); the tests use the committed ones.
scripts/install-deps.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DATTNSWEEP_WERROR=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure --timeout 900
# the main job's quick path, as a newcomer runs it, from a fresh install
prefix=$(mktemp -d /tmp/attnsweep-prefix.XXXXXX)
cmake --install build --prefix "$prefix" > /dev/null
ATTNSWEEP_BIN=$prefix/bin/attnsweep scripts/demo.sh
rm -rf "$prefix"
if [ "$quick" -eq 0 ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DATTNSWEEP_WERROR=ON -DATTNSWEEP_SANITIZE=ON
  cmake --build build-asan -j"$jobs"
  # Open MPI's own allocations are not ours to fix: leaks are checked in the unit suites only.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -L unit --output-on-failure --timeout 900
fi
