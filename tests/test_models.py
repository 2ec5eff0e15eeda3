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


def test_registry_holds_mlp():
    assert "mlp" in ARCHS
