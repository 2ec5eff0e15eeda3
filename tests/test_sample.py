"""Tests for `ganctl sample` and ganctl.generation.sampling: grids, per-seed PNGs, .npz,
reproducibility, errors."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error
from ganctl.errors import UsageError
from ganctl.generation.latents import latents_from_seeds
from ganctl.generation.sampling import (
    BATCH_SIZE,
    describe_seeds,
    generation_batch,
    plan_sample_outputs,
    resolve_seeds,
    seed_filename,
)
from ganctl.images import read_image, to_uint8


def tile(grid: np.ndarray, i: int, cols: int, size: int = 28, border: int = 1) -> np.ndarray:
    """Tile i of a make_grid picture (row-major)."""
    r, k = divmod(i, cols)
    y, x = border + r * (size + border), border + k * (size + border)
    return grid[y:y + size, x:x + size]


# --- the core, without a model ---------------------------------------------------------------------

def test_resolve_seeds():
    assert resolve_seeds(None, None) == list(range(64))
    assert resolve_seeds(3, None) == [0, 1, 2]
    assert resolve_seeds(None, "1,5,9,20-23") == [1, 5, 9, 20, 21, 22, 23]
    with pytest.raises(UsageError, match="not both"):
        resolve_seeds(3, "1-2")
    with pytest.raises(UsageError, match="--n must be a positive whole number, got 0"):
        resolve_seeds(0, None)


def test_describe_seeds():
    assert describe_seeds(range(64)) == "0-63"
    assert describe_seeds([1, 5, 9, 20, 21, 22, 23]) == "1,5,9,20-23"
    assert describe_seeds([9, 2]) == "9,2"
    assert describe_seeds([1, 3, 5, 7, 9, 11]) == "1,3,5,7,..."
    assert seed_filename(7) == "seed0007.png"
    assert seed_filename(123456) == "seed123456.png"


def test_generation_batch_shrinks_for_large_images():
    """1,000 latents at once up to 32x32x3; larger images take fewer (one 64-image grid of
    256x256x3 fastgan images at 1,000 latents a batch took 14.8 GB), never fewer than one."""
    assert generation_batch((28, 28, 1)) == BATCH_SIZE == generation_batch((32, 32, 3))
    assert generation_batch((64, 64, 3)) == 250
    assert generation_batch((128, 128, 3)) == 62
    assert generation_batch((256, 256, 3)) == 15
    assert generation_batch((1024, 1024, 3)) == 1
    assert generation_batch((4096, 4096, 3)) == 1


def test_output_kinds(tmp_path):
    assert plan_sample_outputs(None, None).grid == Path("samples.png")
    assert plan_sample_outputs(str(tmp_path / "g.png"), None).grid == tmp_path / "g.png"
    assert plan_sample_outputs(str(tmp_path / "new") + "/", None).folder == tmp_path / "new"
    assert plan_sample_outputs(str(tmp_path), None).folder == tmp_path  # an existing folder
    only_npz = plan_sample_outputs(None, str(tmp_path / "a.npz"))
    assert (only_npz.grid, only_npz.folder, only_npz.npz) == (None, None, tmp_path / "a.npz")
    assert not (tmp_path / "new").exists()  # planning creates nothing


# --- the command -----------------------------------------------------------------------------------

@pytest.mark.parametrize("n, scale, rows, grid_rows, grid_cols", [
    (10, 1, None, 3, 4),
    (16, 3, None, 4, 4),
    (10, 2, 2, 2, 5),
    (1, 1, None, 1, 1),
])
def test_grid_size_from_n_and_scale(cli, tiny_run, tmp_path, n, scale, rows, grid_rows, grid_cols):
    out = tmp_path / "grid.png"
    args = ["sample", "--ckpt", tiny_run, "--n", n, "--scale", scale, "--out", out]
    result = cli(*args, *(["--rows", rows] if rows else []))
    assert result.exit_code == 0, result.output
    side = 28 * scale
    height, width = grid_rows * side + grid_rows + 1, grid_cols * side + grid_cols + 1
    grid = read_image(out)
    assert grid.shape == (height, width)
    # the one-line report names the file, the count and the checkpoint
    line = result.stdout.strip()
    assert len(line.splitlines()) == 1
    assert str(out) in line and f"{n} images" in line and "ckpt-e0002-" in line
    # a thin white border between tiles; nearest-neighbour scaling makes S×S blocks
    assert (grid[0] == 255).all() and (grid[:, 0] == 255).all()
    first = grid[1:1 + side, 1:1 + side]
    assert (first == first[::scale, ::scale].repeat(scale, 0).repeat(scale, 1)).all()


def test_identical_calls_give_identical_bytes(cli, tiny_run, tmp_path):
    for name in ("a", "b"):
        result = cli("sample", "--ckpt", tiny_run, "--seeds", "3-8", "--scale", 2,
                     "--out", tmp_path / f"{name}.png", "--npz", tmp_path / f"{name}.npz")
        assert result.exit_code == 0, result.output
        result = cli("sample", "--ckpt", tiny_run, "--seeds", "3,5", "--out", f"{tmp_path / name}/")
        assert result.exit_code == 0, result.output
    for file in ("{}.png", "{}.npz", "{}/seed0003.png", "{}/seed0005.png"):
        a, b = (tmp_path / file.format(x) for x in "ab")
        assert a.read_bytes() == b.read_bytes(), file


def test_seed_7_alone_equals_seed_7_in_a_batch(cli, tiny_run, tmp_path):
    assert cli("sample", "--ckpt", tiny_run, "--seeds", "7", "--out", f"{tmp_path}/alone/").exit_code == 0
    assert cli("sample", "--ckpt", tiny_run, "--seeds", "0-9", "--out", f"{tmp_path}/batch/").exit_code == 0
    assert cli("sample", "--ckpt", tiny_run, "--seeds", "0-9", "--out", tmp_path / "grid.png").exit_code == 0
    assert cli("sample", "--ckpt", tiny_run, "--seeds", "20,7,3", "--npz", tmp_path / "x.npz").exit_code == 0
    alone = read_image(tmp_path / "alone" / "seed0007.png")
    assert alone.shape == (28, 28)
    assert np.array_equal(alone, read_image(tmp_path / "batch" / "seed0007.png"))
    assert np.array_equal(alone, tile(read_image(tmp_path / "grid.png"), 7, cols=4))
    with np.load(tmp_path / "x.npz") as npz:
        assert np.array_equal(alone, npz["images"][1, ..., 0])
    # and the ten images are not all alike: the seeds matter
    batch = [read_image(tmp_path / "batch" / seed_filename(s)) for s in range(10)]
    assert len({b.tobytes() for b in batch}) == 10


def test_matches_the_training_grid_of_that_epoch(cli, tiny_run, tmp_path):
    """Training draws its per-epoch grid from seeds 0..15 too, with the generator in inference
    mode; sampling the same checkpoint must give the very same picture."""
    for epoch in (1, 2):
        out = tmp_path / f"e{epoch}.png"
        result = cli("sample", "--ckpt", tiny_run, "--n", 16, "--epoch", epoch, "--out", out)
        assert result.exit_code == 0, result.output
        assert f"ckpt-e{epoch:04d}-" in result.stdout
        assert np.array_equal(read_image(out), read_image(tiny_run / "samples" /
                                                          f"epoch_{epoch:04d}.png"))


def test_folder_of_pngs(cli, tiny_run, tmp_path):
    folder = tmp_path / "picked"
    result = cli("sample", "--ckpt", tiny_run, "--seeds", "1,5,9,20-23", "--scale", 2,
                 "--out", str(folder) + "/")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in folder.iterdir())
    assert names == [seed_filename(s) for s in (1, 5, 9, 20, 21, 22, 23)]
    assert read_image(folder / "seed0005.png").shape == (56, 56)
    assert "7 images" in result.stdout and "1,5,9,20-23" in result.stdout
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((folder / "seed0005.png").stat().st_mode) == 0o666 & ~umask


def test_npz_arrays(cli, tiny_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "s.npz"
    result = cli("sample", "--ckpt", tiny_run, "--seeds", "4,2,0-1", "--npz", out)
    assert result.exit_code == 0, result.output
    # --npz alone writes no grid (the default samples.png goes to the working folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]
    assert "samples.png" not in result.stdout and str(out) in result.stdout
    with np.load(out, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["checkpoint", "images", "latents", "outputs", "seeds"]
        assert npz["seeds"].tolist() == [4, 2, 0, 1]
        assert npz["images"].dtype == np.uint8 and npz["images"].shape == (4, 28, 28, 1)
        assert npz["outputs"].dtype == np.float32
        assert np.abs(npz["outputs"]).max() <= 1.0
        assert np.array_equal(npz["images"], to_uint8(npz["outputs"]))
        assert np.array_equal(npz["latents"], latents_from_seeds([4, 2, 0, 1], 100))
        assert "ckpt-e0002-" in str(npz["checkpoint"])


@pytest.mark.parametrize("form", ["name", "folder", "checkpoint", "index"])
def test_ckpt_forms(cli, tiny_run, tmp_path, form):
    first = json.loads((tiny_run / "checkpoints" / "index.json").read_text())["checkpoints"][0]
    ckpt = {"name": [tiny_run.name, "--runs", tiny_run.parent],
            "folder": [tiny_run],
            "checkpoint": [tiny_run / "checkpoints" / first["name"]],
            "index": [str(tiny_run / "checkpoints" / first["name"]) + ".index"]}[form]
    result = cli("sample", "--ckpt", *ckpt, "--n", 1, "--out", tmp_path / "one.png")
    assert result.exit_code == 0, result.output
    expected = first["name"] if form in ("checkpoint", "index") else "ckpt-e0002-"
    assert expected in result.stdout


# --- errors ----------------------------------------------------------------------------------------

@pytest.fixture
def broken_runs(tiny_run, tmp_path):
    """Copies of the tiny run: one without checkpoints, one whose config disagrees with them."""
    empty = tmp_path / "runs" / "empty"
    empty.mkdir(parents=True)
    shutil.copy(tiny_run / "config.json", empty / "config.json")
    mismatch = tmp_path / "runs" / "mismatch"
    shutil.copytree(tiny_run, mismatch)
    cfg = json.loads((mismatch / "config.json").read_text())
    cfg["latent_dim"] = 64
    (mismatch / "config.json").write_text(json.dumps(cfg))
    return tmp_path / "runs"


@pytest.mark.parametrize("args, code, fragment", [
    (["--ckpt", "nope"], 2, "no run 'nope'"),
    (["--ckpt", "{runs}/empty"], 1, "no checkpoints yet"),
    (["--ckpt", "{runs}/mismatch"], 1, "do not match config.json"),
    (["--ckpt", "{run}", "--epoch", "7"], 2, "no checkpoint of epoch 7 is kept (kept epochs: 1, 2)"),
    (["--ckpt", "{run}", "--seeds", "9-2"], 2, "a range must go up"),
    (["--ckpt", "{run}", "--seeds", "abc"], 2, "'abc' is not a seed"),
    (["--ckpt", "{run}", "--n", "0"], 2, "'--n'"),
    (["--ckpt", "{run}", "--n", "-3"], 2, "'--n'"),
    (["--ckpt", "{run}", "--n", "4", "--seeds", "1-2"], 2, "either --n or --seeds"),
    (["--ckpt", "{run}", "--n", "4", "--rows", "5"], 2, "--rows 5 is more than the 4 images"),
    (["--ckpt", "{run}", "--scale", "0"], 2, "'--scale'"),
    (["--ckpt", "{run}", "--out", "{tmp}/grid.jpg"], 2, "use a .png file name"),
    (["--ckpt", "{run}", "--out", "{tmp}/grid"], 2, "use a .png file name"),
    (["--ckpt", "{run}", "--npz", "{tmp}/a.txt"], 2, "use a .npz file name"),
    (["--ckpt", "{run}", "--out", "{tmp}/blocker/sub/"], 1, "blocker is a file, not a folder"),
    (["--ckpt", "{run}", "--npz", "{tmp}/blocker/a.npz"], 1, "blocker is a file, not a folder"),
    (["--out", "x.png"], 2, "Missing option '--ckpt'"),
    (["--ckpt", "{run}/checkpoints/{first}", "--epoch", "1"], 2, "leave out --epoch"),
])
def test_errors(cli, tiny_run, tmp_path, broken_runs, args, code, fragment):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    first = json.loads((tiny_run / "checkpoints" / "index.json").read_text())["checkpoints"][0]
    args = [a.format(run=tiny_run, runs=broken_runs, tmp=tmp_path, first=first["name"])
            for a in args]
    assert_one_line_error(cli("sample", *args), code, fragment)
    assert not (tmp_path / "grid.jpg").exists()


def test_folder_nobody_can_write_is_refused_before_any_work(cli, tiny_run, tmp_path):
    # /sys takes no new files from anyone, root included (CI runs as root): the check must try
    # to create a file rather than trust permission bits.
    for args in (["--out", "/sys/ganctl-test/sub/"], ["--out", "/sys/ganctl-test.png"],
                 ["--npz", "/sys/ganctl-test/a.npz"]):
        result = cli("sample", "--ckpt", tiny_run, *args)
        assert_one_line_error(result, 1, "/sys is not writable (")
    assert not Path("/sys/ganctl-test").exists()


def test_read_only_folder_is_refused_unless_root(cli, tiny_run, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = cli("sample", "--ckpt", tiny_run, "--n", 2, "--out", f"{folder}/sub/")
    finally:
        folder.chmod(0o700)
    if os.geteuid() == 0:  # root may write there, so the check must not refuse it
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in (folder / "sub").iterdir()) == ["seed0000.png",
                                                                      "seed0001.png"]
    else:
        assert_one_line_error(result, 1, f"{folder} is not writable (permission denied)")
    assert [p.name for p in folder.iterdir()] == (["sub"] if os.geteuid() == 0 else [])


def test_help_shows_defaults_and_examples(cli):
    result = cli("sample", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Examples" in text and "--seeds" in text and "[default: runs]" in text


@pytest.mark.slow
def test_a_dcgan_run_needs_nothing_repeated(cli, tiny_dcgan_run, tmp_path, monkeypatch):
    from conftest import FIXTURE_DATA
    from ganctl.images import read_image

    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    run = str(tiny_dcgan_run)
    result = cli("sample", "--ckpt", run, "--seeds", "0-15", "--out", tmp_path / "grid.png")
    assert result.exit_code == 0, result.output
    # the per-epoch grid shows the same generator (the EMA) on the same seeds
    assert np.array_equal(read_image(tmp_path / "grid.png"),
                          read_image(tiny_dcgan_run / "samples" / "epoch_0002.png"))
    result = cli("interpolate", "--ckpt", run, "--out", tmp_path / "walk.gif", "--points", "2",
                 "--frames", "3")
    assert result.exit_code == 0, result.output
    result = cli("evaluate", "--ckpt", run, "--n", "200", "--real", FIXTURE_DATA, "--metrics",
                 "fd", "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["checkpoints"][0]["metrics"]["fd"] > 0


def test_a_mid_epoch_checkpoint_is_named_like_trains_stop_line():
    from ganctl.checkpoints import CheckpointInfo
    from ganctl.cli.options import checkpoint_when

    assert checkpoint_when(CheckpointInfo("ckpt-e0003-s00001404", 3, 1404, True)) == "epoch 3"
    # Stopped 125 steps into epoch 4: `train` said "in epoch 4, step 1529", not "epoch 3".
    assert checkpoint_when(CheckpointInfo("ckpt-e0003-s00001529", 3, 1529, False)) \
        == "in epoch 4, step 1529"
    assert checkpoint_when(CheckpointInfo("ckpt-e0000-s00000575", 0, 575, False)) \
        == "in epoch 1, step 575"
