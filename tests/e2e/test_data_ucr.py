#!/usr/bin/python3
"""e2e: `attnsweep data ucr` on the hand-written fixtures (tests/fixtures/ucr):
layouts, label mapping, class counts printed, merge-shuffle, and every input error
exiting 2 with the file and line named and no output file left behind; a leading UTF-8
byte order mark is skipped; a label outside the 32-bit range and --seed, --samples,
--test-samples out of range name the supported range."""
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
FX = os.path.join(os.environ["ATTNSWEEP_FIXTURES"], "ucr")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, temp_path  # noqa: E402
tmp = temp_path("attnsweep-ucr-")
check = Checks()


def run(*args):
    return subprocess.run([BIN, "data", "ucr", *args], capture_output=True, text=True)


def fx(name):
    return os.path.join(FX, name)


# tab layout, train + test, labels -1/1
out = os.path.join(tmp, "tab.h5")
r = run("--train", fx("tab_TRAIN.tsv"), "--test", fx("tab_TEST.tsv"), "-o", out)
check(r.returncode == 0, f"tab: {r.returncode} {r.stderr}")
check("train: 3 series of length 4; class counts: -1->0: 1, 1->1: 2" in r.stdout, r.stdout)
check("test: 2 series of length 4; class counts: -1->0: 1, 1->1: 1" in r.stdout, r.stdout)
with h5py.File(out) as f:
    check(list(f.attrs["class_labels"]) == [-1, 1], f"class_labels {f.attrs['class_labels']}")
    check(f.attrs["task"] == "classification" and f.attrs["n_classes"] == 2, "task attrs")
    check(f["/train/x"].shape == (3, 4, 1) and f["/train/y"].dtype == np.int32, "shapes")
    ref = np.loadtxt(fx("tab_TRAIN.tsv"), delimiter="\t")
    check(np.array_equal(f["/train/x"][:, :, 0], ref[:, 1:].astype(np.float32)), "train values")
    check(list(f["/train/y"][()]) == [1, 0, 1], f"labels {f['/train/y'][()]}")

# whitespace layout with float labels, comma layout with CRLF
for name, labels in (("space_old.txt", [2, 1]), ("comma_crlf.csv", [3, 1, 3, 2])):
    out = os.path.join(tmp, name + ".h5")
    r = run("--train", fx(name), "-o", out)
    check(r.returncode == 0, f"{name}: {r.returncode} {r.stderr}")
    with h5py.File(out) as f:
        cl = list(f.attrs["class_labels"])
        check(cl == sorted(set(labels)), f"{name}: class_labels {cl}")
        check([cl[k] for k in f["/train/y"][()]] == labels, f"{name}: labels")
        check("test" not in f, f"{name}: unexpected /test")

# merge-shuffle: one split with every row, same seed same order, class totals kept
outs = []
for seed in ("3", "3", "4"):
    out = os.path.join(tmp, f"m{len(outs)}.h5")
    r = run("--train", fx("comma_crlf.csv"), "--test", fx("comma_crlf.csv"), "--merge-shuffle",
            "--seed", seed, "-o", out)
    check(r.returncode == 0, f"merge: {r.stderr}")
    with h5py.File(out) as f:
        check("test" not in f, "merge: /test written")
        outs.append((f["/train/x"][()], f["/train/y"][()]))
check(np.array_equal(outs[0][0], outs[1][0]), "merge: same seed, different order")
check(sorted(outs[0][1].tolist()) == [0, 0, 1, 1, 2, 2, 2, 2], f"merge totals {outs[0][1]}")
ref = np.loadtxt(fx("comma_crlf.csv"), delimiter=",")[:, 1:].astype(np.float32)
rows = sorted(map(tuple, np.concatenate([ref, ref])))
check(sorted(map(tuple, outs[0][0][:, :, 0])) == rows, "merge: rows are not the merged rows")

# errors: exit 2, file and line named, no output file
bad = [("bad_ragged.tsv", ":2:"), ("bad_nan.tsv", ":2:"), ("bad_empty_field.tsv", ":2:"),
       ("bad_token.tsv", ":3:"), ("bad_label.tsv", ":1:"), ("empty.tsv", "empty file"),
       ("missing.tsv", "cannot open")]
one = os.path.join(tmp, "one_class.tsv")
with open(one, "w") as fh:
    fh.write("1\t0.5\t0.25\n1\t0.1\t0.2\n")
r = run("--train", one, "-o", os.path.join(tmp, "one.h5"))
check(r.returncode == 2 and "only one class" in r.stderr and one in r.stderr and
      not os.path.exists(os.path.join(tmp, "one.h5")), f"one class: {r.stderr}")
r = run("--train", fx("tab_TRAIN.tsv"), "--seed", "5", "-o", os.path.join(tmp, "seed.h5"))
check(r.returncode == 2 and "--merge-shuffle" in r.stderr and
      not os.path.exists(os.path.join(tmp, "seed.h5")), f"--seed without --merge-shuffle: {r.stderr}")
for name, want in bad:
    for args in (["--train", fx(name)], ["--train", fx("tab_TRAIN.tsv"), "--test", fx(name)]):
        out = os.path.join(tmp, "bad.h5")
        r = run(*args, "-o", out)
        check(r.returncode == 2, f"{name}: exit {r.returncode}")
        check(fx(name) in r.stderr and want in r.stderr, f"{name}: stderr {r.stderr!r}")
        check(not os.path.exists(out) and not [p for p in os.listdir(tmp) if ".tmp." in p],
              f"{name}: output left behind")
r = run("--train", fx("tab_TRAIN.tsv"), "--test", fx("short_TEST.tsv"), "-o", os.path.join(tmp, "b.h5"))
check(r.returncode == 2 and "short_TEST.tsv:1:" in r.stderr, f"short test: {r.stderr}")
r = run("-o", os.path.join(tmp, "b.h5"))
check(r.returncode == 2 and "--train" in r.stderr, "missing --train")
r = run("--train", fx("tab_TRAIN.tsv"), "--seed", "x", "-o", os.path.join(tmp, "b.h5"))
check(r.returncode == 2, "bad --seed")
for seed in ("18446744073709551616", "-1"):
    r = run("--train", fx("tab_TRAIN.tsv"), "--merge-shuffle", "--seed", seed, "-o", os.path.join(tmp, "b.h5"))
    check(r.returncode == 2 and "--seed must be an integer in 0..18446744073709551615" in r.stderr,
          f"--seed {seed}: the range named: {r.stderr!r}")
for flag, val, want in (("--test-samples", "-1", "0..100000000"), ("--samples", "0", "1..100000000"),
                        ("--seed", "4294967296", "0..4294967295")):
    r = subprocess.run([BIN, "data", "toy", flag, val, "-o", os.path.join(tmp, "t.h5")],
                       capture_output=True, text=True)
    check(r.returncode == 2 and f"{flag} must be an integer in {want}" in r.stderr and
          not os.path.exists(os.path.join(tmp, "t.h5")), f"toy {flag} {val}: the range named: {r.stderr!r}")

# a UTF-8 byte order mark (Windows, Excel) before the first label is skipped
with open(fx("comma_crlf.csv"), "rb") as fh:
    plain = fh.read()
bom = os.path.join(tmp, "bom.csv")
with open(bom, "wb") as fh:
    fh.write(b"\xef\xbb\xbf" + plain)
outs = []
for src in (fx("comma_crlf.csv"), bom):
    out = os.path.join(tmp, os.path.basename(src) + ".bom.h5")
    r = run("--train", src, "-o", out)
    check(r.returncode == 0, f"{src}: {r.stderr}")
    if r.returncode == 0:
        with h5py.File(out) as f:
            outs.append((f["/train/x"][()], f["/train/y"][()], list(f.attrs["class_labels"])))
check(len(outs) == 2 and all(np.array_equal(a, b) for a, b in zip(outs[0], outs[1])),
      "a leading byte order mark: the same dataset as without it")

# labels: the 32-bit range, named when a label is outside it; a non-integer is not an integer
for label, ok, want in (("2147483647", True, ""), ("-2147483648", True, ""),
                        ("3000000000", False, "class label '3000000000' is outside the supported "
                         "range -2147483648..2147483647"),
                        ("-2147483649", False, "outside the supported range"),
                        ("2.5", False, "class label '2.5' is not an integer")):
    src = os.path.join(tmp, "label.tsv")
    with open(src, "w") as fh:
        fh.write(f"1\t0.5\t0.25\n{label}\t0.1\t0.2\n")
    out = os.path.join(tmp, "label.h5")
    if os.path.exists(out):
        os.remove(out)
    r = run("--train", src, "-o", out)
    if ok:
        got = []
        if r.returncode == 0:
            with h5py.File(out) as f:
                got = sorted(int(c) for c in f.attrs["class_labels"])
        check(r.returncode == 0 and got == sorted([1, int(label)]), f"label {label}: {got} {r.stderr}")
    else:
        check(r.returncode == 2 and f"{src}:2: field 1: " in r.stderr and want in r.stderr and
              not os.path.exists(out), f"label {label}: {r.stderr!r}")

sys.exit(check.summary())
