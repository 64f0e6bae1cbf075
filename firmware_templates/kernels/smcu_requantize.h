/* QUANTIZE int8 -> int8 (requantisation, as TFLM's reference Requantize): centre on the input zero
 * point, multiply by input_scale / output_scale, add the output zero point, saturate. */
#ifndef SMCU_REQUANTIZE_H
#define SMCU_REQUANTIZE_H

#include <stdint.h>

typedef struct {
  int32_t size;
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t mult, shift; /* QuantizeMultiplier(input_scale / output_scale) */
} smcu_requantize_params_t;

void smcu_requantize_s8_generic(const smcu_requantize_params_t *p, const int8_t *input, int8_t *output);

#endif /* SMCU_REQUANTIZE_H */
