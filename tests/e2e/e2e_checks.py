"""Shared by the end-to-end scripts: records checks, prints each failure as it happens
and, at the end, the closing line "N passed, N failed" that CI reads; kills whole sessions
(Open MPI puts every rank in a process group of its own, so a process-group kill misses them)."""
import atexit
import os
import signal
import sys
import time

# The binary under test and an environment for running it (under mpirun too, as root).
BIN = os.path.abspath(os.environ.get("ATTNSWEEP_BIN", "build/attnsweep"))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")


# The temporary folders of this test (temp_dir): removed when it passes (Checks.summary with
# no failure, or skip), kept and named when it fails or ends before its summary (an
# exception, an early exit); ATTNSWEEP_TEST_KEEP=1 keeps them always.
_TEMP_DIRS = []


def temp_path(prefix):
    """A fresh temporary folder, removed or kept with the test's outcome (see _TEMP_DIRS)."""
    import tempfile
    d = tempfile.mkdtemp(prefix=prefix)
    if not _TEMP_DIRS:
        atexit.register(_keep_temp_dirs, "the test ended before its summary")
        # a SIGTERM (timeout, a killed ctest) exits through atexit, which names the folders
        signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(128 + sig))
    _TEMP_DIRS.append(d)
    return d


def temp_dir(prefix):
    """A fresh temporary folder (temp_path) and a function naming a file in it."""
    d = temp_path(prefix)
    return d, lambda name: os.path.join(d, name)


def _keep_temp_dirs(why):
    for d in _TEMP_DIRS:
        if os.path.isdir(d):
            print(f"kept {d} ({why})", flush=True)
    _TEMP_DIRS.clear()


def _finish_temp_dirs(passed):
    """Removes the test's folders (passed, ATTNSWEEP_TEST_KEEP unset) or keeps and names them."""
    import shutil
    keep = os.environ.get("ATTNSWEEP_TEST_KEEP", "") not in ("", "0")
    if passed and not keep:
        for d in _TEMP_DIRS:
            shutil.rmtree(d, ignore_errors=True)
        _TEMP_DIRS.clear()
    else:
        _keep_temp_dirs("a check failed" if not passed else "ATTNSWEEP_TEST_KEEP")


def skip(why):
    """A visible skip (exit 77) that removes the test's folders."""
    print(f"SKIP: {why}", flush=True)
    _finish_temp_dirs(True)
    sys.exit(77)


def need_h5py():
    """(h5py, numpy), or a visible skip (exit 77) when python3 lacks them."""
    try:
        import h5py
        import numpy
    except ImportError as e:  # pragma: no cover
        skip(f"python3 lacks numpy/h5py ({e})")
    return h5py, numpy


def train_json(spec, path, *flags):
    """Writes spec (a dict) to path and runs `attnsweep train path --threads 1 flags`."""
    import json
    import subprocess
    with open(path, "w") as fh:
        json.dump(spec, fh)
    return subprocess.run([BIN, "train", path, "--threads", "1", *flags], capture_output=True,
                          text=True, timeout=600)


def h5_weights(path, group="weights"):
    """Every dataset under group of an HDF5 file (a weights file), keyed by its path there."""
    import h5py
    out = {}
    with h5py.File(path, "r") as f:
        f[group].visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def h5_history(path):
    """(datasets, attributes) of a `train --history` file."""
    import h5py
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f.keys()}, dict(f.attrs)


class Checks:
    def __init__(self, verbose=False):
        self.passed = 0
        self.failed = []
        self.verbose = verbose

    def __call__(self, cond, what):
        """Records one check; returns its truth so callers can branch on it."""
        if cond:
            self.passed += 1
            if self.verbose:
                print("ok   " + what, flush=True)
        else:
            self.failed.append(what)
            print("FAIL: " + what, flush=True)
        return bool(cond)

    def summary(self):
        """Prints the closing line and returns the exit status (0 when all passed); removes
        the test's temporary folders when all passed, else keeps them and names them."""
        print(f"{self.passed} passed, {len(self.failed)} failed", flush=True)
        _finish_temp_dirs(not self.failed)
        return 1 if self.failed else 0


def session_pids(sid):
    """The live (non-zombie) processes of session sid."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                if int(fields[3]) == sid and fields[0] != "Z":
                    pids.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return pids


def _remove_mpi_session_dirs(pids):
    """Open MPI's session directories of killed processes (TMPDIR/ompi.NODE.UID/pid.PID:
    an mpirun killed by SIGKILL cannot remove its own)."""
    import shutil
    import tempfile
    base = os.path.join(tempfile.gettempdir(), "ompi.%s.%d" % (os.uname().nodename.split(".")[0],
                                                              os.getuid()))
    for pid in pids:
        shutil.rmtree(os.path.join(base, "pid.%d" % pid), ignore_errors=True)


def signal_session(sid, sig):
    """Sends sig to every live process of session sid (Open MPI ranks are process groups of
    their own: a process-group signal misses them); returns how many it reached."""
    n = 0
    for pid in session_pids(sid):
        try:
            os.kill(pid, sig)
            n += 1
        except ProcessLookupError:
            pass
    return n


def kill_session(sid):
    """SIGKILLs every process of session sid until none is left (then removes their Open MPI
    session directories); returns survivors."""
    killed = set()
    for _ in range(200):
        pids = session_pids(sid)
        if not pids:
            _remove_mpi_session_dirs(killed)
            return []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    return session_pids(sid)


def sine_classes(path, n, n_test, T, k, seed, noise, sort=False):
    """Writes a k-class dataset to path: class c is sin(2 pi (c+1) t) over T steps plus
    Gaussian noise of std `noise`; n training series labelled i % k (sorted by class when
    sort), n_test test series of random classes (seeded)."""
    import h5py
    import numpy as np
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, T)
    base = np.stack([np.sin(2 * np.pi * (c + 1) * t) for c in range(k)])
    y = np.arange(n) % k
    if sort:
        y = np.sort(y)
    ty = rng.integers(0, k, n_test)
    with h5py.File(path, "w") as f:
        f.attrs["task"] = "classification"
        f.attrs["n_classes"] = np.int32(k)
        f["train/x"] = (base[y] + noise * rng.standard_normal((n, T)))[:, :, None].astype(np.float32)
        f["train/y"] = y.astype(np.int32)
        f["test/x"] = (base[ty] + noise * rng.standard_normal((n_test, T)))[:, :, None].astype(np.float32)
        f["test/y"] = ty.astype(np.int32)


def small_grid_sweep(p, run):
    """Writes p("toy.h5") (48 toy series, `run` the CLI runner) and p("q.json"), a grid of 3
    tiny conv/attention variants x 2 repeats (2 epochs; tests give --epochs); returns the
    sweep file's path."""
    import json
    rc = run(["data", "toy", "--samples", "48", "--test-samples", "4", "-o", p("toy.h5")]).returncode
    if rc != 0:
        raise RuntimeError(f"data toy exited {rc}")
    sweep = {"data": "toy.h5",
             "model": [{"type": "conv1d", "filters": 2, "kernel_size": 3, "activation": "relu"}, "$block",
                       {"type": "conv1d", "filters": 1, "kernel_size": 3}],
             "train": {"epochs": 2, "batch_size": 16, "validation_split": 0.25,
                       "optimizer": {"type": "adam", "learning_rate": 0.01}},
             "grid": {"block": [{"type": "conv1d", "filters": 2, "kernel_size": 3},
                                {"type": "self_attention", "num_heads": 1, "key_dim": 2},
                                {"type": "conv1d", "filters": 2, "kernel_size": 5}]},
             "repeats": 2, "seed": 3, "attention_samples": 1, "prediction_samples": 1}
    with open(p("q.json"), "w") as f:
        json.dump(sweep, f)
    return p("q.json")
