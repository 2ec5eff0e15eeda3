"""Pure-numpy image handling: [-1, 1] floats to bytes, tiled grids, PNG/GIF/MP4 files.

Every file is written through `fsutil.atomic_path`, so an interrupted write never
replaces a good picture with half of a new one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ganctl.errors import GanctlError, UsageError, check_positive
from ganctl.fsutil import atomic_path

ANIMATION_SUFFIXES = (".gif", ".mp4")
FFMPEG_MISSING = (
    "writing .mp4 needs imageio's ffmpeg plugin: pip install 'ganctl[video]' (or imageio-ffmpeg)"
)
# GIF stores delays in hundredths of a second, and browsers replace delays below
# 20 ms with 100 ms, so faster GIFs would play slower, not faster.
GIF_MIN_DELAY_MS = 20

Frames = np.ndarray | Sequence[np.ndarray]


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Map floats in [-1, 1] to uint8 [0, 255] (-1 -> 0, 0 -> 128, 1 -> 255), any shape.

    Values outside [-1, 1] are clipped; NaN becomes 0. Each value is rounded to the
    nearest byte (halves go up), so the 256 levels have equal widths except the ends.
    """
    x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=-1.0, posinf=1.0, neginf=-1.0)
    scaled = np.floor((np.clip(x, -1.0, 1.0) + 1.0) * 127.5 + 0.5)
    return scaled.astype(np.uint8)


def auto_rows(n: int) -> int:
    """Rows of the default near-square grid for `n` tiles: floor(sqrt(n)), at least 1.

    With cols = ceil(n / rows) this gives 64 -> 8x8, 10 -> 3x4, 8 -> 2x4, 3 -> 1x3:
    never taller than wide, and exact for square numbers.
    """
    return max(1, math.isqrt(max(n, 1)))


def make_grid(
    images_uint8: np.ndarray,
    rows: int | None = None,
    border: int = 1,
    scale: int = 1,
    border_value: int = 255,
) -> np.ndarray:
    """Tile uint8 images [n, h, w, c] (c = 1 or 3, or [n, h, w]) into one picture.

    Tiles go in row-major order: image i sits at row i // cols, column i % cols, where
    rows defaults to `auto_rows(n)` and cols = ceil(n / rows). Each tile is upscaled
    by `scale` with nearest neighbour (every pixel becomes a scale x scale block).
    A `border`-pixel line of `border_value` separates the tiles and frames the grid;
    cells without an image are filled with `border_value` too. The size is exactly

        H = rows * (h * scale) + (rows + 1) * border
        W = cols * (w * scale) + (cols + 1) * border

    and the result has shape [H, W] for one channel and [H, W, 3] for three.
    Tile (r, k) starts at y = border + r * (h * scale + border), x likewise.
    """
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8:
        raise ValueError(f"make_grid needs uint8 images, got {images.dtype} (use to_uint8)")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"make_grid needs images shaped [n, h, w, 1|3], got {images.shape}")
    n, h, w, c = images.shape
    if n == 0:
        raise UsageError("cannot make a grid of zero images: ask for at least one")
    rows = auto_rows(n) if rows is None else rows
    check_positive("rows", rows)
    check_positive("scale", scale)
    if not isinstance(border, (int, np.integer)) or border < 0:
        raise UsageError(f"bad border {border!r}: expected a whole number >= 0")
    if not 0 <= int(border_value) <= 255:
        raise UsageError(f"bad border value {border_value!r}: expected 0..255")
    cols = math.ceil(n / rows)

    if scale > 1:
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    th, tw = h * scale, w * scale
    height = rows * th + (rows + 1) * border
    width = cols * tw + (cols + 1) * border
    grid = np.full((height, width, c), border_value, dtype=np.uint8)
    for i, tile in enumerate(images):
        r, k = divmod(i, cols)
        y = border + r * (th + border)
        x = border + k * (tw + border)
        grid[y : y + th, x : x + tw] = tile
    return grid[..., 0] if c == 1 else grid


def _as_picture(array: np.ndarray) -> np.ndarray:
    """Check one uint8 picture (HxW, HxWx1 or HxWx3) and drop a single channel axis."""
    a = np.asarray(array)
    if a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 picture, got {a.dtype} (use to_uint8)")
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] != 3):
        raise ValueError(f"expected a picture shaped HxW or HxWx3, got {a.shape}")
    return a


def _as_frames(frames: Frames) -> np.ndarray:
    """Stack frames into one uint8 array [n, H, W] or [n, H, W, 3], checking sizes agree."""
    pictures = [_as_picture(f) for f in frames]
    if not pictures:
        raise UsageError("an animation needs at least one frame")
    shapes = {p.shape for p in pictures}
    if len(shapes) != 1:
        raise ValueError(f"all frames must have the same shape, got {sorted(shapes)}")
    return np.stack(pictures)


def _check_fps(fps: float) -> float:
    check_positive("fps", fps, whole=False)
    return float(fps)


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write one uint8 picture (HxW grayscale or HxWx3 RGB) as a PNG, atomically."""
    import imageio.v3 as iio

    picture = _as_picture(array)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, picture, extension=".png")


def gif_frame_duration_ms(fps: float) -> int:
    """The per-frame delay a GIF written at `fps` gets, in milliseconds.

    GIF delays are whole hundredths of a second, so 1000 / fps is rounded to the
    nearest 10 ms (fps 10 -> 100 ms, 24 -> 40 ms, 30 -> 30 ms), and never below
    20 ms: browsers play shorter delays at 100 ms, so fps above 50 plays at 50.
    """
    centiseconds = round(100.0 / _check_fps(fps))
    return max(GIF_MIN_DELAY_MS, centiseconds * 10)


def write_gif(path: str | os.PathLike, frames: Frames, fps: float, loop: int = 0) -> None:
    """Write uint8 frames (each HxW or HxWx3) as an animated GIF, atomically.

    Every frame shows for `gif_frame_duration_ms(fps)`. `loop=0` repeats forever;
    loop=N plays N + 1 times in most viewers. Colour frames are quantised to 256 colours
    per frame. Pillow merges consecutive identical frames into one longer frame, so
    the frame count can drop while the total playing time stays the same.
    """
    import imageio.v3 as iio

    stack = _as_frames(frames)
    duration = gif_frame_duration_ms(fps)
    if not isinstance(loop, (int, np.integer)) or loop < 0:
        raise UsageError(f"bad loop count {loop!r}: expected 0 (forever) or more")
    with atomic_path(path) as tmp:
        # optimize=False: Pillow's palette optimisation shifts some levels by one when a frame
        # uses all 256 grays (it needs a spare index for its transparency trick); without it
        # grayscale frames round-trip exactly, and the files are no larger.
        iio.imwrite(tmp, stack, extension=".gif", is_batch=True, duration=duration,
                    loop=int(loop), optimize=False)


def has_ffmpeg_plugin() -> bool:
    """Whether imageio's ffmpeg plugin (the `imageio_ffmpeg` package) can be imported."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def write_video(path: str | os.PathLike, frames: Frames, fps: float) -> None:
    """Write uint8 frames (each HxW or HxWx3) as an H.264 .mp4 through imageio's ffmpeg.

    Grayscale frames become RGB, and odd sizes are padded by repeating the last row
    or column, since H.264 in yuv420p needs even sizes (no resampling, no blur).
    Raises UsageError when the ffmpeg plugin is not installed.
    """
    fps = _check_fps(fps)
    if not has_ffmpeg_plugin():
        raise UsageError(FFMPEG_MISSING)
    import imageio.v3 as iio

    stack = _as_frames(frames)
    if stack.ndim == 3:
        stack = np.repeat(stack[..., None], 3, axis=-1)
    _, height, width, _ = stack.shape
    stack = np.pad(stack, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    with atomic_path(path) as tmp:
        try:
            iio.imwrite(tmp, stack, plugin="FFMPEG", extension=".mp4", is_batch=True,
                        fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=1)
        except (OSError, RuntimeError) as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise GanctlError(f"ffmpeg could not write {Path(path).name}: {first_line}") from exc


def write_animation(path: str | os.PathLike, frames: Frames, fps: float) -> None:
    """Write frames as a looping .gif or an .mp4, chosen by the suffix of `path`."""
    suffix = Path(path).suffix.lower()
    if suffix == ".gif":
        write_gif(path, frames, fps)
    elif suffix == ".mp4":
        write_video(path, frames, fps)
    else:
        allowed = " or ".join(ANIMATION_SUFFIXES)
        raise UsageError(
            f"cannot write an animation to '{Path(path).name}': use a {allowed} file name"
        )


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read the first frame of an image file as uint8: HxW (gray), HxWx3 or HxWx4."""
    import imageio.v3 as iio

    array = np.asarray(iio.imread(path, index=0))
    if array.dtype != np.uint8:
        # 16-bit PNGs and the like: keep the top 8 bits
        bits = 8 * array.dtype.itemsize
        array = (array.astype(np.uint64) >> max(bits - 8, 0)).astype(np.uint8)
    return array


def read_frames(path: str | os.PathLike) -> np.ndarray:
    """Read every frame of a GIF, MP4 or still image as uint8 [n, H, W, c].

    GIF frames come back as RGB (c = 3), composited as a viewer shows them; an MP4
    needs imageio's ffmpeg plugin. A still image gives n = 1.
    """
    import imageio.v3 as iio

    suffix = Path(path).suffix.lower()
    if suffix == ".mp4":
        if not has_ffmpeg_plugin():
            raise UsageError(FFMPEG_MISSING.replace("writing", "reading"))
        frames = np.asarray(iio.imread(path, plugin="FFMPEG", index=None))
    elif suffix == ".gif":
        # Pillow itself, not imageio's reader: when Pillow's decoder switches a GIF's frames
        # between P, L and RGB, imageio's palette handling garbles pixels or fails outright.
        from PIL import Image, ImageSequence

        with Image.open(path) as gif:
            frames = np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)])
    else:
        frames = read_image(path)[None]
    if frames.ndim == 3:
        frames = frames[..., None]
    return frames.astype(np.uint8, copy=False)
