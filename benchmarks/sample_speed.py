"""How long sampling takes: `ganctl sample --n N --npz` end to end, and the core steps alone.

Trains nothing: without --run it writes a run folder with an untrained MLP generator (the
speed of a forward pass does not depend on the weights) into a temporary folder.

    python benchmarks/sample_speed.py                  # 10,000 images, a fresh untrained run
    python benchmarks/sample_speed.py --run /tmp/sample_runs/r3 --n 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_untrained_run(root: Path) -> Path:
    """A run folder (config.json + one checkpoint) of an untrained 28x28x1 MLP GAN."""
    from ganctl.checkpoints import CheckpointStore
    from ganctl.config import TrainConfig
    from ganctl.runs import RunFolder
    from ganctl.training.gan import GAN

    cfg = TrainConfig(name="bench", out=str(root), image_shape=(28, 28, 1), num_images=60000)
    run = RunFolder(root / "bench")
    run.write_config(cfg, {})
    gan = GAN(cfg)
    CheckpointStore(run.checkpoints).save(gan.checkpoint_objects(), epoch=1, step=1, complete=True)
    return run.root


def best_of(repeat: int, fn) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="an existing run (name, folder or checkpoint) to sample")
    parser.add_argument("--n", type=int, default=10_000, help="images per call (default 10000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (best is shown)")
    args = parser.parse_args()

    from ganctl.tfsetup import import_tensorflow

    start = time.perf_counter()
    import_tensorflow()
    print(f"import TensorFlow            {time.perf_counter() - start:6.2f} s")

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        run = args.run or str(make_untrained_run(tmp_path))
        npz = tmp_path / "samples.npz"
        cmd = ["ganctl", "sample", "--ckpt", run, "--n", str(args.n), "--npz", str(npz)]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

        def cli() -> None:
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)

        best, times = best_of(args.repeat, cli)
        print(f"{' '.join(cmd[:2])} --n {args.n} --npz   {best:6.2f} s end to end "
              f"(best of {', '.join(f'{t:.2f}' for t in times)}; includes Python start-up and "
              "the TensorFlow import)")

        from ganctl.generation.inference import load_generator
        from ganctl.generation.latents import latents_from_seeds
        from ganctl.generation.sampling import compiled_generator, generate_samples

        seeds = list(range(args.n))
        start = time.perf_counter()
        loaded = load_generator(run)
        load_t = time.perf_counter() - start
        generate = compiled_generator(loaded.generator)
        start = time.perf_counter()
        generate(latents_from_seeds([0], loaded.cfg.latent_dim))
        trace_t = time.perf_counter() - start
        latents = latents_from_seeds(seeds, loaded.cfg.latent_dim)
        lat_t, _ = best_of(args.repeat, lambda: latents_from_seeds(seeds, loaded.cfg.latent_dim))
        gen_t, _ = best_of(args.repeat, lambda: generate(latents))
        def eager() -> list:  # the Keras model called directly, 1000 latents at a time
            return [loaded.generator(latents[i:i + 1000], training=False)
                    for i in range(0, len(latents), 1000)]

        eager_t, _ = best_of(args.repeat, eager)
        all_t, _ = best_of(args.repeat, lambda: generate_samples(generate, loaded.cfg.latent_dim,
                                                                  seeds))
    print(f"load generator + checkpoint  {load_t:6.2f} s")
    print(f"trace tf.function (once)     {trace_t:6.2f} s")
    print(f"latents_from_seeds           {lat_t:6.2f} s  ({args.n} seeds)")
    print(f"generator, compiled batches  {gen_t:6.2f} s  ({args.n / gen_t:,.0f} images/s)")
    print(f"generator, eager (reference) {eager_t:6.2f} s")
    print(f"core total (seeds -> uint8)  {all_t:6.2f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
