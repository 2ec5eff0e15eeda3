"""Exceptions the core raises; the CLI turns them into one-line messages and exit codes."""

from __future__ import annotations

import math
import numbers


class GanctlError(Exception):
    """A failure the user can act on (exit code 1)."""

    exit_code = 1


class UsageError(GanctlError):
    """Bad input from the user: options, paths, values (exit code 2)."""

    exit_code = 2


def check_positive(name: str, value: object, whole: bool = True) -> None:
    """Refuse, in one line naming `name`, a `value` that is not a finite number > 0 (a whole
    one when `whole`). Booleans are not numbers here; numpy scalars are."""
    kind = numbers.Integral if whole else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) \
            or value <= 0:
        shown = repr(value) if isinstance(value, str) else str(value)
        raise UsageError(f"{name} must be a positive {'whole ' if whole else ''}number, "
                         f"got {shown}")
