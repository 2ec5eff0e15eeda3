"""Real images for evaluation: the data a model is compared with, loaded as training loaded it.

Real data (`RealData`) is the run's own by default, with a held-out split: the data's test
split, or a fixed seeded 10% (at most 10,000) of the images. Every subset of a split that
evaluation takes is a seeded random sample of it (`sample_indices`), never its first images:
an image folder is read class sub-folder after class sub-folder, so its first 1,000 images may
be one or two classes.

An image folder's splits are index sets over its memory-mapped data cache (`Split`), never
copied out of it whole: evaluation reads the rows it samples, and goes through a whole split
(its digest, the memorisation check's features) a few thousand rows at a time
(`RealData.image_chunks`), so that its memory does not grow with the folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganctl.data import BUILTIN, load_dataset, load_test_split
from ganctl.datacache import RowReader
from ganctl.errors import UsageError

if TYPE_CHECKING:
    from ganctl.config import TrainConfig

# Data without a test split holds out this share for evaluation (seeded, so always the same).
HOLDOUT_SHARE = 0.1
HOLDOUT_MAX = 10_000
HOLDOUT_SEED = 0
# The seed of the samples evaluation takes from a split (`sample_indices`).
SAMPLE_SEED = 0
# Rows read at a time when going through a whole split: 2,000 64x64 colour images are 25 MB
# (98 MB as float32); a multiple of the evaluators' batches (500, Inception's 100), so features
# computed chunk by chunk meet the network in the same batches as all at once.
CHUNK_ROWS = 2_000


def sample_indices(total: int, n: int | None, seed: int = SAMPLE_SEED) -> np.ndarray:
    """Indices of the `n` images evaluation takes from a split of `total`: all of them when `n`
    is None or at least `total`, else a seeded random sample, in the split's order.

    The one place real images are drawn, so that features, labels and the images shown beside
    them are the same rows, on every call. A larger `n` with the same seed keeps these rows.
    """
    if n is None or n >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).permutation(total)[:n])


class Split:
    """Rows `index` (ascending) of `x` (all of it when None), read only when asked: a split of
    data without a test split (an image folder's memory-mapped data cache, or an array in
    memory), never copied whole.

    `take` reads the rows it is given (with pread from a memory map, so the pages never become
    this process's memory: `datacache.RowReader`); the array interface (`len`, `shape`,
    indexing, `np.asarray`) is there for callers that want plain arrays and accept the copy.
    """

    def __init__(self, x: np.ndarray, index: np.ndarray | None = None):
        self.x = x
        self.index = None if index is None else np.asarray(index, np.int64)
        self._reader: RowReader | None = None

    def __len__(self) -> int:
        return len(self.x) if self.index is None else len(self.index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.x.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.x.dtype

    @property
    def ndim(self) -> int:
        return self.x.ndim

    def take(self, rows: np.ndarray) -> np.ndarray:
        """A new array of the split's rows `rows` (positions in the split), in that order."""
        rows = np.asarray(rows, np.int64)
        where = rows if self.index is None else self.index[rows]
        if self._reader is None:
            self._reader = RowReader(self.x)
        out = np.empty((len(where), *self.x.shape[1:]), self.x.dtype)
        if len(where):
            self._reader.read(where, out)
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, int | np.integer):
            return self.take(np.arange(len(self))[[key]])[0]
        if isinstance(key, slice) or (isinstance(key, np.ndarray | list) and
                                      np.asarray(key).dtype.kind in "iu"):
            return self.take(np.arange(len(self))[key])
        return np.asarray(self)[key]

    def __iter__(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self), CHUNK_ROWS):
            yield from self.take(np.arange(start, min(start + CHUNK_ROWS, len(self))))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        x = self.take(np.arange(len(self)))
        return x if dtype is None else x.astype(dtype)


@dataclass
class RealData:
    """Real images to compare with: the split a model learned from and a held-out split.

    Images are uint8 [n, h, w, c] as training reads them (arrays, or `Split`s of an image
    folder's data cache); `source` names where they came from and `heldout` how the held-out
    split was made. Evaluation takes `n` images of a split as a random sample drawn with
    `sample_seed` (`sample_indices`).
    """

    source: str
    train: np.ndarray | Split
    test: np.ndarray | Split | None
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    label_names: tuple[str, ...] = ()
    heldout: str = "the test split"
    sample_seed: int = SAMPLE_SEED
    _digests: dict[str, str] = field(default_factory=dict, repr=False)
    _samples: dict[tuple, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.train.shape[1:])  # type: ignore[return-value]

    def sample(self, split: str, n: int | None = None) -> np.ndarray:
        """Indices of the `n` images (default all) that evaluation takes from 'train' or 'test':
        a seeded random sample (`sample_indices`), the same on every call (kept, read-only:
        the domain evaluator's training asks for it every batch)."""
        key = (split, n, self.count(split), self.sample_seed)
        if key not in self._samples:
            rows = sample_indices(self.count(split), n, self.sample_seed)
            rows.flags.writeable = False
            self._samples[key] = rows
        return self._samples[key]

    def _split(self, split: str) -> np.ndarray | Split:
        x = self.train if split == "train" else self.test
        if x is None:
            raise ValueError(f"{self.source} has no held-out images")
        return x

    def images(self, split: str, n: int | None = None) -> np.ndarray:
        """`n` images (default all) of 'train' or 'test': the split's random sample of `n`.
        A whole `Split` is read into a new array: go through one with `image_chunks`."""
        x = self._split(split)
        if n is None or n >= len(x):
            return np.asarray(x)
        return x.take(self.sample(split, n)) if isinstance(x, Split) else x[self.sample(split, n)]

    def rows(self, split: str, n: int | None, positions: np.ndarray) -> np.ndarray:
        """Images `positions` (indices into `images(split, n)`) of the split's sample of `n`,
        read without the rest of the sample: `images(split, n)[positions]`."""
        x = self._split(split)
        where = self.sample(split, n)[np.asarray(positions, np.int64)]
        return x.take(where) if isinstance(x, Split) else x[where]

    def image_chunks(self, split: str, n: int | None = None, size: int | None = None
                     ) -> Iterator[np.ndarray]:
        """`images(split, n)`, `size` (default `CHUNK_ROWS`) rows at a time, in order, without
        holding them all."""
        x, rows = self._split(split), self.sample(split, n)
        size = size or CHUNK_ROWS
        whole = len(rows) == len(x)
        for start in range(0, len(rows), size):
            if whole and not isinstance(x, Split):
                yield x[start:start + size]
            else:
                part = rows[start:start + size]
                yield x.take(part) if isinstance(x, Split) else x[part]

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
        """sha256 of a split's shape and pixels: changed data never reuses cached results.

        Hashed a chunk at a time: the same digest as of the whole split's bytes at once (what
        older versions hashed, so their cached features and evaluators are still found)."""
        if split not in self._digests:
            digest = hashlib.sha256(str(tuple(self._split(split).shape)).encode())
            for chunk in self.image_chunks(split):
                digest.update(memoryview(np.ascontiguousarray(chunk)).cast("B"))
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
                   given: bool = False, resize: str = "stretch",
                   pad_colour: str | None = None, **folder: Any) -> RealData:
    """Real data to compare a model with, as training reads it: `spec` (a built-in, IDX folder,
    .npz or image folder) with `limit`, converted to `image_shape`.

    The held-out split is the data's own test split when it has one; otherwise a fixed, seeded
    share of the images (`HOLDOUT_SHARE`, at most `HOLDOUT_MAX`), the rest being the train
    split. `given`: `spec` came from --real (for the error messages). An image folder's images
    are made square by `resize` and `pad_colour` (the run's --resize, --pad-colour); `folder`:
    the image folder loader's keywords (use_cache, max_pixels, ...).
    """
    check_real_source(spec, given)
    h, w, channels = image_shape
    size = h if h == w else None
    try:
        ds = load_dataset(spec, limit, size, channels, resize, pad_colour, **folder)
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
    train, test = np.flatnonzero(~held), np.flatnonzero(held)
    # Index sets, not copies: an image folder's data cache is read a row at a time when asked,
    # and data already in memory is not held twice.
    return RealData(source, Split(ds.x, train), Split(ds.x, test), None if y is None else y[train],
                    None if y is None else y[test], ds.label_names, heldout)


def real_data_for_run(cfg: TrainConfig, real: str | None = None) -> RealData:
    """The data a run is compared with: its own (config.json's data, limit and image shape),
    or `real` (--real) converted to the run's image shape; either made square as the run's
    images were (--resize: a config.json without it is an older run's, which stretched)."""
    if cfg.image_shape is None:
        raise UsageError(f"run {cfg.name} has no image shape in its config; it never trained")
    if real is None:
        return load_real_data(cfg.data, cfg.image_shape, cfg.limit, resize=cfg.resize,
                              pad_colour=cfg.pad_colour, use_cache=cfg.data_cache,
                              max_pixels=cfg.max_image_pixels)
    return load_real_data(real, cfg.image_shape, given=True, resize=cfg.resize,
                          pad_colour=cfg.pad_colour)


