"""How long `ganctl evaluate --n N` takes end to end, cold and with the real data cached.

Each call is a fresh `ganctl evaluate` process (TensorFlow import included) with its own
feature cache in a temporary folder. Three cases are timed:

  cold              nothing cached: real features of N train and N test images (and of the
                    whole train split, for the memorisation check) are computed
  features cached   the real features come from the cache; the reference scores are computed
  all cached        real features and reference scores come from the cache (the usual case)

and the per-stage times of the best 'all cached' call are listed (from its --json report).
Without --run it scores a run folder holding an untrained MLP generator.

    python benchmarks/evaluate_speed.py --real /path/to/fashion-mnist
    python benchmarks/evaluate_speed.py --run /tmp/full/runs/f20 --real /path/to/fashion-mnist
"""

from __future__ import annotations

import argparse
import json
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
    from ganctl.tfsetup import import_tensorflow
    from ganctl.training.gan import GAN

    import_tensorflow()
    cfg = TrainConfig(name="bench", out=str(root), image_shape=(28, 28, 1), num_images=60000)
    run = RunFolder(root / "bench")
    run.write_config(cfg, {})
    gan = GAN(cfg)
    CheckpointStore(run.checkpoints).save(gan.checkpoint_objects(), epoch=0, step=0,
                                          complete=True)
    return run.root


def timed_evaluate(args: argparse.Namespace, run: str, cache: Path, report: Path
                   ) -> tuple[float, dict]:
    """Wall time of one `ganctl evaluate` process, and its JSON report."""
    command = [sys.executable, "-m", "ganctl", "evaluate", "--ckpt", run, "--n", str(args.n),
               "--json", str(report)]
    if args.real:
        command += ["--real", args.real]
    env = {**os.environ, "GANCTL_CACHE": str(cache)}
    start = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"ganctl evaluate failed: {done.stderr.strip()}")
    return seconds, json.loads(report.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run (name, folder or checkpoint) to evaluate")
    parser.add_argument("--real", help="folder of the four Fashion-MNIST IDX files "
                                       "(default: Keras' cache, as ganctl evaluate)")
    parser.add_argument("--n", type=int, default=10_000, help="images (default 10000)")
    parser.add_argument("--repeat", type=int, default=2, help="timed 'all cached' calls")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        run = args.run or str(make_untrained_run(tmp_path))
        cache, report_path = tmp_path / "cache", tmp_path / "report.json"
        cold, _ = timed_evaluate(args, run, cache, report_path)
        print(f"cold (computes real features)   {cold:6.1f} s", flush=True)
        for path in cache.glob("reference-*.json"):
            path.unlink()
        features_only, first = timed_evaluate(args, run, cache, report_path)
        print(f"real features cached            {features_only:6.1f} s", flush=True)
        runs = [timed_evaluate(args, run, cache, report_path) for _ in range(args.repeat)]
        best, report = min(runs, key=lambda r: r[0])
        print(f"features + reference cached     {best:6.1f} s  (best of "
              f"{', '.join(f'{t:.1f}' for t, _ in runs)})")
    print(f"\nstages ({args.n} images; the rest of a call is start-up, the TensorFlow import "
          "and loading the generator and the evaluator):")
    print(f"  {'':28s} {'features cached':>16s} {'all cached':>11s}")
    for key in first["seconds"]:
        print(f"  {key:28s} {first['seconds'][key]:14.3f} s "
              f"{report['seconds'].get(key, 0.0):9.3f} s")
    print(f"  {'sum of stages':28s} {sum(first['seconds'].values()):14.3f} s "
          f"{sum(report['seconds'].values()):9.3f} s")

if __name__ == "__main__":
    main()
