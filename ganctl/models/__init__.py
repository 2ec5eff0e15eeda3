"""Model builders, one module per architecture family, keyed by name in `ARCHS`.

Each builder returns (generator, discriminator). Adding an architecture is one module and one
`Arch` entry here, which also says what D outputs and which settings default differently for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ganctl.models import dcgan, fastgan
from ganctl.models.mlp import build_mlp

ModelPair = tuple[Any, Any]


@dataclass(frozen=True)
class Arch:
    """An architecture: its builder and what the rest of training needs to know about it."""

    build: Callable[..., ModelPair]
    d_output: str = "logits"  # or "probability" (D ends in a sigmoid)
    summary: str = ""  # for help texts: the name and what it is, in a few words
    # Settings whose default depends on the architecture (TrainConfig fields left as None).
    defaults: dict[str, Any] = field(default_factory=dict)
    # Raises ValueError (one line, naming the fix) for an image shape it cannot build.
    check_shape: Callable[[tuple[int, int, int]], None] = lambda shape: None
    options: tuple[str, ...] = ()  # TrainConfig fields the builder takes as keyword arguments
    # D's blocks, input first, each a list of its layers with weights: what --freeze-d K fixes.
    d_blocks: Callable[[Any], list[list[Any]]] = lambda discriminator: []
    # Defaults that depend on the image shape (h, w, c), filled in once the data gives it, so
    # that config.json records the number the builder used.
    shape_defaults: Callable[[tuple[int, int, int]], dict[str, Any]] = lambda shape: {}
    # Every builder also takes `num_classes` (conditional models) and `d_batch_statistics`
    # (False: D must not normalise over the batch, as a loss that penalises each image's
    # gradient asks).


ARCHS: dict[str, Arch] = {
    "mlp": Arch(build_mlp, d_output="probability", summary="mlp (the seed article's)",
                d_blocks=lambda d: [[d.get_layer("fc1")], [d.get_layer("fc2")]],
                defaults={"latent_dim": 100, "loss": "bce", "ema": False, "augment": "off", "xla": True,
                          "lr": 2e-4, "batch_size": 128, "precision": "float32"}),
    "dcgan": Arch(dcgan.build_dcgan, check_shape=dcgan.check_shape, d_blocks=dcgan.d_blocks,
                  options=("width", "spectral_norm"),
                  # width and precision "auto": resolved for this machine when a run is
                  # configured (ganctl.config.settings), and saved as the number/precision.
                  defaults={"width": "auto", "latent_dim": 100, "loss": "bce", "ema": True,
                            "augment": "auto", "xla": False, "precision": "auto",
                            # Measured in the quality race (benchmarks/README.md): at equal
                            # epochs lr 1e-3 beat 5e-4 and 2e-4 by far, and batch 64 gives twice
                            # the updates of 128 for the same CPU time per image.
                            "lr": 1e-3, "batch_size": 64},
                  summary="dcgan (convolutional; square images of 28, 32, 48, 64, 96 or 128 "
                          "pixels)"),
    "fastgan": Arch(fastgan.build_fastgan, check_shape=fastgan.check_shape, options=("width",),
                    d_blocks=fastgan.d_blocks, shape_defaults=fastgan.shape_defaults,
                    # --width None: fastgan.DEFAULT_WIDTHS for the image size (shape_defaults).
                    defaults={"latent_dim": fastgan.LATENT_DIM, "loss": "hinge", "ema": True,
                              "augment": "auto", "xla": False, "precision": "auto", "lr": 2e-4,
                              "batch_size": 16},
                    summary="fastgan (light GAN for few images; square, 64 to 1024 pixels)"),
}


def build_models(arch: str, latent_dim: int, image_shape: tuple[int, int, int],
                 mixed: bool = False, seed: int = 0, **options: Any) -> ModelPair:
    """Build the (generator, discriminator) pair of architecture `arch`, initialised from `seed`.

    `options` are the architecture's own settings (see `Arch.options`), e.g. `width`.
    """
    return ARCHS[arch].build(latent_dim, tuple(image_shape), mixed=mixed, seed=seed, **options)


def build_for(cfg: Any, mixed: bool = False, d_batch_statistics: bool = True) -> ModelPair:
    """Build the models of a `TrainConfig` (its architecture, shape, seed and options), conditioned
    on its classes for a conditional run (see `conditioning`); `d_batch_statistics` False gives
    a D without BatchNorm (what the training loss declares)."""
    spec = ARCHS[cfg.arch]
    options = {name: getattr(cfg, name) for name in spec.options}
    options["d_batch_statistics"] = d_batch_statistics
    if cfg.conditional:
        options["num_classes"] = len(cfg.labels)
    return build_models(cfg.arch, cfg.latent_dim, cfg.image_shape, mixed=mixed, seed=cfg.seed,
                        **options)


def judge_real(discriminator: Any, inputs: Any, seed: Any) -> tuple[Any, Any]:
    """D's outputs on real images in training, and the auxiliary loss its architecture adds to
    D's loss on them (None when it adds none). A D that learns more than real against fake
    (fastgan's also reconstructs real images) declares a `judge_real(inputs, seed)` method;
    `seed` (int64 [2], stateless) is for its random draws."""
    own = getattr(discriminator, "judge_real", None)
    if own is None:
        return discriminator(inputs, training=True), None
    return own(inputs, seed, training=True)
