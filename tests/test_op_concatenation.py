"""CONCATENATION: generated C equals TFLM element for element; mixed quantisation fails clearly.

Channel concatenation of branches (the converter gives every input the output's quantisation),
concatenation along H and W, three or more inputs with odd channel counts, and rank-2 inputs.
"""
import numpy as np
import pytest

from harness import edit_tflite, operators_named, random_int8, run_generated, run_tflm, to_int8_tflite
from sparsemcu.errors import SparsemcuError
from sparsemcu.export.pipeline import lower
from sparsemcu.export.tflite_reader import read_tflite
from sparsemcu.tf import keras

N_SAMPLES = 40


def _branch_model(in_shape, axis, n_extra, seed):
    """x -> [conv, x, depthwise, ...] concatenated along `axis`."""
    k = keras()
    rng = np.random.default_rng(seed)
    x = k.layers.Input(in_shape)
    parts = [k.layers.Conv2D(int(rng.integers(1, 6)) if axis == -1 else in_shape[-1], 1)(x), x]
    for _ in range(n_extra):
        parts.append(k.layers.DepthwiseConv2D(3, padding="same")(x))
    model = k.Model(x, k.layers.Concatenate(axis=axis)(parts))
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _random_case(seed):
    rng = np.random.default_rng(7000 + seed)
    shape = (int(rng.integers(1, 7)), int(rng.integers(1, 7)), int(rng.choice([1, 3, 5])))
    return shape, [-1, 1, 2, 3][seed % 4], int(rng.integers(0, 3))


CASES = [_random_case(s) for s in range(6)]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_concatenation_bit_exact(case, tmp_path):
    in_shape, axis, n_extra = CASES[case]
    tfl = to_int8_tflite(_branch_model(in_shape, axis, n_extra, case), seed=case)
    cats = [n for n in read_tflite(tfl).nodes if n.op == "CONCATENATION"]
    assert len(cats) == 1 and len(cats[0].inputs) == 2 + n_extra
    x = random_int8(in_shape, N_SAMPLES, seed=case)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path), run_tflm(tfl, x), err_msg=str(CASES[case]))


def test_concatenation_rank2_bit_exact(tmp_path):
    k = keras()
    x = k.layers.Input((7,))
    model = k.Model(x, k.layers.Concatenate()([k.layers.Dense(3)(x), x, k.layers.Dense(5)(x)]))
    tfl = to_int8_tflite(model, seed=1)
    x = random_int8((7,), N_SAMPLES, seed=1)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path), run_tflm(tfl, x))


def test_concatenation_mixed_quantisation_fails_clearly():
    tfl = to_int8_tflite(_branch_model((4, 4, 3), -1, 1, 0), seed=0)

    def edit(model):
        cat = operators_named(model, "CONCATENATION")[0]
        q = model.subgraphs[0].tensors[cat.inputs[-1]].quantization
        q.scale = [float(q.scale[0]) * 2]
    with pytest.raises(SparsemcuError, match="quantised differently"):
        lower(edit_tflite(tfl, edit))
