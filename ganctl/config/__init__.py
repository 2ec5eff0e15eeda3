"""Training settings: one frozen dataclass whose fields carry their metadata (`settings`,
`option`), where settings come from (`sources`: TOML, the command line) and their help (`help`).

`ganctl.training.options` adds the checks that need training's registries and `resolve`.
"""

from ganctl.config.help import help_text
from ganctl.config.option import Option, flag
from ganctl.config.settings import (
    AUGMENT_AUTO_BELOW,
    AUGMENTS,
    AUTO_BF16_FLAGS,
    FIELD_NAMES,
    NAME_PATTERN,
    OPTIONS,
    PRECISIONS,
    USER_FIELDS,
    TrainConfig,
    auto_augment,
    auto_precision,
    auto_width,
    resumed,
    validate,
    value_type,
)
from ganctl.config.sources import config_json_text, load_toml, settings_from

__all__ = ["AUGMENT_AUTO_BELOW", "AUGMENTS", "AUTO_BF16_FLAGS", "FIELD_NAMES", "NAME_PATTERN",
           "OPTIONS", "PRECISIONS", "USER_FIELDS", "Option", "TrainConfig", "auto_augment",
           "auto_precision", "auto_width",
           "config_json_text", "flag", "help_text", "load_toml", "resumed", "settings_from",
           "validate", "value_type"]
