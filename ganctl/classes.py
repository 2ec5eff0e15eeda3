"""Classes of labelled data: their names, their frequencies, and `--class` parsing.

Labels are integers 0..k-1 (IDX label files, an .npz's `y`, or the sorted sub-folder names of
an image folder). Names come from the folders, from an .npz's `names` array, from Fashion-MNIST's
ten names when the data is Fashion-MNIST, and are the indices themselves otherwise (MNIST's
digits are their own names).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ganctl.errors import UsageError

FASHION_MNIST = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")
MNIST = tuple(str(d) for d in range(10))
MAX_CLASSES = 1000  # more "classes" than this means `y` holds something else (ids, values)


def _is_fashion(spec: str) -> bool:
    """The built-in Fashion-MNIST, or an IDX folder / file named for it."""
    if spec == "fashion-mnist":
        return True
    return spec != "mnist" and "fashion" in Path(spec).name.lower()


def class_names(spec: str, y: np.ndarray | None, given: Sequence[str] = ()) -> tuple[str, ...]:
    """The names of the classes of labels `y` from data `spec` (empty when there are no labels).

    `given` are names that came with the data (folder names, an .npz's `names`). Raises
    UsageError when `y` is not a vector of class indices 0..k-1.
    """
    if y is None:
        return ()
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise UsageError(f"the labels of {spec} must be whole numbers, one per image "
                         f"(got {y.dtype} of shape {y.shape})")
    if len(y) and int(y.min()) < 0:
        raise UsageError(f"the labels of {spec} must be 0 or more, found {int(y.min())}")
    k = int(y.max()) + 1 if len(y) else 0
    if given:
        if k > len(given):
            raise UsageError(f"the labels of {spec} go up to {k - 1} but only {len(given)} "
                             "class names came with them")
        return tuple(given)
    if k > MAX_CLASSES:
        raise UsageError(f"the labels of {spec} go up to {k - 1}: more than {MAX_CLASSES} "
                         "classes; labels must be class indices 0..k-1")
    if _is_fashion(spec) and k <= len(FASHION_MNIST):
        return FASHION_MNIST[:k]
    return tuple(str(i) for i in range(k))


def class_counts(y: np.ndarray, num_classes: int) -> tuple[int, ...]:
    """Images per class, for classes 0..num_classes-1."""
    return tuple(int(c) for c in np.bincount(np.asarray(y, np.int64), minlength=num_classes))


def proportional_labels(counts: Sequence[int], n: int) -> np.ndarray:
    """`n` class labels in the proportions of `counts`, class by class (largest remainders).

    Deterministic: the same counts and n give the same labels, so image i of an evaluation
    always has the same class.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() <= 0:
        raise ValueError("no class has any image")
    exact = n * counts / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    # Ties go to the lower class index (a stable sort), so the result does not depend on rounding.
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: n - int(quota.sum())]] += 1
    return np.repeat(np.arange(len(counts)), quota)


# --- --class ---------------------------------------------------------------------------------------

def _key(text: str) -> str:
    """Case and punctuation do not matter: 't-shirt', 'T-Shirt/Top', 'ankle boot', 'ankle-boot'."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _valid(names: Sequence[str]) -> str:
    return f"choose a name, a unique prefix, an index 0-{len(names) - 1}, a list or 'all' of: " \
           + ", ".join(f"{i} {name}" if name != str(i) else name for i, name in enumerate(names))


def parse_class(text: str, names: Sequence[str], option: str = "--class") -> int:
    """One class: its exact name (any case), its index, or a unique prefix of its name."""
    part = text.strip()
    if not part:
        raise UsageError(f"{option} has an empty class name; {_valid(names)}")
    exact = [i for i, name in enumerate(names) if name.lower() == part.lower()]
    if exact:
        return exact[0]
    if part.isdigit():
        index = int(part)
        if index >= len(names):
            raise UsageError(f"{option} {part}: no class {index} (this model has {len(names)}); "
                             f"{_valid(names)}")
        return index
    key = _key(part)
    matches = [i for i, name in enumerate(names) if key and _key(name).startswith(key)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        found = ", ".join(names[i] for i in matches)
        raise UsageError(f"{option} {part!r} is ambiguous (it could be {found}); {_valid(names)}")
    raise UsageError(f"{option} {part!r} is not a class of this model; {_valid(names)}")


def parse_classes(text: str, names: Sequence[str], option: str = "--class") -> tuple[int, ...]:
    """`--class C`: a name, unique prefix or index; a comma-separated list of them; or `all`.

    `names` are the model's classes; an empty list means an unconditional model (an error).
    """
    if not names:
        raise UsageError(f"{option} needs a conditional model; this one is unconditional "
                         "(train with --conditional on labelled data)")
    if text.strip().lower() == "all":
        return tuple(range(len(names)))
    return tuple(parse_class(part, names, option) for part in text.split(","))


def conditional_classes(spec: str, y: np.ndarray | None, given: Sequence[str] = ()
                        ) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Class names and per-class image counts for a conditional run on data `spec`.

    One-line UsageErrors for data without labels or with fewer than two classes.
    """
    if y is None:
        raise UsageError(f"--conditional needs labelled data, and {spec} has no labels (use IDX "
                         "label files, an .npz with a 'y' array, or one sub-folder per class); "
                         "or drop --conditional")
    names = class_names(spec, y, given)
    counts = class_counts(y, len(names))
    if sum(1 for c in counts if c) < 2:
        raise UsageError(f"--conditional needs at least two classes with images; {spec} has "
                         f"{sum(1 for c in counts if c)}; drop --conditional")
    return names, counts


def model_classes(cfg: object) -> tuple[str, ...]:
    """The class names a model is conditioned on: empty for an unconditional model."""
    return tuple(getattr(cfg, "labels", ())) if getattr(cfg, "conditional", False) else ()
