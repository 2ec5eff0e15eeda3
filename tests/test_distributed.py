"""Training under tf.distribute computes what one device computes at the same global batch.

`mirrored` runs on the two logical CPU devices that conftest asks for (GANCTL_CPU_DEVICES=2);
`multiworker` runs two local `ganctl train` processes, each with its own TF_CONFIG, on free
127.0.0.1 ports.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import DCGAN_TINY, FIXTURE_DATA, train_tiny
from ganctl.checkpoints import CheckpointStore
from ganctl.runs import RunFolder

# float32 sums in another order (per-replica partial sums, all-reduced) over 8 Adam steps
RTOL, ATOL = 1e-4, 1e-5
WORKER_TIMEOUT_S = 240


def _state(run_root: Path) -> dict[str, np.ndarray]:
    """Every variable of the newest checkpoint: weights, optimizer slots, RNG state, counters."""
    import tensorflow as tf

    store = CheckpointStore(run_root / "checkpoints")
    reader = tf.train.load_checkpoint(store.prefix(store.latest()))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if not n.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")}


# A bias right before a BatchNorm has a zero gradient in exact arithmetic (the normalisation
# takes it out again), so Adam turns rounding noise into steps of up to about lr each (dcgan's
# D/conv2/bias: 2e-4 apart after 4 steps at lr 1e-3). These biases, by name with the BatchNorm
# that follows them (the MLP G's; dcgan D's, which has none under wgan-gp), and their EMA
# copies, only have to agree within 2 lr per update. Every other variable, 1-D ones included,
# is compared at rtol/atol.
PRE_BATCHNORM_BIASES = {"G/fc2/bias": "G/bn2", "G/fc3/bias": "G/bn3", "G/fc4/bias": "G/bn4",
                        "D/conv2/bias": "D/bn2", "D/conv3/bias": "D/bn3"}


def _named_state(run_root: Path) -> tuple[dict[str, np.ndarray], object]:
    """The newest checkpoint of `run_root` restored into a GAN built on one device, every
    variable named by what it is ('G/fc2/bias', 'D_opt/conv2_bias_momentum', 'rng', ...);
    and the run's config."""
    from ganctl.training.gan import GAN

    cfg = RunFolder(run_root).read_config()
    gan = GAN(cfg)
    store = CheckpointStore(run_root / "checkpoints")
    store.restore(gan.checkpoint_objects(), store.latest())
    state, out = gan.state, {}
    groups = [("G", state.generator.variables), ("D", state.discriminator.variables),
              ("G_opt", state.g_opt.variables), ("D_opt", state.d_opt.variables)]
    if state.ema is not None:
        groups.append(("G_ema", state.ema.generator.variables))
    for prefix, variables in groups:
        for v in variables:
            # an optimizer's paths start with its own numbered name ("adam_3/..."): drop it
            path = v.path.split("/", 1)[-1] if prefix.endswith("_opt") else v.path
            assert f"{prefix}/{path}" not in out, path
            out[f"{prefix}/{path}"] = v.numpy()
    out.update(rng=state.rng.state.numpy(), step=state.step.numpy(), epoch=state.epoch.numpy())
    return out, cfg


def assert_same_state(a: Path, b: Path, rtol: float = RTOL, atol: float = ATOL) -> None:
    assert _state(a).keys() == _state(b).keys()  # the same checkpoint contents
    (sa, cfg), (sb, _) = _named_state(a), _named_state(b)
    assert sa.keys() == sb.keys()
    norms = {n.rsplit("/", 1)[0] for n in sa}
    loose = {n for n in sa if PRE_BATCHNORM_BIASES.get(n.replace("G_ema/", "G/")) in norms}
    updates = {"G": int(sa["step"]), "D": int(sa["step"]) * cfg.d_steps}
    for name in sa:
        if name in loose:
            player = name.split("/")[0][0]  # G (or its EMA) or D
            bound = 2 * (cfg.lr if player == "G" else cfg.d_lr) * updates[player]
            np.testing.assert_allclose(sa[name], sb[name], rtol=0, atol=bound, err_msg=name)
        else:
            np.testing.assert_allclose(sa[name], sb[name], rtol=rtol, atol=atol, err_msg=name)


def _losses(run_root: Path) -> np.ndarray:
    return np.array([[r[k] for k in ("g_loss", "d_loss", "d_real", "d_fake")]
                     for r in RunFolder(run_root).read_metrics()])


MIRRORED_EVENTS: list = []


@pytest.fixture(scope="module")
def mirrored_run(tmp_path_factory) -> Path:
    """tiny_run's settings (global batch 64, 2 epochs) on 2 replicas of 32 (its tests are
    marked slow: it trains)."""
    return train_tiny(tmp_path_factory.mktemp("mirrored"), "m", strategy="mirrored",
                      events=MIRRORED_EVENTS)


def test_two_logical_cpu_devices():
    import tensorflow as tf

    assert len(tf.config.list_logical_devices("CPU")) == 2


@pytest.mark.slow
def test_mirrored_equals_one_device(mirrored_run, tiny_run):
    assert_same_state(mirrored_run, tiny_run)
    np.testing.assert_allclose(_losses(mirrored_run), _losses(tiny_run), rtol=RTOL)
    assert json.loads((mirrored_run / "config.json").read_text())["strategy"] == "mirrored"


@pytest.mark.slow
def test_mirrored_header_and_synchronised_batchnorm(mirrored_run):
    import keras

    from ganctl.config import TrainConfig
    from ganctl.events import TrainStarted
    from ganctl.training.gan import GAN
    from ganctl.training.strategy import make_distribution

    started = [e for e in MIRRORED_EVENTS if isinstance(e, TrainStarted)]
    assert [e.strategy for e in started] == ["mirrored, 2 replicas x 32 images"]
    cfg = TrainConfig(image_shape=(28, 28, 1), batch_size=64)

    def batchnorms(gan):
        return [la for la in gan.state.generator.layers
                if isinstance(la, keras.layers.BatchNormalization)]

    assert [la.synchronized for la in batchnorms(GAN(cfg, make_distribution("mirrored", 64)))] \
        == [True] * 3
    assert [la.synchronized for la in batchnorms(GAN(cfg))] == [False] * 3  # one device


# A conditional dcgan on DCGAN_TINY's 128 labelled fixture images (all ten classes). Not 256 in
# steps of 64: with wgan-gp there, rounding alone (conditional or not) grows past 1e-4.
COND_DCGAN_TINY = {**DCGAN_TINY, "conditional": True}


@pytest.mark.slow
@pytest.mark.parametrize("options", [
    {},  # its defaults: one joint G/D step, EMA, augmentation (under 30,000 images)
    {"loss": "wgan-gp", "d_steps": 2},  # alternating steps: 3 noise draws, the penalty's draws
    # Real labels sliced with the images; fake labels drawn for the global batch after each of
    # the 3 noise draws, in that order, and sliced with them. (The joint step's one pair is in
    # test_conditional_multiworker_equals_one_device.)
    {**COND_DCGAN_TINY, "loss": "wgan-gp", "d_steps": 2},
], ids=["defaults", "wgan-gp", "conditional-wgan-gp"])
def test_dcgan_mirrored_equals_one_device(options, tmp_path):
    opts = {**DCGAN_TINY, **options}
    one = train_tiny(tmp_path, "one", epochs=1, **opts)
    mirrored = train_tiny(tmp_path, "m", epochs=1, strategy="mirrored", **opts)
    cfg = json.loads((mirrored / "config.json").read_text())
    assert cfg["ema"] and cfg["augment"] in ("auto", "on")  # what the comparison covers
    assert cfg["conditional"] == bool(options.get("conditional"))
    assert any(n.startswith("generator_ema/") for n in _state(one))
    assert_same_state(mirrored, one)
    np.testing.assert_allclose(_losses(mirrored), _losses(one), rtol=RTOL)


@pytest.mark.slow
def test_mirrored_resume_equals_straight(mirrored_run, tmp_path):
    train_tiny(tmp_path, "r", epochs=1, strategy="mirrored")
    resumed = train_tiny(tmp_path, "r", epochs=2, strategy="mirrored")
    assert_same_state(resumed, mirrored_run, rtol=0, atol=0)
    assert [r["epoch"] for r in RunFolder(resumed).read_metrics()] == [1, 2]


@pytest.mark.slow
def test_resume_on_another_replica_count_keeps_the_math(tiny_run, tmp_path):
    # Chosen behaviour: allowed. The global batch, its images and its noise do not depend on the
    # replica count, so 1 epoch on 2 replicas + 1 on one device = 2 epochs on one device.
    train_tiny(tmp_path, "x", epochs=1, strategy="mirrored")
    switched = train_tiny(tmp_path, "x", epochs=2, strategy="one")
    assert_same_state(switched, tiny_run)
    assert json.loads((switched / "config.json").read_text())["strategy"] == "one"


@pytest.mark.slow
def test_two_replica_run_samples_interpolates_and_evaluates_on_one_device(
        mirrored_run, tiny_run, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    for run, name in ((mirrored_run, "m"), (tiny_run, "one")):
        result = cli("sample", "--ckpt", run, "--n", 16, "--npz", tmp_path / f"{name}.npz",
                     "--out", tmp_path / f"{name}.png")
        assert result.exit_code == 0, result.output
    m, one = (np.load(tmp_path / f"{n}.npz")["images"] for n in ("m", "one"))
    assert m.shape == (16, 28, 28, 1)
    assert np.abs(m.astype(int) - one.astype(int)).max() <= 1  # uint8: equal up to rounding
    result = cli("interpolate", "--ckpt", mirrored_run, "--points", 2, "--frames", 3,
                 "--out", tmp_path / "walk.gif")
    assert result.exit_code == 0 and (tmp_path / "walk.gif").stat().st_size > 0, result.output
    report = tmp_path / "report.json"
    result = cli("evaluate", "--ckpt", mirrored_run, "--n", 200, "--real", FIXTURE_DATA,
                 "--metrics", "fd", "--json", report)
    assert result.exit_code == 0, result.output
    [scored] = json.loads(report.read_text())["checkpoints"]
    assert np.isfinite(scored["metrics"]["fd"]) and scored["metrics"]["fd"] > 0


def test_a_non_chief_worker_saves_to_a_temporary_folder_and_deletes_it(tmp_path, monkeypatch):
    import tempfile

    from ganctl.config import TrainConfig
    from ganctl.training.gan import GAN
    from ganctl.training.loop import Trainer
    from ganctl.training.strategy import Distribution

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    cfg = TrainConfig(image_shape=(28, 28, 1), batch_size=64)
    gan = GAN(cfg)
    gan.set_data(np.zeros((128, 28, 28, 1), np.uint8))
    # Worker 1 of 2 (no collectives are needed to save).
    gan.distribution = Distribution("multiworker", None, 2, 64, workers=2, worker_index=1)
    run = RunFolder(tmp_path / "run")
    trainer = Trainer(gan, run)
    assert trainer.callbacks == []  # grids, GIF, TensorBoard, scores: the chief's
    info = trainer.save(complete=True)
    assert info.name == "ckpt-e0000-s00000000"
    assert not run.root.exists()  # nothing in the run folder
    assert list((tmp_path / "tmp").iterdir()) == []  # and its copy is gone


# --- several workers -------------------------------------------------------------------------------

def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start_workers(tmp_path: Path, name: str, *args: str, timeout_s: float = 20,
                   ports: list[int] | None = None) -> list[subprocess.Popen]:
    """Two `ganctl train --strategy multiworker` processes on localhost, worker 0 the chief."""
    ports = ports or _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    scratch = tmp_path / "tmp"  # where the non-chief's temporary checkpoints go
    scratch.mkdir(exist_ok=True)
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                      "task": {"type": "worker", "index": index}}),
               "GANCTL_CPU_DEVICES": "1", "GANCTL_COLLECTIVE_TIMEOUT": str(timeout_s),
               "TMPDIR": str(scratch), "COLUMNS": "200"}
        cmd = [sys.executable, "-m", "ganctl", "train", "--data", str(FIXTURE_DATA), "--seed", "1",
               "--no-xla", "--out", str(tmp_path), "--name", name, "--strategy", "multiworker",
               # float32 as the one-device runs: conftest's CPU without bf16 (for dcgan's
               # `--precision auto`) does not reach these processes
               "--snapshot-every", "1ep", "--precision", "float32", *args]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    return procs


def _finish(procs: list[subprocess.Popen], timeout: float = WORKER_TIMEOUT_S) -> list[tuple]:
    """(returncode, stdout, stderr) of each worker; kills them all past `timeout`."""
    out = []
    deadline = time.monotonic() + timeout
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            out.append((proc.returncode, stdout, stderr))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out


@pytest.mark.slow
def test_multiworker_equals_one_device_and_only_the_chief_writes(tiny_run, tmp_path):
    procs = _start_workers(tmp_path, "mw", "--limit", "256", "--batch-size", "64",
                           "--epochs", "2")
    results = _finish(procs)
    for rc, stdout, stderr in results:
        assert rc == 0, stdout + stderr
    assert "multiworker, 2 replicas x 32 images, worker 0 of 2" in results[0][1]
    assert "worker 1 of 2" in results[1][1]
    run = RunFolder(tmp_path / "mw")
    assert_same_state(run.root, tiny_run)
    np.testing.assert_allclose(_losses(run.root), _losses(tiny_run), rtol=RTOL)
    # The chief's run folder is complete, and nothing else was written anywhere.
    assert sorted(p.name for p in run.samples.iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2]
    assert len(CheckpointStore(run.checkpoints).list()) == 2
    assert run.progress_gif.is_file() and any(run.tensorboard.glob("events.out.tfevents.*"))
    assert not run.lock.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mw", "tmp"]
    assert not list((tmp_path / "tmp").glob("ganctl-*"))  # worker 1's checkpoint copies are gone


@pytest.mark.slow
def test_conditional_multiworker_equals_one_device(tmp_path):
    # Every worker draws the same global fake labels from its copy of the generator and takes
    # its rows of them, as of the noise, the images and their labels.
    one = train_tiny(tmp_path, "one", epochs=1, **COND_DCGAN_TINY)
    procs = _start_workers(tmp_path, "cmw", "--arch", "dcgan", "--width", "4", "--augment", "on",
                           "--conditional",
                           "--limit", "128", "--batch-size", "32", "--epochs", "1")
    for rc, stdout, stderr in _finish(procs):
        assert rc == 0, stdout + stderr
    run = tmp_path / "cmw"
    assert json.loads((run / "config.json").read_text())["conditional"]
    assert_same_state(run, one)
    np.testing.assert_allclose(_losses(run), _losses(one), rtol=RTOL)


def _class_folder(root: Path, n: int) -> Path:
    """The first `n` fixture images as PNGs in one sub-folder per class."""
    from PIL import Image

    from ganctl.data import load_idx_folder

    ds = load_idx_folder(FIXTURE_DATA)
    for i in range(n):
        (root / f"c{ds.y[i]}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(ds.x[i, ..., 0]).save(root / f"c{ds.y[i]}" / f"{i:04d}.png")
    return root


@pytest.mark.slow
def test_streaming_multiworker_reads_each_workers_shard_and_equals_one_device(tmp_path):
    # Each worker's blocks hold only its rows of every global batch (and their labels): a
    # worker reading the wrong rows would train on other images than one device does.
    folder = _class_folder(tmp_path / "imgs", 128)
    one = train_tiny(tmp_path, "one", epochs=1, data=str(folder), **COND_DCGAN_TINY)
    procs = _start_workers(tmp_path, "smw", "--data", str(folder), "--augment", "on", "--arch",
                           "dcgan", "--width",
                           "4", "--conditional", "--limit", "128", "--batch-size", "32",
                           "--epochs", "1", "--max-data-memory", "1K")
    for rc, stdout, stderr in _finish(procs):
        assert rc == 0, stdout + stderr
        assert "images streamed from the data cache" in stdout
    assert_same_state(tmp_path / "smw", one)


@pytest.mark.slow
def test_a_dead_worker_stops_the_other_and_all_resume(tmp_path):
    args = ("--limit", "1024", "--batch-size", "32", "--steps-per-call", "2", "--epochs", "2")
    procs = _start_workers(tmp_path, "k", *args, timeout_s=20)
    run = RunFolder(tmp_path / "k")
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    try:
        while not run.read_metrics() and time.monotonic() < deadline:
            assert procs[0].poll() is None and procs[1].poll() is None
            time.sleep(0.2)
        assert run.read_metrics(), "epoch 1 never finished"
        procs[1].kill()  # worker 1 dies in epoch 2
        killed_at = time.monotonic()
        rc, stdout, stderr = _finish(procs[:1], timeout=60)[0]
        waited = time.monotonic() - killed_at
    finally:
        _finish(procs, timeout=1)
    assert rc == 1, stdout + stderr
    assert waited < 60
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: worker 0: another worker stopped answering"), stderr
    assert "restart every worker with the same command" in last
    # Both workers gone; the same command on both resumes from the last checkpoint.
    results = _finish(_start_workers(tmp_path, "k", *args))
    for rc, stdout, stderr in results:
        assert rc == 0, stdout + stderr
        assert "resuming from ckpt-e0001-s00000032 at epoch 2/2" in stdout
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2]
    assert CheckpointStore(run.checkpoints).latest().step == 64
    assert not list((tmp_path / "tmp").glob("ganctl-*"))
