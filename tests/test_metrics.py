"""Known-answer tests for every metric, against closed forms and brute-force references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ganctl.errors import UsageError
from ganctl.evaluation.metrics import METRICS, MetricInputs, distance
from ganctl.evaluation.metrics.class_histogram import class_histogram
from ganctl.evaluation.metrics.classifier_score import classifier_score
from ganctl.evaluation.metrics.fd import frechet_distance, frechet_distance_from_stats
from ganctl.evaluation.metrics.kid import kernel_distance, mmd2_unbiased
from ganctl.evaluation.metrics.memorisation import memorisation
from ganctl.evaluation.metrics.prdc import density_coverage, precision_recall


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- Fréchet distance -------------------------------------------------------------------------

def test_fd_diagonal_closed_form_also_when_rotated():
    r = rng()
    mu1, mu2 = r.normal(size=6), r.normal(size=6)
    v1, v2 = r.uniform(0.1, 3, size=6), r.uniform(0.1, 3, size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
    assert frechet_distance_from_stats(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(
        expected, rel=1e-10)
    # The distance is invariant under a common rotation, which makes both covariances dense.
    q, _ = np.linalg.qr(r.normal(size=(6, 6)))
    got = frechet_distance_from_stats(q @ mu1, q @ np.diag(v1) @ q.T, q @ mu2,
                                      q @ np.diag(v2) @ q.T)
    assert got == pytest.approx(expected, rel=1e-9)


def test_fd_non_commuting_covariances_match_eigenvalue_reference():
    r = rng(1)
    a, b = r.normal(size=(5, 5)), r.normal(size=(5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T
    mu1, mu2 = r.normal(size=5), r.normal(size=5)
    # S1 S2 is similar to a PSD matrix, so its eigenvalues are real and >= 0.
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    got = frechet_distance_from_stats(mu1, s1, mu2, s2)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-9)


def test_fd_of_samples_zero_for_identical_and_shift_for_shifted():
    x = rng(2).normal(size=(500, 16)) @ rng(3).normal(size=(16, 16))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)
    shift = np.arange(16) / 10
    assert frechet_distance(x, x + shift) == pytest.approx(np.sum(shift ** 2), rel=1e-8)


def test_fd_stays_real_for_rank_deficient_covariance():
    x = rng(4).normal(size=(10, 32))  # n < d: singular covariances
    got = frechet_distance(x, rng(5).normal(size=(10, 32)))
    assert isinstance(got, float) and np.isfinite(got) and got > 0


# --- KID ----------------------------------------------------------------------------------------

def kid_brute_force(x: np.ndarray, y: np.ndarray) -> float:
    m, d = x.shape

    def k(a, b):
        return (a @ b / d + 1) ** 3

    pairs = [(i, j) for i, j in itertools.product(range(m), repeat=2) if i != j]
    kxx = sum(k(x[i], x[j]) for i, j in pairs) / len(pairs)
    kyy = sum(k(y[i], y[j]) for i, j in pairs) / len(pairs)
    kxy = sum(k(x[i], y[j]) for i, j in itertools.product(range(m), repeat=2)) / m ** 2
    return kxx + kyy - 2 * kxy


def test_kid_matches_direct_computation():
    x, y = rng(6).normal(size=(15, 4)), rng(7).normal(0.5, 1.0, size=(15, 4))
    expected = kid_brute_force(x, y)
    assert mmd2_unbiased(x, y) == pytest.approx(expected, rel=1e-10)
    mean, std = kernel_distance(x, y)  # both sets used whole: one subset
    assert (mean, std) == (pytest.approx(expected, rel=1e-10), 0.0)


def test_kid_subsets_are_deterministic_and_average_the_direct_values():
    x, y = rng(8).normal(size=(30, 3)), rng(9).normal(size=(40, 3))
    a = kernel_distance(x, y, num_subsets=5, subset_size=10, seed=3)
    assert a == kernel_distance(x, y, num_subsets=5, subset_size=10, seed=3)
    assert a != kernel_distance(x, y, num_subsets=5, subset_size=10, seed=4)
    r = np.random.default_rng(3)
    values = [kid_brute_force(x[r.choice(30, 10, replace=False)],
                              y[r.choice(40, 10, replace=False)]) for _ in range(5)]
    assert a == (pytest.approx(np.mean(values), rel=1e-9), pytest.approx(np.std(values), rel=1e-9))


def test_kid_near_zero_for_one_distribution_and_not_for_two():
    x, y = rng(10).normal(size=(2000, 16)), rng(11).normal(size=(2000, 16))
    mean, std = kernel_distance(x, y, num_subsets=10)
    assert abs(mean) < 0.01 and std > 0
    shifted, _ = kernel_distance(x, y + 0.5, num_subsets=10)
    assert shifted > 10 * max(abs(mean), std)


# --- precision, recall, density, coverage -------------------------------------------------------

def prdc_brute_force(real, gen, k_pr=3, k_dc=5):
    def kth(x, k):
        return np.array([sorted(np.linalg.norm(x[i] - x[j]) for j in range(len(x)) if j != i)[k - 1]
                         for i in range(len(x))])

    def inside(p, centres, radii):
        return [np.linalg.norm(p - c) <= r for c, r in zip(centres, radii, strict=True)]

    rr, gr, rd = kth(real, k_pr), kth(gen, k_pr), kth(real, k_dc)
    precision = np.mean([any(inside(g, real, rr)) for g in gen])
    recall = np.mean([any(inside(x, gen, gr)) for x in real])
    density = sum(sum(inside(g, real, rd)) for g in gen) / (k_dc * len(gen))
    coverage = np.mean([any(np.linalg.norm(g - x) <= r for g in gen)
                        for x, r in zip(real, rd, strict=True)])
    return precision, recall, density, coverage


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prdc_matches_brute_force(seed, monkeypatch):
    real = rng(seed).normal(size=(30, 3))
    gen = rng(seed + 100).normal(0.3, 1.3, size=(25, 3))
    expected = prdc_brute_force(real, gen)
    got = (*precision_recall(real, gen, k=3), *density_coverage(real, gen, k=5))
    assert got == pytest.approx(expected, abs=1e-12)
    monkeypatch.setattr(distance, "CHUNK_ELEMENTS", 7)  # many tiny chunks: same answer
    assert (*precision_recall(real, gen), *density_coverage(real, gen)) == pytest.approx(got)


def test_prdc_special_cases():
    x = rng(12).normal(size=(50, 4))
    assert precision_recall(x, x) == (1.0, 1.0)
    assert density_coverage(x, x)[1] == 1.0
    far = x + 100.0
    assert precision_recall(x, far) == (0.0, 0.0)
    assert density_coverage(x, far) == (0.0, 0.0)


# --- classifier score and class histogram -------------------------------------------------------

def test_classifier_score_at_its_bounds():
    one_hot = np.eye(10)[np.arange(100) % 10]
    assert classifier_score(one_hot) == pytest.approx(10.0)
    assert classifier_score(np.eye(10)[np.full(100, 3)]) == pytest.approx(1.0)
    assert classifier_score(np.full((100, 10), 0.1)) == pytest.approx(1.0)
    half = np.eye(10)[np.arange(100) % 2]  # confident, two classes used evenly
    assert classifier_score(half) == pytest.approx(2.0)


def test_class_histogram_on_hand_made_inputs():
    even = class_histogram(np.eye(10)[np.arange(20) % 10])
    assert even["class_kl"] == pytest.approx(0.0) and even["classes_covered"] == 10
    assert [even[f"class_share_{c}"] for c in range(10)] == pytest.approx([0.1] * 10)
    one = class_histogram(np.eye(10)[np.full(7, 4)])
    assert one["class_kl"] == pytest.approx(np.log(10)) and one["classes_covered"] == 1
    assert one["class_share_4"] == 1.0
    # Five images of class 0 and one each of 1..5: shares .5, .1 x5, 0 x4.
    skewed = class_histogram(np.eye(10)[[0, 0, 0, 0, 0, 1, 2, 3, 4, 5]] * 0.9 + 0.01)
    assert skewed["class_kl"] == pytest.approx(0.5 * np.log(5))
    assert skewed["classes_covered"] == 6


# --- memorisation -------------------------------------------------------------------------------

def test_memorisation_flags_copies_and_passes_fresh_samples():
    train, test = rng(13).normal(size=(400, 8)), rng(14).normal(size=(200, 8))
    picks = rng(15).choice(400, 100, replace=False)
    copied, index = memorisation(train[picks], train, test)
    assert copied["memorisation_ratio"] < 1e-3 and copied["close_share"] == 1.0
    assert np.array_equal(index, picks)
    fresh, _ = memorisation(rng(16).normal(size=(200, 8)), train, test)
    assert 0.8 < fresh["memorisation_ratio"] < 1.25 and fresh["close_share"] < 0.1
    assert fresh["heldout_nn_median"] == copied["heldout_nn_median"] > 0


def test_memorisation_known_answer_and_the_held_out_distances_given_beforehand():
    # Training points on a line 10 apart; held-out and generated points at known distances
    # from one of them (less than 5, so that one is the nearest).
    train = np.stack([np.arange(10) * 10.0, np.zeros(10)], axis=1)
    held = train[[1, 3, 5, 7]] + [[0, 1], [0, 2], [3, 0], [0, -4]]  # distances 1, 2, 3, 4
    gen = train[[2, 4, 6, 9]] + [[0.5, 0], [0, 2], [0, 0], [0, -0.25]]  # 0.5, 2, 0, 0.25
    values, index = memorisation(gen, train, held)
    assert index.tolist() == [2, 4, 6, 9]
    # medians 0.375 and 2.5; 1% quantile of [1, 2, 3, 4] is 1.03, which 3 of 4 are below
    assert values == pytest.approx({"memorisation_ratio": 0.15, "gen_nn_median": 0.375,
                                    "heldout_nn_median": 2.5, "close_share": 0.75}, rel=1e-12)
    # Given distances are used as they are, not searched again: twice the true ones here.
    inputs = MetricInputs(gen_features=gen, all_train_features=train, heldout_features=held,
                          heldout_nearest=np.array([2.0, 4.0, 6.0, 8.0]))
    assert METRICS["memorisation"](inputs) == pytest.approx(
        {"memorisation_ratio": 0.075, "gen_nn_median": 0.375, "heldout_nn_median": 5.0,
         "close_share": 1.0}, rel=1e-12)


def test_memorisation_finds_copies_of_training_images_beyond_the_first_n():
    train = rng(21).normal(size=(1000, 8))
    test = rng(22).normal(size=(100, 8))
    copies = train[500:600]  # copies of images that the other metrics' first n=100 leave out
    inputs = MetricInputs(gen_features=copies, real_features=train[:100],
                          all_train_features=train, heldout_features=test)
    found = METRICS["memorisation"](inputs)
    assert found["memorisation_ratio"] < 1e-3 and found["close_share"] == 1.0
    # Against the first 100 training images only, the same copies would pass as fresh.
    missed, _ = memorisation(copies, train[:100], test)
    assert missed["memorisation_ratio"] > 0.5 and missed["close_share"] < 0.2


def test_nearest_neighbours_chunked_match_brute_force(monkeypatch):
    a, b = rng(17).normal(size=(23, 5)), rng(18).normal(size=(31, 5))
    full = np.linalg.norm(a[:, None] - b[None], axis=2)
    monkeypatch.setattr(distance, "CHUNK_ELEMENTS", 40)
    dist, index = distance.nearest_neighbours(a, b)
    assert np.array_equal(index, full.argmin(axis=1))
    assert dist == pytest.approx(full.min(axis=1), rel=1e-9)


# --- registry -----------------------------------------------------------------------------------

def test_registry_runs_every_metric_and_returns_flat_floats():
    r = rng(19)
    probs = r.dirichlet(np.ones(10), size=60)
    inputs = MetricInputs(gen_features=r.normal(size=(60, 8)), gen_probs=probs,
                          real_features=r.normal(size=(80, 8)),
                          all_train_features=r.normal(size=(120, 8)),
                          heldout_features=r.normal(size=(50, 8)),
                          gen_labels=r.integers(0, 10, 60), real_labels=r.integers(0, 10, 80))
    assert list(METRICS) == ["fd", "kid", "classifier_score", "precision_recall",
                             "density_coverage", "class_histogram", "memorisation",
                             "class_agreement", "intra_fd"]
    for metric in METRICS.values():
        result = metric(inputs)
        assert result and all(type(v) is float for v in result.values()), metric.name


def test_registry_refuses_missing_inputs_and_too_few_images():
    with pytest.raises(UsageError, match="needs real features"):
        METRICS["fd"](MetricInputs(gen_features=np.zeros((10, 2))))
    small = np.zeros((3, 2))
    with pytest.raises(UsageError, match="at least 6 images"):
        METRICS["density_coverage"](MetricInputs(gen_features=small, real_features=small))
