/* PAD int8: walk the output in order; copy input rows, fill the rest with the pad value. */
#include "smcu_pad.h"

void smcu_pad_s8_generic(const smcu_pad_params_t *p, const int8_t *input, int8_t *output) {
  const int8_t pad = (int8_t)p->pad_value;
  for (int32_t a = 0; a < p->out_d0; ++a) {
    const int32_t ia = a - p->pad0;
    for (int32_t b = 0; b < p->out_d1; ++b) {
      const int32_t ib = b - p->pad1;
      for (int32_t c = 0; c < p->out_d2; ++c) {
        const int32_t ic = c - p->pad2;
        const int inside = ia >= 0 && ia < p->in_d0 && ib >= 0 && ib < p->in_d1 && ic >= 0 && ic < p->in_d2;
        const int8_t *row = inside ? input + ((ia * p->in_d1 + ib) * p->in_d2 + ic) * p->in_d3 : input;
        for (int32_t d = 0; d < p->out_d3; ++d) {
          const int32_t id = d - p->pad3;
          *output++ = (inside && id >= 0 && id < p->in_d3) ? row[id] : pad;
        }
      }
    }
  }
}
