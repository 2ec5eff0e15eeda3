"""The random draws of a training step, made for the whole global batch: G's noise, the fake
images' class labels, and the stateless seeds of augmentations and regularisers.

Every draw covers the global batch and a device takes its rows of it (`Rows`), so an image's
noise, label and augmentation do not depend on how many replicas share a step. Noise and labels
come from the checkpointed random generator (a resumed run continues its stream); seeds come
from (seed, step), so a resumed run replays them without state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

# A step's stateless seeds are (seed, step · SEEDS_PER_STEP + purpose), purpose < SEEDS_PER_STEP.
SEEDS_PER_STEP = 1024
# Purposes: D step k uses 4k + 0 (real images' augmentation), 4k + 1 (fakes'), 4k + 2 (its
# loss's regulariser), 4k + 3 (the draws of D's own auxiliary loss on real images); G's step
# uses the last one.
G_PURPOSE = SEEDS_PER_STEP - 1


def real_purpose(d_step: int) -> int:
    """The seed purpose of the real images' augmentation in D step `d_step`."""
    return 4 * d_step


def fake_purpose(d_step: int) -> int:
    """The seed purpose of the fakes' augmentation in D step `d_step`."""
    return 4 * d_step + 1


def regulariser_purpose(d_step: int) -> int:
    """The seed purpose of the loss's regulariser in D step `d_step`."""
    return 4 * d_step + 2


def auxiliary_purpose(d_step: int) -> int:
    """The seed purpose of D's auxiliary loss on real images (`ganctl.models.judge_real`) in D
    step `d_step`."""
    return 4 * d_step + 3


def normal(rng: Any, rows: int, cols: int) -> Any:
    """Standard normal float32 [rows, cols] from `rng`'s raw Philox bits (Box-Muller).

    `rng.normal()` draws different numbers with XLA and without it (and on GPUs), while its raw
    integer bits are the same everywhere; so the same seed gives the same noise, to float
    rounding, on every device and with --xla or --no-xla.
    """
    import tensorflow as tf

    half = (cols + 1) // 2
    bits = rng.uniform_full_int([2, rows, half], tf.uint32)
    u = (tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) + 0.5) * 2.0**-24  # in (0, 1)
    radius = tf.sqrt(-2.0 * tf.math.log(u[0]))
    angle = (2.0 * np.pi) * u[1]
    return tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], axis=1)[:, :cols]


def classes(rng: Any, rows: int, class_cdf: np.ndarray) -> Any:
    """Class labels int32 [rows] from `rng`'s raw Philox bits, with the cumulative class shares
    `class_cdf`: as `normal`, the same on every device and with or without XLA."""
    import tensorflow as tf

    bits = rng.uniform_full_int([rows], tf.uint32)
    u = (tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) + 0.5) * 2.0**-24  # in (0, 1)
    # The class is the number of cumulative shares u has passed (inverse CDF).
    cdf = tf.constant(class_cdf[:-1])
    return tf.reduce_sum(tf.cast(u[:, None] >= cdf[None, :], tf.int32), axis=1)


def class_cdf(class_counts: tuple[int, ...]) -> np.ndarray:
    """The cumulative class shares that fake labels are drawn with: the data's frequencies."""
    return (np.cumsum(class_counts) / sum(class_counts)).astype(np.float32)


class Fakes(NamedTuple):
    """One draw of G's inputs: noise float32 [n, latent] and, for a conditional model, the fake
    images' labels int32 [n] (None otherwise)."""

    noise: Any
    labels: Any = None


def draw_fakes(rng: Any, draws: int, batch_size: int, latent_dim: int,
               cdf: np.ndarray | None) -> tuple[Fakes, ...]:
    """`draws` draws of G's inputs for the global batch, in the order a run has always made
    them: each noise followed by its labels (when `cdf`, the class shares, is given)."""
    out = []
    for _ in range(draws):
        noise = normal(rng, batch_size, latent_dim)
        out.append(Fakes(noise, None if cdf is None else classes(rng, batch_size, cdf)))
    return tuple(out)


@dataclass(frozen=True)
class Rows:
    """The rows of the global batch of `total` images that one device computes: `count` rows
    from `offset` (all of them on one device; its slice under tf.distribute)."""

    offset: int
    count: int
    total: int

    @property
    def whole(self) -> bool:
        """Whether these are all the rows (one device)."""
        return self.count == self.total

    @property
    def replicas(self) -> int:
        """How many devices share the global batch."""
        return self.total // self.count

    def take(self, x: Any) -> Any:
        """This device's rows of `x`, a tensor drawn for the global batch."""
        return x if self.whole else x[self.offset:self.offset + self.count]


@dataclass(frozen=True)
class StepSeeds:
    """The stateless seeds of one global step: `purpose` gets (seed, step · 1024 + purpose), so
    a resumed run replays them exactly. `step` is the step counter, read where a seed is made."""

    seed: int
    step: Any  # int64 variable or tensor: steps done before this one

    def __call__(self, purpose: int) -> Any:
        import tensorflow as tf

        return tf.stack([tf.constant(self.seed, tf.int64), self.step * SEEDS_PER_STEP + purpose])
