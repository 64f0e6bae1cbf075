/* MEAN, int8, over one contiguous run of axes: the input is viewed as [outer][reduce][inner] and
 * the output as [outer][inner] (global average pooling of NHWC: outer = N, reduce = H*W, inner = C).
 * TFLM's QuantizedMeanOrSum: int32 sum, minus input_zp * reduce, times a multiplier that folds
 * input_scale / output_scale and 1 / reduce (computed at export time), plus output_zp. */
#ifndef SMCU_MEAN_H
#define SMCU_MEAN_H

#include <stdint.h>

typedef struct {
  int32_t outer, reduce, inner;
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t mult;  /* Q31 multiplier of (input_scale / output_scale) / reduce */
  int32_t shift;
} smcu_mean_params_t;

void smcu_mean_s8_generic(const smcu_mean_params_t *p, const int8_t *input, int8_t *output);

#endif /* SMCU_MEAN_H */
