"""The training progress display (ganctl/cli/progress.py) on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from ganctl.cli.progress import ProgressRenderer
from ganctl.events import EpochDone, StepsDone, TrainStarted

STATS = {"g_loss": 1.0, "d_loss": 0.5, "d_real": 0.7, "d_fake": 0.3}


def test_the_step_bar_names_the_next_epoch_but_not_one_past_the_last():
    renderer = ProgressRenderer(Console(file=io.StringIO(), width=120, force_terminal=True))
    renderer(TrainStarted("r", "CPU", epochs=2, start_epoch=0, start_step_in_epoch=0,
                          steps_per_epoch=3, num_images=30, resumed_from=None))
    steps = renderer.progress.tasks[1]
    record = {**STATS, "seconds": 1.0, "images_per_s": 30.0}
    for epoch in (1, 2):
        renderer(StepsDone(epoch, 3, 3, STATS, 30.0))
        renderer(EpochDone(epoch, record))
        if epoch == 1:
            assert steps.description == "epoch 2" and steps.completed == 0
    # The run is over: the bar shows the last epoch, full, not an "epoch 3" that never runs.
    assert steps.description == "epoch 2" and steps.completed == 3
    assert renderer.progress.tasks[0].completed == 2
    renderer.close()


def test_the_first_plain_line_prints_soon_after_boot(monkeypatch):
    """time.monotonic() counts from boot on Linux: on a machine booted 5 s ago, with lines at
    most every hour, the first step line must still print (it did not: the last line's time
    started at 0.0, so 5 - 0 < 3600 held it back)."""
    import ganctl.cli.progress as progress

    monkeypatch.setattr(progress.time, "monotonic", lambda: 5.0)
    out = io.StringIO()
    renderer = ProgressRenderer(Console(file=out, width=120, force_terminal=False),
                                plain_every_s=3600)
    renderer(TrainStarted("r", "CPU", epochs=1, start_epoch=0, start_step_in_epoch=0,
                          steps_per_epoch=3, num_images=30, resumed_from=None))
    renderer(StepsDone(1, 1, 3, STATS, 30.0))
    renderer(StepsDone(1, 2, 3, STATS, 30.0))  # within the hour: not printed
    renderer(EpochDone(1, {**STATS, "seconds": 1.0, "images_per_s": 30.0}))
    renderer.close()
    lines = out.getvalue().splitlines()
    assert sum(line.startswith("epoch 1 step") for line in lines) == 1
    assert any(line.startswith("epoch 1 done") for line in lines)
