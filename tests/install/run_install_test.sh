#!/bin/bash
# run_install_test.sh: `cmake --install` of the build folder into a fresh prefix, then
#  - every installed file is where the README says (binary, library, headers, CMake
#    package with its version file, pkg-config file, Slurm scripts set to this prefix);
#  - the prefix is moved elsewhere (the package files must be relocatable);
#  - a consumer program outside the project is built against it twice, with
#    find_package(attnsweep) and with pkg-config, and both train one epoch of a spec on
#    toy data made by the installed binary: the parameter count and the loss they print
#    equal those `attnsweep train` (the installed binary) prints for the same spec;
#  - find_package(attnsweep 99) is refused (the version file works).
# Environment (ctest sets it): ATTNSWEEP_SRC, ATTNSWEEP_BUILD. Exit 0 pass, 1 fail.
set -u
SRC=${ATTNSWEEP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${ATTNSWEEP_BUILD:-$SRC/build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
FAILS=0
say() { echo "install-test: $*"; }
fail() { say "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { say "ok   $*"; }
TMP=$(mktemp -d /tmp/attnsweep-install.XXXXXX)
source "$SRC/tests/util/tmpdir.sh"
trap 'as_tmp_done "$TMP" $? "$FAILS"' EXIT

stage=$TMP/stage
cmake --install "$BUILD" --prefix "$stage" > "$TMP/install.log" 2>&1 ||
    { cat "$TMP/install.log"; fail "cmake --install"; exit 1; }
ok "cmake --install $BUILD --prefix $stage"
for f in bin/attnsweep lib/libattnsweep.a lib/cmake/attnsweep/attnsweepConfig.cmake \
         lib/cmake/attnsweep/attnsweepConfigVersion.cmake lib/cmake/attnsweep/attnsweepTargets.cmake \
         lib/pkgconfig/attnsweep.pc share/attnsweep/slurm/sweep.sbatch \
         share/attnsweep/slurm/train.sbatch share/attnsweep/report.py share/attnsweep/sweeps/quick.json; do
    [ -e "$stage/$f" ] || fail "$f not installed"
done
[ -x "$stage/bin/attnsweep" ] || fail "bin/attnsweep is not executable"
for h in "$SRC"/include/attnsweep/*.h; do
    cmp -s "$h" "$stage/include/attnsweep/$(basename "$h")" || fail "include/attnsweep/$(basename "$h") not installed"
done
for s in sweep train; do
    grep -qx "AS_INSTALLED_BIN=\"$stage/bin/attnsweep\"" "$stage/share/attnsweep/slurm/$s.sbatch" ||
        fail "the installed $s.sbatch does not default to $stage/bin/attnsweep"
done
[ "$FAILS" = 0 ] && ok "binary, library, $(ls "$stage/include/attnsweep" | wc -l) headers, CMake and pkg-config files, scripts"

# relocatable: everything below runs from another place
prefix=$TMP/moved/prefix
mkdir -p "$TMP/moved" && mv "$stage" "$prefix"
bin=$prefix/bin/attnsweep
"$bin" --version | grep -q '^attnsweep [0-9]' || fail "the installed binary: --version"

"$bin" data toy --samples 64 --test-samples 0 -o "$TMP/toy.h5" > /dev/null || { fail "attnsweep data toy"; exit 1; }
cat > "$TMP/spec.json" <<'EOF'
{ "data": "toy.h5",
  "model": [ {"type": "conv1d", "filters": 8, "kernel_size": 5, "activation": "relu"},
             {"type": "self_attention", "num_heads": 2, "key_dim": 4},
             {"type": "conv1d", "filters": 1, "kernel_size": 3} ],
  "train": { "epochs": 3, "batch_size": 16, "validation_split": 0.25, "seed": 5 } }
EOF
ref=$("$bin" train "$TMP/spec.json" --epochs 1 --threads 1) || fail "installed attnsweep train"
want_params=$(echo "$ref" | sed -n 's/.* \([0-9]*\) parameters;.*/\1/p')
want_loss=$(echo "$ref" | sed -n 's/^epoch *1\/1 *loss \([^ ]*\).*/\1/p')
[ -n "$want_params" ] && [ -n "$want_loss" ] || fail "could not read the parameter count and loss from: $ref"
say "attnsweep train: $want_params parameters, epoch 1 loss $want_loss"

check_consumer() { # how binary
    local out
    out=$("$2" "$TMP/spec.json" 2>&1) || { fail "$1 consumer failed: $out"; return; }
    say "$1 consumer: $out"
    [ "$out" = "consumer: $want_params parameters; epoch 1 loss $want_loss" ] &&
        ok "$1 consumer equals the installed binary" || fail "$1 consumer differs from attnsweep train"
}

if cmake -S "$SRC/tests/install/consumer" -B "$TMP/cb" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_BUILD_TYPE=Release > "$TMP/cmake.log" 2>&1 &&
   cmake --build "$TMP/cb" > "$TMP/build.log" 2>&1; then
    ok "find_package(attnsweep 0.1) + attnsweep::attnsweep builds"
    check_consumer find_package "$TMP/cb/consumer"
else
    cat "$TMP/cmake.log" "$TMP/build.log" 2>/dev/null; fail "the find_package consumer does not build"
fi

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
if flags=$(pkg-config --cflags --libs attnsweep) &&
   cc -std=c11 -o "$TMP/consumer-pc" "$SRC/tests/install/consumer/consumer.c" $flags 2> "$TMP/cc.log"; then
    ok "cc consumer.c \$(pkg-config --cflags --libs attnsweep) builds"
    [ "$(pkg-config --modversion attnsweep)" = "$("$bin" --version | cut -d' ' -f2)" ] ||
        fail "pkg-config --modversion differs from attnsweep --version"
    check_consumer pkg-config "$TMP/consumer-pc"
else
    cat "$TMP/cc.log"; fail "the pkg-config consumer does not build (flags: ${flags:-none})"
fi

mkdir -p "$TMP/v99"
cat > "$TMP/v99/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(v99 LANGUAGES C)
find_package(attnsweep 99 REQUIRED)
EOF
if cmake -S "$TMP/v99" -B "$TMP/v99/b" -DCMAKE_PREFIX_PATH="$prefix" > "$TMP/v99.log" 2>&1; then
    fail "find_package(attnsweep 99) succeeded"
else
    grep -q 'version' "$TMP/v99.log" && ok "find_package(attnsweep 99) is refused by the version file" ||
        fail "find_package(attnsweep 99) failed without a version message"
fi

if [ "$FAILS" != 0 ]; then say "$FAILS failure(s)"; exit 1; fi
say "all checks passed"
