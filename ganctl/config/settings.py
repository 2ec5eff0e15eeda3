"""Training settings: one frozen dataclass, resolved from defaults, a TOML file and the command line."""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganctl.errors import UsageError, check_positive

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
PRECISIONS = ("float32", "mixed", "bf16", "auto")
# The CPU flags (/proc/cpuinfo) with which `--precision auto` picks bf16, per architecture: where
# bf16 was measured both faster than float32 and as good at equal epochs (FD within 5%;
# benchmarks/README.md, "bf16 at equal epochs"). dcgan: oneDNN's bfloat16 convolutions use AMX
# or avx512_bf16, and its FD after 5 epochs matched float32's across seeds. The MLP is absent,
# so auto keeps it float32: with avx512_bf16 alone bf16 trained it no faster (0.7-1.0x), its
# AMX speed is unmeasured, and its seed-to-seed FD noise (about 9%) hides a 5% difference.
AUTO_BF16_FLAGS: dict[str, tuple[str, ...]] = {"dcgan": ("amx_bf16", "avx512_bf16")}
AUGMENTS = ("auto", "on", "off")
# `--augment auto` turns augmentation on for datasets smaller than this: D overfits a few
# thousand images within minutes (Karras et al. 2020 see it below ~50k; Zhao et al. 2020).
AUGMENT_AUTO_BELOW = 30_000
# Settings left as None take the architecture's default (`ganctl.models.ARCHS[arch].defaults`).
ARCH_DEFAULTED = ("width", "loss", "ema", "augment", "xla", "lr", "batch_size")
OPTIONAL_POSITIVE = ("limit", "image_size", "width", "minutes", "d_lr")  # positive where given
FRACTIONAL = ("lr", "d_lr", "minutes", "ema_half_life")  # the positive ones that need not be whole


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; saved whole as `config.json` in the run folder."""

    # Data
    data: str = "fashion-mnist"
    limit: int | None = None
    image_size: int | None = None  # None: the data's own size (28 for image folders)
    channels: int | None = None  # None: the data's own channels (1 for image folders)
    # Model
    arch: str = "mlp"
    latent_dim: int = 100
    conditional: bool = False  # condition G and D on the data's class labels
    width: int | None = None  # dcgan: channels of the largest feature maps
    spectral_norm: bool = False  # dcgan: spectral normalisation in D
    # Loss
    loss: str | None = None  # bce, hinge or wgan-gp
    d_steps: int = 1  # D (critic) updates per G update
    # Exponential moving average of G, the generator shown and sampled
    ema: bool | None = None
    ema_half_life: float = 10_000.0  # in images
    ema_ramp: float = 0.05  # half-life at most this × images seen (0: no ramp)
    # Differentiable augmentation of everything D sees
    augment: str | None = None  # auto, on or off
    augment_policy: str = "auto"  # which augmentations: auto, or a list (ganctl.training.augment)
    # Optimisation
    epochs: int = 100
    batch_size: int | None = None  # the architecture's: 128 for mlp, 64 for dcgan
    lr: float | None = None  # the architecture's: 2e-4 for mlp, 1e-3 for dcgan
    d_lr: float | None = None  # D's learning rate (TTUR); None: the same as lr
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    # Run folder
    out: str = "runs"
    name: str | None = None
    keep: int = 3
    sample_grid: int = 64  # images in the fixed sample grid (seeds 0..N-1)
    snapshot_every: str = "auto"  # grid + GIF frame + checkpoint; see ganctl.training.snapshots
    # Performance
    steps_per_call: int = 25
    xla: bool | None = None
    precision: str = "float32"  # float32, mixed (float16, GPUs), bf16, or auto (auto_precision)
    minutes: float | None = None  # stop after this many minutes of training in a session
    strategy: str = "auto"  # auto, one, mirrored, multiworker (ganctl.training.strategy)
    # Evaluation during training
    eval_every: int = 0
    eval_n: int = 2000
    # Filled in from the data once it is loaded
    image_shape: tuple[int, int, int] | None = None
    num_images: int | None = None
    labels: tuple[str, ...] = field(default_factory=tuple)  # class names
    class_counts: tuple[int, ...] = field(default_factory=tuple)  # images per class (conditional)

    def __post_init__(self) -> None:
        # Fill the architecture's defaults and resolve --precision auto, so that a config
        # always says what the run does (and config.json keeps it).
        from ganctl.models import ARCHS

        spec = ARCHS.get(self.arch)
        for name in ARCH_DEFAULTED:
            if getattr(self, name) is None and spec is not None and name in spec.defaults:
                object.__setattr__(self, name, spec.defaults[name])
        if self.d_lr is None:
            object.__setattr__(self, "d_lr", self.lr)
        if self.precision == "auto":
            from ganctl.tfsetup import cpu_flags

            object.__setattr__(self, "precision", auto_precision(self.arch, cpu_flags())[0])

    @property
    def augment_on(self) -> bool:
        """Whether D sees augmented images (`auto`: for datasets under AUGMENT_AUTO_BELOW)."""
        if self.augment == "auto":
            return self.num_images is not None and self.num_images < AUGMENT_AUTO_BELOW
        return self.augment == "on"

    def to_json(self) -> dict[str, Any]:
        """The settings as plain JSON types."""
        out = dataclasses.asdict(self)
        out["image_shape"] = list(self.image_shape) if self.image_shape else None
        out["labels"] = list(self.labels)
        out["class_counts"] = list(self.class_counts)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TrainConfig:
        """Rebuild settings from `to_json` output; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise UsageError(f"unknown setting(s) in config: {', '.join(unknown)}")
        obj = dict(obj)
        if obj.get("image_shape") is not None:
            obj["image_shape"] = tuple(int(v) for v in obj["image_shape"])
        for key in ("labels", "class_counts"):
            if key in obj:
                obj[key] = tuple(obj[key] or ())
        return validate(cls(**obj))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed (and checked)."""
        return validate(dataclasses.replace(self, **changes))


def auto_precision(arch: str, flags: Collection[str]) -> tuple[str, str]:
    """What `--precision auto` picks for `arch` on a CPU with these flags, and why: bf16 where
    the CPU has one of the arch's AUTO_BF16_FLAGS, else float32."""
    wanted = AUTO_BF16_FLAGS.get(arch, ())
    if not wanted:
        return "float32", f"bf16 was not measured to pay for {arch} at equal quality"
    need = f"bf16 pays for {arch} with {' or '.join(wanted)}"
    have = [flag for flag in wanted if flag in flags]
    if have:
        return "bf16", f"{need}; this CPU has {have[0]}"
    return "float32", f"{need}, which this CPU lacks"


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(TrainConfig))
# Settings a user may give; the rest are filled in from the data.
USER_FIELDS = tuple(n for n in FIELD_NAMES
                    if n not in ("image_shape", "num_images", "labels", "class_counts"))


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check single-option and cross-option rules; return `cfg` unchanged when it is valid."""
    from ganctl.models import ARCHS
    from ganctl.training.augment import parse_policy
    from ganctl.training.losses import LOSSES
    from ganctl.training.snapshots import parse_snapshot_every
    from ganctl.training.strategy import STRATEGIES

    # First: an unknown architecture fills none of its defaults (lr, batch size, ...).
    if cfg.arch not in ARCHS:
        raise UsageError(f"unknown --arch {cfg.arch!r}; choose one of: {', '.join(ARCHS)}")
    for name in ("epochs", "batch_size", "latent_dim", "keep", "steps_per_call", "eval_n",
                 "sample_grid", "limit", "image_size", "lr", "d_lr", "d_steps", "width", "minutes",
                 "ema_half_life"):
        value = getattr(cfg, name)
        if value is not None or name not in OPTIONAL_POSITIVE:  # those may be unset
            check_positive("--" + name.replace("_", "-"), value, whole=name not in FRACTIONAL)
    if cfg.ema_ramp < 0:
        raise UsageError(f"--ema-ramp must be 0 (no ramp) or positive, got {cfg.ema_ramp}")
    for name in ("beta1", "beta2"):
        value = getattr(cfg, name)
        if not 0.0 <= value < 1.0:
            raise UsageError(f"--{name} must be in [0, 1), got {value}")
    parse_snapshot_every(cfg.snapshot_every)
    if cfg.eval_every < 0:
        raise UsageError(f"--eval-every must be 0 (off) or a positive number, got {cfg.eval_every}")
    if cfg.channels not in (None, 1, 3):
        raise UsageError(f"--channels must be 1 (grayscale) or 3 (colour), got {cfg.channels}")
    if cfg.strategy not in STRATEGIES:
        raise UsageError(f"unknown --strategy {cfg.strategy!r}; choose one of: "
                         f"{', '.join(STRATEGIES)}")
    _check_model(cfg, ARCHS)
    if cfg.loss not in LOSSES:
        raise UsageError(f"unknown --loss {cfg.loss!r}; choose one of: {', '.join(LOSSES)}")
    if ARCHS[cfg.arch].d_output == "probability" and cfg.loss != "bce":
        raise UsageError(f"--loss {cfg.loss} needs a discriminator that outputs logits, and "
                         f"--arch {cfg.arch}'s ends in a sigmoid; use --arch dcgan or --loss bce")
    if cfg.augment not in AUGMENTS:
        raise UsageError(f"unknown --augment {cfg.augment!r}; choose one of: {', '.join(AUGMENTS)}")
    if cfg.augment_policy != "auto":
        try:
            parse_policy(cfg.augment_policy)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if cfg.precision not in PRECISIONS:
        raise UsageError(f"unknown --precision {cfg.precision!r}; choose one of: "
                         f"{', '.join(PRECISIONS)}")
    if not 0 <= cfg.seed < 2**31:
        raise UsageError(f"--seed must be in [0, 2^31), got {cfg.seed}")
    if cfg.name is not None and not NAME_PATTERN.match(cfg.name):
        raise UsageError(f"--name {cfg.name!r} must be a plain name (letters, digits, '.', '_', '-'),"
                         " not a path")
    if cfg.conditional and cfg.num_images is not None and (
            len(cfg.labels) < 2 or len(cfg.class_counts) != len(cfg.labels)):
        raise UsageError("--conditional needs labelled data with at least two classes; "
                         "drop --conditional")
    if cfg.num_images is not None and cfg.batch_size > cfg.num_images:
        raise UsageError(f"--batch-size {cfg.batch_size} is larger than the dataset "
                         f"({cfg.num_images} images); use a smaller --batch-size")
    return cfg


def _check_model(cfg: TrainConfig, archs: dict[str, Any]) -> None:
    """Options the architecture does not take, and image shapes it cannot build."""
    spec = archs[cfg.arch]
    for name, unset in (("width", None), ("spectral_norm", False)):
        if getattr(cfg, name) != unset and name not in spec.options:
            flag = "--" + name.replace("_", "-")
            takers = ", ".join(sorted(a for a, s in archs.items() if name in s.options))
            raise UsageError(f"{flag} does not apply to --arch {cfg.arch} (only to: {takers})")
    shape = cfg.image_shape
    if shape is None and cfg.image_size is not None:
        shape = (cfg.image_size, cfg.image_size, cfg.channels or 1)
    if shape is not None:
        try:
            spec.check_shape(tuple(shape))
        except ValueError as exc:
            raise UsageError(str(exc)) from None


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


def resolve(cli_options: dict[str, Any], config_file: str | Path | None = None) -> TrainConfig:
    """Defaults, then the TOML file, then the command line (which wins); checked."""
    options: dict[str, Any] = {}
    if config_file is not None:
        options.update(load_toml(config_file))
    given = {k: v for k, v in cli_options.items() if v is not None}
    from_file = set(options) - set(given)
    options.update(given)
    types = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    for key, value in options.items():
        expected = types[key]
        where = (f"config file {config_file}: {key.replace('_', '-')}" if key in from_file
                 else f"option {key}")
        if key == "snapshot_every" and isinstance(value, int) and not isinstance(value, bool):
            options[key] = value = str(value)  # TOML `snapshot_every = 60000`: images
        if value is None:
            continue
        # Typer has typed the command line's values; the TOML file's are checked here.
        if key in from_file and "bool" in expected and not isinstance(value, bool):
            # A string "no" would be truthy and silently turn the option on.
            raise UsageError(f"{where} must be true or false (TOML, no quotes), got {value!r}")
        if key in from_file and expected.startswith("str") and not isinstance(value, str):
            raise UsageError(f"{where} must be a quoted string, got {value!r}")
        if "float" in expected and isinstance(value, int) and not isinstance(value, bool):
            options[key] = float(value)
        elif "int" in expected and "float" not in expected and not isinstance(value, int):
            raise UsageError(f"{where} must be a whole number, got {value!r}")
    try:
        cfg = TrainConfig(**options)
    except TypeError as exc:
        raise UsageError(f"bad options: {exc}") from None
    return validate(cfg)


def config_json_text(cfg: TrainConfig, extra: dict[str, Any] | None = None) -> str:
    """The JSON text of a config, as `--dry-run` prints it."""
    return json.dumps({**cfg.to_json(), **(extra or {})}, indent=2)
