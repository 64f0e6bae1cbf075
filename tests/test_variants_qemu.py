"""Every kernel variant on the emulated cores: one model with every layer kind the variants cover
(first conv of 3 channels, 3x3 and 1x1 convs, strided, depthwise, ADD, pooling, two dense), exported
once per policy and per preferred variant, run on the Cortex-M7 (mps2-an500) and Cortex-M4
(mps2-an386) with the DSP code paths, and checked bit-exactly against TFLM. The host build of the
same variants (portable C) is covered by the per-operator tests."""
import json
import shutil

import numpy as np
import pytest

from harness import to_int8_tflite
from sparsemcu.deploy import deploy
from sparsemcu.export.pipeline import Options, export_model
from sparsemcu.tf import keras

BOARDS = ["qemu_mps2_an500", "qemu_mps2_an386"]
EXPORTS = {"speed": Options(optimize="speed"), "size": Options(optimize="size"),
           "simd": Options(optimize="speed", variant="simd"), "sparse": Options(optimize="speed", variant="sparse")}


def _model():
    k = keras()
    L = k.layers
    x_in = L.Input((14, 13, 3))
    x = L.Conv2D(12, 3, padding="same", activation="relu")(x_in)
    y = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    y = L.Conv2D(12, 1)(y)
    x = L.ReLU()(L.Add()([x, y]))
    x = L.Conv2D(20, 3, strides=2, padding="same", activation="relu6")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu")(x)
    x = L.MaxPool2D(2, padding="same")(x)
    x = L.Conv2D(16, 1, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(10, activation="relu")(x)  # 16 -> 10: two output quads and two single outputs (simd)
    return k.Model(x_in, L.Dense(7)(x))  # 10 -> 7: a tail of 2 inputs past the whole words


@pytest.fixture(scope="module")
def tflite_bytes():
    model = _model()
    rng = np.random.default_rng(0)
    weights = model.get_weights()  # 60 % zeros in the kernels: the sparse variants have work too
    for i, w in enumerate(weights):
        if w.ndim >= 2:
            weights[i] = np.where(rng.random(w.shape) < 0.6, 0, w)
    model.set_weights(weights)
    return to_int8_tflite(model, seed=3)


@pytest.mark.hil
@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("export", list(EXPORTS))
def test_variants_bit_exact_on_the_emulated_cores(tflite_bytes, board, export, tmp_path):
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("qemu-system-arm and arm-none-eabi-gcc are required (make setup)")
    d = tmp_path / export
    rep = export_model(tflite_bytes, d, name=f"variants_{export}", options=EXPORTS[export])
    variants = {layer["variant"] for layer in rep["layers"]}
    if export in ("simd", "sparse"):
        assert export in variants, variants
    if export == "simd":  # the dense layers too (smcu_fully_connected_s8_simd)
        fc = [layer["variant"] for layer in rep["layers"] if layer["op"] == "FULLY_CONNECTED"]
        assert fc and all(v == "simd" for v in fc), rep["layers"]
    run = deploy(d, board, limit=6, progress=False, profile=True)
    assert run["bit_exact"] is True and run["samples"] == 6
    measured = [la["measured"] for la in run["layers"] if la["kernel"] != "in-place"]
    assert all(m and m > 0 for m in measured), run["layers"]
    assert json.loads((d / "deploy_report.json").read_text())["status"] == "ok"
