"""Where ganctl's training step spends its time: a profiler trace of the compiled loop, summed.

Runs ganctl's loop (as `train_speed.py` drives it) for a few calls under TensorFlow's profiler,
with XLA's dumps on, then adds up the time of every XLA operation by kind: matmuls, Adam's
updates, and the rest (BatchNorm, activations, losses, noise, gathers). Times are summed over
both worker threads, so they can exceed the wall time when the two cores work side by side.

    python benchmarks/profile_step.py                      # 48 steps
    python benchmarks/profile_step.py --single-thread-dots # each matmul on one core

With `--single-thread-dots` (XLA's `--xla_cpu_multi_thread_eigen=false`) every matmul runs on
the thread that shows it, so the per-kind times are the CPU time each kind costs.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from shared_data import default_fashion_mnist

REPO = Path(__file__).resolve().parents[1]


def op_names(dump: Path) -> dict[str, str]:
    """XLA instruction name -> the TensorFlow op it came from, from the optimized HLO dump."""
    names: dict[str, str] = {}
    for path in dump.glob("*train_steps*cpu_after_optimizations.txt"):
        for m in re.finditer(r'%([\w.\-]+) = .*?op_name="([^"]+)"', path.read_text()):
            names[m.group(1)] = m.group(2)
    return names


def kind(event: str, op_name: str) -> str | None:
    if event.startswith(("MatMul", "dot")):
        return "matmuls"
    if "/adam" in op_name or op_name.startswith("adam"):
        return "Adam updates"
    if "fusion" in event or event.startswith(("wrapped_", "copy", "call", "ynn_")):
        return "other XLA ops"
    return None  # executor bookkeeping, thread-pool markers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(default_fashion_mnist()))
    parser.add_argument("--steps", type=int, default=48, help="profiled steps (after warm-up)")
    parser.add_argument("--single-thread-dots", action="store_true",
                        help="run each matmul on one thread (XLA_FLAGS "
                             "--xla_cpu_multi_thread_eigen=false)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="ganctl-profile-"))
    flags = [f"--xla_dump_to={work / 'hlo'}", "--xla_dump_hlo_as_text"]
    if args.single_thread_dots:
        flags.append("--xla_cpu_multi_thread_eigen=false")
    os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), *flags]).strip()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]
    from train_speed import ganctl_loop

    from ganctl.data import load_dataset
    from ganctl.tfsetup import import_tensorflow

    tf = import_tensorflow()
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    run = ganctl_loop(load_dataset(args.data).x)
    run(50)  # compile and warm up
    tf.profiler.experimental.start(str(work / "trace"))
    t0 = time.perf_counter()
    run(args.steps)
    wall = time.perf_counter() - t0
    tf.profiler.experimental.stop()

    names = op_names(work / "hlo")
    space = xplane_pb2.XSpace()
    [trace] = (work / "trace").rglob("*.xplane.pb")
    space.ParseFromString(trace.read_bytes())
    totals: dict[str, float] = collections.Counter()
    for plane in space.planes:
        meta = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = meta.get(event.metadata_id, "")
                what = kind(name, names.get(name, ""))
                if what:
                    totals[what] += event.duration_ps / 1e9  # ms

    per_step = 1e3 * wall / args.steps
    print(f"{args.steps} steps, {per_step:.1f} ms per step wall "
          f"({'one thread' if args.single_thread_dots else 'two threads'} per matmul)")
    for what in ("matmuls", "Adam updates", "other XLA ops"):
        print(f"  {what:14s} {totals[what] / args.steps:6.1f} ms per step (summed over threads)")
    if args.single_thread_dots:  # otherwise a matmul's second thread does not show in the trace
        print(f"  traced busy share of the 2 cores: "
              f"{sum(totals.values()) / args.steps / (2 * per_step):.0%}")


if __name__ == "__main__":
    main()
