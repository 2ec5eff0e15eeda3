"""Decoding an image folder's files into square uint8 arrays: the resize modes (crop, pad,
stretch), the pixel limit, and decoding many files in chunks, serially or on a process pool,
straight into a (memory-mapped) output array.

Nothing here prints: progress goes to a callback, which the CLI renders as a bar.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganctl.errors import GanctlError

RESIZES = ("crop", "pad", "stretch")
# PIL's own limit (Image.MAX_IMAGE_PIXELS): 89,478,485 pixels, about a quarter GiB at 3 bytes
# a pixel. A bigger image is taken for a decompression bomb and skipped.
PIL_MAX_IMAGE_PIXELS = 89_478_485
CHUNK = 256  # files per task: big enough that a task's overhead is small, small for a smooth bar

# A file that takes longer than this to decode is skipped (it hangs: a crafted file, a FIFO, a
# stalled network drive). Generous: an image at the pixel limit decodes in a few seconds.
DEFAULT_TIMEOUT_S = 60.0
TIMEOUT_ENV = "GANCTL_DECODE_TIMEOUT"
# Files that kill their decoding process one after another: more than this, and it is not them.
MAX_CRASHES_IN_A_ROW = 3

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


class Hung(BaseException):
    """A file took longer than the decode timeout. A BaseException, as KeyboardInterrupt is, so
    that no `except Exception` on the way (PIL has some) takes it for the file's own error."""


def decode_timeout() -> float:
    """Seconds one file may take to decode (TIMEOUT_ENV, else DEFAULT_TIMEOUT_S)."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        value = DEFAULT_TIMEOUT_S
    return value if 0 < value < 1e6 else DEFAULT_TIMEOUT_S


@contextlib.contextmanager
def _time_limit(seconds: float, in_pool: bool) -> Iterator[None]:
    """Raise Hung in the body after `seconds` (a timer signal; in the main thread only), which
    stops a file stuck in Python code or in a blocking read (a FIFO, a stalled network drive).
    In a pool worker, also cap its CPU time at `seconds` more: a decoder looping in C, where no
    Python signal handler runs, is then killed by the kernel and `decode_into` skips the file."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise Hung

    old = signal.signal(signal.SIGALRM, expire)
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if in_pool:
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
        used = resource.getrusage(resource.RUSAGE_SELF)
        limit = int(used.ru_utime + used.ru_stime + seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (limit if hard < 0 else min(limit, hard), hard))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if in_pool:
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _decode_chunk(pixels: str, start: int, files: Sequence[str], how: Squaring,
                  in_pool: bool = True) -> list[str]:
    """Decode `files` into rows start.. of the uint8 file `pixels`; the reasons of the skipped
    ('' for each decoded file, 'hung' for one that took over the timeout). Runs in a pool
    worker, or in-process (`in_pool` False) when decoding serially."""
    shape = (len(files), how.size, how.size, how.channels)
    out = np.memmap(pixels, np.uint8, "r+", offset=start * row_bytes(how), shape=shape)
    reasons = []
    timeout = decode_timeout()
    for i, path in enumerate(files):
        try:
            with _time_limit(timeout, in_pool):
                decoded = decode_file(path, how)
        except Hung:
            decoded = "hung"
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

    A file that hangs is skipped after the decode timeout. A file whose decoding kills its worker
    (a decoder looping in C, past the CPU cap; a crash) breaks the pool: the chunks it left
    unfinished are decoded again one file per process, so that the file is found and skipped
    ('crashed') and the rest decoded.

    The pool is spawned, not forked: the parent may hold TensorFlow's threads, which a fork
    copies in an unknown state. Serial and parallel decoding run the same chunk function, so
    they write the same bytes."""
    workers = workers or default_workers()
    total = len(files)
    with open(pixels, "r+b" if pixels.exists() else "w+b") as fh:
        fh.truncate(total * row_bytes(how))
    tasks = [(start, min(start + CHUNK, total)) for start in range(0, total, CHUNK)]
    reasons: list[str] = [""] * total
    done = 0

    def finished(start: int, chunk: list[str]) -> None:
        nonlocal done
        reasons[start:start + len(chunk)] = chunk
        done += len(chunk)
        if progress:
            progress(done, total)

    if workers == 1 or len(tasks) <= 1:
        for start, stop in tasks:
            finished(start, _decode_chunk(str(pixels), start, files[start:stop], how, False))
        return reasons
    broken = _run_pool(tasks, files, how, pixels, workers, finished)
    # One file per task on one process, so that a file which breaks the pool is the one running.
    singles = [(i, i + 1) for start, stop in broken for i in range(start, stop)]
    crashes = 0  # in a row
    while singles:
        left = _run_pool(singles, files, how, pixels, 1, finished)
        if not left:
            break
        crashes = 1 if len(left) < len(singles) else crashes + 1
        if crashes > MAX_CRASHES_IN_A_ROW:  # not the files: the processes cannot run at all
            raise GanctlError(f"the decoding processes keep dying ({crashes} files in a row, "
                              f"the last {files[left[0][0]]}); decode with fewer processes, or "
                              "look for what kills them (memory?)")
        finished(left[0][0], ["crashed"])
        singles = left[1:]
    return reasons


def _run_pool(tasks: list[tuple[int, int]], files: Sequence[str], how: Squaring, pixels: Path,
              workers: int, finished: Callable[[int, list[str]], None]) -> list[tuple[int, int]]:
    """Run `tasks` (start, stop) on a new pool, telling `finished` of each; returns the tasks
    left unfinished when a worker died (in order), else []."""
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")
    unfinished = dict.fromkeys(tasks)
    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context) as pool:
        futures = {pool.submit(_decode_chunk, str(pixels), start, files[start:stop], how):
                   (start, stop) for start, stop in tasks}
        for future in as_completed(futures):
            try:
                chunk = future.result()
            except BrokenProcessPool:
                continue
            finished(futures[future][0], chunk)
            del unfinished[futures[future]]
    return list(unfinished)


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
