"""What every evaluator is: a network whose penultimate-layer features (and class
probabilities, when it has classes) the metrics are computed on, with its input shape, its name
and what reports say about it; and its weights as plain arrays (no code is loaded from a file).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganctl.data import scale_to_signed_unit
from ganctl.errors import GanctlError, UsageError


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


# Batches of images with more values than this shrink, so that a batch's activations stay
# bounded: the domain evaluator took 11 GB at 256x256x3 in batches of 256. Up to 64x64x3 (every
# size measured before) the batch is unchanged, and so are the results.
BATCH_VALUES = 64 * 64 * 3


def bounded_batch(batch: int, image_shape: tuple[int, ...]) -> int:
    """`batch` for images of up to BATCH_VALUES values; for larger ones the largest divisor of
    `batch` at most batch x BATCH_VALUES / values (a divisor, so that chunks of a multiple of
    `batch` images meet the network in the same batches as all at once)."""
    values = int(np.prod([int(v) for v in image_shape]))
    if values <= BATCH_VALUES:
        return batch
    limit = max(1, batch * BATCH_VALUES // values)
    return max(d for d in range(1, limit + 1) if batch % d == 0)


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
        self.classes: tuple[str, ...] = tuple(info.get("classes", ()))
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

    def feature_tensor(self, images: Any) -> Any:
        """Features of a batch in [-1, 1] (a TensorFlow tensor) as a tensor that gradients flow
        through: the perceptual term that `ganctl project` minimises."""
        return self._model(images, training=False)[0]

    def predict(self, images: np.ndarray, batch_size: int = 500
                ) -> tuple[np.ndarray, np.ndarray]:
        """(features, outputs of the network's head) of images in [-1, 1]; the head is the class
        probabilities, or, for an evaluator without classes, those of its own training task.
        Images larger than 64x64x3 go through in smaller batches (`bounded_batch`)."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[1:] != self.image_shape:
            made = "x".join(str(s) for s in images.shape[1:]) or "scalars"
            raise UsageError(f"the evaluator takes {self.shape_text()} images; "
                             f"this model makes {made}")
        batch_size = bounded_batch(batch_size, self.image_shape)
        feats = np.empty((len(images), self.feature_dim), dtype=np.float64)
        head = np.empty((len(images), int(self._model.outputs[1].shape[-1])), dtype=np.float64)
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].astype(np.float32)
            f, p = self._model(batch, training=False)
            feats[start:start + len(batch)] = np.asarray(f)
            head[start:start + len(batch)] = np.asarray(p)
        return feats, head
