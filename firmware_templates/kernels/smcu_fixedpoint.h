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

/* The int8 output of a weighted op: requantise the int32 accumulator (bias already added),
 * add the output zero point, clamp to the fused activation range. */
static inline int8_t smcu_requantize_to_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset,
                                           int32_t act_min, int32_t act_max) {
  acc = smcu_multiply_by_quantized_multiplier(acc, multiplier, shift) + output_offset;
  return (int8_t)smcu_clamp_i32(acc, act_min, act_max);
}

/* ADD's variant: shift <= 0 always (TFLite MultiplyByQuantizedMultiplierSmallerThanOneExp). */
static inline int32_t smcu_multiply_by_quantized_multiplier_smaller_than_one(int32_t x, int32_t multiplier,
                                                                             int32_t shift) {
  return smcu_rounding_divide_by_pot(smcu_sat_rounding_doubling_high_mul(x, multiplier), -shift);
}

/* ---- gemmlowp-style fixed point (Q format by integer bits), used by SOFTMAX ---------------------
 * Raw int32 values; "Qn" = n integer bits, 31 - n fractional bits. Written from the gemmlowp
 * fixed-point specification (exp on negative values by a Taylor series around -1/8 plus a barrel
 * shifter of exp(-2^k) constants; 1/(1+x) by three Newton-Raphson steps), so that results match
 * TFLite's reference int8 softmax bit for bit. */

/* Wrapping add / subtract (gemmlowp's raw int32 arithmetic; no signed-overflow UB in C). */
static inline int32_t smcu_wrap_add_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t smcu_wrap_sub_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

/* Count of leading zero bits of a 32-bit value (32 for 0). */
static inline int32_t smcu_clz_u32(uint32_t x) {
  int32_t n = 0;
  if (x == 0u) {
    return 32;
  }
  while ((x & UINT32_C(0x80000000)) == 0u) {
    x <<= 1;
    ++n;
  }
  return n;
}

/* (a + b) / 2 rounded to nearest, ties away from zero. */
static inline int32_t smcu_rounding_half_sum(int32_t a, int32_t b) {
  const int64_t sum = (int64_t)a + (int64_t)b;
  return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* x * 2^exponent: saturating for exponent > 0, rounding (to nearest) for exponent < 0. */
static inline int32_t smcu_sat_rounding_mul_by_pot(int32_t x, int32_t exponent) {
  if (exponent > 0) {
    const int32_t threshold = (int32_t)((UINT32_C(1) << (31 - exponent)) - 1u);
    if (x > threshold) {
      return INT32_MAX;
    }
    if (x < -threshold) {
      return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
  }
  if (exponent < 0) {
    return smcu_rounding_divide_by_pot(x, -exponent);
  }
  return x;
}

/* exp(a) for a in [-1/4, 0), a and the result in Q0. */
static inline int32_t smcu_exp_on_interval_neg_quarter_to_0(int32_t a) {
  const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) in Q0 */
  const int32_t one_third = 715827883;             /* 1/3 in Q0 */
  const int32_t x = smcu_wrap_add_i32(a, INT32_C(1) << 28); /* a + 1/8 */
  const int32_t x2 = smcu_sat_rounding_doubling_high_mul(x, x);
  const int32_t x3 = smcu_sat_rounding_doubling_high_mul(x2, x);
  const int32_t x4 = smcu_sat_rounding_doubling_high_mul(x2, x2);
  const int32_t x4_over_4 = smcu_sat_rounding_mul_by_pot(x4, -2);
  const int32_t poly = smcu_sat_rounding_mul_by_pot(
      smcu_wrap_add_i32(smcu_sat_rounding_doubling_high_mul(smcu_wrap_add_i32(x4_over_4, x3), one_third), x2), -1);
  return smcu_wrap_add_i32(exp_minus_one_eighth,
                           smcu_sat_rounding_doubling_high_mul(exp_minus_one_eighth, smcu_wrap_add_i32(x, poly)));
}

/* exp(a) for a <= 0; a in Q(integer_bits) (1 <= integer_bits <= 30), result in Q0. */
static inline int32_t smcu_exp_on_negative_values(int32_t a, int32_t integer_bits) {
  static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int32_t frac_bits = 31 - integer_bits;
  const int32_t one_quarter = INT32_C(1) << (frac_bits - 2);
  const int32_t a_mod_quarter_minus_quarter = smcu_wrap_sub_i32(a & (one_quarter - 1), one_quarter);
  int32_t result = smcu_exp_on_interval_neg_quarter_to_0(
      smcu_sat_rounding_mul_by_pot(a_mod_quarter_minus_quarter, integer_bits));
  const int32_t remainder = smcu_wrap_sub_i32(a_mod_quarter_minus_quarter, a);
  for (int32_t k = -2; k <= 4; ++k) { /* multiply by exp(-2^k) for every set bit of -a above 1/4 */
    if (integer_bits > k && (remainder & (int32_t)(UINT32_C(1) << (frac_bits + k))) != 0) {
      result = smcu_sat_rounding_doubling_high_mul(result, barrel[k + 2]);
    }
  }
  if (integer_bits > 5) {
    const int32_t clamp = -(INT32_C(1) << (36 - integer_bits)); /* -32 */
    if (a < clamp) {
      result = 0;
    }
  }
  return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1); a and the result in Q0. */
static inline int32_t smcu_one_over_one_plus_x_for_x_in_0_1(int32_t a) {
  const int32_t half_denominator = smcu_rounding_half_sum(a, INT32_MAX);
  const int32_t c48_over_17 = 1515870810;      /* 48/17 in Q2 */
  const int32_t c_neg32_over_17 = -1010580540; /* -32/17 in Q2 */
  const int32_t one_q2 = INT32_C(1) << 29;
  int32_t x = smcu_wrap_add_i32(c48_over_17, smcu_sat_rounding_doubling_high_mul(half_denominator, c_neg32_over_17));
  for (int32_t i = 0; i < 3; ++i) {
    const int32_t hd_x = smcu_sat_rounding_doubling_high_mul(half_denominator, x);
    const int32_t one_minus_hd_x = smcu_wrap_sub_i32(one_q2, hd_x);
    x = smcu_wrap_add_i32(x, smcu_sat_rounding_mul_by_pot(smcu_sat_rounding_doubling_high_mul(x, one_minus_hd_x), 2));
  }
  return smcu_sat_rounding_mul_by_pot(x, 1); /* x / 2 in Q1, rescaled to Q0 */
}

/* 1 / x for x > 0 in Q(x_integer_bits): returns a Q0 value r and *num_bits_over_unit = n with
 * 1/x = r * 2^-n (TFLite GetReciprocal). */
static inline int32_t smcu_get_reciprocal(int32_t x, int32_t x_integer_bits, int32_t *num_bits_over_unit) {
  const int32_t headroom_plus_one = smcu_clz_u32((uint32_t)x);
  *num_bits_over_unit = x_integer_bits - headroom_plus_one;
  const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)x << headroom_plus_one) - (UINT32_C(1) << 31));
  return smcu_one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
}

#endif /* SMCU_FIXEDPOINT_H */
