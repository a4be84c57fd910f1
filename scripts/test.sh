#!/usr/bin/env bash
# The test command: installs what is missing, builds with -Werror, runs every ctest suite
# (unit, mpi, e2e, slurm, install, cluster), installs into a fresh prefix and runs the main
# job's quick path (scripts/demo.sh) from the installed binary, then rebuilds
# under AddressSanitizer + UBSan and runs the unit, MPI and end-to-end suites again, and
# runs each fuzz target of tests/fuzz for 30 s (scripts/fuzz.sh).
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
  # -O2 -g: the sanitizers' reports keep their lines and the end-to-end training runs at a
  # usable speed (about 7 minutes for the MPI and e2e suites on 2 cores)
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTNSWEEP_WERROR=ON -DATTNSWEEP_SANITIZE=ON
  cmake --build build-asan -j"$jobs"
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    ctest --test-dir build-asan -L unit --output-on-failure --timeout 900
  # the MPI suites and the single-rank end-to-end tests under ASan + UBSan too; Open MPI's
  # own allocations are not ours to fix, so leak detection is off for them
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    ctest --test-dir build-asan -L 'mpi|e2e' --output-on-failure --timeout 900
  # the fuzz targets (tests/fuzz), 30 s each: fails on a crash, sanitizer report, leak or hang
  scripts/fuzz.sh --time 30
fi
