"""`ganctl export` and ganctl.generation.export/converters: every format gives `sample`'s images,
with a dynamic batch, loads without ganctl, and fails in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import DCGAN_TINY, assert_one_line_error, train_tiny
from ganctl.generation.export import FILES, FORMATS, TOLERANCE

# The packages a format needs to run its file here; a missing one skips with its name.
RUNS_WITH = {"savedmodel": [], "keras": [], "tflite": ["ai_edge_litert"],
             "onnx": ["tf2onnx", "onnx", "onnxruntime"]}
ALL = "savedmodel,keras,tflite,onnx"


def need(fmt: str) -> None:
    for module in RUNS_WITH[fmt]:
        pytest.importorskip(module, reason=f"--format {fmt} needs the package {module} "
                                           "(pip install -e \".[export]\")")


def need_all() -> None:
    for fmt in FORMATS:
        need(fmt)


@pytest.fixture(scope="module")
def cond_dcgan_run(tmp_path_factory) -> Path:
    """A conditional dcgan run of 2 steps (shared in this module; do not modify it)."""
    return train_tiny(tmp_path_factory.mktemp("cond"), "cdc", epochs=1, conditional=True,
                      **{**DCGAN_TINY, "limit": 64})


@pytest.fixture(scope="module")
def runs(tiny_run, tiny_dcgan_run, cond_dcgan_run) -> dict[str, Path]:
    return {"mlp": tiny_run, "dcgan": tiny_dcgan_run, "cond-dcgan": cond_dcgan_run}


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory) -> dict[str, Path]:
    """Every run exported once in every format (float16 TFLite too), by run kind."""
    import ganctl

    need_all()
    folders = {}
    for kind, run in runs.items():
        out = tmp_path_factory.mktemp("export") / kind
        ganctl.load(run).export(out, FORMATS, quantize="float16")
        folders[kind] = out
    return folders


def sample_npz(cli, run: Path, tmp_path: Path, conditional: bool) -> dict[str, np.ndarray]:
    """`ganctl sample --npz` for seeds 0-63 (of every class for a conditional run)."""
    npz = tmp_path / "s.npz"
    args = ["sample", "--ckpt", run, "--seeds", "0-63", "--npz", npz]
    result = cli(*args, *(["--class", "all"] if conditional else []))
    assert result.exit_code == 0, result.output
    with np.load(npz) as data:
        return {k: data[k] for k in data.files}


def runner(folder: Path, fmt: str):
    from ganctl.generation import converters

    return converters.RUNNERS["tflite" if fmt.startswith("tflite") else fmt](folder / FILES[fmt])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mlp", "dcgan", "cond-dcgan"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_gives_samples_images(cli, runs, exported, tmp_path, kind, fmt):
    need(fmt)
    ref = sample_npz(cli, runs[kind], tmp_path, kind.startswith("cond"))
    labels = ref.get("labels")
    run = runner(exported[kind], fmt)
    got = run(ref["latents"], labels)["images"]
    assert got.shape == ref["outputs"].shape and got.dtype == np.float32
    assert np.max(np.abs(got - ref["outputs"])) <= TOLERANCE[fmt]
    if fmt != "keras":  # .keras is the Keras model: floats only
        as_bytes = run(ref["latents"], labels, uint8=True)["images_uint8"]
        assert as_bytes.dtype == np.uint8
        off = np.abs(as_bytes.astype(int) - ref["images"].astype(int))
        assert off.max() <= 1 and (off > 0).mean() < 1e-3  # a level at most, at a rounding edge
    # the batch is dynamic: 1 and 5 from the same file, each the rows of the big batch
    for n in (1, 5):
        part = run(ref["latents"][:n], None if labels is None else labels[:n])["images"]
        assert part.shape[0] == n
        assert np.max(np.abs(part - ref["outputs"][:n])) <= TOLERANCE[fmt]


@pytest.mark.slow
def test_float16_tflite_is_close_and_half_the_size(cli, runs, exported, tmp_path):
    need("tflite")
    folder = exported["dcgan"]
    ref = sample_npz(cli, runs["dcgan"], tmp_path, False)
    got = runner(folder, "tflite-float16")(ref["latents"])["images"]
    assert np.max(np.abs(got - ref["outputs"])) < 0.05
    size16 = (folder / FILES["tflite-float16"]).stat().st_size
    assert size16 < 0.6 * (folder / FILES["tflite"]).stat().st_size


@pytest.mark.slow
def test_manifest_and_readme(exported, runs):
    folder = exported["cond-dcgan"]
    info = json.loads((folder / "ganctl-export.json").read_text())
    assert info["latent_dim"] == 100 and info["conditional"] is True
    assert info["class_names"][7] == "Sneaker" and info["image_shape"] == [28, 28, 1]
    assert info["value_range"] == [-1.0, 1.0] and info["truncation"] is None
    assert "RandomState(seed)" in info["seed_to_latent"]
    import hashlib
    config = runs["cond-dcgan"] / "config.json"
    assert info["config_sha256"] == hashlib.sha256(config.read_bytes()).hexdigest()
    assert set(info["files"]) == {*FORMATS, "tflite-float16"}
    assert all(f["max_abs_diff_vs_sample"] <= (f["tolerance"] or 1) for f in info["files"].values())
    readme = (folder / "README.md").read_text()
    assert "generator.onnx" in readme and "7 Sneaker" in readme
    lines = (folder / "example.py").read_text().splitlines()
    assert len(lines) <= 45 and "import onnxruntime" in "\n".join(lines)
    assert sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(".")) == []


CLEAN_SCRIPT = r"""
import sys
import numpy as np
import tensorflow as tf
import onnxruntime as ort
folder, n = sys.argv[1], 3
z = np.random.RandomState(0).standard_normal((n, 100)).astype(np.float32)
feeds = {"z": z}
if "--labels" in sys.argv:
    feeds["labels"] = np.array([0, 7, 9], np.int32)
m = tf.saved_model.load(folder + "/saved_model")
a = m.signatures["generate_uint8"](**{k: tf.constant(v) for k, v in feeds.items()})
a = a["images_uint8"].numpy()
b = ort.InferenceSession(folder + "/generator.onnx").run(["images_uint8"], feeds)[0]
assert a.shape == b.shape == (n, 28, 28, 1) and a.dtype == b.dtype == np.uint8, (a.shape, b.shape)
assert np.abs(a.astype(int) - b).max() <= 1 and a.std() > 0
assert not any(name.startswith("ganctl") for name in sys.modules), "ganctl was imported"
print("ok", a.shape)
"""


def clean_env() -> dict[str, str]:
    """The environment of a user's own program: no PYTHONPATH pointing at this checkout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dcgan", "cond-dcgan"])
def test_a_fresh_process_without_ganctl_loads_savedmodel_and_onnx(exported, tmp_path, kind):
    result = subprocess.run([sys.executable, "-c", CLEAN_SCRIPT, str(exported[kind]),
                             *(["--labels"] if kind.startswith("cond") else [])],
                            cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ok" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mlp", "cond-dcgan"])
def test_example_py_reproduces_sample_seed_7(cli, runs, exported, tmp_path, kind):
    from ganctl.images import read_image

    args = ["sample", "--ckpt", runs[kind], "--seeds", "7", "--out", f"{tmp_path}/cli/"]
    extra = ["--class", "sneaker"] if kind.startswith("cond") else []
    assert cli(*args, *extra).exit_code == 0
    name = "seed0007-class7.png" if extra else "seed0007.png"
    result = subprocess.run([sys.executable, str(exported[kind] / "example.py"), "7",
                             *(["sneaker"] if extra else [])], cwd=tmp_path, env=clean_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote {name}" in result.stdout
    mine, theirs = read_image(tmp_path / name), read_image(tmp_path / "cli" / name)
    assert mine.shape == theirs.shape
    assert np.abs(mine.astype(int) - theirs.astype(int)).max() <= 1


# --- options and errors ----------------------------------------------------------------------------

def test_cli_export_and_its_errors(cli, tiny_run, tmp_path, monkeypatch):
    out = tmp_path / "e"
    result = cli("export", "--ckpt", tiny_run, "--format", "savedmodel,keras", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}/: savedmodel, keras" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "ganctl-export.json",
                                                     "generator.keras", "saved_model"]
    assert_one_line_error(cli("export", "--ckpt", tiny_run, "--out", out), 2,
                          f"--out {out} already exists; pass --force")
    before = (out / "ganctl-export.json").stat().st_mtime_ns
    result = cli("export", "--ckpt", tiny_run, "--out", out, "--force", "--truncation", "0.8")
    assert result.exit_code == 0, result.output
    assert (out / "ganctl-export.json").stat().st_mtime_ns != before
    assert json.loads((out / "ganctl-export.json").read_text())["truncation"] == 0.8
    assert not (out / "generator.keras").exists()  # replaced whole, not merged
    assert [p.name for p in tmp_path.iterdir()] == ["e"]  # no temporary folder left


@pytest.mark.parametrize("args, code, fragment", [
    (["--format", "pb"], 2, "unknown export format 'pb'; choose from savedmodel, keras, tflite"),
    (["--format", ""], 2, "no export format given"),
    (["--truncation", "0"], 2, "--truncation 0 is refused"),
    (["--truncation", "-1"], 2, "cannot be negative"),
    (["--quantize", "int8"], 2, "unknown --quantize 'int8'"),
    (["--quantize", "float16"], 2, "--quantize float16 applies to the tflite format"),
])
def test_bad_options_fail_before_loading(cli, tmp_path, args, code, fragment):
    result = cli("export", "--ckpt", "no-such-run", "--out", tmp_path / "e", *args)
    assert_one_line_error(result, code, fragment)
    assert not (tmp_path / "e").exists()


def test_a_missing_extra_names_the_pip_command(cli, tiny_run, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    absent = {"tf2onnx", "onnxruntime"}
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in absent else real(name, *a))
    if real("onnx") is None:  # not installed here at all
        absent.add("onnx")
    result = cli("export", "--ckpt", tiny_run, "--format", "onnx", "--out", tmp_path / "e")
    named = ", ".join(p for p in ("tf2onnx", "onnx", "onnxruntime") if p in absent)
    assert_one_line_error(result, 1, f'--format onnx needs {named}, not installed here: pip '
                                     'install "ganctl[export]"')
    import ganctl
    with pytest.raises(ganctl.MissingExtraError, match="tf2onnx"):
        ganctl.load(tiny_run).export(tmp_path / "e", ["onnx"])
    assert not (tmp_path / "e").exists()


def test_an_export_that_fails_leaves_nothing_and_keeps_the_old_folder(tiny_run, tmp_path,
                                                                      monkeypatch):
    import ganctl
    from ganctl.generation import converters

    g = ganctl.load(tiny_run)
    out = tmp_path / "e"
    g.export(out, ["keras"])
    kept = sorted(p.name for p in out.iterdir())

    def broken(model, path):
        path.write_bytes(b"half")
        raise converters.ConversionError("the keras converter failed on this generator: boom")

    monkeypatch.setattr(converters, "write_keras", broken)
    with pytest.raises(ganctl.ConversionError, match="boom"):
        g.export(out, ["savedmodel", "keras"], force=True)
    assert sorted(p.name for p in out.iterdir()) == kept
    assert [p.name for p in tmp_path.iterdir()] == ["e"]
    with pytest.raises(ganctl.GanctlError):
        g.export(tmp_path / "new", ["keras"])
    assert not (tmp_path / "new").exists()


def refusing_model():
    """A tiny Keras model whose layer uses SVD, an op neither converter takes."""
    import keras
    import tensorflow as tf

    class Singular(keras.layers.Layer):
        def call(self, x):
            s = tf.linalg.svd(tf.reshape(x, [-1, 4, 4]), compute_uv=False)
            return tf.reshape(tf.tile(s, [1, 4]), [-1, 4, 4, 1])

    z = keras.Input((16,), name="z")
    return keras.Model(z, Singular()(z))


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_a_refused_op_is_named_with_the_format(tmp_path, fmt):
    from ganctl.generation import converters

    need(fmt)
    model = refusing_model()
    with pytest.raises(converters.ConversionError) as err:
        if fmt == "onnx":
            converters.write_onnx(model, tmp_path / "m.onnx")
        else:
            converters.write_savedmodel(model, tmp_path / "sm")
            converters.write_tflite(tmp_path / "sm", tmp_path / "m.tflite")
    message = str(err.value)
    assert f"the {fmt} converter refuses op Svd" in message and "\n" not in message


def test_export_help_has_examples(cli):
    result = cli("export", "--help")
    assert result.exit_code == 0
    for text in ("--format", "--quantize", "--truncation", "--force", "--no-ema", "Examples"):
        assert text in result.output
