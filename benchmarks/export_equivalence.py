"""Every export format against `ganctl sample --npz`: max |difference| on seeds 0-63 (every class
of a conditional run), file size, and images/s at batch 1 and 64, side by side on this CPU.

    python benchmarks/export_equivalence.py --run mlp=runs/mlp --run dcgan28=runs/d28 ...
        [--fd-n 2000]   # also score float32 vs float16 TFLite images (FD, shipped evaluator)

Prints a Markdown table (and `uptime`, since the machine is shared). Each run is exported once
into a temporary folder with every format and --quantize float16.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FORMAT_ORDER = ("savedmodel", "keras", "tflite", "tflite-float16", "onnx")


def sample_npz(run: str, out: Path, conditional: bool) -> dict[str, np.ndarray]:
    """`ganctl sample --seeds 0-63 --npz` (with --class all for a conditional run), in-process."""
    from ganctl.cli import main

    args = ["sample", "--ckpt", run, "--seeds", "0-63", "--npz", str(out)]
    try:
        main(args + (["--class", "all"] if conditional else []))
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"ganctl {' '.join(args)} failed") from None
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def images_per_second(run, z: np.ndarray, labels: np.ndarray | None, batch: int,
                      seconds: float = 3.0) -> float:
    """Best of three timed windows of repeated calls on one batch (after a warm-up call)."""
    zb = z[:batch]
    lb = None if labels is None else labels[:batch]
    run(zb, lb)
    best = 0.0
    for _ in range(3):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            run(zb, lb)
            calls += 1
        best = max(best, calls * batch / (time.perf_counter() - start))
    return best


def fd_of(g, generate, n: int) -> float:
    """FD of `n` images from `generate` (seeds 0..n-1) against the run's own data, on the
    evaluator `ganctl evaluate` picks."""
    from ganctl.evaluation.evaluators import choose_evaluator
    from ganctl.evaluation.real import real_data_for_run
    from ganctl.evaluation.scoring import load_real_set, score_generator

    data = real_data_for_run(g.config, None)
    evaluator = choose_evaluator(data, "auto")
    real = load_real_set(evaluator, data, n, with_test=False)
    counts = tuple(g.config.class_counts) if g.conditional else ()
    return score_generator(generate, g.latent_dim, evaluator, real, ["fd"], n, 0, {},
                           counts).metrics["fd"]


def bench(name: str, run: str, fd_n: int) -> list[str]:
    import ganctl
    from ganctl.generation import converters
    from ganctl.generation.export import FILES, FORMATS

    g = ganctl.load(run)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "export"
        g.export(out, FORMATS, quantize="float16")
        ref = sample_npz(run, Path(tmp) / "s.npz", g.conditional)
        z, labels = ref["latents"], ref.get("labels")
        if labels is not None:
            labels = labels.astype(np.int32)
        shape = "x".join(map(str, g.image_shape))
        ganctl_speed = [images_per_second(lambda a, b: g.generate(a, b), z, labels, b)
                        for b in (1, 64)]
        rows.append(f"| {name} ({shape}{', cond' if g.conditional else ''}) | ganctl "
                    f"(sample's path) | - | - | {ganctl_speed[0]:.0f} | {ganctl_speed[1]:.0f} |")
        runners = {}
        for fmt in FORMAT_ORDER:
            path = out / FILES[fmt]
            run_fmt = converters.RUNNERS["tflite" if fmt.startswith("tflite") else fmt](path)
            runners[fmt] = run_fmt
            got = run_fmt(z, labels)["images"]
            diff = float(np.max(np.abs(got.astype(np.float64) - ref["outputs"])))
            speed = [images_per_second(lambda a, b, r=run_fmt: r(a, b), z, labels, b)
                     for b in (1, 64)]
            rows.append(f"| | {fmt} | {diff:.2g} | {size_of(path) / 1e6:.2f} MB | "
                        f"{speed[0]:.0f} | {speed[1]:.0f} |")
        if fd_n:
            def via(fmt):
                return lambda a, b=None: runners[fmt](a, b)["images"]
            fd32, fd16 = fd_of(g, via("tflite"), fd_n), fd_of(g, via("tflite-float16"), fd_n)
            rows.append(f"| | FD, n={fd_n}: tflite {fd32:.3f}, float16 {fd16:.3f} "
                        f"(change {fd16 - fd32:+.3f}) | | | | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, help="NAME=RUN (repeatable)")
    parser.add_argument("--fd-n", type=int, default=0, help="images for the float16 FD check")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from ganctl.tfsetup import import_tensorflow

    import_tensorflow()
    print("| run | format | max abs diff vs sample | size | img/s batch 1 | img/s batch 64 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for spec in args.run:
        name, run = spec.split("=", 1)
        for row in bench(name, run, args.fd_n):
            print(row, flush=True)
    print("\nuptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
