"""The generator's EMA: its formula, its use by sample (and --no-ema), and its checkpointing."""

from __future__ import annotations

import numpy as np
import pytest

from ganctl.training.ema import ema_beta, update_ema


def test_beta_halves_the_old_average_after_one_half_life():
    # no ramp: after half_life images (batch 100 = 1 step here) the old average weighs 1/2
    assert ema_beta(10**9, 100, half_life=100, ramp=0.0) == pytest.approx(0.5)
    assert ema_beta(10**9, 10, half_life=100, ramp=0.0) ** 10 == pytest.approx(0.5)
    # ramp: the half-life is at most ramp × images seen (StyleGAN2-ADA), so it follows G early
    assert ema_beta(1000, 100, half_life=10_000, ramp=0.05) == pytest.approx(0.5 ** (100 / 50))
    assert ema_beta(0, 100, half_life=10_000, ramp=0.05) == 0.0
    assert ema_beta(10**9, 100, half_life=10_000, ramp=0.05) == pytest.approx(0.5 ** 0.01)


def test_beta_in_the_graph_equals_the_formula():
    import tensorflow as tf

    for seen in (0.0, 1280.0, 1e7):
        got = float(ema_beta(tf.constant(seen), 128, 10_000.0, 0.05))
        assert got == pytest.approx(ema_beta(seen, 128, 10_000.0, 0.05), rel=1e-6, abs=1e-30)


def test_update_averages_weights_and_batchnorm_statistics():
    import keras

    def model():
        x = keras.Input((2,))
        return keras.Model(x, keras.layers.BatchNormalization()(keras.layers.Dense(2)(x)))

    average, trained = model(), model()
    average.set_weights([np.full(w.shape, 1.0, np.float32) for w in average.get_weights()])
    trained.set_weights([np.full(w.shape, 3.0, np.float32) for w in trained.get_weights()])
    update_ema(average, trained, 0.25)
    # 3 + 0.25 (1 - 3) = 2.5, for the kernel, bias, gamma, beta, moving mean and variance alike
    names = [v.path for v in average.variables]
    assert any("moving_mean" in n for n in names) and any("moving_variance" in n for n in names)
    for w in average.get_weights():
        np.testing.assert_allclose(w, 2.5)
    for w in trained.get_weights():
        np.testing.assert_allclose(w, 3.0)


def _trained_state(run):
    """The GAN of `run` with its newest checkpoint restored whole (as a resumed run has it)."""
    from ganctl.checkpoints import CheckpointStore
    from ganctl.runs import RunFolder
    from ganctl.training.gan import GAN

    gan = GAN(RunFolder(run).read_config())
    CheckpointStore(run / "checkpoints").restore_latest_good(gan.checkpoint_objects(), print)
    return gan


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights(), strict=True))


@pytest.mark.slow
def test_sample_uses_the_ema_generator_and_no_ema_the_trained_one(tiny_dcgan_run):
    from ganctl.generation.inference import load_generator

    ema = load_generator(str(tiny_dcgan_run))
    raw = load_generator(str(tiny_dcgan_run), ema=False)
    assert (ema.key, raw.key) == ("generator_ema", "generator")
    gan = _trained_state(tiny_dcgan_run)
    assert gan.shown_generator is gan.state.ema.generator
    assert _same(ema.generator, gan.state.ema.generator)
    assert _same(raw.generator, gan.state.generator)
    assert not _same(gan.state.ema.generator, gan.state.generator)


@pytest.mark.slow
def test_sample_cli_says_which_generator_and_the_pictures_differ(cli, tiny_dcgan_run, tmp_path):
    from ganctl.images import read_image

    with_ema = cli("sample", "--ckpt", tiny_dcgan_run, "--n", "16", "--out", tmp_path / "a.png")
    without = cli("sample", "--ckpt", tiny_dcgan_run, "--n", "16", "--out", tmp_path / "b.png",
                  "--no-ema")
    assert with_ema.exit_code == 0 and without.exit_code == 0, with_ema.output + without.output
    assert "(epoch 2, EMA)" in with_ema.stdout and "EMA" not in without.stdout
    assert not np.array_equal(read_image(tmp_path / "a.png"), read_image(tmp_path / "b.png"))


def test_mlp_runs_keep_no_ema(tiny_run):
    import tensorflow as tf

    from ganctl.checkpoints import CheckpointStore
    from ganctl.generation.inference import load_generator

    assert load_generator(str(tiny_run)).key == "generator"
    store = CheckpointStore(tiny_run / "checkpoints")
    names = tf.train.load_checkpoint(store.prefix(store.latest())).get_variable_to_shape_map()
    assert any(n.startswith("generator/") for n in names)
    assert not any("generator_ema" in n for n in names)


@pytest.mark.slow
def test_the_ema_is_resumed_from_checkpoints(tmp_path, tiny_dcgan_run):
    from conftest import DCGAN_TINY, train_tiny

    # 1 epoch, then a resume to 2, equals the 2 straight epochs of tiny_dcgan_run: the EMA
    # (and D, G, the augmentation's randomness) continue as if never stopped.
    run = train_tiny(tmp_path, "dcgan", epochs=1, **DCGAN_TINY)
    train_tiny(tmp_path, "dcgan", epochs=2, **DCGAN_TINY)
    resumed, straight = _trained_state(run), _trained_state(tiny_dcgan_run)
    from ganctl.training.gan import GAN

    untrained = GAN(straight.cfg)
    assert not _same(straight.state.ema.generator, untrained.state.ema.generator)  # read back
    for name in ("generator_ema", "generator", "discriminator"):
        assert _same(resumed.checkpoint_objects()[name], straight.checkpoint_objects()[name]), name
    assert int(resumed.step.numpy()) == 8


def test_training_averages_g_with_the_ramped_half_life():
    """Four single steps of a dcgan with --ema-half-life 100 --ema-ramp 1 at batch 32, replayed
    in numpy from G's weights (and BatchNorm statistics) after each step: after step s the
    average is G + beta (average - G), beta = 0.5 ** (32 / min(100, 1 * 32 s)), so the ramp
    sets the half-life for 3 steps (32, 64, 96 images) and --ema-half-life caps the 4th."""
    from conftest import FIXTURE_DATA
    from ganctl.config import TrainConfig
    from ganctl.data import load_dataset
    from ganctl.training.gan import GAN

    x = load_dataset(str(FIXTURE_DATA), limit=128).x
    cfg = TrainConfig(arch="dcgan", width=4, batch_size=32, seed=1, xla=False, augment="off",
                      ema_half_life=100.0, ema_ramp=1.0, image_shape=x.shape[1:],
                      num_images=len(x))
    gan = GAN(cfg)
    gan.set_data(x)
    trained, average = gan.state.generator.variables, gan.state.ema.generator.variables
    want = [v.numpy() for v in trained]  # the average starts as G
    for got, w in zip(average, want, strict=True):
        np.testing.assert_array_equal(got.numpy(), w)
    order = gan.epoch_order(1)
    for step in range(1, 5):
        gan.train_steps(order, step - 1, 1)
        beta = 0.5 ** (32 / min(100.0, 1.0 * 32 * step))
        want = [t.numpy() + beta * (w - t.numpy()) for w, t in zip(want, trained, strict=True)]
        for got, w in zip(average, want, strict=True):
            np.testing.assert_allclose(got.numpy(), w, rtol=1e-5, atol=1e-7,
                                       err_msg=f"step {step}: {got.path}")
    assert not np.allclose(average[0].numpy(), trained[0].numpy())  # it lags G
