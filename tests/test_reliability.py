"""Reliability: killed and interrupted runs resume, files stay readable, failures are clear."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import FIXTURE_DATA, checkpoint_tensors
from ganctl.checkpoints import CheckpointStore
from ganctl.errors import GanctlError
from ganctl.runs import RunFolder
from ganctl.training.loop import plan_training, run_training


def _train_cmd(out: Path, name: str, epochs: int) -> list[str]:
    return [sys.executable, "-m", "ganctl", "train", "--data", str(FIXTURE_DATA), "--limit", "1024",
            "--batch-size", "32", "--steps-per-call", "2", "--no-xla", "--epochs", str(epochs),
            "--out", str(out), "--name", name, "--seed", "5", "--snapshot-every", "1ep"]


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the training subprocess")


def _epochs_logged(run: RunFolder) -> int:
    return len(run.read_metrics())


def _assert_run_readable(run: RunFolder) -> None:
    json.loads(run.config.read_text())
    for line in run.metrics.read_text().splitlines():
        json.loads(line)
    for png in run.samples.glob("epoch_*.png"):
        assert iio.imread(png).ndim >= 2
    assert len(iio.imread(run.progress_gif, index=None)) >= 1


def _assert_no_temporaries(run: RunFolder) -> None:
    assert not list(run.root.rglob(".*.tmp*")), "a temporary file was left behind"


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume(tmp_path):
    run = RunFolder(tmp_path / "k")
    store = CheckpointStore(run.checkpoints)
    proc = subprocess.Popen(_train_cmd(tmp_path, "k", 4), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        # Epoch 1's checkpoint, not its log line, which is written first: killed between the
        # two, the run would start over and end like a straight run whatever resume did.
        _wait_for(lambda: store.latest() is not None or proc.poll() is not None)
        time.sleep(0.3)  # into epoch 2
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    _assert_run_readable(run)
    assert run.lock.exists()  # left by the killed process; the next run takes it over
    assert 1 <= store.latest().epoch < 4
    opts = dict(data=str(FIXTURE_DATA), limit=1024, batch_size=32, epochs=4, out=str(tmp_path),
                seed=5, xla=False)
    result = run_training(plan_training({**opts, "name": "k"}))
    assert result.epochs_done == 4 and not result.interrupted
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2, 3, 4]
    _assert_run_readable(run)
    _assert_no_temporaries(run)  # a kill mid-write may leave one; the resumed run removes it
    assert not run.lock.exists()
    assert store.latest().epoch == 4
    # It ends where a run never killed ends: the same weights, optimizer slots and RNG state.
    run_training(plan_training({**opts, "name": "straight"}))
    killed, straight = checkpoint_tensors(run.root), checkpoint_tensors(tmp_path / "straight")
    assert killed.keys() == straight.keys()
    assert {"g_opt", "d_opt", "rng", "step"} <= {name.split("/")[0] for name in killed}
    assert [name for name in killed if not np.array_equal(killed[name], straight[name])] == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_save_a_checkpoint_and_exit_cleanly(tmp_path, sig):
    run = RunFolder(tmp_path / "s")
    proc = subprocess.Popen(_train_cmd(tmp_path, "s", 50), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: _epochs_logged(run) >= 1 or proc.poll() is not None)
        time.sleep(0.3)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    text = out.decode()
    assert "Traceback" not in err.decode()
    # The line names the checkpoint it saved and the step where training stopped; that
    # checkpoint is the newest and holds that step (not an earlier epoch's). It says "after
    # epoch N" when the stop landed on an epoch's end (the signal came during a snapshot), else
    # "in epoch N" for a mid-epoch checkpoint.
    m = re.search(r"stopped (in|after) epoch (\d+), step (\d+); saved (ckpt-\S+)\. Run the same "
                  r"command to continue", text)
    assert m, text
    where, n, step, name = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
    steps_per_epoch = 1024 // 32
    store = CheckpointStore(run.checkpoints)
    latest = store.latest()
    if where == "after":
        assert n >= 1 and step == n * steps_per_epoch
        assert (latest.name, latest.epoch, latest.step, latest.complete) == (name, n, step, True)
    else:
        assert n >= 2 and (n - 1) * steps_per_epoch < step < n * steps_per_epoch
        assert (latest.name, latest.epoch, latest.step, latest.complete) == (name, n - 1, step,
                                                                             False)
    import tensorflow as tf

    reader = tf.train.load_checkpoint(store.prefix(latest))
    assert int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) == step
    assert int(reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE")) == latest.epoch
    assert len(run.read_metrics()) == latest.epoch
    assert not run.lock.exists()
    _assert_run_readable(run)
    _assert_no_temporaries(run)


@pytest.mark.slow
def test_disk_full_while_saving_keeps_earlier_checkpoints(tmp_path, monkeypatch):
    import tensorflow as tf

    opts = dict(data=str(FIXTURE_DATA), limit=256, batch_size=64, out=str(tmp_path), name="full",
                seed=1, xla=False, sample_grid=16)
    run_training(plan_training({**opts, "epochs": 1}))
    real_write = tf.train.Checkpoint.write

    def full_disk(self, prefix, options=None):
        Path(prefix + ".index").write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tf.train.Checkpoint, "write", full_disk)
    with pytest.raises(GanctlError, match="No space left on device; earlier checkpoints are intact"):
        run_training(plan_training({**opts, "epochs": 2}))
    monkeypatch.setattr(tf.train.Checkpoint, "write", real_write)
    store = CheckpointStore(tmp_path / "full" / "checkpoints")
    assert [c.epoch for c in store.list()] == [1]
    assert not list((tmp_path / "full" / "checkpoints").glob("ckpt-e0002*"))
    # and the run resumes from epoch 1 once there is space again
    result = run_training(plan_training({**opts, "epochs": 2}))
    assert result.epochs_done == 2
    assert [r["epoch"] for r in RunFolder(tmp_path / "full").read_metrics()] == [1, 2]


@pytest.mark.slow
def test_torn_metrics_line_is_dropped_on_resume(tmp_path):
    opts = dict(data=str(FIXTURE_DATA), limit=256, batch_size=64, out=str(tmp_path), name="torn",
                seed=1, xla=False, sample_grid=16)
    run_training(plan_training({**opts, "epochs": 1}))
    run = RunFolder(tmp_path / "torn")
    with open(run.metrics, "a") as fh:
        fh.write('{"epoch": 2, "step": 8, "g_lo')  # a crash mid-line
    run_training(plan_training({**opts, "epochs": 2}))
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2]
    assert all(json.loads(line) for line in run.metrics.read_text().splitlines())


def test_no_pickle_or_code_in_a_run_folder(tiny_run):
    # weights and JSON only: no pickle, no SavedModel, no Keras model file with Lambda layers
    suffixes = {p.suffix for p in Path(tiny_run).rglob("*") if p.is_file()}
    assert not suffixes & {".pkl", ".pickle", ".pb", ".keras", ".h5"}
    assert os.path.exists(Path(tiny_run) / "checkpoints" / "index.json")


class _Crash(Exception):
    """Stands in for the process dying (power cut, OOM kill) at a chosen point."""


@pytest.mark.slow
def test_crash_between_log_and_checkpoint_of_last_epoch_retrains_it(cli, tmp_path, monkeypatch):
    # The epoch's metrics line is written before its checkpoint. A crash between the two in
    # the last epoch leaves metrics.jsonl saying 3 epochs and the newest checkpoint at 2: the
    # same command must then train epoch 3 again, not call the run done.
    args = ["train", "--data", FIXTURE_DATA, "--limit", 256, "--batch-size", 64, "--epochs", 3,
            "--out", tmp_path, "--name", "crash", "--no-xla", "--seed", 4, "--snapshot-every", "1ep"]
    run = RunFolder(tmp_path / "crash")
    real_save = CheckpointStore.save

    def save_or_crash(self, objects, epoch, step, complete, score=None):
        if epoch == 3:
            assert [r["epoch"] for r in run.read_metrics()] == [1, 2, 3]  # logged, not saved
            raise _Crash("killed between the log line and the checkpoint")
        return real_save(self, objects, epoch, step, complete, score)

    monkeypatch.setattr(CheckpointStore, "save", save_or_crash)
    r = cli(*args)
    assert r.exit_code == 1 and "_Crash" in r.stderr, r.output
    assert CheckpointStore(run.checkpoints).latest().epoch == 2
    monkeypatch.setattr(CheckpointStore, "save", real_save)

    r = cli(*args)
    assert r.exit_code == 0, r.output
    assert "already has" not in r.stdout
    assert "resuming from ckpt-e0002-s00000008 at epoch 3/3" in r.stdout
    assert "epoch 3 done" in r.stdout and "done: 3 epochs" in r.stdout
    latest = CheckpointStore(run.checkpoints).latest()
    assert (latest.epoch, latest.step, latest.complete) == (3, 12, True)
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2, 3]
    assert run.sample_path(3).is_file()
    r = cli(*args)  # now it is done
    assert r.exit_code == 0 and "already has 3 epochs" in r.stdout, r.output


def test_a_taken_over_run_drops_half_written_temporaries(tmp_path):
    # A SIGKILL during an atomic write leaves its temporary (never the final name) behind.
    run = RunFolder(tmp_path / "t")
    (run.samples).mkdir(parents=True)
    (run.samples / "epoch_0001.png").write_bytes(b"kept")
    (run.samples / ".epoch_0002.x1y2.tmp.png").write_bytes(b"half")
    (run.root / ".metrics.abc.tmp.jsonl").write_bytes(b"half")
    run.remove_temporaries()
    assert sorted(p.name for p in run.root.rglob("*") if p.is_file()) == ["epoch_0001.png"]
