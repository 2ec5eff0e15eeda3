"""FastGAN (`--arch fastgan`, after Liu et al., ICLR 2021): a light GAN for a few hundred to a few
thousand images at 64 to 1024 pixels, 1 or 3 channels.

G: z → Dense to a 4×4 grid → BatchNorm → GLU, then blocks of [nearest upsample → conv 3×3 →
BatchNorm → GLU] (two convolutions per block for images of 128 px and more, one at 64 px) up to
the image size → conv 3×3 → tanh. Skip-layer excitation (SLE) gates the channels of the 64, 128,
256 and 512 px maps with a squeeze of the 4, 8, 16 and 32 px ones (those that exist at the run's
size; the paper's figure shows 8→128, 16→256 and 32→512, its code also 4→64): average-pool to
4×4 → conv 4×4 → swish → conv 1×1 → sigmoid, one gate in [0, 1] per channel.

D: conv 4×4 stride 2 → LeakyReLU(0.2), then down blocks to 8×8, each the mean of two branches
(conv 4×4 stride 2 → BN → LReLU → conv 3×3 → BN → LReLU, and average-pool 2 → conv 1×1 → BN →
LReLU), then conv 1×1 → BN → LReLU → conv 4×4 (valid): a 5×5 map of logits. Every convolution of
D's judging path is spectrally normalised. D is also an auto-encoder on real images (the paper's
self-supervision, which regularises D on small data): one decoder rebuilds the whole image from
D's 8×8 features, another rebuilds a quadrant from the matching 8×8 crop of its 16×16 features,
both at 128 px (half the image size below 256 px). Their L1 error in pixel space, against the
real images as D sees them, is added to D's loss on real images (`FastGanDiscriminator.judge_real`).
L1 in pixels rather than the paper's LPIPS: LPIPS needs ImageNet VGG weights, which ganctl does
not download, and the evaluator's features are a metric, which training must not optimise.

Channels at resolution r are `width` × the paper's factor (16 at 4 px, 8, 4, 2, 2, 1 at 128 px,
then halving), at least 8; `width` defaults per image size (`DEFAULT_WIDTHS`).

Conditional (`num_classes`): G sees z concatenated with the label's one-hot code (as dcgan), and
D adds a projection term ⟨embed(y), mean-pooled 8×8 features⟩ to every logit of its map.
"""

from __future__ import annotations

import functools
from typing import Any

ModelPair = tuple[Any, Any]

SIZES = (64, 128, 256, 512, 1024)
# --width when not given: the paper's 64 is ~4x the CPU time per image of these at 64-256 px.
DEFAULT_WIDTHS = {64: 16, 128: 16, 256: 16, 512: 16, 1024: 8}
LATENT_DIM = 256
REC_MAX = 128  # the decoders' output size (the paper's), or half the image when that is smaller
_FACTORS = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
SLE_FROM = {64: 4, 128: 8, 256: 16, 512: 32}  # the gated resolution: the one gating it


def check_shape(image_shape: tuple[int, int, int]) -> None:
    """Raise ValueError (one line) when fastgan cannot build images of `image_shape`."""
    h, w, c = image_shape
    sizes = ", ".join(str(s) for s in SIZES)
    if h != w or h not in SIZES:
        raise ValueError(f"--arch fastgan builds square images of {sizes} pixels, not {h}×{w}; "
                         "pass --image-size with one of those")
    if c not in (1, 3):
        raise ValueError(f"--arch fastgan builds 1 or 3 channel images, not {c}; pass --channels")


def channels(resolution: int, width: int) -> int:
    """Feature maps at `resolution` pixels for `width`."""
    return max(8, int(width * _FACTORS[resolution]))


def shape_defaults(image_shape: tuple[int, int, int]) -> dict[str, int]:
    """Settings whose default depends on the image shape: `width` (`DEFAULT_WIDTHS`)."""
    size = image_shape[0]
    return {"width": DEFAULT_WIDTHS[size]} if size in DEFAULT_WIDTHS else {}


def d_blocks(discriminator: Any) -> list[list[Any]]:
    """D's blocks, input first, for --freeze-d: the input convolution, then each down block's
    layers with weights (both branches' convolutions and BatchNorms), down to 8×8. The logit
    head and the decoders are not blocks."""
    layers = discriminator.body.layers
    blocks = [[layer for layer in layers if layer.name == "sn_d_in"]]
    r = int(discriminator.body.inputs[0].shape[1]) // 2
    while r > 8:
        r //= 2
        blocks.append([layer for layer in layers if layer.name.startswith((f"sn_d{r}_", f"d{r}_"))
                       and layer.weights])
    return blocks


def rec_size(size: int) -> int:
    """The size of the decoders' reconstructions for images of `size` pixels."""
    return min(REC_MAX, size // 2)


def build_fastgan(latent_dim: int, image_shape: tuple[int, int, int], mixed: bool = False,
                  seed: int = 0, width: int | None = None, num_classes: int = 0,
                  d_batch_statistics: bool = True) -> ModelPair:
    """The FastGAN pair for `image_shape`; `d_batch_statistics` False leaves BatchNorm out of D
    (a loss that penalises each image's gradient)."""
    import keras

    check_shape(image_shape)
    size = image_shape[0]
    width = width or DEFAULT_WIDTHS[size]
    seeds = iter(range(seed * 1000, seed * 1000 + 1000))

    def init() -> Any:
        # N(0, 0.02) as the paper; each layer its own fixed seed, so --seed fixes the weights.
        return keras.initializers.RandomNormal(0.0, 0.02, seed=next(seeds))

    out_dtype = "float32" if mixed else None  # tanh, logits and reconstructions at full precision
    generator = _generator(latent_dim, image_shape, width, num_classes, init, out_dtype)
    discriminator = _discriminator(image_shape, width, num_classes, d_batch_statistics, init,
                                   out_dtype, seed)
    return generator, discriminator


def glu(x: Any, make: Any, name: str) -> Any:
    """GLU(BatchNorm(layer(x))) with the layer's two halves as two layers made by `make(name)`:
    a · sigmoid(b), as one layer of twice the outputs split in two, from built-in layers only
    (Keras' "glu" activation keeps the input's shape when it infers shapes, so it cannot be used
    in a functional model)."""
    from keras import layers

    a = layers.BatchNormalization(name=f"{name}_bn")(make(name)(x))
    b = layers.BatchNormalization(name=f"{name}_gate_bn")(make(f"{name}_gate")(x))
    b = layers.Activation("sigmoid", name=f"{name}_sigmoid")(b)
    return layers.Multiply(name=f"{name}_glu")([a, b])


def up_block(x: Any, ch: int, convs: int, name: str, init: Any) -> Any:
    """Nearest upsample ×2, then `convs` × [conv 3×3 → BatchNorm → GLU] to `ch` channels."""
    from keras import layers

    def conv(layer_name: str) -> Any:
        return layers.Conv2D(ch, 3, padding="same", use_bias=False, kernel_initializer=init(),
                             name=layer_name)

    x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_up")(x)
    for k in range(1, convs + 1):
        x = glu(x, conv, f"{name}_conv{k}")
    return x


def skip_excitation(small: Any, big: Any, name: str, init: Any) -> Any:
    """SLE: `big` × a per-channel gate in [0, 1] squeezed from `small` (average-pool to 4×4 →
    conv 4×4 → swish → conv 1×1 → sigmoid)."""
    from keras import layers

    ch = int(big.shape[-1])
    pool = int(small.shape[1]) // 4
    g = layers.AveragePooling2D(pool, name=f"{name}_pool")(small) if pool > 1 else small
    g = layers.Conv2D(ch, 4, use_bias=False, kernel_initializer=init(), name=f"{name}_conv1")(g)
    g = layers.Activation("swish", name=f"{name}_swish")(g)
    g = layers.Conv2D(ch, 1, use_bias=False, kernel_initializer=init(), name=f"{name}_conv2")(g)
    g = layers.Activation("sigmoid", name=f"{name}_gate")(g)
    return layers.Multiply(name=f"{name}_excite")([big, g])


def _generator(latent_dim: int, image_shape: tuple[int, int, int], width: int,
               num_classes: int, init: Any, out_dtype: str | None) -> Any:
    import keras
    from keras import layers

    from ganctl.models import conditioning

    size, _, nc = image_shape
    convs = 2 if size >= 128 else 1
    z = keras.Input((latent_dim,), name="z")
    x = z
    if num_classes:
        code = keras.Input((num_classes,), name="class_code")
        x = layers.Concatenate(name="z_and_class")([z, code])
    top = channels(4, width)

    def dense(name: str) -> Any:
        return keras.Sequential([layers.Dense(4 * 4 * top, use_bias=False,
                                              kernel_initializer=init()),
                                 layers.Reshape((4, 4, top))], name=name)

    x = glu(x, dense, "fc")
    maps = {4: x}
    r = 4
    while r < size:
        r *= 2
        x = up_block(x, channels(r, width), convs, f"g{r}", init)
        if r in SLE_FROM:
            x = skip_excitation(maps[SLE_FROM[r]], x, f"sle{SLE_FROM[r]}_{r}", init)
        maps[r] = x
    x = layers.Conv2D(nc, 3, padding="same", kernel_initializer=init(), name="to_image")(x)
    image = layers.Activation("tanh", dtype=out_dtype, name="image")(x)
    if not num_classes:
        return keras.Model(z, image, name="generator")
    embedding = conditioning.one_hot(num_classes, conditioning.EMBEDDING)
    return conditioning.conditional_generator(
        keras.Model([z, code], image, name=conditioning.BODY), embedding, latent_dim)


def _discriminator(image_shape: tuple[int, int, int], width: int, num_classes: int,
                   batch_stats: bool, init: Any, out_dtype: str | None, seed: int) -> Any:
    import keras
    from keras import layers

    from ganctl.models import conditioning
    from ganctl.models.spectral import seed_power_iteration

    size, _, nc = image_shape

    def sn(layer: Any) -> Any:
        return layers.SpectralNormalization(layer, name=f"sn_{layer.name}")

    def conv(ch: int, k: int, name: str, strides: int = 1, padding: str = "same",
             dtype: str | None = None) -> Any:
        return sn(layers.Conv2D(ch, k, strides=strides, padding=padding, use_bias=False,
                                kernel_initializer=init(), dtype=dtype, name=name))

    def norm_act(h: Any, name: str) -> Any:
        if batch_stats:
            h = layers.BatchNormalization(name=f"{name}_bn")(h)
        return layers.LeakyReLU(0.2, name=f"{name}_lrelu")(h)

    inp = keras.Input(image_shape, name="image")
    h = layers.LeakyReLU(0.2)(conv(channels(size // 2, width), 4, "d_in", strides=2)(inp))
    r = size // 2
    feats = {}
    while r > 8:
        r //= 2
        ch = channels(r, width)
        main = norm_act(conv(ch, 4, f"d{r}_main1", strides=2)(h), f"d{r}_main1")
        main = norm_act(conv(ch, 3, f"d{r}_main2")(main), f"d{r}_main2")
        direct = layers.AveragePooling2D(2, name=f"d{r}_pool")(h)
        direct = norm_act(conv(ch, 1, f"d{r}_direct")(direct), f"d{r}_direct")
        h = layers.Average(name=f"d{r}")([main, direct])
        feats[r] = h
    head = norm_act(conv(4 * channels(8, width), 1, "logit_in")(h), "logit_in")
    logit = conv(1, 4, "logit", padding="valid", dtype=out_dtype)(head)  # [n, 5, 5, 1]
    rec = rec_size(size)
    rec_all = _decoder(feats[8], rec, nc, width, "dec_all", init, out_dtype)
    inputs: Any = inp
    if num_classes:
        label = conditioning.label_input()
        pooled = layers.GlobalAveragePooling2D(name="pooled")(feats[8])
        # Its own seed (not drawn from `init`), so the other layers keep their initial weights.
        projected = conditioning.projection(
            pooled, label, num_classes,
            keras.initializers.RandomNormal(0.0, 0.02, seed=seed * 1000 + 999), dtype=out_dtype)
        projected = layers.Reshape((1, 1, 1), dtype=out_dtype)(projected)
        logit = layers.Add(dtype=out_dtype, name="logit_and_projection")([logit, projected])
        inputs = [inp, label]
    body = keras.Model(inputs, [logit, rec_all, feats[16]], name="discriminator_body")
    seed_power_iteration(body, seed, stream=27)
    crop = keras.Input((8, 8, int(feats[16].shape[-1])), name="crop")
    part = keras.Model(crop, _decoder(crop, rec, nc, width, "dec_part", init, out_dtype),
                       name="part_decoder")
    return FastGanDiscriminator(body, part, conditional=bool(num_classes))


def _decoder(x: Any, rec: int, nc: int, width: int, name: str, init: Any,
             out_dtype: str | None) -> Any:
    """8×8 features → a `rec`-pixel image in [-1, 1]: up blocks with half D's channels."""
    from keras import layers

    r = 8
    while r < rec:
        r *= 2
        x = up_block(x, max(8, channels(r, width) // 2), 1, f"{name}{r}", init)
    x = layers.Conv2D(nc, 3, padding="same", kernel_initializer=init(), name=f"{name}_out")(x)
    return layers.Activation("tanh", dtype=out_dtype, name=f"{name}_image")(x)


def quadrant(images: Any, q: Any) -> Any:
    """Quadrant `q` (0 top left, 1 top right, 2 bottom left, 3 bottom right; an int32 scalar
    tensor) of `images` [n, s, s, c]."""
    import tensorflow as tf

    half = int(images.shape[1]) // 2
    return tf.slice(images, tf.stack([0, (q // 2) * half, (q % 2) * half, 0]),
                    [-1, half, half, -1])


def shrink(images: Any, size: int) -> Any:
    """`images` [n, s, s, c] average-pooled to `size` pixels (s a multiple of `size`)."""
    import tensorflow as tf

    factor = int(images.shape[1]) // size
    images = tf.cast(images, tf.float32)
    return images if factor == 1 else tf.nn.avg_pool2d(images, factor, factor, "VALID")


def reconstruction_l1(rec_all: Any, rec_part: Any, real: Any, q: Any) -> Any:
    """The decoders' loss: mean |rec_all − real shrunk| + mean |rec_part − quadrant q of real,
    shrunk|, in pixels of [-1, 1]."""
    import tensorflow as tf

    rec = int(rec_all.shape[1])
    whole = tf.reduce_mean(tf.abs(tf.cast(rec_all, tf.float32) - shrink(real, rec)))
    part = tf.reduce_mean(tf.abs(tf.cast(rec_part, tf.float32) - shrink(quadrant(real, q), rec)))
    return whole + part


@functools.cache
def _discriminator_class() -> type:
    import keras

    class FastGanDiscriminator(keras.Model):
        """D: calling it gives the logit map; `judge_real` also gives the decoders' loss.

        `body` maps images (and labels) to [logits, whole reconstruction, 16×16 features];
        `part_decoder` rebuilds a quadrant from an 8×8 crop of those features.
        """

        def __init__(self, body: Any, part_decoder: Any, conditional: bool, **kwargs: Any):
            super().__init__(name="discriminator", **kwargs)
            self.body = body
            self.part_decoder = part_decoder
            self.conditional = conditional
            self.built = True

        def call(self, inputs: Any, training: bool = False) -> Any:
            return self.body(inputs, training=training)[0]

        def judge_real(self, inputs: Any, seed: Any, training: bool = True) -> tuple[Any, Any]:
            """(logits, reconstruction loss) on real images; the quadrant the part decoder
            rebuilds comes from `seed` (stateless, so a resumed run draws the same one)."""
            import tensorflow as tf

            logit, rec_all, feat16 = self.body(inputs, training=training)
            real = inputs[0] if self.conditional else inputs
            q = tf.random.stateless_uniform([], seed, 0, 4, dtype=tf.int32)
            rec_part = self.part_decoder(quadrant(feat16, q), training=training)
            return logit, reconstruction_l1(rec_all, rec_part, real, q)

    return FastGanDiscriminator


def FastGanDiscriminator(body: Any, part_decoder: Any, conditional: bool) -> Any:  # noqa: N802
    """The discriminator model around `body` and `part_decoder` (Keras imported lazily)."""
    return _discriminator_class()(body, part_decoder, conditional)
