"""Real images for evaluation: where they come from, and what is cached about them on disk.

Real data (`RealData`) is the run's own by default, loaded as training loaded it, with a
held-out split: the data's test split, or a fixed seeded 10% (at most 10,000) of the images.
Every subset of a split that evaluation takes is a seeded random sample of it (`sample_indices`),
never its first images: an image folder is read class sub-folder after class sub-folder, so
its first 1,000 images may be one or two classes.

The cache, in `$GANCTL_CACHE`, else `$XDG_CACHE_HOME/ganctl`, else `~/.cache/ganctl`, holds
one .npz of evaluator features (plain arrays, no pickle) per evaluator checksum, real-data
pixels, split, sample size and sample seed; one JSON of reference scores per set of those and
version of the metrics' code; and one .npz of the test images' distances to their nearest
training images per pair of feature sets and version of that code. A damaged or mismatching
file is recomputed and rewritten. Evaluators trained on the data are cached there too (see
`ganctl.domain_evaluator`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganctl.data import BUILTIN, load_dataset, load_test_split
from ganctl.errors import UsageError
from ganctl.events import Say, quiet
from ganctl.fsutil import atomic_path, atomic_write_json

if TYPE_CHECKING:
    from ganctl.config import TrainConfig
    from ganctl.evaluator import Evaluator

CACHE_ENV = "GANCTL_CACHE"
# Data without a test split holds out this share for evaluation (seeded, so always the same).
HOLDOUT_SHARE = 0.1
HOLDOUT_MAX = 10_000
HOLDOUT_SEED = 0
# The seed of the samples evaluation takes from a split (`sample_indices`).
SAMPLE_SEED = 0


def cache_dir() -> Path:
    """The folder of cached real features (it may not exist yet)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ganctl"


def sample_indices(total: int, n: int | None, seed: int = SAMPLE_SEED) -> np.ndarray:
    """Indices of the `n` images evaluation takes from a split of `total`: all of them when `n`
    is None or at least `total`, else a seeded random sample, in the split's order.

    The one place real images are drawn, so that features, labels and the images shown beside
    them are the same rows, on every call. A larger `n` with the same seed keeps these rows.
    """
    if n is None or n >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).permutation(total)[:n])


@dataclass
class RealData:
    """Real images to compare with: the split a model learned from and a held-out split.

    Images are uint8 [n, h, w, c] as training reads them; `source` names where they came from
    and `heldout` how the held-out split was made. Evaluation takes `n` images of a split as a
    random sample drawn with `sample_seed` (`sample_indices`).
    """

    source: str
    train: np.ndarray
    test: np.ndarray | None
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    label_names: tuple[str, ...] = ()
    heldout: str = "the test split"
    sample_seed: int = SAMPLE_SEED
    _digests: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.train.shape[1:])  # type: ignore[return-value]

    def sample(self, split: str, n: int | None = None) -> np.ndarray:
        """Indices of the `n` images (default all) that evaluation takes from 'train' or 'test':
        a seeded random sample (`sample_indices`), the same on every call."""
        return sample_indices(self.count(split), n, self.sample_seed)

    def images(self, split: str, n: int | None = None) -> np.ndarray:
        """`n` images (default all) of 'train' or 'test': the split's random sample of `n`."""
        x = self.train if split == "train" else self.test
        if x is None:
            raise ValueError(f"{self.source} has no held-out images")
        return x if n is None or n >= len(x) else x[self.sample(split, n)]

    def labels(self, split: str, n: int | None = None) -> np.ndarray | None:
        """The labels of `images(split, n)`, row for row; None when unlabelled.
        Features of one class: `features[data.labels(split, len(features)) == c]`."""
        y = self.train_labels if split == "train" else self.test_labels
        return y if y is None or n is None or n >= len(y) else y[self.sample(split, n)]

    def describe_sample(self, split: str, n: int) -> str:
        """What `images(split, n)` holds, for reports: '1,000 of 5,400 training images, drawn
        at random (seed 0)', or 'all 600 held-out images'."""
        total = self.count(split)
        what = "training" if split == "train" else (
            "test" if self.heldout == "the test split" else "held-out")
        if n >= total:
            return f"all {total:,} {what} images"
        return f"{n:,} of {total:,} {what} images, drawn at random (seed {self.sample_seed})"

    def count(self, split: str) -> int:
        x = self.train if split == "train" else self.test
        return 0 if x is None else len(x)

    def sha256(self, split: str) -> str:
        """sha256 of a split's shape and pixels: changed data never reuses cached results."""
        if split not in self._digests:
            x = np.ascontiguousarray(self.images(split))
            digest = hashlib.sha256(str(x.shape).encode())
            digest.update(memoryview(x).cast("B"))
            self._digests[split] = digest.hexdigest()
        return self._digests[split]


def check_real_source(spec: str, given: bool) -> None:
    """Fail early, naming the path, when the data to compare with is gone (`given`: from
    --real, else the run's own training data)."""
    if spec in BUILTIN or Path(spec).expanduser().exists():
        return
    if given:
        raise UsageError(f"--real {spec} does not exist; pass a built-in dataset "
                         f"({', '.join(BUILTIN)}), an IDX folder, an .npz or an image folder")
    raise UsageError(f"the run's training data {spec} is gone; put it back, or pass --real PATH "
                     "to compare with other data of the same kind")


def load_real_data(spec: str, image_shape: tuple[int, int, int], limit: int | None = None,
                   given: bool = False) -> RealData:
    """Real data to compare a model with, as training reads it: `spec` (a built-in, IDX folder,
    .npz or image folder) with `limit`, converted to `image_shape`.

    The held-out split is the data's own test split when it has one; otherwise a fixed, seeded
    share of the images (`HOLDOUT_SHARE`, at most `HOLDOUT_MAX`), the rest being the train
    split. `given`: `spec` came from --real (for the error messages).
    """
    check_real_source(spec, given)
    h, w, channels = image_shape
    size = h if h == w else None
    try:
        ds = load_dataset(spec, limit, size, channels)
        test = load_test_split(spec, size, channels)
    except UsageError as exc:  # e.g. a built-in that is not cached, offline
        raise UsageError(str(exc).replace("--data PATH", "--real PATH")) from None
    if ds.image_shape != tuple(image_shape):
        raise UsageError(f"{spec} gives {'x'.join(map(str, ds.image_shape))} images, not the "
                         f"model's {'x'.join(map(str, image_shape))}; pass --real PATH to "
                         "square images")
    source = spec if spec in BUILTIN else str(Path(spec).expanduser().resolve())
    if test is not None:
        return RealData(source, ds.x, test.x, ds.y, test.y, ds.label_names)
    n = len(ds.x)
    if n < 2:
        raise UsageError(f"{spec} holds {n} image: too few to hold some out for evaluation")
    k = min(HOLDOUT_MAX, max(1, round(HOLDOUT_SHARE * n)))
    held = np.zeros(n, dtype=bool)
    held[np.random.default_rng(HOLDOUT_SEED).permutation(n)[:k]] = True
    y = ds.y
    heldout = (f"a seeded {HOLDOUT_SHARE:.0%} of the data held out ({k} of {n} images; training "
               "saw them)")
    return RealData(source, ds.x[~held], ds.x[held], None if y is None else y[~held],
                    None if y is None else y[held], ds.label_names, heldout)


def real_data_for_run(cfg: TrainConfig, real: str | None = None) -> RealData:
    """The data a run is compared with: its own (config.json's data, limit and image shape),
    or `real` (--real) converted to the run's image shape."""
    if cfg.image_shape is None:
        raise UsageError(f"run {cfg.name} has no image shape in its config; it never trained")
    if real is None:
        return load_real_data(cfg.data, cfg.image_shape, cfg.limit)
    return load_real_data(real, cfg.image_shape, given=True)


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
    feats, probs = compute_features(evaluator, data.images(split, count))
    try:
        _write_cache(path, meta, feats, probs)
    except OSError as exc:
        warn(f"cannot cache real features in {path.parent}: {exc.strerror or exc}")
    return RealFeatures(feats, probs, data.source, split, available, False, key, seed)


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
