"""Steps per second with `--augment off`, `on` and `ada`, side by side in one process.

Three dcgan GANs (width 32, 32×32 colour, batch 64, float32) on the same random uint8 images,
each traced first, then timed alternately, so that the machine's load falls on all alike:

    python benchmarks/ada_speed.py --calls 5 --steps 10
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5, help="timed calls per setting")
    parser.add_argument("--steps", type=int, default=10, help="steps per call")
    args = parser.parse_args()

    from ganctl.config import TrainConfig
    from ganctl.tfsetup import import_tensorflow
    from ganctl.training.gan import GAN

    import_tensorflow()
    x = np.random.default_rng(0).integers(0, 256, (1024, 32, 32, 3), dtype=np.uint8)
    gans = {}
    for setting in ("off", "on", "ada"):
        cfg = TrainConfig(arch="dcgan", width=32, precision="float32", augment=setting,
                          image_shape=(32, 32, 3), num_images=len(x))
        gan = GAN(cfg)
        gan.set_data(x)
        gan.train_steps(gan.epoch_order(1), 0, 4)  # trace
        gans[setting] = gan
    times: dict[str, list[float]] = {s: [] for s in gans}
    for _ in range(args.calls):
        for setting, gan in gans.items():
            start = time.perf_counter()
            gan.train_steps(gan.epoch_order(1), 0, args.steps)
            times[setting].append(time.perf_counter() - start)
    for setting, seconds in times.items():
        ada = gans[setting].state.ada
        extra = f"  (p {float(ada.p.numpy()):.3f})" if ada is not None else ""
        print(f"{setting:4s} {1000 * np.median(seconds) / args.steps:7.1f} ms/step (median of "
              f"{args.calls} calls of {args.steps} steps){extra}")


if __name__ == "__main__":
    main()
