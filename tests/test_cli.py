"""The command line: help, version, train through the CLI, and one-line errors with exit codes."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from conftest import AMX, FIXTURE_DATA, NO_BF16
from ganctl import __version__
from ganctl.cli import app

# Named here, not read from the app: a command whose module fails to import would drop out of
# a list built from what registered, and its tests with it.
COMMANDS = ["cache", "evaluate", "export", "interpolate", "project", "report", "sample", "train"]


def test_version(cli):
    r = cli("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"ganctl {__version__}"


def test_the_commands_are_registered_and_listed(cli):
    assert sorted(c.name or c.callback.__name__ for c in app.registered_commands) == COMMANDS
    r = cli("--help")
    assert r.exit_code == 0
    listed = [line.split()[1] for line in r.stdout.splitlines()
              if len(line.split()) > 1 and line.split()[0] in "│|"]
    assert sorted(set(listed) & set(COMMANDS)) == COMMANDS, r.stdout


def _option_rows(help_text: str) -> dict[str, str]:
    """Each option's row of Rich's options panel, its wrapped lines joined: {'--n': '...'}."""
    rows: dict[str, str] = {}
    name = None
    for line in help_text.splitlines():
        start = re.match(r"│ (?:[* ]  )?(--[a-z][\w-]*)", line)
        if start:
            name = start.group(1)
            rows[name] = line.strip("│ ")
        elif name and line.startswith("│"):
            rows[name] += " " + line.strip("│ ")
        else:
            name = None
    return rows


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples_and_defaults(cli, command):
    import typer

    r = cli(command, "--help")
    assert r.exit_code == 0, r.output
    assert "Examples" in r.stdout and f"ganctl {command}" in r.stdout
    rows = _option_rows(r.stdout)
    every = typer.main.get_command(app).commands[command].params
    params = [p for p in every if p.name != "help" and p.param_type_name == "option"]
    assert sorted(rows) == sorted([p.opts[0] for p in params] + ["--help"])
    for argument in (p for p in every if p.param_type_name == "argument"):  # cache's list|clear
        assert argument.help and argument.help.split(":")[0] in r.stdout
    for p in params:
        row = rows[p.opts[0]]
        assert p.help and p.help.split()[0] in row, row
        if p.required:
            assert "[required]" in row, row
        elif p.is_flag and not p.secondary_opts:
            continue  # a switch such as --fresh: off unless given
        else:
            assert "[default: " in row, row  # every option says what it does when left out
        if p.show_default is True and p.default is not None:
            # The default shown is the one that applies: --frames [default: 24], --ema/--no-ema
            # [default: ema].
            shown = p.default
            if p.is_flag:
                shown = (p.opts if p.default else p.secondary_opts)[0].removeprefix("--")
            assert f"[default: {shown}]" in row, row


def test_train_dry_run_prints_resolved_config(cli, tmp_path):
    r = cli("train", "--data", FIXTURE_DATA, "--limit", 300, "--epochs", 4, "--out", tmp_path,
            "--dry-run")
    assert r.exit_code == 0, r.output
    cfg = json.loads(r.stdout)
    assert cfg["epochs"] == 4 and cfg["num_images"] == 300 and cfg["image_shape"] == [28, 28, 1]
    assert cfg["name"] == "run1" and cfg["resume"] is False
    assert not (tmp_path / "run1").exists()  # a dry run writes nothing


def test_train_dry_run_warns_when_limit_cuts_classes_away(cli, tmp_path):
    from PIL import Image

    for i, cls in enumerate(("ants", "bees")):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for j in range(3):
            Image.fromarray(np.full((8, 8), 100 * i + j, np.uint8)).save(
                tmp_path / "data" / cls / f"{j}.png")
    r = cli("train", "--data", tmp_path / "data", "--limit", 2, "--batch-size", 2, "--out", tmp_path,
            "--dry-run")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["num_images"] == 2  # the JSON alone on stdout
    assert r.stderr.startswith("warning: --limit 2 trains on the first 2 images, which hold 1 of "
                               "the data's 2 classes (ants)")
    r = cli("train", "--data", tmp_path / "data", "--limit", 4, "--batch-size", 2, "--out", tmp_path,
            "--dry-run")
    assert r.exit_code == 0 and r.stderr == ""


def test_train_help_says_what_precision_auto_picks(cli):
    r = cli("train", "--help")
    text = " ".join(r.stdout.replace("│", " ").split())  # Rich wraps the help in a table
    assert ("auto: bf16 for dcgan on CPUs with amx_bf16 or avx512_bf16, where it trained faster "
            "at the same quality, else float32") in text


@pytest.mark.parametrize("arch,flags,precision,why", [
    ("dcgan", AMX, "bf16", "bf16 pays for dcgan with amx_bf16 or avx512_bf16; this CPU has amx"),
    ("dcgan", NO_BF16, "float32", "bf16 pays for dcgan with amx_bf16 or avx512_bf16, which"),
    ("mlp", AMX, "float32", "bf16 was not measured to pay for mlp"),
])
def test_train_dry_run_shows_what_precision_auto_picked(cli, tmp_path, fake_cpu, arch, flags,
                                                        precision, why):
    fake_cpu(flags)
    r = cli("train", "--data", FIXTURE_DATA, "--limit", 300, "--out", tmp_path, "--arch", arch,
            "--precision", "auto", "--dry-run")
    assert r.exit_code == 0, r.output
    cfg = json.loads(r.stdout)
    assert cfg["precision"] == precision and cfg["precision_auto"].startswith(why)


def test_train_dry_run_shows_what_width_auto_picked(cli, tmp_path):
    r = cli("train", "--data", FIXTURE_DATA, "--limit", 300, "--out", tmp_path, "--arch", "dcgan",
            "--dry-run")
    assert r.exit_code == 0, r.output
    cfg = json.loads(r.stdout)
    assert cfg["width"] == 32 and cfg["width_auto"].startswith("on a CPU, width 32 drew better")
    r = cli("train", "--data", FIXTURE_DATA, "--limit", 300, "--out", tmp_path, "--arch", "dcgan",
            "--width", "64", "--dry-run")
    assert json.loads(r.stdout)["width"] == 64 and "width_auto" not in json.loads(r.stdout)


def test_train_d_lr_option_reaches_the_config(cli, tmp_path):
    r = cli("train", "--data", FIXTURE_DATA, "--limit", 300, "--out", tmp_path, "--lr", "3e-4",
            "--dry-run")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["d_lr"] == 3e-4  # D follows --lr unless told otherwise
    r = cli("train", "--data", FIXTURE_DATA, "--limit", 300, "--out", tmp_path, "--d-lr", "8e-4",
            "--dry-run")
    cfg = json.loads(r.stdout)
    assert (cfg["lr"], cfg["d_lr"]) == (2e-4, 8e-4)


@pytest.mark.parametrize("args,code,needle", [
    (["train", "--epochs", "0"], 2, "--epochs must be a positive whole number"),
    (["train", "--batch-size", "-5"], 2, "--batch-size must be a positive whole number"),
    (["train", "--latent-dim", "0"], 2, "--latent-dim must be a positive whole number"),
    (["train", "--bogus"], 2, "No such option"),
    (["train", "--epochs", "many"], 2, "Invalid value for '--epochs'"),
    (["train", "--data", "/nonexistent/data"], 2, "neither a built-in dataset"),
    (["train", "--name", "../x"], 2, "plain name"),
    (["train", "--config", "/nonexistent.toml"], 2, "config file not found"),
    (["nosuchcommand"], 2, "No such command"),
])
def test_errors_are_one_line_with_exit_code(cli, tmp_path, args, code, needle):
    r = cli(*args, "--out", tmp_path) if args[0] == "train" else cli(*args)
    assert r.exit_code == code, r.output
    assert needle in r.stderr
    assert "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_batch_size_larger_than_data(cli, tmp_path):
    r = cli("train", "--data", FIXTURE_DATA, "--limit", 50, "--out", tmp_path, "--dry-run")
    assert r.exit_code == 2 and "larger than the dataset" in r.stderr


def test_config_file_with_unknown_option(cli, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("epochs = 2\nwarp_speed = true\n")
    r = cli("train", "--config", path, "--out", tmp_path, "--dry-run")
    assert r.exit_code == 2 and "warp_speed" in r.stderr


@pytest.mark.slow
def test_train_through_cli_then_resume(cli, tmp_path):
    args = ["train", "--data", FIXTURE_DATA, "--limit", 256, "--batch-size", 64, "--out", tmp_path,
            "--name", "c1", "--no-xla", "--seed", 3]
    r = cli(*args, "--epochs", 1)
    assert r.exit_code == 0, r.output
    assert "run c1 on CPU" in r.stdout and "epoch 1 done" in r.stdout and "done: 1 epoch in" in r.stdout
    r = cli(*args, "--epochs", 2)
    assert r.exit_code == 0, r.output
    assert "resuming from ckpt-e0001-s00000004 at epoch 2/2" in r.stdout
    assert (tmp_path / "c1" / "samples" / "epoch_0002.png").is_file()
    r = cli(*args, "--epochs", 2)
    assert r.exit_code == 0 and "already has 2 epochs" in r.stdout
    r = cli(*args, "--epochs", 3, "--lr", "0.01")
    assert r.exit_code == 2 and "--fresh" in r.stderr


def test_debug_reraises_for_a_traceback(cli, tmp_path, monkeypatch):
    from ganctl.errors import UsageError

    monkeypatch.setenv("GANCTL_DEBUG", "0")  # restored after the test: main() sets it to 1
    # --debug re-raises, so Python prints the full traceback instead of one line
    with pytest.raises(UsageError, match="--epochs must be a positive whole number"):
        cli("--debug", "train", "--epochs", "0", "--out", tmp_path)
    # After the command too (it used to be a traceback of "No such option: --debug").
    with pytest.raises(UsageError, match="--epochs must be a positive whole number"):
        cli("train", "--epochs", "0", "--out", tmp_path, "--debug")
