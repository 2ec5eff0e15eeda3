"""Side effects of training, run at the end of every epoch: sample grids, the GIF, evaluation
scores, TensorBoard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ganctl.config import TrainConfig
from ganctl.events import Event, Message
from ganctl.gan import GAN
from ganctl.images import make_grid, read_image, to_uint8, write_gif, write_png
from ganctl.latents import latents_from_seeds
from ganctl.runs import RunFolder
from ganctl.sampling import compiled_generator


class Callback:
    """Hooks the training loop calls; each subclass owns one kind of output."""

    def on_train_start(self, gan: GAN, run: RunFolder) -> None:
        """Called once before the first step of this session."""

    def on_epoch_end(self, gan: GAN, run: RunFolder, epoch: int, record: dict[str, Any]) -> None:
        """Called after epoch `epoch` (1-based) with its metrics record (which it may extend)."""

    def on_train_end(self, gan: GAN, run: RunFolder) -> None:
        """Called once when this session stops, normally or not."""


class SampleGrid(Callback):
    """`samples/epoch_NNNN.png` from a fixed latent grid (seeds 0..n-1), and `progress.gif`."""

    def __init__(self, n: int, gif_fps: float = 4.0):
        self.n = n
        self.gif_fps = gif_fps
        self.latest: np.ndarray | None = None
        self.generate: Any = None

    def on_train_start(self, gan, run):
        # The same compiled generator as `ganctl sample`: seed i gives the same pixels in the
        # grid of epoch N as `ganctl sample --ckpt run --epoch N` does.
        self.generate = compiled_generator(gan.shown_generator)

    def on_epoch_end(self, gan, run, epoch, record):
        z = latents_from_seeds(list(range(self.n)), gan.cfg.latent_dim)
        grid = make_grid(to_uint8(self.generate(z)))
        write_png(run.sample_path(epoch), grid)
        self.latest = grid
        frames = []
        for path in sorted(run.samples.glob("epoch_*.png")):
            frame = read_image(path)
            if frame.shape == grid.shape:
                frames.append(frame)
        write_gif(run.progress_gif, frames, fps=self.gif_fps)


class Evaluate(Callback):
    """FD and KID (with kid_std) every `cfg.eval_every` epochs and at the last, added to the
    epoch record: so they reach metrics.jsonl and TensorBoard, and FD scores the checkpoint.

    `emit` receives what it has to say (computing the real features the first time takes a
    while, and a damaged feature cache is worth a warning)."""

    def __init__(self, cfg: TrainConfig, emit: Callable[[Event], None] | None = None):
        self.cfg = cfg
        self.emit = emit or (lambda event: None)
        self.scorer: Any = None

    def on_train_start(self, gan, run):
        from ganctl.training_evaluation import TrainingScorer

        self.scorer = TrainingScorer(self.cfg, say=lambda text: self.emit(Message(text)),
                                     warn=lambda text: self.emit(Message(text, "warning")))

    def on_epoch_end(self, gan, run, epoch, record):
        if epoch % self.cfg.eval_every == 0 or epoch == self.cfg.epochs:
            record.update(self.scorer(gan.shown_generator))


class TensorBoard(Callback):
    """Scalars of every record and the sample grid, under `tensorboard/`."""

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
            if self.grid is not None and self.grid.latest is not None:
                image = self.grid.latest
                image = image[None, ..., None] if image.ndim == 2 else image[None]
                tf.summary.image("samples", image)
        self.writer.flush()

    def on_train_end(self, gan, run):
        if self.writer is not None:
            self.writer.close()
