#!/usr/bin/python3
"""report.py: an HTML report (index.html + PNG figures) from an attnsweep results file.

  scripts/report.py RESULTS.h5 [--data DATA.h5] -o DIR

Reads the layout documented in the README ("Sweep results") and draws the notebook's
figures: the dataset (--data), validation curves coloured by each varying axis (repeats
as mean +/- std bands), a sortable leaderboard with the best variant of each family
(conv, attention, residual: from the layer types of each variant's config), the effect
of each axis, test predictions of each family's best variant, average attention scores
and per-head query x key heatmaps, the confusion matrix (classification), and the failed
and diverged variants with their messages.

Runs with Debian's /usr/bin/python3 (python3-h5py, python3-numpy, python3-matplotlib).
The report is written to a temporary directory next to DIR and renamed at the end, so an
error leaves no partial output. A missing or malformed input prints one line naming the
file and what is wrong, and exits with status 2.
"""
import argparse
import html
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

plt = None  # matplotlib.pyplot, imported (Agg backend) once the inputs are read


def load_matplotlib():
    global plt
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot
    plt = matplotlib.pyplot

MAX_PRED_SERIES = 4


class ReportError(Exception):
    """An input problem: reported as one line, exit status 2."""


def fmt(x, digits=4):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, str):
        return x
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return "%.*g" % (digits, x)


def finite_mean_std(values):
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std())


# ---- reading ---------------------------------------------------------------------------

class Run:
    """One run: its /summary row and /variants/<key> group (attnsweep_results.read_runs)."""

    def __init__(self, d):
        self.__dict__.update(d)
        self.grid = d["params"]  # the grid values chosen (the group's 'params' attribute)

    def series(self, name):
        """A 1-D dataset of the group as float64, or None when absent."""
        return np.asarray(self.group[name], dtype=float) if name in self.group else None


def family_order(fams):
    """conv first, then attention, residual, then combinations."""
    rank = {"conv": 0, "attention": 1, "residual": 2}
    return sorted(fams, key=lambda f: (rank.get(f, 3), f))


class Variant:
    """The repeats of one variant id."""

    def __init__(self, runs, metric, higher_better):
        self.runs = sorted(runs, key=lambda r: r.repeat)
        first = self.runs[0]
        self.id, self.name, self.family = first.id, first.name, first.family
        self.axes = {k: axis_value(v) for k, v in first.grid.items()}
        self.ok = [r for r in self.runs if r.status == "ok"]
        self.mean, self.std = finite_mean_std([getattr(r, metric) for r in self.ok])
        self.higher_better = higher_better
        self.metric = metric

    def best_run(self):
        """The ok repeat with the best metric (None when none)."""
        cands = [r for r in self.ok if math.isfinite(getattr(r, self.metric))]
        if not cands:
            return None
        return (max if self.higher_better else min)(cands, key=lambda r: getattr(r, self.metric))

    def sort_key(self):
        """Best first; ties by variant id."""
        if not math.isfinite(self.mean):
            return (math.inf, self.id)
        return (-self.mean if self.higher_better else self.mean, self.id)


class Results:
    def __init__(self, path):
        self.path = path
        try:
            self.f = ar.open_results(path)
            self.runs = [Run(d) for d in ar.read_runs(self.f, path)]
        except ar.ResultsError as e:
            raise ReportError(str(e)) from None
        self.task = text(self.f.attrs["task"])
        self.attrs = {k: self.f.attrs[k] for k in self.f.attrs}
        if not self.runs:
            raise ReportError("%s: /summary has no rows" % path)
        self.classification = self.task == "classification"
        acc = [r.best_val_accuracy for r in self.runs if r.status == "ok"]
        if self.classification and any(math.isfinite(a) for a in acc):
            self.metric, self.higher_better = "best_val_accuracy", True
        else:
            self.metric, self.higher_better = "best_val_loss", False
        by_id = {}
        for r in self.runs:
            by_id.setdefault(r.id, []).append(r)
        self.variants = sorted((Variant(v, self.metric, self.higher_better)
                                for v in by_id.values()), key=lambda v: v.sort_key())
        self.axes = varying_axes(self.variants)

    def best_of_family(self):
        """{family: best Variant} for the families with a finished variant."""
        out = {}
        for v in self.variants:  # sorted best first
            if v.family not in out and math.isfinite(v.mean):
                out[v.family] = v
        return out


def varying_axes(variants):
    """[(axis, sorted values)] for the params axes that take more than one value, then
    'family' when it is not the same partition as one of them."""
    names = []
    for v in variants:
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


def axis_of(variant, axis):
    return variant.family if axis == "family" else variant.axes.get(axis)


def load_data(path):
    if not os.path.exists(path):
        raise ReportError("%s: no such file" % path)
    if not h5py.is_hdf5(path):
        raise ReportError("%s: not an HDF5 file" % path)
    with h5py.File(path, "r") as f:
        for n in ("train/x", "train/y"):
            if n not in f:
                raise ReportError("%s: missing /%s" % (path, n))
        task = text(f.attrs.get("task", "regression"))
        test_x = np.asarray(f["test/x"][:3]) if "test/x" in f else None
        return {"task": task, "x": np.asarray(f["train/x"][:2000]),
                "y": np.asarray(f["train/y"][:2000]), "test_x": test_x}


# ---- figures ---------------------------------------------------------------------------

class Page:
    """Collects figures and HTML sections into the output directory."""

    def __init__(self, outdir):
        self.outdir = outdir
        self.sections = []
        self.files = []

    def save(self, fig, name, caption):
        fig.savefig(os.path.join(self.outdir, name), dpi=90)
        plt.close(fig)
        self.files.append(name)
        return ('<figure><img src="%s" alt="%s"><figcaption>%s</figcaption></figure>'
                % (html.escape(name), html.escape(caption), html.escape(caption)))

    def section(self, title, body):
        self.sections.append("<section><h2>%s</h2>\n%s\n</section>" % (html.escape(title), body))


def colours(n):
    cmap = plt.get_cmap("tab10" if n <= 10 else "viridis")
    return [cmap(i if n <= 10 else i / max(n - 1, 1)) for i in range(n)]


def fig_dataset(page, data):
    x, y = data["x"], data["y"]
    if data["task"] == "regression":
        n = min(6, len(x))
        fig, axs = plt.subplots(2, 3, figsize=(13, 6), squeeze=False)
        for i, ax in enumerate(axs.flat):
            if i >= n:
                ax.axis("off")
                continue
            ax.plot(x[i, :, 0], color="0.55", label="input")
            ax.plot(y[i, :, 0], color="C3", label="output")
            ax.set(title="Training pair %d" % i, xlabel="time step", ylabel="value")
            ax.legend(fontsize=8)
        fig.suptitle("Dataset: the first %d input/output pairs" % n)
    else:
        classes = sorted(set(int(c) for c in y))
        cols = min(len(classes), 4)
        rows = (len(classes) + cols - 1) // cols
        fig, axs = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.2 * rows), squeeze=False)
        for ax in axs.flat[len(classes):]:
            ax.axis("off")
        for ax, c in zip(axs.flat, classes):
            idx = np.where(y[:len(x)] == c)[0][:3]
            for i in idx:
                ax.plot(x[i, :, 0], lw=1)
            ax.set(title="class %d (%d shown)" % (c, len(idx)), xlabel="time step",
                   ylabel="value")
        fig.suptitle("Dataset: a few training series of each class")
    fig.tight_layout()
    return page.save(fig, "dataset.png", "The dataset (notebook Q1)")


def stacked(runs, name):
    """[repeats, epochs] NaN-padded, over the runs that have the dataset."""
    curves = [c for c in (r.series(name) for r in runs) if c is not None and c.size]
    if not curves:
        return None
    out = np.full((len(curves), max(c.size for c in curves)), np.nan)
    for i, c in enumerate(curves):
        out[i, :c.size] = np.where(np.isfinite(c), c, np.nan)
    return out


def band(ax, curves, colour, style="-"):
    with np.errstate(all="ignore"), np.testing.suppress_warnings() as sup:
        sup.filter(RuntimeWarning)
        mean, std = np.nanmean(curves, axis=0), np.nanstd(curves, axis=0)
    e = np.arange(1, mean.size + 1)
    ax.plot(e, mean, style, color=colour, lw=1.4)
    if curves.shape[0] > 1:
        ax.fill_between(e, mean - std, mean + std, color=colour, alpha=.18, lw=0)


def fig_curves(page, res, axis, values):
    metrics = ["val_loss"] + (["val_accuracy"] if res.classification else [])
    fig, axs = plt.subplots(1, len(metrics), figsize=(7.5 * len(metrics), 4.6), squeeze=False)
    cols = dict(zip(values, colours(len(values))))
    for ax, m in zip(axs[0], metrics):
        drawn = set()
        for v in res.variants:
            curves = stacked(v.ok, m)
            if curves is None:
                continue
            val = axis_of(v, axis)
            band(ax, curves, cols.get(val, "0.6"), "-" if val in cols else "--")
            drawn.add(val)
        handles = [plt.Line2D([], [], color=cols[k], label="%s=%s" % (axis, k))
                   for k in values if k in drawn]
        if any(k not in cols for k in drawn):
            handles.append(plt.Line2D([], [], color="0.6", ls="--", label="%s n/a" % axis))
        ax.legend(handles=handles, fontsize=8)
        if m == "val_loss" and all_positive_wide(ax):
            ax.set_yscale("log")
        ax.set(title="%s of every variant, coloured by %s" % (m, axis), xlabel="epoch",
               ylabel=m + (" (log)" if ax.get_yscale() == "log" else ""))
        ax.grid(alpha=.3)
    fig.tight_layout()
    return page.save(fig, "curves_%s.png" % safe(axis),
                     "Validation curves coloured by %s; bands: mean ± std over repeats "
                     "(notebook Q4, Q10)" % axis)


def all_positive_wide(ax):
    ys = np.concatenate([ln.get_ydata() for ln in ax.get_lines()] or [np.zeros(0)])
    ys = ys[np.isfinite(ys)]
    return ys.size and ys.min() > 0 and ys.max() / ys.min() > 20


def safe(s):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(s))


def fig_effect(page, res):
    axes = res.axes
    n = len(axes)
    fig, axs = plt.subplots(1, n, figsize=(max(4.2 * n, 6), 4.2), squeeze=False)
    for ax, (axis, values) in zip(axs[0], axes):
        for xi, val in enumerate(values):
            vs = [v for v in res.variants if axis_of(v, axis) == val and math.isfinite(v.mean)]
            if not vs:
                continue
            # variants are sorted best first: the best is the leftmost dot
            xs = xi + (np.linspace(-.15, .15, len(vs)) if len(vs) > 1 else np.zeros(1))
            ax.errorbar(xs, [v.mean for v in vs], yerr=[v.std for v in vs],
                        fmt="o", color="C0", alpha=.6, ms=4, capsize=2)
            ax.plot(xs[:1], [vs[0].mean], "*", color="C3", ms=13,
                    label="best of each value" if xi == 0 else None)
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels([str(v) for v in values], rotation=20 if n > 2 else 0)
        ax.set(title="%s against %s" % (res.metric, axis), xlabel=axis, ylabel=res.metric)
        ax.grid(alpha=.3)
        ax.legend(fontsize=8)
    fig.suptitle("Effect of each axis (dots: variants, mean ± std over repeats)")
    fig.tight_layout()
    return page.save(fig, "effect.png", "Best validation metric against each axis")


def fig_predictions(page, res, picks):
    """picks: [(family, Variant, Run)] with predictions."""
    m = min(MAX_PRED_SERIES, min(len(r.group["predictions"]) for _, _, r in picks))
    fig, axs = plt.subplots(len(picks), m, figsize=(3.6 * m, 3.1 * len(picks)), squeeze=False)
    for row, (fam, v, r) in zip(axs, picks):
        pred = np.asarray(r.group["predictions"])
        tgt = np.asarray(r.group["pred_targets"])
        inp = np.asarray(r.group["pred_inputs"]) if "pred_inputs" in r.group else None
        split = text(r.group.attrs.get("pred_split", "test"))
        for i, ax in enumerate(row):
            if res.classification:
                k = pred.shape[1]
                bars = ax.bar(range(k), pred[i], color="0.7")
                bars[int(tgt[i])].set_color("C2")
                ax.set_ylim(0, 1)
                ax.set(title="%s: %s #%d, true %d, pred %d" % (fam, split, i, int(tgt[i]),
                                                                 int(np.argmax(pred[i]))),
                       xlabel="class", ylabel="probability")
            else:
                if inp is not None:
                    ax.plot(inp[i, :, 0], color="0.75", lw=1, label="input")
                ax.plot(tgt[i, :, 0], color="k", lw=1.2, label="target")
                ax.plot(pred[i, :, 0], color="C3", lw=1.2, label="prediction")
                ax.set(title="%s: %s series %d" % (fam, split, i), xlabel="time step",
                       ylabel="value")
                ax.legend(fontsize=7)
        row[0].annotate(v.name, (0, 1.18), xycoords="axes fraction", fontsize=8,
                        color="0.3")
    fig.suptitle("Predictions of the best variant of each family against their targets")
    fig.tight_layout()
    return page.save(fig, "predictions.png",
                     "Test predictions of the best %s variants (notebook Q5)"
                     % " / ".join(f for f, _, _ in picks))


def attention_inputs(run, data_test, n):
    if "pred_inputs" in run.group and len(run.group["pred_inputs"]) >= n:
        return np.asarray(run.group["pred_inputs"][:n])
    if data_test is not None and len(data_test) >= n:
        return data_test[:n]
    return None


def fig_attention(page, v, run, inputs):
    out = []
    att = run.group["attention"]
    layers = sorted((k for k in att if k.endswith("_mean")),
                    key=lambda k: int(k.split("_")[1]))
    for mk in layers:
        li = int(mk.split("_")[1])
        split = text(run.group.attrs.get("pred_split", "test"))  # where the dumps come from
        mean = np.asarray(att[mk])  # [n, heads, T]
        n, heads = min(3, mean.shape[0]), mean.shape[1]
        fig, axs = plt.subplots(2, n, figsize=(4.4 * n, 6), squeeze=False)
        for i in range(n):
            if inputs is not None:
                axs[0][i].plot(inputs[i, :, 0], color="0.3")
                axs[0][i].set(title="Input series %d" % i, xlabel="time step", ylabel="value")
            else:
                axs[0][i].axis("off")
            for h in range(heads):
                axs[1][i].plot(mean[i, h], lw=1.2, label="head %d" % h)
            axs[1][i].set(title="Average attention scores (layer %d)" % li,
                          xlabel="key position", ylabel="mean over queries")
            if heads > 1:
                axs[1][i].legend(fontsize=7)
        fig.suptitle("Average attention scores for the first %d %s series, layer %d\n%s"
                     % (n, split, li, v.name))
        fig.tight_layout()
        out.append(page.save(fig, "attention_mean_layer%d.png" % li,
                             "Average attention scores under each input series, layer %d "
                             "(notebook Q6)" % li))
        full_key = "layer_%d" % li
        if full_key not in att:
            continue
        full = att[full_key]  # [n, heads, T, T]
        fig, axs = plt.subplots(heads, n, figsize=(4.4 * n, 3.6 * heads + .6), squeeze=False)
        for h in range(heads):
            for i in range(n):
                im = axs[h][i].imshow(np.asarray(full[i, h]), aspect="auto", cmap="viridis",
                                      origin="upper")
                axs[h][i].set(title="%s series %d, head %d" % (split, i, h), xlabel="key position",
                              ylabel="query position")
                fig.colorbar(im, ax=axs[h][i], fraction=.046)
        fig.suptitle("Attention probabilities (query × key), layer %d\n%s" % (li, v.name))
        fig.tight_layout()
        out.append(page.save(fig, "attention_heads_layer%d.png" % li,
                             "Query × key attention per head, layer %d" % li))
    return out


def fig_confusion(page, v, run, n_classes):
    pred = np.asarray(run.group["predictions"])
    tgt = np.asarray(run.group["pred_targets"]).astype(int).ravel()
    k = max(n_classes, pred.shape[1])
    cm = np.zeros((k, k), dtype=int)
    for t, p in zip(tgt, pred.argmax(axis=1)):
        cm[t, p] += 1
    acc = float(np.trace(cm)) / max(len(tgt), 1)
    fig, ax = plt.subplots(figsize=(max(5.2, 1.2 * k + 1), max(4.6, 1.1 * k + 1)))
    im = ax.imshow(cm, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set(title="Confusion matrix, accuracy %.3f on %d %s series\n%s"
           % (acc, len(tgt), text(run.group.attrs.get("pred_split", "test")), v.name),
           xlabel="predicted class", ylabel="true class")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return page.save(fig, "confusion.png", "Confusion matrix of the best variant"), acc, len(tgt)


# ---- tables and page -------------------------------------------------------------------

def cell(value, shown=None):
    """A <td> whose data-v sorts numerically (empty for NaN: sorted last)."""
    if isinstance(value, float) and not math.isfinite(value):
        sv = ""
    else:
        sv = str(value)
    return '<td data-v="%s">%s</td>' % (html.escape(sv, quote=True),
                                        html.escape(fmt(value) if shown is None else shown))


def pm(mean, std):
    return "–" if not math.isfinite(mean) else "%s ± %s" % (fmt(mean), fmt(std, 2))


def leaderboard(res, best):
    best_ids = {v.id: f for f, v in best.items()}
    cols = ["#", "id", "name", "family", "ok/repeats", "params", "epochs", "best epoch",
            "best val_loss", "final val_loss"]
    if res.classification:
        cols.append("best val_accuracy")
    cols += ["train s", "ranks"]
    out = ['<table class="sortable"><thead><tr>%s</tr></thead><tbody>'
           % "".join("<th>%s</th>" % html.escape(c) for c in cols)]
    for pos, v in enumerate(res.variants, 1):
        rs = v.runs
        mk = ("best_val_loss", "final_val_loss") + (
            ("best_val_accuracy",) if res.classification else ())
        stats = {k: finite_mean_std([getattr(r, k) for r in v.ok]) for k in mk}
        badge = ' <span class="badge">best %s</span>' % best_ids[v.id] if v.id in best_ids else ""
        tds = [cell(pos), cell(v.id),
               '<td data-v="%s">%s%s</td>' % (html.escape(v.name, quote=True),
                                              html.escape(v.name), badge),
               cell(v.family), cell(len(v.ok), "%d/%d" % (len(v.ok), len(rs))),
               cell(rs[0].n_params),
               cell(finite_mean_std([r.epochs_run for r in rs])[0]),
               cell(finite_mean_std([r.best_epoch for r in v.ok])[0])]
        tds += [cell(stats[k][0], pm(*stats[k])) for k in mk]
        tds += [cell(finite_mean_std([r.train_seconds for r in rs])[0]),
                cell(min(r.rank for r in rs), ",".join(sorted({str(r.rank) for r in rs})))]
        out.append('<tr%s>%s</tr>' % (' class="best"' if v.id in best_ids else "", "".join(tds)))
    out.append("</tbody></table>")
    return "\n".join(out)


def best_table(res, best):
    if not best:
        return "<p>No variant finished.</p>"
    rows = ["<table><tr><th>family</th><th>best variant</th><th>%s (mean ± std)</th>"
            "<th>params</th></tr>" % html.escape(res.metric)]
    for fam in family_order(best):
        if fam in best:
            v = best[fam]
            rows.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%d</td></tr>"
                        % (fam, html.escape(v.name), pm(v.mean, v.std), v.runs[0].n_params))
    rows.append("</table>")
    notes = []
    for b in family_order(best):
        a = "conv"
        if b != a and a in best:
            va, vb = best[a].mean, best[b].mean
            better = b if (vb > va) == res.higher_better else a
            notes.append("<li>%s against %s: <b>%s</b> is better (%s vs %s)</li>"
                         % (a, b, better, fmt(va), fmt(vb)))
    return "\n".join(rows) + ("<ul>%s</ul>" % "".join(notes) if notes else "")


def failures_table(res):
    bad = [r for r in res.runs if r.status != "ok"]
    if not bad:
        return "<p>Every variant finished (status ok).</p>"
    rows = ["<table><tr><th>variant</th><th>name</th><th>status</th><th>epochs run</th>"
            "<th>message</th></tr>"]
    for r in sorted(bad, key=lambda r: (r.id, r.repeat)):
        rows.append('<tr class="%s"><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%s</td>'
                    "</tr>" % (html.escape(r.status), r.key, html.escape(r.name),
                               html.escape(r.status), r.epochs_run, html.escape(r.error)))
    rows.append("</table>")
    return "\n".join(rows)


STYLE = """body{font-family:sans-serif;margin:1.5em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}
table.sortable th{cursor:pointer;background:#eef;user-select:none}
table.sortable th:hover{background:#dde}
th.asc:after{content:" \\25B2"} th.desc:after{content:" \\25BC"}
tr.best{background:#efe} tr.failed{background:#fee} tr.diverged{background:#ffe}
.badge{background:#3a3;color:#fff;border-radius:3px;padding:0 4px;font-size:11px}
figure{margin:1em 0} img{max-width:100%;border:1px solid #ddd}
figcaption{color:#555;font-size:13px}"""

SCRIPT = """document.querySelectorAll("table.sortable").forEach(function (t) {
  t.querySelectorAll("th").forEach(function (th, i) {
    th.addEventListener("click", function () {
      var asc = !th.classList.contains("asc"), body = t.tBodies[0];
      t.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
      Array.from(body.rows).sort(function (a, b) {
        var x = a.cells[i].dataset.v, y = b.cells[i].dataset.v;
        if (x === "" || y === "") return (x === "") - (y === "");
        var nx = Number(x), ny = Number(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return asc ? c : -c;
      }).forEach(function (r) { body.appendChild(r); });
    });
  });
});"""


def header(res):
    a = res.attrs
    keys = ("task", "n_classes", "attnsweep_version", "data_path", "ranks",
            "ranks_per_variant", "start_time", "end_time", "wall_seconds")
    items = "".join("<li>%s: %s</li>" % (k, html.escape(fmt(a[k]) if not isinstance(
        a[k], (str, bytes)) else text(a[k]))) for k in keys if k in a)
    n_ok = sum(r.status == "ok" for r in res.runs)
    return ("<ul>%s<li>runs: %d (%d variants), %d ok, %d diverged, %d failed</li>"
            "<li>metric: %s (%s is better)</li></ul>"
            % (items, len(res.runs), len(res.variants), n_ok,
               sum(r.status == "diverged" for r in res.runs),
               sum(r.status == "failed" for r in res.runs), res.metric,
               "higher" if res.higher_better else "lower"))


def build(res, data, outdir):
    load_matplotlib()
    page = Page(outdir)
    page.section("Sweep", header(res))
    if data is not None:
        page.section("Dataset", fig_dataset(page, data))
    if any(stacked(v.ok, "val_loss") is not None for v in res.variants):
        axes = res.axes or [("variant", [])]
        figs = []
        for axis, values in axes:
            if axis == "variant":
                for v in res.variants:
                    v.axes["variant"] = v.name
                values = [v.name for v in res.variants]
            figs.append(fig_curves(page, res, axis, values))
        page.section("Validation curves", "\n".join(figs))
    best = res.best_of_family()
    page.section("Leaderboard (click a header to sort)",
                 "<h3>Best variant of each family</h3>" + best_table(res, best)
                 + "<h3>All variants (repeats as mean ± std)</h3>" + leaderboard(res, best))
    if res.axes:
        page.section("Effect of each axis", fig_effect(page, res))
    picks = []
    for fam in family_order({v.family for v in res.variants}):
        cands = [v for v in res.variants if v.family == fam]
        for v in cands:
            r = v.best_run()
            if r is not None and "predictions" in r.group and "pred_targets" in r.group:
                picks.append((fam, v, r))
                break
    if picks:
        page.section("Test predictions", fig_predictions(page, res, picks))
    att = [(v, v.best_run()) for v in res.variants]  # best first
    att = [(v, r) for v, r in att if r is not None and "attention" in r.group
           and len(r.group["attention"])]
    if att:
        v, r = att[0]
        n = min(3, len(r.group["attention"][next(iter(r.group["attention"]))]))
        figs = fig_attention(page, v, r, attention_inputs(
            r, data["test_x"] if data is not None else None, n))
        page.section("Attention scores of the best variant with attention (%s)" % v.name,
                     "\n".join(figs))
    if res.classification and picks:
        fam, v, r = min(((f, v, r) for f, v, r in picks), key=lambda p: p[1].sort_key())
        n_classes = int(res.attrs.get("n_classes", 0))
        fig, acc, m = fig_confusion(page, v, r, n_classes)
        page.section("Confusion matrix", fig + "<p>Best variant %s: accuracy %.3f on its %d "
                     "stored prediction series; best val_accuracy %s.</p>"
                     % (html.escape(v.name), acc, m, pm(v.mean, v.std)))
    page.section("Failed and diverged variants", failures_table(res))
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


def main(argv=None):
    p = argparse.ArgumentParser(description="HTML report of an attnsweep results file.")
    p.add_argument("results", help="results HDF5 written by attnsweep sweep")
    p.add_argument("--data", help="the dataset HDF5 (draws the dataset figure)")
    p.add_argument("-o", "--output", required=True, help="output directory")
    args = p.parse_args(argv)
    outdir = os.path.abspath(args.output)
    tmp = None
    try:
        res = Results(args.results)
        data = load_data(args.data) if args.data else None
        parent = os.path.dirname(outdir)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="." + os.path.basename(outdir) + ".", dir=parent)
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
