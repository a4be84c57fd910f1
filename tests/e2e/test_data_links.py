#!/usr/bin/python3
"""e2e: a dataset file must hold its data itself: the data hash (SHA-256 of the file's
bytes, in run keys and --resume checks) covers nothing another file holds. /train/x, or
the /train group, as an external link, a soft link (it may lead through an external one),
a dataset with external raw storage or a virtual dataset are refused by train, sweep and
evaluate with exit 2 naming the file and the path; nothing is written. The same data as
plain datasets is accepted (exit 0). Skips (exit 77) without h5py."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, ENV, Checks, need_h5py, temp_dir  # noqa: E402

h5py, np = need_h5py()
check = Checks(verbose=True)
TMP, j = temp_dir("attnsweep-links-")


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600, env=ENV, cwd=TMP)


def copy_attrs(src, dst):
    for k, v in src.attrs.items():
        dst.attrs[k] = v


def make(name, how):
    """A copy of toy.h5 whose /train/x (or /train) is stored as `how` says."""
    with h5py.File(j("toy.h5"), "r") as src, h5py.File(j(name), "w") as f:
        copy_attrs(src, f)
        x, y = src["train/x"][()], src["train/y"][()]
        if how == "external-group":
            with h5py.File(j("other_" + name), "w") as o:
                o["train/x"], o["train/y"] = x, y
            f["train"] = h5py.ExternalLink("other_" + name, "/train")
            return
        f["train/y"] = y
        if how == "plain":
            f["train/x"] = x
        elif how == "external-link":
            with h5py.File(j("other_" + name), "w") as o:
                o["x"] = x
            f["train/x"] = h5py.ExternalLink("other_" + name, "/x")
        elif how == "soft-link":
            f["train/x_data"] = x
            f["train/x"] = h5py.SoftLink("/train/x_data")
        elif how == "external-storage":
            raw = j("raw_" + name)
            x.astype("<f4").tofile(raw)
            f.create_dataset("train/x", shape=x.shape, dtype="<f4",
                             external=[(os.path.basename(raw), 0, x.astype("<f4").nbytes)])
        elif how == "virtual":
            with h5py.File(j("other_" + name), "w") as o:
                o["x"] = x
            layout = h5py.VirtualLayout(shape=x.shape, dtype=x.dtype)
            layout[...] = h5py.VirtualSource("other_" + name, "x", shape=x.shape)
            f.create_virtual_dataset("train/x", layout)


def main():
    check(run("data", "toy", "--samples", "30", "--test-samples", "0", "-o", "toy.h5").returncode == 0,
          "toy data")
    cases = [("plain", None),
             ("external-link", "/train/x: is an external link"),
             ("external-group", "/train: is an external link"),
             ("soft-link", "/train/x: is a soft link"),
             ("external-storage", "/train/x: its values are stored in external files"),
             ("virtual", "/train/x: a virtual dataset")]
    for how, want in cases:
        name = how + ".h5"
        make(name, how)
        spec = {"data": name, "model": [{"type": "conv1d", "filters": "$f", "kernel_size": 3}],
                "train": {"epochs": 1, "batch_size": 10}}
        with open(j(how + ".json"), "w") as fh:
            json.dump(dict(spec, model=[{"type": "conv1d", "filters": 1, "kernel_size": 3}]), fh)
        with open(j(how + "_sweep.json"), "w") as fh:
            json.dump(dict(spec, grid={"f": [1]}, model=spec["model"] + [
                {"type": "conv1d", "filters": 1, "kernel_size": 1}]), fh)
        for cmd in (["train", how + ".json", "--threads", "1", "--save-weights", how + "_w.h5"],
                    ["sweep", how + "_sweep.json", "--threads", "1", "-o", how + "_r.h5"]):
            r = run(*cmd)
            out = cmd[-1]
            if want is None:
                check(r.returncode == 0 and os.path.exists(j(out)),
                      f"{cmd[0]} on {how} data: exit 0 ({r.returncode}: {r.stderr.strip()[-200:]})")
            else:
                check(r.returncode == 2 and f"{name}: {want}" in r.stderr and not os.path.exists(j(out)),
                      f"{cmd[0]} on {how} data: exit 2 naming '{name}: {want}', nothing written "
                      f"({r.returncode}: {r.stderr.strip()[-200:]})")
        if want is not None:
            r = run("evaluate", "plain.json", "--weights", "plain_w.h5", "--data", name)
            check(r.returncode == 2 and f"{name}: {want}" in r.stderr,
                  f"evaluate --data {how}: exit 2 ({r.returncode}: {r.stderr.strip()[-200:]})")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
