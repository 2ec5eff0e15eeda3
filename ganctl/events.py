"""What the core reports; the CLI renders these, the core never prints.

The training loop emits events (and evaluation the training of its evaluator); other work takes
`Say` sinks, one for progress and one for warnings, that default to `quiet`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrainStarted:
    run: str
    device: str
    epochs: int | None  # None: no epoch limit (--minutes alone)
    start_epoch: int  # completed epochs before this session
    start_step_in_epoch: int
    steps_per_epoch: int
    num_images: int
    resumed_from: str | None
    snapshots: str = ""  # when snapshots are taken: "every epoch", "every 30 s (at epoch ends)"
    notes: tuple[str, ...] = ()  # the model and its options, e.g. "augmentation on (auto: ...)"
    strategy: str = "one device"  # e.g. "mirrored, 2 replicas x 32 images"


@dataclass(frozen=True)
class StepsDone:
    epoch: int  # 1-based epoch in progress
    step_in_epoch: int  # steps done in this epoch
    steps_per_epoch: int
    stats: dict[str, float]  # running means over the epoch so far
    images_per_s: float


@dataclass
class Timings:
    """Where the time outside training went, by part ("checkpoint", "gif", ...): wall seconds
    and the process's CPU seconds (all its threads), as the training loop measured them."""

    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        """Add the time the block takes to part `name`."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - wall, time.process_time() - cpu)

    def add(self, name: str, wall: float, cpu: float) -> None:
        """Add `wall` and `cpu` seconds to part `name`."""
        self.wall[name] = self.wall.get(name, 0.0) + wall
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu

    def update(self, other: Timings) -> None:
        """Add every part of `other`."""
        for name, wall in other.wall.items():
            self.add(name, wall, other.cpu.get(name, 0.0))


@dataclass(frozen=True)
class EpochDone:
    epoch: int
    record: dict[str, Any] = field(default_factory=dict)
    snapshot: bool = False  # a grid, GIF frame and checkpoint were written at its end
    # the epoch end's work after training, by part (hooks, snapshot, metrics line, checkpoint)
    timings: Timings = field(default_factory=Timings)


@dataclass(frozen=True)
class Message:
    text: str
    level: str = "info"  # "info" or "warning"


@dataclass(frozen=True)
class EvaluatorTraining:
    """An evaluator being trained on the run's data (before its first use; then cached)."""

    step: int  # batches done
    steps: int  # batches in all
    epoch: int  # 1-based epoch in progress
    epochs: int
    loss: float


@dataclass(frozen=True)
class Decoding:
    """An image folder being decoded (before training; then cached)."""

    done: int  # images decoded or skipped
    total: int


@dataclass(frozen=True)
class Projecting:
    """Images being projected into a generator (`ganctl project`): optimisation steps done of
    all (rows x steps), and rows (images, times classes tried) finished of all."""

    done: int
    total: int
    rows_done: int
    rows: int


Event = (TrainStarted | StepsDone | EpochDone | Message | EvaluatorTraining | Decoding
         | Projecting)

# A sink for one line of progress or warning text.
Say = Callable[[str], None]
# A sink for the training loop's events (the CLI's progress display renders them).
Emit = Callable[[Event], None]


def quiet(message: object) -> None:
    """The one default sink, for text (`Say`) and events (`Emit`) alike: says nothing."""
