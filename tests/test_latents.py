"""Tests for ganctl.generation.latents: seed parsing, reproducible latents, slerp/lerp and walks."""

from __future__ import annotations

import numpy as np
import pytest

from ganctl.errors import UsageError
from ganctl.generation.latents import (
    latents_from_seeds,
    lerp,
    parse_grid,
    parse_pair,
    parse_seeds,
    slerp,
    walk,
)


@pytest.mark.parametrize(
    "text, seeds",
    [
        ("0-63", list(range(64))),
        ("1,5,9", [1, 5, 9]),
        ("1,5,9,20-23", [1, 5, 9, 20, 21, 22, 23]),
        (" 1 , 5 ,9, 20 - 23 ", [1, 5, 9, 20, 21, 22, 23]),
        ("7", [7]),
        ("3-3", [3]),
        ("9,2", [9, 2]),  # order is kept
        ("4294967295", [2**32 - 1]),
    ],
)
def test_parse_seeds_good(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("9-2", "a range must go up (use 2-9)"),
        ("abc", "expected seeds like 0-63"),
        ("-3", "not negative"),
        ("1,-3", "not negative"),
        ("5--3", "not negative"),
        ("", "empty --seeds"),
        ("   ", "empty --seeds"),
        ("1,,2", "empty item"),
        ("1,2,", "empty item"),
        ("1.5", "not a seed or a range"),
        ("1-2-3", "not a seed or a range"),
        ("4294967296", "below 2**32"),
        ("1-5,3", "seed 3 is listed twice"),
        ("0-99999999", "more than"),
    ],
)
def test_parse_seeds_bad(text, fragment):
    with pytest.raises(UsageError) as info:
        parse_seeds(text)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_parse_seeds_message_names_the_option():
    with pytest.raises(UsageError, match=r"^bad --seeds '9-2': a range must go up \(use 2-9\)$"):
        parse_seeds("9-2")
    with pytest.raises(UsageError, match="^bad --between "):
        parse_seeds("x", option="--between")


def test_latents_from_seeds_shape_dtype_and_source():
    z = latents_from_seeds([3, 11], 100)
    assert z.shape == (2, 100) and z.dtype == np.float32
    expected = np.random.RandomState(11).standard_normal(100).astype(np.float32)
    assert np.array_equal(z[1], expected)


def test_a_seed_gives_the_same_latent_alone_or_in_a_batch():
    alone = latents_from_seeds([7], 100)[0]
    batch = latents_from_seeds(parse_seeds("0-9"), 100)
    assert np.array_equal(alone, batch[7])
    assert np.array_equal(alone, latents_from_seeds([9, 7, 2], 100)[1])
    assert not np.array_equal(batch[6], batch[7])


def test_latent_stream_is_pinned():
    # RandomState's normal stream is frozen by numpy; these numbers never change.
    z = latents_from_seeds([0], 3)[0]
    assert np.allclose(z, [1.7640524, 0.4001572, 0.978738], atol=1e-6)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_latents_reject_bad_size(bad):
    with pytest.raises(UsageError):
        latents_from_seeds([1], bad)


def test_latents_reject_bad_seed():
    with pytest.raises(UsageError):
        latents_from_seeds([-1], 4)


# -- interpolation -------------------------------------------------------------------

def gaussian_pair(dim: int = 100) -> tuple[np.ndarray, np.ndarray]:
    return tuple(latents_from_seeds([1, 2], dim))


def test_slerp_and_lerp_hit_the_endpoints():
    a, b = gaussian_pair()
    for interp in (slerp, lerp):
        out = interp(a, b, np.array([0.0, 1.0]))
        assert out.shape == (2, 100) and out.dtype == np.float32
        assert np.allclose(out[0], a, atol=1e-5) and np.allclose(out[1], b, atol=1e-5)
        assert interp(a, b, 0.5).shape == (100,)


def test_slerp_keeps_norms_while_lerp_dips():
    a, b = gaussian_pair()
    t = np.linspace(0, 1, 21)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    low, high = min(norm_a, norm_b), max(norm_a, norm_b)
    slerp_norms = np.linalg.norm(slerp(a, b, t), axis=-1)
    lerp_norms = np.linalg.norm(lerp(a, b, t), axis=-1)
    assert np.all(slerp_norms >= low * 0.999) and np.all(slerp_norms <= high * 1.001)
    # two independent Gaussian vectors are nearly orthogonal: the chord's middle is
    # about 1/sqrt(2) of their length
    assert lerp_norms[10] < 0.8 * low
    assert lerp_norms[10] == pytest.approx(np.linalg.norm((a + b) / 2), rel=1e-5)


def test_slerp_moves_at_constant_angular_speed():
    a, b = gaussian_pair()
    path = slerp(a, b, np.linspace(0, 1, 11)).astype(np.float64)
    unit = path / np.linalg.norm(path, axis=-1, keepdims=True)
    angles = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], axis=-1), -1, 1))
    assert np.allclose(angles, angles.mean(), rtol=1e-3)


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    a = np.array([1.0, 2.0, 3.0])
    t = np.linspace(0, 1, 5)
    for b in (2 * a, a.copy(), np.zeros(3)):
        out = slerp(a, b, t)
        assert np.all(np.isfinite(out))
        assert np.allclose(out, lerp(a, b, t))


# -- walks ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["slerp", "linear"])
@pytest.mark.parametrize("keys, frames", [(2, 1), (3, 8), (5, 4)])
def test_walk_is_a_closed_loop_of_k_times_f_frames(method, keys, frames):
    keyframes = latents_from_seeds(list(range(keys)), 100)
    path = walk(keyframes, frames, method)
    assert path.shape == (keys * frames, 100)
    assert np.allclose(path[0], keyframes[0], atol=1e-5)
    for i in range(keys):  # every segment starts on its key
        assert np.allclose(path[i * frames], keyframes[i], atol=1e-5)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=-1)
    wrap = np.linalg.norm(path[0] - path[-1])
    assert wrap <= np.median(steps) * 1.5
    assert wrap > 0  # the first frame is not repeated at the end


def test_walk_last_frame_leads_to_first():
    keyframes = latents_from_seeds([4, 5, 6], 16)
    path = walk(keyframes, 6, "slerp")
    expected_last = slerp(keyframes[2], keyframes[0], 5 / 6)
    assert np.allclose(path[-1], expected_last, atol=1e-6)


def test_walk_batches_independent_walks():
    keyframes = latents_from_seeds(list(range(12)), 8).reshape(2, 2, 3, 8)
    path = walk(keyframes, 4)
    assert path.shape == (2, 2, 12, 8)
    assert np.allclose(path[1, 0], walk(keyframes[1, 0], 4))


def test_walk_rejects_bad_input():
    keys = latents_from_seeds([0, 1], 4)
    with pytest.raises(UsageError, match="slerp, linear"):
        walk(keys, 4, "cubic")
    with pytest.raises(UsageError):
        walk(keys, 0)
    with pytest.raises(UsageError, match="at least 2 keyframes"):
        walk(keys[:1], 4)


# -- option parsing ------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("3x4", (3, 4)), ("3X4", (3, 4)), ("3×4", (3, 4)), (" 2 x 5 ", (2, 5)), ("1x1", (1, 1)),
])
def test_parse_grid_good(text, expected):
    assert parse_grid(text) == expected


@pytest.mark.parametrize("text", ["3x0", "0x2", "3", "3x4x5", "axb", "-1x3", "3*4", ""])
def test_parse_grid_bad(text):
    with pytest.raises(UsageError, match="^bad --grid"):
        parse_grid(text)


@pytest.mark.parametrize("text, expected", [("3,17", (3, 17)), (" 0 , 5", (0, 5))])
def test_parse_pair_good(text, expected):
    assert parse_pair(text) == expected


@pytest.mark.parametrize("text", ["3", "3,4,5", "a,b", "-1,2", "3-17", "", "1,4294967296"])
def test_parse_pair_bad(text):
    with pytest.raises(UsageError, match="^bad --between"):
        parse_pair(text)
