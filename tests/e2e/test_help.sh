#!/usr/bin/env bash
# Every command and subcommand takes --help and -h, first or after its other arguments:
# exit 0, its usage on stdout, nothing on stderr (`results pack --help` read --help as
# the results file: exit 2 "--help: no such file").
set -u
BIN=${ATTNSWEEP_BIN:-build/attnsweep}
source "$(dirname "${BASH_SOURCE[0]}")/../util/tmpdir.sh"
tmp=$(mktemp -d /tmp/attnsweep-sh.XXXXXX)
trap 'as_tmp_done "$tmp" $?' EXIT
cd "$tmp" || exit 1
fails=0 total=0
cmds=("" "data" "data toy" "data ucr" "data info" "train" "sweep" "summary" "merge" "export"
      "predict" "evaluate" "results" "results pack" "results repair")
args=("" "" "" "--train a_TRAIN.tsv" "x.h5" "spec.json" "sweep.json" "r.h5" "-o m.h5 a.h5"
      "r.h5" "spec.json" "spec.json" "" "r.h5" "r.h5")
for i in "${!cmds[@]}"; do
  for h in --help -h; do
    for where in first last; do
      # shellcheck disable=SC2206
      c=(${cmds[$i]}) a=(${args[$i]})
      if [ $where = first ]; then line=("${c[@]}" "$h" "${a[@]}"); else line=("${c[@]}" "${a[@]}" "$h"); fi
      [ $where = last ] && [ ${#a[@]} = 0 ] && continue
      total=$((total + 1))
      out=$("$BIN" "${line[@]}" 2>"$tmp/err"); rc=$?
      err=$(cat "$tmp/err")
      if [ $rc = 0 ] && [ -z "$err" ] && grep -q "usage" <<< "$out"; then
        echo "ok   attnsweep ${line[*]}"
        [ -z "$(ls -A | grep -v '^err$')" ] || { echo "FAIL: it wrote $(ls)"; fails=$((fails + 1)); }
      else
        echo "FAIL attnsweep ${line[*]}: exit $rc, stderr: $err"; fails=$((fails + 1))
      fi
    done
  done
done
echo "$((total - fails)) passed, $fails failed"
[ $fails = 0 ]
