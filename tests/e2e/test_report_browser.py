#!/usr/bin/python3
"""The report of real small sweeps, rendered in headless Chromium (Debian's chromium).

A classification sweep (a 4-class data set written as UCR TSV files with labels 1-4 and
imported with `attnsweep data ucr`: conv, residual and conv + self-attention variants,
predictions of every validation series), a sweep of attention models only (differing by
num_heads and key_dim, as sweeps/trace-attention.json) and a regression sweep (the toy
task, sweeps/quick.json) are run with ATTNSWEEP_BIN, their reports rendered by chromium
(--dump-dom after the load event, console messages on stderr with --enable-logging):
no console message, no broken image (a probe script checks every <img> decoded in the
browser; every PNG also decodes with matplotlib), the families from the layer types (no
attention model labelled conv) or, when every variant has the same, named from the axis
that differs (num_heads=1, num_heads=2), the
confusion-matrix accuracy equal to the runs table's value for the same run, the
original class labels used, and a full-page screenshot written (AS_SCREENSHOT_DIR keeps
them). Skips (exit 77) when chromium or ATTNSWEEP_BIN is absent.
"""
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

SRC = os.environ.get("ATTNSWEEP_SRC",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PY = os.environ.get("AS_PYTHON", "/usr/bin/python3")
REPORT = os.path.join(SRC, "scripts", "report.py")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, temp_path  # noqa: E402
check = Checks()

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

PROBE = """<script>window.addEventListener("load", function () {
  var bad = [];
  document.querySelectorAll("img").forEach(function (i) {
    if (!(i.complete && i.naturalWidth > 0)) bad.push(i.getAttribute("src")); });
  document.body.setAttribute("data-images", document.images.length);
  document.body.setAttribute("data-broken", bad.join(" "));
});</script></body>"""


def chromium(tmp, args):
    prof = tempfile.mkdtemp(prefix="chromium-profile.", dir=tmp)  # a new empty profile
    try:
        return subprocess.run([shutil.which("chromium")] + FLAGS + ["--user-data-dir=" + prof]
                              + args, capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(prof, ignore_errors=True)


def sh(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    check(p.returncode == 0, "%s: exit %d %s" % (" ".join(cmd[:3]), p.returncode,
                                                 p.stderr[-400:]))
    return p.returncode == 0


def classification_data(tmp, bin_):
    """A 4-class problem written as UCR TSV files (labels 1-4) and imported."""
    rng = np.random.default_rng(0)
    T = 64
    for split, n in (("TRAIN", 80), ("TEST", 40)):
        with open(os.path.join(tmp, "Syn_%s.tsv" % split), "w") as f:
            for i in range(n):
                c = i % 4
                t = np.arange(T)
                x = np.where(t > 10 + 12 * c, 1.0, 0.0) * (1 if c % 2 else -1)
                x = x + rng.normal(0, .15, T)
                f.write("%d\t%s\n" % (c + 1, "\t".join("%.5f" % v for v in x)))
    out = os.path.join(tmp, "syn.h5")
    ok = sh([bin_, "data", "ucr", "--train", os.path.join(tmp, "Syn_TRAIN.tsv"), "--test",
             os.path.join(tmp, "Syn_TEST.tsv"), "--merge-shuffle", "-o", out])
    return out if ok else None


def classification_sweep(tmp, bin_, data):
    conv = {"type": "conv1d", "filters": 8, "kernel_size": 5, "activation": "relu"}
    sweep = {"data": data, "prediction_samples": 24,  # every validation series (120 * 0.2)
             "model": [conv, "$block", {"type": "global_average_pooling1d"},
                       {"type": "dense", "units": 4}],
             "train": {"epochs": 4, "batch_size": 16, "validation_split": 0.2},
             "grid": {"block": [conv, dict(conv, type="residual_conv1d"),
                                {"type": "self_attention", "num_heads": "$heads", "key_dim": 4}],
                      "heads": [1, 2]},
             "repeats": 2, "seed": 0}
    path = os.path.join(tmp, "cls.json")
    with open(path, "w") as f:
        json.dump(sweep, f)
    out = os.path.join(tmp, "cls.h5")
    return out if sh([bin_, "sweep", path, "-o", out]) else None


def heads_sweep(tmp, bin_, data):
    """Every variant an attention model, differing by the number of heads and key_dim
    (as sweeps/trace-attention.json; train.refit, so the figures show the refit model):
    families must be named from num_heads."""
    conv = {"type": "conv1d", "filters": 8, "kernel_size": 5, "activation": "relu"}
    sweep = {"data": data, "prediction_samples": 24,
             "model": [conv, {"type": "self_attention", "num_heads": "$num_heads",
                              "key_dim": "$key_dim"}, {"type": "global_average_pooling1d"},
                       {"type": "dense", "units": 4}],
             "train": {"epochs": 2, "batch_size": 16, "validation_split": 0.2, "refit": True},
             "grid": {"num_heads": [1, 2], "key_dim": [4, 8]}, "seed": 0}
    path = os.path.join(tmp, "heads.json")
    with open(path, "w") as f:
        json.dump(sweep, f)
    out = os.path.join(tmp, "heads.h5")
    return out if sh([bin_, "sweep", path, "-o", out]) else None


def check_heads_page(page, dom):
    fam = table_with(dom, "best variant")
    names = [row[0] for row in fam["rows"][1:]] if fam else []
    check(names == ["num_heads=1", "num_heads=2"], "heads: families table %s, want "
          "num_heads=1, num_heads=2" % names)
    check("so the families are named from what differs: the grid axis <b>num_heads</b>"
          in page, "heads: the page should say the families come from num_heads")
    check(">conv<" not in page, "heads: an attention model labelled conv")
    # train.refit: the dumps come from the model refit on every row, validation rows too
    check(re.search(r"refit on every training row for \d+ epochs\): accuracy [0-9.]+ on "
                    r"its \d+ stored validation series\. The refit model was trained on these "
                    r"rows too", page) is not None,
          "heads (refit): the confusion matrix must say its model saw the validation rows")


def regression_sweep(tmp, bin_):
    toy = os.path.join(tmp, "toy.h5")
    out = os.path.join(tmp, "reg.h5")
    if not sh([bin_, "data", "toy", "--samples", "120", "-o", toy]):
        return None, None
    ok = sh([bin_, "sweep", os.path.join(SRC, "sweeps", "quick.json"), "--data", toy,
             "--epochs", "3", "-o", out])
    return (out, toy) if ok else (None, None)


class Dom(html.parser.HTMLParser):
    """Tables (header texts, rows of cells' data-v) and the <img> sources."""

    def __init__(self):
        super().__init__()
        self.tables, self.imgs, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"head": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = [tag, a.get("data-v"), ""]
        elif tag == "img":
            self.imgs.append(a.get("src"))

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables:
            kind, v, txt = self._cell
            t = self.tables[-1]
            if kind == "th":
                t["head"].append(txt.strip())
            else:
                t["rows"][-1].append(v if v is not None else txt.strip())
            self._cell = None


def table_with(dom, header):
    for t in dom.tables:
        if header in t["head"]:
            return t
    return None


def check_page(label, res, out, tmp, shots):
    import h5py
    import matplotlib.image
    index = os.path.join(out, "index.html")
    with open(index, encoding="utf-8") as f:
        page = f.read()
    probe = os.path.join(out, "probe.html")
    with open(probe, "w", encoding="utf-8") as f:
        f.write(page.replace("</body>", PROBE))
    p = chromium(tmp, ["--enable-logging=stderr", "--v=0", "--dump-dom", "file://" + probe])
    os.unlink(probe)
    check(p.returncode == 0, "%s: chromium exit %d: %s" % (label, p.returncode, p.stderr[-300:]))
    console = [ln for ln in p.stderr.splitlines() if ":CONSOLE" in ln]
    check(not console, "%s: console messages: %s" % (label, console[:3]))
    m = re.search(r'data-broken="([^"]*)"', p.stdout)
    n = re.search(r'data-images="(\d+)"', p.stdout)
    check(m is not None and n is not None and int(n.group(1)) >= 8,
          "%s: the probe did not run or too few images (%s)" % (label, n and n.group(1)))
    check(m is not None and m.group(1) == "", "%s: broken images in chromium: %s"
          % (label, m and m.group(1)))
    dom = Dom()
    dom.feed(p.stdout)
    for src in dom.imgs:
        path = os.path.join(out, src)
        ok = os.path.isfile(path)
        if ok:
            try:
                img = matplotlib.image.imread(path)
                ok = img.shape[0] >= 200 and img.shape[1] >= 300
            except (OSError, ValueError, SyntaxError):
                ok = False
        check(ok, "%s: image %s missing or does not decode" % (label, src))
    want = expected_families(res)
    board = table_with(dom, "family")
    check(board is not None, "%s: no leaderboard" % label)
    if board:
        ids, fams = board["head"].index("id"), board["head"].index("family")
        got = {int(row[ids]): row[fams] for row in board["rows"][1:]}
        check(got == want, "%s: leaderboard families %s, want %s (from the layer types, or "
              "from the axis that differs when every variant has the same)" % (label, got, want))
    shot = os.path.join(shots, "%s.png" % label)
    p = chromium(tmp, ["--window-size=1400,9000", "--hide-scrollbars", "--screenshot=" + shot,
                       "file://" + index])
    check(p.returncode == 0 and os.path.getsize(shot) > 50000,
          "%s: screenshot %s not written" % (label, shot))
    return page, dom


def expected_families(res):
    """{variant id: family}, read independently of the report: any self_attention is
    attention, residual_conv1d residual, else conv; when every variant gets the same,
    'axis=value' of the first grid axis (in the variants' order) with two values."""
    import h5py
    with h5py.File(res, "r") as f:
        groups = sorted(((int(g.attrs["id"]), json.loads(g.attrs["config"]),
                          json.loads(g.attrs["params"])) for g in f["variants"].values()),
                        key=lambda t: t[0])
    kind, params = {}, {}
    for vid, config, par in groups:
        types = {L["type"] for L in config["model"]}
        kind[vid] = ("attention" if "self_attention" in types else
                     "residual" if "residual_conv1d" in types else "conv")
        params[vid] = {a: v["type"] if isinstance(v, dict) else v for a, v in par.items()}
    if len(set(kind.values())) > 1:
        return kind
    order = []
    for vid in sorted(params):
        order += [a for a in params[vid] if a not in order]
    for a in order:
        if len({json.dumps(params[v].get(a)) for v in params}) > 1:
            return {v: "%s=%s" % (a, params[v][a]) if a in params[v] else "no " + a
                    for v in params}
    return kind


def check_confusion(page, dom):
    m = re.search(r"Run <b>([^<]+)</b> \(([^)]*\)[^)]*)\): accuracy ([0-9.]+) on its (\d+) "
                  r"stored (\w+) series", page)
    check(m is not None, "classification: no confusion-matrix accuracy line")
    if not m:
        return
    key, acc = m.group(1), float(m.group(3))
    runs = table_with(dom, "weights' epoch")
    col = "val_accuracy at the weights' epoch"
    check(runs is not None and col in runs["head"], "classification: runs table lacks '%s'" % col)
    if runs is None or col not in runs["head"]:
        return
    rows = [r for r in runs["rows"][1:] if r and r[0] == key]
    check(len(rows) == 1, "classification: run %s not in the runs table" % key)
    if rows:
        other = float(rows[0][runs["head"].index(col)])
        check(abs(other - acc) < 5e-4, "classification: confusion-matrix accuracy %.3f but the "
              "runs table says %.4f for %s" % (acc, other, key))
    check("It equals the run's" in page, "classification: the page should say the numbers agree")


def main():
    bin_ = os.environ.get("ATTNSWEEP_BIN")
    if not shutil.which("chromium"):
        print("SKIP: chromium not installed (scripts/install-deps.sh installs Debian's chromium)")
        return 77
    if not bin_ or not os.access(bin_, os.X_OK):
        print("SKIP: ATTNSWEEP_BIN not set: no sweep to report on")
        return 77
    tmp = temp_path("test_report_browser.")
    shots = os.environ.get("AS_SCREENSHOT_DIR") or os.path.join(tmp, "shots")
    os.makedirs(shots, exist_ok=True)
    data = classification_data(tmp, bin_)
    res = classification_sweep(tmp, bin_, data) if data else None
    if res:
        out = os.path.join(tmp, "cls-report")
        if sh([PY, REPORT, res, "--data", data, "-o", out]):
            page, dom = check_page("classification", res, out, tmp, shots)
            check_confusion(page, dom)
            check("classes (the data's original labels): 1, 2, 3, 4" in page,
                  "classification: the original class labels 1-4 should name the classes")
    res = heads_sweep(tmp, bin_, data) if data else None
    if res:
        out = os.path.join(tmp, "heads-report")
        if sh([PY, REPORT, res, "--data", data, "-o", out]):
            check_heads_page(*check_page("heads", res, out, tmp, shots))
    res, toy = regression_sweep(tmp, bin_)
    if res:
        out = os.path.join(tmp, "reg-report")
        if sh([PY, REPORT, res, "--data", toy, "-o", out]):
            check_page("regression", res, out, tmp, shots)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
