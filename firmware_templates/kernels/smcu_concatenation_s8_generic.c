/* CONCATENATION int8: interleave the inputs' blocks into the output. */
#include "smcu_concatenation.h"

void smcu_concatenation_s8_generic(const smcu_concatenation_params_t *p, const int8_t *const *inputs, int8_t *output) {
  for (int32_t o = 0; o < p->outer; ++o) {
    for (int32_t i = 0; i < p->num_inputs; ++i) {
      const int32_t n = p->block_size[i];
      const int8_t *src = inputs[i] + o * n;
      for (int32_t k = 0; k < n; ++k) {
        *output++ = src[k];
      }
    }
  }
}
