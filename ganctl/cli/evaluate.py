"""`ganctl evaluate`: quality numbers of a run beside the same numbers for real data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ganctl.cli.options import (
    checkpoint_when,
    ckpt_option,
    ema_option,
    epoch_option,
    load_for_cli,
    runs_option,
)
from ganctl.evaluation.metrics import Value, value_formats
from ganctl.evaluation.scoring import DEFAULT_N, EPOCH_METRICS

if TYPE_CHECKING:
    from ganctl.evaluation.scoring import Report
    from ganctl.runs import RunFolder

EXAMPLES = """
[bold]Examples[/]

  ganctl evaluate --ckpt run1                          [dim]# 10,000 images, every metric[/]

  ganctl evaluate --ckpt run1 --all --json over_epochs.json   [dim]# one row per checkpoint[/]

  ganctl evaluate --ckpt run1 --epoch 5 --metrics fd,kid --n 2000

  ganctl evaluate --ckpt run1 --nearest 5             [dim]# copies of training images?[/]

  ganctl evaluate --ckpt run1 --nearest 3 --nn-grid nearest.png   [dim]# the picture here too[/]

  ganctl evaluate --ckpt run1 --real ~/data/fashion-mnist --seed 10000

  ganctl evaluate --ckpt faces --evaluator domain    [dim]# features learned from its data[/]

  ganctl evaluate --ckpt run1 --truncation 0.5,1,1.5,2 --n 2000   [dim]# a row per ψ[/]
"""

FORMATS = value_formats()  # label, format and which way is better, from each metric's register()
EPOCH_COLUMNS = ("fd", "kid", "precision", "recall", "coverage", "classes_covered",
                 "class_agreement", "intra_fd")
SHORT = {"fd": "FD", "kid": "KID", "classes_covered": "classes covered",
         "class_agreement": "class agreement", "intra_fd": "intra-class FD"}
# Per-class values (class_share_3, class_agreement_3, intra_fd_3) are in the JSON only, or in
# one row of their own.
PER_CLASS = re.compile(r"_\d+$")


def evaluate(
    ckpt: str = ckpt_option(),
    n: int = typer.Option(DEFAULT_N, "--n", min=1, help="Generated images, from seeds "
                          "SEED..SEED+N-1; the real reference uses N train and N test images, "
                          "each drawn at random with a fixed seed."),
    all_checkpoints: bool = typer.Option(False, "--all", help="Score every kept checkpoint of "
                                         "the run: a metric-over-epochs table."),
    metrics: str | None = typer.Option(None, "--metrics", help="Comma-separated metrics: fd, "
                                       "kid, classifier_score, precision_recall, "
                                       "density_coverage, class_histogram, memorisation; for "
                                       "conditional runs class_agreement and intra_fd too.",
                                       show_default=f"all; with --all: {','.join(EPOCH_METRICS)}"
                                                    " (+ the conditional two)"),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the report as JSON.",
                                         show_default="none"),
    nearest: int | None = typer.Option(None, "--nearest", help="Show copying: the 16 "
                                       "generated images nearest to the training set, each "
                                       "beside its K nearest training images in evaluator "
                                       "features with the distances, kept as "
                                       "evaluations/TIMESTAMP-nearest.png (`ganctl report` "
                                       "shows it).", show_default="none; 1 with --nn-grid"),
    nn_grid: Path | None = typer.Option(None, "--nn-grid", help="Also write the --nearest "
                                        "picture to this .png (K = 1 unless --nearest is "
                                        "given).", show_default="none"),
    seed: int = typer.Option(0, "--seed", min=0, help="First latent seed (and the seed of "
                             "KID's random subsets); the same seed gives the same numbers."),
    real: str | None = typer.Option(None, "--real", help="Real data to compare against: a "
                                    "built-in (fashion-mnist, mnist), a folder of IDX files, an "
                                    ".npz or a folder of images, converted to the run's image "
                                    "size and channels.",
                                    show_default="the run's own training data"),
    evaluator: str = typer.Option("auto", "--evaluator", help="Whose features the metrics use: "
                                  "fashion-mnist (the shipped classifier), domain (a small CNN "
                                  "trained once on the real data, on its labels or, without "
                                  "labels, on telling rotations apart; cached), inception "
                                  "(InceptionV3 ImageNet features, downloaded once by Keras, "
                                  "slow on a CPU), or auto: fashion-mnist for Fashion-MNIST, "
                                  "else domain."),
    save: bool = typer.Option(True, "--save/--no-save", help="Keep the report in the run folder "
                              "as evaluations/TIMESTAMP.json (with the --nearest picture beside "
                              "it), where `ganctl report` finds the newest."),
    runs: str = runs_option(),
    epoch: int | None = epoch_option(),
    ema: bool = ema_option(),
    truncation: str | None = typer.Option(
        None, "--truncation", help="Truncation ψ > 0 of the latents (BigGAN's trick: components "
        "beyond ±ψ redrawn from the same seed), or several, e.g. none,0.5,1,1.5,2: one row per "
        "ψ (none: untruncated), to see precision rise and recall fall as ψ shrinks.", show_default="none"),
) -> None:
    """Score a trained generator offline, each metric beside the same number for real data.

    Metrics: Fréchet distance, KID, precision/recall, density/coverage, classes, memorisation.

    Real data is the run's own (its test split, or a fixed 10% held out when it has none); the
    reference column is the same metric between those held-out and training images. N real
    images of a split are a random sample drawn with a fixed seed (the same on every call),
    never the split's first N, and the report says which.

    Fashion-MNIST is scored with the shipped classifier; other data with a small evaluator
    trained once on it (1-2 minutes on a 2-core CPU for 60,000 28x28 images), whose held-out
    accuracy heads the report.

    Real-image features are cached ($GANCTL_CACHE, else ~/.cache/ganctl): later calls are quick.
    """
    from ganctl.cli.progress import EvaluationDisplay
    from ganctl.errors import UsageError
    from ganctl.evaluation.evaluators import EVALUATORS
    from ganctl.evaluation.real import check_real_source
    from ganctl.evaluation.scoring import check_n, default_metrics, evaluate, parse_metrics
    from ganctl.generation.latents import parse_truncations
    from ganctl.generation.sampling import check_writable
    from ganctl.runs import find_run

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    chosen = None if metrics is None else parse_metrics(metrics)
    truncations = parse_truncations(truncation)
    if chosen is not None:
        check_n(n, chosen)
    if all_checkpoints and epoch is not None:
        raise UsageError("--all scores every checkpoint; leave out --epoch")
    if nearest is not None and not 1 <= nearest <= 32:
        raise UsageError(f"bad --nearest {nearest}: expected a whole number of training images "
                         "from 1 to 32 (a row of the picture each)")
    if all_checkpoints and (nn_grid is not None or nearest is not None):
        what = "--nn-grid" if nn_grid is not None else "--nearest"
        raise UsageError(f"{what} shows one checkpoint; leave out --all or pick one with --epoch")
    k = nearest if nearest is not None else (1 if nn_grid is not None else 0)
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
    cfg = run.read_config()
    if chosen is None:
        chosen = default_metrics(cfg.conditional, all_checkpoints)
        check_n(n, chosen)
    if evaluator not in EVALUATORS:
        raise UsageError(f"unknown --evaluator {evaluator!r}; choose one of: "
                         f"{', '.join(EVALUATORS)}")
    check_real_source(real or cfg.data, given=real is not None)  # before the slow imports

    g = load_for_cli(ckpt, runs, epoch, console, ema)
    with EvaluationDisplay(console) as display:
        report = evaluate(g.loaded, real, n, seed, chosen, all_checkpoints, k,
                          evaluator, say=display.say, warn=display.warn, progress=display.progress,
                          truncations=truncations)
    out = Console(highlight=False, soft_wrap=True)
    out.print(_header(report))
    if all_checkpoints or len(truncations) > 1:
        out.print(_epoch_table(report, all_checkpoints))
    else:
        out.print(_table(report))
    for note in (*report.real.notes, *report.notes):
        out.print(f"[dim]note: {note}[/]")
    _write_outputs(report, json_out, nn_grid, console)
    if save:
        _save_in_run(report, run, console)


def _save_in_run(report: Report, run: RunFolder, console: Console) -> None:
    """evaluations/TIMESTAMP.json (and TIMESTAMP-nearest.png) in the run; a run folder that
    cannot be written is a warning, not a failure: the numbers were printed."""
    from ganctl.evaluation.report import save_evaluation

    try:
        path = save_evaluation(run, report.to_json(), report.nn_grid)
    except OSError as exc:
        console.print(f"[yellow]warning:[/] could not keep the report in {run.evaluations}: "
                      f"{exc.strerror or exc}", highlight=False)
        return
    console.print(f"kept {path} (ganctl report --ckpt {run.root} shows it)", highlight=False)


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
                      "each beside its nearest training images (right, with the distances), "
                      "closest first")


def _header(report: Report) -> str:
    from ganctl.generation.sampling import describe_seeds

    ev = report.evaluator
    real = report.real
    seeds = describe_seeds(range(report.seed, report.seed + report.n))
    return (f"[bold]ganctl evaluate[/] {report.run}\n"
            f"evaluator {ev['architecture']} ({ev['accuracy_text']}, sha256 "
            f"{ev['sha256'][:12]}) · n = {report.n} generated (seeds {seeds})\n"
            f"real: {real.data.source}: {real.describe()}")


def _fmt(key: str, values: dict[str, float]) -> str:
    if key not in values:
        return "–"
    text = format(values[key], FORMATS[key].fmt if key in FORMATS else ".4g")
    if key == "kid" and values.get("kid_std"):  # 0 when the sets are one KID subset
        text += f" ± {values['kid_std']:.5f}"
    return text


def _shown_keys(report: Report) -> list[str]:
    keys = list(report.reference)
    for score in report.scores:
        keys += [k for k in score.metrics if k not in keys]
    listed = [k for k, value in FORMATS.items() if k in keys and value.shown]
    others = [k for k in keys if k not in FORMATS and not PER_CLASS.search(k)]
    return listed + others


def _table(report: Report) -> Table:
    """One checkpoint: a row per value, the model beside the real-data reference."""
    score = report.scores[0]
    info = score.checkpoint
    table = Table(title=None, show_lines=False)
    table.add_column("metric")
    cut = "" if score.truncation is None else f", ψ {score.truncation:g}"
    table.add_column(f"model ({checkpoint_when(info)}{cut})", justify="right")
    table.add_column("real data (test vs train)", justify="right")
    table.add_column("good", style="dim")
    classes = report.evaluator["classes"]
    for key in _shown_keys(report):
        value = FORMATS.get(key, Value(key))
        table.add_row(value.label, _fmt(key, score.metrics), _fmt(key, report.reference),
                      value.hint(classes))
    if "class_share_0" in report.reference:
        table.add_row("class shares %", _shares(score.metrics, classes),
                      _shares(report.reference, classes), f"{100 / classes:.0f} each")
    if "class_agreement" in score.metrics:
        table.add_row("class agreement % by class", _shares(score.metrics, classes, "agreement"),
                      _shares(report.reference, classes, "agreement"), "higher")
    return table


def _shares(values: dict[str, float], classes: int, what: str = "share") -> str:
    shares = [values.get(f"class_{what}_{c}") for c in range(classes)]
    return " ".join("–" if s is None else f"{100 * s:.0f}" for s in shares)


def _epoch_table(report: Report, by_epoch: bool = True) -> Table:
    """A row per score: per epoch (`--all`) and/or per truncation ψ, the reference first, the
    best FD highlighted."""
    columns = [k for k in EPOCH_COLUMNS
               if k in report.reference or any(k in s.metrics for s in report.scores)]
    by_psi = len({s.truncation for s in report.scores}) > 1 or \
        any(s.truncation is not None for s in report.scores)
    table = Table()
    if by_epoch:
        table.add_column("epoch", justify="right")
    if by_psi:
        table.add_column("ψ", justify="right")
    for key in columns:
        table.add_column(SHORT.get(key, key), justify="right")
    table.add_row(*(["real"] if by_epoch else []), *(["real" if not by_epoch else ""]
                                                     if by_psi else []),
                  *(_fmt(k, report.reference) for k in columns), style="dim")
    fds = [s.metrics.get("fd", float("inf")) for s in report.scores]
    best = fds.index(min(fds)) if "fd" in columns else -1
    for i, score in enumerate(report.scores):
        label = checkpoint_when(score.checkpoint).replace("epoch ", "")  # "3", or "in 4, ..."
        psi = "none" if score.truncation is None else f"{score.truncation:g}"
        table.add_row(*([label] if by_epoch else []), *([psi] if by_psi else []),
                      *(_fmt(k, score.metrics) for k in columns),
                      style="bold green" if i == best else None)
    return table
