#!/usr/bin/python3
"""e2e: the weights reader refuses weights files that are not the model's, with exit 2
naming the file and the dataset or group path, for evaluate, predict and train
--init-weights (a NaN or infinite value, a negative moving_variance, a layer group whose
`type` attribute is another layer's or missing, a group or dataset the model does not have,
a soft link in place of a layer); the untouched file is accepted (exit 0). The files are
crafted with h5py from a real `train --save-weights`. Skips (exit 77) without h5py."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import BIN, ENV, Checks, need_h5py, temp_dir  # noqa: E402

h5py, np = need_h5py()
check = Checks(verbose=True)
TMP, j = temp_dir("attnsweep-weights-")


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600, env=ENV, cwd=TMP)


def crafted(name, edit):
    path = j(name)
    shutil.copy(j("w.h5"), path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def main():
    check(run("data", "toy", "--samples", "40", "--test-samples", "6", "-o", "toy.h5").returncode == 0,
          "toy data")
    spec = {"data": "toy.h5",
            "model": [{"type": "conv1d", "filters": 3, "kernel_size": 3},
                      {"type": "batch_normalization"},
                      {"type": "activation", "activation": "relu"},
                      {"type": "conv1d", "filters": 1, "kernel_size": 3}],
            "train": {"epochs": 1, "batch_size": 16, "validation_split": 0.25}}
    with open(j("spec.json"), "w") as fh:
        json.dump(spec, fh)
    r = run("train", "spec.json", "--threads", "1", "--save-weights", "w.h5")
    if not check(r.returncode == 0, f"train --save-weights: {r.stderr[-300:]}"):
        return check.summary()

    def setv(name, idx, v):
        def edit(f):
            d = f[name][()]
            d.flat[idx] = v
            f[name][...] = d
        return edit

    def retype(f):
        f["weights/layer_0"].attrs["type"] = "dense"

    def untype(f):
        del f["weights/layer_0"].attrs["type"]

    def extra_group(f):
        f.create_group("weights/layer_9")

    def extra_name(f):
        f.create_group("weights/notes")

    def extra_set(f):
        f["weights/layer_0/bias2"] = np.zeros(3, np.float32)

    def soft(f):
        f["weights/layer_7"] = h5py.SoftLink("/weights/layer_0")

    cases = [
        ("nan.h5", setv("weights/layer_0/kernel", 4, np.nan), "/weights/layer_0/kernel: value 4 is NaN"),
        ("inf.h5", setv("weights/layer_3/bias", 0, -np.inf), "/weights/layer_3/bias: value 0 is infinite"),
        ("var.h5", setv("weights/layer_1/moving_variance", 2, -1.0),
         "/weights/layer_1/moving_variance: value 2 is -1 (a variance must be >= 0)"),
        ("gamma.h5", setv("weights/layer_1/gamma", 1, np.nan), "/weights/layer_1/gamma: value 1 is NaN"),
        ("type.h5", retype, "/weights/layer_0: type 'dense' but model[0] is conv1d"),
        ("untyped.h5", untype, "/weights/layer_0: attribute 'type'"),
        ("group.h5", extra_group, "/weights/layer_9: not a layer of the model"),
        ("name.h5", extra_name, "/weights/notes: not a layer of the model"),
        ("set.h5", extra_set, "/weights/layer_0/bias2: not a weight of model[0] (conv1d)"),
        ("soft.h5", soft, "/weights/layer_7: not a layer of the model"),
    ]
    for name, edit, want in cases:
        path = crafted(name, edit)
        for cmd in (["evaluate", "spec.json", "--weights", name],
                    ["predict", "spec.json", "--weights", name, "-o", "p_" + name],
                    ["train", "spec.json", "--threads", "1", "--init-weights", name,
                     "--save-weights", "t_" + name]):
            r = run(*cmd)
            check(r.returncode == 2 and path.split("/")[-1] in r.stderr and want in r.stderr,
                  f"{cmd[0]} {name}: exit 2 naming '{want}' ({r.returncode}: {r.stderr.strip()[-200:]})")
            check(not os.path.exists(j("p_" + name)) and not os.path.exists(j("t_" + name)),
                  f"{cmd[0]} {name}: nothing written")
    for cmd in (["evaluate", "spec.json", "--weights", "w.h5"],
                ["predict", "spec.json", "--weights", "w.h5", "-o", "p.h5"],
                ["train", "spec.json", "--threads", "1", "--init-weights", "w.h5"]):
        r = run(*cmd)
        check(r.returncode == 0, f"{cmd[0]} with the saved weights: exit 0 ({r.stderr[-200:]})")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
