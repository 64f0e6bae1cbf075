"""QUANTIZE int8 -> int8 (requantisation): generated C equals TFLM element for element.

The converter inserts one where a fixed-scale output (SOFTMAX, 1/256) feeds a CONCATENATION with
another scale. The random cases then re-draw that other scale and zero point (on every tensor that
shares it, so the graph stays consistent) to cover multipliers below and above one.
"""
import numpy as np
import pytest

from harness import edit_tflite, random_int8, run_generated, run_tflm, set_quantization, to_int8_tflite
from sparsemcu.export.tflite_reader import read_tflite
from sparsemcu.tf import keras

N_SAMPLES = 100


@pytest.fixture(scope="module")
def requant_model():
    k = keras()
    x = k.layers.Input((6,))
    d = k.layers.Dense(9)(x)
    model = k.Model(x, k.layers.Concatenate()([k.layers.Softmax()(d), d]))
    model.set_weights([np.random.default_rng(0).normal(size=w.shape).astype(np.float32) * 2
                       for w in model.get_weights()])
    tfl = to_int8_tflite(model, seed=0)
    g = read_tflite(tfl)
    q = [n for n in g.nodes if n.op == "QUANTIZE"]
    assert len(q) == 1 and g.tensors[q[0].inputs[0]].dtype == "int8"
    return tfl


def requantise_tensors_like(tflite_bytes: bytes, tensor: int, scale: float, zero_point: int) -> bytes:
    """Give every tensor quantised like `tensor` the new (scale, zero_point)."""
    def edit(model):
        tensors = model.subgraphs[0].tensors
        ref = tensors[tensor].quantization
        key = (list(ref.scale), list(ref.zeroPoint))
        for t in tensors:
            q = t.quantization
            if q is not None and q.scale is not None and (list(q.scale), list(q.zeroPoint)) == key:
                set_quantization(t, scale, zero_point)
    return edit_tflite(tflite_bytes, edit)


@pytest.mark.parametrize("seed", range(8))
def test_requantize_bit_exact(seed, requant_model, tmp_path):
    tfl = requant_model
    if seed > 0:
        rng = np.random.default_rng(8000 + seed)
        g = read_tflite(tfl)
        quant = [n for n in g.nodes if n.op == "QUANTIZE"][0]
        scale = float(np.float32(10 ** rng.uniform(-3.5, -0.5)))  # 1/256 / scale from ~0.01 to ~12
        tfl = requantise_tensors_like(tfl, quant.outputs[0], scale, int(rng.integers(-128, 128)))
    x = random_int8((6,), N_SAMPLES, seed=seed)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path), run_tflm(tfl, x))
