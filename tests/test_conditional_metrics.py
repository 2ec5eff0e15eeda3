"""Known answers for the conditional metrics: class agreement and intra-class FD."""

from __future__ import annotations

import numpy as np
import pytest

from ganctl.errors import UsageError
from ganctl.evaluation.metrics import METRICS, MetricInputs, metric_names
from ganctl.evaluation.metrics.class_agreement import class_agreement
from ganctl.evaluation.metrics.intra_fd import intra_class_fd

K = 4


def one_hot(labels: np.ndarray, k: int = K) -> np.ndarray:
    return np.eye(k)[labels]


def class_features(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Features [n, 6]: a Gaussian cloud per class, centred 10 units apart."""
    r = np.random.default_rng(seed)
    centres = 10.0 * np.eye(K, 6)
    return centres[labels] + r.normal(size=(len(labels), 6))


def test_agreement_one_for_the_right_class_zero_for_swapped_labels():
    labels = np.repeat(np.arange(K), [5, 20, 7, 8])
    probs = 0.5 * one_hot(labels) + 0.5 / K  # most probable: the class asked for
    assert class_agreement(probs, labels)["class_agreement"] == 1.0
    swapped = (labels + 1) % K  # every image made for c looks like c - 1
    result = class_agreement(probs, swapped)
    assert result["class_agreement"] == 0.0
    assert all(result[f"class_agreement_{c}"] == 0.0 for c in range(K))


def test_agreement_averages_classes_not_images():
    # class 0: 1 image, right; class 1: 99 images, 33 right. Per image 34/100, per class 2/3.
    labels = np.array([0] + [1] * 99)
    predicted = np.array([0] + [1] * 33 + [2] * 66)
    result = class_agreement(one_hot(predicted), labels)
    assert result["class_agreement_0"] == 1.0
    assert result["class_agreement_1"] == pytest.approx(1 / 3)
    assert result["class_agreement"] == pytest.approx(2 / 3)


def test_intra_fd_zero_for_identical_classes():
    labels = np.repeat(np.arange(K), 50)
    feats = class_features(labels)
    result = intra_class_fd(feats, labels, feats, labels)
    assert result["intra_fd"] == pytest.approx(0.0, abs=1e-8)
    assert result["intra_fd_classes"] == K


def test_intra_fd_closed_form_for_shifted_classes_and_large_for_swapped():
    labels = np.repeat(np.arange(K), 60)
    real = class_features(labels, seed=1)
    # Shift each class by its own vector: same covariance, so FD_c = |shift_c|^2 exactly.
    shifts = np.arange(1, K + 1)[:, None] * np.array([[0.0, 0.0, 0.0, 0.0, 1.0, 0.5]])
    result = intra_class_fd(real + shifts[labels], labels, real, labels)
    per_class = (shifts ** 2).sum(axis=1)
    for c in range(K):
        assert result[f"intra_fd_{c}"] == pytest.approx(per_class[c], rel=1e-9)
    assert result["intra_fd"] == pytest.approx(per_class.mean(), rel=1e-9)
    # The same images under swapped labels: every class is compared with another's cloud,
    # whose centre is sqrt(200) away, while plain FD of the whole sets stays 0.
    swapped = intra_class_fd(real, (labels + 1) % K, real, labels)
    assert swapped["intra_fd"] == pytest.approx(200.0, rel=0.1)


def test_intra_fd_leaves_out_classes_too_small_to_fit():
    gen_labels = np.array([0, 0, 0, 1])  # class 1: one generated row
    real_labels = np.array([0, 0, 1, 1, 2, 2])
    feats = np.random.default_rng(2).normal(size=(6, 3))
    result = intra_class_fd(feats[:4], gen_labels, feats, real_labels)
    assert result["intra_fd_classes"] == 1 and "intra_fd_1" not in result
    none = intra_class_fd(feats[:1], gen_labels[:1], feats, real_labels)
    assert np.isnan(none["intra_fd"]) and none["intra_fd_classes"] == 0


def test_registered_as_conditional_and_left_out_of_the_default():
    assert METRICS["class_agreement"].conditional and METRICS["intra_fd"].conditional
    assert not METRICS["fd"].conditional
    assert "class_agreement" not in metric_names() and "intra_fd" not in metric_names()
    assert metric_names(conditional=True)[-2:] == ("class_agreement", "intra_fd")
    labels = np.repeat(np.arange(K), 10)
    feats = class_features(labels)
    inputs = MetricInputs(gen_features=feats, gen_probs=one_hot(labels), real_features=feats,
                          gen_labels=labels, real_labels=labels)
    assert METRICS["class_agreement"](inputs)["class_agreement"] == 1.0
    assert METRICS["intra_fd"](inputs)["intra_fd"] == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(UsageError, match="needs gen labels"):
        METRICS["class_agreement"](MetricInputs(gen_probs=one_hot(labels)))
