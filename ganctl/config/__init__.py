"""Training settings: one frozen dataclass (`settings`), resolved from defaults, a TOML file and
the command line."""

from ganctl.config.settings import (
    AUGMENT_AUTO_BELOW,
    AUGMENTS,
    AUTO_BF16_FLAGS,
    FIELD_NAMES,
    NAME_PATTERN,
    PRECISIONS,
    USER_FIELDS,
    TrainConfig,
    auto_precision,
    config_json_text,
    load_toml,
    resolve,
    validate,
)

__all__ = ["AUGMENT_AUTO_BELOW", "AUGMENTS", "AUTO_BF16_FLAGS", "FIELD_NAMES", "NAME_PATTERN",
           "PRECISIONS", "USER_FIELDS", "TrainConfig", "auto_precision", "config_json_text",
           "load_toml", "resolve", "validate"]
