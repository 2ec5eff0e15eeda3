"""Data loading: built-in names, IDX folders, .npz files, image folders, conversion and errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from PIL import Image

from conftest import FIXTURE_DATA
from ganctl.data import load_dataset, read_idx, scale_to_signed_unit
from ganctl.errors import UsageError
from ganctl.images import to_uint8


def test_idx_folder_loads_fixture_with_labels():
    ds = load_dataset(str(FIXTURE_DATA))
    assert ds.x.shape == (2000, 28, 28, 1) and ds.x.dtype == np.uint8
    assert ds.y is not None and ds.y.shape == (2000,) and set(np.unique(ds.y)) <= set(range(10))
    # Fashion-MNIST's mean pixel is about 0.286 on a 0..1 scale
    assert 0.25 < ds.x.mean() / 255 < 0.32


def test_limit_takes_first_images():
    full = load_dataset(str(FIXTURE_DATA))
    ds = load_dataset(str(FIXTURE_DATA), limit=100)
    assert len(ds.x) == 100 and np.array_equal(ds.x, full.x[:100])
    assert np.array_equal(ds.y, full.y[:100])


def test_limit_warns_when_the_first_images_hold_fewer_classes(tmp_path):
    for i, cls in enumerate(("ants", "bees", "cats")):
        (tmp_path / cls).mkdir()
        for j in range(4):
            Image.fromarray(np.full((8, 8), 60 * i + j, np.uint8)).save(tmp_path / cls / f"{j}.png")
    ds = load_dataset(str(tmp_path), limit=6)
    assert list(ds.y) == [0, 0, 0, 0, 1, 1]  # the first 6: path order, class after class
    assert ds.warnings == ["--limit 6 trains on the first 6 images, which hold 2 of the data's 3 "
                           "classes (ants, bees); an image folder is read class sub-folder after "
                           "class sub-folder. Leave out --limit to learn every class"]
    assert load_dataset(str(tmp_path), limit=9).warnings == []  # every class is in the first 9
    assert load_dataset(str(FIXTURE_DATA), limit=100).warnings == []  # shuffled IDX files


def test_scale_to_signed_unit_range():
    x = np.array([0, 127, 128, 255], np.uint8)
    y = scale_to_signed_unit(x)
    assert y.dtype == np.float32 and y[0] == -1.0 and y[-1] == 1.0
    assert abs(y[1]) < 0.01 and abs(y[2]) < 0.01
    every = np.arange(256, dtype=np.uint8)
    assert np.array_equal(to_uint8(scale_to_signed_unit(every)), every)  # the round trip


def test_builtin_through_keras_cache(keras_cache):
    ds = load_dataset("fashion-mnist", limit=50)
    assert ds.x.shape == (50, 28, 28, 1)
    assert np.array_equal(ds.x, load_dataset(str(FIXTURE_DATA), limit=50).x)


def test_builtin_offline_error_names_files_and_folder(tmp_path, monkeypatch):
    import keras

    def offline():  # what Keras raises without a network: a bare Exception
        raise Exception("URL fetch failure on https://storage.googleapis.com/x.gz: None -- "
                        "[Errno -2] Name or service not known")

    monkeypatch.setattr("ganctl.data.keras_home", lambda: tmp_path)
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(UsageError) as err:
        load_dataset("fashion-mnist")
    msg = str(err.value)
    assert msg.startswith("cannot load fashion-mnist (download failed: [Errno -2] Name or service "
                          "not known); offline? ")
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path / "datasets" / "fashion-mnist") in msg and "--data" in msg
    assert "\n" not in msg

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(UsageError) as err:
        load_dataset("mnist")
    msg = str(err.value)
    assert f"put mnist.npz in {tmp_path / 'datasets'}, or pass --data PATH to a folder of " \
           "MNIST's four IDX files (train-images-idx3-ubyte.gz" in msg


def _write_idx(path, raw: bytes):
    with gzip.open(path, "wb") as fh:
        fh.write(raw)


def test_idx_bad_magic_and_truncated(tmp_path):
    bad = tmp_path / "bad.gz"
    _write_idx(bad, b"\x00\x00\x09\x03" + b"\x00" * 20)
    with pytest.raises(UsageError, match="magic"):
        read_idx(bad)
    truncated = tmp_path / "short.gz"
    header = bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    _write_idx(truncated, header + b"\x00" * 100)
    with pytest.raises(UsageError, match="truncated"):
        read_idx(truncated)
    garbage = tmp_path / "garbage.gz"
    garbage.write_bytes(b"not gzip at all")
    with pytest.raises(UsageError, match="cannot read IDX"):
        read_idx(garbage)


def test_npz_uint8_float_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (10, 16, 16), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(10))
    ds = load_dataset(str(tmp_path / "a.npz"))
    assert ds.x.shape == (10, 16, 16, 1) and np.array_equal(ds.x[..., 0], x)
    assert np.array_equal(ds.y, np.arange(10))
    # floats in [0, 1] and in [-1, 1] both map back to the same bytes
    np.savez(tmp_path / "b.npz", x=x.astype(np.float32) / 255.0)
    np.savez(tmp_path / "c.npz", x=x.astype(np.float32) / 127.5 - 1.0)
    for name in ("b.npz", "c.npz"):
        got = load_dataset(str(tmp_path / name)).x[..., 0].astype(int)
        assert np.abs(got - x.astype(int)).max() <= 1


def test_npz_without_x_is_refused(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((3, 8, 8)))
    with pytest.raises(UsageError, match="no 'x' array.*images"):
        load_dataset(str(tmp_path / "d.npz"))


def test_npz_in_keras_layout_reads_x_train_and_its_test_split(tmp_path):
    from ganctl.data import load_test_split

    rng = np.random.default_rng(0)
    x_train, x_test = (rng.integers(0, 256, (n, 8, 8), dtype=np.uint8) for n in (12, 5))
    path = tmp_path / "mnist.npz"  # as keras.datasets.mnist caches it
    np.savez(path, x_train=x_train, y_train=np.arange(12) % 3, x_test=x_test,
             y_test=np.arange(5) % 3)
    ds = load_dataset(str(path))
    assert np.array_equal(ds.x[..., 0], x_train) and list(ds.y) == list(np.arange(12) % 3)
    test = load_test_split(str(path))
    assert np.array_equal(test.x[..., 0], x_test) and len(test.y) == 5


def _png(path, size, mode="L", value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode == "L" else (value, 0, 255 - value)
    Image.new(mode, size, colour).save(path)


def test_image_folder_classes_mixed_sizes_and_bad_files(tmp_path):
    _png(tmp_path / "cats" / "a.png", (40, 30))
    _png(tmp_path / "cats" / "b.jpg", (28, 28), mode="RGB")
    _png(tmp_path / "dogs" / "nested" / "c.bmp", (64, 64), mode="RGB")
    (tmp_path / "dogs" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "dogs" / "notes.txt").write_text("hello")
    ds = load_dataset(str(tmp_path))
    assert ds.x.shape == (3, 28, 28, 1)
    assert ds.label_names == ("cats", "dogs") and list(ds.y) == [0, 0, 1]
    assert any("skipped 1 unreadable" in w for w in ds.warnings)
    assert any("1 non-image" in w for w in ds.warnings)
    rgb = load_dataset(str(tmp_path), channels=3, image_size=32)
    assert rgb.x.shape == (3, 32, 32, 3)


def test_image_folder_with_loose_images_has_no_labels_and_says_why(tmp_path):
    _png(tmp_path / "cats" / "a.png", (28, 28))
    _png(tmp_path / "dogs" / "b.png", (28, 28))
    _png(tmp_path / "stray.png", (28, 28))
    ds = load_dataset(str(tmp_path))
    assert ds.y is None and ds.label_names == () and ds.loose_images == 1
    assert f"1 of 3 images lie directly in {tmp_path}, outside its class sub-folders" in ds.warnings[0]
    (tmp_path / "stray.png").unlink()
    ds = load_dataset(str(tmp_path))
    assert ds.loose_images == 0 and ds.warnings == [] and list(ds.y) == [0, 1]


def test_image_folder_composites_transparency_onto_white(tmp_path):
    # Left half opaque red, right half fully transparent but holding green; a palette image with a
    # transparent index; a half-transparent grey LA image. A viewer shows white where alpha is 0.
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (255, 0, 0, 255)
    rgba[:, 4:] = (0, 255, 0, 0)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a_rgba.png")
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 255, 0, 0, 0] + [0] * 762)
    palette.paste(0, (0, 0, 4, 8))
    palette.save(tmp_path / "b_palette.png", transparency=1)
    la = np.zeros((8, 8, 2), np.uint8)
    la[..., 1] = 128
    Image.fromarray(la, "LA").save(tmp_path / "c_la.png")
    ds = load_dataset(str(tmp_path), channels=3, image_size=8)
    x = ds.x.astype(int)
    assert (x[0, :, :3] == (255, 0, 0)).all() and (x[0, :, 5:] == 255).all()
    assert (x[1, :, :3] == (0, 0, 255)).all() and (x[1, :, 5:] == 255).all()
    assert np.abs(x[2] - 127).max() <= 1  # black at alpha 128 over white
    gray = load_dataset(str(tmp_path), channels=1, image_size=8).x
    assert (gray[0, :, 5:] == 255).all()


def test_image_folder_too_big_for_memory_without_the_cache_is_refused_before_decoding(
        tmp_path, monkeypatch):
    import ganctl.data as data

    for i in range(3):
        _png(tmp_path / "a" / f"{i}.png", (8, 8), mode="RGB")
    meminfo = tmp_path / "meminfo"
    # 3 images at 64x64x3 need 2 * 36,864 bytes; 64 kB available is too little, 1 MB enough.
    meminfo.write_text("MemTotal:       1000 kB\nMemAvailable:     64 kB\n")
    monkeypatch.setattr(data, "MEMINFO", meminfo)
    with pytest.raises(UsageError, match=r"3 images of .* at 64×64×3 need about 0\.0 GiB of "
                                         r"memory, more than the 64\.0 KiB of memory available; "
                                         r"drop --no-data-cache .* smaller --image-size"):
        load_dataset(str(tmp_path / "a"), channels=3, image_size=64, use_cache=False)
    # With the data cache it loads, to be streamed from the cache.
    ds = load_dataset(str(tmp_path / "a"), channels=3, image_size=64)
    assert ds.x.shape == (3, 64, 64, 3) and data.choose_holding(ds.x, None).stream
    meminfo.write_text("MemAvailable:   1024 kB\n")
    assert not data.choose_holding(ds.x, None).stream
    assert load_dataset(str(tmp_path / "a"), channels=3, image_size=64,
                        use_cache=False).x.shape == (3, 64, 64, 3)
    monkeypatch.setattr(data, "MEMINFO", tmp_path / "missing")  # unknown: no check
    assert data.available_memory() is None
    assert load_dataset(str(tmp_path / "a"), channels=3, image_size=64,
                        use_cache=False).x.shape == (3, 64, 64, 3)


def test_image_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "fake.png").write_bytes(b"garbage")
    with pytest.raises(UsageError, match="no usable image"):
        load_dataset(str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no usable image"):
        load_dataset(str(tmp_path / "empty"))


def test_missing_path_and_wrong_file_type(tmp_path):
    with pytest.raises(UsageError, match="neither a built-in dataset"):
        load_dataset(str(tmp_path / "nope"))
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(UsageError, match=r"\.npz"):
        load_dataset(str(tmp_path / "x.csv"))


def test_channel_and_size_conversion_of_arrays():
    ds = load_dataset(str(FIXTURE_DATA), limit=4, channels=3, image_size=32)
    assert ds.x.shape == (4, 32, 32, 3)
    assert np.array_equal(ds.x[..., 0], ds.x[..., 1])
