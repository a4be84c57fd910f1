#!/usr/bin/env bash
# Search policies against the full grid on the notebook's toy task:
# sweeps/toy-conv-vs-attention.json (20 variants x 30 epochs) as a grid, and as successive
# halving, Hyperband and ASHA with min_epochs 3, max_epochs 30, eta 3, by val_loss, on P ranks
# (default 2, 1 BLAS thread each). REPEATS (default 1; the sweep file has 3) repeats each run.
# Prints per policy: epochs trained (and the fraction of the grid's), the variant it picks
# (the best finished one by mean best val_loss) with the grid's value for that variant
# (same seeds, so the same curve) against the grid's best, and how busy each rank was
# (time inside tasks / wall time of the scheduling, from the sweep's "busy" line).
# Usage: scripts/bench_search.sh [BIN] [P]     (BIN default build/attnsweep)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/attnsweep}
P=${2:-2}
REPEATS=${REPEATS:-1}
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" data toy -o "$tmp/toy.h5" > /dev/null
/usr/bin/python3 - "$tmp" "$REPEATS" <<'PY'
import json, sys
tmp, reps = sys.argv[1], int(sys.argv[2])
base = json.load(open("sweeps/toy-conv-vs-attention.json"))
base["data"] = "toy.h5"
base["repeats"] = reps
rung = {"min_epochs": 3, "max_epochs": 30, "eta": 3, "metric": "val_loss", "mode": "min"}
for name, search in (("grid", None), ("successive_halving", rung), ("hyperband", rung), ("asha", rung)):
    d = dict(base)
    if search:
        d["search"] = dict(search, type=name)
    json.dump(d, open(f"{tmp}/{name}.json", "w"))
PY
for name in grid successive_halving hyperband asha; do
  mpirun --bind-to none -np "$P" "$bin" sweep "$tmp/$name.json" -o "$tmp/$name.h5" --threads 1 > "$tmp/$name.log"
  grep "^busy" "$tmp/$name.log" > "$tmp/$name.busy"
done
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
tmp = sys.argv[1]
def table(name):
    with h5py.File(f"{tmp}/{name}.h5", "r") as f:
        s = f["summary"][:]
        wall = float(f.attrs["wall_seconds"])
    by = {}
    for row in s:
        by.setdefault(int(row["id"]), []).append(row)
    return s, by, wall
gs, gby, gwall = table("grid")
gmean = {v: np.mean([r["best_val_loss"] for r in rows]) for v, rows in gby.items()}
best = min(gmean, key=gmean.get)
gep = int(gs["epochs_run"].sum())
name_of = {int(r["id"]): r["name"].decode() for r in gs}
print(f"grid: {len(gby)} variants, {gep} epochs, best variant {best} ({name_of[best]}) "
      f"best val_loss {gmean[best]:.4f}, wall {gwall:.0f} s")
print(f"{'policy':>20} {'epochs':>7} {'of grid':>8} {'picked':>7} {'its grid val_loss':>18} "
      f"{'vs best':>8} {'wall s':>7}  busy")
for name in ("successive_halving", "hyperband", "asha"):
    s, by, wall = table(name)
    ep = int(s["epochs_run"].sum())
    done = {v: np.mean([r["best_val_loss"] for r in rows]) for v, rows in by.items()
            if all(r["status"].decode() == "ok" and r["epochs_run"] == 30 for r in rows)}
    pick = min(done, key=done.get) if done else None
    gap = gmean[pick] / gmean[best] - 1 if pick is not None else float("nan")
    busy = open(f"{tmp}/{name}.busy").read().strip().split(":", 1)[1]
    print(f"{name:>20} {ep:>7} {ep / gep:>8.1%} {pick:>7} {gmean[pick]:>18.4f} {gap:>+8.1%} "
          f"{wall:>7.0f} {busy}")
# cross-check: successive halving must keep, at each rung, exactly the variants the grid's own
# curves rank best (mean val_loss over repeats at the rung's epoch, ties by run key)
with h5py.File(f"{tmp}/grid.h5", "r") as f:
    curve, key = {}, {}
    for g in f["variants"].values():
        v = int(g.attrs["id"])
        curve.setdefault(v, []).append(g["val_loss"][:])
        key[v] = g.attrs["run_key"]
alive = sorted(curve)
for e in (3, 9, 27):
    alive = sorted(alive, key=lambda v: (np.mean([c[e - 1] for c in curve[v]]), key[v]))
    alive = alive[:max(1, len(alive) // 3)]
def ranks(x):
    r = np.empty(len(x))
    r[np.argsort(x)] = np.arange(len(x))
    return r
vs = sorted(curve)
final = np.array([gmean[v] for v in vs])
for e in (3, 9, 27):
    at = np.array([np.mean([c[e - 1] for c in curve[v]]) for v in vs])
    rho = np.corrcoef(ranks(at), ranks(final))[0, 1]
    print(f"grid: rank correlation of val_loss at epoch {e} with the best val_loss: {rho:+.2f}")
s, by, _ = table("successive_halving")
real = sorted(v for v, rows in by.items() if rows[0]["epochs_run"] == 30)
print(f"halving from the grid's curves keeps {alive} to 30 epochs; the sweep kept {real}: "
      f"{'same' if alive == real else 'DIFFERENT'}")
PY
