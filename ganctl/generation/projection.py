"""Projection: the latent (and, for a conditional run, the class) whose generated image is
closest to each target image.

The distance is a perceptual term (mean squared difference of evaluator features, from a
differentiable `features` function the caller passes in: generation knows no evaluator) plus a
pixel term (mean squared difference on [-1, 1]). Each target starts from the best of
`seeds_tried` seeds (times every class tried), scored by that distance, and Adam then moves z
for `steps` steps. A noise regulariser, (mean(z²) - 1)², keeps z on the shell where a Gaussian
latent's mass lies (‖z‖/√d near 1), so it does not drift where the generator never looked.

Many targets run at once, as rows of one compiled loop (`batch` rows); each row's loss is its
own (the total is a sum), so a row's path does not depend on the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganctl.errors import UsageError, check_positive
from ganctl.events import Emit, Projecting, quiet
from ganctl.generation.latents import latents_from_seeds

DEFAULT_STEPS = 300
DEFAULT_SEEDS_TRIED = 64
DEFAULT_BATCH = 32
DEFAULT_LR = 0.3
DEFAULT_PERCEPTUAL = 1.0
DEFAULT_PIXEL = 10.0
DEFAULT_NOISE = 1.0
CHUNK_STEPS = 25  # steps per compiled call: the progress bar moves between calls
GIF_FRAMES = 30  # frames of a --gif's convergence (the start and GIF_FRAMES - 1 moments after)

Features = Callable[[Any], Any]  # images in [-1, 1] (a tf tensor) -> features [n, f], differentiable


@dataclass(frozen=True)
class ProjectionSettings:
    """How to project: steps, start seeds, batch, learning rate and the weights of the terms."""

    steps: int = DEFAULT_STEPS
    seeds_tried: int = DEFAULT_SEEDS_TRIED
    batch: int = DEFAULT_BATCH
    lr: float = DEFAULT_LR
    perceptual_weight: float = DEFAULT_PERCEPTUAL
    pixel_weight: float = DEFAULT_PIXEL
    noise_weight: float = DEFAULT_NOISE
    classes_tried: int = 1  # conditional runs: optimise the best this many classes at the start
    restarts: int = 1  # optimise the best this many start seeds (of each class tried) per image
    rampdown: float = 0.25  # the share of the last steps over which the learning rate ramps down
    first_seed: int = 0  # the start seeds are first_seed .. first_seed + seeds_tried - 1
    frames: bool = False  # keep GIF_FRAMES moments of each projection (for --gif)


def check_settings(s: ProjectionSettings) -> None:
    """One-line errors for settings that cannot project, before anything loads."""
    if isinstance(s.steps, int) and s.steps == 0:
        raise UsageError("--steps 0 would only score the start seeds; projection needs at least "
                         "1 step (default 300)")
    check_positive("--steps", s.steps)
    check_positive("--seeds-tried", s.seeds_tried)
    check_positive("--batch", s.batch)
    check_positive("--classes-tried", s.classes_tried)
    check_positive("--restarts", s.restarts)
    if s.restarts > s.seeds_tried:
        raise UsageError(f"--restarts {s.restarts} is more than --seeds-tried {s.seeds_tried}")
    check_positive("--lr", s.lr, whole=False)
    for name, value in (("--perceptual-weight", s.perceptual_weight),
                        ("--pixel-weight", s.pixel_weight), ("--noise-weight", s.noise_weight)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise UsageError(f"{name} must be a number >= 0, got {value}")
    if s.perceptual_weight == 0 and s.pixel_weight == 0:
        raise UsageError("--perceptual-weight and --pixel-weight are both 0: nothing to match")


@dataclass
class Projection:
    """Per target (row): the latent found, its class, its image, and the distances at the start
    (best seed) and the end. Distances: `perceptual` is the Euclidean distance of evaluator
    features (the unit of `evaluate --nearest`), `pixel` the mean squared error on [-1, 1],
    `psnr` in dB (peak-to-peak 2)."""

    latents: np.ndarray  # float32 [n, d]
    labels: np.ndarray | None  # int64 [n], or None for an unconditional run
    images: np.ndarray  # float32 [n, h, w, c] in [-1, 1]
    start_seeds: np.ndarray  # int64 [n]: the seed each started from
    start: dict[str, np.ndarray]  # perceptual, pixel, psnr: float64 [n] each
    end: dict[str, np.ndarray]
    frames: np.ndarray | None = None  # float32 [GIF_FRAMES, n, h, w, c] with settings.frames

    @property
    def z_norm(self) -> np.ndarray:
        """‖z‖/√d of each latent: about 1 for a draw from the Gaussian prior."""
        return np.linalg.norm(self.latents, axis=1) / math.sqrt(self.latents.shape[1])


def psnr(mse: np.ndarray) -> np.ndarray:
    """PSNR in dB of a mean squared error on [-1, 1] (peak-to-peak 2); inf for identical."""
    mse = np.asarray(mse, np.float64)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(4.0 / mse)


def project(generator: Any, targets: np.ndarray, features: Features, latent_dim: int,
            settings: ProjectionSettings = ProjectionSettings(), num_classes: int = 0,
            classes: Sequence[int] | None = None, emit: Emit = quiet) -> Projection:
    """Project `targets` (float [n, h, w, c] in [-1, 1]) into the Keras `generator`.

    A conditional generator (`num_classes` > 0) takes [z, labels]; each target then tries the
    classes `classes` (default: all) at the start and optimises the best
    `settings.classes_tried` of them. Each class optimised starts from its best
    `settings.restarts` seeds; the best end of all is kept. Progress goes to `emit` as
    `Projecting` events.
    """
    check_settings(settings)
    targets = np.asarray(targets, np.float32)
    if targets.ndim != 4 or not len(targets):
        raise UsageError(f"nothing to project: expected images [n, h, w, c], got "
                         f"{list(targets.shape)}")
    conditional = num_classes > 0
    tried = list(range(num_classes)) if conditional and classes is None else list(classes or [])
    if not conditional and tried:
        raise UsageError("--class needs a conditional run; this one is unconditional")
    loop = _Loop(generator, features, latent_dim, settings, targets.shape[1:], conditional)
    target_feats = loop.features_of(targets)
    seeds = settings.first_seed + np.arange(settings.seeds_tried, dtype=np.int64)
    z0, rows, row_labels, row_seeds, start = loop.starts(targets, target_feats, seeds,
                                                         tried or [None])
    total = len(rows) * settings.steps
    emit(Projecting(0, total, 0, len(targets)))
    z_end = np.empty_like(z0)
    frames = [] if settings.frames else None
    for begin in range(0, len(rows), settings.batch):
        part = slice(begin, begin + settings.batch)
        z_part, moments = loop.optimise(z0[part], rows[part], row_labels[part], targets,
                                        target_feats, lambda t, b=begin: emit(Projecting(
                                            b * settings.steps + t * min(settings.batch, len(rows) - b),
                                            total, b, len(rows))))
        z_end[part] = z_part
        if frames is not None:
            frames.append(moments)
    emit(Projecting(total, total, len(rows), len(rows)))
    images = loop.generate(z_end, row_labels)
    perc, pix = loop.distances(images, targets[rows], target_feats[rows])
    score = loop.score(perc, pix)
    # A row whose end is worse than its start (Adam's first steps can throw a start that was
    # already the answer off it) keeps its start: a projection is never worse than its seed.
    start_images = loop.generate(z0, row_labels)
    start_perc, start_pix = loop.distances(start_images, targets[rows], target_feats[rows])
    worse = loop.score(start_perc, start_pix) < score
    z_end[worse], images[worse] = z0[worse], start_images[worse]
    perc[worse], pix[worse] = start_perc[worse], start_pix[worse]
    score[worse] = loop.score(perc[worse], pix[worse])
    best = _best_row_per_target(rows, score, len(targets))
    end = {"perceptual": perc[best], "pixel": pix[best], "psnr": psnr(pix[best])}
    moments = None
    if frames is not None:
        moments = np.concatenate(frames, axis=1)[:, best]
    labels = row_labels[best] if conditional else None
    return Projection(z_end[best], labels, images[best], row_seeds[best],
                      start, end, moments)


def _best_row_per_target(rows: np.ndarray, score: np.ndarray, n: int) -> np.ndarray:
    """For each target, the index of its row (candidate class) with the lowest score."""
    best = np.full(n, -1, np.int64)
    for i, (target, value) in enumerate(zip(rows, score, strict=True)):
        if best[target] < 0 or value < score[best[target]]:
            best[target] = i
    return best


class _Loop:
    """The generator, the features and the compiled Adam steps on z, for batches of rows."""

    def __init__(self, generator: Any, features: Features, latent_dim: int,
                 settings: ProjectionSettings, image_shape: tuple[int, ...], conditional: bool):
        import tensorflow as tf

        self.generator, self.features, self.settings = generator, features, settings
        self.conditional = conditional
        self.latent_dim = latent_dim
        b = settings.batch
        self.feature_dim = int(features(tf.zeros((1, *image_shape))).shape[-1])
        self.z = tf.Variable(tf.zeros((b, latent_dim)), trainable=False)
        self.m = tf.Variable(tf.zeros((b, latent_dim)), trainable=False)
        self.v = tf.Variable(tf.zeros((b, latent_dim)), trainable=False)
        self.labels = tf.Variable(tf.zeros((b,), tf.int32), trainable=False)
        self.target = tf.Variable(tf.zeros((b, *image_shape)), trainable=False)
        self.target_feats = tf.Variable(tf.zeros((b, self.feature_dim)), trainable=False)
        self._chunk = tf.function(self._steps)
        self._gen = tf.function(self._forward)
        self._feat = tf.function(lambda x: tf.cast(features(x), tf.float32))

    # --- generating and scoring, in batches of `settings.batch` --------------------------------

    def _forward(self, z: Any, labels: Any) -> Any:
        return self.generator([z, labels] if self.conditional else z, training=False)

    def _batches(self, fn: Callable[..., Any], *arrays: np.ndarray) -> np.ndarray:
        b, n, outs = self.settings.batch, len(arrays[0]), []
        for start in range(0, n, b):
            chunk = [a[start:start + b] for a in arrays]
            count = len(chunk[0])
            chunk = [np.concatenate([c, np.zeros((b - count, *c.shape[1:]), c.dtype)])
                     for c in chunk]
            outs.append(np.asarray(fn(*chunk))[:count])
        return np.concatenate(outs)

    def generate(self, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return self._batches(self._gen, z.astype(np.float32), labels.astype(np.int32))

    def features_of(self, images: np.ndarray) -> np.ndarray:
        return self._batches(self._feat, images.astype(np.float32))

    def distances(self, images: np.ndarray, targets: np.ndarray, target_feats: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
        """(Euclidean feature distance, pixel MSE on [-1, 1]) of each image to its target."""
        feats = self.features_of(images).astype(np.float64)
        perc = np.linalg.norm(feats - target_feats, axis=1)
        pix = np.mean((images.astype(np.float64) - targets) ** 2, axis=(1, 2, 3))
        return perc, pix

    def score(self, perc: np.ndarray, pix: np.ndarray) -> np.ndarray:
        """The distance minimised (without the prior term), from `distances`' two values."""
        s = self.settings
        return s.perceptual_weight * perc ** 2 / self.feature_dim + s.pixel_weight * pix

    def starts(self, targets: np.ndarray, target_feats: np.ndarray, seeds: np.ndarray,
               classes: Sequence[int | None]) -> tuple[np.ndarray, ...]:
        """The start rows: for each target, the best seed of each of its best classes.

        Returns (z [rows, d], target of each row, label of each row, seed of each row, the
        start distances per target (of its best row))."""
        s = self.settings
        z_seeds = latents_from_seeds(seeds, self.latent_dim)
        n, k = len(targets), len(seeds)
        feats = np.asarray(target_feats, np.float64)
        flat = targets.reshape(n, -1).astype(np.float64)
        score = np.empty((len(classes), n, k))
        perc = np.empty_like(score)
        pix = np.empty_like(score)
        for ci, c in enumerate(classes):
            labels = np.full(k, 0 if c is None else c, np.int32)
            images = self.generate(z_seeds, labels)
            f = self.features_of(images).astype(np.float64)
            perc[ci] = np.sqrt(np.maximum(_sq_dist(feats, f), 0))
            pix[ci] = np.maximum(_sq_dist(flat, images.reshape(k, -1).astype(np.float64)), 0) \
                / flat.shape[1]
            score[ci] = self.score(perc[ci], pix[ci])
        ranked = np.argsort(score, axis=2, kind="stable")[..., :s.restarts]  # [classes, n, r]
        best_seed = ranked[..., 0]
        best_score = np.take_along_axis(score, best_seed[..., None], 2)[..., 0]
        order = np.argsort(best_score, axis=0, kind="stable")[:min(s.classes_tried, len(classes))]
        rows, z, labels, row_seeds = [], [], [], []
        for t in range(n):
            for ci in order[:, t]:
                for j in ranked[ci, t]:
                    rows.append(t)
                    z.append(z_seeds[j])
                    labels.append(0 if classes[ci] is None else classes[ci])
                    row_seeds.append(seeds[j])
        c0, j0 = order[0], best_seed[order[0], np.arange(n)]
        start_pix = pix[c0, np.arange(n), j0]
        start = {"perceptual": perc[c0, np.arange(n), j0], "pixel": start_pix,
                 "psnr": psnr(start_pix)}
        return (np.stack(z).astype(np.float32), np.asarray(rows, np.int64),
                np.asarray(labels, np.int64), np.asarray(row_seeds, np.int64), start)

    # --- the optimisation ---------------------------------------------------------------------

    def optimise(self, z0: np.ndarray, rows: np.ndarray, labels: np.ndarray,
                 targets: np.ndarray, target_feats: np.ndarray, tick: Callable[[int], None]
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """Adam on the latents of one batch of rows; returns (z [rows, d], the moments kept for
        a GIF [GIF_FRAMES, rows, h, w, c] or None). `tick(steps done)` after each call."""
        import tensorflow as tf

        b, count, s = self.settings.batch, len(z0), self.settings
        pad = b - count

        def padded(a: np.ndarray, dtype: Any) -> np.ndarray:
            a = np.asarray(a, dtype)
            return np.concatenate([a, np.zeros((pad, *a.shape[1:]), dtype)]) if pad else a

        self.z.assign(padded(z0, np.float32))
        self.m.assign(tf.zeros_like(self.m))
        self.v.assign(tf.zeros_like(self.v))
        self.labels.assign(padded(labels, np.int32))
        self.target.assign(padded(targets[rows], np.float32))
        self.target_feats.assign(padded(target_feats[rows], np.float32))
        marks = (np.linspace(0, s.steps, GIF_FRAMES).round().astype(int).tolist()
                 if s.frames else [])
        ends = sorted(set(range(CHUNK_STEPS, s.steps, CHUNK_STEPS)) | set(marks[1:]) | {s.steps})
        moments = [self._moment(count)] if s.frames else []
        done = 0
        for end in ends:
            self._chunk(tf.constant(done), tf.constant(end - done))
            done = end
            if s.frames and done in marks:
                moments.append(self._moment(count))
            tick(done)
        z = self.z.numpy()[:count]
        return z, (np.stack(moments) if s.frames else None)

    def _moment(self, count: int) -> np.ndarray:
        return np.asarray(self._gen(self.z, self.labels))[:count]

    def _steps(self, first: Any, n: Any) -> None:
        """`n` Adam steps on z from step `first`: the learning rate ramps up over the first 5%
        and down (cosine) over the last 25% of the steps, as StyleGAN2's projector does, so the
        last steps settle instead of hopping around the minimum."""
        import tensorflow as tf

        s = self.settings
        wp, wx, wn = (tf.constant(v, tf.float32) for v in
                      (s.perceptual_weight / self.feature_dim, s.pixel_weight, s.noise_weight))
        b1, b2, eps = 0.9, 0.999, 1e-8
        for i in tf.range(n):
            t = tf.cast(first + i, tf.float32)
            with tf.GradientTape() as tape:
                tape.watch(self.z)
                images = self._forward(self.z, self.labels)
                feats = tf.cast(self.features(images), tf.float32)
                perc = tf.reduce_sum(tf.square(feats - self.target_feats), axis=1)
                pix = tf.reduce_mean(tf.square(images - self.target), axis=[1, 2, 3])
                reg = tf.square(tf.reduce_mean(tf.square(self.z), axis=1) - 1.0)
                loss = tf.reduce_sum(wp * perc + wx * pix + wn * reg)
            grad = tape.gradient(loss, self.z)
            frac = t / float(s.steps)
            ramp = tf.minimum(1.0, (1.0 - frac) / s.rampdown)
            ramp = (0.5 - 0.5 * tf.cos(math.pi * ramp)) * tf.minimum(1.0, frac / 0.05 + 1e-3)
            self.m.assign(b1 * self.m + (1 - b1) * grad)
            self.v.assign(b2 * self.v + (1 - b2) * tf.square(grad))
            m_hat = self.m / (1 - tf.pow(b1, t + 1))
            v_hat = self.v / (1 - tf.pow(b2, t + 1))
            self.z.assign_sub(s.lr * ramp * m_hat / (tf.sqrt(v_hat) + eps))


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances [len(a), len(b)] between rows."""
    return np.einsum("ij,ij->i", a, a)[:, None] + np.einsum("ij,ij->i", b, b)[None, :] \
        - 2.0 * a @ b.T
