"""TensorFlow checkpoints of a run: save, list, prune, and restore with fallback past damaged ones."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganctl.errors import GanctlError, UsageError
from ganctl.events import Say, Timings
from ganctl.fsutil import atomic_write_json

if TYPE_CHECKING:
    from ganctl.config import TrainConfig

INDEX = "index.json"
_NAME = re.compile(r"^ckpt-e(\d{4,})-s(\d{8,})$")


@dataclass(frozen=True)
class CheckpointInfo:
    """One saved checkpoint: `name` is the file prefix inside `checkpoints/`."""

    name: str
    epoch: int  # completed epochs when saved
    step: int  # global step when saved
    complete: bool  # saved at the end of an epoch (False: interrupted mid-epoch)
    time: float = 0.0
    score: float | None = None  # Fréchet distance where evaluated (lower is better)
    best: bool = False


def shown_generator_key(cfg: TrainConfig, ema: bool = True) -> str:
    """The checkpoint name of "the generator to show": its EMA copy when the run keeps one
    (unless `ema` is False), else the trained generator itself."""
    return "generator_ema" if ema and cfg.ema else "generator"


def checkpoint_name(epoch: int, step: int) -> str:
    return f"ckpt-e{epoch:04d}-s{step:08d}"


def _missing_epoch(epoch: int, kept: list[int]) -> str:
    """The error for `--epoch N` without a checkpoint: the kept epochs and the nearest ones.

    Checkpoints exist only at snapshots (see ganctl.training.snapshots) and the last `--keep` of them."""
    text = f"no checkpoint of epoch {epoch} is kept (kept epochs: {', '.join(map(str, kept)) or 'none'})"
    before = [e for e in kept if e < epoch][-1:]
    after = [e for e in kept if e > epoch][:1]
    nearest = " or ".join(f"--epoch {e}" for e in before + after)
    return f"{text}; the nearest: {nearest}" if nearest else text


class CheckpointStore:
    """The `checkpoints/` folder: TF checkpoint files plus `index.json` listing the good ones.

    Files are written first and the index (written atomically) names a checkpoint only once its
    files are complete, so a crash mid-save leaves the earlier checkpoints listed and intact.
    """

    def __init__(self, folder: Path, keep: int = 3):
        self.folder = Path(folder)
        self.keep = keep
        self.last_save = Timings()  # the last save's time: "checkpoint" files, "index.json"

    # --- index -----------------------------------------------------------------------------------

    def list(self) -> list[CheckpointInfo]:
        """Known checkpoints, oldest first (rebuilt from the files when the index is damaged)."""
        index = self.folder / INDEX
        entries: list[CheckpointInfo] = []
        with contextlib.suppress(OSError, ValueError, TypeError):
            raw = json.loads(index.read_text(encoding="utf-8"))
            entries = [CheckpointInfo(**e) for e in raw["checkpoints"]]
        if not entries and self.folder.is_dir():
            for path in self.folder.glob("ckpt-*.index"):
                if m := _NAME.match(path.stem):
                    entries.append(CheckpointInfo(path.stem, int(m.group(1)), int(m.group(2)),
                                                  complete=False, time=path.stat().st_mtime))
        return sorted(entries, key=lambda e: (e.step, e.epoch))

    def _write_index(self, entries: list[CheckpointInfo]) -> None:
        atomic_write_json(self.folder / INDEX, {"checkpoints": [asdict(e) for e in entries]})

    def latest(self) -> CheckpointInfo | None:
        entries = self.list()
        return entries[-1] if entries else None

    def find(self, name: str | None = None, epoch: int | None = None) -> CheckpointInfo:
        """A checkpoint by file name or by epoch (the end-of-epoch one); else the latest."""
        entries = self.list()
        if not entries:
            raise GanctlError(f"no checkpoints in {self.folder}; train the run first")
        if name is not None:
            match = [e for e in entries if e.name == name]
            if not match:
                raise UsageError(f"checkpoint {name} is not listed in {self.folder / INDEX}")
            return match[0]
        if epoch is not None:
            match = [e for e in entries if e.epoch == epoch and e.complete]
            if not match:
                raise UsageError(_missing_epoch(epoch, sorted({e.epoch for e in entries
                                                               if e.complete})))
            return match[-1]
        return entries[-1]

    def prefix(self, info: CheckpointInfo) -> str:
        return str(self.folder / info.name)

    # --- save ------------------------------------------------------------------------------------

    def save(self, objects: dict[str, Any], epoch: int, step: int, complete: bool,
             score: float | None = None) -> CheckpointInfo:
        """Write a checkpoint of `objects`, list it, and prune old ones."""
        import tensorflow as tf

        self.folder.mkdir(parents=True, exist_ok=True)
        info = CheckpointInfo(checkpoint_name(epoch, step), epoch, step, complete, time.time(),
                              score)
        self.last_save = Timings()
        try:
            with self.last_save.part("checkpoint"):
                tf.train.Checkpoint(**objects).write(self.prefix(info))
        except (OSError, tf.errors.OpError) as exc:
            self._delete_files(info.name)
            reason = getattr(exc, "strerror", None) or getattr(exc, "message", None) or str(exc)
            raise GanctlError(f"cannot save checkpoint {info.name} in {self.folder}: "
                              f"{str(reason).splitlines()[0]}; earlier checkpoints are intact") from None
        with self.last_save.part("index.json"):  # and deleting the pruned checkpoints' files
            entries = [e for e in self.list() if e.name != info.name] + [info]
            self._write_index(self._prune(entries))
        return info

    def _prune(self, entries: list[CheckpointInfo]) -> list[CheckpointInfo]:
        """Keep the last `keep` checkpoints plus the best-scored one; delete the others' files."""
        scored = [e for e in entries if e.score is not None]
        best = min(scored, key=lambda e: e.score).name if scored else None
        entries = [CheckpointInfo(**{**asdict(e), "best": e.name == best}) for e in entries]
        recent = {e.name for e in entries[-self.keep:]}
        kept = [e for e in entries if e.name in recent or e.best]
        for e in entries:
            if e not in kept:
                self._delete_files(e.name)
        return kept

    def _delete_files(self, name: str) -> None:
        for path in self.folder.glob(name + ".*"):
            path.unlink(missing_ok=True)

    def remove_unlisted(self) -> None:
        """Delete checkpoint files no index entry names (left by a crash mid-save), and the
        `NAME_temp/` folders TensorFlow writes a checkpoint's shards into before it renames them."""
        names = {e.name for e in self.list()}
        for path in self.folder.glob("ckpt-*"):
            if path.name.split(".")[0] not in names:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    def forget(self, info: CheckpointInfo) -> None:
        """Drop a damaged checkpoint from the index (its files are left for inspection)."""
        self._write_index([e for e in self.list() if e.name != info.name])

    # --- restore ---------------------------------------------------------------------------------

    def restore(self, objects: dict[str, Any], info: CheckpointInfo, partial: bool = False) -> None:
        """Load `info` into `objects`; a damaged or mismatching checkpoint raises GanctlError."""
        import tensorflow as tf

        prefix = self.prefix(info)
        try:
            status = tf.train.Checkpoint(**objects).read(prefix)
            if partial:
                status.expect_partial().assert_existing_objects_matched()
            else:
                status.assert_consumed()
        except Exception as exc:  # noqa: BLE001 - TF raises OpError, ValueError, IndexError, ...
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise GanctlError(f"checkpoint {prefix} cannot be loaded: {reason}") from None

    def restore_latest_good(self, objects: dict[str, Any], warn: Say,
                            partial: bool = False) -> CheckpointInfo | None:
        """Restore the newest checkpoint that loads, warning about and skipping damaged ones."""
        entries = self.list()
        for info in reversed(entries):
            try:
                self.restore(objects, info, partial=partial)
                return info
            except GanctlError as exc:
                warn(f"{exc}; falling back to the previous checkpoint")
        if entries:
            raise GanctlError(f"no checkpoint in {self.folder} can be loaded (all {len(entries)} "
                              "are damaged or do not match config.json); if config.json was "
                              "edited, restore it, else train the run again (--fresh)")
        return None
