"""Where settings come from and go: a TOML file of options, the command line, and the JSON text
`--dry-run` prints."""

from __future__ import annotations

import difflib
import json
import tomllib
from pathlib import Path
from typing import Any

from ganctl.config.settings import OPTIONS, USER_FIELDS, TrainConfig, validate, value_type
from ganctl.errors import UsageError


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file of training options (the same names as the flags)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    table = raw.get("train", raw)  # either top-level keys or a [train] table
    options = {key.replace("-", "_"): value for key, value in table.items()}
    unknown = sorted(k for k in options if k not in USER_FIELDS)
    if unknown:
        guesses = [f"{k} -> {close[0]}" for k in unknown
                   if (close := difflib.get_close_matches(k, USER_FIELDS, n=1))]
        hint = f"; did you mean: {', '.join(guesses)}?" if guesses else ""
        raise UsageError(f"config file {path} has unknown option(s): {', '.join(unknown)}{hint} "
                         f"(known: {', '.join(USER_FIELDS)})")
    return options


def settings_from(cli_options: dict[str, Any], config_file: str | Path | None = None
                  ) -> TrainConfig:
    """Defaults, then the TOML file, then the command line (which wins; None = not given),
    checked by `validate`. `ganctl.training.options.resolve` adds training's checks."""
    options = load_toml(config_file) if config_file is not None else {}
    given = {k: v for k, v in cli_options.items() if v is not None}
    from_file = set(options) - set(given)
    options.update(given)
    for key, value in options.items():
        where = (f"config file {config_file}: {key.replace('_', '-')}" if key in from_file
                 else f"option {key}")
        options[key] = _typed(key, value, where, key in from_file)
    try:
        cfg = TrainConfig(**options)
    except TypeError as exc:
        raise UsageError(f"bad options: {exc}") from None
    return validate(cfg)


def _typed(key: str, value: Any, where: str, from_file: bool) -> Any:
    """`value` as setting `key` takes it. Typer has typed the command line's values; the TOML
    file's are checked here."""
    if key not in OPTIONS or value is None:
        return value
    kind = value_type(key)
    if OPTIONS[key].number_as_text and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # TOML `snapshot_every = 60000`: images
    if from_file and kind is bool and not isinstance(value, bool):
        # A string "no" would be truthy and silently turn the option on.
        raise UsageError(f"{where} must be true or false (TOML, no quotes), got {value!r}")
    if from_file and kind is str and not isinstance(value, str):
        raise UsageError(f"{where} must be a quoted string, got {value!r}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and not isinstance(value, int):
        raise UsageError(f"{where} must be a whole number, got {value!r}")
    return value


def config_json_text(cfg: TrainConfig, extra: dict[str, Any] | None = None) -> str:
    """The JSON text of a config, as `--dry-run` prints it."""
    return json.dumps({**cfg.to_json(), **(extra or {})}, indent=2)
