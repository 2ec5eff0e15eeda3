"""Evaluators, by `--evaluator` name: the shipped Fashion-MNIST classifier (`shipped`), one
trained on the run's own data (`domain`), and InceptionV3 (`inception`); `choose_evaluator`
picks one for the data."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ganctl.errors import UsageError
from ganctl.evaluation.evaluators.base import Evaluator
from ganctl.events import EvaluatorTraining, Say

if TYPE_CHECKING:
    from ganctl.evaluation.real import RealData

EVALUATORS = ("auto", "fashion-mnist", "domain", "inception")


def choose_evaluator(data: RealData, kind: str = "auto",
                     progress: Callable[[EvaluatorTraining], None] | None = None,
                     say: Say | None = None,
                     warn: Say | None = None) -> Evaluator:
    """The evaluator for `data`: `kind` 'fashion-mnist' (the shipped one), 'domain' (trained on
    `data`, cached), 'inception' (InceptionV3, ImageNet weights) or 'auto': the shipped one for
    Fashion-MNIST, else the domain one."""
    from ganctl.evaluation.evaluators.domain import domain_evaluator
    from ganctl.evaluation.evaluators.shipped import is_fashion_mnist, load_evaluator

    if kind not in EVALUATORS:
        raise UsageError(f"unknown --evaluator {kind!r}; choose one of: {', '.join(EVALUATORS)}")
    if kind == "inception":
        from ganctl.evaluation.evaluators.inception import load_inception

        return load_inception(data.image_shape)
    if kind == "fashion-mnist" or (kind == "auto" and is_fashion_mnist(data)):
        evaluator = load_evaluator()
        evaluator.check_shape(data.image_shape, f"the real data {data.source}")
        return evaluator
    return domain_evaluator(data, progress=progress, say=say, warn=warn)


__all__ = ["EVALUATORS", "Evaluator", "choose_evaluator"]
