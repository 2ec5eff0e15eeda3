"""`ganctl report`: one self-contained HTML page of a run (see README 'ganctl report').

Images are inlined as data: URIs, so the page is one file to mail or attach, opens from disk,
and needs no network. The page stays small by showing at most 9 sample grids (the newest and 8
evenly spaced), and when it would still be over PAGE_BUDGET, by thinning progress.gif to every
k-th frame, k the smallest that fits."""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganctl.evaluation.report.gather import RunView, evenly_spaced, gather
from ganctl.evaluation.report.page import page
from ganctl.fsutil import atomic_write_json, atomic_write_text
from ganctl.runs import RunFolder

# Bytes of the page: under the 5 MB that mail and issue trackers take, with room for the notes.
PAGE_BUDGET = 4_500_000

__all__ = ["PAGE_BUDGET", "ReportResult", "RunView", "build_report", "gather", "save_evaluation"]


@dataclass(frozen=True)
class ReportResult:
    path: Path
    size: int  # bytes written
    notes: list[str]  # one-line warnings (damaged log lines, no checkpoint yet, thinned GIF)


def build_report(run: RunFolder, out: Path) -> ReportResult:
    """Write the report of `run` to `out` (atomically) and say what it noticed."""
    view = gather(run)
    images = _images(view)
    html = page(view, images)
    over = len(html.encode("utf-8")) - PAGE_BUDGET
    if over > 0 and "gif" in images:
        gif = view.run.progress_gif.read_bytes()
        # base64 carries 3 bytes in 4 characters; 2 kB spare for the note added below
        thinned, step = _thin_gif(gif, len(gif) - (over + 2_000) * 3 // 4)
        images["gif"] = _data_uri(thinned, "image/gif")
        view.notes.append(f"the page would be {(over + PAGE_BUDGET) / 1e6:.1f} MB: it shows one "
                          f"frame in {step} of progress.gif, to stay under "
                          f"{PAGE_BUDGET / 1e6:.1f} MB")
        html = page(view, images)
    if len(html.encode("utf-8")) > PAGE_BUDGET:
        view.notes.append(f"the page is {len(html.encode('utf-8')) / 1e6:.1f} MB, over "
                          f"{PAGE_BUDGET / 1e6:.1f} MB: its sample grids are large")
        html = page(view, images)
    atomic_write_text(out, html)
    return ReportResult(out, len(html.encode("utf-8")), list(view.notes))


def save_evaluation(run: RunFolder, report: dict[str, Any], nn_grid: np.ndarray | None = None
                    ) -> Path:
    """Keep an `evaluate` report in the run as evaluations/TIMESTAMP.json (and the
    nearest-neighbour grid as TIMESTAMP-nearest.png); returns the JSON's path."""
    from ganctl.images import write_png

    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, i = run.evaluations / f"{stamp}.json", 1
    while path.exists():  # two evaluations in one second
        i += 1
        path = run.evaluations / f"{stamp}-{i}.json"
    if nn_grid is not None:
        write_png(path.with_name(path.stem + "-nearest.png"), nn_grid)
    atomic_write_json(path, {**report, "time": round(time.time(), 3)})
    return path


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _images(view: RunView) -> dict[str, str]:
    """Data URIs of the pictures the page shows, by the names page.py uses."""
    images = {}
    shown = evenly_spaced(view.grids, 8) + view.grids[-1:]
    for epoch, path in shown:
        images[f"grid{epoch}"] = _data_uri(path.read_bytes(), "image/png")
    if view.run.progress_gif.is_file():
        images["gif"] = _data_uri(view.run.progress_gif.read_bytes(), "image/gif")
    if view.nearest_png is not None:
        images["nearest"] = _data_uri(view.nearest_png.read_bytes(), "image/png")
    return images


def _thin_gif(data: bytes, budget: int) -> tuple[bytes, int]:
    """Every k-th frame (and the last) of a GIF, k the smallest that fits `budget` bytes (or
    only the first and last frames when nothing fits)."""
    from PIL import Image, ImageSequence

    with Image.open(io.BytesIO(data)) as gif:
        frames = [f.convert("RGB") for f in ImageSequence.Iterator(gif)]
        duration = gif.info.get("duration", 250)
    step = 2
    while True:
        kept = frames[::step] + ([frames[-1]] if (len(frames) - 1) % step else [])
        buffer = io.BytesIO()
        kept[0].save(buffer, format="GIF", save_all=True, append_images=kept[1:],
                     duration=duration, loop=0)
        if buffer.tell() <= budget or len(kept) <= 2:
            return buffer.getvalue(), step
        step += 1
