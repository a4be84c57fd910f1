#!/usr/bin/python3
"""What early stopping could have done on a finished grid: reads a grid sweep's results file
(every variant trained to its last epoch, any number of repeats) and replays successive
halving and Hyperband on its own curves, exactly as src/sweep/policy_rungs.c decides (rung
metric = the repeats' mean of the metric at the rung's epoch, ties by run key; keep
max(1, floor(n / eta)); Hyperband's brackets and their shares of the variants). A continued
run is bit-identical to one trained straight through, so these replays are what the
policies would train and pick (POLICY files, real runs of them, are checked against it).

Prints:
  - per epoch e: the rank correlation (Spearman) of the variants' mean metric at e with the
    grid's final ranking (the repeats' mean of each run's best value over all epochs), the
    place of the grid's best variant at e, and how well the repeats agree with each other;
  - successive halving for every min_epochs (eta given): epochs as a fraction of the grid's,
    the pick (best of the variants that reach max_epochs, by the grid's measure), its gap to
    the grid's best, and the rung at which the grid's best is stopped;
  - Hyperband: the same for bracket memberships drawn at random (the policy shuffles the
    variants with the search seed), as the share of draws whose pick is within TOL;
  - for each POLICY results file (a halving, Hyperband or ASHA run of the same sweep): its
    epochs, pick and gap, and whether every curve it trained equals the grid's bit for bit.

Usage: scripts/search_analysis.py GRID.h5 [POLICY.h5 ...] [--metric val_loss] [--mode min]
       [--eta 3] [--min-epochs 3] [--tol 0.05] [--goal 0.35] [--draws 2000] [--seed 0]
       [--rung-value last|best|both]
Exit status 2 on bad input, with one line naming the file or the option: a missing or
non-results file, a search's results as GRID (not every run trained to the end), a
--metric no run has (val_accuracy on a regression grid), --eta < 2, --min-epochs < 1 or
more than the grid's epochs, --draws < 4, --tol < 0, --goal outside (0, 1], --seed < 0.
"""
import argparse
import json
import math
import os
import sys

import h5py
import numpy as np


def bad_input(msg):
    """A bad input (file, option): one line on stderr, exit 2."""
    print(f"search_analysis.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def load(path, metric):
    """Curves [variant][repeat] (lists of arrays), run keys, names, epochs run, status.
    A missing or unreadable file, or one without runs, exits 2 naming it."""
    if not os.path.isfile(path):
        bad_input(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        bad_input(f"{path}: not an HDF5 file")
    runs, curves = {}, set()
    try:
        with h5py.File(path, "r") as f:
            if "variants" not in f:
                bad_input(f"{path}: no /variants group: not an attnsweep results file")
            for g in f["variants"].values():
                v, r = int(g.attrs["id"]), int(g.attrs["repeat"])
                st = g.attrs["status"]
                st = st.decode() if isinstance(st, bytes) else str(st)
                curves |= {k for k, d in g.items() if isinstance(d, h5py.Dataset) and d.ndim == 1}
                cur = g[metric][:] if metric in g else np.array([])
                key = g.attrs["run_key"]
                runs[(v, r)] = dict(curve=cur, status=st, key=key.decode() if isinstance(key, bytes) else str(key),
                                    name=str(g.attrs["name"]))
            text = f.attrs.get("sweep_text")
    except (OSError, KeyError) as e:
        bad_input(f"{path}: unreadable as attnsweep results ({e})")
    if not runs:
        bad_input(f"{path}: no runs under /variants")
    if all(len(x["curve"]) == 0 for x in runs.values()):
        bad_input(f"--metric {metric}: no run of {path} has that curve (its curves: "
                  f"{', '.join(sorted(curves)) or 'none'})")
    return runs, json.loads(text) if text is not None else {}


def grid_table(runs, mode, path="grid file"):
    """C [V, R, E] (NaN past a run's end), keys [V], names [V]; exits 2 naming path unless
    every variant and repeat is there, trained ok to the last epoch (a full grid)."""
    vs = sorted({v for v, _ in runs})
    reps = sorted({r for _, r in runs})
    if vs != list(range(len(vs))) or any((v, r) not in runs for v in vs for r in reps):
        bad_input(f"{path}: the variants and repeats do not form a full table (a grid sweep's "
                  "results are needed, not a search's)")
    E = max(len(x["curve"]) for x in runs.values())
    C = np.full((len(vs), len(reps), E), np.nan)
    for (v, r), x in runs.items():
        if x["status"] != "ok" or len(x["curve"]) < E:
            why = ("a search stopped it: a grid sweep's results are needed, not a search's"
                   if x["status"] == "stopped" else
                   "early stopping ended it: the replay needs a grid whose every run trained to "
                   "the last epoch (no train.early_stopping)" if x["status"] == "ok" else
                   "a grid to replay needs every run trained to the end")
            bad_input(f"{path}: run v{v} r{r} is {x['status']} with {len(x['curve'])} of {E} epochs:"
                      f" {why}")
        C[v, r] = x["curve"]
    if mode == "max":
        C = -C  # smaller is better from here on
    keys = [runs[(v, 0)]["key"] for v in vs]
    names = [runs[(v, 0)]["name"] for v in vs]
    return C, keys, names


def ranks(x):
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    return r


def spearman(a, b):
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def final(C):
    """The grid's measure: each run's best over its epochs, the repeats' mean."""
    return C.min(axis=2).mean(axis=1)


def ladder(lo, hi, eta):
    b, x = [], lo
    while x < hi:
        b.append(x)
        x *= eta
    return b + [hi]


def rung_value(C, b, how):
    """The variants' rung metric at budget b: the repeats' mean of the value at epoch b
    (how "last", what the policies do) or of the best value up to b ("best")."""
    return (C[:, :, b - 1] if how == "last" else C[:, :, :b].min(axis=2)).mean(axis=1)


def halving(C, keys, members, budgets, eta, how="last"):
    """policy_rungs.c's synchronous bracket: returns (finishers, epochs trained, stopped
    rung budget per variant)."""
    alive, ep, prev, stop = list(members), 0, 0, {}
    R = C.shape[1]
    for k, b in enumerate(budgets):
        ep += len(alive) * R * (b - prev)
        prev = b
        at = rung_value(C, b, how)
        alive.sort(key=lambda v: (at[v], keys[v]))
        if k == len(budgets) - 1:
            break
        n = max(1, len(alive) // eta)
        for v in alive[n:]:
            stop[v] = b
        alive = alive[:n]
    return alive, ep, stop


def hyperband_brackets(lo, hi, eta, n):
    """policy_rungs.c's hyperband_init: [(budgets, number of variants)] for s = s_max..0."""
    smax, b = 0, lo * eta
    while b <= hi:
        smax, b = smax + 1, b * eta
    want, ladders = [], []
    for k in range(smax + 1):
        sb = smax - k
        want.append(math.ceil((smax + 1) / (sb + 1) * eta ** sb))
        lad = []
        for i in range(sb + 1):
            e = max(lo, int(math.floor(hi / eta ** (sb - i) + 0.5)))
            if not lad or e > lad[-1]:
                lad.append(e)
        ladders.append(lad)
    got = [int(math.floor(w * n / sum(want))) for w in want]
    got[0] += n - sum(got)
    return list(zip(ladders, got))


def pick_of(F, finishers):
    return min(finishers, key=lambda v: F[v]) if finishers else None


def gap(F, p, best):
    """How much worse than the grid's best the pick is, relative (0: the best; NaN: no pick).
    F is in minimising form (negated for mode max), so the gap is never negative."""
    return (F[p] - F[best]) / abs(F[best]) if p is not None else float("nan")


def hyperband(C, keys, perm, brackets, eta, how):
    fin, ep, at = [], 0, 0
    for lad, cnt in brackets:
        f, e, _ = halving(C, keys, perm[at:at + cnt], lad, eta, how)
        fin += f
        ep += e
        at += cnt
    return fin, ep


def correlation_table(C, F, names, sign):
    V, R, E = C.shape
    best = int(np.argmin(F))
    print(f"grid: {V} variants x {R} repeats x {E} epochs; best variant {best} ({names[best]}): "
          f"{sign * F[best]:.4f} (the repeats' mean of each run's best value)")
    if R > 1:
        fb = C.min(axis=2)
        pairs = [spearman(fb[:, i], fb[:, j]) for i in range(R) for j in range(i + 1, R)]
        per = [int(np.argmin(fb[:, r])) for r in range(R)]
        print(f"repeats: rank correlation of one repeat's final ranking with another's: "
              f"{', '.join(f'{p:+.2f}' for p in pairs)}; best variant of each repeat: {per}")
        gaps = []  # the grid itself, re-run with other seeds: pick on one repeat, judge on the rest
        for r in range(R):
            rest = np.delete(fb, r, axis=1).mean(axis=1)
            gaps.append((rest[int(np.argmin(fb[:, r]))] - rest.min()) / abs(rest.min()))
        print(f"repeats: a grid of one repeat picks a variant whose mean over the other repeats is "
              f"{', '.join(f'{g:+.1%}' for g in gaps)} from their best")
        sd = fb.std(axis=1, ddof=1)
        print(f"repeats: std of a run's best value over repeats, median over variants {np.median(sd):.4f} "
              f"(best variant {sd[best]:.4f})")
    print("epoch  rho(mean at e, final)  place of the best (1 = first)")
    for e in range(1, E + 1):
        at = C[:, :, e - 1].mean(axis=1)
        print(f"{e:5d}  {spearman(at, F):+21.2f}  {int(ranks(at)[best]) + 1:4d} of {V}")
    return best


def oracle(C, F, best, how):
    """The cheapest early stopping that ranks by the rung metric and keeps the grid's best:
    after every epoch, cut the survivors to the best's place among them (keeping fewer
    would drop it; keeping more never helps later, as its place among a superset is no
    better). Any halving, Hyperband bracket, ASHA or median rule that ranks runs by the
    metric trains at least this many epochs to end with the best. Returns (epochs, the
    survivors after each epoch)."""
    V, R, E = C.shape
    alive, ep, trace = list(range(V)), 0, []
    for e in range(1, E + 1):
        ep += len(alive) * R
        at = rung_value(C, e, how)
        alive.sort(key=lambda v: at[v])
        alive = alive[:alive.index(best) + 1]
        trace.append(len(alive))
    return ep, trace


def halving_table(C, keys, F, best, eta, tol, goal, how):
    V, R, E = C.shape
    G = V * R * E
    print(f"successive halving, eta {eta}, max_epochs {E}, rung metric: {how} (goal: <= {goal:.0%} of the grid's epochs and "
          f"within {tol:.0%}):")
    print("min_epochs  rungs            epochs  of grid  pick  gap      best stopped at")
    meets = []
    for lo in range(1, E + 1):
        lad = ladder(lo, E, eta)
        fin, ep, stop = halving(C, keys, range(V), lad, eta, how)
        p = pick_of(F, fin)
        g = gap(F, p, best)
        ok = ep <= goal * G and g <= tol
        if ok:
            meets.append(lo)
        print(f"{lo:10d}  {','.join(map(str, lad)):15s} {ep:7d}  {ep / G:7.1%}  {p:4d}  {g:+7.1%}  "
              f"{stop.get(best, '-')!s:>6}{'  meets both' if ok else ''}")
    print(f"successive halving meets both for min_epochs in {meets if meets else 'none'}")
    ep, trace = oracle(C, F, best, how)
    print(f"lower bound: ranking by the rung metric, early stopping that keeps the grid's best trains at "
          f"least {ep} epochs ({ep / G:.1%} of the grid's): it must keep {trace[:E - 1]} variants after "
          f"epochs 1..{E - 1}")


def hyperband_draws(C, keys, F, best, eta, lo, tol, draws, seed, how):
    """Hyperband over random bracket memberships: (brackets, mean epochs, share of draws
    whose pick is within tol, the gaps)."""
    V = C.shape[0]
    br = hyperband_brackets(lo, C.shape[2], eta, V)
    rng = np.random.default_rng(seed)
    hits, eps, gaps = 0, [], []
    for _ in range(draws):
        perm = list(rng.permutation(V))
        fin, ep = hyperband(C, keys, perm, br, eta, how)
        g = gap(F, pick_of(F, fin), best)
        hits += g <= tol
        eps.append(ep)
        gaps.append(g)
    return br, float(np.mean(eps)), hits / draws, gaps


def hyperband_table(C, keys, F, best, eta, lo, tol, draws, seed, how):
    V, R, E = C.shape
    G = V * R * E
    print(f"Hyperband, eta {eta}, rung metric {how}, for every min_epochs: epochs (mean over bracket "
          f"memberships), share of {draws // 4} memberships whose pick is within {tol:.0%}")
    for m in range(1, E + 1):
        br, ep, hit, _ = hyperband_draws(C, keys, F, best, eta, m, tol, draws // 4, seed, how)
        print(f"{m:10d}  {len(br)} brackets  {ep:7.0f}  {ep / G:7.1%}  within {tol:.0%}: {hit:6.1%}")
    br, ep, hit, gaps = hyperband_draws(C, keys, F, best, eta, lo, tol, draws, seed, how)
    eps, hits = [ep], hit * draws
    print(f"Hyperband min_epochs {lo}, eta {eta}, rung metric {how}: brackets {br}; {np.mean(eps):.0f} epochs "
          f"({np.mean(eps) / G:.1%} of the grid's); over {draws} random bracket memberships the pick is "
          f"within {tol:.0%} in {hits / draws:.1%} (median gap {np.median(gaps):+.1%})")
    s0 = br[-1][1]
    print(f"  (the grid's best is within {tol:.0%} when it lands in a bracket that trains it to {E} epochs:"
          f" the last bracket alone holds {s0} of {V}, {s0 / V:.0%})")


def policy_check(path, grid_runs, shape, F, best, metric, sign):
    runs, sweep = load(path, metric)
    search = sweep.get("search", {})
    V, R, E = shape
    ep, same, fin = 0, True, {}
    for (v, r), x in runs.items():
        if (v, r) in grid_runs and grid_runs[(v, r)]["name"] != x["name"]:
            bad_input(f"{path}: variant {v} is {x['name']}, in the grid {grid_runs[(v, r)]['name']}:"
                      " not the same sweep")
        n = len(x["curve"])
        ep += n
        g = grid_runs.get((v, r))
        if g is None or not np.array_equal(x["curve"], g["curve"][:n]):
            same = False
        fin.setdefault(v, []).append(x["status"] == "ok" and n == E)
    done = [v for v, f in fin.items() if all(f)]
    p = pick_of(F, done)
    pick = f"pick {p} ({sign * F[p]:.4f}, {gap(F, p, best):+.1%})" if p is not None else "no pick"
    print(f"{os.path.basename(path)}: {search.get('type', 'grid')}, {ep} epochs ({ep / (V * R * E):.1%} of the "
          f"grid's), {len(done)} variants to {E} epochs, {pick}; every curve equals the grid's (bit for bit): "
          f"{'yes' if same else 'NO'}")


def check_options(ap, a):
    """Every option's range; ap.error prints usage and the option, exit 2."""
    if a.eta < 2:
        ap.error(f"--eta {a.eta}: must be at least 2")
    if a.min_epochs < 1:
        ap.error(f"--min-epochs {a.min_epochs}: must be at least 1 (the first rung's epochs)")
    if not (math.isfinite(a.tol) and a.tol >= 0):
        ap.error(f"--tol {a.tol}: must be a number >= 0")
    if not (a.goal > 0 and a.goal <= 1):
        ap.error(f"--goal {a.goal}: must be a fraction of the grid's epochs in (0, 1]")
    if a.draws < 4:
        ap.error(f"--draws {a.draws}: must be at least 4 (a quarter of them per min_epochs)")
    if a.seed < 0:
        ap.error(f"--seed {a.seed}: must be >= 0")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("grid")
    ap.add_argument("policy", nargs="*")
    ap.add_argument("--metric", default="val_loss",
                    choices=("val_loss", "val_accuracy", "loss", "accuracy"))
    ap.add_argument("--mode", choices=("min", "max"), default="min")
    ap.add_argument("--eta", type=int, default=3)
    ap.add_argument("--min-epochs", type=int, default=3, help="Hyperband's smallest budget")
    ap.add_argument("--tol", type=float, default=0.05)
    ap.add_argument("--goal", type=float, default=0.35, help="halving's epoch budget, a fraction of the grid's")
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rung-value", choices=("last", "best", "both"), default="last",
                    help="rank a rung by the value at its epoch (the policies) or the best so far")
    a = ap.parse_args()
    check_options(ap, a)
    for p in a.policy:  # every file before the long tables
        if not os.path.isfile(p):
            bad_input(f"{p}: no such file")
    grid_runs, _ = load(a.grid, a.metric)
    C, keys, names = grid_table(grid_runs, a.mode, a.grid)
    if a.min_epochs > C.shape[2]:
        ap.error(f"--min-epochs {a.min_epochs}: more than the grid's {C.shape[2]} epochs")
    F = final(C)
    sign = -1 if a.mode == "max" else 1
    best = correlation_table(C, F, names, sign)
    for how in (("last", "best") if a.rung_value == "both" else (a.rung_value,)):
        halving_table(C, keys, F, best, a.eta, a.tol, a.goal, how)
        hyperband_table(C, keys, F, best, a.eta, a.min_epochs, a.tol, a.draws, a.seed, how)
    for p in a.policy:
        policy_check(p, grid_runs, C.shape, F, best, a.metric, sign)


if __name__ == "__main__":
    main()
