"""Snapshot overhead: the share of a training run's wall time spent outside training.

Trains through ganctl's own core (plan_training / run_training, default callbacks, XLA on, as
`ganctl train` runs) and times every compiled training call. Everything else inside the training
loop is overhead: sample grids, progress.gif, checkpoints, metrics.jsonl, TensorBoard, events.
Per epoch, overhead = the time between two epoch ends less the training calls in between; the
first and the last 50 epochs are compared to show whether it grows with the run.

Cases: `small` (300 epochs of a 3,000-image folder, the MLP), `full` (the full Fashion-MNIST,
the MLP) and `dcgan` (the full Fashion-MNIST with examples/dcgan-fast.toml). Where the code
reports it (`EpochDone.timings`, the training loop's own timer), each snapshot's time is also
broken down by part: grid, PNG, GIF frame, TensorBoard, metrics.jsonl, checkpoint, index.json.

Each case runs in its own process, one after the other. The figures are shares and ratios
within one process (the machine may be shared), not absolute speeds.

    python scripts/make_image_folders.py fashion /tmp/fashion3k --n 3000
    nice -n 5 python benchmarks/snapshot_overhead.py                # small folder + Fashion-MNIST
    nice -n 5 python benchmarks/snapshot_overhead.py --cases small --small-every 1ep
    python benchmarks/snapshot_overhead.py --cases full,dcgan       # Fashion-MNIST, MLP and dcgan
    python benchmarks/snapshot_overhead.py --cases full,dcgan --full-every 1ep  # a breakdown per epoch
    python benchmarks/snapshot_overhead.py --json /tmp/overhead.json

`--ganctl DIR` times another checkout (e.g. `git worktree add /tmp/before main`), so that the
code before a change can be measured the same way (it ignores --small-every / --full-every when
that code has no --snapshot-every).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shared_data import default_fashion_mnist

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SMALL = Path("/tmp/fashion3k")
DEFAULT_FULL = default_fashion_mnist()
DCGAN_CONFIG = REPO / "examples" / "dcgan-fast.toml"
WINDOW = 50
# The labels for the parts that EpochDone.timings names
PARTS = {"grid": "64-image grid (G forward, uint8, tiling)", "grid png": "grid PNG write",
         "gif": "progress.gif append", "tensorboard image": "TensorBoard image",
         "tensorboard flush": "TensorBoard flush", "TensorBoard.on_epoch_end": "TensorBoard scalars",
         "metrics.jsonl": "metrics.jsonl line (fsync)", "checkpoint": "checkpoint write",
         "index.json": "index.json (and pruning)"}


def measure(data: str, epochs: int, every: str | None, out: Path,
            config: str | None = None) -> dict:
    """Train one run in this process and return its timings."""
    from ganctl.events import EpochDone, TrainStarted
    from ganctl.tfsetup import import_tensorflow
    from ganctl.training.gan import GAN
    from ganctl.training.loop import plan_training, run_training

    import_tensorflow()
    train_s: list[float] = []
    train_cpu: list[float] = []  # the process's CPU seconds, all threads
    real = GAN.train_steps

    def timed(self, order, start, count):
        t, c = time.perf_counter(), time.process_time()
        sums = real(self, order, start, count)  # numpy: the device has finished
        train_s.append(time.perf_counter() - t)
        train_cpu.append(time.process_time() - c)
        return sums

    GAN.train_steps = timed
    # (time, CPU time, training calls so far, snapshot)
    marks: list[tuple[float, float, int, bool]] = []
    parts: list[dict | None] = []  # per epoch: {part: [wall, cpu]}, where the code reports it

    def emit(event) -> None:
        if isinstance(event, TrainStarted | EpochDone):
            marks.append((time.perf_counter(), time.process_time(), len(train_s),
                          getattr(event, "snapshot", True)))
        if isinstance(event, EpochDone):
            timings = getattr(event, "timings", None)  # code before issue 20 has none
            parts.append(None if timings is None else
                         {k: [v, timings.cpu.get(k, 0.0)] for k, v in timings.wall.items()})

    options = dict(data=data, epochs=epochs, out=str(out), name="bench")
    if every is not None:
        options["snapshot_every"] = every
    t0 = time.perf_counter()
    plan = plan_training(options, config)
    setup = time.perf_counter() - t0
    t1 = time.perf_counter()
    run_training(plan, emit=emit)
    wall = time.perf_counter() - marks[0][0]  # from the start of the training loop
    total = time.perf_counter() - t1
    per_epoch = []
    for (t_a, c_a, n_a, _), (t_b, c_b, n_b, snap), epoch_parts in zip(marks, marks[1:], parts,
                                                                     strict=False):
        trained = sum(train_s[n_a:n_b])
        per_epoch.append({"wall": t_b - t_a, "train": trained, "overhead": t_b - t_a - trained,
                          "cpu": c_b - c_a, "train_cpu": sum(train_cpu[n_a:n_b]),
                          "snapshot": bool(snap), "parts": epoch_parts})
    gif = plan.run.progress_gif
    frames = 0
    if gif.is_file():
        from PIL import Image

        with Image.open(gif) as im:
            frames = im.n_frames
    return {"data": data, "config": config, "arch": plan.cfg.arch, "epochs": epochs,
            "snapshot_every": every,
            "images_per_epoch": plan.cfg.num_images, "setup_s": setup,
            "run_training_s": total, "loop_wall_s": wall, "train_s": sum(train_s),
            "per_epoch": per_epoch, "gif_bytes": gif.stat().st_size if gif.is_file() else 0,
            "gif_frames": frames, "grids": len(list(plan.run.samples.glob("epoch_*.png"))),
            "checkpoints_kept": len(list(plan.run.checkpoints.glob("ckpt-*.index")))}


def summary(r: dict) -> dict:
    """Overhead share of the loop, first/last WINDOW epochs, snapshot counts."""
    epochs = r["per_epoch"]
    window = min(WINDOW, len(epochs) // 2) or 1
    first, last = epochs[:window], epochs[-window:]

    def share(rows):
        wall = sum(e["wall"] for e in rows)
        return sum(e["overhead"] for e in rows) / wall if wall else 0.0

    def cpu_share(rows):
        cpu = sum(e.get("cpu", 0.0) for e in rows)
        return sum(e["cpu"] - e["train_cpu"] for e in rows) / cpu if cpu else 0.0

    snaps = [e for e in epochs if e["snapshot"]]
    plain = [e for e in epochs if not e["snapshot"]]
    # The steady state: the epochs after the first snapshot, which pays one-off costs (tracing
    # the grid's generator and TensorBoard's ops, the first checkpoint save)
    first_snap = next((i for i, e in enumerate(epochs) if e["snapshot"]), len(epochs))
    return {
        "overhead_share": (r["loop_wall_s"] - r["train_s"]) / r["loop_wall_s"],
        # without epoch 1, whose training calls include compiling the step (XLA)
        "overhead_share_after_1": share(epochs[1:]),
        # the same in CPU seconds, which a busy machine stretches less than wall seconds
        "cpu_overhead_share_after_1": cpu_share(epochs[1:]),
        "steady_epochs": len(epochs) - first_snap - 1,
        "steady_share": share(epochs[first_snap + 1:]),
        "window": window,
        "first_overhead_s": sum(e["overhead"] for e in first),
        "last_overhead_s": sum(e["overhead"] for e in last),
        "first_share": share(first), "last_share": share(last),
        "snapshots": len(snaps),
        "snapshot_overhead_s": (sum(e["overhead"] for e in snaps) / len(snaps)) if snaps else 0.0,
        "plain_overhead_s": (sum(e["overhead"] for e in plain) / len(plain)) if plain else 0.0,
        "train_per_epoch_s": r["train_s"] / max(len(epochs), 1),
        "parts": breakdown(r),
    }


def breakdown(r: dict) -> dict:
    """Each part's wall and CPU seconds at the first snapshot (one-off costs: tracing the grid's
    generator, opening TensorBoard's file) and the median over the later snapshot epochs."""
    snaps = [e["parts"] for e in r["per_epoch"] if e["snapshot"] and e.get("parts")]
    if not snaps:
        return {}
    later = snaps[1:] or snaps
    names = [n for n in snaps[-1] if not n.endswith(".on_epoch_end") or n in PARTS]
    out = {}
    for name in names:
        out[name] = {"first": snaps[0].get(name, [0.0, 0.0]),
                     "median_wall": statistics.median(e.get(name, [0.0, 0.0])[0] for e in later),
                     "median_cpu": statistics.median(e.get(name, [0.0, 0.0])[1] for e in later),
                     "n": len(later)}
    total = {"first": [sum(snaps[0].get(n, [0.0, 0.0])[i] for n in names) for i in (0, 1)],
             "median_wall": statistics.median(sum(e.get(n, [0.0, 0.0])[0] for n in names)
                                              for e in later),
             "median_cpu": statistics.median(sum(e.get(n, [0.0, 0.0])[1] for n in names)
                                             for e in later),
             "n": len(later)}
    return {**out, "total": total}


def report(name: str, r: dict) -> str:
    s = summary(r)
    every = r["snapshot_every"] or "(default)"
    w = s["window"]
    config = f", --config {Path(r['config']).name}" if r.get("config") else ""
    lines = [f"  {'part':42s} {'median ms':>10s} {'CPU ms':>8s}   first snapshot ms (CPU)"]
    for part, v in s["parts"].items():
        label = "total" if part == "total" else PARTS.get(part, part)
        lines.append(f"  {label:42s} {1000 * v['median_wall']:10.1f} {1000 * v['median_cpu']:8.1f}"
                     f"   {1000 * v['first'][0]:8.1f} ({1000 * v['first'][1]:.1f})")
    if s["parts"]:
        lines[0] += f"; medians of {s['parts']['total']['n']} later snapshots"
    return "\n".join([
        f"{name}: {r.get('arch', 'mlp')}{config}, {r['epochs']} epochs of "
        f"{r['images_per_epoch']:,} images, --snapshot-every {every}",
        f"  loop wall {r['loop_wall_s']:.1f} s, training calls {r['train_s']:.1f} s: "
        f"{100 * s['overhead_share']:.1f}% outside training, "
        f"{100 * s['overhead_share_after_1']:.1f}% after epoch 1 (which compiles the step; "
        f"setup before the loop {r['setup_s']:.1f} s, not counted)"
        + (f"; in CPU seconds {100 * s['cpu_overhead_share_after_1']:.1f}% after epoch 1"
           if "cpu" in r["per_epoch"][0] else ""),
        f"  after the first snapshot (one-off costs), {s['steady_epochs']} epochs: "
        f"{100 * s['steady_share']:.1f}% outside training",
        f"  overhead first {w} epochs {s['first_overhead_s']:.2f} s "
        f"({100 * s['first_share']:.1f}%), last {w} {s['last_overhead_s']:.2f} s "
        f"({100 * s['last_share']:.1f}%)",
        f"  {s['snapshots']} snapshots, {s['snapshot_overhead_s'] * 1000:.0f} ms overhead per "
        f"snapshot epoch, {s['plain_overhead_s'] * 1000:.1f} ms per other epoch; training "
        f"{s['train_per_epoch_s']:.2f} s per epoch",
        f"  progress.gif {r['gif_bytes'] / 1e6:.2f} MB, {r['gif_frames']} frames; "
        f"{r['grids']} grids in samples/, {r['checkpoints_kept']} checkpoints kept",
        *(lines if s["parts"] else []),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="small,full", help="small, full or both (comma list)")
    parser.add_argument("--small", type=Path, default=DEFAULT_SMALL, help="an image folder")
    parser.add_argument("--small-epochs", type=int, default=300)
    parser.add_argument("--small-every", default=None, help="--snapshot-every for the small case")
    parser.add_argument("--full", type=Path, default=DEFAULT_FULL, help="Fashion-MNIST IDX files")
    parser.add_argument("--full-epochs", type=int, default=3,
                        help="epochs of the full and dcgan cases")
    parser.add_argument("--full-every", default=None,
                        help="--snapshot-every for the full and dcgan cases")
    parser.add_argument("--ganctl", type=Path, default=REPO, help="the checkout to time")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)  # data epochs every out config
    parser.add_argument("--report", type=Path, help="print the report of a --json file and exit")
    args = parser.parse_args()

    if args.report:
        for name, r in json.loads(args.report.read_text()).items():
            print(report(name, r))
        return
    if args.one:  # a child process: one case, JSON on stdout
        data, epochs, every, out, config = args.one
        print(json.dumps(measure(data, int(epochs), None if every == "-" else every, Path(out),
                                 None if config == "-" else config)))
        return

    if not args.small.is_dir() and "small" in args.cases:
        raise SystemExit(f"{args.small} is missing: python scripts/make_image_folders.py fashion "
                         f"{args.small} --n 3000")
    cases = {"small": (args.small, args.small_epochs, args.small_every, None),
             "full": (args.full, args.full_epochs, args.full_every, None),
             "dcgan": (args.full, args.full_epochs, args.full_every, DCGAN_CONFIG)}
    results = {}
    env = {**os.environ, "PYTHONPATH": str(args.ganctl), "TF_CPP_MIN_LOG_LEVEL": "2"}
    print(f"load average {os.getloadavg()[0]:.1f} at the start ({os.cpu_count()} CPUs)",
          flush=True)
    for name in args.cases.split(","):
        data, epochs, every, config = cases[name]
        with tempfile.TemporaryDirectory(prefix="snapshot_overhead_") as out:
            proc = subprocess.run(
                [sys.executable, __file__, "--one", str(data), str(epochs), every or "-", out,
                 str(config) if config else "-"],
                env=env, cwd=args.ganctl, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        results[name]["load_after"] = os.getloadavg()[0]
        print(report(name, results[name]), flush=True)
        print(f"  load average {results[name]['load_after']:.1f} at the end", flush=True)
        if args.json:  # after each case, so that a failure later keeps the figures so far
            args.json.write_text(json.dumps({k: {**v, "summary": summary(v)} for k, v in
                                             results.items()}, indent=1))


if __name__ == "__main__":
    main()
