"""Choosing a distribution strategy: TF_CONFIG, auto, batch division, and their one-line errors."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURE_DATA, assert_one_line_error
from ganctl.errors import UsageError
from ganctl.training.strategy import (
    DEFAULT_TIMEOUT_S,
    TIMEOUT_ENV,
    Cluster,
    check_batch,
    choose,
    collective_timeout,
    read_tf_config,
)


def _tf_config(index: int, kind: str = "worker", chief: bool = False) -> str:
    cluster = {"worker": ["10.0.0.2:12345", "10.0.0.3:12345"]}
    if chief:
        cluster["chief"] = ["10.0.0.1:12345"]
    return json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})


def test_tf_config_names_the_workers_and_the_chief():
    assert read_tf_config("") is None
    assert read_tf_config(_tf_config(0)) == Cluster(workers=2, index=0, is_chief=True)
    assert read_tf_config(_tf_config(1)) == Cluster(workers=2, index=1, is_chief=False)
    # With a "chief" job, it is the chief and the workers come after it.
    assert read_tf_config(_tf_config(0, "chief", chief=True)) == Cluster(3, 0, True)
    assert read_tf_config(_tf_config(0, chief=True)) == Cluster(3, 1, False)


@pytest.mark.parametrize("raw, fragment", [
    ("{not json", "TF_CONFIG is not a valid cluster description"),
    (json.dumps({"cluster": {"worker": ["a:1"]}}), "'task'"),
    (_tf_config(2), "task index 2 is not in the cluster"),
    (_tf_config(0, kind="ps"), "task type 'ps'"),
])
def test_bad_tf_config_is_one_line_error(raw, fragment):
    with pytest.raises(UsageError, match="README 'Several machines'") as info:
        read_tf_config(raw)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_auto_picks_multiworker_then_mirrored_then_one():
    two = Cluster(2, 0, True)
    assert choose("auto", gpus=0, cluster=two) == "multiworker"
    assert choose("auto", gpus=4, cluster=None) == "mirrored"
    assert choose("auto", gpus=1, cluster=None) == "one"
    assert choose("auto", gpus=0, cluster=Cluster(1, 0, True)) == "one"  # a cluster of one
    assert choose("one", gpus=4, cluster=two) == "one"  # an explicit choice wins
    with pytest.raises(UsageError, match="multiworker needs TF_CONFIG"):
        choose("multiworker", gpus=0, cluster=None)
    with pytest.raises(UsageError, match="unknown --strategy 'tpu'"):
        choose("tpu", gpus=0, cluster=None)


def test_global_batch_must_divide_among_replicas():
    assert check_batch(64, 2) == 32
    assert check_batch(64, 1) == 64
    with pytest.raises(UsageError, match=r"--batch-size 65 does not divide among 2 replicas; "
                                         r"use a multiple of 2 such as 64 or 66"):
        check_batch(65, 2)
    with pytest.raises(UsageError, match="such as 3 or 6"):
        check_batch(5, 3)


def test_cpu_devices_variable_is_checked(monkeypatch):
    from ganctl.tfsetup import cpu_device_count

    monkeypatch.setenv("GANCTL_CPU_DEVICES", "3")
    assert cpu_device_count() == 3
    monkeypatch.setenv("GANCTL_CPU_DEVICES", "two")
    with pytest.raises(UsageError, match="GANCTL_CPU_DEVICES='two' must be a whole number"):
        cpu_device_count()
    monkeypatch.delenv("GANCTL_CPU_DEVICES")
    assert cpu_device_count() == 1


def _train_args(tmp_path, *extra):
    return ("train", "--data", FIXTURE_DATA, "--limit", 256, "--epochs", 1, "--no-xla",
            "--out", tmp_path, "--name", "s", *extra)


def test_cli_refuses_a_batch_that_does_not_divide(cli, tmp_path):
    result = cli(*_train_args(tmp_path, "--strategy", "mirrored", "--batch-size", 63))
    assert_one_line_error(result, 2, "--batch-size 63 does not divide among 2 replicas")
    assert not (tmp_path / "s" / "config.json").exists()


def test_cli_refuses_multiworker_without_tf_config(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = cli(*_train_args(tmp_path, "--strategy", "multiworker"))
    assert_one_line_error(result, 2, "--strategy multiworker needs TF_CONFIG")


def test_cli_refuses_an_unknown_strategy(cli, tmp_path):
    result = cli(*_train_args(tmp_path, "--strategy", "gpus"))
    assert_one_line_error(result, 2, "unknown --strategy 'gpus'; choose one of: auto, one, "
                                     "mirrored, multiworker")


def test_help_lists_strategy_and_its_default(cli):
    result = cli("train", "--help")
    assert "--strategy" in result.stdout and "[default: auto]" in result.stdout


@pytest.mark.parametrize("raw", ["abc", "10s", "0", "-3", "nan", "inf"])
def test_collective_timeout_must_be_a_positive_number_of_seconds(monkeypatch, raw):
    monkeypatch.setenv(TIMEOUT_ENV, raw)
    with pytest.raises(UsageError) as info:
        collective_timeout()
    assert str(info.value) == (f"{TIMEOUT_ENV}={raw!r} must be a positive number of seconds; "
                               f"unset it for the default of {DEFAULT_TIMEOUT_S:g} s")


def test_collective_timeout_defaults_and_reads_seconds(monkeypatch):
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    assert collective_timeout() == DEFAULT_TIMEOUT_S
    monkeypatch.setenv(TIMEOUT_ENV, " 45.5 ")
    assert collective_timeout() == 45.5


def test_cli_refuses_a_bad_collective_timeout_before_starting(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", _tf_config(0))
    monkeypatch.setenv(TIMEOUT_ENV, "five minutes")
    result = cli(*_train_args(tmp_path, "--strategy", "multiworker"))
    assert_one_line_error(result, 2, f"{TIMEOUT_ENV}='five minutes' must be a positive number")
    assert not (tmp_path / "s" / "config.json").exists()


def test_cli_refuses_mirrored_on_one_device(cli, tmp_path, monkeypatch):
    import tensorflow as tf

    one = [tf.config.LogicalDevice("/job:localhost/replica:0/task:0/device:CPU:0", "CPU")]
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: [] if kind == "GPU"
                        else one)
    result = cli(*_train_args(tmp_path, "--strategy", "mirrored"))
    assert_one_line_error(result, 2, "--strategy mirrored needs at least 2 devices and this "
                                     "machine has one; use --strategy one (or "
                                     "GANCTL_CPU_DEVICES=2 to test on a CPU)")
    assert not (tmp_path / "s" / "config.json").exists()
