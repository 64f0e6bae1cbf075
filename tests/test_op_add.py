"""ADD: generated C equals TFLM element for element.

Residual-style adds of two differently quantised branches (random shapes, odd channel counts),
fused RELU / RELU6 (patched into the flatbuffer when the converter does not fuse it), and
broadcasting ([1,H,W,C] + [1,1,1,C] either way round, [1,H,1,C] + [1,1,W,C], [1,H,W,C] + [C]).
"""
import numpy as np
import pytest

from harness import edit_tflite, patch_activation, random_int8, run_generated, run_tflm, set_quantization, to_int8_tflite
from sparsemcu.export.tflite_reader import read_tflite
from sparsemcu.tf import keras, tensorflow

N_SAMPLES = 60
ACT_CODES = {None: 0, "relu": 1, "relu6": 3}


def _randomise(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) * 0.6 for w in model.get_weights()])


def _residual_model(in_shape, seed):
    """x -> (1x1 conv a, 3x3 depthwise b) -> a + b: two branches with their own scales."""
    k = keras()
    x = k.layers.Input(in_shape)
    a = k.layers.Conv2D(in_shape[-1], 1)(x)
    b = k.layers.DepthwiseConv2D(3, padding="same")(x)
    model = k.Model(x, k.layers.Add()([a, b]))
    _randomise(model, seed)
    return model


def _random_case(seed):
    rng = np.random.default_rng(4000 + seed)
    return (int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.choice([1, 3, 5, 7]))), \
        [None, "relu", "relu6"][seed % 3]


RESIDUAL_CASES = [_random_case(s) for s in range(6)]


@pytest.mark.parametrize("case", range(len(RESIDUAL_CASES)))
def test_add_residual_bit_exact(case, tmp_path):
    in_shape, act = RESIDUAL_CASES[case]
    tfl = to_int8_tflite(_residual_model(in_shape, case), seed=case)
    if act is not None:
        tfl = patch_activation(tfl, "ADD", ACT_CODES[act])
    adds = [n for n in read_tflite(tfl).nodes if n.op == "ADD"]
    assert len(adds) == 1 and adds[0].options["fused_activation_function"] == ACT_CODES[act]
    x = random_int8(in_shape, N_SAMPLES, seed=case)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path), run_tflm(tfl, x),
                                  err_msg=str(RESIDUAL_CASES[case]))


def _broadcast_model(kind, in_shape, seed):
    k, tf = keras(), tensorflow()
    x = k.layers.Input(in_shape)
    a = k.layers.Conv2D(in_shape[-1], 1)(x)
    if kind == "hwc+c11":
        b = k.layers.GlobalAveragePooling2D(keepdims=True)(x)
        out = k.layers.Lambda(lambda t: t[0] + t[1])([a, b])
    elif kind == "c11+hwc":
        b = k.layers.GlobalAveragePooling2D(keepdims=True)(x)
        out = k.layers.Lambda(lambda t: t[1] + t[0])([a, b])
    elif kind == "h1c+1wc":
        rows = k.layers.Lambda(lambda t: tf.reduce_mean(t, axis=2, keepdims=True))(a)
        cols = k.layers.Lambda(lambda t: tf.reduce_mean(t, axis=1, keepdims=True))(x)
        out = k.layers.Lambda(lambda t: t[0] + t[1])([rows, cols])
    else:  # "hwc+vector": [1,H,W,C] + [1,C] (rank 4 + rank 2, aligned on the right)
        b = k.layers.GlobalAveragePooling2D()(x)
        out = k.layers.Lambda(lambda t: t[0] + t[1])([a, b])
    model = k.Model(x, out)
    _randomise(model, seed)
    return model


@pytest.mark.parametrize("kind", ["hwc+c11", "c11+hwc", "h1c+1wc", "hwc+vector"])
def test_add_broadcast_bit_exact(kind, tmp_path):
    in_shape = (5, 7, 3)
    tfl = to_int8_tflite(_broadcast_model(kind, in_shape, 1), seed=2)
    adds = [n for n in read_tflite(tfl).nodes if n.op == "ADD"]
    assert len(adds) == 1
    g = read_tflite(tfl)
    assert g.tensors[adds[0].inputs[0]].shape != g.tensors[adds[0].inputs[1]].shape
    x = random_int8(in_shape, N_SAMPLES, seed=3)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path), run_tflm(tfl, x), err_msg=kind)


def requantise(tflite_bytes: bytes, changes: dict) -> bytes:
    """Re-quantise tensors {index: (scale, zero_point)} in the flatbuffer."""
    def edit(model):
        for t, (scale, zp) in changes.items():
            set_quantization(model.subgraphs[0].tensors[t], scale, zp)
    return edit_tflite(tflite_bytes, edit)


@pytest.fixture(scope="module")
def residual_7x5x3():
    return to_int8_tflite(_residual_model((7, 5, 3), 42), seed=42)


@pytest.mark.parametrize("seed", range(12))
def test_add_random_scales_bit_exact(seed, residual_7x5x3, tmp_path):
    """One residual model; both ADD inputs and its output re-quantised at random (ratios up to 1e3)."""
    rng = np.random.default_rng(9000 + seed)
    g = read_tflite(residual_7x5x3)
    add = [n for n in g.nodes if n.op == "ADD"][0]
    changes = {t: (float(np.float32(10 ** rng.uniform(-3, 0))), int(rng.integers(-128, 128)))
               for t in (*add.inputs, add.outputs[0])}
    tfl = patch_activation(requantise(residual_7x5x3, changes), "ADD", [0, 1, 3][seed % 3])
    x = random_int8((7, 5, 3), N_SAMPLES, seed=seed)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path), run_tflm(tfl, x), err_msg=str(changes))
