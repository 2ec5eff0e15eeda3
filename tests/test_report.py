"""`ganctl report`: the page's sections and values, its errors, and the page in headless
Chromium (Debian's package, driven by Playwright for Python)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ganctl.evaluation.report import build_report, save_evaluation
from ganctl.evaluation.report.gather import command_line, evenly_spaced
from ganctl.evaluation.report.svg import Chart, Mark, Series, nice_ticks, render
from ganctl.runs import RunFolder
from tests.conftest import assert_one_line_error, train_tiny

SECTIONS = ["summary", "samples", "timelapse", "curves", "nearest", "config", "resumes"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> RunFolder:
    """A copy of the shared tiny run that a test may change, without the evaluations that other
    tests' `evaluate` calls kept in the shared run."""
    run = RunFolder(Path(shutil.copytree(tiny_run, tmp_path / "tiny")))
    shutil.rmtree(run.evaluations, ignore_errors=True)
    return run


def fake_evaluation(run: RunFolder, fd: float = 123.456789, epochs: tuple[int, ...] = (2,)) -> Path:
    """An evaluate report as `evaluate` keeps it (the fields the page reads)."""
    report = {"evaluator": {"architecture": "test", "classes": 10}, "n": 200, "seeds": "0-199",
              "real": {"compared": "200 test vs 200 train"},
              "reference": {"fd": 1.5, "kid": 0.001, "recall": 0.7},
              "checkpoints": [{"name": f"ckpt-e{e:04d}", "epoch": e, "step": 4 * e,
                               "complete": True,
                               "metrics": {"fd": fd + (len(epochs) - i - 1), "kid": 0.05,
                                           "recall": 0.2}} for i, e in enumerate(epochs)]}
    return save_evaluation(run, report, np.zeros((28, 56, 1), np.uint8))


def test_page_has_every_section_in_order_and_no_network(run_copy, tmp_path):
    result = build_report(run_copy, tmp_path / "r.html")
    html = result.path.read_text()
    positions = [html.index(f'<section id="{s}">') for s in SECTIONS]
    assert positions == sorted(positions)
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched
    assert "@import" not in html and "@font-face" not in html
    assert html.count("<svg") >= 3 and "G loss" in html and "D(G(z))" in html
    assert "ganctl evaluate --ckpt" in html  # no evaluation yet: it names the command
    assert "ganctl train --data" in html and "--epochs 2" in html
    assert "started fresh towards 2 epochs" in html
    assert re.search(r'src="data:image/png;base64,', html)
    assert result.notes == []


def test_summary_shows_the_newest_evaluation_with_its_reference(run_copy, tmp_path):
    fake_evaluation(run_copy, fd=999.0)
    fake_evaluation(run_copy, fd=42.125)  # newer
    html = build_report(run_copy, tmp_path / "r.html").path.read_text()
    assert re.search(r'id="summary-fd" data-value="42.125">42.125<', html)
    assert ">1.500<" in html  # the real-data reference beside it
    # The grid kept beside it is inlined, not linked.
    assert not re.search(r'src="[^"]*-nearest\.png"', html) and "Not computed" not in html
    assert 'alt="nearest training images"' in html


def test_the_evaluation_shows_class_shares_the_evaluator_and_the_notes(run_copy, tmp_path):
    report = json.loads(fake_evaluation(run_copy).read_text())
    report["evaluator"] = {"architecture": "domain-cnn-v1", "classes": 3,
                           "accuracy_text": "trained on this data: held-out accuracy 99.00%"}
    report["real"]["notes"] = ["the held-out images are a seeded 10% of the data"]
    report["checkpoints"][0]["metrics"].update(class_share_0=0.43, class_share_1=0.32,
                                               class_share_2=0.25)
    report["reference"].update(class_share_0=0.34, class_share_1=0.33, class_share_2=0.33)
    save_evaluation(run_copy, report)
    html = build_report(run_copy, tmp_path / "r.html").path.read_text()
    assert ('<td>class shares %</td><td class="num">43 32 25</td><td class="num">34 33 33</td>'
            "<td>33 each</td>") in html
    assert "evaluator domain-cnn-v1 (trained on this data: held-out accuracy 99.00%)" in html
    assert "note: the held-out images are a seeded 10% of the data" in html


def test_evaluate_all_scores_become_a_curve_with_the_best_marked(run_copy, tmp_path):
    fake_evaluation(run_copy, fd=10.0, epochs=(1, 2))
    html = build_report(run_copy, tmp_path / "r.html").path.read_text()
    assert "Fréchet distance over training" in html and "evaluate --all (n=200)" in html
    assert "recall (k=3) over training" in html
    # A later single evaluation heads the summary; the --all curve and the nearest grid stay.
    kept = fake_evaluation(run_copy, fd=5.0)
    kept.with_name(kept.stem + "-nearest.png").unlink()
    html = build_report(run_copy, tmp_path / "r.html").path.read_text()
    assert 'data-value="5.0"' in html and "evaluate --all (n=200)" in html
    assert 'alt="nearest training images"' in html


def test_a_run_stopped_mid_epoch_says_where_and_scores_it_past_its_epoch(run_copy, tmp_path):
    index = run_copy.checkpoints / "index.json"
    entries = json.loads(index.read_text())
    entries["checkpoints"].append({**entries["checkpoints"][-1], "name": "ckpt-e0002-s00000010",
                                   "step": 10, "complete": False})
    index.write_text(json.dumps(entries))
    report = json.loads(fake_evaluation(run_copy, fd=10.0, epochs=(1, 2)).read_text())
    report["checkpoints"].append({**report["checkpoints"][-1], "step": 10, "complete": False,
                                  "metrics": {"fd": 8.0}})
    save_evaluation(run_copy, report)
    html = build_report(run_copy, tmp_path / "r.html").path.read_text()
    assert "<th>stopped</th><td>in epoch 3, at step 10 (the newest checkpoint" in html
    assert "<h3>Evaluation (in epoch 3, step 10)</h3>" in html  # as `evaluate` says it
    svg = re.search(r'<svg[^>]*aria-label="Fréchet distance over training".*?</svg>', html)
    assert svg.group(0).count("<circle") == 3  # epochs 1, 2 and 2.5 (step 10 of 4 per epoch)
    assert ">lowest FD (epoch 2.5)<" in svg.group(0)


def test_damaged_metrics_lines_are_skipped_with_a_count(run_copy, tmp_path, cli):
    with open(run_copy.metrics, "a") as fh:
        fh.write('{"epoch": 3, "g_lo\nnot json\n')
    result = cli("report", "--ckpt", run_copy.root, "--out", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    assert "skipped 2 damaged lines" in result.stderr
    assert (tmp_path / "r.html").is_file()


def test_a_run_without_a_checkpoint_still_gets_a_page(run_copy, tmp_path, cli):
    shutil.rmtree(run_copy.checkpoints)
    result = cli("report", "--ckpt", run_copy.root)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "training has not saved" in warnings[0]
    assert "training has not saved" in (run_copy.root / "report.html").read_text()


def test_unwritable_out_is_one_line(run_copy, tmp_path, cli):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli("report", "--ckpt", run_copy.root, "--out", blocker / "r.html")
    assert_one_line_error(result, 1, "is a file, not a folder")


def test_an_unwritable_folder_or_a_folder_as_out_is_one_line(run_copy, tmp_path, cli):
    # /proc refuses new files even to root (permission bits do not stop root).
    result = cli("report", "--ckpt", run_copy.root, "--out", "/proc/r.html")
    assert_one_line_error(result, 1, "is not writable")
    result = cli("report", "--ckpt", run_copy.root, "--out", tmp_path)
    assert_one_line_error(result, 2, "is a folder")


def test_open_hands_the_written_page_to_the_browser(run_copy, tmp_path, cli, monkeypatch):
    import webbrowser

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    result = cli("report", "--ckpt", run_copy.root, "--out", tmp_path / "r.html", "--open")
    assert result.exit_code == 0, result.output
    assert opened == [(tmp_path / "r.html").resolve().as_uri()]
    assert opened[0].startswith("file:///")
    result = cli("report", "--ckpt", run_copy.root, "--out", tmp_path / "r.html")
    assert result.exit_code == 0 and len(opened) == 1  # without --open: nothing opened


def test_ada_p_in_the_metrics_becomes_a_chart(run_copy, tmp_path):
    html = build_report(run_copy, tmp_path / "none.html").path.read_text()
    assert "Adaptive augmentation" not in html  # no ada_p logged: no chart
    rows = [json.loads(line) for line in run_copy.metrics.read_text().splitlines()]
    extra = [{**rows[-1], "epoch": e, "step": 4 * e} for e in range(3, 7)]
    ps = [0.0, 0.05, 0.125, 0.2, 0.35, 0.3]
    run_copy.metrics.write_text("".join(json.dumps({**r, "ada_p": p}) + "\n"
                                        for r, p in zip(rows + extra, ps, strict=True)))
    html = build_report(run_copy, tmp_path / "r.html").path.read_text()
    svg = re.search(r'<svg[^>]*aria-label="Adaptive augmentation \(ADA\)".*?</svg>', html).group(0)
    assert ">ADA p<" in svg and ">augmentation probability p (0-1)<" in svg and ">epoch<" in svg
    path = re.search(r'<path class="line" d="([^"]+)"', svg).group(1)
    assert path.count("L") == len(ps) - 1  # one point per epoch
    assert ">0.4<" in svg and ">0<" in svg  # the y axis spans the logged p


@pytest.mark.slow
def test_resumes_show_a_real_resume(tmp_path):
    train_tiny(tmp_path, "r", epochs=1)
    run = RunFolder(train_tiny(tmp_path, "r", epochs=2))  # resumes from epoch 1
    html = build_report(run, tmp_path / "r.html").path.read_text()
    section = re.search(r'<section id="resumes">(.*?)</section>', html).group(1)
    items = re.findall(r"<li>(.*?)</li>", section)
    assert len(items) == 2, items
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d: started fresh towards 1 epoch", items[0])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d: resumed from ckpt-e0001-s00000004 "
                        r"\(epoch 1, step 4\) towards 2 epochs", items[1]), items[1]
    assert "never resumed" not in section


def test_the_gif_is_thinned_only_when_the_page_is_over_its_budget(run_copy, tmp_path,
                                                                   monkeypatch):
    import ganctl.evaluation.report as report

    whole = build_report(run_copy, tmp_path / "whole.html")
    assert whole.notes == []
    monkeypatch.setattr(report, "PAGE_BUDGET", whole.size - 1)
    thinned = build_report(run_copy, tmp_path / "thinned.html")
    assert len(thinned.notes) == 1 and "it shows one frame in 2 of progress.gif" in thinned.notes[0]
    assert thinned.size <= whole.size - 1


def test_svg_chart_has_axes_legend_and_mark():
    svg = render(Chart("Losses", "epoch", "loss", [Series("G", [1, 2, 3], [0.5, None, 0.7]),
                                                   Series("D", [1, 2, 3], [1, 2, 3])],
                       [Mark(2, "best")]))
    assert svg.startswith("<svg") and svg.count("<path") == 2
    assert ">epoch<" in svg and ">loss<" in svg and ">G<" in svg and ">best<" in svg
    assert "no data" in render(Chart("Empty", "x", "y", [Series("a", [], [])]))
    # A mark near the right edge puts its label left of the line, inside the chart.
    right = render(Chart("FD", "epoch", "FD", [Series("a", [1, 10], [2, 1])],
                         [Mark(10, "lowest FD (epoch 10)")]))
    assert 'text-anchor="end">lowest FD (epoch 10)<' in right
    assert 'text-anchor="start">best<' in svg


def test_helpers():
    assert nice_ticks(0, 0.93) == [0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(1, 20) == [0, 5, 10, 15, 20]
    assert evenly_spaced(list(range(100)), 8) == [0, 14, 28, 42, 57, 71, 85, 99]
    assert evenly_spaced([1, 2], 8) == [1, 2]
    cmd = command_line({"data": "my data", "epochs": 5, "seed": 0, "out": "runs", "name": "a",
                        "arch": "mlp", "conditional": True})
    assert cmd == "ganctl train --data 'my data' --epochs 5 --conditional --seed 0 --out runs --name a"


@pytest.mark.slow
def test_evaluate_keeps_its_report_in_the_run(run_copy, cli):
    result = cli("evaluate", "--ckpt", run_copy.root, "--n", "100", "--metrics", "fd",
                 "--nn-grid", run_copy.root / "nn.png")
    assert result.exit_code == 0, result.output
    kept = sorted(run_copy.evaluations.glob("*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["checkpoints"][0]["metrics"]["fd"] > 0
    assert kept[0].with_name(kept[0].stem + "-nearest.png").is_file()


def test_page_in_headless_chromium(run_copy, tmp_path):
    """The page as a browser shows it: no console error, every image decoded, the curves drawn,
    the FD the JSON holds, and a screenshot that is not blank (kept as report.png here)."""
    if CHROMIUM is None:
        pytest.skip("no chromium: .ci/run installs Debian's package (apt-get install chromium); "
                    "it could not be installed on this machine")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    from PIL import Image

    kept = fake_evaluation(run_copy, fd=17.25)
    fd = json.loads(kept.read_text())["checkpoints"][-1]["metrics"]["fd"]
    page_path = build_report(run_copy, tmp_path / "report.html").path
    shot = tmp_path / "report.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 900, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(("file:", "data:"))
                else errors.append(f"network request {r.url}"))
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.complete ? "
                                                  "e.naturalWidth : 0)")
        boxes = page.eval_on_selector_all("svg.chart", "els => els.map(e => [e.getBBox().width, "
                                                       "e.getBBox().height, "
                                                       "e.querySelectorAll('path').length])")
        shown_fd = page.get_attribute("#summary-fd", "data-value")
        shown_text = page.inner_text("#summary-fd")
        page.screenshot(path=str(shot), full_page=True)
        closed = page.eval_on_selector("#config details", "e => e.offsetHeight")
        page.emulate_media(media="print")  # printed, the collapsed settings show
        printed = page.eval_on_selector("#config details", "e => e.offsetHeight")
        browser.close()
    assert errors == []
    assert len(widths) >= 3 and all(w > 0 for w in widths), widths
    assert len(boxes) >= 3 and all(w > 100 and h > 50 and paths > 0 for w, h, paths in boxes)
    assert float(shown_fd) == fd and shown_text == f"{fd:.3f}"
    assert closed < 40 and printed > 200, (closed, printed)
    pixels = np.asarray(Image.open(shot).convert("L"), np.float64)
    assert pixels.shape[0] > 1500 and pixels.std() > 20, (pixels.shape, pixels.std())


@pytest.mark.slow
def test_a_conditional_run_labels_each_row_with_its_class(tmp_path):
    run = RunFolder(train_tiny(tmp_path, "cond", epochs=1, conditional=True))
    html = build_report(run, tmp_path / "r.html").path.read_text()
    labels = re.search(r'<div class="classes">(.*?)</div>', html).group(1)
    names = json.loads(run.config.read_text())["labels"]
    assert re.findall(r"<span>(.*?)</span>", labels) == names and len(names) >= 2
    assert "one row per class" in html and "--conditional" in html


@pytest.mark.slow
def test_eval_every_scores_reach_the_page_with_the_best_marked(tmp_path):
    run = RunFolder(train_tiny(tmp_path, "scored", epochs=3, eval_every=1, eval_n=100))
    records = run.read_metrics()
    best = min(records, key=lambda r: r["fd"])["epoch"]
    html = build_report(run, tmp_path / "r.html").path.read_text()
    for title in ("Fréchet distance over training", "KID over training"):
        svg = re.search(rf'<svg[^>]*aria-label="{title}".*?</svg>', html).group(0)
        assert ">during training (--eval-every)<" in svg
        assert svg.count("<circle") == 3  # one dot per evaluated epoch
        assert f">best checkpoint (epoch {best})<" in svg
    assert f"FD {min(r['fd'] for r in records):.3f})" in html  # the summary's best checkpoint


def test_of_two_evaluations_saved_in_one_millisecond_the_later_is_the_newest(run_copy,
                                                                             monkeypatch):
    # save_evaluation names the second of one second STAMP-2.json, which sorts before
    # STAMP.json by name: the order must come from the number, not the name's characters
    import time

    from ganctl.evaluation.report.gather import gather

    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)
    monkeypatch.setattr(time, "strftime", lambda fmt, *a: "20270115-080000")
    first = fake_evaluation(run_copy, fd=50.0)
    second = fake_evaluation(run_copy, fd=7.0)
    assert (first.name, second.name) == ("20270115-080000.json", "20270115-080000-2.json")
    assert gather(run_copy).evaluation_path == second
