"""The text an export folder carries for its users: the seed-to-latent rule, README.md, and
example.py (numpy and onnxruntime alone reproduce `ganctl sample --seeds 7`)."""

from __future__ import annotations

from typing import Any

ABOUT = {
    "savedmodel": "TensorFlow SavedModel: `tf.saved_model.load(...).signatures['generate']` "
                  "(and `generate_uint8`; `serving_default` is `generate`)",
    "keras": "Keras 3 model: `keras.saving.load_model(...)`, called as `model(z)` "
             "(`model([z, labels])` for a conditional run); float32 images only",
    "tflite": "TFLite / LiteRT model (float32), signatures `generate` and `generate_uint8`: "
              "`Interpreter(model_path=...).get_signature_runner('generate')`",
    "tflite-float16": "the same TFLite model with float16 weights (half the size; computed in "
                      "float32 on CPUs)",
    "onnx": "ONNX model (opset 17) with outputs `images` and `images_uint8`: "
            "`onnxruntime.InferenceSession(...)`",
}


def seed_rule(latent_dim: int, truncation: float | None) -> str:
    """`latents_from_seeds` in words, precise enough to reimplement."""
    rule = (f"state = numpy.random.RandomState(seed); z = state.standard_normal({latent_dim}) "
            "(numpy's legacy generator, whose stream numpy keeps the same on every platform and "
            "version), stored as float32")
    if truncation is not None:
        rule += (f"; truncation psi = {truncation:g}: while some components have "
                 f"abs(float32(z)) > {truncation:g}, replace exactly those, in index order, with "
                 "state.standard_normal(their count) from the same state")
    return rule + ". A batch is one such row per seed, so a seed's image does not depend on " \
                  "the batch."


def readme_md(manifest: dict[str, Any]) -> str:
    """README.md of an export folder."""
    h, w, c = manifest["image_shape"]
    conditional = manifest["conditional"]
    lines = [
        "# A ganctl generator",
        "",
        f"Exported by ganctl {manifest['ganctl_version']} (TensorFlow "
        f"{manifest['tensorflow_version']}) from run `{manifest['run']}`, checkpoint "
        f"`{manifest['checkpoint']}` (epoch {manifest['epoch']}"
        f"{', EMA weights' if manifest['ema'] else ''}); the run's config.json has sha256 "
        f"`{manifest['config_sha256']}`. Architecture: {manifest['architecture']}.",
        "",
        "## Files",
        "",
        "| file | what | max abs difference from `ganctl sample` (seeds 0-7) |",
        "| --- | --- | --- |",
    ]
    for fmt, entry in manifest["files"].items():
        diff = entry["max_abs_diff_vs_sample"]
        lines.append(f"| `{entry['path']}` | {ABOUT[fmt]} | "
                     f"{'-' if diff is None else f'{diff:.2g}'} |")
    lines += [
        "| `ganctl-export.json` | all of this, for programs | |",
        *(["| `example.py` | numpy + onnxruntime only: `python example.py 7` writes "
           "`seed0007.png`, the image of `ganctl sample --seeds 7` | |"]
          if "onnx" in manifest["files"] else []),
        "",
        "## Inputs and outputs",
        "",
        f"- `z`: float32 [batch, {manifest['latent_dim']}], any batch size.",
    ]
    if conditional:
        names = ", ".join(f"{i} {n}" for i, n in enumerate(manifest["class_names"]))
        lines.append(f"- `labels`: int32 [batch], the class of each image: {names}.")
    lines += [
        f"- `images`: float32 [batch, {h}, {w}, {c}] in [-1, 1] "
        f"({'grayscale' if c == 1 else 'RGB'}).",
        f"- `images_uint8`: uint8 [batch, {h}, {w}, {c}], ready to save: "
        "floor((clip(images, -1, 1) + 1) * 127.5 + 0.5).",
        "",
        "## From a seed to a latent (what `ganctl sample --seeds 7` does)",
        "",
        manifest["seed_to_latent"],
        "",
    ]
    if manifest["truncation"] is not None:
        lines += [f"This export was made with `--truncation {manifest['truncation']:g}`: the "
                  "rule above applies it, and example.py follows it. The files themselves take "
                  "any z.", ""]
    lines += [
        "```python",
        "import numpy as np",
        "",
        "def latent(seed):",
        "    state = np.random.RandomState(seed)",
        f"    z = state.standard_normal({manifest['latent_dim']})",
        *([f"    while (outside := np.abs(z.astype(np.float32)) > {manifest['truncation']!r})"
           ".any():",
           "        z[outside] = state.standard_normal(outside.sum())"]
          if manifest["truncation"] is not None else []),
        "    return z.astype(np.float32)",
        "```",
        "",
        *_usage(manifest),
    ]
    return "\n".join(lines)


def _usage(manifest: dict[str, Any]) -> list[str]:
    """How to call each file that is there, from Python."""
    feeds = '{"z": z, "labels": labels}' if manifest["conditional"] else '{"z": z}'
    files = manifest["files"]
    lines = ["## Use", "", "With `z` a float32 array [batch, "
             f"{manifest['latent_dim']}]" + (" and `labels` int32 [batch]"
                                              if manifest["conditional"] else "") + ":", "",
             "```python"]
    if "onnx" in files:
        lines += ["import onnxruntime",
                  'session = onnxruntime.InferenceSession("generator.onnx")',
                  f'images = session.run(["images_uint8"], {feeds})[0]', ""]
    if "savedmodel" in files:
        lines += ["import tensorflow as tf",
                  'generate = tf.saved_model.load("saved_model").signatures["generate_uint8"]',
                  f"images = generate(**{feeds})[\"images_uint8\"].numpy()", ""]
    if "tflite" in files:
        lines += ["from ai_edge_litert.interpreter import Interpreter",
                  'runner = Interpreter("generator.tflite").get_signature_runner("generate_uint8")',
                  f'images = runner(**{feeds})["images_uint8"]', ""]
    if "keras" in files:
        lines += ["import keras",
                  'model = keras.saving.load_model("generator.keras")',
                  "images = model(" + ("[z, labels]" if manifest["conditional"] else "z")
                  + ").numpy()  # float32 in [-1, 1]", ""]
    return [*lines[:-1], "```", ""]


EXAMPLE = '''"""Draw an image of this exported generator with numpy and onnxruntime alone: the pixels of
`ganctl sample --seeds SEED` (of one class for a conditional run). Usage:

    python example.py [SEED] [CLASS]      # writes seed0007.png (seed0007-class3.png) here
"""
import json, struct, sys, zlib
from pathlib import Path

import numpy as np
import onnxruntime as ort

here = Path(__file__).resolve().parent
info = json.loads((here / "ganctl-export.json").read_text())
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 7

# The seed-to-latent rule of ganctl-export.json (with its truncation, if any).
state = np.random.RandomState(seed)
z = state.standard_normal(info["latent_dim"])
while info["truncation"] and (out := np.abs(z.astype(np.float32)) > info["truncation"]).any():
    z[out] = state.standard_normal(out.sum())
feeds, name = {"z": z.astype(np.float32)[None]}, f"seed{seed:04d}"
if info["conditional"]:
    wanted = sys.argv[2] if len(sys.argv) > 2 else "0"
    names = [n.lower() for n in info["class_names"]]
    label = int(wanted) if wanted.isdigit() else names.index(wanted.lower())
    feeds["labels"], name = np.array([label], np.int32), f"{name}-class{label}"

images = ort.InferenceSession(str(here / "generator.onnx")).run(["images"], feeds)[0]
pixels = np.floor((np.clip(images[0].astype(np.float64), -1, 1) + 1) * 127.5 + 0.5).astype(np.uint8)

# A PNG with the standard library alone (8-bit grayscale or RGB).
h, w, c = pixels.shape
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
rows = b"".join(b"\\0" + row.tobytes() for row in pixels)
Path(name + ".png").write_bytes(b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(
    ">IIBBBBB", w, h, 8, 0 if c == 1 else 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows))
    + chunk(b"IEND", b""))
print(f"wrote {name}.png ({w}x{h}, {c} channel{'s' if c > 1 else ''})")
'''


def example_py(manifest: dict[str, Any]) -> str:
    """example.py: it reads ganctl-export.json beside it, so one text serves every export."""
    return EXAMPLE
