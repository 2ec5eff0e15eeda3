"""The training step under tf.distribute: every replica computes its slice of the global batch.

For global step s, the batch indices (from (seed, epoch)) with their labels, the noise and a
conditional model's fake labels (from the checkpointed generator, drawn for the whole global
batch) and the augmentation and penalty draws (stateless, from (seed, step), for the whole
global batch) are the ones the single-device step uses; replica r takes rows [r*b, (r+1)*b) of
each. Losses are divided by the replica count so that the gradients Keras sums across replicas
in `apply_gradients` are those of the global-batch mean; BatchNorm's statistics are all-reduced
(`synchronized`). So N replicas compute what one device computes at the same global batch, up
to float summation order.
"""

from __future__ import annotations

from typing import Any


def synchronize_batchnorm(*models: Any) -> int:
    """Switch every BatchNormalization layer of `models` to cross-replica statistics.

    Keras reads `synchronized` at call time, so the layers need not be rebuilt; the flag is not
    part of the weights, so checkpoints stay loadable on one device. Returns the count.
    """
    import keras

    count = 0
    for model in models:
        for layer in model._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = True
                count += 1
    return count


def build_distributed_train_fn(gan: Any, strategy: Any) -> Any:
    """A tf.function (order, start, count) -> summed stats, running `count` global steps.

    Every replica runs `gan.train_step` (the single-device step) on its rows; the loop and
    `strategy.run` around it are plain graph code. Not compiled with XLA, whatever `cfg.xla`
    says: XLA cannot span replicas, and the per-replica pass cannot be compiled alone either,
    because synchronised BatchNorm all-reduces its statistics in the middle of it (Keras
    refuses a synchronisation point inside a nested tf.function). Measured without
    synchronisation, per-replica XLA gained nothing on CPU logical devices (21.5 vs 23.5 ms
    per step, within this machine's noise).
    """
    import tensorflow as tf

    from ganctl.training.gan import STAT_NAMES, ReplicaFeed, _classes, _normal

    cfg = gan.cfg
    replicas = strategy.num_replicas_in_sync
    rows = cfg.batch_size // replicas

    def replica_step(idx: Any, noises: Any, fake_labels: Any) -> Any:
        ctx = tf.distribute.get_replica_context()
        replica = tf.get_static_value(ctx.replica_id_in_sync_group)
        if replica is None:
            raise RuntimeError("this strategy does not tell a replica its number while tracing")
        offset = int(replica) * rows
        mine = idx[offset:offset + rows]
        images = tf.cast(tf.gather(gan._data, mine), tf.float32) / 127.5 - 1.0
        labels = None if gan._labels is None else tf.gather(gan._labels, mine)
        gan._replica = ReplicaFeed(offset, replicas, list(noises), list(fake_labels))
        try:
            stats = gan.train_step(images, labels)
        finally:
            gan._replica = None
        return tf.stack(stats)

    def train_steps(order: Any, start: Any, count: Any) -> Any:
        gan.trace_count += 1  # Python side effect: runs once per trace only

        def step(i: Any, sums: Any) -> Any:
            idx = tf.gather(order, start + i)
            # The step's noise, and a conditional model's fake labels, for the whole global
            # batch, from the same generator state and in the same order as on one device
            # (each noise draw followed by its labels).
            noises, fake_labels = [], []
            for _ in range(gan.noise_draws):
                noises.append(_normal(gan.rng, cfg.batch_size, cfg.latent_dim))
                if cfg.conditional:
                    fake_labels.append(_classes(gan.rng, cfg.batch_size, gan._class_cdf))
            stats = strategy.run(replica_step, args=(idx, tuple(noises), tuple(fake_labels)))
            gan.step.assign_add(1)
            return i + 1, sums + strategy.reduce(tf.distribute.ReduceOp.MEAN, stats, axis=None)

        zeros = tf.zeros([len(STAT_NAMES)], tf.float32)
        _, sums = tf.while_loop(lambda i, _: i < count, step, (tf.constant(0), zeros))
        return sums

    return tf.function(train_steps, reduce_retracing=True)
