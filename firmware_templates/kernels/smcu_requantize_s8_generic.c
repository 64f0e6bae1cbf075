/* QUANTIZE int8 -> int8. */
#include "smcu_fixedpoint.h"
#include "smcu_requantize.h"

void smcu_requantize_s8_generic(const smcu_requantize_params_t *p, const int8_t *input, int8_t *output) {
  for (int32_t i = 0; i < p->size; ++i) {
    const int32_t v = smcu_multiply_by_quantized_multiplier(input[i] - p->input_zero_point, p->mult, p->shift) +
                      p->output_zero_point;
    output[i] = (int8_t)smcu_clamp_i32(v, SMCU_INT8_MIN, SMCU_INT8_MAX);
  }
}
