"""Small CNNs trained a few epochs on scikit-learn digits (8x8x1) for the hardware-in-the-loop
suite and the board benchmark: depthwise-separable, residual (ADD) and pruned (90% zero
weights -> run-length sparse encoding). Exported with the real exporter.

`export_hil_models(cache_dir)` trains (once; the int8 .tflite files are cached) and exports
each model into cache_dir/<name>/ (src/, report.json, model_int8.tflite).
"""
from __future__ import annotations

import os
from pathlib import Path

MODEL_NAMES = ["ds_cnn", "res_cnn", "pruned_cnn"]
EPOCHS = 8


def _keras():
    from sparsemcu.tf import keras as quiet_keras
    keras = quiet_keras()
    keras.utils.set_random_seed(0)
    return keras


def _ds_cnn(keras):
    L = keras.layers
    inp = keras.Input((8, 8, 1))
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.Conv2D(24, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu6")(x)
    x = L.Conv2D(32, 1, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(10)(x)
    out = L.Softmax()(x)
    return keras.Model(inp, out, name="ds_cnn")


def _res_cnn(keras):
    L = keras.layers
    inp = keras.Input((8, 8, 1))
    x = L.Conv2D(12, 3, padding="same", activation="relu")(inp)
    y = L.Conv2D(12, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(12, 3, padding="same")(y)
    x = L.Activation("relu")(L.Add()([x, y]))
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(16, 3, padding="valid", activation="relu")(x)
    x = L.Flatten()(x)
    out = L.Dense(10)(x)
    return keras.Model(inp, out, name="res_cnn")


def _pruned_cnn(keras):
    L = keras.layers
    inp = keras.Input((8, 8, 1))
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = L.AveragePooling2D(2)(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = L.Flatten()(x)
    out = L.Dense(10)(x)
    return keras.Model(inp, out, name="pruned_cnn")


BUILDERS = {"ds_cnn": _ds_cnn, "res_cnn": _res_cnn, "pruned_cnn": _pruned_cnn}
# (learning rate, epochs)
TRAINING = {"ds_cnn": (0.003, 15), "res_cnn": (0.01, EPOCHS), "pruned_cnn": (0.01, EPOCHS)}


def train_tflite(name: str) -> bytes:
    keras = _keras()
    from sparsemcu import datasets
    from sparsemcu.export.quantize import keras_to_int8_tflite
    from sparsemcu.prune.common import masked_finetune, zero_smallest_weights

    ds = datasets.load("digits")
    model = BUILDERS[name](keras)
    lr, epochs = TRAINING[name]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=name != "ds_cnn")
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=["accuracy"])
    model.fit(ds.x_train, ds.y_train, epochs=epochs, batch_size=32, verbose=0)
    if name == "pruned_cnn":  # 90% of every kernel zeroed, then fine-tuned with the zeros held
        zero_smallest_weights(model, 0.9)
        masked_finetune(model, ds.x_train, ds.y_train, epochs=max(2, epochs // 2), batch_size=32, lr=0.003)
    return keras_to_int8_tflite(model, ds.x_train[:200])


def tflite_path(cache_dir: Path, name: str) -> Path:
    p = Path(cache_dir) / f"{name}_int8.tflite"
    if not p.is_file():
        p.parent.mkdir(parents=True, exist_ok=True)
        data = train_tflite(name)
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(p)
    return p


def export_hil_models(cache_dir, names=MODEL_NAMES, out_dir=None) -> dict[str, Path]:
    """Train (the int8 .tflite cached in cache_dir) and export each model into
    out_dir/<name> (default cache_dir/<name>); returns {name: export dir}."""
    from sparsemcu.export.pipeline import Options, export_model

    cache_dir = Path(cache_dir)
    out_dir = Path(out_dir) if out_dir is not None else cache_dir
    out = {}
    for name in names:
        tfl = tflite_path(cache_dir, name)
        d = out_dir / name
        # the pruned model exported for size: its sparse kernels run on the board too
        export_model(tfl.read_bytes(), d, name=name, options=Options(optimize="size" if "pruned" in name else "speed"))
        out[name] = d
    return out
