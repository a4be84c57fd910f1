#!/usr/bin/python3
"""End-to-end test of scripts/report.py on synthetic results files.

tests/ref/make_fake_results.py writes regression and classification results in the
README's layout (with diverged and failed variants, repeats); report.py must draw every
figure, reference only files that exist, pick the best variant of each family and the
confusion-matrix accuracy that an independent numpy computation gives, list the failed
variants with their messages, and reject bad inputs with exit status 2, a one-line
message and no output directory. When Debian's chromium is installed the leaderboard's
sorting script is run in headless chromium.
"""
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

SRC = os.environ.get("ATTNSWEEP_SRC",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PY = os.environ.get("AS_PYTHON", "/usr/bin/python3")
REPORT = os.path.join(SRC, "scripts", "report.py")
FAKE = os.path.join(SRC, "tests", "ref", "make_fake_results.py")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import Checks, temp_path  # noqa: E402
check = Checks()


def run(*args):
    return subprocess.run([PY] + list(args), capture_output=True, text=True, timeout=300)


class Refs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.text = [], []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href") and v and not v.startswith("#"):
                self.refs.append(v)

    def handle_data(self, data):
        self.text.append(data)


def families(configs):
    """{key: family}: any self_attention -> attention, residual_conv1d -> residual (both:
    attention+residual), else conv (every fake model has conv1d layers)."""
    out = {}
    for k, c in configs.items():
        t = {L.get("type") for L in json.loads(c)["model"]}
        parts = [n for lt, n in (("self_attention", "attention"), ("residual_conv1d", "residual"))
                 if lt in t]
        out[k] = "+".join(parts) or "conv"
    return out


def group_of(row):
    """The /variants group of a /summary row: its run key (format 2) or v<id>_r<repeat>."""
    if "key" in row.dtype.names:
        return "variants/" + row["key"].split(b"\0")[0].decode()
    return "variants/v%04d_r%d" % (row["id"], row["repeat"])


def expected_from_file(path):
    """Independent reading of the results: best variant per family, failures, axes."""
    with h5py.File(path, "r") as f:
        s = f["summary"][()]
        task = f.attrs["task"]
        task = task.decode() if isinstance(task, bytes) else task
        # the kept model's figures rank (files without them, as the fake ones: the best's)
        kind = "kept" if "kept_val_loss" in s.dtype.names else "best"
        tie_loss = kind + "_val_loss"
        metric, sign = ((kind + "_val_accuracy", -1.) if task == "classification"
                        else (tie_loss, 1.))
        per = {}
        axes = {}
        fam = families({group_of(row): f[group_of(row)].attrs["config"] for row in s})
        for row in s:
            key = group_of(row)
            g = f[key]
            status = row["status"].split(b"\0")[0].decode()
            d = per.setdefault(int(row["id"]), {"vals": [], "fam": fam[key], "loss": [],
                                                "name": row["name"].split(b"\0")[0].decode(),
                                                "bad": []})
            if status == "ok":
                d["vals"].append(float(row[metric]))
                d["loss"].append(float(row[tie_loss]))
            else:
                d["bad"].append((key.split("/")[1], status, g.attrs["error"]))
            for a, v in json.loads(g.attrs["params"]).items():
                axes.setdefault(a, set()).add(json.dumps(v.get("type") if isinstance(v, dict)
                                                         else v))
        best = {}  # family -> (signed mean metric, name, id, tie: mean best_val_loss)
        for vid, d in per.items():
            if d["vals"]:
                m = sign * np.mean(d["vals"])
                tie = float(np.mean(d["loss"])) if sign < 0 else 0.
                b = best.get(d["fam"])
                if b is None or (m, tie, vid) < (b[0], b[3], b[2]):
                    best[d["fam"]] = (m, d["name"], vid, tie)
        bad = [b for d in per.values() for b in d["bad"]]
        attn_layers = sorted({k for v in f["variants"].values() if "attention" in v
                              for k in v["attention"] if not k.endswith("_mean")})
        acc = None
        if task == "classification":
            # best variant (ties: lowest id), its best ok repeat (ties: lowest repeat)
            overall = min(best.values(), key=lambda b: (b[0], b[3], b[2]))
            r = min((row for row in s if row["id"] == overall[2]
                     and row["status"].startswith(b"ok")),
                    key=lambda row: (-row[metric], row[tie_loss], row["repeat"]))
            g = f[group_of(r)]
            acc = float(np.mean(np.argmax(g["predictions"][()], 1) == g["pred_targets"][()]))
    varying = sorted(a for a, vals in axes.items() if len(vals) > 1)
    return task, best, bad, varying, attn_layers, acc


def fake_report(task, layer_objects, tmp, extra=(), tag=""):
    res = os.path.join(tmp, task + tag + ".h5")
    data = os.path.join(tmp, task + tag + "_data.h5")
    args = [FAKE, "--task", task, "-o", res, "--data-out", data] + list(extra)
    p = run(*(args + (["--layer-objects"] if layer_objects else [])))
    check(p.returncode == 0, "make_fake_results %s: %s" % (task, p.stderr))
    out = check_report(task, res, data, os.path.join(tmp, "report_" + task + tag))
    bad = expected_from_file(res)[2]
    check(len(bad) >= 2, "%s: fake should have failed and diverged variants" % task)
    if task == "regression" and out and not tag:
        # a rerun into the same directory replaces the earlier report
        with open(os.path.join(out, "stale.png"), "w") as f:
            f.write("left from an earlier report")
        p = run(REPORT, res, "-o", out)
        check(p.returncode == 0 and not os.path.exists(os.path.join(out, "stale.png"))
              and os.path.exists(os.path.join(out, "dataset.png")),
              "%s: a rerun should replace the earlier report (the dataset found from the "
              "results' data_path)" % task)
    return out


def real_report(tmp):
    """A real small sweep of each task with ATTNSWEEP_BIN (1 rank, 2 epochs)."""
    bin_ = os.environ.get("ATTNSWEEP_BIN")
    if not bin_ or not os.access(bin_, os.X_OK):
        print("ATTNSWEEP_BIN not set: no real sweep")
        return
    toy = os.path.join(tmp, "toy.h5")
    p = subprocess.run([bin_, "data", "toy", "--samples", "200", "-o", toy],
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "attnsweep data toy: %s" % p.stderr)
    runs = [("regression", os.path.join(SRC, "sweeps", "quick.json"), toy)]
    trace = os.path.join(os.environ.get("ATTNSWEEP_UCR_DIR", ""), "Trace")
    if os.path.exists(os.path.join(trace, "Trace_TRAIN.tsv")):
        data = os.path.join(tmp, "trace.h5")
        p = subprocess.run([bin_, "data", "ucr", "--train", os.path.join(trace, "Trace_TRAIN.tsv"),
                            "--test", os.path.join(trace, "Trace_TEST.tsv"), "-o", data],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "attnsweep data ucr: %s" % p.stderr)
        conv = {"type": "conv1d", "filters": 8, "kernel_size": 5, "activation": "relu"}
        sweep = {"data": data, "model": [conv, "$block", {"type": "global_average_pooling1d"},
                                         {"type": "dense", "units": 4}],
                 "train": {"epochs": 2, "batch_size": 32, "validation_split": 0.2},
                 "grid": {"block": [conv, dict(conv, type="residual_conv1d"),
                                    {"type": "self_attention", "num_heads": 2, "key_dim": 4}]},
                 "repeats": 2, "seed": 0}
        path = os.path.join(tmp, "trace-sweep.json")
        with open(path, "w") as f:
            json.dump(sweep, f)
        runs.append(("classification", path, data))
    else:
        print("no Trace data under ATTNSWEEP_UCR_DIR: no real classification sweep")
    for task, sweep_file, data in runs:
        res = os.path.join(tmp, "real_%s.h5" % task)
        p = subprocess.run([bin_, "sweep", sweep_file, "--data", data, "--epochs", "2",
                            "-o", res], capture_output=True, text=True, timeout=600)
        check(p.returncode == 0, "attnsweep sweep %s: %s" % (sweep_file, p.stderr[-500:]))
        if p.returncode == 0:
            check_report("real " + task, res, data, os.path.join(tmp, "real_report_" + task))
    check_halving_report(bin_, toy, tmp)
    check_class_counts(bin_, tmp)


def check_class_counts(bin_, tmp):
    """A sweep over two classification datasets, the first with 2 classes, the second with
    4 (the file's n_classes is the first's): the report draws every run's predictions and
    confusion matrix with its own class count (it raised a tick-label ValueError)."""
    import h5py
    import numpy as np
    rng = np.random.default_rng(0)
    for name, k in (("two.h5", 2), ("four.h5", 4)):
        with h5py.File(os.path.join(tmp, name), "w") as f:
            for split, n in (("train", 40), ("test", 12)):
                y = (np.arange(n) % k).astype(np.int32)
                f[split + "/x"] = (rng.standard_normal((n, 16, 1)) + y[:, None, None]).astype(np.float32)
                f[split + "/y"] = y
            f.attrs["task"], f.attrs["n_classes"] = "classification", np.int32(k)
            f.attrs["class_labels"] = np.array([-1, 1] if k == 2 else [10, 20, 30, 40], np.int64)
    sweep = {"data": "$ds", "model": [{"type": "conv1d", "filters": 2, "kernel_size": 3},
                                      {"type": "global_average_pooling1d"},
                                      {"type": "dense", "units": "n_classes"}],
             "train": {"epochs": 1, "batch_size": 16, "validation_split": 0.25},
             "grid": {"ds": [os.path.join(tmp, "two.h5"), os.path.join(tmp, "four.h5")]}}
    path, res = os.path.join(tmp, "classes.json"), os.path.join(tmp, "classes.h5")
    with open(path, "w") as f:
        json.dump(sweep, f)
    p = subprocess.run([bin_, "sweep", path, "-o", res], capture_output=True, text=True, timeout=600)
    if not check(p.returncode == 0, "sweep over a 2- and a 4-class dataset: %s" % p.stderr[-300:]):
        return
    out = os.path.join(tmp, "classes_report")
    p = subprocess.run([sys.executable, REPORT, res, "-o", out], capture_output=True, text=True,
                       timeout=600)
    check(p.returncode == 0 and os.path.exists(os.path.join(out, "index.html")),
          "report.py on a sweep whose datasets have 2 and 4 classes (%d: %s)"
          % (p.returncode, p.stderr.strip()[-200:]))
    # --data: one of the sweep's datasets is taken, any other refused (exit 2)
    other = os.path.join(tmp, "other.h5")
    with h5py.File(other, "w") as f:
        f["train/x"], f["train/y"] = np.zeros((4, 16, 1), np.float32), np.zeros(4, np.int32)
        f.attrs["task"], f.attrs["n_classes"] = "classification", np.int32(2)
    for data, want in ((os.path.join(tmp, "four.h5"), 0), (other, 2)):
        p = subprocess.run([sys.executable, REPORT, res, "--data", data, "-o", out + "_d"],
                           capture_output=True, text=True, timeout=600)
        check(p.returncode == want and (want == 0 or "not a dataset this sweep trained on" in p.stderr),
              "report.py --data %s: exit %d (%d: %s)" % (os.path.basename(data), want, p.returncode,
                                                         p.stderr.strip()[-160:]))
    # --data four.h5: its class names label only the runs trained on it (by data_sha256);
    # the two-class runs keep generic labels (they were given 10, 20: four.h5's), and the
    # page says so
    page = open(os.path.join(out + "_d", "index.html")).read()
    check("1 of the 2 runs trained on another dataset than four.h5" in page,
          "report --data four.h5: the page says one run trained on another dataset")
    sys.path.insert(0, os.path.join(SRC, "scripts"))
    import report as rp
    r = rp.Results(res, None)
    d = rp.load_data(os.path.join(tmp, "four.h5"))
    r.data_labels, r.data_sha = d["class_labels"], d["sha256"]
    by_k = {int(np.asarray(x.group["predictions"]).shape[1]): x for x in r.runs}
    check(sorted(by_k) == [2, 4], "one run per dataset, 2 and 4 classes: %s" % sorted(by_k))
    if sorted(by_k) == [2, 4]:
        check(r.names(4, by_k[4]) == ["10", "20", "30", "40"] and r.names(2, by_k[2]) == ["0", "1"],
              "class names: four.h5's run %s, the two-class run %s"
              % (r.names(4, by_k[4]), r.names(2, by_k[2])))
    d2 = rp.load_data(os.path.join(tmp, "two.h5"))
    r.data_labels, r.data_sha = d2["class_labels"], d2["sha256"]
    if sorted(by_k) == [2, 4]:
        check(r.names(2, by_k[2]) == ["-1", "1"] and r.names(4, by_k[4]) == ["0", "1", "2", "3"],
              "--data two.h5: its run %s, the four-class run %s"
              % (r.names(2, by_k[2]), r.names(4, by_k[4])))


def check_halving_report(bin_, toy, tmp):
    """The ready halving sweep (its grid cut to 5 variants, rungs 1, 3, 9): the report
    draws the rungs and says how many runs stopped at one."""
    with open(os.path.join(SRC, "sweeps", "toy-conv-vs-attention-halving.json")) as f:
        sweep = json.load(f)
    sweep["grid"].update(filters=[8], num_heads=[1, 2], key_dim=[4, 8])
    sweep.update(data=toy, repeats=1)
    sweep["train"]["epochs"] = 9
    sweep["search"].update(min_epochs=1, max_epochs=9)
    path, res = os.path.join(tmp, "halving.json"), os.path.join(tmp, "halving.h5")
    with open(path, "w") as f:
        json.dump(sweep, f)
    p = subprocess.run([bin_, "sweep", path, "-o", res], capture_output=True, text=True,
                       timeout=600)
    if not check(p.returncode == 0, "halving sweep: %s" % p.stderr[-500:]):
        return
    out = os.path.join(tmp, "halving_report")
    p = subprocess.run([sys.executable, REPORT, res, "-o", out], capture_output=True, text=True,
                       timeout=600)
    if not check(p.returncode == 0, "report.py on the halving sweep: %s" % p.stderr[-500:]):
        return
    page = open(os.path.join(out, "index.html")).read()
    imgs = re.findall(r'<img[^>]*src="([^"]+)"', page)
    check(imgs and all(os.path.exists(os.path.join(out, i)) for i in imgs),
          "halving report: every image on the page exists (%s)" % imgs)
    check(os.path.exists(os.path.join(out, "rungs.png")) and 'src="rungs.png"' in page,
          "halving report: the rungs figure is drawn and on the page")
    check("stopped at a rung" in page, "halving report: says how many runs stopped at a rung")


def check_report(task, res, data, out):
    p = subprocess.run([PY, REPORT, res, "--data", data, "-o", out], capture_output=True,
                       text=True, timeout=300, preexec_fn=lambda: os.umask(0o022))
    check(p.returncode == 0, "report %s exit %d: %s" % (task, p.returncode, p.stderr))
    if p.returncode != 0:
        return
    task_, best, bad, varying, attn_layers, acc = expected_from_file(res)
    want = ["index.html", "dataset.png", "effect.png", "predictions.png", "curves.png",
            "parallel.png"]
    want += ["curves_%s.png" % a for a in varying]
    if len(best) > 1:
        want.append("families.png")
    for k in attn_layers:  # layers numbered from 1 on the page (layer_<i> counts from 0)
        li = int(k.split("_")[1]) + 1
        want += ["attention_mean_layer%d.png" % li, "attention_heads_layer%d.png" % li]
    if task_ == "classification":
        want.append("confusion.png")
    have = set(os.listdir(out))
    modes = {n: os.stat(os.path.join(out, n)).st_mode & 0o777 for n in have}
    check(os.stat(out).st_mode & 0o777 == 0o755 and set(modes.values()) == {0o644},
          "%s: report files world-readable under umask 022 (dir %o, files %s)"
          % (task, os.stat(out).st_mode & 0o777, sorted({"%o" % m for m in modes.values()})))
    for w in want:
        check(w in have, "%s: missing %s (have %s)" % (task, w, sorted(have)))
    for name in have:
        if name.endswith(".png"):
            with open(os.path.join(out, name), "rb") as f:
                head = f.read(24)
            check(head[:8] == b"\x89PNG\r\n\x1a\n", "%s/%s: not a PNG" % (task, name))
            w, h = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
            check(w >= 300 and h >= 200, "%s/%s: tiny image %dx%d" % (task, name, w, h))
    parser = Refs()
    with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
        page = f.read().replace("<wbr>", "")  # line-break hints in the names
    parser.feed(page)
    for ref in parser.refs:
        check(os.path.exists(os.path.join(out, ref)), "%s: index.html references missing %s"
              % (task, ref))
    pngs = {n for n in have if n.endswith(".png")}
    check(pngs == set(parser.refs), "%s: PNGs %s vs referenced %s" % (task, pngs, parser.refs))
    text = "".join(parser.text)
    for fam, (_, name, _, _) in best.items():
        m = re.search(re.escape(name) + r' <span class="badge">best ([^<]+)</span>', page)
        check(m is not None and m.group(1) == fam,
              "%s: the best %s variant should be %s" % (task, fam, name))
    check(len(best) >= 2, "%s: want two families at least, got %s" % (task, best))
    check_text(task, res, text, page)
    for key, status, err in bad:
        check(key in text and err in text, "%s: failure %s (%s) not listed" % (task, key, status))
    if acc is not None:
        check("accuracy %.3f" % acc in text, "%s: accuracy %.3f not in the page" % (task, acc))
    return out


def leaderboard_families(page):
    """{variant id: family} from the leaderboard rows of index.html."""
    rows = re.findall(r'<tr[^>]*><td data-v="\d+">\d+</td><td data-v="(\d+)">\d+</td>'
                      r'<td[^>]*data-v="[^"]*">.*?</td><td data-v="([^"]*)">', page)
    return {int(i): f for i, f in rows}


def check_text(task, res, text, page):
    """Words and numbers of the page against the results file."""
    with h5py.File(res, "r") as f:
        s = f["summary"][()]
        planned = int(f.attrs.get("runs_planned", 0))
        end = f.attrs.get("end_time", "")
        cls = f.attrs["task"] in ("classification", b"classification")
        want_fam = families({int(r["id"]): f[group_of(r)].attrs["config"] for r in s})
        splits = {str(g.attrs["pred_split"]) for g in f["variants"].values()
                  if "pred_split" in g.attrs}
    fams = leaderboard_families(page)
    check(fams == want_fam, "%s: leaderboard families %s, want %s (any self-attention is "
          "attention)" % (task, fams, want_fam))
    m = re.search(r"± 0(?![\d.])", text)
    check(m is None, "%s: a spread shown as '± 0': ...%s..." % (task, text[m.start() - 60:m.end()]
                                                                 if m else ""))
    if planned:
        check("%d of %d runs" % (len(s), planned) in text, "%s: progress '%d of %d runs' missing"
              % (task, len(s), planned))
    if planned > len(s) or not end:
        check("unfinished" in text and "no end time" in text,
              "%s: an unfinished sweep must be flagged" % task)
    counts = {}
    for r in s:
        counts[int(r["id"])] = int(r["n_params"] if "n_params" in r.dtype.names else r["params"])
    for vid, n in counts.items():
        check(re.search(r"variant %d: .*? %d parameters" % (vid, n), text) is not None,
              "%s: model summary of variant %d should total %d parameters" % (task, vid, n))
    check("the run recorded" not in text, "%s: a model summary disagrees with n_params" % task)
    check(("cross-entropy" if cls else "mean squared error") in text, "%s: loss not named" % task)
    wrong = re.findall(r"\bQ[156]\b" if cls else r"\bQ(?:7|8|9|10)\b", text)
    check(not wrong, "%s: notebook questions of the other task cited: %s" % (task, wrong))
    if not cls:
        check(("Test predictions" in text) == (splits == {"test"}),
              "%s: 'Test predictions' only over test series (splits %s)" % (task, splits))


def check_sorting(out, tmp):
    """Clicks the 'best val_loss' header twice in headless chromium; the rows must come
    out sorted ascending then descending by that column."""
    chromium = shutil.which("chromium")
    if not chromium:
        print("chromium not installed: sorting script not run")
        return
    with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
        page = f.read()
    probe = """<script>
var t = document.querySelector("table.sortable"), th = t.querySelectorAll("th");
var col = Array.from(th).findIndex(function (h) { return h.textContent == "best val_loss"; });
function order() { return Array.from(t.tBodies[0].rows).map(function (r) {
  return r.cells[col].dataset.v; }).join(","); }
th[col].click(); var up = order(); th[col].click(); var down = order();
document.body.setAttribute("data-up", up); document.body.setAttribute("data-down", down);
</script></body>"""
    probe_path = os.path.join(out, "probe.html")
    with open(probe_path, "w", encoding="utf-8") as f:
        f.write(page.replace("</body>", probe))
    prof = tempfile.mkdtemp(dir=tmp)
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", "--user-data-dir=" + prof,
                        "--dump-dom", "file://" + probe_path],
                       capture_output=True, text=True, timeout=120)
    os.unlink(probe_path)
    m_up = re.search(r'data-up="([^"]*)"', p.stdout)
    m_down = re.search(r'data-down="([^"]*)"', p.stdout)
    check(m_up and m_down, "chromium: probe attributes not found (%s)" % p.stderr[-300:])
    if not (m_up and m_down):
        return
    up = m_up.group(1).split(",")
    down = m_down.group(1).split(",")
    nums = [float(v) for v in up if v]
    check(nums == sorted(nums) and up[len(nums):] == [""] * (len(up) - len(nums)),
          "chromium: ascending sort wrong: %s" % up)
    dnums = [float(v) for v in down if v]
    check(dnums == sorted(dnums, reverse=True) and len(nums) >= 3,
          "chromium: descending sort wrong: %s" % down)


def check_bad_inputs(tmp):
    good = os.path.join(tmp, "regression.h5")
    cases = []
    cases.append((os.path.join(tmp, "nonexistent.h5"), "no such file"))
    txt = os.path.join(tmp, "text.h5")
    with open(txt, "w") as f:
        f.write("not hdf5\n")
    cases.append((txt, "not an HDF5 file"))
    nosum = os.path.join(tmp, "nosummary.h5")
    shutil.copy(good, nosum)
    with h5py.File(nosum, "a") as f:
        del f["summary"]
    cases.append((nosum, "missing /summary"))
    notask = os.path.join(tmp, "notask.h5")
    shutil.copy(good, notask)
    with h5py.File(notask, "a") as f:
        del f.attrs["task"]
    cases.append((notask, "missing root attribute 'task'"))
    noparams = os.path.join(tmp, "noparams.h5")
    shutil.copy(good, noparams)
    with h5py.File(noparams, "a") as f:
        del f["variants/v0002_r1"].attrs["params"]
    cases.append((noparams, "/variants/v0002_r1: missing attribute 'params'"))
    fewfields = os.path.join(tmp, "fewfields.h5")
    shutil.copy(good, fewfields)
    with h5py.File(fewfields, "a") as f:
        s = f["summary"][()]
        del f["summary"]
        keep = [n for n in s.dtype.names if n != "best_val_loss"]
        f["summary"] = s[keep]
    cases.append((fewfields, "lacks field(s) best_val_loss"))
    for path, what in cases:
        out = os.path.join(tmp, "bad_out")
        before = set(os.listdir(tmp))
        p = run(REPORT, path, "-o", out)
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 2, "%s: exit %d, want 2 (%s)" % (path, p.returncode, p.stderr))
        check(len(lines) == 1 and path in lines[0] and what in lines[0],
              "%s: want one line naming the file and '%s', got %r" % (path, what, p.stderr))
        check(not os.path.exists(out), "%s: output directory left behind" % path)
        check(set(os.listdir(tmp)) == before, "%s: temporary files left behind: %s"
              % (path, set(os.listdir(tmp)) - before))
    # an existing directory that is not a report is not replaced
    other = os.path.join(tmp, "not_a_report")
    os.mkdir(other)
    with open(os.path.join(other, "keep.txt"), "w") as f:
        f.write("mine")
    p = run(REPORT, good, "-o", other)
    check(p.returncode == 2 and os.path.exists(os.path.join(other, "keep.txt")),
          "an existing non-report directory must not be replaced (%s)" % p.stderr)


def check_family_names():
    """attnsweep_results.family_names on both kinds of sweep: layer types that differ give
    the families; the same layer types everywhere name them from the first axis that
    differs (not one family, never 'conv' for attention models)."""
    sys.path.insert(0, os.path.join(SRC, "scripts"))
    import attnsweep_results as ar

    def runs(specs):
        out = []
        for vid, (types, params) in enumerate(specs):
            for rep in range(2):  # repeats share the variant's family
                out.append({"id": vid, "repeat": rep, "params": params,
                            "family": ar.family_of(types)})
        return out
    att = ["conv1d", "self_attention", "conv1d", "global_average_pooling1d", "dense"]
    res = ["conv1d", "residual_conv1d", "self_attention", "global_average_pooling1d", "dense"]
    conv = ["conv1d", "conv1d", "conv1d"]
    # layer types differ (toy-conv-vs-attention, trace-residual): the type families
    mixed = runs([(conv, {"filters": 32, "layer3": {"type": "conv1d"}}),
                  (att, {"filters": 32, "layer3": {"type": "self_attention"}}),
                  (res, {"filters": 64, "layer3": {"type": "self_attention"}})])
    names, basis = ar.family_names(mixed)
    check(names == {0: "conv", 1: "attention", 2: "attention+residual"} and basis is None,
          "family_names, mixed layer types: %s (basis %s)" % (names, basis))
    # the same layer types (trace-attention): named from num_heads, the first that differs
    heads = runs([(att, {"num_heads": h, "key_dim": k}) for h in (1, 2, 4) for k in (16, 32)])
    names, basis = ar.family_names(heads)
    want = {i: "num_heads=%d" % h for i, h in enumerate((1, 1, 2, 2, 4, 4))}
    check(names == want and basis == "num_heads",
          "family_names, all attention: %s (basis %s), want %s" % (names, basis, want))
    # an axis that does not differ is skipped; a conditional axis absent is 'no axis'
    cond = runs([(conv, {"kernel": 5, "filters": 16}), (conv, {"kernel": 5, "filters": 32}),
                 (conv, {"kernel": 5})])
    names, basis = ar.family_names(cond)
    check(names == {0: "filters=16", 1: "filters=32", 2: "no filters"} and basis == "filters",
          "family_names, conv stacks differing by filters: %s (basis %s)" % (names, basis))
    # --family-axis chooses another axis, even when the layer types differ
    names, basis = ar.family_names(heads, "key_dim")
    check(set(names.values()) == {"key_dim=16", "key_dim=32"} and basis == "key_dim",
          "family_names(axis=key_dim): %s" % names)
    names, basis = ar.family_names(mixed, "filters")
    check(set(names.values()) == {"filters=32", "filters=64"}, "family_names(axis=filters) "
          "over mixed types: %s" % names)
    try:
        ar.family_names(heads, "nope")
        check(False, "family_names(axis=nope) should raise ValueError")
    except ValueError as e:
        check("nope" in str(e), "family_names(axis=nope): message %s" % e)
    # nothing differs (one variant, or only repeats): the type family
    one = runs([(att, {"num_heads": 2})])
    check(ar.family_names(one) == ({0: "attention"}, None), "family_names, one variant")
    same = runs([(att, {"num_heads": 2}), (att, {"num_heads": 2})])
    check(ar.family_names(same) == ({0: "attention", 1: "attention"}, None),
          "family_names, no axis differs")


def check_accuracy_ties(tmp):
    """Every run at best_val_accuracy 1.0 (as on Trace): the leaderboard goes by the mean
    best_val_loss, and the confusion matrix shows the best variant by that order."""
    res = os.path.join(tmp, "ties.h5")
    shutil.copy(os.path.join(tmp, "classification.h5"), res)
    with h5py.File(res, "a") as f:
        s = f["summary"][()]
        s["best_val_accuracy"] = np.where(np.isfinite(s["best_val_accuracy"]), 1.0, np.nan)
        f["summary"][...] = s
    out = os.path.join(tmp, "report_ties")
    p = run(REPORT, res, "-o", out)
    check(p.returncode == 0, "ties: report exit %d %s" % (p.returncode, p.stderr))
    if p.returncode != 0:
        return
    with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
        page = f.read()
    got = [int(i) for i in re.findall(r'<tr[^>]*><td data-v="\d+">\d+</td><td data-v="(\d+)">',
                                      page)]
    loss = {}
    for row in s:
        if row["status"].startswith(b"ok"):
            loss.setdefault(int(row["id"]), []).append(float(row["best_val_loss"]))
    want = sorted(loss, key=lambda i: (np.mean(loss[i]), i))
    check(got[:len(want)] == want, "ties: leaderboard order %s, want by mean best_val_loss %s"
          % (got[:len(want)], want))


def check_family_axis_cli(tmp):
    """report.py --family-axis: an axis of the file renames the families; another exits 2."""
    res = os.path.join(tmp, "regression.h5")
    with h5py.File(res, "r") as f:
        axes = list(json.loads(f["variants/v0000_r0"].attrs["params"]))
    out = os.path.join(tmp, "report_family_axis")
    p = run(REPORT, res, "--family-axis", axes[0], "-o", out)
    check(p.returncode == 0, "--family-axis %s: exit %d %s" % (axes[0], p.returncode, p.stderr))
    if p.returncode == 0:
        with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
            page = f.read()
        fams = set(leaderboard_families(page).values())
        check(fams and all(x.startswith(axes[0] + "=") or x == "no " + axes[0] for x in fams),
              "--family-axis %s: leaderboard families %s" % (axes[0], fams))
    p = run(REPORT, res, "--family-axis", "no_such_axis", "-o", out + "2")
    check(p.returncode == 2 and "no_such_axis" in p.stderr and not os.path.exists(out + "2"),
          "--family-axis no_such_axis: exit %d %s" % (p.returncode, p.stderr))


def main():
    check_family_names()
    for path in (REPORT, FAKE):
        if not os.path.exists(path):
            print("missing", path)
            return 1
    tmp = temp_path("test_report.")
    out = fake_report("regression", False, tmp)
    fake_report("classification", True, tmp)
    fake_report("regression", False, tmp, ["--unfinished", "7", "--repeats", "1"], "_unfinished")
    real_report(tmp)
    if out:
        check_sorting(out, tmp)
        check_family_axis_cli(tmp)
        check_accuracy_ties(tmp)
    check_bad_inputs(tmp)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
