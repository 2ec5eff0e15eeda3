"""When training takes a snapshot (grid, GIF frame, checkpoint, TensorBoard images):
`--snapshot-every` parsed, and the decision at each epoch end.

Snapshots happen at epoch ends only, so checkpoints stay end-of-epoch (or at an interruption) and
resume stays exact. A count of images becomes a whole number of epochs; a time is checked at
each epoch end. The default, `auto`, snapshots at the first epoch end 30 seconds or more after
the last snapshot, on any data: an epoch of a minute or more snapshots every time, and short
epochs (a small folder's, or Fashion-MNIST's MLP at ~10 s) do not spend a share of their time on
snapshots that grows as epochs get faster. A snapshot costs a fixed time (mostly the checkpoint,
see benchmarks/README.md), so a bound in seconds bounds its share of the wall time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from ganctl.errors import UsageError

AUTO = "auto"
AUTO_SECONDS = 30.0
_SPEC = re.compile(r"^(\d+(?:\.\d+)?)\s*(k|kimg|ep|epochs?|m|min|s)?$")
_UNITS = {None: "images", "k": "images", "kimg": "images", "ep": "epochs", "epoch": "epochs",
          "epochs": "epochs", "m": "seconds", "min": "seconds", "s": "seconds"}
USAGE = ("use a number of images (60k, 60000), epochs (5ep), minutes (10m), seconds (30s) "
         "or auto")


@dataclass(frozen=True)
class SnapshotEvery:
    """A parsed `--snapshot-every`: `unit` is images, epochs, seconds or auto."""

    unit: str
    amount: float = 0.0


def parse_snapshot_every(text: str | int) -> SnapshotEvery:
    """`60k` -> 60,000 images, `5ep` -> 5 epochs, `10m` -> 600 s, `auto`; else a UsageError."""
    spec = str(text).strip()
    if spec.lower() == AUTO:
        return SnapshotEvery(AUTO)
    m = _SPEC.match(spec)  # case matters: 1m is a minute, and 1M is refused, not guessed
    if not m:
        hint = "; m means minutes, so write a million images as 1000k" if spec[-1:] == "M" else ""
        raise UsageError(f"bad --snapshot-every {text!r}: {USAGE}{hint}")
    value, suffix = float(m.group(1)), m.group(2)
    unit = _UNITS[suffix]
    if suffix in ("k", "kimg"):
        value *= 1000
    elif suffix in ("m", "min"):
        value *= 60
    if value <= 0:
        raise UsageError(f"bad --snapshot-every {text!r}: it must be more than zero")
    if unit != "seconds" and value != int(value):
        raise UsageError(f"bad --snapshot-every {text!r}: a whole number of {unit} is needed")
    return SnapshotEvery(unit, value)


class SnapshotSchedule:
    """Decides at each epoch end whether a snapshot is due.

    Counts of images and epochs become a stride in epochs (snapshot when `epoch % stride == 0`),
    so a resumed run snapshots at the same epochs as a straight one. Times run from the start
    of this session or the last snapshot.
    """

    def __init__(self, every: SnapshotEvery, images_per_epoch: int,
                 clock: Callable[[], float] | None = None):
        self.clock = clock or time.monotonic
        self.stride: int | None = None
        self.seconds: float | None = None
        if every.unit == AUTO:
            self.seconds = AUTO_SECONDS
        elif every.unit == "epochs":
            self.stride = int(every.amount)
        elif every.unit == "images":
            self.stride = max(1, round(every.amount / images_per_epoch))
        else:
            self.seconds = every.amount
        self.last = self.clock()

    def due(self, epoch: int) -> bool:
        """Whether the end of `epoch` (1-based) is a snapshot."""
        if self.stride is not None:
            return epoch % self.stride == 0
        return self.clock() - self.last >= self.seconds

    def taken(self) -> None:
        """A snapshot was just written (by the schedule or not): time counts from now."""
        self.last = self.clock()

    def describe(self) -> str:
        """'every epoch', 'every 20 epochs' or 'every 30 s' (at epoch ends)."""
        if self.stride == 1:
            return "every epoch"
        if self.stride is not None:
            return f"every {self.stride} epochs"
        return f"every {self.seconds:g} s (at epoch ends)"
