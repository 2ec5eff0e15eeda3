"""Fine-tuning (`--init-from RUN`): a new run whose G, D and EMA start from another run's
checkpoint, with fresh optimizers; and FreezeD (`--freeze-d K`, Mo et al. 2020), which keeps D's
first K blocks fixed.

The source must build the same models: the fields in MUST_MATCH are compared, and the first that
differs is named with both values. Conditional runs with other classes load everything but the
class embedding (G's class rows of its first layer, D's projection), which start afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganctl.config import TrainConfig
from ganctl.errors import GanctlError, UsageError
from ganctl.events import Say, quiet
from ganctl.models import ARCHS, build_for
from ganctl.runs import RunFolder, find_run
from ganctl.training.losses import make_loss

# What a source run must share with the new one, so that every weight has its place.
MUST_MATCH = ("arch", "width", "latent_dim", "image_size", "channels", "spectral_norm",
              "conditional")


@dataclass(frozen=True)
class Source:
    """The run a new run starts from: its folder, settings, checkpoint (None: the newest good
    one) and config.json's sha256."""

    run: RunFolder
    cfg: TrainConfig
    checkpoint: str | None
    config_sha256: str

    def describe(self) -> str:
        return str(self.run.root) + (f" ({self.checkpoint})" if self.checkpoint else "")


def find_source(init_from: str, runs_root: str | Path) -> Source:
    """The run `--init-from` names (a run name under `runs_root`, a run folder or one of its
    checkpoints); one line when it is missing or its config.json is damaged."""
    from ganctl.fsutil import file_sha256

    try:
        run, checkpoint = find_run(init_from, runs_root)
        cfg = run.read_config()
    except (UsageError, GanctlError) as exc:
        # find_run speaks to --ckpt users; here the runs folder is --out
        text = str(exc).replace("; for runs trained with --out DIR pass --runs DIR, or pass a run "
                                "folder or a checkpoint", "; pass a run name under --out, a run "
                                "folder or a checkpoint")
        raise UsageError(f"--init-from {init_from}: {text}") from None
    if cfg.image_shape is None:
        raise UsageError(f"--init-from {init_from}: the run never trained (its config.json has "
                         "no image shape)")
    return Source(run, cfg, checkpoint, file_sha256(run.config))


def _field(cfg: TrainConfig, name: str) -> Any:
    if name == "image_size":
        return cfg.image_shape[0]
    if name == "channels":
        return cfg.image_shape[2]
    return getattr(cfg, name)


def check_source(cfg: TrainConfig, source: Source) -> str:
    """Refuse a source whose models differ from `cfg`'s (one line: the field and both values);
    return what the header says about the start, e.g. that the class embedding restarts."""
    for name in MUST_MATCH:
        mine, theirs = _field(cfg, name), _field(source.cfg, name)
        if mine != theirs:
            raise UsageError(f"--init-from {source.run.name}: {name} differs: the source run has "
                             f"{theirs}, this run {mine}; fine-tuning needs the same model")
    d_norm = make_loss(cfg).d_batch_statistics, make_loss(source.cfg).d_batch_statistics
    if d_norm[0] != d_norm[1]:
        raise UsageError(f"--init-from {source.run.name}: loss differs in D's BatchNorm: the "
                         f"source run has --loss {source.cfg.loss}, this run --loss {cfg.loss}")
    note = f"fine-tuning from {source.describe()}"
    if cfg.conditional and tuple(cfg.labels) != tuple(source.cfg.labels):
        note += (f"; its classes ({', '.join(source.cfg.labels)}) differ from these "
                 f"({', '.join(cfg.labels)}): all but the class embedding and D's class "
                 "projection loaded, which start afresh")
    return note


def load_source(state: Any, source: Source, warn: Say = quiet) -> list[str]:
    """Copy the source checkpoint's G, D and EMA weights into `state`'s models (the EMA from
    the source's EMA, else from its G); the optimizers stay fresh. Returns the weights that
    did not fit and start afresh (a conditional run's class embedding with other classes)."""
    from ganctl.checkpoints import CheckpointStore

    cfg = source.cfg
    loss = make_loss(cfg)
    generator, discriminator = build_for(cfg, d_batch_statistics=loss.d_batch_statistics)
    objects = {"generator": generator, "discriminator": discriminator}
    ema = build_for(cfg)[0] if cfg.ema else None
    if ema is not None:
        objects["generator_ema"] = ema
    store = CheckpointStore(source.run.checkpoints)
    try:
        if source.checkpoint:
            store.restore(objects, store.find(name=source.checkpoint), partial=True)
        elif store.restore_latest_good(objects, warn, partial=True) is None:
            raise GanctlError("it has no checkpoints yet")
    except GanctlError as exc:
        raise GanctlError(f"--init-from {source.run.root}: {exc}") from None
    restarted = _copy(generator, state.generator, cfg.latent_dim)
    restarted += _copy(discriminator, state.discriminator, cfg.latent_dim)
    if state.ema is not None:
        _copy(ema if ema is not None else generator, state.ema.generator, cfg.latent_dim)
    return restarted


def _copy(source: Any, target: Any, latent_dim: int) -> list[str]:
    """Assign `source`'s weights to `target`'s, in order (the same builder makes the same list).

    A weight of another shape is a conditional model's class embedding: G's first kernel keeps
    its class rows and takes the z rows, anything else starts afresh. Returns those names."""
    restarted = []
    for theirs, mine in zip(source.weights, target.weights, strict=True):
        if tuple(theirs.shape) == tuple(mine.shape):
            mine.assign(theirs)
            continue
        restarted.append(mine.path)
        if len(mine.shape) == 2 and mine.shape[1] == theirs.shape[1] \
                and min(mine.shape[0], theirs.shape[0]) > latent_dim:
            mine.assign(_rows(mine, theirs, latent_dim))
    return restarted


def _rows(mine: Any, theirs: Any, latent_dim: int) -> Any:
    """`mine` with its first `latent_dim` rows (z's) taken from `theirs`."""
    import tensorflow as tf

    return tf.concat([tf.convert_to_tensor(theirs)[:latent_dim],
                      tf.convert_to_tensor(mine)[latent_dim:]], axis=0)


def frozen_d_variables(cfg: TrainConfig, discriminator: Any) -> list[Any]:
    """The trainable variables of D's first `cfg.freeze_d` blocks (the architecture's
    `Arch.d_blocks`); a K beyond D's blocks is refused in one line."""
    if not cfg.freeze_d:
        return []
    blocks = ARCHS[cfg.arch].d_blocks(discriminator)
    if cfg.freeze_d > len(blocks):
        raise UsageError(f"--freeze-d {cfg.freeze_d}: this run's D has {len(blocks)} blocks; "
                         f"pass at most {len(blocks)}")
    return [v for block in blocks[:cfg.freeze_d] for layer in block
            for v in layer.trainable_variables]
