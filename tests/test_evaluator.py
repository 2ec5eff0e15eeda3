"""The shipped evaluator: checksum, metadata, shapes, real classifications, refused inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ganctl.errors import GanctlError, UsageError
from ganctl.evaluation.evaluators import shipped as ev
from ganctl.fsutil import file_sha256

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = REPO.parent / "shared" / "data" / "fashion-mnist"


def real_test_images(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A few labelled Fashion-MNIST test images: from the test fixtures, else the shared data."""
    for folder in (FIXTURES / "fashion-mnist-small", SHARED_DATA):
        if (folder / "t10k-images-idx3-ubyte.gz").is_file():
            x, y = ev.load_fashion_mnist(folder, "test")
            return x[:n], y[:n]
    pytest.skip("no Fashion-MNIST test images in tests/fixtures or the shared data")


@pytest.fixture(scope="module")
def evaluator() -> ev.Evaluator:
    return ev.load_evaluator()


def test_weights_checksum_matches_metadata():
    info = ev.read_info()
    assert file_sha256(ev.ASSETS_DIR / ev.WEIGHTS_NAME) == info["sha256"]
    assert info["architecture"] in ev.ARCHITECTURES
    assert info["test_accuracy"] >= 0.92
    assert (ev.ASSETS_DIR / ev.WEIGHTS_NAME).stat().st_size < 5_000_000


def test_weights_are_plain_float32_arrays():
    with np.load(ev.ASSETS_DIR / ev.WEIGHTS_NAME, allow_pickle=False) as npz:
        assert npz.files and all(npz[key].dtype == np.float32 for key in npz.files)


def test_features_shapes_and_dtypes(evaluator):
    images = np.random.default_rng(0).uniform(-1, 1, size=(7, 28, 28, 1)).astype(np.float32)
    feats, probs = evaluator.features(images, batch_size=3)
    assert feats.shape == (7, evaluator.feature_dim) and feats.dtype == np.float64
    assert probs.shape == (7, 10) and probs.dtype == np.float64
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    again, _ = evaluator.features(images)  # batching does not change the answer
    assert np.allclose(feats, again, atol=1e-4)
    assert evaluator.accuracy >= 0.92 and evaluator.short_sha == evaluator.sha256[:12]


def test_loaded_once_per_process(evaluator):
    assert ev.load_evaluator() is evaluator


def test_classifies_real_test_images(evaluator):
    x, y = real_test_images()
    _, probs = evaluator.features(x)
    assert np.mean(probs.argmax(axis=1) == y) >= 0.85


@pytest.mark.parametrize("shape", [(2, 28, 28, 3), (2, 32, 32, 1), (2, 28, 28), (28, 28, 1)])
def test_wrong_image_shapes_are_refused(evaluator, shape):
    with pytest.raises(UsageError, match="takes 28x28 grayscale images; this model makes"):
        evaluator.features(np.zeros(shape, dtype=np.float32))


def test_checksum_mismatch_is_refused(tmp_path):
    for name in (ev.WEIGHTS_NAME, ev.INFO_NAME):
        shutil.copy(ev.ASSETS_DIR / name, tmp_path / name)
    info = json.loads((tmp_path / ev.INFO_NAME).read_text())
    info["sha256"] = "0" * 64
    (tmp_path / ev.INFO_NAME).write_text(json.dumps(info))
    with pytest.raises(GanctlError, match="sha256"):
        ev.load_evaluator(tmp_path)


def test_missing_assets_are_a_clear_error(tmp_path):
    with pytest.raises(GanctlError, match="evaluator metadata"):
        ev.load_evaluator(tmp_path)

