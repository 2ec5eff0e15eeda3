"""An exponential moving average (EMA) of the generator: its weights and BatchNorm statistics.

The averaged generator makes smoother, steadier images than the trained one, whose weights
jump with every step (Karras et al. 2018; Yazıcı et al. 2019); training keeps it beside G and
grids, evaluation and sampling show it. Its half-life is counted in images, so it means the same
at any batch size, and it ramps up from zero as StyleGAN2-ADA's does (`training_loop.py`), so
early in training the average does not drag in the random initial weights. `EmaGenerator` is
that average as training keeps it; readers of a run ask the checkpoint store (`shown_generator_key`)
which generator to show, without this module.
"""

from __future__ import annotations

from typing import Any


def ema_beta(images_seen: Any, batch_size: int, half_life: float, ramp: float) -> Any:
    """The weight of the old average after a step of `batch_size` images.

    beta = 0.5 ** (batch / h), h = min(half_life, ramp × images_seen) (h = half_life when
    `ramp` is 0): after h images, the old average has half its weight. Works on floats and on
    TensorFlow tensors alike.
    """
    if ramp > 0:
        half_life = _minimum(half_life, images_seen * ramp)
    return 0.5 ** (batch_size / _maximum(half_life, 1e-8))


def _minimum(a: Any, b: Any) -> Any:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return min(a, b)
    import tensorflow as tf

    return tf.minimum(tf.cast(a, tf.float32), tf.cast(b, tf.float32))


def _maximum(a: Any, b: float) -> Any:
    if isinstance(a, int | float):
        return max(a, b)
    import tensorflow as tf

    return tf.maximum(tf.cast(a, tf.float32), b)


def update_ema(average: Any, model: Any, beta: Any) -> None:
    """average ← model + beta (average − model), for every variable (weights and BN statistics)."""
    for avg, var in zip(average.variables, model.variables, strict=True):
        avg.assign(var + beta * (avg - var))


class EmaGenerator:
    """The EMA of a trained generator: `generator` is the average, a copy of the trained one
    that is never trained, only averaged; grids, evaluation and sampling show it."""

    def __init__(self, copy: Any, trained: Any, batch_size: int, half_life: float, ramp: float):
        # The average starts as G itself. `copy` is built like `trained` (the builders are
        # deterministic), and its weights are set from it too.
        copy.set_weights(trained.get_weights())
        self.generator = copy
        self.batch_size = batch_size
        self.half_life = half_life
        self.ramp = ramp

    def update(self, trained: Any, step: Any) -> None:
        """Average in `trained` after training step `step` (0-based; the counter before it is
        advanced), which brings the images seen to (step + 1) × batch."""
        import tensorflow as tf

        images_seen = tf.cast(step + 1, tf.float32) * self.batch_size
        update_ema(self.generator, trained,
                   ema_beta(images_seen, self.batch_size, self.half_life, self.ramp))
