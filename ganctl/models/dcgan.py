"""A convolutional GAN (`--arch dcgan`, after Radford et al. 2016) for square images of 28 to 128
pixels, 1 or 3 channels.

G: z → Dense to an s×s start grid → BatchNorm → ReLU → [transposed conv 4×4 stride 2 → BatchNorm
→ ReLU] … → transposed conv 4×4 stride 2 to the image's channels → tanh. D mirrors it: conv 4×4
stride 2 → LeakyReLU(0.2) (no normalisation on the first layer), [conv 4×4 stride 2 → norm →
LeakyReLU(0.2)] …, flatten → Dense(1), a logit. Channels double as the grid halves, from `width`
at the largest grid up to 8 × `width`.

Conditional (`num_classes`): G sees z concatenated with the label's one-hot vector, so its first
Dense layer holds a learned embedding of each class (its columns for that class), and D is a
projection discriminator (Miyato & Koyama 2018): logit = ψ(h) + ⟨embed(y), h⟩ on its flattened
features h.
"""

from __future__ import annotations

from typing import Any

ModelPair = tuple[Any, Any]

MIN_SIZE, MAX_SIZE = 28, 128
START_SIZES = range(4, 8)  # the grid G starts from: sizes are s·2^k, 4 <= s <= 7
DEFAULT_WIDTH = 64


def start_grid(size: int) -> tuple[int, int]:
    """(start, upsamplings): `size` = start · 2**upsamplings, with start in 4..7.

    Raises ValueError with a one-line message naming sizes that work.
    """
    start, ups = size, 0
    while start > START_SIZES[-1] and start % 2 == 0:
        start, ups = start // 2, ups + 1
    if not MIN_SIZE <= size <= MAX_SIZE or start not in START_SIZES or ups < 2:
        raise ValueError(f"--arch dcgan cannot build {size}×{size} images: the size must be "
                         f"{MIN_SIZE} to {MAX_SIZE} and halve evenly down to a 4 to 7 pixel grid "
                         "(28, 32, 48, 64, 96 and 128 work); pass --image-size with one of those")
    return start, ups


def check_shape(image_shape: tuple[int, int, int]) -> None:
    """Raise ValueError (one line) when dcgan cannot build images of `image_shape`."""
    h, w, c = image_shape
    if h != w:
        raise ValueError(f"--arch dcgan needs square images, got {h}×{w}; pass --image-size N "
                         "to resize them")
    if c not in (1, 3):
        raise ValueError(f"--arch dcgan builds 1 or 3 channel images, not {c}; pass --channels")
    start_grid(h)


def channels_at(level: int, width: int) -> int:
    """Feature maps at grid level `level` (0 = the image size halved once, ups-1 = the start)."""
    return width * min(2**level, 8)


def build_dcgan(latent_dim: int, image_shape: tuple[int, int, int], mixed: bool = False,
                seed: int = 0, width: int = DEFAULT_WIDTH, spectral_norm: bool = False,
                num_classes: int = 0, d_batch_statistics: bool = True) -> ModelPair:
    """The DCGAN pair for `image_shape`.

    D has BatchNorm after its first layer unless it has spectral normalisation (which takes
    its place, as in SNGAN) or `d_batch_statistics` is False (the loss penalises each image's
    gradient, which a batch statistic would mix).
    """
    import keras
    from keras import layers

    from ganctl.models import conditioning
    from ganctl.models.spectral import seed_power_iteration

    check_shape(image_shape)
    size, _, channels = image_shape
    start, ups = start_grid(size)
    seeds = iter(range(seed * 100, seed * 100 + 100))
    out_dtype = "float32" if mixed else None  # tanh and the logit at full precision
    d_batchnorm = not spectral_norm and d_batch_statistics

    def init() -> keras.initializers.Initializer:
        # DCGAN's N(0, 0.02); each layer its own fixed seed, so --seed fixes the weights.
        return keras.initializers.RandomNormal(0.0, 0.02, seed=next(seeds))

    z = keras.Input((latent_dim,), name="z")
    x = z
    if num_classes:
        code = keras.Input((num_classes,), name="class_code")
        x = layers.Concatenate(name="z_and_class")([z, code])
    top = channels_at(ups - 1, width)
    x = layers.Dense(start * start * top, use_bias=False, kernel_initializer=init(), name="fc")(x)
    x = layers.Reshape((start, start, top))(x)
    x = layers.BatchNormalization(name="bn0")(x)
    x = layers.ReLU()(x)
    for i, level in enumerate(range(ups - 2, -1, -1), start=1):
        # Kernel 4 with stride 2: every output pixel gets the same number of taps, no
        # checkerboard.
        x = layers.Conv2DTranspose(channels_at(level, width), 4, strides=2, padding="same",
                                   use_bias=False, kernel_initializer=init(), name=f"up{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU()(x)
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", kernel_initializer=init(),
                               name=f"up{ups}")(x)
    image = layers.Activation("tanh", dtype=out_dtype, name="image")(x)
    if num_classes:
        # A one-hot code rather than a separate embedding layer of unit-scale vectors: with one
        # (32-d, N(0, 1)) G learned to ignore z within a class (per-pixel std over seeds 0.06
        # against real images' 0.38 after 4,600 steps); with the one-hot code, 0.33 after 1,800.
        embedding = conditioning.one_hot(num_classes, conditioning.EMBEDDING)
        generator = conditioning.conditional_generator(
            keras.Model([z, code], image, name=conditioning.BODY), embedding, latent_dim)
    else:
        generator = keras.Model(z, image, name="generator")

    def sn(layer: Any) -> Any:
        return layers.SpectralNormalization(layer, name=f"sn_{layer.name}") if spectral_norm \
            else layer

    inp = keras.Input(image_shape, name="image")
    h = inp
    for level in range(ups):
        h = sn(layers.Conv2D(channels_at(level, width), 4, strides=2, padding="same",
                             kernel_initializer=init(), name=f"conv{level + 1}"))(h)
        if level > 0 and d_batchnorm:
            h = layers.BatchNormalization(name=f"bn{level + 1}")(h)
        h = layers.LeakyReLU(0.2)(h)
    h = layers.Flatten()(h)
    logit = sn(layers.Dense(1, kernel_initializer=init(), dtype=out_dtype, name="logit"))(h)
    inputs = inp
    if num_classes:
        label = conditioning.label_input()
        # Its own seed (not drawn from `seeds`), so the other layers keep their initial weights.
        projected = conditioning.projection(
            h, label, num_classes,
            keras.initializers.RandomNormal(0.0, 0.02, seed=seed * 100 + 98), dtype=out_dtype)
        logit = layers.Add(dtype=out_dtype, name="logit_and_projection")([logit, projected])
        inputs = [inp, label]
    discriminator = keras.Model(inputs, logit, name="discriminator")
    seed_power_iteration(discriminator, seed, stream=28)
    return generator, discriminator


def d_blocks(discriminator: Any) -> list[list[Any]]:
    """D's convolution blocks, input first: each its conv (or spectral-normalised conv) and
    BatchNorm where it has one. The logit layer is not a block."""
    names = {layer.name: layer for layer in discriminator.layers}
    blocks = []
    level = 1
    while (conv := names.get(f"conv{level}", names.get(f"sn_conv{level}"))) is not None:
        blocks.append([conv] + ([names[f"bn{level}"]] if f"bn{level}" in names else []))
        level += 1
    return blocks
