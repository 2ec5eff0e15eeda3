"""Decoding an image folder's files into square uint8 arrays: the resize modes (crop, pad,
stretch), the pixel limit, and decoding many files in chunks, serially or on a process pool,
straight into a (memory-mapped) output array.

Nothing here prints: progress goes to a callback, which the CLI renders as a bar.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

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
