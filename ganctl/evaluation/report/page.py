"""The report's HTML: one section per function, in the page's order, over a `RunView`."""

from __future__ import annotations

import json
import math
import re
import time
from html import escape
from typing import Any

from ganctl.evaluation.metrics import Value, value_formats
from ganctl.evaluation.report.gather import RunView, command_line, evenly_spaced
from ganctl.evaluation.report.svg import Chart, Mark, Series, render

FORMATS = value_formats()
PER_CLASS = re.compile(r"_\d+$")
OVER_TRAINING = ("fd", "kid", "recall", "precision", "coverage")

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
 max-width:860px;margin:24px auto;padding:0 16px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;border-bottom:1px solid #ddd;
 padding-bottom:3px;margin-top:32px}.sub{color:#666;margin:0}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;
 text-align:left;vertical-align:top}td.num{text-align:right;font-variant-numeric:tabular-nums}
.notes{background:#fff6e0;border:1px solid #e8c872;padding:6px 12px;margin:12px 0}
.pix{image-rendering:pixelated;image-rendering:crisp-edges}
.samples{display:flex;gap:8px;align-items:stretch}.samples img{width:min(100%,560px)}
.classes{display:flex;flex-direction:column;font-size:13px;text-align:right}
.classes span{flex:1;display:flex;align-items:center;justify-content:flex-end}
.strip{display:grid;grid-template-columns:repeat(4,1fr);gap:8px}
.strip figure{margin:0}.strip img{width:100%}figcaption{font-size:13px;color:#555;text-align:center}
svg.chart{width:100%;max-width:800px;height:auto;display:block;margin:8px 0 18px;
 font:12px system-ui,sans-serif}svg .title{font-size:14px;font-weight:600}
svg .grid{stroke:#e6e6e6}svg .axis,svg .tick{stroke:#444}svg .line{fill:none;stroke-width:1.8}
svg .mark{stroke:#2a9d4b;stroke-dasharray:4 3;fill:#2a7d3b}svg text.mark{stroke:none}
code,pre{font:13px ui-monospace,Menlo,Consolas,monospace}pre{background:#f5f5f5;padding:8px;
 white-space:pre-wrap;overflow-wrap:anywhere}.missing{color:#666;font-style:italic}
@media print{body{max-width:none;margin:0}h2{break-after:avoid}section,figure,svg{break-inside:avoid}
 details::details-content{content-visibility:visible;display:block}details>summary{list-style:none}}
"""


def page(view: RunView, images: dict[str, str]) -> str:
    """The whole document; `images` maps the names used below to data URIs."""
    name = escape(view.run.name)
    body = [f"<h1>ganctl report: {name}</h1>",
            f'<p class="sub">{escape(str(view.run.root))} · written '
            f'{time.strftime("%Y-%m-%d %H:%M")} · ganctl '
            f'{escape(str(view.config.get("ganctl_version", "?")))}</p>']
    if view.notes:
        body.append('<div class="notes">' + "".join(f"<p>{escape(n)}</p>" for n in view.notes)
                    + "</div>")
    for section in (summary, samples, timelapse, curves, nearest, config, resumes):
        body.append(section(view, images))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>ganctl report: {name}</title><style>{CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


def _section(ident: str, title: str, *parts: str) -> str:
    return f'<section id="{ident}"><h2>{title}</h2>' + "".join(parts) + "</section>"


def _missing(text: str) -> str:
    return f'<p class="missing">{text}</p>'


def _duration(seconds: float) -> str:
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {sec:02d} s"


def _value(key: str, values: dict[str, Any]) -> str:
    value = values.get(key)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    text = format(value, FORMATS[key].fmt if key in FORMATS else ".4g")
    if key == "kid" and values.get("kid_std"):
        text += f" ± {values['kid_std']:.5f}"
    return text


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def summary(view: RunView, images: dict[str, str]) -> str:
    cfg, last = view.config, (view.metrics[-1] if view.metrics else {})
    shape = cfg.get("image_shape") or [cfg.get("image_size"), cfg.get("image_size"),
                                       cfg.get("channels")]
    colour = {1: "grayscale", 3: "colour"}.get(shape[2], f"{shape[2]} channels")
    speeds = sorted(r["images_per_s"] for r in view.metrics[1:] or view.metrics
                    if isinstance(r.get("images_per_s"), (int, float)))
    rows = [("architecture", f"{cfg.get('arch')}" + (f", width {cfg['width']}" if cfg.get("width")
                                                     else "") + f", loss {cfg.get('loss')}"
             + (", conditional" if cfg.get("conditional") else "")),
            ("data", f"{cfg.get('data')} ({_count(cfg.get('num_images'))} images)"),
            ("image size", f"{shape[0]}×{shape[1]} {colour}"),
            ("epochs / steps", f"{last.get('epoch', 0)} {_of_epochs(cfg.get('epochs'))}, "
                               f"{last.get('step', 0)} steps (batch {cfg.get('batch_size')})"),
            ("wall time", _duration(sum(r.get("seconds", 0) for r in view.metrics))
             + " training (evaluations and snapshots excluded)"),
            ("images/s", f"{speeds[len(speeds) // 2]:.0f} (median of epochs)" if speeds else "–")]
    if view.checkpoints and not view.checkpoints[-1].get("complete", True) \
            and view.checkpoints[-1].get("step", 0) > last.get("step", 0):
        # A --minutes limit or Ctrl-C saves mid-epoch: metrics.jsonl ends at the last whole epoch.
        rows.insert(4, ("stopped", f"in epoch {view.checkpoints[-1]['epoch'] + 1}, at step "
                                   f"{view.checkpoints[-1]['step']} (the newest checkpoint, "
                                   "saved mid-epoch)"))
    if view.checkpoints:
        latest, best = view.checkpoints[-1], view.best
        rows.append(("checkpoints", f"newest {latest['name']}" +
                     (f"; best {best['name']} (FD {best['score']:.3f})" if best and
                      best.get("score") is not None else "")))
    table = "<table>" + "".join(f"<tr><th>{k}</th><td>{escape(str(v))}</td></tr>"
                                for k, v in rows) + "</table>"
    return _section("summary", "Summary", table, _evaluation(view))


def _evaluation(view: RunView) -> str:
    ev = view.evaluation
    if ev is None:
        return (_missing("No evaluation saved in this run yet. Run "
                         f"<code>ganctl evaluate --ckpt {escape(str(view.run.root))}</code> and "
                         "write this page again."))
    score = ev["checkpoints"][-1]
    metrics, reference = score["metrics"], ev.get("reference", {})
    classes = (ev.get("evaluator") or {}).get("classes", 10)
    keys = [k for k, v in FORMATS.items() if v.shown and (k in metrics or k in reference)]
    keys += [k for k in metrics if k not in FORMATS and not PER_CLASS.search(k)]
    when = f"epoch {score['epoch']}" if score.get("complete", True) else \
        f"in epoch {score['epoch'] + 1}, step {score['step']}"  # as `evaluate` says it
    rows = []
    for key in keys:
        value = FORMATS.get(key, Value(key))
        ident = ' id="summary-fd"' if key == "fd" else ""
        data = f' data-value="{metrics[key]!r}"' if key in metrics and metrics[key] is not None \
            else ""
        rows.append(f"<tr><td>{escape(value.label)}</td><td class=\"num\"{ident}{data}>"
                    f"{_value(key, metrics)}</td><td class=\"num\">{_value(key, reference)}</td>"
                    f"<td>{escape(value.hint(classes))}</td></tr>")
    for what, label, good in (("share", "class shares %", f"{100 / classes:.0f} each"),
                              ("agreement", "class agreement % by class", "higher")):
        if f"class_{what}_0" in metrics or f"class_{what}_0" in reference:
            rows.append(f"<tr><td>{label}</td><td class=\"num\">{_shares(metrics, classes, what)}"
                        f"</td><td class=\"num\">{_shares(reference, classes, what)}</td>"
                        f"<td>{good}</td></tr>")
    evaluator, real = ev.get("evaluator") or {}, ev.get("real") or {}
    accuracy = f" ({evaluator['accuracy_text']})" if evaluator.get("accuracy_text") else ""
    source = (f"{view.evaluation_path.name}: {ev.get('n')} generated images (seeds "
              f"{ev.get('seeds')}), evaluator {evaluator.get('architecture', '?')}{accuracy}; "
              f"real: {real.get('compared', '')}")
    notes = [source] + [f"note: {n}" for n in [*real.get("notes", []), *ev.get("notes", [])]]
    return (f"<h3>Evaluation ({when})</h3><table><tr><th>metric</th><th>model</th>"
            "<th>real data (test vs train)</th><th>good</th></tr>" + "".join(rows) +
            "</table>" + "".join(f'<p class="sub">{escape(str(n))}</p>' for n in notes))


def _shares(values: dict[str, Any], classes: int, what: str) -> str:
    """Per-class values in percent on one line, as `evaluate` prints them."""
    shares = [values.get(f"class_{what}_{c}") for c in range(classes)]
    return " ".join("–" if s is None else f"{100 * s:.0f}" for s in shares)


def samples(view: RunView, images: dict[str, str]) -> str:
    if not view.grids:
        return _section("samples", "Samples", _missing("No sample grid yet: the first is written "
                                                      "at the first snapshot."))
    epoch = view.grids[-1][0]
    img = (f'<img class="pix" src="{images[f"grid{epoch}"]}" '
           f'alt="samples at epoch {epoch}">')
    if view.class_names:
        labels = "".join(f"<span>{escape(n)}</span>" for n in view.class_names)
        img = f'<div class="classes">{labels}</div>{img}'
    return _section("samples", "Samples", f'<div class="samples">{img}</div>',
                    f'<p class="sub">epoch {epoch}: the fixed latent grid (the same seeds at '
                    "every snapshot)" + (", one row per class" if view.class_names else "")
                    + "</p>")


def timelapse(view: RunView, images: dict[str, str]) -> str:
    parts = []
    if "gif" in images:
        parts.append(f'<img class="pix" src="{images["gif"]}" alt="timelapse" '
                     'style="width:min(100%,420px)">')
    else:
        parts.append(_missing("No progress.gif yet."))
    strip = evenly_spaced(view.grids, 8)
    if strip:
        parts.append('<div class="strip">' + "".join(
            f'<figure><img class="pix" src="{images[f"grid{e}"]}" alt="epoch {e}">'
            f"<figcaption>epoch {e}</figcaption></figure>" for e, _ in strip) + "</div>")
    return _section("timelapse", "Timelapse", *parts)


def _series(view: RunView, key: str, label: str) -> Series:
    rows = [r for r in view.metrics if key in r]
    return Series(label, [r["epoch"] for r in rows], [r[key] for r in rows])


def curves(view: RunView, images: dict[str, str]) -> str:
    if not view.metrics:
        return _section("curves", "Curves", _missing("No metrics.jsonl lines yet: one is "
                                                    "written at the end of each epoch."))
    charts = [Chart("Losses", "epoch", "mean loss per epoch",
                    [_series(view, "g_loss", "G loss"), _series(view, "d_loss", "D loss")]),
              Chart("Discriminator outputs", "epoch", "mean D output (probability)",
                    [_series(view, "d_real", "D(x), real"),
                     _series(view, "d_fake", "D(G(z)), generated")]),
              Chart("Speed", "epoch", "images per second", [_series(view, "images_per_s",
                                                                     "images/s")])]
    if any(isinstance(r.get("ada_p"), (int, float)) for r in view.metrics):
        # --augment ada (issue 25) logs its probability at each epoch's end as `ada_p`.
        charts.append(Chart("Adaptive augmentation (ADA)", "epoch",
                            "augmentation probability p (0-1)", [_series(view, "ada_p", "ADA p")]))
    charts += _score_charts(view)
    return _section("curves", "Curves", *(render(c) for c in charts))


def _score_charts(view: RunView) -> list[Chart]:
    """FD, KID and recall over training: from --eval-every (metrics.jsonl) and from an
    `evaluate --all` report (several checkpoints), the best checkpoint marked."""
    points: dict[str, dict[str, dict[float, float]]] = {}
    for r in view.metrics:
        for key in OVER_TRAINING:
            if isinstance(r.get(key), (int, float)):
                points.setdefault(key, {}).setdefault("during training (--eval-every)", {})[
                    r["epoch"]] = r[key]
    if view.over_training is not None:
        ev = view.over_training[1]
        label = f"evaluate --all (n={ev.get('n')})" if ev.get("n") else "evaluate --all"
        for score in ev["checkpoints"]:
            for key in OVER_TRAINING:
                if isinstance(score["metrics"].get(key), (int, float)):
                    points.setdefault(key, {}).setdefault(label, {})[
                        _epoch_of(view, score)] = score["metrics"][key]
    marks = []
    if view.best is not None:
        marks = [Mark(view.best["epoch"], f"best checkpoint (epoch {view.best['epoch']})")]
    elif "fd" in points:
        fds = {e: v for s in points["fd"].values() for e, v in s.items()}
        best = min(fds, key=fds.get)
        marks = [Mark(best, f"lowest FD (epoch {best})")]
    units = {"fd": "Fréchet distance (lower is better)", "kid": "KID (lower is better)",
             "recall": "recall, share 0-1 (higher is better)",
             "precision": "precision, share 0-1 (higher is better)",
             "coverage": "coverage, share 0-1 (higher is better)"}
    charts = []
    for key in OVER_TRAINING:
        if key in points:
            series = [Series(label, list(p), list(p.values()), dots=True)
                      for label, p in points[key].items()]
            charts.append(Chart(f"{FORMATS[key].label} over training", "epoch", units[key],
                                series, marks))
    return charts


def _epoch_of(view: RunView, score: dict[str, Any]) -> float:
    """Where a scored checkpoint sits on an epoch axis: its epoch, or for one saved mid-epoch
    (a --minutes stop) a fraction past it, so that it does not overwrite its epoch's point."""
    whole = [r for r in view.metrics if r.get("epoch") and r.get("step")]
    if score.get("complete", True) or not whole or "step" not in score:
        return score["epoch"]
    return round(score["step"] / (whole[-1]["step"] / whole[-1]["epoch"]), 2)


def nearest(view: RunView, images: dict[str, str]) -> str:
    if "nearest" not in images:
        return _section("nearest", "Nearest training images", _missing(
            "Not computed. Run <code>ganctl evaluate --ckpt "
            f"{escape(str(view.run.root))} --nearest 5</code> to see the generated "
            "images nearest to the training set, each beside its nearest training images."))
    return _section("nearest", "Nearest training images",
                    f'<img class="pix" src="{images["nearest"]}" alt="nearest training images" '
                    'style="width:min(100%,640px)">',
                    '<p class="sub">the 16 generated images closest to the training set (seed '
                    "under each), each followed by its nearest training images with their "
                    "distances in evaluator features (closest first): a pair that looks the "
                    f"same is a copy ({escape(view.nearest_png.name)}).</p>")


def config(view: RunView, images: dict[str, str]) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th><td><code>"
                   f"{escape(v if isinstance(v, str) else json.dumps(v))}</code></td></tr>"
                   for k, v in view.config.items())  # as config.json has them (true, null)
    return _section("config", "Config",
                    f"<p>Reproduce:</p><pre>{escape(command_line(view.config))}</pre>",
                    f"<details><summary>all {len(view.config)} settings (config.json)</summary>"
                    f"<table>{rows}</table></details>")


def _of_epochs(epochs: Any, word: str = "of") -> str:
    """'of 100 epochs', or for a run stopped by --minutes alone 'epochs (no epoch limit)'."""
    if epochs is None:
        return "epochs (no epoch limit)" if word == "of" else "with no epoch limit"
    return f"{word} {epochs} epoch" + ("" if epochs == 1 else "s")


def resumes(view: RunView, images: dict[str, str]) -> str:
    lines = []
    for entry in view.history:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry["time"]))
        if entry.get("resumed"):
            lines.append(f"{when}: resumed from {entry['resumed']} (epoch "
                         f"{entry.get('from_epoch')}, step {entry.get('from_step')}) "
                         f"{_of_epochs(entry.get('epochs'), 'towards')}")
        else:
            lines.append(f"{when}: started fresh {_of_epochs(entry.get('epochs'), 'towards')}")
    if not lines:
        return _section("resumes", "Resumes", _missing("No history.jsonl: this run was trained "
                                                       "by a ganctl that did not record one."))
    if len(lines) == 1:
        lines.append("never resumed")
    return _section("resumes", "Resumes", "<ul>" + "".join(f"<li>{escape(t)}</li>"
                                                          for t in lines) + "</ul>")
