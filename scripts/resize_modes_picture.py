"""Draw docs/resize-modes.png: the same non-square photos (from `make_image_folders.py photos`'
drawing) as `train --resize` makes them square: each photo as it is, then crop, pad and stretch,
at 64 px.

    python scripts/resize_modes_picture.py docs/resize-modes.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_image_folders import draw_photo  # noqa: E402

from ganctl.decode import RESIZES, Squaring, square  # noqa: E402

SIZE, SCALE, GAP, LABEL = 64, 2, 8, 90


def picture(n: int = 4, seed: int = 3) -> Image.Image:
    """Rows: photos as they are (fitted in the cell), then each resize mode; one column each."""
    rng = np.random.default_rng(seed)
    photos = []
    while len(photos) < n:  # alternate landscape and portrait, none square
        img = draw_photo(rng)
        if img.width != img.height and (img.width > img.height) == (len(photos) % 2 == 0):
            photos.append(img)
    cell = SIZE * SCALE
    rows = ["original", *("--resize " + r for r in ("crop", "pad", "stretch"))]
    sheet = Image.new("RGB", (LABEL + n * (cell + GAP), len(rows) * (cell + GAP)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, label in enumerate(rows):
        y = r * (cell + GAP)
        draw.text((4, y + cell // 2 - 6), label, fill="black")
        for c, photo in enumerate(photos):
            x = LABEL + c * (cell + GAP)
            if r == 0:
                shown = photo.copy()
                shown.thumbnail((cell, cell))
                sheet.paste(shown, (x + (cell - shown.width) // 2, y + (cell - shown.height) // 2))
            else:
                how = Squaring(SIZE, 3, RESIZES[r - 1])
                sheet.paste(square(photo, how).resize((cell, cell), Image.Resampling.NEAREST),
                            (x, y))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?", default=Path("docs/resize-modes.png"))
    args = parser.parse_args()
    picture().save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
