"""CONV_2D and FULLY_CONNECTED: generated C (dense and rle) equals TFLM element for element."""
import numpy as np
import pytest

from harness import random_int8, run_generated, run_tflm, to_int8_tflite
from sparsemcu.export.quantize import concrete_to_int8_tflite
from sparsemcu.tf import keras, tensorflow

VARIANTS = ("dense", "rle", "simd")  # every CONV_2D kernel variant, each against TFLM

CONV_CASES = [
    # (in_shape, filters, kernel, strides, padding, activation)
    ((9, 9, 3), 5, (3, 3), 2, "same", "relu"),
    ((8, 7, 1), 7, (3, 2), 1, "same", "relu6"),
    ((10, 10, 4), 3, (5, 5), 2, "valid", None),
    ((6, 6, 3), 9, (1, 1), 1, "valid", "relu"),
    ((7, 9, 5), 4, (2, 3), (2, 1), "same", None),
    ((9, 7, 8), 6, (3, 3), 1, "same", "relu"),  # in_c % 4 == 0: border taps by whole groups
    ((10, 11, 16), 7, (3, 3), 2, "same", None),
    ((6, 6, 12), 5, (5, 3), 1, "same", "relu6"),
    # simd variant's paths: 1x1 strides 1 and 2, odd pixel counts, odd channel counts, in_c 1 / 2,
    # groups of 4 taps not a multiple of 4, a single output channel, narrower activation ranges
    ((5, 7, 16), 10, (1, 1), 1, "valid", None),
    ((9, 9, 8), 6, (1, 1), 2, "same", "relu6"),
    ((8, 8, 32), 3, (1, 1), 1, "valid", "relu"),
    ((7, 5, 2), 11, (3, 3), 1, "same", "relu"),
    ((6, 9, 1), 5, (4, 3), 2, "same", "relu6"),
    ((5, 5, 4), 1, (3, 3), 1, "same", None),
]


def _sparsify(model, fraction, seed):
    rng = np.random.default_rng(seed)
    weights = model.get_weights()
    for i, w in enumerate(weights):
        if w.ndim >= 2:
            w[rng.random(w.shape) < fraction] = 0
            weights[i] = w
    model.set_weights(weights)


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
@pytest.mark.parametrize("sparsity", [0.0, 0.85])
def test_conv2d_bit_exact(case, sparsity, tmp_path):
    k = keras()
    in_shape, filters, kernel, strides, padding, act = CONV_CASES[case]
    model = k.Sequential([k.layers.Input(in_shape),
                          k.layers.Conv2D(filters, kernel, strides=strides, padding=padding, activation=act)])
    _sparsify(model, sparsity, case)
    tfl = to_int8_tflite(model, seed=case)
    x = random_int8(in_shape, 40, seed=case)
    ref = run_tflm(tfl, x)
    for variant in VARIANTS:
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, variant), ref, err_msg=variant)


def _dilated_conv_tflite(in_shape, filters, kernel, dilation, padding, seed):
    """tf.nn.conv2d with a dilations attribute converts to one CONV_2D (Keras emits SPACE_TO_BATCH)."""
    tf = tensorflow()
    rng = np.random.default_rng(seed)
    w = tf.constant(rng.normal(size=(*kernel, in_shape[-1], filters)).astype(np.float32) * 0.3)
    b = tf.constant(rng.normal(size=(filters,)).astype(np.float32) * 0.1)

    @tf.function(input_signature=[tf.TensorSpec((1, *in_shape), tf.float32)])
    def f(x):
        return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w, 1, padding, dilations=dilation), b))

    calib = rng.uniform(-1, 1, size=(32, *in_shape)).astype(np.float32)
    return concrete_to_int8_tflite(f.get_concrete_function(), f, calib)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_conv2d_dilation_bit_exact(padding, tmp_path):
    from sparsemcu.export.tflite_reader import read_tflite
    tfl = _dilated_conv_tflite((11, 10, 3), 6, (3, 3), 2, padding, seed=7)
    convs = [n for n in read_tflite(tfl).nodes if n.op == "CONV_2D"]
    assert convs and convs[0].options["dilation_h_factor"] == 2
    x = random_int8((11, 10, 3), 30, seed=3)
    ref = run_tflm(tfl, x)
    for variant in VARIANTS:
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, variant), ref, err_msg=variant)


@pytest.mark.parametrize("in_features,units,act,sparsity", [(37, 19, "relu", 0.0), (64, 10, None, 0.9),
                                                           (5, 33, "relu6", 0.5)])
def test_fully_connected_bit_exact(in_features, units, act, sparsity, tmp_path):
    k = keras()
    model = k.Sequential([k.layers.Input((in_features,)), k.layers.Dense(units, activation=act)])
    _sparsify(model, sparsity, in_features)
    tfl = to_int8_tflite(model, seed=units)
    x = random_int8((in_features,), 60, seed=units)
    ref = run_tflm(tfl, x)
    for enc in ("dense", "rle"):
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, enc), ref, err_msg=enc)
