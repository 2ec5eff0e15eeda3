"""`ganctl train`: parse options, plan the run, train it, render progress."""

from __future__ import annotations

import signal
from pathlib import Path

import typer
from rich.console import Console

from ganctl.cli import app
from ganctl.config import TrainConfig

D = TrainConfig()  # defaults, shown in --help
DCGAN = TrainConfig(arch="dcgan")

EXAMPLES = """
[bold]Examples[/]

  ganctl train --epochs 100                          [dim]# Fashion-MNIST, the classic MLP GAN[/]

  ganctl train --data mnist --epochs 20 --name digits

  ganctl train --data ./my_images --image-size 28 --limit 5000

  ganctl train --conditional --name classes          [dim]# then: sample --class sneaker[/]

  ganctl train --name digits --epochs 40             [dim]# resume 'digits' up to epoch 40[/]

  ganctl train --data ./small --epochs 500 --snapshot-every 5ep

  ganctl train --arch dcgan --minutes 10             [dim]# a convolutional GAN, 10 minutes[/]

  ganctl train --arch dcgan --data ./photos --image-size 64 --channels 3

  ganctl train --config examples/dcgan-colour.toml --data ./icons --channels 3 --image-size 32

  ganctl train --arch dcgan --loss wgan-gp --d-steps 5 --no-ema

  ganctl train --config examples/quick.toml --dry-run

  ganctl train --strategy mirrored --batch-size 256  [dim]# all GPUs of this machine[/]

  TF_CONFIG='{...}' ganctl train --strategy multiworker   [dim]# on every machine[/]
"""


@app.command(epilog=EXAMPLES)
def train(
    data: str | None = typer.Option(
        None, help=f"Built-in dataset (fashion-mnist, mnist), a folder of the four IDX files, an "
                   f".npz with an 'x' array, or a folder of images. \\[default: {D.data}]"),
    epochs: int | None = typer.Option(
        None, help=f"Total epochs; training an existing run continues up to this. "
                   f"\\[default: {D.epochs}]"),
    batch_size: int | None = typer.Option(None, help="Images per step. \\[default: 128 for mlp, "
                                                         "64 for dcgan]"),
    lr: float | None = typer.Option(None, help="Adam learning rate of G, and of D unless --d-lr "
                                                  "is given. \\[default: 2e-4 for mlp, 1e-3 for "
                                                  "dcgan]"),
    d_lr: float | None = typer.Option(None, help="D's own Adam learning rate (two time-scale "
                                                    "updates, TTUR). \\[default: --lr]"),
    beta1: float | None = typer.Option(None, help=f"Adam beta1. \\[default: {D.beta1}]"),
    beta2: float | None = typer.Option(None, help=f"Adam beta2. \\[default: {D.beta2}]"),
    latent_dim: int | None = typer.Option(None, help=f"Size of the latent vector z. "
                                                        f"\\[default: {D.latent_dim}]"),
    arch: str | None = typer.Option(None, help="Architecture: mlp (the seed article's) or dcgan "
                                                  "(convolutional; square images of 28, 32, 48, "
                                                  f"64, 96 or 128 pixels). \\[default: {D.arch}]"),
    conditional: bool | None = typer.Option(
        None, "--conditional/--unconditional",
        help="Condition G and D on the data's class labels (IDX label files, an .npz's 'y', or "
             "one sub-folder per class), so `sample --class` can ask for a class. "
             "\\[default: unconditional]"),
    width: int | None = typer.Option(None, help="dcgan: channels of the largest feature maps (G "
                                                   "and D double them as the grid halves, up to 8x)."
                                                   f" \\[default: {DCGAN.width}]"),
    spectral_norm: bool | None = typer.Option(None, "--spectral-norm/--no-spectral-norm",
                                              help="dcgan: spectral normalisation in D (it then "
                                                   "has no BatchNorm). \\[default: off]"),
    loss: str | None = typer.Option(None, help="bce (non-saturating), hinge, or wgan-gp "
                                                  "(gradient penalty 10). \\[default: bce]"),
    d_steps: int | None = typer.Option(None, help="D updates per G update (5 is usual for "
                                                     f"wgan-gp). \\[default: {D.d_steps}]"),
    ema: bool | None = typer.Option(None, "--ema/--no-ema", help="Keep an exponential moving "
                                       "average of G and show it in grids, sample, interpolate "
                                       "and evaluate. \\[default: on for dcgan, off for mlp]"),
    ema_half_life: float | None = typer.Option(None, help="The EMA's half-life in images (ramped "
                                                             "up from 0 early on). "
                                                             f"\\[default: {D.ema_half_life:g}]"),
    augment: str | None = typer.Option(None, help="Differentiable augmentation of what D sees: "
                                                     "auto (on under 30,000 images), on, off. "
                                                     "\\[default: auto for dcgan, off for mlp]"),
    augment_policy: str | None = typer.Option(
        None, help="Which augmentations, comma separated: colour (brightness, saturation, "
                   "contrast), translation, cutout; auto = all three for colour images, "
                   "translation and cutout for grayscale. \\[default: auto]"),
    minutes: float | None = typer.Option(None, help="Stop after M minutes of training, saving a "
                                                       "checkpoint; run again for M more. "
                                                       "\\[default: no limit]"),
    seed: int | None = typer.Option(None, help=f"Random seed: same seed, same run. "
                                                  f"\\[default: {D.seed}]"),
    out: str | None = typer.Option(None, help=f"Folder holding runs. \\[default: {D.out}]"),
    name: str | None = typer.Option(None, help="Run name; an existing run is resumed. "
                                                  "\\[default: the next free runN]"),
    limit: int | None = typer.Option(None, help="Train on the first N images only (an image "
                                                   "folder's in path order: class sub-folders one "
                                                   "after another). \\[default: all]"),
    image_size: int | None = typer.Option(None, help="Resize images to N×N. \\[default: the "
                                                        "data's own size; 28 for image folders]"),
    channels: int | None = typer.Option(None, help="1 (grayscale) or 3 (colour). \\[default: the "
                                                      "data's own; 1 for image folders]"),
    keep: int | None = typer.Option(None, help=f"Checkpoints to keep (plus the best by FD). "
                                                  f"\\[default: {D.keep}]"),
    snapshot_every: str | None = typer.Option(
        None, help="How often to write the sample grid, its progress.gif frame and a checkpoint: "
                   "images (60k), epochs (5ep), minutes (10m) or seconds (30s), at epoch ends; "
                   "auto = at the first epoch end 30 s or more after the last snapshot (every "
                   "epoch when epochs take 30 s or more). Training also snapshots at the end and "
                   "when stopped. \\[default: auto]"),
    eval_every: int | None = typer.Option(None, help="Compute FD and KID every E epochs and keep "
                                                        "the best checkpoint; 0 = off. "
                                                        f"\\[default: {D.eval_every}]"),
    eval_n: int | None = typer.Option(None, help=f"Images per evaluation during training. "
                                                    f"\\[default: {D.eval_n}]"),
    precision: str | None = typer.Option(
        None, help="float32, mixed (float16 compute, for GPUs), bf16 (bfloat16 compute, for "
                   "CPUs with AMX, or avx512_bf16 for dcgan), or auto: bf16 for dcgan on CPUs "
                   "with amx_bf16 or avx512_bf16, where it trained faster at the same quality, "
                   "else float32; the progress header says what auto picked and why. "
                   f"\\[default: {D.precision}]"),
    xla: bool | None = typer.Option(None, "--xla/--no-xla", help="Compile the training step "
                                       "with XLA (one device only: synchronised BatchNorm "
                                       "cannot run inside XLA). \\[default: on for mlp, off "
                                       "for dcgan]"),
    strategy: str | None = typer.Option(None, help="auto, one, mirrored (all GPUs of this "
                                        "machine) or multiworker (the machines in TF_CONFIG); "
                                        "auto picks multiworker under TF_CONFIG, mirrored with "
                                        "several GPUs, else one. --batch-size stays the global "
                                        f"batch. \\[default: {D.strategy}]"),
    steps_per_call: int | None = typer.Option(None, help="Training steps per compiled call. "
                                                            f"\\[default: {D.steps_per_call}]"),
    config: Path | None = typer.Option(None, "--config", help="TOML file of these options "
                                          "(the command line wins). \\[default: none]"),
    fresh: bool = typer.Option(False, "--fresh", help="Start the named run over, deleting what "
                                                      "it wrote."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved settings as JSON "
                                                          "and exit."),
) -> None:
    """Train a GAN and write a run folder: checkpoints, sample grids, progress.gif, metrics.

    Ctrl-C saves a checkpoint (a snapshot) and stops; run the same command again to continue.
    """
    from ganctl.cli.progress import ProgressRenderer
    from ganctl.config import config_json_text
    from ganctl.strategy import make_distribution
    from ganctl.tfsetup import import_tensorflow
    from ganctl.training import minutes_text, plan_training, run_training

    import_tensorflow()

    options = dict(data=data, epochs=epochs, batch_size=batch_size, lr=lr, d_lr=d_lr, beta1=beta1,
                   beta2=beta2, latent_dim=latent_dim, arch=arch, conditional=conditional,
                   seed=seed, out=out, name=name,
                   limit=limit, image_size=image_size, channels=channels, keep=keep,
                   snapshot_every=snapshot_every, eval_every=eval_every, eval_n=eval_n,
                   precision=precision, xla=xla, steps_per_call=steps_per_call, width=width,
                   spectral_norm=spectral_norm, loss=loss, d_steps=d_steps, ema=ema,
                   ema_half_life=ema_half_life, augment=augment,
                   augment_policy=augment_policy, minutes=minutes,
                   strategy=strategy)
    console = Console(soft_wrap=True)  # logs keep one line per message
    plan = plan_training(options, str(config) if config else None, fresh=fresh)
    if dry_run:
        extra = {"run_folder": str(plan.run.root), "resume": plan.resuming}
        if plan.precision_auto:
            extra["precision_auto"] = plan.precision_auto
        typer.echo(config_json_text(plan.cfg, extra))
        return
    # Before the signal handlers: the multi-worker strategy's runtime installs its own.
    dist = make_distribution(plan.cfg.strategy, plan.cfg.batch_size)
    stop = _StopRequest()
    renderer = ProgressRenderer(console)
    try:
        with stop.installed():
            result = run_training(plan, emit=renderer, should_stop=stop, distribution=dist)
    finally:
        renderer.close()
    if result.already_complete:
        ckpt = result.last_checkpoint
        part = "" if ckpt is None or ckpt.complete else f" and part of epoch {ckpt.epoch + 1}"
        console.print(f"run {plan.run.name} already has {result.epochs_done} epochs{part}; pass a "
                      "larger --epochs to continue", highlight=False)
        return
    if result.out_of_time:
        ckpt = result.last_checkpoint.name if result.last_checkpoint else "none"
        console.print(f"stopped at the --minutes {plan.cfg.minutes:g} limit, {_where(result)}; "
                      f"saved {ckpt}. Run the same command for "
                      f"{minutes_text(plan.cfg.minutes).replace(' ', ' more ', 1)}.",
                      highlight=False)
        return
    if result.interrupted:
        ckpt = result.last_checkpoint.name if result.last_checkpoint else "none"
        console.print(f"stopped {_where(result)}; saved "
                      f"{ckpt}. Run the same command to continue.", highlight=False)
        raise typer.Exit(130)
    console.print(f"done: {result.epochs_done} epochs in {plan.run.root} "
                  f"(samples/, progress.gif, checkpoints/)", highlight=False)


def _where(result) -> str:
    """Where a stopped run stands: 'after epoch N, step S' at an epoch's end, 'in epoch N+1,
    step S' mid-epoch, 'before the first step' if it trained nothing."""
    ckpt = result.last_checkpoint
    if result.step == 0:
        return "before the first step"
    if ckpt is not None and ckpt.complete:
        return f"after epoch {ckpt.epoch}, step {result.step}"
    return f"in epoch {result.epochs_done + 1}, step {result.step}"


class _StopRequest:
    """A flag set by SIGINT/SIGTERM; the trainer checks it between compiled calls."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum, frame) -> None:
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def installed(self):
        import contextlib

        @contextlib.contextmanager
        def ctx():
            old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, handler in old.items():
                    signal.signal(s, handler)
        return ctx()
