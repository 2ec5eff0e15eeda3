"""What a setting is to a user: the `Option` metadata a TrainConfig field carries (help, check,
resume rule, per-architecture default), and the checks it may name."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from ganctl.errors import UsageError, check_positive

UNSET = object()  # Option.absent: no value of its own
Check = Callable[[str, Any], None]  # (flag, value): raises UsageError naming the flag


@dataclass(frozen=True)
class Option:
    """A setting as users meet it: its help, its check, and the rules that depend on it.

    The `train` command's flags, TOML keys, `--dry-run`, config.json, validation and the resume
    rule are all built from these; nothing else lists the settings.
    """

    help: str  # "{choices}" is filled with the names of a registry (ganctl.training.options)
    check: Check | None = None  # not called for None where the field may be None (unset)
    resumable: bool = False  # a resumed run may change it; the others define the run
    arch_default: bool = False  # None takes the architecture's (ganctl.models.ARCHS[arch].defaults)
    arch_only: bool = False  # may be set only for the architectures whose Arch.options name it
    shown: str | None = None  # the default as help states it, where the value would mislead
    flags: str | None = None  # a boolean's on/off flags, where not --name/--no-name
    number_as_text: bool = False  # a TOML file may give this text as a whole number
    # What a config.json without this key reads as, where an older ganctl behaved otherwise than
    # the default does now (e.g. --resize: new runs crop, older runs stretched); UNSET: the default.
    absent: Any = UNSET


def option(default: Any, help: str, **meta: Any) -> Any:
    """A TrainConfig field that users set: its default and its `Option` metadata."""
    return field(default=default, metadata={"option": Option(help, **meta)})


def flag(name: str) -> str:
    """The command-line flag of a setting: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def positive(name: str, value: Any) -> None:
    """Refuse anything but a finite number > 0."""
    check_positive(name, value, whole=False)


def positive_whole(name: str, value: Any) -> None:
    """Refuse anything but a whole number > 0."""
    check_positive(name, value, whole=True)


def must_be(test: Callable[[Any], bool], what: str) -> Check:
    """A check that refuses values failing `test` with '--x must be <what>, got <value>'."""
    def check(name: str, value: Any) -> None:
        if not test(value):
            raise UsageError(f"{name} must be {what}, got {value}")
    return check


def one_of(choices: Collection[str]) -> Check:
    """A check that refuses a value not among `choices`, listing them."""
    def check(name: str, value: Any) -> None:
        if value not in choices:
            raise UsageError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
    return check
