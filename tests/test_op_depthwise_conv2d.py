"""DEPTHWISE_CONV_2D: generated C (every variant: dense, rle, simd) equals TFLM element for element.

Random shapes (odd channel counts), depth multipliers 1-3, strides 1-2, SAME/VALID, RELU/RELU6,
dilation (through tf.nn.depthwise_conv2d, which converts to one DEPTHWISE_CONV_2D), and pruned
filters so that the rle kernel meets empty rows and long zero runs. The simd variant (depth
multiplier 1) runs on every case it is proposed for; fixed cases cover its paths (3x3 stride 1 and
2, any other kernel), odd widths (a single last pixel), channel counts that are not multiples of 4,
VALID padding and dilation.
"""

import numpy as np
import pytest

from harness import (dilated_depthwise_tflite, patch_activation, random_int8, random_requant_channel, run_c_lines,
                     run_generated, run_tflm, tie_accumulator, to_int8_tflite)
from sparsemcu.export import quant
from sparsemcu.export.ops import depthwise_conv2d as dw
from sparsemcu.export.tflite_reader import read_tflite
from sparsemcu.tf import keras

N_SAMPLES = 40


def _variants(mult):
    """Every variant the lowering proposes for this depth multiplier."""
    return ("dense", "rle", "simd") if mult == 1 else ("dense", "rle")


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
    # the simd variant's paths: 3x3 stride 1 (odd and even widths, channels % 4 != 0, VALID) ...
    ((25, 5, 64), (3, 3), (1, 1), "same", 1, "relu", 0.0),  # dscnn_kws's depthwise layers
    ((7, 8, 13), (3, 3), (1, 1), "same", 1, None, 0.3),
    ((6, 9, 6), (3, 3), (1, 1), "valid", 1, "relu6", 0.0),
    ((5, 1, 4), (3, 3), (1, 1), "same", 1, None, 0.0),  # one output column
    ((8, 6, 7), (3, 3), (2, 1), "same", 1, "relu", 0.0),  # stride_h 2 on the stride_w 1 path
    # ... 3x3 stride 2 ...
    ((12, 12, 16), (3, 3), (2, 2), "same", 1, "relu", 0.0),
    ((11, 13, 5), (3, 3), (2, 2), "same", 1, None, 0.5),
    ((10, 9, 9), (3, 3), (2, 2), "valid", 1, "relu6", 0.0),
    ((9, 10, 3), (3, 3), (1, 2), "same", 1, None, 0.0),
    # ... and the generic path: 5x5, 1x1, 3x1, 2x2, stride 3, VALID
    ((9, 11, 10), (5, 5), (1, 1), "same", 1, "relu", 0.0),
    ((13, 12, 6), (5, 5), (2, 2), "same", 1, None, 0.2),
    ((8, 9, 11), (5, 5), (1, 1), "valid", 1, "relu6", 0.0),
    ((6, 7, 8), (1, 1), (1, 1), "valid", 1, None, 0.0),
    ((7, 6, 5), (3, 1), (1, 1), "same", 1, "relu", 0.0),
    ((8, 8, 4), (2, 2), (2, 2), "valid", 1, None, 0.0),
    ((11, 10, 3), (3, 3), (3, 3), "same", 1, None, 0.0),
    ((10, 11, 7), (4, 3), (1, 2), "same", 1, "relu", 0.0),
    ((12, 11, 6), (7, 7), (1, 1), "same", 1, None, 0.0),
    # stride_w 2 on the generic path with pad_w 2 and 3 (the row build starts at an odd grid pair)
    ((10, 13, 7), (5, 5), (2, 2), "same", 1, "relu", 0.0),
    ((9, 15, 5), (7, 7), (2, 2), "same", 1, None, 0.0),
    ((7, 9, 9), (3, 3), (2, 2), "same", 1, "relu6", 0.0),  # 3x3 stride 2, odd width, channels % 4 == 1
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
    for variant in _variants(mult):
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, variant), ref,
                                      err_msg=f"{variant} {CASES[case]}")


@pytest.mark.parametrize("mult", [2, 1])
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_depthwise_conv2d_dilation_bit_exact(padding, mult, tmp_path):
    tfl = dilated_depthwise_tflite((11, 9, 3), mult, (3, 2), (2, 3), padding, seed=5)
    nodes = [n for n in read_tflite(tfl).nodes if n.op == "DEPTHWISE_CONV_2D"]
    assert nodes and nodes[0].options["dilation_w_factor"] == 3
    x = random_int8((11, 9, 3), N_SAMPLES, seed=11)
    ref = run_tflm(tfl, x)
    for variant in _variants(mult):
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, variant), ref, err_msg=variant)


def test_depthwise_conv2d_simd_dilated_3x3(tmp_path):
    """3x3 with dilation 2 (the generic path: taps two halfwords apart) and zero-point padding rows."""
    tfl = dilated_depthwise_tflite((10, 12, 6), 1, (3, 3), (2, 2), "SAME", seed=8)
    x = random_int8((10, 12, 6), N_SAMPLES, seed=12)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, "simd"), run_tflm(tfl, x))


@pytest.mark.parametrize("in_shape,kernel,strides", [((9, 7, 12), (3, 3), 1), ((10, 11, 5), (3, 3), 2),
                                                    ((8, 9, 6), (5, 5), 1)])
@pytest.mark.parametrize("act", [1, 2, 3])  # RELU, RELU_N1_TO_1, RELU6 patched onto an unclamped layer
def test_depthwise_conv2d_clamped_activation(in_shape, kernel, strides, act, tmp_path):
    """An activation range narrower than int8 (output zero point near 0): the simd variant's generic
    path clamps to [act_min, act_max] (its 3x3 paths only saturate to int8)."""
    k = keras()
    model = k.Sequential([k.layers.Input(in_shape), k.layers.DepthwiseConv2D(kernel, strides=strides, padding="same")])
    _randomise(model, 0.0, act)
    tfl = patch_activation(to_int8_tflite(model, seed=act), "DEPTHWISE_CONV_2D", act)
    x = random_int8(in_shape, N_SAMPLES, seed=act)
    ref = run_tflm(tfl, x)
    for variant in ("dense", "simd"):
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, variant), ref, err_msg=variant)


def test_depthwise_conv2d_simd_declines_depth_multiplier(tmp_path):
    """Depth multiplier 2: the simd variant is not proposed (the reference or sparse kernels run)."""
    k = keras()
    model = k.Sequential([k.layers.Input((6, 7, 3)), k.layers.DepthwiseConv2D(3, depth_multiplier=2)])
    tfl = to_int8_tflite(model, seed=3)
    from sparsemcu.export.pipeline import Options, lower
    m = lower(tfl, Options(variant="simd"))
    assert [c.variant for c in m.calls if c.op == "DEPTHWISE_CONV_2D"] in (["dense"], ["rle"], ["sparse"])


REQUANT_PROGRAM = r"""
#include <stdio.h>
#include "smcu_depthwise_conv2d_s8_simd.c"
int main(void) {
  long long acc2, m, rh, e;
  while (scanf("%lld %lld %lld %lld", &acc2, &m, &rh, &e) == 4) {
    printf("%ld\n", (long)dw_requant((int32_t)acc2, (int32_t)m, (int32_t)rh, (int32_t)e));
  }
  return 0;
}
"""


def test_simd_requantisation_equals_the_two_step_spec(tmp_path):
    """The simd kernel's SMMLAR requantisation of the doubled accumulator (C and Python) ==
    TFLite's MultiplyByQuantizedMultiplier + offset: random multipliers, ties of the second rounding,
    the largest accumulators the weights allow, all-zero channels."""
    rng = np.random.default_rng(2)
    lines, expected = [], []
    for trial in range(400):
        k, rows, mult, shift, bias, in_off, out_off = random_requant_channel(rng, trial, 50)
        table = quant.fused_requant_table(np.array([bias]), rows, in_off, np.array([mult]), np.array([shift]), out_off)
        req = quant.doubled_requant(table, rows)
        assert req is not None
        folded = int(table[0, 0])
        assert int(req[0, 0]) == 2 * folded
        bound = abs(folded) + 128 * int(np.abs(rows).sum())
        for _ in range(20):
            x = rng.integers(-128, 128, size=k)
            acc_ref = bias + int(((x + in_off) * rows[0]).sum())
            acc = folded + int((x * rows[0]).sum()) if rows.any() else 0
            if rng.random() < 0.3 and rows.any():  # aim at a tie of the second rounding
                acc = tie_accumulator(rng, mult, shift, bound)
                acc_ref = acc - folded + bias + in_off * int(rows[0].sum())
            want = quant.multiply_by_quantized_multiplier(acc_ref, mult, shift) + out_off
            assert dw.simd_requant_reference(acc, req[0]) == want
            expected.append(want)
            lines.append(" ".join(str(int(v)) for v in (2 * acc, *req[0, 1:])))
    assert run_c_lines(REQUANT_PROGRAM, lines, tmp_path) == expected
