"""Evaluation during training: FD and KID of the generator every few epochs, on fixed seeds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ganctl.config import TrainConfig
from ganctl.errors import UsageError
from ganctl.evaluation import Say, check_image_shape, check_n, load_real_set, quiet, score_generator

TRAINING_METRICS = ("fd", "kid")


def training_real_folder(cfg: TrainConfig) -> Path:
    """Real data for evaluation during training: the run's own data when it is an IDX folder of
    28x28 images with a test split, else Fashion-MNIST in Keras' cache."""
    from ganctl.data import BUILTIN
    from ganctl.real_features import resolve_real_folder

    if cfg.data not in BUILTIN:
        try:
            return resolve_real_folder(cfg.data)
        except UsageError:
            pass
    return resolve_real_folder(None)


def check_training_evaluation(cfg: TrainConfig) -> Path | None:
    """At plan time: refuse `--eval-every` for a model the evaluator cannot score, or without
    real data; returns the real data folder (None when evaluation is off)."""
    if not cfg.eval_every:
        return None
    check_image_shape(cfg.image_shape, "this run (--eval-every)")
    check_n(cfg.eval_n, TRAINING_METRICS, option="--eval-n")
    return training_real_folder(cfg)


class TrainingScorer:
    """FD and KID (mean and std) of a generator during training, on fixed seeds 0..n-1."""

    def __init__(self, cfg: TrainConfig, say: Say = quiet, warn: Say = quiet):
        from ganctl.evaluator import load_evaluator

        folder = check_training_evaluation(cfg)
        if folder is None:
            raise ValueError("evaluation is off for this run (eval_every = 0)")
        self.cfg = cfg
        self.evaluator = load_evaluator()
        self.real = load_real_set(self.evaluator, folder, cfg.eval_n, with_test=False,
                                  say=say, warn=warn)
        self._generate: Callable[[np.ndarray], np.ndarray] | None = None
        self.timings: dict[str, float] = {}

    def __call__(self, generator: Any) -> dict[str, float]:
        from ganctl.sampling import compiled_generator

        if self._generate is None:
            self._generate = compiled_generator(generator)
        generated = score_generator(self._generate, self.cfg.latent_dim, self.evaluator,
                                    self.real, TRAINING_METRICS, self.cfg.eval_n, 0, self.timings,
                                    self.cfg.class_counts if self.cfg.conditional else ())
        return generated.metrics
