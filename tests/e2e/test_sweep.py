#!/usr/bin/python3
"""End-to-end sweep tests through the CLI: identical results over 1, 2 and 3 ranks,
failed and diverged variants recorded while the others finish, kill -9 then --resume
equal to an uninterrupted run, resume refusing a changed sweep, ranks_per_variant, bad
grids, the results file read back with h5py, and the summary command."""
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

BIN = os.environ.get("ATTNSWEEP_BIN", "build/attnsweep")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, kill_session, session_pids, temp_path  # noqa: E402
check = Checks(verbose=True)


def run(args, np_=None, timeout=600, **kw):
    cmd = ([ "mpirun", "--bind-to", "none", "-np", str(np_)] if np_ else []) + [BIN] + args
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout, **kw)


def curves(path):
    out = {}
    with h5py.File(path, "r") as f:
        for k, g in f["variants"].items():
            out[k] = {"status": g.attrs["status"], "error": g.attrs["error"],
                      "loss": g["loss"][:] if "loss" in g else None,
                      "val_loss": g["val_loss"][:] if "val_loss" in g else None,
                      "canonical": g.attrs["canonical"]}
    return out


def n_rows(f):
    """Finished runs in /summary (a running sweep's free rows have an empty status)."""
    return sum(1 for st in f["summary"]["status"] if st.split(b"\0")[0])


def wait_stopped_rank(sid, timeout=300):
    """Waits until a process of session sid running attnsweep is stopped (SIGSTOP)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        for pid in session_pids(sid):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    state = fh.read().rsplit(")", 1)[1].split()[0]
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read()
            except OSError:
                continue
            if state == "T" and b"attnsweep" in cmd:
                return True
        time.sleep(0.02)
    return False


def same(a, b, rtol=0.0):
    if set(a) != set(b):
        return False
    for k in a:
        if a[k]["status"] != b[k]["status"]:
            return False
        for c in ("loss", "val_loss"):
            x, y = a[k][c], b[k][c]
            if (x is None) != (y is None):
                return False
            if x is not None and not (np.array_equal(x, y, equal_nan=True) if rtol == 0 else
                                      np.allclose(x, y, rtol=rtol, atol=0, equal_nan=True)):
                return False
    return True


def main():
    tmp = temp_path("attnsweep-sweep-")
    data = os.path.join(tmp, "toy.h5")
    r = run(["data", "toy", "--samples", "120", "--test-samples", "4", "-o", data])
    check(r.returncode == 0, "toy data generated")
    conv = {"type": "conv1d", "filters": 6, "kernel_size": 5, "activation": "relu"}
    sweep = {
        "data": "toy.h5",
        "model": [conv, "$block", {"type": "conv1d", "filters": 1, "kernel_size": 3}],
        "train": {"epochs": 3, "batch_size": 16, "validation_split": 0.25,
                  "optimizer": {"type": "sgd", "learning_rate": "$lr"}},
        "grid": {
            "block": [{"type": "conv1d", "filters": 6, "kernel_size": 3, "activation": "relu"},
                      {"type": "self_attention", "num_heads": "$heads", "key_dim": 4},
                      {"type": "residual_conv1d", "filters": 3, "kernel_size": 3}],
            "heads": [1, 2],
            "lr": [0.001, 1e5]},
        "repeats": 2, "seed": 7, "attention_samples": 2, "prediction_samples": 3,
    }
    sp = os.path.join(tmp, "sweep.json")
    with open(sp, "w") as fh:
        json.dump(sweep, fh, indent=1)

    # dry run lists every variant; the mismatched residual is flagged
    r = run(["sweep", "--dry-run", sp])
    check(r.returncode == 0 and r.stdout.count("\n") >= 9 and "fails:" in r.stdout,
          "dry run lists 8 variants with params and MACs, the bad residual flagged")

    res = {}
    for np_ in (1, 2, 3):
        out = os.path.join(tmp, f"r{np_}.h5")
        r = run(["sweep", sp, "-o", out, "--threads", "1"], np_=np_)
        check(r.returncode == 0, f"sweep over {np_} rank(s) exits 0 ({r.stderr.strip()[-300:]})")
        res[np_] = curves(out)
    c1 = res[1]
    check(len(c1) == 16, f"8 variants x 2 repeats recorded (got {len(c1)})")
    st = [v["status"] for v in c1.values()]
    check(st.count("failed") == 4, "the residual with mismatched channels is recorded as failed (x2 lr x2 repeats)")
    check(st.count("diverged") == 6, "every lr=1e5 variant that builds is recorded as diverged")
    check(st.count("ok") == 6, "the others finish ok")
    bad = [v for v in c1.values() if v["status"] == "failed"]
    check(all("residual_conv1d" in v["error"] and "filters" in v["error"] for v in bad),
          "failure messages name the layer and the problem")
    check(same(res[1], res[2]) and same(res[1], res[3]),
          "curves are bit-identical with -np 1, 2 and 3")
    r = run(["sweep", sp, "-o", os.path.join(tmp, "abs.h5"), "--threads", "1", "--data", data], np_=2)
    check(r.returncode == 0 and same(curves(os.path.join(tmp, "abs.h5")), c1),
          "--data with another spelling of the same file gives the same curves")
    ok = [k for k, v in c1.items() if v["status"] == "ok"]
    check(len({tuple(c1[k]["loss"]) for k in ok}) == len(ok), "repeats and variants differ from each other")

    with h5py.File(os.path.join(tmp, "r2.h5"), "r") as f:
        s = f["summary"][:]
        check(len(s) == 16 and set(s.dtype.names) >= {"id", "repeat", "name", "status", "n_params",
              "epochs_run", "best_epoch", "best_val_loss", "final_val_loss", "best_val_accuracy",
              "train_seconds", "rank", "kept_val_loss", "kept_val_accuracy"},
              "summary table has every column, one row per run")
        check(f.attrs["ranks"] == 2 and len(f.attrs["sweep_sha256"]) == 64 and
              len(f.attrs["data_sha256"]) == 64 and f.attrs["format_version"] == 2 and
              f.attrs["wall_seconds"] > 0 and f.attrs["end_time"] != "",
              "root attributes: ranks, hashes, version, times")
        check(json.loads(f.attrs["sweep_text"]) == sweep, "the sweep file's text is kept")
        okkey = [k for k in f["variants"] if f["variants"][k].attrs["status"] == "ok" and
                 "self_attention" in f["variants"][k].attrs["name"]][0]
        g = f["variants"][okkey]
        a = g["attention/layer_1"][:]
        am = g["attention/layer_1_mean"][:]
        heads = json.loads(g.attrs["config"])["model"][1]["num_heads"]
        check(a.shape == (2, heads, 100, 100) and np.allclose(a.sum(-1), 1, atol=1e-5),
              "attention dump [n, heads, T, T] with rows summing to 1")
        check(np.allclose(am, a.mean(axis=2), atol=1e-6), "attention mean over queries [n, heads, T]")
        check(g["predictions"].shape == (3, 100, 1) and g["pred_inputs"].shape == (3, 100, 1) and
              g.attrs["pred_split"] == "test", "predictions of the first test series with inputs and targets")
        with h5py.File(data, "r") as d:
            check(np.array_equal(g["pred_targets"][:], d["test/y"][:3]), "pred_targets are the test targets")
        check(json.loads(g.attrs["config"])["train"]["optimizer"]["learning_rate"] == 0.001 and
              "heads" in json.loads(g.attrs["params"]), "config and params attributes")

    r = run(["summary", os.path.join(tmp, "r2.h5")])
    check(r.returncode == 0 and "±" in r.stdout and "failed or diverged runs (10)" in r.stdout,
          "summary: repeats as mean ± std, failures listed apart")
    r = run(["summary", os.path.join(tmp, "r2.h5"), "--sort", "best_val_accuracy"])
    check(r.returncode == 2 and "regression" in r.stderr, "summary refuses an accuracy sort on regression")
    r = run(["summary", os.path.join(tmp, "r2.h5"), "--group-by", "nope"])
    check(r.returncode == 2 and "nope" in r.stderr, "summary refuses an unknown axis")
    r = run(["summary", os.path.join(tmp, "r2.h5"), "--csv", "--group-by", "block"])
    check(r.returncode == 0 and r.stdout.startswith("position,id,name,group,family,"), "summary --csv --group-by")

    # kill -9 mid-sweep, then --resume: equal to the uninterrupted run
    out = os.path.join(tmp, "killed.h5")
    ref = os.path.join(tmp, "uninterrupted.h5")
    slow = ["--threads", "1", "--epochs", "40"]
    r = run(["sweep", sp, "-o", ref] + slow, np_=2)
    check(r.returncode == 0, "uninterrupted reference run")
    # the whole job is one session (setsid): rank 0 stops itself after storing its 3rd run
    # (test hook), then every process of the session is killed with SIGKILL
    p = subprocess.Popen(["mpirun", "--bind-to", "none", "-np", "2", BIN, "sweep", sp, "-o", out]
                         + slow, env=dict(ENV, ATTNSWEEP_TEST_STOP="after-run:3"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    check(wait_stopped_rank(p.pid), "rank 0 stopped after storing 3 runs (test hook)")
    survivors = kill_session(p.pid)
    p.wait()
    check(not survivors, f"kill -9 of the whole session leaves no process alive ({survivors})")
    with h5py.File(out, "r") as f:
        got = n_rows(f)
        check(got == 3 and "variants" in f,
              f"after kill -9 mid-sweep the file opens and holds the {got} finished runs")
    stale = out + ".tmp.999999"
    with open(stale, "w") as fh:
        fh.write("half-written")
    r = run(["sweep", sp, "-o", out, "--resume"] + slow, np_=2)
    check(r.returncode == 0 and "resume:" in r.stdout, "--resume finishes the rest")
    check(not os.path.exists(stale) and "removed" in r.stdout, "--resume removes a temporary left by kill -9")
    check(same(curves(out), curves(ref)), "killed + resumed equals the uninterrupted run")
    with h5py.File(out, "r") as f:
        failed_keys = [k for k in f["variants"] if f["variants"][k].attrs["status"] == "failed"]
    r = run(["sweep", sp, "-o", out, "--resume"] + slow, np_=1)
    check(r.returncode == 0 and f"resume: {16 - len(failed_keys)} runs already" in r.stdout and
          f"{len(failed_keys)} to go" in r.stdout, "--resume keeps ok and diverged runs, retries failed ones "
          f"({len(failed_keys)} failed; {[l for l in r.stdout.splitlines() if 'resume' in l]})")
    with h5py.File(out, "r") as f:
        check(f.attrs["ranks"] == 1 and f.attrs["wall_seconds"] > 0, "resume records its rank count")

    # SIGTERM: no new variant starts, running ones finish, the exact resume command is printed
    term = os.path.join(tmp, "term.h5")
    p = subprocess.Popen(["mpirun", "--bind-to", "none", "-np", "2", BIN, "sweep", sp, "-o", term]
                         + slow, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while time.time() - t0 < 120 and p.poll() is None:
        try:
            with h5py.File(term, "r") as f:
                if n_rows(f) >= 1:
                    break
        except Exception:
            pass
        time.sleep(0.05)
    kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
    for k in kids:
        os.kill(int(k), signal.SIGTERM)
    so, se = p.communicate(timeout=300)
    hint = [l.strip() for l in so.splitlines() if "--resume" in l and "attnsweep sweep" in l]
    with h5py.File(term, "r") as f:
        n_term = n_rows(f)
    check(p.returncode == 0 and "stopped by SIGTERM" in so and hint and "--epochs 40" in hint[0]
          and 1 <= n_term < 16, f"SIGTERM stops after the running variants ({n_term} runs kept) "
          "and prints the resume command with its flags")
    if hint:
        args = hint[0].split()
        args = args[[os.path.basename(a) for a in args].index("attnsweep") + 1:]
        r = run(args, np_=2)
        check(r.returncode == 0 and same(curves(term), curves(ref)),
              "the printed resume command completes the sweep, equal to the uninterrupted run")

    # a different dataset: resume refuses unless --force
    other_data = os.path.join(tmp, "toy7.h5")
    run(["data", "toy", "--samples", "120", "--test-samples", "4", "--seed", "7", "-o", other_data])
    r = run(["sweep", sp, "-o", out, "--resume", "--data", other_data] + slow, np_=1)
    check(r.returncode == 2 and "dataset changed" in r.stderr, "resume refuses a changed dataset")
    r = run(["sweep", sp, "-o", out, "--threads", "1"], np_=1)
    check(r.returncode == 2 and "exists" in r.stderr, "an existing results file is not overwritten")

    # a changed sweep file: refused unless --force
    sweep2 = dict(sweep, seed=8)
    with open(sp, "w") as fh:
        json.dump(sweep2, fh)
    r = run(["sweep", sp, "-o", out, "--resume"], np_=1)
    check(r.returncode == 2 and "changed" in r.stderr and "--force" in r.stderr,
          "resume refuses a changed sweep file")
    r = run(["sweep", sp, "-o", out, "--resume", "--force", "--threads", "1"], np_=1)
    check(r.returncode == 0, "--resume --force accepts it")

    # ranks_per_variant 2 over 4 ranks equals 1 rank per variant within float rounding
    small = dict(sweep, repeats=1, seed=7)
    small["grid"] = dict(sweep["grid"], lr=[0.001])
    with open(sp, "w") as fh:
        json.dump(small, fh)
    a, b = os.path.join(tmp, "rpv1.h5"), os.path.join(tmp, "rpv2.h5")
    r1 = run(["sweep", sp, "-o", a, "--threads", "1"], np_=2)
    r2 = run(["sweep", sp, "-o", b, "--threads", "1", "--ranks-per-variant", "2"], np_=4)
    check(r1.returncode == 0 and r2.returncode == 0, "ranks_per_variant sweep runs")
    check(same(curves(a), curves(b), rtol=1e-5), "ranks_per_variant 2 equals 1 within 1e-5")
    with h5py.File(b, "r") as f:
        check(f.attrs["ranks_per_variant"] == 2, "the results file records ranks_per_variant")
    r = run(["sweep", sp, "-o", os.path.join(tmp, "x.h5"), "--ranks-per-variant", "2"], np_=3)
    check(r.returncode == 2 and "does not divide" in r.stderr, "P not divisible by R is an error")

    # save_weights: Keras-shaped weights per run, also without prediction dumps
    ws = json.loads(json.dumps(sweep))
    ws.update(save_weights=True, prediction_samples=0, attention_samples=0, repeats=1)
    ws["grid"] = {"block": [sweep["grid"]["block"][1]], "heads": [2], "lr": [0.001]}
    with open(sp, "w") as fh:
        json.dump(ws, fh)
    wout = os.path.join(tmp, "weights.h5")
    r = run(["sweep", sp, "-o", wout, "--threads", "1"])
    with h5py.File(wout, "r") as f:
        g = f["variants"][f["summary"][0]["key"].decode()]
        w = g["weights"]
        check(r.returncode == 0 and w["layer_0/kernel"].shape == (5, 1, 6) and
              w["layer_1/query_kernel"].shape == (6, 2, 4) and
              w["layer_1/output_kernel"].shape == (2, 4, 6) and w["layer_2/kernel"].shape == (3, 6, 1)
              and "predictions" not in g and "attention" not in g,
              "save_weights writes Keras-shaped weights per run (no dumps asked)")

    # a rank started in another working directory (a host without mpirun's folder) opens
    # rank 0's files: rank 0 resolves the relative paths and sends them as absolute ones
    # (a rank that cannot see the data at all is tested across hosts in tests/cluster)
    other = temp_path("attnsweep-norank-")
    script = (f'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then cd {other}; else cd {tmp}; fi; '
              f'exec {os.path.abspath(BIN)} sweep sweep.json -o lonely.h5 --epochs 1 --threads 1')
    r = subprocess.run(["mpirun", "--bind-to", "none", "-np", "2", "sh", "-c", script], env=ENV,
                       capture_output=True, text=True, timeout=120)
    ref1 = run(["sweep", sp, "-o", f"{tmp}/lonely1.h5", "--epochs", "1", "--threads", "1"])
    check(r.returncode == 0 and ref1.returncode == 0 and not os.path.exists(f"{other}/lonely.h5")
          and same(curves(f"{tmp}/lonely.h5"), curves(f"{tmp}/lonely1.h5")),
          "a rank in another working directory uses rank 0's paths: the sweep completes, "
          "equal to one process")

    # bad grids: exit 2, message naming the key, no results file
    for name, mutate, expect in [
        ("unknown placeholder", lambda s: s["model"].append("$nope"), "nope"),
        ("unused axis", lambda s: s["grid"].update(unused=[1, 2]), "unused"),
        ("empty axis", lambda s: s["grid"].update(heads=[]), "heads"),
        ("bad layer value", lambda s: s["grid"]["block"].append({"type": "conv1d", "filters": 0,
                                                                 "kernel_size": 3}), "filters"),
    ]:
        s = json.loads(json.dumps(sweep))
        mutate(s)
        bp = os.path.join(tmp, "bad.json")
        with open(bp, "w") as fh:
            json.dump(s, fh)
        outp = os.path.join(tmp, "bad.h5")
        r = run(["sweep", bp, "-o", outp])
        check(r.returncode == 2 and expect in r.stderr and "bad.json" in r.stderr and
              not os.path.exists(outp), f"bad grid ({name}) exits 2 naming '{expect}', nothing written")

    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
