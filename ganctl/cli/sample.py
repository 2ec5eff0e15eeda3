"""`ganctl sample`: images from a trained run, one per seed, as a grid, PNGs or an .npz."""

from __future__ import annotations

import typer
from rich.console import Console

from ganctl.cli.options import (
    checkpoint_label,
    ckpt_option,
    class_option,
    classes_for_cli,
    ema_option,
    epoch_option,
    load_for_cli,
    runs_option,
    truncation_option,
)
from ganctl.generation.sampling import DEFAULT_N, DEFAULT_PER_CLASS

EXAMPLES = """
[bold]Examples[/]

  ganctl sample --ckpt run1                            [dim]# 64 images (seeds 0-63) in samples.png[/]

  ganctl sample --ckpt run1 --seeds 0-15 --rows 2 --scale 4 --out grid.png

  ganctl sample --ckpt run1 --seeds 1,5,9,20-23 --out picked/   [dim]# picked/seed0001.png ...[/]

  ganctl sample --ckpt runs/run1/checkpoints/ckpt-e0010-s00004680 --n 16

  ganctl sample --ckpt run1 --epoch 5 --n 10000 --npz samples.npz

  ganctl sample --ckpt cond --class sneaker --n 16 --out s.png   [dim]# a conditional run[/]

  ganctl sample --ckpt cond --class all --n 8     [dim]# a row of seeds 0-7 per class[/]

  ganctl sample --ckpt run1 --truncation 0.7      [dim]# more typical, less varied images[/]
"""


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
    truncation: float | None = truncation_option(),
) -> None:
    """Draw images from a trained generator: a grid, one PNG per seed, or an .npz of arrays.

    Seed 7 gives the same picture every time, alone or in any batch (of a class, for a
    conditional run: seed 7 of class 3 is always the same picture).
    """
    from ganctl.errors import UsageError
    from ganctl.generation.latents import check_truncation
    from ganctl.generation.sampling import (
        describe_seeds,
        plan_sample_outputs,
        resolve_seeds,
        write_sample_outputs,
    )

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    check_truncation(truncation)
    classes, names = classes_for_cli(class_, ckpt, runs)
    chosen = resolve_seeds(n, seeds, DEFAULT_N if len(classes) < 2 else DEFAULT_PER_CLASS)
    total = len(chosen) * max(len(classes), 1)
    if rows is None and len(classes) > 1:
        rows = len(classes)
    elif rows is not None and rows > total:
        raise UsageError(f"--rows {rows} is more than the {total} images asked for")
    targets = plan_sample_outputs(out, npz)
    g = load_for_cli(ckpt, runs, epoch, console, ema)
    samples = g.samples(chosen, classes, truncation)  # the Python API's own call
    label = checkpoint_label(g)
    written = write_sample_outputs(samples, targets, rows=rows, scale=scale,
                                   checkpoint=str(g.checkpoint))
    what = " and ".join(str(p) + ("/" if p == targets.folder else "") for p in written)
    of_classes = ""
    if classes:
        listed = ", ".join(names[c] for c in classes) if len(classes) <= 3 else \
            f"{len(classes)} classes, a row each"
        of_classes = f", {'class' if len(classes) == 1 else 'classes'} {listed}" \
            if len(classes) <= 3 else f", {listed}"
    cut = "" if truncation is None else f", truncation {truncation:g}"
    typer.echo(f"wrote {what}: {total} images (seeds {describe_seeds(chosen)}"
               f"{of_classes}{cut}) from {label}")
