"""Conditional GANs: models, fake labels, grids, `sample --class`, `interpolate --class(es)` and
resuming, on the tiny fixture run and on toy models whose class is visible in the pixels."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import assert_one_line_error, train_tiny
from ganctl.classes import FASHION_MNIST, proportional_labels
from ganctl.config import TrainConfig
from ganctl.models import build_models, conditioning


@pytest.fixture(scope="session")
def cond_run(tmp_path_factory) -> Path:
    """A conditional run of 2 epochs on 256 fixture images (shared; do not modify it)."""
    return train_tiny(tmp_path_factory.mktemp("cond"), "cond", conditional=True)


def _weights(run_root: Path, which: str) -> dict[str, np.ndarray]:
    import tensorflow as tf

    from ganctl.checkpoints import CheckpointStore

    store = CheckpointStore(run_root / "checkpoints")
    reader = tf.train.load_checkpoint(store.prefix(store.latest()))
    names = sorted(n for n in reader.get_variable_to_shape_map() if n.startswith(which + "/"))
    return {n: reader.get_tensor(n) for n in names}


def toy_generator(num_classes: int = 4, latent_dim: int = 3):
    """A conditional generator whose image is flat grey at level class / (k - 1) (in [-1, 1]
    units: 2·c/(k-1) - 1) plus a trace of z: trivially separable by its mean."""
    import keras

    z = keras.Input((latent_dim,), name="z")
    code = keras.Input((num_classes,), name="class_code")
    x = keras.layers.Concatenate()([z, code])
    levels = np.linspace(-1.0, 1.0, num_classes)
    kernel = np.concatenate([np.full((latent_dim, 16), 1e-3), np.repeat(levels[:, None], 16, 1)])
    dense = keras.layers.Dense(16, use_bias=False)
    image = keras.layers.Reshape((4, 4, 1))(dense(x))
    body = keras.Model([z, code], image, name=conditioning.BODY)
    dense.set_weights([kernel.astype(np.float32)])
    return conditioning.conditional_generator(
        body, conditioning.one_hot(num_classes, conditioning.EMBEDDING), latent_dim)


# --- models and the step ---------------------------------------------------------------------------

def test_conditional_mlp_shapes_and_embedding():
    import tensorflow as tf

    g, d = build_models("mlp", 8, (28, 28, 1), num_classes=5)
    assert conditioning.is_conditional(g) and conditioning.is_conditional(d)
    assert conditioning.num_classes(g) == 5
    z = tf.random.normal([3, 8])
    y = tf.constant([0, 4, 2], tf.int32)
    images = g([z, y])
    assert images.shape == (3, 28, 28, 1) and d([images, y]).shape == (3, 1)
    # the one-hot code is fixed (not trained), and the body behind it gives the same images
    assert np.array_equal(conditioning.class_codes(g, y).numpy(), np.eye(5)[[0, 4, 2]])
    assert not any("class_embedding" in v.path for v in g.trainable_variables)
    body = conditioning.generator_body(g)
    assert np.array_equal(body([z, conditioning.class_codes(g, y)]).numpy(), images.numpy())
    # the class changes the picture
    other = g([z, tf.constant([1, 1, 1], tf.int32)])
    assert not np.allclose(images.numpy(), other.numpy())
    unconditional, _ = build_models("mlp", 8, (28, 28, 1))
    assert not conditioning.is_conditional(unconditional)


def test_dcgan_projection_discriminator_and_one_hot_generator():
    import keras
    import tensorflow as tf

    g, d = build_models("dcgan", 8, (28, 28, 1), width=4, num_classes=3)
    assert conditioning.num_classes(g) == 3
    codes = conditioning.class_codes(g, tf.constant([0, 1, 2])).numpy()
    assert np.array_equal(codes, np.eye(3))  # G's first Dense layer learns what each class adds
    x = tf.random.uniform([3, 28, 28, 1], -1, 1)
    y = tf.constant([2, 0, 1], tf.int32)
    # logit = psi(h) + <embed(y), h>, with h D's flattened features
    h = d.get_layer("projection").input[1]
    parts = keras.Model(d.inputs, [h, d.get_layer("logit").output])
    feats, psi = (t.numpy() for t in parts([x, y]))
    table = d.get_layer("class_projection").embeddings.numpy()
    expected = psi[:, 0] + np.sum(table[y.numpy()] * feats, axis=1)
    assert np.allclose(d([x, y]).numpy()[:, 0], expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(d([x, y]).numpy(), d([x, tf.constant([0, 0, 0])]).numpy())


def test_fake_labels_follow_class_frequencies_and_the_seed():
    from ganctl.training.draws import Rows
    from ganctl.training.gan import GAN

    cfg = TrainConfig(conditional=True, image_shape=(28, 28, 1), num_images=4000, batch_size=1000,
                      latent_dim=4, labels=("a", "b", "c", "d"), class_counts=(1000, 0, 2000, 1000))
    gan = GAN(cfg)
    draws = np.concatenate([gan.feed.draw()[0].labels.numpy() for _ in range(8)])
    shares = np.bincount(draws, minlength=4) / len(draws)
    assert shares[1] == 0.0  # a class without images is never drawn
    assert np.abs(shares - [0.25, 0.0, 0.5, 0.25]).max() < 0.02  # 8000 draws: std ~0.005
    again = GAN(cfg)
    [fakes] = again.feed.draw()
    assert np.array_equal(fakes.labels.numpy(), draws[:1000])  # the seed decides
    assert np.array_equal(Rows(5, 10, 1000).take(fakes.labels).numpy(), draws[5:15])


def test_the_step_needs_labels_exactly_when_conditional():
    import tensorflow as tf

    from ganctl.training.draws import Rows, StepSeeds
    from ganctl.training.gan import GAN
    from ganctl.training.step import StepInputs

    cfg = TrainConfig(conditional=True, image_shape=(28, 28, 1), num_images=64, batch_size=8,
                      latent_dim=4, labels=("a", "b"), class_counts=(32, 32))
    gan = GAN(cfg)
    images = tf.zeros([8, 28, 28, 1])

    def inputs(labels):
        return StepInputs(images, labels, gan.feed.draw(), StepSeeds(cfg.seed, gan.state.step),
                          Rows(0, 8, 8))

    stats = gan.update(inputs(tf.zeros([8], tf.int32)))
    assert len(stats) == 4 and all(np.isfinite(float(s)) for s in stats)
    with pytest.raises(ValueError, match="labelled batches"):
        gan.update(inputs(None))


@pytest.mark.parametrize("strategy", ["one", "mirrored"])
def test_each_real_image_reaches_d_with_its_own_label(monkeypatch, strategy):
    """A spy on the update's inputs (run eagerly) sees, for every step and replica, its rows of
    the epoch's batch, each image with the label the data gives it."""
    import tensorflow as tf

    from conftest import FIXTURE_DATA
    from ganctl.classes import conditional_classes
    from ganctl.data import load_dataset
    from ganctl.training.gan import GAN
    from ganctl.training.step import Update
    from ganctl.training.strategy import make_distribution

    data = load_dataset(str(FIXTURE_DATA), limit=128)
    labels, counts = conditional_classes(str(FIXTURE_DATA), data.y, data.label_names)
    cfg = TrainConfig(conditional=True, batch_size=32, latent_dim=8, xla=False, seed=3,
                      image_shape=data.image_shape, num_images=len(data.x), labels=labels,
                      class_counts=counts)
    gan = GAN(cfg, make_distribution(strategy, cfg.batch_size))
    gan.set_data(data.x, data.y)
    seen = []
    update = Update.__call__

    def spy(self, inputs):
        seen.append((int(inputs.seeds.step.numpy()), inputs.rows, inputs.real.numpy(),
                     inputs.labels.numpy()))
        return update(self, inputs)

    monkeypatch.setattr(Update, "__call__", spy)
    tf.config.run_functions_eagerly(True)
    try:
        gan.train_steps(gan.epoch_order(1), 0, 2)
    finally:
        tf.config.run_functions_eagerly(False)
    order = gan.epoch_order(1).numpy()
    replicas = 1 if strategy == "one" else 2
    assert sorted((step, rows.offset) for step, rows, _, _ in seen) == \
        [(step, r * 32 // replicas) for step in (0, 1) for r in range(replicas)]
    images = data.x.astype(np.float32) / 127.5 - 1.0
    for step, rows, real, real_labels in seen:
        idx = order[step][rows.offset:rows.offset + rows.count]
        assert len(set(real_labels)) > 1  # a real mix of classes, so a swap would show
        np.testing.assert_array_equal(real, images[idx])
        np.testing.assert_array_equal(real_labels, data.y[idx])


# --- generated batches follow the requested classes --------------------------------------------------

def test_toy_model_images_follow_the_labels_asked_for(tmp_path):
    from ganctl.generation.sampling import (
        class_rows,
        compiled_generator,
        generate_samples,
        plan_sample_outputs,
        write_sample_outputs,
    )

    generate = compiled_generator(toy_generator(), batch_size=7)  # several padded batches
    seeds, labels = class_rows(range(5), (3, 0, 2))
    samples = generate_samples(generate, 3, seeds, labels, ("a", "b", "c", "d"))
    levels = np.linspace(-1.0, 1.0, 4)
    found = np.abs(samples.outputs.mean(axis=(1, 2, 3))[:, None] - levels[None]).argmin(axis=1)
    assert list(found) == [3] * 5 + [0] * 5 + [2] * 5
    assert list(samples.seeds) == [0, 1, 2, 3, 4] * 3
    out = plan_sample_outputs(str(tmp_path / "dir") + "/", str(tmp_path / "s.npz"))
    write_sample_outputs(samples, out)
    assert (tmp_path / "dir" / "seed0004-class2.png").is_file()
    assert len(list((tmp_path / "dir").iterdir())) == 15
    with np.load(tmp_path / "s.npz") as npz:
        assert list(npz["labels"]) == labels and list(npz["class_names"]) == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="needs labels"):
        generate(np.zeros((2, 3), np.float32))


def test_toy_class_morph_passes_through_each_class():
    from ganctl.generation.sampling import compiled_generator
    from ganctl.generation.walks import plan_class_morph, render_class_morph

    g = toy_generator()
    codes = conditioning.class_codes(g, np.arange(4, dtype=np.int32)).numpy()
    body = compiled_generator(conditioning.generator_body(g), batch_size=16)
    plan = plan_class_morph((0, 3), seed=5, frames=4, method="linear")
    frames = render_class_morph(plan, body, codes, 3)
    means = np.array([f.mean() for f in frames])
    # class 0 is black, class 3 white; linear steps of a quarter there and back
    assert len(frames) == 8 and means.argmin() == 0 and means.argmax() == 4
    assert np.all(np.diff(means[:5]) > 0) and np.all(np.diff(means[4:]) < 0)


# --- the run: grids, sample, interpolate, resume ---------------------------------------------------

def test_conditional_run_config_and_class_grid(cond_run):
    cfg = json.loads((cond_run / "config.json").read_text())
    assert cfg["conditional"] is True and cfg["labels"] == list(FASHION_MNIST)
    assert sum(cfg["class_counts"]) == 256
    grid = iio.imread(cond_run / "samples" / "epoch_0002.png")
    # one row per class (10), ceil(sqrt(16)) = 4 seeds per row, 1 px borders
    assert grid.shape[:2] == (10 * 28 + 11, 4 * 28 + 5)


def test_sample_class_by_name_prefix_and_index_agree(cli, cond_run, tmp_path):
    arrays = {}
    for name, cls in (("name", "Sneaker"), ("prefix", "sneak"), ("index", "7")):
        result = cli("sample", "--ckpt", cond_run, "--class", cls, "--n", 4, "--npz",
                     tmp_path / f"{name}.npz")
        assert result.exit_code == 0, result.output
        assert "class Sneaker" in result.output
        with np.load(tmp_path / f"{name}.npz") as npz:
            arrays[name] = (npz["images"], npz["labels"])
    assert list(arrays["name"][1]) == [7] * 4
    for name in ("prefix", "index"):
        assert np.array_equal(arrays[name][0], arrays["name"][0])


def test_seed_of_a_class_alone_equals_it_in_a_batch(cli, cond_run, tmp_path):
    assert cli("sample", "--ckpt", cond_run, "--class", "bag", "--seeds", 3, "--npz",
               tmp_path / "one.npz").exit_code == 0
    result = cli("sample", "--ckpt", cond_run, "--n", 5, "--npz", tmp_path / "all.npz",
                 "--out", tmp_path / "all.png")
    assert result.exit_code == 0, result.output
    assert "50 images (seeds 0-4, 10 classes, a row each)" in result.output
    with np.load(tmp_path / "one.npz") as one, np.load(tmp_path / "all.npz") as every:
        assert list(every["labels"]) == [c for c in range(10) for _ in range(5)]
        assert list(every["seeds"]) == list(range(5)) * 10
        assert np.array_equal(one["images"][0], every["images"][8 * 5 + 3])  # bag = class 8
        # the same seed gives different pictures in different classes
        assert not np.array_equal(every["images"][3], every["images"][8 * 5 + 3])
    grid = iio.imread(tmp_path / "all.png")
    assert grid.shape[:2] == (10 * 28 + 11, 5 * 28 + 6)  # a row per class


@pytest.mark.parametrize("args,fragment", [
    (("--class", "s"), "'s' is ambiguous (it could be Sandal, Shirt, Sneaker)"),
    (("--class", "boots"), "'boots' is not a class of this model"),
    (("--class", "10"), "no class 10 (this model has 10)"),
])
def test_sample_class_errors_list_the_names(cli, cond_run, args, fragment):
    result = cli("sample", "--ckpt", cond_run, *args)
    assert_one_line_error(result, 2, fragment)
    assert "7 Sneaker" in result.output


def test_class_on_an_unconditional_run(cli, tiny_run):
    result = cli("sample", "--ckpt", tiny_run, "--class", "sneaker")
    assert_one_line_error(result, 2, "--class needs a conditional model")
    result = cli("interpolate", "--ckpt", tiny_run, "--classes", "0,1")
    assert_one_line_error(result, 2, "--classes needs a conditional model")


@pytest.mark.parametrize("args,fragment", [
    (("--class", "sneaker", "--classes", "sandal,sneaker"),
     "pass --class (walks within one class) or --classes (a morph between classes), not both"),
    (("--classes", "sandal,sneaker", "--between", "3,17"),
     "--classes morphs at a fixed latent; leave out --between and --points"),
    (("--classes", "sandal,sneaker", "--points", "3"),
     "--classes morphs at a fixed latent; leave out --between and --points"),
    (("--class", "sandal,sneaker"),
     "--class takes one class here; to morph between classes use --classes"),
    (("--class", "all"),
     "--class takes one class here; to morph between classes use --classes"),
])
def test_interpolate_refuses_conflicting_class_options(cli, cond_run, tmp_path, args, fragment):
    out = tmp_path / "walk.gif"
    assert_one_line_error(cli("interpolate", "--ckpt", cond_run, "--out", out, *args), 2, fragment)
    assert not out.exists()


def test_interpolate_within_a_class_and_between_classes(cli, cond_run, tmp_path):
    result = cli("sample", "--ckpt", cond_run, "--class", "0,7", "--seeds", "2", "--npz",
                 tmp_path / "keys.npz")
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "keys.npz") as npz:
        shirt, sneaker = npz["images"][0, ..., 0], npz["images"][1, ..., 0]
    morph = tmp_path / "morph.gif"
    result = cli("interpolate", "--ckpt", cond_run, "--classes", "t-shirt,sneaker", "--seed", 2,
                 "--frames", 3, "--scale", 1, "--out", morph)
    assert result.exit_code == 0, result.output
    assert "T-shirt/top -> Sneaker -> T-shirt/top at seed 2" in result.output
    frames = iio.imread(morph, index=None)
    assert len(frames) == 6
    gray = frames[..., 0] if frames.ndim == 4 else frames
    # keyframes 0 and 3 are those classes' pictures of seed 2 (GIF palettes may shift a level)
    assert np.abs(gray[0].astype(int) - shirt).max() <= 2
    assert np.abs(gray[3].astype(int) - sneaker).max() <= 2
    walk = tmp_path / "walk.gif"
    result = cli("interpolate", "--ckpt", cond_run, "--class", "sneak", "--points", 2,
                 "--frames", 2, "--scale", 1, "--out", walk)
    assert result.exit_code == 0 and "class Sneaker" in result.output, result.output
    first = iio.imread(walk, index=None)[0]
    first = first[..., 0] if first.ndim == 3 else first
    assert np.abs(first.astype(int) - sneaker_of_seed(cli, cond_run, tmp_path, 0)).max() <= 2


def sneaker_of_seed(cli, run, tmp_path, seed) -> np.ndarray:
    assert cli("sample", "--ckpt", run, "--class", "sneaker", "--seeds", seed, "--npz",
               tmp_path / "s.npz").exit_code == 0
    with np.load(tmp_path / "s.npz") as npz:
        return npz["images"][0, ..., 0]


@pytest.mark.slow
@pytest.mark.parametrize("arch", [{}, {"arch": "dcgan", "width": 8, "augment": "on"}])  # EMA, augm.
def test_conditional_resume_mid_epoch_equals_straight(tmp_path, arch):
    from conftest import FIXTURE_DATA
    from ganctl.training.loop import plan_training, run_training

    straight = train_tiny(tmp_path, "straight", conditional=True, **arch)
    opts = dict(data=str(FIXTURE_DATA), limit=256, batch_size=64, out=str(tmp_path), name="cut",
                seed=1, sample_grid=16, xla=False, conditional=True, epochs=2, **arch)
    calls = {"n": 0}

    def stop_after_three_checks():
        calls["n"] += 1
        return calls["n"] > 3

    result = run_training(plan_training({**opts, "steps_per_call": 2}),
                          should_stop=stop_after_three_checks)
    assert result.interrupted and result.step == 6
    result = run_training(plan_training(opts))
    assert result.epochs_done == 2 and result.step == 8
    for which in ("generator", "discriminator", "rng") + (("generator_ema",) if arch else ()):
        ws, wc = _weights(straight, which), _weights(tmp_path / "cut", which)
        assert ws and ws.keys() == wc.keys()
        assert all(np.array_equal(ws[k], wc[k]) for k in ws), which


# --- evaluate ----------------------------------------------------------------------------------------

class GreyLevelEvaluator:
    """A stub evaluator for `toy_generator`'s images: the class is the nearest of 4 grey levels,
    the features are the mean and a trace of the pixels."""

    levels = np.linspace(-1.0, 1.0, 4)

    def prepare(self, images_uint8: np.ndarray) -> np.ndarray:
        return images_uint8.astype(np.float64) / 127.5 - 1.0

    def features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = images.mean(axis=(1, 2, 3))
        classes = np.abs(mean[:, None] - self.levels[None]).argmin(axis=1)
        return np.stack([mean, images[:, 0, 0, 0]], axis=1), np.eye(4)[classes]


def test_evaluation_draws_classes_in_proportion_and_scores_the_wiring():
    from types import SimpleNamespace

    from ganctl.evaluation.scoring import score_generator
    from ganctl.generation.sampling import compiled_generator

    rng = np.random.default_rng(0)
    real_labels = np.repeat(np.arange(4), 30)
    levels = GreyLevelEvaluator.levels[real_labels]
    real_feats = np.stack([levels, levels + rng.normal(0, .01, 120)], 1)
    real = SimpleNamespace(train=SimpleNamespace(features=real_feats, n=120), test=None,
                           all_train=None, heldout_nearest=None,
                           data=SimpleNamespace(labels=lambda split, n: real_labels[:n]))
    generate = compiled_generator(toy_generator(), batch_size=16)
    scored = score_generator(generate, 3, GreyLevelEvaluator(), real,
                             ["class_agreement", "intra_fd"], 40, 0, {}, (10, 0, 20, 10))
    assert list(np.bincount(scored.samples.labels, minlength=4)) == [10, 0, 20, 10]
    assert scored.metrics["class_agreement"] == 1.0  # every image is of the class asked for
    assert scored.metrics["intra_fd_classes"] == 3 and scored.metrics["intra_fd"] < 0.01
    # an evaluator that sees every class one level up: nothing agrees
    shifted = GreyLevelEvaluator()
    shifted.levels = np.roll(GreyLevelEvaluator.levels, 1)
    wrong = score_generator(generate, 3, shifted, real, ["class_agreement"], 40, 0, {},
                            (10, 0, 20, 10))
    assert wrong.metrics["class_agreement"] == 0.0


def test_evaluate_a_conditional_run_adds_the_class_metrics(cli, cond_run, tmp_path,
                                                           monkeypatch):
    from conftest import FIXTURE_DATA

    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "report.json"
    result = cli("evaluate", "--ckpt", cond_run, "--n", 200, "--real", FIXTURE_DATA,
                 "--evaluator", "fashion-mnist", "--json", out)
    assert result.exit_code == 0, result.output
    assert "class agreement" in result.output and "intra-class FD" in result.output
    report = json.loads(out.read_text())
    assert report["metrics"][-2:] == ["class_agreement", "intra_fd"]
    model, reference = report["checkpoints"][-1]["metrics"], report["reference"]
    # the reference is the evaluator's class-balanced accuracy on real test images (~0.9)
    assert 0.7 < reference["class_agreement"] <= 1.0
    assert 0 < reference["intra_fd"] < model["intra_fd"]  # a 2-epoch model is far from real
    # The 200 images are drawn in the data's class proportions (19, 22, 23, ... of each class);
    # a class's agreement is a share of its own images, and the score is the mean over the
    # classes, each counted once, not the share of all 200 images.
    cfg = json.loads((cond_run / "config.json").read_text())
    per_class_n = np.bincount(proportional_labels(cfg["class_counts"], 200), minlength=10)
    agreement = np.array([model[f"class_agreement_{c}"] for c in range(10)])
    hits = agreement * per_class_n
    np.testing.assert_allclose(hits, np.round(hits), atol=1e-9)
    assert model["class_agreement"] == pytest.approx(agreement.mean(), abs=1e-12)


def test_class_metrics_on_an_unconditional_run(cli, tiny_run):
    from conftest import FIXTURE_DATA

    result = cli("evaluate", "--ckpt", tiny_run, "--n", 50, "--real", FIXTURE_DATA,
                 "--metrics", "fd,class_agreement")
    assert_one_line_error(result, 2, "class_agreement score conditional models and this run is "
                                     "unconditional")
