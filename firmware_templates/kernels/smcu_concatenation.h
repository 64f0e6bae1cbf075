/* CONCATENATION, int8, all inputs quantised like the output (a pure copy). The output is viewed as
 * [outer][sum of the inputs' blocks]; input i contributes block_size[i] contiguous elements to each
 * outer step (its extent along the axis times the product of the dimensions after the axis). */
#ifndef SMCU_CONCATENATION_H
#define SMCU_CONCATENATION_H

#include <stdint.h>

typedef struct {
  int32_t num_inputs;
  int32_t outer;              /* product of the dimensions before the axis */
  const int32_t *block_size;  /* [num_inputs] */
} smcu_concatenation_params_t;

void smcu_concatenation_s8_generic(const smcu_concatenation_params_t *p, const int8_t *const *inputs, int8_t *output);

#endif /* SMCU_CONCATENATION_H */
