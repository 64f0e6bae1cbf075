/*
 * sparsemcu int8 kernels: fixed-point primitives of the TFLite int8 quantisation spec.
 *
 * Written from the spec (gemmlowp / TFLite "MultiplyByQuantizedMultiplier" with double
 * rounding, as TFLM's reference kernels use it), so that every kernel computes exactly
 * what TFLM computes. Plain C99, no allocation.
 */
#ifndef SMCU_FIXEDPOINT_H
#define SMCU_FIXEDPOINT_H

#include <stdint.h>

#define SMCU_INT8_MIN (-128)
#define SMCU_INT8_MAX 127

static inline int32_t smcu_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static inline int32_t smcu_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t smcu_clamp_i32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* (a * b * 2) >> 32 with round-to-nearest, saturating the one overflow case. */
static inline int32_t smcu_sat_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) {
    return INT32_MAX;
  }
  const int64_t ab = (int64_t)a * (int64_t)b;
  const int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : (INT64_C(1) - (INT64_C(1) << 30));
  return (int32_t)((ab + nudge) / (INT64_C(1) << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero. */
static inline int32_t smcu_rounding_divide_by_pot(int32_t x, int32_t exponent) {
  const int32_t mask = (int32_t)((UINT32_C(1) << exponent) - 1u);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^shift, multiplier a Q31 in [2^30, 2^31). */
static inline int32_t smcu_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left_shift = shift > 0 ? shift : 0;
  const int32_t right_shift = shift > 0 ? 0 : -shift;
  const int32_t shifted = (int32_t)((uint32_t)x << left_shift);
  return smcu_rounding_divide_by_pot(smcu_sat_rounding_doubling_high_mul(shifted, multiplier), right_shift);
}

/* ADD's variant: shift <= 0 always (TFLite MultiplyByQuantizedMultiplierSmallerThanOneExp). */
static inline int32_t smcu_multiply_by_quantized_multiplier_smaller_than_one(int32_t x, int32_t multiplier,
                                                                             int32_t shift) {
  return smcu_rounding_divide_by_pot(smcu_sat_rounding_doubling_high_mul(x, multiplier), -shift);
}

#endif /* SMCU_FIXEDPOINT_H */
