"""Memorisation check: are generated images closer to training images than unseen real ones are?

A model that copies its training set puts generated features right on top of training
features; held-out test images show how close genuinely new images of the same kind come.
Both are compared with the *whole* training split, so a copy of any training image is found.
"""

from __future__ import annotations

import numpy as np

from ganctl.evaluation.metrics.base import MetricInputs, Value, register
from ganctl.evaluation.metrics.distance import nearest_neighbours


def memorisation(gen: np.ndarray, train: np.ndarray, heldout: np.ndarray,
                 heldout_nearest: np.ndarray | None = None
                 ) -> tuple[dict[str, float], np.ndarray]:
    """Compare nearest-training-neighbour distances of generated and of held-out features.

    Returns the numbers and, for each generated row, the index of its nearest training row
    (for showing generated images beside their closest training images). The ratio of the
    medians is near 1 for a healthy model and well below 1 for one that copies; close_share
    is the share of generated rows nearer to the training set than 99% of held-out rows are
    (about 0.01 when healthy). `heldout_nearest`, when given, is the held-out rows' distances
    to their nearest training rows, computed beforehand (they depend on real data only).
    """
    inputs = MetricInputs(gen_features=gen, all_train_features=train, heldout_features=heldout,
                          heldout_nearest=heldout_nearest)
    return memorisation_metric(inputs), inputs.nearest_training[1]


@register("memorisation", needs=("gen_features", "all_train_features", "heldout_features"),
          min_n=1, summary="median NN distance to training set, generated / held-out (≈1 healthy)",
          values={"memorisation_ratio": Value("memorisation ratio", ".3f", "",
                                              "≈1; ≪1 copies"),
                  "gen_nn_median": Value("generated NN median", ".4g", shown=False),
                  "heldout_nn_median": Value("held-out NN median", ".4g", shown=False),
                  "close_share": Value("closer than 99% of test", ".4f", "", "≈0.01")})
def memorisation_metric(inputs: MetricInputs) -> dict[str, float]:
    gen_dist = inputs.nearest_training[0]  # shared with the nearest-neighbour picture
    held_dist = inputs.heldout_nearest
    if held_dist is None:
        held_dist = nearest_neighbours(inputs.heldout_features, inputs.all_train_features)[0]
    gen_median, held_median = float(np.median(gen_dist)), float(np.median(held_dist))
    ratio = gen_median / held_median if held_median > 0 else float("nan")
    return {
        "memorisation_ratio": ratio,
        "gen_nn_median": gen_median,
        "heldout_nn_median": held_median,
        "close_share": float(np.mean(gen_dist < np.quantile(held_dist, 0.01))),
    }
