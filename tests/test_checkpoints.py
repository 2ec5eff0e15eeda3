"""The checkpoint store: which checkpoints pruning keeps, and that their files go with them."""

from __future__ import annotations

from pathlib import Path

from ganctl.checkpoints import CheckpointStore


def _save(store: CheckpointStore, var, epoch: int, score: float | None):
    var.assign(epoch)  # each checkpoint holds its own epoch, to check what a restore reads
    return store.save({"v": var}, epoch, 4 * epoch, complete=True, score=score)


def _on_disk(folder: Path) -> set[str]:
    return {p.name.split(".")[0] for p in folder.glob("ckpt-*")}


def test_prune_keeps_the_newest_and_the_best_even_when_it_is_older(tmp_path):
    import tensorflow as tf

    store = CheckpointStore(tmp_path, keep=2)
    var = tf.Variable(0, dtype=tf.int64)
    kept_after = {}
    for epoch, score in [(1, None), (2, 3.0), (3, 1.0), (4, 2.0), (5, None), (6, 4.0)]:
        _save(store, var, epoch, score)
        kept_after[epoch] = [e.epoch for e in store.list()]
    # keep=2 newest, plus epoch 3 (FD 1.0) once it is the best, however old it gets
    assert kept_after == {1: [1], 2: [1, 2], 3: [2, 3], 4: [3, 4], 5: [3, 4, 5], 6: [3, 5, 6]}
    entries = store.list()
    assert [e.best for e in entries] == [True, False, False]
    assert _on_disk(tmp_path) == {e.name for e in entries}  # pruned files are deleted
    store.restore({"v": var}, entries[0])
    assert int(var.numpy()) == 3

    # A better score takes over: the old best is no longer kept, its files go.
    _save(store, var, 7, 0.5)
    entries = store.list()
    assert [(e.epoch, e.best) for e in entries] == [(6, False), (7, True)]
    assert _on_disk(tmp_path) == {e.name for e in entries}


def test_keep_one_without_scores_keeps_only_the_newest(tmp_path):
    import tensorflow as tf

    store = CheckpointStore(tmp_path, keep=1)
    var = tf.Variable(0, dtype=tf.int64)
    for epoch in (1, 2, 3):
        _save(store, var, epoch, None)
    [only] = store.list()
    assert (only.epoch, only.best) == (3, False)
    assert _on_disk(tmp_path) == {only.name}


def test_remove_unlisted_deletes_leftovers_of_a_killed_save(tmp_path):
    # A process killed inside tf.train.Checkpoint.write leaves its shards in NAME_temp/ (a
    # folder) and no index entry; resuming must clear it, not fail on it.
    store = CheckpointStore(tmp_path)
    (tmp_path / "index.json").write_text('{"checkpoints": []}')
    temp = tmp_path / "ckpt-e0001-s00000032_temp"
    temp.mkdir()
    (temp / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half")
    store.remove_unlisted()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.json"]
