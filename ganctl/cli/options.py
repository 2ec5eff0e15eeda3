"""Options and helpers that `sample`, `interpolate`, `evaluate` and `export` share: which run and
checkpoint (--ckpt, --runs, --epoch, --ema/--no-ema), which classes (--class), --truncation, and
loading the generator they name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from ganctl.runs import DEFAULT_RUNS

if TYPE_CHECKING:
    from ganctl.checkpoints import CheckpointInfo
    from ganctl.generation.api import Generator
    from ganctl.generation.inference import LoadedGenerator

CLASS_HELP = ("For a conditional run: a class name (any case; a unique prefix such as 'sneak' "
              "will do), its index, a list such as 0,7, or 'all'. Several classes give one row "
              "per class, with the same seeds in every row.")

TRUNCATION_HELP = ("Truncation ψ > 0 (BigGAN's trick): latent components beyond ±ψ are redrawn from "
                   "the same seed, trading variety for typical images (try 0.5-1).")

CKPT_HELP = ("A run name (looked up under --runs), a run folder, or one checkpoint inside a run "
             "(runs/run1/checkpoints/ckpt-e0010-s00004680). The model is built from the run's "
             "config.json.")


def ckpt_option() -> Any:
    return typer.Option(..., "--ckpt", help=CKPT_HELP, show_default=False)


def runs_option() -> Any:
    return typer.Option(DEFAULT_RUNS, "--runs", help="Folder that holds runs, for --ckpt NAME.")


def epoch_option() -> Any:
    return typer.Option(None, "--epoch", min=1, help="Use the checkpoint saved at the end of "
                                                     "this epoch, where it was kept.",
                        show_default="the newest checkpoint that loads")


def ema_option() -> Any:
    return typer.Option(True, "--ema/--no-ema", help="Use the run's EMA generator where it kept "
                                                     "one (--no-ema: the trained weights).")


def truncation_option(help_text: str = TRUNCATION_HELP) -> Any:
    return typer.Option(None, "--truncation", help=help_text, show_default="none")


def load_for_cli(ckpt: str, runs: str, epoch: int | None, console: Console,
                 ema: bool = True) -> Generator:
    """Load the generator for a command through the Python API (`ganctl.load`): the run is found
    first (cheap), then TensorFlow is imported.

    Warnings about skipped damaged checkpoints are shown only when a good one loads; when
    none does, the one-line error already says so.
    """
    from ganctl.generation.api import load

    warnings: list[str] = []
    g = load(ckpt, epoch=epoch, ema=ema, runs_root=runs, warn=warnings.append)
    for text in warnings:
        console.print(f"[yellow]warning:[/] {text}", highlight=False)
    return g


def class_option(help_text: str = CLASS_HELP,
                 default_text: str = "a row per class for a conditional run") -> Any:
    return typer.Option(None, "--class", help=help_text, show_default=default_text)


def classes_for_cli(text: str | None, ckpt: str, runs: str, option: str = "--class"
                    ) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Parse `--class` against the run's classes, from its config.json (before TensorFlow
    loads, so a bad name fails fast); returns (classes chosen, all class names). Without
    `--class`, every class of a conditional run and none of an unconditional one."""
    from ganctl.classes import model_classes, parse_classes
    from ganctl.runs import find_run

    run, _ = find_run(ckpt, runs)
    names = model_classes(run.read_config())
    if text is None:
        return tuple(range(len(names))), names
    return parse_classes(text, names, option), names


def checkpoint_label(loaded: LoadedGenerator | Generator) -> str:
    """'runs/run1/checkpoints/ckpt-e0003-s00001404 (epoch 3)' for success lines."""
    loaded = getattr(loaded, "loaded", loaded)
    ema = ", EMA" if loaded.key == "generator_ema" else ""
    return f"{loaded.run.checkpoints / loaded.checkpoint.name} ({checkpoint_when(loaded.checkpoint)}{ema})"


def checkpoint_when(info: CheckpointInfo) -> str:
    """'epoch 3' for a checkpoint saved at an epoch's end; 'in epoch 4, step 1529' for one
    saved mid-epoch (Ctrl-C, --minutes), as `train`'s stop line says it (its file name and
    `epoch` count the 3 epochs completed)."""
    if info.complete:
        return f"epoch {info.epoch}"
    return f"in epoch {info.epoch + 1}, step {info.step}"
