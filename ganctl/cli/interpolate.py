"""`ganctl interpolate`: a looping animation that walks the latent space between seeds."""

from __future__ import annotations

from pathlib import Path

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
from ganctl.generation.walks import DEFAULT_FPS, DEFAULT_FRAMES, DEFAULT_POINTS, DEFAULT_SCALE

EXAMPLES = """
[bold]Examples[/]

  ganctl interpolate --ckpt run1                      [dim]# walk.gif: seeds 0-3 and back to 0[/]

  ganctl interpolate --ckpt run1 --grid 3x3 --points 5 --frames 30 --out walks.gif

  ganctl interpolate --ckpt run1 --between 3,17 --frames 48 --fps 30

  ganctl interpolate --ckpt run1 --between shirt.png,boot.png   [dim]# real images, projected[/]

  ganctl interpolate --ckpt run1 --between proj/shirt.npz,proj/boot.npz,bag.png

  ganctl interpolate --ckpt run1 --method linear --seed 100 --out walk.mp4   [dim]# needs imageio-ffmpeg[/]

  ganctl interpolate --ckpt cond --class sneaker --grid 2x2   [dim]# walks among sneakers[/]

  ganctl interpolate --ckpt cond --classes sneaker,sandal,ankle --seed 7   [dim]# morph classes[/]

  ganctl interpolate --ckpt run1 --truncation 0.7   [dim]# keyframes from truncated latents[/]
"""


def interpolate(
    ckpt: str = ckpt_option(),
    out: str = typer.Option("walk.gif", "--out", help="The animation: a .gif, or an .mp4 when "
                                                      "imageio's ffmpeg plugin is installed."),
    points: int | None = typer.Option(None, "--points", min=2, help="Keyframes per walk, from "
                                      "seeds SEED, SEED+1, ...; the walk loops back to the first.",
                                      show_default=str(DEFAULT_POINTS)),
    frames: int = typer.Option(DEFAULT_FRAMES, "--frames", min=1, help="Frames from one keyframe "
                               "to the next; the animation has POINTS × FRAMES frames."),
    method: str = typer.Option("slerp", "--method", help="slerp (along the sphere, keeps the "
                               "norm of Gaussian latents) or linear."),
    seed: int | None = typer.Option(None, "--seed", min=0, help="First keyframe seed; walk w of "
                                    "a grid uses seeds SEED + w×POINTS onwards.", show_default="0"),
    grid: str = typer.Option("1x1", "--grid", help="ROWSxCOLS independent walks in one "
                             "animation, e.g. 3x3."),
    between: str | None = typer.Option(None, "--between", help="Walk from seed A to seed B and "
                                       "back, e.g. 3,17 (instead of --seed/--points); or between "
                                       "2-3 real images, e.g. a.png,b.png[,c.png], each projected "
                                       "first (as `ganctl project` does; a NAME.npz it wrote "
                                       "skips that).", show_default="none"),
    fps: float = typer.Option(DEFAULT_FPS, "--fps", help="Frames per second (GIFs play at "
                              "most 50)."),
    scale: int = typer.Option(DEFAULT_SCALE, "--scale", min=1, help="Enlarge each pixel to an "
                              "S×S block (nearest neighbour)."),
    class_: str | None = class_option(
        "For a conditional run: the class every walk stays in (a name, unique prefix or "
        "index).", "walk w of the grid shows class w"),
    classes: str | None = typer.Option(
        None, "--classes", help="For a conditional run: morph through these classes (names, "
        "prefixes or indices, e.g. sneaker,sandal,bag; or 'all') at the fixed latent of --seed, "
        "looping back to the first; --method moves between their class codes.",
        show_default="none"),
    runs: str = runs_option(),
    epoch: int | None = epoch_option(),
    ema: bool = ema_option(),
    truncation: float | None = truncation_option(
        "Truncation ψ > 0 of the keyframe latents (BigGAN's trick: components beyond ±ψ are "
        "redrawn from the same seed); try 0.5-1."),
) -> None:
    """Animate a loop through keyframe latents, morphing each seed's image into the next.

    The last frame leads smoothly back into the first, so the animation loops without a jump.
    A conditional run walks within one class (--class; by default walk w of a grid shows
    class w), or morphs between classes at a fixed latent (--classes).
    """
    from ganctl.errors import UsageError
    from ganctl.generation.latents import check_truncation, parse_grid, parse_pair

    check_truncation(truncation)
    if class_ is not None and classes is not None:
        raise UsageError("pass --class (walks within one class) or --classes (a morph between "
                         "classes), not both")
    if classes is not None:
        if between is not None or points is not None:
            raise UsageError("--classes morphs at a fixed latent; leave out --between and --points")
        _morph(ckpt, runs, epoch, out, classes, 0 if seed is None else seed, frames, method,
               parse_grid(grid), fps, scale, truncation)
        return
    from ganctl.generation.sampling import describe_seeds
    from ganctl.generation.walks import check_animation_target, plan_walks, render_walks
    from ganctl.images import write_animation

    if between is not None and is_image_walk(between):
        if points is not None or seed is not None or grid != "1x1":
            raise UsageError("--between with images makes one walk through them; leave out "
                             "--seed, --points and --grid")
        _between_images(ckpt, runs, epoch, ema, out, between, frames, method, fps, scale,
                        class_, truncation)
        return
    pair = parse_pair(between) if between is not None else None
    if pair is not None and (points is not None or seed is not None):
        raise UsageError("--between picks both keyframes; leave out --seed and --points")
    plan = plan_walks(0 if seed is None else seed, DEFAULT_POINTS if points is None else points,
                      frames, method, parse_grid(grid), pair)
    walks, keys = plan.key_seeds.shape
    chosen, names = classes_for_cli(class_, ckpt, runs)
    if class_ is not None and len(chosen) != 1:
        raise UsageError("--class takes one class here; to morph between classes use --classes")
    labels = [chosen[w % len(chosen)] for w in range(walks)] if names else None
    target = check_animation_target(out, fps)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    g = load_for_cli(ckpt, runs, epoch, console, ema)
    pictures = render_walks(plan, g.generate, g.latent_dim, scale, labels, truncation)
    write_animation(target, pictures, fps)
    what = (f"{walks} walks ({plan.grid[0]}x{plan.grid[1]}), seeds "
            f"{describe_seeds(plan.key_seeds.ravel().tolist())}" if walks > 1
            else f"seeds {' -> '.join(map(str, plan.key_seeds[0]))} -> {plan.key_seeds[0, 0]}")
    if labels is not None:
        what += (f", class {names[labels[0]]}" if len(set(labels)) == 1
                 else f", classes {', '.join(names[c] for c in dict.fromkeys(labels))}")
    if truncation is not None:
        what += f", truncation {truncation:g}"
    typer.echo(f"wrote {target}: {plan.total_frames} frames ({keys} keyframes x {plan.frames}, "
               f"{plan.method}; {what}) at {fps:g} fps from {checkpoint_label(g)}")


def _morph(ckpt: str, runs: str, epoch: int | None, out: str, classes: str, seed: int,
           frames: int, method: str, grid: tuple[int, int], fps: float, scale: int,
           truncation: float | None = None) -> None:
    """`interpolate --classes`: a loop through class codes at fixed latents."""
    import numpy as np

    from ganctl.generation.sampling import compiled_generator, describe_seeds
    from ganctl.generation.walks import check_animation_target, plan_class_morph, render_class_morph
    from ganctl.images import write_animation
    from ganctl.models.conditioning import class_codes, generator_body

    chosen, names = classes_for_cli(classes, ckpt, runs, option="--classes")
    plan = plan_class_morph(chosen, seed, frames, method, grid)
    target = check_animation_target(out, fps)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    g = load_for_cli(ckpt, runs, epoch, console)
    codes = np.asarray(class_codes(g.keras_model, np.arange(len(names), dtype=np.int32)))
    body = compiled_generator(generator_body(g.keras_model))
    pictures = render_class_morph(plan, body, codes, g.latent_dim, scale, truncation)
    write_animation(target, pictures, fps)
    path = " -> ".join(names[c] for c in (*plan.classes, plan.classes[0]))
    walks = len(plan.seeds)
    at = f"seed {seed}" if walks == 1 else f"{walks} walks ({grid[0]}x{grid[1]}), seeds " \
        f"{describe_seeds(plan.seeds.tolist())}"
    typer.echo(f"wrote {target}: {plan.total_frames} frames ({len(plan.classes)} classes x "
               f"{plan.frames}, {plan.method}; {path} at {at}"
               f"{'' if truncation is None else f', truncation {truncation:g}'}) at {fps:g} fps "
               f"from {checkpoint_label(g)}")


def is_image_walk(between: str) -> bool:
    """Whether `--between` names images or projections (anything but two seed numbers)."""
    return any(not part.strip().isdigit() for part in between.split(","))


def _between_images(ckpt: str, runs: str, epoch: int | None, ema: bool, out: str, between: str,
                    frames: int, method: str, fps: float, scale: int, class_: str | None,
                    truncation: float | None) -> None:
    """`interpolate --between a.png,b.png[,c.png]`: project the images (a NAME.npz from
    `ganctl project` is used as it is), then one looping walk through their latents."""
    import numpy as np

    from ganctl.cli.project import classes_to_try, project_for_cli
    from ganctl.errors import UsageError
    from ganctl.generation.projection import ProjectionSettings
    from ganctl.generation.projection_files import load_targets, read_projection
    from ganctl.generation.sampling import compiled_generator
    from ganctl.generation.walks import check_animation_target, render_keyframe_walk
    from ganctl.images import write_animation
    from ganctl.models.conditioning import class_codes, generator_body
    from ganctl.runs import find_run

    parts = [p.strip() for p in between.split(",")]
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise UsageError(f"bad --between '{between}': expected 2 or 3 images or projections, "
                         "e.g. a.png,b.png or a.npz,b.png,c.png")
    if truncation is not None:
        raise UsageError("--truncation picks keyframes from seeds; --between with images walks "
                         "through their projections as found")
    if method not in ("slerp", "linear"):
        raise UsageError(f"unknown --method '{method}': use one of slerp, linear")
    run, _ = find_run(ckpt, runs)
    cfg = run.read_config()
    chosen = classes_to_try(class_, cfg)
    images = [p for p in parts if not p.lower().endswith(".npz")]
    for part in parts:
        if part.lower().endswith(".npz") and not Path(part).expanduser().is_file():
            raise UsageError(f"no such projection: {part} (an .npz that ganctl project wrote)")
    targets = load_targets(images, cfg) if images else None
    target = check_animation_target(out, fps)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    g = load_for_cli(ckpt, runs, epoch, console, ema)
    keys: list[np.ndarray] = []
    labels: list[int | None] = []
    said = []
    if targets is not None:
        result, _ = project_for_cli(g, targets.images, ProjectionSettings(), chosen, console)
    found = iter(range(len(images)))
    for part in parts:
        if part.lower().endswith(".npz"):
            z, label = read_projection(Path(part).expanduser(), g.latent_dim)
            if (label is None) == g.conditional:
                raise UsageError(f"{part} was projected into an "
                                 f"{'un' if label is None else ''}conditional run, not this one")
            keys.append(z)
            labels.append(label)
            said.append(Path(part).name)
        else:
            i = next(found)
            keys.append(result.latents[i])
            labels.append(None if result.labels is None else int(result.labels[i]))
            said.append(f"{Path(part).name} (PSNR {result.end['psnr'][i]:.1f} dB)")
    z = np.stack(keys)
    if not g.conditional:
        pictures = render_keyframe_walk(z, frames, method, g.generate, scale)
    elif len(set(labels)) == 1:
        pictures = render_keyframe_walk(z, frames, method, g.generate, scale, labels)
    else:
        codes = np.asarray(class_codes(g.keras_model, np.asarray(labels, np.int32)))
        body = compiled_generator(generator_body(g.keras_model))
        pictures = render_keyframe_walk(z, frames, method, g.generate, scale, body=body,
                                        codes=codes)
    write_animation(target, pictures, fps)
    classes = "" if not g.conditional else \
        f"; classes {' -> '.join(g.class_names[c] for c in labels)}"
    typer.echo(f"wrote {target}: {len(pictures)} frames ({len(keys)} keyframes x {frames}, "
               f"{method}; {' -> '.join(said)} -> {Path(parts[0]).name}{classes}) at {fps:g} fps from "
               f"{checkpoint_label(g)}")
