"""`ganctl train`: parse options, plan the run, train it, render progress.

Its options are built from the settings' metadata (ganctl.config.OPTIONS): a new setting
needs no change here."""

from __future__ import annotations

import inspect
import signal
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ganctl.config import OPTIONS, flag, value_type
from ganctl.training.options import option_help

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

  ganctl train --arch dcgan --data ./300_shoes --init-from base --minutes 3   [dim]# fine-tune 'base'[/]

  ganctl train --arch dcgan --data ./small --augment ada --minutes 60

  ganctl train --config examples/quick.toml --dry-run

  ganctl train --strategy mirrored --batch-size 256  [dim]# all GPUs of this machine[/]

  TF_CONFIG='{...}' ganctl train --strategy multiworker   [dim]# on every machine[/]
"""


def train(
    *,
    config: Path | None = typer.Option(None, "--config", help="TOML file of these options "
                                          "(the command line wins). \\[default: none]"),
    fresh: bool = typer.Option(False, "--fresh", help="Start the named run over, deleting what "
                                                      "it wrote."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved settings as JSON "
                                                          "and exit."),
    **options: Any,
) -> None:
    """Train a GAN and write a run folder: checkpoints, sample grids, progress.gif, metrics.

    Ctrl-C saves a checkpoint (a snapshot) and stops; run the same command again to continue.
    """
    from ganctl.cli.progress import DecodeDisplay, ProgressRenderer
    from ganctl.config import config_json_text
    from ganctl.tfsetup import import_tensorflow
    from ganctl.training.loop import minutes_text, plan_training, run_training
    from ganctl.training.strategy import make_distribution

    import_tensorflow()

    console = Console(soft_wrap=True)  # logs keep one line per message
    with DecodeDisplay(Console(stderr=True, soft_wrap=True) if dry_run else console) as shown:
        plan = plan_training(options, str(config) if config else None, fresh=fresh, emit=shown)
    if dry_run:
        extra = {"run_folder": str(plan.run.root), "resume": plan.resuming,
                 **plan.auto.to_json()}
        typer.echo(config_json_text(plan.cfg, extra))
        # On stderr, so that stdout stays the JSON; training says them above its header.
        for text in plan.data.warnings:
            Console(stderr=True).print(f"[yellow]warning:[/] {text}", highlight=False,
                                       soft_wrap=True)
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
    epochs = f"{result.epochs_done} epoch" + ("" if result.epochs_done == 1 else "s")
    console.print(f"done: {epochs} in {plan.run.root} "
                  f"(samples/, progress.gif, checkpoints/)", highlight=False)
    console.print(f"see it: ganctl report --ckpt {plan.run.root}", highlight=False)


def _with_settings(command: Any) -> inspect.Signature:
    """`command`'s signature with a Typer option per setting (ganctl.config.OPTIONS, in their
    order) in place of its **options, before its own options. A setting's option defaults to
    None, "not given", so that a TOML file's value or the setting's default applies."""
    own = [p for p in inspect.signature(command).parameters.values()
           if p.kind is not p.VAR_KEYWORD]
    settings = []
    for name, meta in OPTIONS.items():
        kind = value_type(name)
        flags = (meta.flags or f"{flag(name)}/--no-{flag(name)[2:]}",) if kind is bool else ()
        settings.append(inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=kind | None,
            default=typer.Option(None, *flags, help=escape(option_help(name)))))
    return inspect.Signature([*settings, *own], return_annotation=None)


# Typer reads a command's options from its signature (inspect.signature honours __signature__).
train.__signature__ = _with_settings(train)


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
