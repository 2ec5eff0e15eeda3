"""The offline Fashion-MNIST classifier whose features and softmax the metrics are computed on.

The network is built from code (a builder keyed by architecture name) and its weights are read
from a plain npz shipped in `ganctl/assets/`, checked against the sha256 recorded beside it.
Nothing is downloaded and no code is loaded from a file. TensorFlow is imported lazily.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganctl.data import load_idx_folder, scale_to_signed_unit
from ganctl.errors import GanctlError, UsageError
from ganctl.events import EvaluatorTraining
from ganctl.fsutil import file_sha256

if TYPE_CHECKING:
    from ganctl.real_features import RealData

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
WEIGHTS_NAME = "evaluator.npz"
INFO_NAME = "evaluator.json"
IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def load_fashion_mnist(root: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (images float32 [n, 28, 28, 1] in [-1, 1], labels int64 [n]) of 'train' or 'test'."""
    ds = load_idx_folder(Path(root), split)
    if ds.y is None:
        raise GanctlError(f"{root} has no {split} labels; the evaluator needs labelled images")
    return scale_to_signed_unit(ds.x), ds.y.astype(np.int64)


def _build_fmnist_cnn_v1() -> Any:
    """conv32-conv32-pool-conv64-conv64-pool-fc128(features)-fc10; outputs [features, probs]."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=IMAGE_SHAPE, name="images")
    x = inputs
    for i, width in enumerate((32, 32, 64, 64), start=1):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        if i % 2 == 0:
            x = layers.MaxPooling2D(2, name=f"pool{i // 2}")(x)
            x = layers.Dropout(0.2, name=f"drop{i // 2}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, use_bias=False, name="fc")(x)
    x = layers.BatchNormalization(name="bn_fc")(x)
    features = layers.ReLU(name="features")(x)
    x = layers.Dropout(0.4, name="drop_fc")(features)
    probs = layers.Dense(NUM_CLASSES, activation="softmax", name="logits")(x)
    return keras.Model(inputs, [features, probs], name="fmnist_cnn_v1")


ARCHITECTURES: dict[str, Callable[[], Any]] = {"fmnist-cnn-v1": _build_fmnist_cnn_v1}


def build_network(architecture: str) -> Any:
    """Build the untrained two-output Keras model [features, probs] for `architecture`."""
    try:
        builder = ARCHITECTURES[architecture]
    except KeyError:
        raise GanctlError(f"unknown evaluator architecture {architecture!r}; "
                          f"this ganctl knows {', '.join(ARCHITECTURES)}") from None
    return builder()


def weights_to_arrays(model: Any) -> dict[str, np.ndarray]:
    """Every weight of `model` (BatchNorm statistics included) as float32, keyed 'layer.var'."""
    return {f"{layer.name}.{w.name}": np.asarray(w.numpy(), dtype=np.float32)
            for layer in model.layers for w in layer.weights}


def assign_weights(model: Any, arrays: dict[str, np.ndarray]) -> None:
    """Set every weight of `model` from `arrays`; a missing, extra or misshapen one is an error."""
    expected = {f"{layer.name}.{w.name}": w for layer in model.layers for w in layer.weights}
    if set(expected) != set(arrays):
        diff = sorted(set(expected) ^ set(arrays))
        raise GanctlError(f"evaluator weights do not fit the network (differ in {diff[:3]}); "
                          "reinstall ganctl")
    for key, var in expected.items():
        if tuple(var.shape) != arrays[key].shape:
            raise GanctlError(f"evaluator weight {key} has shape {arrays[key].shape}, "
                              f"expected {tuple(var.shape)}; reinstall ganctl")
        var.assign(arrays[key])


class Evaluator:
    """A loaded evaluator network: features (penultimate layer) and, when it has classes, class
    probabilities of images.

    It owns what it takes (`image_shape`, and `prepare` turns uint8 images into its input), its
    `name` and what the reports say about it (`describe`). `classes` is empty for an evaluator
    trained without labels; its `accuracy` is then that of its own training task.
    """

    def __init__(self, model: Any, info: dict[str, Any]):
        self._model = model
        self.info = info
        self.name: str = info.get("name", "fashion-mnist")
        self.architecture: str = info["architecture"]
        self.sha256: str = info["sha256"]
        self.accuracy: float = float(info["test_accuracy"])
        self.classes: tuple[str, ...] = tuple(info.get("classes", CLASS_NAMES))
        self.image_shape: tuple[int, int, int] = tuple(  # type: ignore[assignment]
            int(v) for v in model.inputs[0].shape[1:])
        self.feature_dim: int = int(model.outputs[0].shape[-1])

    notes: tuple[str, ...] = ()  # what every report with it should say

    @property
    def short_sha(self) -> str:
        """First 12 hex digits of the weights' sha256, for reports."""
        return self.sha256[:12]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def shape_text(self) -> str:
        h, w, c = self.image_shape
        return f"{h}x{w} {'grayscale' if c == 1 else 'colour'}"

    def check_shape(self, shape: tuple[int, ...] | None, what: str) -> None:
        """Refuse images of another shape than the evaluator takes, naming `what` makes them."""
        if shape is None or tuple(shape) != self.image_shape:
            made = "x".join(str(s) for s in shape) if shape else "images of unknown shape"
            raise UsageError(f"the {self.name} evaluator takes {self.shape_text()} images and "
                             f"{what} makes {made}")

    def prepare(self, images_uint8: np.ndarray) -> np.ndarray:
        """uint8 images as the network takes them: float32 in [-1, 1], as training scales them."""
        return scale_to_signed_unit(images_uint8)

    def describe(self) -> dict[str, Any]:
        """What a report says about the evaluator."""
        accuracy = self.accuracy if np.isfinite(self.accuracy) else None
        return {"name": self.name, "architecture": self.architecture, "sha256": self.sha256,
                "test_accuracy": accuracy, "classes": self.num_classes,
                "task": self.info.get("task", "classes"), "accuracy_text": self.accuracy_text()}

    def accuracy_text(self) -> str:
        """What its held-out accuracy measures, for report headers."""
        if self.name == "fashion-mnist":
            return f"test accuracy {self.accuracy:.2%}"
        if self.num_classes:
            return (f"trained on this data: held-out accuracy {self.accuracy:.2%} on its "
                    f"{self.num_classes} classes")
        return (f"trained on this data without labels: held-out accuracy {self.accuracy:.2%} at "
                "telling which of 4 rotations/flips was applied, chance 25%")

    def features(self, images: np.ndarray, batch_size: int = 500
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (features float64 [n, d], probs float64 [n, classes] or None without classes)
        of images in [-1, 1]."""
        feats, head = self.predict(images, batch_size)
        return feats, head if self.num_classes else None

    def predict(self, images: np.ndarray, batch_size: int = 500
                ) -> tuple[np.ndarray, np.ndarray]:
        """(features, outputs of the network's head) of images in [-1, 1]; the head is the class
        probabilities, or, for an evaluator without classes, those of its own training task."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[1:] != self.image_shape:
            made = "x".join(str(s) for s in images.shape[1:]) or "scalars"
            raise UsageError(f"the evaluator takes {self.shape_text()} images; "
                             f"this model makes {made}")
        feats = np.empty((len(images), self.feature_dim), dtype=np.float64)
        head = np.empty((len(images), int(self._model.outputs[1].shape[-1])), dtype=np.float64)
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].astype(np.float32)
            f, p = self._model(batch, training=False)
            feats[start:start + len(batch)] = np.asarray(f)
            head[start:start + len(batch)] = np.asarray(p)
        return feats, head


def read_info(assets_dir: str | os.PathLike = ASSETS_DIR) -> dict[str, Any]:
    """The evaluator's recorded metadata (architecture, sha256, test accuracy, training run)."""
    path = Path(assets_dir) / INFO_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GanctlError(f"cannot read evaluator metadata {path}: {exc}; "
                          "run scripts/train_evaluator.py or reinstall ganctl") from exc


def load_evaluator(assets_dir: str | os.PathLike | None = None) -> Evaluator:
    """Load (once per process and folder) the shipped evaluator, checking its weights' sha256."""
    return _load_cached(str(Path(assets_dir or ASSETS_DIR).resolve()))


@functools.lru_cache(maxsize=4)
def _load_cached(assets_dir: str) -> Evaluator:
    info = read_info(assets_dir)
    npz_path = Path(assets_dir) / WEIGHTS_NAME
    try:
        digest = file_sha256(npz_path)
    except OSError as exc:
        raise GanctlError(f"cannot read evaluator weights {npz_path}: {exc}") from exc
    if digest != info.get("sha256"):
        raise GanctlError(f"evaluator weights {npz_path} have sha256 {digest[:12]}, expected "
                          f"{str(info.get('sha256'))[:12]}; reinstall ganctl")
    with np.load(npz_path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    model = build_network(info.get("architecture", ""))
    assign_weights(model, arrays)
    return Evaluator(model, info)


# --- which evaluator -------------------------------------------------------------------------------

EVALUATORS = ("auto", "fashion-mnist", "domain", "inception")
FINGERPRINT_IMAGES = 16


def fingerprint(images: np.ndarray) -> list[str]:
    """sha256 (16 hex digits) of each of the first images' pixels: recognises a dataset.

    The first images, not a random sample: this asks whether the data *is* Fashion-MNIST in its
    own order, which a sample cannot tell (and a run's --limit keeps the first images)."""
    return [hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()[:16]
            for img in images[:FINGERPRINT_IMAGES]]


def is_fashion_mnist(data: RealData) -> bool:
    """Whether `data` is Fashion-MNIST as the shipped evaluator was trained on: 28x28
    grayscale, its first training images those of the Fashion-MNIST training split."""
    if data.image_shape != IMAGE_SHAPE or data.count("train") == 0:
        return False
    known = read_info().get("fingerprint", [])
    mine = fingerprint(data.images("train"))
    return bool(known) and mine == known[:len(mine)]


def choose_evaluator(data: RealData, kind: str = "auto",
                     progress: Callable[[EvaluatorTraining], None] | None = None,
                     say: Callable[[str], None] | None = None,
                     warn: Callable[[str], None] | None = None) -> Evaluator:
    """The evaluator for `data`: `kind` 'fashion-mnist' (the shipped one), 'domain' (trained on
    `data`, cached), 'inception' (InceptionV3, ImageNet weights) or 'auto': the shipped one for
    Fashion-MNIST, else the domain one."""
    from ganctl.domain_evaluator import domain_evaluator

    if kind not in EVALUATORS:
        raise UsageError(f"unknown --evaluator {kind!r}; choose one of: {', '.join(EVALUATORS)}")
    if kind == "inception":
        from ganctl.inception import load_inception

        return load_inception(data.image_shape)
    if kind == "fashion-mnist" or (kind == "auto" and is_fashion_mnist(data)):
        evaluator = load_evaluator()
        evaluator.check_shape(data.image_shape, f"the real data {data.source}")
        return evaluator
    return domain_evaluator(data, progress=progress, say=say, warn=warn)
