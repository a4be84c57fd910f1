#!/usr/bin/python3
"""attnsweep_results: an attnsweep sweep results file as a table, in one line.

    import sys; sys.path.insert(0, "scripts")
    import attnsweep_results as ar
    df = ar.load("results/trace.h5")          # one row per run (pandas.DataFrame)
    vl = ar.curves("results/trace.h5", "val_loss")   # one column per run, index epoch

Needs Debian's python3-numpy and python3-h5py; pandas (python3-pandas) is optional:
without it load() returns a dict of numpy columns (same names, same order) and curves()
a dict {run key: numpy array}.

Columns of load(), one row per run (variant, repeat) in the order (id, repeat):
  key            the run's group under /variants: its run key (64 hex digits; v0003_r1
                 in files of format 1)
  id, repeat     variant index (expansion order), repeat index
  name           the variant's short name (the grid values)
  family         attention / residual / attention+residual / conv / ... (family_of)
  <axis>...      one column per grid axis, in the order the grid meets them: numbers and
                 strings as they are, a layer object as its "type", a list as JSON text;
                 missing (None or NaN) when the variant does not use the axis
  status         ok, diverged or failed;  error: the message (empty when ok)
  n_params       the model's parameter count
  epochs_run, best_epoch (1-based, 0 when none)
  kept_val_loss, kept_val_accuracy   the kept model's validation figures: the curves at
                 kept_epoch (the weights tested and exported); what ranks a run (NaN
                 without validation; files without the fields: from the stored curves)
  best_val_loss, final_val_loss, best_val_accuracy (NaN for regression): the curves' best
                 over every epoch (not necessarily the kept epoch's)
  final_loss, final_val_accuracy, final_accuracy   from the stored curves (NaN when absent)
  test_loss, test_accuracy, ...  any further numeric /summary field (e.g. the test
                 metrics) or run attribute test_* when the file has them
  train_seconds  training wall time;  rank: the MPI rank (group leader) that trained it
  seed           the training seed (uint64, as int);  run_key: canonical config without data

Errors are ResultsError with a one-line message naming the file and what is wrong.
"""
import json
import math
import os
import sys

import h5py
import numpy as np

__all__ = ["load", "curves", "ResultsError", "open_results", "read_runs", "family_of",
           "family_names", "axis_value", "model_summary"]

# /summary fields every results file has ("params" is the old name of "n_params").
SUMMARY_FIELDS = ("id", "repeat", "name", "status", "n_params", "epochs_run", "best_epoch",
                  "best_val_loss", "final_val_loss", "best_val_accuracy", "train_seconds",
                  "rank")
FORMAT_VERSIONS = (1, 2)
FIXED = ("key", "id", "repeat", "name", "family")
# Layer types that name a family, in the order they appear in the name.
FAMILY_TYPES = (("self_attention", "attention"), ("residual_conv1d", "residual"))


class ResultsError(Exception):
    """An input problem: one line naming the file and what is wrong."""


def text(v):
    """An HDF5 string (bytes, numpy bytes or str) as str."""
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).split(b"\0", 1)[0].decode("utf-8", "replace")
    return str(v)


def parse_json(raw, where):
    try:
        return json.loads(text(raw))
    except ValueError as e:
        raise ResultsError("%s: not valid JSON (%s)" % (where, e)) from None


def axis_value(v):
    """A grid value as a scalar: a layer object as its type, a list as JSON text."""
    if isinstance(v, dict):
        return v.get("type", json.dumps(v, sort_keys=True))
    if isinstance(v, list):
        return json.dumps(v)
    return v


def family_of(layer_types):
    """A model's family from its layer types: any self_attention -> 'attention',
    residual_conv1d -> 'residual' (both: 'attention+residual'); otherwise 'conv' when it
    has conv1d layers, else the layer types themselves joined by '+'."""
    fam = [name for t, name in FAMILY_TYPES if t in layer_types]
    if fam:
        return "+".join(fam)
    if "conv1d" in layer_types:
        return "conv"
    kinds = [t for t in dict.fromkeys(layer_types) if t not in ("activation", "dropout")]
    return "+".join(kinds) or "empty"


def family_names(runs, axis=None):
    """({variant id: family label}, basis) for the report's families.

    runs: read_runs() dicts (or any with 'id', 'family' (family_of) and 'params').
    When the variants' layer types give more than one family, those are the families
    (basis None). When every variant has the same one (e.g. all attention models that
    differ by num_heads), one family would say nothing: the families are then named from
    what differs, the first grid axis (in the order the grid meets them) that takes more
    than one value, as 'axis=value' ('no axis' for a variant without it); basis is that
    axis. axis= names the axis to use instead (a ValueError when no variant has it)."""
    first = {}
    for r in runs:
        first.setdefault(r["id"], r)
    kinds = {r["family"] for r in first.values()}
    if axis is None:
        if len(kinds) > 1 or len(first) < 2:
            return {i: r["family"] for i, r in first.items()}, None
        for a in axes_of(list(first.values())):
            if len({_label(r["params"], a) for r in first.values()}) > 1:
                axis = a
                break
        else:
            return {i: r["family"] for i, r in first.items()}, None
    elif not any(axis in r["params"] for r in first.values()):
        raise ValueError("no variant has the grid axis '%s' (axes: %s)"
                         % (axis, ", ".join(axes_of(list(first.values()))) or "none"))
    return {i: _label(r["params"], axis) for i, r in first.items()}, axis


def _label(params, axis):
    if axis not in params:
        return "no " + axis
    return "%s=%s" % (axis, axis_value(params[axis]))


def _axis_columns(axes, taken):
    """Each grid axis's column: its name, "axis_" put before it (again) while that is a
    fixed column (taken), another axis's name or an earlier axis's column (as
    `attnsweep summary --csv` names them)."""
    cols = []
    for a in axes:
        c = a
        while c in taken or (c != a and c in axes) or c in cols:
            c = "axis_" + c
        cols.append(c)
    return cols


def open_results(path):
    """Opens a results file read-only, checking what every reader needs."""
    if not os.path.exists(path):
        raise ResultsError("%s: no such file" % path)
    if not h5py.is_hdf5(path):
        raise ResultsError("%s: not an HDF5 file" % path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        hint = (" -- a sweep still writing it? HDF5_USE_FILE_LOCKING=FALSE reads it anyway"
                if "lock" in str(e) else "")
        raise ResultsError("%s: cannot open (%s)%s" % (path, e, hint)) from None
    try:
        if "task" not in f.attrs:
            raise ResultsError("%s: missing root attribute 'task'" % path)
        task = text(f.attrs["task"])
        if task not in ("regression", "classification"):
            raise ResultsError("%s: root attribute 'task' is '%s', expected regression or "
                               "classification" % (path, task))
        version = f.attrs.get("format_version")
        if version is not None and int(version) not in FORMAT_VERSIONS:
            raise ResultsError("%s: format_version %d is not supported (%s)"
                               % (path, int(version), ", ".join(map(str, FORMAT_VERSIONS))))
        if "summary" not in f or not isinstance(f["summary"], h5py.Dataset):
            raise ResultsError("%s: missing /summary" % path)
        names = set(f["summary"].dtype.names or ())
        if "params" in names and "n_params" not in names:
            names.add("n_params")  # files written before the rename
        missing = [n for n in SUMMARY_FIELDS if n not in names]
        if missing:
            raise ResultsError("%s: /summary lacks field(s) %s" % (path, ", ".join(missing)))
    except BaseException:
        f.close()
        raise
    return f


_HEX = frozenset("0123456789abcdef")


def _is_key_file(name):
    """A journal file's name: '<run key>.h5', the key 64 lower-case hex digits."""
    return len(name) == 67 and name.endswith(".h5") and set(name[:-3]) <= _HEX


def _journal_row(file, key):
    """The summary row of journal file `file` (named '<key>.h5'), or None when it has none
    or holds another run (a renamed or copied file: ignored, with the message attnsweep's
    readers print)."""
    try:
        with h5py.File(file, "r") as jf:
            row = jf["summary_row"][0]
    except (OSError, KeyError):
        return None
    inside = text(row["key"])
    if inside != key:
        print("attnsweep_results.py: %s holds run %s, not the run its name says (a renamed or "
              "copied journal file?): ignored, not a stored run" % (file, inside), file=sys.stderr)
        return None
    return row


def _with_journal(path, summ):
    """The index's rows (a later row of a key replacing an earlier one), each replaced by
    its run's row in RESULTS.h5.journal/<key>.h5 where the journal has it (newer: retried
    since the last pack), then the journal's other runs: a sweep killed before it packed
    (README, "The results store"), as attnsweep's readers do."""
    by_key = {}
    for rec in summ:
        by_key[text(rec["key"])] = rec
    journal = path + ".journal"
    if os.path.isdir(journal):
        for name in sorted(os.listdir(journal)):
            if _is_key_file(name):
                row = _journal_row(os.path.join(journal, name), name[:-3])
                if row is not None:
                    by_key[name[:-3]] = row
    return list(by_key.values())


def _summary_rows(f, path):
    summ = f["summary"][()]
    dtype = summ.dtype
    names = dtype.names
    if "key" in names:  # format 2: skip the free rows of a running sweep, add the journal's
        summ = _with_journal(path, [rec for rec in summ if text(rec["status"])])
    count_field = "n_params" if "n_params" in names else "params"
    extra = [n for n in names if n not in SUMMARY_FIELDS and n != count_field
             and np.issubdtype(dtype[n], np.number)]
    rows = []
    for rec in summ:
        row = {}
        if "key" in names:  # format 2: the group is named by the run key
            row["key"] = text(rec["key"])
            if not row["key"]:
                continue  # a free slot of a running or killed session
        else:
            row["key"] = "v%04d_r%d" % (int(rec["id"]), int(rec["repeat"]))
        for n in SUMMARY_FIELDS + tuple(extra):
            v = rec[count_field if n == "n_params" else n]
            if n in ("name", "status"):
                row[n] = text(v)
            elif np.issubdtype(np.asarray(v).dtype, np.integer):
                row[n] = int(v)
            else:
                row[n] = float(v)
        rows.append(row)
    return rows, extra


_JOURNAL_FILES = []  # journal files read by read_runs stay open with their groups


def _run_group(f, path, key):
    """The run's group: its journal file's (newer, as for pack), else /variants/<key>."""
    jp = os.path.join(path + ".journal", key + ".h5")
    if os.path.exists(jp) and _journal_row(jp, key) is not None:
        jf = h5py.File(jp, "r")
        _JOURNAL_FILES.append(jf)
        return jf["run"]
    if "variants/" + key in f:
        return f["variants/" + key]
    return None


def _last(g, name):
    if name not in g:
        return math.nan
    d = g[name]
    if d.ndim != 1 or d.shape[0] == 0:
        return math.nan
    return float(d[-1])


def _at(g, name, epoch):
    """Element epoch-1 of the 1-D dataset name of g, NaN when absent or shorter."""
    if name not in g or not epoch or epoch < 1:
        return math.nan
    d = g[name]
    return float(d[epoch - 1]) if d.ndim == 1 and d.shape[0] >= epoch else math.nan


def _kept(row, g, status):
    """kept_val_loss, kept_val_accuracy of a run: its /summary fields, else (files written
    before them) its curves at kept_epoch."""
    if "kept_val_loss" in row:
        return row["kept_val_loss"], row.get("kept_val_accuracy", math.nan)
    k = row.get("kept_epoch", g.attrs.get("kept_epoch", 0))
    k = int(k) if np.ndim(k) == 0 and math.isfinite(float(k)) else 0
    if status not in ("ok", "stopped") or k < 1:
        return math.nan, math.nan
    return _at(g, "val_loss", k), _at(g, "val_accuracy", k)


def read_runs(f, path):
    """[run dict] in (id, repeat) order: the /summary fields plus, from each run's group,
    'key', 'params' (the grid values, dict), 'config' (dict), 'layer_types', 'family',
    'error', 'seed', 'run_key', 'group' (the h5py group), the final curve values and any
    test_* attributes. The summary's status and the group's agree (checked)."""
    rows, extra = _summary_rows(f, path)
    runs = []
    for row in rows:
        key = row["key"]
        where = "%s: /variants/%s" % (path, key)
        g = _run_group(f, path, key)
        if g is None:
            raise ResultsError("%s: /summary row id=%d repeat=%d has no /variants/%s"
                               % (path, row["id"], row["repeat"], key))
        attrs = g.attrs
        for a in ("params", "config", "status"):
            if a not in attrs:
                raise ResultsError("%s: missing attribute '%s'" % (where, a))
        params = parse_json(attrs["params"], where + " attribute 'params'")
        config = parse_json(attrs["config"], where + " attribute 'config'")
        if not isinstance(params, dict):
            raise ResultsError("%s attribute 'params': not a JSON object" % where)
        model = config.get("model") if isinstance(config, dict) else None
        if not isinstance(model, list):
            raise ResultsError("%s attribute 'config': no 'model' list of layers" % where)
        r = dict(row)
        r["key"] = key
        r["status"] = text(attrs["status"])
        r["params"], r["config"], r["group"] = params, config, g
        r["layer_types"] = [L.get("type", "?") if isinstance(L, dict) else "?" for L in model]
        r["family"] = family_of(r["layer_types"])
        r["error"] = text(attrs.get("error", ""))
        seed = attrs.get("seed")
        r["seed"] = int(text(seed)) if seed is not None and text(seed).isdigit() else None
        r["run_key"] = text(attrs.get("run_key", ""))
        for c, ds in (("final_loss", "loss"), ("final_accuracy", "accuracy"),
                      ("final_val_accuracy", "val_accuracy")):
            r[c] = _last(g, ds)
        r["kept_val_loss"], r["kept_val_accuracy"] = _kept(row, g, r["status"])
        for a in attrs:
            if a.startswith("test_") and a not in r:
                try:
                    r[a] = float(attrs[a])
                except (TypeError, ValueError):
                    pass
        r["_extra"] = extra
        runs.append(r)
    runs.sort(key=lambda r: (r["id"], r["repeat"]))
    return runs


def axes_of(runs):
    """Grid axis names in the order the variants meet them."""
    names = {}
    for r in runs:
        for k in r["params"]:
            names.setdefault(k, None)
    return list(names)


def _column(values):
    """A numpy column: int64 when every value is an int, float64 (NaN for missing) when
    they are numbers, else object (None for missing)."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if present and all(isinstance(v, bool) for v in present) and len(present) == len(values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        big = any(v > np.iinfo(np.int64).max for v in values)
        return np.array(values, dtype=np.uint64 if big else np.int64)
    if all(v is None or (isinstance(v, (int, float, np.number)) and not isinstance(v, bool))
           for v in values):
        return np.array([math.nan if v is None else float(v) for v in values], dtype=float)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def columns(runs):
    """{column: list of values} in the documented order (see the module doc)."""
    axes = axes_of(runs)
    fixed_after = ["status", "error", "n_params", "epochs_run", "best_epoch", "kept_val_loss",
                   "kept_val_accuracy", "best_val_loss",
                   "final_val_loss", "best_val_accuracy", "final_loss", "final_val_accuracy",
                   "final_accuracy"]
    tests = []
    for r in runs:
        tests += [k for k in r["_extra"] + [k for k in r if k.startswith("test_")]
                  if k not in tests and k not in fixed_after]
    tail = ["train_seconds", "rank", "seed", "run_key"]
    taken = set(FIXED) | set(fixed_after) | set(tests) | set(tail)
    axis_cols = list(zip(axes, _axis_columns(axes, taken)))
    cols = {}
    for c in FIXED:
        cols[c] = [r[c] for r in runs]
    for a, c in axis_cols:
        cols[c] = [axis_value(r["params"][a]) if a in r["params"] else None for r in runs]
    for c in fixed_after + tests + tail:
        cols[c] = [r.get(c, math.nan if c in tests else None) for r in runs]
    return cols


def _have_pandas():
    try:
        import pandas
        return pandas
    except ImportError:
        return None


def load(path, pandas=True):
    """The runs of a results file as a pandas DataFrame (or, without pandas or with
    pandas=False, a dict of numpy columns), one row per run in (id, repeat) order."""
    f = open_results(path)
    try:
        cols = {k: _column(v) for k, v in columns(read_runs(f, path)).items()}
    finally:
        f.close()
    pd = _have_pandas() if pandas else None
    if pd is None:
        return cols
    return pd.DataFrame(cols)


# the curves every run's group holds (store.h); a sweep's failed runs hold none
CURVE_NAMES = ("loss", "val_loss", "accuracy", "val_accuracy", "epoch_seconds", "learning_rate")


def curves(path, metric, pandas=True):
    """The per-epoch curve `metric` (loss, val_loss, accuracy, val_accuracy,
    epoch_seconds, or any 1-D dataset of the runs) of every run that has it: a DataFrame
    with one column per run key and the epoch (from 1) as index, NaN after a run's last
    epoch; without pandas a dict {run key: float64 array}. ResultsError for a metric that
    is neither one of those names nor a 1-D dataset of any run (a misspelling)."""
    f = open_results(path)
    try:
        out, names = {}, set(CURVE_NAMES)
        for r in read_runs(f, path):
            g = r["group"]
            names |= {k for k in g if isinstance(g[k], h5py.Dataset) and g[k].ndim == 1}
            if metric in g and isinstance(g[metric], h5py.Dataset) and g[metric].ndim == 1:
                out[r["key"]] = np.asarray(g[metric], dtype=float)
    finally:
        f.close()
    if metric not in names:  # a misspelled name is not an empty curve set
        raise ResultsError("%s: no curve '%s' (the runs' curves: %s)"
                           % (path, metric, ", ".join(sorted(names))))
    pd = _have_pandas() if pandas else None
    if pd is None:
        return out
    n = max((len(v) for v in out.values()), default=0)
    frame = {k: np.concatenate([v, np.full(n - len(v), np.nan)]) for k, v in out.items()}
    df = pd.DataFrame(frame, index=pd.RangeIndex(1, n + 1, name="epoch"))
    return df


def _layer_shape(L, shape):
    """(output shape, parameter count or None when unknown) of layer L on input shape,
    a tuple (T, C) or (C,) whose entries may be None (unknown length)."""
    t = L.get("type")
    c = shape[-1]
    T = shape[0] if len(shape) == 2 else None
    if t in ("conv1d", "residual_conv1d"):
        k, dil = L.get("kernel_size", 1), L.get("dilation", 1)
        f = L.get("filters", c) if t == "conv1d" else c
        out_t = T
        if t == "conv1d" and L.get("padding", "same") == "valid" and T is not None:
            out_t = T - dil * (k - 1)
        return (out_t, f), (k * c * f + f if c is not None else None)
    if t == "self_attention":
        h, kd = L.get("num_heads", 1), L.get("key_dim", 1)
        vd, o = L.get("value_dim", kd), L.get("output_dim", c)
        n = None if c is None else 2 * (c * h * kd + h * kd) + c * h * vd + h * vd + h * vd * o + o
        return (T, o), n
    if t == "dense":
        u = L.get("units", 1)
        return shape[:-1] + (u,), (c * u + u if c is not None else None)
    if t == "global_average_pooling1d":
        return (c,), 0
    if t == "flatten":
        return ((T * c if T is not None and c is not None else None),), 0
    if t == "layer_norm":
        return shape, 2 * c if c is not None else None
    if t == "batch_normalization":
        return shape, 2 * c if c is not None else None
    if t in ("dropout", "activation"):
        return shape, 0
    return shape, None


def model_summary(config, input_shape):
    """[(index from 1, type, the layer's settings as text, output shape, parameters)] of
    a run's config (its 'model' list) on inputs of shape (T, C); shapes use None for what
    is unknown, parameters None for a layer type this summary does not know."""
    out = []
    shape = tuple(input_shape)
    for i, L in enumerate(config.get("model", [])):
        if not isinstance(L, dict):
            out.append((i + 1, "?", "", shape, None))
            continue
        shape, n = _layer_shape(L, shape)
        keys = ", ".join("%s=%s" % (k, v) for k, v in L.items() if k != "type")
        out.append((i + 1, L.get("type", "?"), keys, shape, n))
    return out


if __name__ == "__main__":
    import sys
    usage = "usage: attnsweep_results.py RESULTS.h5   (prints load() as CSV)"
    if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help"):
        print(usage)
        sys.exit(0)
    if len(sys.argv) != 2:
        print(usage, file=sys.stderr)
        sys.exit(2)
    try:
        table = load(sys.argv[1], pandas=False)
    except ResultsError as e:
        print("attnsweep_results.py: error: %s" % e, file=sys.stderr)
        sys.exit(2)
    import csv
    w = csv.writer(sys.stdout)
    w.writerow(list(table))
    for i in range(len(table["key"])):
        w.writerow(["" if (isinstance(c[i], float) and math.isnan(c[i])) or c[i] is None
                    else c[i] for c in table.values()])
