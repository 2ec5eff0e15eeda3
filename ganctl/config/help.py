"""A setting's help as `train --help` shows it: its Option.help, the architectures it applies
to, and its default, read from the declaration or from the architectures' registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ganctl.config.settings import DECLARED, OPTIONS
from ganctl.models import ARCHS


def help_text(name: str, choices: Mapping[str, str] | None = None) -> str:
    """The help of setting `name` ending in '[default: ...]'; `choices` (each entry's name ->
    its name and a few words) fill its "{choices}"."""
    meta = OPTIONS[name]
    text = meta.help
    if choices is not None:
        text = text.replace("{choices}", join_or([words or entry for entry, words
                                                  in choices.items()]))
    if meta.arch_only:
        text = f"{', '.join(a for a, spec in ARCHS.items() if name in spec.options)}: {text}"
    return f"{text} [default: {default_text(name)}]"


def default_text(name: str) -> str:
    """The default of setting `name` in words: its Option.shown, else each architecture's
    (`2e-4 for mlp, 1e-3 for dcgan`), else the declared value."""
    meta = OPTIONS[name]
    if meta.shown is not None:
        return meta.shown
    if not meta.arch_default:
        return shown_value(DECLARED[name])
    per_arch = [(arch, spec.defaults[name]) for arch, spec in ARCHS.items()
                if name in spec.defaults]
    if len({repr(value) for _, value in per_arch}) == 1:
        return shown_value(per_arch[0][1])
    # "on for dcgan, off for mlp": what an architecture turns on reads best first.
    per_arch.sort(key=lambda item: item[1] is False or item[1] == "off")
    return ", ".join(f"{shown_value(value)} for {arch}" for arch, value in per_arch)


def shown_value(value: Any) -> str:
    """A default as help writes it: on/off, 2e-4 (not 0.0002), 10000 (not 10000.0)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and 0 < abs(value) < 0.01:
        mantissa, exponent = f"{value:e}".split("e")
        return f"{float(mantissa):g}e{int(exponent)}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def join_or(items: list[str]) -> str:
    """'a or b'; 'a, b, or c'."""
    if len(items) < 3:
        return " or ".join(items)
    return f"{', '.join(items[:-1])}, or {items[-1]}"
