"""An evaluator learned from the run's own data, for data the shipped classifier does not know.

A small CNN, sized to the images, is trained once per dataset on its training split: on its
classes when it is labelled, else on a self-supervised task that needs no labels: telling which
of four fixed transforms was applied (rotations by 0/90/180/270 degrees; for non-square images
the two flips and both). Recognising an upright image needs the shapes, strokes and textures of
the data, so its penultimate features describe what the data looks like, like a classifier's.

The trained evaluator is cached under the cache folder, keyed by the data's contents and this
module's code, as a plain .npz of float32 weights (no pickle) with its sha256 and held-out
accuracy in a JSON beside it. A damaged cache is retrained with a warning.
"""

from __future__ import annotations

import functools
import json
import math
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganctl.errors import GanctlError
from ganctl.events import EvaluatorTraining, Say, quiet
from ganctl.fsutil import atomic_path, atomic_write_json, file_sha256, sha256_hex

if TYPE_CHECKING:
    from ganctl.evaluation.evaluators.base import Evaluator
    from ganctl.evaluation.real import RealData

ARCHITECTURE = "domain-cnn-v1"
FEATURE_DIM = 128
TRANSFORMS = 4
# Keras' default 0.99 leaves the inference statistics a third of the way from their initial
# values after 100 batches: short trainings (small data) then scored 40% instead of 70%.
BN_MOMENTUM = 0.9
FIT_STEPS = 50  # at least this many batches per fit() call when epochs are short
WEIGHTS_NAME = "weights.npz"
INFO_NAME = "evaluator.json"
Progress = Callable[[EvaluatorTraining], None]


@dataclass(frozen=True)
class TrainingBudget:
    """How long the evaluator trains: `epochs` over at most `max_images` (a random sample of
    larger data), and at least `min_steps` batches (small datasets need more passes to learn
    anything)."""

    epochs: int = 3
    batch_size: int = 256
    min_steps: int = 200
    max_images: int = 60_000
    learning_rate: float = 2e-3
    seed: int = 0


DEFAULT_BUDGET = TrainingBudget()


# --- the network ----------------------------------------------------------------------------------

def build_domain_network(image_shape: tuple[int, int, int], outputs: int, seed: int = 0) -> Any:
    """Conv stages that halve the image until it is at most 8 pixels wide (32, 64, 128, 128...
    filters), then fc128 (the features) and a softmax over `outputs`; [features, probs]."""
    import keras
    from keras import layers

    def init(i: int) -> Any:  # seeded per layer: training touches no global RNG state
        return keras.initializers.GlorotUniform(seed=seed * 1000 + i)

    inputs = keras.Input(shape=image_shape, name="images")
    x, size, width, i = inputs, min(image_shape[:2]), 32, 0
    while True:
        i += 1
        x = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False,
                          kernel_initializer=init(i), name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        size = math.ceil(size / 2)
        if size <= 8:
            break
        width = min(2 * width, 128)
    i += 1
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=init(i),
                      name=f"conv{i}")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}")(x)
    x = layers.ReLU(name=f"relu{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(FEATURE_DIM, use_bias=False, kernel_initializer=init(90), name="fc")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="bn_fc")(x)
    features = layers.ReLU(name="features")(x)
    x = layers.Dropout(0.3, seed=seed, name="drop_fc")(features)
    probs = layers.Dense(outputs, activation="softmax", kernel_initializer=init(91),
                         name="logits")(x)
    return keras.Model(inputs, [features, probs], name="domain_cnn_v1")


# --- the task: classes, or which transform ---------------------------------------------------------

def transform(images: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Apply transform `which[i]` (0..3) to image i: rotations by 0/90/180/270 degrees for square
    images; none, left-right flip, up-down flip, both for others."""
    out = np.empty_like(images)
    square = images.shape[1] == images.shape[2]
    for t in range(TRANSFORMS):
        chosen = which == t
        if not chosen.any():
            continue
        part = images[chosen]
        if square:
            part = np.rot90(part, t, axes=(1, 2))
        else:
            part = part[:, :, ::-1] if t & 1 else part
            part = part[:, ::-1] if t & 2 else part
        out[chosen] = part
    return out


def labelled_classes(data: RealData) -> tuple[str, ...]:
    """The class names when both splits are labelled with at least two classes, else ()."""
    y, y_test = data.labels("train"), data.labels("test")
    if y is None or y_test is None or len(y) == 0:
        return ()
    count = max(int(y.max()), int(y_test.max()) if len(y_test) else 0) + 1
    if len(np.unique(y)) < 2:
        return ()
    names = data.label_names if len(data.label_names) >= count else ()
    return tuple(names) if names else tuple(str(c) for c in range(count))


def _epoch_draws(count: int, y: np.ndarray | None, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's order of the `count` training images (positions in the sample) and their
    targets: their labels, or a random transform each (to apply when reading them)."""
    order = rng.permutation(count)
    if y is not None:
        return order, y[order]
    return order, rng.integers(0, TRANSFORMS, count)


def heldout_accuracy(evaluator: Evaluator, data: RealData, classes: tuple[str, ...]) -> float:
    """Accuracy on the held-out images: of their classes, or of all four transforms of each.
    Computed a chunk of images at a time (`RealData.image_chunks`: whole batches of the
    network, so the same predictions as all at once)."""
    correct = total = 0
    labels = data.labels("test") if classes else None
    for chunk in data.image_chunks("test"):
        if labels is not None:
            _, probs = evaluator.features(evaluator.prepare(chunk))
            correct += int(np.sum(probs.argmax(axis=1) == labels[total:total + len(chunk)]))
            total += len(chunk)
            continue
        for t in range(TRANSFORMS):
            which = np.full(len(chunk), t)
            _, probs = evaluator.predict(evaluator.prepare(transform(chunk, which)))
            correct += int(np.sum(probs.argmax(axis=1) == t))
        total += TRANSFORMS * len(chunk)
    return correct / total


# --- training and the cache -------------------------------------------------------------------------

@functools.cache
def code_digest() -> str:
    """sha256 of this module's source: a changed evaluator is trained again, never reused."""
    return file_sha256(Path(__file__))


def cache_key(data: RealData, budget: TrainingBudget) -> str:
    """Names the evaluator of `data`: its images and labels, the seed of the sample it trains
    on, this code and the budget."""
    parts: list[str | bytes] = [f"sample seed {data.sample_seed}"]
    for split in ("train", "test"):
        labels = data.labels(split)
        parts += [data.sha256(split),
                  b"-" if labels is None else np.ascontiguousarray(labels, np.int64).tobytes()]
    return sha256_hex(*parts, json.dumps(asdict(budget), sort_keys=True), code_digest())[:16]


def domain_evaluator(data: RealData, budget: TrainingBudget = DEFAULT_BUDGET,
                     progress: Progress | None = None, say: Say | None = None,
                     warn: Say | None = None) -> Evaluator:
    """The evaluator of `data`: from the cache, else trained (reporting `progress`) and cached."""
    from ganctl.cache import cache_dir

    say, warn = say or quiet, warn or quiet
    folder = cache_dir() / "evaluators" / f"{ARCHITECTURE}-{cache_key(data, budget)}"
    if (folder / INFO_NAME).exists() or (folder / WEIGHTS_NAME).exists():
        try:
            return load_cached(folder)
        except GanctlError as exc:
            warn(f"{exc}; training it again")
    classes = labelled_classes(data)
    task = f"its {len(classes)} classes" if classes else "which of 4 rotations/flips"
    say(f"training an evaluator on {data.count('train')} images of {data.source} ({task}); "
        "cached for next time")
    weights, seconds = train_network(data, classes, budget, progress)
    info = {"name": "domain", "architecture": ARCHITECTURE, "image_shape": list(data.image_shape),
            "task": "classes" if classes else "transforms", "classes": list(classes),
            "outputs": len(classes) or TRANSFORMS, "data": data.source,
            "data_sha256": data.sha256("train"), "budget": asdict(budget),
            "seconds": round(seconds, 1), "code_sha256": code_digest()}
    evaluator = _evaluator_from(weights, {**info, "sha256": "", "test_accuracy": 0.0})
    info["test_accuracy"] = round(heldout_accuracy(evaluator, data, classes), 4)
    try:
        with atomic_path(folder / WEIGHTS_NAME) as tmp:
            np.savez(tmp, **weights)
        info["sha256"] = file_sha256(folder / WEIGHTS_NAME)
        atomic_write_json(folder / INFO_NAME, info)
        return load_cached(folder)
    except OSError as exc:
        warn(f"cannot cache the evaluator in {folder}: {exc.strerror or exc}")
        info["sha256"] = sha256_hex(b"".join(w.tobytes() for w in weights.values()))
        return _evaluator_from(weights, info)


@dataclass(frozen=True)
class TrainingImages:
    """The images the evaluator learns from: the training split, or a random sample of
    `max_images` of it, drawn as evaluation draws real images (the first ones of a folder read
    class by class would be one or two classes); and, for classes, their labels.

    Read a batch at a time (`read`), never held whole: 60,000 64x64 colour photos are 737 MB,
    and each epoch's shuffled and transformed copy was as much again."""

    data: RealData
    max_images: int
    count: int
    labels: np.ndarray | None  # int64 [count], for classes

    def read(self, positions: np.ndarray) -> np.ndarray:
        """Images `positions` (indices into the sample), in that order."""
        return self.data.rows("train", self.max_images, positions)


def training_set(data: RealData, classes: tuple[str, ...], budget: TrainingBudget
                 ) -> TrainingImages:
    """What the evaluator of `data` learns from (`TrainingImages`)."""
    count = min(budget.max_images, data.count("train"))
    y = data.labels("train", budget.max_images) if classes else None
    return TrainingImages(data, budget.max_images, count, None if y is None else y.astype(np.int64))


def train_network(data: RealData, classes: tuple[str, ...], budget: TrainingBudget,
                  progress: Progress | None = None) -> tuple[dict[str, np.ndarray], float]:
    """Fit the network to `data`'s training split; its weights and the seconds it took."""
    import keras

    from ganctl.evaluation.evaluators.base import bounded_batch, weights_to_arrays

    images = training_set(data, classes, budget)
    n = images.count
    net = build_domain_network(data.image_shape, len(classes) or TRANSFORMS, budget.seed)
    head = keras.Model(net.inputs, net.outputs[1])
    batch = min(bounded_batch(budget.batch_size, data.image_shape), n)
    per_epoch = math.ceil(n / batch)
    epochs = max(budget.epochs, math.ceil(budget.min_steps * batch / n))
    # Small data takes many short epochs: several go to one fit() call (each costs ~0.1 s).
    group = max(1, FIT_STEPS // per_epoch)
    calls = [min(group, epochs - first) for first in range(0, epochs, group)]
    steps = sum(math.ceil(count * n / batch) for count in calls)
    schedule = keras.optimizers.schedules.CosineDecay(budget.learning_rate, steps)
    head.compile(optimizer=keras.optimizers.Adam(schedule),
                 loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(budget.seed)
    report = _progress_callback(progress, steps, epochs, n, batch)
    start = time.perf_counter()
    for i, count in enumerate(calls):
        draws = [_epoch_draws(n, images.labels, rng) for _ in range(count)]
        report.first_epoch, report.first_step = i * group, report.step
        order = np.concatenate([d[0] for d in draws])
        targets = np.concatenate([d[1] for d in draws])
        head.fit(_batches(images, order, targets, batch), epochs=1, verbose=0,
                 steps_per_epoch=math.ceil(len(order) / batch), shuffle=False,
                 callbacks=[report])
    return weights_to_arrays(net), time.perf_counter() - start


def _batches(images: TrainingImages, order: np.ndarray, targets: np.ndarray, batch: int
             ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The images `order` and their `targets` in batches, in order: each batch read, given its
    transforms (when the targets are transforms) and scaled to [-1, 1]."""
    from ganctl.data import scale_to_signed_unit

    for start in range(0, len(order), batch):
        x = images.read(order[start:start + batch])
        if images.labels is None:
            x = transform(x, targets[start:start + batch])
        yield scale_to_signed_unit(x), targets[start:start + batch]


def _progress_callback(progress: Progress | None, steps: int, epochs: int, images: int,
                       batch: int) -> Any:
    """A Keras callback reporting every batch as an EvaluatorTraining event; before each fit()
    call set its `first_epoch` (of that call) and `first_step` (batches before it)."""
    import keras

    class Report(keras.callbacks.Callback):
        first_epoch = first_step = step = 0

        def on_train_batch_end(self, index: int, logs: dict | None = None) -> None:
            self.step = self.first_step + index + 1
            if progress is not None:
                loss = float((logs or {}).get("loss", float("nan")))
                epoch = self.first_epoch + min(index * batch // images, epochs - 1) + 1
                progress(EvaluatorTraining(self.step, steps, min(epoch, epochs), epochs, loss))

    return Report()


def load_cached(folder: Path) -> Evaluator:
    """A cached evaluator, its weights checked against their recorded sha256."""

    info_path, weights_path = folder / INFO_NAME, folder / WEIGHTS_NAME
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        digest = file_sha256(weights_path)
        if digest != info.get("sha256"):
            raise GanctlError(f"cached evaluator {weights_path} is damaged (sha256 "
                              f"{digest[:12]}, expected {str(info.get('sha256'))[:12]})")
        with np.load(weights_path, allow_pickle=False) as npz:
            weights = {key: npz[key] for key in npz.files}
        return _evaluator_from(weights, info)
    except GanctlError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise GanctlError(f"cached evaluator in {folder} is damaged ({type(exc).__name__})"
                          ) from None


def _evaluator_from(weights: dict[str, np.ndarray], info: dict[str, Any]) -> Evaluator:
    from ganctl.evaluation.evaluators.base import Evaluator, assign_weights

    net = build_domain_network(tuple(info["image_shape"]), int(info["outputs"]),
                               int(info.get("budget", {}).get("seed", 0)))
    assign_weights(net, weights)
    return Evaluator(net, info)
