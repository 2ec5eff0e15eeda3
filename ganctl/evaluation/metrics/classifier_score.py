"""Classifier score: the Inception-Score formula exp(E_x KL(p(y|x) ‖ p(y))) on our evaluator."""

from __future__ import annotations

import numpy as np

from ganctl.evaluation.metrics.base import MetricInputs, Value, register


def classifier_score(probs: np.ndarray) -> float:
    """exp of the mean KL from each image's class distribution to the marginal; in [1, classes].

    High when each image is confidently one class and the classes are evenly used.
    """
    p = np.asarray(probs, dtype=np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    # 0·log 0 counts as 0; where p > 0 the marginal is > 0 too.
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0)
    return float(np.exp(terms.sum(axis=1).mean()))


@register("classifier_score", needs=("gen_probs",), min_n=1,
          summary="exp E KL(p(y|x) ‖ p(y)) on the evaluator, 1..classes (higher is better)",
          values={"classifier_score": Value("classifier score", ".3f", "higher",
                                            "higher, 1..{classes}")})
def classifier_score_metric(inputs: MetricInputs) -> dict[str, float]:
    return {"classifier_score": classifier_score(inputs.gen_probs)}
