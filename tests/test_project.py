"""`ganctl project`, `interpolate --between IMAGES` and `evaluate --nearest` (issue 24)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import FIXTURE_DATA, assert_one_line_error
from ganctl.images import read_frames, read_image, to_uint8, write_png

KNOWN_SEEDS = [1000, 1001, 1002, 1003]  # never among the start seeds 0..SEEDS_TRIED-1
SEEDS_TRIED = 8
STEPS = 60


@pytest.fixture(scope="module")
def loaded(tiny_run):
    """The tiny run's generator (the MLP: after 2 epochs its images still differ from seed to
    seed, where the tiny dcgan's are all alike) and its evaluator (the shipped one: the
    fixture data is Fashion-MNIST)."""
    import ganctl
    from ganctl.evaluation.perceptual import run_evaluator

    g = ganctl.load(tiny_run)
    return g, run_evaluator(g.config)


def known_targets(g, seeds=KNOWN_SEEDS) -> np.ndarray:
    return g.generate(g.latents(seeds))


def project_known(g, evaluator, **changes):
    from ganctl.generation.projection import ProjectionSettings, project

    settings = ProjectionSettings(**{"steps": STEPS, "seeds_tried": SEEDS_TRIED, "batch": 4,
                                     **changes})
    return project(g.keras_model, known_targets(g), evaluator.feature_tensor, g.latent_dim,
                   settings)


def test_projecting_a_generated_image_gets_much_closer_than_its_start(loaded):
    """G(z*) for seeds outside the start seeds: the optimiser must at least halve the pixel
    error of the best start, for every image. Forgetting the gradient (z never moves) or
    optimising a copy of z leaves the end at the start, and fails here."""
    g, evaluator = loaded
    result = project_known(g, evaluator)
    assert result.latents.shape == (len(KNOWN_SEEDS), g.latent_dim)
    assert np.all(result.end["pixel"] < 0.5 * result.start["pixel"]), \
        (result.start["pixel"], result.end["pixel"])
    assert np.all(result.end["perceptual"] <= result.start["perceptual"])
    assert np.all(result.end["psnr"] > result.start["psnr"] + 3.0)
    assert not set(result.start_seeds.tolist()) - set(range(SEEDS_TRIED))
    # The images returned are the generator's at the latents returned.
    np.testing.assert_allclose(result.images, g.generate(result.latents), atol=1e-5)
    assert np.all(np.abs(result.z_norm - 1) < 0.5)


def test_batches_do_not_change_a_rows_result(loaded):
    """Rows are independent: batch 4 and batch 3 (a padded second batch) find the same z."""
    g, evaluator = loaded
    four = project_known(g, evaluator)
    three = project_known(g, evaluator, batch=3)
    np.testing.assert_allclose(four.latents, three.latents, atol=1e-4)
    # Two restarts per image: rows of the loop are no longer images; each image keeps its
    # best row, whose start is the same best seed as with one.
    two = project_known(g, evaluator, restarts=2)
    assert two.latents.shape == four.latents.shape and len(two.end["psnr"]) == 4
    np.testing.assert_array_equal(two.start["pixel"], four.start["pixel"])


def test_project_cli_writes_pictures_arrays_and_json(cli, tmp_path, tiny_run, loaded):
    g, _ = loaded
    targets = to_uint8(known_targets(g, [1000, 1001]))
    folder = tmp_path / "in"
    folder.mkdir()
    for i, image in enumerate(targets):
        write_png(folder / f"t{i}.png", image)
    out = tmp_path / "proj"
    result = cli("project", "--ckpt", tiny_run, folder, "--out", out, "--steps", "20",
                 "--seeds-tried", "4", "--gif", "--scale", "2")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "project.json").read_text())
    assert [row["name"] for row in report["images"]] == ["t0", "t1"]
    for i, row in enumerate(report["images"]):
        picture = read_image(out / f"t{i}.png")
        assert picture.shape[:2] == (28 * 2, (2 * 28 + 1) * 2)
        np.testing.assert_array_equal(picture[::2, :56:2].reshape(28, 28, -1)[..., :1],
                                      targets[i])  # the target, left, as read
        saved = np.load(out / f"t{i}.npz")
        assert saved["z"].shape == (g.latent_dim,) and int(saved["label"]) == -1
        assert row["psnr"] == pytest.approx(float(saved["end_psnr"]), abs=1e-3)
        assert row["psnr"] >= row["start_psnr"]
        assert len(read_frames(out / f"t{i}.gif")) > 10
    assert "t0" in result.stdout and "PSNR" in result.stdout


@pytest.mark.slow  # 23 s at load 12: interpolate projects at the defaults (300 steps)
def test_between_images_walks_from_one_target_to_the_other(cli, tmp_path, tiny_run,
                                                           loaded):
    """Keyframe 0 of the walk (frame 0) is the projection of a.png and keyframe 1 (frame
    FRAMES) that of b.png: each much closer to its own target than to the other."""
    g, _ = loaded
    a, b = to_uint8(known_targets(g, [1000, 1001]))
    write_png(tmp_path / "a.png", a)
    write_png(tmp_path / "b.png", b)
    frames = 4
    result = cli("interpolate", "--ckpt", tiny_run, "--between",
                 f"{tmp_path / 'a.png'},{tmp_path / 'b.png'}", "--frames", frames, "--scale", 1,
                 "--out", tmp_path / "walk.gif")
    assert result.exit_code == 0, result.output
    walk = read_frames(tmp_path / "walk.gif")[..., :1].astype(np.float64)
    assert len(walk) == 2 * frames

    def mse(x, y):
        return float(np.mean((x - y.astype(np.float64)) ** 2))

    apart = mse(a.astype(np.float64), b)
    assert mse(walk[0], a) < 0.25 * apart and mse(walk[frames], b) < 0.25 * apart
    assert mse(walk[0], a) < mse(walk[0], b) and mse(walk[frames], b) < mse(walk[frames], a)


def test_between_accepts_projections(cli, tmp_path, tiny_run):
    out = tmp_path / "p"
    for seed in (3, 5):
        assert cli("sample", "--ckpt", tiny_run, "--seeds", seed, "--out",
                   tmp_path / f"s{seed}.png").exit_code == 0
    assert cli("project", "--ckpt", tiny_run, tmp_path / "s3.png", tmp_path / "s5.png",
               "--out", out, "--steps", "5", "--seeds-tried", "2").exit_code == 0
    result = cli("interpolate", "--ckpt", tiny_run, "--between",
                 f"{out / 's3.npz'},{out / 's5.npz'}", "--frames", 3, "--out", tmp_path / "w.gif")
    assert result.exit_code == 0, result.output
    z3 = np.load(out / "s3.npz")["z"]
    import ganctl

    g = ganctl.load(tiny_run)
    first = read_frames(tmp_path / "w.gif")[0]
    expected = to_uint8(g.generate(z3[None]))[0]
    big = np.repeat(np.repeat(expected, 4, 0), 4, 1)  # the default --scale 4
    assert np.abs(first[..., :1].astype(int) - big.astype(int)).max() <= 1


# --- nearest training images --------------------------------------------------------------------

def test_k_nearest_is_sorted_and_finds_a_row_itself():
    from ganctl.evaluation.metrics.distance import k_nearest

    rng = np.random.default_rng(0)
    b = rng.normal(size=(300, 16))
    a = np.concatenate([b[[7, 42]], rng.normal(size=(5, 16))])
    dist, index = k_nearest(a, b, 4)
    assert dist.shape == index.shape == (7, 4)
    assert np.all(np.diff(dist, axis=1) >= 0)
    assert index[0, 0] == 7 and index[1, 0] == 42 and dist[0, 0] == pytest.approx(0, abs=1e-6)
    brute = np.sort(np.linalg.norm(a[:, None] - b[None], axis=2), axis=1)[:, :4]
    np.testing.assert_allclose(dist, brute, atol=1e-6)


def test_a_training_image_fed_as_a_sample_finds_itself(loaded):
    from ganctl.data import load_idx_folder, scale_to_signed_unit
    from ganctl.evaluation.nearest import layout, nearest_picture, nearest_rows, tile_origin

    _, evaluator = loaded
    train = load_idx_folder(FIXTURE_DATA, "train").x[:300]
    feats, _ = evaluator.features(scale_to_signed_unit(train))
    samples = train[[5, 17, 123]]
    sample_feats, _ = evaluator.features(scale_to_signed_unit(samples))
    found = nearest_rows(sample_feats, feats, np.array([50, 51, 52]), k=3)
    assert np.all(np.diff(found.distances, axis=1) >= 0)
    assert np.all(found.distances[:, 0] < 1e-3)
    assert sorted(found.train[:, 0].tolist()) == [5, 17, 123]
    picture = nearest_picture(samples, train, found)
    assert picture.shape == (*layout(3, (28, 28), 3), 3)
    for r in range(3):
        y, x = tile_origin(r, 1, (28, 28))
        tile = picture[y:y + 56:2, x:x + 56:2, :1]
        np.testing.assert_array_equal(tile, samples[found.generated[r]])


def test_evaluate_nearest_keeps_the_picture_for_the_report(cli, tmp_path, tiny_run):
    import shutil

    run = tmp_path / "run"
    # Other tests' evaluations of the shared run are left behind.
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("evaluations"))
    result = cli("evaluate", "--ckpt", run, "--n", "64", "--real", FIXTURE_DATA, "--metrics",
                 "fd", "--nearest", "3", "--nn-grid", tmp_path / "nn.png")
    assert result.exit_code == 0, result.output
    kept = sorted((run / "evaluations").glob("*-nearest.png"))
    assert len(kept) == 1
    picture = read_image(kept[0])
    np.testing.assert_array_equal(picture, read_image(tmp_path / "nn.png"))
    from ganctl.evaluation.nearest import layout

    assert picture.shape[:2] == layout(3, (28, 28), 16)
    from ganctl.evaluation.report import gather
    from ganctl.runs import RunFolder

    assert gather(RunFolder(run)).nearest_png == kept[0]


# --- errors, each one line ----------------------------------------------------------------------

def test_errors_are_one_line(cli, tmp_path, tiny_run):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    good = tmp_path / "good.png"
    write_png(good, np.zeros((28, 28, 1), np.uint8))
    cases = [
        ([tmp_path / "missing.png"], 2, "no such image"),
        ([bad], 2, "cannot read image"),
        ([empty], 2, "no images in folder"),
        ([good, "--class", "sneaker"], 2, "needs a conditional model"),
        ([good, "--steps", "0"], 2, "--steps 0"),
        ([good, "--steps", "-3"], 2, "--steps"),
    ]
    for args, code, fragment in cases:
        result = cli("project", "--ckpt", tiny_run, *args, "--out", tmp_path / "o")
        assert_one_line_error(result, code, fragment)
    assert_one_line_error(cli("interpolate", "--ckpt", tiny_run, "--between",
                              f"{good},{tmp_path / 'nope.npz'}"), 2, "no such")
    assert_one_line_error(cli("evaluate", "--ckpt", tiny_run, "--nearest", "0"), 2, "--nearest")


def test_project_has_help(cli):
    result = cli("project", "--help")
    assert result.exit_code == 0 and "--seeds-tried" in result.stdout and "Examples" in result.stdout



def test_the_python_api_projects_as_the_cli_does(loaded):
    from ganctl.errors import UsageError

    g, evaluator = loaded
    images = to_uint8(known_targets(g, [1000, 1001]))
    found = g.project(images, evaluator.feature_tensor, steps=5, seeds_tried=2, batch=2)
    assert found.latents.shape == (2, g.latent_dim) and found.labels is None
    with pytest.raises(UsageError, match="images must be uint8"):
        g.project(images[:, :20], evaluator.feature_tensor)
    with pytest.raises(UsageError, match="unconditional"):
        g.project(images, evaluator.feature_tensor, classes=[1])


def test_the_bar_follows_projecting_events_on_a_terminal_only():
    import io

    from rich.console import Console

    from ganctl.cli.progress import ProjectionBar
    from ganctl.events import Projecting

    for terminal in (False, True):
        out = io.StringIO()
        console = Console(file=out, force_terminal=terminal, width=120)
        with ProjectionBar(console) as bar:
            for done in (0, 150, 300):
                bar(Projecting(done, 300, done // 150, 2))
        text = out.getvalue()
        assert ("projecting" in text and "300/300" in text) if terminal else text == ""


def test_a_keyframe_walk_passes_through_its_keyframes_and_moves_class_codes():
    """Frame k*F is keyframe k exactly; between classes the codes walk with the latents."""
    from ganctl.generation.walks import render_keyframe_walk

    keys = np.random.default_rng(1).normal(size=(3, 8)).astype(np.float32)
    codes = np.eye(3, 4, dtype=np.float32)
    seen = {}

    def body(z, c):  # an "image" whose pixels are the latent's first values and the code
        seen["z"], seen["c"] = z, c
        return np.tanh(np.concatenate([z[:, :4], c], axis=1)).reshape(-1, 2, 4, 1)

    frames = render_keyframe_walk(keys, 5, "slerp", None, body=body, codes=codes)
    assert len(frames) == 15
    for k in range(3):
        np.testing.assert_allclose(seen["z"][5 * k], keys[k], atol=1e-6)
        np.testing.assert_allclose(seen["c"][5 * k], codes[k], atol=1e-6)
    labels_seen = {}

    def generate(z, labels):
        labels_seen["labels"] = labels
        return np.zeros((len(z), 2, 2, 1), np.float32)

    render_keyframe_walk(keys, 4, "linear", generate, labels=[7, 7, 7])
    assert labels_seen["labels"].tolist() == [7] * 12
