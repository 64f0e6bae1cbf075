/* FULLY_CONNECTED int8, run-length sparse weights: only non-zero weights are visited.
 *
 * The layer's weights are one stream of (skip, value) entries over the rows
 * [out_features][in_features] laid end to end (export/encoder.py). `pos` is the position
 * of the next entry (before its skip) relative to the start of the current row. */
#include "smcu_fixedpoint.h"
#include "smcu_fully_connected.h"

void smcu_fully_connected_s8_rle(const smcu_fully_connected_ref_params_t *p, const int8_t *input, int8_t *output) {
  for (int32_t b = 0; b < p->c.batches; ++b, input += p->c.in_features) {
    const int8_t *value = p->weights;
    const uint8_t *skip = p->rle_skip;
    int32_t entries = p->rle_entries;
    int32_t pos = 0;
    for (int32_t o = 0; o < p->c.out_features; ++o, pos -= p->c.in_features) {
      int32_t acc = p->bias[o];
      while (entries > 0 && pos + *skip < p->c.in_features) {
        pos += *skip++;
        acc += (input[pos] + p->c.input_offset) * (*value++);
        ++pos;
        --entries;
      }
      *output++ = smcu_requantize_to_s8(acc, p->mult[o], p->shift[o], p->c.output_offset, p->c.act_min, p->c.act_max);
    }
  }
}
