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

import mmap
import os
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganctl.training.draws import Rows


class RowReader:
    """Rows of a uint8 array [n, ...] by index. A memory map's rows are read from its file with
    pread, so that its pages never become this process's memory (reading them through the map
    would leave every page touched in the process's resident set, the whole file by an epoch's
    end); another array's rows by indexing."""

    def __init__(self, x: np.ndarray):
        self.x = x
        self.row_shape = tuple(int(v) for v in x.shape[1:])
        self.row_bytes = int(np.prod(self.row_shape))
        self.fd: int | None = None
        self.offset = 0
        mapped = getattr(x, "_mmap", None)
        if isinstance(x, np.memmap) and mapped is not None and x.filename \
                and x.flags.c_contiguous and x.dtype == np.uint8:
            # Where row 0 lies in the file: numpy maps from `offset` rounded down to the
            # allocation granularity, and a view (such as --limit's x[:n]) may start further in.
            start = x.offset - x.offset % mmap.ALLOCATIONGRANULARITY
            base = np.frombuffer(mapped, np.uint8).ctypes.data
            self.offset = start + (x.ctypes.data - base)
            self.fd = os.open(x.filename, os.O_RDONLY)
            self._closer = weakref.finalize(self, os.close, self.fd)  # with the reader

    def read(self, indices: np.ndarray, out: np.ndarray) -> None:
        """Rows `indices` into `out` [len(indices), ...], in file order (kinder to a disk)."""
        if self.fd is None:
            out[...] = self.x[indices]
            return
        flat = out.reshape(len(indices), self.row_bytes)
        for j in np.argsort(indices, kind="stable"):
            where = self.offset + int(indices[j]) * self.row_bytes
            if os.preadv(self.fd, [flat[j]], where) != self.row_bytes:
                raise OSError(f"{self.x.filename} ended before row {int(indices[j])}: the data "
                              "cache changed under training; run `ganctl cache clear` and train "
                              "again")

    def close(self) -> None:
        if self.fd is not None:
            self._closer()
            self.fd = None


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
