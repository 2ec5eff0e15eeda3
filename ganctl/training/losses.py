"""GAN losses, keyed by `--loss`: each one registered object that owns its update's terms.

A loss gives D's and G's terms from D's outputs, and its regulariser: a term added to D's loss
that needs D itself (the gradient penalty), with its own random draws from a stateless seed the
step hands it. It also declares what it needs: which D outputs it takes (logits, or the seed
MLP's probabilities), whether D's update needs passes of its own (then G and D do not share one
forward pass), and whether D may normalise over the batch. The step (`ganctl.training.step`)
runs the forward passes and the updates and knows no loss by name, so a new loss is one class
and one entry in `LOSSES`. A loss reads its settings from the config it is built with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ganctl.models import ARCHS

if TYPE_CHECKING:
    from ganctl.config import TrainConfig
    from ganctl.training.draws import Rows

# Clip probabilities like Keras' binary cross-entropy does, so log() never sees 0.
_EPS = 1e-7
# Inside the square root of the gradient norm: sqrt's gradient is infinite at 0, and an
# interpolate where D is flat would otherwise make the penalty's gradient NaN.
GP_EPS = 1e-12
GP_WEIGHT = 10.0  # WGAN-GP's λ (Gulrajani et al. 2017)


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
    """What D and G minimise; subclasses define `d_loss` and `g_loss`, and may add a
    `regulariser` (then with `separate_d_pass`)."""

    name = ""
    summary = ""  # for help texts: what the loss is, in a few words
    # The D outputs (ARCHS[arch].d_output) this loss takes: "logits", "probability".
    d_outputs: tuple[str, ...] = ("logits",)
    # D's update needs forward passes of its own (its regulariser differentiates D with respect
    # to its input): G and D are then updated one after the other, never from one shared pass.
    separate_d_pass = False
    # Whether D may normalise over the batch. A penalty on each image's gradient must not: a
    # batch statistic mixes every image of the batch into each one's gradient.
    d_batch_statistics = True

    def __init__(self, cfg: TrainConfig):
        # The seed MLP's D ends in a sigmoid: its outputs are probabilities, not logits.
        self.on_probabilities = ARCHS[cfg.arch].d_output == "probability"

    def d_loss(self, real_out: Any, fake_out: Any) -> Any:
        raise NotImplementedError

    def g_loss(self, fake_out: Any) -> Any:
        raise NotImplementedError

    def regulariser(self, critic: Any, real: Any, fake: Any, seed: Any, rows: Rows) -> Any:
        """A term added to D's loss that needs D itself (`critic`: images -> D's outputs, under
        the real images' labels), or None. `real` and `fake` are the images D judged (this
        device's `rows` of the global batch); `seed` (int64 [2]) is for its random draws, which
        it makes for the global batch and of which it takes `rows`."""
        return None

    def probability(self, out: Any) -> Any:
        """D's mean output as a probability, for the D(x) and D(G(z)) statistics."""
        import tensorflow as tf

        out = tf.cast(out, tf.float32)
        return tf.reduce_mean(out if self.on_probabilities else tf.sigmoid(out))


class NonSaturating(Loss):
    """Binary cross-entropy: D averages real→1 and fake→0; G's is non-saturating (fakes→1).

    On probabilities (the seed MLP), bit for bit as the seed computes it."""

    name = "bce"
    summary = "bce (non-saturating)"
    d_outputs = ("logits", "probability")

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
    summary = "hinge"

    def d_loss(self, real_out, fake_out):
        import tensorflow as tf

        return (_mean(tf.nn.relu(1.0 - tf.cast(real_out, tf.float32)))
                + _mean(tf.nn.relu(1.0 + tf.cast(fake_out, tf.float32))))

    def g_loss(self, fake_out):
        return -_mean(fake_out)


class WassersteinGP(Loss):
    """WGAN-GP (Gulrajani et al. 2017): a critic with a gradient penalty of weight λ at points
    between real and fake images, α ~ U[0, 1] per image."""

    name = "wgan-gp"
    summary = f"wgan-gp (gradient penalty {GP_WEIGHT:g})"
    separate_d_pass = True
    d_batch_statistics = False

    def __init__(self, cfg: TrainConfig):
        super().__init__(cfg)
        self.weight = GP_WEIGHT

    def d_loss(self, real_out, fake_out):
        return _mean(fake_out) - _mean(real_out)

    def g_loss(self, fake_out):
        return -_mean(fake_out)

    def regulariser(self, critic, real, fake, seed, rows):
        import tensorflow as tf

        alpha = rows.take(tf.random.stateless_uniform([rows.total, 1, 1, 1], seed))
        return self.weight * gradient_penalty(critic, real, fake, alpha)


class NonSaturatingR1(NonSaturating):
    """Non-saturating loss with the R1 penalty (Mescheder et al. 2018): γ/2 · E‖∇D(x)‖² over
    the real images D judged, which keeps D flat on the data."""

    name = "bce-r1"
    summary = "bce-r1 (non-saturating + R1 penalty on real images, weight --r1-gamma)"
    d_outputs = ("logits",)
    separate_d_pass = True
    d_batch_statistics = False

    def __init__(self, cfg: TrainConfig):
        super().__init__(cfg)
        self.gamma = cfg.r1_gamma

    def regulariser(self, critic, real, fake, seed, rows):
        return 0.5 * self.gamma * r1_penalty(critic, real)


def r1_penalty(critic: Any, real: Any) -> Any:
    """mean(‖∇critic(x)‖²) over the real images x: R1 without its γ/2."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(real)
        out = tf.cast(critic(real), tf.float32)
    grad = tf.cast(tape.gradient(out, real), tf.float32)
    return tf.reduce_mean(tf.reduce_sum(tf.square(grad), axis=list(range(1, grad.shape.rank))))


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
    "bce-r1": NonSaturatingR1,
}


def make_loss(cfg: TrainConfig) -> Loss:
    """The loss `cfg.loss`, built from `cfg`; ValueError when `cfg.arch`'s D gives outputs that
    the loss does not take."""
    loss = LOSSES[cfg.loss]
    d_output = ARCHS[cfg.arch].d_output
    if d_output not in loss.d_outputs:
        raise ValueError(f"--loss {cfg.loss} needs a discriminator that outputs "
                         f"{' or '.join(loss.d_outputs)}, and --arch {cfg.arch}'s outputs "
                         f"{d_output}")
    return loss(cfg)
