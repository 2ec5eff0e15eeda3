"""The settings of a training run: one frozen dataclass whose fields carry their `Option`
metadata, the checks of each setting and between settings, and the rule of what a resumed run
may change. Checks that need training's registries (losses, strategies, augmentations, the
snapshot grammar) are in `ganctl.training.options`."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ganctl.config.option import (
    UNSET,
    Option,
    flag,
    must_be,
    one_of,
    option,
    positive,
    positive_whole,
)
from ganctl.decode import PIL_MAX_IMAGE_PIXELS, RESIZES, parse_colour
from ganctl.errors import UsageError
from ganctl.models import ARCHS
from ganctl.sizes import parse_size

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
PRECISIONS = ("float32", "mixed", "bf16", "auto")
# The CPU flags (/proc/cpuinfo) with which `--precision auto` picks bf16, per architecture: where
# bf16 was measured both faster than float32 and as good at equal epochs (FD within 5%;
# benchmarks/README.md, "bf16 at equal epochs"). dcgan: oneDNN's bfloat16 convolutions use AMX
# or avx512_bf16, and its FD after 5 epochs matched float32's across seeds. The MLP is absent,
# so auto keeps it float32: with avx512_bf16 alone bf16 trained it no faster (0.7-1.0x), its
# AMX speed is unmeasured, and its seed-to-seed FD noise (about 9%) hides a 5% difference.
AUTO_BF16_FLAGS: dict[str, tuple[str, ...]] = {"dcgan": ("amx_bf16", "avx512_bf16")}
# --epochs when neither it nor --minutes is given. With --minutes alone the time is the only
# limit: a default epoch count would stop a small folder's run long before its minutes are up.
DEFAULT_EPOCHS = 100
# `--width auto`: the quality race (benchmarks/README.md) found width 32 better than 64 per CPU
# minute (about 2.6x the images per second, and as good at equal minutes); a GPU runs 64 about
# as fast as 32, and 64 draws better images per epoch.
AUTO_WIDTH_CPU, AUTO_WIDTH_GPU = 32, 64
AUGMENTS = ("auto", "ada", "on", "off")
# --ada-speed: images for p to go from 0 to 1. A CPU run of minutes sees 10^5-10^6 images, so
# the paper's 500k would barely move p (benchmarks/README.md, "Adaptive augmentation").
ADA_SPEED = 100_000.0
# `--augment auto` turns augmentation on for datasets smaller than this: D overfits a few
# thousand images within minutes (Karras et al. 2020 see it below ~50k; Zhao et al. 2020).
AUGMENT_AUTO_BELOW = 30_000


def colour(name: str, value: Any) -> None:
    """Refuse a colour that PIL (or 'R,G,B') cannot read."""
    try:
        parse_colour(value)
    except (ValueError, TypeError):
        raise UsageError(f"{name} {value!r} is not a colour; give a name (black), #rrggbb or "
                         "R,G,B") from None


def byte_size(name: str, value: Any) -> None:
    """Refuse a size that is not a positive number of bytes ('2G', '500M', '1000')."""
    try:
        parse_size(value)
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}") from None


def whole_width(name: str, value: Any) -> None:
    """Refuse a width that is not a whole number > 0 (auto is resolved before checks)."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise UsageError(f"{name} must be a whole number > 0 or auto, got {value}")


def plain_name(name: str, value: Any) -> None:
    """Refuse a run name that is not a plain name (it could escape the runs folder)."""
    if not NAME_PATTERN.match(value):
        raise UsageError(f"{name} {value!r} must be a plain name (letters, digits, '.', '_', '-'),"
                         " not a path")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; saved whole as `config.json` in the run folder.

    The fields are in the order `ganctl train --help` lists them.
    """

    data: str = option(
        "fashion-mnist", "Built-in dataset (fashion-mnist, mnist), a folder of the four IDX "
        "files, an .npz with an 'x' array, or a folder of images.")
    epochs: int | None = option(
        None, "Total epochs; training an existing run continues up to this.",
        check=positive_whole, resumable=True,
        shown=f"{DEFAULT_EPOCHS}; none with --minutes, which then alone stops the run")
    batch_size: int | None = option(None, "Images per step.", check=positive_whole,
                                    arch_default=True)
    lr: float | None = option(None, "Adam learning rate of G, and of D unless --d-lr is given.",
                              check=positive, arch_default=True)
    d_lr: float | None = option(None, "D's own Adam learning rate (two time-scale updates, TTUR).",
                                check=positive, shown="--lr")  # None: the same as lr
    beta1: float = option(0.5, "Adam beta1.", check=must_be(lambda v: 0.0 <= v < 1.0, "in [0, 1)"))
    beta2: float = option(0.999, "Adam beta2.",
                          check=must_be(lambda v: 0.0 <= v < 1.0, "in [0, 1)"))
    latent_dim: int | None = option(None, "Size of the latent vector z.", check=positive_whole,
                                    arch_default=True)
    arch: str = option("mlp", "Architecture: {choices}.", check=one_of(ARCHS))
    conditional: bool = option(
        False, "Condition G and D on the data's class labels (IDX label files, an .npz's 'y', or "
        "one sub-folder per class), so `sample --class` can ask for a class.",
        flags="--conditional/--unconditional", shown="unconditional")
    # str first: the command line's "auto" or a number; __post_init__ makes it a number.
    width: str | int | None = option(
        None, "channels of the largest feature maps, which smaller grids multiply (dcgan doubles "
        "them as the grid halves, up to 8x; an architecture without a default here picks one by "
        f"image size); auto = {AUTO_WIDTH_CPU} on a CPU, {AUTO_WIDTH_GPU} with a GPU.",
        check=whole_width, arch_default=True, arch_only=True, number_as_text=True)
    spectral_norm: bool = option(False, "spectral normalisation in D (it then has no BatchNorm).",
                                 arch_only=True)
    loss: str | None = option(None, "{choices}.", arch_default=True)  # D and G's losses
    d_steps: int = option(1, "D updates per G update (5 is usual for wgan-gp).",
                          check=positive_whole)
    r1_gamma: float = option(10.0, "The weight γ of --loss bce-r1's R1 penalty, γ/2 · E‖∇D(x)‖² "
                             "on real images.", check=positive)
    # An exponential moving average of G, the generator shown and sampled
    ema: bool | None = option(None, "Keep an exponential moving average of G and show it in "
                              "grids, sample, interpolate and evaluate.", arch_default=True)
    ema_half_life: float = option(10_000.0, "The EMA's half-life in images (ramped up from 0 "
                                  "early on).", check=positive)
    ema_ramp: float = option(
        0.05, "Early on, the EMA's half-life is at most this × the images seen, so that the "
        "average does not drag in G's random first weights; 0 = no ramp.",
        check=must_be(lambda v: v >= 0, "0 (no ramp) or positive"))
    # Differentiable augmentation of everything D sees
    augment: str | None = option(
        None, "Differentiable augmentation of what D sees: auto (the measured best for runs of "
        "minutes on a CPU: off, at every folder size measured; config.json records the choice), "
        "ada (each augmentation applied with a probability p that adapts to D's overfitting, "
        "from 0; see --ada-target), on (always), off.",
        check=one_of(AUGMENTS), arch_default=True)
    augment_policy: str = option(
        "auto", "Which augmentations, comma separated: colour (brightness, saturation, "
        "contrast), translation, cutout; auto = all three for colour images, translation and "
        "cutout for grayscale.")
    ada_target: float = option(
        0.6, "--augment ada: the target of r = E[sign(D's logit on real images)]; p rises while "
        "r is above it (D sure of the real images, memorising them) and falls while below.",
        check=must_be(lambda v: 0.0 <= v < 1.0, "in [0, 1)"))
    ada_speed: float = option(
        ADA_SPEED, "--augment ada: how fast p adapts, as the images over which it may go from 0 "
        "to 1 (the paper's is 500,000; a CPU run of minutes sees 10^5-10^6 images).",
        check=positive)
    # Fine-tuning
    init_from: str | None = option(
        None, "Fine-tune: start G, D and the EMA from this run's newest checkpoint (a run name "
        "under --out, a run folder or one checkpoint), with fresh optimizers, on this run's "
        "data. Architecture, width, latent size, image size and channels must match; a "
        "conditional run with other classes starts its class embedding afresh.",
        shown="none: from random weights")
    freeze_d: int = option(
        0, "With --init-from: keep D's first K blocks fixed (FreezeD, Mo et al. 2020); their "
        "BatchNorm statistics still follow the new data.",
        check=must_be(lambda v: isinstance(v, int) and v >= 0, "0 (none) or a positive number"))
    minutes: float | None = option(
        None, "Stop after M minutes of training, saving a checkpoint; run again for M more.",
        check=positive, resumable=True, shown="no limit")
    seed: int = option(0, "Random seed: same seed, same run.",
                       check=must_be(lambda v: 0 <= v < 2**31, "in [0, 2^31)"))
    # The run folder
    out: str = option("runs", "Folder holding runs.", resumable=True)
    name: str | None = option(None, "Run name; an existing run is resumed.", check=plain_name,
                              resumable=True, shown="the next free runN")
    limit: int | None = option(
        None, "Train on the first N images only (an image folder's in path order: class "
        "sub-folders one after another; a warning says when they hold fewer classes than the "
        "whole).", check=positive_whole, shown="all")
    image_size: int | None = option(None, "Resize images to N×N.", check=positive_whole,
                                    shown="the data's own size; 28 for image folders")
    resize: str = option(
        "crop", "How an image folder's non-square images become square: crop (the largest "
        "centred square), pad (letterbox onto --pad-colour) or stretch (each side scaled on its "
        "own, distorting them; what runs made before --resize did, and still do).",
        check=one_of(RESIZES), absent="stretch")
    pad_colour: str | None = option(
        None, "The colour --resize pad fills with: a name, #rrggbb or R,G,B.",
        check=colour, shown="the mean colour of the edges it pads")
    max_image_pixels: int = option(
        PIL_MAX_IMAGE_PIXELS, "Skip an image folder's images of more pixels than this, unread (a "
        "decompression bomb, or a photo to shrink first); the default is PIL's own limit.",
        check=positive_whole)
    data_cache: bool = option(
        True, "Keep an image folder decoded in the cache folder ($GANCTL_CACHE, else "
        "~/.cache/ganctl; `ganctl cache list|clear`), so later runs, resumes and evaluations "
        "open it at once; it is decoded again when a file is changed, added or removed.",
        resumable=True)
    max_data_memory: str | None = option(
        None, "The most memory training may take to hold an image folder's images (2G, 500M; "
        "twice their decoded size while they are placed); a folder that needs more trains "
        "anyway, streaming its batches from the data cache (the same batches in the same "
        "order; the progress header says which and why).",
        check=byte_size, resumable=True, number_as_text=True,
        shown="the memory available when training starts")
    channels: int | None = option(
        None, "1 (grayscale) or 3 (colour).", shown="the data's own; 1 for image folders",
        check=must_be(lambda v: v in (1, 3), "1 (grayscale) or 3 (colour)"))
    keep: int = option(3, "Checkpoints to keep (plus the best by FD).", check=positive_whole,
                       resumable=True)
    sample_grid: int = option(64, "Images in the fixed sample grid, from seeds 0 to N-1.",
                              check=positive_whole)
    snapshot_every: str = option(
        "auto", "How often to write the sample grid, its progress.gif frame and a checkpoint: "
        "images (60k), epochs (5ep), minutes (10m) or seconds (30s), at epoch ends; auto = at the "
        "first epoch end 30 s or more after the last snapshot (every epoch when epochs take 30 s "
        "or more). Training also snapshots at the end and when stopped.", resumable=True,
        number_as_text=True)
    eval_every: int = option(
        0, "Compute FD and KID every E epochs and keep the best checkpoint; 0 = off.",
        check=must_be(lambda v: v >= 0, "0 (off) or a positive number"), resumable=True)
    eval_n: int = option(2000, "Images per evaluation during training.", check=positive_whole,
                         resumable=True)
    # Performance
    precision: str | None = option(
        None, "float32, mixed (float16 compute, for GPUs), bf16 (bfloat16 compute, for "
        "CPUs with AMX, or avx512_bf16 for dcgan), or auto: bf16 for dcgan on CPUs with amx_bf16 "
        "or avx512_bf16, where it trained faster at the same quality, else float32; the "
        "progress header says what auto picked and why.", check=one_of(PRECISIONS),
        arch_default=True, absent="float32")
    xla: bool | None = option(
        None, "Compile the training step with XLA (one device only: synchronised BatchNorm "
        "cannot run inside XLA).", arch_default=True, resumable=True)
    # A run may resume on another strategy or replica count: the global batch, its images and
    # its noise do not depend on how many replicas share them.
    strategy: str = option(
        "auto", "auto, one, mirrored (all GPUs of this machine) or multiworker (the machines in "
        "TF_CONFIG); auto picks multiworker under TF_CONFIG, mirrored with several GPUs, else "
        "one. --batch-size stays the global batch.", resumable=True)
    steps_per_call: int = option(25, "Training steps per compiled call.", check=positive_whole,
                                 resumable=True)
    # Filled in from the data once it is loaded
    image_shape: tuple[int, int, int] | None = None
    num_images: int | None = None
    labels: tuple[str, ...] = field(default_factory=tuple)  # class names
    class_counts: tuple[int, ...] = field(default_factory=tuple)  # images per class (conditional)
    init_from_config_sha256: str | None = None  # --init-from: the source's config.json sha256

    def __post_init__(self) -> None:
        # Fill the architecture's defaults and resolve --precision auto, so that a config
        # always says what the run does (and config.json keeps it).
        spec = ARCHS.get(self.arch)
        for name, meta in OPTIONS.items():
            if meta.arch_default and getattr(self, name) is None and spec is not None \
                    and name in spec.defaults:
                object.__setattr__(self, name, spec.defaults[name])
        if spec is not None and self.image_shape is not None:
            for name, value in spec.shape_defaults(tuple(self.image_shape)).items():
                if getattr(self, name) is None:
                    object.__setattr__(self, name, value)
        if self.d_lr is None:
            object.__setattr__(self, "d_lr", self.lr)
        if self.epochs is None and self.minutes is None:
            object.__setattr__(self, "epochs", DEFAULT_EPOCHS)
        if self.precision == "auto":
            from ganctl.tfsetup import cpu_flags

            object.__setattr__(self, "precision", auto_precision(self.arch, cpu_flags())[0])
        if self.width == "auto":
            from ganctl.tfsetup import gpu_count

            object.__setattr__(self, "width", auto_width(gpu_count())[0])
        elif isinstance(self.width, str) and self.width.strip().isdigit():
            object.__setattr__(self, "width", int(self.width))

    @property
    def augment_on(self) -> bool:
        """Whether D sees augmented images. A new run resolves `auto` when it starts
        (`auto_augment`); an `auto` saved by an older ganctl meant: on for datasets under
        AUGMENT_AUTO_BELOW images, which it keeps, so those runs resume unchanged."""
        if self.augment == "auto":
            return self.num_images is not None and self.num_images < AUGMENT_AUTO_BELOW
        return self.augment in ("on", "ada")

    @property
    def augment_adaptive(self) -> bool:
        """Whether each augmentation applies with the adaptive probability p (`--augment ada`)."""
        return self.augment == "ada"

    def to_json(self) -> dict[str, Any]:
        """The settings as plain JSON types."""
        out = dataclasses.asdict(self)
        out["image_shape"] = list(self.image_shape) if self.image_shape else None
        out["labels"] = list(self.labels)
        out["class_counts"] = list(self.class_counts)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TrainConfig:
        """Rebuild settings from `to_json` output; unknown keys are an error, and keys that a
        config.json of an older ganctl lacks take their defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise UsageError(f"unknown setting(s) in config: {', '.join(unknown)}")
        obj = dict(obj)
        for name, meta in OPTIONS.items():
            if name not in obj and meta.absent is not UNSET:
                obj[name] = meta.absent
        if obj.get("image_shape") is not None:
            obj["image_shape"] = tuple(int(v) for v in obj["image_shape"])
        for key in ("labels", "class_counts"):
            if key in obj:
                obj[key] = tuple(obj[key] or ())
        return validate(cls(**obj))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed (and checked)."""
        return validate(dataclasses.replace(self, **changes))


# The settings a user may give, with their metadata, in the order help lists them; the other
# fields are filled in from the data.
OPTIONS: dict[str, Option] = {f.name: f.metadata["option"] for f in dataclasses.fields(TrainConfig)
                              if "option" in f.metadata}
USER_FIELDS = tuple(OPTIONS)
FIELD_NAMES = tuple(f.name for f in dataclasses.fields(TrainConfig))
# The declared defaults, before an architecture fills its own.
DECLARED: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
_HINTS = typing.get_type_hints(TrainConfig)


def value_type(name: str) -> type:
    """The type of a setting's values (int, float, str or bool), without None."""
    kinds = [t for t in typing.get_args(_HINTS[name]) if t is not types.NoneType]
    return kinds[0] if kinds else _HINTS[name]


def may_be_none(name: str) -> bool:
    """Whether a setting may be None (unset)."""
    return types.NoneType in typing.get_args(_HINTS[name])


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check each setting (its Option.check) and the rules between settings; return `cfg`
    unchanged when it is valid."""
    # First: an unknown architecture fills none of its defaults (lr, batch size, ...).
    OPTIONS["arch"].check("--arch", cfg.arch)
    for name, meta in OPTIONS.items():
        value = getattr(cfg, name)
        if meta.check is not None and not (value is None and may_be_none(name)):
            meta.check(flag(name), value)
    _check_model(cfg)
    if cfg.pad_colour is not None and cfg.resize != "pad":
        raise UsageError(f"--pad-colour is for --resize pad, and this run has --resize "
                         f"{cfg.resize}; drop --pad-colour or pass --resize pad")
    if cfg.freeze_d and cfg.init_from is None:
        raise UsageError("--freeze-d keeps D's first blocks as a trained run left them: pass "
                         "--init-from RUN too, or drop --freeze-d")
    for name in ("ada_target", "ada_speed"):
        if getattr(cfg, name) != DECLARED[name] and cfg.augment != "ada":
            raise UsageError(f"{flag(name)} is for --augment ada, and this run has --augment "
                             f"{cfg.augment}; drop {flag(name)} or pass --augment ada")
    if cfg.conditional and cfg.num_images is not None and (
            len(cfg.labels) < 2 or len(cfg.class_counts) != len(cfg.labels)):
        raise UsageError("--conditional needs labelled data with at least two classes; "
                         "drop --conditional")
    if cfg.num_images is not None and cfg.batch_size > cfg.num_images:
        raise UsageError(f"--batch-size {cfg.batch_size} is larger than the dataset "
                         f"({cfg.num_images} images); use a smaller --batch-size")
    return cfg


def _check_model(cfg: TrainConfig) -> None:
    """Options the architecture does not take, and image shapes it cannot build."""
    spec = ARCHS[cfg.arch]
    for name, meta in OPTIONS.items():
        if meta.arch_only and getattr(cfg, name) != DECLARED[name] and name not in spec.options:
            takers = ", ".join(sorted(a for a, s in ARCHS.items() if name in s.options))
            raise UsageError(f"{flag(name)} does not apply to --arch {cfg.arch} (only to: "
                             f"{takers})")
    shape = cfg.image_shape
    if shape is None and cfg.image_size is not None:
        shape = (cfg.image_size, cfg.image_size, cfg.channels or 1)
    if shape is not None:
        try:
            spec.check_shape(tuple(shape))
        except ValueError as exc:
            raise UsageError(str(exc)) from None


def resumed(saved: TrainConfig, given: Mapping[str, Any], run_name: str) -> TrainConfig:
    """The settings of run `run_name` resumed with the `given` options: the saved ones, with
    the given resumable ones (Option.resumable). A given option that contradicts a saved setting
    which defines the run is refused."""
    for key, value in given.items():
        if not OPTIONS[key].resumable and getattr(saved, key) != value:
            raise UsageError(f"run {run_name} was trained with {key}={getattr(saved, key)!r}, "
                             f"not {value!r}; pass --fresh to start over or use another --name")
    return saved.replace(**{k: v for k, v in given.items() if OPTIONS[k].resumable})


def auto_augment(num_images: int) -> tuple[str, str]:
    """What `--augment auto` picks for a new run on `num_images` images, and why.

    Measured (benchmarks/README.md, "Adaptive augmentation"): 30-minute CPU runs of each setting
    side by side on 500 and 3,000 colour shapes and 3,000 Fashion-MNIST images, scored at 5, 15
    and 30 minutes. `off` had the lowest FD in 7 of the 9 pairs and in all 6 on the shapes (ada
    1.06x to 3.0x its FD); ada won on the Fashion-MNIST images at 5 and 30 minutes, by 5% and 7%.
    The fixed policy (`on`, what `auto` picked before under 30,000 images) was the worst in 8 of 9.
    Above 30,000 images it was off already.
    """
    if num_images < AUGMENT_AUTO_BELOW:
        return "off", ("the best measured in runs of 5-30 minutes on folders of 500-3,000 "
                       "images (lowest FD in 7 of 9 against ada and the fixed policy; "
                       "benchmarks/README.md)")
    return "off", f"{AUGMENT_AUTO_BELOW:,} images or more, as before"


def auto_width(gpus: int) -> tuple[int, str]:
    """What `--width auto` picks with `gpus` GPUs, and why."""
    if gpus:
        return AUTO_WIDTH_GPU, "with a GPU, width 64 costs little more time than 32"
    return AUTO_WIDTH_CPU, ("on a CPU, width 32 drew better images per minute than 64 in the "
                            "quality race")


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
