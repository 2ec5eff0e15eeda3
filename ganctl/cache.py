"""Where ganctl caches what it can recompute: real-image features, reference scores, evaluators
trained on a folder. One folder, `$GANCTL_CACHE`, else `$XDG_CACHE_HOME/ganctl`, else
`~/.cache/ganctl`."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "GANCTL_CACHE"


def cache_dir() -> Path:
    """The folder of cached real features (it may not exist yet)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ganctl"
