"""The presets in examples/ and the quality race that trains them (benchmarks/quality_race.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from ganctl.training.options import resolve

REPO = Path(__file__).resolve().parent.parent
PRESETS = sorted((REPO / "examples").glob("*.toml"))


def _race():
    # The script imports its neighbour shared_data, as `python benchmarks/quality_race.py` can.
    if str(REPO / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location("quality_race",
                                                  REPO / "benchmarks" / "quality_race.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_every_preset_resolves_to_valid_settings_named_after_its_file(preset):
    cfg = resolve({}, preset)  # unknown keys, bad values and impossible combinations raise
    assert cfg.name == preset.stem  # the race and the docs find each run by the preset's name


def test_dcgan_presets_train_the_convolutional_gan_with_an_ema():
    dcgan = [p for p in PRESETS if p.stem.startswith("dcgan")]
    assert dcgan, "the quality race needs at least one dcgan preset"
    for preset in dcgan:
        cfg = resolve({}, preset)
        assert cfg.arch == "dcgan" and cfg.ema and cfg.loss in ("bce", "hinge", "wgan-gp")


def test_race_defaults_to_the_classic_mlp_and_every_dcgan_preset():
    race = _race()
    names = [p.stem for p in race.default_presets()]
    assert names[0] == "classic"
    assert sorted(names[1:]) == sorted(p.stem for p in PRESETS if p.stem.startswith("dcgan")
                                       and p.stem not in race.NOT_RACED)
    assert race.resolve_preset("classic") == REPO / "examples" / "classic.toml"
    with pytest.raises(SystemExit, match="no preset 'nope'.*classic"):
        race.resolve_preset("nope")


def test_race_table_has_a_row_per_preset_a_failed_one_and_the_reference():
    race = _race()
    ok = {"preset": "classic", "epochs": 30.64, "images_per_s": 3060.0, "fd": 25.6991,
          "kid": 0.31234, "precision": 0.8, "recall": 0.001, "coverage": 0.15,
          "classes_covered": 8.0,
          "reference": {"fd": 0.123, "kid": 1e-5, "precision": 0.843, "recall": 0.855,
                        "coverage": 0.972, "classes_covered": 10.0}}
    failed = {"preset": "dcgan", "error": "`ganctl train` exited with 1"}
    lines = race.table([ok, failed]).splitlines()
    assert len(lines) == 5  # header, rule, two presets, the reference
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0][:4] == ["preset", "epochs", "img/s", "FD"]
    assert cells[2][:4] == ["classic", "30.6", "3060", "25.699"]
    assert cells[3][0] == "dcgan" and cells[3][1].startswith("failed:")
    assert cells[4][0] == "real test images" and cells[4][3] == "0.123"
    assert len({len(line) for line in lines}) == 1  # columns line up


def test_the_colour_preset_is_dcgan_fast_with_augmentation_off():
    # What keeps it out of the Fashion-MNIST race: there `auto` leaves augmentation off, so it
    # would train exactly as dcgan-fast does.
    colour = resolve({}, REPO / "examples" / "dcgan-colour.toml")
    fast = resolve({}, REPO / "examples" / "dcgan-fast.toml")
    assert colour.augment == "off" and fast.augment == "auto"
    assert colour.replace(augment="auto", name=fast.name) == fast
    assert "dcgan-colour" in _race().NOT_RACED


def test_a_new_users_dcgan_on_a_cpu_is_the_best_measured_preset():
    # Issue 25: `ganctl train --arch dcgan --data FOLDER` must give what the best preset gives
    # (dcgan-fast on Fashion-MNIST, dcgan-colour on small folders). On a CPU (width auto = 32)
    # it resolves to exactly dcgan-fast's settings but the name, and `--augment auto` picks off
    # at every folder size, which makes it dcgan-colour too. A changed default fails here, and
    # then the quality race and the small-folder table have to be rerun.
    from ganctl.config.settings import auto_augment

    bare = resolve({"arch": "dcgan", "data": "fashion-mnist"})
    fast = resolve({}, REPO / "examples" / "dcgan-fast.toml")
    assert bare.width == 32 and bare.replace(name=fast.name) == fast
    assert all(auto_augment(n)[0] == "off" for n in (300, 3_000, 29_999, 30_000, 60_000))
    colour = resolve({"data": "fashion-mnist"}, REPO / "examples" / "dcgan-colour.toml")
    assert colour.replace(augment=bare.augment, name=bare.name) == bare
