"""Fréchet distance between Gaussian fits of two feature sets (FID computed on our evaluator)."""

from __future__ import annotations

import numpy as np

from ganctl.evaluation.metrics.base import MetricInputs, Value, register


def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of features [n, d] in float64."""
    x = np.asarray(features, dtype=np.float64)
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    w, v = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance_from_stats(mu1: np.ndarray, s1: np.ndarray,
                                mu2: np.ndarray, s2: np.ndarray) -> float:
    """‖μ1−μ2‖² + tr(S1) + tr(S2) − 2 tr((S1 S2)^½), always real and ≥ 0.

    tr((S1 S2)^½) equals tr((√S1 S2 √S1)^½); the inner matrix is symmetric PSD, so its
    eigenvalues are real and clipping their rounding noise at 0 keeps the result real.
    """
    root1 = _psd_sqrt(s1)
    inner = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    trace_sqrt = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    return max(0.0, float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a and b."""
    return frechet_distance_from_stats(*gaussian_fit(a), *gaussian_fit(b))


@register("fd", needs=("gen_features", "real_features"), min_n=2,
          summary="Fréchet distance of evaluator features (lower is better)",
          values={"fd": Value("Fréchet distance", ".3f", "lower")})
def fd(inputs: MetricInputs) -> dict[str, float]:
    return {"fd": frechet_distance(inputs.gen_features, inputs.real_features)}
