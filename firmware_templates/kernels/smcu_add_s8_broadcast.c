/* ADD int8 with broadcasting: walk the rank-4 output, each input through its own strides. */
#include "smcu_add.h"
#include "smcu_fixedpoint.h"

void smcu_add_s8_broadcast(const smcu_add_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
  for (int32_t a = 0; a < p->dim0; ++a) {
    for (int32_t b = 0; b < p->dim1; ++b) {
      for (int32_t c = 0; c < p->dim2; ++c) {
        const int32_t base1 = a * p->in1_stride0 + b * p->in1_stride1 + c * p->in1_stride2;
        const int32_t base2 = a * p->in2_stride0 + b * p->in2_stride1 + c * p->in2_stride2;
        for (int32_t d = 0; d < p->dim3; ++d) {
          *output++ = smcu_add_one(p, input1[base1 + d * p->in1_stride3], input2[base2 + d * p->in2_stride3]);
        }
      }
    }
  }
}
