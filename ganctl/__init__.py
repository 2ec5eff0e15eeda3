"""ganctl: train GANs and turn them into pictures, animations and honest quality numbers.

    import ganctl
    g = ganctl.load("runs/run1")        # a run name, a run folder or a checkpoint
    images = g.sample(seeds=range(16))  # uint8 [16, h, w, c], as `ganctl sample` draws them

`load` and `Generator` are imported on first use, so `import ganctl` (and `ganctl --help`)
does not load TensorFlow.
"""

from __future__ import annotations

from typing import Any

from ganctl.errors import GanctlError, UsageError

__version__ = "0.1.0"
__all__ = ["ConversionError", "GanctlError", "Generator", "MissingExtraError", "UsageError",
           "__version__", "load"]

_LAZY = {"load": "ganctl.generation.api", "Generator": "ganctl.generation.api",
         "MissingExtraError": "ganctl.generation.export",
         "ConversionError": "ganctl.generation.converters"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ganctl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
