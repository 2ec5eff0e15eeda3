"""`ganctl project`: the latent (and class) whose generated image is closest to each image."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ganctl.cli.options import (
    checkpoint_label,
    ckpt_option,
    ema_option,
    epoch_option,
    load_for_cli,
    runs_option,
)
from ganctl.generation.projection import (
    DEFAULT_BATCH,
    DEFAULT_LR,
    DEFAULT_NOISE,
    DEFAULT_PERCEPTUAL,
    DEFAULT_PIXEL,
    DEFAULT_SEEDS_TRIED,
    DEFAULT_STEPS,
)

if TYPE_CHECKING:
    import numpy as np

    from ganctl.config import TrainConfig
    from ganctl.evaluation.evaluators import Evaluator
    from ganctl.generation.api import Generator
    from ganctl.generation.projection import Projection, ProjectionSettings

EXAMPLES = """
[bold]Examples[/]

  ganctl project --ckpt run1 shirt.png --out proj/     [dim]# proj/shirt.png: target | projection[/]

  ganctl project --ckpt run1 photos/ --out proj/ --batch 100   [dim]# a folder, 100 at a time[/]

  ganctl project --ckpt run1 boot.png --gif --steps 500   [dim]# proj/boot.gif: it converging[/]

  ganctl project --ckpt cond sneaker.png --class sneaker   [dim]# a conditional run, class given[/]

  ganctl interpolate --ckpt run1 --between a.png,b.png   [dim]# then walk between real images[/]
"""


def project(
    images: list[str] = typer.Argument(..., help="Image files (PNG, JPEG, BMP, GIF) or folders "
                                       "of them (searched recursively).", show_default=False),
    ckpt: str = ckpt_option(),
    out: Path = typer.Option(Path("projections"), "--out", help="Folder for NAME.png (target | "
                             "projection), NAME.npz (z, class, distances), NAME.gif with --gif, "
                             "and project.json."),
    steps: int = typer.Option(DEFAULT_STEPS, "--steps", help="Adam steps on each latent."),
    seeds_tried: int = typer.Option(DEFAULT_SEEDS_TRIED, "--seeds-tried", help="Start from the "
                                    "best of seeds 0..N-1 (times each class tried), scored by "
                                    "the same distance."),
    class_: str | None = typer.Option(None, "--class", help="For a conditional run: the class to "
                                      "project into (a name, unique prefix or index), or a list "
                                      "to choose from.", show_default="every class is tried"),
    classes_tried: int = typer.Option(1, "--classes-tried", help="For a conditional run: "
                                      "optimise the best K classes at the start, keep the best "
                                      "end (K times the work)."),
    restarts: int = typer.Option(1, "--restarts", help="Optimise each image from its best K "
                                 "start seeds (of each class tried) and keep the best end (K "
                                 "times the work; helps where one start ends in a poor local "
                                 "minimum)."),
    batch: int = typer.Option(DEFAULT_BATCH, "--batch", help="Images (times classes tried) "
                              "optimised at once in one compiled loop."),
    perceptual_weight: float = typer.Option(DEFAULT_PERCEPTUAL, "--perceptual-weight",
                                            help="Weight of the mean squared difference of the "
                                            "run's evaluator features."),
    pixel_weight: float = typer.Option(DEFAULT_PIXEL, "--pixel-weight", help="Weight of the "
                                       "mean squared pixel difference on \\[-1, 1]."),
    noise_weight: float = typer.Option(DEFAULT_NOISE, "--noise-weight", help="Weight of the "
                                       "regulariser (mean(z²) - 1)² that keeps z where the "
                                       "Gaussian prior's mass lies (‖z‖/√d near 1)."),
    lr: float = typer.Option(DEFAULT_LR, "--lr", help="Adam's peak learning rate on z (ramped "
                             "up over the first 5% of steps, down over the last 25%)."),
    gif: bool = typer.Option(False, "--gif", help="Also write NAME.gif: the projection "
                             "converging."),
    scale: int = typer.Option(4, "--scale", min=1, help="Enlarge each pixel of NAME.png and "
                              "NAME.gif to an S×S block."),
    runs: str = runs_option(),
    epoch: int | None = epoch_option(),
    ema: bool = ema_option(),
) -> None:
    """Find, for each image, the latent (and class) whose generated image is closest.

    The distance is the run's evaluator features (as `evaluate` picks them: the shipped
    classifier for Fashion-MNIST, else the domain evaluator) plus pixels. Images are read as
    training read the run's data: its size, channels and --resize; transparency on white.
    Can it make my photo? Compare the two halves of NAME.png, and the PSNR and perceptual
    distance printed beside the start's (the best random seed's).
    """
    from dataclasses import asdict

    from ganctl.errors import UsageError
    from ganctl.generation.projection import ProjectionSettings, check_settings
    from ganctl.generation.projection_files import load_targets, write_projection
    from ganctl.generation.sampling import check_writable
    from ganctl.runs import find_run

    settings = ProjectionSettings(
        steps=steps, seeds_tried=seeds_tried, batch=batch, lr=lr,
        perceptual_weight=perceptual_weight, pixel_weight=pixel_weight,
        noise_weight=noise_weight, classes_tried=classes_tried, restarts=restarts, frames=gif)
    check_settings(settings)
    run, _ = find_run(ckpt, runs)
    cfg = run.read_config()
    chosen = classes_to_try(class_, cfg)
    targets = load_targets(images, cfg)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; pass a folder")
    check_writable(out.expanduser() if out.exists() else out.expanduser().parent, "projections to")
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    g = load_for_cli(ckpt, runs, epoch, console, ema)
    result, evaluator = project_for_cli(g, targets.images, settings, chosen, console)
    summary = {"run": str(run.root), "checkpoint": str(g.checkpoint), "ema": g.ema,
               "evaluator": evaluator.describe(),
               "settings": {**asdict(settings), "class": class_},
               "units": {"psnr": "dB on [-1, 1] (peak-to-peak 2)",
                         "perceptual": "Euclidean distance of evaluator features",
                         "z_norm": "||z|| / sqrt(latent_dim); about 1 for the prior"}}
    write_projection(out.expanduser(), targets, result, g.class_names, scale, summary)
    Console(highlight=False, soft_wrap=True).print(_table(targets.names, result, g.class_names))
    files = "NAME.png, NAME.npz" + (", NAME.gif" if gif else "")
    typer.echo(f"wrote {len(targets.names)} projection(s) to {out}/ ({files}, project.json) "
               f"from {checkpoint_label(g)}")


def project_for_cli(g: Generator, images_uint8: np.ndarray, settings: ProjectionSettings,
                    classes: list[int] | None, console: Console
                    ) -> tuple[Projection, Evaluator]:
    """Project images into `g` with the run's evaluator: a status line while the evaluator
    loads (a bar while a domain evaluator is first trained), then a bar of the steps."""
    from dataclasses import asdict

    from ganctl.cli.progress import EvaluationDisplay, ProjectionBar
    from ganctl.evaluation.perceptual import run_evaluator

    with EvaluationDisplay(console) as display:
        evaluator = run_evaluator(g.config, display.say, display.warn, display.progress)
    with ProjectionBar(console) as bar:
        result = g.project(images_uint8, evaluator.feature_tensor, classes, emit=bar,
                           **asdict(settings))
    return result, evaluator


def classes_to_try(text: str | None, cfg: TrainConfig) -> list[int] | None:
    """`--class` parsed against the run's classes (None: every class of a conditional run)."""
    from ganctl.classes import model_classes, parse_classes

    if text is None:
        return None
    return list(parse_classes(text, model_classes(cfg), "--class"))


def _table(names: list[str], result: Projection, class_names: tuple[str, ...]) -> Table:
    table = Table()
    table.add_column("image")
    if class_names:
        table.add_column("class")
    for column in ("PSNR dB", "(start)", "perceptual", "(start)", "‖z‖/√d"):
        table.add_column(column, justify="right")
    start, end = result.start, result.end
    for i, name in enumerate(names):
        cls = [class_names[int(result.labels[i])]] if result.labels is not None else []
        table.add_row(name, *cls, f"{end['psnr'][i]:.1f}", f"{start['psnr'][i]:.1f}",
                      f"{end['perceptual'][i]:.3f}", f"{start['perceptual'][i]:.3f}",
                      f"{result.z_norm[i]:.2f}")
    return table
