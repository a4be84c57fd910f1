"""report_html.py: the HTML building blocks of scripts/report.py: number formatting
(fmt, mean ± std), table cells whose data-v sorts numerically, tables, the Page that
collects figures and sections, and the page's style and sorting script (the page opens
from disk: no external files).
"""
import html
import math
import os

import numpy as np


def fmt(x, digits=4):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, str):
        return x
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return "%.*g" % (digits, x)


def mean_std(values):
    """(mean, sample std or NaN for one value, count) over the finite values."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan, int(v.size)


def pm(mean, std, n=2):
    """'m ± s', or just 'm' for a single value."""
    if not math.isfinite(mean):
        return "–"
    if n < 2 or not math.isfinite(std) or std == 0:
        return fmt(mean)  # one value, or all equal: no "± 0"
    return "%s ± %s" % (fmt(mean), fmt(std, 2))


class Page:
    """Collects figures and HTML sections into the output directory."""

    def __init__(self, outdir):
        self.outdir = outdir
        self.sections = []
        self.files = []

    def save(self, made, caption=None):
        """made: (figure, file name, caption) from report_figures; returns the HTML."""
        fig, name, cap = made
        cap = caption or cap
        fig.savefig(os.path.join(self.outdir, name), dpi=90)
        import matplotlib.pyplot as plt  # loaded (Agg) by report_figures, which made fig
        plt.close(fig)
        self.files.append(name)
        return ('<figure id="%s"><img src="%s" alt="%s"><figcaption><b>%s</b>: %s</figcaption>'
                '</figure>' % (html.escape(name), html.escape(name), html.escape(cap),
                               html.escape(name), html.escape(cap)))

    def section(self, anchor, title, body):
        self.sections.append('<section id="%s"><h2>%s</h2>\n%s\n</section>'
                             % (anchor, html.escape(title), body))


def cell(value, shown=None):
    """A <td> whose data-v sorts numerically (empty for NaN: sorted last)."""
    if isinstance(value, float) and not math.isfinite(value):
        sv = ""
    else:
        sv = str(value)
    return '<td data-v="%s">%s</td>' % (html.escape(sv, quote=True),
                                        html.escape(fmt(value) if shown is None else shown))


def stat_cell(values):
    m, s, n = mean_std(values)
    return cell(m, pm(m, s, n))


def table(cols, rows, sortable=True, row_class=None):
    out = ['<div class="scroll"><table%s><thead><tr>%s</tr></thead><tbody>'
           % (' class="sortable"' if sortable else "",
              "".join("<th>%s</th>" % html.escape(c) for c in cols))]
    for i, tds in enumerate(rows):
        cls = row_class[i] if row_class else ""
        out.append('<tr%s>%s</tr>' % (' class="%s"' % cls if cls else "", "".join(tds)))
    out.append("</tbody></table></div>")
    return "\n".join(out)


STYLE = """body{font-family:sans-serif;margin:1.5em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}
table.sortable th{cursor:pointer;background:#eef;user-select:none}
table.sortable th:hover{background:#dde}
th.asc:after{content:" \\25B2"} th.desc:after{content:" \\25BC"}
tr.best{background:#efe} tr.failed{background:#fee} tr.diverged{background:#ffe}
.badge{background:#3a3;color:#fff;border-radius:3px;padding:0 4px;font-size:11px}
.warn{background:#fec;padding:2px 6px;border-radius:3px}
figure{margin:1em 0} img{max-width:100%;border:1px solid #ddd}
figcaption{color:#555;font-size:13px} details{margin:.3em 0}
td.name{max-width:17em;font-size:12px}
div.scroll{overflow-x:auto;max-width:100%}"""

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
