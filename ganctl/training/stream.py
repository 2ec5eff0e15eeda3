"""Training batches streamed from an image folder's data cache, for images too large to hold in
memory (`--max-data-memory`).

The batches are those the in-memory feeder gathers: the epoch's order comes from (seed, epoch)
(`Feeder.epoch_order`), so a streamed run trains on the same images in the same order, and a
resume in the middle of an epoch starts where it stopped. A tf.data pipeline reads one call's
steps at a time (a block) from the cache file while the previous block trains; each worker of a
multi-worker run reads only its own rows of every global batch (its shard). Memory stays a few
blocks, whatever the size of the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganctl.datacache import RowReader
from ganctl.training.draws import Rows


@dataclass
class _Cursor:
    order: Any  # the epoch order tensor the blocks follow
    next_step: int
    blocks: Iterator[Any]


class Stream:
    """Blocks of `block_steps` batches of the images `x` (a memory map of the data cache) and
    their `labels`: each block holds rows `shard` (start, stop) of every global batch."""

    def __init__(self, x: np.ndarray, labels: np.ndarray | None, block_steps: int,
                 shard: tuple[int, int]):
        self.reader = RowReader(x)
        self.count = len(x)
        self.labels = None if labels is None else np.asarray(labels, np.int32)
        self.block_steps = block_steps
        self.shard = shard
        self._cursor: _Cursor | None = None

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    def local(self, rows: Rows) -> Rows:
        """`rows` of the global batch as rows of this worker's shard."""
        lo, hi = self.shard
        if not (lo <= rows.offset and rows.offset + rows.count <= hi):
            raise RuntimeError(f"rows {rows.offset}..{rows.offset + rows.count} of the global "
                               f"batch are not in this worker's shard {lo}..{hi}")
        return Rows(rows.offset - lo, rows.count, hi - lo)

    def block_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        width = self.shard[1] - self.shard[0]
        return (self.block_steps, width, *self.reader.row_shape), (self.block_steps, width)

    def _generate(self, order: np.ndarray, start: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The blocks of an epoch's `order` [steps, batch] from step `start`; the last is padded
        with zeros to the block's length (the compiled loop runs only its steps)."""
        lo, hi = self.shard
        image_shape, label_shape = self.block_shapes()
        for step in range(start, len(order), self.block_steps):
            idx = order[step:step + self.block_steps, lo:hi]
            images = np.zeros(image_shape, np.uint8)
            labels = np.zeros(label_shape, np.int32)
            self.reader.read(idx.reshape(-1), images[:len(idx)].reshape(-1, *image_shape[2:]))
            if self.labels is not None:
                labels[:len(idx)] = self.labels[idx]
            yield images, labels

    def _pipeline(self, order: np.ndarray, start: int) -> Iterator[Any]:
        import tensorflow as tf

        image_shape, label_shape = self.block_shapes()
        signature = (tf.TensorSpec(image_shape, tf.uint8), tf.TensorSpec(label_shape, tf.int32))
        blocks = tf.data.Dataset.from_generator(lambda: self._generate(order, start),
                                                output_signature=signature)
        return iter(blocks.prefetch(1))  # the next block is read while this one trains

    def block(self, order: Any, start: int, count: int) -> tuple[Any, Any]:
        """The block for steps start..start+count of the epoch whose order is `order` (the
        tensor `Feeder.epoch_order` gave): the next of the pipeline running on that order, or
        the first of a new pipeline from `start` (a new epoch, a resume, a different call)."""
        cursor = self._cursor
        if cursor is None or cursor.order is not order or cursor.next_step != start:
            cursor = self._cursor = _Cursor(order, start, self._pipeline(order.numpy(), start))
        if count > self.block_steps:
            raise ValueError(f"{count} steps do not fit a block of {self.block_steps}")
        cursor.next_step = start + count if count == self.block_steps else -1
        return next(cursor.blocks)

    def close(self) -> None:
        self._cursor = None
        self.reader.close()
