"""The export formats, one writer and one runner each: SavedModel, .keras, TFLite and ONNX.

Every format takes z float32 [batch, latent_dim] (and labels int32 [batch] for a conditional
generator) with a dynamic batch, and gives `images`, float32 [batch, h, w, c] in [-1, 1], and
`images_uint8`, the same pixels as bytes (the .keras file is the Keras model itself: floats).

Routes (see `benchmarks/README.md` for the measured differences):
- savedmodel: Keras' own `ExportArchive`, which tracks the model's variables and writes each
  endpoint as a named signature (`generate`, `generate_uint8`; `serving_default` = `generate`).
- tflite: TensorFlow's `TFLiteConverter` from that SavedModel's two signatures.
- onnx: `tf2onnx.convert.from_function` on one function with both outputs, opset 17.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ganctl.errors import GanctlError

ONNX_OPSET = 17
SIGNATURES = ("generate", "generate_uint8")
Runner = Callable[..., dict[str, np.ndarray]]


class ConversionError(GanctlError):
    """A converter refused the generator (an op it cannot express, most often)."""


def _specs(generator: Any) -> list[Any]:
    import tensorflow as tf

    specs = [tf.TensorSpec([None, int(generator.inputs[0].shape[1])], tf.float32, name="z")]
    if len(generator.inputs) == 2:
        specs.append(tf.TensorSpec([None], tf.int32, name="labels"))
    return specs


def _to_uint8(images: Any) -> Any:
    """`images.to_uint8` in the graph: floor((clip(x, -1, 1) + 1) * 127.5 + 0.5) as bytes."""
    import tensorflow as tf

    return tf.cast(tf.floor((tf.clip_by_value(images, -1.0, 1.0) + 1.0) * 127.5 + 0.5), tf.uint8)


def _functions(generator: Any) -> dict[str, Callable[..., dict[str, Any]]]:
    """The graph functions of the signatures, by name, with named arguments z (and labels)."""
    def forward(*inputs: Any) -> Any:
        return generator(list(inputs) if len(inputs) == 2 else inputs[0], training=False)

    if len(generator.inputs) == 2:
        return {"generate": lambda z, labels: {"images": forward(z, labels)},
                "generate_uint8": lambda z, labels: {"images_uint8": _to_uint8(forward(z, labels))},
                "both": lambda z, labels: _both(forward(z, labels))}
    return {"generate": lambda z: {"images": forward(z)},
            "generate_uint8": lambda z: {"images_uint8": _to_uint8(forward(z))},
            "both": lambda z: _both(forward(z))}


def _both(images: Any) -> dict[str, Any]:
    return {"images": images, "images_uint8": _to_uint8(images)}


# --- writers ---------------------------------------------------------------------------------------

def write_savedmodel(generator: Any, folder: Path) -> None:
    """A SavedModel with the signatures `generate` (= `serving_default`) and `generate_uint8`."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(generator)
    functions, specs = _functions(generator), _specs(generator)
    for name in SIGNATURES:
        archive.add_endpoint(name, functions[name], input_signature=specs)
    archive.add_endpoint("serving_default", functions["generate"], input_signature=specs)
    archive.write_out(str(folder), verbose=False)


def write_keras(generator: Any, path: Path) -> None:
    """The Keras model as a .keras file (its config and weights; no code)."""
    generator.save(str(path))


def write_tflite(savedmodel: Path, path: Path, quantize: str | None = None) -> None:
    """Convert the SavedModel's two signatures to one TFLite file; `quantize='float16'` stores
    the weights as float16 (computation stays float32 on CPUs)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel),
                                                         signature_keys=list(SIGNATURES))
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    try:
        path.write_bytes(converter.convert())
    except Exception as exc:  # noqa: BLE001 - ConverterError and the MLIR passes' own errors
        raise ConversionError(_refusal("tflite", str(exc), re.findall(r"'tf\.(\w+)' op", str(exc)))
                              ) from None


def write_onnx(generator: Any, path: Path) -> None:
    """Convert the generator to ONNX (outputs `images` and `images_uint8`), named dims 'batch'."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    specs = _specs(generator)
    function = tf.function(_functions(generator)["both"], input_signature=specs)
    with _tf2onnx_log() as records:
        try:
            model, _ = tf2onnx.convert.from_function(function, input_signature=specs,
                                                     opset=ONNX_OPSET)
        except Exception as exc:  # noqa: BLE001 - tf2onnx raises many types
            raise ConversionError(_refusal("onnx", str(exc), _unsupported(records))) from None
    refused = _unsupported(records)
    if refused:
        raise ConversionError(_refusal("onnx", "", refused))
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # noqa: BLE001 - onnx.checker.ValidationError and shape errors
        raise ConversionError(f"the onnx file fails onnx.checker: {str(exc).splitlines()[0]}"
                              ) from None
    path.write_bytes(model.SerializeToString())


@contextlib.contextmanager
def _tf2onnx_log() -> Iterator[list[str]]:
    """Collect tf2onnx's log lines (it logs refused ops instead of raising) and keep its INFO
    chatter off the terminal."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("tf2onnx")
    saved = logger.level, logger.propagate, list(logger.handlers)
    handler = Collect(logging.WARNING)
    logger.handlers = [handler]
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers = saved[2]


def _unsupported(records: list[str]) -> list[str]:
    ops = [m[1] for r in records for m in re.finditer(r"Tensorflow op \[[^\]]*?: (\w+)\] is not "
                                                       r"supported", r)]
    return list(dict.fromkeys(ops))


def _refusal(fmt: str, detail: str, ops: list[str]) -> str:
    ops = list(dict.fromkeys(ops))
    if ops:
        which = ", ".join(ops)
        return (f"the {fmt} converter refuses op{'s' if len(ops) > 1 else ''} {which} of this "
                f"generator; export the other formats (leave {fmt} out of --format)")
    first = next((line for line in detail.splitlines() if line.strip()), "no detail")
    return f"the {fmt} converter failed on this generator: {first[:300]}"


# --- runners ---------------------------------------------------------------------------------------

def run_savedmodel(folder: Path) -> Runner:
    """Call a SavedModel's signatures: run(z, labels=None, uint8=False) -> {name: array}."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder))

    def run(z: np.ndarray, labels: np.ndarray | None = None, uint8: bool = False
            ) -> dict[str, np.ndarray]:
        feeds = {"z": tf.constant(z, tf.float32)}
        if labels is not None:
            feeds["labels"] = tf.constant(labels, tf.int32)
        out = loaded.signatures["generate_uint8" if uint8 else "generate"](**feeds)
        return {k: v.numpy() for k, v in out.items()}
    return run


def run_keras(path: Path) -> Runner:
    import keras

    model = keras.saving.load_model(str(path), compile=False)

    def run(z: np.ndarray, labels: np.ndarray | None = None, uint8: bool = False
            ) -> dict[str, np.ndarray]:
        images = model(z if labels is None else [z, labels], training=False)
        images = np.asarray(keras.ops.convert_to_numpy(images), np.float32)
        return {"images_uint8": _numpy_uint8(images)} if uint8 else {"images": images}
    return run


def _numpy_uint8(images: np.ndarray) -> np.ndarray:
    from ganctl.images import to_uint8

    return to_uint8(images)


def tflite_interpreter(path: Path) -> Any:
    """LiteRT's interpreter (`ai-edge-litert`) where installed, else TensorFlow's own."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806 - the class, as LiteRT names it
    return Interpreter(model_path=str(path))


def run_tflite(path: Path) -> Runner:
    interpreter = tflite_interpreter(path)
    runners = {name: interpreter.get_signature_runner(name) for name in SIGNATURES}

    def run(z: np.ndarray, labels: np.ndarray | None = None, uint8: bool = False
            ) -> dict[str, np.ndarray]:
        feeds = {"z": np.asarray(z, np.float32)}
        if labels is not None:
            feeds["labels"] = np.asarray(labels, np.int32)
        return dict(runners["generate_uint8" if uint8 else "generate"](**feeds))
    return run


def run_onnx(path: Path, threads: int = 0) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(z: np.ndarray, labels: np.ndarray | None = None, uint8: bool = False
            ) -> dict[str, np.ndarray]:
        feeds = {"z": np.asarray(z, np.float32)}
        if labels is not None:
            feeds["labels"] = np.asarray(labels, np.int32)
        name = "images_uint8" if uint8 else "images"
        return {name: session.run([name], feeds)[0]}
    return run


RUNNERS: dict[str, Callable[[Path], Runner]] = {
    "savedmodel": run_savedmodel, "keras": run_keras, "tflite": run_tflite, "onnx": run_onnx}
