"""Run folders: naming, layout, config.json, metrics.jsonl and the one-writer lock."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganctl.config import NAME_PATTERN, TrainConfig
from ganctl.errors import GanctlError, UsageError
from ganctl.fsutil import atomic_write_json, atomic_write_text

DEFAULT_RUNS = "runs"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run; see README 'The run folder' for what each holds."""

    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def progress_gif(self) -> Path:
        return self.root / "progress.gif"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def evaluations(self) -> Path:
        """`evaluate` keeps each report here as TIMESTAMP.json (`ganctl report` shows the newest)."""
        return self.root / "evaluations"

    @property
    def history(self) -> Path:
        """One JSON line per `train` session: when it started and where it resumed from."""
        return self.root / "history.jsonl"

    @property
    def lock(self) -> Path:
        return self.root / "train.lock"

    def sample_path(self, epoch: int) -> Path:
        return self.samples / f"epoch_{epoch:04d}.png"

    # --- config ----------------------------------------------------------------------------------

    def write_config(self, cfg: TrainConfig, extra: dict[str, Any]) -> None:
        atomic_write_json(self.config, {**cfg.to_json(), **extra})

    def read_config(self) -> TrainConfig:
        """The run's settings; a one-line error when config.json is missing or damaged."""
        if not self.config.is_file():
            raise GanctlError(f"{self.root} has no config.json; is it a ganctl run folder?")
        try:
            obj = json.loads(self.config.read_text(encoding="utf-8"))
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            raise GanctlError(f"{self.config} is unreadable ({exc}); the run's settings are lost, "
                              "train a new run") from None
        settings = {k: v for k, v in obj.items() if k not in ("ganctl_version",
                                                                "tensorflow_version")}
        try:
            return TrainConfig.from_json(settings)
        except (TypeError, UsageError) as exc:
            raise GanctlError(f"{self.config} does not describe a run this ganctl can read: "
                              f"{exc}") from None

    # --- metrics.jsonl ---------------------------------------------------------------------------

    def read_metrics(self) -> list[dict[str, Any]]:
        """Whole, parsable records of metrics.jsonl (a torn last line from a crash is dropped)."""
        return read_jsonl(self.metrics, "epoch")[0]

    def append_history(self, entry: dict[str, Any]) -> None:
        """Add one line to history.jsonl (a training session's start)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.history, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")

    def truncate_metrics(self, last_epoch: int) -> None:
        """Keep only records up to `last_epoch` (used when resuming from a checkpoint)."""
        kept, seen = [], set()
        for record in self.read_metrics():
            if record["epoch"] <= last_epoch and record["epoch"] not in seen:
                kept.append(record)
                seen.add(record["epoch"])
        atomic_write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in kept))

    def append_metrics(self, record: dict[str, Any], sync: bool = True) -> None:
        """Append one record as a single line; `sync` waits until it is on disk (the line is in
        the file either way: a killed process loses nothing, only a power cut could)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.metrics, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            if sync:
                os.fsync(fh.fileno())

    # --- lifecycle -------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.config.is_file()

    def remove_temporaries(self) -> None:
        """Delete `.NAME.*.tmp*` files that an interrupted atomic write (a killed process) left."""
        for path in self.root.rglob(".*.tmp*"):
            if path.is_file():
                path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove everything a run wrote (for --fresh), keeping the folder itself."""
        for path in (self.config, self.metrics, self.progress_gif, self.history):
            path.unlink(missing_ok=True)
        for path in (self.checkpoints, self.samples, self.tensorboard, self.evaluations):
            shutil.rmtree(path, ignore_errors=True)


def read_jsonl(path: Path, key: str) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects holding `key` in the lines of `path`, and how many non-blank lines were
    not such an object (damaged); a missing file is ([], 0)."""
    if not path.is_file():
        return [], 0
    records, damaged = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict) and key in record:
            records.append(record)
        else:
            damaged += 1
    return records, damaged


# --- naming and lookup ---------------------------------------------------------------------------

_RUN_N = re.compile(r"^run(\d+)$")


def next_run_name(out: Path) -> str:
    """The next free `runN` under `out`: run1, run2, ..."""
    taken = [int(m.group(1)) for p in out.iterdir() if (m := _RUN_N.match(p.name))] \
        if out.is_dir() else []
    return f"run{max(taken, default=0) + 1}"


def run_for_training(out: str | Path, name: str | None) -> RunFolder:
    """The run folder `train` writes: `out/name`, or the next free `runN`."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    if name is None:
        name = next_run_name(out)
    elif not NAME_PATTERN.match(name):
        raise UsageError(f"--name {name!r} must be a plain name (letters, digits, '.', '_', '-'), "
                         "not a path")
    return RunFolder(out / name)


def find_run(ckpt: str, runs_root: str | Path = DEFAULT_RUNS) -> tuple[RunFolder, str | None]:
    """Resolve `--ckpt`: a run name under `runs_root`, a run folder, or one checkpoint in a run.

    Returns the run and, for a specific checkpoint, its name (else None).
    """
    path = Path(ckpt).expanduser()
    candidates = [path] if (path.is_absolute() or os.sep in ckpt) else [path, Path(runs_root) / ckpt]
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return RunFolder(candidate), None
        if (candidate / "checkpoints").is_dir():
            raise GanctlError(f"{candidate} has checkpoints but no config.json, so its model "
                              "cannot be rebuilt; restore config.json or train a new run")
        # A checkpoint: runs/r1/checkpoints/ckpt-e0003-s00000045 (with or without .index)
        stem = candidate.with_suffix("") if candidate.suffix == ".index" else candidate
        if stem.parent.name == "checkpoints" and (stem.parent.parent / "config.json").is_file():
            if Path(str(stem) + ".index").is_file():
                return RunFolder(stem.parent.parent), stem.name
            raise UsageError(f"checkpoint {ckpt} does not exist")
    if path.is_dir():
        raise UsageError(f"{ckpt} is a folder but not a run (it has no config.json); pass a run "
                         "folder that ganctl train wrote (runs/run1), a run name or a checkpoint")
    if len(candidates) == 1:
        raise UsageError(f"no run {ckpt!r}; pass a run name, a run folder or a checkpoint")
    root = Path(runs_root)
    names = sorted(p.name for p in root.iterdir() if (p / "config.json").is_file()) \
        if root.is_dir() else []
    there = (f"runs there: {', '.join(names[:10])}{', ...' if len(names) > 10 else ''}" if names
             else "no runs there" if root.is_dir() else "no such folder")
    raise UsageError(f"no run {ckpt!r} in {runs_root}/ ({there}); for runs trained with --out DIR "
                     "pass --runs DIR, or pass a run folder or a checkpoint")


# --- lock ----------------------------------------------------------------------------------------

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def run_lock(run: RunFolder, warn: Any = None):
    """Hold `train.lock` (our PID) while training; a stale lock of a dead process is taken over."""
    run.root.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(run.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(run.lock.read_text().strip() or "0")
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _pid_alive(pid):
                raise GanctlError(f"run {run.root} is being trained by process {pid}; wait for it "
                                  f"or stop it (if it is gone, delete {run.lock})") from None
            if warn:
                warn(f"taking over a stale lock of process {pid or '?'} on {run.root}")
            run.lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        break
    try:
        yield
    finally:
        run.lock.unlink(missing_ok=True)
