"""Import TensorFlow once, quietly: its C++ start-up chatter (oneDNN, CUDA probes) is not for users."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any


@contextlib.contextmanager
def _quiet_stderr():
    """Point file descriptor 2 at /dev/null (C++ logs ignore TF_CPP_MIN_LOG_LEVEL at start-up)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow(verbose: bool = False) -> Any:
    """Import TensorFlow and probe devices; silent unless `verbose` (or GANCTL_DEBUG=1)."""
    if "tensorflow" in sys.modules and getattr(import_tensorflow, "_done", False):
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    verbose = verbose or os.environ.get("GANCTL_DEBUG") == "1"
    with contextlib.nullcontext() if verbose else _quiet_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()
        tf.constant(0.0) + 1.0  # noqa: B018 - initialise the runtime (and its log lines) here
    if not verbose:
        # Partial restores (a generator alone) make TF's Python logger list every optimizer
        # slot it skipped; ganctl reports real load failures itself.
        tf.get_logger().setLevel("ERROR")
    import_tensorflow._done = True  # type: ignore[attr-defined]
    return tf


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or the platform's processor string."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_has_amx() -> bool:
    """Whether the CPU has AMX bfloat16 tiles (recent Intel Xeons): oneDNN then runs bfloat16
    matmuls and convolutions several times faster than float32; without AMX bfloat16 is slower."""
    return "amx_bf16" in cpu_flags()
