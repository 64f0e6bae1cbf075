/* ADD, int8 (TFLite's recipe): both inputs are centred, shifted left by left_shift (20), rescaled to
 * twice the larger input scale (multipliers < 1), summed, rescaled to the output, offset, clamped. */
#ifndef SMCU_ADD_H
#define SMCU_ADD_H

#include <stdint.h>

#include "smcu_fixedpoint.h"

typedef struct {
  int32_t size;                   /* output elements */
  /* broadcast variant only: output shape extended to rank 4, and each input's element strides
   * along those dimensions (0 where the input is broadcast) */
  int32_t dim0, dim1, dim2, dim3;
  int32_t in1_stride0, in1_stride1, in1_stride2, in1_stride3;
  int32_t in2_stride0, in2_stride1, in2_stride2, in2_stride3;
  int32_t left_shift;
  int32_t input1_offset;          /* -input1 zero point */
  int32_t input1_mult, input1_shift;
  int32_t input2_offset;          /* -input2 zero point */
  int32_t input2_mult, input2_shift;
  int32_t output_offset;          /* output zero point */
  int32_t output_mult, output_shift;
  int32_t act_min, act_max;
} smcu_add_params_t;

/* One output element (shared by the variants). */
static inline int8_t smcu_add_one(const smcu_add_params_t *p, int32_t x1, int32_t x2) {
  const int32_t shifted1 = (x1 + p->input1_offset) * (INT32_C(1) << p->left_shift);
  const int32_t shifted2 = (x2 + p->input2_offset) * (INT32_C(1) << p->left_shift);
  const int32_t scaled1 = smcu_multiply_by_quantized_multiplier_smaller_than_one(shifted1, p->input1_mult, p->input1_shift);
  const int32_t scaled2 = smcu_multiply_by_quantized_multiplier_smaller_than_one(shifted2, p->input2_mult, p->input2_shift);
  const int32_t out = smcu_multiply_by_quantized_multiplier_smaller_than_one(scaled1 + scaled2, p->output_mult,
                                                                              p->output_shift) + p->output_offset;
  return (int8_t)smcu_clamp_i32(out, p->act_min, p->act_max);
}

/* Both inputs have the output's shape. */
void smcu_add_s8_elementwise(const smcu_add_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);
/* Numpy-style broadcasting (shapes aligned on the right, rank <= 4). */
void smcu_add_s8_broadcast(const smcu_add_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);

/* Variant "fast" (equal shapes): one int32 table per input, indexed by the input's byte, holds
 * everything that depends on that input alone (export/quant.py add_fast_tables, checked there on
 * all 65536 input pairs against the recipe above). mode 0: out = SSAT8((t1[x1] + t2[x2]) >> 12);
 * mode 1: acc = t1[x1] + t2[x2] (twice TFLite's scaled sum), out = SSAT8((SMMLAR(acc, mult, round)
 * - (acc < 0)) >> shift), TFLite's output rescale in one rounding step. Then the activation clamp. */
typedef struct {
  int32_t size;          /* elements */
  const int32_t *table1; /* [256], by (uint8_t)input1 */
  const int32_t *table2; /* [256], by (uint8_t)input2 */
  int32_t mode;          /* 0: table sums are the output in Q12; 1: requantise with mult/round/shift */
  int32_t mult, round, shift;
  int32_t act_min, act_max;
} smcu_add_fast_params_t;

void smcu_add_s8_fast(const smcu_add_fast_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);

#endif /* SMCU_ADD_H */
