"""The C fixed-point primitives (smcu_fixedpoint.h) equal the spec's definitions, edge cases included."""

import numpy as np

from harness import random_requant_channel, run_c_lines, tie_accumulator
from sparsemcu.export import quant

PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include "smcu_fixedpoint.h"
int main(void) {
  long long x, m, s;
  while (scanf("%lld %lld %lld", &x, &m, &s) == 3) {
    printf("%ld\n", (long)smcu_multiply_by_quantized_multiplier((int32_t)x, (int32_t)m, (int32_t)s));
  }
  return 0;
}
"""


def test_multiply_by_quantized_multiplier_matches_spec(tmp_path):
    rng = np.random.default_rng(0)
    cases = []
    for real in np.exp(rng.uniform(np.log(1e-6), np.log(4.0), size=300)):
        mult, shift = quant.quantize_multiplier(float(real))
        for x in (int(rng.integers(-2**20, 2**20)), int(rng.integers(-2**31, 2**31 - 1) >> 3), 0, 1, -1):
            if shift > 0:
                x >>= shift  # keep x * 2^shift inside int32, as real accumulators are
            cases.append((x, mult, shift))
    cases += [(-(2**31), 2**31 - 1, 0), (-(2**31), -(2**31), 0), (12345, 1 << 30, -31), (-7, 1 << 30, -1),
              (7, 1 << 30, -1), (-5, 1 << 30, -1), (5, 1 << 30, -1)]
    out = run_c_lines(PROGRAM, [f"{x} {m} {s}" for x, m, s in cases], tmp_path)
    assert out == [quant.multiply_by_quantized_multiplier(x, m, s) for x, m, s in cases]


def test_quantize_multiplier_reconstructs_the_real_multiplier():
    for real in (1e-5, 0.0123, 0.5, 0.75, 0.999999999, 1.0, 3.7):
        q, shift = quant.quantize_multiplier(real)
        assert 2**30 <= q < 2**31
        assert abs(q * 2.0 ** (shift - 31) - real) <= real * 2**-30


def test_round_half_away_from_zero():
    assert [quant.round_half_away(v) for v in (0.5, 1.5, 2.5, -0.5, -2.5, 2.4999)] == [1, 2, 3, -1, -3, 2]
    np.testing.assert_array_equal(quant.quantize_input(np.array([0.5, 1.5, -0.5, 300.0, -300.0]), 1.0, 0),
                                  np.array([1, 2, -1, 127, -128], np.int8))


FUSED_PROGRAM = r"""
#include <stdio.h>
#include "smcu_simd.h"
int main(void) {
  long long acc, m, lo, hi, s;
  while (scanf("%lld %lld %lld %lld %lld", &acc, &m, &lo, &hi, &s) == 5) {
    printf("%ld\n", (long)smcu_requant_fused((int32_t)acc, (int32_t)m, (int32_t)lo, (int32_t)hi, (int32_t)s));
  }
  return 0;
}
"""


def test_fused_requantisation_equals_the_two_step_spec(tmp_path):
    """smcu_requant_fused (one 64-bit rounding, output zero point folded in) == TFLite's
    MultiplyByQuantizedMultiplier + offset, for every channel fused_requant_table accepts: random
    multipliers, ties of both roundings, the largest accumulators the weights allow, all-zero rows."""
    rng = np.random.default_rng(1)
    lines, expected = [], []
    for trial in range(400):
        k, rows, mult, shift, bias, in_off, out_off = random_requant_channel(rng, trial, 600)
        table = quant.fused_requant_table(np.array([bias]), rows, in_off, np.array([mult]), np.array([shift]), out_off)
        assert table is not None, (mult, shift, k)
        folded = int(table[0, 0])  # bias + in_off * sum(row): the kernel's accumulator starts there
        bound = abs(folded) + 128 * int(np.abs(rows).sum())  # |accumulator| for any int8 input
        for _ in range(20):
            x = rng.integers(-128, 128, size=k)
            acc_ref = bias + int(((x + in_off) * rows[0]).sum())  # the reference kernel's accumulator
            acc_fused = folded + int((x * rows[0]).sum()) if rows.any() else 0
            if rng.random() < 0.3 and rows.any():  # aim at a tie of the second rounding
                acc_fused = tie_accumulator(rng, mult, shift, bound)
                acc_ref = acc_fused - folded + bias + in_off * int(rows[0].sum())
            want = quant.multiply_by_quantized_multiplier(acc_ref, mult, shift) + out_off
            expected.append(want)
            lines.append(" ".join(str(int(v)) for v in (acc_fused, *table[0, 1:])))
            assert quant.fused_requant_reference(acc_fused, table[0]) == want
    assert run_c_lines(FUSED_PROGRAM, lines, tmp_path) == expected


def test_fused_requantisation_declines_what_it_cannot_do_exactly():
    rows = np.ones((1, 9), np.int64)
    m, s = quant.quantize_multiplier(0.7)  # a multiplier >= 0.5: no right shift
    assert quant.fused_requant_table(np.array([0]), rows, 0, np.array([m]), np.array([s]), 0) is None


SMMLAR_PROGRAM = r"""
#include <stdio.h>
#include "smcu_simd.h"
int main(void) {
  long long acc2, m, hi, s;
  while (scanf("%lld %lld %lld %lld", &acc2, &m, &hi, &s) == 4) {
    printf("%ld\n", (long)smcu_requant_smmlar((int32_t)acc2, (int32_t)m, (int32_t)hi, (int32_t)s));
  }
  return 0;
}
"""


def test_smmlar_requantisation_equals_the_two_step_spec(tmp_path):
    """smcu_requant_smmlar on the doubled accumulator (smcu_conv2d_s8_simd) == TFLite's
    MultiplyByQuantizedMultiplier + offset, for every channel smmlar_requant_table accepts: random
    multipliers, ties of both roundings, the largest accumulators of either sign, all-zero rows."""
    rng = np.random.default_rng(2)
    lines, expected = [], []
    for trial in range(400):
        k, rows, mult, shift, bias, in_off, out_off = random_requant_channel(rng, trial, 600, weight_low=-128)
        table = quant.smmlar_requant_table(np.array([bias]), rows, in_off, np.array([mult]), np.array([shift]),
                                           out_off)
        assert table is not None, (mult, shift, k)
        folded2 = int(table[0, 0])  # 2 * (bias + in_off * sum(row)): the kernel's accumulator starts there
        bound = abs(folded2 // 2) + 128 * int(np.abs(rows).sum())  # |accumulator| for any int8 input
        accs = [folded2 // 2 + int((rng.integers(-128, 128, size=k) * rows[0]).sum()) for _ in range(16)]
        accs += [bound, -bound, 0, -1, 1]
        if rows.any():  # aim at ties of the second rounding
            accs += [tie_accumulator(rng, mult, shift, bound) for _ in range(8)]
        for acc in accs:
            acc_ref = acc - folded2 // 2 + bias + in_off * int(rows[0].sum())  # the reference kernel's
            want = quant.multiply_by_quantized_multiplier(acc_ref, mult, shift) + out_off if rows.any() else \
                quant.multiply_by_quantized_multiplier(bias, mult, shift) + out_off
            acc2 = 2 * acc if rows.any() else 0
            expected.append(want)
            lines.append(" ".join(str(int(v)) for v in (acc2, *table[0, 1:])))
            assert quant.smmlar_requant_reference(acc2, table[0]) == want
    assert run_c_lines(SMMLAR_PROGRAM, lines, tmp_path) == expected


def test_smmlar_requantisation_declines_what_it_cannot_do_exactly():
    m, s = quant.quantize_multiplier(0.01)
    big = np.full((1, 70000), 127, np.int64)  # 128 * 70000 * 127 > 2^30: 2 * acc could overflow int32
    assert quant.fused_requant_table(np.array([0]), big, 0, np.array([m]), np.array([s]), 0) is not None
    assert quant.smmlar_requant_table(np.array([0]), big, 0, np.array([m]), np.array([s]), 0) is None
    assert quant.smmlar_requant_table(np.array([0]), big[:, :100], 0, np.array([m]), np.array([s]), 0) is not None
