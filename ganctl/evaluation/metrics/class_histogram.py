"""Class histogram of generated images: shares of predicted classes, KL to uniform, coverage."""

from __future__ import annotations

import numpy as np

from ganctl.evaluation.metrics.base import MetricInputs, Value, register


def class_shares(probs: np.ndarray) -> np.ndarray:
    """Share of images whose most probable class is each class (sums to 1)."""
    p = np.asarray(probs, dtype=np.float64)
    counts = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    return counts / counts.sum()


def class_histogram(probs: np.ndarray) -> dict[str, float]:
    """Per-class shares, KL(shares ‖ uniform) in nats, and the number of classes covered.

    A class counts as covered when it holds at least half of its uniform share.
    """
    shares = class_shares(probs)
    k = len(shares)
    nonzero = shares[shares > 0]
    result = {
        "class_kl": float(np.sum(nonzero * np.log(nonzero * k))),
        "classes_covered": float(np.sum(shares >= 0.5 / k)),
    }
    result.update({f"class_share_{c}": float(s) for c, s in enumerate(shares)})
    return result


@register("class_histogram", needs=("gen_probs",), min_n=1,
          summary="predicted-class shares, KL to uniform (lower is better), classes covered",
          values={"class_kl": Value("class KL to uniform", ".4f", "lower"),
                  "classes_covered": Value("classes covered", ".0f", "higher", "of {classes}")})
def class_histogram_metric(inputs: MetricInputs) -> dict[str, float]:
    return class_histogram(inputs.gen_probs)
