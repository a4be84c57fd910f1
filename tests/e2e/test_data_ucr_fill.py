#!/usr/bin/python3
"""e2e: `attnsweep data ucr --fill` and `--length` on the archive's raw files, against numpy.

DodgerLoopDay (missing values written as NaN, one row starting with NaN) and
PickupGestureWiimoteZ (series of 29-361 values, rows padded with NaN at the end to 361)
from ATTNSWEEP_UCR_DIR (skips, exit 77, when absent):
- the default still refuses both (exit 2, FILE:LINE named, no output file);
- --fill interpolate equals numpy.interp over each row's numbers (linear inside, the
  nearest value at the ends); --fill zero puts 0; with --znorm each filled row is
  z-normalised; the count of filled values and the modes are recorded as attributes;
- padding is told from missing values: --fill alone on the padded file is refused as
  variable lengths; --length pad (zeros at the end, to the longest or to N), truncate
  (to the shortest) and resample N (numpy.interp at N evenly spaced points) equal numpy,
  with min_length / max_length recorded; a pad/truncate N that does not fit and bad flag
  values exit 2."""
import os
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:
    print(f"SKIP: python3 lacks numpy/h5py ({e})")
    sys.exit(77)

BIN = os.environ["ATTNSWEEP_BIN"]
UCR = os.environ.get("ATTNSWEEP_UCR_DIR", "")
DODGER = os.path.join(UCR, "DodgerLoopDay", "DodgerLoopDay_%s.tsv")
PICKUP = os.path.join(UCR, "PickupGestureWiimoteZ", "PickupGestureWiimoteZ_%s.tsv")
if not (os.path.exists(DODGER % "TRAIN") and os.path.exists(PICKUP % "TRAIN")):
    print(f"SKIP: DodgerLoopDay / PickupGestureWiimoteZ not under ATTNSWEEP_UCR_DIR='{UCR}'")
    sys.exit(77)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, temp_path  # noqa: E402
tmp = temp_path("attnsweep-ucrfill-")
check = Checks()


def run(name, files, *args):
    out = os.path.join(tmp, name + ".h5")
    r = subprocess.run([BIN, "data", "ucr", "--train", files % "TRAIN", "--test", files % "TEST",
                        *args, "-o", out], capture_output=True, text=True)
    return r, out


def raw(files, split):
    return np.genfromtxt(files % split, delimiter="\t")[:, 1:]  # NaN kept


def numbers(row):
    """The row without its NaN padding at the end (up to its last number)."""
    good = np.where(~np.isnan(row))[0]
    return row[:good[-1] + 1]


def interp(row):
    i = np.arange(len(row))
    ok = ~np.isnan(row)
    return np.interp(i, i[ok], row[ok])


def znorm(v):
    sd = v.std()
    return np.zeros_like(v) if np.all(v == v[0]) else (v - v.mean()) / sd


def close(got, want, what, tol=2e-6):
    ok = got.shape == want.shape
    err = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1.0))) if ok else np.inf
    check(ok and err <= tol, f"{what}: shape {got.shape} vs {want.shape}, max rel err {err:.2e}")


def refused(r, out, what, needle):
    check(r.returncode == 2, f"{what}: exit {r.returncode} (want 2): {r.stderr}")
    check(needle in r.stderr, f"{what}: message {r.stderr!r} lacks {needle!r}")
    check(not os.path.exists(out), f"{what}: output left behind")


# ---- defaults refuse both
r, out = run("d0", DODGER)
refused(r, out, "dodger default", "DodgerLoopDay_TRAIN.tsv:17: field 91 is NaN (a missing value, or")
r, out = run("p0", PICKUP)
refused(r, out, "pickup default", "PickupGestureWiimoteZ_TRAIN.tsv:1: field 326 is NaN (a missing value, or the padding of a shorter series: --fill imports missing values, --length pad|truncate")

# ---- DodgerLoopDay: missing values
for mode, extra in (("interpolate", []), ("zero", []), ("interpolate", ["--znorm"])):
    r, out = run(f"d_{mode}{len(extra)}", DODGER, "--fill", mode, *extra)
    if not check(r.returncode == 0, f"dodger --fill {mode} {extra}: {r.stderr}"):
        continue
    with h5py.File(out) as f:
        n_missing = 0
        for split in ("TRAIN", "TEST"):
            x = raw(DODGER, split)
            n_missing += int(np.isnan(x).sum())
            want = np.array([interp(v) if mode == "interpolate" else np.nan_to_num(v, nan=0.0)
                             for v in x])
            if extra:
                want = np.array([znorm(v) for v in want])
            close(f[f"/{split.lower()}/x"][:, :, 0].astype(np.float64), want,
                  f"dodger {mode} {extra} {split}")
        check(f.attrs["fill"] == mode, f"fill attribute {f.attrs['fill']}")
        check(int(f.attrs["missing_values"]) == n_missing,
              f"missing_values {f.attrs['missing_values']} vs numpy {n_missing}")
        check(f.attrs["length_mode"] == "none", "length_mode none")
        check(int(f.attrs["min_length"]) == int(f.attrs["max_length"]) == 288, "lengths 288")
        check("filled %d missing values (%s)" % (n_missing, mode) in r.stdout, r.stdout)
# the row that starts with NaN takes its first number (nearest value at the end)
x = raw(DODGER, "TRAIN")
lead = int(np.where(np.isnan(x[:, 0]))[0][0])
with h5py.File(os.path.join(tmp, "d_interpolate0.h5")) as f:
    v = f["/train/x"][lead, :, 0]
    first = int(np.where(~np.isnan(x[lead]))[0][0])
    check(np.all(v[:first] == np.float32(x[lead, first])), "leading NaN run holds the first value")

# ---- PickupGestureWiimoteZ: padding is not a missing value
r, out = run("p_fill", PICKUP, "--fill", "interpolate")
refused(r, out, "pickup --fill only", "variable lengths")
rows = {s: [numbers(v) for v in raw(PICKUP, s)] for s in ("TRAIN", "TEST")}
lens = [len(v) for s in rows for v in rows[s]]
lo, hi = min(lens), max(lens)
check(lo == 29 and hi == 361, f"pickup lengths {lo}..{hi}")
cases = [("pad", [], hi, lambda v, n: np.pad(v, (0, n - len(v)))),
         ("pad", ["400"], 400, lambda v, n: np.pad(v, (0, n - len(v)))),
         ("truncate", [], lo, lambda v, n: v[:n]),
         ("resample", ["100"], 100,
          lambda v, n: np.interp(np.linspace(0, len(v) - 1, n), np.arange(len(v)), v))]
for mode, n_arg, n, ref in cases:
    r, out = run(f"p_{mode}{n_arg}", PICKUP, "--length", mode, *n_arg)
    if not check(r.returncode == 0, f"pickup --length {mode} {n_arg}: {r.stderr}"):
        continue
    with h5py.File(out) as f:
        for s in ("TRAIN", "TEST"):
            want = np.array([ref(interp(v), n) for v in rows[s]])
            close(f[f"/{s.lower()}/x"][:, :, 0].astype(np.float64), want, f"pickup {mode} {n_arg} {s}")
        check(f.attrs["length_mode"] == mode and f.attrs["fill"] == "none", "mode attributes")
        check(int(f.attrs["min_length"]) == lo and int(f.attrs["max_length"]) == hi,
              "min/max_length")
        check(f["/train/x"].shape == (50, n, 1), f"shape {f['/train/x'].shape}")
# pad + znorm: each series normalised over its own values, zeros after them
r, out = run("p_padz", PICKUP, "--length", "pad", "--znorm")
if check(r.returncode == 0, f"pickup pad --znorm: {r.stderr}"):
    with h5py.File(out) as f:
        want = np.array([np.pad(znorm(v), (0, hi - len(v))) for v in rows["TRAIN"]])
        close(f["/train/x"][:, :, 0].astype(np.float64), want, "pickup pad znorm", tol=1e-5)

# ---- bad values
for args, needle in ((["--length", "pad", "100"], "--length pad 100: the longest series has 361"),
                     (["--length", "truncate", "30"], "the shortest series has 29"),
                     (["--length", "resample"], "--length resample N needs a length"),
                     (["--length", "resample", "0"], "--length resample N needs a length"),
                     (["--length", "stretch"], "--length must be pad, truncate or resample"),
                     (["--fill", "mean"], "--fill must be interpolate or zero")):
    r, out = run("bad", PICKUP, *args)
    refused(r, out, f"pickup {args}", needle)

sys.exit(check.summary())
