"""Model builders: the seed's exact MLP GAN and its generalisation to other image shapes."""

from __future__ import annotations

import numpy as np
import pytest

from ganctl.models import ARCHS, build_models


@pytest.fixture(scope="module")
def mlp():
    return build_models("mlp", 100, (28, 28, 1))


def _count(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def test_mlp_parameter_counts_match_the_seed(mlp):
    g, d = mlp
    assert g.count_params() == 1_513_616
    assert _count(g.trainable_weights) == 1_510_032
    assert d.count_params() == 533_505


def test_mlp_layers_and_shapes(mlp):
    g, d = mlp
    dense = [layer.units for layer in g.layers if layer.__class__.__name__ == "Dense"]
    assert dense == [128, 256, 512, 1024, 784]
    bns = [layer for layer in g.layers if layer.__class__.__name__ == "BatchNormalization"]
    assert len(bns) == 3 and all(b.momentum == pytest.approx(0.1) for b in bns)
    assert all(b.epsilon == pytest.approx(0.8) for b in bns)
    z = np.random.default_rng(0).standard_normal((5, 100)).astype(np.float32)
    x = np.asarray(g(z, training=False))
    assert x.shape == (5, 28, 28, 1) and x.min() >= -1 and x.max() <= 1
    p = np.asarray(d(x, training=False))
    assert p.shape == (5, 1) and ((p > 0) & (p < 1)).all()


def test_mlp_generalises_to_colour_and_size():
    g, d = build_models("mlp", 16, (32, 32, 3))
    x = np.asarray(g(np.zeros((2, 16), np.float32), training=False))
    assert x.shape == (2, 32, 32, 3)
    assert np.asarray(d(x)).shape == (2, 1)


def test_registry_holds_mlp_dcgan_and_fastgan():
    assert list(ARCHS) == ["mlp", "dcgan", "fastgan"]
    assert ARCHS["mlp"].d_output == "probability" and ARCHS["dcgan"].d_output == "logits"


# --- dcgan ------------------------------------------------------------------------------------------

def dcgan_counts(size: int, channels: int, width: int, latent: int, d_batchnorm: bool = True
                 ) -> tuple[int, int]:
    """(G, D) parameters of the DCGAN described in ganctl/models/dcgan.py, from its layer list.

    A size of s·2^k has k stride-2 layers in each model; feature maps have width·2^level
    channels (level 0 at size/2), at most 8·width; 4×4 kernels; BatchNorm has 4 values per
    channel (2 trainable); G's convolutions and dense have no bias (BatchNorm follows).
    """
    k = {28: 2, 32: 3, 64: 4}[size]
    start = size // 2**k
    ch = [width * min(2**level, 8) for level in range(k)]
    g = latent * start * start * ch[-1] + 4 * ch[-1]  # dense, BN
    for level in range(k - 1, 0, -1):
        g += 16 * ch[level] * ch[level - 1] + 4 * ch[level - 1]  # transposed conv, BN
    g += 16 * ch[0] * channels + channels  # to the image, with bias
    d = 16 * channels * ch[0] + ch[0]
    for level in range(1, k):
        d += 16 * ch[level - 1] * ch[level] + ch[level] + (4 * ch[level] if d_batchnorm else 0)
    d += start * start * ch[-1] + 1  # the logit
    return g, d


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_and_parameter_counts(size, channels):
    g, d = build_models("dcgan", 16, (size, size, channels), width=4)
    assert (g.count_params(), d.count_params()) == dcgan_counts(size, channels, 4, 16)
    x = np.asarray(g(np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)))
    assert x.shape == (2, size, size, channels) and np.abs(x).max() <= 1
    logits = np.asarray(d(x, training=False))
    assert logits.shape == (2, 1) and logits.dtype == np.float32


def test_dcgan_at_width_64_is_the_classic_28x28_pair():
    # G: dense 7·7·128 → BN → ReLU → transposed conv 64 → BN → ReLU → transposed conv 1, tanh;
    # D: conv 64 → conv 128 → BN → dense 1.
    g, d = build_models("dcgan", 100, (28, 28, 1))
    assert g.count_params() == 627_200 + 512 + 131_072 + 256 + 1_025 == 760_065
    assert d.count_params() == 1_088 + 131_200 + 512 + 6_273 == 139_073
    ups = [layer for layer in g.layers if layer.__class__.__name__ == "Conv2DTranspose"]
    assert [(u.kernel_size, u.strides) for u in ups] == [((4, 4), (2, 2))] * 2


def test_dcgan_spectral_norm_replaces_batchnorm_in_d():
    _, d = build_models("dcgan", 16, (32, 32, 1), width=4, spectral_norm=True)
    kinds = [layer.__class__.__name__ for layer in d.layers]
    assert "BatchNormalization" not in kinds and kinds.count("SpectralNormalization") == 4
    # each wrapped layer adds its power-iteration vector u (out channels, not trainable)
    _, want = dcgan_counts(32, 1, 4, 16, d_batchnorm=False)
    assert d.count_params() == want + 4 + 8 + 16 + 1
    _, critic = build_models("dcgan", 16, (32, 32, 1), width=4, d_batch_statistics=False)
    assert "BatchNormalization" not in [layer.__class__.__name__ for layer in critic.layers]


@pytest.mark.parametrize("classes", [0, 3])
def test_dcgan_spectral_norm_vectors_come_from_the_seed(classes):
    # Keras draws each power-iteration vector u unseeded: the same --seed must give the same D
    # (every weight, u included, and so the same logits), and another seed another u.
    def d_of(seed):
        return build_models("dcgan", 16, (32, 32, 1), width=4, spectral_norm=True, seed=seed,
                            num_classes=classes)[1]

    def vectors(d):
        return [layer.vector_u.numpy() for layer in d.layers
                if layer.__class__.__name__ == "SpectralNormalization"]

    a, b, other = d_of(5), d_of(5), d_of(6)
    assert len(vectors(a)) == 4
    for u, v, w in zip(vectors(a), vectors(b), vectors(other), strict=True):
        assert np.array_equal(u, v) and not np.array_equal(u, w)
        assert 0 < np.abs(u).max() <= 0.04  # TruncatedNormal(0.02), cut at two deviations
    x = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 1)).astype(np.float32)
    inputs = [x, np.arange(4) % 3] if classes else x
    # training=True runs the power iteration, which updates u from its start
    assert np.array_equal(np.asarray(a(inputs, training=True)), np.asarray(b(inputs, training=True)))
    assert all(np.array_equal(u, v) for u, v in zip(vectors(a), vectors(b), strict=True))


@pytest.mark.parametrize("shape", [(30, 30, 1), (16, 16, 1), (256, 256, 3), (28, 32, 1)])
def test_dcgan_refuses_sizes_it_cannot_build(shape):
    with pytest.raises(ValueError, match="--arch dcgan") as err:
        build_models("dcgan", 16, shape, width=4)
    assert "\n" not in str(err.value)


def test_config_checks_the_size_before_any_data_is_loaded():
    from ganctl.errors import UsageError
    from ganctl.training.options import resolve

    with pytest.raises(UsageError, match=r"cannot build 30×30 images.*28, 32, 48, 64, 96 and 128"):
        resolve({"arch": "dcgan", "image_size": 30})
    assert resolve({"arch": "dcgan", "image_size": 48, "channels": 3}).width == 32  # auto, CPU
    with pytest.raises(UsageError, match="--width does not apply to --arch mlp"):
        resolve({"width": 32})
    with pytest.raises(UsageError, match="--loss hinge needs a discriminator that outputs logits"):
        resolve({"loss": "hinge"})
