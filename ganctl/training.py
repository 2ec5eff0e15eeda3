"""The training loop: epochs of compiled multi-step calls, snapshots on a schedule, resume and
interruption."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganctl import __version__
from ganctl.callbacks import Callback, Evaluate, SampleGrid, TensorBoard
from ganctl.checkpoints import CheckpointInfo, CheckpointStore
from ganctl.config import TrainConfig
from ganctl.errors import GanctlError, UsageError
from ganctl.events import EpochDone, Event, Message, StepsDone, TrainStarted
from ganctl.gan import GAN, STAT_NAMES
from ganctl.runs import RunFolder
from ganctl.snapshots import SnapshotSchedule, parse_snapshot_every


class Diverged(GanctlError):
    """A loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainResult:
    run: RunFolder
    epochs_done: int
    step: int
    interrupted: bool  # stopped on request (Ctrl-C)
    last_checkpoint: CheckpointInfo | None
    # The checkpoints already held `cfg.epochs` complete epochs: nothing was trained.
    already_complete: bool = False
    out_of_time: bool = False  # stopped after `--minutes`


def device_description() -> str:
    """Which device TensorFlow will use, for the progress header."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        return f"GPU {name}" + (f" (1 of {len(gpus)} used)" if len(gpus) > 1 else "")
    return f"CPU ({os.cpu_count()} cores)"


def version_info() -> dict[str, str]:
    import tensorflow as tf

    return {"ganctl_version": __version__, "tensorflow_version": tf.__version__}


def default_callbacks(cfg: TrainConfig, emit: Callable[[Event], None] | None = None
                      ) -> list[Callback]:
    grid = SampleGrid(cfg.sample_grid)
    scores = [Evaluate(cfg, emit)] if cfg.eval_every else []  # before TensorBoard, which logs them
    return [grid, *scores, TensorBoard(grid)]


class Trainer:
    """Trains `gan` on its data inside `run`, reporting through `emit` and stopping on request."""

    def __init__(self, gan: GAN, run: RunFolder, emit: Callable[[Event], None] | None = None,
                 callbacks: list[Callback] | None = None,
                 should_stop: Callable[[], bool] | None = None):
        self.gan = gan
        self.cfg = gan.cfg
        self.run = run
        self.emit = emit or (lambda event: None)
        self.callbacks = default_callbacks(self.cfg, self.emit) if callbacks is None else callbacks
        self.should_stop = should_stop or (lambda: False)
        self.store = CheckpointStore(run.checkpoints, keep=self.cfg.keep)
        self.last_checkpoint: CheckpointInfo | None = None
        self.schedule = SnapshotSchedule(parse_snapshot_every(self.cfg.snapshot_every),
                                         gan.steps_per_epoch * self.cfg.batch_size,
                                         self.cfg.num_images or 0)
        self.deadline: float | None = None  # clock() at which --minutes run out
        self.clock: Callable[[], float] = time.monotonic
        self.out_of_time = False

    def time_is_up(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline

    def warn(self, text: str) -> None:
        self.emit(Message(text, "warning"))

    def resume(self) -> CheckpointInfo | None:
        """Restore the newest good checkpoint (if any) and drop log lines past it."""
        info = self.store.restore_latest_good(self.gan.checkpoint_objects(), self.warn)
        self.store.remove_unlisted()
        self.last_checkpoint = info
        self.run.truncate_metrics(int(self.gan.epoch.numpy()))
        return info

    def save(self, complete: bool, score: float | None = None) -> CheckpointInfo:
        self.last_checkpoint = self.store.save(
            self.gan.checkpoint_objects(), int(self.gan.epoch.numpy()), int(self.gan.step.numpy()),
            complete=complete, score=score)
        return self.last_checkpoint

    def fit(self) -> TrainResult:
        """Train until `cfg.epochs` epochs are complete, or until asked to stop.

        A run whose checkpoints already hold `cfg.epochs` epochs trains nothing and keeps its
        config.json; the result says `already_complete`."""
        gan, cfg = self.gan, self.cfg
        steps = gan.steps_per_epoch
        resumed = self.resume()
        done_epochs = int(gan.epoch.numpy())
        # A run interrupted mid-epoch resumes at the step where it stopped.
        step_in_epoch = int(gan.step.numpy()) - done_epochs * steps
        if not 0 <= step_in_epoch < steps:
            raise GanctlError(f"checkpoint step {int(gan.step.numpy())} does not fit epoch "
                              f"{done_epochs} of {steps} steps; was the data changed?")
        # Whether the run is complete is decided here, from the checkpoint just restored, never
        # from metrics.jsonl: its line for an epoch is written before the epoch's checkpoint.
        if done_epochs >= cfg.epochs:
            return TrainResult(self.run, done_epochs, int(gan.step.numpy()), False, resumed,
                               already_complete=True)
        self.run.write_config(cfg, version_info())
        self.emit(TrainStarted(self.run.name, device_description(), cfg.epochs, done_epochs,
                               step_in_epoch, steps, steps * cfg.batch_size,
                               resumed.name if resumed else None, self.schedule.describe(),
                               training_notes(cfg)))
        for cb in self.callbacks:
            cb.on_train_start(gan, self.run)
        self.schedule.taken()  # the first snapshot's time counts from here, after the setup
        if cfg.minutes is not None:
            self.deadline = self.clock() + 60.0 * cfg.minutes
        stopped = False
        try:
            for epoch in range(done_epochs + 1, cfg.epochs + 1):
                record = self._epoch(epoch, step_in_epoch)
                step_in_epoch = 0
                if record is None:
                    self.snapshot_at_stop()
                    stopped = True
                    break
        finally:
            for cb in self.callbacks:
                cb.on_train_end(gan, self.run)
        return TrainResult(self.run, int(gan.epoch.numpy()), int(gan.step.numpy()),
                           stopped and not self.out_of_time, self.last_checkpoint,
                           out_of_time=self.out_of_time)

    def _epoch(self, epoch: int, start: int) -> dict[str, Any] | None:
        """One epoch from step `start`; the record, or None when asked to stop."""
        gan, cfg = self.gan, self.cfg
        steps = gan.steps_per_epoch
        order = gan.epoch_order(epoch)
        sums = np.zeros(len(STAT_NAMES), np.float64)
        t0 = time.perf_counter()
        done = start
        while done < steps:
            interrupted = self.should_stop()
            if interrupted or self.time_is_up():
                self.out_of_time = not interrupted
                return None
            count = min(cfg.steps_per_call, steps - done)
            call_sums = gan.train_steps(order, done, count)
            if not np.isfinite(call_sums).all():
                name = STAT_NAMES[int(np.argmin(np.isfinite(call_sums)))]
                where = self.last_checkpoint.name if self.last_checkpoint else "none"
                raise Diverged(f"{name.replace('_', ' ')} became NaN at epoch {epoch}, step "
                               f"{int(gan.step.numpy())}; last good checkpoint: {where}")
            sums += call_sums
            done += count
            elapsed = time.perf_counter() - t0
            self.emit(StepsDone(epoch, done, steps, self._means(sums, done - start),
                                (done - start) * cfg.batch_size / max(elapsed, 1e-9)))
        seconds = time.perf_counter() - t0
        gan.epoch.assign(epoch)
        record = {"epoch": epoch, "step": int(gan.step.numpy()),
                  **self._means(sums, steps - start),
                  "images_per_s": round((steps - start) * cfg.batch_size / max(seconds, 1e-9), 1),
                  "seconds": round(seconds, 3), "time": round(time.time(), 3)}
        for cb in self.callbacks:  # they may add to the record (evaluation scores)
            cb.on_epoch_end(gan, self.run, epoch, record)
        # A scored epoch snapshots so that its checkpoint can be kept as the best.
        snapshot = epoch == cfg.epochs or "fd" in record or self.schedule.due(epoch)
        if snapshot:
            self.snapshot(epoch, complete=True, record=record)
        else:  # on disk at the next snapshot's sync
            self.run.append_metrics(record, sync=False)
        self.emit(EpochDone(epoch, record, snapshot))
        return record

    def snapshot(self, epoch: int, complete: bool, record: dict[str, Any] | None = None) -> None:
        """Grid, GIF frame and TensorBoard images labelled `epoch`, the epoch's log line when
        given, then the checkpoint (scored by the record's FD, where evaluated)."""
        if epoch >= 1:
            for cb in self.callbacks:
                cb.on_snapshot(self.gan, self.run, epoch)
        # The log line goes before the checkpoint: a crash re-runs the epochs since the last
        # checkpoint, and resuming drops log lines past it, so the log has no gaps or duplicates.
        if record is not None:
            self.run.append_metrics(record, sync=True)
        self.save(complete=complete, score=record.get("fd") if record else None)
        self.schedule.taken()

    def snapshot_at_stop(self) -> None:
        """Snapshot where training stopped, unless that step already has one.

        Mid-epoch, the pictures carry the number of the epoch in progress (the end of that epoch,
        if it snapshots later, replaces them) and the checkpoint is marked incomplete."""
        step = int(self.gan.step.numpy())
        if self.last_checkpoint is not None and self.last_checkpoint.step == step:
            return
        done = int(self.gan.epoch.numpy())
        at_epoch_end = step == done * self.gan.steps_per_epoch
        self.snapshot(done if at_epoch_end else done + 1, complete=at_epoch_end)

    @staticmethod
    def _means(sums: np.ndarray, n: int) -> dict[str, float]:
        return {name: float(v) / max(n, 1) if math.isfinite(v) else float(v)
                for name, v in zip(STAT_NAMES, sums, strict=True)}


# --- preparing a run -----------------------------------------------------------------------------

# Settings that may change when a run is resumed; the others define the run and must match.
RESUMABLE = ("epochs", "keep", "steps_per_call", "xla", "eval_every", "eval_n", "out", "name",
             "snapshot_every", "minutes")



def training_notes(cfg: TrainConfig) -> tuple[str, ...]:
    """What the progress header says about the model beyond its size: architecture, loss,
    EMA, augmentation (and why), precision."""
    from ganctl.config import AUGMENT_AUTO_BELOW

    notes = [f"{cfg.arch}" + (f" width {cfg.width}" if cfg.width else ""), f"loss {cfg.loss}"
             + (f" ({cfg.d_steps} D steps)" if cfg.d_steps > 1 else "")]
    if cfg.ema:
        notes.append(f"EMA half-life {cfg.ema_half_life:,.0f} images")
    if cfg.augment_on:
        why = (f" (auto: under {AUGMENT_AUTO_BELOW:,} images)" if cfg.augment == "auto" else "")
        notes.append("augmentation on" + why)
    if cfg.precision != "float32":
        notes.append(cfg.precision)
    if cfg.minutes is not None:
        notes.append(f"for {cfg.minutes:g} minutes")
    return tuple(notes)


@dataclass
class Plan:
    """A resolved training session: settings, run folder, data, and whether it resumes."""

    cfg: TrainConfig
    run: RunFolder
    data: Any  # ganctl.data.Dataset
    resuming: bool
    fresh: bool


def plan_training(options: dict[str, Any], config_file: str | None = None,
                  fresh: bool = False) -> Plan:
    """Resolve settings (file, then command line), pick the run folder, and load the data.

    Training an existing run resumes it: its saved settings win, and an explicit option that
    contradicts them is an error (use --fresh or another --name).
    """
    from ganctl.classes import conditional_classes
    from ganctl.config import load_toml, resolve
    from ganctl.data import BUILTIN, load_dataset
    from ganctl.runs import run_for_training
    from ganctl.training_evaluation import check_training_evaluation

    given = dict(load_toml(config_file)) if config_file else {}
    given.update({k: v for k, v in options.items() if v is not None})
    cfg = resolve(options, config_file)
    if cfg.data not in BUILTIN and Path(cfg.data).expanduser().exists():
        # Stored absolute so that a resume from another folder finds the same data.
        cfg = cfg.replace(data=str(Path(cfg.data).expanduser().resolve()))
        given["data"] = cfg.data
    run = run_for_training(cfg.out, cfg.name)
    resuming = run.exists() and not fresh
    if resuming:
        saved = run.read_config()
        for key, value in given.items():
            if key not in RESUMABLE and getattr(saved, key) != value:
                raise UsageError(f"run {run.name} was trained with {key}={getattr(saved, key)!r}, not "
                            f"{value!r}; pass --fresh to start over or use another --name")
        cfg = saved.replace(**{k: v for k, v in given.items() if k in RESUMABLE})
    cfg = cfg.replace(name=run.name)
    data = load_dataset(cfg.data, cfg.limit, cfg.image_size, cfg.channels)
    if resuming and (data.image_shape != cfg.image_shape or len(data.x) != cfg.num_images):
        raise UsageError(f"the data of run {run.name} changed: it was {cfg.num_images} images of "
                    f"{cfg.image_shape}, now {len(data.x)} of {data.image_shape}; "
                    "pass --fresh to start over")
    labels, counts = tuple(data.label_names), ()
    if cfg.conditional:
        labels, counts = conditional_classes(cfg.data, data.y, data.label_names)
        if resuming and (labels, counts) != (cfg.labels, cfg.class_counts):
            raise UsageError(f"the labels of run {run.name}'s data changed; pass --fresh to "
                             "start over")
    cfg = cfg.replace(image_shape=data.image_shape, num_images=len(data.x), labels=labels,
                      class_counts=counts)
    check_training_evaluation(cfg)  # before any epoch: a model the evaluator cannot score
    return Plan(cfg, run, data, resuming, fresh)


def run_training(plan: Plan, emit: Callable[[Event], None] | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 callbacks: list[Callback] | None = None) -> TrainResult:
    """Train `plan` under the run's lock; returns when done, stopped, or raises."""
    from ganctl.runs import run_lock

    emit = emit or (lambda event: None)
    with run_lock(plan.run, warn=lambda text: emit(Message(text, "warning"))):
        if plan.fresh:
            plan.run.clear()
        for text in plan.data.warnings:
            emit(Message(text, "warning"))
        gan = GAN(plan.cfg)
        gan.set_data(plan.data.x, plan.data.y if plan.cfg.conditional else None)
        trainer = Trainer(gan, plan.run, emit, callbacks, should_stop)
        return trainer.fit()
