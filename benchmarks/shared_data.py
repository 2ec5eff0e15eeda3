"""Where the benchmarks find Fashion-MNIST by default: the nearest `shared/data/fashion-mnist`
above the checkout (this project's machines keep one there, beside clones and worktrees alike),
else Keras' cache, `~/.keras/datasets/fashion-mnist`, where `ganctl evaluate` looks by default."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def default_fashion_mnist() -> Path:
    for folder in REPO.parents:
        candidate = folder / "shared" / "data" / "fashion-mnist"
        if candidate.is_dir():
            return candidate
    return Path.home() / ".keras" / "datasets" / "fashion-mnist"
