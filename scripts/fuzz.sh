#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, -fsanitize=fuzzer,address,undefined)
# and runs each for a bounded time from seed corpora (sweeps/, tests/fixtures/ucr, the
# shared UCR data, a few generator inputs, the inputs of past findings in
# tests/fuzz/seeds/TARGET), keeping the corpus each run grows in
# BUILD/corpus/TARGET. Fails on any crash, sanitizer report, leak, timeout (> 10 s for
# one input) or memory beyond 2 GB; the input at fault is left in BUILD/artifacts/.
# Usage: scripts/fuzz.sh [--time SECONDS] [--build DIR] [TARGET...]
#   --time   seconds per target (default 600); CI (scripts/test.sh) uses 30
#   TARGET   spec grid ucr dataset checkpoint (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=600
build=build-fuzz
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) secs="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(spec grid ucr dataset checkpoint)
command -v clang >/dev/null || { echo "fuzz.sh: clang is needed (scripts/install-deps.sh)" >&2; exit 1; }

CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTNSWEEP_FUZZ=ON \
  -DBUILD_TESTING=OFF -DATTNSWEEP_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

# seed corpora, regenerated every run (the grown corpus is kept apart)
seeds="$build/seeds"
rm -rf "$seeds"
for t in spec grid ucr dataset checkpoint; do
  mkdir -p "$seeds/$t"
  # the inputs of past findings (tests/fuzz/seeds/TARGET), so every run retries them
  if [ -d "tests/fuzz/seeds/$t" ]; then cp tests/fuzz/seeds/"$t"/* "$seeds/$t/"; fi
done
for f in sweeps/*.json; do
  cp "$f" "$seeds/grid/"
  { printf '\x25\x01\x01\x00'; cat "$f"; } > "$seeds/spec/$(basename "$f")"
done
for f in tests/fixtures/ucr/*; do
  { printf '\x00'; cat "$f"; } > "$seeds/ucr/$(basename "$f")"
done
ucr_dir="${ATTNSWEEP_UCR_DIR:-../shared/data/ucr}"
if [ -d "$ucr_dir" ]; then
  for f in "$ucr_dir"/*/*.tsv; do  # the first rows of each: small seeds fuzz faster
    { printf '\x0b'; head -n 12 "$f"; } > "$seeds/ucr/$(basename "$f")"
  done
fi
for t in dataset checkpoint; do
  head -c 96 /dev/zero > "$seeds/$t/zeros"
  printf '\x01\x04\x04\x01\x05\x03\x01\x00\x00\x07\x00\x00\x02\x06\x01\x00' > "$seeds/$t/small"
  printf '\x00\x05\x05\x01\x02\x07\x01\x9c\x01\x00\x00\x00\x01\x80\x00\x00\x00' > "$seeds/$t/chunked"
done

# scratch files of the targets (HDF5 and text) go to memory when possible
tmp=$(mktemp -d "${TMPDIR:-/dev/shm}/attnsweep-fuzz.XXXXXX" 2>/dev/null || mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$build/artifacts"
export OPENBLAS_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
printf '%-11s %12s %8s %s\n' target executions seconds result
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  log="$build/fuzz_$t.log"
  rc=0
  TMPDIR="$tmp" "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
    "$corpus" "$seeds/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  result=ok
  if [ "$rc" -ne 0 ]; then
    result="FAILED (exit $rc): see $log and $build/artifacts/"
    status=1
    grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5 >&2 || true
  fi
  printf '%-11s %12s %8s %s\n' "$t" "${execs:-?}" "$secs" "$result"
done
exit $status
