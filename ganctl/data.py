"""Training data: built-in datasets, IDX folders, .npz files and image folders, as uint8 arrays."""

from __future__ import annotations

import gzip
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganctl.datacache import IMAGE_SUFFIXES, list_folder, load_folder
from ganctl.decode import (
    PIL_MAX_IMAGE_PIXELS,
    TIMEOUT_ENV,
    Progress,
    Squaring,
    decode_timeout,
    parse_colour,
)
from ganctl.errors import UsageError
from ganctl.events import Say, quiet
from ganctl.sizes import format_size, parse_size

BUILTIN = {"fashion-mnist": "fashion_mnist", "mnist": "mnist"}
IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
MEMINFO = Path("/proc/meminfo")
FOLDER_IMAGE_SIZE = 28
MAX_PROBLEMS_SHOWN = 5  # symlink loops and unreadable sub-folders named one a line


@dataclass
class Dataset:
    """Images as uint8 [n, h, w, c] (0..255), optional integer labels and label names."""

    x: np.ndarray
    y: np.ndarray | None = None
    label_names: tuple[str, ...] = ()
    source: str = ""
    warnings: list[str] = field(default_factory=list)
    loose_images: int = 0  # an image folder's images outside its class sub-folders
    note: str = ""  # how an image folder was loaded: from the data cache, or decoded and why

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.x.shape[1:])  # type: ignore[return-value]


def scale_to_signed_unit(x: Any) -> Any:
    """Pixels 0..255 (uint8, or float after a resize) → float32 in the signed unit interval
    [-1, 1] (`images.to_uint8` maps them back): a numpy array, or a TensorFlow tensor inside the
    compiled step and the evaluators, the same arithmetic for both."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float32) / 127.5 - 1.0
    import tensorflow as tf

    return tf.cast(x, tf.float32) / 127.5 - 1.0


def keras_home() -> Path:
    """Where Keras caches datasets: $KERAS_HOME or ~/.keras, as Keras read it at import."""
    try:
        from keras.src.backend.config import keras_home as _keras_home

        return Path(_keras_home())
    except ImportError:  # a Keras without that accessor: the documented rule
        return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


# --- IDX -----------------------------------------------------------------------------------------

def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzip or plain) of unsigned bytes: images [n, h, w] or labels [n]."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise UsageError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] not in (1, 3):
        raise UsageError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UsageError(f"IDX file {path} is truncated (header incomplete)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header < expected:
        raise UsageError(f"IDX file {path} is truncated: expected {expected} values for shape "
                         f"{shape}, found {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, count=expected, offset=header).reshape(shape)


def idx_shape(path: Path) -> tuple[int, ...]:
    """The shape an IDX file declares in its header (reads a few bytes, not the file)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(4)
            ndim = head[3] if len(head) == 4 else 0
            dims = fh.read(4 * ndim)
    except (OSError, EOFError) as exc:
        raise UsageError(f"cannot read IDX file {path}: {exc}") from None
    if ndim == 0 or len(dims) < 4 * ndim:
        raise UsageError(f"IDX file {path} is truncated or not an IDX file")
    return tuple(int.from_bytes(dims[i:i + 4], "big") for i in range(0, 4 * ndim, 4))


def find_idx(folder: Path, name: str) -> Path | None:
    """`folder/name` (an IDX .gz file name) or its unzipped twin, whichever exists."""
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def load_idx_folder(folder: Path, split: str = "train") -> Dataset:
    """Load a folder holding the standard IDX files (the given split: 'train' or 'test')."""
    prefix = "train" if split == "train" else "t10k"
    images = find_idx(folder, f"{prefix}-images-idx3-ubyte.gz")
    labels = find_idx(folder, f"{prefix}-labels-idx1-ubyte.gz")
    if images is None:
        raise UsageError(f"{folder} has no {prefix}-images-idx3-ubyte(.gz) file")
    x = read_idx(images)
    if x.ndim != 3:
        raise UsageError(f"{images} holds labels, not images")
    y = read_idx(labels) if labels is not None else None
    if y is not None and len(y) != len(x):
        raise UsageError(f"{labels} has {len(y)} labels for {len(x)} images")
    return Dataset(x[..., None], y, source=str(folder))


def is_idx_folder(folder: Path) -> bool:
    return find_idx(folder, IDX_FILES[0]) is not None


# --- built-in datasets ---------------------------------------------------------------------------

def load_builtin(name: str, split: str = "train") -> Dataset:
    """Fashion-MNIST or MNIST ('train' or 'test' split) through Keras' loaders and cache; a
    clear error when offline."""
    import keras

    cached = keras_home() / "datasets" / "fashion-mnist"
    if name == "fashion-mnist" and all((cached / f).is_file() for f in IDX_FILES):
        # The files Keras would read: load them directly (no download attempt at all).
        ds = load_idx_folder(cached, split)
        return Dataset(ds.x, ds.y, source=name)
    module = getattr(keras.datasets, BUILTIN[name])
    try:
        train, test = module.load_data()
        x, y = train if split == "train" else test
    except Exception as exc:  # noqa: BLE001 - any download failure means the same to the user
        files = ", ".join(IDX_FILES)
        if name == "fashion-mnist":
            hint = (f"put the four IDX files ({files}) in {keras_home() / 'datasets' / name}, "
                    "or pass --data PATH to a folder of those files")
        else:
            hint = (f"put mnist.npz in {keras_home() / 'datasets'}, or pass --data PATH to a "
                    f"folder of MNIST's four IDX files ({files})")
        raise UsageError(f"cannot load {name} ({_download_failure(exc)}); offline? {hint}") from None
    return Dataset(np.asarray(x)[..., None], np.asarray(y), source=name)


def _download_failure(exc: Exception) -> str:
    """Why a Keras download failed, in a few words: Keras raises a bare `Exception('URL fetch
    failure on URL: None -- [Errno -2] Name or service not known')`, whose type says nothing."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = text.rsplit(" -- ", 1)[-1]
    return f"download failed: {reason[:120]}"


# --- .npz ----------------------------------------------------------------------------------------

def _to_uint8(x: np.ndarray, source: str) -> np.ndarray:
    """Accept uint8 0..255, or floats in [0, 1], [-1, 1] or 0..255."""
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.number):
        raise UsageError(f"{source}: 'x' must hold numbers, not {x.dtype}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise UsageError(f"{source}: 'x' holds NaN or infinite values")
    lo, hi = float(x.min(initial=0)), float(x.max(initial=0))
    if lo >= 0 and hi <= 1:
        x = x * 255.0
    elif lo >= -1 and hi <= 1:
        x = (x + 1.0) * 127.5
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def load_npz(path: Path, x_key: str = "x", y_key: str = "y") -> Dataset:
    """An .npz with an `x` array [n, h, w] or [n, h, w, c] (or `x_train`, as Keras' mnist.npz
    has it), optional `y` labels and optional `names` (a string array naming the labels); with
    other keys (`x_test`, `y_test`), the held-out split it holds."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if x_key == "x" and "x" not in archive.files and "x_train" in archive.files:
                x_key, y_key = "x_train", "y_train"  # Keras' own layout (its mnist.npz)
            if x_key not in archive.files:
                found = ", ".join(archive.files) or "none"
                raise UsageError(f"{path} has no '{x_key}' array (found: {found}); save the "
                                 f"training images as '{x_key}'")
            x = archive[x_key]
            y = archive[y_key] if y_key in archive.files else None
            names = archive["names"] if "names" in archive.files else None
    except UsageError:
        raise
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path} as .npz: {exc}") from None
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or len(x) == 0:
        raise UsageError(f"{path}: '{x_key}' must have shape [n, h, w] or [n, h, w, 1|3], "
                         f"got {x.shape}")
    if y is not None and len(y) != len(x):
        raise UsageError(f"{path}: '{y_key}' has {len(y)} labels for {len(x)} images")
    label_names: tuple[str, ...] = ()
    if names is not None:
        if y is None or names.ndim != 1 or names.dtype.kind not in "US":
            raise UsageError(f"{path}: 'names' must be a list of strings naming the labels in 'y'")
        label_names = tuple(str(v) for v in names)
    return Dataset(_to_uint8(x, str(path)), None if y is None else y.astype(np.int64),
                   label_names, source=str(path))


def _npz_has(path: Path, key: str) -> bool:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return key in archive.files
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path} as .npz: {exc}") from None


# --- image folders -------------------------------------------------------------------------------

def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (MemAvailable), or None where unknown."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


# Placing images in memory (a TensorFlow variable) holds two copies of them for a moment: the
# tensor converted from the array and the variable's own (measured: 500 MiB of images raised the
# peak resident memory by 1 GiB besides the file's pages).
IN_MEMORY_COPIES = 2


def data_memory(limit: str | None) -> tuple[int | None, str]:
    """The bytes training may take to hold its images in memory, and what set them: `limit`
    (--max-data-memory), else the memory available now; (None, ...) where that is unknown."""
    if limit is not None:
        return parse_size(limit), f"--max-data-memory {limit}"
    available = available_memory()
    return available, ("the memory available" if available is None
                       else f"the {format_size(available)} of memory available")


@dataclass(frozen=True)
class Holding:
    """Where training keeps its images: in memory, or streamed from the data cache (`stream`),
    and why, for the progress header."""

    stream: bool
    why: str


def choose_holding(x: np.ndarray, limit: str | None) -> Holding:
    """Stream `x` when it is an image folder's data cache (a memory map) and holding it in memory
    would take more than `limit` (--max-data-memory; default: the memory available)."""
    need = IN_MEMORY_COPIES * x.nbytes
    cap, what = data_memory(limit)
    size = format_size(x.nbytes)
    if cap is None or need <= cap:  # said for image folders, where streaming was an option
        why = f"images in memory ({size}; {format_size(need)} while placed, within {what})"
        return Holding(False, why if isinstance(x, np.memmap) else "")
    if not isinstance(x, np.memmap):  # already in memory: nothing to stream from
        return Holding(False, f"images in memory ({size}; more than {what} allows, but only "
                              "an image folder's data cache can be streamed)")
    return Holding(True, f"images streamed from the data cache (in memory they would take "
                         f"{format_size(need)} while placed, twice their {size}, more than "
                         f"{what})")


def check_fits_in_memory(count: int, size: int, channels: int, source: Path,
                         limit: str | None = None) -> None:
    """Refuse, before decoding anything, a folder decoded without the data cache whose images at
    `size` would not fit in memory (twice their uint8 bytes: the decoded file read back and the
    training copy), instead of the process being killed without a word. With the cache, such a
    folder is streamed (`choose_holding`)."""
    need = IN_MEMORY_COPIES * count * size * size * channels
    cap, what = data_memory(limit)
    if cap is not None and need > cap:
        raise UsageError(f"{count} images of {source} at {size}×{size}×{channels} need about "
                         f"{need / 2**30:.1f} GiB of memory, more than {what}; drop "
                         "--no-data-cache to stream them from the data cache, or pass a smaller "
                         "--image-size or use fewer images")


def load_image_folder(folder: Path, size: int, channels: int, resize: str = "stretch",
                      pad_colour: str | None = None, *, use_cache: bool = True,
                      workers: int | None = None, progress: Progress | None = None,
                      say: Say = quiet, max_pixels: int = PIL_MAX_IMAGE_PIXELS,
                      max_memory: str | None = None) -> Dataset:
    """Images found recursively; one sub-folder per class gives labels. Bad files are skipped.
    Each image becomes a `size` square by `resize` (crop, pad or stretch; decode.square).

    Decoded on `workers` processes (default: every core) the first time, then opened from the
    decoded-data cache (ganctl.datacache) unless `use_cache` is False; `say` hears why it
    decodes, `progress` (done, total) how far it got. Without the cache, a folder whose images
    need more memory than `max_memory` (--max-data-memory; default: the memory available) is
    refused before decoding."""
    listing = list_folder(folder)
    looked = f"looked for {', '.join(sorted(IMAGE_SUFFIXES))}"
    problems = [f"{rel} in {folder}: it {why}" for rel, why in listing.problems]
    if not listing.files:  # before saying "decoding 0 images" or caching nothing
        unread = "".join(f"; {rel} {why}" for rel, why in listing.problems[:3])
        raise UsageError(f"no usable image in {folder} ({looked}; {listing.others} other "
                         f"files{unread})")
    if not use_cache:  # decoded into memory; with the cache, a folder too large is streamed
        check_fits_in_memory(len(listing.files), size, channels, folder, max_memory)
    how = Squaring(size, channels, resize, parse_colour(pad_colour) if pad_colour else None,
                   max_pixels)
    decoded = load_folder(folder, how, use_cache, workers, progress, say, say, listing)
    reasons = Counter(reason for _, reason in decoded.skipped)
    others = listing.others
    if not len(decoded.x):
        large = (f", {reasons['too large']} larger than --max-image-pixels {max_pixels:,}"
                 if reasons["too large"] else "")
        raise UsageError(f"no usable image in {folder} ({looked}; {reasons['unreadable']} "
                         f"unreadable{large}, {others} other files)")
    warnings = [f"skipped {text}" for text in problems[:MAX_PROBLEMS_SHOWN]]
    if len(problems) > MAX_PROBLEMS_SHOWN:
        warnings.append(f"skipped {len(problems) - MAX_PROBLEMS_SHOWN} more sub-folders or "
                        f"symlinks in {folder} that cannot be read or loop")
    if reasons["hung"]:
        warnings.append(f"skipped {reasons['hung']} image file(s) in {folder} whose decoding "
                        f"took over {decode_timeout():g} s (it hung; {TIMEOUT_ENV} sets the "
                        "limit)")
    if reasons["crashed"]:
        warnings.append(f"skipped {reasons['crashed']} image file(s) in {folder} whose decoding "
                        "crashed the decoding process")
    if reasons["unreadable"]:
        warnings.append(f"skipped {reasons['unreadable']} unreadable image file(s) in {folder}")
    if reasons["too large"]:
        warnings.append(f"skipped {reasons['too large']} image file(s) in {folder} larger than "
                        f"--max-image-pixels {max_pixels:,} (a decompression bomb, or a photo "
                        "to shrink first)")
    if others:
        warnings.append(f"ignored {others} non-image file(s) in {folder}")
    if decoded.loose:
        warnings.append(f"{decoded.loose} of {len(decoded.x)} images lie directly in {folder}, "
                        "outside its class sub-folders, so the data has no labels; move them "
                        "into a sub-folder to use the classes")
    return Dataset(decoded.x, decoded.y, decoded.names, source=str(folder), warnings=warnings,
                   loose_images=decoded.loose, note=decoded.note)


# --- conversion and the entry point --------------------------------------------------------------

def convert(ds: Dataset, size: int | None, channels: int | None) -> Dataset:
    """Resize to `size`×`size` and convert to `channels` where they differ from the data's."""
    x = ds.x
    if channels is not None and x.shape[-1] != channels:
        if channels == 3:
            x = np.repeat(x, 3, axis=-1)
        else:  # ITU-R 601-2 luma, as Pillow's "L" conversion
            x = np.rint(x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
            x = np.clip(x, 0, 255).astype(np.uint8)[..., None]
    if size is not None and x.shape[1:3] != (size, size):
        from PIL import Image

        mode = "L" if x.shape[-1] == 1 else "RGB"
        resized = [np.asarray(Image.fromarray(img.squeeze(-1) if mode == "L" else img, mode)
                              .resize((size, size), Image.Resampling.LANCZOS)) for img in x]
        x = np.stack(resized)
        if x.ndim == 3:
            x = x[..., None]
    ds.x = x
    return ds


def load_dataset(spec: str, limit: int | None = None, image_size: int | None = None,
                 channels: int | None = None, resize: str = "stretch",
                 pad_colour: str | None = None, **folder: Any) -> Dataset:
    """Load `spec` (a built-in name or a path) as uint8 images of the requested shape.

    Arrays (built-ins, IDX, .npz) keep their own size and channels unless asked otherwise (and
    are stretched to a new size); image folders default to 28×28 grayscale, and their images
    are made square by `resize` (crop, pad onto `pad_colour` or the edges' mean, or stretch).
    `folder`: load_image_folder's keywords (use_cache, workers, progress, say, max_pixels,
    max_memory).
    """
    if spec in BUILTIN:
        ds = load_builtin(spec)
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise UsageError(f"--data {spec!r} is neither a built-in dataset "
                             f"({', '.join(BUILTIN)}) nor an existing path")
        if path.is_file():
            if path.suffix.lower() != ".npz":
                raise UsageError(f"--data {spec}: a file must be an .npz with an 'x' array; "
                                 "for images pass their folder")
            ds = load_npz(path)
        elif is_idx_folder(path):
            ds = load_idx_folder(path)
        else:
            ds = load_image_folder(path, image_size or FOLDER_IMAGE_SIZE, channels or 1, resize,
                                   pad_colour, **folder)
    if limit is not None:
        # --limit is "the first N images" by contract (quick runs, tests); say when that cuts
        # classes away, as it does on a folder read class sub-folder after class sub-folder.
        warning = limit_warning(ds.y, limit, ds.label_names)
        ds.x = ds.x[:limit]
        ds.y = None if ds.y is None else ds.y[:limit]
        ds.warnings = [*ds.warnings, *([warning] if warning else [])]
    ds = convert(ds, image_size, channels)
    return ds


def limit_warning(y: np.ndarray | None, limit: int, names: tuple[str, ...] = ()) -> str | None:
    """A warning when the first `limit` images hold fewer classes than all of them; None when
    they hold every class, or the data has no labels to tell."""
    if y is None or limit >= len(y):
        return None
    kept, every = np.unique(y[:limit]), np.unique(y)
    if len(kept) == len(every):
        return None
    shown = [names[c] if c < len(names) else str(c) for c in kept.tolist()]
    shown = shown if len(shown) <= 4 else [*shown[:3], "..."]
    return (f"--limit {limit} trains on the first {limit:,} images, which hold {len(kept)} of the "
            f"data's {len(every)} classes ({', '.join(shown)}); an image folder is read class "
            "sub-folder after class sub-folder. Leave out --limit to learn every class")


def load_test_split(spec: str, image_size: int | None = None,
                    channels: int | None = None) -> Dataset | None:
    """The held-out split a dataset comes with, converted like `load_dataset`'s images: the
    test split of a built-in or an IDX folder, `x_test` (and `y_test`) of an .npz; None when
    it has none (image folders never do)."""
    path = Path(spec).expanduser()
    if spec in BUILTIN:
        ds = load_builtin(spec, "test")
    elif path.is_dir() and find_idx(path, IDX_FILES[2]) is not None:
        ds = load_idx_folder(path, "test")
    elif path.is_file() and path.suffix.lower() == ".npz":
        if not _npz_has(path, "x_test"):
            return None
        ds = load_npz(path, "x_test", "y_test")
    else:
        return None
    return convert(ds, image_size, channels)
