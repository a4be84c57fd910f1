#!/usr/bin/env bash
# Search policies against the full grid on the notebook's toy task:
# sweeps/toy-conv-vs-attention.json (20 variants x 30 epochs) as a grid, and as successive
# halving, Hyperband and ASHA with min_epochs MIN (default 3), max_epochs 30, eta 3, by
# val_loss, on P ranks (default 2, 1 BLAS thread each). REPEATS (default 1; the sweep file
# has 3) repeats each run; the metric of a variant is then the repeats' mean.
# GRID=path reuses a finished grid results file of this sweep (its data file, from its
# data_path attribute, is used; its repeats must be REPEATS) instead of training the grid:
# the grid is the expensive part and its curves do not change.
# POLICIES (default "successive_halving hyperband asha") picks the policies to run.
# Prints scripts/search_analysis.py's report: per epoch, the rank correlation of val_loss
# with the grid's final ranking; halving replayed on the grid's curves for every
# min_epochs; Hyperband over random bracket memberships; and for each policy run its
# epochs (fraction of the grid's), the variant it picks (the best of those it trained to
# 30 epochs, by the grid's measure: the repeats' mean of each run's best val_loss) against
# the grid's best, and whether every curve it trained equals the grid's bit for bit. Then
# how busy each rank was (time inside tasks / wall time of the scheduling).
# Usage: [GRID=grid.h5] [REPEATS=n] scripts/bench_search.sh [BIN] [P]   (BIN default build/attnsweep)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/attnsweep}
P=${2:-2}
REPEATS=${REPEATS:-1}
MIN=${MIN:-3}
POLICIES=${POLICIES:-successive_halving hyperband asha}
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "${GRID:-}" ]; then
  data=$(/usr/bin/python3 - "$GRID" "$REPEATS" <<'PY'
import json, os, sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    d = f.attrs["data_path"]
    d = d.decode() if isinstance(d, bytes) else str(d)
    reps = json.loads(f.attrs["sweep_text"]).get("repeats", 1)
if reps != int(sys.argv[2]):
    sys.exit(f"{sys.argv[1]}: the grid has {reps} repeats, REPEATS is {sys.argv[2]}")
if not os.path.exists(d):
    sys.exit(f"{sys.argv[1]}: its data file {d} is gone")
print(os.path.abspath(d))
PY
)
  grid=$GRID
else
  data=$tmp/toy.h5
  "$bin" data toy -o "$data" > /dev/null
  grid=$tmp/grid.h5
fi
/usr/bin/python3 - "$tmp" "$REPEATS" "$data" "$MIN" <<'PY'
import json, sys
tmp, reps, data, lo = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
base = json.load(open("sweeps/toy-conv-vs-attention.json"))
base["data"] = data
base["repeats"] = reps
rung = {"min_epochs": lo, "max_epochs": 30, "eta": 3, "metric": "val_loss", "mode": "min"}
for name, search in (("grid", None), ("successive_halving", rung), ("hyperband", rung), ("asha", rung)):
    d = dict(base)
    if search:
        d["search"] = dict(search, type=name)
    json.dump(d, open(f"{tmp}/{name}.json", "w"))
PY
runs=$POLICIES
[ -n "${GRID:-}" ] || runs="grid $runs"
files=()
for name in $runs; do
  mpirun --bind-to none -np "$P" "$bin" sweep "$tmp/$name.json" -o "$tmp/$name.h5" --threads 1 > "$tmp/$name.log"
  [ "$name" = grid ] || files+=("$tmp/$name.h5")
  echo "$name: $(grep '^busy' "$tmp/$name.log")"
done
/usr/bin/python3 scripts/search_analysis.py "$grid" "${files[@]}" --eta 3 --min-epochs "$MIN"
