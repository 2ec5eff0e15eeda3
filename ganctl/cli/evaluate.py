"""`ganctl evaluate`: quality numbers of a run beside the same numbers for real data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ganctl.cli import app
from ganctl.cli.sample import ckpt_option, ema_option, epoch_option, load_for_cli, runs_option
from ganctl.evaluation import DEFAULT_N, EPOCH_METRICS
from ganctl.metrics import METRICS

if TYPE_CHECKING:
    from ganctl.evaluation import Report

EXAMPLES = """
[bold]Examples[/]

  ganctl evaluate --ckpt run1                          [dim]# 10,000 images, every metric[/]

  ganctl evaluate --ckpt run1 --all --json over_epochs.json   [dim]# one row per checkpoint[/]

  ganctl evaluate --ckpt run1 --epoch 5 --metrics fd,kid --n 2000

  ganctl evaluate --ckpt run1 --nn-grid nearest.png    [dim]# copies of training images?[/]

  ganctl evaluate --ckpt run1 --real ~/data/fashion-mnist --seed 10000
"""

# key: (label, format, what is good). Keys not listed here are shown with a generic format.
ROWS = {
    "fd": ("Fréchet distance", ".3f", "lower"),
    "kid": ("KID", ".5f", "lower"),
    "classifier_score": ("classifier score", ".3f", "higher, 1..10"),
    "precision": ("precision (k=3)", ".3f", "higher"),
    "recall": ("recall (k=3)", ".3f", "higher"),
    "density": ("density (k=5)", ".3f", "≈1"),
    "coverage": ("coverage (k=5)", ".3f", "higher"),
    "class_kl": ("class KL to uniform", ".4f", "lower"),
    "classes_covered": ("classes covered", ".0f", "of 10"),
    "memorisation_ratio": ("memorisation ratio", ".3f", "≈1; ≪1 copies"),
    "close_share": ("closer than 99% of test", ".4f", "≈0.01"),
}
HIDDEN = ("kid_std", "gen_nn_median", "heldout_nn_median")
EPOCH_COLUMNS = ("fd", "kid", "precision", "recall", "coverage", "classes_covered")
SHORT = {"fd": "FD", "kid": "KID", "classes_covered": "classes covered"}


@app.command(epilog=EXAMPLES)
def evaluate(
    ckpt: str = ckpt_option(),
    n: int = typer.Option(DEFAULT_N, "--n", min=1, help="Generated images, from seeds "
                          "SEED..SEED+N-1; the real reference uses N train and N test images."),
    all_checkpoints: bool = typer.Option(False, "--all", help="Score every kept checkpoint of "
                                         "the run: a metric-over-epochs table."),
    metrics: str | None = typer.Option(None, "--metrics", help="Comma-separated metrics: fd, "
                                       "kid, classifier_score, precision_recall, "
                                       "density_coverage, class_histogram, memorisation.",
                                       show_default=f"all; with --all: {','.join(EPOCH_METRICS)}"),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the report as JSON.",
                                         show_default="none"),
    nn_grid: Path | None = typer.Option(None, "--nn-grid", help="Write a .png of the 16 "
                                        "generated images nearest to the training set, each "
                                        "followed by its nearest training image (4 pairs per "
                                        "row), to spot copies.", show_default="none"),
    seed: int = typer.Option(0, "--seed", min=0, help="First latent seed (and the seed of "
                             "KID's random subsets); the same seed gives the same numbers."),
    real: str | None = typer.Option(None, "--real", help="Folder of the four Fashion-MNIST IDX "
                                    "files to compare against.",
                                    show_default="$KERAS_HOME/datasets/fashion-mnist"),
    runs: str = runs_option(),
    epoch: int | None = epoch_option(),
    ema: bool = ema_option(),
) -> None:
    """Score a trained generator offline, each metric beside the same number for real data.

    Metrics: Fréchet distance, KID, precision/recall, density/coverage, classes, memorisation.

    The reference column is the same metric between real test and training images.

    Real-image features are cached ($GANCTL_CACHE, else ~/.cache/ganctl): later calls are quick.
    """
    from ganctl.errors import UsageError
    from ganctl.evaluation import check_image_shape, check_n, evaluate, parse_metrics
    from ganctl.real_features import resolve_real_folder
    from ganctl.runs import find_run
    from ganctl.sampling import check_writable

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    chosen = parse_metrics(metrics, EPOCH_METRICS if all_checkpoints else tuple(METRICS))
    check_n(n, chosen)
    if all_checkpoints and epoch is not None:
        raise UsageError("--all scores every checkpoint; leave out --epoch")
    if all_checkpoints and nn_grid is not None:
        raise UsageError("--nn-grid shows one checkpoint; leave out --all or pick one with --epoch")
    if nn_grid is not None and nn_grid.suffix.lower() != ".png":
        raise UsageError(f"cannot write the nearest-neighbour grid to '{nn_grid.name}': use a "
                         ".png file name")
    for path, what in ((json_out, "report to"), (nn_grid, "grid to")):
        if path is not None:
            if path.is_dir():
                raise UsageError(f"{path} is a folder; pass a file name")
            check_writable(path.expanduser().parent, what)
    run, checkpoint = find_run(ckpt, runs)
    if all_checkpoints and checkpoint is not None:
        raise UsageError(f"--ckpt names one checkpoint ({checkpoint}); pass the run for --all")
    check_image_shape(run.read_config().image_shape, f"run {run.name}")
    real_folder = resolve_real_folder(real)

    loaded = load_for_cli(ckpt, runs, epoch, console, ema)
    with console.status("evaluating") as status:
        report = evaluate(loaded, real_folder, n, seed, chosen, all_checkpoints,
                          nn_grid is not None, say=status.update,
                          warn=lambda text: console.print(f"[yellow]warning:[/] {text}"))
    out = Console(highlight=False, soft_wrap=True)
    out.print(_header(report))
    out.print(_epoch_table(report) if all_checkpoints else _table(report))
    for note in report.real.notes:
        out.print(f"[dim]note: {note}[/]")
    _write_outputs(report, json_out, nn_grid, console)


def _write_outputs(report: Report, json_out: Path | None, nn_grid: Path | None,
                   console: Console) -> None:
    from ganctl.fsutil import atomic_write_json
    from ganctl.images import write_png

    if json_out is not None:
        atomic_write_json(json_out.expanduser(), report.to_json())
        console.print(f"wrote {json_out}")
    if nn_grid is not None and report.nn_grid is not None:
        write_png(nn_grid.expanduser(), report.nn_grid)
        console.print(f"wrote {nn_grid}: the generated images nearest to the training set, "
                      "each beside its nearest training image (right), closest first")


def _header(report: Report) -> str:
    from ganctl.sampling import describe_seeds

    ev = report.evaluator
    real = report.real
    seeds = describe_seeds(range(report.seed, report.seed + report.n))
    return (f"[bold]ganctl evaluate[/] {report.run}\n"
            f"evaluator {ev['architecture']} (test accuracy {ev['test_accuracy']:.2%}, sha256 "
            f"{ev['sha256'][:12]}) · n = {report.n} generated (seeds {seeds}) · real: "
            f"{real.train.folder} ({real.train.n} train, {real.test.n} test images"
            + (f"; memorisation against all {real.all_train.n} train images"
               if real.all_train is not None and real.all_train.n > real.train.n else "") + ")")


def _fmt(key: str, values: dict[str, float]) -> str:
    if key not in values:
        return "–"
    text = format(values[key], ROWS.get(key, ("", ".4g", ""))[1])
    if key == "kid" and values.get("kid_std"):  # 0 when the sets are one KID subset
        text += f" ± {values['kid_std']:.5f}"
    return text


def _shown_keys(report: Report) -> list[str]:
    keys = list(report.reference)
    for score in report.scores:
        keys += [k for k in score.metrics if k not in keys]
    listed = [k for k in ROWS if k in keys]
    others = [k for k in keys if k not in ROWS and k not in HIDDEN
              and not k.startswith("class_share_")]
    return listed + others


def _table(report: Report) -> Table:
    """One checkpoint: a row per value, the model beside the real-data reference."""
    score = report.scores[0]
    info = score.checkpoint
    table = Table(title=None, show_lines=False)
    table.add_column("metric")
    table.add_column(f"model (epoch {info.epoch})", justify="right")
    table.add_column("real data (test vs train)", justify="right")
    table.add_column("good", style="dim")
    for key in _shown_keys(report):
        label, _, good = ROWS.get(key, (key, "", ""))
        table.add_row(label, _fmt(key, score.metrics), _fmt(key, report.reference), good)
    if "class_share_0" in report.reference:
        table.add_row("class shares %", _shares(score.metrics), _shares(report.reference),
                      "10 each")
    return table


def _shares(values: dict[str, float]) -> str:
    shares = [values.get(f"class_share_{c}") for c in range(10)]
    return " ".join("–" if s is None else f"{100 * s:.0f}" for s in shares)


def _epoch_table(report: Report) -> Table:
    """Every checkpoint: a row per epoch, the reference first, the best FD highlighted."""
    columns = [k for k in EPOCH_COLUMNS
               if k in report.reference or any(k in s.metrics for s in report.scores)]
    table = Table()
    table.add_column("epoch", justify="right")
    for key in columns:
        table.add_column(SHORT.get(key, key), justify="right")
    table.add_row("real", *(_fmt(k, report.reference) for k in columns), style="dim")
    fds = [s.metrics.get("fd", float("inf")) for s in report.scores]
    best = fds.index(min(fds)) if "fd" in columns else -1
    for i, score in enumerate(report.scores):
        info = score.checkpoint
        label = str(info.epoch) if info.complete else f"{info.epoch}+ (step {info.step})"
        table.add_row(label, *(_fmt(k, score.metrics) for k in columns),
                      style="bold green" if i == best else None)
    return table
