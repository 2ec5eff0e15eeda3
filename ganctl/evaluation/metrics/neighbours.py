"""Nearest-neighbour statistics shared by precision/recall and density/coverage.

Their cost is the distance matrices (10k × 10k each at n = 10k). Computed metric by metric,
the same matrices were built several times; here each is built once: real↔real and gen↔gen for
the k-th-neighbour radii, and gen↔real for everything compared against those radii (in one
pass over its blocks). The values are the ones each metric computed alone: the same distances,
compared the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ganctl.evaluation.metrics.distance import distance_blocks, kth_neighbour_distances

# The k of precision/recall (Kynkäänniemi et al. 2019) and of density/coverage (Naeem et al.
# 2020): the neighbourhoods are computed once for both, so their k live here.
PR_K = 3
DC_K = 5


@dataclass(frozen=True)
class CrossStats:
    """What one pass over the gen × real distance matrix yields."""

    real_balls_holding: dict[int, np.ndarray]  # per k: real balls (radius k-th NN) around each gen
    real_nearest: np.ndarray  # distance from each real row to its nearest gen row
    real_in_gen_balls: dict[int, np.ndarray]  # per k: real row inside some gen ball


class Neighbourhoods:
    """Lazily computed neighbourhoods of real and generated features.

    `real_ks` and `gen_ks` are the neighbour counts whose ball radii the cross statistics use;
    the ones a set is too small for are left out.
    """

    def __init__(self, real: np.ndarray, gen: np.ndarray, real_ks: Sequence[int] = (),
                 gen_ks: Sequence[int] = ()):
        self.real = np.asarray(real, dtype=np.float64)
        self.gen = np.asarray(gen, dtype=np.float64)
        self.real_ks = tuple(k for k in real_ks if k < len(self.real))
        self.gen_ks = tuple(k for k in gen_ks if k < len(self.gen))

    @cached_property
    def real_radii(self) -> dict[int, np.ndarray]:
        """Per k: distance from each real row to its k-th nearest other real row."""
        return kth_neighbour_distances(self.real, self.real_ks)

    @cached_property
    def gen_radii(self) -> dict[int, np.ndarray]:
        return kth_neighbour_distances(self.gen, self.gen_ks)

    @cached_property
    def cross(self) -> CrossStats:
        real_radii, gen_radii = self.real_radii, self.gen_radii
        n_gen, n_real = len(self.gen), len(self.real)
        holding = {k: np.empty(n_gen, dtype=np.int64) for k in real_radii}
        real_nearest = np.full(n_real, np.inf)
        real_inside = {k: np.zeros(n_real, dtype=bool) for k in gen_radii}
        for rows, dist in distance_blocks(self.gen, self.real):
            np.minimum(real_nearest, dist.min(axis=0), out=real_nearest)
            for k, radii in real_radii.items():
                holding[k][rows] = np.count_nonzero(dist <= radii[None, :], axis=1)
            for k, radii in gen_radii.items():
                real_inside[k] |= (dist <= radii[rows, None]).any(axis=0)
        return CrossStats(holding, real_nearest, real_inside)

    # --- the metrics' numbers -------------------------------------------------------------------

    def precision(self, k: int) -> float:
        """Share of gen rows inside at least one real ball of radius k-th NN distance."""
        return float(np.mean(self.cross.real_balls_holding[k] > 0))

    def recall(self, k: int) -> float:
        """Share of real rows inside at least one gen ball of radius k-th NN distance."""
        return float(self.cross.real_in_gen_balls[k].mean())

    def density(self, k: int) -> float:
        """Mean count of real balls holding each gen row, over k."""
        return int(self.cross.real_balls_holding[k].sum()) / (k * len(self.gen))

    def coverage(self, k: int) -> float:
        """Share of real balls holding at least one gen row."""
        return float(np.mean(self.cross.real_nearest <= self.real_radii[k]))
