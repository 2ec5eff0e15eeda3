"""FID as papers report it: features of Keras' InceptionV3 with ImageNet weights (`--evaluator
inception`).

Images are converted to RGB and resized (bilinear) to 299x299, scaled to [-1, 1] as Inception
expects, and described by the 2048-d average-pool features. Keras downloads the weights once
into its cache (`$KERAS_HOME/models/`); offline, the error names the file and the folder. This
Keras port does not give the same numbers as the TF-GAN or pytorch-fid FID (other weights
conversion and resizing), so compare with papers with care. There are no classes: the metrics
that need them are skipped. On a CPU it is slow (about 6 GFLOPs per image).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ganctl.data import scale_to_signed_unit
from ganctl.errors import UsageError
from ganctl.evaluation.evaluators.base import Evaluator
from ganctl.fsutil import file_sha256, sha256_hex

WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INPUT_SIZE = 299
FEATURE_DIM = 2048
NOTE = ("FID with Keras' InceptionV3 port (ImageNet weights): not identical to the TF-GAN or "
        "pytorch-fid FID")


def weights_path() -> Path:
    """Where Keras keeps (and looks for) the ImageNet weights without the top layer."""
    from ganctl.data import keras_home

    return keras_home() / "models" / WEIGHTS_FILE


def build_inception(weights: str | None = "imagenet", size: int = INPUT_SIZE) -> Any:
    """InceptionV3 without its top, average-pooled: [n, size, size, 3] in [-1, 1] -> [n, 2048].

    With weights="imagenet" a missing weights file is downloaded by Keras; when that fails, a
    one-line error names the file and the folder to place it in.
    """
    import keras

    try:
        return keras.applications.InceptionV3(include_top=False, weights=weights,
                                              input_shape=(size, size, 3), pooling="avg")
    except Exception as exc:  # noqa: BLE001 - any download failure means the same to the user
        if weights is None:
            raise
        raise UsageError(f"cannot get the InceptionV3 weights ({type(exc).__name__}); offline? "
                         f"put {WEIGHTS_FILE} in {weights_path().parent}") from None


class InceptionEvaluator(Evaluator):
    """InceptionV3 pool features of images of any shape (converted per batch: 10,000 images at
    299x299x3 in float32 would take 10 GB)."""

    def __init__(self, model: Any, image_shape: tuple[int, int, int], sha256: str):
        self._model = model
        self.name = "inception"
        self.architecture = "inception-v3"
        self.sha256 = sha256
        self.accuracy = float("nan")
        self.classes = ()
        self.image_shape = tuple(image_shape)  # type: ignore[assignment]
        self.feature_dim = FEATURE_DIM
        self.size = int(model.inputs[0].shape[1])
        self.info = {"task": "imagenet", "input": f"{self.size}x{self.size}x3, bilinear"}
        self.notes = (NOTE,)

    def accuracy_text(self) -> str:
        return f"ImageNet weights, images resized to {self.size}x{self.size} RGB"

    def prepare(self, images_uint8: np.ndarray) -> np.ndarray:
        """Kept as they are (uint8): `predict` converts each batch."""
        return np.asarray(images_uint8)

    def feature_tensor(self, images: Any) -> Any:
        raise UsageError("projection uses the run's own evaluator (fashion-mnist or domain), "
                         "not inception")

    def predict(self, images: np.ndarray, batch_size: int = 100
                ) -> tuple[np.ndarray, np.ndarray]:
        import tensorflow as tf

        images = np.asarray(images)
        if images.ndim != 4 or images.shape[1:] != self.image_shape:
            made = "x".join(str(s) for s in images.shape[1:]) or "scalars"
            raise UsageError(f"the evaluator was set up for {self.shape_text()} images; "
                             f"this model makes {made}")
        feats = np.empty((len(images), FEATURE_DIM), dtype=np.float64)
        for start in range(0, len(images), batch_size):
            batch = tf.convert_to_tensor(images[start:start + batch_size], tf.float32)
            if batch.shape[-1] == 1:
                batch = tf.image.grayscale_to_rgb(batch)
            batch = tf.image.resize(batch, (self.size, self.size), method="bilinear")
            feats[start:start + len(batch)] = np.asarray(
                self._model(scale_to_signed_unit(batch), training=False))
        return feats, np.empty((len(images), 0))


def load_inception(image_shape: tuple[int, int, int], weights: str | None = "imagenet",
                   size: int = INPUT_SIZE) -> InceptionEvaluator:
    """The Inception evaluator for images of `image_shape` (weights=None: untrained, for tests)."""
    model = build_inception(weights, size)
    if weights is None:
        digest = sha256_hex(b"".join(np.asarray(w).tobytes() for w in model.weights))
    else:
        digest = file_sha256(weights_path())
    return InceptionEvaluator(model, image_shape, digest)
