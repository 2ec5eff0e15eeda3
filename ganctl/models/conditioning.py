"""Class conditioning shared by the architectures: how a label reaches G and D.

A conditional generator is `generator([z, label])`: a `class_embedding` layer turns the integer
label into a class code and a body model `generator_body([z, code])` makes the image. Keeping
the code a separate input lets `interpolate --classes` morph between classes by feeding the body
codes between two classes' codes. The code is the label's one-hot vector (the original
conditional GAN, Mirza & Osindero 2014): G's first layer learns what each class adds.
"""

from __future__ import annotations

from typing import Any

EMBEDDING = "class_embedding"
BODY = "generator_body"


def one_hot(num_classes: int, name: str) -> Any:
    """A layer mapping int labels [n] to one-hot rows [n, k]: a frozen identity embedding, so it
    is an ordinary layer (no Lambda, nothing but weights in a checkpoint)."""
    from keras import layers

    return layers.Embedding(num_classes, num_classes, embeddings_initializer="identity",
                            trainable=False, name=name)


def label_input(name: str = "label") -> Any:
    import keras

    return keras.Input((), dtype="int32", name=name)


def conditional_generator(body: Any, embedding: Any, latent_dim: int) -> Any:
    """generator([z, label]) = body([z, embedding(label)])."""
    import keras

    z = keras.Input((latent_dim,), name="z")
    label = label_input()
    return keras.Model([z, label], body([z, embedding(label)]), name="generator")


def is_conditional(model: Any) -> bool:
    """Whether a generator or discriminator takes class labels as its second input."""
    return len(model.inputs) == 2


def class_codes(generator: Any, labels: Any) -> Any:
    """The class codes [n, e] the generator's body receives for int labels [n]."""
    return generator.get_layer(EMBEDDING)(labels)


def generator_body(generator: Any) -> Any:
    """The model [z, class code] -> image inside a conditional generator."""
    return generator.get_layer(BODY)


def num_classes(generator: Any) -> int:
    """How many classes a conditional generator knows (0 for an unconditional one)."""
    return int(generator.get_layer(EMBEDDING).input_dim) if is_conditional(generator) else 0


def projection(features: Any, label: Any, num_classes: int, initializer: Any,
               dtype: str | None = None) -> Any:
    """<embed(y), h>: the class term of a projection discriminator (Miyato & Koyama 2018), whose
    logit is psi(h) + <embed(y), h> for D's last features h [n, m]; returns [n, 1]."""
    from keras import layers

    embedded = layers.Embedding(num_classes, int(features.shape[-1]),
                                embeddings_initializer=initializer, dtype=dtype,
                                name="class_projection")(label)
    return layers.Dot(axes=1, dtype=dtype, name="projection")([embedded, features])
