/* FULLY_CONNECTED int8, dense weights. */
#include "smcu_fixedpoint.h"
#include "smcu_fully_connected.h"

void smcu_fully_connected_s8_dense(const smcu_fully_connected_ref_params_t *p, const int8_t *input, int8_t *output) {
  for (int32_t b = 0; b < p->c.batches; ++b, input += p->c.in_features) {
    const int8_t *w = p->weights;
    for (int32_t o = 0; o < p->c.out_features; ++o, w += p->c.in_features) {
      int32_t acc = 0;
      for (int32_t i = 0; i < p->c.in_features; ++i) {
        acc += (input[i] + p->c.input_offset) * w[i];
      }
      acc += p->bias[o];
      acc = smcu_multiply_by_quantized_multiplier(acc, p->mult[o], p->shift[o]);
      acc += p->c.output_offset;
      *output++ = (int8_t)smcu_clamp_i32(acc, p->c.act_min, p->c.act_max);
    }
  }
}
