/* MEAN, int8, over one contiguous run of axes: the input is viewed as [outer][reduce][inner] and
 * the output as [outer][inner] (global average pooling of NHWC: outer = N, reduce = H*W, inner = C).
 * TFLM's QuantizedMeanOrSum: int32 sum, minus input_zp * reduce, times a multiplier that folds
 * input_scale / output_scale and 1 / reduce (computed at export time), plus output_zp. */
#ifndef SMCU_MEAN_H
#define SMCU_MEAN_H

#include <stdint.h>

#include "smcu_simd.h"

typedef struct {
  int32_t outer, reduce, inner;
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t mult;  /* Q31 multiplier of (input_scale / output_scale) / reduce */
  int32_t shift;
} smcu_mean_params_t;

void smcu_mean_s8_generic(const smcu_mean_params_t *p, const int8_t *input, int8_t *output);

/* Variant "fast": sums 16 (then 4) of the inner elements at a time in 16-bit lanes (SXTAB16, chunks
 * of 256 reduced elements widened to int32), then the requantisation in one rounding step
 * (smcu_requant_fused; rq.bias = -input_zero_point * reduce), four results a word. Proposed where
 * export/quant.py fused_requant_table finds that step exact. */
typedef struct {
  int32_t outer, reduce, inner;
  smcu_requant_t rq;
} smcu_mean_fast_params_t;

void smcu_mean_s8_fast(const smcu_mean_fast_params_t *p, const int8_t *input, int8_t *output);

#endif /* SMCU_MEAN_H */
