"""GAN losses, keyed by `--loss`: what D and G minimise, given D's outputs on real and fake images.

A loss is a small object: `d_loss` and `g_loss` read D's outputs, and `penalty` adds what needs
D itself (the gradient penalty). The training step (`ganctl.training.gan`) runs the forward passes and
the updates, so `--d-steps` and penalties need no change here. D's outputs are logits, except
for the seed MLP, whose D ends in a sigmoid: `bce` then works on probabilities, bit for bit as
the seed computes it.
"""

from __future__ import annotations

from typing import Any

# Clip probabilities like Keras' binary cross-entropy does, so log() never sees 0.
_EPS = 1e-7
# Inside the square root of the gradient norm: sqrt's gradient is infinite at 0, and an
# interpolate where D is flat would otherwise make the penalty's gradient NaN.
GP_EPS = 1e-12


def _bce(target: float, prob: Any) -> Any:
    import tensorflow as tf

    prob = tf.clip_by_value(tf.cast(prob, tf.float32), _EPS, 1.0 - _EPS)
    if target == 1.0:
        return -tf.reduce_mean(tf.math.log(prob))
    return -tf.reduce_mean(tf.math.log(1.0 - prob))


def _mean(x: Any) -> Any:
    import tensorflow as tf

    return tf.reduce_mean(tf.cast(x, tf.float32))


class Loss:
    """What D and G minimise; subclasses define `d_loss` and `g_loss`."""

    name = ""
    on_probabilities = False  # True only for `bce` on a D that ends in a sigmoid

    def d_loss(self, real_out: Any, fake_out: Any) -> Any:
        raise NotImplementedError

    def g_loss(self, fake_out: Any) -> Any:
        raise NotImplementedError

    def penalty(self, critic: Any, real: Any, fake: Any, alpha: Any) -> Any:
        """A term added to D's loss that needs D itself; None when the loss has none."""
        return None

    @property
    def has_penalty(self) -> bool:
        return type(self).penalty is not Loss.penalty


class NonSaturating(Loss):
    """Binary cross-entropy: D averages real→1 and fake→0; G's is non-saturating (fakes→1)."""

    name = "bce"

    def __init__(self, on_probabilities: bool = False):
        self.on_probabilities = on_probabilities

    def d_loss(self, real_out, fake_out):
        import tensorflow as tf

        if self.on_probabilities:
            return 0.5 * (_bce(1.0, real_out) + _bce(0.0, fake_out))
        return 0.5 * (_mean(tf.nn.softplus(-tf.cast(real_out, tf.float32)))
                      + _mean(tf.nn.softplus(tf.cast(fake_out, tf.float32))))

    def g_loss(self, fake_out):
        import tensorflow as tf

        if self.on_probabilities:
            return _bce(1.0, fake_out)
        return _mean(tf.nn.softplus(-tf.cast(fake_out, tf.float32)))  # -log sigmoid(x)


class Hinge(Loss):
    """Hinge (SAGAN, BigGAN): D pushes real logits above 1 and fake ones below -1."""

    name = "hinge"

    def d_loss(self, real_out, fake_out):
        import tensorflow as tf

        return (_mean(tf.nn.relu(1.0 - tf.cast(real_out, tf.float32)))
                + _mean(tf.nn.relu(1.0 + tf.cast(fake_out, tf.float32))))

    def g_loss(self, fake_out):
        return -_mean(fake_out)


class WassersteinGP(Loss):
    """WGAN-GP (Gulrajani et al. 2017): a critic with a gradient penalty of `weight`."""

    name = "wgan-gp"

    def __init__(self, weight: float = 10.0):
        self.weight = weight

    def d_loss(self, real_out, fake_out):
        return _mean(fake_out) - _mean(real_out)

    def g_loss(self, fake_out):
        return -_mean(fake_out)

    def penalty(self, critic, real, fake, alpha):
        return self.weight * gradient_penalty(critic, real, fake, alpha)


def gradient_penalty(critic: Any, real: Any, fake: Any, alpha: Any) -> Any:
    """mean((‖∇critic(x̂)‖ - 1)²) at x̂ = real + α (fake - real), α [batch, 1, 1, 1] in [0, 1].

    α is uniform, not normal: a normal α (a bug of a popular example) puts x̂ off the line
    between the two images.
    """
    import tensorflow as tf

    mixed = real + alpha * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        out = tf.cast(critic(mixed), tf.float32)
    grad = tf.cast(tape.gradient(out, mixed), tf.float32)
    norm = tf.sqrt(tf.reduce_sum(tf.square(grad), axis=list(range(1, grad.shape.rank))) + GP_EPS)
    return tf.reduce_mean(tf.square(norm - 1.0))


LOSSES: dict[str, type[Loss]] = {
    "bce": NonSaturating,
    "hinge": Hinge,
    "wgan-gp": WassersteinGP,
}


def make_loss(name: str, d_output: str = "logits") -> Loss:
    """The loss `name` for a D whose outputs are `d_output` ("logits" or "probability")."""
    if d_output == "probability":
        if name != "bce":
            raise ValueError(f"--loss {name} needs a discriminator that outputs logits")
        return NonSaturating(on_probabilities=True)
    return LOSSES[name]()
