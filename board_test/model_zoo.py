"""Models the tests and the benchmarks share, built here so neither imports the other's folder:

- untrained Keras models shaped like the benchmarks' workloads (`MODELS`),
- `to_int8_tflite`: full-int8 conversion with random calibration data when none is given,
- `prune_tflite(bytes, 0.9)`: a magnitude-pruned copy of an int8 .tflite, for the zero-skipping
  kernels. It zeroes the smallest-magnitude 90 % of the int8 weights of every CONV_2D,
  DEPTHWISE_CONV_2D and FULLY_CONNECTED, per layer (unstructured), by editing the flatbuffer's
  buffers in place: scales, zero points, biases and everything else stay as they are, so the
  pruned model is a valid int8 model that TFLM runs as the oracle. Magnitude is |int8 value x
  channel scale| (the float weight; `by="int8"` ranks the stored int8 values instead). Exactly
  floor(fraction x size) weights per tensor become zero (ties broken by position), counting
  weights that were zero already.
"""
from __future__ import annotations

import numpy as np

from sparsemcu.tf import keras


def to_int8_tflite(model, calib_x: np.ndarray | None = None, seed: int = 0) -> bytes:
    """Full-int8 conversion; without calib_x, uniform random calibration data in [-1, 1)."""
    from sparsemcu.export.quantize import keras_to_int8_tflite
    if calib_x is None:
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        calib_x = np.random.default_rng(seed).uniform(-1, 1, size=(64, *shape)).astype(np.float32)
    return keras_to_int8_tflite(model, calib_x)


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


PRUNED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
INT8 = 9  # TensorType


def _schema():
    from sparsemcu.export.tflite_reader import _schema as schema
    return schema()


def _op_names(model) -> list[str]:
    from sparsemcu.export.tflite_reader import _builtin_names
    names = _builtin_names(_schema())
    return [names[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in model.operatorCodes]


def prune_weights(w: np.ndarray, scales: np.ndarray | None, fraction: float, axis: int = 0,
                  by: str = "float") -> np.ndarray:
    """int8 weights with the smallest-magnitude `fraction` of them set to zero."""
    w = np.asarray(w, np.int8)
    mag = np.abs(w.astype(np.float64))
    if by == "float" and scales is not None and len(scales) > 1:
        shape = [1] * w.ndim
        shape[axis] = len(scales)
        mag = mag * np.asarray(scales, np.float64).reshape(shape)
    n = int(np.floor(fraction * w.size))
    flat = w.reshape(-1).copy()
    order = np.argsort(mag.reshape(-1), kind="stable")
    flat[order[:n]] = 0
    return flat.reshape(w.shape)


def prune_tflite(tflite_bytes: bytes, fraction: float = 0.9, ops=PRUNED_OPS, by: str = "float") -> bytes:
    """A copy of the model with each weighted layer's smallest `fraction` of weights zeroed."""
    import flatbuffers
    fb = _schema()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(bytearray(tflite_bytes), 0))
    names = _op_names(model)
    done = set()
    for sg in model.subgraphs:
        for op in sg.operators:
            if names[op.opcodeIndex] not in ops or len(op.inputs) < 2:
                continue
            t = sg.tensors[op.inputs[1]]
            if t.type != INT8 or t.buffer in done:
                continue
            buf = model.buffers[t.buffer]
            if buf.data is None or len(buf.data) == 0:
                continue  # not constant
            w = np.frombuffer(np.asarray(buf.data, np.uint8).tobytes(), np.int8).reshape(t.shape)
            q = t.quantization
            scales = None if q is None or q.scale is None else np.asarray(q.scale, np.float64)
            axis = 0 if q is None else int(q.quantizedDimension or 0)
            pruned = prune_weights(w, scales, fraction, axis, by)
            buf.data = np.frombuffer(pruned.tobytes(), np.uint8).copy()
            done.add(t.buffer)
    builder = flatbuffers.Builder(len(tflite_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
