"""RESHAPE / SQUEEZE: no code, the output aliases the input; the model around them stays exact."""
import numpy as np
import pytest

from harness import random_int8, run_generated, run_tflm, to_int8_tflite
from sparsemcu.export.pipeline import lower
from sparsemcu.export.tflite_reader import read_tflite
from sparsemcu.tf import keras

N_SAMPLES = 30


def _model(kind):
    k = keras()
    if kind == "flatten":  # conv -> RESHAPE -> fully connected
        return k.Sequential([k.layers.Input((5, 4, 3)), k.layers.Conv2D(3, 3, activation="relu"),
                             k.layers.Flatten(), k.layers.Dense(7)]), (5, 4, 3)
    if kind == "reshape_chain":  # fc -> RESHAPE to an image -> depthwise -> RESHAPE back
        return k.Sequential([k.layers.Input((12,)), k.layers.Dense(24), k.layers.Reshape((4, 2, 3)),
                             k.layers.DepthwiseConv2D(2, padding="same"), k.layers.Reshape((24,)),
                             k.layers.Dense(5)]), (12,)
    if kind == "pool_flatten":  # conv -> max pool -> RESHAPE -> fully connected
        return k.Sequential([k.layers.Input((6, 6, 5)), k.layers.Conv2D(5, 1), k.layers.MaxPool2D(),
                             k.layers.Flatten(), k.layers.Dense(3)]), (6, 6, 5)
    # "io": the model output is a reshape of the model input
    inp = k.layers.Input((3, 4))
    return k.Model(inp, k.layers.Reshape((12,))(k.layers.Dense(4)(inp))), (3, 4)


@pytest.mark.parametrize("kind", ["flatten", "reshape_chain", "pool_flatten", "io"])
def test_reshape_bit_exact(kind, tmp_path):
    model, in_shape = _model(kind)
    model.set_weights([np.random.default_rng(1).normal(size=w.shape).astype(np.float32)
                       for w in model.get_weights()])
    tfl = to_int8_tflite(model, seed=1)
    ops = [n.op for n in read_tflite(tfl).nodes]
    assert "RESHAPE" in ops or "SQUEEZE" in ops, ops
    calls = [c for c in lower(tfl).calls if c.op in ("RESHAPE", "SQUEEZE")]
    assert calls and all(c.kernel is None and c.alias_output_to_input and c.flash_bytes == 0 for c in calls)
    x = random_int8(in_shape, N_SAMPLES, seed=2)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path), run_tflm(tfl, x), err_msg=str(ops))
