"""`ganctl cache list|clear`: the image folders kept decoded in the cache folder."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from ganctl.sizes import format_size

EXAMPLES = """
[bold]Examples[/]

  ganctl cache list       [dim]# each decoded folder: its settings, images and size[/]

  ganctl cache clear      [dim]# delete them; the next train decodes again[/]

  GANCTL_CACHE=/scratch/ganctl ganctl cache list
"""


def cache(action: str = typer.Argument("list", help="list: show the decoded folders; clear: "
                                        "delete them.")) -> None:
    """Show or clear the decoded-data cache of image folders, which later runs open at once.

    One set per folder and settings (--image-size, --channels, --resize)."""
    from ganctl.datacache import cached_sets, clear_sets, data_root
    from ganctl.errors import UsageError

    console = Console(soft_wrap=True)
    if action == "clear":
        count, freed = clear_sets()
        console.print(f"deleted {count} decoded folder(s), {format_size(freed)}, from {data_root()}",
                      highlight=False)
        return
    if action != "list":
        raise UsageError(f"unknown cache action {action!r}; choose list or clear")
    rows = cached_sets()
    if not rows:
        console.print(f"no decoded folders in {data_root()}", highlight=False)
        return
    table = Table(title=f"decoded folders in {data_root()}")
    for column in ("folder", "images", "settings", "skipped", "size", "made"):
        table.add_column(column, justify="right" if column in ("images", "size") else "left")
    for row in rows:
        if row.get("damaged"):
            table.add_row(row["key"], "-", "damaged or being written", "-", format_size(row["bytes"]),
                          "-")
            continue
        how, shape = row["how"], row["shape"]
        settings = f"{how['size']}px ×{how['channels']} {how['resize']}"
        made = time.strftime("%Y-%m-%d %H:%M", time.localtime(row["created"]))
        table.add_row(row["folder"], f"{shape[0]:,}", settings, str(row["skipped"]),
                      format_size(row["bytes"]), made)
    console.print(table)
    total = sum(row["bytes"] for row in rows)
    console.print(f"{len(rows)} set(s), {format_size(total)}; `ganctl cache clear` deletes them",
                  highlight=False)
