"""The options of a training run as training's registries complete them: the checks that need
a registry (losses, strategies, augmentations, the snapshot grammar), the help texts that list a
registry's entries, and `resolve`, which the `train` command calls.

Everything else about an option (its help, check, default, resume rule) is declared once, on
its TrainConfig field (`ganctl.config.settings`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganctl.config import TrainConfig, help_text, settings_from
from ganctl.config.option import one_of
from ganctl.errors import UsageError
from ganctl.models import ARCHS
from ganctl.training.augment import parse_policy
from ganctl.training.losses import LOSSES
from ganctl.training.snapshots import parse_snapshot_every
from ganctl.training.strategy import STRATEGIES

# How a D's outputs read in "--arch A's ..." (ganctl.models.Arch.d_output).
_D_OUTPUT_WORDS = {"probability": "ends in a sigmoid", "logits": "outputs logits"}


def resolve(cli_options: dict[str, Any], config_file: str | Path | None = None) -> TrainConfig:
    """Defaults, then the TOML file, then the command line (which wins; None = not given);
    every check."""
    return check_for_training(settings_from(cli_options, config_file))


def check_for_training(cfg: TrainConfig) -> TrainConfig:
    """The checks that need training's registries; return `cfg` unchanged when it is valid."""
    one_of(STRATEGIES)("--strategy", cfg.strategy)
    one_of(LOSSES)("--loss", cfg.loss)
    _check_d_output(cfg)
    if cfg.augment_policy != "auto":
        try:
            parse_policy(cfg.augment_policy)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    parse_snapshot_every(cfg.snapshot_every)
    return cfg


def option_help(name: str) -> str:
    """The help of setting `name` as `train --help` shows it, its "{choices}" filled from the
    registry it names: ARCHS for --arch, LOSSES for --loss."""
    registries: dict[str, dict[str, Any]] = {"arch": ARCHS, "loss": LOSSES}
    entries = registries.get(name)
    if entries is None:
        return help_text(name)
    return help_text(name, {entry: kind.summary for entry, kind in entries.items()})


def _check_d_output(cfg: TrainConfig) -> None:
    """Refuse a loss that does not take what the architecture's D outputs (logits or
    probabilities), naming the architectures and losses that would do."""
    d_output = ARCHS[cfg.arch].d_output
    takes = LOSSES[cfg.loss].d_outputs
    if d_output in takes:
        return
    archs = " or ".join(f"--arch {a}" for a, spec in ARCHS.items() if spec.d_output in takes)
    losses = " or ".join(f"--loss {n}" for n, loss in LOSSES.items()
                         if d_output in loss.d_outputs)
    raise UsageError(f"--loss {cfg.loss} needs a discriminator that outputs "
                     f"{' or '.join(takes)}, and --arch {cfg.arch}'s "
                     f"{_D_OUTPUT_WORDS.get(d_output, 'outputs ' + d_output)}; use {archs} or "
                     f"{losses}")
