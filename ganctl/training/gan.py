"""The GAN's state (models, optimizers, RNG, counters) and its compiled training steps."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ganctl.checkpoints import shown_generator_key
from ganctl.config import TrainConfig
from ganctl.models import ARCHS, build_for
from ganctl.training.augment import diff_augment, policy_for
from ganctl.training.ema import ema_beta, update_ema
from ganctl.training.losses import make_loss

if TYPE_CHECKING:
    from ganctl.training.strategy import Distribution

# Per-call statistics returned by `train_steps`, summed over the steps of the call.
STAT_NAMES = ("g_loss", "d_loss", "d_real", "d_fake")

# Training steps per iteration of the compiled loop. With two, XLA overlaps the end of one step
# (G's backward pass) with the start of the next (D on the real batch, which only waits for D's
# update): about 6% more images/s on a 2-core CPU (benchmarks/README.md). Weights and optimizer
# state do not depend on how steps fall into calls; with XLA, BatchNorm's moving averages may
# differ in the last bit.
UNROLL = 2


# Dtype policies of --precision; float32 outputs and losses under both mixed ones.
POLICIES = {"float32": "float32", "mixed": "mixed_float16", "bf16": "mixed_bfloat16"}
# Purposes of the step's stateless seeds (augmentations, α): D step k uses k·4 + 0..2.
_G_PURPOSE = 1023


def _adam(cfg: TrainConfig, lr: float, loss_scale: bool) -> Any:
    import keras

    # beta_1 = 0.5 instead of Keras' 0.9 matters: a long momentum makes the two players
    # overshoot each other and training oscillates.
    opt = keras.optimizers.Adam(lr, beta_1=cfg.beta1, beta_2=cfg.beta2)
    # float16 gradients underflow without loss scaling; bfloat16 has float32's range.
    return keras.optimizers.LossScaleOptimizer(opt) if loss_scale else opt


def _normal(rng: Any, rows: int, cols: int) -> Any:
    """Standard normal float32 [rows, cols] from `rng`'s raw Philox bits (Box-Muller).

    `rng.normal()` draws different numbers with XLA and without it (and on GPUs), while its raw
    integer bits are the same everywhere; so the same seed gives the same noise, to float
    rounding, on every device and with --xla or --no-xla.
    """
    import tensorflow as tf

    half = (cols + 1) // 2
    bits = rng.uniform_full_int([2, rows, half], tf.uint32)
    u = (tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) + 0.5) * 2.0**-24  # in (0, 1)
    radius = tf.sqrt(-2.0 * tf.math.log(u[0]))
    angle = (2.0 * np.pi) * u[1]
    return tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], axis=1)[:, :cols]


def _classes(rng: Any, rows: int, class_cdf: np.ndarray) -> Any:
    """Class labels int32 [rows] from `rng`'s raw Philox bits, with the cumulative class shares
    `class_cdf`: as `_normal`, the same on every device and with or without XLA."""
    import tensorflow as tf

    bits = rng.uniform_full_int([rows], tf.uint32)
    u = (tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) + 0.5) * 2.0**-24  # in (0, 1)
    # The class is the number of cumulative shares u has passed (inverse CDF).
    cdf = tf.constant(class_cdf[:-1])
    return tf.reduce_sum(tf.cast(u[:, None] >= cdf[None, :], tf.int32), axis=1)


@dataclass
class ReplicaFeed:
    """What a tf.distribute replica's step takes from outside: where its rows start in the
    global batch, the replica count, and the step's noise and fake labels (for a conditional
    model), drawn for the whole global batch before `strategy.run` (a generator used inside a
    replica draws a stream of its own)."""

    offset: int
    replicas: int
    noises: list[Any]
    fake_labels: list[Any] = field(default_factory=list)


def _as_probability(out: Any, loss: Any) -> Any:
    """D's mean output as a probability, for the D(x) and D(G(z)) statistics."""
    import tensorflow as tf

    out = tf.cast(out, tf.float32)
    return tf.reduce_mean(out if loss.on_probabilities else tf.sigmoid(out))


def _with(x: Any, labels: Any) -> Any:
    """A model's input: `x` alone, or `[x, labels]` for a conditional model."""
    return x if labels is None else [x, labels]


class GAN:
    """Generator, discriminator, their optimizers, the EMA generator, the random generator and
    the counters.

    Everything that a resumed run needs lives in `checkpoint_objects()`. The step
    (`train_step`: one update on a given batch) is separate from what feeds it (`train_steps`:
    many steps per compiled call on batches gathered from the data held as a uint8 variable),
    so that other feeders (per-replica batches, labelled batches) call the same step.
    """

    def __init__(self, cfg: TrainConfig, distribution: Distribution | None = None):
        if cfg.image_shape is None:
            raise ValueError("config has no image_shape; load the data first")
        self.cfg = cfg
        self.distribution = distribution
        self.mixed = cfg.precision != "float32"
        self._data: Any = None
        self._labels: Any = None
        self._train_fn: Any = None
        # Set while a replica's step is traced. Per thread: MirroredStrategy traces its
        # replicas in threads that take turns at every synchronisation point.
        self._replica_local = threading.local()
        self.trace_count = 0
        # Fake labels follow the classes' frequencies in the data: their cumulative shares.
        self._class_cdf = (np.cumsum(cfg.class_counts) / sum(cfg.class_counts)).astype(np.float32) \
            if cfg.conditional else None
        # Under a strategy every variable is created in its scope (mirrored on each replica),
        # and the optimizers are built eagerly here: Keras 3.15 cannot create their slots
        # inside a traced cross-replica function.
        with distribution.scope() if distribution else contextlib.nullcontext():
            self._build()
        if distribution is not None and distribution.distributed:
            from ganctl.training.distributed_step import synchronize_batchnorm

            synchronize_batchnorm(self.generator, self.discriminator)

    def _build(self) -> None:
        import keras
        import tensorflow as tf

        cfg = self.cfg
        keras.mixed_precision.set_dtype_policy(POLICIES[cfg.precision])
        try:
            self.generator, self.discriminator = build_for(cfg, mixed=self.mixed)
            # The average starts as G itself (build_for is deterministic, and it is assigned
            # below too); it is never trained, only averaged.
            self.generator_ema = build_for(cfg, mixed=self.mixed)[0] if cfg.ema else None
        finally:
            keras.mixed_precision.set_dtype_policy("float32")
        if self.generator_ema is not None:
            self.generator_ema.set_weights(self.generator.get_weights())
        self.g_opt = _adam(cfg, cfg.lr, cfg.precision == "mixed")
        self.d_opt = _adam(cfg, cfg.d_lr, cfg.precision == "mixed")
        self.g_opt.build(self.generator.trainable_variables)
        self.d_opt.build(self.discriminator.trainable_variables)
        self.rng = tf.random.Generator.from_seed(cfg.seed)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.loss = make_loss(cfg.loss, ARCHS[cfg.arch].d_output)
        self.augment = policy_for(cfg.image_shape[2], cfg.augment_policy) if cfg.augment_on \
            else ()

    @property
    def shown_generator(self) -> Any:
        """The generator that grids, evaluation and sampling use: the EMA copy when there is one."""
        return getattr(self, shown_generator_key(self.cfg))

    # --- state -----------------------------------------------------------------------------------

    def checkpoint_objects(self) -> dict[str, Any]:
        """What a checkpoint holds: weights, optimizer slots, the EMA, RNG state, counters."""
        objects = {"generator": self.generator, "discriminator": self.discriminator,
                   "g_opt": self.g_opt, "d_opt": self.d_opt, "rng": self.rng,
                   "epoch": self.epoch, "step": self.step}
        if self.generator_ema is not None:
            objects["generator_ema"] = self.generator_ema
        return objects

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
        self._train_fn = None

    @property
    def steps_per_epoch(self) -> int:
        # Fixed shapes: a partial last batch is dropped (the permutation changes every epoch).
        return int(self._data.shape[0]) // self.cfg.batch_size

    # --- the step --------------------------------------------------------------------------------

    def epoch_order(self, epoch: int) -> Any:
        """Batch indices [steps, batch] for `epoch`: a permutation drawn from (seed, epoch).

        Stateless so that a run resumed in the middle of an epoch sees the same order.
        """
        import tensorflow as tf

        n = int(self._data.shape[0])
        keys = tf.random.stateless_uniform([n], seed=[self.cfg.seed, epoch])
        order = tf.cast(tf.argsort(keys), tf.int32)
        steps = self.steps_per_epoch
        return tf.reshape(order[: steps * self.cfg.batch_size], [steps, self.cfg.batch_size])

    def noise(self, rows: int, offset: Any = 0) -> Any:
        """Latents [rows, d] for one step: rows `offset:offset+rows` of the step's [batch, d] draw.

        The whole global batch is always drawn, so an image's latent does not depend on how a
        step's batch is split (a tf.distribute replica takes its own rows of a draw made
        before `strategy.run`).
        """
        if self._replica is not None:
            # Drawn before strategy.run: a generator used inside a replica draws a stream of
            # its own (TensorFlow hashes the replica id into its key).
            return self._replica.noises.pop(0)[offset:offset + rows]
        z = _normal(self.rng, self.cfg.batch_size, self.cfg.latent_dim)
        return z if rows == self.cfg.batch_size else z[offset:offset + rows]

    @property
    def _replica(self) -> ReplicaFeed | None:
        return getattr(self._replica_local, "feed", None)

    @_replica.setter
    def _replica(self, feed: ReplicaFeed | None) -> None:
        self._replica_local.feed = feed

    @property
    def noise_draws(self) -> int:
        """How many [batch, d] noise draws one step makes."""
        return 1 if self._joint else self.cfg.d_steps + 1

    @property
    def _joint(self) -> bool:
        return self.cfg.d_steps == 1 and not self.loss.has_penalty

    def _share(self, loss: Any) -> Any:
        """A replica's loss as its share of the global-batch mean: Keras sums the replicas'
        gradients in apply_gradients (so they must not be all-reduced again)."""
        return loss if self._replica is None else loss / self._replica.replicas

    def fake_labels(self, rows: int, offset: Any = 0) -> Any:
        """Class labels int32 [rows] for fakes, drawn with the classes' frequencies: rows
        `offset:offset+rows` of a [batch] draw (as `noise`), drawn after each noise draw.

        From the GAN's random generator (so a resumed run draws the same ones), from its raw
        bits like `_normal`, so XLA and every device agree.
        """
        if self._replica is not None:  # drawn before strategy.run, like the noise
            return self._replica.fake_labels.pop(0)[offset:offset + rows]
        labels = _classes(self.rng, self.cfg.batch_size, self._class_cdf)
        return labels if rows == self.cfg.batch_size else labels[offset:offset + rows]

    def _fakes_input(self, part: tuple[Any, int], conditional: bool) -> tuple[Any, Any]:
        """G's input for the fakes of this step's rows `part`, and their labels (None for an
        unconditional model)."""
        offset, rows = part
        z = self.noise(rows, offset)
        labels = self.fake_labels(rows, offset) if conditional else None
        return _with(z, labels), labels

    def _seed(self, purpose: int) -> Any:
        """A stateless seed for this step and `purpose` (so resuming replays it exactly)."""
        import tensorflow as tf

        return tf.stack([tf.constant(self.cfg.seed, tf.int64),
                         self.step * (_G_PURPOSE + 1) + purpose])

    def _view(self, images: Any, purpose: int, offset: Any = 0) -> Any:
        """Images as D sees them: augmented when augmentation is on (never for samples).

        Like the noise, the augmentation is drawn for the whole global batch and `images` are
        its rows from `offset`.
        """
        if not self.augment:
            return images
        return diff_augment(images, self._seed(purpose), self.augment, offset=offset,
                            total=self.cfg.batch_size)

    def _part(self, images: Any) -> tuple[Any, int]:
        """(offset, rows): which rows of the step's global batch `images` are. All of them,
        unless a tf.distribute replica runs the step on its slice."""
        import tensorflow as tf

        rows = int(images.shape[0])
        if self._replica is not None:  # the distributed step knows its offset when tracing
            return self._replica.offset, rows
        if rows == self.cfg.batch_size:
            return 0, rows
        return tf.distribute.get_replica_context().replica_id_in_sync_group * rows, rows

    def train_step(self, images: Any, labels: Any = None) -> tuple[Any, ...]:
        """One training step on `images` (float32 in [-1, 1]): `d_steps` D updates and one G
        update, then the EMA; returns the `STAT_NAMES` values.

        The noise is drawn inside. `labels` (int32 [batch]) are the real images' classes, for
        conditional models, whose fakes get labels drawn with the classes' frequencies
        (`fake_labels`); the compiled loop (`train_steps`) gathers both from the data on the
        device.
        """
        if self.cfg.conditional != (labels is not None):
            raise ValueError("a conditional model trains on labelled batches, and only it does")
        part = self._part(images)
        if self._joint:
            stats = self._joint_step(images, part, labels)
        else:
            stats = self._alternating_step(images, part, labels)
        if self.generator_ema is not None:
            import tensorflow as tf

            images_seen = tf.cast(self.step + 1, tf.float32) * self.cfg.batch_size
            beta = ema_beta(images_seen, self.cfg.batch_size, self.cfg.ema_half_life,
                            self.cfg.ema_ramp)
            update_ema(self.generator_ema, self.generator, beta)
        return stats

    def _joint_step(self, images: Any, part: tuple[Any, int], labels: Any = None
                    ) -> tuple[Any, ...]:
        """G and D updated from one forward pass (one D step per G step, no penalty)."""
        import tensorflow as tf

        g, d = self.generator, self.discriminator
        offset, _ = part
        g_input, fake_labels = self._fakes_input(part, labels is not None)
        # G's loss uses D before its update and D's loss uses fakes from G before its update,
        # exactly as alternating G-then-D steps compute, with one forward pass fewer. D sees
        # real and fake images in separate calls: a BatchNorm over a mixed batch leaks which
        # is which.
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = g(g_input, training=True)
            d_real = d(_with(self._view(images, 0, offset), labels), training=True)
            d_fake = d(_with(self._view(fake, 1, offset), fake_labels), training=True)
            g_loss = self.loss.g_loss(d_fake)
            d_loss = self.loss.d_loss(d_real, d_fake)
            g_scaled = self.g_opt.scale_loss(self._share(g_loss))
            d_scaled = self.d_opt.scale_loss(self._share(d_loss))
        g_vars, d_vars = g.trainable_variables, d.trainable_variables
        self.g_opt.apply_gradients(zip(g_tape.gradient(g_scaled, g_vars), g_vars, strict=True))
        self.d_opt.apply_gradients(zip(d_tape.gradient(d_scaled, d_vars), d_vars, strict=True))
        return (g_loss, d_loss, _as_probability(d_real, self.loss),
                _as_probability(d_fake, self.loss))

    def _alternating_step(self, images: Any, part: tuple[Any, int], labels: Any = None
                          ) -> tuple[Any, ...]:
        """`d_steps` D updates on the same real batch (fresh noise each, as keras-io's
        wgan_gp.py does), each with the loss's penalty, then one G update.

        A conditional critic judges the penalty's interpolates under the real images' labels.
        """
        import tensorflow as tf

        g, d = self.generator, self.discriminator
        offset, rows = part
        conditional = labels is not None
        d_vars = d.trainable_variables

        def critic(x: Any, y: Any = labels) -> Any:
            return d(_with(x, y), training=True)

        for k in range(self.cfg.d_steps):
            g_input, fake_labels = self._fakes_input(part, conditional)
            fake = tf.stop_gradient(g(g_input, training=True))
            with tf.GradientTape() as tape:
                real_view = self._view(images, 4 * k, offset)
                fake_view = self._view(fake, 4 * k + 1, offset)
                d_real, d_fake = critic(real_view), critic(fake_view, fake_labels)
                d_loss = self.loss.d_loss(d_real, d_fake)
                alpha = tf.random.stateless_uniform([self.cfg.batch_size, 1, 1, 1],
                                                    self._seed(4 * k + 2))[offset:offset + rows]
                penalty = self.loss.penalty(critic, real_view, fake_view, alpha)
                total = d_loss if penalty is None else d_loss + penalty
                scaled = self.d_opt.scale_loss(self._share(total))
            self.d_opt.apply_gradients(zip(tape.gradient(scaled, d_vars), d_vars, strict=True))
        g_vars = g.trainable_variables
        g_input, fake_labels = self._fakes_input(part, conditional)
        with tf.GradientTape() as tape:
            fake = g(g_input, training=True)
            g_loss = self.loss.g_loss(critic(self._view(fake, _G_PURPOSE, offset), fake_labels))
            scaled = self.g_opt.scale_loss(self._share(g_loss))
        self.g_opt.apply_gradients(zip(tape.gradient(scaled, g_vars), g_vars, strict=True))
        return (g_loss, total, _as_probability(d_real, self.loss),
                _as_probability(d_fake, self.loss))

    def _build_train_fn(self) -> Any:
        import tensorflow as tf

        def train_steps(order: Any, start: Any, count: Any) -> Any:
            self.trace_count += 1  # Python side effect: runs once per trace only

            def step(i: Any, sums: Any) -> Any:
                # tf.gather rather than `order[start + i]`: XLA takes a strided slice's start as a
                # compile-time constant, so slicing would compile the whole loop again for every
                # new `start` (every call of the first epoch).
                idx = tf.gather(order, start + i)
                images = tf.cast(tf.gather(self._data, idx), tf.float32) / 127.5 - 1.0
                labels = None if self._labels is None else tf.gather(self._labels, idx)
                stats = self.train_step(images, labels)
                self.step.assign_add(1)
                return i + 1, sums + tf.stack(stats)

            def steps(i: Any, sums: Any) -> Any:
                for _ in range(UNROLL):
                    i, sums = step(i, sums)
                return i, sums

            zeros = tf.zeros([len(STAT_NAMES)], tf.float32)
            whole = count - count % UNROLL
            i, sums = tf.while_loop(lambda i, _: i < whole, steps, (tf.constant(0), zeros))
            _, sums = tf.while_loop(lambda i, _: i < count, step, (i, sums))  # the remainder
            return sums

        return tf.function(train_steps, jit_compile=self.cfg.xla, reduce_retracing=True)

    def train_steps(self, order: Any, start: int, count: int) -> np.ndarray:
        """Run `count` steps on batches `order[start:start+count]`; return summed stats."""
        import tensorflow as tf

        if self._train_fn is None:
            if self.distribution is not None and self.distribution.distributed:
                from ganctl.training.distributed_step import build_distributed_train_fn

                self._train_fn = build_distributed_train_fn(self, self.distribution.strategy)
            else:
                self._train_fn = self._build_train_fn()
        sums = self._train_fn(order, tf.constant(start, tf.int32), tf.constant(count, tf.int32))
        return sums.numpy()
