"""GAN losses on the discriminator's probabilities, keyed by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Clip probabilities like Keras' binary cross-entropy does, so log() never sees 0.
_EPS = 1e-7


def _bce(target: float, prob: Any) -> Any:
    import tensorflow as tf

    prob = tf.clip_by_value(tf.cast(prob, tf.float32), _EPS, 1.0 - _EPS)
    if target == 1.0:
        return -tf.reduce_mean(tf.math.log(prob))
    return -tf.reduce_mean(tf.math.log(1.0 - prob))


def bce_losses(d_real: Any, d_fake: Any) -> tuple[Any, Any]:
    """Binary cross-entropy: G is non-saturating (labels 1 on fakes); D averages real 1 and fake 0."""
    g_loss = _bce(1.0, d_fake)
    d_loss = 0.5 * (_bce(1.0, d_real) + _bce(0.0, d_fake))
    return g_loss, d_loss


LOSSES: dict[str, Callable[[Any, Any], tuple[Any, Any]]] = {
    "bce": bce_losses,
}
