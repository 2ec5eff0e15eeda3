"""Fine-tuning (`--init-from RUN`) and FreezeD (`--freeze-d K`): the weights copied exactly,
fresh optimizers, mismatches and broken sources refused in one line, frozen blocks fixed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import DCGAN_TINY, FIXTURE_DATA, train_tiny
from ganctl.errors import GanctlError, UsageError
from ganctl.models import ARCHS

# The source: the shared tiny dcgan (width 4, 128 images, 2 epochs, seed 1).
TUNE = dict(data=str(FIXTURE_DATA), xla=False, sample_grid=16, snapshot_every="1ep", seed=3,
            **DCGAN_TINY)


def _plan(tmp_path, name="tuned", **options):
    from ganctl.training.loop import plan_training

    return plan_training({**TUNE, "out": str(tmp_path), "name": name, **options})


def _gan(plan):
    from ganctl.training.gan import GAN
    from ganctl.training.init_from import load_source

    gan = GAN(plan.cfg)
    gan.set_data(plan.data.x)
    load_source(gan.state, plan.source)
    return gan


def test_g_d_and_the_ema_start_as_the_source_left_them(tiny_dcgan_run, tmp_path):
    import tensorflow as tf

    from ganctl.checkpoints import CheckpointStore
    from ganctl.generation.inference import load_generator
    from ganctl.models import build_for

    plan = _plan(tmp_path, init_from=str(tiny_dcgan_run))
    assert plan.cfg.init_from == str(tiny_dcgan_run.resolve())
    assert plan.init_note == f"fine-tuning from {tiny_dcgan_run.resolve()}"
    gan = _gan(plan)
    z = tf.random.stateless_normal([8, plan.cfg.latent_dim], [1, 2])
    for ema, mine in ((True, gan.shown_generator), (False, gan.state.generator)):
        source = load_generator(str(tiny_dcgan_run), ema=ema).generator
        np.testing.assert_array_equal(mine(z, training=False).numpy(),
                                      source(z, training=False).numpy())
    d = build_for(plan.source.cfg)[1]
    store = CheckpointStore(tiny_dcgan_run / "checkpoints")
    store.restore({"discriminator": d}, store.latest(), partial=True)
    x = tf.constant(plan.data.x[:8], tf.float32) / 127.5 - 1
    np.testing.assert_array_equal(gan.state.discriminator(x, training=False).numpy(),
                                  d(x, training=False).numpy())
    # The optimizers start afresh: no step taken, no moments.
    assert int(gan.state.g_opt.iterations.numpy()) == 0
    assert all(not np.any(v.numpy()) for v in gan.state.d_opt.variables[2:])


@pytest.mark.parametrize("change,message", [
    ({"width": 8}, "width differs: the source run has 4, this run 8"),
    ({"latent_dim": 64}, "latent_dim differs: the source run has 100, this run 64"),
    ({"image_size": 32}, "image_size differs: the source run has 28, this run 32"),
    ({"channels": 3}, "channels differs: the source run has 1, this run 3"),
    ({"arch": "mlp", "width": None, "batch_size": 32}, "arch differs: the source run has dcgan, "
                                                       "this run mlp"),
])
def test_a_source_of_another_model_is_refused_in_one_line(tiny_dcgan_run, tmp_path, change,
                                                          message):
    with pytest.raises(UsageError) as err:
        _plan(tmp_path, init_from=str(tiny_dcgan_run), **change)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_missing_or_damaged_source_is_one_line(tiny_dcgan_run, tmp_path, cli):
    with pytest.raises(UsageError, match=r"--init-from nosuch: no run 'nosuch' in .*pass a run "
                                         "name under --out, a run folder or a checkpoint"):
        _plan(tmp_path, init_from="nosuch")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_dcgan_run, broken)
    (broken / "config.json").write_text("{ not json")
    r = cli("train", "--data", FIXTURE_DATA, "--arch", "dcgan", "--width", "4", "--limit", "128",
            "--out", tmp_path, "--name", "t", "--init-from", broken, "--epochs", "1")
    assert r.exit_code != 0 and r.output.startswith("error: --init-from")
    assert len(r.output.strip().splitlines()) == 1, r.output
    # A good config.json whose checkpoints are damaged: found at load time, still one line.
    shutil.copy(tiny_dcgan_run / "config.json", broken / "config.json")
    for data in (broken / "checkpoints").glob("*.data-*"):
        data.write_bytes(b"damaged")
    plan = _plan(tmp_path, init_from=str(broken))
    with pytest.raises(GanctlError, match=r"^--init-from .*broken: no checkpoint in .* can be "
                                          "loaded") as err:
        _gan(plan)
    assert "\n" not in str(err.value)


def test_freeze_d_keeps_the_first_blocks_and_trains_the_rest(tiny_dcgan_run, tmp_path):
    plan = _plan(tmp_path, init_from=str(tiny_dcgan_run), freeze_d=1)
    gan = _gan(plan)
    d = gan.state.discriminator
    blocks = ARCHS["dcgan"].d_blocks(d)
    assert [[layer.name for layer in b] for b in blocks] == [["conv1"], ["conv2", "bn2"]]

    def weights():
        return {v.path: v.numpy().copy() for v in d.trainable_variables}

    before = weights()
    gan.train_steps(gan.epoch_order(1), 0, 3)
    after = weights()
    frozen = {v.path for v in blocks[0][0].trainable_variables}
    assert frozen and all(np.array_equal(before[k], after[k]) for k in frozen)
    assert all(not np.array_equal(before[k], after[k]) for k in after if k not in frozen)
    with pytest.raises(UsageError, match="--freeze-d 3: this run's D has 2 blocks; pass at most 2"):
        _gan(_plan(tmp_path, "three", init_from=str(tiny_dcgan_run), freeze_d=3))
    with pytest.raises(UsageError, match="--freeze-d keeps D's first blocks .* pass --init-from"):
        _plan(tmp_path, "alone", freeze_d=1)


@pytest.mark.slow
def test_a_fine_tuned_run_records_its_source_and_resumes_without_it(tiny_dcgan_run, tmp_path,
                                                                    cli):
    source = tmp_path / "source"
    shutil.copytree(tiny_dcgan_run, source)
    args = ("train", "--data", FIXTURE_DATA, "--arch", "dcgan", "--width", "4", "--limit", "128",
            "--batch-size", "32", "--no-xla", "--out", tmp_path, "--name", "tuned",
            "--init-from", "source", "--freeze-d", "1")
    r = cli(*args, "--epochs", "1")
    assert r.exit_code == 0, r.output
    assert f"fine-tuning from {source.resolve()}; D's first 1 block frozen (FreezeD)" in r.output
    cfg = json.loads((tmp_path / "tuned" / "config.json").read_text())
    from ganctl.fsutil import file_sha256

    assert cfg["init_from"] == str(source.resolve()) and cfg["freeze_d"] == 1
    assert cfg["init_from_config_sha256"] == file_sha256(source / "config.json")
    shutil.rmtree(source)  # the source only chose the start
    r = cli(*args, "--epochs", "2")
    assert r.exit_code == 0 and "resuming from" in r.output, r.output


@pytest.mark.slow
def test_other_classes_load_all_but_the_class_embedding(tmp_path):
    from PIL import Image

    from ganctl.training.init_from import load_source

    source = train_tiny(tmp_path, "cond", epochs=1, conditional=True, **DCGAN_TINY)
    folder = tmp_path / "two"
    from ganctl.data import load_dataset

    x = load_dataset(str(FIXTURE_DATA), 64).x
    for i, image in enumerate(x[:64]):
        (folder / ("boot" if i % 2 else "bag")).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0]).save(folder / ("boot" if i % 2 else "bag") / f"{i}.png")
    plan = _plan(tmp_path, data=str(folder), limit=64, conditional=True, init_from=str(source))
    assert plan.init_note.endswith("all but the class embedding and D's class projection "
                                   "loaded, which start afresh")
    from ganctl.training.gan import GAN

    gan = GAN(plan.cfg)
    restarted = load_source(gan.state, plan.source)
    # G's one-hot code (an identity of 2 classes now), the class rows of G's first kernel, and
    # D's projection; all else loaded.
    assert [name.split("/")[-2] for name in restarted] == ["class_embedding", "fc",
                                                           "class_projection"], restarted
    from ganctl.generation.inference import load_generator
    from ganctl.models.conditioning import generator_body

    fc = generator_body(gan.state.generator).get_layer("fc").kernel.numpy()
    theirs = generator_body(load_generator(str(source), ema=False).generator)
    np.testing.assert_array_equal(fc[:100], theirs.get_layer("fc").kernel.numpy()[:100])
    assert fc.shape[0] == 102


def test_a_run_stopped_before_its_first_checkpoint_still_starts_from_its_source(
        tiny_dcgan_run, tmp_path):
    """A fine-tuning run killed before it saved a checkpoint has its config.json but no
    weights: run again (without --init-from), it starts from the source, not from noise; once it
    has a checkpoint, it resumes from that."""
    from ganctl.checkpoints import CheckpointStore

    first = _plan(tmp_path, init_from=str(tiny_dcgan_run))
    first.run.write_config(first.cfg, {})  # what `fit` writes before the first step
    again = _plan(tmp_path)
    assert again.resuming and again.source is not None
    assert again.source.run.root == tiny_dcgan_run.resolve()
    assert again.init_note == f"fine-tuning from {tiny_dcgan_run.resolve()}"
    assert any(n == again.init_note for n in again.notes)
    gan = _gan(again)
    CheckpointStore(again.run.checkpoints).save(gan.checkpoint_objects(), 0, 0, complete=False)
    resumed = _plan(tmp_path)
    assert resumed.source is None and resumed.init_note == ""
    assert f"fine-tuned from {tiny_dcgan_run.resolve()}" in resumed.notes
