"""Intra-class Fréchet distance: FD between generated and real images of the same class,
averaged over classes (Miyato & Koyama 2018). A conditional generator that draws good images
of the wrong class scores well on plain FD and badly here."""

from __future__ import annotations

import numpy as np

from ganctl.evaluation.metrics.base import MetricInputs, Value, register
from ganctl.evaluation.metrics.fd import frechet_distance

MIN_PER_CLASS = 2  # a covariance needs two rows


def intra_class_fd(gen: np.ndarray, gen_labels: np.ndarray, real: np.ndarray,
                   real_labels: np.ndarray) -> dict[str, float]:
    """FD per class between the generated and real rows of that class, and its mean.

    Classes with fewer than two rows on either side are left out (`intra_fd_classes` says how
    many were scored); with none left the mean is NaN.
    """
    gen, real = np.asarray(gen, np.float64), np.asarray(real, np.float64)
    gen_labels, real_labels = np.asarray(gen_labels, np.int64), np.asarray(real_labels, np.int64)
    per_class = {}
    for c in np.unique(gen_labels):
        g, r = gen[gen_labels == c], real[real_labels == c]
        if len(g) >= MIN_PER_CLASS and len(r) >= MIN_PER_CLASS:
            per_class[int(c)] = frechet_distance(g, r)
    mean = float(np.mean(list(per_class.values()))) if per_class else float("nan")
    result = {"intra_fd": mean, "intra_fd_classes": float(len(per_class))}
    result.update({f"intra_fd_{c}": v for c, v in per_class.items()})
    return result


@register("intra_fd", needs=("gen_features", "gen_labels", "real_features", "real_labels"),
          min_n=MIN_PER_CLASS,
          summary="Fréchet distance within each class, mean over classes (lower is better)",
          values={"intra_fd": Value("intra-class FD", ".3f", "lower"),
                  "intra_fd_classes": Value("classes in intra-class FD", ".0f", shown=False)})
def intra_fd_metric(inputs: MetricInputs) -> dict[str, float]:
    return intra_class_fd(inputs.gen_features, inputs.gen_labels, inputs.real_features,
                          inputs.real_labels)
