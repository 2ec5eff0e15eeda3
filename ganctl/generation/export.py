"""`ganctl export`: a trained generator as files that other programs load without ganctl.

The folder holds the formats asked for (`converters`), `ganctl-export.json` (latent size,
classes, image shape and range, the seed-to-latent rule, versions, the run's config hash, and
each file's measured difference from `ganctl sample`), a README.md and, with ONNX, an
`example.py` that reproduces `ganctl sample --seeds 7` with numpy and onnxruntime alone.
It is written to a temporary folder beside the target and renamed into place, so an
interrupted export leaves no half-written folder.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganctl.errors import GanctlError, UsageError
from ganctl.events import Say, quiet
from ganctl.fsutil import file_sha256
from ganctl.generation import converters
from ganctl.generation.export_docs import example_py, readme_md, seed_rule
from ganctl.generation.latents import check_truncation, latents_from_seeds
from ganctl.generation.sampling import check_writable

# `g` below is a `ganctl.generation.api.Generator` (not imported: api imports this module).

FORMATS = ("savedmodel", "keras", "tflite", "onnx")
QUANTIZE = ("float16",)
FLOAT16 = "tflite-float16"  # the float16 TFLite file that --quantize float16 adds
FILES = {"savedmodel": "saved_model", "keras": "generator.keras", "tflite": "generator.tflite",
         "onnx": "generator.onnx", FLOAT16: "generator-float16.tflite"}
MANIFEST = "ganctl-export.json"
# What each format may differ from `ganctl sample` by (max abs, in [-1, 1]); export checks its
# files on CHECK_SEEDS and refuses one that is further off. float16 weights: measured, not held.
TOLERANCE = {"savedmodel": 1e-5, "keras": 1e-5, "tflite": 1e-4, "onnx": 1e-4}
CHECK_SEEDS = range(8)
# The packages each format needs beyond TensorFlow (module name: pip name).
NEEDS = {"onnx": {"tf2onnx": "tf2onnx", "onnx": "onnx", "onnxruntime": "onnxruntime"}}
INSTALL_EXTRA = 'pip install "ganctl[export]" (in a checkout: pip install -e ".[export]")'


class MissingExtraError(GanctlError):
    """A format needs packages of the `export` extra that are not installed."""


@dataclass(frozen=True)
class ExportPlan:
    """What to write where: checked options of `ganctl export`."""

    out: Path
    formats: tuple[str, ...]
    truncation: float | None = None
    quantize: str | None = None
    force: bool = False


@dataclass(frozen=True)
class ExportResult:
    """The folder written, each file by format, and each file's max |difference| from `sample`."""

    out: Path
    files: dict[str, Path]
    max_abs_diff: dict[str, float]
    manifest: dict[str, Any] = field(default_factory=dict)


def parse_formats(formats: str | Sequence[str]) -> tuple[str, ...]:
    """'onnx,tflite' or ['onnx', 'tflite'] as known format names, in FORMATS order."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    chosen = [str(f).strip().lower() for f in items if str(f).strip()]
    if not chosen:
        raise UsageError(f"no export format given; choose from {', '.join(FORMATS)}")
    for name in chosen:
        if name not in FORMATS:
            raise UsageError(f"unknown export format {name!r}; choose from {', '.join(FORMATS)} "
                             "(several: --format onnx,tflite)")
    return tuple(f for f in FORMATS if f in chosen)


def missing_packages(formats: Sequence[str]) -> dict[str, list[str]]:
    """For each format, the pip names of the packages it needs that are not installed."""
    missing = {}
    for fmt in formats:
        absent = [pip for module, pip in NEEDS.get(fmt, {}).items()
                  if importlib.util.find_spec(module) is None]
        if absent:
            missing[fmt] = absent
    return missing


def check_extras(formats: Sequence[str]) -> None:
    """Refuse, before any work, a format whose packages are not installed, naming the install."""
    missing = missing_packages(formats)
    if missing:
        fmt, absent = next(iter(missing.items()))
        raise MissingExtraError(f"--format {fmt} needs {', '.join(absent)}, not installed here: "
                                f"{INSTALL_EXTRA}")


def plan_export(out: str | Path, formats: str | Sequence[str] = ("savedmodel",),
                truncation: float | None = None, quantize: str | None = None,
                force: bool = False) -> ExportPlan:
    """Check the options of an export before any model loads."""
    chosen = parse_formats(formats)
    if quantize is not None:
        if quantize not in QUANTIZE:
            raise UsageError(f"unknown --quantize {quantize!r}; choose from {', '.join(QUANTIZE)}")
        if "tflite" not in chosen:
            raise UsageError("--quantize float16 applies to the tflite format; add tflite to "
                             "--format")
    psi = check_truncation(truncation)
    text = str(out)
    if not text.strip():
        raise UsageError("empty --out: pass the folder to export to, such as export/")
    path = Path(text).expanduser()
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise UsageError(f"--out {out} is a file; pass a folder to export to")
        if not force:
            raise UsageError(f"--out {out} already exists; pass --force to replace it, or "
                             "choose another folder")
    check_writable(path.parent, "the export to")
    check_extras(chosen)
    return ExportPlan(path, chosen, psi, quantize, force)


def export_generator(g: Any, plan: ExportPlan, say: Say = quiet) -> ExportResult:
    """Write `g` in the formats of `plan` into a temporary folder beside `plan.out`, check every
    file against `g` on seeds 0-7, write the manifest, README and example, then rename the
    folder into place (replacing an old one only with `plan.force`)."""
    plan.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{plan.out.name}.", suffix=".tmp", dir=plan.out.parent))
    try:
        files = _write_formats(g, plan, tmp, say)
        say("checking each file against ganctl sample")
        diffs = check_files(g, files, tmp, plan.truncation)
        manifest = build_manifest(g, plan, files, diffs)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(readme_md(manifest), encoding="utf-8")
        if "onnx" in files:
            (tmp / "example.py").write_text(example_py(manifest), encoding="utf-8")
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        _replace(tmp, plan.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(plan.out, {k: plan.out / v for k, v in files.items()}, diffs, manifest)


def _write_formats(g: Any, plan: ExportPlan, tmp: Path, say: Say) -> dict[str, str]:
    """Each format's file (or folder) in `tmp`, by format; relative names."""
    files: dict[str, str] = {}
    model = g.keras_model
    scratch = None
    if "savedmodel" in plan.formats or "tflite" in plan.formats:
        say("writing the SavedModel")
        saved = tmp / FILES["savedmodel"]
        if "savedmodel" not in plan.formats:  # only the converter's input
            scratch = Path(tempfile.mkdtemp(prefix=".savedmodel.", dir=tmp))
            saved = scratch / FILES["savedmodel"]
        converters.write_savedmodel(model, saved)
        if "savedmodel" in plan.formats:
            files["savedmodel"] = FILES["savedmodel"]
        if "tflite" in plan.formats:
            say("converting to TFLite")
            converters.write_tflite(saved, tmp / FILES["tflite"])
            files["tflite"] = FILES["tflite"]
            if plan.quantize == "float16":
                converters.write_tflite(saved, tmp / FILES[FLOAT16], quantize="float16")
                files[FLOAT16] = FILES[FLOAT16]
        if scratch is not None:
            shutil.rmtree(scratch)
    if "keras" in plan.formats:
        say("writing the .keras file")
        converters.write_keras(model, tmp / FILES["keras"])
        files["keras"] = FILES["keras"]
    if "onnx" in plan.formats:
        say("converting to ONNX")
        converters.write_onnx(model, tmp / FILES["onnx"])
        files["onnx"] = FILES["onnx"]
    return {fmt: files[fmt] for fmt in (*FORMATS, FLOAT16) if fmt in files}


def check_inputs(g: Any, seeds: Sequence[int], truncation: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Latents of `seeds` and, for a conditional run, labels cycling through its classes."""
    z = latents_from_seeds(list(seeds), g.latent_dim, truncation)
    labels = None
    if g.conditional:
        labels = (np.arange(len(z)) % len(g.class_names)).astype(np.int32)
    return z, labels


def check_files(g: Any, files: dict[str, str], root: Path,
                truncation: float | None = None) -> dict[str, float]:
    """Each file's max |difference| from `g.generate` on CHECK_SEEDS; a file past its format's
    TOLERANCE is an error (a converter that changed the model's meaning)."""
    z, labels = check_inputs(g, CHECK_SEEDS, truncation)
    expected = g.generate(z, labels)
    diffs = {}
    for fmt, name in files.items():
        # LiteRT's C++ runtime prints an INFO line on stderr as it starts; not for our users.
        with _native_stderr_muted() if fmt.startswith("tflite") else contextlib.nullcontext():
            run = converters.RUNNERS["tflite" if fmt == FLOAT16 else fmt](root / name)
            got = run(z, labels)["images"]
        diffs[fmt] = float(np.max(np.abs(got.astype(np.float64) - expected)))
        limit = TOLERANCE.get(fmt)
        if limit is not None and not diffs[fmt] <= limit:
            raise GanctlError(f"the {fmt} file differs from ganctl sample by {diffs[fmt]:.3g} "
                              f"(more than {limit:g}); the converter changed the model, so it "
                              "was not written")
    return diffs


def build_manifest(g: Any, plan: ExportPlan, files: dict[str, str],
                   diffs: dict[str, float]) -> dict[str, Any]:
    """What `ganctl-export.json` holds: everything a program needs to use the files."""
    import tensorflow as tf

    from ganctl import __version__

    h, w, c = g.image_shape
    inputs = {"z": f"float32 [batch, {g.latent_dim}]"}
    if g.conditional:
        inputs["labels"] = f"int32 [batch], class indices 0-{len(g.class_names) - 1}"
    return {
        "format": "ganctl-export 1",
        "ganctl_version": __version__,
        "tensorflow_version": tf.__version__,
        "run": str(g.loaded.run.root),
        "checkpoint": g.loaded.checkpoint.name,
        "epoch": int(g.loaded.checkpoint.epoch),
        "ema": g.ema,
        "config_sha256": file_sha256(g.loaded.run.config),
        "architecture": g.config.arch,
        "latent_dim": g.latent_dim,
        "conditional": g.conditional,
        "class_names": list(g.class_names),
        "image_shape": [h, w, c],
        "inputs": inputs,
        "outputs": {"images": f"float32 [batch, {h}, {w}, {c}] in [-1, 1]",
                    "images_uint8": f"uint8 [batch, {h}, {w}, {c}] = "
                                    "floor((clip(images, -1, 1) + 1) * 127.5 + 0.5)"},
        "value_range": [-1.0, 1.0],
        "truncation": plan.truncation,
        "seed_to_latent": seed_rule(g.latent_dim, plan.truncation),
        "files": {fmt: {"path": name, "max_abs_diff_vs_sample": diffs.get(fmt),
                        "tolerance": TOLERANCE.get(fmt)} for fmt, name in files.items()},
    }


def _replace(tmp: Path, out: Path) -> None:
    """Rename `tmp` to `out`; an existing `out` is first moved aside and then deleted."""
    old = None
    if out.exists() or out.is_symlink():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            with contextlib.suppress(OSError):
                os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _native_stderr_muted():
    """Send file descriptor 2 (where C++ libraries log) to /dev/null for the block; Python
    exceptions still propagate."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
