"""Reference Keras models shared by the benchmarks and whole-model tests (untrained unless asked)."""
from __future__ import annotations

from sparsemcu.tf import keras


def plain_cnn(input_shape=(28, 28, 1), classes=10):
    k = keras()
    return k.Sequential([
        k.layers.Input(input_shape),
        k.layers.Conv2D(8, 3, padding="same", activation="relu"),
        k.layers.MaxPool2D(),
        k.layers.Conv2D(16, 3, padding="same", activation="relu"),
        k.layers.MaxPool2D(),
        k.layers.Flatten(),
        k.layers.Dense(32, activation="relu"),
        k.layers.Dense(classes),
        k.layers.Softmax(),
    ], name="plain_cnn")


def ds_cnn(input_shape=(28, 28, 1), classes=10):
    """Depthwise-separable CNN (depthwise with multiplier 2, pointwise, strided, global pooling)."""
    k = keras()
    return k.Sequential([
        k.layers.Input(input_shape),
        k.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
        k.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu"),
        k.layers.Conv2D(16, 1, activation="relu"),
        k.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6"),
        k.layers.Conv2D(24, 1, activation="relu"),
        k.layers.GlobalAveragePooling2D(),
        k.layers.Dense(classes),
        k.layers.Softmax(),
    ], name="ds_cnn")


def residual_cnn(input_shape=(28, 28, 1), classes=10):
    k = keras()
    x_in = k.layers.Input(input_shape)
    x = k.layers.Conv2D(12, 3, strides=2, padding="same", activation="relu")(x_in)
    y = k.layers.Conv2D(12, 3, padding="same", activation="relu")(x)
    y = k.layers.Conv2D(12, 3, padding="same")(y)
    x = k.layers.ReLU()(k.layers.Add()([x, y]))
    x = k.layers.AveragePooling2D()(x)
    x = k.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = k.layers.GlobalAveragePooling2D()(x)
    out = k.layers.Softmax()(k.layers.Dense(classes)(x))
    return k.Model(x_in, out, name="residual_cnn")


def mlp(input_shape=(28, 28, 1), classes=10):
    k = keras()
    return k.Sequential([k.layers.Input(input_shape), k.layers.Flatten(), k.layers.Dense(64, activation="relu"),
                         k.layers.Dense(classes), k.layers.Softmax()], name="mlp")


MODELS = {"plain_cnn": plain_cnn, "ds_cnn": ds_cnn, "residual_cnn": residual_cnn, "mlp": mlp}

