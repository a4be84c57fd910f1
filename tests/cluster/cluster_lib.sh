# cluster_lib.sh: sourced by tests/cluster/test_*.sh. Simulated hosts from
# ../shared/tools/netns_cluster.sh (network namespaces with their own host names, Open MPI
# over TCP on a private test subnet, no traffic anywhere else).
#
#   cl_up N [--private HOSTS:DIR]...   N hosts with a fresh name prefix and /24 (retried
#                                      when taken); `down` runs on every exit (trap)
#   cl_mpirun ARGS...                  mpirun on host 1 over the hosts ($CL_H1 ... names)
#   cl_exec HOST CMD...                CMD on HOST (caller's environment and directory)
#   check COND-COMMAND... / ok / fail  checks; the script ends with cl_finish
#
# Skips (exit 77, with the reason on stdout) when the tool, root, ip or unshare is missing.
# Environment (ctest sets it): ATTNSWEEP_BIN, ATTNSWEEP_SRC, AS_PYTHON;
# ATTNSWEEP_NETNS_CLUSTER overrides the tool's path.
set -u
SRC=${ATTNSWEEP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=$(readlink -f "${ATTNSWEEP_BIN:-$SRC/build/attnsweep}")
PY=${AS_PYTHON:-/usr/bin/python3}
NC=${ATTNSWEEP_NETNS_CLUSTER:-$SRC/../shared/tools/netns_cluster.sh}
CL_NAME=$(basename "$0" .sh)
CL_FAILS=0
CL_PASSED=0
CL_T0=$SECONDS
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
# more ranks than this machine's cores: ranks yield instead of busy-polling (see the tool)
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_rmaps_base_oversubscribe=1

say() { echo "$CL_NAME [$((SECONDS - CL_T0)) s]: $*"; }
skip() { say "SKIPPED: $*"; exit 77; }
ok() { CL_PASSED=$((CL_PASSED + 1)); say "ok   $*"; }
fail() { CL_FAILS=$((CL_FAILS + 1)); say "FAIL: $*"; }
# check WHAT CMD...: runs CMD, records ok/fail under WHAT
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

[ -x "$NC" ] || [ -f "$NC" ] || skip "no netns_cluster.sh at $NC (set ATTNSWEEP_NETNS_CLUSTER)"
[ "$(id -u)" = 0 ] || skip "simulated hosts need root (network namespaces)"
command -v ip > /dev/null || skip "no 'ip' (iproute2)"
command -v unshare > /dev/null || skip "no 'unshare' (util-linux)"
[ -x "$BIN" ] || { say "FAIL: ATTNSWEEP_BIN $BIN is not executable"; exit 1; }
command -v mpirun > /dev/null || { say "FAIL: no mpirun"; exit 1; }

TMP=$(mktemp -d /tmp/attnsweep-cluster.XXXXXX)
CL_UP=0
cl_down() {
    if [ "$CL_UP" = 1 ]; then
        flock /tmp/attnsweep-netns.lock bash "$NC" down > /dev/null 2>&1 ||
            { say "FAIL: netns_cluster.sh down (prefix $NC_PREFIX)"; CL_FAILS=$((CL_FAILS + 1)); }
        CL_UP=0
    fi
}
source "$SRC/tests/util/tmpdir.sh"
cl_cleanup() {
    local rc=$1
    cl_down
    as_tmp_done "$TMP" "$rc" "$CL_FAILS"
}
trap 'cl_cleanup $?' EXIT
trap 'say "interrupted"; exit 1' INT TERM HUP

cl_up() { # N [--private HOSTS:DIR]...: host names $CL_H1.. in CL_HOSTS
    local n=$1 try
    shift
    for try in 1 2 3 4 5 6; do
        # a prefix and subnet of our own: tests (and other checkouts) may run at once
        export NC_PREFIX=c$(printf '%04x' $(( (RANDOM * 32768 + RANDOM + $$) % 65536 )) | tr 0-9 g-p)
        export NC_NET=10.$((200 + RANDOM % 50)).$((RANDOM % 256))
        [ -e "/run/netns_cluster/$NC_PREFIX" ] && continue # someone's cluster: never touch it
        local args=() a
        for a in "$@"; do args+=("${a//@/$NC_PREFIX}"); done
        CL_UP=1
        if flock /tmp/attnsweep-netns.lock bash "$NC" up "$n" "${args[@]}" > "$TMP/up.log" 2>&1; then
            CL_HOSTS=()
            local i
            for ((i = 1; i <= n; i++)); do CL_HOSTS+=("$NC_PREFIX$i"); done
            say "up: $n hosts ${CL_HOSTS[*]} on $NC_NET.0/24"
            return 0
        fi
        CL_UP=0
        grep -q 'in use\|exists and is not\|already names' "$TMP/up.log" || break
    done
    cat "$TMP/up.log"
    say "FAIL: netns_cluster.sh up $n"
    CL_FAILS=$((CL_FAILS + 1))
    exit 1
}
cl_mpirun() { bash "$NC" mpirun "$@"; }
cl_exec() { bash "$NC" exec "$@"; }

# the attnsweep processes of a host (from the tool's pid list)
cl_attnsweep_pids() {
    local p
    for p in $(bash "$NC" pids "$1"); do
        [ "$(readlink -f "/proc/$p/exe" 2>/dev/null)" = "$BIN" ] && echo "$p"
    done
}

# compare.py MODE A B [...]: the results/history comparisons (exit 0 when equal)
cl_compare() { "$PY" "$SRC/tests/cluster/compare.py" "$@"; }

cl_finish() {
    say "$CL_PASSED passed, $CL_FAILS failed ($((SECONDS - CL_T0)) s)"
    [ "$CL_FAILS" = 0 ]
    exit $?
}

# cl_make_sweep DIR [EPOCHS]: DIR/toy.h5 (96 toy series, 4 test) and DIR/sweep.json, a grid
# of 6 variants (conv or attention with 1 or 2 heads, two learning rates), repeats 2
cl_make_sweep() {
    local dir=$1 epochs=${2:-3}
    mkdir -p "$dir"
    "$BIN" data toy --samples 96 --test-samples 4 -o "$dir/toy.h5" > /dev/null || { fail "data toy"; exit 1; }
    cat > "$dir/sweep.json" <<JSON
{ "data": "toy.h5",
  "model": [ {"type": "conv1d", "filters": 6, "kernel_size": 5, "activation": "relu"}, "\$block",
             {"type": "conv1d", "filters": 1, "kernel_size": 3} ],
  "train": { "epochs": $epochs, "batch_size": 16, "validation_split": 0.25,
             "optimizer": {"type": "adam", "learning_rate": "\$lr"} },
  "grid": { "block": [ {"type": "conv1d", "filters": 6, "kernel_size": 3, "activation": "relu"},
                       {"type": "self_attention", "num_heads": "\$heads", "key_dim": 4} ],
            "heads": [1, 2], "lr": [0.001, 0.01] },
  "repeats": 2, "seed": 3, "attention_samples": 2, "prediction_samples": 2 }
JSON
}

# cl_make_spec DIR [EPOCHS]: DIR/toy.h5 and DIR/spec.json, a conv + attention model
cl_make_spec() {
    local dir=$1 epochs=${2:-4}
    mkdir -p "$dir"
    [ -e "$dir/toy.h5" ] || "$BIN" data toy --samples 96 --test-samples 4 -o "$dir/toy.h5" > /dev/null ||
        { fail "data toy"; exit 1; }
    cat > "$dir/spec.json" <<JSON
{ "data": "toy.h5",
  "model": [ {"type": "conv1d", "filters": 8, "kernel_size": 5, "activation": "relu"},
             {"type": "self_attention", "num_heads": 2, "key_dim": 4},
             {"type": "conv1d", "filters": 1, "kernel_size": 3} ],
  "train": { "epochs": $epochs, "batch_size": 16, "validation_split": 0.25, "seed": 11 } }
JSON
}
