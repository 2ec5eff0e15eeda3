"""A GAN in training: its state, its loss, its update and the feeder that runs it on the data,
put together from `cfg` (what the trainer and its callbacks hold)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ganctl.config import TrainConfig
from ganctl.training.feed import Feeder
from ganctl.training.losses import make_loss
from ganctl.training.state import TrainState
from ganctl.training.step import Update

if TYPE_CHECKING:
    from ganctl.training.strategy import Distribution


class GAN:
    """`state` (G, D, optimizers, EMA, RNG, counters: what a checkpoint holds), `loss` (the
    registered `cfg.loss`, which also decides whether D has batch statistics), `update` (one
    training step from explicit inputs) and `feed` (the compiled loop over the data)."""

    def __init__(self, cfg: TrainConfig, distribution: Distribution | None = None):
        self.cfg = cfg
        self.distribution = distribution
        self.loss = make_loss(cfg)
        self.state = TrainState(cfg, distribution, self.loss.d_batch_statistics)
        self.update = Update(cfg, self.state, self.loss)
        self.feed = Feeder(cfg, self.state, self.update, distribution)

    # --- what the trainer and callbacks use ------------------------------------------------------

    @property
    def epoch(self) -> Any:
        """Completed epochs (an int64 variable)."""
        return self.state.epoch

    @property
    def step(self) -> Any:
        """Completed steps (an int64 variable)."""
        return self.state.step

    @property
    def shown_generator(self) -> Any:
        """The generator grids, evaluation and sampling use (the EMA copy when there is one)."""
        return self.state.shown_generator

    def state_stats(self) -> dict[str, float]:
        """Training state worth logging beside the losses: `--augment ada`'s p."""
        ada = self.state.ada
        return {} if ada is None else {"ada_p": round(float(ada.p.numpy()), 6)}

    def checkpoint_objects(self) -> dict[str, Any]:
        """What a checkpoint holds (see TrainState)."""
        return self.state.checkpoint_objects()

    def set_data(self, x_uint8: np.ndarray, labels: np.ndarray | None = None,
                 stream: bool = False) -> None:
        """Place the training images (and a conditional model's labels) on the device, or with
        `stream`, read each call's batches from them (a memory map of the data cache)."""
        if stream:
            self.feed.set_stream(x_uint8, labels)
        else:
            self.feed.set_data(x_uint8, labels)

    @property
    def steps_per_epoch(self) -> int:
        """Whole batches per epoch."""
        return self.feed.steps_per_epoch

    def epoch_order(self, epoch: int) -> Any:
        """Batch indices [steps, batch] of `epoch`."""
        return self.feed.epoch_order(epoch)

    def train_steps(self, order: Any, start: int, count: int) -> np.ndarray:
        """Run `count` steps on batches `order[start:start+count]`; return summed stats."""
        return self.feed.train_steps(order, start, count)

    @property
    def trace_count(self) -> int:
        """How often the compiled loop was traced."""
        return self.feed.trace_count
