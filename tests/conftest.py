"""Shared test fixtures: the small committed dataset, a tiny trained run, and an in-process CLI."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Two logical CPU devices, so that `--strategy mirrored` has 2 replicas here (tests/
# test_distributed.py); single-device training uses the first and is unaffected.
os.environ.setdefault("GANCTL_CPU_DEVICES", "2")

# Image folders are decoded into the data cache (ganctl.datacache) under the cache folder: keep
# the tests' out of the user's ~/.cache, in one folder per session (tests that need their own
# set GANCTL_CACHE themselves).
os.environ.setdefault("GANCTL_CACHE", tempfile.mkdtemp(prefix="ganctl-tests-cache-"))

FIXTURE_DATA = Path(__file__).parent / "fixtures" / "fashion-mnist-small"


# `slow` goes on tests that took 15 s or more (setup included) in a `--durations=0` run of the
# whole suite at load average 6-10 on 2 cores (8 s or more at load 4), and on every user of a
# fixture that costs that much, except tiny_run and cond_run, which a hundred quick tests share;
# `pytest -m "not slow"` then runs in under 2 minutes.


@pytest.fixture(scope="session", autouse=True)
def _cpu_without_bf16(tmp_path_factory):
    """dcgan's default `--precision auto` picks bf16 on CPUs with avx512_bf16 or AMX: the tests
    see a CPU without them, so that they train in float32 on every machine (as they did before
    auto was the default); `fake_cpu` gives a test other flags."""
    import ganctl.tfsetup

    path = tmp_path_factory.mktemp("cpu") / "cpuinfo"
    path.write_text(CPUINFO_TEXT.format(model="Test CPU", flags=NO_BF16))
    real, ganctl.tfsetup.CPUINFO = ganctl.tfsetup.CPUINFO, str(path)
    yield
    ganctl.tfsetup.CPUINFO = real


@pytest.fixture(scope="session", autouse=True)
def _devices_laid_out_first():
    """Start TensorFlow through ganctl before any test touches it, so the CPU split applies."""
    from ganctl.tfsetup import import_tensorflow

    import_tensorflow()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `ganctl ARGS...` in this process (as `main()` does) and capture exit code and output."""
    from ganctl.cli import main

    monkeypatch.setenv("COLUMNS", "200")  # Rich wraps long lines otherwise

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


def assert_one_line_error(result: CliResult, code: int, fragment: str) -> None:
    """The CLI failed with `code` and one line `error: ...` holding `fragment`, no traceback."""
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:") and fragment in lines[0], result.output
    assert "Traceback" not in result.output


def train_tiny(out: Path, name: str = "tiny", epochs: int = 2, events: list | None = None,
               **options) -> Path:
    """Train a tiny run on the fixture through the core API; returns the run folder.

    `events`, when given, collects what the training loop reports."""
    from ganctl.tfsetup import import_tensorflow
    from ganctl.training.loop import plan_training, run_training

    import_tensorflow()
    # XLA off by default: its compile costs ~10 s per process on this CPU; the tests that are
    # about the compiled step turn it on.
    # A snapshot every epoch (not `auto`, every 30 s): the tests look at each epoch's files.
    opts = dict(data=str(FIXTURE_DATA), limit=256, epochs=epochs, batch_size=64, out=str(out),
                name=name, seed=1, sample_grid=16, xla=False, snapshot_every="1ep")
    opts.update(options)
    plan = plan_training(opts)
    result = run_training(plan, emit=None if events is None else events.append)
    assert result.epochs_done == epochs
    return plan.run.root


def checkpoint_tensors(run_root: Path) -> dict:
    """Every tensor of the run's newest checkpoint by name: weights, optimizer slots, EMA, RNG
    state and counters.

    A checkpoint stores each variable once, under the first path that reaches it: G's and D's
    weights are under `g_opt/_trainable_variables/...` and `d_opt/...`, and `generator/` holds
    only G's BatchNorm statistics. Compare whole checkpoints, not names that look right."""
    import tensorflow as tf

    from ganctl.checkpoints import CheckpointStore

    store = CheckpointStore(Path(run_root) / "checkpoints")
    reader = tf.train.load_checkpoint(store.prefix(store.latest()))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A run folder trained for 2 epochs on 256 fixture images, a snapshot after each (shared;
    do not modify it)."""
    return train_tiny(tmp_path_factory.mktemp("runs"))


DCGAN_TINY = dict(arch="dcgan", width=4, limit=128, batch_size=32,  # 4 steps per epoch
                  augment="on")  # what `auto` picked for them before issue 25


@pytest.fixture(scope="session")
def tiny_dcgan_run(tmp_path_factory) -> Path:
    """A dcgan run (width 4, EMA and augmentation on by default) trained for 2 epochs on 128
    fixture images (shared; do not modify it)."""
    return train_tiny(tmp_path_factory.mktemp("runs"), "dcgan", **DCGAN_TINY)


@pytest.fixture
def keras_cache(tmp_path, monkeypatch) -> Path:
    """A Keras home (returned) whose Fashion-MNIST cache holds the fixture's IDX files."""
    cache = tmp_path / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for f in FIXTURE_DATA.iterdir():
        shutil.copy(f, cache / f.name)
    monkeypatch.setattr("ganctl.data.keras_home", lambda: tmp_path)
    return tmp_path


# /proc/cpuinfo's lines as Linux writes them, trimmed to the flags that matter here.
CPUINFO_TEXT = "processor\t: 0\nmodel name\t: {model}\nflags\t\t: fpu sse2 avx2 {flags}\n\n"
AMX = "avx512f avx512_bf16 amx_bf16 amx_tile"  # Intel Sapphire Rapids and later
AVX512_BF16 = "avx512f avx512_bf16"  # AMD Zen 4 and later, as this project's EPYC
NO_BF16 = "avx512f"  # AVX-512 without bfloat16 instructions


@pytest.fixture
def fake_cpu(tmp_path, monkeypatch):
    """Point the cpuinfo reader at a written file with the given flags (None: no file)."""
    import ganctl.tfsetup

    def use(flags: str | None) -> None:
        path = tmp_path / "cpuinfo"
        if flags is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(CPUINFO_TEXT.format(model="Test CPU", flags=flags))
        monkeypatch.setattr(ganctl.tfsetup, "CPUINFO", str(path))
    return use
