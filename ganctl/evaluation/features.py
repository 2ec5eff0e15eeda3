"""Evaluator features of real images, and what is cached about them on disk.

The cache (`ganctl.cache.cache_dir`) holds one .npz of evaluator features (plain arrays, no
pickle) per evaluator checksum, real-data pixels, split, sample size and sample seed; one JSON of reference
scores per set of those and version of the metrics' code; and one .npz of the test images'
distances to their nearest training images per pair of feature sets and version of that code.
A damaged or mismatching file is recomputed and rewritten. Evaluators trained on the data are
cached there too (see `ganctl.evaluation.evaluators.domain`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganctl.cache import cache_dir
from ganctl.errors import UsageError
from ganctl.events import Say, quiet
from ganctl.fsutil import atomic_path, atomic_write_json, sha256_hex

if TYPE_CHECKING:
    from ganctl.evaluation.evaluators.base import Evaluator
    from ganctl.evaluation.real import RealData

from ganctl.evaluation.real import SAMPLE_SEED


@dataclass(frozen=True)
class RealFeatures:
    """Evaluator outputs for `len(features)` images of one split of a real dataset: its random
    sample drawn with `seed` (`RealData.images`), or the whole split."""

    features: np.ndarray  # float64 [n, d]
    probs: np.ndarray | None  # float64 [n, classes]; None when the evaluator has no classes
    source: str
    split: str
    available: int  # images in the split
    cached: bool  # read from the cache rather than computed
    key: str  # names the features: evaluator, data contents, split, count, sample seed
    seed: int = SAMPLE_SEED  # the sample's seed

    @property
    def n(self) -> int:
        return len(self.features)


def compute_features(evaluator: Evaluator, images_uint8: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """Evaluator (features, probs) of uint8 images, prepared as the evaluator takes them."""
    return evaluator.features(evaluator.prepare(images_uint8))


def real_features(evaluator: Evaluator, data: RealData, split: str, n: int,
                  say: Say = quiet, warn: Say = quiet) -> RealFeatures:
    """Features of `n` images of `split` (all when fewer): its seeded random sample of `n`
    (`RealData.images`), from the cache when there.

    The cache key covers the evaluator's weights, the split's contents, the count and the
    sample's seed, so changed data, another sample or a new evaluator never reuses stale
    features (nor those that older versions computed for the split's first `n` images).
    """
    available = data.count(split)
    if available == 0:
        raise UsageError(f"{data.source} has no {split} images")
    count = min(n, available)
    seed = data.sample_seed
    data_sha = data.sha256(split)
    key = f"real-{evaluator.short_sha}-{split}-{count}-seed{seed}-{data_sha[:12]}"
    path = cache_dir() / f"{key}.npz"
    meta = {"evaluator_sha256": evaluator.sha256, "data_sha256": data_sha, "split": split,
            "sample": f"{count} of {available}, seed {seed}"}
    cached = _read_cache(path, meta, count, evaluator.feature_dim)
    if cached is not None:
        return RealFeatures(*cached, data.source, split, available, True, key, seed)
    if path.exists():
        warn(f"cached real features {path} are damaged; recomputing them")
    say(f"computing features of {count} real {split} images (cached for next time)")
    feats, probs = chunked_features(evaluator, data, split, count)
    try:
        _write_cache(path, meta, feats, probs)
    except OSError as exc:
        warn(f"cannot cache real features in {path.parent}: {exc.strerror or exc}")
    return RealFeatures(feats, probs, data.source, split, available, False, key, seed)


def chunked_features(evaluator: Evaluator, data: RealData, split: str, count: int
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """`compute_features` of `data.images(split, count)`, computed a chunk of images at a time
    (`RealData.image_chunks`): the same values (the chunks are whole batches of the network),
    without the whole sample in memory, nor the four times larger float32 copy of it that
    the evaluator takes."""
    feats = np.empty((count, evaluator.feature_dim), np.float64)
    probs: np.ndarray | None = None
    start = 0
    for chunk in data.image_chunks(split, count):
        f, p = compute_features(evaluator, chunk)
        feats[start:start + len(f)] = f
        if p is not None:
            if probs is None:
                probs = np.empty((count, p.shape[1]), np.float64)
            probs[start:start + len(p)] = p
        start += len(f)
    return feats, probs


def _read_cache(path: Path, meta: dict[str, str], count: int, dim: int
                ) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The cached (features, probs), or None when missing, damaged or not matching."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if any(str(npz[key]) != value for key, value in meta.items()):
                return None
            feats = npz["features"]
            probs = npz["probs"] if "probs" in npz.files else None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    ok = (feats.shape == (count, dim) and feats.dtype == np.float64
          and np.isfinite(feats).all()) and (probs is None or (
              probs.shape[0] == count and probs.dtype == np.float64 and np.isfinite(probs).all()))
    return (feats, probs) if ok else None


def _write_cache(path: Path, meta: dict[str, str], feats: np.ndarray,
                 probs: np.ndarray | None) -> None:
    arrays = {key: np.array(value) for key, value in meta.items()}
    if probs is not None:
        arrays["probs"] = probs
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, features=feats, **arrays)


# --- nearest training images of the held-out images ----------------------------------------------

def heldout_nearest(train: RealFeatures, heldout: RealFeatures, say: Say = quiet,
                    warn: Say = quiet) -> np.ndarray:
    """Each held-out row's distance to its nearest row of `train` (float64 [heldout.n]).

    The memorisation check compares every generated image with these; they depend on real data
    only, so they are cached beside the features (keyed by both feature sets and the metrics'
    code) and a second evaluation does not search the training set for them again.
    """
    from ganctl.evaluation.metrics.distance import nearest_neighbours

    text = "|".join([train.key, heldout.key, metrics_code_digest()])
    path = cache_dir() / f"nearest-{sha256_hex(text)[:16]}.npz"
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
    return sha256_hex(*(path.name.encode() + b"\0" + path.read_bytes()
                        for path in sorted((Path(__file__).parent / "metrics").glob("*.py"))))


def reference_cache_path(keys: Sequence[str], seed: int) -> Path:
    """Where the reference scores of real features `keys` (and metric `seed`) are cached."""
    text = "|".join([*keys, str(seed), metrics_code_digest()])
    return cache_dir() / f"reference-{sha256_hex(text)[:16]}.json"


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
