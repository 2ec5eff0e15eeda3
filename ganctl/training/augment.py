"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) of every image D sees.

With a few thousand images D soon memorises the training set and G's gradients stop meaning
anything. Augmenting real and fake images alike, inside the step and differentiably (G learns
through it), lets D see more without G learning the augmentations: samples never are augmented.
Grayscale: translation by up to 1/8 of the size (zero padding) and a cutout of half the size;
colour adds brightness, saturation and contrast. The randomness is stateless, from a seed the
step derives from its counter, so a resumed run augments exactly as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

TRANSLATION = 1 / 8
CUTOUT = 1 / 2
AUGMENTATIONS = ("colour", "translation", "cutout")  # what `--augment-policy` may list


def policy_for(channels: int, policy: str = "auto") -> tuple[str, ...]:
    """The augmentations for images of `channels` channels: those `policy` lists (comma
    separated, in AUGMENTATIONS), or for `auto` all of them (colour only for colour images)."""
    if policy == "auto":
        return AUGMENTATIONS if channels == 3 else ("translation", "cutout")
    return parse_policy(policy)


def parse_policy(policy: str) -> tuple[str, ...]:
    """The augmentations a comma-separated `policy` lists, in the order they are applied.

    Raises ValueError (one line, naming the choices) for an empty list or an unknown name.
    """
    names = [part.strip() for part in policy.split(",") if part.strip()]
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if not names or unknown:
        raise ValueError(f"--augment-policy {policy!r}: list one or more of "
                         f"{', '.join(AUGMENTATIONS)} (comma separated), or auto")
    return tuple(name for name in AUGMENTATIONS if name in names)


def diff_augment(x: Any, seed: Any, policy: tuple[str, ...], offset: Any = 0,
                 total: int | None = None, p: Any = None) -> Any:
    """Augment a batch `x` [n, h, w, c] in [-1, 1] with `policy`, drawn from `seed` (int [2]).

    The random parameters are drawn for `total` images (default n) and rows
    `offset:offset+n` are used, so that a batch split across replicas is augmented as a whole.
    `p` (a scalar, `--augment ada`): each augmentation of the policy is applied to an image with
    probability p, from draws of their own, so p = 1 augments exactly as None (always) does.
    """
    import tensorflow as tf

    n = int(x.shape[0])
    total = total or n
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 8)

    def uniform(i: int, shape: list[int], low: float = 0.0, high: float = 1.0) -> Any:
        values = tf.random.stateless_uniform([total, *shape], seeds[i], low, high)
        return values if n == total else values[offset:offset + n]

    def maybe(name: str, augmented: Any, x: Any) -> Any:
        if p is None:
            return augmented
        # seeds 5, 6, 7: whether each augmentation applies, apart from its parameters' seeds
        applies = uniform(5 + AUGMENTATIONS.index(name), [1, 1, 1]) < tf.cast(p, tf.float32)
        return tf.where(applies, augmented, x)

    if "colour" in policy:
        y = x + uniform(0, [1, 1, 1], -0.5, 0.5)  # brightness
        mean = tf.reduce_mean(y, axis=3, keepdims=True)
        y = (y - mean) * uniform(1, [1, 1, 1], 0.0, 2.0) + mean  # saturation
        mean = tf.reduce_mean(y, axis=[1, 2, 3], keepdims=True)
        y = (y - mean) * uniform(2, [1, 1, 1], 0.5, 1.5) + mean  # contrast
        x = maybe("colour", y, x)
    if "translation" in policy:
        x = maybe("translation", _translate(x, uniform(3, [2])), x)
    if "cutout" in policy:
        x = maybe("cutout", _cutout(x, uniform(4, [2])), x)
    return x


def _translate(x: Any, u: Any) -> Any:
    """Shift each image by whole pixels, up to TRANSLATION of its size each way, zero-filled."""
    import tensorflow as tf

    h, w = int(x.shape[1]), int(x.shape[2])
    sh, sw = int(h * TRANSLATION + 0.5), int(w * TRANSLATION + 0.5)
    # u in [0, 1) -> a shift in -s..s, uniformly
    dy = tf.cast(tf.floor(u[:, 0] * (2 * sh + 1)), tf.int32) - sh
    dx = tf.cast(tf.floor(u[:, 1] * (2 * sw + 1)), tf.int32) - sw
    padded = tf.pad(x, [[0, 0], [sh, sh], [sw, sw], [0, 0]])
    rows = tf.range(h)[None, :] + sh - dy[:, None]  # [n, h] rows of the padded image
    cols = tf.range(w)[None, :] + sw - dx[:, None]
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(out, cols, axis=2, batch_dims=1)


def _cutout(x: Any, u: Any) -> Any:
    """Zero a square of CUTOUT of the size at a random place in each image (it may be clipped)."""
    import tensorflow as tf

    h, w = int(x.shape[1]), int(x.shape[2])
    ch, cw = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    # the square's centre, anywhere in the image (DiffAugment's choice)
    cy = tf.cast(tf.floor(u[:, 0] * (h + (1 - ch % 2))), tf.int32)
    cx = tf.cast(tf.floor(u[:, 1] * (w + (1 - cw % 2))), tf.int32)
    ys = tf.range(h)[None, :] - (cy[:, None] - ch // 2)  # inside when 0 <= ys < ch
    xs = tf.range(w)[None, :] - (cx[:, None] - cw // 2)
    inside_y = tf.logical_and(ys >= 0, ys < ch)
    inside_x = tf.logical_and(xs >= 0, xs < cw)
    inside = tf.logical_and(inside_y[:, :, None], inside_x[:, None, :])  # [n, h, w]
    return x * tf.cast(tf.logical_not(inside), x.dtype)[..., None]
