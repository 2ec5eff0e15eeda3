"""`ganctl evaluate` and evaluation during training: report, reference, cache, --all, errors."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURE_DATA, assert_one_line_error, train_tiny
from ganctl import cache as cache_folder
from ganctl.checkpoints import CheckpointStore
from ganctl.config import TrainConfig
from ganctl.data import load_idx_folder, scale_to_signed_unit
from ganctl.errors import UsageError
from ganctl.evaluation import features as rf
from ganctl.evaluation import real as real_data
from ganctl.evaluation.evaluators.base import Evaluator
from ganctl.evaluation.evaluators.shipped import ASSETS_DIR, WEIGHTS_NAME, load_evaluator, read_info
from ganctl.evaluation.metrics import METRICS, MetricInputs, metric_names
from ganctl.evaluation.metrics.fd import frechet_distance
from ganctl.evaluation.metrics.memorisation import memorisation
from ganctl.evaluation.metrics.prdc import density_coverage, precision_recall
from ganctl.evaluation.nearest import SCALE, layout, tile_origin
from ganctl.evaluation.scoring import (
    load_real_set,
    parse_metrics,
    reference_metrics,
    score_generator,
)
from ganctl.events import Message
from ganctl.fsutil import file_sha256
from ganctl.images import read_image
from ganctl.runs import RunFolder

N = "200"
REAL = str(FIXTURE_DATA)
ALL_KEYS = ("fd", "kid", "kid_std", "classifier_score", "precision", "recall", "density",
            "coverage", "class_kl", "classes_covered", "memorisation_ratio", "close_share")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """Every test gets its own empty feature cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("GANCTL_CACHE", str(folder))
    return folder


INFO = read_info()  # the shipped evaluator's metadata: what reports and cache names must show


def fixture_images(split: str) -> np.ndarray:
    """The fixture's images of `split` as the evaluator is given them (float32 in [-1, 1])."""
    return scale_to_signed_unit(load_idx_folder(FIXTURE_DATA, split).x)


@pytest.fixture
def real_calls(monkeypatch) -> list[tuple[str, int]]:
    """Real-feature computations as (split, images), counted at the evaluator itself (every
    evaluation passes through `Evaluator.features`, whichever module asks) and told apart from
    generated images by their content: real ones are a fixture split's seeded sample of n."""
    splits = {split: fixture_images(split) for split in ("train", "test")}
    calls: list[tuple[str, int]] = []
    original = Evaluator.features

    def spy(self, images, *args, **kwargs):
        for split, real in splits.items():
            sample = real_data.sample_indices(len(real), len(images))
            if len(images) <= len(real) and np.array_equal(images, real[sample]):
                calls.append((split, len(images)))
                break
        return original(self, images, *args, **kwargs)

    monkeypatch.setattr(Evaluator, "features", spy)
    return calls


class HeldoutSearches:
    """Searches of the whole training split for the held-out (test) features' nearest rows,
    counted where every distance computation passes (`distance.distance_blocks`, which
    `nearest_neighbours` calls), whoever asks, recognised by the rows searched for."""

    def __init__(self, monkeypatch):
        from ganctl.evaluation.metrics import distance

        self.seen: list[tuple[str, int]] = []  # (digest of the query rows, rows searched)
        original = distance.distance_blocks

        def spy(a, b, *args, **kwargs):
            self.seen.append((self.digest(a), len(b)))
            return original(a, b, *args, **kwargs)

        monkeypatch.setattr(distance, "distance_blocks", spy)

    @staticmethod
    def digest(rows: np.ndarray) -> str:
        return hashlib.sha256(np.ascontiguousarray(rows, np.float64).tobytes()).hexdigest()

    def count(self) -> int:
        data = real_data.load_real_data(str(FIXTURE_DATA), (28, 28, 1))
        test = rf.real_features(load_evaluator(), data, "test", int(N)).features
        return self.seen.count((self.digest(test), 2000))


def evaluate_json(cli, tmp_path: Path, run: Path, *args: str) -> tuple[object, dict]:
    out = tmp_path / "report.json"
    result = cli("evaluate", "--ckpt", run, "--n", N, "--real", REAL, "--json", out, *args)
    assert result.exit_code == 0, result.output
    return result, json.loads(out.read_text())


# --- the core ------------------------------------------------------------------------------------

def test_parse_metrics_names_aliases_and_order():
    assert parse_metrics(None) == metric_names() == tuple(METRICS)[:-2]  # not the conditional
    assert parse_metrics("kid, FD") == ("fd", "kid")
    assert parse_metrics("recall,precision,coverage") == ("precision_recall", "density_coverage")
    with pytest.raises(UsageError, match="unknown metric 'fdd'.*fd, kid, classifier_score"):
        parse_metrics("fd,fdd")
    with pytest.raises(UsageError, match="empty"):
        parse_metrics(" , ")


def test_image_shapes_the_shipped_evaluator_refuses():
    load_evaluator().check_shape((28, 28, 1), "x")
    for shape in ((32, 32, 3), (28, 28, 3), (64, 64, 1), None):
        with pytest.raises(UsageError, match="takes 28x28 grayscale images and run r makes"):
            load_evaluator().check_shape(shape, "run r")


def test_cache_folder_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("GANCTL_CACHE")
    assert cache_folder.cache_dir() == tmp_path / "xdg" / "ganctl"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_folder.cache_dir() == Path.home() / ".cache" / "ganctl"


def test_shared_neighbourhoods_give_what_each_metric_computes_alone():
    r = np.random.default_rng(3)
    real, gen, held = r.normal(size=(300, 6)), r.normal(0.2, 1.1, size=(250, 6)), r.normal(
        size=(200, 6))
    inputs = MetricInputs(gen_features=gen, real_features=real, all_train_features=real,
                          heldout_features=held)
    shared = {**METRICS["precision_recall"](inputs), **METRICS["density_coverage"](inputs),
              **METRICS["memorisation"](inputs)}
    alone = dict(zip(("precision", "recall"), precision_recall(real, gen), strict=True))
    alone.update(zip(("density", "coverage"), density_coverage(real, gen), strict=True))
    alone.update(memorisation(gen, real, held)[0])
    assert shared == alone


# --- the report ----------------------------------------------------------------------------------

def test_report_has_every_metric_beside_its_reference(cli, tmp_path, tiny_run):
    result, report = evaluate_json(cli, tmp_path, tiny_run)
    table = result.stdout
    # What the shipped metadata says, and the checksum is that of the shipped weights.
    assert file_sha256(ASSETS_DIR / WEIGHTS_NAME) == INFO["sha256"]
    assert f"test accuracy {100 * INFO['test_accuracy']:.2f}%" in table
    assert f"sha256 {INFO['sha256'][:12]}" in table
    assert "n = 200 generated (seeds 0-199)" in table
    compared = ("200 of 2,000 training images, drawn at random (seed 0); reference: 200 of 500 "
                "test images, drawn at random (seed 0); memorisation against all 2,000 training "
                "images")
    assert f"real: {FIXTURE_DATA.resolve()}: {compared}" in table
    for label in ("Fréchet distance", "KID", "classifier score", "precision", "recall", "density",
                  "coverage", "classes covered", "memorisation ratio", "class shares %"):
        assert label in table, label
    assert report["n"] == 200 and report["seeds"] == "0-199"
    assert report["evaluator"] == {"name": "fashion-mnist", "architecture": INFO["architecture"],
                                   "sha256": INFO["sha256"], "test_accuracy": INFO["test_accuracy"],
                                   "classes": 10, "task": "classes",
                                   "accuracy_text": f"test accuracy {INFO['test_accuracy']:.2%}"}
    assert report["notes"] == []
    assert report["metrics"] == list(metric_names())
    [scored] = report["checkpoints"]
    assert scored["epoch"] == 2 and scored["name"] == CheckpointStore(
        RunFolder(tiny_run).checkpoints).latest().name
    model, reference = scored["metrics"], report["reference"]
    for key in ALL_KEYS:
        assert math.isfinite(model[key]) and math.isfinite(reference[key]), key
    fd_row = next(line for line in table.splitlines() if "Fréchet distance" in line)
    assert f"{model['fd']:.3f}" in fd_row and f"{reference['fd']:.3f}" in fd_row
    # Real test images against real train images look like real data; 2 epochs do not.
    assert reference["fd"] < model["fd"] / 5
    assert reference["classes_covered"] == 10 and reference["precision"] > 0.7
    # Both rows measure against the same held-out distances (what the cache test checks);
    # whether the check catches copies is test_memorisation_catches_copies_of_training_images.
    assert model["heldout_nn_median"] == reference["heldout_nn_median"] > 0
    assert model["memorisation_ratio"] == pytest.approx(
        model["gen_nn_median"] / model["heldout_nn_median"], rel=1e-12)
    # Memorisation looks for copies of any of the fixture's 2000 training images.
    assert report["real"] == {"data": str(FIXTURE_DATA.resolve()), "heldout": "the test split",
                              "compared": compared, "sample_seed": 0,
                              "train_images": 200, "train_available": 2000,
                              "test_images": 200, "test_available": 500,
                              "memorisation_train_images": 2000, "notes": []}


def test_the_runs_own_data_is_the_default_and_real_overrides_it(cli, tmp_path, tiny_run):
    out = tmp_path / "own.json"
    result = cli("evaluate", "--ckpt", tiny_run, "--n", N, "--metrics", "fd,memorisation",
                 "--json", out)
    assert result.exit_code == 0, result.output
    own = json.loads(out.read_text())
    # The run trained on the fixture with --limit 256: those 256 images, and its test split.
    assert own["real"]["data"] == str(FIXTURE_DATA.resolve())
    assert own["real"]["memorisation_train_images"] == 256 and own["real"]["test_images"] == 200
    _, given = evaluate_json(cli, tmp_path, tiny_run, "--metrics", "fd,memorisation")
    assert given["real"]["memorisation_train_images"] == 2000  # --real: all of it


def test_reference_beyond_the_test_split_uses_all_of_it_and_says_so(cli, tmp_path, tiny_run):
    result, report = evaluate_json(cli, tmp_path, tiny_run, "--metrics", "fd", "--n", "600")
    assert report["real"]["train_images"] == 600 and report["real"]["test_images"] == 500
    assert "the test split has only 500 images" in " ".join(report["real"]["notes"])
    assert "note: the test split has only 500 images" in result.stdout


def test_second_call_reads_real_features_from_the_cache(cli, tmp_path, tiny_run, cache,
                                                         real_calls):
    _, first = evaluate_json(cli, tmp_path, tiny_run, "--metrics", "fd,kid")
    assert real_calls == [("train", 200), ("test", 200)]  # once each
    assert "reference fd" in first["seconds"]
    files = sorted(p.name for p in cache.glob("*.npz"))
    assert len(files) == 2 and all(f.startswith(f"real-{INFO['sha256'][:12]}-") for f in files)
    # Named by the sample: its size and seed (features of another sample are never reused).
    assert [f.split("-")[2:5] for f in files] == [["test", "200", "seed0"],
                                                 ["train", "200", "seed0"]]
    with np.load(cache / files[0], allow_pickle=False) as npz:
        assert npz["features"].shape == (200, 128) and npz["probs"].shape == (200, 10)
    [reference] = cache.glob("reference-*.json")
    assert set(json.loads(reference.read_text())) == {"fd", "kid"}
    _, second = evaluate_json(cli, tmp_path, tiny_run, "--metrics", "fd,kid")
    assert real_calls == [("train", 200), ("test", 200)]
    assert "reference fd" not in second["seconds"]  # the reference scores are cached too
    assert second["reference"] == first["reference"]
    assert second["checkpoints"] == first["checkpoints"]
    # Another metric computes only its own reference score and adds it to the cache.
    _, third = evaluate_json(cli, tmp_path, tiny_run, "--metrics", "fd,coverage")
    assert "reference fd" not in third["seconds"] and "reference density_coverage" in third[
        "seconds"]
    assert set(json.loads(reference.read_text())) == {"fd", "kid", "density_coverage"}


def test_damaged_cache_files_are_recomputed(cli, tmp_path, tiny_run, cache, real_calls):
    _, first = evaluate_json(cli, tmp_path, tiny_run, "--metrics", "fd")
    damaged = next(cache.glob("real-*-train-*.npz"))
    damaged.write_bytes(damaged.read_bytes()[:300])
    reference = next(cache.glob("reference-*.json"))
    reference.write_text('{"fd": {"fd": "oops"')
    result, second = evaluate_json(cli, tmp_path, tiny_run, "--metrics", "fd")
    assert real_calls == [("train", 200), ("test", 200), ("train", 200)]
    assert "are damaged; recomputing them" in result.stderr
    assert "reference fd" in second["seconds"]
    assert second["reference"] == first["reference"]
    with np.load(damaged, allow_pickle=False) as npz:  # rewritten whole
        assert npz["features"].shape == (200, 128)
    assert json.loads(reference.read_text()) == {"fd": {"fd": first["reference"]["fd"]}}


@pytest.mark.slow
def test_memorisation_caches_the_test_images_nearest_training_distances(
        cli, tmp_path, tiny_run, cache, real_calls, monkeypatch):
    searches = HeldoutSearches(monkeypatch)
    _, first = evaluate_json(cli, tmp_path, tiny_run, "--metrics", "memorisation")
    # n train, n test, and the whole train split
    assert real_calls == [("train", 200), ("test", 200), ("train", 2000)]
    # One search for the cached distances, and one by the reference, where the test images
    # stand in for generated ones (its scores are cached too, so only on a cold cache).
    assert searches.count() == 2
    [nearest] = cache.glob("nearest-*.npz")
    with np.load(nearest, allow_pickle=False) as npz:
        distances = npz["distances"]
    data = real_data.load_real_data(str(FIXTURE_DATA), (28, 28, 1))
    test = rf.real_features(load_evaluator(), data, "test", 200).features
    train = rf.real_features(load_evaluator(), data, "train", 2000).features
    brute = np.concatenate([np.linalg.norm(rows[:, None] - train[None], axis=2).min(axis=1)
                            for rows in np.array_split(test, 20)])  # not through the seam
    assert distances == pytest.approx(brute, rel=1e-9, abs=1e-6)
    assert first["checkpoints"][0]["metrics"]["heldout_nn_median"] == float(np.median(distances))
    # A second call reads them; a damaged file is said and recomputed, to the same numbers.
    _, second = evaluate_json(cli, tmp_path, tiny_run, "--metrics", "memorisation")
    assert searches.count() == 2 and second["checkpoints"] == first["checkpoints"]
    nearest.write_bytes(nearest.read_bytes()[:100])
    result, third = evaluate_json(cli, tmp_path, tiny_run, "--metrics", "memorisation")
    assert "are damaged; recomputing them" in result.stderr and searches.count() == 3
    assert third["checkpoints"] == first["checkpoints"]


def test_memorisation_catches_copies_of_training_images():
    """The memorisation check wired as `evaluate` wires it, on stand-in generators whose answer
    is known: one returns training images (beyond the sample of n that the other metrics use),
    one returns test images that the held-out reference does not use."""
    evaluator = load_evaluator()
    data = real_data.load_real_data(str(FIXTURE_DATA), (28, 28, 1))
    real = load_real_set(evaluator, data, int(N), all_train=True)
    unused = {split: np.setdiff1d(np.arange(data.count(split)), data.sample(split, int(N)))
              for split in ("train", "test")}
    train = fixture_images("train")[unused["train"][-200:]]
    test = fixture_images("test")[unused["test"][-200:]]

    def score(images: np.ndarray) -> dict[str, float]:
        generate = lambda latents: images[:len(latents)]  # noqa: E731
        return score_generator(generate, 100, evaluator, real, ["memorisation"], int(N), 0,
                               {}).metrics

    copies, fresh = score(train), score(test)
    assert copies["memorisation_ratio"] < 1e-3 and copies["close_share"] == 1.0
    assert 0.7 < fresh["memorisation_ratio"] < 1.4 and fresh["close_share"] < 0.1
    assert copies["heldout_nn_median"] == fresh["heldout_nn_median"] == float(
        np.median(real.heldout_nearest))


def test_all_scores_every_kept_checkpoint(cli, tmp_path, tiny_run):
    result, report = evaluate_json(cli, tmp_path, tiny_run, "--all")
    kept = CheckpointStore(RunFolder(tiny_run).checkpoints).list()
    assert [c["name"] for c in report["checkpoints"]] == [k.name for k in kept]
    assert [c["epoch"] for c in report["checkpoints"]] == [1, 2]
    assert report["metrics"] == ["fd", "kid", "precision_recall", "density_coverage",
                                 "class_histogram"]
    rows = [line.split("│")[1].strip() for line in result.stdout.splitlines()
            if line.startswith("│")]
    assert rows == ["real", "1", "2"]
    header = next(line for line in result.stdout.splitlines() if "epoch" in line)
    for column in ("FD", "KID", "precision", "recall", "coverage", "classes covered"):
        assert column in header
    fds = [c["metrics"]["fd"] for c in report["checkpoints"]]
    assert fds[0] != fds[1]


def test_all_skips_a_damaged_checkpoint_with_a_warning(cli, tmp_path, tiny_run):
    import shutil

    run = tmp_path / "damaged"
    shutil.copytree(tiny_run, run)
    first, second = CheckpointStore(RunFolder(run).checkpoints).list()
    data = run / "checkpoints" / f"{first.name}.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    result, report = evaluate_json(cli, tmp_path, run, "--all", "--metrics", "fd")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert first.name in warnings[0] and "cannot be loaded" in warnings[0]
    assert warnings[0].endswith("; skipping it")
    assert [c["name"] for c in report["checkpoints"]] == [second.name]
    assert math.isfinite(report["checkpoints"][0]["metrics"]["fd"])


def test_metrics_selects_what_is_computed_and_shown(cli, tmp_path, tiny_run):
    result, report = evaluate_json(cli, tmp_path, tiny_run, "--metrics", "fd,coverage")
    assert set(report["reference"]) == {"fd", "density", "coverage"}
    assert set(report["checkpoints"][0]["metrics"]) == {"fd", "density", "coverage"}
    assert "Fréchet distance" in result.stdout and "coverage" in result.stdout
    assert "KID" not in result.stdout and "precision" not in result.stdout


def test_nn_grid_shows_generated_images_beside_their_nearest_training_images(cli, tmp_path,
                                                                             tiny_run):
    grid_path = tmp_path / "nn.png"
    result = cli("evaluate", "--ckpt", tiny_run, "--n", N, "--real", REAL, "--metrics", "fd",
                 "--nn-grid", grid_path)
    assert result.exit_code == 0, result.output
    assert cli("sample", "--ckpt", tiny_run, "--n", N, "--npz", tmp_path / "s.npz",
               "--out", tmp_path / "s.png").exit_code == 0
    generated = np.load(tmp_path / "s.npz")["images"][..., 0]
    train = load_idx_folder(FIXTURE_DATA, "train").x[..., 0]  # all 2000, not the first n
    grid = read_image(grid_path)
    assert grid.shape[:2] == layout(1, (28, 28), 16)  # --nn-grid alone: K = 1

    def tile(row: int, column: int) -> np.ndarray:
        y, x = tile_origin(row, column, (28, 28))
        return grid[y:y + 28 * SCALE:SCALE, x:x + 28 * SCALE:SCALE, 0]

    for i in range(16):
        assert any(np.array_equal(tile(i, 0), g) for g in generated), f"row {i}: not generated"
        assert any(np.array_equal(tile(i, 1), t) for t in train), f"row {i}: not a training image"


# --- real images are a random sample, not the first n --------------------------------------------

PER_CLASS = 150  # images per class sub-folder: 1,500 in all, 1,350 train and 150 held out
SORTED_N = 120  # below the train split's size; the first 120 images are all T-shirts


@pytest.fixture(scope="module")
def class_sorted_folder(tmp_path_factory) -> Path:
    """Fixture images as a user's folder: one sub-folder per class, read class after class."""
    from PIL import Image

    data = load_idx_folder(FIXTURE_DATA, "train")
    root = tmp_path_factory.mktemp("sorted")
    for c in range(10):
        (root / f"class{c}").mkdir()
        for i, image in enumerate(data.x[data.y == c][:PER_CLASS]):
            Image.fromarray(image[..., 0]).save(root / f"class{c}" / f"{i:03d}.png")
    return root


def test_a_folder_sorted_by_class_is_compared_with_every_class(class_sorted_folder):
    evaluator = load_evaluator()
    data = real_data.load_real_data(str(class_sorted_folder), (28, 28, 1))
    assert set(data.train_labels[:SORTED_N]) == {0} and SORTED_N < data.count("train")
    real = load_real_set(evaluator, data, SORTED_N)
    reference = reference_metrics(["fd", "precision_recall"], real, 0, {})
    # A generator that makes T-shirts only: the folder's own, as if it had copied them.
    shirts = data.images("train")[data.labels("train") == 0][:SORTED_N]
    one_class = frechet_distance(rf.compute_features(evaluator, shirts)[0], real.train.features)
    assert reference["precision"] > 0.6 and reference["recall"] > 0.6, reference
    assert reference["fd"] < one_class / 5, (reference, one_class)
    assert set(data.labels("train", SORTED_N)) == set(range(10))
    assert real.describe() == ("120 of 1,350 training images, drawn at random (seed 0); "
                               "reference: 120 of 150 held-out images, drawn at random (seed 0)")


def test_the_same_seed_draws_the_same_sample_and_the_same_reference(class_sorted_folder,
                                                                     tmp_path, monkeypatch):
    import dataclasses

    evaluator, drawn = load_evaluator(), []
    for i in range(2):
        monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / f"cache{i}"))  # computed afresh
        data = real_data.load_real_data(str(class_sorted_folder), (28, 28, 1))
        real = load_real_set(evaluator, data, SORTED_N)
        assert not real.train.cached and not real.test.cached
        drawn.append((data.sample("train", SORTED_N), data.sample("test", SORTED_N),
                      data.labels("train", SORTED_N), real.train.features,
                      reference_metrics(["fd", "kid", "precision_recall"], real, 0, {})))
    (train, test, labels, feats, numbers), again = drawn
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    assert np.array_equal(labels, again[2]) and np.array_equal(feats, again[3])
    assert numbers == again[4]
    # Labels are sampled with their images; another seed draws another sample.
    assert np.array_equal(labels, data.train_labels[train])
    assert np.array_equal(data.images("train", SORTED_N), data.train[train])
    other = dataclasses.replace(data, sample_seed=1)
    assert not np.array_equal(other.sample("train", SORTED_N), train)
    assert other.describe_sample("train", SORTED_N).endswith("drawn at random (seed 1)")


# --- evaluation during training ------------------------------------------------------------------

@pytest.mark.slow
def test_training_writes_fd_and_kid_and_keeps_the_best(cli, tmp_path):
    events = []
    # keep=1: each save prunes all but the newest checkpoint and the best-scored one.
    run = train_tiny(tmp_path / "runs", "scored", epochs=3, eval_every=2, eval_n=200, keep=1,
                     events=events)
    # The first evaluation computes the real features (the cache is empty): it says so.
    said = [e.text for e in events if isinstance(e, Message)]
    assert "computing features of 200 real train images (cached for next time)" in said
    records = RunFolder(run).read_metrics()
    assert ["fd" in r for r in records] == [False, True, True]  # every 2nd epoch and the last
    for r in records[1:]:
        assert r["fd"] > 0 and math.isfinite(r["kid"]) and r["kid_std"] >= 0
    folder = RunFolder(run).checkpoints
    entries = CheckpointStore(folder).list()
    best_epoch = min(records[1:], key=lambda r: r["fd"])["epoch"]
    assert [e.epoch for e in entries] == sorted({best_epoch, 3})
    assert [e.best for e in entries] == [e.epoch == best_epoch for e in entries]
    assert [e.score for e in entries] == [records[e.epoch - 1]["fd"] for e in entries]
    on_disk = {p.name.split(".")[0] for p in folder.glob("ckpt-*")}
    assert on_disk == {e.name for e in entries}  # the pruned ones' files are gone
    # (a best checkpoint older than the kept ones: tests/test_checkpoints.py)
    # The same numbers as `ganctl evaluate` at the same n: same seeds, real data (the run's
    # own, drawn alike) and cache.
    out = tmp_path / "report.json"
    result = cli("evaluate", "--ckpt", run, "--n", "200", "--metrics", "fd,kid", "--json", out)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["checkpoints"][0]["metrics"] == {k: records[2][k] for k in ("fd", "kid",
                                                                               "kid_std")}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(RunFolder(run).tensorboard))
    events.Reload()
    assert {"fd", "kid"} <= set(events.Tags()["tensors"])


# --- errors --------------------------------------------------------------------------------------

def make_run(tmp_path: Path, image_shape: tuple[int, int, int], name: str) -> Path:
    """A run folder with a config and no checkpoints."""
    cfg = TrainConfig(name=name, out=str(tmp_path), image_shape=image_shape, num_images=1000)
    run = RunFolder(tmp_path / name)
    run.write_config(cfg, {})
    return run.root


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (["--metrics", "fd,nope"], 2, "unknown metric 'nope' in --metrics; choose from: fd, kid,"),
    (["--n", "3", "--metrics", "density"], 2, "--n 3 is too few images for density_coverage, "
                                                "which needs at least 6"),
    (["--n", "0"], 2, "--n"),
    (["--all", "--epoch", "1"], 2, "leave out --epoch"),
    (["--all", "--nn-grid", "g.png"], 2, "--nn-grid shows one checkpoint"),
    (["--nn-grid", "g.gif"], 2, "use a .png file name"),
    (["--real", "/no/such/folder"], 2, "--real /no/such/folder does not exist"),
    (["--epoch", "7"], 2, "no checkpoint of epoch 7 is kept (kept epochs: 1, 2)"),
])
def test_usage_errors_are_one_line(cli, tiny_run, args, code, fragment):
    result = cli("evaluate", "--ckpt", tiny_run, "--n", N, "--real", REAL, *args)
    assert_one_line_error(result, code, fragment)


def test_missing_run_and_run_without_checkpoints(cli, tmp_path):
    assert_one_line_error(cli("evaluate", "--ckpt", "nope", "--runs", tmp_path, "--real", REAL),
                          2, "no run 'nope'")
    empty = make_run(tmp_path, (28, 28, 1), "empty")
    assert_one_line_error(cli("evaluate", "--ckpt", empty, "--real", REAL), 1,
                          "has no checkpoints yet")


def test_training_data_that_is_gone_names_it_and_suggests_real(cli, tmp_path):
    gone = tmp_path / "moved-away"
    cfg = TrainConfig(name="orphan", out=str(tmp_path), data=str(gone), image_shape=(28, 28, 1),
                      num_images=1000)
    RunFolder(tmp_path / "orphan").write_config(cfg, {})
    result = cli("evaluate", "--ckpt", tmp_path / "orphan")
    assert_one_line_error(result, 2, f"the run's training data {gone} is gone")
    assert "pass --real PATH" in result.output
