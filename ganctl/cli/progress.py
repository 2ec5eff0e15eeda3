"""Render training events: a Rich live display on a terminal, plain lines otherwise."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ganctl.events import EpochDone, Event, Message, StepsDone, TrainStarted


def _stats_text(stats: dict[str, float]) -> str:
    return (f"G {stats['g_loss']:.3f}  D {stats['d_loss']:.3f}  "
            f"D(x) {stats['d_real']:.2f}  D(G(z)) {stats['d_fake']:.2f}")


class ProgressRenderer:
    """Consumes events from the trainer; call `close()` when training returns."""

    def __init__(self, console: Console, plain_every_s: float = 10.0):
        self.console = console
        self.live = console.is_terminal
        self.plain_every_s = plain_every_s
        self._last_plain = 0.0
        self.progress: Progress | None = None
        self.epoch_task = self.step_task = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, TrainStarted):
            self._started(event)
        elif isinstance(event, StepsDone):
            self._steps(event)
        elif isinstance(event, EpochDone):
            self._epoch(event)
        elif isinstance(event, Message):
            style = "yellow" if event.level == "warning" else "dim"
            prefix = "warning: " if event.level == "warning" else ""
            self.console.print(f"[{style}]{prefix}{event.text}[/]", highlight=False)

    def _started(self, ev: TrainStarted) -> None:
        verb = f"resuming from {ev.resumed_from}" if ev.resumed_from else "starting"
        self.console.print(f"[bold]ganctl train[/] run [cyan]{ev.run}[/] on {ev.device}: "
                           f"{ev.num_images} images/epoch, {ev.steps_per_epoch} steps/epoch, "
                           f"{verb} at epoch {ev.start_epoch + 1}/{ev.epochs}", highlight=False)
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
                f"{r['images_per_s']:,.0f} img/s{extra}")
        if self.progress is not None:
            self.progress.update(self.epoch_task, completed=ev.epoch, info=extra.strip())
            self.progress.reset(self.step_task, total=self.progress.tasks[1].total,
                                description=f"epoch {ev.epoch + 1}")
            self.progress.console.print(line, highlight=False)
        else:
            self.console.print(line, highlight=False)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
