"""Distribution strategies: which one `--strategy` picks, its replicas, and which worker is chief.

`one` is the plain single-device path. `mirrored` is tf.distribute.MirroredStrategy over the GPUs
of this machine (or over GANCTL_CPU_DEVICES logical CPUs); `multiworker` is
MultiWorkerMirroredStrategy over the machines that TF_CONFIG names. `--batch-size` is always the
global batch; each replica computes its slice of it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
from dataclasses import dataclass
from typing import Any

from ganctl.errors import GanctlError, UsageError

STRATEGIES = ("auto", "one", "mirrored", "multiworker")
TIMEOUT_ENV = "GANCTL_COLLECTIVE_TIMEOUT"
# A collective that waits longer than this fails instead of hanging: a worker that dies or hangs
# makes the others stop. Generous, because the first step waits for every worker to trace (and
# with XLA, compile) its program.
DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Cluster:
    """What TF_CONFIG says about the cluster and this process's place in it."""

    workers: int
    index: int  # this worker's position, 0..workers-1 (the chief first)
    is_chief: bool


def read_tf_config(raw: str | None = None) -> Cluster | None:
    """Parse TF_CONFIG (the environment's when `raw` is None); None when it is unset or empty."""
    raw = os.environ.get("TF_CONFIG", "") if raw is None else raw
    if not raw.strip():
        return None
    try:
        obj = json.loads(raw)
        cluster, task = obj["cluster"], obj["task"]
        chiefs = list(cluster.get("chief", []))
        workers = chiefs + list(cluster.get("worker", []))
        kind, index = task["type"], int(task["index"])
        if kind not in ("chief", "worker") or not workers:
            raise ValueError(f"task type {kind!r}")
        position = index if kind == "chief" else len(chiefs) + index
        if not 0 <= position < len(workers):
            raise ValueError(f"task index {index} is not in the cluster")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"TF_CONFIG is not a valid cluster description ({exc}); see README "
                         "'Several machines' for an example") from None
    return Cluster(len(workers), position, position == 0)


def choose(requested: str, gpus: int, cluster: Cluster | None) -> str:
    """The strategy `requested` stands for: `auto` is multiworker under a TF_CONFIG cluster,
    mirrored with several GPUs, else one."""
    if requested not in STRATEGIES:
        raise UsageError(f"unknown --strategy {requested!r}; choose one of: {', '.join(STRATEGIES)}")
    if requested == "multiworker" and cluster is None:
        raise UsageError("--strategy multiworker needs TF_CONFIG naming the cluster and this "
                         "worker (see README 'Several machines'); unset it for one machine")
    if requested != "auto":
        return requested
    if cluster is not None and cluster.workers > 1:
        return "multiworker"
    return "mirrored" if gpus > 1 else "one"


def check_batch(batch_size: int, replicas: int) -> int:
    """The per-replica batch; a one-line error when the global batch does not divide."""
    if batch_size % replicas:
        lower = batch_size - batch_size % replicas
        raise UsageError(f"--batch-size {batch_size} does not divide among {replicas} replicas; "
                         f"use a multiple of {replicas} such as {lower or replicas} or "
                         f"{lower + replicas}")
    return batch_size // replicas


def collective_timeout() -> float:
    """Seconds a collective may wait (GANCTL_COLLECTIVE_TIMEOUT, else DEFAULT_TIMEOUT_S)."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
        if not (0 < value < math.inf):  # also refuses nan, which float() accepts
            raise ValueError
    except ValueError:
        raise UsageError(f"{TIMEOUT_ENV}={raw!r} must be a positive number of seconds; unset "
                         f"it for the default of {DEFAULT_TIMEOUT_S:g} s") from None
    return value


@dataclass(frozen=True)
class Distribution:
    """The resolved strategy: `strategy` is None for `one` (no tf.distribute at all)."""

    name: str
    strategy: Any
    replicas: int
    batch_size: int  # global
    workers: int = 1
    worker_index: int = 0

    @property
    def is_chief(self) -> bool:
        return self.worker_index == 0

    @property
    def per_replica_batch(self) -> int:
        return self.batch_size // self.replicas

    @property
    def distributed(self) -> bool:
        """Whether steps go through strategy.run (several replicas or several workers)."""
        return self.strategy is not None

    def scope(self) -> Any:
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def gather(self, value: float) -> list[float]:
        """`value` from every replica of every worker (a collective: all must call it)."""
        import tensorflow as tf

        per_replica = self.strategy.run(lambda: tf.constant([value], tf.float64))
        return [float(v) for v in self.strategy.gather(per_replica, axis=0).numpy()]

    def describe(self) -> str:
        """For the progress header: 'mirrored, 2 replicas x 32 images'."""
        if self.strategy is None:
            return "one device"
        where = f", worker {self.worker_index} of {self.workers}" if self.workers > 1 else ""
        return (f"{self.name}, {self.replicas} replicas x {self.per_replica_batch} "
                f"images{where}")


def make_distribution(requested: str, batch_size: int) -> Distribution:
    """Create the tf.distribute strategy for `requested` and check the batch against it.

    Call before anything else runs on TensorFlow: a multi-worker strategy configures the
    runtime's collectives, which is only possible before it starts.
    """
    import tensorflow as tf

    cluster = read_tf_config()
    name = choose(requested, len(tf.config.list_physical_devices("GPU")), cluster)
    if name == "one":
        return Distribution("one", None, 1, batch_size)
    if name == "mirrored":
        devices = _local_devices(tf)
        if len(devices) < 2:
            raise UsageError("--strategy mirrored needs at least 2 devices and this machine has "
                             "one; use --strategy one (or GANCTL_CPU_DEVICES=2 to test on a CPU)")
        strategy = _mirrored_strategy(tuple(devices))
        check_batch(batch_size, strategy.num_replicas_in_sync)
        return Distribution("mirrored", strategy, strategy.num_replicas_in_sync, batch_size)
    options = tf.distribute.experimental.CommunicationOptions(
        timeout_seconds=collective_timeout())
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except RuntimeError as exc:
        raise GanctlError(f"cannot start the multi-worker strategy: {exc}; it must be created "
                          "before TensorFlow runs anything") from None
    check_batch(batch_size, strategy.num_replicas_in_sync)
    return Distribution("multiworker", strategy, strategy.num_replicas_in_sync, batch_size,
                        cluster.workers, cluster.index)


@functools.cache
def _mirrored_strategy(devices: tuple[str, ...]) -> Any:
    """One MirroredStrategy per process and device set: a second one starts its collective keys
    where the first did, and the runtime then pairs the new program's all-reduces with the old
    one's ("Shape mismatch in the collective instance")."""
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(list(devices))


def _local_devices(tf: Any) -> list[str]:
    gpus = tf.config.list_logical_devices("GPU")
    return [d.name for d in gpus] if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]


def collective_failure(exc: BaseException, dist: Distribution) -> GanctlError | None:
    """A one-line error for a multi-worker collective that failed (a worker died or hung)."""
    import tensorflow as tf

    kinds = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
             tf.errors.CancelledError, tf.errors.AbortedError)
    if dist.workers < 2 or not isinstance(exc, kinds):
        return None
    if isinstance(exc, tf.errors.DeadlineExceededError):
        what = (f"a collective waited more than {collective_timeout():g} s for it "
                f"({TIMEOUT_ENV} sets the limit)")
    elif isinstance(exc, tf.errors.UnavailableError):
        what = "its connection was lost"
    else:
        what = f"the collective was {type(exc).__name__.removesuffix('Error').lower()}"
    return GanctlError(f"worker {dist.worker_index}: another worker stopped answering ({what}); "
                       "restart every worker with the same command to resume from the last "
                       "checkpoint")
