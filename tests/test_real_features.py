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


# --- an image folder's splits over its memory-mapped data cache (issue 23) ----------------------

def _photo_folder(root, n=40):
    rng = np.random.default_rng(5)
    root.mkdir()
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (10, 14, 3), np.uint8)).save(root / f"{i:03d}.png")
    return root


def _old_splits(x):
    """The splits as older versions made them: copies, by a boolean mask."""
    n = len(x)
    k = min(HOLDOUT_MAX, max(1, round(0.1 * n)))
    held = np.zeros(n, dtype=bool)
    held[np.random.default_rng(0).permutation(n)[:k]] = True
    return x[~held], x[held]


def test_a_folders_splits_are_read_from_its_cache_not_copied(tmp_path, monkeypatch):
    """Evaluating a folder of 100,000 photos copied both splits out of the memory map (1.1 GiB)
    and more; now a split is an index set over the map and only the rows asked for are read,
    the same rows and digests as before."""
    from ganctl import datacache
    from ganctl.evaluation import real
    from ganctl.fsutil import sha256_hex

    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    folder = _photo_folder(tmp_path / "photos")
    data = load_real_data(str(folder), (8, 8, 3), resize="crop")
    x = load_dataset(str(folder), None, 8, 3, "crop").x
    assert isinstance(x, np.memmap)
    assert isinstance(data.train, real.Split) and isinstance(data.train.x, np.memmap)
    old_train, old_test = _old_splits(np.asarray(x))
    reads = []
    original = datacache.RowReader.read
    monkeypatch.setattr(datacache.RowReader, "read",
                        lambda self, rows, out: reads.append(len(rows)) or original(self, rows, out))
    assert np.array_equal(data.images("train", 5), old_train[sample_indices(len(old_train), 5)])
    assert reads == [5]  # those five rows, nothing else
    assert np.array_equal(data.rows("train", 5, [3, 1]),
                          old_train[sample_indices(len(old_train), 5)[[3, 1]]])
    # Whole splits go a chunk at a time: the digest (cache keys depend on it) is unchanged.
    reads.clear()
    monkeypatch.setattr(real, "CHUNK_ROWS", 7)
    for split, old in (("train", old_train), ("test", old_test)):
        assert data.sha256(split) == sha256_hex(str(old.shape), old.tobytes())
        assert np.array_equal(np.concatenate(list(data.image_chunks(split))), old)
    assert max(reads) <= 7 and sum(reads) == 2 * len(x)
    assert np.array_equal(np.asarray(data.train), old_train) and len(data.test) == len(old_test)


def test_features_of_a_whole_split_are_computed_a_chunk_at_a_time(tmp_path, monkeypatch):
    from ganctl.evaluation import features, real

    class Fake:  # features of each image alone: chunking cannot change them
        short_sha = sha256 = "f" * 64
        feature_dim = 3

        def __init__(self):
            self.calls = []

        def prepare(self, images):
            return images.astype(np.float32) / 255

        def features(self, images):
            self.calls.append(len(images))
            return images.mean(axis=(1, 2)).astype(np.float64), None

    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    data = load_real_data(str(_photo_folder(tmp_path / "photos")), (8, 8, 3), resize="crop")
    monkeypatch.setattr(real, "CHUNK_ROWS", 10)
    fake = Fake()
    got = features.real_features(fake, data, "train", 36)
    assert fake.calls == [10, 10, 10, 6]
    whole = np.asarray(data.train).astype(np.float32) / 255
    assert np.array_equal(got.features, whole.mean(axis=(1, 2)).astype(np.float64))


def test_the_nearest_picture_reads_only_the_training_images_it_shows(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from ganctl import datacache
    from ganctl.evaluation.nearest import nearest_picture, nearest_rows
    from ganctl.evaluation.real import Split
    from ganctl.evaluation.scoring import nearest_training_grid

    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (50, 8, 8, 3), np.uint8)
    mapped = np.memmap(tmp_path / "pixels.u8", np.uint8, "w+", shape=x.shape)
    mapped[:] = x
    mapped.flush()
    mapped = np.memmap(tmp_path / "pixels.u8", np.uint8, "r", shape=x.shape)
    train = np.arange(5, 50)
    data = RealData("d", Split(mapped, train), Split(mapped, np.arange(5)))
    feats = rng.normal(size=(45, 4))
    gen = SimpleNamespace(inputs=SimpleNamespace(gen_features=rng.normal(size=(20, 4))),
                          samples=SimpleNamespace(seeds=np.arange(20),
                                                  images=rng.integers(0, 256, (20, 8, 8, 3),
                                                                      np.uint8)))
    real = SimpleNamespace(data=data, all_train=SimpleNamespace(features=feats, n=45))
    reads = []
    original = datacache.RowReader.read
    monkeypatch.setattr(datacache.RowReader, "read",
                        lambda self, rows, out: reads.append(len(rows)) or original(self, rows, out))
    picture = nearest_training_grid(gen, real, 2)
    found = nearest_rows(gen.inputs.gen_features, feats, gen.samples.seeds, 2)
    # What older versions drew: the same picture from a copy of the whole training split.
    assert np.array_equal(picture, nearest_picture(gen.samples.images, x[train], found))
    assert reads == [len(np.unique(found.train))] and reads[0] <= 16 * 2 < 45
