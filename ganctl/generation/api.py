"""The Python API: `ganctl.load(RUN)` gives a `Generator` that samples, walks and exports.

It is the code `ganctl sample`, `interpolate` and `export` run: the commands parse their
options, call a `Generator`, and write or print what it returns. Failures are `GanctlError`s
(`UsageError` for bad arguments) with the messages the CLI prints.

    import ganctl
    g = ganctl.load("runs/run1")                 # or a run folder, or one checkpoint
    images = g.sample(seeds=range(16))           # uint8 [16, h, w, c]
    z = g.latents(seeds=[1, 2])                  # float32 [2, latent_dim]
    found = g.project(images, features)          # `ganctl project`: latents, classes, PSNR
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganctl.classes import model_classes, parse_class, parse_classes
from ganctl.errors import UsageError
from ganctl.events import Emit, Say, quiet
from ganctl.generation.inference import LoadedGenerator, load_generator
from ganctl.generation.latents import latents_from_seeds, parse_seeds
from ganctl.generation.sampling import Samples, class_rows, compiled_generator, generate_samples
from ganctl.generation.walks import DEFAULT_FRAMES, WalkPlan, walk_latents
from ganctl.images import to_uint8
from ganctl.runs import DEFAULT_RUNS

if TYPE_CHECKING:
    from ganctl.config import TrainConfig
    from ganctl.generation.export import ExportResult
    from ganctl.generation.projection import Projection

Seeds = Iterable[int] | str
Classes = str | int | Sequence[str | int] | None


def load(run: str | Path, epoch: int | None = None, ema: bool = True,
         runs_root: str | Path = DEFAULT_RUNS, warn: Say = quiet) -> Generator:
    """Load the generator to show of a run: a run name (under `runs_root`), a run folder, or one
    checkpoint inside a run; `epoch` picks the checkpoint saved at that epoch's end, `ema=False`
    the raw weights of a run that keeps an EMA copy. Damaged checkpoints are skipped (each named
    through `warn`) in favour of the newest one that loads."""
    from ganctl.runs import find_run
    from ganctl.tfsetup import import_tensorflow

    _, checkpoint = find_run(str(run), runs_root)  # a missing run fails before TensorFlow loads
    if checkpoint is not None and epoch is not None:
        raise UsageError(f"--ckpt names one checkpoint ({checkpoint}); leave out --epoch, or "
                         "pass the run instead")
    import_tensorflow()
    return Generator(load_generator(str(run), str(runs_root), epoch, warn=warn, ema=ema))


class Generator:
    """A trained generator and what it needs to turn seeds into images like `ganctl sample`.

    Latents come from seeds (`latents`), one per seed, so seed 7 is the same picture alone or in
    any batch; `truncation` ψ (BigGAN's trick) redraws latent components beyond ±ψ.
    """

    def __init__(self, loaded: LoadedGenerator):
        self.loaded = loaded
        self._compiled: Any = None

    # --- what it is ------------------------------------------------------------------------------

    @property
    def config(self) -> TrainConfig:
        """The run's settings (its config.json)."""
        return self.loaded.cfg

    @property
    def latent_dim(self) -> int:
        return int(self.loaded.cfg.latent_dim)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one image."""
        return tuple(int(v) for v in self.loaded.cfg.image_shape)  # type: ignore[return-value]

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes of a conditional run, in label order; empty for an unconditional one."""
        return model_classes(self.loaded.cfg)

    @property
    def conditional(self) -> bool:
        return bool(self.class_names)

    @property
    def checkpoint(self) -> Path:
        """The checkpoint the weights came from."""
        return self.loaded.run.checkpoints / self.loaded.checkpoint.name

    @property
    def ema(self) -> bool:
        """Whether these are the run's EMA weights."""
        return self.loaded.key == "generator_ema"

    @property
    def keras_model(self) -> Any:
        """The Keras generator: z [n, latent_dim] (and int labels [n]) -> images in [-1, 1]."""
        return self.loaded.generator

    def __repr__(self) -> str:
        classes = f", classes={len(self.class_names)}" if self.conditional else ""
        return (f"Generator({self.loaded.run.root}, {self.loaded.cfg.arch}, epoch "
                f"{self.loaded.checkpoint.epoch}{', EMA' if self.ema else ''}, image "
                f"{'x'.join(map(str, self.image_shape))}, latent {self.latent_dim}{classes})")

    # --- from seeds to images --------------------------------------------------------------------

    def latents(self, seeds: Seeds, truncation: float | None = None) -> np.ndarray:
        """float32 [len(seeds), latent_dim]: row i from seed i alone (`latents_from_seeds`)."""
        return latents_from_seeds(self._seeds(seeds), self.latent_dim, truncation)

    def classes(self, classes: Classes) -> tuple[int, ...]:
        """Class indices from names (any case, or a unique prefix), indices, a list of them,
        'all', or None (every class of a conditional run, none of an unconditional one)."""
        names = self.class_names
        if classes is None:
            return tuple(range(len(names)))
        if isinstance(classes, str):
            return parse_classes(classes, names, "classes")
        items = [classes] if isinstance(classes, (int, np.integer)) else list(classes)
        if not items:
            return ()
        if not names:
            parse_classes("0", names, "classes")  # the unconditional-model error
        return tuple(parse_class(str(int(c)) if isinstance(c, (int, np.integer)) else str(c),
                                 names, "classes") for c in items)

    def generate(self, latents: np.ndarray, labels: np.ndarray | Sequence[int] | None = None
                 ) -> np.ndarray:
        """Run the generator on latents [n, latent_dim] (and int labels [n] for a conditional
        run): float32 images [n, h, w, c] in [-1, 1]. Traced once, on fixed-size batches, so a
        latent gives the same bits wherever it sits."""
        if (labels is None) == self.conditional:
            raise UsageError("this run is conditional: pass labels" if self.conditional else
                             "this run is unconditional: it takes no labels")
        if self._compiled is None:
            self._compiled = compiled_generator(self.loaded.generator)
        return self._compiled(latents) if labels is None else self._compiled(latents, labels)

    def samples(self, seeds: Seeds = range(16), classes: Classes = None,
                truncation: float | None = None) -> Samples:
        """Images of `seeds` with their latents, outputs and labels (what `sample --npz` saves).

        A conditional run gives one row of the seeds per class asked for, class-major (all
        seeds of the first class, then the next); `classes=None` means every class.
        """
        seeds = self._seeds(seeds)
        chosen = self.classes(classes)
        if not chosen:
            return generate_samples(self.generate, self.latent_dim, seeds, truncation=truncation)
        all_seeds, labels = class_rows(seeds, chosen)
        return generate_samples(self.generate, self.latent_dim, all_seeds, labels,
                                self.class_names, truncation)

    def sample(self, seeds: Seeds = range(16), classes: Classes = None,
               truncation: float | None = None) -> np.ndarray:
        """uint8 images [n, h, w, c] of `seeds` (see `samples`), the pixels `ganctl sample`
        writes for the same seeds."""
        return self.samples(seeds, classes, truncation).images

    def walk(self, seeds: Seeds, frames: int = DEFAULT_FRAMES, method: str = "slerp",
             classes: Classes = None, truncation: float | None = None) -> np.ndarray:
        """A looping walk through the seeds' latents, as `ganctl interpolate` renders it:
        uint8 frames [len(seeds) * frames, h, w, c]. A conditional run walks within one class
        (`classes`, default the first)."""
        from ganctl.generation.walks import plan_walks

        keys = self._seeds(seeds)
        labels = None
        if self.conditional:  # one walk, in class 0 unless asked (as `interpolate`'s walk 0)
            chosen = (0,) if classes is None else self.classes(classes)
            if len(chosen) != 1:
                raise UsageError("a walk stays in one class: pass classes= with one class")
            labels = chosen
        elif classes is not None:
            self.classes(classes)  # the unconditional-model error
        if len(keys) < 2:
            raise UsageError(f"a walk needs at least 2 keyframe seeds, got {len(keys)}")
        plan_walks(0, len(keys), frames, method)  # the same checks as `interpolate`
        plan = WalkPlan(np.asarray([keys], np.int64), frames, method, (1, 1))
        latents = walk_latents(plan, self.latent_dim, truncation)[0]  # as `render_walks`
        outputs = self.generate(latents, None if labels is None else
                                np.repeat(np.asarray(labels, np.int64), len(latents)))
        return to_uint8(outputs)

    def project(self, images: np.ndarray, features: Callable[[Any], Any],
                classes: Classes = None, emit: Emit = quiet, **settings: Any) -> Projection:
        """The latents (and classes) whose images are closest to `images` (uint8 [n, h, w, c]
        of this run's shape), as `ganctl project` finds them. `features` is the perceptual
        term's differentiable feature function; the run's own, as the CLI uses it:
        `ganctl.evaluation.perceptual.run_evaluator(g.config).feature_tensor`. `settings`:
        `ProjectionSettings` fields (steps, seeds_tried, batch, lr, ...)."""
        from ganctl.data import scale_to_signed_unit
        from ganctl.generation.projection import ProjectionSettings, project

        images = np.asarray(images)
        if images.ndim != 4 or tuple(images.shape[1:]) != self.image_shape:
            raise UsageError(f"images must be uint8 [n, {', '.join(map(str, self.image_shape))}]"
                             f", got {list(images.shape)}")
        chosen = None if classes is None else list(self.classes(classes))
        return project(self.keras_model, scale_to_signed_unit(images), features,
                       self.latent_dim, ProjectionSettings(**settings), len(self.class_names),
                       chosen, emit)

    # --- elsewhere ------------------------------------------------------------------------------

    def export(self, out: str | Path, formats: Sequence[str] | str = ("savedmodel",),
               truncation: float | None = None, quantize: str | None = None,
               force: bool = False, say: Say = quiet) -> ExportResult:
        """Write the generator as SavedModel, .keras, TFLite and/or ONNX files in the folder
        `out` (see `ganctl.generation.export.export_generator`)."""
        from ganctl.generation.export import export_generator, plan_export

        plan = plan_export(out, formats, truncation, quantize, force)
        return export_generator(self, plan, say)

    def _seeds(self, seeds: Seeds) -> list[int]:
        if isinstance(seeds, str):
            return parse_seeds(seeds, "seeds")
        if isinstance(seeds, (int, np.integer)):
            return [int(seeds)]
        return [int(s) for s in seeds]

