"""Import TensorFlow once, quietly (its C++ start-up chatter is not for users), and lay out its
devices before the runtime starts: GANCTL_CPU_DEVICES, and room for a multi-worker strategy."""

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


CPU_DEVICES_ENV = "GANCTL_CPU_DEVICES"


def cpu_device_count() -> int:
    """GANCTL_CPU_DEVICES: how many logical devices to split the CPU into (1 when unset)."""
    from ganctl.errors import UsageError

    raw = os.environ.get(CPU_DEVICES_ENV, "").strip()
    if not raw:
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise UsageError(f"{CPU_DEVICES_ENV}={raw!r} must be a whole number from 1 to 64")
    return int(raw)


def _split_cpu(tf: Any, n: int) -> None:
    """Split the CPU into `n` logical devices, so that `mirrored` has n replicas without GPUs.

    Must run before the runtime starts; all the logical devices share the CPU's threads.
    """
    from ganctl.errors import GanctlError

    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) != n:
            raise GanctlError(f"{CPU_DEVICES_ENV}={n} came too late: TensorFlow had already "
                              "started; set it before the process starts") from None


def import_tensorflow(verbose: bool = False) -> Any:
    """Import TensorFlow and probe devices; silent unless `verbose` (or GANCTL_DEBUG=1).

    The runtime is started here (so that its log lines are swallowed here) except under a
    TF_CONFIG: a multi-worker strategy must configure collectives before the runtime starts.
    """
    if "tensorflow" in sys.modules and getattr(import_tensorflow, "_done", False):
        return sys.modules["tensorflow"]
    verbose = verbose or os.environ.get("GANCTL_DEBUG") == "1"
    # Under TF_CONFIG a lost worker makes the runtime log its gRPC errors; ganctl says it in one
    # line instead (GANCTL_DEBUG=1 shows them).
    quiet_level = "3" if os.environ.get("TF_CONFIG") and not verbose else "2"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", quiet_level)
    cpus = cpu_device_count()
    with contextlib.nullcontext() if verbose else _quiet_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()
        if cpus > 1:
            _split_cpu(tf, cpus)
        if not os.environ.get("TF_CONFIG"):
            tf.constant(0.0) + 1.0  # noqa: B018 - initialise the runtime (and its log lines) here
    if not verbose:
        # Partial restores (a generator alone) make TF's Python logger list every optimizer
        # slot it skipped; ganctl reports real load failures itself.
        tf.get_logger().setLevel("ERROR")
    import_tensorflow._done = True  # type: ignore[attr-defined]
    return tf


CPUINFO = "/proc/cpuinfo"  # read by cpu_flags and cpu_model; tests point it at a fake one


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open(CPUINFO, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def gpu_count() -> int:
    """How many GPUs TensorFlow sees (it is imported to ask)."""
    tf = import_tensorflow()
    return len(tf.config.list_physical_devices("GPU"))


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or the platform's processor string."""
    import platform

    try:
        with open(CPUINFO, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"

