"""Training: the run folder it writes, resume, reproducibility, interruption and divergence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import AVX512_BF16, DCGAN_TINY, FIXTURE_DATA, NO_BF16, checkpoint_tensors, train_tiny
from ganctl.checkpoints import CheckpointStore
from ganctl.errors import GanctlError, UsageError
from ganctl.events import TrainStarted
from ganctl.runs import RunFolder
from ganctl.training.loop import Diverged, plan_training, run_training


def _opts(out, name, **extra):
    opts = dict(data=str(FIXTURE_DATA), limit=256, batch_size=64, out=str(out), name=name,
                seed=1, sample_grid=16, xla=False)
    opts.update(extra)
    return opts


def test_run_folder_layout(tiny_run):
    run = RunFolder(tiny_run)
    cfg = json.loads(run.config.read_text())
    assert cfg["arch"] == "mlp" and cfg["image_shape"] == [28, 28, 1] and cfg["num_images"] == 256
    assert cfg["tensorflow_version"].startswith("2.") and cfg["ganctl_version"]
    records = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for r in records:
        assert r["step"] == 4 * r["epoch"]  # 256 images / batch 64
        assert set(r) >= {"g_loss", "d_loss", "d_real", "d_fake", "images_per_s", "seconds"}
        assert 0 < r["d_real"] < 1 and 0 < r["d_fake"] < 1 and r["images_per_s"] > 0
    for epoch in (1, 2):
        grid = iio.imread(run.sample_path(epoch))
        # 16 tiles of 28 px in a 4x4 grid with 1 px borders
        assert grid.shape[:2] == (4 * 28 + 5, 4 * 28 + 5)
    frames = iio.imread(run.progress_gif, index=None)
    assert len(frames) == 2
    store = CheckpointStore(run.checkpoints)
    assert [c.epoch for c in store.list()] == [1, 2] and all(c.complete for c in store.list())
    assert any(run.tensorboard.glob("events.out.tfevents.*"))
    assert not run.lock.exists()


@pytest.mark.slow
def test_same_seed_same_weights_and_losses(tmp_path):
    # with XLA, as `ganctl train` runs by default
    a = train_tiny(tmp_path, "a", epochs=1, xla=True)
    b = train_tiny(tmp_path, "b", epochs=1, xla=True)
    la = [json.loads(x)["g_loss"] for x in (a / "metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(x)["g_loss"] for x in (b / "metrics.jsonl").read_text().splitlines()]
    assert la == lb
    wa, wb = checkpoint_tensors(a), checkpoint_tensors(b)
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    c = train_tiny(tmp_path, "c", epochs=1, seed=2, xla=True)
    wc = checkpoint_tensors(c)
    kernels = [k for k in wa if wa[k].ndim == 2]  # G's 5 and D's 3, and their Adam slots
    assert wc.keys() == wa.keys() and len(kernels) == 3 * 8
    assert not any(np.array_equal(wa[k], wc[k]) for k in kernels)


@pytest.mark.slow
def test_resume_equals_straight_run(tmp_path):
    straight = train_tiny(tmp_path, "straight", epochs=2)
    resumed = train_tiny(tmp_path, "resumed", epochs=1)
    train_tiny(tmp_path, "resumed", epochs=2)
    ws, wr = checkpoint_tensors(straight), checkpoint_tensors(resumed)
    assert ws.keys() == wr.keys() and all(np.array_equal(ws[k], wr[k]) for k in ws)
    epochs = [json.loads(x)["epoch"] for x in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]


@pytest.mark.slow
def test_interrupt_mid_epoch_then_resume_equals_straight(tmp_path):
    straight = train_tiny(tmp_path, "straight", epochs=2)
    calls = {"n": 0}

    def stop_after_three_checks():
        calls["n"] += 1
        return calls["n"] > 3  # a call of 2 steps, then stop inside epoch 1... or 2

    plan = plan_training(_opts(tmp_path, "cut", epochs=2, steps_per_call=2))
    result = run_training(plan, should_stop=stop_after_three_checks)
    assert result.interrupted and result.last_checkpoint is not None
    assert not result.last_checkpoint.complete and result.step == 6
    # One epoch and part of the next are done: --epochs 1 is complete and trains nothing
    # (config.json keeps the session that trained); --epochs 2 finishes epoch 2.
    result = run_training(plan_training(_opts(tmp_path, "cut", epochs=1)))
    assert result.already_complete and (result.epochs_done, result.step) == (1, 6)
    assert [r["epoch"] for r in plan.run.read_metrics()] == [1]
    assert plan.run.read_config().epochs == 2
    plan = plan_training(_opts(tmp_path, "cut", epochs=2))
    result = run_training(plan)
    assert not result.interrupted and result.epochs_done == 2 and result.step == 8
    ws, wc = checkpoint_tensors(straight), checkpoint_tensors(plan.run.root)
    assert ws.keys() == wc.keys() and all(np.array_equal(ws[k], wc[k]) for k in ws)


@pytest.mark.slow
def test_resume_refuses_changed_settings_and_fresh_restarts(tmp_path):
    run = train_tiny(tmp_path, "r", epochs=1)
    with pytest.raises(UsageError, match="trained with lr=0.0002.*--fresh"):
        plan_training(_opts(tmp_path, "r", epochs=2, lr=0.1))
    plan = plan_training(_opts(tmp_path, "r", epochs=1, lr=0.1), fresh=True)
    assert plan.cfg.lr == 0.1 and not plan.resuming
    run_training(plan)
    assert json.loads((run / "config.json").read_text())["lr"] == 0.1
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1


def test_next_free_run_name(tmp_path):
    opts = _opts(tmp_path, None, epochs=1)
    (tmp_path / "run1").mkdir()
    (tmp_path / "run7").mkdir()
    assert plan_training(opts).run.name == "run8"


@pytest.mark.slow
def test_nan_loss_stops_with_last_good_checkpoint(tmp_path, monkeypatch):
    from ganctl.training.gan import GAN

    run = train_tiny(tmp_path, "nan", epochs=1)
    before = checkpoint_tensors(run)
    real = GAN.train_steps

    def poisoned(self, order, start, count):
        sums = real(self, order, start, count)
        sums[0] = np.nan
        return sums

    monkeypatch.setattr(GAN, "train_steps", poisoned)
    with pytest.raises(Diverged, match=r"g loss became NaN at epoch 2, step \d+; last good "
                                       r"checkpoint: ckpt-e0001-s00000004"):
        run_training(plan_training(_opts(tmp_path, "nan", epochs=2)))
    after = checkpoint_tensors(run)
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    assert not (run / "train.lock").exists()


@pytest.mark.slow
def test_damaged_newest_checkpoint_falls_back(tmp_path):
    run = train_tiny(tmp_path, "dmg", epochs=2)
    store = CheckpointStore(run / "checkpoints")
    newest = store.latest()
    data = run / "checkpoints" / f"{newest.name}.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    warnings = []
    plan = plan_training(_opts(tmp_path, "dmg", epochs=2))
    from ganctl.events import Message

    result = run_training(plan, emit=lambda e: warnings.append(e.text) if isinstance(e, Message) else None)
    assert any("cannot be loaded" in w and newest.name in w for w in warnings)
    assert result.epochs_done == 2  # epoch 2 was trained again from epoch 1's checkpoint


@pytest.mark.slow
def test_lock_held_by_live_process_refuses(tmp_path):
    import os

    run = train_tiny(tmp_path, "locked", epochs=1)
    (run / "train.lock").write_text(f"{os.getppid()}\n")
    with pytest.raises(GanctlError, match="being trained by process"):
        run_training(plan_training(_opts(tmp_path, "locked", epochs=2)))
    (run / "train.lock").write_text("999999999\n")  # no such process: stale, taken over
    result = run_training(plan_training(_opts(tmp_path, "locked", epochs=2)))
    assert result.epochs_done == 2 and not (run / "train.lock").exists()


@pytest.mark.slow
def test_copy_of_run_is_independent(tiny_run, tmp_path):
    # A copied run folder, under another name and folder, with the original gone: it resumes
    # from its own checkpoints and logs, and training it leaves the original untouched.
    original = tmp_path / "orig" / "tiny"
    shutil.copytree(tiny_run, original)
    before = {p.relative_to(original): p.read_bytes() for p in original.rglob("*") if p.is_file()}
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(original, copy)
    moved = tmp_path / "moved-away"
    original.rename(moved)  # the copy must not read the original's folder
    events: list = []
    result = run_training(plan_training(_opts(tmp_path / "elsewhere", "copy", epochs=3)),
                          emit=events.append)
    assert (result.epochs_done, result.step, result.already_complete) == (3, 12, False)
    # It continued from its own epoch 2, keeping that history, rather than starting over (which
    # would end with the same weights, since resume == straight).
    [started] = [e for e in events if isinstance(e, TrainStarted)]
    assert (started.start_epoch, started.resumed_from) == (2, "ckpt-e0002-s00000008")
    history = before[Path("metrics.jsonl")].decode().splitlines()
    assert len(history) == 2 and (copy / "metrics.jsonl").read_text().splitlines()[:2] == history
    assert result.last_checkpoint.name == "ckpt-e0003-s00000012"
    assert [c.epoch for c in CheckpointStore(copy / "checkpoints").list()] == [1, 2, 3]
    assert [r["epoch"] for r in RunFolder(copy).read_metrics()] == [1, 2, 3]
    assert json.loads((copy / "config.json").read_text())["name"] == "copy"
    moved.rename(original)
    after = {p.relative_to(original): p.read_bytes() for p in original.rglob("*") if p.is_file()}
    assert after == before


def _trainer_clock(monkeypatch, step: float) -> None:
    """Give every Trainer a clock that advances `step` seconds each time it is read."""
    from ganctl.training.loop import Trainer

    now = {"t": 0.0}

    def clock():
        now["t"] += step
        return now["t"]

    real_init = Trainer.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.clock = clock

    monkeypatch.setattr(Trainer, "__init__", init)


@pytest.mark.slow
def test_minutes_stop_with_a_checkpoint_and_a_rerun_gives_as_many_more(tmp_path, monkeypatch):
    # A clock that advances one minute each time it is read: the deadline is read once at the
    # start, then before every compiled call; 2.5 minutes allow two calls of one step.
    _trainer_clock(monkeypatch, 60.0)
    opts = _opts(tmp_path, "timed", epochs=2, steps_per_call=1, minutes=2.5)
    first = run_training(plan_training(opts))
    assert first.out_of_time and not first.interrupted and first.step == 2
    assert first.last_checkpoint.step == 2 and not first.last_checkpoint.complete
    second = run_training(plan_training(opts))  # the same command: two more steps
    assert second.out_of_time and second.step == 4 and second.epochs_done == 1
    assert [c.step for c in CheckpointStore(tmp_path / "timed" / "checkpoints").list()] == [2, 4]


def test_minutes_on_the_command_line(cli, tmp_path):
    result = cli("train", "--data", FIXTURE_DATA, "--limit", "256", "--batch-size", "64",
                 "--out", tmp_path, "--name", "m", "--no-xla", "--minutes", "0.00001")
    assert result.exit_code == 0, result.output
    # The deadline has passed before the first compiled call: nothing is trained.
    assert ("stopped at the --minutes 1e-05 limit, before the first step; saved "
            "ckpt-e0000-s00000000. Run the same command for 1e-05 more minutes.") in result.output
    assert CheckpointStore(tmp_path / "m" / "checkpoints").latest() is not None
    bad = cli("train", "--data", FIXTURE_DATA, "--out", tmp_path, "--minutes", "0")
    assert bad.exit_code == 2 and "--minutes must be a positive number" in bad.output


def test_minutes_text_is_singular_for_one_minute():
    from ganctl.training.loop import minutes_text

    assert minutes_text(1) == "1 minute" and minutes_text(1.0) == "1 minute"
    assert minutes_text(2.5) == "2.5 minutes" and minutes_text(10) == "10 minutes"


def test_stop_message_says_where_the_run_stands():
    from ganctl.checkpoints import CheckpointInfo
    from ganctl.cli.train import _where
    from ganctl.training.loop import TrainResult

    def result(epochs_done, step, complete):
        ckpt = CheckpointInfo(f"ckpt-e{epochs_done:04d}-s{step:08d}", epochs_done, step, complete)
        return TrainResult(None, epochs_done, step, True, ckpt)

    assert _where(result(0, 0, True)) == "before the first step"
    assert _where(result(2, 8, True)) == "after epoch 2, step 8"  # not "epoch 3": it has not begun
    assert _where(result(2, 9, False)) == "in epoch 3, step 9"


@pytest.mark.slow
def test_precision_auto_is_resolved_saved_and_explained(tmp_path, fake_cpu):
    # dcgan on a CPU with avx512_bf16 (no AMX): auto picks bf16, config.json keeps "bf16" (not
    # "auto"), and the progress header says what auto picked and why.
    from ganctl.events import TrainStarted

    fake_cpu(AVX512_BF16)
    events: list = []
    run = train_tiny(tmp_path, "auto", epochs=1, events=events, precision="auto", **DCGAN_TINY)
    assert json.loads((run / "config.json").read_text())["precision"] == "bf16"
    started = [e for e in events if isinstance(e, TrainStarted)]
    assert started[0].notes[-1] == ("bf16 (auto: bf16 pays for dcgan with amx_bf16 or "
                                    "avx512_bf16; this CPU has avx512_bf16)")
    # Resuming with --precision auto again is the same choice, not a changed setting.
    events.clear()
    train_tiny(tmp_path, "auto", epochs=2, events=events, precision="auto", **DCGAN_TINY)
    assert [e for e in events if isinstance(e, TrainStarted)][0].start_epoch == 1
    # On a CPU where auto picks float32 it is a changed setting, named as such.
    fake_cpu(NO_BF16)
    with pytest.raises(UsageError, match="trained with precision='bf16', not 'float32'"):
        plan_training(_opts(tmp_path, "auto", epochs=3, precision="auto", **DCGAN_TINY))
    # Without --precision auto the header says nothing of it.
    plan = plan_training(_opts(tmp_path, "auto", epochs=3, **DCGAN_TINY))
    assert plan.cfg.precision == "bf16" and plan.auto.precision == ""


def test_the_progress_header_names_the_image_size_and_colour():
    from ganctl.config import TrainConfig
    from ganctl.training.loop import AutoReasons, training_notes

    emoji = TrainConfig(arch="dcgan", width=32, image_shape=(64, 64, 3), num_images=3781)
    assert training_notes(emoji)[0] == "dcgan width 32 on 64×64 colour images"
    assert training_notes(TrainConfig(image_shape=(28, 28, 1)))[0] == "mlp on 28×28 grayscale images"
    cond = TrainConfig(arch="dcgan", conditional=True, image_shape=(28, 28, 1),
                       labels=tuple("abc"), class_counts=(1, 1, 1))
    assert training_notes(cond)[0] == "dcgan width 32 on 28×28 grayscale images, conditional on 3 classes"
    why = "on a CPU, width 32 drew better images per minute than 64 in the quality race"
    assert training_notes(cond, AutoReasons(width=why))[0].startswith(f"dcgan width 32 (auto: {why}) on")


def test_minutes_without_epochs_means_no_epoch_limit():
    from ganctl.config import settings_from
    from ganctl.training.loop import training_notes

    assert settings_from({}).epochs == 100  # the default without --minutes
    assert settings_from({"minutes": 1.0}).epochs is None
    assert settings_from({"minutes": 1.0, "epochs": 3}).epochs == 3
    assert training_notes(settings_from({"minutes": 2.0}))[-1] == \
        "for 2 minutes (no epoch limit)"
    assert training_notes(settings_from({"minutes": 2.0, "epochs": 3}))[-1] == \
        "for 2 minutes or up to epoch 3, whichever comes first"


@pytest.mark.slow
def test_minutes_without_epochs_trains_until_the_time_is_up(tmp_path, monkeypatch):
    _trainer_clock(monkeypatch, 1.0)  # a clock that advances one second each time it is read
    opts = _opts(tmp_path, "timed", limit=128, steps_per_call=2, minutes=0.5,
                 snapshot_every="1000ep")
    result = run_training(plan_training(opts))
    # 30 s: one read starts the clock, then 29 compiled calls of 2 steps = 1 epoch each.
    assert result.out_of_time and result.epochs_done == 29 and result.step == 58
    assert json.loads((tmp_path / "timed" / "config.json").read_text())["epochs"] is None
