"""The training state: G, D, their optimizers, the EMA generator, the random generator and the
epoch/step counters; everything a checkpoint holds, so that a resumed run continues exactly."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ganctl.checkpoints import shown_generator_key
from ganctl.config import TrainConfig
from ganctl.models import ARCHS, build_for
from ganctl.training.ada import AdaptiveStrength
from ganctl.training.ema import EmaGenerator

if TYPE_CHECKING:
    from ganctl.training.strategy import Distribution

# Dtype policies of --precision; float32 outputs and losses under both mixed ones.
POLICIES = {"float32": "float32", "mixed": "mixed_float16", "bf16": "mixed_bfloat16"}


def adam(cfg: TrainConfig, lr: float, loss_scale: bool) -> Any:
    """Adam with the run's betas; wrapped in loss scaling for float16."""
    import keras

    # beta_1 = 0.5 instead of Keras' 0.9 matters: a long momentum makes the two players
    # overshoot each other and training oscillates.
    opt = keras.optimizers.Adam(lr, beta_1=cfg.beta1, beta_2=cfg.beta2)
    # float16 gradients underflow without loss scaling; bfloat16 has float32's range.
    return keras.optimizers.LossScaleOptimizer(opt) if loss_scale else opt


class TrainState:
    """Generator, discriminator, their optimizers, the EMA generator (when `cfg.ema`), the
    adaptive augmentation strength (`--augment ada`), the random generator and the counters,
    built for `cfg`.

    `d_batch_statistics` False builds a D without BatchNorm (the loss's call). Under a strategy,
    every variable is created in its scope (mirrored on each replica) and BatchNorm averages its
    statistics over the replicas.
    """

    def __init__(self, cfg: TrainConfig, distribution: Distribution | None = None,
                 d_batch_statistics: bool = True):
        if cfg.image_shape is None:
            raise ValueError("config has no image_shape; load the data first")
        self.cfg = cfg
        self.mixed = cfg.precision != "float32"
        # The optimizers are built eagerly here: Keras 3.15 cannot create their slots inside a
        # traced cross-replica function.
        with distribution.scope() if distribution else contextlib.nullcontext():
            self._build(d_batch_statistics)
        if distribution is not None and distribution.distributed:
            synchronize_batchnorm(self.generator, self.discriminator)

    def _build(self, d_batch_statistics: bool) -> None:
        import keras
        import tensorflow as tf

        cfg = self.cfg
        keras.mixed_precision.set_dtype_policy(POLICIES[cfg.precision])
        try:
            self.generator, self.discriminator = build_for(
                cfg, mixed=self.mixed, d_batch_statistics=d_batch_statistics)
            copy = build_for(cfg, mixed=self.mixed)[0] if cfg.ema else None
        finally:
            keras.mixed_precision.set_dtype_policy("float32")
        self.ema = None if copy is None else EmaGenerator(
            copy, self.generator, cfg.batch_size, cfg.ema_half_life, cfg.ema_ramp)
        self.g_opt = adam(cfg, cfg.lr, cfg.precision == "mixed")
        self.d_opt = adam(cfg, cfg.d_lr, cfg.precision == "mixed")
        self.g_opt.build(self.generator.trainable_variables)
        self.d_opt.build(self.discriminator.trainable_variables)
        self.rng = tf.random.Generator.from_seed(cfg.seed)
        self.ada = AdaptiveStrength(
            cfg.ada_target, cfg.ada_speed, cfg.batch_size,
            ARCHS[cfg.arch].d_output == "probability") if cfg.augment_adaptive else None
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

    def checkpoint_objects(self) -> dict[str, Any]:
        """What a checkpoint holds: weights, optimizer slots, the EMA, RNG state, counters."""
        objects = {"generator": self.generator, "discriminator": self.discriminator,
                   "g_opt": self.g_opt, "d_opt": self.d_opt, "rng": self.rng,
                   "epoch": self.epoch, "step": self.step}
        if self.ema is not None:
            objects["generator_ema"] = self.ema.generator
        if self.ada is not None:
            objects.update(self.ada.checkpoint_objects())
        return objects

    @property
    def shown_generator(self) -> Any:
        """The generator that grids, evaluation and sampling use, as the checkpoint store names
        it: the EMA copy when there is one."""
        return self.checkpoint_objects()[shown_generator_key(self.cfg)]


def all_layers(model: Any) -> Iterator[Any]:
    """Every layer inside `model`, nested models' layers included (Keras' public `layers` lists
    only a model's own)."""
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from all_layers(layer)


def synchronize_batchnorm(*models: Any) -> int:
    """Switch every BatchNormalization layer of `models` to cross-replica statistics.

    Keras reads `synchronized` at call time, so the layers need not be rebuilt; the flag is not
    part of the weights, so checkpoints stay loadable on one device. Returns the count.
    """
    import keras

    count = 0
    for model in models:
        for layer in all_layers(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = True
                count += 1
    return count
