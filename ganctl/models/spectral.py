"""Spectral normalisation's power-iteration vectors, drawn from the run's seed.

Keras' `SpectralNormalization` draws each wrapped layer's vector u with an unseeded initialiser,
so two runs of the same `--seed` would differ from their first step. Each architecture calls
`seed_power_iteration` on its discriminator with its own stream number, so adding one never
changes another's draws.
"""

from __future__ import annotations

from typing import Any


def seed_power_iteration(model: Any, seed: int, stream: int) -> None:
    """Redraw u of every `SpectralNormalization` layer of `model` from (`seed`, `stream`)."""
    import numpy as np
    from keras import layers

    rng = np.random.default_rng([seed, stream])
    for layer in model.layers:
        if isinstance(layer, layers.SpectralNormalization):
            u = layer.vector_u
            # Keras' own initialiser, TruncatedNormal(0.02): a normal cut at two deviations.
            draw = np.clip(rng.standard_normal(tuple(u.shape)), -2.0, 2.0) * 0.02
            u.assign(draw.astype("float32"))
