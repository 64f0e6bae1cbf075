"""SOFTMAX int8 -> int8: generated C equals TFLM element for element.

Many random and structured inputs (ties, constant rows, one-hot, extremes) over several input
scales (set by the calibration range), row lengths from 1 to 100, several rows at once (softmax
over the last axis of a rank-3 tensor), and beta != 1 (patched into the flatbuffer).
"""
import numpy as np
import pytest

from harness import edit_tflite, operators_named, random_int8, run_generated, run_tflm, set_quantization, to_int8_tflite
from sparsemcu.export.ops.softmax import softmax_scalars
from sparsemcu.export.tflite_reader import read_tflite
from sparsemcu.tf import keras

N_RANDOM = 300


def patch_beta(tflite_bytes: bytes, beta: float) -> bytes:
    def edit(model):
        for op in operators_named(model, "SOFTMAX"):
            op.builtinOptions.beta = beta
    return edit_tflite(tflite_bytes, edit)


def _inputs(shape, seed):
    """Random int8 plus structured rows: constant rows, one-hot maxima, ties, narrow ranges."""
    rng = np.random.default_rng(seed)
    x = [random_int8(shape, N_RANDOM, seed=seed)]
    for v in (-128, -1, 0, 127):
        x.append(np.full((1, *shape), v, np.int8))
    one_hot = np.full((8, *shape), -128, np.int8)
    for i in range(8):
        one_hot[i, ..., rng.integers(0, shape[-1])] = rng.integers(-127, 128)
    x.append(one_hot)
    centre = rng.integers(-100, 100, size=(40, *[1] * len(shape)))
    x.append(np.clip(centre + rng.integers(-6, 7, size=(40, *shape)), -128, 127).astype(np.int8))  # near-ties
    return np.concatenate(x)


def _softmax_tflite(shape, calib_range, seed):
    k = keras()
    model = k.Sequential([k.layers.Input(shape), k.layers.Softmax()])
    calib = np.random.default_rng(seed).uniform(-calib_range, calib_range, size=(64, *shape)).astype(np.float32)
    return to_int8_tflite(model, calib)


CASES = [  # (shape, calibration range -> input scale, beta)
    ((10,), 4.0, 1.0),
    ((1,), 1.0, 1.0),
    ((2,), 0.3, 1.0),
    ((33,), 12.0, 1.0),
    ((100,), 40.0, 1.0),
    ((4, 7), 2.0, 1.0),
    ((3, 2, 5), 8.0, 1.0),
    ((17,), 3.0, 0.37),
    ((9,), 5.0, 2.5),
    ((12,), 0.05, 1.0),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_softmax_bit_exact(case, tmp_path):
    shape, calib_range, beta = CASES[case]
    tfl = _softmax_tflite(shape, calib_range, seed=case)
    if beta != 1.0:
        tfl = patch_beta(tfl, beta)
    nodes = [n for n in read_tflite(tfl).nodes if n.op == "SOFTMAX"]
    assert len(nodes) == 1 and abs(nodes[0].options["beta"] - beta) < 1e-6
    x = _inputs(shape, seed=case)
    ref = run_tflm(tfl, x)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path), ref, err_msg=str(CASES[case]))


def test_softmax_scalars_match_tflite_recipe():
    """PreprocessSoftmaxScaling / CalculateInputRadius spot values (input_scale 1/16, beta 1)."""
    sc = softmax_scalars(1.0, 1.0 / 16)  # real = 2^22 -> Q31 2^30, shift 23
    assert sc == {"input_mult": 1 << 30, "input_left_shift": 23, "diff_min": -((31 << 26) >> 23)}
    big = softmax_scalars(1e9, 1.0)  # capped at 2^31 - 1
    assert big["input_left_shift"] == 31 and big["diff_min"] == 0


def patch_input_scale(tflite_bytes: bytes, scale: float, zero_point: int) -> bytes:
    def edit(model):
        sg = model.subgraphs[0]
        set_quantization(sg.tensors[sg.inputs[0]], scale, zero_point)
    return edit_tflite(tflite_bytes, edit)


@pytest.fixture(scope="module")
def softmax_13():
    return _softmax_tflite((13,), 3.0, seed=99)


@pytest.mark.parametrize("seed", range(16))
def test_softmax_random_input_scales_bit_exact(seed, softmax_13, tmp_path):
    """One converted model, its input quantisation and beta re-drawn: scales from 1e-3 to 4."""
    rng = np.random.default_rng(6000 + seed)
    scale = float(np.float32(10 ** rng.uniform(-3, 0.6)))
    beta = float(np.float32([1.0, 1.0, 0.5, 1.7][seed % 4]))
    tfl = patch_beta(patch_input_scale(softmax_13, scale, int(rng.integers(-128, 128))), beta)
    x = _inputs((13,), seed=seed)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path), run_tflm(tfl, x), err_msg=f"{scale} {beta}")


GEMMLOWP_CHECK = r"""
#include <cstdio>
#include <random>
#include "fixedpoint/fixedpoint.h"
extern "C" {
#include "smcu_fixedpoint.h"
}
int main() {
  using gemmlowp::FixedPoint;
  std::mt19937 rng(7);
  long bad = 0;
  for (long i = 0; i < 300000; ++i) {
    int32_t a = -(int32_t)(rng() & 0x7fffffffu);
    if (i % 2) a = -(int32_t)(rng() % 70000000u);  /* the softmax range: > -32 in Q5.26 */
    if (i == 0) a = 0;
    if (exp_on_negative_values(FixedPoint<int32_t, 5>::FromRaw(a)).raw() != smcu_exp_on_negative_values(a, 5)) ++bad;
    const int32_t x = (int32_t)(rng() & 0x7fffffffu) | 1;
    const int h = __builtin_clz((uint32_t)x);
    const int32_t s = (int32_t)(((uint32_t)x << h) - (1u << 31));
    int32_t nb;
    const int32_t r = smcu_get_reciprocal(x, 12, &nb);
    if (gemmlowp::one_over_one_plus_x_for_x_in_0_1(FixedPoint<int32_t, 0>::FromRaw(s)).raw() != r || nb != 12 - h) ++bad;
  }
  printf("%ld\n", bad);
  return 0;
}
"""


def test_fixedpoint_helpers_match_gemmlowp(tmp_path):
    """smcu_exp_on_negative_values / smcu_get_reciprocal against gemmlowp (shipped in TF's headers)."""
    import shutil
    import subprocess
    from pathlib import Path
    import tensorflow as tf_pkg  # only for the header location; already imported by the harness
    gemmlowp = Path(tf_pkg.__file__).parent / "include" / "external" / "gemmlowp"
    from sparsemcu.firmware_templates import root
    kernels = root() / "kernels"
    if shutil.which("g++") is None or not (gemmlowp / "fixedpoint" / "fixedpoint.h").exists():
        from sparsemcu.board_test import ci
        ci.unavailable("g++ or gemmlowp's fixedpoint.h is missing")  # CI=true: a failure, not a skip
    src = tmp_path / "check.cc"
    src.write_text(GEMMLOWP_CHECK)
    exe = tmp_path / "check"
    subprocess.run(["g++", "-O2", "-I", str(gemmlowp), "-I", str(kernels), str(src), "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.strip() == "0"
