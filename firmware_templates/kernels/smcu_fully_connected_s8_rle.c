/* FULLY_CONNECTED int8, run-length sparse weights: only non-zero weights are visited. */
#include "smcu_fixedpoint.h"
#include "smcu_fully_connected.h"

void smcu_fully_connected_s8_rle(const smcu_fully_connected_params_t *p, const int8_t *input, int8_t *output) {
  for (int32_t b = 0; b < p->batches; ++b, input += p->in_features) {
    const int8_t *value = p->weights;
    const uint8_t *skip = p->rle_skip;
    for (int32_t o = 0; o < p->out_features; ++o) {
      int32_t acc = 0;
      int32_t pos = 0;
      for (int32_t e = p->rle_count[o]; e > 0; --e) {
        pos += *skip++;
        acc += (input[pos] + p->input_offset) * (*value++);
        ++pos;
      }
      acc += p->bias[o];
      acc = smcu_multiply_by_quantized_multiplier(acc, p->mult[o], p->shift[o]);
      acc += p->output_offset;
      *output++ = (int8_t)smcu_clamp_i32(acc, p->act_min, p->act_max);
    }
  }
}
