"""PAD / PADV2: generated C equals TFLM element for element.

ZeroPadding2D with random asymmetric paddings, tf.pad on every axis including channels (rank 4
and rank 2), and tf.pad with a non-zero constant (PADV2 when the converter emits it).
"""
import numpy as np
import pytest

from harness import random_int8, run_generated, run_tflm, to_int8_tflite
from sparsemcu.export.tflite_reader import read_tflite
from sparsemcu.tf import keras, tensorflow

N_SAMPLES = 40


def _random_case(seed):
    rng = np.random.default_rng(5000 + seed)
    shape = (int(rng.integers(1, 8)), int(rng.integers(1, 8)), int(rng.choice([1, 3, 5])))
    pads = ((int(rng.integers(0, 4)), int(rng.integers(0, 4))), (int(rng.integers(0, 4)), int(rng.integers(0, 4))))
    return shape, pads


ZP_CASES = [_random_case(s) for s in range(5)]


def _pad_ops(tfl):
    return [n for n in read_tflite(tfl).nodes if n.op in ("PAD", "PADV2")]


@pytest.mark.parametrize("case", range(len(ZP_CASES)))
def test_zero_padding2d_bit_exact(case, tmp_path):
    k = keras()
    in_shape, pads = ZP_CASES[case]
    model = k.Sequential([k.layers.Input(in_shape), k.layers.ZeroPadding2D(pads)])
    tfl = to_int8_tflite(model, seed=case)
    assert len(_pad_ops(tfl)) == 1
    x = random_int8(in_shape, N_SAMPLES, seed=case)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path), run_tflm(tfl, x), err_msg=str(ZP_CASES[case]))


@pytest.mark.parametrize("in_shape,paddings,value", [
    ((4, 5, 3), [[0, 0], [1, 2], [0, 3], [2, 1]], 0.0),
    ((7,), [[0, 0], [3, 2]], 0.0),
    ((3, 4, 5), [[0, 0], [2, 0], [1, 1], [0, 0]], 0.75),
    ((6, 2), [[0, 0], [1, 0], [2, 3]], -0.5),
])
def test_tf_pad_bit_exact(in_shape, paddings, value, tmp_path):
    k, tf = keras(), tensorflow()
    inp = k.layers.Input(in_shape)
    out = k.layers.Lambda(lambda t: tf.pad(t, paddings, constant_values=value))(inp)
    tfl = to_int8_tflite(k.Model(inp, out), seed=3)
    ops = _pad_ops(tfl)
    assert len(ops) == 1
    x = random_int8(in_shape, N_SAMPLES, seed=4)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path), run_tflm(tfl, x), err_msg=ops[0].op)


@pytest.mark.parametrize("layer,pads,strides", [
    ("conv", ((1, 2), (0, 1)), 1),
    ("conv", ((2, 0), (1, 1)), 2),
    ("depthwise", ((1, 1), (1, 1)), 2),
    ("depthwise", ((0, 2), (2, 0)), 1),
])
def test_pad_folded_into_valid_convolution(layer, pads, strides, tmp_path):
    """ZeroPadding2D before a VALID convolution: no PAD call and no padded tensor in the arena, and
    the convolution with the pads as its own equals TFLM on the padded graph, for every variant."""
    from sparsemcu.export.pipeline import lower

    k = keras()
    conv = (k.layers.Conv2D(6, 3, strides=strides, padding="valid") if layer == "conv"
            else k.layers.DepthwiseConv2D(3, strides=strides, padding="valid"))
    model = k.Sequential([k.layers.Input((7, 6, 4)), k.layers.Conv2D(4, 1), k.layers.ZeroPadding2D(pads), conv])
    tfl = to_int8_tflite(model, seed=7)
    assert len(_pad_ops(tfl)) == 1
    lowered = lower(tfl)
    assert all(c.op not in ("PAD", "PADV2") for c in lowered.calls)
    padded = [t for t in read_tflite(tfl).tensors.values() if t.shape == (1, 7 + sum(pads[0]), 6 + sum(pads[1]), 4)]
    assert padded and all(t.index not in lowered.plan.tensor_offsets for t in padded)
    x = random_int8((7, 6, 4), N_SAMPLES, seed=8)
    want = run_tflm(tfl, x)
    for variant in ("dense", "rle", "simd", "sparse"):
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path / variant, variant=variant), want,
                                      err_msg=f"{layer} {pads} {strides} {variant}")
