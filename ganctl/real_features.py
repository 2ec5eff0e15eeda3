"""Real images for evaluation: where they come from, and what is cached about them on disk.

The cache, in `$GANCTL_CACHE`, else `$XDG_CACHE_HOME/ganctl`, else `~/.cache/ganctl`, holds
one .npz of evaluator features (plain arrays, no pickle) per evaluator checksum, real-data
file contents, split and image count; one JSON of reference scores per set of those and
version of the metrics' code; and one .npz of the test images' distances to their nearest
training images per pair of feature sets and version of that code. A damaged or mismatching
file is recomputed and rewritten.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganctl.data import (
    IDX_FILES,
    find_idx,
    idx_shape,
    is_idx_folder,
    keras_home,
    load_idx_folder,
    scale_to_signed_unit,
)
from ganctl.errors import UsageError
from ganctl.events import Say, quiet
from ganctl.fsutil import atomic_path, atomic_write_json, file_sha256

if TYPE_CHECKING:
    from ganctl.evaluator import Evaluator

CACHE_ENV = "GANCTL_CACHE"
SPLIT_FILES = {"train": IDX_FILES[0], "test": IDX_FILES[2]}
IMAGE_SIZE = (28, 28)  # what the evaluator takes


def cache_dir() -> Path:
    """The folder of cached real features (it may not exist yet)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ganctl"


def default_real_folder() -> Path:
    """Fashion-MNIST as Keras caches it: `$KERAS_HOME/datasets/fashion-mnist`."""
    return keras_home() / "datasets" / "fashion-mnist"


def resolve_real_folder(real: str | os.PathLike | None) -> Path:
    """The folder of IDX files to compare against: `real`, or Keras' Fashion-MNIST cache.

    Both splits must be there, as 28x28 images (the evaluator's size).
    """
    folder = Path(real).expanduser() if real is not None else default_real_folder()
    if not is_idx_folder(folder) or _idx_file(folder, "test") is None:
        names = ", ".join(IDX_FILES)
        if real is None:
            raise UsageError(f"no Fashion-MNIST in {folder} (Keras' cache) to compare against; "
                             f"put the four IDX files ({names}) there, or pass --real PATH to a "
                             "folder of them")
        what = "is not a folder" if not folder.is_dir() else "lacks the train or test images"
        raise UsageError(f"--real {real} {what}; pass a folder holding the four IDX files "
                         f"({names})")
    for split in SPLIT_FILES:
        shape = idx_shape(_idx_file(folder, split))
        if tuple(shape[1:]) != IMAGE_SIZE:
            size = "x".join(str(s) for s in shape[1:]) or "no"
            raise UsageError(f"{folder} holds {size} {split} images; the evaluator compares "
                             "28x28 grayscale images, like Fashion-MNIST")
    return folder.resolve()


def _idx_file(folder: Path, split: str) -> Path | None:
    return find_idx(folder, SPLIT_FILES[split])


def load_real_images(folder: Path, split: str, n: int | None = None) -> np.ndarray:
    """The first `n` (default all) images of a split as uint8 [n, h, w, 1]."""
    x = load_idx_folder(Path(folder), split).x
    return x if n is None else x[:n]


@dataclass(frozen=True)
class RealFeatures:
    """Evaluator outputs for the first `len(features)` images of one split of a real dataset."""

    features: np.ndarray  # float64 [n, d]
    probs: np.ndarray  # float64 [n, 10]
    folder: Path
    split: str
    available: int  # images in the split
    cached: bool  # read from the cache rather than computed
    key: str  # names the features: evaluator, data contents, split, count

    @property
    def n(self) -> int:
        return len(self.features)


def compute_features(evaluator: Evaluator, images_uint8: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Evaluator (features, probs) of uint8 images, scaled to [-1, 1] as training scales them."""
    return evaluator.features(scale_to_signed_unit(images_uint8))


def real_features(evaluator: Evaluator, folder: Path, split: str, n: int,
                  say: Say = quiet, warn: Say = quiet) -> RealFeatures:
    """Features of the first `n` images of `split` (all when fewer), from the cache when there.

    The cache key covers the evaluator's weights, the split file's contents and the count,
    so changed data or a new evaluator never reuses stale features.
    """
    source = _idx_file(Path(folder), split)
    if source is None:
        raise UsageError(f"{folder} has no {SPLIT_FILES[split]} file")
    available = idx_shape(source)[0]
    count = min(n, available)
    data_sha = file_sha256(source)
    key = f"real-{evaluator.short_sha}-{split}-{count}-{data_sha[:12]}"
    path = cache_dir() / f"{key}.npz"
    meta = {"evaluator_sha256": evaluator.sha256, "data_sha256": data_sha, "split": split}
    cached = _read_cache(path, meta, count, evaluator.feature_dim)
    if cached is not None:
        return RealFeatures(*cached, Path(folder), split, available, True, key)
    if path.exists():
        warn(f"cached real features {path} are damaged; recomputing them")
    say(f"computing features of {count} real {split} images (cached for next time)")
    feats, probs = compute_features(evaluator, load_real_images(Path(folder), split, count))
    try:
        _write_cache(path, meta, feats, probs)
    except OSError as exc:
        warn(f"cannot cache real features in {path.parent}: {exc.strerror or exc}")
    return RealFeatures(feats, probs, Path(folder), split, available, False, key)


def _read_cache(path: Path, meta: dict[str, str], count: int, dim: int
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached (features, probs), or None when missing, damaged or not matching."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if any(str(npz[key]) != value for key, value in meta.items()):
                return None
            feats, probs = npz["features"], npz["probs"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    ok = (feats.shape == (count, dim) and probs.shape[0] == count and feats.dtype == np.float64
          and probs.dtype == np.float64 and np.isfinite(feats).all() and np.isfinite(probs).all())
    return (feats, probs) if ok else None


def _write_cache(path: Path, meta: dict[str, str], feats: np.ndarray, probs: np.ndarray) -> None:
    arrays = {key: np.array(value) for key, value in meta.items()}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, features=feats, probs=probs, **arrays)


# --- nearest training images of the held-out images ----------------------------------------------

def heldout_nearest(train: RealFeatures, heldout: RealFeatures, say: Say = quiet,
                    warn: Say = quiet) -> np.ndarray:
    """Each held-out row's distance to its nearest row of `train` (float64 [heldout.n]).

    The memorisation check compares every generated image with these; they depend on real data
    only, so they are cached beside the features (keyed by both feature sets and the metrics'
    code) and a second evaluation does not search the training set for them again.
    """
    from ganctl.metrics.distance import nearest_neighbours

    text = "|".join([train.key, heldout.key, metrics_code_digest()])
    path = cache_dir() / f"nearest-{hashlib.sha256(text.encode()).hexdigest()[:16]}.npz"
    try:
        with np.load(path, allow_pickle=False) as npz:
            dist = npz["distances"]
        if dist.shape == (heldout.n,) and dist.dtype == np.float64 and np.isfinite(dist).all():
            return dist
        warn(f"cached distances {path} are damaged; recomputing them")
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        warn(f"cached distances {path} are damaged; recomputing them")
    say(f"finding the nearest of {train.n} training images for each of {heldout.n} "
        f"{heldout.split} images (cached for next time)")
    dist = nearest_neighbours(heldout.features, train.features)[0]
    with contextlib.suppress(OSError), atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, distances=dist)
    return dist


# --- reference scores ----------------------------------------------------------------------------

@functools.cache
def metrics_code_digest() -> str:
    """sha256 of the metrics' source files: cached scores of older code are not reused."""
    digest = hashlib.sha256()
    for path in sorted((Path(__file__).parent / "metrics").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def reference_cache_path(keys: Sequence[str], seed: int) -> Path:
    """Where the reference scores of real features `keys` (and metric `seed`) are cached."""
    text = "|".join([*keys, str(seed), metrics_code_digest()])
    return cache_dir() / f"reference-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"


def read_reference(path: Path) -> dict[str, dict[str, float]]:
    """Cached reference scores by metric name ({} when missing or damaged)."""
    try:
        stored: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(stored, dict):
        return {}
    return {name: values for name, values in stored.items() if isinstance(values, dict)
            and all(isinstance(v, float | int) for v in values.values())}


def write_reference(path: Path, scores: dict[str, dict[str, float]]) -> None:
    """Store reference scores; a cache that cannot be written is simply not used."""
    with contextlib.suppress(OSError):
        atomic_write_json(path, scores)
