"""The evaluator trained on the run's own data: known answers on drawn shapes, its cache, and
`ganctl evaluate` on data that is not Fashion-MNIST."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURE_DATA, train_tiny
from ganctl.errors import UsageError
from ganctl.evaluation.evaluators import choose_evaluator
from ganctl.evaluation.evaluators import domain as de
from ganctl.evaluation.evaluators.shipped import is_fashion_mnist
from ganctl.evaluation.metrics.fd import frechet_distance
from ganctl.evaluation.metrics.prdc import precision_recall
from ganctl.evaluation.real import RealData, load_real_data
from ganctl.fsutil import file_sha256

SIZE = 16
BUDGET = de.TrainingBudget(batch_size=64, min_steps=150)  # ~5 s on a CPU at 16x16


def draw_shapes(n: int, classes: tuple[int, ...] = (0, 1, 2), seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [n, 16, 16, 1] images of a T (class 0), an L (1) or an upward triangle (2), of
    random size, place and brightness on a noisy background; and their labels.

    None of them looks the same rotated, so the self-supervised task can be learned too.
    """
    rng = np.random.default_rng(seed)
    labels = rng.choice(np.asarray(classes), n)
    x = rng.integers(0, 30, (n, SIZE, SIZE)).astype(np.int64)
    for img, label in zip(x, labels, strict=True):
        s = int(rng.integers(7, 11))
        r, c = (int(v) for v in rng.integers(1, SIZE - s, 2))
        value = int(rng.integers(170, 256))
        if label == 0:
            img[r:r + 2, c:c + s] = value
            img[r:r + s, c + s // 2 - 1:c + s // 2 + 1] = value
        elif label == 1:
            img[r:r + s, c:c + 2] = value
            img[r + s - 2:r + s, c:c + s] = value
        else:
            for row in range(s):
                mid = c + s // 2
                img[r + row, mid - row // 2:mid + row // 2 + 1] = value
    return x.astype(np.uint8)[..., None], labels.astype(np.int64)


def shapes_data(labelled: bool) -> RealData:
    x, y = draw_shapes(600, seed=1)
    x_test, y_test = draw_shapes(300, seed=2)
    if not labelled:
        return RealData("shapes", x, x_test)
    return RealData("shapes", x, x_test, y, y_test, ("T", "L", "triangle"))


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("GANCTL_CACHE", str(folder))
    return folder


@pytest.fixture(scope="module", params=[True, False], ids=["labelled", "self-supervised"])
def trained(request, tmp_path_factory):
    """(data, evaluator, cache folder, progress events) for labelled and unlabelled shapes,
    trained once (its tests are marked slow: this trains two evaluators)."""
    data = shapes_data(request.param)
    folder = tmp_path_factory.mktemp("evaluators")
    events: list = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANCTL_CACHE", str(folder))
        evaluator = de.domain_evaluator(data, BUDGET, progress=events.append)
    return data, evaluator, folder, events


# --- known answers --------------------------------------------------------------------------------

@pytest.mark.slow
def test_fd_and_precision_recall_separate_good_from_bad_generators(trained):
    data, evaluator, _, _ = trained
    labelled = evaluator.num_classes == 3

    def feats(images: np.ndarray) -> np.ndarray:
        return evaluator.features(evaluator.prepare(images))[0]

    train = feats(data.images("train", 300))
    one_class, _ = draw_shapes(300, classes=(0,), seed=3)
    two_classes, _ = draw_shapes(300, classes=(0, 1), seed=4)
    noise = np.random.default_rng(5).integers(0, 256, (300, SIZE, SIZE, 1)).astype(np.uint8)
    fd = {name: frechet_distance(feats(x), train) for name, x in
          (("real", data.images("test")), ("one", one_class), ("two", two_classes),
           ("noise", noise))}
    pr = {name: precision_recall(train, feats(x)) for name, x in
          (("real", data.images("test")), ("two", two_classes), ("noise", noise))}
    # Real held-out images are far closer to the training images than a generator that makes
    # one class, or noise; a missing class costs recall; noise lies off the real manifold.
    assert fd["real"] * 4 < fd["one"] and fd["real"] * 4 < fd["noise"], fd
    assert fd["real"] < fd["two"] < fd["one"], fd
    assert pr["real"][0] > 0.8 and pr["real"][1] > 0.8, pr
    assert pr["two"][1] < pr["real"][1] - 0.15, pr
    assert pr["noise"][0] < 0.05 and pr["noise"][1] < 0.05, pr
    # Its held-out accuracy is well above chance (1/3 for the classes, 1/4 for rotations).
    assert evaluator.accuracy > (0.8 if labelled else 0.5)


@pytest.mark.slow
def test_labelled_data_trains_on_its_classes_and_unlabelled_on_rotations(trained):
    data, evaluator, _, _ = trained
    feats, probs = evaluator.features(evaluator.prepare(data.images("test", 50)))
    assert feats.shape == (50, de.FEATURE_DIM) and feats.dtype == np.float64
    if data.labels("train") is not None:
        assert evaluator.classes == ("T", "L", "triangle") and probs.shape == (50, 3)
        assert evaluator.describe()["task"] == "classes"
    else:
        assert evaluator.classes == () and probs is None
        assert evaluator.describe()["task"] == "transforms"
        _, head = evaluator.predict(evaluator.prepare(data.images("test", 50)))
        assert head.shape == (50, de.TRANSFORMS)


@pytest.mark.slow
def test_training_reports_every_batch_up_to_the_last(trained):
    events = trained[3]
    # At least 150 batches of 64 out of 600 images: 16 epochs, in fit() calls of 5 epochs
    # (47 batches, the last short) and 1 (10 batches): 151 batches.
    assert [e.step for e in events] == list(range(1, len(events) + 1))
    assert events[-1].step == events[-1].steps == 151
    assert events[0].epoch == 1 and events[-1].epoch == events[-1].epochs == 16
    assert all(0 <= e.loss < 10 for e in events)


def test_transforms_are_the_four_rotations_or_flips():
    x = np.arange(2 * 3 * 3).reshape(2, 3, 3, 1).astype(np.uint8)
    for t in range(4):
        out = de.transform(x, np.array([t, 0]))
        assert np.array_equal(out[0], np.rot90(x[0], t)) and np.array_equal(out[1], x[1])
    wide = np.arange(6).reshape(1, 2, 3, 1).astype(np.uint8)
    assert np.array_equal(de.transform(wide, np.array([1]))[0], wide[0, :, ::-1])
    assert np.array_equal(de.transform(wide, np.array([3]))[0], wide[0, ::-1, ::-1])


def test_network_is_sized_to_the_image():
    for shape in ((16, 16, 1), (28, 28, 1), (64, 64, 3), (32, 48, 3)):
        net = de.build_domain_network(shape, 5)
        feats, probs = net(np.zeros((2, *shape), np.float32))
        assert feats.shape == (2, de.FEATURE_DIM) and probs.shape == (2, 5)
        last_conv = [layer for layer in net.layers if layer.name.startswith("conv")][-1]
        assert last_conv.output.shape[1] <= 8


# --- the cache ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_second_use_reads_the_cache_and_changed_data_retrains(trained, monkeypatch):
    from ganctl.evaluation.evaluators.base import weights_to_arrays

    data, evaluator, folder, _ = trained
    monkeypatch.setenv("GANCTL_CACHE", str(folder))
    trainings = []

    def untrained(data, classes, budget, progress=None):  # counts; fitting would cost seconds
        trainings.append(data)
        net = de.build_domain_network(data.image_shape, len(classes) or de.TRANSFORMS, budget.seed)
        return weights_to_arrays(net), 0.0

    monkeypatch.setattr(de, "train_network", untrained)
    again = de.domain_evaluator(data, BUDGET)
    assert trainings == [] and again.sha256 == evaluator.sha256
    [saved] = (folder / "evaluators").glob(f"{de.ARCHITECTURE}-{de.cache_key(data, BUDGET)}")
    info = json.loads((saved / de.INFO_NAME).read_text())
    assert info["sha256"] == file_sha256(saved / de.WEIGHTS_NAME)
    assert info["test_accuracy"] == evaluator.accuracy
    with np.load(saved / de.WEIGHTS_NAME, allow_pickle=False) as npz:
        assert all(npz[key].dtype == np.float32 for key in npz.files)
    # One changed pixel of one image is other data: it is trained for, once, and cached beside.
    changed = data.train.copy()
    changed[7, 3, 3, 0] ^= 1
    other = RealData(data.source, changed, data.test, data.train_labels, data.test_labels,
                     data.label_names)
    first = de.domain_evaluator(other, BUDGET)
    assert [t is other for t in trainings] == [True] and first.sha256 != evaluator.sha256
    assert de.domain_evaluator(other, BUDGET).sha256 == first.sha256 and len(trainings) == 1
    assert de.domain_evaluator(data, BUDGET).sha256 == evaluator.sha256 and len(trainings) == 1
    if data.train_labels is None:
        return
    # The same images with two labels swapped are other data too.
    labels = data.train_labels.copy()
    i, j = 0, int(np.argmax(labels != labels[0]))
    labels[[i, j]] = labels[[j, i]]
    relabelled = RealData(data.source, data.train, data.test, labels, data.test_labels,
                          data.label_names)
    de.domain_evaluator(relabelled, BUDGET)
    assert len(trainings) == 2 and trainings[1] is relabelled
    assert len(list((folder / "evaluators").iterdir())) == 3


def test_a_damaged_cache_is_retrained_with_a_warning(cache, monkeypatch):
    x, _ = draw_shapes(120, seed=6)
    data = RealData("few", x[:100], x[100:])
    small = de.TrainingBudget(batch_size=50, min_steps=4)
    first = de.domain_evaluator(data, small)
    [folder] = (cache / "evaluators").iterdir()
    weights = folder / de.WEIGHTS_NAME
    weights.write_bytes(weights.read_bytes()[:-100])
    warnings, trainings = [], []
    original = de.train_network
    monkeypatch.setattr(de, "train_network", lambda *a, **k: trainings.append(1) or original(*a, **k))
    second = de.domain_evaluator(data, small, warn=warnings.append)
    assert trainings == [1]
    assert len(warnings) == 1 and "is damaged" in warnings[0] and "training it again" in warnings[0]
    assert second.sha256 == file_sha256(weights)  # rewritten whole
    assert first.image_shape == second.image_shape == (SIZE, SIZE, 1)


def test_beyond_max_images_it_learns_from_a_sample_of_every_class(monkeypatch):
    """A folder read class by class puts one class first: the first `max_images` would be it."""
    x, y = draw_shapes(300, seed=8)
    order = np.argsort(y, kind="stable")
    data = RealData("sorted", x[order], x[:30], y[order], y[:30], ("T", "L", "triangle"))
    small = de.TrainingBudget(batch_size=30, min_steps=2, epochs=1, max_images=60)
    assert set(data.train_labels[:small.max_images]) == {0}
    seen = []
    original = de.training_set
    monkeypatch.setattr(de, "training_set", lambda *args: seen.append(original(*args)) or seen[-1])
    de.train_network(data, ("T", "L", "triangle"), small)
    images = seen[0]
    assert images.count == small.max_images and set(images.labels) == {0, 1, 2}
    # Each image with its own label: the sample that evaluation draws, images and labels alike.
    rows = data.sample("train", small.max_images)
    assert np.array_equal(images.read(np.arange(images.count)), data.train[rows])
    assert np.array_equal(images.labels, data.train_labels[rows])


# --- choosing the evaluator ---------------------------------------------------------------------

def test_fashion_mnist_is_recognised_by_content():
    fmnist = load_real_data(str(FIXTURE_DATA), (28, 28, 1))
    assert is_fashion_mnist(fmnist)
    assert choose_evaluator(fmnist).name == "fashion-mnist"
    shifted = RealData("x", fmnist.train[1:], fmnist.test)
    assert not is_fashion_mnist(shifted)
    x, _ = draw_shapes(10)
    assert not is_fashion_mnist(RealData("shapes", x, x))
    with pytest.raises(UsageError, match="takes 28x28 grayscale images"):
        choose_evaluator(RealData("shapes", x, x), "fashion-mnist")


# --- the command ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_evaluate_a_run_on_unlabelled_data_with_no_other_option(cli, tmp_path):
    x, _ = draw_shapes(400, seed=7)
    npz = tmp_path / "shapes.npz"
    np.savez(npz, x=x)
    run = train_tiny(tmp_path / "runs", "shapes", epochs=1, data=str(npz), limit=None)
    result = cli("evaluate", "--ckpt", run, "--n", "100", "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["evaluator"]["name"] == "domain" and report["evaluator"]["classes"] == 0
    assert 0.25 < report["evaluator"]["test_accuracy"] <= 1
    assert "held-out accuracy" in result.stdout and "rotations/flips" in result.stdout
    assert report["real"]["heldout"].startswith("a seeded 10% of the data held out (40 of 400")
    assert report["real"]["test_images"] == 40 and report["real"]["memorisation_train_images"] == 360
    assert "classifier_score" not in report["metrics"]
    assert any("classifier_score, class_histogram skipped" in note for note in report["notes"])
    model, reference = report["checkpoints"][0]["metrics"], report["reference"]
    assert reference["fd"] < model["fd"]  # one epoch is far from the real data
    assert "training the evaluator" in result.stderr  # the progress bar
    # A second call trains nothing: the bar does not appear again.
    again = cli("evaluate", "--ckpt", run, "--n", "100", "--metrics", "fd")
    assert again.exit_code == 0 and "training the evaluator" not in again.stderr


@pytest.mark.slow
def test_eval_every_on_other_data_trains_the_evaluator_once_and_evaluate_reuses_it(
        cli, tmp_path):
    from ganctl.events import EvaluatorTraining
    from ganctl.runs import RunFolder

    x, y = draw_shapes(300, seed=8)
    npz = tmp_path / "labelled.npz"
    np.savez(npz, x=x, y=y)
    events: list = []
    run = train_tiny(tmp_path / "runs", "scored", epochs=1, data=str(npz), limit=None,
                     eval_every=1, eval_n=100, events=events)
    progress = [e for e in events if isinstance(e, EvaluatorTraining)]
    assert progress and progress[-1].step == progress[-1].steps
    [record] = RunFolder(run).read_metrics()
    # `evaluate` finds the same evaluator in the cache (no bar) and gives the same numbers.
    result = cli("evaluate", "--ckpt", run, "--n", "100", "--metrics", "fd,kid,classes",
                 "--json", tmp_path / "r.json")
    assert result.exit_code == 0 and "training the evaluator" not in result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["evaluator"]["classes"] == 3 and "on its 3 classes" in result.stdout
    metrics = report["checkpoints"][0]["metrics"]
    assert {k: metrics[k] for k in ("fd", "kid")} == {k: record[k] for k in ("fd", "kid")}
    # A class is covered when it holds at least half its uniform share (1/6 of 3 classes): of
    # the model's 100 images and of the real test images alike.
    covered = {}
    for name, values in (("model", metrics), ("real", report["reference"])):
        shares = [values[f"class_share_{c}"] for c in range(3)]
        assert sum(shares) == pytest.approx(1.0), name
        covered[name] = sum(share >= 1 / 6 for share in shares)
        assert values["classes_covered"] == covered[name], name
    assert re.search(rf"│ classes covered +│ +{covered['model']} +│ +{covered['real']} +│ of 3 ",
                     result.stdout), result.stdout


# --- what the evaluator's training looks like ---------------------------------------------------

def test_its_training_is_shown_as_progress(tmp_path):
    import io

    from rich.console import Console

    from ganctl.cli.progress import EvaluationDisplay, ProgressRenderer
    from ganctl.events import EvaluatorTraining

    events = [EvaluatorTraining(step, 4, 1 + (step - 1) // 2, 2, 0.5) for step in (1, 2, 3, 4)]
    # During `train --eval-every` on a log (not a terminal): plain lines, the last one always.
    out = io.StringIO()
    renderer = ProgressRenderer(Console(file=out, width=120), plain_every_s=3600)
    for event in events:
        renderer(event)
    assert out.getvalue().splitlines() == [
        "training the evaluator: step 1/4  epoch 1/2  loss 0.500",
        "training the evaluator: step 4/4  epoch 2/2  loss 0.500"]
    # In `evaluate`: a bar that ends at its total, then the status line comes back.
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True)
    with EvaluationDisplay(console) as display:
        for event in events:
            display.progress(event)
        assert display.bar is None and display.status is not None
        display.say("scoring")
    assert "training the evaluator" in out.getvalue() and "4/4" in out.getvalue()


@pytest.mark.slow
def test_metrics_that_need_classes_are_skipped_with_a_note(trained):
    from ganctl.evaluation.scoring import metrics_for

    _, evaluator, _, _ = trained
    kept, notes = metrics_for(evaluator, ["fd", "classifier_score", "class_histogram", "kid"])
    if evaluator.num_classes:
        assert kept == ["fd", "classifier_score", "class_histogram", "kid"] and notes == []
        return
    assert kept == ["fd", "kid"]
    assert notes == ["classifier_score, class_histogram skipped: the evaluator was trained "
                     "without labels (the data has none), so it has no classes"]
    with pytest.raises(UsageError, match="--metrics classifier_score need classes and the "
                                         "evaluator has none"):
        metrics_for(evaluator, ["classifier_score"])


def test_batches_shrink_for_large_images_and_divide_the_chunks():
    """Up to 64x64x3 the batch is what was asked (so every result measured before stays); larger
    images go in smaller batches (256 at 256x256x3 took 11 GB to train the evaluator), each a
    divisor of the asked batch, so that chunks of a multiple of it meet the network in the same
    batches as all at once."""
    from ganctl.evaluation.evaluators.base import bounded_batch

    assert bounded_batch(500, (28, 28, 1)) == bounded_batch(500, (64, 64, 3)) == 500
    assert bounded_batch(256, (64, 64, 3)) == 256
    assert bounded_batch(500, (128, 128, 3)) == 125 and bounded_batch(256, (128, 128, 3)) == 64
    assert bounded_batch(500, (256, 256, 3)) == 25 and bounded_batch(256, (256, 256, 3)) == 16
    assert bounded_batch(500, (1024, 1024, 3)) == 1
    for shape in ((96, 96, 3), (128, 128, 1), (512, 512, 3)):
        assert 500 % bounded_batch(500, shape) == 0
