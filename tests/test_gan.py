"""The compiled training loop: fused steps equal single steps, one trace, XLA or not, mixed precision."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import FIXTURE_DATA

LIMIT, BATCH = 256, 64  # 4 steps per epoch
# Calls of (epoch, start, count) covering two epochs: whole pairs of unrolled steps, a pair and a
# remainder step, and a remainder step alone.
FUSED_CALLS = [(1, 0, 4), (2, 0, 3), (2, 3, 1)]
SINGLE_CALLS = [(epoch, k, 1) for epoch in (1, 2) for k in range(4)]


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    from ganctl.data import load_dataset
    from ganctl.tfsetup import import_tensorflow

    import_tensorflow()
    return load_dataset(str(FIXTURE_DATA), limit=LIMIT).x


def make_gan(images: np.ndarray, **options):
    from ganctl.config import TrainConfig
    from ganctl.gan import GAN

    cfg = TrainConfig(data=str(FIXTURE_DATA), limit=LIMIT, batch_size=BATCH, seed=1,
                      image_shape=tuple(images.shape[1:]), num_images=len(images), **options)
    gan = GAN(cfg)
    gan.set_data(images)
    return gan


def variables(gan) -> dict[str, object]:
    """Every variable of the training state (what a checkpoint holds), by a unique name."""
    out = {}
    for prefix, group in (("G", gan.generator.variables), ("D", gan.discriminator.variables)):
        out.update({f"{prefix}/{v.path}": v for v in group})
    for prefix, opt in (("G_opt", gan.g_opt), ("D_opt", gan.d_opt)):
        # an optimizer's paths start with its own numbered name ("adam_3/..."): drop it
        out.update({f"{prefix}/{v.path.split('/', 1)[-1]}": v for v in opt.variables})
    out.update({"rng": gan.rng.state, "step": gan.step, "epoch": gan.epoch})
    return out


def snapshot(gan) -> dict[str, np.ndarray]:
    return {name: np.array(v.numpy()) for name, v in variables(gan).items()}


def restore(gan, values: dict[str, np.ndarray]) -> None:
    for name, v in variables(gan).items():
        v.assign(values[name])


def train(gan, calls) -> np.ndarray:
    sums = np.zeros(4)
    for epoch, start, count in calls:
        sums += gan.train_steps(gan.epoch_order(epoch), start, count)
    return sums


@pytest.fixture(scope="module")
def runs(images) -> dict[bool, dict]:
    """With XLA and without: a GAN trained 8 steps in fused calls, then again from the same
    state in 8 single-step calls."""
    out = {}
    for xla in (True, False):
        gan = make_gan(images, xla=xla)
        start = snapshot(gan)
        fused_sums = train(gan, FUSED_CALLS)
        fused = snapshot(gan)
        restore(gan, start)
        single_sums = train(gan, SINGLE_CALLS)
        out[xla] = {"gan": gan, "start": start, "fused": fused, "single": snapshot(gan),
                    "fused_sums": fused_sums, "single_sums": single_sums}
    return out


def assert_close(a: dict, b: dict, rtol: float, atol: float) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("xla", [True, False], ids=["xla", "no-xla"])
def test_fused_steps_compute_what_single_steps_compute(runs, xla):
    r = runs[xla]
    assert int(r["fused"]["step"]) == int(r["single"]["step"]) == 8
    changed = [n for n in r["start"] if "kernel" in n and "opt" not in n
               and not np.array_equal(r["start"][n], r["fused"][n])]
    assert len(changed) == 8  # every Dense kernel of G (5) and D (3) moved
    # Same batches, same noise, same arithmetic: equal up to float rounding (with XLA, the two
    # unrolled copies of the step may round BatchNorm's moving averages differently).
    assert_close(r["fused"], r["single"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r["fused_sums"], r["single_sums"], rtol=1e-5)
    assert np.isfinite(r["fused_sums"]).all()
    assert r["gan"].trace_count == 1  # calls of 4, 3 and 1 steps from several starts


def test_no_xla_computes_what_xla_computes(runs):
    with_xla, without = runs[True], runs[False]
    assert_close(with_xla["start"], without["start"], rtol=0, atol=0)  # same seed, same model
    # Different kernels round differently; the noise comes from raw RNG bits, so it is the same.
    assert_close(with_xla["fused"], without["fused"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(with_xla["fused_sums"], without["fused_sums"], rtol=1e-4)


def test_one_compiled_program_whatever_the_start_and_count(runs):
    import tensorflow as tf

    # XLA compiles again for every new value of an input it treats as a compile-time constant;
    # the program must not depend on where a call starts or how many steps it runs.
    gan = runs[True]["gan"]
    ir = gan._train_fn.experimental_get_compiler_ir
    order = gan.epoch_order(1)
    programs = {ir(order, tf.constant(start), tf.constant(count))(stage="hlo")
                for start, count in [(0, 4), (3, 1)]}
    assert len(programs) == 1
    assert gan.trace_count == 1


def test_traced_once_over_two_epochs(tmp_path):
    from ganctl.callbacks import Callback
    from ganctl.training import plan_training, run_training

    class Keep(Callback):
        def on_train_end(self, gan, run):
            self.gan = gan

    keep = Keep()
    plan = plan_training(dict(data=str(FIXTURE_DATA), limit=LIMIT, batch_size=BATCH, epochs=2,
                              steps_per_call=3, xla=False, seed=1, out=str(tmp_path), name="t"))
    result = run_training(plan, callbacks=[keep])
    assert result.epochs_done == 2 and result.step == 8  # calls of 3 and 1 steps, twice
    assert keep.gan.trace_count == 1


def test_mixed_precision_runs_on_cpu(images):
    import keras

    gan = make_gan(images, precision="mixed")  # with XLA, as on a GPU
    assert isinstance(gan.g_opt, keras.optimizers.LossScaleOptimizer)
    assert isinstance(gan.d_opt, keras.optimizers.LossScaleOptimizer)
    assert gan.generator.get_layer("fc2").compute_dtype == "float16"
    assert gan.generator.get_layer("bn2").compute_dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # not left switched on
    sums = train(gan, [(1, 0, 2)])
    assert np.isfinite(sums).all() and int(gan.step.numpy()) == 2
    z = np.random.default_rng(0).standard_normal((8, gan.cfg.latent_dim)).astype(np.float32)
    assert gan.generator(z, training=False).dtype == "float32"
    assert gan.discriminator(gan.generator(z), training=False).dtype == "float32"
    from ganctl.sampling import compiled_generator

    out = compiled_generator(gan.generator, batch_size=16)(z)
    assert out.dtype == np.float32 and out.shape == (8, 28, 28, 1) and np.isfinite(out).all()


@pytest.mark.parametrize("loss,d_steps", [("bce", 1), ("hinge", 1), ("wgan-gp", 2)])
def test_every_loss_trains_dcgan(images, loss, d_steps):
    gan = make_gan(images, arch="dcgan", width=4, loss=loss, d_steps=d_steps, xla=False)
    start = snapshot(gan)
    sums = train(gan, [(1, 0, 2)])
    assert np.isfinite(sums).all() and int(gan.step.numpy()) == 2
    assert 0 < sums[2] / 2 < 1 and 0 < sums[3] / 2 < 1  # D(x), D(G(z)) as probabilities
    assert int(gan.d_opt.iterations.numpy()) == 2 * d_steps  # --d-steps D updates per G update
    assert int(gan.g_opt.iterations.numpy()) == 2
    after = snapshot(gan)
    moved = {n.split("/")[0] for n in start if "kernel" in n and "opt" not in n
             and not np.array_equal(start[n], after[n])}
    assert moved == {"G", "D"}


def test_bf16_keeps_float32_outputs_and_variables(images):
    import keras

    gan = make_gan(images, arch="dcgan", width=4, precision="bf16", xla=False)
    assert gan.generator.get_layer("up1").compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in gan.generator.variables)
    assert not isinstance(gan.g_opt, keras.optimizers.LossScaleOptimizer)  # bfloat16 needs none
    assert keras.mixed_precision.global_policy().name == "float32"
    sums = train(gan, [(1, 0, 2)])
    assert np.isfinite(sums).all()
    z = np.zeros((2, gan.cfg.latent_dim), np.float32)
    assert gan.generator(z, training=False).dtype == "float32"
    assert gan.discriminator(gan.generator(z), training=False).dtype == "float32"
