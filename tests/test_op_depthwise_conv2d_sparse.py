"""DEPTHWISE_CONV_2D, zero-skipping `sparse` variant (smcu_depthwise_conv2d_s8_sparse): generated C equals
TFLM element for element on random depthwise layers pruned to 50-98 % zeros: kernel sizes 1-5, strides
1-3, dilation, SAME / VALID, depth multipliers 1-3, RELU / RELU6 / none and clamped activation ranges,
channels with no tap (constants), one tap (the direct path with its constant border) and several taps
(the zero-point padded plane)."""
import zlib

import numpy as np
import pytest

from harness import dilated_depthwise_tflite, patch_activation, random_int8, run_generated, run_tflm, to_int8_tflite
from sparsemcu.export.ops import depthwise_conv2d_sparse as dws
from sparsemcu.tf import keras

N_SAMPLES = 24


def _random_case(seed):
    rng = np.random.default_rng(7000 + seed)
    k_h, k_w = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding = str(rng.choice(["same", "valid"]))
    h, w = int(rng.integers(k_h, 14)), int(rng.integers(k_w, 14))
    c = int(rng.choice([1, 3, 4, 7, 16]))
    mult = int(rng.integers(1, 4))
    act = [None, "relu", "relu6"][seed % 3]
    sparsity = [0.5, 0.7, 0.9, 0.95, 0.98][seed % 5]
    return (h, w, c), (k_h, k_w), stride, padding, mult, act, sparsity


CASES = [_random_case(s) for s in range(14)] + [
    ((25, 5, 64), (3, 3), (1, 1), "same", 1, "relu", 0.9),  # dscnn_kws's depthwise layers, pruned
    ((12, 12, 16), (3, 3), (2, 2), "same", 1, "relu6", 0.9),
    ((11, 13, 5), (3, 3), (2, 2), "valid", 2, None, 0.6),
    ((7, 6, 8), (5, 5), (1, 1), "same", 1, "relu", 0.8),  # taps that never meet the image on small inputs
    ((3, 3, 9), (5, 5), (1, 1), "same", 1, None, 0.9),
    ((9, 9, 6), (1, 1), (1, 1), "valid", 1, "relu", 0.5),
]


def _model(case):
    k = keras()
    in_shape, kernel, strides, padding, mult, act, sparsity = case
    model = k.Sequential([k.layers.Input(in_shape),
                          k.layers.DepthwiseConv2D(kernel, strides=strides, padding=padding,
                                                   depth_multiplier=mult, activation=act)])
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    weights = []
    for w in model.get_weights():
        w = rng.normal(size=w.shape).astype(np.float32) * (0.5 if w.ndim > 1 else 0.2)
        if w.ndim > 1:
            w[rng.random(w.shape) < sparsity] = 0
        weights.append(w)
    model.set_weights(weights)
    return model


@pytest.mark.parametrize("case", range(len(CASES)))
def test_depthwise_conv2d_sparse_bit_exact(case, tmp_path):
    tfl = to_int8_tflite(_model(CASES[case]), seed=case)
    x = random_int8(CASES[case][0], N_SAMPLES, seed=case)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, "sparse"), run_tflm(tfl, x),
                                  err_msg=str(CASES[case]))


@pytest.mark.parametrize("act", [1, 2, 3])  # RELU, RELU_N1_TO_1, RELU6 patched onto an unclamped layer
def test_depthwise_conv2d_sparse_clamped_activation(act, tmp_path):
    case = ((9, 8, 12), (3, 3), (1, 1), "same", 1, None, 0.7)
    tfl = patch_activation(to_int8_tflite(_model(case), seed=act), "DEPTHWISE_CONV_2D", act)
    x = random_int8(case[0], N_SAMPLES, seed=act)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, "sparse"), run_tflm(tfl, x))


@pytest.mark.parametrize("mult", [2, 1])
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_depthwise_conv2d_sparse_dilation(padding, mult, tmp_path):
    tfl = dilated_depthwise_tflite((11, 9, 3), mult, (3, 2), (2, 3), padding, seed=5, zero_fraction=0.6)
    x = random_int8((11, 9, 3), N_SAMPLES, seed=11)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, "sparse"), run_tflm(tfl, x))


def test_tap_rect_matches_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(300):
        c = {"in_h": int(rng.integers(1, 9)), "in_w": int(rng.integers(1, 9)), "stride_h": int(rng.integers(1, 4)),
             "stride_w": int(rng.integers(1, 4)), "dil_h": int(rng.integers(1, 3)), "dil_w": int(rng.integers(1, 3)),
             "pad_h": int(rng.integers(0, 4)), "pad_w": int(rng.integers(0, 4)),
             "out_h": int(rng.integers(1, 9)), "out_w": int(rng.integers(1, 9))}
        ky, kx = int(rng.integers(0, 4)), int(rng.integers(0, 4))
        y0, y1, x0, x1 = dws.tap_rect(c, ky, kx)
        for oy in range(c["out_h"]):
            for ox in range(c["out_w"]):
                iy = oy * c["stride_h"] - c["pad_h"] + ky * c["dil_h"]
                ix = ox * c["stride_w"] - c["pad_w"] + kx * c["dil_w"]
                inside = 0 <= iy < c["in_h"] and 0 <= ix < c["in_w"]
                assert inside == (y0 <= oy < y1 and x0 <= ox < x1), (c, ky, kx)


def test_doubled_requant_equals_the_two_step_spec():
    """(SMMLAR(2 acc, mult, rh) - (acc < 0)) >> e with doubled_requant's rows == TFLite's
    MultiplyByQuantizedMultiplier + output offset: random multipliers, ties of the second rounding,
    all-zero channels."""
    from sparsemcu.export import quant
    rng = np.random.default_rng(4)
    for trial in range(300):
        k = int(rng.integers(1, 30))
        rows = rng.integers(-127, 128, size=(1, k)) * (trial % 7 != 0)
        mult, shift = quant.quantize_multiplier(float(np.exp(rng.uniform(np.log(1e-6), np.log(0.49)))))
        bias = int(rng.integers(-2**18, 2**18))
        in_off, out_off = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
        req = quant.doubled_requant_table(np.array([bias]), rows, in_off, np.array([mult]), np.array([shift]), out_off)
        b2, m, rh, e = (int(v) for v in req[0])
        for _ in range(20):
            x = rng.integers(-128, 128, size=k)
            acc = bias + int(((x + in_off) * rows[0]).sum())
            if rng.random() < 0.3:  # aim at a tie of the second rounding
                t = int(rng.integers(-50, 50)) * (1 << -shift) + (1 << (-shift - 1))
                acc = round(t * 2**31 / mult) + int(rng.integers(-1, 2))
            acc2 = b2 + 2 * (acc - bias - in_off * int(rows[0].sum())) if rows.any() else b2
            got = ((((rh << 32) + acc2 * m + 2**31) >> 32) - (1 if acc2 < 0 else 0)) >> e
            want = quant.multiply_by_quantized_multiplier(acc if rows.any() else bias, mult, shift) + out_off
            assert got == want, (trial, acc)
