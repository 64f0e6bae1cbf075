/* ADD int8, both inputs of the output's shape. */
#include "smcu_add.h"
#include "smcu_fixedpoint.h"

void smcu_add_s8_elementwise(const smcu_add_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
  for (int32_t i = 0; i < p->size; ++i) {
    output[i] = smcu_add_one(p, input1[i], input2[i]);
  }
}
