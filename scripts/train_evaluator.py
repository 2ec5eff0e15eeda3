"""Train the offline Fashion-MNIST evaluator and write ganctl/assets/evaluator.{npz,json}.

Usage: python scripts/train_evaluator.py [--data PATH] [--epochs N] [--seed S]

The weights are saved as a plain npz of float32 arrays (no pickle, no Keras file) and the
metadata records the sha256 of that file, the test accuracy measured on the reloaded weights,
and how the network was trained, so that every metric report can name the evaluator it used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ganctl.evaluation.evaluators import base  # noqa: E402
from ganctl.evaluation.evaluators import shipped as ev  # noqa: E402
from ganctl.fsutil import atomic_path, atomic_write_json, file_sha256  # noqa: E402

ARCHITECTURE = "fmnist-cnn-v1"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REPO / "../shared/data/fashion-mnist",
                   help="folder with the four Fashion-MNIST IDX .gz files")
    p.add_argument("--out", type=Path, default=ev.ASSETS_DIR, help="assets folder to write")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=2024)
    return p.parse_args()


def train(args: argparse.Namespace) -> tuple[dict[str, np.ndarray], float]:
    """Fit the network on the training split; return its weights and the seconds it took."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    x, y = ev.load_fashion_mnist(args.data, "train")
    net = ev.build_network(ARCHITECTURE)
    classifier = keras.Model(net.input, net.outputs[1])
    steps = args.epochs * int(np.ceil(len(x) / args.batch_size))
    # Cosine decay to zero: the last epochs settle the weights, which is worth ~0.5% accuracy.
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=steps)
    classifier.compile(optimizer=keras.optimizers.Adam(schedule),
                       loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    classifier.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
                   verbose=2)
    return base.weights_to_arrays(net), time.perf_counter() - start


def test_accuracy(npz_path: Path, data: Path) -> float:
    """Accuracy on the 10,000 test images of the weights as saved, read back from disk."""
    with np.load(npz_path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    net = ev.build_network(ARCHITECTURE)
    base.assign_weights(net, arrays)
    model = base.Evaluator(net, {"architecture": ARCHITECTURE, "sha256": "", "test_accuracy": 0,
                                 "classes": list(ev.CLASS_NAMES)})
    x, y = ev.load_fashion_mnist(data, "test")
    _, probs = model.features(x)
    return float(np.mean(probs.argmax(axis=1) == y))


def main() -> None:
    args = parse_args()
    weights, seconds = train(args)
    npz_path = args.out / ev.WEIGHTS_NAME
    with atomic_path(npz_path) as tmp:
        np.savez(tmp, **weights)
    accuracy = test_accuracy(npz_path, args.data)
    info = {
        "architecture": ARCHITECTURE,
        "version": 1,
        "sha256": file_sha256(npz_path),
        "test_accuracy": round(accuracy, 4),
        "feature_layer": "features",
        "feature_dim": int(weights["fc.kernel"].shape[1]),
        "input": "28x28x1 float in [-1, 1]",
        # sha256 (16 hex) of the first training images' pixels: how evaluate recognises this data
        "fingerprint": ev.fingerprint(ev.load_idx_folder(args.data, "train").x),
        "training": {
            "data": "Fashion-MNIST train split (60,000 images)",
            "seed": args.seed,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "seconds": round(seconds, 1),
            "date": dt.date.today().isoformat(),
        },
    }
    atomic_write_json(args.out / ev.INFO_NAME, info)
    print(f"test accuracy {accuracy:.4f}  sha256 {info['sha256'][:12]}  "
          f"{npz_path.stat().st_size / 1e6:.2f} MB  trained in {seconds:.0f} s")


if __name__ == "__main__":
    main()
