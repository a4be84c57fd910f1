#!/usr/bin/python3
"""report.py: an HTML report (index.html + PNG figures) from an attnsweep results file.

  scripts/report.py RESULTS.h5 [--data DATA.h5] [--family-axis AXIS] -o DIR

Reads the results through scripts/attnsweep_results.py and writes one static page that
opens from disk: the sweep's progress and loss, an index of the notebook's questions, the
dataset (--data, else the results' data_path when it exists), a sortable leaderboard
(test metrics when stored), the best and the mean ± std of each model family (from the
layer types: any self-attention is attention, residual_conv1d is residual; named from
the first grid axis that differs when every variant has the same layer types, or from
--family-axis), every run,
a model summary per variant (layers, output shapes, parameters), training and validation
curves (the best variants highlighted), curves per axis value, parallel coordinates,
per-axis effects with spread, rungs when runs stopped at different budgets, predictions,
attention scores, the confusion matrix and the failed and diverged runs. Every figure
names the model it shows: variant, repeat, which epoch's weights and which split.

Runs with Debian's /usr/bin/python3 (python3-h5py, python3-numpy, python3-matplotlib).
The report is written to a temporary directory next to DIR (mode from the umask, like
any generated site) and renamed at the end, so an error leaves no partial output. A
missing or malformed input prints one line naming the file and what is wrong, and exits
with status 2.
"""
import argparse
import hashlib
import html
import json
import math
import os
import shutil
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attnsweep_results as ar  # noqa: E402
from attnsweep_results import axis_value, text  # noqa: E402
from report_html import SCRIPT, STYLE, Page, cell, fmt, mean_std, pm, stat_cell, table  # noqa: E402

figs = None  # report_figures, imported (it loads matplotlib) once the inputs are read

LOSS_NAMES = {"regression": "mean squared error (mse)",
              "classification": "sparse categorical cross-entropy on the logits (softmax)"}


class ReportError(Exception):
    """An input problem: reported as one line, exit status 2."""


# ---- reading ---------------------------------------------------------------------------

class Run:
    """One run: its /summary row and /variants/<key> group (attnsweep_results.read_runs)."""

    def __init__(self, d):
        self.__dict__.update(d)
        self.grid = d["params"]  # the grid values chosen (the group's 'params' attribute)
        self.split = text(self.group.attrs.get("pred_split", "test"))
        kept = getattr(self, "kept_epoch", 0)
        kept = int(kept) if isinstance(kept, (int, float)) and math.isfinite(kept) else 0
        self.weights_epoch = kept if kept > 0 else self.epochs_run
        which = ("best" if kept > 0 and kept == self.best_epoch else
                 "final" if self.weights_epoch == self.epochs_run else "kept")
        self.model_label = "%s, repeat %d, weights of epoch %d (%s)" % (
            self.name, self.repeat, self.weights_epoch, which)
        refit = self.group.attrs.get("refit_epochs", 0)  # train.refit: the dumps' model
        self.refit_epochs = int(refit) if np.ndim(refit) == 0 and int(refit) > 0 else 0
        if self.refit_epochs:
            self.model_label = ("%s, repeat %d, refit on every training row for %d epochs"
                                % (self.name, self.repeat, self.refit_epochs))

    def series(self, name):
        """A 1-D dataset of the group as float64, or None when absent."""
        return np.asarray(self.group[name], dtype=float) if name in self.group else None

    def at_weights(self, curve):
        """The curve's value at the epoch whose weights the dumps come from (NaN)."""
        c = self.series(curve)
        if c is None or not 0 < self.weights_epoch <= c.size:
            return math.nan
        return float(c[self.weights_epoch - 1])


class Variant:
    """The repeats of one variant id."""

    def __init__(self, runs, metric, higher_better, tie_metric="best_val_loss"):
        self.runs = sorted(runs, key=lambda r: r.repeat)
        first = self.runs[0]
        self.id, self.name = first.id, first.name
        self.kind = self.family = first.family  # from the layer types (Results may rename)
        self.config = first.config
        self.axes = {k: axis_value(v) for k, v in first.grid.items()}
        self.ok = [r for r in self.runs if r.status == "ok"]
        self.mean, self.std, self.n = mean_std([getattr(r, metric) for r in self.ok])
        # ties of the accuracy (often 1.0 on small validation sets) go to the lower loss
        self.tie_metric = tie_metric  # the loss of the same kind: kept_val_loss or best_val_loss
        self.tie = mean_std([getattr(r, tie_metric) for r in self.ok])[0] if higher_better else 0.
        self.higher_better = higher_better
        self.metric = metric

    def best_run(self):
        """The ok repeat with the best metric, ties to the lower loss of its kind (accuracy
        metrics), then the lowest repeat (None when none)."""
        cands = [r for r in self.ok if math.isfinite(getattr(r, self.metric))]
        if not cands:
            return None
        sign = -1 if self.higher_better else 1
        return min(cands, key=lambda r: (sign * getattr(r, self.metric),
                                         loss_tie(getattr(r, self.tie_metric)) if self.higher_better
                                         else 0., r.repeat))

    def sort_key(self):
        """Best first; ties by the loss of the metric's kind (accuracy metrics), then id."""
        if not math.isfinite(self.mean):
            return (math.inf, math.inf, self.id)
        return (-self.mean if self.higher_better else self.mean, loss_tie(self.tie), self.id)


def loss_tie(x):
    return x if math.isfinite(x) else math.inf


class Results:
    def __init__(self, path, family_axis=None):
        self.path = path
        try:
            self.f = ar.open_results(path)
            runs = ar.read_runs(self.f, path)
            self.runs = [Run(d) for d in runs]
            names, self.family_basis = ar.family_names(runs, family_axis)
        except ar.ResultsError as e:
            raise ReportError(str(e)) from None
        except ValueError as e:  # --family-axis names no axis of the file
            raise ReportError("%s: --family-axis: %s" % (path, e)) from None
        self.task = text(self.f.attrs["task"])
        self.attrs = {k: self.f.attrs[k] for k in self.f.attrs}
        if not self.runs:
            raise ReportError("%s: /summary has no rows" % path)
        self.classification = self.task == "classification"
        # the kept model's validation figures rank (README, "Which figure ranks a run"); a
        # file with no kept epoch at all (written before runs kept one) by the curves' best
        ok = [r for r in self.runs if r.status == "ok"]
        kind = "kept" if any(math.isfinite(getattr(r, "kept_val_loss", math.nan)) or
                             math.isfinite(getattr(r, "kept_val_accuracy", math.nan)) for r in ok) else "best"
        acc = [getattr(r, kind + "_val_accuracy", math.nan) for r in ok]
        if self.classification and any(math.isfinite(a) for a in acc):
            self.metric, self.higher_better = kind + "_val_accuracy", True
        else:
            self.metric, self.higher_better = kind + "_val_loss", False
        self.tie_metric = kind + "_val_loss"
        for r in self.runs:
            r.metric_value = getattr(r, self.metric)
        by_id = {}
        for r in self.runs:
            by_id.setdefault(r.id, []).append(r)
        self.variants = sorted((Variant(v, self.metric, self.higher_better, self.tie_metric)
                                for v in by_id.values()), key=lambda v: v.sort_key())
        for v in self.variants:
            v.family = names[v.id]
        self.kinds = family_order({v.kind for v in self.variants})
        self.axes = varying_axes(self.variants)
        self.families = family_order({v.family for v in self.variants}, self.family_basis,
                                     self.variants)
        self.tests = [c for c in ("test_loss", "test_accuracy")
                      if any(math.isfinite(getattr(r, c, math.nan)) for r in self.runs)]
        n_classes = int(self.attrs.get("n_classes", 0))
        self.class_names = [str(k) for k in range(max(n_classes, 1))]
        self.data_labels, self.data_sha = None, ""  # the --data file's class names (build)
        self.q_compare = ("Q4" if not self.classification else
                          "Q8, Q10" if any("residual" in k for k in self.kinds) else "Q8")
        try:
            sweep = json.loads(text(self.attrs.get("sweep_text", "{}")))
        except ValueError:
            sweep = {}
        self.search = sweep.get("search", {}) if isinstance(sweep, dict) else {}
        if not isinstance(self.search, dict):
            self.search = {}

    def names(self, k, run=None):
        """Labels of classes 0..k-1: the data file's names for a run trained on it (its
        data_sha256, else the results'; every run when run is None), else the index (a
        sweep over datasets has runs with more classes than the file-level n_classes)."""
        base = self.class_names
        if self.data_labels and (run is None or self.on_data(run)):
            base = self.data_labels + base[len(self.data_labels):]
        return (base + [str(i) for i in range(len(base), k)])[:k]

    def on_data(self, run):
        """True when run trained on the data file (or no hash tells)."""
        h = text(run.group.attrs.get("data_sha256", "")) or text(self.attrs.get("data_sha256", ""))
        return not h or not self.data_sha or h == self.data_sha

    def axis_of(self, variant, axis):
        return variant.family if axis == "family" else variant.axes.get(axis)

    def best_of_family(self):
        """{family: best Variant} for the families with a finished variant."""
        out = {}
        for v in self.variants:  # sorted best first
            if v.family not in out and math.isfinite(v.mean):
                out[v.family] = v
        return out


def family_order(fams, basis=None, variants=()):
    """conv first, then attention, residual, then the rest; families named from the
    axis basis in the order of its values (numbers ascending)."""
    if basis is not None:
        label = {v.family: v.axes.get(basis) for v in variants}
        vals = sort_values({x for x in label.values() if x is not None})
        return sorted(fams, key=lambda f: (vals.index(label[f]) if label.get(f) in vals
                                           else len(vals), f))
    rank = {"conv": 0, "attention": 1, "residual": 2, "attention+residual": 3}
    return sorted(fams, key=lambda f: (rank.get(f, 4), f))


def varying_axes(variants):
    """[(axis, sorted values)] for the grid axes that take more than one value, then
    'family' when it is not the same partition as one of them."""
    names = []
    for v in sorted(variants, key=lambda v: v.id):
        names += [k for k in v.axes if k not in names]
    axes = []
    for a in names:
        vals = {v.axes[a] for v in variants if a in v.axes}
        if len(vals) > 1:
            axes.append((a, sort_values(vals)))
    fams = {v.family for v in variants}
    if len(fams) > 1:
        same = any(len({(v.axes.get(a), v.family) for v in variants}) == len(fams)
                   == len({v.axes.get(a) for v in variants}) for a, _ in axes)
        if not same:
            axes.append(("family", family_order(fams)))
    return axes


def sort_values(vals):
    nums = sorted(v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool))
    rest = sorted((v for v in vals if v not in nums), key=str)
    return nums + rest


def load_data(path):
    if not os.path.exists(path):
        raise ReportError("%s: no such file" % path)
    if not h5py.is_hdf5(path):
        raise ReportError("%s: not an HDF5 file" % path)
    with h5py.File(path, "r") as f:
        for n in ("train/x", "train/y"):
            if n not in f:
                raise ReportError("%s: missing /%s" % (path, n))
        labels = f.attrs.get("class_labels")
        return {"task": text(f.attrs.get("task", "regression")),
                "name": os.path.basename(path),
                "x": np.asarray(f["train/x"][:2000]), "y": np.asarray(f["train/y"][:2000]),
                "n_train": int(f["train/x"].shape[0]),
                "shape": tuple(int(s) for s in f["train/x"].shape[1:]),
                "test_x": np.asarray(f["test/x"][:3]) if "test/x" in f else None,
                "class_labels": [str(int(c)) for c in labels] if labels is not None else None,
                "sha256": file_sha256(path),
                "merge_shuffle": int(f.attrs.get("merge_shuffle", 0))}


def file_sha256(path):
    """The SHA-256 of the file's bytes (as attnsweep hashes a dataset)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def input_shape(res, data):
    if data is not None:
        return data["shape"]
    for r in res.runs:
        if "pred_inputs" in r.group:
            return tuple(int(s) for s in r.group["pred_inputs"].shape[1:])
    return (None, 1)


# ---- page ------------------------------------------------------------------------------

def metric_cols(res):
    kept = res.metric.startswith("kept_")
    mk = (["kept_val_loss"] if kept else []) + ["best_val_loss", "final_val_loss"]
    if res.classification:
        mk += (["kept_val_accuracy"] if kept else []) + ["best_val_accuracy", "final_val_accuracy"]
    return mk + res.tests


def leaderboard(res, best):
    best_ids = {v.id: f for f, v in best.items()} if len(res.families) > 1 else {}
    mk = metric_cols(res)
    cols = (["#", "id", "name", "family"] + [a for a, _ in res.axes if a != "family"]
            + ["ok/repeats", "n_params", "epochs", "best epoch"] + [c.replace("_", " ", 1)
                                                                   for c in mk]
            + ["train s", "MPI ranks"])
    rows, classes = [], []
    for pos, v in enumerate(res.variants, 1):
        rs = v.runs
        badge = (' <span class="badge">best %s</span>' % html.escape(best_ids[v.id])
                 if v.id in best_ids else "")
        tds = [cell(pos), cell(v.id),
               '<td class="name" data-v="%s">%s%s</td>' % (
                   html.escape(v.name, quote=True),
                   html.escape(v.name).replace(",", ",<wbr>"), badge), cell(v.family)]
        tds += [cell(v.axes.get(a, "–")) for a, _ in res.axes if a != "family"]
        n_stop = sum(r.status == "stopped" for r in rs)
        tds += [cell(len(v.ok), "%d/%d%s" % (len(v.ok), len(rs), " (%d stopped)" % n_stop
                                             if n_stop else "")), cell(rs[0].n_params),
                stat_cell([r.epochs_run for r in rs]), stat_cell([r.best_epoch for r in v.ok])]
        tds += [stat_cell([getattr(r, k, math.nan) for r in v.ok]) for k in mk]
        tds += [stat_cell([r.train_seconds for r in rs]),
                cell(min(r.rank for r in rs), ",".join(sorted({str(r.rank) for r in rs})))]
        rows.append(tds)
        classes.append("best" if v.id in best_ids else "")
    return table(cols, rows, row_class=classes)


def runs_table(res):
    extra = [c for c in ("kept_epoch", "stopped_epoch") if any(
        getattr(r, c, 0) for r in res.runs)]
    wacc = "val_accuracy at the weights' epoch" if res.classification else None
    cols = (["run", "variant", "repeat", "status", "epochs", "best epoch"] + extra
            + ["weights' epoch"] + metric_cols(res) + ([wacc] if wacc else [])
            + ["train s", "MPI rank"])
    rows = []
    for r in sorted(res.runs, key=lambda r: (r.id, r.repeat)):
        tds = [cell(r.key), cell(r.id, "%d %s" % (r.id, r.name)), cell(r.repeat), cell(r.status),
               cell(r.epochs_run), cell(r.best_epoch)]
        tds += [cell(int(getattr(r, c))) for c in extra]
        tds.append(cell(r.weights_epoch))
        tds += [cell(getattr(r, k, math.nan)) for k in metric_cols(res)]
        if wacc:
            tds.append(cell(r.at_weights("val_accuracy")))
        tds += [cell(r.train_seconds), cell(r.rank)]
        rows.append(tds)
    return ("<details><summary>All %d runs (one row per variant and repeat)</summary>%s"
            "</details>" % (len(res.runs), table(cols, rows)))


def family_tables(res, best):
    if not best:
        return "<p>No variant finished.</p>", []
    rows, fams = [], []
    for fam in res.families:
        vals = [r.metric_value for v in res.variants if v.family == fam for r in v.ok
                if math.isfinite(r.metric_value)]
        if fam not in best or not vals:
            continue
        b = best[fam]
        m, s, n = mean_std(vals)
        fams.append((fam, vals))
        rows.append([cell(fam), cell(sum(v.family == fam for v in res.variants)), cell(n),
                     cell(m, pm(m, s, n)), cell(b.name), cell(b.mean, pm(b.mean, b.std, b.n)),
                     cell(b.runs[0].n_params)])
    head = ["family", "variants", "ok runs", "%s over all its runs" % res.metric,
            "best variant", "its %s" % res.metric, "n_params"]
    notes = [family_basis_note(res)]
    if len(fams) > 1:
        ref = fams[0]
        for fam, vals in fams[1:]:
            a, b = float(np.mean(ref[1])), float(np.mean(vals))
            better = fam if (b > a) == res.higher_better else ref[0]
            notes.append("<li>%s against %s, mean over runs: <b>%s</b> is better (%s vs %s)</li>"
                         % (ref[0], fam, better, fmt(a), fmt(b)))
    return table(head, rows, sortable=False) + "<ul>%s</ul>" % "".join(notes), fams


def family_basis_note(res):
    """What the families are made from, as an <li>."""
    kinds = ", ".join("<b>%s</b>" % html.escape(k) for k in res.kinds)
    if res.family_basis is None:
        if len(res.families) == 1:
            return ("<li>Every variant is in the family %s (from its layer types; no grid "
                    "axis differs).</li>" % kinds)
        return ("<li>Families from the layer types: a model with any self_attention layer is "
                "attention, with residual_conv1d residual, else conv when it has conv1d "
                "layers.</li>")
    if len(res.kinds) > 1:
        return ("<li>Families named from the grid axis <b>%s</b> (--family-axis); by their "
                "layer types the variants are %s.</li>" % (html.escape(res.family_basis), kinds))
    return ("<li>Every variant is in the family %s by its layer types, so the families are "
            "named from what differs: the grid axis <b>%s</b>.</li>"
            % (kinds, html.escape(res.family_basis)))


def model_summaries(res, shape):
    out = []
    for v in sorted(res.variants, key=lambda v: v.id):
        layers = ar.model_summary(v.config, shape)
        total = sum(n for *_, n in layers) if all(n is not None for *_, n in layers) else None
        rows = [[cell(i), cell(t), cell(k), cell(str(tuple("T" if d is None else d
                                                           for d in s))),
                 cell(n if n is not None else "?")] for i, t, k, s, n in layers]
        check = ("" if total is None or total == v.runs[0].n_params else
                 " <b>(the run recorded %d)</b>" % v.runs[0].n_params)
        out.append("<details><summary>variant %d: %s — %s, %s parameters%s</summary>%s"
                   "</details>" % (v.id, html.escape(v.name), html.escape(v.family),
                                   fmt(total if total is not None else v.runs[0].n_params),
                                   check, table(["layer", "type", "settings", "output shape",
                                                 "parameters"], rows, sortable=False)))
    return ("<p>Input shape (T, C) = %s. Layers are numbered from 1 as in the figures "
            "(the results file's <code>attention/layer_&lt;i&gt;</code> counts from 0).</p>"
            % html.escape(str(tuple("T" if d is None else d for d in shape))) + "\n".join(out))


def failures_table(res):
    bad = [r for r in res.runs if r.status not in ("ok", "stopped")]
    if not bad:
        return "<p>No run failed or diverged.</p>"
    rows = [[cell(r.key), cell(r.name), cell(r.status), cell(r.epochs_run), cell(r.error)]
            for r in sorted(bad, key=lambda r: (r.id, r.repeat))]
    return table(["run", "name", "status", "epochs run", "message"], rows, sortable=False,
                 row_class=[r.status for r in sorted(bad, key=lambda r: (r.id, r.repeat))])


def header(res):
    a = res.attrs
    # runs of configurations the current grid no longer has (--resume --force after a
    # change) are kept under their own ids, named "... [not in grid]": not counted as planned
    old = sum(text(r.name).endswith("[not in grid]") for r in res.runs)
    n, n_ok = len(res.runs) - old, sum(r.status == "ok" for r in res.runs)
    planned = int(a["runs_planned"]) if "runs_planned" in a else None
    end = text(a.get("end_time", ""))
    items = []
    for k in ("attnsweep_version", "data_path", "ranks", "ranks_per_variant", "start_time"):
        if k in a:
            items.append("<li>%s: %s</li>" % (k, html.escape(text(a[k]) if isinstance(
                a[k], (str, bytes)) else fmt(a[k]))))
    prog = ("%d of %d runs" % (n, planned)) if planned else (
        "%d run%s (the planned count is not recorded in this file)" % (n, "" if n == 1 else "s"))
    if old:
        prog += (", and %d run%s of configurations not in the current grid (kept by --resume "
                 "--force, named \"[not in grid]\")" % (old, "" if old == 1 else "s"))
    flags = []
    if planned and n < planned:
        flags.append("unfinished: %d of %d runs not in the file yet" % (planned - n, planned))
    if not end:
        flags.append("no end time: the sweep is still running or was stopped before it "
                     "finished")
    else:
        wall = float(a.get("wall_seconds", 0))
        note = ""
        try:
            import datetime
            span = (datetime.datetime.fromisoformat(end.replace("Z", "+00:00"))
                    - datetime.datetime.fromisoformat(text(a.get("start_time", "")).replace(
                        "Z", "+00:00"))).total_seconds()
            if span > wall + 60:
                note = (" (the last session's: the sweep was resumed; %s s from start_time "
                        "to end_time)" % fmt(span))
        except ValueError:
            pass
        items.append("<li>end_time: %s, wall %s s%s</li>" % (html.escape(end), fmt(wall), note))
    loss = text(res.runs[0].config.get("train", {}).get("loss", "")) or LOSS_NAMES[res.task]
    stopped = sum(r.status == "stopped" for r in res.runs)
    if stopped:
        items.append("<li>search: %s; %d run%s stopped at a rung (see Rungs)</li>"
                     % (html.escape(res.search.get("type", "?")), stopped,
                        "" if stopped == 1 else "s"))
    return ("<ul><li><b>progress: %s</b> (%d variant%s), %d ok, %d diverged, %d failed%s</li>"
            "<li>task: %s; loss: <b>%s</b>; ranked by %s (%s is better, mean over ok "
            "repeats)</li>%s</ul>"
            % (prog, len(res.variants), "" if len(res.variants) == 1 else "s", n_ok,
               sum(r.status == "diverged" for r in res.runs),
               sum(r.status == "failed" for r in res.runs),
               "".join(' <span class="warn">%s</span>' % html.escape(f) for f in flags),
               res.task, html.escape(loss), res.metric,
               "higher" if res.higher_better else "lower", "".join(items)))


def questions(res, have):
    """The notebook's questions and where the page answers them (have: anchors/files)."""
    if res.classification:
        residual = any("residual" in f for f in res.kinds)
        qs = [("Q7", "the classification data (Trace in the notebook), train and test merged "
               "and shuffled", "dataset"),
              ("Q8", "conv + self-attention + dense classifiers, 20% validation: accuracy",
               "leaderboard"),
              ("Q8", "their layers, output shapes and parameters", "models"),
              ("Q8, Q10" if residual else "Q8", "training and validation curves", "curves"),
              ("Q8", "which classes the best model confuses", "confusion")]
        if residual:
            qs += [("Q9", "the residual_conv1d layers in the models", "models"),
                   ("Q10", "residual against plain convolutions", "families")]
        else:
            qs.append(("Q9, Q10", "residual convolutions: not in this sweep (no "
                       "residual_conv1d layer; see sweeps/trace-residual.json)", None))
    else:
        qs = [("Q1", "the first 6 input/output pairs", "dataset"),
              ("Q2", "the 5-layer conv stack and the loss to use", "leaderboard"),
              ("Q3", "the 3rd conv replaced by self-attention: the models", "models"),
              ("Q4", "conv against attention in validation loss", "families"),
              ("Q4", "validation curves", "curves"),
              ("Q5", "predictions on the test series", "predictions"),
              ("Q6", "average attention scores of the first 3 test series", "attention")]
    rows = []
    for q, what, anchor in qs:
        if anchor is None:
            rows.append("<li>%s — %s</li>" % (q, html.escape(what)))
        elif anchor in have:
            rows.append('<li>%s — %s: <a href="#%s">%s</a></li>' % (q, what, anchor, anchor))
        else:
            rows.append("<li>%s — %s: not in this results file</li>" % (q, what))
    return "<ul>%s</ul>" % "".join(rows)


# ---- sections --------------------------------------------------------------------------

def section_curves(page, res):
    out = []
    made = figs.curves_top(res)
    if made is None:
        return None
    out.append(page.save(made))
    for axis, values in res.axes:
        out.append(page.save(figs.curves_axis(res, axis, values)))
    return "\n".join(out)


def section_predictions(page, res, picks):
    fig, name, splits = figs.predictions(res, picks)
    if res.classification:
        cap = "Predicted class probabilities (true class in green) on %s series" % "/".join(splits)
    elif splits == ["test"]:
        cap = "Test predictions against the targets (notebook Q5)"
    else:
        cap = ("Predictions on %s series against the targets: the data has no test split "
               "(notebook Q5 asks for test series)" % "/".join(splits))
    return page.save((fig, name, cap))


def section_attention(page, res, data):
    cands = [(v, v.best_run()) for v in res.variants]  # best first
    cands = [(v, r) for v, r in cands if r is not None and "attention" in r.group
             and len(r.group["attention"])]
    if not cands:
        return None, None
    v, r = cands[0]
    att = r.group["attention"]
    out = []
    for mk in sorted((k for k in att if k.endswith("_mean")), key=lambda k: int(k.split("_")[1])):
        li = int(mk.split("_")[1])
        mean = np.asarray(att[mk])
        n = min(3, mean.shape[0])
        inputs = None
        if "pred_inputs" in r.group and len(r.group["pred_inputs"]) >= n:
            inputs = np.asarray(r.group["pred_inputs"][:n])
        elif data is not None and data["test_x"] is not None and r.split == "test":
            inputs = data["test_x"][:n]
        full = np.asarray(att["layer_%d" % li][:n]) if "layer_%d" % li in att else None
        made = figs.attention(v, r, inputs, li, mean, full)
        q = " (notebook Q6)" if not res.classification and r.split == "test" else ""
        out.append(page.save(made[0], made[0][2] + q))
        out += [page.save(m) for m in made[1:]]
    return r, "\n".join(out)


def confusion_counts(run, n_classes):
    pred = np.asarray(run.group["predictions"])
    tgt = np.asarray(run.group["pred_targets"]).astype(int).ravel()
    k = max(n_classes, pred.shape[1])
    cm = np.zeros((k, k), dtype=int)
    for t, p in zip(tgt, pred.argmax(axis=1)):
        cm[t, p] += 1
    return cm, float(np.trace(cm)) / max(len(tgt), 1)


def section_confusion(page, res, v, r):
    cm, acc = confusion_counts(r, int(res.attrs.get("n_classes", 0)))
    body = page.save(figs.confusion(res, r, cm, acc))
    if res.data_labels and not res.on_data(r):
        body += ("<p>This run trained on another dataset (sha256 %.12s...) than the data file "
                 "given: its classes are shown by index.</p>"
                 % html.escape(text(r.group.attrs.get("data_sha256", ""))))
    m = int(cm.sum())
    if r.split == "test" and math.isfinite(getattr(r, "test_accuracy", math.nan)):
        other, what = r.test_accuracy, "test_accuracy"
    else:
        other, what = r.at_weights("val_accuracy"), "val_accuracy at epoch %d" % r.weights_epoch
    same = math.isfinite(other) and abs(other - acc) < 5e-4
    if r.refit_epochs and what != "test_accuracy":
        body += ("<p>Run <b>%s</b> (%s): accuracy %.3f on its %d stored %s series. The refit "
                 "model was trained on these rows too, so this is not a validation score; "
                 "the selection run's %s is %s (runs table).</p>"
                 % (html.escape(r.key), html.escape(r.model_label), acc, m, r.split, what,
                    fmt(other)))
        return body
    body += ("<p>Run <b>%s</b> (%s): accuracy %.3f on its %d stored %s series. %s</p>"
             % (html.escape(r.key), html.escape(r.model_label), acc, m, r.split,
                ("It equals the run's %s in the runs table (%.3f)." % (what, other)) if same else
                ("The run's %s over the whole split is %s (runs table): the stored series are "
                 "a subset." % (what, fmt(other)))))
    body += ("<p>The leaderboard's %s for this variant is %s: the best epoch of each repeat, "
             "averaged; the matrix shows one repeat's weights of one epoch.</p>"
             % (res.metric, pm(v.mean, v.std, v.n)))
    return body


def family_picks(res):
    picks = []
    for fam in res.families:
        for v in (v for v in res.variants if v.family == fam):
            r = v.best_run()
            if r is not None and "predictions" in r.group and "pred_targets" in r.group:
                picks.append((fam, v, r))
                break
    return picks


def build(res, data, outdir):
    global figs
    import report_figures
    figs = report_figures
    page = Page(outdir)
    have = set()
    if data is not None and data["class_labels"]:
        res.data_labels, res.data_sha = data["class_labels"], data["sha256"]
    page.section("sweep", "Sweep", header(res))
    index_at = len(page.sections)
    if data is not None:
        q = "Q7" if res.classification else "Q1"
        note = ""
        names = res.names(len(data["class_labels"] or ()))
        if res.classification:
            note = ("<p>Rows of /train: %d%s; classes (the data's original labels): %s.</p>"
                    % (data["n_train"], ", the train and test files merged and shuffled"
                       if data["merge_shuffle"] else "", ", ".join(names)))
            other = sum(not res.on_data(r) for r in res.runs)
            if res.data_labels and other:
                note += ("<p>%d of the %d runs trained on another dataset than %s: their "
                         "classes are shown by index, not by these labels.</p>"
                         % (other, len(res.runs), html.escape(data["name"])))
        page.section("dataset", "Dataset", page.save(figs.dataset(data, names, q)) + note)
        have.add("dataset")
    best = res.best_of_family()
    fam_html, fams = family_tables(res, best)
    page.section("leaderboard", "Leaderboard (click a header to sort)",
                 "<p>Variants sorted by %s, mean ± std over their ok repeats (a single repeat "
                 "shows its value)%s. # is the place.</p>"
                 % (res.metric, ", ties by the lower %s" % res.tie_metric if res.higher_better else "")
                 + leaderboard(res, best) + runs_table(res))
    have.add("leaderboard")
    body = fam_html
    if len(fams) > 1:
        body += page.save(figs.families(res, fams))
    page.section("families", "Model families", body)
    have.add("families")
    page.section("models", "Models (layers, output shapes, parameters)",
                 model_summaries(res, input_shape(res, data)))
    have.add("models")
    curves = section_curves(page, res)
    if curves:
        page.section("curves", "Training and validation curves", curves)
        have.add("curves")
    if res.axes:
        body = page.save(figs.effect(res))
        made = figs.parallel(res)
        if made is not None:
            body = page.save(made) + body
        page.section("axes", "Effect of the grid axes", body)
    if any("rungs" in r.group for r in res.runs):
        page.section("rungs", "Rungs of the search", page.save(figs.rungs(res)))
    picks = family_picks(res)
    if picks:
        page.section("predictions", "Predictions", section_predictions(page, res, picks))
        have.add("predictions")
    r_att, att = section_attention(page, res, data)
    if att:
        page.section("attention", "Attention scores of the best variant with attention", att)
        have.add("attention")
    if res.classification and picks:
        fam, v, r = min(picks, key=lambda p: p[1].sort_key())
        page.section("confusion", "Confusion matrix", section_confusion(page, res, v, r))
        have.add("confusion")
    page.section("failures", "Failed and diverged runs", failures_table(res))
    page.sections.insert(index_at, '<section id="questions"><h2>The notebook\'s questions'
                         '</h2>%s</section>' % questions(res, have))
    title = "attnsweep report: %s" % os.path.basename(res.path)
    doc = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>"
           "<style>%s</style></head><body><h1>%s</h1>\n%s\n<script>%s</script></body></html>\n"
           % (html.escape(title), STYLE, html.escape(title), "\n".join(page.sections), SCRIPT))
    with open(os.path.join(outdir, "index.html"), "w", encoding="utf-8") as f:
        f.write(doc)
    return page.files


def install(tmp, outdir):
    """Renames the finished tmp directory to outdir, replacing an earlier report."""
    if os.path.lexists(outdir):
        if not os.path.isdir(outdir) or (os.listdir(outdir)
                                         and not os.path.exists(os.path.join(outdir,
                                                                             "index.html"))):
            raise ReportError("%s: exists and is not an earlier report; not replacing it"
                              % outdir)
        old = tmp + ".old"
        os.rename(outdir, old)
        os.rename(tmp, outdir)
        shutil.rmtree(old)
    else:
        os.rename(tmp, outdir)


def umask_mode():
    """The mode a new directory gets under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def default_data(res):
    """The results' data_path when it names an existing dataset file, else None."""
    p = text(res.attrs.get("data_path", ""))
    if p and os.path.isfile(p) and h5py.is_hdf5(p):
        return p
    return None


def check_data(res, path):
    """--data must be a dataset the sweep trained on: its SHA-256 (of the file's bytes, as
    attnsweep hashes it) equal to the results' data_sha256 or to one run's (a sweep over
    datasets); results that record no hash (older files) are not checked."""
    known = {text(res.attrs.get("data_sha256", ""))}
    known |= {text(r.group.attrs.get("data_sha256", "")) for r in res.runs}
    known.discard("")
    if not known:
        return
    digest = file_sha256(path)
    if digest not in known:
        raise ReportError("--data %s: not a dataset this sweep trained on (sha256 %.12s..., the "
                          "results' %.12s...); leave --data out to use the results' data_path"
                          % (path, digest, text(res.attrs.get("data_sha256", "")) or
                             sorted(known)[0]))


def main(argv=None):
    p = argparse.ArgumentParser(description="HTML report of an attnsweep results file.")
    p.add_argument("results", help="results HDF5 written by attnsweep sweep")
    p.add_argument("--data", help="the dataset HDF5 (default: the results' data_path when "
                   "it exists): the dataset figure, class names, input shape; it must be "
                   "one the sweep trained on (its SHA-256), else exit 2")
    p.add_argument("--family-axis", metavar="AXIS",
                   help="name the model families from this grid axis (default: from the "
                   "layer types; from the first axis that differs when every variant has "
                   "the same layer types)")
    p.add_argument("-o", "--output", required=True, help="output directory")
    args = p.parse_args(argv)
    outdir = os.path.abspath(args.output)
    tmp = None
    try:
        res = Results(args.results, args.family_axis)
        data_path = args.data or default_data(res)
        data = load_data(data_path) if data_path else None
        if args.data:
            check_data(res, args.data)
        parent = os.path.dirname(outdir)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="." + os.path.basename(outdir) + ".", dir=parent)
        os.chmod(tmp, umask_mode())  # mkdtemp makes it 0700
        files = build(res, data, tmp)
        install(tmp, outdir)
        tmp = None
    except ReportError as e:
        print("report.py: error: %s" % e, file=sys.stderr)
        return 2
    except (OSError, KeyError, ValueError, IndexError) as e:
        print("report.py: error: %s: malformed input (%s: %s)"
              % (args.results, type(e).__name__, e), file=sys.stderr)
        return 2
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print("report: %s/index.html (%d figures)" % (outdir, len(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
