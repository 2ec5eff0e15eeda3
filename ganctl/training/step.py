"""One training update from explicit inputs: D's and G's updates and the EMA, on a real batch,
its labels, G's noise and fake labels, and the step's stateless seeds (`StepInputs`).

The feeder (`ganctl.training.feed`) draws and gathers the inputs for the global batch; the
update draws nothing from the random generator, so a device that computes a slice of the batch
runs exactly this code on its rows. The loss (`ganctl.training.losses`) gives the terms and its
regulariser, and D's architecture may add a loss of its own on the real images (a D that
also reconstructs them; `ganctl.models.judge_real`); this module runs the forward passes and applies
the gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ganctl.config import TrainConfig
from ganctl.models import judge_real
from ganctl.training.augment import diff_augment, policy_for
from ganctl.training.draws import (
    G_PURPOSE,
    Fakes,
    Rows,
    StepSeeds,
    auxiliary_purpose,
    fake_purpose,
    real_purpose,
    regulariser_purpose,
)
from ganctl.training.init_from import frozen_d_variables
from ganctl.training.losses import Loss
from ganctl.training.state import TrainState

# What an update returns, in this order: the losses and D's mean outputs as probabilities.
STAT_NAMES = ("g_loss", "d_loss", "d_real", "d_fake")


@dataclass(frozen=True)
class StepInputs:
    """Everything one update uses, this device's `rows` of the global batch."""

    real: Any  # float32 [rows, h, w, c] in [-1, 1]
    labels: Any  # int32 [rows]: the real images' classes; None for an unconditional model
    fakes: tuple[Fakes, ...]  # G's inputs, one draw per forward pass of G (`Update.draws`)
    seeds: StepSeeds  # the augmentations' and the regulariser's stateless seeds
    rows: Rows


def _with(x: Any, labels: Any) -> Any:
    """A model's input: `x` alone, or `[x, labels]` for a conditional model."""
    return x if labels is None else [x, labels]


class Update:
    """The training update of `state` with `loss`: `cfg.d_steps` D updates and one G update,
    then the EMA. G and D are updated from one shared forward pass when there is one D step and
    the loss needs no pass of its own; else one after the other."""

    def __init__(self, cfg: TrainConfig, state: TrainState, loss: Loss):
        self.cfg = cfg
        self.state = state
        self.loss = loss
        self.augment = policy_for(cfg.image_shape[2], cfg.augment_policy) if cfg.augment_on \
            else ()
        self.joint = cfg.d_steps == 1 and not loss.separate_d_pass
        # What D's updates change: all its trainable variables but --freeze-d's blocks.
        frozen = {id(v) for v in frozen_d_variables(cfg, state.discriminator)}
        self.d_vars = [v for v in state.discriminator.trainable_variables if id(v) not in frozen]

    @property
    def draws(self) -> int:
        """How many draws of G's inputs (`Fakes`) one update takes."""
        return 1 if self.joint else self.cfg.d_steps + 1

    def __call__(self, inputs: StepInputs) -> tuple[Any, ...]:
        """Update on `inputs`; returns the `STAT_NAMES` values."""
        if self.cfg.conditional != (inputs.labels is not None):
            raise ValueError("a conditional model trains on labelled batches, and only it does")
        if len(inputs.fakes) != self.draws:
            raise ValueError(f"this update takes {self.draws} draws of G's inputs, "
                             f"not {len(inputs.fakes)}")
        stats = self._joint(inputs) if self.joint else self._alternating(inputs)
        if self.state.ema is not None:
            self.state.ema.update(self.state.generator, inputs.seeds.step)
        if self.state.ada is not None:  # after this step, `step + 1` are done
            self.state.ada.adjust(inputs.seeds.step + 1)
        return stats

    def _observe(self, d_real: Any, inputs: StepInputs) -> None:
        """Tell the adaptive augmentation D's outputs on the real images (`--augment ada`)."""
        if self.state.ada is not None:
            self.state.ada.observe(d_real, distributed=not inputs.rows.whole)

    def _view(self, images: Any, purpose: int, inputs: StepInputs) -> Any:
        """Images as D sees them: augmented when augmentation is on (never for samples), with
        draws for the whole global batch of which `images` are the rows."""
        if not self.augment:
            return images
        ada = self.state.ada
        return diff_augment(images, inputs.seeds(purpose), self.augment,
                            offset=inputs.rows.offset, total=inputs.rows.total,
                            p=None if ada is None else ada.p)

    def _share(self, loss: Any, rows: Rows) -> Any:
        """A device's loss as its share of the global-batch mean: Keras sums the replicas'
        gradients in apply_gradients (so they must not be all-reduced again)."""
        return loss if rows.whole else loss / rows.replicas

    def _joint(self, inputs: StepInputs) -> tuple[Any, ...]:
        """G and D updated from one forward pass (one D step, no pass of D's own)."""
        import tensorflow as tf

        state, loss = self.state, self.loss
        g, d = state.generator, state.discriminator
        fakes = inputs.fakes[0]
        # G's loss uses D before its update and D's loss uses fakes from G before its update,
        # exactly as alternating G-then-D steps compute, with one forward pass fewer. D sees
        # real and fake images in separate calls: a BatchNorm over a mixed batch leaks which
        # is which.
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = g(_with(fakes.noise, fakes.labels), training=True)
            d_real, aux = judge_real(
                d, _with(self._view(inputs.real, real_purpose(0), inputs), inputs.labels),
                inputs.seeds(auxiliary_purpose(0)))
            d_fake = d(_with(self._view(fake, fake_purpose(0), inputs), fakes.labels),
                       training=True)
            g_loss = loss.g_loss(d_fake)
            d_loss = loss.d_loss(d_real, d_fake)
            if aux is not None:
                d_loss = d_loss + aux
            g_scaled = state.g_opt.scale_loss(self._share(g_loss, inputs.rows))
            d_scaled = state.d_opt.scale_loss(self._share(d_loss, inputs.rows))
        g_vars, d_vars = g.trainable_variables, self.d_vars
        state.g_opt.apply_gradients(zip(g_tape.gradient(g_scaled, g_vars), g_vars, strict=True))
        state.d_opt.apply_gradients(zip(d_tape.gradient(d_scaled, d_vars), d_vars, strict=True))
        self._observe(d_real, inputs)
        return g_loss, d_loss, loss.probability(d_real), loss.probability(d_fake)

    def _alternating(self, inputs: StepInputs) -> tuple[Any, ...]:
        """`d_steps` D updates on the same real batch (fresh noise each, as keras-io's
        wgan_gp.py does), each with the loss's regulariser, then one G update.

        A conditional critic judges the regulariser's images under the real images' labels.
        """
        import tensorflow as tf

        state, loss = self.state, self.loss
        g, d = state.generator, state.discriminator
        d_vars = self.d_vars

        def critic(x: Any, y: Any = inputs.labels) -> Any:
            return d(_with(x, y), training=True)

        for k in range(self.cfg.d_steps):
            fakes = inputs.fakes[k]
            fake = tf.stop_gradient(g(_with(fakes.noise, fakes.labels), training=True))
            with tf.GradientTape() as tape:
                real_view = self._view(inputs.real, real_purpose(k), inputs)
                fake_view = self._view(fake, fake_purpose(k), inputs)
                d_real, aux = judge_real(d, _with(real_view, inputs.labels),
                                         inputs.seeds(auxiliary_purpose(k)))
                d_fake = critic(fake_view, fakes.labels)
                d_loss = loss.d_loss(d_real, d_fake)
                extra = loss.regulariser(critic, real_view, fake_view,
                                         inputs.seeds(regulariser_purpose(k)), inputs.rows)
                total = d_loss if extra is None else d_loss + extra
                total = total if aux is None else total + aux
                scaled = state.d_opt.scale_loss(self._share(total, inputs.rows))
            state.d_opt.apply_gradients(zip(tape.gradient(scaled, d_vars), d_vars, strict=True))
            self._observe(d_real, inputs)
        g_vars = g.trainable_variables
        fakes = inputs.fakes[-1]
        with tf.GradientTape() as tape:
            fake = g(_with(fakes.noise, fakes.labels), training=True)
            g_loss = loss.g_loss(critic(self._view(fake, G_PURPOSE, inputs), fakes.labels))
            scaled = state.g_opt.scale_loss(self._share(g_loss, inputs.rows))
        state.g_opt.apply_gradients(zip(tape.gradient(scaled, g_vars), g_vars, strict=True))
        return g_loss, total, loss.probability(d_real), loss.probability(d_fake)
