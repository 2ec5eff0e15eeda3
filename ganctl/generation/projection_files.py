"""The files of `ganctl project`: target images read as training reads data (the run's size,
channels, --resize and alpha handling), and what a projection writes (NAME.png, NAME.npz,
NAME.gif, project.json); and reading a projection's NAME.npz back (`interpolate --between`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganctl.config import TrainConfig
from ganctl.datacache import IMAGE_SUFFIXES, list_folder
from ganctl.decode import Squaring, decode_file, parse_colour
from ganctl.errors import UsageError
from ganctl.fsutil import atomic_path, atomic_write_json
from ganctl.images import make_grid, to_uint8, write_gif, write_png

GIF_FPS = 10.0
LOOKED_FOR = ", ".join(sorted(IMAGE_SUFFIXES))


@dataclass(frozen=True)
class Targets:
    """Images to project: uint8 [n, h, w, c] as training reads them, a unique name (the output
    files' stem) and the file each came from."""

    images: np.ndarray
    names: list[str]
    sources: list[str]


def squaring_for(cfg: TrainConfig) -> Squaring:
    """How training made the run's images from files: size, channels, --resize, --pad-colour."""
    h, _, c = cfg.image_shape
    pad = parse_colour(cfg.pad_colour) if cfg.pad_colour else None
    return Squaring(int(h), int(c), cfg.resize, pad, cfg.max_image_pixels)


def image_files(specs: Sequence[str]) -> list[Path]:
    """The image files that `specs` name: files as given, folders searched recursively."""
    files: list[Path] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            listing = list_folder(path)
            if not listing.files:
                raise UsageError(f"no images in folder {spec} (looked for {LOOKED_FOR}; "
                                 f"{listing.others} other files)")
            files += [Path(p) for p in listing.paths()]
        elif not path.exists():
            raise UsageError(f"no such image: {spec}")
        else:
            files.append(path)
    return files


def load_targets(specs: Sequence[str], cfg: TrainConfig) -> Targets:
    """Read the images `specs` name (files or folders) as the run's training read its data."""
    how = squaring_for(cfg)
    images, names, sources = [], [], []
    seen: dict[str, int] = {}
    for path in image_files(specs):
        decoded = decode_file(path, how)
        if isinstance(decoded, str):
            raise UsageError(f"cannot read image {path}: {decoded} (expected one of "
                             f"{LOOKED_FOR})")
        stem = path.stem or "image"
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
        images.append(decoded)
        sources.append(str(path))
    if not images:
        raise UsageError("no images to project: pass image files or folders")
    return Targets(np.stack(images), names, sources)


def side_by_side(target: np.ndarray, projection: np.ndarray, scale: int) -> np.ndarray:
    """uint8 target | projection, a 1-pixel gray line between them, each pixel scale x scale."""
    line = np.full((target.shape[0], 1, target.shape[2]), 128, np.uint8)
    pair = np.concatenate([target, line, projection], axis=1)
    return make_grid(pair[None], rows=1, border=0, scale=scale)


def write_projection(out: Path, targets: Targets, result: Any, class_names: Sequence[str],
                     scale: int, summary: dict[str, Any]) -> dict[str, Any]:
    """Write NAME.png, NAME.npz (and NAME.gif when the result kept frames) per target, and
    project.json (`summary` plus a row per image); returns what project.json holds."""
    out.mkdir(parents=True, exist_ok=True)
    projected = to_uint8(result.images)
    rows = []
    for i, name in enumerate(targets.names):
        write_png(out / f"{name}.png", side_by_side(targets.images[i], projected[i], scale))
        label = None if result.labels is None else int(result.labels[i])
        with atomic_path(out / f"{name}.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, z=result.latents[i], label=np.int64(-1 if label is None else label),
                         start_seed=result.start_seeds[i], z_norm=result.z_norm[i],
                         **{f"{when}_{key}": values[key][i] for when, values in
                            (("start", result.start), ("end", result.end))
                            for key in ("perceptual", "pixel", "psnr")})
        if result.frames is not None:
            frames = to_uint8(result.frames[:, i])
            pictures = [side_by_side(targets.images[i], f, scale) for f in frames]
            write_gif(out / f"{name}.gif", pictures + [pictures[-1]] * 10, GIF_FPS)
        rows.append({
            "name": name, "source": targets.sources[i],
            "class": None if label is None else class_names[label],
            "psnr": _num(result.end["psnr"][i]),
            "perceptual": _num(result.end["perceptual"][i]),
            "start_psnr": _num(result.start["psnr"][i]),
            "start_perceptual": _num(result.start["perceptual"][i]),
            "start_seed": int(result.start_seeds[i]), "z_norm": _num(result.z_norm[i])})
    report = {**summary, "images": rows}
    atomic_write_json(out / "project.json", report)
    return report


def _num(value: Any) -> float | None:
    value = float(value)
    return round(value, 5) if np.isfinite(value) else None


def read_projection(path: str | os.PathLike, latent_dim: int) -> tuple[np.ndarray, int | None]:
    """(z, class or None) from a NAME.npz that `ganctl project` wrote."""
    try:
        with np.load(path, allow_pickle=False) as data:
            z = np.asarray(data["z"], np.float32)
            label = int(data["label"]) if "label" in data else -1
    except (OSError, ValueError, KeyError):
        raise UsageError(f"{path} is not a projection (.npz from ganctl project with z and "
                         "label)") from None
    if z.shape != (latent_dim,):
        raise UsageError(f"{path} holds a latent of shape {z.shape}, but this run's latents have "
                         f"{latent_dim} values: it was projected into another run")
    return z, None if label < 0 else label
