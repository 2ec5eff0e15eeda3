"""What a metric is: a named pure function over feature arrays, its inputs, minimum n and how
each value it returns is shown (label, format, which way is better)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from ganctl.errors import UsageError
from ganctl.evaluation.metrics.distance import nearest_neighbours

if TYPE_CHECKING:
    from ganctl.evaluation.metrics.neighbours import Neighbourhoods

# The arrays a metric may ask for. "real" is n images of the training split the model learned
# from (a seeded random sample of it: `real_features.sample_indices`); "all_train" is the whole
# split (a copy of any training image counts); "heldout" is data it never saw (n images of the
# test split, drawn alike). The last two serve the memorisation check.
# "gen_labels" and "real_labels" are class indices, one per row: the classes a conditional
# generator was asked for, and the real images' labels; metrics that need them are conditional.
INPUT_NAMES = ("gen_features", "gen_probs", "real_features", "all_train_features",
               "heldout_features", "gen_labels", "real_labels")
CONDITIONAL_INPUTS = ("gen_labels", "real_labels")


@dataclass(frozen=True)
class MetricInputs:
    """Evaluator outputs (float64, one row per image) for generated and real images."""

    gen_features: np.ndarray | None = None
    gen_probs: np.ndarray | None = None
    real_features: np.ndarray | None = None
    all_train_features: np.ndarray | None = None
    heldout_features: np.ndarray | None = None
    # Optional: each held-out row's distance to its nearest all-train row, computed beforehand
    # (it depends on real data only, so evaluation caches it).
    heldout_nearest: np.ndarray | None = None
    gen_labels: np.ndarray | None = None
    real_labels: np.ndarray | None = None
    seed: int = 0

    @cached_property
    def neighbours(self) -> Neighbourhoods:
        """Nearest-neighbour statistics, computed once and shared by the metrics that use them."""
        from ganctl.evaluation.metrics.neighbours import DC_K, PR_K, Neighbourhoods

        return Neighbourhoods(self.real_features, self.gen_features, real_ks=(PR_K, DC_K),
                              gen_ks=(PR_K,))

    @cached_property
    def nearest_training(self) -> tuple[np.ndarray, np.ndarray]:
        """Each generated row's distance to its nearest all-train row, and that row's index:
        computed once, for the memorisation check and the nearest-neighbour picture."""
        return nearest_neighbours(self.gen_features, self.all_train_features)


MetricFn = Callable[[MetricInputs], dict[str, float]]


@dataclass(frozen=True)
class Value:
    """How one returned value is shown: its label, format, and which way is better.

    `better` is "lower", "higher" or "" (neither: a target such as ≈1); `good` is the hint
    printed beside it (default: `better`). `{classes}` in a label or hint is replaced by the
    evaluator's number of classes. Values with `shown=False` are in the JSON only.
    """

    label: str
    fmt: str = ".4g"
    better: str = ""
    good: str = ""
    shown: bool = True

    def hint(self, classes: int) -> str:
        return (self.good or self.better).format(classes=classes)


@dataclass(frozen=True)
class Metric:
    """A registered metric; calling it checks its inputs and returns a flat dict of floats."""

    name: str
    fn: MetricFn
    needs: tuple[str, ...]
    min_n: int
    summary: str
    values: dict[str, Value]

    @property
    def needs_classes(self) -> bool:
        """Whether it reads class probabilities (an evaluator without classes cannot give them)."""
        return "gen_probs" in self.needs

    @property
    def conditional(self) -> bool:
        """Whether it needs class labels (it scores conditional generators only)."""
        return any(name in CONDITIONAL_INPUTS for name in self.needs)

    def __call__(self, inputs: MetricInputs) -> dict[str, float]:
        for field in self.needs:
            arr = getattr(inputs, field)
            if arr is None:
                raise UsageError(f"metric {self.name} needs {field.replace('_', ' ')}")
            if len(arr) < self.min_n:
                raise UsageError(f"metric {self.name} needs at least {self.min_n} images "
                                 f"({field.replace('_', ' ')} has {len(arr)}); raise --n")
        return {key: float(value) for key, value in self.fn(inputs).items()}


METRICS: dict[str, Metric] = {}


def register(name: str, *, needs: tuple[str, ...], min_n: int, summary: str,
             values: dict[str, Value]) -> Callable[[MetricFn], MetricFn]:
    """Decorator adding a metric function to METRICS under `name`; `values` says how each key
    it returns is shown (keys it returns beyond them are shown with a generic format)."""
    unknown = set(needs) - set(INPUT_NAMES)
    if unknown:
        raise ValueError(f"metric {name} needs unknown inputs {sorted(unknown)}")

    def add(fn: MetricFn) -> MetricFn:
        METRICS[name] = Metric(name, fn, needs, min_n, summary, dict(values))
        return fn

    return add


def metric_names(conditional: bool = False) -> tuple[str, ...]:
    """Registered metrics in report order: all of them for a conditional generator, the
    unconditional ones otherwise."""
    return tuple(name for name, metric in METRICS.items() if conditional or not metric.conditional)


def value_formats() -> dict[str, Value]:
    """How every registered value is shown, in report order."""
    return {key: value for metric in METRICS.values() for key, value in metric.values.items()}
