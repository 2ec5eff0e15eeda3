"""Options declared once: each TrainConfig field's metadata builds the `train` flags and their
help, the TOML keys, the checks and the resume rule (ganctl.config, ganctl.training.options)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from conftest import FIXTURE_DATA
from ganctl.config import OPTIONS, TrainConfig, flag, resumed, settings_from
from ganctl.config.help import default_text, shown_value
from ganctl.errors import UsageError
from ganctl.models import ARCHS
from ganctl.training.options import option_help, resolve

# What a resumed run may change, as it was before the rule moved onto the fields.
# The settings a resume may change: the run's own, plus --no-data-cache (whether the decoded
# folder is cached changes nothing the run computes) and --max-data-memory (a streamed run
# trains on the same batches as one held in memory).
RESUMABLE = {"epochs", "keep", "steps_per_call", "xla", "eval_every", "eval_n", "out", "name",
             "snapshot_every", "minutes", "strategy", "data_cache", "max_data_memory"}


def test_the_resumable_settings_are_unchanged():
    assert {name for name, meta in OPTIONS.items() if meta.resumable} == RESUMABLE


def test_a_resume_refuses_a_setting_that_defines_the_run_in_the_same_words():
    saved = TrainConfig(arch="dcgan", name="d1")
    for given, message in [
        ({"epochs": 7, "lr": 0.1}, "run d1 was trained with lr=0.001, not 0.1"),
        ({"arch": "dcgan", "width": 64}, "run d1 was trained with width=32, not 64"),
        ({"conditional": True}, "run d1 was trained with conditional=False, not True"),
    ]:
        with pytest.raises(UsageError) as err:
            resumed(saved, given, "d1")
        assert str(err.value) == f"{message}; pass --fresh to start over or use another --name"


def test_a_resume_takes_the_resumable_settings_and_keeps_the_others():
    saved = TrainConfig(arch="dcgan", name="d1", lr=5e-4)
    cfg = resumed(saved, {"epochs": 7, "minutes": 3.0, "strategy": "one", "arch": "dcgan",
                          "lr": 5e-4}, "d1")
    assert (cfg.epochs, cfg.minutes, cfg.strategy) == (7, 3.0, "one")
    assert cfg == dataclasses.replace(saved, epochs=7, minutes=3.0, strategy="one")


def test_every_architecture_default_names_a_setting_that_takes_one():
    for spec in ARCHS.values():
        for name in spec.defaults:
            assert OPTIONS[name].arch_default, name


def _seed_registry(monkeypatch):
    """ARCHS as it was when these help texts were written (mlp and dcgan): later entries add
    their own defaults to the text, which is what the registry is for."""
    for name in [name for name in ARCHS if name not in ("mlp", "dcgan")]:
        monkeypatch.delitem(ARCHS, name)


def test_help_reads_the_per_architecture_defaults_from_the_registry(monkeypatch):
    _seed_registry(monkeypatch)
    assert default_text("lr") == "2e-4 for mlp, 1e-3 for dcgan"
    assert default_text("batch_size") == "128 for mlp, 64 for dcgan"
    assert default_text("ema") == "on for dcgan, off for mlp"  # what an arch turns on first
    assert default_text("xla") == "on for mlp, off for dcgan"
    assert default_text("width") == "auto" and default_text("loss") == "bce"  # one value
    assert default_text("precision") == "float32 for mlp, auto for dcgan"
    dcgan = ARCHS["dcgan"]
    monkeypatch.setitem(ARCHS, "dcgan", dataclasses.replace(
        dcgan, defaults={**dcgan.defaults, "lr": 5e-4, "loss": "hinge"}))
    assert default_text("lr") == "2e-4 for mlp, 5e-4 for dcgan"
    assert default_text("loss") == "bce for mlp, hinge for dcgan"
    assert option_help("lr").endswith("[default: 2e-4 for mlp, 5e-4 for dcgan]")


def test_help_lists_the_registries_entries(monkeypatch):
    assert "fastgan (light GAN" in option_help("arch")
    _seed_registry(monkeypatch)
    assert option_help("arch").startswith("Architecture: mlp (the seed article's) or dcgan "
                                          "(convolutional;")
    assert option_help("width").startswith("dcgan: channels")  # the archs that take it
    for name in ("bce", "hinge", "wgan-gp"):
        assert name in option_help("loss")


@pytest.mark.parametrize("value,text", [(2e-4, "2e-4"), (1e-3, "1e-3"), (0.05, "0.05"),
                                        (10_000.0, "10000"), (0.999, "0.999"), (True, "on"),
                                        (False, "off"), (64, "64"), ("auto", "auto")])
def test_defaults_are_shown_as_people_write_them(value, text):
    assert shown_value(value) == text


def test_every_setting_is_a_train_flag_with_its_help_and_default(cli):
    r = cli("train", "--help")
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.replace("│", " ").split())  # Rich wraps the help in a table
    for name in OPTIONS:
        assert flag(name) in text and option_help(name) in text, name
        assert "[default: " in option_help(name), name


def test_every_setting_is_a_toml_key(tmp_path):
    declared = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name in OPTIONS}
    path = tmp_path / "all.toml"
    path.write_text("".join(f"{name.replace('_', '-')} = {json.dumps(value)}\n"
                            for name, value in declared.items() if value is not None))
    assert settings_from({}, path) == TrainConfig()


def test_checks_come_from_the_fields_and_from_the_registries():
    with pytest.raises(UsageError, match=r"^--ema-ramp must be 0 \(no ramp\) or positive, got -1"):
        settings_from({"ema_ramp": -1.0})
    with pytest.raises(UsageError, match=r"^--sample-grid must be a positive whole number"):
        settings_from({"sample_grid": 0})
    with pytest.raises(UsageError) as err:
        resolve({"loss": "hinge"})
    assert str(err.value) == ("--loss hinge needs a discriminator that outputs logits, and --arch "
                              "mlp's ends in a sigmoid; use --arch dcgan or --arch fastgan or --loss bce")
    with pytest.raises(UsageError, match="^unknown --strategy 'x'; choose one of: auto, one"):
        resolve({"strategy": "x"})
    assert settings_from({"strategy": "x"}).strategy == "x"  # a registry's, not config's


def test_boolean_pairs_and_new_flags_reach_the_config(cli, tmp_path):
    r = cli("train", "--data", FIXTURE_DATA, "--limit", 300, "--out", tmp_path, "--arch", "dcgan",
            "--no-ema", "--spectral-norm", "--unconditional", "--ema-ramp", "0", "--sample-grid",
            "16", "--dry-run")
    assert r.exit_code == 0, r.output
    cfg = json.loads(r.stdout)
    assert (cfg["ema"], cfg["spectral_norm"], cfg["conditional"]) == (False, True, False)
    assert (cfg["ema_ramp"], cfg["sample_grid"]) == (0.0, 16)
