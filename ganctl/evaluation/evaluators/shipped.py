"""The offline Fashion-MNIST classifier that ganctl ships, whose features and softmax the
metrics are computed on for Fashion-MNIST.

The network is built from code (a builder keyed by architecture name) and its weights are read
from a plain npz shipped in `ganctl/assets/`, checked against the sha256 recorded beside it.
Nothing is downloaded and no code is loaded from a file. TensorFlow is imported lazily.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganctl.data import load_idx_folder, scale_to_signed_unit
from ganctl.errors import GanctlError
from ganctl.evaluation.evaluators.base import Evaluator, assign_weights
from ganctl.fsutil import file_sha256, sha256_hex

if TYPE_CHECKING:
    from ganctl.evaluation.real import RealData

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
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
    return Evaluator(model, {"classes": list(CLASS_NAMES), **info})


FINGERPRINT_IMAGES = 16


def fingerprint(images: np.ndarray) -> list[str]:
    """sha256 (16 hex digits) of each of the first images' pixels: recognises a dataset.

    The first images, not a random sample: this asks whether the data *is* Fashion-MNIST in its
    own order, which a sample cannot tell (and a run's --limit keeps the first images)."""
    return [sha256_hex(np.ascontiguousarray(img).tobytes())[:16]
            for img in images[:FINGERPRINT_IMAGES]]


def is_fashion_mnist(data: RealData) -> bool:
    """Whether `data` is Fashion-MNIST as the shipped evaluator was trained on: 28x28
    grayscale, its first training images those of the Fashion-MNIST training split."""
    if data.image_shape != IMAGE_SHAPE or data.count("train") == 0:
        return False
    known = read_info().get("fingerprint", [])
    first = np.arange(min(FINGERPRINT_IMAGES, data.count("train")))
    mine = fingerprint(data.rows("train", None, first))  # not a copy of the whole split
    return bool(known) and mine == known[:len(mine)]
