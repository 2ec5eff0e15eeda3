"""Side effects of training: at every epoch end, evaluation scores and TensorBoard scalars; at
every snapshot (see ganctl.training.snapshots), the sample grid, its GIF frame and TensorBoard images."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ganctl.classes import model_classes
from ganctl.config import TrainConfig
from ganctl.events import Emit, Message, Timings, quiet
from ganctl.generation.latents import latents_from_seeds
from ganctl.generation.sampling import class_rows, compiled_generator
from ganctl.images import make_grid, to_uint8, write_png
from ganctl.runs import RunFolder
from ganctl.training.gan import GAN
from ganctl.training.timelapse import DEFAULT_MAX_FRAMES, Timelapse


class Callback:
    """Hooks the training loop calls; each subclass owns one kind of output."""

    def on_train_start(self, gan: GAN, run: RunFolder) -> None:
        """Called once before the first step of this session."""

    def on_epoch_end(self, gan: GAN, run: RunFolder, epoch: int, record: dict[str, Any]) -> None:
        """Called after epoch `epoch` (1-based) with its metrics record (which it may extend)."""

    def on_snapshot(self, gan: GAN, run: RunFolder, epoch: int) -> Timings | None:
        """Called at a snapshot, before its checkpoint: after epoch `epoch`, or during it when
        training stops mid-epoch (then `epoch` is the epoch in progress). It may return the
        time of its parts; the trainer times one that returns None as a whole."""

    def on_train_end(self, gan: GAN, run: RunFolder) -> None:
        """Called once when this session stops, normally or not."""


class SampleGrid(Callback):
    """`samples/epoch_NNNN.png` from a fixed latent grid (seeds 0..n-1), and its frame in
    `progress.gif` (a timelapse of at most `max_frames` frames), at every snapshot.

    A conditional run's grid has one row per class (the first `MAX_CLASS_ROWS`), with the same
    seeds in every row, so each column keeps its style across classes: the row is as wide as
    an unconditional grid of n images (⌈√n⌉ seeds).
    """

    MAX_CLASS_ROWS = 10

    def __init__(self, n: int, gif_fps: float = 4.0, max_frames: int = DEFAULT_MAX_FRAMES):
        self.n = n
        self.gif_fps = gif_fps
        self.max_frames = max_frames
        self.latest: np.ndarray | None = None
        self.generate: Any = None
        self.timelapse: Timelapse | None = None

    def on_train_start(self, gan, run):
        # The same compiled generator as `ganctl sample`: seed i gives the same pixels in the
        # grid of epoch N as `ganctl sample --ckpt run --epoch N` does.
        self.generate = compiled_generator(gan.shown_generator)
        self.timelapse = Timelapse(run.progress_gif, run.samples, self.gif_fps, self.max_frames)

    def on_snapshot(self, gan, run, epoch):
        timings = Timings()
        classes = model_classes(gan.cfg)[:self.MAX_CLASS_ROWS]
        with timings.part("grid"):
            if classes:
                seeds, labels = class_rows(range(math.ceil(math.sqrt(self.n))),
                                           range(len(classes)))
                z = latents_from_seeds(seeds, gan.cfg.latent_dim)
                grid = make_grid(to_uint8(self.generate(z, np.array(labels))), rows=len(classes))
            else:
                z = latents_from_seeds(list(range(self.n)), gan.cfg.latent_dim)
                grid = make_grid(to_uint8(self.generate(z)))
        with timings.part("grid png"):
            write_png(run.sample_path(epoch), grid)
        self.latest = grid
        with timings.part("gif"):
            self.timelapse.add(epoch, grid)
        return timings


class Evaluate(Callback):
    """FD and KID (with kid_std) every `cfg.eval_every` epochs and at the last, added to the
    epoch record: so they reach metrics.jsonl and TensorBoard, and FD scores the checkpoint
    (an evaluated epoch is always a snapshot, so that a best checkpoint can be kept).

    `emit` receives what it has to say (computing the real features the first time takes a
    while, and a damaged feature cache is worth a warning)."""

    def __init__(self, cfg: TrainConfig, emit: Emit | None = None):
        self.cfg = cfg
        self.emit = emit or quiet
        self.scorer: Any = None

    def on_train_start(self, gan, run):
        from ganctl.training.eval_every import TrainingScorer

        self.scorer = TrainingScorer(self.cfg, say=lambda text: self.emit(Message(text)),
                                     warn=lambda text: self.emit(Message(text, "warning")),
                                     progress=self.emit)

    def on_epoch_end(self, gan, run, epoch, record):
        if epoch % self.cfg.eval_every == 0 or epoch == self.cfg.epochs:
            record.update(self.scorer(gan.shown_generator))


class TensorBoard(Callback):
    """Scalars of every epoch's record, and the sample grid at snapshots, under `tensorboard/`.

    The file is flushed at snapshots (and at the end); between them the writer buffers, so a
    short epoch costs a few in-memory summaries, not a disk write."""

    def __init__(self, grid: SampleGrid | None = None):
        self.grid = grid
        self.writer: Any = None

    def on_train_start(self, gan, run):
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(str(run.tensorboard))

    def on_epoch_end(self, gan, run, epoch, record):
        import tensorflow as tf

        with self.writer.as_default(step=epoch):
            for key, value in record.items():
                if key not in ("epoch", "step", "time") and isinstance(value, int | float):
                    tf.summary.scalar(key, value)

    def on_snapshot(self, gan, run, epoch):
        import tensorflow as tf

        timings = Timings()
        if self.grid is not None and self.grid.latest is not None:
            image = self.grid.latest
            image = image[None, ..., None] if image.ndim == 2 else image[None]
            with timings.part("tensorboard image"), self.writer.as_default(step=epoch):
                tf.summary.image("samples", image)
        with timings.part("tensorboard flush"):
            self.writer.flush()
        return timings

    def on_train_end(self, gan, run):
        if self.writer is not None:
            self.writer.close()
