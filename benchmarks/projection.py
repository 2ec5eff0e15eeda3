"""`ganctl project` measured (issue 24): the known answer, real test images, speed, and the
sweeps behind the defaults.

    nice -n 5 python benchmarks/projection.py known --run RUN [--n 100] [--json FILE]
    nice -n 5 python benchmarks/projection.py real --run RUN --data /work/shared/data/fashion-mnist
    nice -n 5 python benchmarks/projection.py speed --run RUN [--small 10] [--n 100]
    nice -n 5 python benchmarks/projection.py sweep --run RUN --n 20 --set lr=0.03,0.1 ...

known: targets are G(z*) as uint8 PNG pixels for seeds 100000..100000+n-1 (never among the
start seeds 0..63; a conditional run gives seed i class i mod 10), projected with the defaults;
PSNR against the target, and how many reach 30 dB.
real: the first n test images of an IDX folder (never trained on): end PSNR and perceptual
distance, against the best start seed's (`start`) and a random sample's (`floor`: seed 0 of the
generator, class 0 of a conditional run).
speed: the same targets projected at --batch 1 (the first --small of them) and --batch n, side
by side in one process; images/s of the projection call alone (the loop is compiled on a
first, untimed call).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def load(run: str):
    import ganctl
    from ganctl.evaluation.perceptual import run_evaluator

    g = ganctl.load(run)
    return g, run_evaluator(g.config)


def targets_known(g, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    from ganctl.images import to_uint8

    seeds = 100_000 + np.arange(n)
    z = g.latents(seeds)
    labels = (np.arange(n) % len(g.class_names)) if g.conditional else None
    return to_uint8(g.generate(z, labels)), labels


def targets_real(data: str, n: int) -> np.ndarray:
    from ganctl.data import load_idx_folder

    return load_idx_folder(Path(data), "test").x[:n]


def run_projection(g, ev, images_uint8, settings):
    from ganctl.data import scale_to_signed_unit
    from ganctl.generation.projection import project

    start = time.perf_counter()
    result = project(g.keras_model, scale_to_signed_unit(images_uint8), ev.feature_tensor,
                     g.latent_dim, settings, len(g.class_names))
    return result, time.perf_counter() - start


def quantiles(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, np.float64)
    return {q: round(float(np.percentile(x, p)), 3) for q, p in
            (("min", 0), ("p10", 10), ("median", 50), ("p90", 90), ("max", 100))}


def floor(g, ev, images_uint8) -> dict[str, np.ndarray]:
    """Distances of each target to a random sample (seed 0, class 0)."""
    from ganctl.data import scale_to_signed_unit
    from ganctl.generation.projection import psnr

    x = scale_to_signed_unit(images_uint8).astype(np.float64)
    sample = g.generate(g.latents([0]), [0] if g.conditional else None).astype(np.float64)
    pix = np.mean((x - sample) ** 2, axis=(1, 2, 3))
    fx, _ = ev.predict(x.astype(np.float32))
    fs, _ = ev.predict(sample.astype(np.float32))
    return {"psnr": psnr(pix), "perceptual": np.linalg.norm(fx - fs, axis=1)}


def picture(npz: str, out: str, pairs: int = 16) -> None:
    """Target | projection pairs, 4 to a row, at evenly spaced ranks of PSNR (best first), so
    the good and the bad cases both show."""
    from ganctl.images import make_grid, to_uint8, write_png

    data = np.load(npz)
    order = np.argsort(-data["psnr"])
    chosen = order[np.linspace(0, len(order) - 1, pairs).round().astype(int)]
    targets, projections = data["targets"][chosen], to_uint8(data["projections"][chosen])
    line = np.full((*targets.shape[:2], 1, targets.shape[3]), 128, np.uint8)
    tiles = np.concatenate([targets, line, projections], axis=2)
    write_png(out, make_grid(tiles, rows=pairs // 4, border=3, scale=3))
    print(f"wrote {out}: PSNR of the pairs shown, row by row:",
          " ".join(f"{data['psnr'][i]:.1f}" for i in chosen))


def main() -> None:
    from ganctl.generation.projection import ProjectionSettings

    p = argparse.ArgumentParser()
    p.add_argument("what", choices=("known", "real", "speed", "sweep", "picture"))
    p.add_argument("--run", default=None)
    p.add_argument("--npz", default=None, help="picture: the .npz that `real` wrote")
    p.add_argument("--out", default="docs/projection.png", help="picture: where to write it")
    p.add_argument("--data", default="/work/shared/data/fashion-mnist")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--small", type=int, default=10)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--set", action="append", default=[],
                   help="sweep: NAME=V1,V2 (a ProjectionSettings field), crossed")
    p.add_argument("--targets", choices=("known", "real"), default="known")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    if args.what == "picture":
        picture(args.npz, args.out)
        return
    g, ev = load(args.run)
    base = ProjectionSettings(batch=args.n)
    if args.steps:
        base = replace(base, steps=args.steps)
    if args.what != "sweep":  # --set NAME=V changes the settings of one measurement
        for item in args.set:
            name, value = item.split("=")
            base = replace(base, **{name: type(getattr(base, name))(value)})
    out: dict = {"run": args.run, "what": args.what, "n": args.n,
                 "load": os.getloadavg()[0], "settings": base.__dict__}
    if args.what == "known" or (args.what == "sweep" and args.targets == "known"):
        images, _ = targets_known(g, args.n)
    else:
        images = targets_real(args.data, args.n)
    if args.what == "known":
        result, secs = run_projection(g, ev, images, base)
        out.update(seconds=round(secs, 1), reached_30db=int(np.sum(result.end["psnr"] >= 30)),
                   psnr=quantiles(result.end["psnr"]), start_psnr=quantiles(result.start["psnr"]),
                   z_norm=quantiles(result.z_norm))
    elif args.what == "real":
        result, secs = run_projection(g, ev, images, base)
        fl = floor(g, ev, images)
        out.update(seconds=round(secs, 1))
        for key in ("psnr", "perceptual"):
            out[key] = {"end": quantiles(result.end[key]), "start (best seed)":
                        quantiles(result.start[key]), "floor (random sample)": quantiles(fl[key])}
        out["z_norm"] = quantiles(result.z_norm)
        out["end_better_than_start"] = int(np.sum(result.end["perceptual"]
                                                  < result.start["perceptual"]))
        np.savez(Path(args.json or "real").with_suffix(".npz"), targets=images,
                 projections=result.images, psnr=result.end["psnr"],
                 perceptual=result.end["perceptual"])
    elif args.what == "speed":
        small = images[:args.small]
        run_projection(g, ev, small[:2], replace(base, batch=1, steps=2))  # warm up
        run_projection(g, ev, images[:2], replace(base, steps=2))
        t1 = time.perf_counter()
        _, s1 = run_projection(g, ev, small, replace(base, batch=1))
        _, sn = run_projection(g, ev, images, base)
        out.update(batch1={"images": len(small), "seconds": round(s1, 1),
                           "images_per_s": round(len(small) / s1, 3)},
                   batchn={"batch": args.n, "images": len(images), "seconds": round(sn, 1),
                           "images_per_s": round(len(images) / sn, 3)},
                   wall=round(time.perf_counter() - t1, 1))
    else:
        grid = [{}]
        for item in args.set:
            name, values = item.split("=")
            grid = [{**c, name: type(getattr(base, name))(v)} for c in grid
                    for v in values.split(",")]
        rows = []
        for change in grid:
            result, secs = run_projection(g, ev, images, replace(base, **change))
            rows.append({**change, "seconds": round(secs, 1),
                         "psnr": quantiles(result.end["psnr"]),
                         "perceptual": quantiles(result.end["perceptual"]),
                         "reached_30db": int(np.sum(result.end["psnr"] >= 30)),
                         "z_norm_median": round(float(np.median(result.z_norm)), 3)})
            print(json.dumps(rows[-1]), flush=True)
        out["rows"] = rows
    out["load_end"] = os.getloadavg()[0]
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
