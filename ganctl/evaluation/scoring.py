"""Score generators on an evaluator's features, beside the same metrics between real train and
held-out images.

`evaluate` scores one checkpoint (or every kept one) of a run on `n` images generated from
seeds SEED..SEED+n-1, against `n` training images of the run's real data drawn at random
with a fixed seed (the memorisation check: against all of them); the reference is each metric
with `n` held-out images, drawn alike, in the generator's place. Real images are never the
first `n` of a split: a folder read class by class would give one or two classes.
The evaluator is the shipped Fashion-MNIST classifier, one trained on the data, or Inception
(`evaluators.choose_evaluator`).
`ganctl.training.eval_every` does the same for FD and KID during training.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganctl.checkpoints import CheckpointInfo, CheckpointStore
from ganctl.errors import GanctlError, UsageError, check_positive
from ganctl.evaluation.features import (
    RealFeatures,
    compute_features,
    heldout_nearest,
    read_reference,
    real_features,
    reference_cache_path,
    write_reference,
)
from ganctl.evaluation.metrics import METRICS, MetricInputs, metric_names
from ganctl.evaluation.real import RealData, real_data_for_run
from ganctl.events import EvaluatorTraining, Say, quiet

if TYPE_CHECKING:
    from ganctl.evaluation.evaluators.base import Evaluator
    from ganctl.generation.inference import LoadedGenerator
    from ganctl.generation.sampling import Samples

DEFAULT_N = 10_000
# The metrics of the metric-over-epochs table (`--all`); the others are slow or single-number.
EPOCH_METRICS = ("fd", "kid", "precision_recall", "density_coverage", "class_histogram")
# What conditional runs add to that table.
CONDITIONAL_EPOCH_METRICS = ("class_agreement", "intra_fd")
# Names of single values that select the metric computing them.
ALIASES = {"fid": "fd", "precision": "precision_recall", "recall": "precision_recall",
           "density": "density_coverage", "coverage": "density_coverage",
           "classes": "class_histogram", "is": "classifier_score"}


# --- checking options -----------------------------------------------------------------------------

def parse_metrics(text: str | None, default: Sequence[str] | None = None) -> tuple[str, ...]:
    """`--metrics fd,kid,...` as registry names in report order (default: `default`)."""
    if text is None:
        return metric_names() if default is None else tuple(default)
    chosen = set()
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        name = ALIASES.get(part, part)
        if name not in METRICS:
            raise UsageError(f"unknown metric {part!r} in --metrics; choose from: "
                             f"{', '.join(METRICS)}")
        chosen.add(name)
    if not chosen:
        raise UsageError(f"--metrics is empty; choose from: {', '.join(METRICS)}")
    return tuple(name for name in METRICS if name in chosen)


def default_metrics(conditional: bool, over_epochs: bool = False) -> tuple[str, ...]:
    """The metrics scored without `--metrics`: all (or, over epochs, `EPOCH_METRICS`), with the
    conditional ones for a conditional run."""
    if over_epochs:
        return EPOCH_METRICS + (CONDITIONAL_EPOCH_METRICS if conditional else ())
    return metric_names(conditional)


def check_n(n: int, metrics: Sequence[str], option: str = "--n") -> None:
    """Refuse an image count below what a chosen metric needs."""
    check_positive(option, n)
    for name in metrics:
        if n < METRICS[name].min_n:
            raise UsageError(f"{option} {n} is too few images for {name}, which needs at least "
                             f"{METRICS[name].min_n}; raise {option}")


def metrics_for(evaluator: Evaluator, metrics: Sequence[str]) -> tuple[list[str], list[str]]:
    """The metrics `evaluator` can give, and a note naming those it cannot: the ones that need
    classes, when it has none (it learned a task without labels)."""
    if evaluator.num_classes:
        return list(metrics), []
    skipped = [name for name in metrics if METRICS[name].needs_classes]
    kept = [name for name in metrics if name not in skipped]
    if not kept:
        raise UsageError(f"--metrics {','.join(skipped)} need classes and the evaluator has none "
                         "(the data has no labels); choose other metrics")
    if not skipped:
        return kept, []
    return kept, [f"{', '.join(skipped)} skipped: the evaluator was trained without labels "
                  "(the data has none), so it has no classes"]


def conditional_metrics_for(cfg: Any, evaluator: Evaluator, data: RealData,
                            metrics: Sequence[str]) -> tuple[list[str], list[str]]:
    """The conditional metrics (class agreement, intra-class FD) that can score this run, and a
    note naming those that cannot.

    They need a conditional run (an error otherwise) and real labels; class agreement also needs
    an evaluator whose classes are the run's, in the same order.
    """
    from ganctl.classes import model_classes

    wanted = [name for name in metrics if METRICS[name].conditional]
    if not wanted:
        return list(metrics), []
    names = model_classes(cfg)
    if not names:
        raise UsageError(f"{', '.join(wanted)} score conditional models and this run is "
                         "unconditional; choose other --metrics")
    skipped, why = [], []
    if data.labels("train") is None or data.labels("test") is None:
        skipped += wanted
        why.append("the real data has no labels in both splits")
    elif "class_agreement" in wanted and [c.lower() for c in evaluator.classes] != \
            [c.lower() for c in names]:
        skipped.append("class_agreement")
        why.append(f"the evaluator's classes ({', '.join(evaluator.classes) or 'none'}) are not "
                   f"the run's ({', '.join(names)})")
    kept = [name for name in metrics if name not in skipped]
    return kept, [f"{', '.join(skipped)} skipped: {'; '.join(why)}"] if skipped else []


# --- real data --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RealSet:
    """Real features: training images (what the model is compared with) and held-out test ones,
    each a seeded random sample of its split (`RealData.images`).

    `all_train` is the whole training split, for the memorisation check (None when no chosen
    metric needs it; `train` when that is the whole split already), and `heldout_nearest` each
    test image's distance to its nearest image of it.
    """

    data: RealData
    train: RealFeatures
    test: RealFeatures | None
    notes: tuple[str, ...] = ()
    all_train: RealFeatures | None = None
    heldout_nearest: np.ndarray | None = None

    def describe(self) -> str:
        """What the model and the reference were compared with, for the report: '1,000 of
        5,400 training images, drawn at random (seed 0); reference: 600 ...'."""
        text = self.data.describe_sample("train", self.train.n)
        if self.test is not None:
            text += f"; reference: {self.data.describe_sample('test', self.test.n)}"
        if self.all_train is not None and self.all_train.n > self.train.n:
            text += f"; memorisation against all {self.all_train.n:,} training images"
        return text


def load_real_set(evaluator: Evaluator, data: RealData, n: int, with_test: bool = True,
                  all_train: bool = False, say: Say = quiet, warn: Say = quiet) -> RealSet:
    """Features of `n` train (and test) images, each split's seeded random sample, noting
    where a split has fewer; with `all_train`, also of the whole train split."""
    train = real_features(evaluator, data, "train", n, say, warn)
    test = real_features(evaluator, data, "test", n, say, warn) if with_test else None
    whole = None
    if all_train:
        whole = train if train.n == train.available else real_features(
            evaluator, data, "train", train.available, say, warn)
    notes = []
    if data.heldout != "the test split":
        notes.append(f"the held-out images are {data.heldout}")
    if train.n < n:
        notes.append(f"the train split has only {train.n} images: the model is compared with "
                     f"all {train.n}")
    if test is not None and test.n < n:
        notes.append(f"the test split has only {test.n} images: the reference compares all "
                     f"{test.n} test images (not {n}) with the train images")
    nearest = None if whole is None or test is None else heldout_nearest(whole, test, say, warn)
    return RealSet(data, train, test, tuple(notes), whole, nearest)


def needs_all_train(metrics: Sequence[str]) -> bool:
    return any("all_train_features" in METRICS[name].needs for name in metrics)


def _all_train_features(real: RealSet) -> np.ndarray | None:
    return None if real.all_train is None else real.all_train.features


# --- scoring ----------------------------------------------------------------------------------------

@contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - start


def run_metrics(names: Sequence[str], inputs: MetricInputs, timings: dict[str, float],
                prefix: str = "") -> dict[str, float]:
    """Every metric of `names` on `inputs`, merged into one flat dict (times in `timings`)."""
    values: dict[str, float] = {}
    for name in names:
        with _timed(timings, f"{prefix}{name}"):
            values.update(METRICS[name](inputs))
    return values


def reference_metrics(names: Sequence[str], real: RealSet, seed: int,
                      timings: dict[str, float]) -> dict[str, float]:
    """The metrics with real test images in the generator's place: what 'as good as real' is.

    They depend only on the real features, the seed and the metrics' code, so they are cached
    beside the features; only metrics missing from the cache are computed (and timed).
    """
    test = real.test
    keys = (real.train.key, test.key) + ((real.all_train.key,) if real.all_train else ())
    path = reference_cache_path(keys, seed)
    stored = read_reference(path)
    missing = [name for name in names if name not in stored]
    if missing:
        inputs = MetricInputs(gen_features=test.features, gen_probs=test.probs,
                              real_features=real.train.features,
                              all_train_features=_all_train_features(real),
                              heldout_features=test.features,
                              heldout_nearest=real.heldout_nearest,
                              gen_labels=real.data.labels("test", test.n),
                              real_labels=real.data.labels("train", real.train.n), seed=seed)
        for name in missing:
            stored[name] = run_metrics([name], inputs, timings, prefix="reference ")
        write_reference(path, stored)
    return {key: float(value) for name in names for key, value in stored[name].items()}


@dataclass
class Generated:
    """A generator's images from seeds, the metrics' inputs (their evaluator outputs beside the
    real ones) and the metric values."""

    samples: Samples
    inputs: MetricInputs
    metrics: dict[str, float]


def score_generator(generate: Callable[..., np.ndarray], latent_dim: int,
                    evaluator: Evaluator, real: RealSet, metrics: Sequence[str], n: int,
                    seed: int, timings: dict[str, float],
                    class_counts: Sequence[int] = (), truncation: float | None = None
                    ) -> Generated:
    """Generate images from seeds `seed..seed+n-1` (their latents truncated at ψ = `truncation`
    when given) and compute `metrics` on them.

    A conditional generator (given its data's `class_counts`) draws its classes in the data's
    proportions, class by class (`classes.proportional_labels`).
    The images are scored as saved (quantised to bytes, like the real data), so a PNG
    written by `sample` gets the same numbers.
    """
    from ganctl.classes import proportional_labels
    from ganctl.generation.sampling import generate_samples

    labels = proportional_labels(class_counts, n) if class_counts else None
    with _timed(timings, "generate"):
        samples = generate_samples(generate, latent_dim, range(seed, seed + n), labels,
                                   truncation=truncation)
    with _timed(timings, "generated features"):
        feats, probs = compute_features(evaluator, samples.images)
    inputs = MetricInputs(gen_features=feats, gen_probs=probs, real_features=real.train.features,
                          all_train_features=_all_train_features(real),
                          heldout_features=None if real.test is None else real.test.features,
                          heldout_nearest=real.heldout_nearest, gen_labels=samples.labels,
                          real_labels=real.data.labels("train", real.train.n) if labels is not None
                          else None, seed=seed)
    return Generated(samples, inputs, run_metrics(metrics, inputs, timings))


# --- a report over one or all checkpoints -----------------------------------------------------------

@dataclass
class CheckpointScore:
    checkpoint: CheckpointInfo
    metrics: dict[str, float]
    truncation: float | None = None  # the ψ its latents were truncated at (None: not truncated)


@dataclass
class Report:
    """What `ganctl evaluate` prints and writes as JSON."""

    run: Path
    evaluator: dict[str, Any]  # Evaluator.describe(): name, architecture, sha256, accuracy...
    n: int
    seed: int
    metrics: tuple[str, ...]
    real: RealSet
    reference: dict[str, float]
    scores: list[CheckpointScore]
    timings: dict[str, float] = field(default_factory=dict)
    nn_grid: np.ndarray | None = None  # generated images beside their nearest training images
    notes: list[str] = field(default_factory=list)  # e.g. metrics skipped

    def to_json(self) -> dict[str, Any]:
        from ganctl import __version__
        from ganctl.generation.sampling import describe_seeds

        return {
            "ganctl_version": __version__,
            "evaluator": self.evaluator,
            "run": str(self.run),
            "n": self.n,
            "seeds": describe_seeds(range(self.seed, self.seed + self.n)),
            "metrics": list(self.metrics),
            "real": {"data": self.real.data.source, "heldout": self.real.data.heldout,
                     "compared": self.real.describe(),
                     "sample_seed": self.real.data.sample_seed,
                     "train_images": self.real.train.n,
                     "train_available": self.real.train.available,
                     "test_images": self.real.test.n if self.real.test else 0,
                     "test_available": self.real.test.available if self.real.test else 0,
                     "memorisation_train_images": (self.real.all_train.n if self.real.all_train
                                                   else 0),
                     "notes": list(self.real.notes)},
            "notes": list(self.notes),
            "reference": _json_values(self.reference),
            "checkpoints": [{"name": s.checkpoint.name, "epoch": s.checkpoint.epoch,
                             "step": s.checkpoint.step, "complete": s.checkpoint.complete,
                             "truncation": s.truncation,
                             "metrics": _json_values(s.metrics)} for s in self.scores],
            "seconds": {key: round(value, 3) for key, value in self.timings.items()},
        }


def _json_values(values: dict[str, float]) -> dict[str, float | None]:
    """Floats for JSON: NaN and infinities (not valid JSON) become null."""
    return {key: value if math.isfinite(value) else None for key, value in values.items()}


def evaluate(loaded: LoadedGenerator, real: str | None = None, n: int = DEFAULT_N, seed: int = 0,
             metrics: Sequence[str] | None = None, all_checkpoints: bool = False,
             nearest: int = 0, evaluator_kind: str = "auto", say: Say = quiet,
             warn: Say = quiet, progress: Callable[[EvaluatorTraining], None] | None = None,
             truncations: Sequence[float | None] = (None,)) -> Report:
    """Score `loaded`'s checkpoint (or, with `all_checkpoints`, every kept one of its run)
    against the run's own data, or `real` (a built-in, IDX folder, .npz or image folder).
    Each checkpoint is scored once per ψ of `truncations` (None: untruncated latents), a score
    each, in that order.

    `evaluator_kind` picks the evaluator (see `evaluator.choose_evaluator`); one trained on the
    data reports its training through `progress` the first time. With `nearest` K > 0 the
    report holds the picture of the generated images nearest to the training set, each beside
    its K nearest training images (`nn_grid`).
    """
    from ganctl.evaluation.evaluators import choose_evaluator
    from ganctl.generation.sampling import compiled_generator

    metrics = metric_names(loaded.cfg.conditional) if metrics is None else tuple(metrics)
    check_n(n, metrics)
    timings: dict[str, float] = {}
    say("loading the real data")
    with _timed(timings, "real data"):
        real_data = real_data_for_run(loaded.cfg, real)
    say("loading the evaluator")
    with _timed(timings, "evaluator"):
        evaluator = choose_evaluator(real_data, evaluator_kind, progress, say, warn)
    evaluator.check_shape(loaded.cfg.image_shape, f"run {loaded.run.name}")
    metrics, notes = metrics_for(evaluator, metrics)
    metrics, class_notes = conditional_metrics_for(loaded.cfg, evaluator, real_data, metrics)
    notes = [*evaluator.notes, *notes, *class_notes]
    with _timed(timings, "real features"):
        real = load_real_set(evaluator, real_data, n,
                             all_train=nearest > 0 or needs_all_train(metrics), say=say, warn=warn)
    say("scoring real test images against real train images (the reference)")
    reference = reference_metrics(metrics, real, seed, timings)
    generate = compiled_generator(loaded.generator)
    checkpoints = _kept_checkpoints(loaded) if all_checkpoints else [loaded.checkpoint]
    store = CheckpointStore(loaded.run.checkpoints)
    scores, grid = [], None
    for info in checkpoints:
        if all_checkpoints:
            try:
                store.restore({loaded.key: loaded.generator}, info, partial=True)
            except GanctlError as exc:
                warn(f"{exc}; skipping it")
                continue
        for psi in truncations:
            cut = "" if psi is None else f", truncation {psi:g}"
            say(f"scoring {n} generated images of epoch {info.epoch} ({info.name}{cut})")
            generated = score_generator(generate, loaded.cfg.latent_dim, evaluator, real, metrics,
                                        n, seed, timings, _class_counts(loaded.cfg), psi)
            scores.append(CheckpointScore(info, generated.metrics, psi))
            if nearest and grid is None:  # of the first ψ
                with _timed(timings, "nearest"):
                    grid = nearest_training_grid(generated, real, nearest)
    if not scores:
        raise GanctlError(f"no checkpoint of run {loaded.run.root} could be loaded")
    return Report(loaded.run.root, evaluator.describe(), n, seed, tuple(metrics), real, reference,
                  scores, timings, grid, notes)


def _class_counts(cfg: Any) -> tuple[int, ...]:
    """A conditional model's per-class image counts (empty for an unconditional one)."""
    return tuple(cfg.class_counts) if cfg.conditional else ()


def _kept_checkpoints(loaded: LoadedGenerator) -> list[CheckpointInfo]:
    entries = CheckpointStore(loaded.run.checkpoints).list()
    if not entries:
        raise GanctlError(f"run {loaded.run.root} has no checkpoints yet; train it first")
    return entries


# --- the nearest training images -------------------------------------------------------------------

def nearest_training_grid(generated: Generated, real: RealSet, k: int = 1) -> np.ndarray:
    """The generated images nearest to the whole training set (`real.all_train`), closest
    first, each beside its `k` nearest training images with the distances in evaluator
    features written under them (`ganctl.evaluation.nearest`)."""
    from ganctl.evaluation.nearest import nearest_picture, nearest_rows

    train = real.all_train
    if train is None:
        raise ValueError("the picture needs the whole training split: load_real_set(all_train=True)")
    found = nearest_rows(generated.inputs.gen_features, train.features,
                         generated.samples.seeds, k)
    # Only the training images shown are read (of the rows `all_train` was computed on).
    shown, where = np.unique(found.train, return_inverse=True)
    train_images = real.data.rows("train", train.n, shown)
    found = dataclasses.replace(found, train=where.reshape(found.train.shape))
    return nearest_picture(generated.samples.images, train_images, found)
