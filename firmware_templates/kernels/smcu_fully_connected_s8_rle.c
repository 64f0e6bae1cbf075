/* FULLY_CONNECTED int8, run-length sparse weights: only non-zero weights are visited.
 *
 * The layer's weights are one stream of (skip, value) entries over the rows
 * [out_features][in_features] laid end to end (export/encoder.py). */
#include "smcu_fixedpoint.h"
#include "smcu_fully_connected.h"

void smcu_fully_connected_s8_rle(const smcu_fully_connected_params_t *p, const int8_t *input, int8_t *output) {
  for (int32_t b = 0; b < p->batches; ++b, input += p->in_features) {
    const int8_t *value = p->weights;
    const uint8_t *skip = p->rle_skip;
    int32_t o = 0, pos = 0; /* row and column of the next weight */
    int32_t acc = 0;
    for (int32_t e = p->rle_entries; e > 0; --e) {
      pos += *skip++;
      while (pos >= p->in_features) { /* row done: output o is complete */
        pos -= p->in_features;
        *output++ = smcu_requantize_to_s8(acc + p->bias[o], p->mult[o], p->shift[o], p->output_offset, p->act_min,
                                          p->act_max);
        acc = 0;
        ++o;
      }
      acc += (input[pos] + p->input_offset) * (*value++);
      ++pos;
    }
    for (; o < p->out_features; ++o) {
      *output++ = smcu_requantize_to_s8(acc + p->bias[o], p->mult[o], p->shift[o], p->output_offset, p->act_min,
                                        p->act_max);
      acc = 0;
    }
  }
}
