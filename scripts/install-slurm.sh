#!/bin/bash
# install-slurm.sh: a single-node Slurm on localhost from Debian's packages, without
# systemd (for the Slurm test and for trying scripts/slurm/*.sbatch on one machine).
#
#   scripts/install-slurm.sh              install slurmctld slurmd slurm-client munge when
#                                         missing (apt-get, needs root) and create a munge
#                                         key when there is none
#   scripts/install-slurm.sh --start DIR  the above, then write DIR/slurm.conf (from
#                                         tests/slurm/slurm.conf.in), start munged if it is
#                                         not running, slurmctld -D and slurmd -D in the
#                                         background, and wait until the node is idle.
#                                         Prints `export SLURM_CONF=DIR/slurm.conf`.
#   scripts/install-slurm.sh --stop DIR   stop what --start started (pids kept in DIR)
#
# Every wait is bounded (AS_SLURM_START_TIMEOUT seconds, default 60). Free ports are
# picked from 6817 upwards. Exit status 77 when the packages cannot be installed (no
# apt-get, not root, no network): the tests' "skipped" code.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEMPLATE=${AS_SLURM_CONF_TEMPLATE:-$HERE/../tests/slurm/slurm.conf.in}
TIMEOUT=${AS_SLURM_START_TIMEOUT:-60}
log() { echo "install-slurm: $*" >&2; }

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
        log "cannot install ${missing[*]}: needs apt-get and root"
        return 77
    fi
    log "installing ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q "${missing[@]}" >&2; then
        DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q "${missing[@]}" >&2 \
            || { log "apt-get install ${missing[*]} failed"; return 77; }
    fi
}

munge_key() {
    local key=/etc/munge/munge.key
    [ -s "$key" ] && return 0
    log "creating $key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile="$key" || return 1
    else
        dd if=/dev/urandom of="$key" bs=1 count=1024 status=none || return 1
    fi
    chown munge:munge "$key" 2>/dev/null
    chmod 400 "$key"
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munged() {
    local dir=$1 i
    munge_works && return 0
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null
    log "starting munged"
    if id munge >/dev/null 2>&1 && command -v runuser >/dev/null; then
        runuser -u munge -- munged || munged --force || return 1
    else
        munged --force || return 1
    fi
    cat /run/munge/munged.pid > "$dir/munged.pid" 2>/dev/null
    for i in $(seq 50); do munge_works && return 0; sleep 0.2; done
    log "munged does not answer"
    return 1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_conf() {
    local dir=$1 base=6817 cpus mem
    while ! port_free $base || ! port_free $((base + 1)); do
        base=$((base + 10))
        [ $base -gt 7000 ] && { log "no free port pair"; return 1; }
    done
    cpus=$(nproc)
    mem=${AS_SLURM_MEM_MB:-1000}
    mkdir -p "$dir/state" "$dir/spool"
    sed -e "s|@DIR@|$dir|g" -e "s|@CTLD_PORT@|$base|" -e "s|@SLURMD_PORT@|$((base + 1))|" \
        -e "s|@CPUS@|$cpus|" -e "s|@MEM_MB@|$mem|" "$TEMPLATE" > "$dir/slurm.conf" || return 1
}

node_state() { sinfo -h -n localhost -o %t 2>/dev/null | head -1; }

start() {
    local dir=$1 i st
    mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
    munge_key || return 1
    start_munged "$dir" || return 1
    write_conf "$dir" || return 1
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -D -i -f "$SLURM_CONF" >> "$dir/slurmctld.out" 2>&1 &
    echo $! > "$dir/slurmctld.bgpid"
    slurmd -D -N localhost -f "$SLURM_CONF" >> "$dir/slurmd.out" 2>&1 &
    echo $! > "$dir/slurmd.bgpid"
    for i in $(seq $((TIMEOUT * 2))); do
        st=$(node_state)
        case "$st" in
            idle) log "node localhost idle ($(nproc) CPUs, SLURM_CONF=$SLURM_CONF)"
                  echo "export SLURM_CONF=$SLURM_CONF"
                  return 0 ;;
            down*|drain*|fail*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 ;;
        esac
        for d in slurmctld slurmd; do
            if ! kill -0 "$(cat "$dir/$d.bgpid")" 2>/dev/null; then
                log "$d exited; its log:"
                tail -20 "$dir/$d.log" "$dir/$d.out" >&2 2>/dev/null
                return 1
            fi
        done
        sleep 0.5
    done
    log "node not idle after ${TIMEOUT}s (state '$st'); slurmctld log:"
    tail -20 "$dir/slurmctld.log" >&2 2>/dev/null
    return 1
}

stop() {
    local dir=$1 d pid i
    for d in slurmd slurmctld munged; do
        f=$dir/$d.bgpid
        [ "$d" = munged ] && f=$dir/munged.pid
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        kill -TERM "$pid" 2>/dev/null || { rm -f "$f"; continue; }
        for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        rm -f "$f"
        log "stopped $d ($pid)"
    done
}

case "${1:-}" in
    "") install_packages && munge_key ;;
    --start) [ -n "${2:-}" ] || { log "usage: $0 --start DIR"; exit 2; }
             install_packages || exit $?
             start "$2" ;;
    --stop) [ -n "${2:-}" ] || { log "usage: $0 --stop DIR"; exit 2; }
            stop "$2" ;;
    *) log "usage: $0 [--start DIR | --stop DIR]"; exit 2 ;;
esac
