"""The classic MLP GAN of the seed article (`--arch mlp`), kept exactly as it was."""

from __future__ import annotations

from typing import Any

ModelPair = tuple[Any, Any]


def build_mlp(latent_dim: int, image_shape: tuple[int, int, int], mixed: bool = False,
              seed: int = 0, num_classes: int = 0, d_batch_statistics: bool = True) -> ModelPair:
    """The classic MLP GAN (generalised from 28×28×1 to any image shape).

    G: z → Dense 128 → LeakyReLU(0.2) → [Dense 256/512/1024 → BatchNorm → LeakyReLU(0.2)]
       → Dense(h·w·c, tanh) → reshape. D: flatten → Dense 512 → LeakyReLU → Dense 256 → LeakyReLU
       → Dense(1, sigmoid).

    With `num_classes`, conditional as in Mirza & Osindero (2014): G sees z concatenated with
    the label's one-hot vector (see `conditioning`), and D the flattened image concatenated with
    it. Without, the seed's exact models. D has no batch statistics, whatever
    `d_batch_statistics` allows.
    """
    import keras
    from keras import layers

    from ganctl.models import conditioning

    seeds = iter(range(seed * 100, seed * 100 + 100))

    def init() -> keras.initializers.Initializer:
        # Each layer gets its own fixed seed, so the same --seed builds the same weights.
        return keras.initializers.HeUniform(seed=next(seeds))

    pixels = image_shape[0] * image_shape[1] * image_shape[2]
    # Under mixed precision the outputs (and BatchNorm's statistics) stay float32 so that
    # tanh/sigmoid and the cross-entropy are computed at full precision.
    out_dtype = "float32" if mixed else None

    z = keras.Input((latent_dim,), name="z")
    x = z
    if num_classes:
        code = keras.Input((num_classes,), name="class_code")
        x = layers.Concatenate(name="z_and_class")([z, code])
    x = layers.Dense(128, kernel_initializer=init(), name="fc1")(x)
    x = layers.LeakyReLU(0.2)(x)
    for i, units in enumerate((256, 512, 1024), start=2):
        x = layers.Dense(units, kernel_initializer=init(), name=f"fc{i}")(x)
        # Keras' momentum is the weight of the *old* moving average: 0.1 here keeps the seed's
        # value on purpose (the statistics follow the latest batches closely), and eps 0.8 too.
        x = layers.BatchNormalization(momentum=0.1, epsilon=0.8, dtype=out_dtype, name=f"bn{i}")(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Dense(pixels, kernel_initializer=init(), name="fc5")(x)
    x = layers.Activation("tanh", dtype=out_dtype)(x)
    image = layers.Reshape(image_shape, dtype=out_dtype, name="image")(x)
    if num_classes:
        body = keras.Model([z, code], image, name=conditioning.BODY)
        generator = conditioning.conditional_generator(
            body, conditioning.one_hot(num_classes, conditioning.EMBEDDING), latent_dim)
    else:
        generator = keras.Model(z, image, name="generator")

    inp = keras.Input(image_shape, name="image")
    h = layers.Flatten()(inp)
    if num_classes:
        label = conditioning.label_input()
        label_code = conditioning.one_hot(num_classes, "label_one_hot")(label)
        h = layers.Concatenate(name="image_and_class")([h, label_code])
    h = layers.Dense(512, kernel_initializer=init(), name="fc1")(h)
    h = layers.LeakyReLU(0.2)(h)
    h = layers.Dense(256, kernel_initializer=init(), name="fc2")(h)
    h = layers.LeakyReLU(0.2)(h)
    h = layers.Dense(1, kernel_initializer=init(), name="fc3")(h)
    validity = layers.Activation("sigmoid", dtype=out_dtype, name="validity")(h)
    discriminator = keras.Model([inp, label] if num_classes else inp, validity,
                                name="discriminator")
    return generator, discriminator

