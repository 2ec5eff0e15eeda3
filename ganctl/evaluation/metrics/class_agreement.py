"""Class agreement of a conditional generator: does the evaluator see the class that was asked for?"""

from __future__ import annotations

import numpy as np

from ganctl.evaluation.metrics.base import MetricInputs, Value, register


def class_agreement(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Per class c, the share of images made for c whose most probable class is c; and their
    mean over the classes present (each class counts once, whatever its number of images).

    With real images and their true labels in place of generated ones, this is the
    evaluator's class-balanced accuracy: the reference a generator is read against.
    """
    predicted = np.asarray(probs, dtype=np.float64).argmax(axis=1)
    labels = np.asarray(labels, dtype=np.int64)
    per_class = {int(c): float(np.mean(predicted[labels == c] == c)) for c in np.unique(labels)}
    result = {"class_agreement": float(np.mean(list(per_class.values())))}
    result.update({f"class_agreement_{c}": v for c, v in per_class.items()})
    return result


@register("class_agreement", needs=("gen_probs", "gen_labels"), min_n=1,
          summary="share of images the evaluator assigns to the class asked for, mean over "
                  "classes (higher is better)",
          values={"class_agreement": Value("class agreement", ".3f", "higher",
                                           "higher; real: accuracy")})
def class_agreement_metric(inputs: MetricInputs) -> dict[str, float]:
    return class_agreement(inputs.gen_probs, inputs.gen_labels)
