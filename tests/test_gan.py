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
    from ganctl.training.gan import GAN

    cfg = TrainConfig(data=str(FIXTURE_DATA), limit=LIMIT, batch_size=BATCH, seed=1,
                      image_shape=tuple(images.shape[1:]), num_images=len(images), **options)
    gan = GAN(cfg)
    gan.set_data(images)
    return gan


def variables(gan) -> dict[str, object]:
    """Every variable of the training state (what a checkpoint holds), by a unique name."""
    out = {}
    for prefix, group in (("G", gan.state.generator.variables), ("D", gan.state.discriminator.variables)):
        out.update({f"{prefix}/{v.path}": v for v in group})
    for prefix, opt in (("G_opt", gan.state.g_opt), ("D_opt", gan.state.d_opt)):
        # an optimizer's paths start with its own numbered name ("adam_3/..."): drop it
        out.update({f"{prefix}/{v.path.split('/', 1)[-1]}": v for v in opt.variables})
    out.update({"rng": gan.state.rng.state, "step": gan.step, "epoch": gan.epoch})
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_no_xla_computes_what_xla_computes(runs):
    with_xla, without = runs[True], runs[False]
    assert_close(with_xla["start"], without["start"], rtol=0, atol=0)  # same seed, same model
    # Different kernels round differently; the noise comes from raw RNG bits, so it is the same.
    assert_close(with_xla["fused"], without["fused"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(with_xla["fused_sums"], without["fused_sums"], rtol=1e-4)


@pytest.mark.slow
def test_one_compiled_program_whatever_the_start_and_count(runs):
    import tensorflow as tf

    # XLA compiles again for every new value of an input it treats as a compile-time constant;
    # the program must not depend on where a call starts or how many steps it runs.
    gan = runs[True]["gan"]
    ir = gan.feed.function.experimental_get_compiler_ir
    order = gan.epoch_order(1)
    programs = {ir(order, tf.constant(start), tf.constant(count))(stage="hlo")
                for start, count in [(0, 4), (3, 1)]}
    assert len(programs) == 1
    assert gan.trace_count == 1


@pytest.mark.slow
def test_traced_once_over_two_epochs(tmp_path):
    from ganctl.training.callbacks import Callback
    from ganctl.training.loop import plan_training, run_training

    class Keep(Callback):
        def on_train_end(self, gan, run):
            self.gan = gan

    keep = Keep()
    plan = plan_training(dict(data=str(FIXTURE_DATA), limit=LIMIT, batch_size=BATCH, epochs=2,
                              steps_per_call=3, xla=False, seed=1, out=str(tmp_path), name="t"))
    result = run_training(plan, callbacks=[keep])
    assert result.epochs_done == 2 and result.step == 8  # calls of 3 and 1 steps, twice
    assert keep.gan.trace_count == 1


@pytest.mark.slow
def test_mixed_precision_runs_on_cpu(images):
    import keras

    gan = make_gan(images, precision="mixed")  # with XLA, as on a GPU
    assert isinstance(gan.state.g_opt, keras.optimizers.LossScaleOptimizer)
    assert isinstance(gan.state.d_opt, keras.optimizers.LossScaleOptimizer)
    assert gan.state.generator.get_layer("fc2").compute_dtype == "float16"
    assert gan.state.generator.get_layer("bn2").compute_dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # not left switched on
    sums = train(gan, [(1, 0, 2)])
    assert np.isfinite(sums).all() and int(gan.step.numpy()) == 2
    z = np.random.default_rng(0).standard_normal((8, gan.cfg.latent_dim)).astype(np.float32)
    assert gan.state.generator(z, training=False).dtype == "float32"
    assert gan.state.discriminator(gan.state.generator(z), training=False).dtype == "float32"
    from ganctl.generation.sampling import compiled_generator

    out = compiled_generator(gan.state.generator, batch_size=16)(z)
    assert out.dtype == np.float32 and out.shape == (8, 28, 28, 1) and np.isfinite(out).all()


@pytest.mark.slow
def test_mixed_precision_resume_equals_straight(images, tmp_path):
    """Resume under --precision mixed, as far as a CPU can show it (float16 runs, emulated):
    one GAN trains 4 steps, is checkpointed, and trains 4 more; a new GAN restored from the
    checkpoint and trained the same 4 steps ends in the same state, loss-scale state included."""
    from ganctl.checkpoints import CheckpointStore

    straight = make_gan(images, precision="mixed", xla=False)
    train(straight, [(1, 0, 4)])
    straight.epoch.assign(1)
    # Not the initial 2**15 (which 8 steps never change): it must come from the checkpoint.
    for opt in (straight.state.g_opt, straight.state.d_opt):
        opt.dynamic_scale.assign(1024.0)
    store = CheckpointStore(tmp_path)
    info = store.save(straight.checkpoint_objects(), 1, 4, complete=True)
    train(straight, [(2, 0, 4)])

    resumed = make_gan(images, precision="mixed", xla=False)
    store.restore(resumed.checkpoint_objects(), info)
    assert float(resumed.state.g_opt.dynamic_scale.numpy()) == 1024.0
    assert int(resumed.state.d_opt.step_counter.numpy()) == 4
    sums = train(resumed, [(2, 0, 4)])
    assert np.isfinite(sums).all()
    a, b = snapshot(straight), snapshot(resumed)
    assert {"G_opt/dynamic_scale", "D_opt/step_counter"} <= set(a), sorted(a)
    assert_close(a, b, rtol=0, atol=0)


def test_latent_noise_is_standard_normal_with_independent_halves():
    """The in-graph sampler (Box-Muller on raw RNG bits): mean 0, std 1, normal tails, and the
    cosine half independent of the sine half (the XLA-vs-not test would pass a biased one)."""
    import tensorflow as tf

    from ganctl.training.draws import normal

    rows, cols = 100_000, 64
    z = normal(tf.random.Generator.from_seed(3), rows, cols).numpy().astype(np.float64)
    assert z.shape == (rows, cols) and z.dtype == np.float64
    # over 6.4M values: standard errors 0.0004 (mean) and 0.0003 (std); the bits are seeded
    assert abs(z.mean()) < 0.002 and abs(z.std() - 1) < 0.002
    assert np.abs(z.mean(axis=0)).max() < 0.015 and np.abs(z.std(axis=0) - 1).max() < 0.012
    assert abs(np.mean(np.abs(z) < 1) - 0.682689) < 0.001  # P(|z| < 1) of a standard normal
    assert abs(np.mean(z**4) - 3) < 0.02  # kurtosis
    cos, sin = z[:, :cols // 2], z[:, cols // 2:]
    # Box-Muller's two outputs share the radius: uncorrelated, and so are their squares only
    # when the radius and the angle come from independent uniforms.
    assert abs(np.mean(cos * sin)) < 0.0025
    assert abs(np.corrcoef((cos**2).ravel(), (sin**2).ravel())[0, 1]) < 0.003
    # and neighbouring columns (different RNG words) are independent too
    assert abs(np.mean(z[:, 0] * z[:, 1])) < 0.015
    # odd widths drop the last sine column
    assert normal(tf.random.Generator.from_seed(3), 4, 5).shape == (4, 5)


@pytest.mark.slow
def test_training_moves_generated_images_towards_the_data(images):
    """300 steps on 256 fixture images: the generated images' mean image, per-pixel spread
    and share of near-black pixels come clearly closer to the real ones than at the start."""
    real = images.astype(np.float32) / 127.5 - 1.0
    z = np.random.default_rng(0).standard_normal((256, 100)).astype(np.float32)

    def gaps(gan) -> np.ndarray:
        fake = gan.state.generator(z, training=False).numpy()
        return np.array([np.sqrt(np.mean((fake.mean(0) - real.mean(0)) ** 2)),
                         np.sqrt(np.mean((fake.std(0) - real.std(0)) ** 2)),
                         abs(np.mean(fake < -0.9) - np.mean(real < -0.9))])

    gan = make_gan(images, xla=False)
    untrained = gaps(gan)
    assert (untrained > 0.25).all(), untrained  # far from the data at the start
    sums = train(gan, [(epoch, 0, 4) for epoch in range(1, 76)])  # 300 steps
    assert np.isfinite(sums).all()
    trained = gaps(gan)
    assert (trained < 0.65 * untrained).all(), (untrained, trained)
    assert trained[0] < 0.5 * untrained[0], (untrained, trained)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


# Each loss's (D's loss, G's loss) on D's outputs for real images (r) and fakes (f), written out
# here in numpy: the step must return these numbers.
FORMULAS = {
    "bce": (lambda r, f: 0.5 * (_softplus(-r).mean() + _softplus(f).mean()),
            lambda f: _softplus(-f).mean()),
    "hinge": (lambda r, f: np.maximum(0.0, 1 - r).mean() + np.maximum(0.0, 1 + f).mean(),
              lambda f: -f.mean()),
    "wgan-gp": (lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()),
}
FORMULAS["bce-r1"] = FORMULAS["bce"]


def _gradient_norms(d, x: np.ndarray) -> np.ndarray:
    """|grad D| at each image of `x`, for a D without batch statistics (so the gradient of the
    summed outputs is each image's own)."""
    import tensorflow as tf

    x = tf.Variable(x)
    with tf.GradientTape() as tape:
        out = d(x, training=True)
    return np.linalg.norm(tape.gradient(out, x).numpy().reshape(x.shape[0], -1), axis=1)


@pytest.mark.parametrize("loss,d_steps", [("bce", 1), ("hinge", 1), ("wgan-gp", 1), ("wgan-gp", 2),
                                          ("bce-r1", 1)])
@pytest.mark.slow
def test_every_loss_trains_dcgan(images, loss, d_steps):
    """One step on a fixed batch (no augmentation) returns its loss's formulas on D's outputs,
    recomputed here from the state the step began in and the draws it took (with wgan-gp, D's
    loss holds 10 GP > 0, with bce-r1 5 R1 > 0); then a second step trains both players."""
    import tensorflow as tf

    gan = make_gan(images, arch="dcgan", width=4, loss=loss, d_steps=d_steps, xla=False,
                   augment="off")
    if loss == "bce-r1":  # at DCGAN's N(0, 0.02) start R1 is 5e-6: a steeper D, a sizeable R1
        for v in gan.state.discriminator.trainable_variables:
            if "kernel" in v.path:
                v.assign(4.0 * v)
    start = snapshot(gan)
    order = gan.epoch_order(1)
    g_loss, d_loss, d_real, d_fake = gan.train_steps(order, 0, 1)
    stepped = snapshot(gan)

    restore(gan, start)
    g, d = gan.state.generator, gan.state.discriminator
    draws = gan.feed.draw()  # from the generator state the step began in: the same draws
    assert len(draws) == (d_steps + 1 if gan.loss.separate_d_pass else 1)
    real = images[order[0].numpy()].astype(np.float32) / 127.5 - 1.0
    d_formula, g_formula = FORMULAS[loss]
    if d_steps == 1:  # D's loss from D as the step began (after one D update it would differ)
        fake = g(draws[0].noise, training=True).numpy()
        r, f = d(real, training=True).numpy(), d(fake, training=True).numpy()
        want = d_formula(r, f)
        if loss == "wgan-gp":
            # alpha from the stateless seed (seed 1, step 0 * 1024 + purpose 2)
            alpha = tf.random.stateless_uniform([BATCH, 1, 1, 1], [1, 2]).numpy()
            gp = np.mean((_gradient_norms(d, real + alpha * (fake - real)) - 1.0) ** 2)
            assert gp > 0.1
            np.testing.assert_allclose(d_loss - want, 10 * gp, rtol=1e-4)
            want += 10 * gp
        if loss == "bce-r1":  # gamma / 2 = 5 times the mean squared gradient norm at real images
            r1 = np.mean(_gradient_norms(d, real) ** 2)
            assert r1 > 1e-3
            np.testing.assert_allclose(d_loss - want, 5 * r1, rtol=1e-3)
            want += 5 * r1
        np.testing.assert_allclose(d_loss, want, rtol=1e-5, atol=1e-6)
        sigmoid = 1 / (1 + np.exp(-np.concatenate([r, f], axis=1)))
        np.testing.assert_allclose([d_real, d_fake], sigmoid.mean(axis=0), rtol=1e-5)
    if gan.loss.separate_d_pass:  # G's update comes after D's and is judged by the updated D
        for name, v in variables(gan).items():
            if name.startswith("D/"):
                v.assign(stepped[name])
        f = d(g(draws[-1].noise, training=True), training=True).numpy()
    np.testing.assert_allclose(g_loss, g_formula(f), rtol=1e-5, atol=1e-6)

    restore(gan, stepped)
    sums = gan.train_steps(order, 1, 1)
    assert np.isfinite(sums).all() and int(gan.state.step.numpy()) == 2
    assert int(gan.state.d_opt.iterations.numpy()) == 2 * d_steps  # --d-steps D updates per G update
    assert int(gan.state.g_opt.iterations.numpy()) == 2
    after = snapshot(gan)
    moved = {n.split("/")[0] for n in start if "kernel" in n and "opt" not in n
             and not np.array_equal(start[n], after[n])}
    assert moved == {"G", "D"}


@pytest.mark.slow
def test_bf16_keeps_float32_outputs_and_variables(images):
    import keras

    gan = make_gan(images, arch="dcgan", width=4, precision="bf16", xla=False)
    assert gan.state.generator.get_layer("up1").compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in gan.state.generator.variables)
    assert not isinstance(gan.state.g_opt, keras.optimizers.LossScaleOptimizer)  # bfloat16 needs none
    assert keras.mixed_precision.global_policy().name == "float32"
    sums = train(gan, [(1, 0, 2)])
    assert np.isfinite(sums).all()
    z = np.zeros((2, gan.cfg.latent_dim), np.float32)
    assert gan.state.generator(z, training=False).dtype == "float32"
    assert gan.state.discriminator(gan.state.generator(z), training=False).dtype == "float32"


def test_a_slice_of_the_batch_gets_its_rows_of_the_whole_batch_draws(images):
    from ganctl.training.draws import Rows

    gan = make_gan(images, xla=False)
    fakes = gan.feed.draw()  # for the global batch
    idx = gan.epoch_order(1)[0]
    whole = gan.feed.inputs(idx, fakes, Rows(0, BATCH, BATCH))
    half = gan.feed.inputs(idx, fakes, Rows(BATCH // 2, BATCH // 2, BATCH))
    np.testing.assert_array_equal(half.fakes[0].noise, whole.fakes[0].noise[BATCH // 2:])
    np.testing.assert_array_equal(half.real, whole.real[BATCH // 2:])
    z = whole.fakes[0].noise.numpy()
    assert z.shape == (BATCH, 100) and abs(z.mean()) < 0.1 and 0.9 < z.std() < 1.1


@pytest.mark.slow
def test_d_lr_sets_the_discriminators_step_size(images):
    # Adam's first step moves each weight by lr · g / (|g| + ε): by lr wherever the gradient is
    # not tiny. So the largest move of a kernel is G's lr in G and D's own lr in D.
    gan = make_gan(images, lr=1e-3, d_lr=1e-4, xla=False)
    before = snapshot(gan)
    gan.train_steps(gan.epoch_order(1), 0, 1)
    after = snapshot(gan)
    moves = {n: np.abs(after[n] - before[n]).max() for n in before
             if "kernel" in n and "opt" not in n}
    assert {n[0] for n in moves} == {"G", "D"}
    for name, move in moves.items():
        np.testing.assert_allclose(move, 1e-3 if name.startswith("G") else 1e-4, rtol=1e-2,
                                   err_msg=name)
