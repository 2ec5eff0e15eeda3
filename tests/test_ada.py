"""Adaptive augmentation (`--augment ada`): p's update rule, p applied per image, p in the
checkpoint and the logs, and p under tf.distribute."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import DCGAN_TINY, checkpoint_tensors, train_tiny
from ganctl.config import TrainConfig
from ganctl.errors import UsageError
from ganctl.training.ada import AdaptiveStrength
from ganctl.training.augment import diff_augment, policy_for
from ganctl.training.options import resolve


def _run_script(ada: AdaptiveStrength, script: list[list[float]]) -> list[float]:
    """Feed one batch of D outputs per step; p after every step."""
    ps = []
    for step, outputs in enumerate(script, start=1):
        ada.observe(np.array(outputs, np.float32))
        ada.adjust(step)
        ps.append(float(ada.p.numpy()))
    return ps


def test_p_moves_every_4_steps_by_the_sign_of_r_minus_the_target_and_is_clipped():
    # batch 2, speed 32 images: each move is 2 · 4 / 32 = 0.25.
    ada = AdaptiveStrength(target=0.6, speed=32, batch_size=2, on_probabilities=False)
    sure, unsure, half = [3.0, 0.5], [-1.0, -2.0], [1.0, -0.1]
    script = ([sure] * 4 * 5  # r = 1 > 0.6: up 4 times to 1, then clipped at 1
              + [unsure] * 4  # r = -1: down
              + [sure] * 3 + [half]  # r = (6 + 1 - 1) / 8 = 0.75 > 0.6: up
              + [sure, sure, half, half]  # r = (4 + 0) / 8 = 0.5 < 0.6: down
              + [unsure] * 4 * 5)  # down to 0, then clipped at 0
    ps = _run_script(ada, script)
    after_each_window = ps[3::4]
    assert after_each_window == [0.25, 0.5, 0.75, 1.0, 1.0, 0.75, 1.0, 0.75,
                                 0.5, 0.25, 0.0, 0.0, 0.0]
    # p moves only at the end of a window, and the window's sum starts again.
    assert ps[:3] == [0.0, 0.0, 0.0] and ps[4:7] == [0.25] * 3
    assert ada.signs.numpy().tolist() == [0.0, 0.0]


def test_a_d_that_ends_in_a_sigmoid_is_read_by_the_sign_of_its_probability_minus_a_half():
    ada = AdaptiveStrength(target=0.6, speed=32, batch_size=2, on_probabilities=True)
    ps = _run_script(ada, [[0.9, 0.55]] * 4 + [[0.4, 0.45]] * 4)  # MLP's D(x): 0.5 is "unsure"
    assert ps[3] == 0.25 and ps[7] == 0.0
    # A window's r equal to the target leaves p where it is: sign(0) = 0.
    still = AdaptiveStrength(target=0.5, speed=32, batch_size=2, on_probabilities=False)
    assert _run_script(still, [[1.0, 1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])[-1] == 0.0


def _batch(n=64, size=16, channels=3):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    return tf.constant(rng.uniform(-0.9, 0.9, (n, size, size, channels)).astype(np.float32))


@pytest.mark.parametrize("channels", [1, 3])
def test_p_0_is_the_identity_and_p_1_is_the_always_on_augmentation(channels):
    import tensorflow as tf

    x, seed = _batch(channels=channels), tf.constant([3, 11], tf.int64)
    policy = policy_for(channels)
    assert np.array_equal(diff_augment(x, seed, policy, p=0.0).numpy(), x.numpy())
    always = diff_augment(x, seed, policy).numpy()
    assert np.array_equal(diff_augment(x, seed, policy, p=1.0).numpy(), always)
    # In between, each image is left alone or augmented, each augmentation on its own draw.
    some = diff_augment(x, seed, ("cutout",), p=0.5).numpy()
    cut = diff_augment(x, seed, ("cutout",)).numpy()
    same = [np.array_equal(some[i], x.numpy()[i]) for i in range(64)]
    assert all(s or np.array_equal(some[i], cut[i]) for i, s in enumerate(same))
    assert 16 < sum(same) < 48
    # The rows of a split batch are augmented as in the whole batch, p included.
    half = diff_augment(x[32:], seed, policy, offset=32, total=64, p=0.5).numpy()
    np.testing.assert_array_equal(half, diff_augment(x, seed, policy, p=0.5).numpy()[32:])


def test_ada_options_are_checked_and_named():
    cfg = resolve({"arch": "dcgan", "augment": "ada", "ada_speed": 5000.0})
    assert cfg.augment_on and cfg.augment_adaptive and cfg.ada_speed == 5000.0
    assert not resolve({"arch": "dcgan", "augment": "on"}).augment_adaptive
    with pytest.raises(UsageError, match="--ada-target is for --augment ada, and this run has "
                                         "--augment on"):
        resolve({"arch": "dcgan", "augment": "on", "ada_target": 0.5})
    with pytest.raises(UsageError, match=r"--ada-target must be in \[0, 1\)"):
        resolve({"arch": "dcgan", "augment": "ada", "ada_target": 1.5})
    with pytest.raises(UsageError, match="--ada-speed"):
        resolve({"arch": "dcgan", "augment": "ada", "ada_speed": 0.0})


def test_the_header_says_ada_and_its_settings():
    from ganctl.training.loop import training_notes

    cfg = TrainConfig(arch="dcgan", augment="ada", image_shape=(28, 28, 1), num_images=300)
    assert ("augmentation ada (each with a probability p from 0, towards r = 0.6; 0 to 1 in "
            "100,000 images)") in training_notes(cfg)


# 6 steps an epoch (192 images, batch 32), so the 4-step windows straddle epoch ends; a fast
# speed, so that p moves.
ADA_TINY = {**DCGAN_TINY, "limit": 192, "augment": "ada", "ada_speed": 2000.0}


@pytest.mark.slow
def test_p_is_logged_checkpointed_and_resumes_exactly(tmp_path):
    from ganctl.runs import RunFolder

    straight = train_tiny(tmp_path, "straight", epochs=3, **ADA_TINY)
    train_tiny(tmp_path, "resumed", epochs=1, **ADA_TINY)
    resumed = train_tiny(tmp_path, "resumed", epochs=3, **ADA_TINY)
    ws, wr = checkpoint_tensors(straight), checkpoint_tensors(resumed)
    assert ws.keys() == wr.keys() and all(np.array_equal(ws[k], wr[k]) for k in ws)
    p_key = next(k for k in ws if k.startswith("ada_p/"))
    signs = next(k for k in ws if k.startswith("ada_signs/"))
    ps = [r["ada_p"] for r in RunFolder(straight).read_metrics()]
    assert ps == [r["ada_p"] for r in RunFolder(resumed).read_metrics()]
    assert ps[-1] == pytest.approx(float(ws[p_key]))
    assert len(set(ps)) > 1 and all(0.0 <= p <= 1.0 for p in ps)  # p moved
    # 18 steps: 4 windows done, 2 steps gathered into the fifth.
    assert ws[signs][1] == 2 * 32
    # TensorBoard gets it with the other scalars of the record.
    assert any((straight / "tensorboard").rglob("*tfevents*"))
    # Without ada, no p anywhere.
    plain = train_tiny(tmp_path, "plain", epochs=1, **{**ADA_TINY, "augment": "on",
                                                       "ada_speed": 100_000.0})
    assert not any(k.startswith("ada_") for k in checkpoint_tensors(plain))
    assert "ada_p" not in json.loads((plain / "metrics.jsonl").read_text().splitlines()[0])


@pytest.mark.slow
def test_p_under_mirrored_equals_one_device(tmp_path):
    from ganctl.runs import RunFolder

    one = train_tiny(tmp_path, "one", epochs=2, **ADA_TINY)
    mirrored = train_tiny(tmp_path, "m", epochs=2, strategy="mirrored", **ADA_TINY)
    p_one = [r["ada_p"] for r in RunFolder(one).read_metrics()]
    assert p_one == [r["ada_p"] for r in RunFolder(mirrored).read_metrics()]
    assert p_one[-1] > 0
