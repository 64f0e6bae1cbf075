"""The C fixed-point primitives (smcu_fixedpoint.h) equal the spec's definitions, edge cases included."""
import subprocess

import numpy as np

from sparsemcu.export import quant
from sparsemcu.export.codegen import KERNELS_DIR

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
    (tmp_path / "t.c").write_text(PROGRAM)
    exe = tmp_path / "t"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Werror", "-I", str(KERNELS_DIR), str(tmp_path / "t.c"),
                    "-o", str(exe)], check=True)
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
    text = "\n".join(f"{x} {m} {s}" for x, m, s in cases)
    out = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True).stdout.split()
    expected = [quant.multiply_by_quantized_multiplier(x, m, s) for x, m, s in cases]
    assert [int(v) for v in out] == expected


def test_quantize_multiplier_reconstructs_the_real_multiplier():
    for real in (1e-5, 0.0123, 0.5, 0.75, 0.999999999, 1.0, 3.7):
        q, shift = quant.quantize_multiplier(real)
        assert 2**30 <= q < 2**31
        assert abs(q * 2.0 ** (shift - 31) - real) <= real * 2**-30


def test_round_half_away_from_zero():
    assert [quant.round_half_away(v) for v in (0.5, 1.5, 2.5, -0.5, -2.5, 2.4999)] == [1, 2, 3, -1, -3, 2]
    np.testing.assert_array_equal(quant.quantize_input(np.array([0.5, 1.5, -0.5, 300.0, -300.0]), 1.0, 0),
                                  np.array([1, 2, -1, 127, -128], np.int8))
