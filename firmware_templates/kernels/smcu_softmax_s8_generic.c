/* SOFTMAX int8 -> int8 in gemmlowp-style fixed point (no floats, no tables). */
#include "smcu_fixedpoint.h"
#include "smcu_softmax.h"

#define SMCU_SOFTMAX_DIFF_INTEGER_BITS 5  /* exp() input in Q5.26 */
#define SMCU_SOFTMAX_ACCUM_INTEGER_BITS 12 /* sum of exps in Q12.19 */

/* exp(beta * input_scale * diff) in Q0.31 for diff in [diff_min, 0]. */
static int32_t smcu_softmax_exp(const smcu_softmax_params_t *p, int32_t diff) {
  const int32_t scaled = smcu_sat_rounding_doubling_high_mul((int32_t)((uint32_t)diff << p->input_left_shift),
                                                             p->input_mult);
  return smcu_exp_on_negative_values(scaled, SMCU_SOFTMAX_DIFF_INTEGER_BITS);
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
            sum_of_exps, smcu_sat_rounding_mul_by_pot(smcu_softmax_exp(p, diff), -SMCU_SOFTMAX_ACCUM_INTEGER_BITS));
      }
    }
    int32_t num_bits_over_unit;
    const int32_t reciprocal = smcu_get_reciprocal(sum_of_exps, SMCU_SOFTMAX_ACCUM_INTEGER_BITS, &num_bits_over_unit);
    const int32_t exponent = num_bits_over_unit + 31 - 8;
    for (int32_t c = 0; c < p->depth; ++c) {
      const int32_t diff = input[c] - max;
      if (diff >= p->diff_min) {
        const int32_t prob = smcu_rounding_divide_by_pot(
            smcu_sat_rounding_doubling_high_mul(reciprocal, smcu_softmax_exp(p, diff)), exponent);
        output[c] = (int8_t)smcu_clamp_i32(prob + SMCU_INT8_MIN, SMCU_INT8_MIN, SMCU_INT8_MAX);
      } else {
        output[c] = (int8_t)SMCU_INT8_MIN;
      }
    }
  }
}
