/* SOFTMAX int8 -> int8 over the last dimension (output scale 1/256, zero point -128), as TFLite's
 * reference quantized softmax: input differences to the row maximum are scaled by beta * input_scale
 * into Q5.26, exponentiated in fixed point (Q0.31), summed in Q12.19, and the sum's reciprocal
 * scales each exponential to the output. All scalars are derived at export time. */
#ifndef SMCU_SOFTMAX_H
#define SMCU_SOFTMAX_H

#include <stdint.h>

typedef struct {
  int32_t outer, depth;     /* rows, elements per row */
  int32_t input_mult;       /* Q31 multiplier of beta * input_scale * 2^26 (PreprocessSoftmaxScaling) */
  int32_t input_left_shift; /* its left shift (>= 0) */
  int32_t diff_min;         /* differences below this contribute exp() = 0 (-CalculateInputRadius) */
} smcu_softmax_params_t;

void smcu_softmax_s8_generic(const smcu_softmax_params_t *p, const int8_t *input, int8_t *output);

#endif /* SMCU_SOFTMAX_H */
