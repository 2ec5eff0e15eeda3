"""Tests for `ganctl interpolate` and ganctl.generation.walks: keyframes, looping walks, grids, errors."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_one_line_error
from ganctl.errors import UsageError
from ganctl.generation.latents import latents_from_seeds
from ganctl.generation.walks import plan_walks, walk_latents
from ganctl.images import read_frames, read_image


def gray_frames(path) -> np.ndarray:
    frames = read_frames(path)
    assert (frames == frames[..., :1]).all()  # grayscale stays grayscale
    return frames[..., 0].astype(int)


@pytest.fixture(scope="module")
def seed_images(tiny_run, tmp_path_factory):
    """`sample`'s pictures of seeds 0-11 and 3, 17 (scale 1), to compare frames with."""
    from ganctl.cli import main

    folder = tmp_path_factory.mktemp("seeds")
    with pytest.raises(SystemExit) as done:
        main(["sample", "--ckpt", str(tiny_run), "--seeds", "0-11,17", "--out", f"{folder}/"])
    assert done.value.code == 0
    return {s: read_image(folder / f"seed{s:04d}.png").astype(int) for s in [*range(12), 17]}


# --- the core: keyframes and latent paths --------------------------------------------------------

def test_keyframe_seeds():
    assert plan_walks(5, 3, 4).key_seeds.tolist() == [[5, 6, 7]]
    grid = plan_walks(10, 2, 4, grid=(2, 3))
    assert grid.key_seeds.tolist() == [[10, 11], [12, 13], [14, 15], [16, 17], [18, 19], [20, 21]]
    assert plan_walks(0, 4, 4, between=(3, 17)).key_seeds.tolist() == [[3, 17]]
    assert plan_walks(0, 4, 6).total_frames == 24


def test_walk_passes_through_keyframes_and_loops():
    plan = plan_walks(0, 3, 5)
    path = walk_latents(plan, 16)[0]
    keys = latents_from_seeds([0, 1, 2], 16)
    assert path.shape == (15, 16)
    assert np.array_equal(path[::5], keys)  # frame i*F is keyframe i, exactly
    # the step from the last frame back to the first is an ordinary step of the last segment:
    # slerp turns the direction by the same angle every frame
    unit = path / np.linalg.norm(path, axis=1, keepdims=True)
    angles = np.arccos(np.clip(np.sum(unit * np.roll(unit, -1, axis=0), axis=1), -1, 1))
    assert angles[-1] == pytest.approx(angles[-2], rel=1e-3)
    assert angles[-1] > 0.1


def test_slerp_keeps_norms_and_linear_does_not():
    dim = 100
    keys = latents_from_seeds([0, 1, 2, 3], dim)
    key_norms = np.linalg.norm(keys, axis=1)
    low = np.minimum(key_norms, np.roll(key_norms, -1))[:, None]
    high = np.maximum(key_norms, np.roll(key_norms, -1))[:, None]
    norms = {}
    for method in ("slerp", "linear"):
        plan = plan_walks(0, 4, 8, method=method)
        norms[method] = np.linalg.norm(walk_latents(plan, dim)[0], axis=1).reshape(4, 8)
    # slerp: the length moves linearly between the two keyframes' lengths
    slerp = norms["slerp"]
    assert (slerp >= low * (1 - 1e-5)).all() and (slerp <= high * (1 + 1e-5)).all()
    assert slerp[:, 4] == pytest.approx((low + high)[:, 0] / 2, rel=1e-5)
    # a straight line between near-orthogonal latents cuts through the low-density middle
    assert (norms["linear"][:, 4] < 0.85 * slerp[:, 4]).all()


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(points=1), "at least 2 keyframes"),
    (dict(frames=0), "--frames must be a positive whole number, got 0"),
    (dict(method="cubic"), "unknown --method 'cubic'"),
    (dict(between=(3, 3)), "names the same seed twice"),
    (dict(between=(3, 4), grid=(2, 2)), "cannot be combined with --grid"),
    (dict(seed=2**32 - 2), "past the last seed"),
    (dict(frames=100_000, grid=(2, 2)), "use fewer"),
])
def test_plan_errors(kwargs, fragment):
    options = dict(seed=0, points=4, frames=4) | kwargs
    with pytest.raises(UsageError, match=fragment):
        plan_walks(**options)


# --- the command -----------------------------------------------------------------------------------

def test_gif_has_k_times_f_frames_through_the_seeds_and_loops(cli, tiny_run, tmp_path,
                                                              seed_images):
    out = tmp_path / "walk.gif"
    result = cli("interpolate", "--ckpt", tiny_run, "--points", 3, "--frames", 4, "--seed", 2,
                 "--scale", 1, "--out", out)
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert len(line.splitlines()) == 1
    assert str(out) in line and "12 frames" in line and "ckpt-e0002-" in line
    assert "2 -> 3 -> 4 -> 2" in line
    frames = gray_frames(out)
    assert frames.shape == (12, 28, 28)
    # keyframes are exactly the pictures `sample` draws for those seeds
    for i, seed in enumerate((2, 3, 4)):
        assert np.array_equal(frames[4 * i], seed_images[seed])
    # no repeated frame at the seam, and the last frame leads back into the first: it is as
    # close to frame 0 as its neighbours in the last segment are to each other
    step = lambda a, b: np.abs(frames[a] - frames[b]).mean()  # noqa: E731
    assert step(-1, 0) > 0
    assert step(-1, 0) <= 2 * max(step(i, i + 1) for i in range(8, 11))
    assert step(-1, 0) < step(-1, 4)


def test_identical_calls_give_identical_gifs(cli, tiny_run, tmp_path):
    for name in ("a.gif", "b.gif"):
        result = cli("interpolate", "--ckpt", tiny_run, "--frames", 3, "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()
    frames = read_frames(tmp_path / "a.gif")
    assert frames.shape == (12, 112, 112, 3)  # defaults: 4 points, --scale 4


def test_linear_differs_from_slerp_between_keyframes(cli, tiny_run, tmp_path):
    for method in ("slerp", "linear"):
        result = cli("interpolate", "--ckpt", tiny_run, "--points", 2, "--frames", 4, "--scale", 1,
                     "--method", method, "--out", tmp_path / f"{method}.gif")
        assert result.exit_code == 0, result.output
    slerp, linear = gray_frames(tmp_path / "slerp.gif"), gray_frames(tmp_path / "linear.gif")
    assert slerp.shape == linear.shape == (8, 28, 28)
    assert np.array_equal(slerp[0], linear[0]) and np.array_equal(slerp[4], linear[4])
    assert not np.array_equal(slerp[2], linear[2])


def test_between_goes_there_and_back(cli, tiny_run, tmp_path, seed_images):
    out = tmp_path / "pair.gif"
    result = cli("interpolate", "--ckpt", tiny_run, "--between", "3,17", "--frames", 5,
                 "--scale", 1, "--out", out)
    assert result.exit_code == 0, result.output
    assert "3 -> 17 -> 3" in result.stdout and "10 frames" in result.stdout
    frames = gray_frames(out)
    assert frames.shape == (10, 28, 28)
    assert np.array_equal(frames[0], seed_images[3])
    assert np.array_equal(frames[5], seed_images[17])


def test_grid_of_walks(cli, tiny_run, tmp_path, seed_images):
    out = tmp_path / "grid.gif"
    result = cli("interpolate", "--ckpt", tiny_run, "--grid", "2x3", "--points", 2, "--frames", 2,
                 "--scale", 2, "--out", out)
    assert result.exit_code == 0, result.output
    assert "6 walks (2x3)" in result.stdout and "seeds 0-11" in result.stdout
    frames = gray_frames(out)
    side = 56
    assert frames.shape == (4, 2 * side + 3, 3 * side + 4)
    for w in range(6):  # walk w starts at seed 2w, then passes seed 2w + 1
        r, c = divmod(w, 3)
        y, x = 1 + r * (side + 1), 1 + c * (side + 1)
        for frame, seed in ((0, 2 * w), (2, 2 * w + 1)):
            assert np.array_equal(frames[frame, y:y + side:2, x:x + side:2], seed_images[seed])


def test_mp4_needs_the_ffmpeg_plugin(cli, tiny_run, tmp_path, monkeypatch):
    monkeypatch.setattr("ganctl.generation.walks.has_ffmpeg_plugin", lambda: False)
    result = cli("interpolate", "--ckpt", tiny_run, "--out", tmp_path / "walk.mp4")
    assert_one_line_error(result, 2, "pip install")
    assert not (tmp_path / "walk.mp4").exists()


def test_mp4(cli, tiny_run, tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / "walk.mp4"
    result = cli("interpolate", "--ckpt", tiny_run, "--points", 2, "--frames", 3, "--out", out)
    assert result.exit_code == 0, result.output
    assert read_frames(out).shape[0] == 6


@pytest.mark.parametrize("args, code, fragment", [
    (["--ckpt", "nope"], 2, "no run 'nope'"),
    (["--ckpt", "{tmp}/empty"], 1, "no checkpoints yet"),
    (["--points", "1"], 2, "'--points'"),
    (["--frames", "0"], 2, "'--frames'"),
    (["--method", "cubic"], 2, "unknown --method 'cubic'"),
    (["--grid", "3by3"], 2, "bad --grid '3by3'"),
    (["--grid", "0x3"], 2, "at least 1"),
    (["--between", "3"], 2, "expected two seeds A,B"),
    (["--between", "3,4", "--seed", "2"], 2, "leave out --seed and --points"),
    (["--between", "3,4", "--grid", "2x2"], 2, "cannot be combined with --grid"),
    (["--seed", "-1"], 2, "'--seed'"),
    (["--fps", "0"], 2, "--fps must be a positive number, got 0"),
    (["--scale", "0"], 2, "'--scale'"),
    (["--out", "{tmp}/walk.avi"], 2, "use a .gif or .mp4 file name"),
    (["--out", "{tmp}/walk"], 2, "use a .gif or .mp4 file name"),
    (["--out", "{tmp}/blocker/walk.gif"], 1, "blocker is a file, not a folder"),
])
def test_errors(cli, tiny_run, tmp_path, args, code, fragment):
    import shutil

    (tmp_path / "blocker").write_text("a file where a folder should be")
    (tmp_path / "empty").mkdir()
    shutil.copy(tiny_run / "config.json", tmp_path / "empty" / "config.json")
    args = [a.format(tmp=tmp_path) for a in args]
    if "--ckpt" not in args:
        args = ["--ckpt", str(tiny_run), *args]
    assert_one_line_error(cli("interpolate", *args), code, fragment)
    assert not list(tmp_path.glob("walk*"))


def test_help_shows_defaults_and_examples(cli):
    result = cli("interpolate", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Examples" in text and "--between" in text and "[default: slerp]" in text
