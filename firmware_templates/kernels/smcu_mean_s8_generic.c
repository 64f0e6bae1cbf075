/* MEAN int8 (reduce the middle dimension of [outer][reduce][inner]). */
#include "smcu_fixedpoint.h"
#include "smcu_mean.h"

void smcu_mean_s8_generic(const smcu_mean_params_t *p, const int8_t *input, int8_t *output) {
  const int64_t zero_point_sum = (int64_t)p->input_zero_point * p->reduce;
  for (int32_t o = 0; o < p->outer; ++o) {
    const int8_t *block = input + o * p->reduce * p->inner;
    for (int32_t i = 0; i < p->inner; ++i) {
      int32_t sum = 0;
      for (int32_t r = 0; r < p->reduce; ++r) {
        sum += block[r * p->inner + i];
      }
      const int32_t centred = (int32_t)((int64_t)sum - zero_point_sum);
      int32_t acc = smcu_multiply_by_quantized_multiplier(centred, p->mult, p->shift);
      acc += p->output_zero_point;
      *output++ = (int8_t)smcu_clamp_i32(acc, SMCU_INT8_MIN, SMCU_INT8_MAX);
    }
  }
}
