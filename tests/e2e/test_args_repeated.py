#!/usr/bin/python3
"""End-to-end test: every command refuses an option that takes one value given twice
(`-o a.h5 -o b.h5`, `--epochs 3 --epochs 5`): exit 2, a message naming the option and both
values, nothing written; they kept the last value silently. Table-driven: each command and
each of its value options, and the table is checked against the commands' --help texts, so
an option added to a command without a row here fails the test. Also: -o and --output are
one option (sweep, merge), a value that looks like an option (`--sort --top`) is a value,
so a --top after it is the first, and a flag without a value (--csv) may repeat."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, ENV, Checks, temp_dir  # noqa: E402

check = Checks(verbose=True)

# command -> {option: (first value, second value)}; each first value is one the command takes
# (it is checked before the second option is read)
TABLE = {
    "data toy": {"-o": ("a.h5", "b.h5"), "--seed": ("1", "2"), "--samples": ("10", "20"),
                 "--test-samples": ("1", "2"), "--noise": ("0.1", "0.2")},
    "data ucr": {"-o": ("a.h5", "b.h5"), "--train": ("A.tsv", "B.tsv"), "--test": ("A.tsv", "B.tsv"),
                 "--seed": ("1", "2"), "--fill": ("zero", "interpolate"),
                 "--length": ("pad", "truncate")},
    "data info": {},
    "train": {"--epochs": ("3", "5"), "--seed": ("1", "2"), "--threads": ("1", "2"),
              "--bucket-kb": ("64", "128"), "--init-weights": ("a.h5", "b.h5"),
              "--save-weights": ("a.h5", "b.h5"), "--checkpoint": ("a.h5", "b.h5"),
              "--history": ("a.h5", "b.h5")},
    "sweep": {"-o": ("a.h5", "b.h5"), "--output": ("a.h5", "b.h5"), "--data": ("a.h5", "b.h5"),
              "--epochs": ("3", "5"), "--threads": ("1", "2"), "--ranks-per-variant": ("1", "2"),
              "--shard": ("0/2", "1/2"), "--journal": ("rank0", "shared")},
    "summary": {"--sort": ("best_val_loss", "test_loss"), "--group-by": ("f", "g"),
                "--top": ("3", "5")},
    "merge": {"-o": ("a.h5", "b.h5")},
    "export": {"--run": ("v0000_r0", "v0001_r0"), "--by": ("val_loss", "val_accuracy"),
               "-o": ("a.json", "b.json"), "--weights": ("a.h5", "b.h5"), "--data": ("a.h5", "b.h5")},
    "predict": {"--weights": ("a.h5", "b.h5"), "--data": ("a.h5", "b.h5"), "--threads": ("1", "2"),
                "--split": ("train", "test"), "-n": ("3", "5"), "--attention": ("1", "2"),
                "-o": ("a.h5", "b.h5")},
    "evaluate": {"--weights": ("a.h5", "b.h5"), "--data": ("a.h5", "b.h5"), "--threads": ("1", "2")},
    "results": {},
}

OPT = re.compile(r"(?<![\w`-])(-[a-z]|--[a-z][a-z-]+)(?:, (--[a-z][a-z-]+))? \[?"
                 r"(?:[A-Z][A-Z0-9_./]*\b|[a-z_]+(?: \[N\])?\|)")
FLAG = re.compile(r"\s+(--[a-z][a-z-]+)\s\s")


def help_value_options(text):
    """The options a help text shows with a value (OPTION METAVAR in its usage and option
    lines), less those it describes as flags (an option line without a metavar)."""
    found, flags = set(), set()
    for line in text.splitlines():
        line = line.replace("mpirun -np P ", "")
        if not re.match(r"\s*(usage:|attnsweep |\[|-)", line):
            continue
        m = FLAG.match(line)
        if m:
            flags.add(m.group(1))
        for m in OPT.finditer(line):
            found.update(x for x in m.groups() if x)
    return found - flags


def helps():
    """command -> its help text (data's sub-commands cut out of `data --help`)."""
    out = {}
    for cmd in ("train", "sweep", "summary", "merge", "export", "predict", "evaluate", "results",
                "data"):
        r = subprocess.run([BIN, cmd, "--help"], env=ENV, capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"{cmd} --help: exit {r.returncode}")
        if cmd != "data":
            out[cmd] = r.stdout
            continue
        toy, rest = r.stdout.split("attnsweep data ucr", 1)
        ucr, info = rest.split("attnsweep data info", 1)
        out["data toy"], out["data ucr"], out["data info"] = toy, "attnsweep data ucr" + ucr, info
    return out


def main():
    tmp, p = temp_dir("attnsweep-args-repeated-")
    for cmd, text in helps().items():
        shown = help_value_options(text)
        check(shown == set(TABLE[cmd]), f"{cmd}: the table's value options are those --help shows "
              f"(missing here: {sorted(shown - set(TABLE[cmd]))}, not in --help: "
              f"{sorted(set(TABLE[cmd]) - shown)})")
    n = 0
    for cmd, opts in TABLE.items():
        for opt, (a, b) in opts.items():
            n += 1
            cwd = p(f"case{n}")
            os.mkdir(cwd)
            args = cmd.split() + [opt, a, opt, b]
            r = subprocess.run([BIN] + args, env=ENV, cwd=cwd, capture_output=True, text=True,
                               timeout=60)
            want = f"attnsweep {cmd}: option {opt} given twice ({a}, {b})"
            check(r.returncode == 2 and want in r.stderr and not os.listdir(cwd),
                  f"{' '.join(args)}: exit 2, '{want}', nothing written (exit {r.returncode}: "
                  f"{r.stderr.strip()}; left {os.listdir(cwd)})")
    for cmd, (x, y) in (("sweep", ("-o", "--output")), ("merge", ("--output", "-o"))):
        r = subprocess.run([BIN, cmd, x, "a.h5", y, "b.h5"], env=ENV, cwd=tmp, capture_output=True,
                           text=True, timeout=60)
        want = f"attnsweep {cmd}: option -o given twice ({x} a.h5, {y} b.h5)"
        check(r.returncode == 2 and want in r.stderr, f"{cmd} {x} a.h5 {y} b.h5: one option, "
              f"'{want}' (exit {r.returncode}: {r.stderr.strip()})")
    r = subprocess.run([BIN, "summary", "--sort", "--top", "--top", "3", "none.h5"], env=ENV, cwd=tmp,
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and "given twice" not in r.stderr and "none.h5" in r.stderr,
          f"summary --sort --top --top 3: --top is --sort's value, the --top after it the first "
          f"(exit {r.returncode}: {r.stderr.strip()})")
    r = subprocess.run([BIN, "summary", "--csv", "--csv", "none.h5"], env=ENV, cwd=tmp,
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and "given twice" not in r.stderr and "none.h5" in r.stderr,
          f"summary --csv --csv: a flag without a value may repeat (exit {r.returncode}: "
          f"{r.stderr.strip()})")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
