"""Improved precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Each sample's neighbourhood is the ball reaching its k-th nearest neighbour in its own set
(boundary included). Distances are computed in row chunks, so 10k × 10k fits in memory.
"""

from __future__ import annotations

import numpy as np

from ganctl.evaluation.metrics.base import MetricInputs, Value, register
from ganctl.evaluation.metrics.neighbours import DC_K, PR_K, Neighbourhoods


def precision_recall(real: np.ndarray, gen: np.ndarray, k: int = PR_K) -> tuple[float, float]:
    """Precision: share of gen inside the real manifold; recall: share of real inside gen's."""
    nb = Neighbourhoods(real, gen, real_ks=(k,), gen_ks=(k,))
    return nb.precision(k), nb.recall(k)


def density_coverage(real: np.ndarray, gen: np.ndarray, k: int = DC_K) -> tuple[float, float]:
    """Density: mean count of real balls holding each gen sample, over k (≈1 when matched);
    coverage: share of real balls that hold at least one gen sample."""
    nb = Neighbourhoods(real, gen, real_ks=(k,))
    return nb.density(k), nb.coverage(k)


@register("precision_recall", needs=("gen_features", "real_features"), min_n=PR_K + 1,
          summary="improved precision and recall, k=3 (higher is better)",
          values={"precision": Value(f"precision (k={PR_K})", ".3f", "higher"),
                  "recall": Value(f"recall (k={PR_K})", ".3f", "higher")})
def precision_recall_metric(inputs: MetricInputs) -> dict[str, float]:
    nb = inputs.neighbours  # shared with density/coverage
    return {"precision": nb.precision(PR_K), "recall": nb.recall(PR_K)}


@register("density_coverage", needs=("gen_features", "real_features"), min_n=DC_K + 1,
          summary="density (≈1 when matched) and coverage (higher is better), k=5",
          values={"density": Value(f"density (k={DC_K})", ".3f", "", "≈1"),
                  "coverage": Value(f"coverage (k={DC_K})", ".3f", "higher")})
def density_coverage_metric(inputs: MetricInputs) -> dict[str, float]:
    nb = inputs.neighbours
    return {"density": nb.density(DC_K), "coverage": nb.coverage(DC_K)}
