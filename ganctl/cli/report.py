"""`ganctl report`: one self-contained HTML page of a run."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import typer
from rich.console import Console

from ganctl.cli.options import ckpt_option, runs_option

EXAMPLES = """
[bold]Examples[/]

  ganctl report --ckpt run1                       [dim]# writes runs/run1/report.html[/]

  ganctl report --ckpt run1 --out run1.html --open

  ganctl evaluate --ckpt run1 && ganctl report --ckpt run1   [dim]# with the numbers[/]
"""


def report(
    ckpt: str = ckpt_option(),
    out: Path | None = typer.Option(None, "--out", help="The HTML file to write.",
                                    show_default="report.html in the run folder"),
    open_page: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
    runs: str = runs_option(),
) -> None:
    """Write one HTML page that shows a run, to open in a browser or send as one file.

    Its sections: summary and newest evaluation, samples, timelapse, curves, nearest training
    images, config and resumes.

    The page is one file (images inlined), opens from disk with no network, and prints to PDF.
    The evaluation is the newest one `ganctl evaluate` kept in the run (evaluations/).
    """
    from ganctl.evaluation.report import build_report
    from ganctl.generation.sampling import check_writable
    from ganctl.runs import find_run

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    run, _ = find_run(ckpt, runs)
    path = (out or run.root / "report.html").expanduser()
    if path.is_dir():
        from ganctl.errors import UsageError

        raise UsageError(f"--out {path} is a folder; pass a file name such as report.html")
    check_writable(path.parent, "the report to")
    result = build_report(run, path)
    for note in result.notes:
        console.print(f"[yellow]warning:[/] {note}", highlight=False)
    Console(highlight=False, soft_wrap=True).print(
        f"wrote {result.path} ({result.size / 1e6:.1f} MB)")
    if open_page:
        webbrowser.open(result.path.resolve().as_uri())
