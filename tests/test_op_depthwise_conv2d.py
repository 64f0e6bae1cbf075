"""DEPTHWISE_CONV_2D: generated C (dense and rle) equals TFLM element for element.

Random shapes (odd channel counts), depth multipliers 1-3, strides 1-2, SAME/VALID, RELU/RELU6,
dilation (through tf.nn.depthwise_conv2d, which converts to one DEPTHWISE_CONV_2D), and pruned
filters so that the rle kernel meets empty rows and long zero runs.
"""
import numpy as np
import pytest

from harness import random_int8, run_generated, run_tflm, to_int8_tflite
from sparsemcu.export.quantize import concrete_to_int8_tflite
from sparsemcu.export.tflite_reader import read_tflite
from sparsemcu.tf import keras, tensorflow

N_SAMPLES = 40


def _random_case(seed):
    rng = np.random.default_rng(1000 + seed)
    k_h, k_w = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    padding = str(rng.choice(["same", "valid"]))
    h, w = int(rng.integers(k_h, 12)), int(rng.integers(k_w, 12))
    c = int(rng.choice([1, 3, 5, 7, 8]))
    mult = int(rng.integers(1, 4))
    act = [None, "relu", "relu6"][seed % 3]
    sparsity = [0.0, 0.6, 0.95][seed % 3]
    return (h, w, c), (k_h, k_w), stride, padding, mult, act, sparsity


CASES = [_random_case(s) for s in range(10)] + [
    # fixed edge cases: stride 2 SAME with odd sizes, multiplier 2, all-zero filters for some channels
    ((9, 9, 3), (3, 3), (2, 2), "same", 2, "relu6", 0.0),
    ((7, 10, 5), (5, 3), (2, 1), "same", 1, None, 0.9),
    ((6, 6, 1), (6, 6), (1, 1), "valid", 3, "relu", 0.5),
    ((17, 17, 2), (17, 17), (1, 1), "same", 1, None, "gaps"),  # rows of 289: rle escape entries
]


def _randomise(model, sparsity, seed):
    rng = np.random.default_rng(seed)
    if sparsity == "gaps":  # zero runs longer than 255 (escape entries), at a row's start and middle
        kernel, bias = model.get_weights()
        kernel[:] = 0
        kernel[16, 15, 0, 0] = 0.9  # row position 287
        kernel[0, 0, 1, 0], kernel[16, 16, 1, 0] = 0.5, -0.7  # positions 0 and 288
        model.set_weights([kernel, rng.normal(size=bias.shape).astype(np.float32) * 0.2])
        return
    weights = []
    for w in model.get_weights():
        w = rng.normal(size=w.shape).astype(np.float32) * (0.5 if w.ndim > 1 else 0.2)
        if w.ndim > 1:
            w[rng.random(w.shape) < sparsity] = 0
        weights.append(w)
    model.set_weights(weights)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_depthwise_conv2d_bit_exact(case, tmp_path):
    k = keras()
    in_shape, kernel, strides, padding, mult, act, sparsity = CASES[case]
    model = k.Sequential([k.layers.Input(in_shape),
                          k.layers.DepthwiseConv2D(kernel, strides=strides, padding=padding,
                                                   depth_multiplier=mult, activation=act)])
    _randomise(model, sparsity, case)
    tfl = to_int8_tflite(model, seed=case)
    nodes = [n for n in read_tflite(tfl).nodes if n.op == "DEPTHWISE_CONV_2D"]
    assert len(nodes) == 1
    x = random_int8(in_shape, N_SAMPLES, seed=case)
    ref = run_tflm(tfl, x)
    for enc in ("dense", "rle"):
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, enc), ref, err_msg=f"{enc} {CASES[case]}")


def _dilated_depthwise_tflite(in_shape, mult, kernel, dilation, padding, seed):
    tf = tensorflow()
    rng = np.random.default_rng(seed)
    w = tf.constant(rng.normal(size=(*kernel, in_shape[-1], mult)).astype(np.float32) * 0.4)
    b = tf.constant(rng.normal(size=(in_shape[-1] * mult,)).astype(np.float32) * 0.1)

    @tf.function(input_signature=[tf.TensorSpec((1, *in_shape), tf.float32)])
    def f(x):
        y = tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], padding, dilations=dilation)
        return tf.nn.relu6(tf.nn.bias_add(y, b))

    calib = rng.uniform(-1, 1, size=(32, *in_shape)).astype(np.float32)
    return concrete_to_int8_tflite(f.get_concrete_function(), f, calib)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_depthwise_conv2d_dilation_bit_exact(padding, tmp_path):
    tfl = _dilated_depthwise_tflite((11, 9, 3), 2, (3, 2), (2, 3), padding, seed=5)
    nodes = [n for n in read_tflite(tfl).nodes if n.op == "DEPTHWISE_CONV_2D"]
    assert nodes and nodes[0].options["dilation_w_factor"] == 3
    x = random_int8((11, 9, 3), N_SAMPLES, seed=11)
    ref = run_tflm(tfl, x)
    for enc in ("dense", "rle"):
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, enc), ref, err_msg=enc)
