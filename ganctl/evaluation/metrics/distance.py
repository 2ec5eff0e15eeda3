"""Memory-bounded Euclidean distances between feature sets, processed in row chunks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

CHUNK_ELEMENTS = 1 << 22  # 4M float64 = 32 MB per block; a few temporaries stay under ~200 MB


def distance_blocks(a: np.ndarray, b: np.ndarray, squared: bool = False
                    ) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield (row slice of a, Euclidean distances [rows, len(b)]) covering all of a.

    With `squared`, the squared distances (clipped at 0), which skips the square roots for
    callers that only rank them. Each block is computed in place, without temporaries.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    b_sq = np.einsum("ij,ij->i", b, b)
    rows = max(1, CHUNK_ELEMENTS // max(1, len(b)))
    for start in range(0, len(a), rows):
        part = a[start:start + rows]
        # (|a|² + |b|²) − 2 a·b, evaluated in this order: the same values as the plain formula.
        sq = np.add.outer(np.einsum("ij,ij->i", part, part), b_sq)
        cross = part @ b.T
        cross *= 2.0
        np.subtract(sq, cross, out=sq)
        np.maximum(sq, 0.0, out=sq)
        yield slice(start, start + len(part)), sq if squared else np.sqrt(sq, out=sq)


def kth_neighbour_distances(x: np.ndarray, ks: Sequence[int]) -> dict[int, np.ndarray]:
    """Per k in `ks`: distance from each row of x to its k-th nearest other row."""
    ks = sorted(set(ks))
    radii = {k: np.empty(len(x)) for k in ks}
    if not ks:
        return radii
    kmax = ks[-1]
    for rows, sq in distance_blocks(x, x, squared=True):
        # Position k counts the point itself at distance 0 as the 0th neighbour. One partition
        # at the largest k leaves the smaller order statistics in the head, which is cheap to
        # partition again. The square root is monotonic, so taking it after selecting gives
        # the same values as selecting among square roots.
        head = np.partition(sq, kmax, axis=1)[:, :kmax + 1]
        for k in ks:
            kth = head[:, k] if k == kmax else np.partition(head[:, :kmax], k, axis=1)[:, k]
            radii[k][rows] = np.sqrt(kth)
    return radii


def nearest_neighbours(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of a: (distance to its nearest row of b, that row's index in b)."""
    dist = np.empty(len(a))
    index = np.empty(len(a), dtype=np.int64)
    for rows, block in distance_blocks(a, b):
        index[rows] = block.argmin(axis=1)
        dist[rows] = block[np.arange(len(block)), index[rows]]
    return dist, index


def k_nearest(a: np.ndarray, b: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row of a: the distances [len(a), k] to its k nearest rows of b, ascending (ties
    in index order), and those rows' indices; k is capped at len(b)."""
    k = min(int(k), len(b))
    dist = np.empty((len(a), k))
    index = np.empty((len(a), k), dtype=np.int64)
    for rows, sq in distance_blocks(a, b, squared=True):
        head = np.argpartition(sq, k - 1, axis=1)[:, :k] if k < sq.shape[1] else \
            np.broadcast_to(np.arange(sq.shape[1]), sq.shape)
        values = np.take_along_axis(sq, head, axis=1)
        order = np.lexsort((head, values), axis=1)
        index[rows] = np.take_along_axis(head, order, axis=1)
        dist[rows] = np.sqrt(np.take_along_axis(values, order, axis=1))
    return dist, index
