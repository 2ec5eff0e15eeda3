"""Tests for ganctl.images: byte mapping, grid geometry, and files read back."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from ganctl import images
from ganctl.errors import UsageError
from ganctl.images import (
    gif_frame_duration_ms,
    make_grid,
    read_frames,
    read_image,
    to_uint8,
    write_animation,
    write_gif,
    write_png,
    write_video,
)


def numbered_tiles(n: int, h: int = 4, w: int = 5, c: int = 1) -> np.ndarray:
    """Tile i is filled with the value 10 + i, so it can be found in a grid."""
    return np.stack([np.full((h, w, c), 10 + i, dtype=np.uint8) for i in range(n)])


def distinct_frames(n: int, h: int = 6, w: int = 8) -> list[np.ndarray]:
    return [np.full((h, w), 20 * i, dtype=np.uint8) for i in range(n)]


# -- to_uint8 ------------------------------------------------------------------------

def test_to_uint8_endpoints_middle_and_clipping():
    x = np.array([-1.0, 1.0, 0.0, -5.0, 7.0, -1.0 + 1 / 127.5, np.nan]).reshape(1, 1, 7, 1)
    assert to_uint8(x).ravel().tolist() == [0, 255, 128, 0, 255, 1, 0]
    assert to_uint8(x).dtype == np.uint8
    assert to_uint8(x).shape == (1, 1, 7, 1)


def test_to_uint8_rounds_to_nearest_level():
    levels = np.arange(256)
    x = levels / 127.5 - 1.0  # each exact level
    assert np.array_equal(to_uint8(x), levels.astype(np.uint8))
    nudged = x + 0.49 / 127.5  # less than half a level up still rounds down
    assert np.array_equal(to_uint8(nudged), levels.astype(np.uint8))


# -- make_grid -----------------------------------------------------------------------

@pytest.mark.parametrize(
    "n, rows, border, scale, expected_hw",
    [
        (64, None, 1, 1, (8 * 4 + 9, 8 * 5 + 9)),  # auto 8x8
        (10, None, 1, 1, (3 * 4 + 4, 4 * 5 + 5)),  # auto 3 rows x 4 cols
        (10, 2, 1, 1, (2 * 4 + 3, 5 * 5 + 6)),
        (10, 2, 0, 1, (2 * 4, 5 * 5)),
        (10, 2, 3, 2, (2 * 8 + 3 * 3, 5 * 10 + 6 * 3)),
        (1, None, 2, 3, (12 + 4, 15 + 4)),
        (7, 7, 1, 1, (7 * 4 + 8, 1 * 5 + 2)),
    ],
)
def test_grid_size_formula(n, rows, border, scale, expected_hw):
    grid = make_grid(numbered_tiles(n), rows=rows, border=border, scale=scale)
    assert grid.shape == expected_hw
    assert grid.dtype == np.uint8


def test_grid_of_colour_tiles_is_rgb():
    grid = make_grid(numbered_tiles(6, c=3), rows=2, border=1)
    assert grid.shape == (2 * 4 + 3, 3 * 5 + 4, 3)


def test_grid_places_tiles_row_major_with_borders_and_blanks():
    n, h, w, border, scale = 5, 4, 5, 2, 3
    grid = make_grid(numbered_tiles(n, h, w), rows=2, border=border, scale=scale,
                     border_value=200)
    th, tw = h * scale, w * scale
    for i in range(n):
        r, k = divmod(i, 3)
        y, x = border + r * (th + border), border + k * (tw + border)
        assert np.all(grid[y:y + th, x:x + tw] == 10 + i), f"tile {i}"
    # the sixth cell (row 1, col 2) is blank, filled like the border
    y, x = border + (th + border), border + 2 * (tw + border)
    assert np.all(grid[y:y + th, x:x + tw] == 200)
    assert np.all(grid[:border] == 200) and np.all(grid[:, :border] == 200)
    assert np.all(grid[border + th:border + th + border] == 200)  # line between rows


def test_grid_scale_is_nearest_neighbour():
    tile = np.arange(6, dtype=np.uint8).reshape(1, 2, 3, 1)
    grid = make_grid(tile, border=0, scale=2)
    expected = np.array([[0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2],
                         [3, 3, 4, 4, 5, 5], [3, 3, 4, 4, 5, 5]], dtype=np.uint8)
    assert np.array_equal(grid, expected)


@pytest.mark.parametrize("kwargs", [{"rows": 0}, {"scale": 0}, {"border": -1}, {"rows": 2.5}])
def test_grid_rejects_bad_sizes(kwargs):
    with pytest.raises(UsageError):
        make_grid(numbered_tiles(4), **kwargs)


def test_grid_rejects_float_images():
    with pytest.raises(ValueError, match="to_uint8"):
        make_grid(np.zeros((2, 4, 4, 1), dtype=np.float32))


# -- files ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(9, 11), (9, 11, 3)])
def test_png_round_trip_is_exact(tmp_path, shape):
    array = np.random.RandomState(0).randint(0, 256, shape).astype(np.uint8)
    path = tmp_path / "sub" / "grid.png"
    write_png(path, array)
    assert np.array_equal(read_image(path), array)
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]  # no temp left behind


def test_png_write_failure_keeps_old_file(tmp_path):
    path = tmp_path / "grid.png"
    old = np.full((3, 3), 7, dtype=np.uint8)
    write_png(path, old)
    with pytest.raises(ValueError):
        write_png(path, np.zeros((3, 3, 2), dtype=np.uint8))
    assert np.array_equal(read_image(path), old)


@pytest.mark.parametrize("fps, duration", [(10, 100), (25, 40), (24, 40), (30, 30), (2, 500)])
def test_gif_frames_durations_and_loop(tmp_path, fps, duration):
    path = tmp_path / "walk.gif"
    write_gif(path, distinct_frames(7), fps=fps)
    assert gif_frame_duration_ms(fps) == duration
    with Image.open(path) as im:
        assert im.n_frames == 7
        assert im.info["loop"] == 0  # NETSCAPE extension present: repeat forever
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
    assert durations == [duration] * 7


def test_gif_pixels_round_trip(tmp_path):
    frames = distinct_frames(4)
    rgb = np.random.RandomState(1).randint(0, 4, (4, 6, 8, 3)).astype(np.uint8) * 60
    write_gif(tmp_path / "gray.gif", frames, fps=10)
    write_gif(tmp_path / "rgb.gif", rgb, fps=10)
    back = read_frames(tmp_path / "gray.gif")
    assert back.shape == (4, 6, 8, 3)
    assert np.array_equal(back[..., 0], np.stack(frames))
    assert np.array_equal(read_frames(tmp_path / "rgb.gif"), rgb)  # few colours: lossless


def test_gif_speed_is_capped_where_browsers_would_slow_it(tmp_path):
    assert gif_frame_duration_ms(100) == 20
    with pytest.raises(UsageError):
        gif_frame_duration_ms(0)


def test_write_animation_dispatches_on_suffix(tmp_path):
    write_animation(tmp_path / "a.GIF", distinct_frames(3), fps=5)
    assert read_frames(tmp_path / "a.GIF").shape[0] == 3


@pytest.mark.parametrize("name", ["walk.avi", "walk.png", "walk"])
def test_write_animation_unknown_extension(tmp_path, name):
    with pytest.raises(UsageError, match=r"\.gif or \.mp4"):
        write_animation(tmp_path / name, distinct_frames(3), fps=5)
    assert list(tmp_path.iterdir()) == []


def test_mp4_without_ffmpeg_plugin_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # makes the import fail
    assert not images.has_ffmpeg_plugin()
    for write in (write_video, write_animation):
        with pytest.raises(UsageError) as info:
            write(tmp_path / "walk.mp4", distinct_frames(3), fps=5)
        assert str(info.value) == (
            "writing .mp4 needs imageio's ffmpeg plugin: "
            "pip install 'ganctl[video]' (or imageio-ffmpeg)"
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not images.has_ffmpeg_plugin(), reason="imageio-ffmpeg not installed")
def test_mp4_frames_read_back(tmp_path):
    frames = [np.full((7, 9), 40 * i, dtype=np.uint8) for i in range(5)]  # odd sizes
    path = tmp_path / "walk.mp4"
    write_video(path, frames, fps=12)
    back = read_frames(path)
    assert back.shape == (5, 8, 10, 3)  # padded to even sizes for H.264
    means = back[:, :7, :9].reshape(5, -1).mean(axis=1)
    assert np.allclose(means, [40 * i for i in range(5)], atol=4)


def test_frames_must_share_one_shape(tmp_path):
    with pytest.raises(ValueError, match="same shape"):
        write_gif(tmp_path / "x.gif", [np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8)],
                  fps=5)


def test_gif_identical_frames_keep_total_time(tmp_path):
    # Pillow merges repeated frames; what must survive is how long the loop plays.
    frames = [np.zeros((4, 4), np.uint8)] * 3 + [np.full((4, 4), 90, np.uint8)]
    write_gif(tmp_path / "x.gif", frames, fps=10)
    with Image.open(tmp_path / "x.gif") as im:
        total = 0
        for i in range(im.n_frames):
            im.seek(i)
            total += im.info["duration"]
    assert total == 4 * 100
