"""The `ganctl` command line: one module per command (`train`, `sample`, ...), shared options in
`options`, joined into one Typer app in `app`. Only parsing and rendering live here."""

from ganctl.cli.app import app, main

__all__ = ["app", "main"]
