"""Sizes in bytes as users write and read them: '2G', '500M', '1.5GiB' to bytes, and back."""

from __future__ import annotations

import math
import re

# Binary units, as free(1), `ganctl cache list` and most memory limits count: 1G = 2^30 bytes.
UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Bytes of '2G', '500M', '1.5GiB', '64k', '1000' (bytes) or a whole number; ValueError for
    anything else, and for sizes under one byte."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a size")
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a size; write it as 2G, 500M or 64K")
        number, unit = match.groups()
        value = math.floor(float(number) * UNITS[unit.upper()])
    if value < 1:
        raise ValueError(f"{text!r} is not a positive size")
    return value


def format_size(n: float) -> str:
    """'812 B', '4.0 KiB', '1.2 GiB': bytes in the largest binary unit under 1024 of it."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)
