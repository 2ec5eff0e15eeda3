"""Real data for evaluation: the run's own data from every source, its held-out split, --real."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import FIXTURE_DATA
from ganctl.config import TrainConfig
from ganctl.data import load_dataset, load_idx_folder
from ganctl.errors import UsageError
from ganctl.evaluation.real import (
    HOLDOUT_MAX,
    RealData,
    check_real_source,
    load_real_data,
    real_data_for_run,
    sample_indices,
)


def run_config(**settings) -> TrainConfig:
    return TrainConfig(**{"image_shape": (28, 28, 1), "num_images": 100, **settings})


def test_idx_folder_compares_with_its_test_split_and_the_runs_limit():
    data = real_data_for_run(run_config(data=str(FIXTURE_DATA), limit=300))
    train, test = load_idx_folder(FIXTURE_DATA, "train"), load_idx_folder(FIXTURE_DATA, "test")
    assert np.array_equal(data.train, train.x[:300]) and np.array_equal(data.test, test.x)
    assert np.array_equal(data.labels("train"), train.y[:300])
    assert np.array_equal(data.labels("test", 7), test.y[data.sample("test", 7)])
    assert data.heldout == "the test split" and data.source == str(FIXTURE_DATA.resolve())


def test_builtin_datasets_use_their_test_split(keras_cache, monkeypatch):
    import keras

    data = real_data_for_run(run_config(data="fashion-mnist"))
    assert data.count("train") == 2000 and data.count("test") == 500 and data.source == "fashion-mnist"
    # MNIST as Keras' loader returns it from its cache (mnist.npz): both splits.
    digits = np.random.default_rng(0).integers(0, 256, (130, 28, 28), dtype=np.uint8)
    labels = np.arange(130) % 10
    monkeypatch.setattr(keras.datasets.mnist, "load_data",
                        lambda: ((digits[:100], labels[:100]), (digits[100:], labels[100:])))
    data = real_data_for_run(run_config(data="mnist", limit=40))
    assert np.array_equal(data.train[..., 0], digits[:40])
    assert np.array_equal(data.test[..., 0], digits[100:])
    assert np.array_equal(data.labels("test"), labels[100:])


def test_npz_with_a_test_split_uses_it(tmp_path):
    rng = np.random.default_rng(1)
    x, x_test = rng.integers(0, 256, (50, 8, 8, 3), np.uint8), rng.integers(0, 256, (9, 8, 8, 3),
                                                                             np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(50) % 2, x_test=x_test, y_test=np.arange(9) % 2)
    data = load_real_data(str(tmp_path / "d.npz"), (8, 8, 3))
    assert np.array_equal(data.train, x) and np.array_equal(data.test, x_test)
    assert np.array_equal(data.labels("test"), np.arange(9) % 2)


def test_without_a_test_split_a_seeded_tenth_is_held_out(tmp_path):
    x = np.arange(200 * 4, dtype=np.int64).reshape(200, 2, 2, 1) % 256
    x[:, 0, 0, 0] = np.arange(200)  # each image is unique
    np.savez(tmp_path / "d.npz", x=x.astype(np.uint8), y=np.arange(200) % 4)
    data = load_real_data(str(tmp_path / "d.npz"), (2, 2, 1))
    again = load_real_data(str(tmp_path / "d.npz"), (2, 2, 1))
    assert data.count("test") == 20 and data.count("train") == 180
    assert np.array_equal(data.test, again.test)  # fixed: the same images every time
    ids = lambda images: set(images[:, 0, 0, 0].tolist())  # noqa: E731
    assert ids(data.train) | ids(data.test) == set(range(200))
    assert not ids(data.train) & ids(data.test)
    assert sorted(ids(data.test)) != list(range(180, 200))  # drawn, not the last ones
    assert np.array_equal(data.labels("test"), data.test[:, 0, 0, 0] % 4)  # labels follow
    assert "a seeded 10% of the data held out (20 of 200 images" in data.heldout


def test_a_sample_is_seeded_random_and_in_split_order():
    rows = sample_indices(1000, 100)
    assert np.array_equal(rows, sample_indices(1000, 100))  # the same on every call
    assert len(set(rows.tolist())) == 100 and np.all(np.diff(rows) > 0)
    assert rows.max() > 500  # drawn from the whole split, not its first 100
    assert not np.array_equal(rows, sample_indices(1000, 100, seed=1))
    assert set(rows.tolist()) <= set(sample_indices(1000, 300).tolist())  # more keeps these
    assert np.array_equal(sample_indices(50, 100), np.arange(50))  # all of a smaller split
    assert np.array_equal(sample_indices(50, None), np.arange(50))


def test_images_and_labels_of_a_sample_go_together():
    x = np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1)
    data = RealData("d", x, x[:10], np.arange(40) % 4, np.arange(10) % 4)
    images, labels = data.images("train", 12), data.labels("train", 12)
    assert np.array_equal(labels, images[:, 0, 0, 0] % 4)
    assert not np.array_equal(images, x[:12]) and data.images("train") is data.train
    assert data.describe_sample("train", 12) == ("12 of 40 training images, drawn at random "
                                                 "(seed 0)")
    assert data.describe_sample("test", 12) == "all 10 test images"


def test_the_held_out_share_stops_at_ten_thousand(tmp_path):
    np.savez(tmp_path / "big.npz", x=np.zeros((HOLDOUT_MAX * 10 + 500, 1, 1), np.uint8))
    data = load_real_data(str(tmp_path / "big.npz"), (1, 1, 1))
    assert data.count("test") == HOLDOUT_MAX and data.count("train") == HOLDOUT_MAX * 9 + 500


@pytest.mark.parametrize("channels", [1, 3])
def test_image_folders_hold_out_a_tenth_with_their_classes(tmp_path, channels):
    rng = np.random.default_rng(2)
    for cls in ("cats", "dogs"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(15):
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), np.uint8)).save(
                tmp_path / "imgs" / cls / f"{i}.png")
    cfg = run_config(data=str(tmp_path / "imgs"), image_size=12, channels=channels,
                     image_shape=(12, 12, channels))
    data = real_data_for_run(cfg)
    assert data.image_shape == (12, 12, channels)
    assert data.count("test") == 3 and data.count("train") == 27
    assert data.label_names == ("cats", "dogs") and set(data.labels("train")) == {0, 1}
    # The split comes from what training read, image for image.
    trained = load_dataset(cfg.data, None, 12, channels).x
    assert sum(any(np.array_equal(t, im) for im in trained) for t in data.test) == 3


def test_real_is_converted_to_the_runs_image_shape():
    data = real_data_for_run(run_config(image_shape=(16, 16, 3)), real=str(FIXTURE_DATA))
    assert data.image_shape == (16, 16, 3) and data.test.shape[1:] == (16, 16, 3)
    assert data.count("train") == 2000  # --real: all of it, not the run's --limit


def test_data_that_is_gone_and_builtins_that_cannot_load(tmp_path, monkeypatch):
    import keras

    with pytest.raises(UsageError, match=f"the run's training data {tmp_path / 'x'} is gone; put "
                                         "it back, or pass --real PATH"):
        check_real_source(str(tmp_path / "x"), given=False)
    with pytest.raises(UsageError, match="--real /nope does not exist; pass a built-in"):
        real_data_for_run(run_config(), real="/nope")

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr("ganctl.data.keras_home", lambda: tmp_path)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(UsageError, match=r"cannot load mnist.*or pass --real PATH"):
        real_data_for_run(run_config(data="mnist"))
