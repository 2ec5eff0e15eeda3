"""The perceptual distance of `ganctl project`: the run's own evaluator (the shipped
Fashion-MNIST classifier for Fashion-MNIST, else the domain evaluator trained on the run's data
and cached), chosen as `ganctl evaluate` chooses it, and its features as a differentiable
function for the projection core (`ganctl.generation.projection`), which knows no evaluator."""

from __future__ import annotations

from collections.abc import Callable

from ganctl.config import TrainConfig
from ganctl.evaluation.evaluators import Evaluator, choose_evaluator
from ganctl.evaluation.real import real_data_for_run
from ganctl.events import EvaluatorTraining, Say, quiet


def run_evaluator(cfg: TrainConfig, say: Say = quiet, warn: Say = quiet,
                  progress: Callable[[EvaluatorTraining], None] | None = None) -> Evaluator:
    """The evaluator `evaluate` uses for the run of `cfg` (its own data decides which); a domain
    evaluator not cached yet is trained first, reporting `progress`."""
    say("loading the run's data to choose its evaluator")
    real = real_data_for_run(cfg)
    say("loading the evaluator")
    evaluator = choose_evaluator(real, "auto", progress, say, warn)
    evaluator.check_shape(cfg.image_shape, f"run {cfg.name}")
    return evaluator
