"""Decoding an image folder's files into square uint8 arrays: the resize modes (crop, pad,
stretch), the pixel limit, and decoding many files in chunks, serially or on a process pool,
straight into a (memory-mapped) output array.

Nothing here prints: progress goes to a callback, which the CLI renders as a bar.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RESIZES = ("crop", "pad", "stretch")
# PIL's own limit (Image.MAX_IMAGE_PIXELS): 89,478,485 pixels, about a quarter GiB at 3 bytes
# a pixel. A bigger image is taken for a decompression bomb and skipped.
PIL_MAX_IMAGE_PIXELS = 89_478_485
CHUNK = 256  # files per task: big enough that a task's overhead is small, small for a smooth bar

Progress = Callable[[int, int], None]  # (files done, files in all)


@dataclass(frozen=True)
class Squaring:
    """How a file becomes a `size`×`size`×`channels` uint8 image."""

    size: int
    channels: int = 1
    resize: str = "stretch"
    pad_colour: tuple[int, int, int] | None = None  # None: the mean colour of the padded edges
    max_pixels: int = PIL_MAX_IMAGE_PIXELS


def parse_colour(text: str) -> tuple[int, int, int]:
    """A colour as PIL reads it ('black', '#808080', 'rgb(0,0,255)'), or 'R,G,B'."""
    from PIL import ImageColor

    parts = text.split(",")
    if len(parts) == 3 and all(p.strip().isdigit() for p in parts):
        rgb = tuple(int(p) for p in parts)
        if all(0 <= v <= 255 for v in rgb):
            return rgb  # type: ignore[return-value]
        raise ValueError(f"{text!r}: each of R,G,B must be 0..255")
    rgb = ImageColor.getrgb(text)
    return tuple(rgb[:3])  # type: ignore[return-value]


def edge_colour(img, landscape: bool) -> tuple[int, ...]:
    """The mean colour of the edges that padding will touch: the top and bottom rows of a
    landscape image, the left and right columns of a portrait one (rounded)."""
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    edges = np.concatenate([a[0], a[-1]]) if landscape else np.concatenate([a[:, 0], a[:, -1]])
    return tuple(int(v) for v in np.rint(edges.mean(axis=0)))


def square(img, how: Squaring):
    """A PIL image (already in the output mode) as a `how.size` square, by `how.resize`:
    crop takes the largest centred square, pad letterboxes the whole image onto a square of the
    pad colour, stretch scales each side on its own (distorting non-square images)."""
    from PIL import Image

    size, w, h = how.size, img.width, img.height
    lanczos = Image.Resampling.LANCZOS
    if how.resize == "stretch" or w == h:
        return img.resize((size, size), lanczos)
    if how.resize == "crop":
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        # Cropped first: resize(box=...) would let the filter reach pixels outside the square.
        return img.crop((left, top, left + side, top + side)).resize((size, size), lanczos)
    # pad: scale the long side to `size`, then centre on the pad colour.
    landscape = w > h
    nw, nh = (size, max(1, round(size * h / w))) if landscape else (max(1, round(size * w / h)), size)
    colour = how.pad_colour if how.pad_colour is not None else edge_colour(img, landscape)
    if img.mode == "L" and len(colour) == 3:  # ITU-R 601-2 luma, as Pillow's "L" conversion
        colour = (round((colour[0] * 299 + colour[1] * 587 + colour[2] * 114) / 1000),)
    canvas = Image.new(img.mode, (size, size), colour[0] if img.mode == "L" else tuple(colour))
    canvas.paste(img.resize((nw, nh), lanczos), ((size - nw) // 2, (size - nh) // 2))
    return canvas


def flatten_alpha(img):
    """An image with transparency (RGBA, LA, or a palette with a transparent colour) composited
    onto white, as a viewer shows it; others unchanged. Dropping the alpha instead would keep
    whatever colour the transparent pixels happen to hold (often black, sometimes noise)."""
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return img


def decode_file(path: str | os.PathLike, how: Squaring) -> np.ndarray | str:
    """One file as a uint8 [size, size, channels] array, or the reason it was skipped:
    'unreadable' or 'too large' (more than `how.max_pixels` pixels)."""
    from PIL import Image, UnidentifiedImageError

    mode = "L" if how.channels == 1 else "RGB"
    try:
        with Image.open(path) as img:
            if img.width * img.height > how.max_pixels:
                return "too large"  # before decoding a single pixel
            img = square(flatten_alpha(img).convert(mode), how)
            a = np.asarray(img, dtype=np.uint8)
    except Image.DecompressionBombError:
        return "too large"
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, MemoryError):
        return "unreadable"
    return a[..., None] if a.ndim == 2 else a


def row_bytes(how: Squaring) -> int:
    return how.size * how.size * how.channels


def _decode_chunk(pixels: str, start: int, files: Sequence[str], how: Squaring) -> list[str]:
    """Decode `files` into rows start.. of the uint8 file `pixels`; the reasons of the skipped
    ('' for each decoded file). Runs in a pool worker, or in-process when decoding serially."""
    shape = (len(files), how.size, how.size, how.channels)
    out = np.memmap(pixels, np.uint8, "r+", offset=start * row_bytes(how), shape=shape)
    reasons = []
    for i, path in enumerate(files):
        decoded = decode_file(path, how)
        if isinstance(decoded, str):
            reasons.append(decoded)
        else:
            out[i] = decoded
            reasons.append("")
    out.flush()
    del out
    return reasons


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def decode_into(files: Sequence[str], how: Squaring, pixels: Path, workers: int | None = None,
                progress: Progress | None = None) -> list[str]:
    """Decode `files` into `pixels`, a uint8 file of len(files) rows (row i: file i, written in
    place, never held in memory), in chunks of CHUNK files on a pool of `workers` processes
    (default: every core; 1: in this process). Returns each file's skip reason ('' if decoded).

    The pool is spawned, not forked: the parent may hold TensorFlow's threads, which a fork
    copies in an unknown state. Serial and parallel decoding run the same chunk function, so
    they write the same bytes."""
    workers = workers or default_workers()
    total = len(files)
    with open(pixels, "r+b" if pixels.exists() else "w+b") as fh:
        fh.truncate(total * row_bytes(how))
    starts = list(range(0, total, CHUNK))
    reasons: list[str] = [""] * total
    done = 0
    if workers == 1 or len(starts) <= 1:
        for start in starts:
            chunk = _decode_chunk(str(pixels), start, files[start:start + CHUNK], how)
            reasons[start:start + len(chunk)] = chunk
            done += len(chunk)
            if progress:
                progress(done, total)
        return reasons
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(starts)), mp_context=context) as pool:
        futures = {pool.submit(_decode_chunk, str(pixels), start, files[start:start + CHUNK], how):
                   start for start in starts}
        for future in as_completed(futures):
            start, chunk = futures[future], future.result()
            reasons[start:start + len(chunk)] = chunk
            done += len(chunk)
            if progress:
                progress(done, total)
    return reasons


def compact(pixels: Path, how: Squaring, keep: Sequence[bool]) -> int:
    """Move the kept rows of `pixels` to its front, in order, and cut the file after them;
    returns how many were kept. Rows only move down, so one pass in place is safe."""
    kept = int(sum(keep))
    if kept == len(keep):
        return kept
    if kept:
        rows = np.memmap(pixels, np.uint8, "r+", shape=(len(keep), row_bytes(how)))
        to = 0
        for i, k in enumerate(keep):
            if k:
                if i != to:
                    rows[to] = rows[i]
                to += 1
        rows.flush()
        del rows
    with open(pixels, "r+b") as fh:
        fh.truncate(kept * row_bytes(how))
    return kept
