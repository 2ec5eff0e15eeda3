"""`evaluate --nearest K` (and `--nn-grid`): the generated images closest to the training set,
each beside its K nearest training images in evaluator-feature space, with the distances
written under them, so a user can see copying with their own eyes (as StudioGAN's kNN figures
do). The memorisation metric counts copies; this shows them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganctl.evaluation.metrics.distance import k_nearest

ROWS = 16  # generated images shown: the closest to the training set
SCALE = 2  # each pixel a 2x2 block: the distances under 28-pixel tiles stay legible
BORDER = 3  # white pixels around every tile
GAP = 6  # extra white between the generated image and its neighbours
CAPTION = 14  # pixels of caption band under each row


@dataclass(frozen=True)
class NearestRows:
    """The rows of the picture: generated image i (by index into the samples) and its K nearest
    training images (indices into the training split) at their distances, sorted."""

    generated: np.ndarray  # int64 [rows]: closest to the training set first
    seeds: np.ndarray  # int64 [rows]: each generated image's seed
    train: np.ndarray  # int64 [rows, k]
    distances: np.ndarray  # float64 [rows, k], ascending along each row


def nearest_rows(gen_features: np.ndarray, train_features: np.ndarray, seeds: np.ndarray,
                 k: int, rows: int = ROWS) -> NearestRows:
    """The `rows` generated images nearest to the training set and each one's `k` nearest
    training images (evaluator features; Euclidean, as the memorisation check measures)."""
    dist, index = k_nearest(gen_features, train_features, k)
    chosen = np.argsort(dist[:, 0], kind="stable")[:min(rows, len(dist))]
    return NearestRows(chosen, np.asarray(seeds)[chosen], index[chosen], dist[chosen])


def layout(k: int, size: tuple[int, int], rows: int) -> tuple[int, int]:
    """(height, width) of the picture of `rows` rows of 1 + `k` tiles of `size` (h, w)."""
    h, w = size[0] * SCALE, size[1] * SCALE
    return rows * (h + CAPTION + BORDER) + BORDER, (k + 1) * (w + BORDER) + BORDER + GAP


def tile_origin(row: int, column: int, size: tuple[int, int]) -> tuple[int, int]:
    """(y, x) of the top left of a tile: column 0 the generated image, 1..k its neighbours."""
    h, w = size[0] * SCALE, size[1] * SCALE
    return (BORDER + row * (h + CAPTION + BORDER),
            BORDER + column * (w + BORDER) + (GAP if column else 0))


def nearest_picture(gen_images: np.ndarray, train_images: np.ndarray, found: NearestRows
                    ) -> np.ndarray:
    """uint8 [H, W, 3]: a row per generated image (its seed under it), then its neighbours
    with their distances under them, nearest first."""
    from PIL import Image, ImageDraw, ImageFont

    rows, k = found.train.shape
    size = gen_images.shape[1:3]
    height, width = layout(k, size, rows)
    canvas = np.full((height, width, 3), 255, np.uint8)
    for r in range(rows):
        tiles = [gen_images[found.generated[r]], *train_images[found.train[r]]]
        for c, tile in enumerate(tiles):
            y, x = tile_origin(r, c, size)
            big = np.repeat(np.repeat(tile, SCALE, axis=0), SCALE, axis=1)
            canvas[y:y + big.shape[0], x:x + big.shape[1]] = big if big.shape[2] == 3 \
                else np.repeat(big, 3, axis=2)
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    for r in range(rows):
        for c in range(k + 1):
            y, x = tile_origin(r, c, size)
            text = f"seed {found.seeds[r]}" if c == 0 else f"{found.distances[r, c - 1]:.2f}"
            draw.text((x, y + size[0] * SCALE + 1), text, fill=(0, 0, 0) if c else (0, 0, 160),
                      font=font)
    return np.asarray(picture)
