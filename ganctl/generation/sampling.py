"""Sampling a trained generator: seeds to latents to images, written as a grid, PNGs or an .npz.

Every image is named and reproduced by its seed: its latent comes from that seed alone, and
the generator always runs on batches of one fixed size, so seed 7 gives the same pixels alone
or in any batch.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganctl.errors import GanctlError, UsageError, check_positive
from ganctl.fsutil import atomic_path
from ganctl.generation.latents import latents_from_seeds, parse_seeds
from ganctl.images import make_grid, to_uint8, write_png

# The generator always sees batches of one size for its image shape (the last one padded).
# Matrix kernels pick different code paths, and so round differently, for different batch
# sizes (a batch of 1 differs from a batch of 10 in the last bits), which could flip a pixel;
# one shape keeps every row bit-identical wherever it sits. It also means one trace.
# The size is BATCH_SIZE for images of up to BATCH_VALUES values (32×32×3), and smaller for
# larger images, so that a batch's activations stay bounded: 1,000 latents through fastgan at
# 256×256×3 took 14.8 GB for one 64-image snapshot grid (benchmarks/README.md, fastgan).
BATCH_SIZE = 1000
BATCH_VALUES = 1000 * 32 * 32 * 3
DEFAULT_N = 64
DEFAULT_PER_CLASS = 10  # images per class when sampling several classes (a row each)
GRID_SUFFIXES = (".png",)


@dataclass(frozen=True)
class Samples:
    """Images generated from seeds: row i of every array belongs to `seeds[i]`."""

    seeds: np.ndarray  # int64 [n]
    latents: np.ndarray  # float32 [n, latent_dim]
    outputs: np.ndarray  # float32 [n, h, w, c], the generator's outputs in [-1, 1]
    images: np.ndarray  # uint8 [n, h, w, c]
    labels: np.ndarray | None = None  # int64 [n]: the classes asked for (conditional models)
    class_names: tuple[str, ...] = ()  # the model's classes, for a conditional model


@dataclass(frozen=True)
class SampleOutputs:
    """Where `sample` writes: a grid PNG or a folder of PNGs (or neither), and/or an .npz."""

    grid: Path | None = None
    folder: Path | None = None
    npz: Path | None = None


def resolve_seeds(n: int | None, seeds: str | None, default_n: int = DEFAULT_N) -> list[int]:
    """The seeds asked for: `--seeds` text, or `--n N` meaning 0..N-1 (default `default_n`)."""
    if n is not None and seeds is not None:
        raise UsageError("pass either --n or --seeds, not both")
    if seeds is not None:
        return parse_seeds(seeds)
    n = default_n if n is None else n
    check_positive("--n", n)
    return list(range(n))


def describe_seeds(seeds: Sequence[int], max_parts: int = 4) -> str:
    """Seeds as compact text: [0..63] -> '0-63', [1, 5, 9, 20..23] -> '1,5,9,20-23'."""
    parts: list[str] = []
    start = prev = None
    for seed in [*seeds, None]:
        if seed is not None and prev is not None and seed == prev + 1:
            prev = seed
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = seed
    if len(parts) > max_parts:
        return ",".join(parts[:max_parts]) + ",..."
    return ",".join(parts)


def generation_batch(image_shape: Sequence[int]) -> int:
    """How many latents the generator of `image_shape` (h, w, c) images runs at once: 1,000
    up to 32×32×3, then fewer as images grow (250 at 64×64×3, 15 at 256×256×3), at least 1."""
    values = int(np.prod([int(v) for v in image_shape]))
    return max(1, min(BATCH_SIZE, BATCH_VALUES // values))


def compiled_generator(generator: Any, batch_size: int | None = None
                       ) -> Callable[..., np.ndarray]:
    """A function latents [n, d] -> float32 images that runs `generator` in inference mode,
    on batches of `batch_size` latents (default `generation_batch` of its image shape).

    A conditional generator takes its second input too: `run(latents, labels)` with int labels
    [n] (or, for a generator body, class codes [n, e]).
    The Keras model is traced once as a `tf.function` over batches of exactly `batch_size`
    (the last batch padded with zeros, whose outputs are dropped): about 3x faster than
    calling the model eagerly, and the same bits for a latent wherever it sits.
    """
    import tensorflow as tf

    if batch_size is None:
        batch_size = generation_batch(generator.output_shape[1:])
    specs = [tf.TensorSpec([batch_size, *inp.shape[1:]], inp.dtype) for inp in generator.inputs]
    if len(specs) == 1:
        forward = tf.function(lambda z: generator(z, training=False), input_signature=specs)
    else:
        forward = tf.function(lambda z, y: generator([z, y], training=False),
                              input_signature=specs)

    def run(latents: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        if (labels is None) != (len(specs) == 1):
            raise ValueError("a conditional generator needs labels, and only it takes them")
        z = np.asarray(latents, dtype=np.float32).reshape(-1, *specs[0].shape[1:])
        arrays = [z]
        if labels is not None:
            arrays.append(np.asarray(labels, specs[1].dtype.as_numpy_dtype)
                          .reshape(len(z), *specs[1].shape[1:]))
        outs = []
        for start in range(0, len(z), batch_size):
            chunks = [a[start:start + batch_size] for a in arrays]
            count = len(chunks[0])
            if count < batch_size:
                chunks = [np.concatenate([c, np.zeros((batch_size - count, *c.shape[1:]), c.dtype)])
                          for c in chunks]
            outs.append(forward(*chunks).numpy()[:count])
        if not outs:
            return np.zeros((0, *generator.output_shape[1:]), np.float32)
        return np.concatenate(outs).astype(np.float32, copy=False)

    return run


def generate_samples(generate: Callable[..., np.ndarray], latent_dim: int,
                     seeds: Sequence[int], labels: Sequence[int] | None = None,
                     class_names: Sequence[str] = (), truncation: float | None = None
                     ) -> Samples:
    """Latents from `seeds` (one per seed, truncated at ψ = `truncation` when given), images
    from `generate` (see `compiled_generator`); for a conditional generator, image i is of class
    `labels[i]`."""
    latents = latents_from_seeds(list(seeds), latent_dim, truncation)
    if labels is None:
        outputs = generate(latents)
        return Samples(np.asarray(seeds, np.int64), latents, outputs, to_uint8(outputs))
    labels = np.asarray(labels, np.int64)
    outputs = generate(latents, labels)
    return Samples(np.asarray(seeds, np.int64), latents, outputs, to_uint8(outputs), labels,
                   tuple(class_names))


def class_rows(seeds: Sequence[int], classes: Sequence[int]) -> tuple[list[int], list[int]]:
    """Seeds and labels for one row per class, the same seeds in every row (class-major)."""
    return [s for _ in classes for s in seeds], [c for c in classes for _ in seeds]


# --- outputs ---------------------------------------------------------------------------------------

def is_folder_target(out: str) -> bool:
    """`--out` names a folder when it ends with a path separator or is an existing directory."""
    return out.endswith(("/", os.sep)) or Path(out).expanduser().is_dir()


def check_writable(path: Path, what: str = "output") -> None:
    """Fail early, before any work, when `path` (a folder, made if missing) cannot be written.

    The nearest existing ancestor must be a folder where a file can be created; nothing is
    left behind (the probe file is deleted at once), and no folder is made here.
    """
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise GanctlError(f"cannot write {what} {path}: {probe} is a file, not a folder")
    # Create (and at once delete) a file there rather than ask os.access: that says yes to root
    # wherever permission bits allow, even where nothing can be created (/sys, /proc).
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise GanctlError(f"cannot write {what} {path}: {probe} is not writable ({reason})"
                          ) from None


def plan_sample_outputs(out: str | None, npz: str | None) -> SampleOutputs:
    """Check `--out` and `--npz` and say where `sample` will write.

    `--out` is a grid (`*.png`) or a folder (`DIR/` or an existing directory) of one PNG per
    seed; without `--out` and `--npz` the grid goes to `samples.png`.
    """
    if out is None and npz is None:
        out = "samples.png"
    grid = folder = npz_path = None
    if out is not None:
        if not out.strip():
            raise UsageError("empty --out: pass a grid such as grid.png or a folder such as out/")
        if is_folder_target(out):
            folder = Path(out).expanduser()
            if folder.exists() and not folder.is_dir():
                raise UsageError(f"--out {out} exists and is not a folder")
            check_writable(folder, "images to")
        else:
            grid = Path(out).expanduser()
            if grid.suffix.lower() not in GRID_SUFFIXES:
                raise UsageError(f"cannot write a grid to '{grid.name}': use a .png file name, "
                                 "or a folder ending in / for one PNG per image")
            if grid.is_dir():
                raise UsageError(f"--out {out} is a folder; add a trailing / to write one PNG "
                                 "per image there")
            check_writable(grid.parent, "grid to")
    if npz is not None:
        npz_path = Path(npz).expanduser()
        if npz_path.suffix.lower() != ".npz":
            raise UsageError(f"cannot write arrays to '{npz_path.name}': use a .npz file name")
        if npz_path.is_dir():
            raise UsageError(f"--npz {npz} is a folder; pass a file name such as samples.npz")
        check_writable(npz_path.parent, "arrays to")
    return SampleOutputs(grid, folder, npz_path)


def seed_filename(seed: int, label: int | None = None) -> str:
    """The file name of one sampled image: seed 7 -> 'seed0007.png'; of class 3:
    'seed0007-class3.png'."""
    return f"seed{int(seed):04d}" + ("" if label is None else f"-class{int(label)}") + ".png"


def upscale(images: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of uint8 images [n, h, w, c] by a whole factor."""
    check_positive("scale", scale)
    return images if scale == 1 else images.repeat(scale, axis=1).repeat(scale, axis=2)


def write_sample_outputs(samples: Samples, outputs: SampleOutputs, rows: int | None = None,
                         scale: int = 1, checkpoint: str = "") -> list[Path]:
    """Write what `outputs` names; returns the paths written (a folder counts once)."""
    written: list[Path] = []
    if outputs.grid is not None:
        write_png(outputs.grid, make_grid(samples.images, rows=rows, scale=scale))
        written.append(outputs.grid)
    if outputs.folder is not None:
        labels = [None] * len(samples.seeds) if samples.labels is None else samples.labels
        for seed, label, image in zip(samples.seeds, labels, upscale(samples.images, scale),
                                      strict=True):
            write_png(outputs.folder / seed_filename(seed, label), image)
        written.append(outputs.folder)
    if outputs.npz is not None:
        write_npz(outputs.npz, samples, checkpoint)
        written.append(outputs.npz)
    return written


def write_npz(path: Path, samples: Samples, checkpoint: str = "") -> None:
    """Save `images` (uint8), `outputs` (float32 in [-1, 1]), `latents`, `seeds` and the
    `checkpoint` they came from as an uncompressed .npz (np.load, no pickle), atomically; for
    a conditional model also `labels` (each image's class) and `class_names`.

    Written like `np.savez` but with a fixed timestamp inside the zip, so identical calls
    give byte-identical files.
    """
    arrays = {"images": samples.images, "outputs": samples.outputs, "latents": samples.latents,
              "seeds": samples.seeds, "checkpoint": np.array(checkpoint)}
    if samples.labels is not None:
        arrays.update(labels=samples.labels, class_names=np.array(samples.class_names, dtype=str))
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(array), allow_pickle=False)
