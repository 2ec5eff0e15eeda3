"""Quality metrics over evaluator features and probabilities: a registry of small pure functions.

Each metric lives in its own module and registers itself; `METRICS[name](inputs)` returns a
flat dict of floats. The numeric cores (e.g. `fd.frechet_distance`) can be called directly.
"""

from ganctl.evaluation.metrics.base import (
    INPUT_NAMES,
    METRICS,
    Metric,
    MetricInputs,
    Value,
    metric_names,
    register,
    value_formats,
)

# Imported for their registration side effect; this order is the order reports list them.
# isort: off
from ganctl.evaluation.metrics import fd, kid, classifier_score, prdc, class_histogram  # noqa: F401
from ganctl.evaluation.metrics import memorisation  # noqa: F401
from ganctl.evaluation.metrics import class_agreement, intra_fd  # noqa: F401  (conditional generators)
# isort: on

__all__ = ["INPUT_NAMES", "METRICS", "Metric", "MetricInputs", "Value", "metric_names", "register",
           "value_formats"]
