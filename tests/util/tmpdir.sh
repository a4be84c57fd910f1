# tmpdir.sh: sourced by the shell suites (tests/e2e/*.sh, cluster, Slurm, install).
#   as_tmp_done DIR RC [FAILS]   on exit: removes DIR when the suite passed (exit status RC 0
#                                or 77, FAILS 0) and ATTNSWEEP_TEST_KEEP is unset or 0, else
#                                keeps it and prints "kept DIR"
as_tmp_done() {
    local dir=$1 rc=$2 fails=${3:-0}
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    if [ "$fails" = 0 ] && { [ "$rc" = 0 ] || [ "$rc" = 77 ]; } &&
        [ "${ATTNSWEEP_TEST_KEEP:-0}" = 0 ]; then
        rm -rf "$dir"
    else
        echo "kept $dir for inspection (exit $rc, $fails failed)"
    fi
}
