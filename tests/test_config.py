"""Settings: defaults, TOML files, command-line precedence and validation."""

from __future__ import annotations

import pytest

from conftest import AMX, AVX512_BF16, NO_BF16
from ganctl.config import TrainConfig, load_toml
from ganctl.errors import UsageError
from ganctl.training.options import resolve


def test_defaults_are_the_seed_settings():
    cfg = resolve({})
    assert (cfg.arch, cfg.latent_dim, cfg.batch_size, cfg.lr, cfg.beta1, cfg.beta2) == \
        ("mlp", 100, 128, 2e-4, 0.5, 0.999)
    assert cfg.data == "fashion-mnist" and cfg.out == "runs"


def test_toml_then_command_line_wins(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("epochs = 7\nbatch-size = 32\nlr = 0.001\n")
    cfg = resolve({"epochs": 9}, path)
    assert (cfg.epochs, cfg.batch_size, cfg.lr) == (9, 32, 0.001)


def test_toml_train_table_and_int_lr(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nlr = 1\nseed = 3\n")
    cfg = resolve({}, path)
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.seed == 3


def test_toml_unknown_option_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("epochs = 3\nlearning_rate = 0.1\n")
    with pytest.raises(UsageError, match="unknown option.*learning_rate"):
        load_toml(path)


def test_toml_syntax_error_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_toml(bad)
    with pytest.raises(UsageError, match="not found"):
        load_toml(tmp_path / "missing.toml")


@pytest.mark.parametrize("option,value,match", [
    ("epochs", 0, "--epochs must be a positive"),
    ("batch_size", -1, "--batch-size must be a positive"),
    ("latent_dim", 0, "--latent-dim must be a positive"),
    ("lr", 0.0, "--lr must be a positive"),
    ("d_lr", -1e-4, "--d-lr must be a positive"),
    ("beta1", 1.0, r"--beta1 must be in \[0, 1\)"),
    ("arch", "resnet", "unknown --arch 'resnet'; choose one of: mlp"),
    ("channels", 2, "--channels must be 1"),
    ("name", "../escape", "plain name"),
    ("name", "a/b", "plain name"),
    ("precision", "half", "unknown --precision"),
])
def test_bad_values_are_refused(option, value, match):
    with pytest.raises(UsageError, match=match):
        resolve({option: value})


def test_batch_larger_than_dataset():
    with pytest.raises(UsageError, match="larger than the dataset"):
        TrainConfig().replace(num_images=100, batch_size=128)


def test_json_round_trip_and_unknown_keys():
    cfg = TrainConfig().replace(image_shape=(28, 28, 1), num_images=10, batch_size=8)
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(UsageError, match="unknown setting"):
        TrainConfig.from_json({**cfg.to_json(), "bogus": 1})


def test_learning_rate_and_batch_size_default_per_architecture():
    # The MLP keeps the seed article's 2e-4 and 128; dcgan takes the quality race's winners.
    mlp, dcgan = TrainConfig(), TrainConfig(arch="dcgan")
    assert (mlp.lr, mlp.batch_size) == (2e-4, 128)
    assert (dcgan.lr, dcgan.batch_size) == (1e-3, 64)
    given = resolve({"arch": "dcgan", "lr": 2e-4, "batch_size": 128})
    assert (given.lr, given.batch_size) == (2e-4, 128)
    assert TrainConfig.from_json(dcgan.to_json()).lr == 1e-3


def test_toml_unknown_option_suggests_the_close_one(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("epoch = 3\nbatch = 64\nzzz = 1\n")
    with pytest.raises(UsageError) as err:
        load_toml(path)
    assert "unknown option(s): batch, epoch, zzz; did you mean: batch -> batch_size, " \
           "epoch -> epochs? (known: data," in str(err.value)


@pytest.mark.parametrize("line,message", [
    ('ema = "no"', "ema must be true or false (TOML, no quotes), got 'no'"),
    ("conditional = 1", "conditional must be true or false (TOML, no quotes), got 1"),
    ("data = 5", "data must be a quoted string, got 5"),
    ("epochs = 2.5", "epochs must be a whole number, got 2.5"),
    ('batch-size = "64"', "batch-size must be a whole number, got '64'"),
])
def test_toml_values_of_the_wrong_type_name_the_file_and_option(tmp_path, line, message):
    path = tmp_path / "c.toml"
    path.write_text(line + "\n")
    with pytest.raises(UsageError) as err:
        resolve({}, path)
    assert str(err.value) == f"config file {path}: {message}"


def test_toml_booleans_and_strings_of_the_right_type_still_load(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('ema = false\nconditional = false\ndata = "mnist"\nspectral-norm = true\n'
                    'arch = "dcgan"\n')
    cfg = resolve({"ema": True}, path)  # the command line wins
    assert cfg.ema is True and cfg.spectral_norm is True and cfg.data == "mnist"


# --- --precision auto: resolved from the CPU's flags, per architecture ---------------------------

@pytest.mark.parametrize("flags,mlp,dcgan", [
    (AMX, "float32", "bf16"),  # the MLP stays float32: bf16 not shown to pay for it
    (AVX512_BF16, "float32", "bf16"),  # oneDNN's bfloat16 convolutions use avx512_bf16
    (NO_BF16, "float32", "float32"),
    (None, "float32", "float32"),  # no /proc/cpuinfo (macOS, Windows)
])
def test_precision_auto_follows_cpu_flags_and_arch(fake_cpu, flags, mlp, dcgan):
    fake_cpu(flags)
    assert resolve({"precision": "auto"}).precision == mlp
    assert resolve({"precision": "auto", "arch": "dcgan"}).precision == dcgan
    # The resolved choice is what the config keeps: config.json never says "auto".
    saved = TrainConfig.from_json(resolve({"precision": "auto", "arch": "dcgan"}).to_json())
    assert saved.precision == dcgan
    # An explicit precision is never changed by the CPU.
    for given in ("float32", "bf16", "mixed"):
        assert resolve({"precision": given, "arch": "dcgan"}).precision == given


@pytest.mark.parametrize("flags,dcgan", [(AVX512_BF16, "bf16"), (NO_BF16, "float32")])
def test_precision_auto_is_dcgans_default_and_the_mlp_stays_float32(fake_cpu, flags, dcgan):
    fake_cpu(flags)
    assert resolve({}).precision == "float32"
    assert resolve({"arch": "dcgan"}).precision == dcgan
    # A config.json of a ganctl without --precision reads as float32, whatever the CPU.
    old = resolve({"arch": "dcgan", "precision": "float32"}).to_json()
    del old["precision"]
    assert TrainConfig.from_json(old).precision == "float32"


def test_width_auto_is_32_on_a_cpu_and_64_with_a_gpu(monkeypatch):
    import ganctl.tfsetup
    from ganctl.config import auto_width

    assert auto_width(0)[0] == 32 and auto_width(1)[0] == 64
    assert "quality race" in auto_width(0)[1] and "GPU" in auto_width(1)[1]
    assert resolve({"arch": "dcgan"}).width == 32  # the tests run on a CPU
    assert resolve({"arch": "dcgan", "width": "auto"}).width == 32
    monkeypatch.setattr(ganctl.tfsetup, "gpu_count", lambda: 1)
    assert resolve({"arch": "dcgan"}).width == 64
    # config.json keeps the number, so a run resumes at its width on any machine.
    assert resolve({"arch": "dcgan", "width": "48"}).to_json()["width"] == 48
    assert TrainConfig.from_json(resolve({"arch": "dcgan", "width": 16}).to_json()).width == 16
    with pytest.raises(UsageError, match="--width must be a whole number > 0 or auto, got wide"):
        resolve({"arch": "dcgan", "width": "wide"})
    assert resolve({}).width is None  # the MLP has no width


def test_auto_precision_says_why():
    from ganctl.config import auto_precision

    assert auto_precision("dcgan", {"avx2", "avx512_bf16"}) == (
        "bf16", "bf16 pays for dcgan with amx_bf16 or avx512_bf16; this CPU has avx512_bf16")
    assert auto_precision("dcgan", {"amx_bf16", "avx512_bf16"})[1].endswith("has amx_bf16")
    assert auto_precision("dcgan", {"avx2", "avx512f"}) == (
        "float32", "bf16 pays for dcgan with amx_bf16 or avx512_bf16, which this CPU lacks")
    assert auto_precision("mlp", {"amx_bf16", "avx512_bf16"}) == (
        "float32", "bf16 was not measured to pay for mlp at equal quality")


def test_d_lr_defaults_to_lr_and_is_saved():
    # TTUR: D may learn at its own rate; by default it follows G's, whatever set that.
    assert TrainConfig().d_lr == 2e-4 and TrainConfig(arch="dcgan").d_lr == 1e-3
    assert resolve({"arch": "dcgan", "lr": 3e-4}).d_lr == 3e-4
    given = resolve({"arch": "dcgan", "d_lr": 4e-4})
    assert (given.lr, given.d_lr) == (1e-3, 4e-4)
    saved = given.to_json()
    assert saved["d_lr"] == 4e-4 and TrainConfig.from_json(saved) == given
    # A config.json written before --d-lr existed trains D at its lr, as it did then.
    old = {k: v for k, v in TrainConfig(arch="dcgan", lr=5e-4).to_json().items() if k != "d_lr"}
    assert TrainConfig.from_json(old).d_lr == 5e-4
