"""The snapshot schedule: `--snapshot-every` parsed, and where training writes grids, GIF frames
and checkpoints (where the schedule says, at the end, and when stopped)."""

from __future__ import annotations

import types

import numpy as np
import pytest

import ganctl.training.snapshots as snapshots
from conftest import FIXTURE_DATA, assert_one_line_error, train_tiny
from ganctl.checkpoints import CheckpointStore
from ganctl.errors import UsageError
from ganctl.events import EpochDone
from ganctl.images import read_frames, read_image
from ganctl.runs import RunFolder
from ganctl.training.callbacks import SampleGrid
from ganctl.training.loop import plan_training, run_training
from ganctl.training.snapshots import SnapshotEvery, SnapshotSchedule, parse_snapshot_every
from ganctl.training.timelapse import Timelapse

# --- the parser ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text,unit,amount", [
    ("60k", "images", 60_000), ("60000", "images", 60_000), (60000, "images", 60_000),
    ("1.5k", "images", 1500), ("12kimg", "images", 12_000), ("5ep", "epochs", 5),
    ("1 epoch", "epochs", 1), ("2epochs", "epochs", 2), ("10m", "seconds", 600), ("0.5min", "seconds", 30),
    ("30s", "seconds", 30), (" AUTO ", "auto", 0),
])
def test_parse_snapshot_every(text, unit, amount):
    assert parse_snapshot_every(text) == SnapshotEvery(unit, amount)


@pytest.mark.parametrize("text,needle", [
    ("", "use a number of images (60k"), ("often", "use a number of images (60k"),
    ("5x", "epochs (5ep), minutes (10m)"), ("-5ep", "or auto"),
    ("1M", "m means minutes, so write a million images as 1000k"), ("5EP", "or auto"),
    ("0ep", "more than zero"), ("0.0s", "more than zero"), ("1.5ep", "a whole number of epochs"),
    ("100.5", "a whole number of images"),
])
def test_bad_snapshot_every_is_a_one_line_usage_error(text, needle):
    with pytest.raises(UsageError, match=r"^bad --snapshot-every .*") as err:
        parse_snapshot_every(text)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_bad_snapshot_every_on_the_command_line(cli, tmp_path):
    r = cli("train", "--data", FIXTURE_DATA, "--limit", 64, "--out", tmp_path,
            "--snapshot-every", "5 eons", "--dry-run")
    assert_one_line_error(r, 2, "bad --snapshot-every '5 eons': use a number of images (60k")


def test_snapshot_every_from_a_toml_file(cli, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nsnapshot_every = 60000\n")
    r = cli("train", "--data", FIXTURE_DATA, "--limit", 200, "--config", path, "--out", tmp_path,
            "--dry-run")
    assert r.exit_code == 0, r.output
    assert '"snapshot_every": "60000"' in r.stdout


# --- the schedule --------------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_images_become_a_stride_in_epochs():
    # 3,000 images at batch 128: 23 steps, 2,944 images per epoch; 60k images ~ 20 epochs
    s = SnapshotSchedule(parse_snapshot_every("60k"), 2944)
    assert s.stride == 20 and s.describe() == "every 20 epochs"
    assert [e for e in range(1, 61) if s.due(e)] == [20, 40, 60]
    # Fashion-MNIST: 468 steps of 128 = 59,904 images per epoch, so 60k is every epoch
    assert SnapshotSchedule(parse_snapshot_every("60k"), 59_904).stride == 1
    assert SnapshotSchedule(parse_snapshot_every("100"), 2944).stride == 1  # at least one
    assert SnapshotSchedule(parse_snapshot_every("3ep"), 2944).describe() == "every 3 epochs"


@pytest.mark.parametrize("epoch_s,expected", [(10.0, [3, 6, 9]), (12.0, [3, 6, 9]),
                                              (60.0, [1, 2, 3, 4, 5, 6, 7, 8, 9])])
def test_auto_is_at_most_one_snapshot_per_30_s_on_any_data(epoch_s, expected):
    # Fashion-MNIST (59,904 images per epoch) no longer snapshots every epoch: the MLP's 10 s
    # epochs snapshot every third one, a dcgan's minute-long ones every epoch.
    clock = Clock()
    schedule = SnapshotSchedule(parse_snapshot_every("auto"), 59_904, clock=clock)
    due = []
    for epoch in range(1, 10):
        clock.now += epoch_s
        if schedule.due(epoch):
            due.append(epoch)
            schedule.taken()
    assert due == expected


def test_auto_is_every_30_s_at_epoch_ends():
    clock = Clock()
    small = SnapshotSchedule(parse_snapshot_every("auto"), 2944, clock=clock)
    assert small.describe() == "every 30 s (at epoch ends)"
    clock.now += 29.9
    assert not small.due(7)
    clock.now += 0.1
    assert small.due(8)
    small.taken()
    assert not small.due(9)  # counted from the last snapshot
    clock.now += 600
    assert small.due(10)


def test_minutes_are_counted_from_the_last_snapshot():
    clock = Clock()
    s = SnapshotSchedule(parse_snapshot_every("10m"), 2944, clock=clock)
    clock.now += 599
    assert not s.due(1)
    clock.now += 1
    assert s.due(2)


# --- where training snapshots --------------------------------------------------------------------

def _snapshot_epochs(events) -> list[int]:
    return [e.epoch for e in events if isinstance(e, EpochDone) and e.snapshot]


def test_epoch_ends_report_where_their_time_went(tmp_path):
    # The training loop's own timer, which benchmarks/snapshot_overhead.py breaks down: a
    # snapshot epoch names every part of the snapshot, another epoch only its log line and hooks.
    events = []
    train_tiny(tmp_path, "timed", epochs=3, snapshot_every="2ep", events=events)
    done = {e.epoch: e for e in events if isinstance(e, EpochDone)}
    snapshot_parts = {"grid", "grid png", "gif", "tensorboard image", "tensorboard flush",
                      "metrics.jsonl", "checkpoint", "index.json", "TensorBoard.on_epoch_end",
                      "SampleGrid.on_epoch_end"}
    assert set(done[2].timings.wall) == snapshot_parts == set(done[3].timings.cpu)
    assert set(done[1].timings.wall) == {"metrics.jsonl", "TensorBoard.on_epoch_end",
                                         "SampleGrid.on_epoch_end"}
    assert all(v >= 0 for e in done.values() for v in e.timings.wall.values())
    assert done[2].timings.wall["checkpoint"] > 0


@pytest.mark.slow
def test_snapshots_where_the_schedule_says_and_at_the_end(tmp_path, cli):
    events = []
    run = RunFolder(train_tiny(tmp_path, "every2", epochs=5, snapshot_every="2ep", keep=9,
                               events=events))
    assert _snapshot_epochs(events) == [2, 4, 5]  # every 2nd epoch, and the last
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2, 3, 4, 5]  # scalars every epoch
    assert sorted(p.name for p in run.samples.iterdir()) == [
        "epoch_0002.png", "epoch_0004.png", "epoch_0005.png"]
    store = CheckpointStore(run.checkpoints)
    assert [(c.epoch, c.complete) for c in store.list()] == [(2, True), (4, True), (5, True)]
    frames = read_frames(run.progress_gif)
    assert len(frames) == 3
    assert np.array_equal(frames[-1][..., 0], read_image(run.sample_path(5)))
    # resumed to 9 epochs, it snapshots at 6 and 8 (epoch numbers, not counts in the session)
    events.clear()
    train_tiny(tmp_path, "every2", epochs=9, snapshot_every="2ep", events=events)
    assert _snapshot_epochs(events) == [6, 8, 9]
    # `--epoch N` finds the checkpoints that exist, and names the nearest for one that does not
    r = cli("sample", "--ckpt", run.root, "--epoch", 6, "--n", 4, "--out", tmp_path / "g.png")
    assert r.exit_code == 0 and (tmp_path / "g.png").is_file(), r.output
    r = cli("sample", "--ckpt", run.root, "--epoch", 7, "--out", tmp_path / "g.png")
    assert_one_line_error(r, 2, "no checkpoint of epoch 7 is kept (kept epochs: 2, 4, 5, 6, 8, 9); "
                                "the nearest: --epoch 6 or --epoch 8")
    r = cli("sample", "--ckpt", run.root, "--epoch", 12, "--out", tmp_path / "g.png")
    assert_one_line_error(r, 2, "(kept epochs: 2, 4, 5, 6, 8, 9); the nearest: --epoch 9")


def _stop_after(checks: int):
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > checks
    return should_stop


def _opts(out, name, **extra):
    return {**dict(data=str(FIXTURE_DATA), limit=256, batch_size=64, out=str(out), name=name,
                   seed=1, sample_grid=16, xla=False, snapshot_every="10ep"), **extra}


@pytest.mark.slow
def test_stopping_mid_epoch_snapshots_the_epoch_in_progress(tmp_path, monkeypatch):
    clock = Clock()  # time stands still: `auto` (every 30 s) is never due
    monkeypatch.setattr(snapshots, "time", types.SimpleNamespace(monotonic=clock))
    # 4 steps per epoch in calls of 2: the 4th check comes after 3 calls, mid-epoch 2
    plan = plan_training(_opts(tmp_path, "cut", epochs=5, steps_per_call=2, snapshot_every="auto"))
    result = run_training(plan, should_stop=_stop_after(3))
    assert result.interrupted and result.step == 6 and result.epochs_done == 1
    assert not result.last_checkpoint.complete and result.last_checkpoint.epoch == 1
    run = plan.run
    assert [p.name for p in run.samples.iterdir()] == ["epoch_0002.png"]  # the epoch in progress
    assert len(read_frames(run.progress_gif)) == 1
    # Resumed, `auto` snapshots only at the end; epoch 2's grid would have been replaced by its
    # end-of-epoch one had epoch 2 snapshotted.
    events = []
    result = run_training(plan_training(_opts(tmp_path, "cut", epochs=5)), emit=events.append)
    assert result.epochs_done == 5 and not result.interrupted
    assert _snapshot_epochs(events) == [5]
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2, 3, 4, 5]
    assert sorted(p.name for p in run.samples.iterdir()) == ["epoch_0002.png", "epoch_0005.png"]
    assert [c.epoch for c in CheckpointStore(run.checkpoints).list()] == [1, 5]
    assert len(read_frames(run.progress_gif)) == 2


def test_stopping_at_an_epoch_end_snapshots_that_epoch_as_complete(tmp_path, cli):
    # one call per epoch: the 3rd check is at the start of epoch 3, after epoch 2 ended
    plan = plan_training(_opts(tmp_path, "edge", epochs=5, steps_per_call=4))
    result = run_training(plan, should_stop=_stop_after(2))
    assert result.interrupted and result.epochs_done == 2 and result.step == 8
    assert result.last_checkpoint.complete and result.last_checkpoint.name == "ckpt-e0002-s00000008"
    assert [p.name for p in plan.run.samples.iterdir()] == ["epoch_0002.png"]
    # a stop right after a snapshot writes nothing new
    before = CheckpointStore(plan.run.checkpoints).list()
    result = run_training(plan_training(_opts(tmp_path, "edge", epochs=5)),
                          should_stop=lambda: True)
    assert result.interrupted and CheckpointStore(plan.run.checkpoints).list() == before
    # and `--epoch` finds the checkpoint written at the stop
    out = tmp_path / "grid.png"
    r = cli("sample", "--ckpt", plan.run.root, "--epoch", 2, "--n", 4, "--out", out)
    assert r.exit_code == 0 and out.is_file(), r.output


@pytest.mark.slow
def test_resume_across_a_gif_thinning_boundary(tmp_path):
    def train(epochs):
        plan = plan_training(_opts(tmp_path, "thin", epochs=epochs, snapshot_every="1ep",
                                   limit=128))
        # a GIF of at most 3 frames: it thins at the 4th grid and again at the 6th
        run_training(plan, callbacks=[SampleGrid(16, max_frames=3)])
        return plan.run

    train(4)
    assert len(read_frames(RunFolder(tmp_path / "thin").progress_gif)) == 3  # grids 1, 3, 4
    run = train(7)
    frames = read_frames(run.progress_gif)
    assert len(frames) == 3
    for frame, epoch in zip(frames, (1, 5, 7), strict=True):  # every 4th grid, and the last
        assert np.array_equal(frame[..., 0], read_image(run.sample_path(epoch)))
    assert len(list(run.samples.glob("epoch_*.png"))) == 7  # every grid stays
    # the same file as one session adding the same 7 grids
    straight = Timelapse(tmp_path / "straight.gif", tmp_path / "none", max_frames=3)
    for epoch in range(1, 8):
        straight.add(epoch, read_image(run.sample_path(epoch)))
    assert run.progress_gif.read_bytes() == (tmp_path / "straight.gif").read_bytes()


def test_find_by_epoch_names_the_nearest_kept_epochs(tmp_path):
    from ganctl.checkpoints import CheckpointInfo, checkpoint_name
    from ganctl.fsutil import atomic_write_json

    def store_of(*kept: tuple[int, bool]) -> CheckpointStore:
        entries = [CheckpointInfo(checkpoint_name(e, 10 * e + (0 if done else 3)), e,
                                  10 * e + (0 if done else 3), done).__dict__ for e, done in kept]
        atomic_write_json(tmp_path / "index.json", {"checkpoints": entries})
        return CheckpointStore(tmp_path)

    store = store_of((20, True), (40, True), (47, False), (60, True))
    assert store.find(epoch=40).name == "ckpt-e0040-s00000400"
    with pytest.raises(UsageError) as err:
        store.find(epoch=30)
    assert str(err.value) == ("no checkpoint of epoch 30 is kept (kept epochs: 20, 40, 60); "
                              "the nearest: --epoch 20 or --epoch 40")
    with pytest.raises(UsageError, match=r"60\); the nearest: --epoch 40 or --epoch 60$"):
        store.find(epoch=47)  # only an interrupted checkpoint has epoch 47 (47 done + 3 steps)
    with pytest.raises(UsageError, match=r"20, 40, 60\); the nearest: --epoch 20$"):
        store.find(epoch=1)
    with pytest.raises(UsageError, match=r"\(kept epochs: none\)$"):
        store_of((3, False)).find(epoch=3)
