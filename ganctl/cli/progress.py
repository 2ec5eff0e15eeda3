"""Render training events: a Rich live display on a terminal, plain lines otherwise."""

from __future__ import annotations

import math
import time
from typing import Any, Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ganctl.events import (
    Decoding,
    EpochDone,
    EvaluatorTraining,
    Event,
    Message,
    Projecting,
    StepsDone,
    TrainStarted,
)


def _stats_text(stats: dict[str, float]) -> str:
    ada = f"  p {stats['ada_p']:.3f}" if "ada_p" in stats else ""  # --augment ada
    return (f"G {stats['g_loss']:.3f}  D {stats['d_loss']:.3f}  "
            f"D(x) {stats['d_real']:.2f}  D(G(z)) {stats['d_fake']:.2f}{ada}")


class ProgressRenderer:
    """Consumes events from the trainer; call `close()` when training returns."""

    def __init__(self, console: Console, plain_every_s: float = 10.0):
        self.console = console
        self.live = console.is_terminal
        self.plain_every_s = plain_every_s
        # Minus infinity, not 0: time.monotonic() counts from boot on Linux, so within
        # `plain_every_s` of boot a 0 would hold back the first plain line.
        self._last_plain = -math.inf
        self._last_epoch_line = -math.inf
        self.progress: Progress | None = None
        self.epoch_task = self.step_task = self.evaluator_task = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, TrainStarted):
            self._started(event)
        elif isinstance(event, StepsDone):
            self._steps(event)
        elif isinstance(event, EpochDone):
            self._epoch(event)
        elif isinstance(event, EvaluatorTraining):
            self._evaluator(event)
        elif isinstance(event, Message):
            style = "yellow" if event.level == "warning" else "dim"
            prefix = "warning: " if event.level == "warning" else ""
            self.console.print(f"[{style}]{prefix}{event.text}[/]", highlight=False)

    def _started(self, ev: TrainStarted) -> None:
        verb = f"resuming from {ev.resumed_from}" if ev.resumed_from else "starting"
        snapshots = f", snapshots {ev.snapshots}" if ev.snapshots else ""
        self.console.print(f"[bold]ganctl train[/] run [cyan]{ev.run}[/] on {ev.device}, "
                           f"{ev.strategy}: "
                           f"{ev.num_images} images/epoch, {ev.steps_per_epoch} steps/epoch, "
                           f"{verb} at epoch {ev.start_epoch + 1}"
                           f"{'' if ev.epochs is None else f'/{ev.epochs}'}{snapshots}",
                           highlight=False)
        if ev.notes:
            self.console.print("  " + "; ".join(ev.notes), highlight=False)
        if not self.live:
            return
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=self.console, transient=False)
        self.epoch_task = self.progress.add_task("epochs", total=ev.epochs,
                                                 completed=ev.start_epoch, info="")
        self.step_task = self.progress.add_task("steps ", total=ev.steps_per_epoch,
                                                completed=ev.start_step_in_epoch, info="")
        self.progress.start()

    def _steps(self, ev: StepsDone) -> None:
        info = f"{_stats_text(ev.stats)}  {ev.images_per_s:,.0f} img/s"
        if self.progress is not None:
            self.progress.update(self.step_task, completed=ev.step_in_epoch,
                                 description=f"epoch {ev.epoch}", info=info)
        elif time.monotonic() - self._last_plain >= self.plain_every_s:
            self._last_plain = time.monotonic()
            self.console.print(f"epoch {ev.epoch} step {ev.step_in_epoch}/{ev.steps_per_epoch}  "
                               f"{info}", highlight=False)

    def _epoch(self, ev: EpochDone) -> None:
        r = ev.record
        extra = "".join(f"  {k.upper()} {r[k]:.3g}" for k in ("fd", "kid") if k in r)
        line = (f"epoch {ev.epoch} done in {r['seconds']:.1f}s  {_stats_text(r)}  "
                f"{r['images_per_s']:,.0f} img/s{extra}{'  (snapshot)' if ev.snapshot else ''}")
        if self.progress is not None:
            self.progress.update(self.epoch_task, completed=ev.epoch, info=extra.strip())
            total = self.progress.tasks[0].total  # None: no epoch limit
            if total is None or ev.epoch < total:  # after the last: no "epoch N+1" bar
                self.progress.reset(self.step_task, total=self.progress.tasks[1].total,
                                    description=f"epoch {ev.epoch + 1}")
        # Short epochs would scroll a line each: print snapshots, else one line per interval.
        if not ev.snapshot and time.monotonic() - self._last_epoch_line < self.plain_every_s:
            return
        self._last_epoch_line = time.monotonic()
        (self.progress.console if self.progress is not None else self.console).print(
            line, highlight=False)

    def _evaluator(self, ev: EvaluatorTraining) -> None:
        """The evaluator trained on the run's data before the first evaluation: a third bar."""
        info = f"epoch {ev.epoch}/{ev.epochs}  loss {ev.loss:.3f}"
        if self.progress is not None:
            if self.evaluator_task is None:
                self.evaluator_task = self.progress.add_task("evaluator", total=ev.steps, info="")
            self.progress.update(self.evaluator_task, completed=ev.step, info=info)
            if ev.step >= ev.steps:
                self.progress.remove_task(self.evaluator_task)
                self.evaluator_task = None
        elif time.monotonic() - self._last_plain >= self.plain_every_s or ev.step >= ev.steps:
            self._last_plain = time.monotonic()
            self.console.print(f"training the evaluator: step {ev.step}/{ev.steps}  {info}",
                               highlight=False)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class EvaluationDisplay:
    """While evaluating: a status line of what is being done, and a progress bar while an
    evaluator is trained on the run's data (Rich shows one live display at a time)."""

    def __init__(self, console: Console):
        self.console = console
        self.status = console.status("evaluating")
        self.bar: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> EvaluationDisplay:
        self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_bar()
        self.status.stop()

    def say(self, text: str) -> None:
        self.status.update(text)

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]warning:[/] {text}", highlight=False)

    def progress(self, event: EvaluatorTraining) -> None:
        if self.bar is None:
            self.status.stop()
            self.bar = Progress(
                TextColumn("[bold]training the evaluator"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), console=self.console, transient=False)
            self.task = self.bar.add_task("evaluator", total=event.steps, info="")
            self.bar.start()
        self.bar.update(self.task, completed=event.step,
                        info=f"epoch {event.epoch}/{event.epochs}  loss {event.loss:.3f}")
        if event.step >= event.steps:
            self._stop_bar()
            self.status.start()

    def _stop_bar(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


class _BarDisplay:
    """A display that may hold a live Rich bar: as a context manager it stops the bar on the
    way out, however the command ends."""

    progress: Progress | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class DecodeDisplay(_BarDisplay):
    """An image folder's decoding (Decoding events) as a bar with images/s and ETA on a
    terminal. Elsewhere (logs, CI) the line saying why it decodes and one with its speed come
    at its end, and only when it took a second or more: a small folder decodes without a word,
    and an error stays one line. Warnings are printed as they come."""

    def __init__(self, console: Console):
        self.console = console
        self.progress: Progress | None = None
        self.task = None
        self._start = 0.0
        self._held: list[str] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, Message):
            if event.level != "warning" and not self.console.is_terminal:
                self._held.append(event.text)
                return
            style = "yellow" if event.level == "warning" else "dim"
            prefix = "warning: " if event.level == "warning" else ""
            self.console.print(f"[{style}]{prefix}{event.text}[/]", highlight=False)
        elif isinstance(event, Decoding):
            self._decoding(event)

    def _decoding(self, ev: Decoding) -> None:
        now = time.monotonic()
        if self.task is None:
            self._start = now
            if self.console.is_terminal:
                self.progress = Progress(
                    TextColumn("decoding"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]} images/s"), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), console=self.console)
                self.progress.start()
                self.task = self.progress.add_task("decoding", total=ev.total, rate="-")
            else:
                self.task = 0
        rate = ev.done / max(now - self._start, 1e-9)
        if self.progress is not None:
            self.progress.update(self.task, completed=ev.done, rate=f"{rate:,.0f}")
        if ev.done >= ev.total:
            if self.progress is not None:
                self.progress.stop()
                self.progress = None
            took = now - self._start
            if self.console.is_terminal or took >= 1.0:
                for text in self._held:
                    self.console.print(f"[dim]{text}[/]", highlight=False)
                self.console.print(f"[dim]decoded {ev.total:,} images in {took:.1f} s "
                                   f"({rate:,.0f} images/s)[/]", highlight=False)
            self._held.clear()
            self.task = None


class ProjectionBar(_BarDisplay):
    """`ganctl project`'s Projecting events as a bar of optimisation steps (all images x
    steps) with the images finished and the ETA; quiet when not a terminal."""

    def __init__(self, console: Console):
        self.console = console
        self.progress: Progress | None = None
        self.task: Any = None

    def __call__(self, event: Event) -> None:
        if not isinstance(event, Projecting) or not self.console.is_terminal:
            return
        if self.progress is None:
            self.progress = Progress(
                TextColumn("[bold]projecting"), BarColumn(), MofNCompleteColumn(),
                TextColumn("steps · {task.fields[rows]}"), TimeElapsedColumn(),
                TextColumn("ETA"), TimeRemainingColumn(), console=self.console)
            self.progress.start()
            self.task = self.progress.add_task("projecting", total=event.total, rows="")
        self.progress.update(self.task, completed=event.done,
                             rows=f"images {event.rows_done}/{event.rows}")
