"""Training speed streamed from the data cache against held in memory, side by side in one
process, on an image folder that fits in memory (what `--max-data-memory` trades).

Two GANs with the same settings train on the same images: one holds them in a TensorFlow
variable (the default where they fit), the other streams each call's batches from the data
cache's file (ganctl.training.stream). Rounds alternate between them (and rotate which goes
first), so load from other processes on a shared machine hits both alike. Each round starts a
new epoch, so the streamed GAN reads its first block with nothing prefetched, as at every epoch
start. The figures are medians over rounds, after one warm-up call each (tracing, compiling).

    python scripts/make_image_folders.py photos /tmp/photos --n 10000
    PYTHONPATH=. python benchmarks/stream_speed.py /tmp/photos            # dcgan at 64 px
    PYTHONPATH=. python benchmarks/stream_speed.py /tmp/photos --calls 3 --rounds 5 --limit 20000

The folder is decoded into the data cache first if it is not there (GANCTL_CACHE).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time

from ganctl.tfsetup import import_tensorflow
from ganctl.training.gan import GAN
from ganctl.training.loop import plan_training


def rss_mib() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--arch", default="dcgan")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--steps-per-call", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2, help="calls per variant per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit", type=int, help="the first N images only")
    args = parser.parse_args()
    import_tensorflow()
    plan = plan_training(dict(data=args.folder, arch=args.arch, image_size=args.size,
                              channels=args.channels, steps_per_call=args.steps_per_call,
                              limit=args.limit, out=tempfile.mkdtemp(prefix="ganctl-bench-")))
    cfg, x = plan.cfg, plan.data.x
    print(f"{len(x):,} images {x.shape[1:]} ({x.nbytes / 2**30:.2f} GiB decoded, "
          f"{plan.data.note}); {cfg.arch} batch {cfg.batch_size}, xla {cfg.xla}, "
          f"{cfg.steps_per_call} steps per call, {args.calls} calls per round")
    print(f"what `ganctl train` would do here by default: {plan.holding.why}")
    gans = {"in memory": GAN(cfg), "streamed": GAN(cfg)}
    t = time.perf_counter()
    gans["in memory"].set_data(x)
    print(f"placed in memory in {time.perf_counter() - t:.1f} s; peak RSS {rss_mib():,.0f} MiB")
    gans["streamed"].set_data(x, stream=True)
    stream = gans["streamed"].feed._stream
    waits: list[float] = []  # seconds each call waited for its block (reading, or the pipeline)
    block = stream.block

    def timed_block(*args):
        t = time.perf_counter()
        out = block(*args)
        waits.append(time.perf_counter() - t)
        return out

    stream.block = timed_block
    images = cfg.steps_per_call * cfg.batch_size
    for name, gan in gans.items():  # warm-up: trace and compile
        t = time.perf_counter()
        gan.train_steps(gan.epoch_order(1), 0, cfg.steps_per_call)
        print(f"{name}: first call (compiling) {time.perf_counter() - t:.1f} s")
    rates: dict[str, list[float]] = {name: [] for name in gans}
    steady: dict[str, list[float]] = {name: [] for name in gans}  # the calls after the first
    names = list(gans)
    for r in range(args.rounds):
        for name in names[r % 2:] + names[:r % 2]:
            gan = gans[name]
            order = gan.epoch_order(r + 2)  # a new epoch: nothing prefetched
            load = os.getloadavg()[0]
            seconds = []
            for call in range(args.calls):
                t = time.perf_counter()
                gan.train_steps(order, call * cfg.steps_per_call, cfg.steps_per_call)
                seconds.append(time.perf_counter() - t)
            rates[name].append(args.calls * images / sum(seconds))
            if args.calls > 1:
                steady[name].append((args.calls - 1) * images / sum(seconds[1:]))
            waited = (f"; waited for blocks {', '.join(f'{w:.2f}' for w in waits[-args.calls:])}"
                      f" s" if name == "streamed" else "")
            print(f"round {r + 1} {name}: {rates[name][-1]:.1f} images/s; calls "
                  f"{', '.join(f'{s:.2f}' for s in seconds)} s{waited}; traces "
                  f"{gan.trace_count} (load {load:.1f})", flush=True)
    for label, table in (("every call", rates), ("after each epoch's first call", steady)):
        if not table["streamed"]:
            continue
        medians = {name: statistics.median(v) for name, v in table.items()}
        paired = [s / m for s, m in zip(table["streamed"], table["in memory"], strict=True)]
        print(f"{label}: in memory {medians['in memory']:.1f}, streamed "
              f"{medians['streamed']:.1f} images/s (medians over {args.rounds} rounds); "
              f"streamed / in memory {medians['streamed'] / medians['in memory']:.3f}, median "
              f"of the round pairs {statistics.median(paired):.3f}")
    print(f"peak RSS {rss_mib():,.0f} MiB; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
