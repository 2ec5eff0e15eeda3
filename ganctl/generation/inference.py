"""Load a trained generator from a run (or one of its checkpoints) for sampling and evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ganctl.checkpoints import CheckpointInfo, CheckpointStore, shown_generator_key
from ganctl.config import TrainConfig
from ganctl.errors import GanctlError
from ganctl.events import Say, quiet
from ganctl.models import build_for
from ganctl.runs import DEFAULT_RUNS, RunFolder, find_run


@dataclass
class LoadedGenerator:
    """A generator with its run's settings and the checkpoint it came from."""

    generator: Any
    cfg: TrainConfig
    run: RunFolder
    checkpoint: CheckpointInfo
    key: str = "generator"  # its name in the checkpoint: "generator_ema" for the EMA copy


def load_generator(ckpt: str, runs_root: str = DEFAULT_RUNS, epoch: int | None = None,
                   warn: Say = quiet, ema: bool = True) -> LoadedGenerator:
    """Build the run's generator from `config.json` and load weights from a checkpoint.

    `ckpt` is a run name under `runs_root`, a run folder, or one checkpoint inside a run.
    Without a specific checkpoint or `epoch`, the newest loadable checkpoint is used (damaged
    ones are skipped with a warning). The generator is the one to show: the run's EMA copy
    when it has one, unless `ema` is False. Only weights are read: no code is loaded.
    """
    run, name = find_run(ckpt, runs_root)
    cfg = run.read_config()
    if cfg.image_shape is None:
        raise GanctlError(f"{run.config} has no image_shape; the run never started training")
    try:
        generator, _ = build_for(cfg)
    except (ValueError, TypeError) as exc:
        raise GanctlError(f"{run.config} describes a model that cannot be built: {exc}") from None
    store = CheckpointStore(run.checkpoints)
    key = shown_generator_key(cfg, ema)
    objects = {key: generator}
    if name is not None or epoch is not None:
        info = store.find(name=name, epoch=epoch)
        store.restore(objects, info, partial=True)
    else:
        info = store.restore_latest_good(objects, warn, partial=True)
        if info is None:
            raise GanctlError(f"run {run.root} has no checkpoints yet; train it first")
    return LoadedGenerator(generator, cfg, run, info, key)
