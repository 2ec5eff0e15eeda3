"""`progress.gif` as a bounded timelapse whose appends cost the same at frame 1,000 as at frame 10.

The GIF shows at most `max_frames` of the run's sample grids. Past that it thins to an even
timelapse of the whole run: the grids whose position among all grids is a multiple of a
power-of-two stride, plus the newest one (so the first and the last grid are always there).

Adding a grid encodes that one frame only. The other frames are kept as their encoded GIF bytes
and the file is rewritten from them (atomically, as a whole): bytes copied, not pixels encoded.
Each frame has its own colour table and a GIF comment naming its epoch, so a resumed run reads
the file back and carries on; a frame the file lacks is re-encoded from `samples/epoch_NNNN.png`,
where every grid stays whatever the GIF keeps.
"""

from __future__ import annotations

import bisect
import io
import re
import struct
from pathlib import Path

import numpy as np

from ganctl.fsutil import atomic_write_bytes
from ganctl.images import gif_frame_duration_ms, read_image

DEFAULT_MAX_FRAMES = 200
_PNG = re.compile(r"^epoch_(\d{4,})\.png$")
_LABEL = re.compile(rb"^ganctl epoch (\d+)$")
# GIF block introducers
_EXTENSION, _IMAGE, _TRAILER = 0x21, 0x2C, 0x3B
_COMMENT, _CONTROL = 0xFE, 0xF9


def kept_indices(n: int, max_frames: int) -> list[int]:
    """Which of `n` grids (oldest first) the timelapse shows: at most `max_frames` of them.

    Every `stride`-th grid from the first, plus the last, with the stride the smallest power of
    two that fits. Doubling (not any other step) keeps each thinned set a subset of the one
    before, so thinning drops frames already encoded and never needs new ones.
    """
    if max_frames < 2:
        raise ValueError(f"a timelapse needs at least 2 frames (first and last), got {max_frames}")
    stride = 1
    while True:
        picks = list(range(0, n, stride))
        if picks and picks[-1] != n - 1:
            picks.append(n - 1)
        if len(picks) <= max_frames:
            return picks
        stride *= 2


def sample_epochs(samples: Path) -> list[int]:
    """Epochs of the grids in `samples/` (files `epoch_NNNN.png`), sorted."""
    if not samples.is_dir():
        return []
    return sorted(int(m.group(1)) for p in samples.iterdir() if (m := _PNG.match(p.name)))


class Timelapse:
    """The frames of `progress.gif` by epoch; `add` puts in a new grid and rewrites the file."""

    def __init__(self, path: Path, samples: Path, fps: float = 4.0,
                 max_frames: int = DEFAULT_MAX_FRAMES):
        kept_indices(0, max_frames)  # checks max_frames
        self.path = Path(path)
        self.samples = Path(samples)
        self.delay_cs = gif_frame_duration_ms(fps) // 10
        self.max_frames = max_frames
        self.epochs = sample_epochs(self.samples)
        self.size, self.blocks = read_labelled_frames(self.path)

    def add(self, epoch: int, picture: np.ndarray) -> list[int]:
        """Show `picture` as the grid of `epoch` (replacing an older one); the epochs shown."""
        picture = np.asarray(picture)
        if picture.shape[:2] != self.size:  # a new grid size: frames of another size cannot stay
            self.size = picture.shape[:2]
            self.blocks = {}
        self.blocks[epoch] = encode_frame(picture, epoch, self.delay_cs)
        if epoch not in self.epochs:
            bisect.insort(self.epochs, epoch)
        wanted = [self.epochs[i] for i in kept_indices(len(self.epochs), self.max_frames)]
        shown = [e for e in wanted if e in self.blocks or self._encode_from_png(e)]
        self.blocks = {e: self.blocks[e] for e in shown}
        height, width = picture.shape[:2]
        atomic_write_bytes(self.path, gif_bytes(width, height, [self.blocks[e] for e in shown]))
        return shown

    def _encode_from_png(self, epoch: int) -> bool:
        """Encode the saved grid of `epoch` when it matches the current size; whether it did."""
        path = self.samples / f"epoch_{epoch:04d}.png"
        try:
            picture = read_image(path)
        except (OSError, ValueError):
            return False
        if picture.shape[:2] != self.size:
            return False
        self.blocks[epoch] = encode_frame(picture, epoch, self.delay_cs)
        return True


# --- GIF bytes -----------------------------------------------------------------------------------

def encode_frame(picture: np.ndarray, epoch: int, delay_cs: int) -> bytes:
    """One frame as GIF blocks: a comment naming `epoch`, its delay, and the image with its own
    colour table (so frames encoded separately can be joined into one file)."""
    from PIL import Image

    buf = io.BytesIO()
    # optimize=False: Pillow keeps every gray level exactly (see images.write_gif)
    Image.fromarray(np.asarray(picture, np.uint8).squeeze()).save(
        buf, format="GIF", optimize=False, interlace=False)
    data = buf.getvalue()
    table, bits = b"", 0
    packed = data[10]
    pos = 13
    if packed & 0x80:
        bits = packed & 7
        table, pos = data[pos: pos + (3 << (bits + 1))], pos + (3 << (bits + 1))
    while data[pos] == _EXTENSION:
        pos = _skip_sub_blocks(data, pos + 2)
    if data[pos] != _IMAGE:
        raise ValueError("Pillow wrote a GIF without an image block")
    width, height, image_packed = struct.unpack_from("<4xHHB", data, pos + 1)
    pos += 10
    if image_packed & 0x80:
        bits = image_packed & 7
        table, pos = data[pos: pos + (3 << (bits + 1))], pos + (3 << (bits + 1))
    pixels = data[pos: _skip_sub_blocks(data, pos + 1)]  # LZW code size, then the data
    comment = bytes([_EXTENSION, _COMMENT]) + _sub_blocks(f"ganctl epoch {epoch}".encode())
    # disposal 1 (leave the frame in place): every frame covers the whole picture
    control = bytes([_EXTENSION, _CONTROL, 4, 1 << 2]) + struct.pack("<H", delay_cs) + b"\0\0"
    descriptor = bytes([_IMAGE]) + struct.pack("<HHHHB", 0, 0, width, height,
                                               0x80 | (image_packed & 0x40) | bits)
    return comment + control + descriptor + table + pixels


def gif_bytes(width: int, height: int, frames: list[bytes]) -> bytes:
    """A looping GIF89a of frames from `encode_frame` (no global colour table)."""
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
    loop = bytes([_EXTENSION, 0xFF, 11]) + b"NETSCAPE2.0" + bytes([3, 1, 0, 0, 0])
    return header + loop + b"".join(frames) + bytes([_TRAILER])


def read_labelled_frames(path: Path) -> tuple[tuple[int, int] | None, dict[int, bytes]]:
    """The picture size (height, width) of a GIF written by `Timelapse` and its frames by epoch;
    (None, {}) for a missing, damaged or foreign file."""
    try:
        data = Path(path).read_bytes()
        width, height = struct.unpack_from("<HH", data, 6)
        return (height, width), _parse_frames(data)
    except (OSError, IndexError, ValueError, struct.error):
        return None, {}


def _parse_frames(data: bytes) -> dict[int, bytes]:
    if data[:6] != b"GIF89a":
        raise ValueError("not a GIF89a")
    pos = 13 + ((3 << ((data[10] & 7) + 1)) if data[10] & 0x80 else 0)
    frames: dict[int, bytes] = {}
    start, epoch = pos, None
    while data[pos] != _TRAILER:
        if data[pos] == _EXTENSION:
            end = _skip_sub_blocks(data, pos + 2)
            if data[pos + 1] == _COMMENT:
                start, m = pos, _LABEL.match(_join_sub_blocks(data, pos + 2))
                epoch = int(m.group(1)) if m else None
            pos = end
        elif data[pos] == _IMAGE:
            packed = data[pos + 9]
            pos += 10 + ((3 << ((packed & 7) + 1)) if packed & 0x80 else 0)
            pos = _skip_sub_blocks(data, pos + 1)
            if epoch is None:
                raise ValueError("a frame without a ganctl label")
            frames[epoch] = data[start:pos]
            epoch = None
        else:
            raise ValueError(f"unknown GIF block 0x{data[pos]:02x}")
    return frames


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    """The position after the data sub-blocks starting at `pos` (and their 0 terminator)."""
    while data[pos]:
        pos += data[pos] + 1
    return pos + 1


def _join_sub_blocks(data: bytes, pos: int) -> bytes:
    out = bytearray()
    while data[pos]:
        out += data[pos + 1: pos + 1 + data[pos]]
        pos += data[pos] + 1
    return bytes(out)


def _sub_blocks(payload: bytes) -> bytes:
    chunks = [payload[i: i + 255] for i in range(0, len(payload), 255)]
    return b"".join(bytes([len(c)]) + c for c in chunks) + b"\0"
