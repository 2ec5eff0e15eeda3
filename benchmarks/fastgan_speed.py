"""Training speed of `--arch fastgan` beside dcgan at the same image size, float32 and bf16, in one
process: images/s of ganctl's loop and the first call's cost (tracing the step).

Every loop trains on the same random 64×64 colour images (speed does not depend on what they
show), with EMA on and augmentation off as in the quality race. Rounds alternate between the
loops and rotate which goes first, so load from other processes hits them alike; the figures are
medians over the rounds. Each round gives every loop the same number of images.

    python benchmarks/fastgan_speed.py                      # 64 px, 3 rounds of 512 images
    python benchmarks/fastgan_speed.py --size 128 --rounds 5 --images 256 --json /tmp/s.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_speed import ganctl_loop  # noqa: E402


def loops(size: int) -> dict[str, tuple[int, dict]]:
    """name: (batch, options) of each loop timed."""
    dcgan = dict(arch="dcgan", width=32, loss="bce", lr=1e-3, ema=True, augment="off")
    fastgan = dict(arch="fastgan", ema=True, augment="off")
    out = {}
    for precision in ("float32", "bf16"):
        out[f"dcgan-colour {precision}"] = (64, dict(dcgan, precision=precision, xla=False))
        out[f"fastgan {precision}"] = (16, dict(fastgan, precision=precision, xla=False))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=512, help="images per loop per round")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from ganctl.tfsetup import import_tensorflow

    import_tensorflow()
    x = np.random.default_rng(0).integers(0, 256, (2048, args.size, args.size, 3), np.uint8)
    runs, first = {}, {}
    for name, (batch, options) in loops(args.size).items():
        run = ganctl_loop(x, batch=batch, **options)
        steps = args.images // batch
        start = time.perf_counter()
        run(steps)  # the first call traces the step
        first_wall = time.perf_counter() - start
        start = time.perf_counter()
        run(steps)
        steady = time.perf_counter() - start
        first[name] = first_wall - steady  # what the first call costs beyond a steady one
        runs[name] = (run, steps, batch)
        print(f"{name}: first call {first_wall:.1f} s, then {steady:.1f} s", flush=True)
    rates: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            run, steps, batch = runs[name]
            start = time.perf_counter()
            run(steps)
            rates[name].append(steps * batch / (time.perf_counter() - start))
        print(f"round {r + 1}: " + ", ".join(f"{n} {rates[n][-1]:.1f}" for n in names),
              flush=True)
    print(f"\n{'loop':28s} {'images/s':>9s} {'trace s':>8s}  (median of {args.rounds} rounds, "
          f"{args.size} px)")
    table = {}
    for name in names:
        med = statistics.median(rates[name])
        table[name] = {"images_per_s": med, "first_call_extra_s": first[name],
                       "rounds": rates[name]}
        print(f"{name:28s} {med:9.1f} {first[name]:8.1f}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
