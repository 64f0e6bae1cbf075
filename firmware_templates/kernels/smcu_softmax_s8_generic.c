/* SOFTMAX int8 -> int8 in gemmlowp-style fixed point (no floats, no tables).
 * Written for code size (a softmax runs once per inference over a few classes): the fixed-point
 * primitives of smcu_fixedpoint.h are called through out-of-line wrappers, and exp() and 1/(1+x)
 * follow the header's gemmlowp formulas with those wrappers (exp for the input's 5 integer bits). */
#include "smcu_fixedpoint.h"
#include "smcu_softmax.h"

#define SMCU_SOFTMAX_DIFF_INTEGER_BITS 5  /* exp() input in Q5.26 */
#define SMCU_SOFTMAX_ACCUM_INTEGER_BITS 12 /* sum of exps in Q12.19 */

#if defined(__GNUC__)
#define SMCU_SOFTMAX_OUTLINE __attribute__((noinline))
#else
#define SMCU_SOFTMAX_OUTLINE
#endif

/* SaturatingRoundingDoublingHighMul */
static SMCU_SOFTMAX_OUTLINE int32_t smcu_softmax_mul(int32_t a, int32_t b) {
  return smcu_sat_rounding_doubling_high_mul(a, b);
}
/* x * 2^exponent, saturating (exponent > 0) or rounding (exponent <= 0): SaturatingRoundingMultiplyByPOT */
static SMCU_SOFTMAX_OUTLINE int32_t smcu_softmax_pot(int32_t x, int32_t exponent) {
  return smcu_sat_rounding_mul_by_pot(x, exponent);
}

/* exp(a) for a in [-1/4, 0), a and the result in Q0 (smcu_exp_on_interval_neg_quarter_to_0). */
static int32_t smcu_softmax_exp_quarter(int32_t a) {
  const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) in Q0 */
  const int32_t one_third = 715827883;             /* 1/3 in Q0 */
  const int32_t x = smcu_wrap_add_i32(a, INT32_C(1) << 28); /* a + 1/8 */
  const int32_t x2 = smcu_softmax_mul(x, x);
  const int32_t x3 = smcu_softmax_mul(x2, x);
  const int32_t x4_over_4 = smcu_softmax_pot(smcu_softmax_mul(x2, x2), -2);
  const int32_t poly = smcu_softmax_pot(
      smcu_wrap_add_i32(smcu_softmax_mul(smcu_wrap_add_i32(x4_over_4, x3), one_third), x2), -1);
  return smcu_wrap_add_i32(exp_minus_one_eighth, smcu_softmax_mul(exp_minus_one_eighth, smcu_wrap_add_i32(x, poly)));
}

/* exp(beta * input_scale * diff) in Q0.31 for diff in [diff_min, 0]: the scaled difference a in Q5.26,
 * then smcu_exp_on_negative_values(a, 5). */
static SMCU_SOFTMAX_OUTLINE int32_t smcu_softmax_exp(const smcu_softmax_params_t *p, int32_t diff) {
  static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int32_t a = smcu_softmax_mul((int32_t)((uint32_t)diff << p->input_left_shift), p->input_mult);
  const int32_t frac_bits = 31 - SMCU_SOFTMAX_DIFF_INTEGER_BITS;
  const int32_t one_quarter = INT32_C(1) << (frac_bits - 2);
  const int32_t a_mod_quarter_minus_quarter = smcu_wrap_sub_i32(a & (one_quarter - 1), one_quarter);
  int32_t result = smcu_softmax_exp_quarter(
      smcu_softmax_pot(a_mod_quarter_minus_quarter, SMCU_SOFTMAX_DIFF_INTEGER_BITS));
  const int32_t remainder = smcu_wrap_sub_i32(a_mod_quarter_minus_quarter, a);
  /* multiply by exp(-2^k) for every set bit k = -2..4 of -a above 1/4 (5 integer bits: all k < 5,
   * and no clamp below -32, which needs more than 5 integer bits) */
  for (int32_t k = 0; k < 7; ++k) {
    if ((remainder & (int32_t)(UINT32_C(1) << (frac_bits - 2 + k))) != 0) {
      result = smcu_softmax_mul(result, barrel[k]);
    }
  }
  return a == 0 ? INT32_MAX : result;
}

/* 1 / x for x > 0 in Q12.19: a Q0 value r and *num_bits_over_unit = n with 1/x = r * 2^-n (TFLite
 * GetReciprocal: smcu_get_reciprocal, and smcu_one_over_one_plus_x_for_x_in_0_1 for its 1/(1+a)). */
static int32_t smcu_softmax_reciprocal(int32_t x, int32_t *num_bits_over_unit) {
  const int32_t headroom_plus_one = smcu_clz_u32((uint32_t)x);
  const int32_t a = (int32_t)(((uint32_t)x << headroom_plus_one) - (UINT32_C(1) << 31));
  /* smcu_rounding_half_sum(a, INT32_MAX) for a in [0, 2^31): (a + 2^31) / 2 */
  const int32_t half_denominator = (int32_t)(((uint32_t)a >> 1) + (UINT32_C(1) << 30));
  const int32_t c48_over_17 = 1515870810;      /* 48/17 in Q2 */
  const int32_t c_neg32_over_17 = -1010580540; /* -32/17 in Q2 */
  const int32_t one_q2 = INT32_C(1) << 29;
  int32_t r = smcu_wrap_add_i32(c48_over_17, smcu_softmax_mul(half_denominator, c_neg32_over_17));
  *num_bits_over_unit = SMCU_SOFTMAX_ACCUM_INTEGER_BITS - headroom_plus_one;
  for (int32_t i = 0; i < 3; ++i) {
    const int32_t one_minus_hd_r = smcu_wrap_sub_i32(one_q2, smcu_softmax_mul(half_denominator, r));
    r = smcu_wrap_add_i32(r, smcu_softmax_pot(smcu_softmax_mul(r, one_minus_hd_r), 2));
  }
  return smcu_softmax_pot(r, 1); /* r / 2 in Q1, rescaled to Q0 */
}

void smcu_softmax_s8_generic(const smcu_softmax_params_t *p, const int8_t *input, int8_t *output) {
  for (int32_t row = 0; row < p->outer; ++row, input += p->depth, output += p->depth) {
    int32_t max = SMCU_INT8_MIN;
    for (int32_t c = 0; c < p->depth; ++c) {
      max = input[c] > max ? input[c] : max;
    }
    int32_t sum_of_exps = 0; /* Q12.19 */
    for (int32_t c = 0; c < p->depth; ++c) {
      const int32_t diff = input[c] - max;
      if (diff >= p->diff_min) {
        sum_of_exps = smcu_wrap_add_i32(
            sum_of_exps, smcu_softmax_pot(smcu_softmax_exp(p, diff), -SMCU_SOFTMAX_ACCUM_INTEGER_BITS));
      }
    }
    int32_t num_bits_over_unit;
    const int32_t reciprocal = smcu_softmax_reciprocal(sum_of_exps, &num_bits_over_unit);
    const int32_t exponent = num_bits_over_unit + 31 - 8;
    for (int32_t c = 0; c < p->depth; ++c) {
      const int32_t diff = input[c] - max;
      int32_t prob = 0;
      if (diff >= p->diff_min) {
        prob = smcu_softmax_pot(smcu_softmax_mul(reciprocal, smcu_softmax_exp(p, diff)), -exponent);
      }
      output[c] = (int8_t)smcu_clamp_i32(prob + SMCU_INT8_MIN, SMCU_INT8_MIN, SMCU_INT8_MAX);
    }
  }
}
