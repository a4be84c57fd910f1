#!/usr/bin/python3
"""Outputs never clobber inputs, and failures to store are reported, not crashes: every
output flag of every command refuses a path that is one of its inputs, a symbolic link or
a device (exit 2); permissions of a replaced file are kept; a full disk (a small tmpfs,
as root), a read-only file system and a removed folder give exit 4 naming the path and
the reason, with nothing half-written; a sweep that cannot store stops handing out work;
a sweep whose every run fails exits 3 with the counts; SIGINT stops a sweep like SIGTERM.
Disk-full and read-only cases need root (mount); they are skipped visibly otherwise."""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys

import h5py

BIN = os.environ.get("ATTNSWEEP_BIN", "build/attnsweep")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, temp_path  # noqa: E402
check = Checks(verbose=True)
FIX = os.environ.get("ATTNSWEEP_FIXTURES", os.path.join(os.path.dirname(__file__), "..", "fixtures"))


def run(args, env=None, **kw):
    return subprocess.run([BIN] + args, env=env or ENV, capture_output=True, text=True, timeout=600, **kw)


def digest(path):
    with open(path, "rb") as fh:
        return fh.read()


def wait_stopped(pid):
    import time
    t0 = time.time()
    while time.time() - t0 < 300:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return True
        if state in "ZX":  # it ended instead of stopping at the hook
            return False
        time.sleep(0.01)
    return False


def no_temporaries(folder):
    return [x for x in os.listdir(folder) if ".tmp." in x] if os.path.isdir(folder) else []


def main():
    tmp = temp_path("attnsweep-outputs-")
    data = os.path.join(tmp, "toy.h5")
    check(run(["data", "toy", "--samples", "40", "--test-samples", "2", "-o", data]).returncode == 0,
          "toy data")
    spec = {"data": "toy.h5", "model": [{"type": "conv1d", "filters": 2, "kernel_size": 3},
                                        {"type": "conv1d", "filters": 1, "kernel_size": 3}],
            "train": {"epochs": 1, "batch_size": 16, "validation_split": 0.25}}
    sp = os.path.join(tmp, "spec.json")
    with open(sp, "w") as fh:
        json.dump(spec, fh)
    sweep = dict(spec, grid={"f": [2, 3, 4, 5]}, prediction_samples=2)
    sweep["model"] = [{"type": "conv1d", "filters": "$f", "kernel_size": 3},
                      {"type": "conv1d", "filters": 1, "kernel_size": 3}]
    sw = os.path.join(tmp, "sweep.json")
    with open(sw, "w") as fh:
        json.dump(sweep, fh)
    before = {p: digest(p) for p in (data, sp, sw)}

    # outputs equal to inputs
    for args, what in [(["train", sp, "--history", data], "train --history DATA"),
                       (["train", sp, "--save-weights", sp], "train --save-weights SPEC"),
                       (["train", sp, "--checkpoint", data], "train --checkpoint DATA"),
                       (["train", sp, "--history", os.path.join(tmp, "h.h5"), "--save-weights",
                         os.path.join(tmp, "h.h5")], "train with two outputs on one path"),
                       (["train", sp, "--history", os.path.join(tmp, ".", "h2.h5"), "--save-weights",
                         os.path.join(tmp, "h2.h5")], "train with two outputs on one path, spelled apart"),
                       (["sweep", sw, "-o", sw], "sweep -o SWEEP"),
                       (["sweep", sw, "-o", data], "sweep -o DATA")]:
        r = run(args)
        check(r.returncode == 2 and ("input" in r.stderr or "same path" in r.stderr),
              f"{what}: refused with exit 2 ({r.stderr.strip()[-120:]})")
    tsv = os.path.join(tmp, "a_TRAIN.tsv")
    shutil.copy(os.path.join(FIX, "ucr", "tab_TRAIN.tsv"), tsv)
    t0 = digest(tsv)
    r = run(["data", "ucr", "--train", tsv, "-o", tsv])
    check(r.returncode == 2 and "input" in r.stderr and digest(tsv) == t0,
          "data ucr -o TRAIN.tsv refused, the source unchanged")
    check(all(digest(p) == b for p, b in before.items()), "every input is unchanged")
    res0, w = inference_outputs(tmp, data, sp, sweep)

    # an output in a folder that does not exist: bad input (exit 2) for every command,
    # naming the path given (data and merge said exit 4 and named their temporary file)
    nodir = os.path.join(tmp, "nodir")
    tsv0 = os.path.join(FIX, "ucr", "tab_TRAIN.tsv")
    for args, out in [(["data", "toy", "-o"], "x.h5"), (["data", "ucr", "--train", tsv0, "-o"], "u.h5"),
                      (["train", sp, "--history"], "h.h5"), (["train", sp, "--save-weights"], "w.h5"),
                      (["sweep", sw, "-o"], "r.h5"), (["merge", "-o"], "m.h5"),
                      (["export", res0, "--best", "-o"], "e.json"),
                      (["predict", sp, "--weights", w, "-o"], "p.h5")]:
        path = os.path.join(nodir, out)
        r = run(args + [path] + ([res0] if args[0] == "merge" else []))
        check(r.returncode == 2 and f"{path}: cannot write in '{nodir}'" in r.stderr
              and ".tmp." not in r.stderr and not os.path.exists(nodir),
              f"{args[0]} {args[1]} into a missing folder: exit 2 naming {out} "
              f"({r.returncode}: {r.stderr.strip()[-140:]})")

    # links and devices
    target = os.path.join(tmp, "target.h5")
    with open(target, "wb") as fh:
        fh.write(b"precious")
    link = os.path.join(tmp, "link.h5")
    os.symlink(target, link)
    r = run(["train", sp, "--history", link])
    check(r.returncode == 2 and "symbolic link" in r.stderr and os.path.islink(link)
          and digest(target) == b"precious", "a symbolic link output is refused; link and target kept")
    r = run(["data", "toy", "-o", "/dev/null"])
    check(r.returncode == 2 and "device" in r.stderr and stat.S_ISCHR(os.stat("/dev/null").st_mode),
          "a device output is refused")
    # permissions of a replaced output are kept
    hist = os.path.join(tmp, "hist.h5")
    check(run(["train", sp, "--history", hist]).returncode == 0, "train --history")
    os.chmod(hist, 0o440)
    r = run(["train", sp, "--history", hist])
    check(r.returncode == 0 and stat.S_IMODE(os.stat(hist).st_mode) == 0o440,
          "rewriting it keeps its mode 0440")

    # every run fails: exit 3 with the counts
    bad = dict(sweep)
    bad["model"] = [{"type": "conv1d", "filters": "$f", "kernel_size": 3},
                    {"type": "residual_conv1d", "filters": 9, "kernel_size": 3},
                    {"type": "conv1d", "filters": 1, "kernel_size": 3}]
    bp = os.path.join(tmp, "bad.json")
    with open(bp, "w") as fh:
        json.dump(bad, fh)
    r = run(["sweep", bp, "-o", os.path.join(tmp, "bad.h5")])
    check(r.returncode == 3 and "no run finished ok: 4 failed, 0 diverged" in r.stderr,
          f"a sweep whose every run fails exits 3 with the counts ({r.returncode}: {r.stderr.strip()[-90:]})")

    # no ok run in the results file: exit 3 also for a shard (the other shards' runs are
    # not this file's) and for a resume that retries the failed runs and keeps diverged ones
    fd = dict(spec, repeats=2, grid={"k": [1, 150, 160, 170]})
    fd["model"] = [{"type": "conv1d", "filters": 2, "kernel_size": "$k", "padding": "valid"},
                   {"type": "conv1d", "filters": 1, "kernel_size": 3}]
    fd["train"] = dict(spec["train"], epochs=2, optimizer={"type": "sgd", "learning_rate": 1e6})
    fp = os.path.join(tmp, "fd.json")
    with open(fp, "w") as fh:
        json.dump(fd, fh)
    fres = os.path.join(tmp, "fd.h5")
    for args, what in [(["-o", fres], "a sweep of 6 failed and 2 diverged runs"),
                       (["-o", fres, "--resume"], "its resume (failed runs retried, failing again)"),
                       (["--shard", "0/2", "-o", os.path.join(tmp, "fs0.h5")], "shard 0/2 of it"),
                       (["--shard", "1/2", "-o", os.path.join(tmp, "fs1.h5")], "shard 1/2 of it")]:
        r = run(["sweep", fp, "--threads", "1"] + args)
        check(r.returncode == 3 and "no run finished ok" in r.stderr and "none ok in" in r.stderr,
              f"{what}: exit 3 ({r.returncode}: {r.stderr.strip()[-120:]})")
    with h5py.File(fres, "r") as f:
        st = sorted(x.decode() for x in f["summary"]["status"])
    check(st == ["diverged"] * 2 + ["failed"] * 6, f"the file holds 2 diverged, 6 failed runs: {st}")

    # SIGINT stops like SIGTERM: the running run finishes, the file is packed, resume printed
    out = os.path.join(tmp, "int dir")
    os.mkdir(out)
    res = os.path.join(out, "r.h5")
    p = subprocess.Popen([BIN, "sweep", sw, "-o", res], env=dict(ENV, ATTNSWEEP_TEST_STOP="after-run:1"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(wait_stopped(p.pid), "sweep stopped after its first run (test hook)")
    os.kill(p.pid, signal.SIGINT)
    os.kill(p.pid, signal.SIGCONT)
    so, se = p.communicate(timeout=300)
    with h5py.File(res, "r") as f:
        n = len(f["summary"])
    hint = [l for l in so.splitlines() if "--resume" in l]
    check(p.returncode == 0 and "stopped by SIGINT" in so and n == 1 and hint and "'" + res + "'" in hint[0],
          f"SIGINT: stops after the running run, packs 1 run, prints the resume command quoted ({hint})")
    disk_tests(tmp, sp, sw, tsv, res0, w)
    return check.summary()


def inference_outputs(tmp, data, sp, sweep):
    """predict, export and merge: an output equal to an input (the spec, weights, dataset,
    results file or shard; export's dataset is the one the run recorded), export's two
    outputs on one path, and an empty path for every command: exit 2, nothing written.
    Returns the results file and weights made here (for the read-only checks)."""
    w = os.path.join(tmp, "w.h5")
    check(run(["train", sp, "--save-weights", w]).returncode == 0, "train --save-weights")
    swsave, res0 = os.path.join(tmp, "sweep_w.json"), os.path.join(tmp, "r0.h5")
    with open(swsave, "w") as fh:
        json.dump(dict(sweep, save_weights=True), fh)
    check(run(["sweep", swsave, "-o", res0]).returncode == 0, "a sweep with saved weights")
    before = {p: digest(p) for p in (data, sp, w, res0)}
    e = os.path.join(tmp, "e.json")
    for args, what in [(["predict", sp, "--weights", w, "-o", w], "predict -o WEIGHTS"),
                       (["predict", sp, "--weights", w, "-o", data], "predict -o the spec's DATA"),
                       (["predict", sp, "--weights", w, "--data", data, "-o", sp], "predict -o SPEC"),
                       (["export", res0, "--best", "-o", res0], "export -o RESULTS"),
                       (["export", res0, "--best", "-o", e, "--weights", res0], "export --weights RESULTS"),
                       (["export", res0, "--best", "-o", data], "export -o the run's DATA"),
                       (["export", res0, "--best", "-o", e, "--weights", e], "export -o = --weights"),
                       (["export", res0, "--best", "-o", e, "--weights",
                         os.path.join(tmp, ".", os.path.basename(e))], "export -o = ./--weights"),
                       (["merge", "-o", res0, res0], "merge -o SHARD")]:
        r = run(args)
        check(r.returncode == 2 and ("input" in r.stderr or "same path" in r.stderr),
              f"{what}: refused with exit 2 ({r.stderr.strip()[-120:]})")
    check(all(digest(p) == b for p, b in before.items()) and not os.path.exists(e),
          "predict/export/merge: every input unchanged, nothing written")
    for args in (["data", "toy", "-o", ""], ["train", sp, "--history", ""], ["sweep", swsave, "-o", ""],
                 ["predict", sp, "--weights", w, "-o", ""], ["export", res0, "--best", "-o", ""],
                 ["merge", "-o", "", res0]):
        r = run(args)
        check(r.returncode == 2 and "empty path" in r.stderr,
              f"{args[0]} with an empty output path: exit 2 ({r.returncode}: {r.stderr.strip()[-80:]})")
    return res0, w


def mount_tmpfs(where, size):
    os.makedirs(where, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", where],
                          capture_output=True).returncode == 0


def disk_tests(tmp, sp, sw, tsv, res0, w):
    full = os.path.join(tmp, "full")
    if os.geteuid() != 0 or not mount_tmpfs(full, "64k"):
        print("SKIP: disk-full and read-only tests need root and tmpfs mounts", flush=True)
        return
    try:
        shutil.copy(sp, os.path.join(full, "spec.json"))
        with open(os.path.join(full, "filler"), "wb") as fh:  # leave a little room
            try:
                fh.write(b"\0" * (60 * 1024))
            except OSError:
                pass
        fsp = os.path.join(tmp, "full_spec.json")
        spec = json.load(open(sp))
        spec["data"] = os.path.join(tmp, "toy.h5")
        with open(fsp, "w") as fh:
            json.dump(spec, fh)
        for args, what, outp in [
                (["data", "toy", "--samples", "400", "-o", f"{full}/t.h5"], "data toy", f"{full}/t.h5"),
                (["data", "ucr", "--train", tsv, "-o", f"{full}/u.h5"], "data ucr", f"{full}/u.h5"),
                (["train", fsp, "--history", f"{full}/h.h5"], "train --history", f"{full}/h.h5"),
                (["train", fsp, "--save-weights", f"{full}/w.h5"], "train --save-weights", f"{full}/w.h5"),
                (["train", fsp, "--checkpoint", f"{full}/c.h5"], "train --checkpoint", f"{full}/c.h5"),
                (["sweep", sw, "-o", f"{full}/r.h5"], "sweep -o", f"{full}/r.h5")]:
            r = run(args)
            ok = r.returncode == 4 and "No space left on device" in r.stderr and full in r.stderr
            check(ok and not no_temporaries(full) and (what.startswith("sweep") or not os.path.exists(outp)),
                  f"disk full, {what}: exit 4 naming the path and the reason, nothing half-written "
                  f"({r.returncode}: {r.stderr.strip()[-140:]})")
        # export: the spec cannot be written, so its weights are not either
        fd = os.open(os.path.join(full, "filler2"), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while os.write(fd, b"\0" * 512) > 0:
                pass
        except OSError:
            pass
        os.close(fd)
        ew = os.path.join(tmp, "ew.h5")
        r = run(["export", res0, "--best", "-o", f"{full}/e.json", "--weights", ew])
        check(r.returncode == 4 and "No space left on device" in r.stderr and not os.path.exists(ew)
              and not no_temporaries(full), f"disk full, export: exit 4, neither the spec nor its "
              f"weights written ({r.returncode}: {r.stderr.strip()[-120:]})")
        os.remove(os.path.join(full, "filler2"))
        # a sweep whose disk fills mid-way stops handing out work
        os.remove(os.path.join(full, "filler"))
        big = json.load(open(sw))
        big["data"] = os.path.join(tmp, "toy.h5")
        big["grid"] = {"f": list(range(2, 40))}
        big["attention_samples"] = 0
        bp = os.path.join(tmp, "big.json")
        with open(bp, "w") as fh:
            json.dump(big, fh)
        r = run(["sweep", bp, "-o", f"{full}/big.h5"])
        trained = r.stdout.count("] v0")
        check(r.returncode == 4 and "No space left on device" in r.stderr and trained < 38,
              f"a sweep that cannot store stops handing out work (exit {r.returncode}, {trained} of 38 trained)")
        subprocess.run(["umount", full])
        # read-only file system
        if mount_tmpfs(full, "4m"):
            subprocess.run(["mount", "-o", "remount,ro", full])
            r = run(["train", fsp, "--history", f"{full}/h.h5"])
            check(r.returncode == 4 and "Read-only file system" in r.stderr,
                  f"read-only file system: exit 4 with the reason ({r.stderr.strip()[-100:]})")
            r = run(["sweep", sw, "-o", f"{full}/r.h5"])
            check(r.returncode == 4 and "Read-only file system" in r.stderr, "sweep on a read-only file system: exit 4")
            for args in (["predict", fsp, "--weights", w, "-o", f"{full}/p.h5"],
                         ["export", res0, "--best", "-o", f"{full}/e.json"],
                         ["export", res0, "--best", "-o", os.path.join(tmp, "e2.json"), "--weights",
                          f"{full}/ew.h5"]):
                r = run(args)
                check(r.returncode == 4 and "Read-only file system" in r.stderr,
                      f"{args[0]} to a read-only file system: exit 4 ({r.returncode}: {r.stderr.strip()[-90:]})")
    finally:
        subprocess.run(["umount", full], capture_output=True)
    # the results folder removed mid-sweep
    gone = os.path.join(tmp, "gone")
    os.mkdir(gone)
    p = subprocess.Popen([BIN, "sweep", sw, "-o", f"{gone}/r.h5"], env=dict(ENV, ATTNSWEEP_TEST_STOP="after-run:1"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait_stopped(p.pid):
        shutil.rmtree(gone)
        os.kill(p.pid, signal.SIGCONT)
    so, se = p.communicate(timeout=300)
    check(p.returncode == 4 and "No such file or directory" in se and gone in se and so.count("] v0") <= 2,
          f"results folder removed: exit 4 naming it, no more work handed out ({p.returncode}: {se.strip()[-140:]})")


if __name__ == "__main__":
    sys.exit(main())
