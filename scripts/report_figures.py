"""report_figures.py: the figures of scripts/report.py (matplotlib, Agg backend).

Every function takes the report's Results (report.py) and returns (matplotlib figure,
file name, caption); report.py saves them. Titles name the model each figure shows:
the variant, the repeat, which epoch's weights and which split.
"""
import math

import numpy as np

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

TOP_K = 5
MAX_PRED_SERIES = 4


def safe(s):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(s))


def short(s, n=48):
    return s if len(s) <= n else s[:n - 1] + "…"


def plural(n, word):
    """'1 run', '2 runs'."""
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def axes_label(res, v):
    """A variant by the values of the grid axes that differ (its name when none)."""
    parts = ["%s=%s" % (a, v.axes[a]) for a, _ in res.axes if a != "family" and a in v.axes]
    return ",".join(parts) or v.name


def colours(n):
    cmap = plt.get_cmap("tab10" if n <= 10 else "viridis")
    return [cmap(i if n <= 10 else i / max(n - 1, 1)) for i in range(n)]


def nan_stats(curves):
    """Mean and std over axis 0 of a NaN-padded array, NaN where no value."""
    with np.errstate(all="ignore"):
        cnt = np.sum(np.isfinite(curves), axis=0)
        z = np.where(np.isfinite(curves), curves, 0.)
        mean = np.where(cnt > 0, z.sum(axis=0) / np.maximum(cnt, 1), np.nan)
        var = np.where(cnt > 0, (np.where(np.isfinite(curves), (curves - mean) ** 2, 0.))
                       .sum(axis=0) / np.maximum(cnt, 1), np.nan)
    return mean, np.sqrt(var), cnt


def stacked(runs, name):
    """[runs, epochs] NaN-padded over the runs that have the curve, or None."""
    curves = [c for c in (r.series(name) for r in runs) if c is not None and c.size]
    if not curves:
        return None
    out = np.full((len(curves), max(c.size for c in curves)), np.nan)
    for i, c in enumerate(curves):
        out[i, :c.size] = np.where(np.isfinite(c), c, np.nan)
    return out


def log_if_wide(ax, ys):
    ys = ys[np.isfinite(ys)]
    if ys.size and ys.min() > 0 and ys.max() / ys.min() > 20:
        ax.set_yscale("log")


def dataset(data, class_names, question):
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
            ax.set(title="Training pair %d" % (i + 1), xlabel="time step", ylabel="value")
            ax.legend(fontsize=8)
        fig.suptitle("%s: the first %d input/output pairs of /train" % (data["name"], n))
        cap = "The dataset: the first %d training input/output pairs (notebook %s)" % (n, question)
    else:
        classes = sorted(set(int(c) for c in y))
        cols = min(len(classes), 4)
        rows = (len(classes) + cols - 1) // cols
        fig, axs = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.2 * rows + .4), squeeze=False)
        for ax in axs.flat[len(classes):]:
            ax.axis("off")
        for ax, c in zip(axs.flat, classes):
            idx = np.where(y[:len(x)] == c)[0]
            for i in idx[:3]:
                ax.plot(x[i, :, 0], lw=1)
            name = class_names[c] if c < len(class_names) else str(c)
            ax.set(title="class %s (%d series, 3 shown)" % (name, len(idx)),
                   xlabel="time step", ylabel="value")
        fig.suptitle("%s: training series of each class (first %d rows of /train)"
                     % (data["name"], len(x)))
        cap = ("The dataset: three training series of each class, with the original class "
               "labels (notebook %s)" % question)
    fig.tight_layout()
    return fig, "dataset.png", cap


def curves_top(res):
    """Training and validation curves of every variant (mean over its ok repeats), the
    TOP_K best highlighted and the rest faded."""
    names = [("loss", "val_loss")]
    if res.classification:
        names.append(("accuracy", "val_accuracy"))
    panels = [m for pair in names for m in pair
              if any(stacked(v.ok, m) is not None for v in res.variants)]
    if not panels:
        return None
    cols = min(len(panels), 2)
    rows = (len(panels) + cols - 1) // cols
    fig, axs = plt.subplots(rows, cols, figsize=(7.6 * cols, 4.4 * rows + .8), squeeze=False)
    top = [v for v in res.variants if math.isfinite(v.mean)][:TOP_K]
    col = dict(zip([v.id for v in top], colours(len(top))))
    for ax, m in zip(axs.flat, panels):
        ys = []
        for v in reversed(res.variants):  # best drawn last, on top
            c = stacked(v.ok, m)
            if c is None:
                continue
            mean, _, _ = nan_stats(c)
            e = np.arange(1, mean.size + 1)
            ys.append(mean)
            if v.id in col:
                ax.plot(e, mean, color=col[v.id], lw=2, zorder=3,
                        label="#%d %s" % (res.variants.index(v) + 1,
                                          short(axes_label(res, v), 64)))
            else:
                ax.plot(e, mean, color="0.6", lw=.8, alpha=.45, zorder=1)
        if m.endswith("loss") and ys:
            log_if_wide(ax, np.concatenate(ys))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title="%s (%s)" % (m, "training" if not m.startswith("val_") else "validation"),
               xlabel="epoch", ylabel=m + (" (log scale)" if ax.get_yscale() == "log" else ""))
        ax.grid(alpha=.3)
    for ax in axs.flat[len(panels):]:
        ax.axis("off")
    rest = len(res.variants) - len(top)
    pairs = sorted(zip(*axs.flat[0].get_legend_handles_labels()),
                   key=lambda hl: int(hl[1][1:].split(" ", 1)[0]))  # by place (#k ...)
    handles, labels = [h for h, _ in pairs], [lb for _, lb in pairs]
    if rest > 0:
        handles.append(plt.Line2D([], [], color="0.6", lw=.8))
        labels.append("the other %d variants" % rest)
    ncol = max(1, min(2 if max(map(len, labels), default=0) > 44 else 3, len(labels)))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    fig.suptitle("Training and validation curves: mean over each variant's ok repeats; the %d "
                 "best by %s in colour (# = leaderboard place)" % (len(top), res.metric))
    fig.tight_layout(rect=(0, .06 + .02 * ((len(labels) + ncol - 1) // ncol), 1, 1))
    return fig, "curves.png", ("Training and validation curves, best %d variants highlighted "
                               "(notebook %s)" % (len(top), res.q_compare))


def curves_axis(res, axis, values):
    """The validation curve per value of one axis: mean ± std over every ok run with it."""
    m = "val_accuracy" if res.metric.endswith("val_accuracy") else "val_loss"
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    ys = []
    for val, c in zip(values, colours(len(values))):
        runs = [r for v in res.variants if res.axis_of(v, axis) == val for r in v.ok]
        st = stacked(runs, m)
        if st is None:
            continue
        mean, std, cnt = nan_stats(st)
        e = np.arange(1, mean.size + 1)
        ax.plot(e, mean, color=c, lw=1.8, label="%s=%s (%s)" % (axis, val, plural(st.shape[0], "run")))
        if st.shape[0] > 1:
            ax.fill_between(e, mean - std, mean + std, color=c, alpha=.15, lw=0)
        ys.append(mean)
    if m == "val_loss" and ys:
        log_if_wide(ax, np.concatenate(ys))
    ax.legend(fontsize=8)
    ax.grid(alpha=.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(title="%s by %s: mean ± std over every ok run with that value" % (m, axis),
           xlabel="epoch", ylabel=m + (" (log scale)" if ax.get_yscale() == "log" else ""))
    fig.tight_layout()
    return fig, "curves_%s.png" % safe(axis), ("Validation curves grouped by %s (notebook %s)"
                                               % (axis, res.q_compare))


def _axis_positions(values):
    """Positions in [0, 1] of an axis' values: numbers by value (log when they span a
    factor of 8 or more), others evenly; a missing value (axis not used) at -0.12."""
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    pos = {}
    if nums and len(nums) == len(values):
        lo, hi = min(nums), max(nums)
        lg = lo > 0 and hi / lo >= 8
        f = (lambda x: math.log(x)) if lg else (lambda x: x)
        for v in values:
            pos[v] = .5 if hi == lo else (f(v) - f(lo)) / (f(hi) - f(lo))
    else:
        for i, v in enumerate(values):
            pos[v] = .5 if len(values) == 1 else i / (len(values) - 1)
    return pos


def parallel(res):
    """Parallel coordinates: one line per variant through its value of every axis and
    its metric (mean over repeats), coloured by the metric."""
    vs = [v for v in res.variants if math.isfinite(v.mean)]
    axes = res.axes
    if not axes or len(vs) < 2:
        return None
    fig, ax = plt.subplots(figsize=(max(9, 2.3 * (len(axes) + 1)), 4.8))
    ms = np.array([v.mean for v in vs])
    lo, hi = float(ms.min()), float(ms.max())
    norm = plt.Normalize(lo, hi if hi > lo else lo + 1)
    cmap = plt.get_cmap("viridis" if res.higher_better else "viridis_r")
    positions = [_axis_positions(vals) for _, vals in axes]
    xs = np.arange(len(axes) + 1)
    for v in sorted(vs, key=lambda v: -v.sort_key()[0]):  # best drawn last
        ys = []
        for (a, _), pos in zip(axes, positions):
            val = res.axis_of(v, a)
            ys.append(pos.get(val, -.12))
        ys.append(norm(v.mean))
        ax.plot(xs, ys, color=cmap(norm(v.mean)), lw=1.6, alpha=.85)
    for i, ((a, vals), pos) in enumerate(zip(axes, positions)):
        ax.axvline(i, color="0.3", lw=.8)
        for val in vals:
            ax.text(i + .04, pos[val], str(val), fontsize=8, va="center",
                    bbox=dict(fc="white", ec="none", alpha=.7, pad=.5))
        if any(res.axis_of(v, a) is None for v in vs):
            ax.text(i + .04, -.12, "(not used)", fontsize=7, color="0.4", va="center")
    ax.axvline(len(axes), color="0.3", lw=.8)
    for q in (0, .5, 1):
        ax.text(len(axes) + .04, q, "%.4g" % (lo + q * (hi - lo)), fontsize=8, va="center")
    ax.set_xticks(xs)
    ax.set_xticklabels([a for a, _ in axes] + [res.metric + "\n(mean of repeats)"])
    ax.set_yticks([])
    ax.set_xlim(-.1, len(axes) + .5)
    ax.set_ylim(-.2, 1.08)
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, fraction=.03, label=res.metric)
    ax.set_title("Parallel coordinates: one line per variant, coloured by %s\n(%s is better)"
                 % (res.metric, "higher" if res.higher_better else "lower"), fontsize=10)
    fig.tight_layout()
    return fig, "parallel.png", "Parallel coordinates of the grid axes and %s" % res.metric


def effect(res):
    """Per axis value: mean ± std of the metric over every ok run (all variants and
    repeats with that value); faded dots: each variant's mean."""
    axes = res.axes
    n = len(axes)
    fig, axs = plt.subplots(1, n, figsize=(max(4.2 * n, 6), 4.4), squeeze=False)
    for ax, (axis, values) in zip(axs[0], axes):
        for xi, val in enumerate(values):
            vs = [v for v in res.variants if res.axis_of(v, axis) == val]
            vals = [r.metric_value for v in vs for r in v.ok if math.isfinite(r.metric_value)]
            dots = [v.mean for v in vs if math.isfinite(v.mean)]
            if dots:
                ax.plot(xi + np.linspace(-.18, .18, len(dots)) if len(dots) > 1 else [xi],
                        dots, "o", color="0.55", alpha=.45, ms=4)
            if vals:
                sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.
                ax.errorbar([xi], [float(np.mean(vals))], yerr=[sd] if len(vals) > 1 else None,
                            fmt="D", color="C3", ms=7, capsize=5, lw=2, zorder=3)
                ax.annotate("n=%d" % len(vals), (xi, float(np.mean(vals))), xytext=(8, 0),
                            textcoords="offset points", fontsize=7, color="C3")
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels([str(v) for v in values], rotation=20 if n > 2 else 0)
        ax.set_xlim(-.6, len(values) - .4)
        ax.set(title="%s by %s" % (res.metric, axis), xlabel=axis, ylabel=res.metric)
        ax.grid(alpha=.3)
    h = [plt.Line2D([], [], marker="D", color="C3", ls="", label="mean ± std over runs"),
         plt.Line2D([], [], marker="o", color="0.55", ls="", alpha=.6, label="one variant (mean)")]
    axs[0][0].legend(handles=h, fontsize=7)
    fig.suptitle("Effect of each axis on %s:%smean ± std across variants and repeats"
                 % (res.metric, " " if n > 1 else "\n"))
    fig.tight_layout()
    return fig, "effect.png", "Per-axis effect on %s (mean ± std over every ok run with each value)" \
        % res.metric


def families(res, fams):
    """fams: [(family, [metric values of its ok runs])]."""
    fig, ax = plt.subplots(figsize=(max(6, 1.9 * len(fams) + 2.5), 4.4))
    for i, (fam, vals) in enumerate(fams):
        c = "C%d" % i
        ax.plot(i + np.linspace(-.2, .2, len(vals)) if len(vals) > 1 else [i], vals, "o",
                color=c, alpha=.4, ms=4)
        m = float(np.mean(vals))
        sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
        ax.errorbar([i], [m], yerr=[sd] if sd is not None else None, fmt="D", color=c, ms=8,
                    capsize=6, lw=2)
        ax.annotate("%.4g%s (%s)" % (m, " ± %.2g" % sd if sd else "", plural(len(vals), "run")),
                    (i, m), xytext=(10, 0), textcoords="offset points", fontsize=8)
    ax.set_xticks(range(len(fams)))
    ax.set_xticklabels([f for f, _ in fams])
    ax.set_xlim(-.6, len(fams) - .1)
    ax.set(title="%s by model family:\nmean ± std over every ok run" % res.metric,
           xlabel=("family (from the layer types)" if res.family_basis is None else
                   "family (named from the grid axis %s)" % res.family_basis), ylabel=res.metric)
    ax.grid(alpha=.3)
    fig.tight_layout()
    return fig, "families.png", "Per-family %s, mean ± std over runs (notebook %s)" \
        % (res.metric, res.q_compare)


def rungs(res):
    """Each run's search metric at every rung it reached (rungs/epochs, rungs/metric):
    runs that went on in colour, runs stopped at a rung in grey."""
    metric = res.search.get("metric", "val_loss")
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    budgets, shown = set(), {"stopped": 0, "kept": 0}
    for r in res.runs:
        if "rungs" not in r.group or "epochs" not in r.group["rungs"]:
            continue
        ep = np.asarray(r.group["rungs/epochs"], dtype=int)
        m = np.asarray(r.group["rungs/metric"], dtype=float)
        budgets.update(ep.tolist())
        stopped = r.status == "stopped"
        ax.plot(ep, m, "-o", color="0.6" if stopped else "C0", alpha=.5 if stopped else .9,
                ms=3 if stopped else 5, lw=.8 if stopped else 1.6,
                label=None if shown["stopped" if stopped else "kept"] else
                ("stopped at its last rung" if stopped else "promoted to the end (ok)"))
        shown["stopped" if stopped else "kept"] += 1
    ax.set_xticks(sorted(budgets))
    ax.legend(fontsize=8)
    ax.set(title="Rungs of the %s search: %s of every run at each rung budget"
           % (res.search.get("type", "?"), metric), xlabel="epochs (rung budget)", ylabel=metric)
    ax.grid(alpha=.3)
    fig.tight_layout()
    return fig, "rungs.png", ("Rungs: %s went on to the last rung, %d stopped"
                              % (plural(shown["kept"], "run"), shown["stopped"]))


def predictions(res, picks):
    """picks: [(family, Variant, Run)] with predictions."""
    m = min(MAX_PRED_SERIES, min(len(r.group["predictions"]) for _, _, r in picks))
    fig = plt.figure(figsize=(3.7 * m, 3.4 * len(picks) + .4), layout="constrained")
    subs = fig.subfigures(len(picks), 1, squeeze=False)[:, 0]
    for sub, (fam, v, r) in zip(subs, picks):
        row = sub.subplots(1, m, squeeze=False)[0]
        sub.suptitle("%s: %s" % (fam, r.model_label), fontsize=9, weight="bold")
        pred = np.asarray(r.group["predictions"])
        tgt = np.asarray(r.group["pred_targets"])
        inp = np.asarray(r.group["pred_inputs"]) if "pred_inputs" in r.group else None
        for i, ax in enumerate(row):
            if res.classification:
                k = pred.shape[1]
                bars = ax.bar(range(k), pred[i], color="0.7")
                bars[int(tgt[i])].set_color("C2")
                ax.set_ylim(0, 1)
                ax.set_xticks(range(k))
                names = res.names(max(k, int(tgt[i]) + 1), r)
                ax.set_xticklabels(names[:k])
                ax.set(title="%s #%d: true %s, predicted %s"
                       % (r.split, i + 1, names[int(tgt[i])], names[int(np.argmax(pred[i]))]),
                       xlabel="class", ylabel="probability")
            else:
                if inp is not None:
                    ax.plot(inp[i, :, 0], color="0.75", lw=1, label="input")
                ax.plot(tgt[i, :, 0], color="k", lw=1.2, label="target")
                ax.plot(pred[i, :, 0], color="C3", lw=1.2, label="prediction")
                ax.set(title="%s series %d" % (r.split, i + 1), xlabel="time step",
                       ylabel="value")
                ax.legend(fontsize=7)
            ax.title.set_fontsize(9)
    splits = sorted({r.split for _, _, r in picks})
    fig.suptitle("Predictions against the targets on %s series, best variant of each family"
                 % "/".join(splits))
    return fig, "predictions.png", splits


def attention(v, run, inputs, li, mean_scores, full):
    """mean_scores [n, heads, T]; full [n, heads, T, T] or None; li 0-based layer index."""
    out = []
    n, heads = min(3, mean_scores.shape[0]), mean_scores.shape[1]
    fig, axs = plt.subplots(2, n, figsize=(4.6 * n, 6.4), squeeze=False)
    for i in range(n):
        if inputs is not None:
            axs[0][i].plot(inputs[i, :, 0], color="0.3")
            axs[0][i].set(title="Input: %s series %d" % (run.split, i + 1), xlabel="time step",
                          ylabel="value")
        else:
            axs[0][i].axis("off")
        for h in range(heads):
            axs[1][i].plot(mean_scores[i, h], lw=1.2, label="head %d" % (h + 1))
        axs[1][i].set(title="Average attention scores, layer %d" % (li + 1),
                      xlabel="key position (time step)", ylabel="mean over queries")
        if heads > 1:
            axs[1][i].legend(fontsize=7)
    fig.suptitle("Average attention scores under the first %d %s series, layer %d "
                 "(self_attention)\n%s" % (n, run.split, li + 1, run.model_label), fontsize=10)
    fig.tight_layout()
    out.append((fig, "attention_mean_layer%d.png" % (li + 1),
                "Average attention scores under the first %d %s series, layer %d"
                % (n, run.split, li + 1)))
    if full is None:
        return out
    fig, axs = plt.subplots(heads, n, figsize=(4.6 * n, 3.7 * heads + 1), squeeze=False)
    for h in range(heads):
        for i in range(n):
            im = axs[h][i].imshow(np.asarray(full[i, h]), aspect="auto", cmap="viridis",
                                  origin="upper")
            axs[h][i].set(title="%s series %d, head %d" % (run.split, i + 1, h + 1),
                          xlabel="key position", ylabel="query position")
            fig.colorbar(im, ax=axs[h][i], fraction=.046)
    fig.suptitle("Attention probabilities (query × key), layer %d\n%s" % (li + 1, run.model_label),
                 fontsize=10)
    fig.tight_layout()
    out.append((fig, "attention_heads_layer%d.png" % (li + 1),
                "Query × key attention probabilities per head, layer %d" % (li + 1)))
    return out


def confusion(res, run, cm, acc):
    k = cm.shape[0]
    fig, ax = plt.subplots(figsize=(max(6.4, 1.2 * k + 2.4), max(5.6, 1.1 * k + 2.2)))
    im = ax.imshow(cm, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(res.names(k, run))
    ax.set_yticklabels(res.names(k, run))
    ax.set(xlabel="predicted class", ylabel="true class")
    ax.set_title("Confusion matrix on %d %s series: accuracy %.3f\n%s"
                 % (int(cm.sum()), run.split, acc, run.model_label), fontsize=9, wrap=True)
    fig.colorbar(im, ax=ax, fraction=.046)
    fig.tight_layout()
    return fig, "confusion.png", "Confusion matrix of %s" % run.model_label
