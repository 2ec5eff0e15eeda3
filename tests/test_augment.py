"""Differentiable augmentation: what it does to images, that it is off when off, that real and
fake images alike go through it, and when `auto` turns it on."""

from __future__ import annotations

import numpy as np
import pytest

from ganctl.config import AUGMENT_AUTO_BELOW, TrainConfig
from ganctl.training.augment import CUTOUT, diff_augment, policy_for


def _batch(n=16, size=16, channels=1, seed=0):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    return tf.constant(rng.uniform(0.1, 1.0, (n, size, size, channels)).astype(np.float32))


def _seed(k=0):
    import tensorflow as tf

    return tf.constant([7, k], tf.int64)


def test_translation_moves_whole_images_by_at_most_an_eighth():
    import tensorflow as tf

    x = np.zeros((32, 16, 16, 1), np.float32)
    x[:, 8, 8] = 1.0  # one bright pixel in the middle
    out = diff_augment(tf.constant(x), _seed(), ("translation",)).numpy()
    shifts = set()
    for image in out:
        (ys, xs, _), = [np.nonzero(image)]
        assert len(ys) == 1 and image.sum() == 1.0  # moved, not blurred or lost
        dy, dx = int(ys[0]) - 8, int(xs[0]) - 8
        assert max(abs(dy), abs(dx)) <= 2  # 16 / 8
        shifts.add((dy, dx))
    assert len(shifts) > 5  # each image its own shift


def test_cutout_blanks_a_square_of_half_the_size():
    out = diff_augment(_batch(), _seed(), ("cutout",)).numpy()
    side = int(16 * CUTOUT)
    for image in out:
        zeros = image[..., 0] == 0
        rows, cols = np.nonzero(zeros)
        assert 0 < zeros.sum() <= side * side  # clipped at the borders
        assert rows.max() - rows.min() < side and cols.max() - cols.min() < side


def test_colour_policy_only_for_colour_images_and_deterministic_per_seed():
    assert policy_for(1) == ("translation", "cutout")
    assert policy_for(3) == ("colour", "translation", "cutout")
    x = _batch(channels=3)
    a = diff_augment(x, _seed(1), policy_for(3)).numpy()
    b = diff_augment(x, _seed(1), policy_for(3)).numpy()
    c = diff_augment(x, _seed(2), policy_for(3)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def _colour(image: np.ndarray, n: int = 256) -> np.ndarray:
    """`image` [h, w, 3] repeated n times, through the colour augmentation alone (one seed: the
    same brightness, saturation and contrast draws whatever the images)."""
    import tensorflow as tf

    x = tf.constant(np.broadcast_to(image, (n, *image.shape)).astype(np.float32))
    return diff_augment(x, _seed(3), ("colour",)).numpy().astype(np.float64)


def test_colour_moves_brightness_saturation_and_contrast_within_their_ranges():
    # DiffAugment's ranges: brightness adds U(-0.5, 0.5); saturation scales each pixel's
    # distance from its channel mean by U(0, 2); contrast scales each image's distance from its
    # mean by U(0.5, 1.5). Three constant images give each factor of each draw on its own.
    grey = np.full((8, 8, 3), 0.2)
    out = _colour(grey)  # grey: saturation and contrast have nothing to scale
    brightness = out[:, 0, 0, 0] - 0.2
    np.testing.assert_allclose(out - brightness[:, None, None, None], 0.2, atol=1e-6)

    halves = np.full((8, 8, 3), 0.3)
    halves[:, 4:] = -0.3  # grey, half light, half dark: contrast alone scales the difference
    out = _colour(halves)
    np.testing.assert_allclose((out[:, 0, 0] + out[:, 0, 7]) / 2 - brightness[:, None], 0,
                               atol=1e-6)
    contrast = (out[:, 0, 0, 0] - out[:, 0, 7, 0]) / 0.6

    tint = np.zeros((8, 8, 3))
    tint[..., 0], tint[..., 2] = 0.25, -0.25  # one colour everywhere, channel mean 0
    out = _colour(tint)
    np.testing.assert_allclose(out[..., 1] - brightness[:, None, None], 0, atol=1e-6)
    saturation = (out[:, 0, 0, 0] - brightness) / (0.25 * contrast)
    spread = 0.25 * saturation * contrast
    np.testing.assert_allclose(out[..., 0] - (brightness + spread)[:, None, None], 0, atol=1e-5)
    np.testing.assert_allclose(out[..., 2] - (brightness - spread)[:, None, None], 0, atol=1e-5)

    # Each factor is drawn per image, within its range and over most of it.
    for name, values, (low, high) in (("brightness", brightness, (-0.5, 0.5)),
                                      ("saturation", saturation, (0.0, 2.0)),
                                      ("contrast", contrast, (0.5, 1.5))):
        span = high - low
        assert low - 1e-5 <= values.min() and values.max() <= high + 1e-5, name
        assert values.min() < low + 0.1 * span and values.max() > high - 0.1 * span, name
    assert abs(np.corrcoef(brightness, contrast)[0, 1]) < 0.3  # drawn independently
    assert abs(np.corrcoef(saturation, contrast)[0, 1]) < 0.3


def test_translation_fills_the_border_with_zeros_and_does_not_wrap():
    import tensorflow as tf

    middle = np.zeros((64, 16, 16, 1), np.float32)
    middle[:, 8, 8] = 1.0
    corner = np.zeros_like(middle)
    corner[:, 0, 15] = 1.0  # top right
    ones = np.ones_like(middle)
    # One seed: every batch gets the same shifts, which the middle pixel shows.
    moved = {name: diff_augment(tf.constant(x), _seed(4), ("translation",)).numpy()
             for name, x in (("middle", middle), ("corner", corner), ("ones", ones))}
    lost = 0
    for i, image in enumerate(moved["middle"]):
        (dy,), (dx,) = (axis - 8 for axis in np.nonzero(image[..., 0]))
        # Shifted up or right, the corner pixel leaves the image; it never comes back in at
        # the other side.
        expected = np.zeros((16, 16), np.float32)
        if dy >= 0 and dx <= 0:
            expected[dy, 15 + dx] = 1.0
        else:
            lost += 1
        np.testing.assert_array_equal(moved["corner"][i, ..., 0], expected)
        # An image of ones keeps ones where it was moved to and is 0 where nothing came in.
        rows = slice(max(dy, 0), 16 + min(dy, 0))
        cols = slice(max(dx, 0), 16 + min(dx, 0))
        expected = np.zeros((16, 16), np.float32)
        expected[rows, cols] = 1.0
        np.testing.assert_array_equal(moved["ones"][i, ..., 0], expected)
    assert 10 < lost < 60  # most shifts move it out, some keep it


def test_rows_of_a_split_batch_are_augmented_as_in_the_whole_batch():
    x = _batch(n=8)
    whole = diff_augment(x, _seed(), ("translation", "cutout")).numpy()
    part = diff_augment(x[4:], _seed(), ("translation", "cutout"), offset=4, total=8).numpy()
    np.testing.assert_array_equal(part, whole[4:])


@pytest.mark.parametrize("channels", [1, 3])
def test_differentiable(channels):
    import tensorflow as tf

    x = _batch(channels=channels)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = diff_augment(x, _seed(), policy_for(channels))
        total = tf.reduce_sum(out * out)
    grad = tape.gradient(total, x).numpy()
    assert np.isfinite(grad).all() and (grad != 0).mean() > 0.5
    if channels == 1:  # cut-out pixels get no gradient (colour mixes every pixel in)
        assert (grad == 0).any()


def _gan(**options):
    from conftest import FIXTURE_DATA
    from ganctl.data import load_dataset
    from ganctl.training.gan import GAN

    x = load_dataset(str(FIXTURE_DATA), limit=64).x
    cfg = TrainConfig(batch_size=32, image_shape=x.shape[1:], num_images=len(x), xla=False,
                      **options)
    gan = GAN(cfg)
    gan.set_data(x)
    return gan


@pytest.mark.slow
def test_off_is_the_identity_and_on_reaches_real_and_fake_alike(monkeypatch):
    import ganctl.training.step

    off = _gan(augment="off")
    assert off.update.augment == ()
    sums = off.train_steps(off.epoch_order(1), 0, 2)
    assert sums[2] != sums[3]  # D(x) and D(G(z)) differ: D tells them apart

    # An augmentation that blanks every image: if it reached both real and fake images, the
    # MLP's D (no BatchNorm, no dropout) sees the same input for both and scores them equally.
    monkeypatch.setattr(ganctl.training.step, "diff_augment", lambda x, *args, **kwargs: x * 0.0)
    on = _gan(augment="on")
    assert on.update.augment == ("translation", "cutout")
    sums = on.train_steps(on.epoch_order(1), 0, 2)
    assert sums[2] == sums[3]


def test_auto_follows_the_dataset_size_and_the_architecture():
    small, large = AUGMENT_AUTO_BELOW - 1, AUGMENT_AUTO_BELOW
    assert TrainConfig(arch="dcgan", num_images=small).augment_on
    assert not TrainConfig(arch="dcgan", num_images=large).augment_on
    assert TrainConfig(arch="dcgan", augment="on", num_images=large).augment_on
    assert not TrainConfig(arch="dcgan", augment="off", num_images=small).augment_on
    assert TrainConfig().augment == "off"  # the seed MLP as it always was


def test_auto_resolves_to_the_measured_choice_for_a_new_run_and_says_why(cli, tmp_path):
    import json

    from conftest import FIXTURE_DATA
    from ganctl.config import auto_augment
    from ganctl.training.loop import AutoReasons, training_notes

    assert auto_augment(300)[0] == auto_augment(60_000)[0] == "off"
    r = cli("train", "--data", FIXTURE_DATA, "--limit", 300, "--out", tmp_path, "--arch", "dcgan",
            "--dry-run")
    cfg = json.loads(r.stdout)
    assert cfg["augment"] == "off" and cfg["augment_auto"] == auto_augment(300)[1]
    notes = training_notes(TrainConfig(arch="dcgan", augment="off", num_images=300),
                           AutoReasons(augment=auto_augment(300)[1]))
    assert f"augmentation off (auto: {auto_augment(300)[1]})" in notes
    # An explicit choice is kept and not explained.
    r = cli("train", "--data", FIXTURE_DATA, "--limit", 300, "--out", tmp_path, "--arch", "dcgan",
            "--augment", "on", "--dry-run")
    assert json.loads(r.stdout)["augment"] == "on" and "augment_auto" not in r.stdout


# A config.json from before issue 25 may say `auto`: it keeps its meaning then, so the run resumes
# unchanged.
@pytest.mark.parametrize("num_images,said", [(256, True), (60_000, False)])
def test_the_progress_header_says_when_auto_turned_it_on(num_images, said):
    from ganctl.training.loop import training_notes

    notes = "; ".join(training_notes(TrainConfig(arch="dcgan", num_images=num_images)))
    assert ("augmentation on (auto: under 30,000 images)" in notes) == said


def test_augment_policy_picks_the_augmentations_in_a_fixed_order():
    from ganctl.errors import UsageError
    from ganctl.training.options import resolve

    assert policy_for(3, "auto") == policy_for(3) and policy_for(1, "auto") == policy_for(1)
    # Applied in DiffAugment's order whatever order they are listed in.
    assert policy_for(3, "cutout, translation") == ("translation", "cutout")
    assert policy_for(1, "colour") == ("colour",)
    cfg = resolve({"arch": "dcgan", "augment_policy": "translation"})
    assert TrainConfig.from_json(cfg.to_json()).augment_policy == "translation"
    for bad in ("", "colr", "translation,flip"):
        with pytest.raises(UsageError, match="--augment-policy.*colour, translation, cutout"):
            resolve({"arch": "dcgan", "augment_policy": bad})


def test_augment_policy_reaches_the_step_and_the_header():
    import tensorflow as tf

    from ganctl.training.loop import training_notes

    gan = _gan(augment="on", augment_policy="translation")
    assert gan.update.augment == ("translation",)
    x = np.zeros((4, 28, 28, 1), np.float32)
    x[:, 14, 14] = 1.0
    # translated only: the one bright pixel moves, nothing is cut
    seen = diff_augment(tf.constant(x), tf.constant([1, 2], tf.int64), gan.update.augment).numpy()
    assert (seen.sum(axis=(1, 2, 3)) == 1.0).all()
    cfg = TrainConfig(arch="dcgan", num_images=256, augment_policy="cutout,translation")
    assert "augmentation on (auto: under 30,000 images): translation, cutout" in \
        "; ".join(training_notes(cfg))
