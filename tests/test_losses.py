"""Losses: known values on known logits and probabilities (0 and 1 clipped), the gradient
penalty in closed form, the registry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganctl.training.draws import Rows
from ganctl.training.losses import (
    GP_EPS,
    LOSSES,
    Hinge,
    NonSaturating,
    NonSaturatingR1,
    WassersteinGP,
    gradient_penalty,
    make_loss,
)


def _f(x) -> float:
    return float(np.asarray(x))


def _t(values):
    import tensorflow as tf

    return tf.constant(np.asarray(values, np.float32).reshape(-1, 1))


def _cfg(arch: str = "dcgan"):
    from ganctl.config import TrainConfig

    return TrainConfig(arch=arch)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_non_saturating_on_logits():
    loss = NonSaturating(_cfg())
    real, fake = [2.0, 0.0, -1.0], [-3.0, 0.5]
    # D: 0.5 (mean -log sigmoid(real) + mean -log(1 - sigmoid(fake)))
    want_d = 0.5 * (np.mean([softplus(-r) for r in real]) + np.mean([softplus(f) for f in fake]))
    assert _f(loss.d_loss(_t(real), _t(fake))) == pytest.approx(want_d, rel=1e-6)
    # G: mean -log sigmoid(fake), non-saturating
    assert _f(loss.g_loss(_t(fake))) == pytest.approx(np.mean([softplus(-f) for f in fake]),
                                                      rel=1e-6)
    assert _f(loss.g_loss(_t([0.0]))) == pytest.approx(math.log(2), rel=1e-6)


def test_hinge():
    loss = Hinge(_cfg())
    real, fake = [2.0, 0.5, -1.0], [-2.0, 0.0, 1.0]
    # mean relu(1 - real) = (0 + 0.5 + 2) / 3, mean relu(1 + fake) = (0 + 1 + 2) / 3
    assert _f(loss.d_loss(_t(real), _t(fake))) == pytest.approx(2.5 / 3 + 1.0, rel=1e-6)
    assert _f(loss.g_loss(_t(fake))) == pytest.approx(1 / 3, rel=1e-6)  # -mean(fake)
    assert _f(loss.g_loss(_t([1.0, 2.0]))) == pytest.approx(-1.5, rel=1e-6)


def test_wasserstein():
    loss = WassersteinGP(_cfg())
    assert _f(loss.d_loss(_t([3.0, 1.0]), _t([0.5]))) == pytest.approx(0.5 - 2.0)
    assert _f(loss.g_loss(_t([0.5, 1.5]))) == pytest.approx(-1.0)


def _images(seed: int, n: int = 4):
    import tensorflow as tf

    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (n, 6, 6, 1)).astype(np.float32))


def test_gradient_penalty_of_a_linear_critic_is_known_in_closed_form():
    import tensorflow as tf

    # critic(x) = <w, x>: its gradient is w everywhere, so the penalty is (|w| - 1)^2 for any
    # interpolate.
    w = np.random.default_rng(0).standard_normal((6, 6, 1)).astype(np.float32)
    w *= 3.0 / np.linalg.norm(w)

    def critic(x):
        return tf.reduce_sum(x * w, axis=[1, 2, 3])[:, None]

    alpha = tf.constant(np.linspace(0, 1, 4, dtype=np.float32).reshape(4, 1, 1, 1))
    gp = _f(gradient_penalty(critic, _images(1), _images(2), alpha))
    assert gp == pytest.approx((3.0 - 1.0) ** 2, rel=1e-5)
    assert _f(WassersteinGP(_cfg()).regulariser(critic, _images(1), _images(2),
                                                tf.constant([3, 4], tf.int64), Rows(0, 4, 4))) \
        == pytest.approx(10 * 4.0, rel=1e-5)


def test_r1_of_a_linear_critic_is_gamma_half_its_weight_norm_squared():
    import tensorflow as tf

    # D(x) = <w, x> + b has gradient w at every image: R1 = γ/2 |w|^2, whatever the images.
    w = np.random.default_rng(7).standard_normal((6, 6, 1)).astype(np.float32)

    def critic(x):
        return tf.reduce_sum(x * w, axis=[1, 2, 3])[:, None] + 0.3

    loss = NonSaturatingR1(_cfg())
    assert loss.gamma == 10.0  # --r1-gamma's default
    assert NonSaturatingR1(_cfg().replace(r1_gamma=4.0)).gamma == 4.0
    got = _f(loss.regulariser(critic, _images(1), _images(2), tf.constant([3, 4], tf.int64),
                              Rows(0, 4, 4)))
    assert got == pytest.approx(10.0 / 2 * float(np.sum(w.astype(np.float64) ** 2)), rel=1e-5)
    # on the real images only: the fakes do not enter it
    critic_of_real = lambda x: 0.5 * tf.reduce_sum(x * x, axis=[1, 2, 3])[:, None]  # noqa: E731
    real = _images(3)
    want = 5.0 * float(np.mean(np.sum(real.numpy().astype(np.float64) ** 2, axis=(1, 2, 3))))
    for fake in (_images(4), _images(5)):
        got = _f(loss.regulariser(critic_of_real, real, fake, tf.constant([3, 4], tf.int64),
                                  Rows(0, 4, 4)))
        assert got == pytest.approx(want, rel=1e-5)
    # its D and G terms are bce's
    assert _f(loss.d_loss(_t([1.0, -2.0]), _t([0.5]))) == \
        pytest.approx(_f(NonSaturating(_cfg()).d_loss(_t([1.0, -2.0]), _t([0.5]))))


def test_gradient_penalty_interpolates_between_real_and_fake():
    import tensorflow as tf

    # critic(x) = |x|^2 / 2 has gradient x: the norm at α is |real + α (fake - real)|.
    real, fake = _images(3, 1), _images(4, 1)

    def critic(x):
        return 0.5 * tf.reduce_sum(x * x, axis=[1, 2, 3])[:, None]

    for a in (0.0, 0.25, 1.0):
        point = real.numpy() + a * (fake.numpy() - real.numpy())
        want = (np.linalg.norm(point) - 1.0) ** 2
        got = _f(gradient_penalty(critic, real, fake, tf.fill([1, 1, 1, 1], a)))
        assert got == pytest.approx(want, rel=1e-5)


def test_gradient_penalty_is_finite_where_the_critic_is_flat():
    import tensorflow as tf

    # Flat at every interpolate (relu is 0 on [-1, 1] - 5): the gradient norm is 0, where
    # sqrt has an infinite derivative; eps inside the root keeps D's update finite.
    v = tf.Variable(2.0)

    def critic(x):
        return v * tf.reduce_sum(tf.nn.relu(x - 5.0), axis=[1, 2, 3])[:, None]

    with tf.GradientTape() as tape:
        gp = gradient_penalty(critic, _images(5), _images(6), tf.fill([4, 1, 1, 1], 0.5))
    grad = tape.gradient(gp, v)
    assert _f(gp) == pytest.approx((math.sqrt(GP_EPS) - 1) ** 2)
    assert np.isfinite(_f(grad))


def test_registry_and_what_each_loss_declares():
    from ganctl.config import TrainConfig

    def make(loss: str, arch: str = "dcgan"):
        return make_loss(TrainConfig(arch=arch, loss=loss))

    assert set(LOSSES) == {"bce", "hinge", "wgan-gp", "bce-r1"}
    assert isinstance(make("hinge"), Hinge) and not make("bce").on_probabilities
    assert make("bce", "mlp").on_probabilities  # the seed MLP's D ends in a sigmoid
    # Only bce takes the MLP's probabilities; config validation asks the registry.
    assert [name for name, loss in LOSSES.items() if "probability" in loss.d_outputs] == ["bce"]
    with pytest.raises(ValueError, match="needs a discriminator that outputs logits"):
        make("hinge", "mlp")
    # The gradient penalty differentiates D per image: its own pass, no batch statistics in D.
    assert make("wgan-gp").separate_d_pass and not make("wgan-gp").d_batch_statistics
    assert make("bce-r1").separate_d_pass and not make("bce-r1").d_batch_statistics
    with pytest.raises(ValueError, match="needs a discriminator that outputs logits"):
        make("bce-r1", "mlp")
    assert not make("hinge").separate_d_pass and make("hinge").d_batch_statistics
    assert all(loss.summary.startswith(name) for name, loss in LOSSES.items())


# --- bce on the seed MLP's probabilities -----------------------------------------------------------

def _losses(d_real, d_fake) -> tuple[float, float]:
    from ganctl.config import TrainConfig

    loss = make_loss(TrainConfig(arch="mlp", loss="bce"))
    real, fake = np.array(d_real, np.float32), np.array(d_fake, np.float32)
    return float(loss.g_loss(fake)), float(loss.d_loss(real, fake))


def test_bce_known_answers():
    # D undecided: both losses are log 2
    g, d = _losses([0.5, 0.5], [0.5, 0.5, 0.5])
    assert g == pytest.approx(math.log(2), rel=1e-6) and d == pytest.approx(math.log(2), rel=1e-6)
    # G: -mean log D(fake) (non-saturating); D: mean of -log D(real) and -log(1 - D(fake))
    g, d = _losses([0.9, 0.6], [0.2, 0.4])
    assert g == pytest.approx(-(math.log(0.2) + math.log(0.4)) / 2, rel=1e-6)
    assert d == pytest.approx(0.5 * (-(math.log(0.9) + math.log(0.6)) / 2
                                     - (math.log(0.8) + math.log(0.6)) / 2), rel=1e-6)


def test_bce_clips_certain_probabilities_like_keras():
    # Probabilities are clipped to [1e-7, 1 - 1e-7] in float32, so 0 and 1 give large finite
    # losses instead of infinities. In float32, 1 - 1e-7 is 1 - 2**-23, and so is 1 - p for
    # p = 1e-7: a nearly certain correct answer costs -log(1 - 2**-23) = 1.19e-7.
    low = -math.log(1e-7)  # 16.118: a certain wrong answer, clipped
    high = -math.log(2.0**-23)  # 15.942: the same from the other side
    tiny = -math.log1p(-2.0**-23)  # 1.19e-7
    g, d = _losses([1.0], [0.0])  # D certain and right: G's loss is as large as clipping allows
    assert g == pytest.approx(low, rel=1e-6) and d == pytest.approx(tiny, rel=1e-5)
    g, d = _losses([0.0], [1.0])  # D certain and wrong both ways
    assert g == pytest.approx(tiny, rel=1e-5) and d == pytest.approx(0.5 * (low + high), rel=1e-6)
