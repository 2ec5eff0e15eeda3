"""`--evaluator inception`: the same pipeline built untrained on tiny inputs; never downloads."""

from __future__ import annotations

import numpy as np
import pytest

from ganctl.errors import UsageError
from ganctl.evaluation.evaluators import inception


@pytest.fixture(scope="module")
def untrained():
    """InceptionV3 with random weights at its smallest input (75x75), for 8x8 images."""
    return inception.load_inception((8, 8, 1), weights=None, size=75)


@pytest.mark.slow
def test_features_are_2048_pool_features_of_rgb_resized_images(untrained):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (3, 8, 8, 1), dtype=np.uint8)
    feats, probs = untrained.features(untrained.prepare(gray), batch_size=2)
    assert feats.shape == (3, inception.FEATURE_DIM) and feats.dtype == np.float64
    assert probs is None and untrained.num_classes == 0  # class metrics are skipped
    assert np.isfinite(feats).all() and feats.std() > 0
    # Grayscale is copied to R, G and B: the same features as the RGB image of it.
    colour = inception.load_inception((8, 8, 3), weights=None, size=75)
    colour._model = untrained._model
    rgb_feats, _ = colour.features(colour.prepare(np.repeat(gray, 3, axis=-1)))
    assert np.allclose(rgb_feats, feats, atol=1e-5)
    assert untrained.describe()["test_accuracy"] is None
    assert "not identical to the TF-GAN or pytorch-fid FID" in untrained.notes[0]
    with pytest.raises(UsageError, match="set up for 8x8 grayscale images"):
        untrained.features(np.zeros((1, 9, 9, 1), np.uint8))


def test_offline_without_cached_weights_names_the_file_and_folder(tmp_path, monkeypatch):
    from keras.src.applications import inception_v3

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: network unreachable")  # as Keras raises it

    monkeypatch.setattr("ganctl.data.keras_home", lambda: tmp_path)
    monkeypatch.setattr(inception_v3.file_utils, "get_file", offline)
    with pytest.raises(UsageError) as err:
        inception.build_inception("imagenet", size=75)
    assert str(err.value) == (f"cannot get the InceptionV3 weights (Exception); offline? put "
                              f"{inception.WEIGHTS_FILE} in {tmp_path / 'models'}")
