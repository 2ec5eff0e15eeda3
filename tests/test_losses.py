"""The GAN losses: known probabilities give known cross-entropies, and 0 and 1 are clipped."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganctl.losses import LOSSES, bce_losses


def _losses(d_real, d_fake) -> tuple[float, float]:
    g, d = bce_losses(np.array(d_real, np.float32), np.array(d_fake, np.float32))
    return float(g), float(d)


def test_bce_known_answers():
    # D undecided: both losses are log 2
    g, d = _losses([0.5, 0.5], [0.5, 0.5, 0.5])
    assert g == pytest.approx(math.log(2), rel=1e-6) and d == pytest.approx(math.log(2), rel=1e-6)
    # G: -mean log D(fake) (non-saturating); D: mean of -log D(real) and -log(1 - D(fake))
    g, d = _losses([0.9, 0.6], [0.2, 0.4])
    assert g == pytest.approx(-(math.log(0.2) + math.log(0.4)) / 2, rel=1e-6)
    assert d == pytest.approx(0.5 * (-(math.log(0.9) + math.log(0.6)) / 2
                                     - (math.log(0.8) + math.log(0.6)) / 2), rel=1e-6)
    assert LOSSES["bce"] is bce_losses


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
