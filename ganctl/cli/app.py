"""The Typer app: global options, the commands of the sibling modules joined into it, and
`main`, which turns every failure into a one-line message and an exit code."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

from ganctl import __version__
from ganctl.cli import cache, evaluate, export, interpolate, project, report, sample, train
from ganctl.errors import GanctlError

app = typer.Typer(
    name="ganctl",
    help="Train generative adversarial networks and turn them into pictures, animations and "
         "honest quality numbers.\n\nStart with: ganctl train --epochs 10",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

# Typer >= 0.24 parses with its own vendored copy of Click (and does not install `click`);
# older Typer uses the `click` package. A private import on purpose: Typer re-exports only
# BadParameter, Exit, Abort and TyperException from its Click, and main() must tell UsageError
# (exit 2) and NoArgsIsHelpError (exit 0) from the other ClickExceptions (tests/test_layout.py).
try:
    from typer._click import exceptions as _clickx
    _VENDORED_CLICK = True
except ImportError:  # pragma: no cover - older Typer
    from click import exceptions as _clickx
    _VENDORED_CLICK = False
_EXIT = tuple({typer.Exit, getattr(_clickx, "Exit", typer.Exit)})
_ABORT = tuple({typer.Abort, getattr(_clickx, "Abort", typer.Abort)})


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ganctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug",
                               help="Show full Python tracebacks on errors (for bug reports)."),
) -> None:
    """Global options."""


def fail(message: str, code: int) -> None:
    """Print a one-line error and exit with `code`."""
    # The message is text, not markup: a '[export]' in it must print as typed.
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    sys.exit(code)


# Each command module holds one command function of its own name and its EXAMPLES epilog.
for _module in (train, sample, interpolate, project, evaluate, export, report, cache):
    _name = _module.__name__.rsplit(".", 1)[1]
    app.command(name=_name, epilog=_module.EXAMPLES)(getattr(_module, _name))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every failure into a one-line message and exit code."""
    args = sys.argv[1:] if argv is None else argv
    if "--debug" in args:  # a global option, also where users type it: after the command
        args = ["--debug"] + [a for a in args if a != "--debug"]
    debug = "--debug" in args or os.environ.get("GANCTL_DEBUG") == "1"
    if debug:
        os.environ["GANCTL_DEBUG"] = "1"
    command = typer.main.get_command(app)
    try:
        code = command.main(args, prog_name="ganctl", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except _clickx.NoArgsIsHelpError as exc:
        if not _VENDORED_CLICK:  # Typer's vendored Click prints the help itself
            typer.echo(exc.ctx.get_help() if exc.ctx else "")
        sys.exit(0)
    except _clickx.UsageError as exc:
        if debug:
            raise
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
        fail(exc.format_message().replace("\n", " ") + hint, 2)
    except _EXIT as exc:
        sys.exit(exc.exit_code)
    except _ABORT:
        fail("interrupted", 130)
    except _clickx.ClickException as exc:
        fail(exc.format_message().replace("\n", " "), exc.exit_code)
    except GanctlError as exc:
        if debug:
            raise
        fail(str(exc).replace("\n", " "), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except OSError as exc:
        if debug:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        fail(f"cannot access{where}: {exc.strerror or exc}", 1)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if debug:
            raise
        fail(f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
             " (rerun with --debug for the traceback and report it)", 1)
