"""Truncation (`--truncation ψ`): known answers for BigGAN's resampling of latents from seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganctl.errors import UsageError
from ganctl.generation.latents import check_truncation, latents_from_seeds, parse_truncations


def truncated_normal_cdf(x: np.ndarray, psi: float) -> np.ndarray:
    """The closed form: (Φ(x) - Φ(-ψ)) / (Φ(ψ) - Φ(-ψ)) on [-ψ, ψ]."""
    phi = np.vectorize(lambda v: 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))))
    return (phi(x) - phi(-psi)) / (phi(psi) - phi(-psi))


@pytest.mark.parametrize("psi", [0.05, 0.5, 1.0, 2.0])
def test_no_component_exceeds_psi(psi):
    z = latents_from_seeds(range(300), 128, psi)
    assert np.abs(z).max() <= psi
    assert z.dtype == np.float32 and z.shape == (300, 128)


@pytest.mark.parametrize("psi", [0.5, 1.5])
def test_components_follow_the_truncated_normal(psi):
    """Kolmogorov-Smirnov on 10^5 draws against the closed-form CDF."""
    draws = np.sort(latents_from_seeds(range(1000), 100, psi).astype(np.float64).ravel())
    n = len(draws)
    assert n == 100_000
    cdf = truncated_normal_cdf(draws, psi)
    statistic = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    # The KS critical value at significance 0.001 is 1.949 / sqrt(n); the plain normal (the
    # wrong answer) is far outside it.
    assert statistic < 1.949 / math.sqrt(n), statistic
    plain = np.sort(latents_from_seeds(range(1000), 100).astype(np.float64).ravel())
    wrong = max(np.max(np.arange(1, n + 1) / n - truncated_normal_cdf(np.clip(plain, -psi, psi),
                                                                       psi)), 0)
    assert wrong > 10 * 1.949 / math.sqrt(n)


def test_a_seed_is_the_same_alone_or_in_a_batch():
    batch = latents_from_seeds([3, 7, 11, 7000], 64, 0.7)
    for i, seed in enumerate([3, 7, 11, 7000]):
        np.testing.assert_array_equal(latents_from_seeds([seed], 64, 0.7)[0], batch[i])
    np.testing.assert_array_equal(latents_from_seeds([7], 64, 0.7),
                                  latents_from_seeds([7], 64, 0.7))


def test_the_rule_written_out_gives_the_same_latent():
    """What ganctl-export.json and example.py tell users: redraw the components outside ψ from
    the same stream, in index order, until none is."""
    state = np.random.RandomState(7)
    z = state.standard_normal(100)
    while (outside := np.abs(z.astype(np.float32)) > 0.6).any():
        z[outside] = state.standard_normal(outside.sum())
    np.testing.assert_array_equal(z.astype(np.float32), latents_from_seeds([7], 100, 0.6)[0])


def test_no_truncation_is_the_plain_draw_bit_for_bit():
    plain = latents_from_seeds(range(20), 100)
    for seed in range(20):
        expected = np.random.RandomState(seed).standard_normal(100).astype(np.float32)
        np.testing.assert_array_equal(plain[seed], expected)
    # components inside ψ are kept as drawn
    truncated = latents_from_seeds(range(20), 100, 1.0)
    inside = np.abs(plain) <= 1.0
    np.testing.assert_array_equal(truncated[inside], plain[inside])
    assert not np.array_equal(truncated, plain)
    np.testing.assert_array_equal(latents_from_seeds(range(20), 100, 50.0), plain)


@pytest.mark.parametrize("psi, fragment", [
    (0, "--truncation 0 is refused"),
    (0.0, "--truncation 0 is refused"),
    (-0.5, "cannot be negative"),
    (float("nan"), "expected a positive number"),
    (float("inf"), "expected a positive number"),
    (0.001, "below 0.01"),
    ("1", "expected a positive number"),
])
def test_bad_psi_is_a_one_line_usage_error(psi, fragment):
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(")):
        check_truncation(psi)


def test_parse_truncations():
    assert parse_truncations(None) == [None]
    assert parse_truncations("0.5, 1,1.5,2") == [0.5, 1.0, 1.5, 2.0]
    assert parse_truncations("none,0.7") == [None, 0.7]
    with pytest.raises(UsageError, match="expected numbers"):
        parse_truncations("0.5,x")
    with pytest.raises(UsageError, match="listed twice"):
        parse_truncations("1,1.0")
    with pytest.raises(UsageError, match="refused"):
        parse_truncations("0,1")


# --- through the commands ---------------------------------------------------------------------------

def test_interpolate_with_truncation(cli, tiny_run, tmp_path):
    from ganctl.images import read_frames

    out = tmp_path / "w.gif"
    result = cli("interpolate", "--ckpt", tiny_run, "--points", "2", "--frames", "2",
                 "--scale", "1", "--truncation", "0.6", "--out", out)
    assert result.exit_code == 0, result.output
    assert "truncation 0.6" in result.output
    assert cli("sample", "--ckpt", tiny_run, "--seeds", "0", "--truncation", "0.6",
               "--out", f"{tmp_path}/s/").exit_code == 0
    from ganctl.images import read_image
    first = read_frames(out)[0]
    seed0 = read_image(tmp_path / "s" / "seed0000.png")
    np.testing.assert_array_equal(first.reshape(28, 28, -1)[..., 0], seed0.reshape(28, 28))

@pytest.mark.slow
def test_evaluate_prints_a_row_per_psi(cli, tiny_run, tmp_path):
    import json

    report = tmp_path / "r.json"
    result = cli("evaluate", "--ckpt", tiny_run, "--truncation", "0.5,2", "--n", "200",
                 "--metrics", "fd,precision_recall", "--json", report)
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert [r.split("│")[1].strip() for r in rows] == ["real", "0.5", "2"]
    scores = json.loads(report.read_text())["checkpoints"]
    assert [s["truncation"] for s in scores] == [0.5, 2.0]
    assert scores[0]["metrics"]["fd"] != scores[1]["metrics"]["fd"]
