"""`ganctl sample`: images from a trained run, one per seed, as a grid, PNGs or an .npz."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from ganctl.cli import app
from ganctl.generation.sampling import DEFAULT_N, DEFAULT_PER_CLASS
from ganctl.runs import DEFAULT_RUNS

if TYPE_CHECKING:
    from ganctl.checkpoints import CheckpointInfo
    from ganctl.generation.inference import LoadedGenerator

EXAMPLES = """
[bold]Examples[/]

  ganctl sample --ckpt run1                            [dim]# 64 images (seeds 0-63) in samples.png[/]

  ganctl sample --ckpt run1 --seeds 0-15 --rows 2 --scale 4 --out grid.png

  ganctl sample --ckpt run1 --seeds 1,5,9,20-23 --out picked/   [dim]# picked/seed0001.png ...[/]

  ganctl sample --ckpt runs/run1/checkpoints/ckpt-e0010-s00004680 --n 16

  ganctl sample --ckpt run1 --epoch 5 --n 10000 --npz samples.npz

  ganctl sample --ckpt cond --class sneaker --n 16 --out s.png   [dim]# a conditional run[/]

  ganctl sample --ckpt cond --class all --n 8     [dim]# a row of seeds 0-7 per class[/]
"""

CLASS_HELP = ("For a conditional run: a class name (any case; a unique prefix such as 'sneak' "
              "will do), its index, a list such as 0,7, or 'all'. Several classes give one row "
              "per class, with the same seeds in every row.")

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


def load_for_cli(ckpt: str, runs: str, epoch: int | None, console: Console,
                 ema: bool = True) -> LoadedGenerator:
    """Load the generator for a command: find the run first (cheap), then import TensorFlow.

    Warnings about skipped damaged checkpoints are shown only when a good one loads; when
    none does, the one-line error already says so.
    """
    from ganctl.errors import UsageError
    from ganctl.generation.inference import load_generator
    from ganctl.runs import find_run
    from ganctl.tfsetup import import_tensorflow

    _, checkpoint = find_run(ckpt, runs)  # a missing run fails before the slow TensorFlow import
    if checkpoint is not None and epoch is not None:
        raise UsageError(f"--ckpt names one checkpoint ({checkpoint}); leave out --epoch, or "
                         "pass the run instead")
    import_tensorflow()
    warnings: list[str] = []
    loaded = load_generator(ckpt, runs, epoch, warn=warnings.append, ema=ema)
    for text in warnings:
        console.print(f"[yellow]warning:[/] {text}", highlight=False)
    return loaded


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


def checkpoint_label(loaded: LoadedGenerator) -> str:
    """'runs/run1/checkpoints/ckpt-e0003-s00001404 (epoch 3)' for success lines."""
    ema = ", EMA" if loaded.key == "generator_ema" else ""
    return f"{loaded.run.checkpoints / loaded.checkpoint.name} ({checkpoint_when(loaded.checkpoint)}{ema})"


def checkpoint_when(info: CheckpointInfo) -> str:
    """'epoch 3' for a checkpoint saved at an epoch's end; 'in epoch 4, step 1529' for one
    saved mid-epoch (Ctrl-C, --minutes), as `train`'s stop line says it (its file name and
    `epoch` count the 3 epochs completed)."""
    if info.complete:
        return f"epoch {info.epoch}"
    return f"in epoch {info.epoch + 1}, step {info.step}"


@app.command(epilog=EXAMPLES)
def sample(
    ckpt: str = ckpt_option(),
    out: str | None = typer.Option(
        None, "--out", help="A .png file for one grid, or a folder (a path ending in / or an "
                            "existing folder) for one PNG per image named seed0007.png.",
        show_default="samples.png, unless only --npz is given"),
    n: int | None = typer.Option(None, "--n", min=1, help="Number of images, from seeds 0..N-1 "
                                 "(per class, for several classes).",
                                 show_default=f"{DEFAULT_N}; {DEFAULT_PER_CLASS} per class"),
    seeds: str | None = typer.Option(None, "--seeds", help="Seeds to draw, e.g. 0-63 or "
                                     "1,5,9,20-23; each image's latent comes from its own seed.",
                                     show_default="0..N-1"),
    rows: int | None = typer.Option(None, "--rows", min=1, help="Rows of the grid.",
                                    show_default="near-square, never taller than wide"),
    scale: int = typer.Option(1, "--scale", min=1, help="Enlarge each pixel to an S×S block "
                              "(nearest neighbour), for viewing."),
    npz: str | None = typer.Option(None, "--npz", help="Also (or only) save the raw arrays: "
                                   "images (uint8), outputs (float32 in \\[-1, 1]), latents, "
                                   "seeds; labels and class_names for a conditional run.",
                                   show_default="none"),
    class_: str | None = class_option(),
    runs: str = runs_option(),
    epoch: int | None = epoch_option(),
    ema: bool = ema_option(),
) -> None:
    """Draw images from a trained generator: a grid, one PNG per seed, or an .npz of arrays.

    Seed 7 gives the same picture every time, alone or in any batch (of a class, for a
    conditional run: seed 7 of class 3 is always the same picture).
    """
    from ganctl.errors import UsageError
    from ganctl.generation.sampling import (
        class_rows,
        compiled_generator,
        describe_seeds,
        generate_samples,
        plan_sample_outputs,
        resolve_seeds,
        write_sample_outputs,
    )

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    classes, names = classes_for_cli(class_, ckpt, runs)
    chosen = resolve_seeds(n, seeds, DEFAULT_N if len(classes) < 2 else DEFAULT_PER_CLASS)
    all_seeds, labels = class_rows(chosen, classes) if classes else (chosen, None)
    if rows is None and len(classes) > 1:
        rows = len(classes)
    elif rows is not None and rows > len(all_seeds):
        raise UsageError(f"--rows {rows} is more than the {len(all_seeds)} images asked for")
    targets = plan_sample_outputs(out, npz)
    loaded = load_for_cli(ckpt, runs, epoch, console, ema)
    generate = compiled_generator(loaded.generator)
    samples = generate_samples(generate, loaded.cfg.latent_dim, all_seeds, labels, names)
    label = checkpoint_label(loaded)
    written = write_sample_outputs(samples, targets, rows=rows, scale=scale,
                                   checkpoint=str(loaded.run.checkpoints / loaded.checkpoint.name))
    what = " and ".join(str(p) + ("/" if p == targets.folder else "") for p in written)
    of_classes = ""
    if classes:
        listed = ", ".join(names[c] for c in classes) if len(classes) <= 3 else \
            f"{len(classes)} classes, a row each"
        of_classes = f", {'class' if len(classes) == 1 else 'classes'} {listed}" \
            if len(classes) <= 3 else f", {listed}"
    typer.echo(f"wrote {what}: {len(all_seeds)} images (seeds {describe_seeds(chosen)}"
               f"{of_classes}) from {label}")
