"""Memory-bounded Euclidean distances between feature sets, processed in row chunks."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK_ELEMENTS = 1 << 22  # 4M float64 = 32 MB per block; a few temporaries stay under ~200 MB


def distance_blocks(a: np.ndarray, b: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield (row slice of a, Euclidean distances [rows, len(b)]) covering all of a."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    b_sq = np.einsum("ij,ij->i", b, b)
    rows = max(1, CHUNK_ELEMENTS // max(1, len(b)))
    for start in range(0, len(a), rows):
        part = a[start:start + rows]
        sq = np.einsum("ij,ij->i", part, part)[:, None] + b_sq[None, :] - 2.0 * (part @ b.T)
        np.maximum(sq, 0.0, out=sq)
        yield slice(start, start + len(part)), np.sqrt(sq, out=sq)


def kth_neighbour_distance(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of x to its k-th nearest other row (the row itself excluded)."""
    radii = np.empty(len(x))
    for rows, dist in distance_blocks(x, x):
        # Position k counts the point itself at distance 0 as the 0th neighbour.
        radii[rows] = np.partition(dist, k, axis=1)[:, k]
    return radii


def nearest_neighbours(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of a: (distance to its nearest row of b, that row's index in b)."""
    dist = np.empty(len(a))
    index = np.empty(len(a), dtype=np.int64)
    for rows, block in distance_blocks(a, b):
        index[rows] = block.argmin(axis=1)
        dist[rows] = block[np.arange(len(block)), index[rows]]
    return dist, index
