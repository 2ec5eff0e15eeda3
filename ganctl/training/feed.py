"""The compiled training loop: many steps per call on batches gathered from the data held on the
device, on one device or under tf.distribute, around the one update of `ganctl.training.step`.

For global step s, the batch's indices (from (seed, epoch)) with their labels, G's inputs (from
the checkpointed random generator) and the stateless seeds (from (seed, s)) are drawn for the
whole global batch; one device takes all of it, and replica r of N takes rows [r·b, (r+1)·b) of
each. Under tf.distribute every replica's loss is divided by N, so that the gradients Keras sums
across replicas in `apply_gradients` are those of the global-batch mean, and BatchNorm's
statistics are all-reduced (`synchronized`). So N replicas compute what one device computes at
the same global batch, up to float summation order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ganctl.config import TrainConfig
from ganctl.data import scale_to_signed_unit
from ganctl.training.draws import Fakes, Rows, StepSeeds, class_cdf, draw_fakes
from ganctl.training.state import TrainState
from ganctl.training.step import STAT_NAMES, StepInputs, Update
from ganctl.training.stream import Stream

if TYPE_CHECKING:
    from ganctl.training.strategy import Distribution

# Training steps per iteration of the compiled loop on one device. With two, XLA overlaps the
# end of one step (G's backward pass) with the start of the next (D on the real batch, which
# only waits for D's update): about 6% more images/s on a 2-core CPU (benchmarks/README.md).
# Weights and optimizer state do not depend on how steps fall into calls; with XLA, BatchNorm's
# moving averages may differ in the last bit. Only an XLA-compiled loop unrolls: XLA overlaps
# one step's G backward pass with the next step's D pass (+6% for the MLP), while in graph mode
# the second copy gains nothing measurable and every copy is traced again (the loop traces the
# step `UNROLL + 1` times, with the remainder's loop): fastgan at 64 px took 40 s to its first
# step unrolled and 14 s not, dcgan 9.4 s and 6.0 s, at the same images/s (benchmarks/README.md).
# The distributed loop, which XLA does not compile, runs one step per iteration.
UNROLL = 2

# One step on the device(s): (batch indices [batch], G's inputs for the global batch) -> stats.
StepFn = Callable[[Any, tuple[Fakes, ...]], Any]


class Feeder:
    """Runs `update` on the training images: `train_steps` runs `count` steps per compiled call
    on batches gathered on the device from the data, which `set_data` places there, or read
    from the data cache a call at a time, which `set_stream` sets up."""

    def __init__(self, cfg: TrainConfig, state: TrainState, update: Update,
                 distribution: Distribution | None = None):
        self.cfg = cfg
        self.state = state
        self.update = update
        self.distribution = distribution
        # Fake labels follow the classes' frequencies in the data.
        self.class_cdf = class_cdf(cfg.class_counts) if cfg.conditional else None
        self._data: Any = None
        self._labels: Any = None
        self._count = 0  # images in the data
        self._stream: Stream | None = None  # set_stream's; None when the data is in memory
        self._function: Any = None
        self.trace_count = 0

    def set_data(self, x_uint8: np.ndarray, labels: np.ndarray | None = None) -> None:
        """Place the training images (uint8 [n, h, w, c]), and their labels when the model uses
        them, on the device for in-graph batching.

        uint8 keeps them small (47 MB for Fashion-MNIST, on the GPU when there is one); each
        batch is converted to [-1, 1] inside the compiled step.
        """
        import tensorflow as tf

        self._data = tf.Variable(x_uint8, trainable=False, name="data")
        self._labels = None if labels is None else tf.Variable(
            np.asarray(labels, np.int32), trainable=False, name="labels")
        self._count = len(x_uint8)
        self._stream = None
        self._function = None

    def set_stream(self, x_uint8: np.ndarray, labels: np.ndarray | None = None) -> None:
        """Stream the training images (a memory map of the data cache) instead of placing them
        on the device: each call's batches are read from the file (ganctl.training.stream),
        the same batches in the same order as `set_data` gives. Each worker reads its shard."""
        dist = self.distribution
        batch = self.cfg.batch_size
        shard = (0, batch)
        if dist is not None and dist.workers > 1:  # the rows of this worker's replicas
            width = batch // dist.workers
            shard = (dist.worker_index * width, (dist.worker_index + 1) * width)
        self._count = len(x_uint8)
        block = min(self.cfg.steps_per_call, self.steps_per_epoch)
        self._stream = Stream(x_uint8, labels, block, shard)
        self._data = self._labels = None
        self._function = None

    @property
    def streaming(self) -> bool:
        """Whether the images are streamed from the data cache (`set_stream`)."""
        return self._stream is not None

    @property
    def steps_per_epoch(self) -> int:
        # Fixed shapes: a partial last batch is dropped (the permutation changes every epoch).
        return self._count // self.cfg.batch_size

    def epoch_order(self, epoch: int) -> Any:
        """Batch indices [steps, batch] for `epoch`: a permutation drawn from (seed, epoch).

        Stateless so that a run resumed in the middle of an epoch sees the same order.
        """
        import tensorflow as tf

        n = self._count
        keys = tf.random.stateless_uniform([n], seed=[self.cfg.seed, epoch])
        order = tf.cast(tf.argsort(keys), tf.int32)
        steps = self.steps_per_epoch
        return tf.reshape(order[: steps * self.cfg.batch_size], [steps, self.cfg.batch_size])

    def draw(self) -> tuple[Fakes, ...]:
        """G's inputs for one global step: the update's draws of noise (and fake labels)."""
        cfg = self.cfg
        return draw_fakes(self.state.rng, self.update.draws, cfg.batch_size, cfg.latent_dim,
                          self.class_cdf)

    def inputs(self, idx: Any, fakes: tuple[Fakes, ...], rows: Rows) -> StepInputs:
        """The update's inputs on `rows` of the global batch whose images are `idx` [batch]
        (streaming: the batch itself, this worker's images and labels)."""
        import tensorflow as tf

        if self._stream is None:
            mine = rows.take(idx)
            real = scale_to_signed_unit(tf.gather(self._data, mine))
            labels = None if self._labels is None else tf.gather(self._labels, mine)
        else:
            images, streamed_labels = idx
            local = self._stream.local(rows)
            real = scale_to_signed_unit(local.take(images))
            labels = local.take(streamed_labels) if self._stream.labelled else None
        own = tuple(Fakes(rows.take(f.noise), None if f.labels is None else rows.take(f.labels))
                    for f in fakes)
        return StepInputs(real, labels, own, StepSeeds(self.cfg.seed, self.state.step), rows)

    @property
    def function(self) -> Any:
        """The compiled (order, start, count) -> summed stats function, built on first use."""
        if self._function is None:
            dist = self.distribution
            if dist is not None and dist.distributed:
                # Not compiled with XLA, whatever `cfg.xla` says: XLA cannot span replicas, and
                # the per-replica pass cannot be compiled alone either, because synchronised
                # BatchNorm all-reduces its statistics in the middle of it (Keras refuses a
                # synchronisation point inside a nested tf.function). Measured without
                # synchronisation, per-replica XLA gained nothing on CPU logical devices
                # (21.5 vs 23.5 ms per step, within this machine's noise).
                self._function = self._compile(self._distributed_step(dist.strategy), 1, False)
            else:
                xla = bool(self.cfg.xla)
                self._function = self._compile(self._one_device_step, UNROLL if xla else 1, xla)
        return self._function

    def train_steps(self, order: Any, start: int, count: int) -> np.ndarray:
        """Run `count` steps on batches `order[start:start+count]`; return summed stats."""
        import tensorflow as tf

        if self._stream is not None:  # the call's batches themselves, read from the cache
            order, start = self._stream.block(order, start, count), 0
        sums = self.function(order, tf.constant(start, tf.int32), tf.constant(count, tf.int32))
        return sums.numpy()

    def _compile(self, run_step: StepFn, unroll: int, xla: bool) -> Any:
        """The loop around `run_step`, `unroll` steps per iteration, as one tf.function."""
        import tensorflow as tf

        def train_steps(order: Any, start: Any, count: Any) -> Any:
            self.trace_count += 1  # Python side effect: runs once per trace only

            def step(i: Any, sums: Any) -> Any:
                # tf.gather rather than `order[start + i]`: XLA takes a strided slice's start as
                # a compile-time constant, so slicing would compile the whole loop again for
                # every new `start` (every call of the first epoch). Streaming, `order` is the
                # block (images, labels) of the call's batches.
                idx = tf.nest.map_structure(lambda t: tf.gather(t, start + i), order)
                stats = run_step(idx, self.draw())
                self.state.step.assign_add(1)
                return i + 1, sums + stats

            def steps(i: Any, sums: Any) -> Any:
                for _ in range(unroll):
                    i, sums = step(i, sums)
                return i, sums

            zeros = tf.zeros([len(STAT_NAMES)], tf.float32)
            whole = count if unroll == 1 else count - count % unroll
            i, sums = tf.while_loop(lambda i, _: i < whole, steps, (tf.constant(0), zeros))
            if unroll > 1:  # the remainder, one step at a time
                _, sums = tf.while_loop(lambda i, _: i < count, step, (i, sums))
            return sums

        return tf.function(train_steps, jit_compile=xla, reduce_retracing=True)

    def _one_device_step(self, idx: Any, fakes: tuple[Fakes, ...]) -> Any:
        import tensorflow as tf

        batch = self.cfg.batch_size
        return tf.stack(self.update(self.inputs(idx, fakes, Rows(0, batch, batch))))

    def _distributed_step(self, strategy: Any) -> StepFn:
        """One step under `strategy`: every replica updates on its rows, and the stats are the
        replicas' mean."""
        import tensorflow as tf

        batch = self.cfg.batch_size
        per_replica = batch // strategy.num_replicas_in_sync

        def replica_step(idx: Any, noises: Any, fake_labels: Any) -> Any:
            ctx = tf.distribute.get_replica_context()
            replica = tf.get_static_value(ctx.replica_id_in_sync_group)
            if replica is None:
                raise RuntimeError("this strategy does not tell a replica its number while "
                                   "tracing")
            rows = Rows(int(replica) * per_replica, per_replica, batch)
            labels = fake_labels or (None,) * len(noises)
            fakes = tuple(Fakes(z, y) for z, y in zip(noises, labels, strict=True))
            return tf.stack(self.update(self.inputs(idx, fakes, rows)))

        def run(idx: Any, fakes: tuple[Fakes, ...]) -> Any:
            # G's inputs are drawn before strategy.run: a generator used inside a replica draws
            # a stream of its own (TensorFlow hashes the replica id into its key).
            noises = tuple(f.noise for f in fakes)
            labels = tuple(f.labels for f in fakes if f.labels is not None)
            stats = strategy.run(replica_step, args=(idx, noises, labels))
            return strategy.reduce(tf.distribute.ReduceOp.MEAN, stats, axis=None)

        return run
