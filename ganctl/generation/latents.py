"""Latent-space math in numpy: seeds to latents, interpolation, walks, option parsing.

Each latent comes from its own seed, so a picture is named and reproduced by the seed
that made it, whatever else is in the batch and on whatever platform.
"""

from __future__ import annotations

import math
import numbers
import re

import numpy as np

from ganctl.errors import UsageError, check_positive

SEED_LIMIT = 2**32  # np.random.RandomState takes seeds in [0, 2**32)
MAX_SEEDS = 1_000_000  # a typo like 0-10000000 should fail fast, not fill memory
METHODS = ("slerp", "linear")
# The smallest truncation ψ: below it nearly every draw is rejected (ψ = 0.01 keeps 0.8%).
MIN_TRUNCATION = 0.01
_NUMBER = re.compile(r"[0-9]+")
_RANGE = re.compile(r"([0-9]+)\s*-\s*([0-9]+)")
_GRID = re.compile(r"\s*([0-9]+)\s*[xX×]\s*([0-9]+)\s*")
# below this sine of the angle two directions count as parallel; slerp's formula
# divides by it, so lerp (which agrees in the limit) takes over
_PARALLEL_SIN = 1e-6


def parse_seeds(text: str, option: str = "--seeds") -> list[int]:
    """Parse seeds like `0-63`, `1,5,9` or `1,5,9,20-23` into a list, in the order given.

    Ranges include both ends. Spaces are ignored. Each seed is a whole number in
    [0, 2**32); a seed may appear only once. Anything else raises a one-line UsageError.
    """
    expected = "expected seeds like 0-63 or 1,5,9,20-23"
    raw = "" if text is None else str(text)
    if not raw.strip():
        raise UsageError(f"empty {option}: {expected}")

    def bad(reason: str) -> UsageError:
        return UsageError(f"bad {option} '{raw.strip()}': {reason}")

    seeds: list[int] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            raise bad(f"an empty item between commas ({expected})")
        if _NUMBER.fullmatch(item):
            first = last = int(item)
        elif match := _RANGE.fullmatch(item):
            first, last = int(match[1]), int(match[2])
            if last < first:
                raise bad(f"a range must go up (use {last}-{first})")
        elif re.fullmatch(r"-\s*[0-9]+|[0-9]+\s*-\s*-\s*[0-9]+", item):
            raise bad(f"seeds are whole numbers >= 0, not negative ({expected})")
        else:
            raise bad(f"'{item}' is not a seed or a range ({expected})")
        if last >= SEED_LIMIT:
            raise bad(f"seeds must be below 2**32 = {SEED_LIMIT}")
        if len(seeds) + (last - first + 1) > MAX_SEEDS:
            raise bad(f"more than {MAX_SEEDS} seeds; ask for fewer")
        seeds.extend(range(first, last + 1))
    if len(set(seeds)) != len(seeds):
        seen: set[int] = set()
        for seed in seeds:
            if seed in seen:
                raise bad(f"seed {seed} is listed twice")
            seen.add(seed)
    return seeds


def check_truncation(psi: float | None, option: str = "--truncation") -> float | None:
    """Check a truncation ψ: None (no truncation) or a finite number >= `MIN_TRUNCATION`.

    ψ = 0 would ask every component to be exactly 0 (one picture for every seed) and resampling
    could never meet it; below `MIN_TRUNCATION` nearly every draw is rejected.
    """
    if psi is None:
        return None
    if isinstance(psi, bool) or not isinstance(psi, numbers.Real) or not math.isfinite(psi):
        raise UsageError(f"bad {option} {psi!r}: expected a positive number such as 0.7")
    if psi < 0:
        raise UsageError(f"bad {option} {psi:g}: ψ is a bound on |z| and cannot be negative; "
                         "try 0.5 to 1 (smaller: less variety, more typical images)")
    if psi == 0:
        raise UsageError(f"{option} 0 is refused: every latent would be all zeros, one picture "
                         f"for every seed; use a small positive ψ (at least {MIN_TRUNCATION:g}) "
                         "or leave the option out for no truncation")
    if psi < MIN_TRUNCATION:
        raise UsageError(f"{option} {psi:g} is below {MIN_TRUNCATION:g}: almost every draw "
                         "would be rejected; use a larger ψ")
    return float(psi)


def parse_truncations(text: str | None, option: str = "--truncation") -> list[float | None]:
    """`--truncation 0.5,1,1.5` as checked numbers, `none` meaning no truncation (to compare);
    no option gives [None]."""
    if text is None:
        return [None]
    values: list[float | None] = []
    for part in (p.strip() for p in str(text).split(",")):
        if part.lower() == "none":
            values.append(None)
            continue
        try:
            value = float(part)
        except ValueError:
            raise UsageError(f"bad {option} '{text}': expected numbers such as 0.7 or "
                             "0.5,1,1.5 (none: no truncation)") from None
        values.append(check_truncation(value, option))
    if len(set(values)) != len(values):
        raise UsageError(f"bad {option} '{text}': a value is listed twice")
    return values


def latents_from_seeds(seeds: list[int] | np.ndarray, latent_dim: int,
                       truncation: float | None = None) -> np.ndarray:
    """One standard-normal latent per seed, float32 [len(seeds), latent_dim].

    Row i is `np.random.RandomState(seeds[i]).standard_normal(latent_dim)`: the
    legacy RandomState stream is frozen by numpy, so it is the same on every platform
    and version, and a seed gives the same latent alone or in any batch.

    With `truncation` ψ (BigGAN's truncation trick, Brock et al. 2019), every component whose
    absolute value exceeds ψ is drawn again from the same seed's stream, continuing where it
    left off, until none does: each component is then a standard normal truncated to [-ψ, ψ],
    and seed s with ψ is still one fixed latent. Without it the latent is the plain draw.
    """
    check_positive("the latent size", latent_dim)
    psi = check_truncation(truncation, "truncation")
    rows = np.empty((len(seeds), int(latent_dim)), dtype=np.float32)
    # Re-seeding one RandomState gives the same numbers as a new RandomState(seed) (seed()
    # also clears the cached Gaussian) and is ~20x faster: the constructor first seeds
    # itself from OS entropy, about 1 ms, which dominated sampling 10,000 images.
    state = np.random.RandomState()
    for i, seed in enumerate(seeds):
        seed = int(seed)
        if not 0 <= seed < SEED_LIMIT:
            raise UsageError(f"bad seed {seed}: seeds are whole numbers in [0, 2**32)")
        state.seed(seed)
        z = state.standard_normal(int(latent_dim))
        if psi is not None:
            # Tested as stored (float32), so that no stored component exceeds ψ even where a
            # draw just below ψ would round up past it.
            outside = np.flatnonzero(np.abs(z.astype(np.float32)) > psi)
            while outside.size:
                z[outside] = state.standard_normal(outside.size)
                outside = outside[np.abs(z[outside].astype(np.float32)) > psi]
        rows[i] = z
    return rows


def _prepare(a: np.ndarray, b: np.ndarray, t: float | np.ndarray):
    """Common checks: float arrays of one shape, and t shaped to broadcast in front."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"cannot interpolate between shapes {a.shape} and {b.shape}")
    dtype = np.result_type(a.dtype, b.dtype, np.float32)
    if not np.issubdtype(dtype, np.floating):
        dtype = np.float64
    t = np.asarray(t, dtype=np.float64)
    t_b = t.reshape(t.shape + (1,) * a.ndim)
    return a.astype(np.float64), b.astype(np.float64), t_b, dtype


def lerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Straight-line interpolation (1 - t) a + t b; output shape t.shape + a.shape."""
    a64, b64, t_b, dtype = _prepare(a, b, t)
    return ((1.0 - t_b) * a64 + t_b * b64).astype(dtype)


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation; output shape t.shape + a.shape, vectors on the last axis.

    The direction moves along the great circle from a to b at constant angular speed
    and the length goes linearly from |a| to |b|, so Gaussian latents keep the norm
    the generator was trained on, where a straight line would cut through the
    low-density middle. Nearly parallel (or zero) vectors fall back to `lerp`.
    t = 0 gives a, t = 1 gives b, and t may lie outside [0, 1] to extrapolate.
    """
    a64, b64, t_b, dtype = _prepare(a, b, t)
    norm_a = np.linalg.norm(a64, axis=-1, keepdims=True)
    norm_b = np.linalg.norm(b64, axis=-1, keepdims=True)
    tiny = (norm_a == 0) | (norm_b == 0)
    unit_a = a64 / np.where(tiny, 1.0, norm_a)
    unit_b = b64 / np.where(tiny, 1.0, norm_b)
    cos = np.clip(np.sum(unit_a * unit_b, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    parallel = tiny | (sin < _PARALLEL_SIN)
    safe_sin = np.where(parallel, 1.0, sin)
    direction = (np.sin((1.0 - t_b) * omega) * unit_a + np.sin(t_b * omega) * unit_b) / safe_sin
    spherical = direction * ((1.0 - t_b) * norm_a + t_b * norm_b)
    straight = (1.0 - t_b) * a64 + t_b * b64
    return np.where(parallel, straight, spherical).astype(dtype)


_INTERPOLATORS = {"slerp": slerp, "linear": lerp}


def walk(keyframes: np.ndarray, frames_per_segment: int, method: str = "slerp") -> np.ndarray:
    """A closed loop through keyframes [..., K, d]: returns [..., K * F, d].

    Segment i runs from key i to key (i + 1) mod K at t = j / F for j = 0 .. F-1, so
    frame i * F is exactly key i, frame 0 is key 0, and the step from the last frame
    back to frame 0 is an ordinary step: played on repeat there is no jump or pause.
    `method` is 'slerp' (great circle, for Gaussian latents) or 'linear'.
    Leading axes are independent walks (for a grid of walks).
    """
    if method not in _INTERPOLATORS:
        raise UsageError(f"unknown interpolation method '{method}': use one of "
                         + ", ".join(METHODS))
    frames = frames_per_segment
    check_positive("frames per segment", frames)
    keys = np.asarray(keyframes)
    if keys.ndim < 2:
        raise ValueError(f"keyframes must be shaped [..., K, d], got {keys.shape}")
    if keys.shape[-2] < 2:
        raise UsageError(f"a walk needs at least 2 keyframes, got {keys.shape[-2]}")
    ts = np.arange(frames) / frames
    segments = _INTERPOLATORS[method](keys, np.roll(keys, -1, axis=-2), ts)  # [F, ..., K, d]
    segments = np.moveaxis(segments, 0, -2)  # [..., K, F, d]
    return segments.reshape(keys.shape[:-2] + (keys.shape[-2] * frames, keys.shape[-1]))


def parse_grid(text: str, option: str = "--grid") -> tuple[int, int]:
    """Parse 'ROWSxCOLS' (x, X or ×, spaces allowed), e.g. '3x4' -> (3, 4); both >= 1."""
    match = _GRID.fullmatch(str(text))
    if not match:
        raise UsageError(f"bad {option} '{text}': expected ROWSxCOLS such as 3x4")
    rows, cols = int(match[1]), int(match[2])
    if rows < 1 or cols < 1:
        raise UsageError(f"bad {option} '{text}': rows and columns must be at least 1")
    return rows, cols


def parse_pair(text: str, option: str = "--between") -> tuple[int, int]:
    """Parse two seeds 'A,B' (spaces allowed), e.g. '3,17' -> (3, 17)."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2 or not all(_NUMBER.fullmatch(p) for p in parts):
        raise UsageError(f"bad {option} '{text}': expected two seeds A,B such as 3,17")
    first, second = int(parts[0]), int(parts[1])
    if max(first, second) >= SEED_LIMIT:
        raise UsageError(f"bad {option} '{text}': seeds must be below 2**32 = {SEED_LIMIT}")
    return first, second
