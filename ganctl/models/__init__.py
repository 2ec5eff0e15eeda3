"""Model builders, one module per architecture family, keyed by name in `ARCHS`.

Each builder returns (generator, discriminator); adding an architecture is one module and one
entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ganctl.models.mlp import build_mlp

ModelPair = tuple[Any, Any]

ARCHS: dict[str, Callable[..., ModelPair]] = {
    "mlp": build_mlp,
}


def build_models(arch: str, latent_dim: int, image_shape: tuple[int, int, int],
                 mixed: bool = False, seed: int = 0) -> ModelPair:
    """Build the (generator, discriminator) pair of architecture `arch`, initialised from `seed`."""
    return ARCHS[arch](latent_dim, tuple(image_shape), mixed=mixed, seed=seed)
