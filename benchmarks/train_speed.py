"""Training speed: the seed article's loop against ganctl's, alternating in one process.

Both train the classic MLP GAN at batch 128 on the full Fashion-MNIST for the same number of
steps per round. Rounds alternate between the loops (and rotate which goes first), so load from
other processes on a shared machine hits both alike; the figures are medians over the rounds.
The same rounds also time a float32 matmul (the ceiling) and the matmuls of one training step
alone (an upper bound for any loop that does the same arithmetic with TensorFlow's kernels).

    python benchmarks/train_speed.py                       # defaults: 96 steps x 7 rounds
    python benchmarks/train_speed.py --rounds 5 --end-to-end   # and `ganctl train` end to end
    python benchmarks/train_speed.py --rounds 11 --json /tmp/speed.json
    python benchmarks/train_speed.py --arch dcgan --steps 25 --rounds 5 --bf16

`--end-to-end` then also times `ganctl train` as a user runs it (a subprocess, every default:
snapshots, metrics, TensorBoard, progress events), for 1 and for E epochs (`--e2e-epochs`, 4),
so that its wall time per epoch, (wall of E epochs - wall of 1) / (E - 1), leaves out the
one-off costs (start-up, loading the data, compiling the step) and keeps everything paid per
epoch. Before, between and after them the seed loop trains whole epochs in this process (with
its tf.data reshuffle); the end-to-end ratio is the median seed epoch over the median of ganctl's
wall per epoch (`--e2e-rounds`, 2).

With `--arch dcgan` the reference is a plain loop of the same networks (ganctl's builders): the
images in a tf.data pipeline (shuffle the whole set, batch), one `@tf.function` call per step,
two tapes, as the TensorFlow DCGAN tutorial trains; ganctl's loop runs with its dcgan defaults
(EMA on, no XLA; augmentation is off at 60,000 images). `--bf16` adds ganctl's loop under
`--precision bf16` beside the others. The CPU model and its vector/matrix ISA flags are printed
first: bfloat16 is fast with AMX, and for dcgan's convolutions with avx512_bf16 too.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from shared_data import default_fashion_mnist

REPO = Path(__file__).resolve().parents[1]
CEILING_SHAPE = (128, 1024, 784)  # [128, 1024] x [1024, 784]: G's last layer at batch 128


# --- (a) the seed article's loop ----------------------------------------------------------------
#
# The seed article ports eriklindernoren's PyTorch `gan.py` to TensorFlow 2: two Sequential
# models, Keras' BinaryCrossentropy, Adam(2e-4, 0.5, 0.999) for each player, the images as one
# float32 array in [-1, 1] fed through tf.data (shuffle the whole set, batch 128), and one
# `@tf.function` call per step (graph mode, no XLA), noise from `tf.random.normal`.
#
# Two ports of the step are common. "two-tape" (TensorFlow's DCGAN tutorial): one forward pass
# under two tapes, G's loss on D(G(z)) and D's loss on D(x) and the same D(G(z)). "sequential"
# (the PyTorch order): a G step on a fresh z, then a D step on the real batch and the detached
# fakes. Both compute the same numbers (D does not change during the G step, and the D step uses
# the fakes from before G's update); "sequential" runs D on the fakes twice. The headline ratio is
# against "two-tape" (the two ran within 10% of each other, either one ahead).

def build_seed_models(latent_dim: int = 100, pixels: int = 784) -> tuple:
    import keras
    from keras import layers

    def block(units: int, normalize: bool = True) -> list:
        # PyTorch's BatchNorm1d(units, 0.8): eps 0.8; its momentum 0.1 kept as the Keras value.
        out = [layers.Dense(units)]
        if normalize:
            out.append(layers.BatchNormalization(momentum=0.1, epsilon=0.8))
        return out + [layers.LeakyReLU(0.2)]

    generator = keras.Sequential(
        [keras.Input((latent_dim,)), *block(128, normalize=False), *block(256), *block(512),
         *block(1024), layers.Dense(pixels, activation="tanh"), layers.Reshape((28, 28, 1))])
    discriminator = keras.Sequential(
        [keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(512), layers.LeakyReLU(0.2),
         layers.Dense(256), layers.LeakyReLU(0.2), layers.Dense(1, activation="sigmoid")])
    return generator, discriminator


def seed_batches(x_uint8: np.ndarray, batch: int = 128) -> Callable[[], object]:
    """The article's input pipeline; returns next_batch(), reshuffling at every new epoch."""
    import tensorflow as tf

    from ganctl.data import scale_to_signed_unit

    images = scale_to_signed_unit(x_uint8)
    dataset = tf.data.Dataset.from_tensor_slices(images).shuffle(len(images)).batch(batch)
    state = {"it": iter(dataset)}

    def next_batch():
        while True:
            try:
                real = next(state["it"])
            except StopIteration:  # a new epoch: tf.data reshuffles
                state["it"] = iter(dataset)
                continue
            if real.shape[0] == batch:  # the article trains on the partial last batch too; a
                return real             # fixed shape here keeps one trace, in the seed's favour

    return next_batch


def plain_two_tape_step(generator: Any, discriminator: Any, g_opt: Any, d_opt: Any, bce: Any,
                        batch: int, latent_dim: int) -> Callable[[Any], tuple[Any, Any]]:
    """One `@tf.function` GAN step as the TensorFlow tutorials write it: fresh normal noise, one
    forward pass under two tapes, BCE (`bce`), both Adam updates; returns (g_loss, d_loss)."""
    import tensorflow as tf

    @tf.function
    def step(real):
        z = tf.random.normal([batch, latent_dim])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = generator(z, training=True)
            real_out = discriminator(real, training=True)
            fake_out = discriminator(fake, training=True)
            g_loss = bce(tf.ones_like(fake_out), fake_out)
            d_loss = (bce(tf.ones_like(real_out), real_out)
                      + bce(tf.zeros_like(fake_out), fake_out)) / 2
        g_vars, d_vars = generator.trainable_variables, discriminator.trainable_variables
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars, strict=True))
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars, strict=True))
        return g_loss, d_loss

    return step


def seed_loop(next_batch: Callable[[], object], style: str, batch: int = 128,
              latent_dim: int = 100) -> Callable[[int], None]:
    """The seed article's loop; returns run(steps), which trains `steps` steps and waits."""
    import keras
    import tensorflow as tf

    generator, discriminator = build_seed_models(latent_dim)
    g_opt = keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999)
    d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999)
    bce = keras.losses.BinaryCrossentropy()

    two_tape_step = plain_two_tape_step(generator, discriminator, g_opt, d_opt, bce, batch,
                                        latent_dim)

    @tf.function
    def sequential_step(real):
        z = tf.random.normal([batch, latent_dim])
        with tf.GradientTape() as tape:
            fake = generator(z, training=True)
            fake_out = discriminator(fake, training=True)
            g_loss = bce(tf.ones_like(fake_out), fake_out)
        g_vars = generator.trainable_variables
        g_opt.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars, strict=True))
        fake = tf.stop_gradient(fake)
        with tf.GradientTape() as tape:
            real_out = discriminator(real, training=True)
            fake_out = discriminator(fake, training=True)
            d_loss = (bce(tf.ones_like(real_out), real_out)
                      + bce(tf.zeros_like(fake_out), fake_out)) / 2
        d_vars = discriminator.trainable_variables
        d_opt.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars, strict=True))
        return g_loss, d_loss

    train_step = two_tape_step if style == "two-tape" else sequential_step

    def run(steps: int) -> None:
        for _ in range(steps):
            losses = train_step(next_batch())
        float(losses[0])

    return run


# --- (b) ganctl's loop ---------------------------------------------------------------------------

def ganctl_loop(x_uint8: np.ndarray, batch: int = 128, **options) -> Callable[[int], None]:
    """ganctl's training loop through its core API, as `Trainer` drives it (less the callbacks)."""
    from ganctl.config import TrainConfig
    from ganctl.training.gan import GAN

    cfg = TrainConfig(batch_size=batch, image_shape=tuple(x_uint8.shape[1:]),
                      num_images=len(x_uint8), **options)
    gan = GAN(cfg)
    gan.set_data(x_uint8)
    steps_per_epoch = gan.steps_per_epoch
    state = {"epoch": 1, "done": 0, "order": gan.epoch_order(1)}

    def run(steps: int) -> None:
        left = steps
        while left:
            if state["done"] == steps_per_epoch:
                state["epoch"] += 1
                state["done"] = 0
                state["order"] = gan.epoch_order(state["epoch"])
            count = min(cfg.steps_per_call, steps_per_epoch - state["done"], left)
            sums = gan.train_steps(state["order"], state["done"], count)
            if not np.isfinite(sums).all():
                raise RuntimeError("ganctl's loop diverged")
            state["done"] += count
            left -= count

    return run


def side_by_side(runs: list[Callable[[int], None]]) -> Callable[[int], None]:
    """Run several loops at once, one Python thread each (TensorFlow releases the GIL)."""
    import threading

    def run(steps: int) -> None:
        threads = [threading.Thread(target=r, args=(steps,)) for r in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return run


# --- (c) dcgan: ganctl's loop against a plain loop of the same networks -----------------------------

def plain_dcgan_loop(x_uint8: np.ndarray, batch: int, width: int, seed: int = 0,
                     latent_dim: int = 100) -> Callable[[int], None]:
    """The TensorFlow DCGAN tutorial's loop around ganctl's dcgan networks: tf.data shuffle and
    batch, one `@tf.function` call per step, two tapes, BCE on logits, Adam(2e-4, 0.5)."""
    import keras
    import tensorflow as tf

    from ganctl.models import build_models

    generator, discriminator = build_models("dcgan", latent_dim, x_uint8.shape[1:], seed=seed,
                                            width=width)
    g_opt = keras.optimizers.Adam(2e-4, beta_1=0.5)
    d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    from ganctl.data import scale_to_signed_unit

    images = scale_to_signed_unit(x_uint8)
    dataset = (tf.data.Dataset.from_tensor_slices(images).shuffle(len(images))
               .batch(batch, drop_remainder=True).repeat().prefetch(2))
    batches = iter(dataset)

    step = plain_two_tape_step(generator, discriminator, g_opt, d_opt, bce, batch, latent_dim)

    def run(steps: int) -> None:
        for _ in range(steps):
            loss, _ = step(next(batches))
        float(loss)

    return run


def cpu_header() -> str:
    """The CPU model and the ISA flags that decide bfloat16's speed."""
    from ganctl.tfsetup import cpu_flags, cpu_model

    flags = cpu_flags()
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
    have = " ".join(f for f in wanted if f in flags) or "none of avx2/avx512/amx"
    return f"CPU {cpu_model()} ({os.cpu_count()} CPUs): {have}"


def dcgan_main(args: argparse.Namespace, x: np.ndarray, tf: object) -> dict:
    """`--arch dcgan`: ganctl's dcgan loop against the plain loop, alternating rounds."""
    from ganctl.config import TrainConfig

    batch = args.batch_size
    width = args.width or TrainConfig(arch="dcgan").width
    options = {"arch": "dcgan", "width": width}
    if args.no_xla:
        options["xla"] = False
    if args.steps_per_call:
        options["steps_per_call"] = args.steps_per_call
    loops: dict[str, Callable[[int], None]] = {
        "plain": plain_dcgan_loop(x, batch, width), "ganctl": ganctl_loop(x, batch, **options)}
    if args.bf16:
        loops["ganctl_bf16"] = ganctl_loop(x, batch, precision="bf16", **options)
    if args.xla_too:  # its warm-up line is the first call's compile time
        loops["ganctl_xla"] = ganctl_loop(x, batch, **{**options, "xla": True})
    cfg = TrainConfig(**options)
    print(cpu_header())
    print(f"TensorFlow {tf.__version__}; {len(x)} images; batch {batch}; dcgan width {width}; "
          f"{args.steps} steps x {args.rounds} rounds; ganctl xla={cfg.xla} ema={cfg.ema}",
          flush=True)
    for name, run in loops.items():
        t0 = time.perf_counter()
        run(args.warmup)
        print(f"  warm-up {name} ({args.warmup} steps, with tracing): "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    rates: dict[str, list[float]] = {name: [] for name in loops}
    names = list(loops)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            rates[name].append(timed(loops[name], args.steps, batch))
        print(f"round {r + 1}: img/s  " + "  ".join(f"{n} {rates[n][-1]:6.0f}" for n in names),
              flush=True)
    med = {n: statistics.median(v) for n, v in rates.items()}
    result = {"cpu": cpu_header(), "images_per_s": med, "width": width, "batch": batch,
              "rounds": args.rounds, "steps": args.steps, "xla": cfg.xla,
              "ratio_ganctl_over_plain": statistics.median(
                  [g / p for g, p in zip(rates["ganctl"], rates["plain"], strict=True)])}
    print()
    print(f"plain loop (tf.data, one @tf.function per step): {med['plain']:7.0f} images/s")
    print(f"ganctl dcgan loop:                               {med['ganctl']:7.0f} images/s")
    print(f"ratio ganctl / plain (median of rounds):         "
          f"{result['ratio_ganctl_over_plain']:7.2f}x")
    if "ganctl_bf16" in med:
        result["ratio_bf16_over_float32"] = statistics.median(
            [b / g for b, g in zip(rates["ganctl_bf16"], rates["ganctl"], strict=True)])
        print(f"ganctl dcgan loop, bf16:                         {med['ganctl_bf16']:7.0f} "
              f"images/s = {result['ratio_bf16_over_float32']:.2f}x float32")
    if "ganctl_xla" in med:
        result["ratio_xla_over_no_xla"] = statistics.median(
            [a / g for a, g in zip(rates["ganctl_xla"], rates["ganctl"], strict=True)])
        print(f"ganctl dcgan loop, XLA:                          {med['ganctl_xla']:7.0f} "
              f"images/s = {result['ratio_xla_over_no_xla']:.2f}x without")
    print(f"one Fashion-MNIST epoch at ganctl's rate: {60000 / med['ganctl']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


# --- FLOPs and the ceilings ----------------------------------------------------------------------

def dense_shapes(model) -> list[tuple[int, int]]:
    """(inputs, units) of each Dense layer, in order."""
    return [tuple(layer.kernel.shape) for layer in model.layers if hasattr(layer, "kernel")]


def step_matmuls(generator, discriminator, batch: int) -> list[tuple[int, int, int, bool, bool]]:
    """Every matmul of one training step as (m, k, n, transpose_a, transpose_b).

    G: forward, weight gradients, input gradients (all but the first layer). D: forward on the
    real and the fake batch, weight gradients on both, input gradients through every layer on
    the fakes (G's gradient) and through the hidden layers on both (D's own backward pass).
    """
    g, d = dense_shapes(generator), dense_shapes(discriminator)
    mms = [(batch, i, o, False, False) for i, o in g]                      # G forward
    mms += [(i, batch, o, True, False) for i, o in g]                      # G weight grads
    mms += [(batch, o, i, False, True) for i, o in g[1:]]                  # G input grads
    for _ in ("real", "fake"):
        mms += [(batch, i, o, False, False) for i, o in d]                 # D forward
        mms += [(i, batch, o, True, False) for i, o in d]                  # D weight grads
        mms += [(batch, o, i, False, True) for i, o in d[1:]]              # D hidden input grads
    mms += [(batch, d[0][1], d[0][0], False, True)]                        # D input grad (fakes)
    mms += [(batch, o, i, False, True) for i, o in d[1:]]                  # ... and its hidden
    return mms


def flops_per_image(generator, discriminator, batch: int = 128) -> float:
    return sum(2 * m * k * n for m, k, n, _, _ in step_matmuls(generator, discriminator, batch)) / batch


def matmul_ceiling() -> Callable[[], float]:
    """GFLOP/s of a [128, 1024] x [1024, 784] float32 matmul (G's last layer), best of three bursts.

    Timed in a compiled loop (`matmuls_alone`) so that the figure is the kernel's speed, not
    the cost of launching one graph per matmul.
    """
    m, k, n = CEILING_SHAPE
    run = matmuls_alone([(m, k, n, False, False)])
    reps = 50

    def burst() -> float:
        t0 = time.perf_counter()
        run(reps)
        return reps * 2 * m * k * n / (time.perf_counter() - t0) / 1e9

    run(reps)  # compile
    return lambda: max(burst() for _ in range(3))


def matmuls_alone(mms: list) -> Callable[[int], None]:
    """The matmuls `mms` and nothing else, in a compiled (XLA) loop of `steps` iterations.

    Each iteration writes one row of each left operand in place (so that nothing can be hoisted
    out of the loop) instead of rescaling whole operands, which would add an elementwise pass
    over every operand per iteration and understate the bound.
    """
    import tensorflow as tf

    lefts = [tf.random.normal([k, m] if ta else [m, k]) * 0.01 for m, k, n, ta, tb in mms]
    rights = [tf.random.normal([n, k] if tb else [k, n]) * 0.01 for m, k, n, ta, tb in mms]

    @tf.function(jit_compile=True)
    def loop(count):
        def body(i, total, *lhs):
            new = []
            for a, b, (_, _, _, ta, tb) in zip(lhs, rights, mms, strict=True):
                row = tf.fill([1, a.shape[1]], tf.cast(i, tf.float32) * 1e-9)
                a = tf.tensor_scatter_nd_update(a, [[i % a.shape[0]]], row)
                total += tf.matmul(a, b, transpose_a=ta, transpose_b=tb)[0, 0]
                new.append(a)
            return (i + 1, total, *new)
        return tf.while_loop(lambda i, *_: i < count, body,
                             (tf.constant(0), tf.constant(0.0), *lefts))[1]

    def run(steps: int) -> None:
        loop(tf.constant(steps)).numpy()

    return run


# --- end to end: `ganctl train` as a user runs it -------------------------------------------------

def ganctl_train_wall(data: str, epochs: int, extra: list[str]) -> tuple[float, list[dict]]:
    """Wall seconds of `python -m ganctl train` with its defaults (this checkout's code) for
    `epochs` epochs in a fresh run folder, and its metrics.jsonl records."""
    if Path(data).exists():  # the run starts in a temporary folder
        data = str(Path(data).resolve())
    with tempfile.TemporaryDirectory(prefix="train_speed_e2e_") as out:
        cmd = [sys.executable, "-m", "ganctl", "train", "--data", data, "--epochs", str(epochs),
               "--out", out, "--name", "e2e", *extra]
        env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=out, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode:
            raise SystemExit(f"{shlex.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        lines = (Path(out) / "e2e" / "metrics.jsonl").read_text().splitlines()
        return wall, [json.loads(line) for line in lines]


def end_to_end(args: argparse.Namespace, seed_run: Callable[[int], None],
               steps_per_epoch: int) -> dict:
    """Seed loop epochs and `ganctl train` runs of 1 and E epochs, alternating, per round."""
    extra = shlex.split(args.e2e_args)
    epochs = args.e2e_epochs
    rounds = []
    for r in range(args.e2e_rounds):
        seed_epochs, walls, records = [], {}, []
        for n in (1, epochs):
            t0 = time.perf_counter()
            seed_run(steps_per_epoch)  # one epoch, its reshuffle included
            seed_epochs.append(time.perf_counter() - t0)
            walls[n], records = ganctl_train_wall(args.data, n, extra)
        t0 = time.perf_counter()
        seed_run(steps_per_epoch)
        seed_epochs.append(time.perf_counter() - t0)
        per_epoch = (walls[epochs] - walls[1]) / (epochs - 1)
        # The same from the longer run's epoch-end time stamps (epoch 1's end to the last's):
        # no start-up or compiling in it, so less noise; the last snapshot is left out.
        stamped = (records[-1]["time"] - records[0]["time"]) / (epochs - 1)
        seed_epoch = statistics.median(seed_epochs)
        train_s = [rec["seconds"] for rec in records]
        rounds.append({"seed_epoch_s": seed_epochs, "ganctl_wall_s": walls,
                       "ganctl_train_s": train_s, "ganctl_wall_per_epoch_s": per_epoch,
                       "ganctl_stamped_per_epoch_s": stamped, "ratio": seed_epoch / per_epoch,
                       "ratio_stamped": seed_epoch / stamped, "load": os.getloadavg()[0]})
        print(f"end to end {r + 1}: seed epoch {seed_epoch:.1f} s (median of "
              f"{', '.join(f'{t:.1f}' for t in seed_epochs)}); ganctl train 1 epoch "
              f"{walls[1]:.1f} s, {epochs} epochs {walls[epochs]:.1f} s (training "
              f"{', '.join(f'{t:.1f}' for t in train_s)} s): {per_epoch:.1f} s per epoch, "
              f"{seed_epoch / per_epoch:.2f}x (time stamps: {stamped:.1f} s, "
              f"{seed_epoch / stamped:.2f}x); load {os.getloadavg()[0]:.1f}", flush=True)
    # Medians over every seed epoch of every round: an epoch whose reshuffle stalls in tf.data
    # for tens of seconds (it happens, alone in its process too) counts as one sample.
    seed = statistics.median(t for r in rounds for t in r["seed_epoch_s"])
    fastest = min(t for r in rounds for t in r["seed_epoch_s"])
    wall = statistics.median(r["ganctl_wall_per_epoch_s"] for r in rounds)
    stamped = statistics.median(r["ganctl_stamped_per_epoch_s"] for r in rounds)
    return {"rounds": rounds, "epochs": epochs, "args": extra, "seed_epoch_s": seed,
            "seed_fastest_epoch_s": fastest, "ganctl_wall_per_epoch_s": wall,
            "ganctl_stamped_per_epoch_s": stamped, "ratio": seed / wall,
            "ratio_stamped": seed / stamped, "ratio_fastest_seed": fastest / wall}


# --- the measurement -----------------------------------------------------------------------------

def timed(run: Callable[[int], None], steps: int, batch: int) -> float:
    t0 = time.perf_counter()
    run(steps)
    return steps * batch / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(default_fashion_mnist()),
                        help="Fashion-MNIST: a folder of the four IDX files, or a built-in name")
    parser.add_argument("--steps", type=int, default=96, help="steps per loop per round")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds")
    parser.add_argument("--warmup", type=int, default=50, help="untimed steps per loop first")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--no-xla", action="store_true", help="ganctl's loop without XLA")
    parser.add_argument("--steps-per-call", type=int, default=None,
                        help="ganctl's steps per compiled call [default: ganctl's default]")
    parser.add_argument("--sequential", action="store_true",
                        help="also time the sequential (G step, then D step) port of the seed "
                             "(with two seed loops in the process, the one that reaches an epoch's "
                             "end stalls for tens of seconds in tf.data; medians skip that round)")
    parser.add_argument("--side-by-side", action="store_true",
                        help="also time two ganctl loops running at once (their images/s summed): "
                             "how much idle CPU one loop leaves")
    parser.add_argument("--arch", choices=("mlp", "dcgan"), default="mlp",
                        help="mlp: against the seed article's loop; dcgan: against a plain loop of "
                             "the same networks")
    parser.add_argument("--width", type=int, default=None, help="dcgan's width [default: ganctl's]")
    parser.add_argument("--bf16", action="store_true",
                        help="also time ganctl's loop with --precision bf16 (fast with AMX; "
                             "for dcgan also with avx512_bf16)")
    parser.add_argument("--xla-too", action="store_true",
                        help="dcgan: also time ganctl's loop with XLA (its first call compiles for "
                             "minutes on a CPU)")
    parser.add_argument("--end-to-end", action="store_true",
                        help="also time `ganctl train` end to end against the seed loop's epochs")
    parser.add_argument("--e2e-epochs", type=int, default=4,
                        help="epochs of the longer `ganctl train` run (the other trains 1)")
    parser.add_argument("--e2e-rounds", type=int, default=2, help="end-to-end rounds")
    parser.add_argument("--e2e-args", default="",
                        help="more `ganctl train` options, e.g. '--snapshot-every 1ep'")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.end_to_end and args.e2e_epochs < 2:
        parser.error("--e2e-epochs must be at least 2")

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO))
    from ganctl.data import load_dataset
    from ganctl.tfsetup import import_tensorflow

    tf = import_tensorflow()
    x = load_dataset(args.data).x
    if args.arch == "dcgan":
        return dcgan_main(args, x, tf)
    batch = args.batch_size
    options = {"xla": not args.no_xla}
    if args.steps_per_call:
        options["steps_per_call"] = args.steps_per_call

    batches = seed_batches(x, batch)
    loops: dict[str, Callable[[int], None]] = {"seed": seed_loop(batches, "two-tape", batch)}
    print(f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    if args.sequential:
        loops["seed_sequential"] = seed_loop(batches, "sequential", batch)
    loops["ganctl"] = ganctl_loop(x, batch, **options)
    if args.side_by_side:
        loops["ganctl_x2"] = side_by_side([ganctl_loop(x, batch, seed=seed, **options)
                                           for seed in (1, 2)])
    if args.bf16:
        loops["ganctl_bf16"] = ganctl_loop(x, batch, precision="bf16", **options)
    generator, discriminator = build_seed_models()
    mms = step_matmuls(generator, discriminator, batch)
    loops["matmuls_alone"] = matmuls_alone(mms)
    flops = flops_per_image(generator, discriminator, batch)
    ceiling = matmul_ceiling()

    devices = ", ".join(d.device_type for d in tf.config.list_physical_devices())
    print(cpu_header())
    print(f"TensorFlow {tf.__version__} on {devices}; {os.cpu_count()} CPUs; {len(x)} images; "
          f"batch {batch}; {args.steps} steps x {args.rounds} rounds; "
          f"ganctl xla={options['xla']}", flush=True)
    for name, run in loops.items():  # compile, fill tf.data's buffer, warm the caches
        t0 = time.perf_counter()
        run(args.warmup)
        print(f"  warm-up {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    ceiling()

    rates: dict[str, list[float]] = {name: [] for name in loops}
    ceilings: list[float] = []
    names = list(loops)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            images = 2 * batch if name == "ganctl_x2" else batch
            rates[name].append(timed(loops[name], args.steps, images))
        ceilings.append(ceiling())
        line = "  ".join(f"{n} {rates[n][-1]:7.0f}" for n in names)
        print(f"round {r + 1}: img/s  {line}  matmul {ceilings[-1]:.0f} GFLOP/s", flush=True)

    med = {n: statistics.median(v) for n, v in rates.items()}
    ratios = [g / s for g, s in zip(rates["ganctl"], rates["seed"], strict=True)]
    ceiling_gflops = statistics.median(ceilings)
    result = {
        "images_per_s": med,
        "ratio_ganctl_over_seed": statistics.median(ratios),
        "ratio_per_round": ratios,
        "matmul_ceiling_gflops": ceiling_gflops,
        "flops_per_image": flops,
        "ganctl_gflops": med["ganctl"] * flops / 1e9,
        # each round against that round's ceiling, so that load from other processes cancels
        "ganctl_share_of_ceiling": statistics.median(
            [r * flops / 1e9 / c for r, c in zip(rates["ganctl"], ceilings, strict=True)]),
        "seed_share_of_ceiling": statistics.median(
            [r * flops / 1e9 / c for r, c in zip(rates["seed"], ceilings, strict=True)]),
        "bound_ratio_matmuls_alone_over_seed": statistics.median(
            [m / s for m, s in zip(rates["matmuls_alone"], rates["seed"], strict=True)]),
        "rounds": args.rounds, "steps": args.steps, "batch": batch, "xla": options["xla"],
        "cpus": os.cpu_count(), "cpu": cpu_header(), "tensorflow": tf.__version__,
    }
    print()
    print(f"seed loop (two tapes, tf.data, @tf.function): {med['seed']:8.0f} images/s")
    if "seed_sequential" in med:
        print(f"seed loop (G step then D step):               {med['seed_sequential']:8.0f} images/s")
    print(f"ganctl loop:                                  {med['ganctl']:8.0f} images/s")
    print(f"ratio ganctl / seed (median of rounds):       {result['ratio_ganctl_over_seed']:8.2f}x")
    print(f"matmul ceiling {'x'.join(map(str, CEILING_SHAPE))} float32:         "
          f"{ceiling_gflops:8.1f} GFLOP/s")
    print(f"training FLOPs per image (layer shapes):      {flops / 1e6:8.2f} MFLOP")
    print(f"ganctl: {result['ganctl_gflops']:.1f} GFLOP/s, {result['ganctl_share_of_ceiling']:.0%} of "
          f"the ceiling (seed: {result['seed_share_of_ceiling']:.0%}; medians of per-round shares)")
    print(f"one step's matmuls alone: {med['matmuls_alone']:.0f} images/s = "
          f"{result['bound_ratio_matmuls_alone_over_seed']:.2f}x the seed loop (the bound for the "
          "same arithmetic with these kernels)")
    if "ganctl_bf16" in med:
        result["ratio_bf16_over_float32"] = statistics.median(
            [b / g for b, g in zip(rates["ganctl_bf16"], rates["ganctl"], strict=True)])
        print(f"ganctl loop, bf16: {med['ganctl_bf16']:.0f} images/s = "
              f"{result['ratio_bf16_over_float32']:.2f}x float32 ({cpu_header()})")
    if "ganctl_x2" in med:
        result["side_by_side_over_ganctl"] = statistics.median(
            [t / g for t, g in zip(rates["ganctl_x2"], rates["ganctl"], strict=True)])
        print(f"two ganctl loops at once: {med['ganctl_x2']:.0f} images/s in all = "
              f"{result['side_by_side_over_ganctl']:.2f}x one loop (the CPU time one loop leaves idle)")
    if args.end_to_end:
        print(flush=True)
        e2e = end_to_end(args, loops["seed"], len(x) // batch)
        result["end_to_end"] = e2e
        print()
        print(f"loop only:  ratio ganctl / seed {result['ratio_ganctl_over_seed']:.2f}x "
              f"(median of {args.rounds} rounds of {args.steps} steps)")
        print(f"end to end: ratio ganctl / seed {e2e['ratio']:.2f}x (seed epoch "
              f"{e2e['seed_epoch_s']:.1f} s, median of {3 * args.e2e_rounds}; `ganctl train` "
              f"{e2e['ganctl_wall_per_epoch_s']:.1f} s of wall per epoch, {e2e['epochs']} epochs "
              f"less 1"
              + (f", {' '.join(e2e['args'])}" if e2e["args"] else ", its defaults") + ")")
        print(f"            from its epoch-end time stamps {e2e['ratio_stamped']:.2f}x "
              f"({e2e['ganctl_stamped_per_epoch_s']:.1f} s per epoch, no start-up in it)")
        print(f"            against the seed's fastest epoch {e2e['ratio_fastest_seed']:.2f}x "
              f"({e2e['seed_fastest_epoch_s']:.1f} s: no reshuffle stall in it)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end ({os.cpu_count()} CPUs)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
