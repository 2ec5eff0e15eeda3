"""The Python API (`ganctl.load` -> Generator): the same images as the CLI, typed errors, and an
`import ganctl` that does not load TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ganctl
from conftest import assert_one_line_error
from ganctl.generation.latents import latents_from_seeds


@pytest.fixture(scope="module")
def g(tiny_run):
    return ganctl.load(tiny_run)


def test_api_images_are_the_cli_pngs_byte_for_byte(cli, g, tiny_run, tmp_path):
    from ganctl.images import write_png

    result = cli("sample", "--ckpt", tiny_run, "--seeds", "7,3,12", "--out", f"{tmp_path}/cli/")
    assert result.exit_code == 0, result.output
    images = g.sample(seeds=[7, 3, 12])
    assert images.dtype == np.uint8 and images.shape == (3, 28, 28, 1)
    for seed, image in zip([7, 3, 12], images, strict=True):
        write_png(tmp_path / f"api{seed}.png", image)
        assert (tmp_path / f"api{seed}.png").read_bytes() == \
            (tmp_path / "cli" / f"seed{seed:04d}.png").read_bytes()


def test_seed_7_through_the_api_is_bit_identical_to_the_cli(cli, g, tiny_run, tmp_path):
    npz = tmp_path / "s.npz"
    assert cli("sample", "--ckpt", tiny_run, "--seeds", "0-63", "--npz", npz).exit_code == 0
    with np.load(npz) as data:
        cli_outputs, cli_latents = data["outputs"], data["latents"]
    alone = g.samples(seeds=[7])
    np.testing.assert_array_equal(alone.outputs[0], cli_outputs[7])
    np.testing.assert_array_equal(g.latents(seeds=[7])[0], cli_latents[7])
    np.testing.assert_array_equal(g.latents("0-63"), latents_from_seeds(range(64), 100))


def test_truncation_through_cli_and_api_agree(cli, g, tiny_run, tmp_path):
    npz = tmp_path / "t.npz"
    result = cli("sample", "--ckpt", tiny_run, "--seeds", "0-9", "--truncation", "0.7",
                 "--npz", npz)
    assert result.exit_code == 0 and "truncation 0.7" in result.output
    with np.load(npz) as data:
        assert np.abs(data["latents"]).max() <= 0.7
        np.testing.assert_array_equal(data["latents"], g.latents(range(10), truncation=0.7))
        np.testing.assert_array_equal(data["images"], g.sample(range(10), truncation=0.7))
    plain = g.sample(range(10))
    assert not np.array_equal(plain, g.sample(range(10), truncation=0.7))


def test_walk_passes_through_the_keyframes(g):
    frames = g.walk([1, 2], frames=6)
    assert frames.shape == (12, 28, 28, 1) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[0], g.sample([1])[0])
    np.testing.assert_array_equal(frames[6], g.sample([2])[0])
    with pytest.raises(ganctl.UsageError, match="at least 2"):
        g.walk([1])


def test_what_a_generator_tells(g, tiny_run):
    assert g.latent_dim == 100 and g.image_shape == (28, 28, 1)
    assert g.class_names == () and not g.conditional
    assert g.checkpoint.parent == tiny_run / "checkpoints"
    assert "Generator(" in repr(g) and "epoch 2" in repr(g)
    older = ganctl.load(tiny_run, epoch=1)
    assert older.loaded.checkpoint.epoch == 1
    assert not np.array_equal(older.sample([0]), g.sample([0]))


def test_typed_errors_carry_the_cli_messages(cli, g, tiny_run, tmp_path):
    with pytest.raises(ganctl.UsageError, match="needs a conditional model"):
        g.sample(seeds=[7], classes="sneaker")
    with pytest.raises(ganctl.UsageError, match="needs a conditional model"):
        g.sample(seeds=[7], classes=[1])
    with pytest.raises(ganctl.UsageError, match="truncation 0 is refused"):
        g.sample(seeds=[7], truncation=0)
    with pytest.raises(ganctl.UsageError, match="no run 'nope'"):
        ganctl.load("nope", runs_root=tmp_path)
    with pytest.raises(ganctl.GanctlError, match="epoch 9"):
        ganctl.load(tiny_run, epoch=9)
    # the CLI prints the same words
    assert_one_line_error(cli("sample", "--ckpt", tiny_run, "--class", "sneaker"), 2,
                          "--class needs a conditional model")
    assert_one_line_error(cli("sample", "--ckpt", tiny_run, "--truncation", "0"), 2,
                          "--truncation 0 is refused")
    assert_one_line_error(cli("interpolate", "--ckpt", tiny_run, "--truncation", "-2",
                              "--out", tmp_path / "w.gif"), 2, "cannot be negative")


@pytest.mark.slow
def test_a_conditional_generator_by_class_name(tmp_path_factory):
    from conftest import DCGAN_TINY, train_tiny

    run = train_tiny(tmp_path_factory.mktemp("cond"), "c", epochs=1, conditional=True,
                     **{**DCGAN_TINY, "limit": 64})
    g = ganctl.load(run)
    assert g.conditional and g.class_names[7] == "Sneaker"
    sneaker = g.sample(seeds=[7], classes="sneaker")
    assert sneaker.shape == (1, 28, 28, 1)
    np.testing.assert_array_equal(sneaker, g.sample(seeds=[7], classes=7))
    every = g.samples(seeds=[7, 8])  # no classes: a row per class, as `sample` does
    assert every.images.shape[0] == 20 and list(every.labels[:4]) == [0, 0, 1, 1]
    np.testing.assert_array_equal(every.images[14], sneaker[0])
    assert g.walk([1, 2], frames=3, classes="bag").shape == (6, 28, 28, 1)
    with pytest.raises(ganctl.UsageError, match="ambiguous"):
        g.sample(seeds=[1], classes="s")


def test_import_ganctl_does_not_import_tensorflow():
    code = ("import sys, ganctl; assert callable(ganctl.load) and ganctl.GanctlError; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
