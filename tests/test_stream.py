"""Streaming an image folder's batches from the data cache (`--max-data-memory`): the same
batches in the same order as in memory, an exact resume in the middle of an epoch, and when it
is chosen."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import FIXTURE_DATA, assert_one_line_error, checkpoint_tensors, train_tiny
from ganctl.data import choose_holding, find_idx, load_dataset, read_idx
from ganctl.errors import UsageError
from ganctl.events import TrainStarted
from ganctl.training.loop import plan_training, run_training
from ganctl.training.stream import RowReader, Stream


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """300 fixture images as 28x28 PNGs in one sub-folder per class."""
    root = tmp_path_factory.mktemp("fm300")
    x = read_idx(find_idx(FIXTURE_DATA, "train-images-idx3-ubyte.gz"))
    y = read_idx(find_idx(FIXTURE_DATA, "train-labels-idx1-ubyte.gz"))
    for i in range(300):
        (root / f"c{y[i]}").mkdir(exist_ok=True)
        Image.fromarray(x[i]).save(root / f"c{y[i]}" / f"{i:04d}.png")
    return root


def _same(a, b):
    wa, wb = checkpoint_tensors(a), checkpoint_tensors(b)
    assert wa.keys() == wb.keys()
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)


def test_the_row_reader_reads_a_cache_file_and_its_views(folder):
    x = load_dataset(str(folder)).x
    assert isinstance(x, np.memmap)
    for view in (x, x[:100], x[7:]):
        reader = RowReader(view)
        assert reader.fd is not None  # read from the file, not through the map
        idx = np.array([5, 0, 42, 5, len(view) - 1])
        out = np.empty((len(idx), *view.shape[1:]), np.uint8)
        reader.read(idx, out)
        assert np.array_equal(out, np.asarray(view)[idx])
        reader.close()


def test_streamed_blocks_are_the_in_memory_batches_in_the_epochs_order(folder, tmp_path):
    import tensorflow as tf

    from ganctl.training.gan import GAN

    plan = plan_training(dict(data=str(folder), batch_size=64, steps_per_call=3, seed=5,
                              conditional=True, out=str(tmp_path)))
    gan = GAN(plan.cfg)
    x, y = np.asarray(plan.data.x), plan.data.y
    gan.set_data(plan.data.x, y, stream=True)
    assert gan.feed.streaming and gan.steps_per_epoch == 4
    for epoch in (1, 2):
        order = gan.epoch_order(epoch)
        keys = tf.random.stateless_uniform([300], seed=[5, epoch])  # the in-memory feeder's
        expected = np.argsort(keys.numpy(), kind="stable")[:256].reshape(4, 64)
        assert np.array_equal(order.numpy(), expected)
        for start, count in ((0, 3), (3, 1)):  # the loop's calls: 3 steps, then the last one
            images, labels = (t.numpy() for t in gan.feed._stream.block(order, start, count))
            assert images.shape == (3, 64, 28, 28, 1)
            rows = expected[start:start + count]
            assert np.array_equal(images[:count], x[rows]) and not images[count:].any()
            assert np.array_equal(labels[:count], y[rows])
    stream = Stream(x, None, 2, (16, 48))  # a worker's shard: its rows of every batch
    order = np.arange(128).reshape(2, 64)
    (images, _), = list(stream._generate(order, 0))
    assert np.array_equal(images, x[order[:, 16:48]])


def test_max_data_memory_below_the_decoded_size_streams(folder, tmp_path, cli):
    x = load_dataset(str(folder)).x  # 300 x 28 x 28: 229.7 KiB
    held = choose_holding(x, "1G")
    assert not held.stream and held.why.startswith("images in memory (229.7 KiB")
    streamed = choose_holding(x, "200K")
    assert streamed.stream and "more than --max-data-memory 200K" in streamed.why
    assert choose_holding(x, "400K").stream  # twice the decoded size is needed while placing
    # Arrays that are not a data cache are held in memory whatever the limit.
    idx = load_dataset(str(FIXTURE_DATA)).x
    assert not choose_holding(idx, "1K").stream and choose_holding(idx, "1G").why == ""
    # Without the cache there is nothing to stream: refused before decoding.
    with pytest.raises(UsageError, match="drop --no-data-cache to stream them"):
        load_dataset(str(folder), use_cache=False, max_memory="100K")
    r = cli("train", "--data", folder, "--max-data-memory", "lots", "--dry-run")
    assert_one_line_error(r, 2, "--max-data-memory: 'lots' is not a size")
    r = cli("train", "--data", folder, "--max-data-memory", "1M", "--out", tmp_path, "--dry-run")
    assert r.exit_code == 0 and '"max_data_memory": "1M"' in r.stdout


@pytest.mark.slow
def test_a_streamed_run_equals_the_in_memory_run_and_resumes_exactly(folder, tmp_path):
    opts = dict(data=str(folder), limit=None, steps_per_call=2, snapshot_every="auto")
    memory = train_tiny(tmp_path, "memory", **opts)
    events = []
    streamed = train_tiny(tmp_path, "streamed", events=events, max_data_memory="1K", **opts)
    header = next(e for e in events if isinstance(e, TrainStarted))
    assert any(n.startswith("images streamed from the data cache") for n in header.notes)
    _same(streamed, memory)
    # Stopped after the first call of epoch 2 (step 6 of 8), then resumed: the same weights.
    calls = {"n": 0}

    def stop_after_three_calls():
        calls["n"] += 1
        return calls["n"] > 3

    base = dict(data=str(folder), batch_size=64, out=str(tmp_path), name="cut", seed=1,
                sample_grid=16, xla=False, steps_per_call=2, max_data_memory="1K")
    result = run_training(plan_training(dict(base, epochs=2)), should_stop=stop_after_three_calls)
    assert result.interrupted and result.step == 6 and not result.last_checkpoint.complete
    plan = plan_training(dict(base, epochs=2))
    assert plan.holding.stream
    result = run_training(plan)
    assert result.epochs_done == 2 and result.step == 8
    _same(plan.run.root, memory)
