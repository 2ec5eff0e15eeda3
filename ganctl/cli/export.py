"""`ganctl export`: the generator as SavedModel, .keras, TFLite and ONNX files for other programs."""

from __future__ import annotations

import typer
from rich.console import Console

from ganctl.cli.options import (
    checkpoint_label,
    ckpt_option,
    ema_option,
    epoch_option,
    load_for_cli,
    runs_option,
)

EXAMPLES = """
[bold]Examples[/]

  ganctl export --ckpt run1 --format onnx --out run1-onnx     [dim]# + example.py (numpy, onnxruntime)[/]

  ganctl export --ckpt run1 --format savedmodel,keras,tflite,onnx --out export/

  ganctl export --ckpt run1 --format tflite --quantize float16 --out phone/

  ganctl export --ckpt run1 --epoch 5 --no-ema --format savedmodel --out e5 --force

  ganctl export --ckpt run1 --format onnx --truncation 0.7 --out typical/
"""


def export(
    ckpt: str = ckpt_option(),
    out: str = typer.Option(..., "--out", help="The folder to create, holding the files, "
                            "README.md, ganctl-export.json and (with onnx) example.py.",
                            show_default=False),
    format_: str = typer.Option("savedmodel", "--format", help="savedmodel, keras, tflite, onnx, "
                                "or several separated by commas. onnx needs the export "
                                "extra: pip install \"ganctl\\[export]\"."),
    quantize: str | None = typer.Option(None, "--quantize", help="float16: also write "
                                        "generator-float16.tflite, float16 weights at half the "
                                        "size (with --format tflite).", show_default="none"),
    truncation: float | None = typer.Option(
        None, "--truncation", help="Truncation ψ > 0 written into ganctl-export.json's "
        "seed-to-latent rule and example.py (BigGAN's trick: components beyond ±ψ redrawn from "
        "the same seed); the files take any latent.", show_default="none"),
    force: bool = typer.Option(False, "--force", help="Replace --out if it exists."),
    runs: str = runs_option(),
    epoch: int | None = epoch_option(),
    ema: bool = ema_option(),
) -> None:
    """Write the generator as files other programs load without ganctl (SavedModel, ONNX, ...).

    Formats: SavedModel, .keras, TFLite, ONNX.

    Each file is checked against `ganctl sample` (seeds 0-7) before the folder is put in place.

    Every format takes z float32 \\[batch, latent] (and labels int32 \\[batch] for a conditional
    run) and gives images float32 \\[batch, h, w, c] in \\[-1, 1] (and uint8 through the
    generate_uint8 signature, or the ONNX output images_uint8). ganctl-export.json writes out
    how a seed becomes a latent, so `ganctl sample --seeds 7` can be reproduced anywhere.
    """
    from ganctl.generation.export import FILES, plan_export

    plan = plan_export(out, format_, truncation, quantize, force)  # fails before TensorFlow loads
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    g = load_for_cli(ckpt, runs, epoch, console, ema)
    result = g.export(plan.out, plan.formats, plan.truncation, plan.quantize, plan.force,
                      say=lambda text: console.print(f"[dim]{text}[/]"))
    for fmt, diff in result.max_abs_diff.items():
        typer.echo(f"  {FILES[fmt]:<26} {fmt:<15} max |diff| vs sample {diff:.2g}")
    extra = " and example.py" if "onnx" in result.files else ""
    typer.echo(f"wrote {result.out}/: {', '.join(result.files)} with README.md, "
               f"ganctl-export.json{extra} from {checkpoint_label(g)}")
