"""Improved precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Each sample's neighbourhood is the ball reaching its k-th nearest neighbour in its own set
(boundary included). Distances are computed in row chunks, so 10k × 10k fits in memory.
"""

from __future__ import annotations

import numpy as np

from ganctl.metrics.base import MetricInputs, register
from ganctl.metrics.distance import distance_blocks, kth_neighbour_distance, nearest_neighbours


def _share_inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """Share of points lying in at least one ball (centres[i], radii[i])."""
    inside = np.zeros(len(points), dtype=bool)
    for rows, dist in distance_blocks(points, centres):
        inside[rows] = (dist <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real: np.ndarray, gen: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Precision: share of gen inside the real manifold; recall: share of real inside gen's."""
    precision = _share_inside(gen, real, kth_neighbour_distance(real, k))
    recall = _share_inside(real, gen, kth_neighbour_distance(gen, k))
    return precision, recall


def density_coverage(real: np.ndarray, gen: np.ndarray, k: int = 5) -> tuple[float, float]:
    """Density: mean count of real balls holding each gen sample, over k (≈1 when matched);
    coverage: share of real balls that hold at least one gen sample."""
    radii = kth_neighbour_distance(real, k)
    count = 0
    for _, dist in distance_blocks(gen, real):
        count += int((dist <= radii[None, :]).sum())
    nearest_gen, _ = nearest_neighbours(real, gen)
    return count / (k * len(gen)), float(np.mean(nearest_gen <= radii))


@register("precision_recall", needs=("gen_features", "real_features"), min_n=4,
          summary="improved precision and recall, k=3 (higher is better)")
def precision_recall_metric(inputs: MetricInputs) -> dict[str, float]:
    p, r = precision_recall(inputs.real_features, inputs.gen_features, k=3)
    return {"precision": p, "recall": r}


@register("density_coverage", needs=("gen_features", "real_features"), min_n=6,
          summary="density (≈1 when matched) and coverage (higher is better), k=5")
def density_coverage_metric(inputs: MetricInputs) -> dict[str, float]:
    d, c = density_coverage(inputs.real_features, inputs.gen_features, k=5)
    return {"density": d, "coverage": c}
