"""The bad-input table: each case exits 2 (usage) or 1 (failure) with one line naming the problem."""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import FIXTURE_DATA, assert_one_line_error
from ganctl.data import load_dataset

# --- broken runs, for the commands that read one ---------------------------------------------

def _broken_run(tiny_run, tmp_path, kind: str):
    run = tmp_path / kind
    shutil.copytree(tiny_run, run)
    config = run / "config.json"
    if kind == "no-config":
        config.unlink()
    elif kind == "bad-json":
        config.write_text('{"arch": "mlp", "latent_')
    elif kind == "other-arch":
        config.write_text(json.dumps({**json.loads(config.read_text()), "arch": "stylegan9"}))
    elif kind == "no-checkpoints":
        shutil.rmtree(run / "checkpoints")
    elif kind == "garbled-checkpoints":
        for data in (run / "checkpoints").glob("*.data-*"):
            data.write_bytes(b"\0" * 64)
    return run


@pytest.mark.parametrize("kind,code,needle", [
    ("missing", 2, "no run"),
    ("no-config", 1, "has checkpoints but no config.json"),
    ("bad-json", 1, "config.json is unreadable"),
    ("other-arch", 1, "unknown --arch 'stylegan9'"),
    ("no-checkpoints", 1, "has no checkpoints yet"),
    ("garbled-checkpoints", 1, "do not match config.json); if config.json was edited, restore it, "
                               "else train the run again (--fresh)"),
])
def test_sample_refuses_broken_runs(cli, tiny_run, tmp_path, kind, code, needle):
    run = tmp_path / "nope" if kind == "missing" else _broken_run(tiny_run, tmp_path, kind)
    assert_one_line_error(cli("sample", "--ckpt", run, "--out", tmp_path / "g.png"), code, needle)
    assert not (tmp_path / "g.png").exists()


# --- bad data for train ------------------------------------------------------------------------

def _idx(path, raw: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as fh:
        fh.write(raw)


def _make_data(tmp_path, kind: str):
    root = tmp_path / kind
    root.mkdir()
    if kind == "only-non-images":
        (root / "a.txt").write_text("x")
        (root / "b.png").write_bytes(b"not a png")
    elif kind == "npz-without-x":
        root = root / "d.npz"
        np.savez(root, images=np.zeros((4, 8, 8)))
    elif kind == "idx-bad-magic":
        _idx(root / "train-images-idx3-ubyte.gz", b"\x00\x00\x09\x03" + b"\x00" * 40)
    elif kind == "idx-truncated":
        raw = gzip.open(FIXTURE_DATA / "train-images-idx3-ubyte.gz").read()
        _idx(root / "train-images-idx3-ubyte.gz", raw[: len(raw) // 3])
    return root


@pytest.mark.parametrize("kind,needle", [
    ("empty", "no usable image"),
    ("only-non-images", "no usable image"),
    ("npz-without-x", "no 'x' array"),
    ("idx-bad-magic", "bad magic number"),
    ("idx-truncated", "is truncated"),
])
def test_train_refuses_bad_data(cli, tmp_path, kind, needle):
    data = _make_data(tmp_path, kind)
    assert_one_line_error(cli("train", "--data", data, "--out", tmp_path / "runs", "--dry-run"), 2, needle)


@pytest.mark.slow
def test_train_skips_corrupt_images_and_converts_mixed_ones(cli, tmp_path):
    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(8):
        mode, size = (("L", (28, 28)), ("RGB", (40, 30)), ("RGBA", (64, 64)), ("P", (20, 20)))[i % 4]
        Image.new(mode, size).save(data / f"{i}.png")
    (data / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    r = cli("train", "--data", data, "--batch-size", 4, "--epochs", 1, "--no-xla",
            "--out", tmp_path / "runs", "--name", "mixed")
    assert r.exit_code == 0, r.output
    assert "skipped 1 unreadable image file(s)" in r.output
    cfg = json.loads((tmp_path / "runs" / "mixed" / "config.json").read_text())
    assert cfg["num_images"] == 8 and cfg["image_shape"] == [28, 28, 1]


def test_out_that_is_a_file(cli, tmp_path):
    (tmp_path / "file").write_text("x")
    r = cli("train", "--data", FIXTURE_DATA, "--out", tmp_path / "file", "--dry-run")
    assert_one_line_error(r, 2, "is not a folder")


# --- --ckpt that is not a run --------------------------------------------------------------------

def test_ckpt_that_is_a_folder_but_not_a_run(tmp_path):
    from ganctl.errors import UsageError
    from ganctl.runs import find_run

    (tmp_path / "photos").mkdir()
    with pytest.raises(UsageError) as err:
        find_run(str(tmp_path / "photos"), tmp_path / "runs")
    assert str(err.value).startswith(f"{tmp_path / 'photos'} is a folder but not a run (it has no "
                                     "config.json); pass a run folder")


def test_ckpt_name_not_under_runs_lists_the_runs_and_suggests_runs(tmp_path, tiny_run):
    from ganctl.errors import UsageError
    from ganctl.runs import find_run

    runs = tmp_path / "elsewhere"
    shutil.copytree(tiny_run, runs / "conv")
    (runs / "not-a-run").mkdir()
    with pytest.raises(UsageError) as err:
        find_run("run1", runs)
    assert str(err.value) == (f"no run 'run1' in {runs}/ (runs there: conv); for runs trained with "
                              "--out DIR pass --runs DIR, or pass a run folder or a checkpoint")
    with pytest.raises(UsageError, match=r"no run 'run1' in .*nothing/ \(no such folder\); .*--runs DIR"):
        find_run("run1", tmp_path / "nothing")
    assert find_run("conv", runs)[0].root == runs / "conv"


def test_conditional_on_a_folder_with_loose_images_names_them(cli, tmp_path):
    data = tmp_path / "imgs"
    for path in ("bags/a.png", "bags/b.png", "coats/c.png", "d.png"):
        (data / path).parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (28, 28)).save(data / path)
    r = cli("train", "--data", data, "--conditional", "--batch-size", 2, "--out", tmp_path / "runs",
            "--dry-run")
    assert_one_line_error(r, 2, f"--conditional needs a class for every image, and {data} has 1 "
                                "image outside its class sub-folders; move it into one")


# --- resuming a run whose data or settings changed under it ---------------------------------------
# Slow: each trains a run (8-19 s at load 4) before it is refused.

def _image_folder(root, counts: dict[str, int]):
    """A folder of 28x28 grayscale PNGs: `counts` images in each named sub-folder ('' = none)."""
    rng = np.random.default_rng(0)
    for sub, n in counts.items():
        (root / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(
                root / sub / f"{sub or 'img'}{i:03d}.png")
    return root


def _train(cli, data, tmp_path, *extra):
    return cli("train", "--data", data, "--batch-size", 16, "--no-xla", "--out", tmp_path / "runs",
               "--name", "r", "--snapshot-every", "1ep", *extra)


@pytest.mark.slow
def test_resume_refuses_images_added_to_the_folder(cli, tmp_path):
    data = _image_folder(tmp_path / "imgs", {"": 32})
    assert _train(cli, data, tmp_path, "--epochs", 1).exit_code == 0
    Image.new("L", (28, 28)).save(data / "new.png")
    r = _train(cli, data, tmp_path, "--epochs", 2)
    assert_one_line_error(r, 2, "the data of run r changed: it was 32 images of (28, 28, 1), now "
                                "33 of (28, 28, 1); pass --fresh to start over")
    assert [c["epoch"] for c in _checkpoints(tmp_path)] == [1]  # nothing trained on it
    assert _train(cli, data, tmp_path, "--epochs", 1, "--fresh").exit_code == 0


@pytest.mark.slow
def test_resume_refuses_images_of_another_size(cli, tmp_path):
    data = tmp_path / "d.npz"
    np.savez(data, x=np.random.default_rng(0).integers(0, 256, (32, 28, 28), dtype=np.uint8))
    assert _train(cli, data, tmp_path, "--epochs", 1).exit_code == 0
    np.savez(data, x=np.zeros((32, 32, 32), np.uint8))
    r = _train(cli, data, tmp_path, "--epochs", 2)
    assert_one_line_error(r, 2, "the data of run r changed: it was 32 images of (28, 28, 1), now "
                                "32 of (32, 32, 1); pass --fresh to start over")


@pytest.mark.slow
def test_resume_refuses_changed_labels(cli, tmp_path):
    data = _image_folder(tmp_path / "imgs", {"bags": 16, "coats": 16})
    assert _train(cli, data, tmp_path, "--epochs", 1, "--conditional").exit_code == 0
    (data / "bags" / "bags000.png").rename(data / "coats" / "bags000.png")  # 15 bags, 17 coats
    r = _train(cli, data, tmp_path, "--epochs", 2)
    assert_one_line_error(r, 2, "the labels of run r's data changed (images per class bags "
                                "16 -> 15, coats 16 -> 17); pass --fresh to start over")
    (data / "bags").rename(data / "handbags")  # a class renamed
    r = _train(cli, data, tmp_path, "--epochs", 2)
    assert_one_line_error(r, 2, "the labels of run r's data changed (classes bags, coats, now "
                                "coats, handbags); pass --fresh to start over")


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_step_that_does_not_fit_the_epoch(cli, tmp_path):
    # config.json edited by hand: 2 steps per epoch now, and the checkpoint holds step 2 of
    # epoch 1 (32 images in batches of 16).
    data = _image_folder(tmp_path / "imgs", {"": 32})
    assert _train(cli, data, tmp_path, "--epochs", 1).exit_code == 0
    config = tmp_path / "runs" / "r" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "batch_size": 32}))
    r = cli("train", "--out", tmp_path / "runs", "--name", "r", "--epochs", 2)
    assert_one_line_error(r, 1, "checkpoint ckpt-e0001-s00000002 holds step 2 after 1 epoch, but "
                                "an epoch is 1 step now (32 images in batches of 32): the data or "
                                "config.json changed since it was saved; put them back, or pass "
                                "--fresh to start over")


def _checkpoints(tmp_path) -> list[dict]:
    return json.loads((tmp_path / "runs" / "r" / "checkpoints" / "index.json").read_text())[
        "checkpoints"]


# --- image folders that cannot be read whole: one line each, the rest trains -------------------

def _three_images(root):
    for i in range(3):
        (root / "a").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (12, 8), (80 * i, 0, 0)).save(root / "a" / f"{i}.png")
    return root


def test_data_that_is_a_file_but_not_an_npz(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    r = cli("train", "--data", tmp_path / "notes.txt", "--out", tmp_path / "runs", "--dry-run")
    assert_one_line_error(r, 2, "a file must be an .npz with an 'x' array; for images pass "
                                "their folder")


def test_symlink_loops_are_skipped_one_line_each(cli, tmp_path):
    folder = _three_images(tmp_path / "imgs")
    (folder / "b").mkdir()
    (folder / "b" / "up").symlink_to("..")  # a folder loop
    (folder / "b" / "self.png").symlink_to("self.png")  # a file loop
    (folder / "b" / "again").symlink_to(folder / "a")  # not a loop: a second path, listed once
    ds = load_dataset(str(folder))
    assert len(ds.x) == 3 and ds.label_names == ("a",)
    assert ds.warnings == [
        f"skipped b/again in {folder}: it is the folder a again (listed once)",
        f"skipped b/self.png in {folder}: it is a symlink loop",
        f"skipped b/up in {folder}: it leads back to the folder itself (a symlink loop)"]
    r = cli("train", "--data", folder, "--batch-size", 2, "--out", tmp_path / "runs",
            "--dry-run")
    assert r.exit_code == 0, r.output
    assert sum("symlink loop" in line for line in r.stderr.splitlines()) == 2


def test_an_unreadable_sub_folder_is_skipped_in_one_line(tmp_path, monkeypatch):
    folder = _three_images(tmp_path / "imgs")
    locked = folder / "locked"
    locked.mkdir()
    Image.new("RGB", (8, 8)).save(locked / "x.png")
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads it anyway: refuse it as the kernel would refuse a user
        scandir = os.scandir

        def refusing(path="."):
            if os.fspath(path) == str(locked):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return scandir(path)

        monkeypatch.setattr(os, "scandir", refusing)
    try:
        ds = load_dataset(str(folder))
    finally:
        locked.chmod(0o755)
    assert len(ds.x) == 3 and ds.label_names == ("a",)
    assert ds.warnings == [f"skipped locked in {folder}: it cannot be read (Permission denied)"]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_that_hangs_is_skipped_after_the_timeout(tmp_path, monkeypatch, workers):
    from ganctl import decode

    folder = _three_images(tmp_path / "imgs")
    os.mkfifo(folder / "a" / "1b.png")  # opening it blocks until a writer comes: forever
    monkeypatch.setenv("GANCTL_DECODE_TIMEOUT", "1")  # the pool's workers inherit it
    monkeypatch.setattr(decode, "CHUNK", 2)  # two chunks: the pool decodes them
    ds = load_dataset(str(folder), workers=workers, use_cache=False)
    assert len(ds.x) == 3
    assert ds.warnings == [f"skipped 1 image file(s) in {folder} whose decoding took over 1 s (it "
                           "hung; GANCTL_DECODE_TIMEOUT sets the limit)"]


CRASHING = """
import os

import ganctl.decode

_decode_file = ganctl.decode.decode_file


def decode_file(path, how):
    if "crash" in os.path.basename(str(path)):
        os._exit(9)  # as a decoder that segfaults, or is killed at its CPU limit
    return _decode_file(path, how)


ganctl.decode.decode_file = decode_file
"""


@pytest.mark.slow
def test_a_file_that_kills_its_decoding_process_is_skipped(tmp_path, monkeypatch):
    from ganctl import decode

    # The pool's spawned workers run this sitecustomize first: their decode_file dies on
    # *crash*.png, as a decoder would on a file that crashes it.
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(CRASHING)
    root = Path(decode.__file__).parents[1]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hooks), str(root)]))
    folder = _three_images(tmp_path / "imgs")
    Image.new("RGB", (8, 8)).save(folder / "a" / "1crash.png")
    monkeypatch.setattr(decode, "CHUNK", 2)
    ds = load_dataset(str(folder), workers=2, use_cache=False, image_size=8, channels=3)
    assert len(ds.x) == 3
    assert [int(v) for v in ds.x[:, 0, 0, 0]] == [0, 80, 160]  # the others, in order
    assert ds.warnings == [f"skipped 1 image file(s) in {folder} whose decoding crashed the "
                           "decoding process"]
