"""Evaluation during training: FD and KID of the generator every few epochs, on fixed seeds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ganctl.config import TrainConfig
from ganctl.evaluation.scoring import check_n, load_real_set, score_generator
from ganctl.events import EvaluatorTraining, Say, quiet

TRAINING_METRICS = ("fd", "kid")


def check_training_evaluation(cfg: TrainConfig) -> None:
    """At plan time: refuse `--eval-every` with too few images, or data that is gone."""
    from ganctl.evaluation.real import check_real_source

    if not cfg.eval_every:
        return
    check_n(cfg.eval_n, TRAINING_METRICS, option="--eval-n")
    check_real_source(cfg.data, given=False)


class TrainingScorer:
    """FD and KID (mean and std) of a generator during training, on fixed seeds 0..n-1."""

    def __init__(self, cfg: TrainConfig, say: Say = quiet, warn: Say = quiet,
                 progress: Callable[[EvaluatorTraining], None] | None = None):
        from ganctl.evaluation.evaluators import choose_evaluator
        from ganctl.evaluation.real import real_data_for_run

        if not cfg.eval_every:
            raise ValueError("evaluation is off for this run (eval_every = 0)")
        check_training_evaluation(cfg)
        self.cfg = cfg
        data = real_data_for_run(cfg)
        self.evaluator = choose_evaluator(data, progress=progress, say=say, warn=warn)
        self.real = load_real_set(self.evaluator, data, cfg.eval_n, with_test=False, say=say,
                                  warn=warn)
        self._generate: Callable[[np.ndarray], np.ndarray] | None = None
        self.timings: dict[str, float] = {}

    def __call__(self, generator: Any) -> dict[str, float]:
        from ganctl.generation.sampling import compiled_generator

        if self._generate is None:
            self._generate = compiled_generator(generator)
        generated = score_generator(self._generate, self.cfg.latent_dim, self.evaluator,
                                    self.real, TRAINING_METRICS, self.cfg.eval_n, 0, self.timings,
                                    self.cfg.class_counts if self.cfg.conditional else ())
        return generated.metrics
