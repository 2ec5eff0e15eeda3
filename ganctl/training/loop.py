"""The training loop: epochs of compiled multi-step calls, snapshots on a schedule, resume and
interruption."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganctl import __version__
from ganctl.checkpoints import CheckpointInfo, CheckpointStore
from ganctl.config import TrainConfig
from ganctl.data import Holding, choose_holding
from ganctl.errors import GanctlError, UsageError
from ganctl.events import Decoding, Emit, EpochDone, Message, StepsDone, Timings, TrainStarted, quiet
from ganctl.models import ARCHS
from ganctl.runs import RunFolder
from ganctl.training.callbacks import Callback, Evaluate, SampleGrid, TensorBoard
from ganctl.training.gan import GAN
from ganctl.training.init_from import Source, check_source, find_source, load_source
from ganctl.training.snapshots import SnapshotSchedule, parse_snapshot_every
from ganctl.training.step import STAT_NAMES
from ganctl.training.strategy import Distribution


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


def _count(n: int, noun: str) -> str:
    """'1 step', '2 steps'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


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


def default_callbacks(cfg: TrainConfig, emit: Emit | None = None
                      ) -> list[Callback]:
    grid = SampleGrid(cfg.sample_grid)
    scores = [Evaluate(cfg, emit)] if cfg.eval_every else []  # before TensorBoard, which logs them
    return [grid, *scores, TensorBoard(grid)]


class Trainer:
    """Trains `gan` on its data inside `run`, reporting through `emit` and stopping on request.

    Under a multi-worker strategy every worker runs a Trainer; only the chief writes the run
    folder (grids, GIF, metrics, TensorBoard, checkpoints). The others take part in every save,
    which may need them, writing to a temporary folder that they delete at once.
    """

    def __init__(self, gan: GAN, run: RunFolder, emit: Emit | None = None,
                 callbacks: list[Callback] | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 notes: tuple[str, ...] | None = None, source: Source | None = None):
        self.gan = gan
        self.source = source  # --init-from: the run a new run starts from
        # What the progress header says of the run (`Plan.notes`; default: its settings alone).
        self.notes = training_notes(gan.cfg) if notes is None else notes
        self.cfg = gan.cfg
        self.run = run
        self.dist = gan.distribution or Distribution("one", None, 1, self.cfg.batch_size)
        self.chief = self.dist.is_chief
        self.emit = emit or quiet
        if not self.chief:
            callbacks = []
        self.callbacks = default_callbacks(self.cfg, self.emit) if callbacks is None else callbacks
        self.should_stop = should_stop or (lambda: False)
        self.store = CheckpointStore(run.checkpoints, keep=self.cfg.keep)
        self.last_checkpoint: CheckpointInfo | None = None
        self.schedule = SnapshotSchedule(parse_snapshot_every(self.cfg.snapshot_every),
                                         gan.steps_per_epoch * self.cfg.batch_size)
        self.deadline: float | None = None  # clock() at which --minutes run out
        self.clock: Callable[[], float] = time.monotonic
        self.out_of_time = False

    def time_is_up(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline

    def warn(self, text: str) -> None:
        self.emit(Message(text, "warning"))

    def resume(self, fresh: bool = False) -> CheckpointInfo | None:
        """Restore the newest good checkpoint (if any) and drop log lines past it."""
        info = None
        if not (fresh and not self.chief):  # the chief has cleared the folder; do not race it
            info = self.store.restore_latest_good(self.gan.checkpoint_objects(), self.warn)
        if self.chief:
            self.store.remove_unlisted()
            self.run.truncate_metrics(int(self.gan.epoch.numpy()))
        self.last_checkpoint = info
        self._check_workers_agree()
        return info

    def _check_workers_agree(self) -> None:
        """Every worker must have restored the same step (they read the same run folder)."""
        if self.dist.workers < 2:
            return
        step = float(self.gan.step.numpy())
        steps = self.dist.gather(step)
        low, high = min(steps), max(steps)
        if low != high:
            raise GanctlError(f"the workers resumed from different steps ({low:.0f} and "
                              f"{high:.0f}): every worker must see the run folder "
                              f"{self.run.root} (a shared filesystem); start them all again")

    def save(self, complete: bool, score: float | None = None) -> CheckpointInfo:
        objects = self.gan.checkpoint_objects()
        epoch, step = int(self.gan.epoch.numpy()), int(self.gan.step.numpy())
        if not self.chief:
            # TensorFlow's multi-worker recipe: save everywhere, keep only the chief's copy.
            scratch = Path(tempfile.mkdtemp(prefix=f"ganctl-worker{self.dist.worker_index}-"))
            try:
                self.last_checkpoint = CheckpointStore(scratch, keep=1).save(
                    objects, epoch, step, complete=complete, score=score)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            return self.last_checkpoint
        self.last_checkpoint = self.store.save(objects, epoch, step, complete=complete,
                                               score=score)
        return self.last_checkpoint

    def stop_requested(self) -> tuple[bool, bool]:
        """(interrupted, out of time). Ctrl-C or --minutes on any worker stops them all at the
        same step (else the others would wait for it in the next collective)."""
        interrupted, late = self.should_stop(), self.time_is_up()
        if self.dist.workers < 2:
            return interrupted, late
        flags = self.dist.gather(float(interrupted) + 2.0 * float(late))
        return any(f % 2 for f in flags), any(f >= 2 for f in flags)

    def fit(self, fresh: bool = False) -> TrainResult:
        """Train until `cfg.epochs` epochs are complete, or until asked to stop.

        A run whose checkpoints already hold `cfg.epochs` epochs trains nothing and keeps its
        config.json; the result says `already_complete`."""
        gan, cfg = self.gan, self.cfg
        steps = gan.steps_per_epoch
        resumed = self.resume(fresh)
        if resumed is None and self.source is not None:  # a new fine-tuning run: its start
            load_source(gan.state, self.source, self.warn)
        done_epochs = int(gan.epoch.numpy())
        # A run interrupted mid-epoch resumes at the step where it stopped.
        step_in_epoch = int(gan.step.numpy()) - done_epochs * steps
        if not 0 <= step_in_epoch < steps:
            raise GanctlError(
                f"checkpoint {resumed.name if resumed else ''} holds step {int(gan.step.numpy())} "
                f"after {_count(done_epochs, 'epoch')}, but an epoch is {_count(steps, 'step')} "
                f"now ({cfg.num_images} images in batches of {cfg.batch_size}): the data or "
                "config.json changed since it was saved; put them back, or pass --fresh to start "
                "over")
        # Whether the run is complete is decided here, from the checkpoint just restored, never
        # from metrics.jsonl: its line for an epoch is written before the epoch's checkpoint.
        if cfg.epochs is not None and done_epochs >= cfg.epochs:
            return TrainResult(self.run, done_epochs, int(gan.step.numpy()), False, resumed,
                               already_complete=True)
        if self.chief:
            self.run.write_config(cfg, version_info())
            # `ganctl report` lists the resumes from these lines.
            self.run.append_history({"time": round(time.time(), 3), "epochs": cfg.epochs,
                                     "from_epoch": done_epochs,
                                     "from_step": int(gan.step.numpy()),
                                     "resumed": resumed.name if resumed else None,
                                     **version_info()})
        self.emit(TrainStarted(self.run.name, device_description(), cfg.epochs, done_epochs,
                               step_in_epoch, steps, steps * cfg.batch_size,
                               resumed.name if resumed else None, self.schedule.describe(),
                               self.notes, self.dist.describe()))
        for cb in self.callbacks:
            cb.on_train_start(gan, self.run)
        self.schedule.taken()  # the first snapshot's time counts from here, after the setup
        if cfg.minutes is not None:
            self.deadline = self.clock() + 60.0 * cfg.minutes
        stopped = False
        try:
            last = math.inf if cfg.epochs is None else cfg.epochs  # None: --minutes alone
            epoch = done_epochs + 1
            while epoch <= last:
                record = self._epoch(epoch, step_in_epoch)
                step_in_epoch = 0
                if record is None:
                    self.snapshot_at_stop()
                    stopped = True
                    break
                epoch += 1
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
            interrupted, late = self.stop_requested()
            if interrupted or late:
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
            self.emit(StepsDone(epoch, done, steps,
                                {**self._means(sums, done - start), **gan.state_stats()},
                                (done - start) * cfg.batch_size / max(elapsed, 1e-9)))
        seconds = time.perf_counter() - t0
        gan.epoch.assign(epoch)
        record = {"epoch": epoch, "step": int(gan.step.numpy()),
                  **self._means(sums, steps - start), **gan.state_stats(),
                  "images_per_s": round((steps - start) * cfg.batch_size / max(seconds, 1e-9), 1),
                  "seconds": round(seconds, 3), "time": round(time.time(), 3)}
        timings = Timings()
        for cb in self.callbacks:  # they may add to the record (evaluation scores)
            with timings.part(f"{type(cb).__name__}.on_epoch_end"):
                cb.on_epoch_end(gan, self.run, epoch, record)
        # A scored epoch snapshots so that its checkpoint can be kept as the best.
        snapshot = epoch == cfg.epochs or "fd" in record or self.schedule.due(epoch)
        if self.dist.workers > 1:  # the chief's choice (its clock, its scores) binds them all
            snapshot = self.dist.gather(float(snapshot))[0] > 0
        if snapshot:
            timings.update(self.snapshot(epoch, complete=True, record=record))
        elif self.chief:  # on disk at the next snapshot's sync
            with timings.part("metrics.jsonl"):
                self.run.append_metrics(record, sync=False)
        self.emit(EpochDone(epoch, record, snapshot, timings))
        return record

    def snapshot(self, epoch: int, complete: bool, record: dict[str, Any] | None = None
                 ) -> Timings:
        """Grid, GIF frame and TensorBoard images labelled `epoch`, the epoch's log line when
        given, then the checkpoint (scored by the record's FD, where evaluated); returns the
        time each part took."""
        timings = Timings()
        if epoch >= 1:
            for cb in self.callbacks:
                wall, cpu = time.perf_counter(), time.process_time()
                parts = cb.on_snapshot(self.gan, self.run, epoch)
                if parts is None:
                    timings.add(f"{type(cb).__name__}.on_snapshot", time.perf_counter() - wall,
                                time.process_time() - cpu)
                else:
                    timings.update(parts)
        # The log line goes before the checkpoint: a crash re-runs the epochs since the last
        # checkpoint, and resuming drops log lines past it, so the log has no gaps or duplicates.
        if record is not None and self.chief:
            with timings.part("metrics.jsonl"):
                self.run.append_metrics(record, sync=True)
        self.save(complete=complete, score=record.get("fd") if record else None)
        if self.chief:
            timings.update(self.store.last_save)
        self.schedule.taken()
        return timings

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

@dataclass(frozen=True)
class AutoReasons:
    """Why `auto` picked a new run's precision, width and augmentation, each '' where that
    setting was not `auto`: for the progress header and `--dry-run`."""

    precision: str = ""
    width: str = ""
    augment: str = ""

    def to_json(self) -> dict[str, str]:
        """{'precision_auto': why, ...} for the settings `auto` picked."""
        return {f"{name}_auto": why for name, why in dataclasses.asdict(self).items() if why}


def training_notes(cfg: TrainConfig, auto: AutoReasons = AutoReasons(),
                   init_note: str = "") -> tuple[str, ...]:
    """What the progress header says about the model beyond its size: architecture, width (and
    why, when `--width auto` picked it), loss, EMA, augmentation (and why), precision (and why,
    when `--precision auto` picked it), the run it is fine-tuned from (`init_note`, for a new
    run), FreezeD and the time limit."""
    from ganctl.config import AUGMENT_AUTO_BELOW
    from ganctl.training.augment import parse_policy

    width_auto, augment_auto, precision_auto = auto.width, auto.augment, auto.precision

    model = f"{cfg.arch}" + (f" width {cfg.width}" if cfg.width else "") + (
        f" (auto: {width_auto})" if width_auto else "")
    if cfg.image_shape:  # says what --image-size/--channels (or an image folder's 28) gave
        h, w, c = cfg.image_shape
        model += f" on {h}×{w} {'grayscale' if c == 1 else 'colour'} images"
    if cfg.conditional:
        model += f", conditional on {len(cfg.labels)} classes"
    notes = [model, f"loss {cfg.loss}" + (f" ({cfg.d_steps} D steps)" if cfg.d_steps > 1 else "")]
    if cfg.d_lr != cfg.lr:
        notes.append(f"lr G {cfg.lr:g}, D {cfg.d_lr:g}")
    if cfg.ema:
        notes.append(f"EMA half-life {cfg.ema_half_life:,.0f} images")
    if augment_auto:
        notes.append(f"augmentation {cfg.augment} (auto: {augment_auto})")
    elif cfg.augment_on:
        why = (f" (auto: under {AUGMENT_AUTO_BELOW:,} images)" if cfg.augment == "auto" else "")
        if cfg.augment_adaptive:
            why = (f" (each with a probability p from 0, towards r = {cfg.ada_target:g}; "
                   f"0 to 1 in {cfg.ada_speed:,.0f} images)")
        notes.append(f"augmentation {'ada' if cfg.augment_adaptive else 'on'}" + why
                     + ("" if cfg.augment_policy == "auto"
                        else f": {', '.join(parse_policy(cfg.augment_policy))}"))
    if precision_auto:
        notes.append(f"{cfg.precision} (auto: {precision_auto})")
    elif cfg.precision != "float32":
        notes.append(cfg.precision)
    if init_note or cfg.init_from:
        notes.append(init_note or f"fine-tuned from {cfg.init_from}")
    if cfg.freeze_d:
        notes.append(f"D's first {_count(cfg.freeze_d, 'block')} frozen (FreezeD)")
    if cfg.minutes is not None:
        notes.append(f"for {minutes_text(cfg.minutes)}" + (
            " (no epoch limit)" if cfg.epochs is None
            else f" or up to epoch {cfg.epochs}, whichever comes first"))
    return tuple(notes)


def minutes_text(minutes: float) -> str:
    """'1 minute', '2.5 minutes': a time budget as a user reads it."""
    return f"{minutes:g} minute" + ("" if minutes == 1 else "s")


@dataclass
class Plan:
    """A resolved training session: settings, run folder, data, and whether it resumes."""

    cfg: TrainConfig
    run: RunFolder
    data: Any  # ganctl.data.Dataset
    resuming: bool
    fresh: bool
    auto: AutoReasons = AutoReasons()  # why `auto` picked what it did
    holding: Holding = Holding(False, "")  # in memory, or streamed from the data cache, and why
    source: Source | None = None  # --init-from's run, for a run with no checkpoint yet
    init_note: str = ""  # what the header says of it

    @property
    def notes(self) -> tuple[str, ...]:
        """What the progress header says of the run: its settings (`training_notes`) and
        where its images are held."""
        held = (self.holding.why,) if self.holding.why else ()
        return (*training_notes(self.cfg, self.auto, self.init_note), *held)


def plan_training(options: dict[str, Any], config_file: str | None = None,
                  fresh: bool = False, emit: Emit | None = None) -> Plan:
    """Resolve settings (file, then command line), pick the run folder, and load the data.

    Training an existing run resumes it: its saved settings win, and an explicit option that
    contradicts them is an error (use --fresh or another --name). An image folder's decoding
    is told to `emit`: a Message saying why it decodes, then Decoding events.
    """
    from ganctl.classes import conditional_classes
    from ganctl.config import auto_augment, auto_precision, auto_width, load_toml, resumed
    from ganctl.data import BUILTIN, load_dataset
    from ganctl.runs import run_for_training
    from ganctl.tfsetup import cpu_flags, gpu_count
    from ganctl.training.eval_every import check_training_evaluation
    from ganctl.training.options import check_for_training, resolve

    given = dict(load_toml(config_file)) if config_file else {}
    given.update({k: v for k, v in options.items() if v is not None})
    cfg = resolve(options, config_file)
    # "auto" given, or the architecture's default (a new run only: a resumed one keeps its own)
    precision_auto = given.get("precision", ARCHS[cfg.arch].defaults.get("precision")) == "auto"
    width_auto = given.get("width", ARCHS[cfg.arch].defaults.get("width")) == "auto"
    if cfg.data not in BUILTIN and Path(cfg.data).expanduser().exists():
        # Stored absolute so that a resume from another folder finds the same data.
        cfg = cfg.replace(data=str(Path(cfg.data).expanduser().resolve()))
        given["data"] = cfg.data
    run = run_for_training(cfg.out, cfg.name)
    resuming = run.exists() and not fresh
    # A fine-tuning run starts from its source until its first checkpoint: a new one, or one
    # stopped (a crash, a kill) before it saved any.
    started = resuming and bool(CheckpointStore(run.checkpoints).list())
    source = None
    if cfg.init_from and not resuming:
        source = find_source(cfg.init_from, cfg.out)
        where = source.run.checkpoints / source.checkpoint if source.checkpoint \
            else source.run.root
        cfg = cfg.replace(init_from=str(Path(where).resolve()))  # a resume need not find it
    if resuming:
        saved = run.read_config()
        if given.get("init_from") and saved.init_from:  # it only chose the start, long past
            given.pop("init_from")
        precision_auto = given.get("precision") == "auto"
        if precision_auto:  # what auto picks for the saved arch, which the options may not name
            given["precision"] = auto_precision(saved.arch, cpu_flags())[0]
        width_auto = False  # --width auto resumes with the width the run was made with
        if given.get("width") == "auto":
            given.pop("width")
        elif isinstance(given.get("width"), str) and given["width"].strip().isdigit():
            given["width"] = int(given["width"])
        cfg = check_for_training(resumed(saved, given, run.name))
        if cfg.init_from and not started:
            source = find_source(cfg.init_from, cfg.out)
    cfg = cfg.replace(name=run.name)
    emit = emit or quiet
    data = load_dataset(cfg.data, cfg.limit, cfg.image_size, cfg.channels, cfg.resize,
                        cfg.pad_colour, use_cache=cfg.data_cache, max_pixels=cfg.max_image_pixels,
                        max_memory=cfg.max_data_memory,
                        say=lambda text: emit(Message(text)),
                        progress=lambda done, total: emit(Decoding(done, total)))
    if resuming and (data.image_shape != cfg.image_shape or len(data.x) != cfg.num_images):
        raise UsageError(f"the data of run {run.name} changed: it was {cfg.num_images} images of "
                    f"{cfg.image_shape}, now {len(data.x)} of {data.image_shape}; "
                    "pass --fresh to start over")
    labels, counts = tuple(data.label_names), ()
    if cfg.conditional and data.loose_images:
        n = data.loose_images
        raise UsageError(f"--conditional needs a class for every image, and {cfg.data} has {n} "
                         f"image{'s' if n != 1 else ''} outside its class sub-folders; move "
                         f"{'them' if n != 1 else 'it'} into one, or drop --conditional")
    if cfg.conditional:
        labels, counts = conditional_classes(cfg.data, data.y, data.label_names)
        if resuming and (labels, counts) != (cfg.labels, cfg.class_counts):
            if labels != cfg.labels:
                what = f"classes {', '.join(cfg.labels)}, now {', '.join(labels)}"
            else:
                what = "images per class " + ", ".join(
                    f"{name} {old} -> {new}"
                    for name, old, new in zip(labels, cfg.class_counts, counts, strict=True)
                    if old != new)
            raise UsageError(f"the labels of run {run.name}'s data changed ({what}); pass --fresh "
                             "to start over")
    cfg = cfg.replace(image_shape=data.image_shape, num_images=len(data.x), labels=labels,
                      class_counts=counts)
    check_training_evaluation(cfg)  # before any epoch: a model the evaluator cannot score
    why = auto_precision(cfg.arch, cpu_flags())[1] if precision_auto else ""
    why_width = auto_width(gpu_count())[1] if width_auto else ""
    augment_auto = ""
    if cfg.augment == "auto" and not resuming:  # resolved for a new run, and recorded
        choice, augment_auto = auto_augment(cfg.num_images)
        cfg = cfg.replace(augment=choice)
    init_note = ""
    if source is not None:
        init_note = check_source(cfg, source)
        cfg = cfg.replace(init_from_config_sha256=source.config_sha256)
    return Plan(cfg, run, data, resuming, fresh, AutoReasons(why, why_width, augment_auto),
                choose_holding(data.x, cfg.max_data_memory), source, init_note)


def run_training(plan: Plan, emit: Emit | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 callbacks: list[Callback] | None = None,
                 distribution: Distribution | None = None) -> TrainResult:
    """Train `plan` under the run's lock; returns when done, stopped, or raises.

    The strategy is made from `plan.cfg.strategy` unless `distribution` is given. Under
    multi-worker training only the chief (worker 0) takes the lock and writes the run folder.
    """
    from ganctl.runs import run_lock
    from ganctl.training.strategy import collective_failure, make_distribution

    emit = emit or quiet
    dist = distribution or make_distribution(plan.cfg.strategy, plan.cfg.batch_size)
    lock = run_lock(plan.run, warn=lambda text: emit(Message(text, "warning"))) \
        if dist.is_chief else contextlib.nullcontext()
    try:
        with lock:
            if plan.fresh and dist.is_chief:
                plan.run.clear()
            if dist.is_chief:  # the run is ours now: drop what a killed writer left half-done
                plan.run.remove_temporaries()
            for text in plan.data.warnings:
                emit(Message(text, "warning"))
            gan = GAN(plan.cfg, dist)
            gan.set_data(plan.data.x, plan.data.y if plan.cfg.conditional else None,
                         stream=plan.holding.stream)
            trainer = Trainer(gan, plan.run, emit, callbacks, should_stop, plan.notes,
                              plan.source)
            return trainer.fit(plan.fresh)
    except Exception as exc:
        if (failure := collective_failure(exc, dist)) is not None:
            raise failure from None
        raise
