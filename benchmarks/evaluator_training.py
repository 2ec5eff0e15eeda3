"""How long the domain evaluator takes to train on a full-size dataset, labelled and not.

Trains the evaluator `ganctl evaluate` uses for data that is not Fashion-MNIST on an IDX folder
(default: the shared Fashion-MNIST, 60,000 28x28 training images, treated as unknown data),
once on its classes and once self-supervised (labels dropped), each in an empty cache, and
prints the training seconds and the held-out accuracy.

    nice -n 5 python benchmarks/evaluator_training.py [--data ../shared/data/fashion-mnist]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from shared_data import default_fashion_mnist

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_fashion_mnist())
    args = parser.parse_args()
    from ganctl.data import load_idx_folder
    from ganctl.evaluation.evaluators.domain import domain_evaluator
    from ganctl.evaluation.real import RealData

    train, test = load_idx_folder(args.data, "train"), load_idx_folder(args.data, "test")
    for labelled in (True, False):
        data = RealData(str(args.data), train.x, test.x, train.y if labelled else None,
                        test.y if labelled else None)
        with tempfile.TemporaryDirectory() as cache:
            os.environ["GANCTL_CACHE"] = cache
            start = time.perf_counter()
            evaluator = domain_evaluator(data)
            total = time.perf_counter() - start
        task = "classes" if labelled else "rotations (self-supervised)"
        print(f"{task:28s} {len(train.x)} images {train.x.shape[1:]}: training "
              f"{evaluator.info['seconds']:.0f} s ({total:.0f} s with the held-out accuracy), "
              f"held-out accuracy {evaluator.accuracy:.4f}", flush=True)


if __name__ == "__main__":
    main()
