"""`--arch fastgan` (ganctl/models/fastgan.py): shapes and parameter counts, the decoders' loss,
skip-layer excitation, exact resume, and the commands on a fastgan run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error, checkpoint_tensors, train_tiny
from ganctl.models import ARCHS, build_models, fastgan
from ganctl.models.fastgan import channels, rec_size

# width 4: channels 64 at 4 px, 32, 16, then the floor of 8; 2 steps per epoch.
TINY = dict(arch="fastgan", width=4, latent_dim=16, image_size=64, limit=32, batch_size=16)


def _bn(ch: int) -> int:
    return 4 * ch  # gamma, beta, moving mean and variance


def fastgan_counts(size: int, nc: int, w: int, latent: int) -> tuple[int, int]:
    """(G, D) parameters of the FastGAN described in ganctl/models/fastgan.py, from its layers."""
    # G: the 4×4 start as a GLU of two Dense layers; each block's convolutions are GLUs of two
    # 3×3 convolutions (no bias), each followed by BatchNorm; SLE is conv 4×4 and conv 1×1.
    g = 2 * (latent * 16 * channels(4, w) + _bn(channels(4, w)))
    convs = 2 if size >= 128 else 1
    r, cin = 4, channels(4, w)
    while r < size:
        r *= 2
        ch = channels(r, w)
        for _ in range(convs):
            g += 2 * (9 * cin * ch + _bn(ch))
            cin = ch
        if r in fastgan.SLE_FROM:
            g += 16 * channels(fastgan.SLE_FROM[r], w) * ch + ch * ch
    g += 9 * cin * nc + nc
    # D: spectral norm keeps a vector u of the outputs' size beside each kernel.
    d = 16 * nc * channels(size // 2, w) + channels(size // 2, w)
    r, cin = size // 2, channels(size // 2, w)
    while r > 8:
        r //= 2
        ch = channels(r, w)
        d += 16 * cin * ch + ch + _bn(ch)  # main, conv 4×4 stride 2
        d += 9 * ch * ch + ch + _bn(ch)  # main, conv 3×3
        d += cin * ch + ch + _bn(ch)  # shortcut, conv 1×1 after pooling
        cin = ch
    head = 4 * channels(8, w)
    d += cin * head + head + _bn(head) + 16 * head + 1
    for start in (channels(8, w), channels(16, w)):  # the two decoders
        r, cin = 8, start
        while r < rec_size(size):
            r *= 2
            ch = max(8, channels(r, w) // 2)
            d += 2 * (9 * cin * ch + _bn(ch))
            cin = ch
        d += 9 * cin * nc + nc
    return g, d


def test_registry_entry():
    spec = ARCHS["fastgan"]
    assert spec.d_output == "logits" and spec.options == ("width",)
    assert spec.defaults["latent_dim"] == 256 and spec.defaults["loss"] == "hinge"


@pytest.mark.parametrize("size", [64, 128, 256])
@pytest.mark.parametrize("nc", [1, 3])
def test_shapes_and_parameter_counts(size, nc):
    g, d = build_models("fastgan", 16, (size, size, nc), width=4)
    assert (g.count_params(), d.count_params()) == fastgan_counts(size, nc, 4, 16)
    z = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    x = np.asarray(g(z, training=False))
    assert x.shape == (2, size, size, nc) and np.abs(x).max() <= 1
    assert np.asarray(d(x)).shape == (2, 5, 5, 1)
    body = d.body(x)
    assert body[1].shape == (2, rec_size(size), rec_size(size), nc)  # whole-image decoder
    assert body[2].shape[1:3] == (16, 16)
    assert [layer.name for layer in g.layers
            if layer.name.startswith("sle") and layer.name.endswith("_gate")] == [
        f"sle{fastgan.SLE_FROM[r]}_{r}_gate" for r in (64, 128, 256) if r <= size]


def test_conditional_pair_takes_labels():
    g, d = build_models("fastgan", 16, (64, 64, 3), width=4, num_classes=3)
    x = g([np.zeros((2, 16), np.float32), np.array([0, 2])])
    assert x.shape == (2, 64, 64, 3)
    assert d([x, np.array([1, 2])]).shape == (2, 5, 5, 1)


def test_reconstruction_loss_known_answers():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    real = tf.constant(rng.uniform(-1, 1, (3, 64, 64, 3)).astype(np.float32))
    for q in range(4):
        q_t = tf.constant(q, tf.int32)
        # at 64 px both decoders rebuild 32 px: the image's 2×2 block means, and a quadrant
        target_all = fastgan.shrink(real, 32)
        blocks = np.asarray(real).reshape(3, 32, 2, 32, 2, 3).mean(axis=(2, 4))
        np.testing.assert_allclose(target_all, blocks, rtol=1e-6, atol=1e-6)
        target_part = fastgan.quadrant(real, q_t)
        assert target_part.shape == (3, 32, 32, 3)
        assert float(fastgan.reconstruction_l1(target_all, target_part, real, q_t)) == 0.0
        # each decoder off by 0.25 everywhere: 0.25 + 0.25
        off = fastgan.reconstruction_l1(target_all + 0.25, target_part - 0.25, real, q_t)
        assert float(off) == pytest.approx(0.5, abs=1e-6)
    # quadrants, in order: top left, top right, bottom left, bottom right
    board = np.zeros((1, 4, 4, 1), np.float32)
    board[0, :2, 2:], board[0, 2:, :2], board[0, 2:, 2:] = 1, 2, 3
    for q in range(4):
        assert np.all(np.asarray(fastgan.quadrant(tf.constant(board), tf.constant(q))) == q)
    # shrinking averages blocks: a 256 px image is rebuilt at 128
    big = np.kron(np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1), np.ones((1, 128, 128, 1)))
    assert np.array_equal(fastgan.shrink(tf.constant(big), 2), np.arange(4.0).reshape(1, 2, 2, 1))


def test_judge_real_gives_logits_and_the_loss_from_its_seed():
    import tensorflow as tf

    from ganctl.models import judge_real

    g, d = build_models("fastgan", 16, (64, 64, 3), width=4)
    x = g(np.random.default_rng(1).standard_normal((2, 16)).astype(np.float32))
    seed = tf.constant([3, 7], tf.int64)
    logits, loss = judge_real(d, x, seed)
    assert logits.shape == (2, 5, 5, 1) and float(loss) > 0
    # the same seed, the same quadrant: a twin D (same weights) gives the same loss. (D itself
    # changes in training: each call's power iteration renormalises its kernels.)
    twin = build_models("fastgan", 16, (64, 64, 3), width=4)[1]
    assert float(judge_real(twin, x, seed)[1]) == float(loss)
    _, dcgan_d = build_models("dcgan", 16, (64, 64, 3), width=4)
    assert judge_real(dcgan_d, x, seed)[1] is None  # an architecture without one adds nothing


def test_skip_layer_excitation_is_a_channel_gate_in_0_1():
    import keras

    seeds = iter(range(100))

    def init():
        return keras.initializers.RandomNormal(0.0, 1.0, seed=next(seeds))

    small, big = keras.Input((8, 8, 5)), keras.Input((32, 32, 6))
    out = fastgan.skip_excitation(small, big, "sle", init)
    model = keras.Model([small, big], out)
    rng = np.random.default_rng(0)
    b = rng.uniform(0.5, 2.0, (4, 32, 32, 6)).astype(np.float32)
    # no bias: a zero squeeze gives sigmoid(0) = 0.5 on every channel
    half = np.asarray(model([np.zeros((4, 8, 8, 5), np.float32), b]))
    np.testing.assert_allclose(half, 0.5 * b, rtol=1e-6)
    for scale in (1.0, 100.0):
        s = scale * rng.standard_normal((4, 8, 8, 5)).astype(np.float32)
        gate = np.asarray(model([s, b])) / b
        assert gate.min() >= 0.0 and gate.max() <= 1.0
        # one gate per image and channel: the same at every pixel
        np.testing.assert_allclose(gate, np.broadcast_to(gate[:, :1, :1, :], gate.shape),
                                   rtol=1e-5, atol=1e-7)
    assert gate.min() < 0.01 and gate.max() > 0.99  # large inputs saturate it both ways


@pytest.mark.parametrize("size", [32, 96, 100, 2048])
def test_other_sizes_are_refused_in_one_line(cli, size):
    result = cli("train", "--arch", "fastgan", "--image-size", str(size), "--channels", "3",
                 "--dry-run")
    assert_one_line_error(result, 2, "64, 128, 256, 512, 1024")


def test_latent_dim_defaults_per_architecture():
    from ganctl.training.options import resolve

    assert resolve({"arch": "fastgan"}).latent_dim == 256
    assert resolve({"arch": "dcgan"}).latent_dim == 100
    assert resolve({"arch": "mlp"}).latent_dim == 100
    assert resolve({"arch": "fastgan", "latent_dim": 32}).latent_dim == 32


def test_width_default_is_recorded_for_the_image_size():
    """--width left out: the config holds the number the builder uses (config.json then
    records it), fastgan.DEFAULT_WIDTHS per image size; a given width stays."""
    from ganctl.config import TrainConfig

    assert TrainConfig(arch="fastgan").width is None  # no image shape yet: nothing to pick
    for size, width in fastgan.DEFAULT_WIDTHS.items():
        assert TrainConfig(arch="fastgan", image_shape=(size, size, 3)).width == width
    assert TrainConfig(arch="fastgan", image_shape=(64, 64, 3), width=4).width == 4
    d_none = build_models("fastgan", 16, (64, 64, 1))[1]
    d_16 = build_models("fastgan", 16, (64, 64, 1), width=fastgan.DEFAULT_WIDTHS[64])[1]
    assert d_none.count_params() == d_16.count_params()


@pytest.mark.parametrize("size", [64, 128])
def test_d_blocks_for_freeze_d(size):
    """--freeze-d K fixes D's input convolution, then its down blocks to 8x8 (each both
    branches' convolutions and BatchNorms): every such weight in exactly one block, none of the
    logit head's or the decoders'."""
    _, d = build_models("fastgan", 16, (size, size, 3), width=4)
    blocks = ARCHS["fastgan"].d_blocks(d)
    downs = {64: 2, 128: 3}[size]  # 32 -> 16 -> 8 at 64 px
    assert len(blocks) == 1 + downs
    assert [layer.name for layer in blocks[0]] == ["sn_d_in"]
    for block in blocks[1:]:
        names = sorted(layer.name for layer in block)
        r = names[0].split("_")[0][1:]
        assert names == sorted([f"d{r}_direct_bn", f"d{r}_main1_bn", f"d{r}_main2_bn",
                                f"sn_d{r}_direct", f"sn_d{r}_main1", f"sn_d{r}_main2"])
    ids = [id(v) for block in blocks for layer in block for v in layer.trainable_variables]
    assert len(ids) == len(set(ids))
    named = {v.path for block in blocks for layer in block for v in layer.trainable_variables}
    assert not any("logit" in p or "dec_" in p for p in named)


# Tracing fastgan's step is most of these tests' time: 10-15 minutes each at load 20 on 2 cores.
SLOW_TIMEOUT = pytest.mark.timeout(3600)


@pytest.fixture(scope="module")
def fastgan_run(tmp_path_factory) -> Path:
    """A fastgan run of 2 epochs (2 steps each) at 64 px, augmentation on (shared)."""
    return train_tiny(tmp_path_factory.mktemp("fastgan"), "fg", **TINY)


@pytest.mark.slow
@SLOW_TIMEOUT
def test_resume_equals_straight_run(tmp_path, fastgan_run):
    resumed = train_tiny(tmp_path, "fg", epochs=1, **TINY)
    train_tiny(tmp_path, "fg", epochs=2, **TINY)
    ws, wr = checkpoint_tensors(fastgan_run), checkpoint_tensors(resumed)
    assert ws.keys() == wr.keys()
    assert any("part_decoder" in k or "dec_part" in k for k in ws)  # the decoders are saved
    assert all(np.array_equal(ws[k], wr[k]) for k in ws)


@pytest.mark.slow
@SLOW_TIMEOUT
def test_commands_on_a_fastgan_run_ask_nothing_again(cli, fastgan_run, tmp_path):
    cfg = json.loads((fastgan_run / "config.json").read_text())
    assert cfg["arch"] == "fastgan" and cfg["latent_dim"] == 16 and cfg["loss"] == "hinge"
    grid = tmp_path / "grid.png"
    assert cli("sample", "--ckpt", fastgan_run, "--out", grid, "--n", "4").exit_code == 0
    assert grid.stat().st_size > 0
    walk = tmp_path / "walk.gif"
    result = cli("interpolate", "--ckpt", fastgan_run, "--out", walk, "--points", "2",
                 "--frames", "2")
    assert result.exit_code == 0, result.output
    out = tmp_path / "scores.json"
    result = cli("evaluate", "--ckpt", fastgan_run, "--n", "64", "--metrics", "fd",
                 "--json", out)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())
    npz = tmp_path / "s.npz"
    assert cli("sample", "--ckpt", fastgan_run, "--seeds", "0-3", "--npz", npz).exit_code == 0
    exported = tmp_path / "export"
    result = cli("export", "--ckpt", fastgan_run, "--format", "savedmodel", "--out", exported)
    assert result.exit_code == 0, result.output
    from ganctl.generation import converters
    from ganctl.generation.export import FILES, TOLERANCE

    with np.load(npz) as ref:
        got = converters.RUNNERS["savedmodel"](exported / FILES["savedmodel"])(
            ref["latents"], None)["images"]
        assert np.max(np.abs(got - ref["outputs"])) <= TOLERANCE["savedmodel"]
