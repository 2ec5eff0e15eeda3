"""What `ganctl report` shows, read from a run folder (never from TensorFlow): the config, the
metrics log, the checkpoints' index, the sample grids, the timelapse, the saved evaluations
and the training history."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganctl.checkpoints import INDEX
from ganctl.config import OPTIONS, TrainConfig, flag
from ganctl.runs import RunFolder, read_jsonl

_GRID = re.compile(r"^epoch_(\d+)\.png$")


@dataclass
class RunView:
    """Everything the page needs, as plain values; `notes` are one-line warnings for the user."""

    run: RunFolder
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    damaged_lines: int
    checkpoints: list[dict[str, Any]]
    grids: list[tuple[int, Path]]  # (epoch, samples/epoch_NNNN.png), oldest first
    evaluations: list[tuple[Path, dict[str, Any]]]  # evaluations/*.json, oldest first
    history: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    @property
    def evaluation(self) -> dict[str, Any] | None:
        """The newest evaluation: the summary's numbers."""
        return self.evaluations[-1][1] if self.evaluations else None

    @property
    def evaluation_path(self) -> Path | None:
        return self.evaluations[-1][0] if self.evaluations else None

    @property
    def over_training(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest `evaluate --all` report (more than one checkpoint scored), so that a
        later single evaluation does not hide its curves."""
        return next((e for e in reversed(self.evaluations) if len(e[1]["checkpoints"]) > 1),
                    None)

    @property
    def nearest_png(self) -> Path | None:
        """The nearest-neighbour grid of the newest evaluation that wrote one
        (evaluations/STAMP-nearest.png beside STAMP.json)."""
        for path, _ in reversed(self.evaluations):
            png = path.with_name(path.stem + "-nearest.png")
            if png.is_file():
                return png
        return None

    @property
    def best(self) -> dict[str, Any] | None:
        return next((c for c in self.checkpoints if c.get("best")), None)

    @property
    def class_names(self) -> list[str]:
        return [str(n) for n in self.config.get("labels") or []] \
            if self.config.get("conditional") else []


def gather(run: RunFolder) -> RunView:
    """Read what exists of `run`; what is missing is shown as missing, never an error."""
    config = json.loads(run.config.read_text(encoding="utf-8"))
    metrics, damaged = read_jsonl(run.metrics, "epoch")
    view = RunView(run, config, metrics, damaged, _checkpoints(run), _grids(run),
                   _evaluations(run), read_jsonl(run.history, "time")[0])
    if damaged:
        view.notes.append(f"skipped {damaged} damaged line{'s' if damaged > 1 else ''} of "
                          f"{run.metrics}")
    if not view.checkpoints:
        view.notes.append(f"run {run.name} has no checkpoint yet: training has not saved; the "
                          "page shows what exists")
    return view


def _checkpoints(run: RunFolder) -> list[dict[str, Any]]:
    try:
        entries = json.loads((run.checkpoints / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    entries = entries.get("checkpoints", entries) if isinstance(entries, dict) else entries
    return [e for e in entries if isinstance(e, dict) and "epoch" in e] \
        if isinstance(entries, list) else []


def _grids(run: RunFolder) -> list[tuple[int, Path]]:
    if not run.samples.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run.samples.iterdir() if (m := _GRID.match(p.name))]
    return sorted(found)


def _evaluations(run: RunFolder) -> list[tuple[Path, dict[str, Any]]]:
    """The readable evaluations/*.json, oldest first by the time `evaluate` wrote in them."""
    found = []
    for path in run.evaluations.glob("*.json") if run.evaluations.is_dir() else ():
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(obj, dict) and obj.get("checkpoints"):
            found.append((float(obj.get("time") or 0), *_name_order(path.name), path, obj))
    return [(path, obj) for *_, path, obj in sorted(found, key=lambda f: f[:3])]


def _name_order(name: str) -> tuple[str, int]:
    """STAMP.json before STAMP-2.json before STAMP-10.json (two evaluations in one second, and
    maybe in one millisecond of their saved time): the stamp, then the number save_evaluation
    added."""
    m = re.fullmatch(r"(\d{8}-\d{6})(?:-(\d+))?\.json", name)
    return (m.group(1), int(m.group(2) or 1)) if m else (name, 0)


def evenly_spaced(items: list[Any], count: int = 8) -> list[Any]:
    """`count` items from first to last at even spacing (all of them when there are fewer)."""
    if len(items) <= count:
        return list(items)
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


def command_line(config: dict[str, Any]) -> str:
    """The `ganctl train` command that trains this run again: every setting that differs from
    its default, plus data, epochs, seed, out and name."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    words = ["ganctl", "train"]
    for name, option in OPTIONS.items():
        if name not in config:
            continue
        value = config[name]
        if value == defaults.get(name) and name not in ("data", "epochs", "seed", "out", "name"):
            continue
        if value is None:
            continue
        if isinstance(value, bool):
            on, _, off = (option.flags or f"{flag(name)}/--no-{flag(name)[2:]}").partition("/")
            words.append(on if value else off)
        else:
            words += [flag(name), _quote(str(value))]
    return " ".join(words)


def _quote(text: str) -> str:
    return text if re.fullmatch(r"[\w@%+=:,./-]+", text) else "'" + text.replace("'", "'\\''") + "'"
