/* MAX_POOL_2D and AVERAGE_POOL_2D, int8, NHWC, batch 1 (input and output share the
 * quantisation, as TFLite requires). Windows at the border cover only their in-image
 * elements; AVERAGE divides by that count, rounded half away from zero (TFLite's int8 rule). */
#ifndef SMCU_POOL2D_H
#define SMCU_POOL2D_H

#include <stdint.h>

typedef struct {
  int32_t in_h, in_w, channels;
  int32_t out_h, out_w;
  int32_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
  int32_t act_min, act_max;
} smcu_pool2d_params_t;

void smcu_max_pool2d_s8_generic(const smcu_pool2d_params_t *p, const int8_t *input, int8_t *output);
void smcu_avg_pool2d_s8_generic(const smcu_pool2d_params_t *p, const int8_t *input, int8_t *output);

#endif /* SMCU_POOL2D_H */
