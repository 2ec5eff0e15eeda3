"""Latent walks for `interpolate`: keyframe seeds, looping latent paths, and animation frames.

Keyframes are named by seeds, like sampled images: walk w of a grid (row-major) visits the
seeds `seed + w*K, ..., seed + w*K + K - 1` and loops back to the first, so a single walk
from `--seed 0 --points 4` passes exactly through the images `sample --seeds 0-3` draws.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganctl.errors import UsageError, check_positive
from ganctl.generation.latents import METHODS, SEED_LIMIT, latents_from_seeds, walk
from ganctl.generation.sampling import check_writable
from ganctl.images import ANIMATION_SUFFIXES, FFMPEG_MISSING, has_ffmpeg_plugin, make_grid, to_uint8

DEFAULT_POINTS = 4
DEFAULT_FRAMES = 24
DEFAULT_FPS = 24.0
DEFAULT_SCALE = 4  # a 28-pixel animation is a speck on screen
# Every frame of every walk is generated up front; past this a typo is likelier than intent.
MAX_IMAGES = 200_000


@dataclass(frozen=True)
class WalkPlan:
    """What `interpolate` renders: keyframe seeds [walks, K], frames per segment, layout."""

    key_seeds: np.ndarray  # int64 [rows * cols, K]
    frames: int
    method: str
    grid: tuple[int, int]

    @property
    def total_frames(self) -> int:
        """Frames of the animation: K keyframes x F frames, looping with no repeated frame."""
        return self.key_seeds.shape[1] * self.frames


def plan_walks(seed: int, points: int, frames: int, method: str = "slerp",
               grid: tuple[int, int] = (1, 1), between: tuple[int, int] | None = None
               ) -> WalkPlan:
    """Check the options and choose every walk's keyframe seeds.

    With `between=(a, b)` there is one walk a -> b -> a (two keyframes); otherwise walk w
    of the `grid` (row-major) uses seeds seed + w*points ... seed + w*points + points - 1.
    """
    if method not in METHODS:
        raise UsageError(f"unknown --method '{method}': use one of {', '.join(METHODS)}")
    check_positive("--frames", frames)
    check_positive("--points", points)
    rows, cols = grid
    if between is not None:
        if (rows, cols) != (1, 1):
            raise UsageError("--between makes one walk; it cannot be combined with --grid")
        if between[0] == between[1]:
            raise UsageError(f"--between {between[0]},{between[1]} names the same seed twice; "
                             "pick two different seeds")
        keys = np.array([between], np.int64)
    else:
        if points < 2:
            raise UsageError(f"bad --points {points}: a walk needs at least 2 keyframes")
        if seed < 0:
            raise UsageError(f"bad --seed {seed}: seeds are whole numbers >= 0")
        walks = rows * cols
        last = seed + walks * points - 1
        if last >= SEED_LIMIT:
            raise UsageError(f"--seed {seed} with {walks} walk(s) of {points} points needs seeds "
                             f"up to {last}, past the last seed 2**32 - 1; use a smaller --seed")
        keys = seed + np.arange(walks * points, dtype=np.int64).reshape(walks, points)
    plan = WalkPlan(keys, frames, method, (rows, cols))
    images = plan.total_frames * keys.shape[0]
    if images > MAX_IMAGES:
        raise UsageError(f"{images} images to generate ({keys.shape[0]} walk(s) x "
                         f"{plan.total_frames} frames) is more than {MAX_IMAGES}; use fewer "
                         "--frames, --points or a smaller --grid")
    return plan


def walk_latents(plan: WalkPlan, latent_dim: int, truncation: float | None = None) -> np.ndarray:
    """The latent of every frame of every walk, float32 [walks, K * F, latent_dim]; with
    `truncation` the keyframes are truncated latents (the frames between them are not
    resampled: `linear` keeps them inside [-ψ, ψ], `slerp` may step slightly outside)."""
    keys = latents_from_seeds(plan.key_seeds.ravel(), latent_dim, truncation)
    keys = keys.reshape(plan.key_seeds.shape + (latent_dim,))
    return walk(keys, plan.frames, plan.method).astype(np.float32)


def check_animation_target(out: str, fps: float) -> Path:
    """Check `--out` (.gif, or .mp4 with the ffmpeg plugin) and `--fps` before any work."""
    check_positive("--fps", fps, whole=False)
    path = Path(out).expanduser()
    suffix = path.suffix.lower()
    if suffix not in ANIMATION_SUFFIXES or path.name.startswith("."):
        allowed = " or ".join(ANIMATION_SUFFIXES)
        raise UsageError(f"cannot write an animation to '{path.name}': use a {allowed} file name")
    if path.is_dir():
        raise UsageError(f"--out {out} is a folder; pass a file name such as walk.gif")
    if suffix == ".mp4" and not has_ffmpeg_plugin():
        raise UsageError(FFMPEG_MISSING)
    check_writable(path.parent, "animation to")
    return path


def render_walks(plan: WalkPlan, generate: Callable[..., np.ndarray], latent_dim: int,
                 scale: int = 1, labels: Sequence[int] | None = None,
                 truncation: float | None = None) -> list[np.ndarray]:
    """Generate every frame and tile the walks into one uint8 picture per frame.

    One walk fills the frame edge to edge; a grid of walks is separated by 1-pixel lines.
    For a conditional generator, walk w stays in class `labels[w]`. The keyframes are the
    seeds' latents, truncated at ψ = `truncation` when given.
    """
    latents = walk_latents(plan, latent_dim, truncation)
    walks, steps = latents.shape[:2]
    flat = latents.reshape(walks * steps, latent_dim)
    if labels is None:
        outputs = generate(flat)
    else:
        outputs = generate(flat, np.repeat(np.asarray(labels, np.int64), steps))
    return _tile(to_uint8(outputs).reshape(walks, steps, *outputs.shape[1:]), plan.grid, scale)


def _tile(images: np.ndarray, grid: tuple[int, int], scale: int) -> list[np.ndarray]:
    """Frames from images [walks, steps, h, w, c]: the walks of a step side by side."""
    walks, steps = images.shape[:2]
    border = 0 if walks == 1 else 1
    return [make_grid(images[:, t], rows=grid[0], border=border, scale=scale)
            for t in range(steps)]


# --- morphing between classes ----------------------------------------------------------------------

@dataclass(frozen=True)
class ClassMorphPlan:
    """`interpolate --classes`: a loop through class codes at fixed latents, one per walk."""

    classes: tuple[int, ...]  # keyframe classes, looped back to the first
    seeds: np.ndarray  # int64 [walks]: walk w's latent
    frames: int
    method: str
    grid: tuple[int, int]

    @property
    def total_frames(self) -> int:
        return len(self.classes) * self.frames


def plan_class_morph(classes: Sequence[int], seed: int, frames: int, method: str = "slerp",
                     grid: tuple[int, int] = (1, 1)) -> ClassMorphPlan:
    """Check the options of a class morph; walk w of the `grid` (row-major) keeps the latent of
    seed `seed + w`."""
    if method not in METHODS:
        raise UsageError(f"unknown --method '{method}': use one of {', '.join(METHODS)}")
    if frames < 1:
        raise UsageError(f"bad --frames {frames}: expected a whole number >= 1")
    if len(classes) < 2:
        raise UsageError("--classes needs at least two classes to morph between, e.g. "
                         "--classes sneaker,sandal")
    walks = grid[0] * grid[1]
    if seed < 0 or seed + walks - 1 >= SEED_LIMIT:
        raise UsageError(f"bad --seed {seed}: the walks need seeds {seed}..{seed + walks - 1}, "
                         "whole numbers below 2**32")
    plan = ClassMorphPlan(tuple(classes), seed + np.arange(walks, dtype=np.int64), frames,
                          method, grid)
    if plan.total_frames * walks > MAX_IMAGES:
        raise UsageError(f"{plan.total_frames * walks} images to generate is more than "
                         f"{MAX_IMAGES}; use fewer --frames, classes or a smaller --grid")
    return plan


def render_class_morph(plan: ClassMorphPlan, generate_body: Callable[..., np.ndarray],
                       codes: np.ndarray, latent_dim: int, scale: int = 1,
                       truncation: float | None = None) -> list[np.ndarray]:
    """Frames of the morph: the generator's body (`generate_body(latents, codes)`) at each
    walk's fixed latent, its class code moving from each keyframe class's code (`codes`
    [classes, e], the rows of `plan.classes`) to the next by slerp or linear steps."""
    keys = np.asarray(codes, np.float64)[list(plan.classes)]
    path = walk(keys, plan.frames, plan.method).astype(np.float32)  # [steps, e]
    walks, steps = len(plan.seeds), len(path)
    latents = np.repeat(latents_from_seeds(plan.seeds, latent_dim, truncation), steps, axis=0)
    outputs = generate_body(latents, np.tile(path, (walks, 1)))
    return _tile(to_uint8(outputs).reshape(walks, steps, *outputs.shape[1:]), plan.grid, scale)


# --- walking through given latents (projections of real images) ---------------------------------

def render_keyframe_walk(keys: np.ndarray, frames: int, method: str,
                         generate: Callable[..., np.ndarray], scale: int = 1,
                         labels: Sequence[int] | None = None,
                         body: Callable[..., np.ndarray] | None = None,
                         codes: np.ndarray | None = None) -> list[np.ndarray]:
    """One looping walk through the latents `keys` [K, d] (`interpolate --between a.png,b.png`:
    the projections of real images), with the frames, loop and method of the seed walks:
    frame k * `frames` is keyframe k exactly.

    A conditional generator stays in one class (`labels`, all equal) through
    `generate(latents, labels)`; keyframes of different classes move their class codes
    (`codes` [K, e]) along with the latents through the generator's `body(latents, codes)`.
    """
    if method not in METHODS:
        raise UsageError(f"unknown --method '{method}': use one of {', '.join(METHODS)}")
    check_positive("--frames", frames)
    path = walk(np.asarray(keys, np.float64)[None], frames, method)[0].astype(np.float32)
    if codes is not None:
        if body is None:
            raise ValueError("walking class codes needs the generator's body")
        code_path = walk(np.asarray(codes, np.float64)[None], frames, method)[0]
        outputs = body(path, code_path.astype(np.float32))
    elif labels is not None:
        outputs = generate(path, np.full(len(path), labels[0], np.int64))
    else:
        outputs = generate(path)
    return _tile(to_uint8(outputs)[None], (1, 1), scale)
