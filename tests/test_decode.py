"""Decoding image files into squares: crop, pad and stretch on known images, colours, limits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganctl.config import TrainConfig
from ganctl.data import load_dataset
from ganctl.decode import Squaring, decode_file, parse_colour
from ganctl.errors import UsageError

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def _two_to_one(path, red_until: int = 20):
    """A 40x20 PNG: red for x < red_until, blue after."""
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :red_until] = RED
    a[:, red_until:] = BLUE
    Image.fromarray(a).save(path)
    return path


def _decode(path, resize, **kw):
    out = decode_file(path, Squaring(8, 3, resize, **kw))
    assert isinstance(out, np.ndarray) and out.shape == (8, 8, 3)
    return out.astype(int)


def _close(pixels, colour, tol=2):
    return np.abs(pixels - np.array(colour)).max() <= tol


def test_red_left_half_in_each_mode(tmp_path):
    path = _two_to_one(tmp_path / "half.png")
    stretch, crop = _decode(path, "stretch"), _decode(path, "crop")
    # The centred square of a half-red 2:1 image is half red too; so is the whole, squeezed.
    for img in (stretch, crop):
        assert _close(img[:, :3], RED) and _close(img[:, 5:], BLUE)
    pad = _decode(path, "pad")
    # Letterboxed: the image fills rows 2..5 (8x4), red left, blue right; the bands above and
    # below take the mean of its top and bottom rows: half red, half blue.
    assert _close(pad[2:6, :3], RED) and _close(pad[2:6, 5:], BLUE)
    for band in (pad[:2], pad[6:]):
        assert (band == (128, 0, 128)).all()
    green = _decode(path, "pad", pad_colour=GREEN)
    assert (green[:2] == GREEN).all() and (green[6:] == GREEN).all()
    assert _close(green[2:6, :3], RED)


def test_crop_drops_the_sides_and_stretch_keeps_them(tmp_path):
    path = _two_to_one(tmp_path / "quarter.png", red_until=10)  # red left quarter
    crop, stretch = _decode(path, "crop"), _decode(path, "stretch")
    assert _close(crop, BLUE)  # the centred 20x20 square starts where the red ends
    assert _close(stretch[:, :1], RED) and _close(stretch[:, 3:], BLUE)


def test_portrait_pads_left_and_right_and_grayscale_pads_in_luma(tmp_path):
    a = np.zeros((40, 20, 3), np.uint8)
    a[:] = BLUE
    Image.fromarray(a).save(tmp_path / "tall.png")
    rgb = decode_file(tmp_path / "tall.png", Squaring(8, 3, "pad", RED))
    assert (rgb[:, :2] == RED).all() and (rgb[:, 6:] == RED).all() and _close(rgb[:, 2:6], BLUE)
    gray = decode_file(tmp_path / "tall.png", Squaring(8, 1, "pad", RED))
    assert gray.shape == (8, 8, 1) and (gray[:, :2] == 76).all()  # 0.299 * 255


def test_too_large_and_unreadable_files_are_reasons_not_errors(tmp_path):
    path = _two_to_one(tmp_path / "big.png")
    assert decode_file(path, Squaring(8, 3, "crop", max_pixels=799)) == "too large"
    assert decode_file(path, Squaring(8, 3, "crop", max_pixels=800)).shape == (8, 8, 3)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG no")
    assert decode_file(tmp_path / "bad.png", Squaring(8)) == "unreadable"


def test_parse_colour():
    assert parse_colour("0,128,255") == (0, 128, 255)
    assert parse_colour("#ff0000") == RED and parse_colour("black") == (0, 0, 0)
    with pytest.raises(ValueError):
        parse_colour("0,0,300")


def test_resize_is_a_setting_and_old_runs_stretch():
    assert TrainConfig().resize == "crop"  # new runs crop
    old = {k: v for k, v in TrainConfig().to_json().items() if k != "resize"}
    assert TrainConfig.from_json(old).resize == "stretch"  # runs from before --resize
    cfg = TrainConfig(resize="pad", pad_colour="#00ff00")
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(UsageError, match="--pad-colour is for --resize pad"):
        TrainConfig(pad_colour="red").replace()
    with pytest.raises(UsageError, match="not a colour"):
        TrainConfig(resize="pad", pad_colour="nope").replace()
    with pytest.raises(UsageError, match="unknown --resize"):
        TrainConfig(resize="squash").replace()


def test_folder_and_evaluation_data_follow_the_runs_choice(tmp_path):
    from ganctl.evaluation.real import real_data_for_run

    for i in range(4):
        _two_to_one(tmp_path / f"{i}.png", red_until=10)
    crop = load_dataset(str(tmp_path), image_size=8, channels=3, resize="crop")
    stretch = load_dataset(str(tmp_path), image_size=8, channels=3)  # the loader's default
    assert _close(crop.x.astype(int), BLUE) and _close(stretch.x[:, :, :1].astype(int), RED)
    for resize, want in (("crop", crop.x), ("stretch", stretch.x)):
        cfg = TrainConfig(data=str(tmp_path), resize=resize, image_shape=(8, 8, 3))
        real = real_data_for_run(cfg)
        got = np.concatenate([real.train, real.test])
        assert sorted(img.tobytes() for img in got) == sorted(img.tobytes() for img in want)
