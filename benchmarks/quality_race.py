"""The quality race: every preset trained for the same wall-clock minutes, then scored alike.

Each preset (a `ganctl train --config` TOML file in `examples/`) is trained on the full
Fashion-MNIST for `--minutes` (default 10) by `ganctl train --minutes`, one after another, each
in a fresh process of this checkout's ganctl (`python -m ganctl`, so no TensorFlow state leaks
from one entry to the next). Epoch caps and in-training evaluation are switched off
(`--epochs` far away, `--eval-every 0`) so that the clock alone ends every entry and all of its
time goes into training. Each run is then scored by `ganctl evaluate` on `--n` (default 10,000)
images from seeds 0..n-1 with the shipped evaluator (the EMA generator where a run keeps one),
and the script prints one table: preset, epochs reached, images/s, FD, KID, precision, recall,
coverage, classes covered, and the same metrics for real test images (the reference row).

    python benchmarks/quality_race.py                                  # classic + examples/dcgan*.toml
    python benchmarks/quality_race.py --minutes 0.5 --n 2000           # a smoke check, ~5 minutes
    python benchmarks/quality_race.py --presets classic,dcgan-fast --json race.json

On a shared machine the entries run one after another, so load from other processes can favour
one entry; the header prints the CPU and the load average before and after each entry.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from shared_data import default_fashion_mnist

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
METRICS = "fd,kid,precision_recall,density_coverage,class_histogram"
# Table columns: (key in the evaluate report or the entry, header, format).
COLUMNS = (("epochs", "epochs", "{:.1f}"), ("images_per_s", "img/s", "{:.0f}"),
           ("fd", "FD", "{:.3f}"), ("kid", "KID", "{:.4f}"), ("precision", "precision", "{:.3f}"),
           ("recall", "recall", "{:.3f}"), ("coverage", "coverage", "{:.3f}"),
           ("classes_covered", "classes", "{:.0f}"))


# dcgan presets the race leaves out by default, and why.
NOT_RACED = {
    # Made for small colour folders; on Fashion-MNIST (60,000 images: `auto` keeps augmentation
    # off) it is dcgan-fast.toml, step for step.
    "dcgan-colour": "dcgan-fast with augmentation off",
}


def default_presets() -> list[Path]:
    """The classic MLP and every dcgan preset in examples/ but those in NOT_RACED."""
    return [EXAMPLES / "classic.toml",
            *sorted(p for p in EXAMPLES.glob("dcgan*.toml") if p.stem not in NOT_RACED)]


def resolve_preset(text: str) -> Path:
    """A preset given as a path or as a name in examples/ ('dcgan' -> examples/dcgan.toml)."""
    path = Path(text)
    if path.suffix != ".toml":
        path = EXAMPLES / f"{text}.toml"
    if not path.is_file():
        names = ", ".join(p.stem for p in sorted(EXAMPLES.glob("*.toml")))
        raise SystemExit(f"error: no preset {text!r} (examples/ has: {names})")
    return path


def cpu_description() -> str:
    """CPU model, core count and the vector ISA that matters for TensorFlow on this machine."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [name for name in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if name in flags]
    return f"{model}, {os.cpu_count()} cores, {' '.join(isa) or 'ISA unknown'}"


def load_average() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def ganctl(args: list[str], log: Path) -> None:
    """Run `python -m ganctl ARGS` from the repository root, its output into `log`."""
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ python -m ganctl {' '.join(args)}\n")
        out.flush()
        done = subprocess.run([sys.executable, "-m", "ganctl", *args], cwd=REPO, stdout=out,
                              stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`ganctl {args[0]}` exited with {done.returncode}; see {log}")


def run_entry(preset: Path, args: argparse.Namespace, out: Path) -> dict:
    """Train one preset for the budget, evaluate it, and return its row."""
    name = preset.stem
    log = out / f"{name}.log"
    log.unlink(missing_ok=True)
    row: dict = {"preset": name, "config": str(preset.relative_to(REPO)
                                               if preset.is_relative_to(REPO) else preset),
                 "load_before": load_average()}
    start = time.monotonic()
    ganctl(["train", "--config", str(preset), "--data", str(args.data), "--out", str(out),
            "--name", name, "--fresh", "--minutes", f"{args.minutes:g}", "--epochs", "100000",
            "--eval-every", "0", *args.train_arg], log)
    row["train_wall_s"] = round(time.monotonic() - start, 1)
    row["load_after"] = load_average()
    report_path = out / f"{name}.eval.json"
    ganctl(["evaluate", "--ckpt", str(out / name), "--real", str(args.data), "--n", str(args.n),
            "--metrics", METRICS, "--json", str(report_path)], log)
    report = json.loads(report_path.read_text())
    cfg = json.loads((out / name / "config.json").read_text())
    cfg = cfg.get("config", cfg)
    checkpoint = report["checkpoints"][-1]
    steps_per_epoch = cfg["num_images"] // cfg["batch_size"]
    row.update(arch=cfg["arch"], batch_size=cfg["batch_size"], step=checkpoint["step"],
               epochs=checkpoint["step"] / steps_per_epoch,
               images_per_s=checkpoint["step"] * cfg["batch_size"] / (60.0 * args.minutes),
               samples=str(out / name / "samples"), **checkpoint["metrics"])
    row["reference"] = report["reference"]
    return row


def fmt(value, spec: str) -> str:
    return "n/a" if value is None else spec.format(value)


def table(rows: list[dict]) -> str:
    """A Markdown table: one row per preset, then the real-data reference."""
    head = ["preset", *(title for _, title, _ in COLUMNS)]
    lines = [head]
    for row in rows:
        if "error" in row:
            lines.append([row["preset"], f"failed: {row['error']}"] + [""] * (len(COLUMNS) - 1))
        else:
            lines.append([row["preset"], *(fmt(row.get(k), f) for k, _, f in COLUMNS)])
    reference = next((r["reference"] for r in rows if "reference" in r), None)
    if reference:
        lines.append(["real test images", "", "", *(fmt(reference.get(k), f)
                                                    for k, _, f in COLUMNS[2:])])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
    text.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="training budget per preset, wall clock (default 10)")
    parser.add_argument("--presets", default=None,
                        help="comma-separated preset names in examples/ or .toml paths "
                             "(default: classic and every examples/dcgan*.toml but dcgan-colour)")
    parser.add_argument("--data", type=Path, default=default_fashion_mnist(),
                        help="folder of the four Fashion-MNIST IDX files (trained on, and the "
                             "real data the evaluator compares with)")
    parser.add_argument("--n", type=int, default=10_000, help="images per evaluation")
    parser.add_argument("--out", type=Path, default=Path("/tmp/quality_race"),
                        help="folder for the runs, their logs and evaluation reports")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    parser.add_argument("--train-arg", action="append", default=[],
                        help="extra `ganctl train` argument for every entry (repeatable), "
                             "e.g. --train-arg=--batch-size=64")
    args = parser.parse_args()
    if args.minutes <= 0 or args.n < 1:
        raise SystemExit("error: --minutes and --n must be positive")
    if not args.data.is_dir():
        raise SystemExit(f"error: no data folder {args.data}; pass --data with the four "
                         "Fashion-MNIST IDX files")
    presets = ([resolve_preset(p.strip()) for p in args.presets.split(",") if p.strip()]
               if args.presets else default_presets())
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"quality race: {args.minutes:g} minutes each, n = {args.n}, data {args.data}\n"
          f"CPU: {cpu_description()}\n"
          f"presets: {', '.join(p.stem for p in presets)}", flush=True)
    rows = []
    for preset in presets:
        print(f"[{time.strftime('%H:%M:%S')}] {preset.stem}: training {args.minutes:g} min, "
              f"then evaluating (load {load_average()})", flush=True)
        try:
            rows.append(run_entry(preset, args, args.out))
        except RuntimeError as exc:
            rows.append({"preset": preset.stem, "error": str(exc)})
            print(f"  {exc}", flush=True)
            continue
        row = rows[-1]
        print(f"  epochs {row['epochs']:.1f}, FD {row['fd']:.3f}, recall {row['recall']:.3f}, "
              f"classes {row['classes_covered']:.0f} (load {row['load_before']} -> "
              f"{row['load_after']})", flush=True)
    print()
    print(f"`python benchmarks/quality_race.py {' '.join(sys.argv[1:])}`".replace("  ", " "))
    print()
    print(table(rows))
    for row in rows:
        if "samples" in row:
            print(f"{row['preset']}: sample grids in {row['samples']}")
    if args.json:
        args.json.write_text(json.dumps({"minutes": args.minutes, "n": args.n,
                                         "cpu": cpu_description(), "rows": rows}, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
