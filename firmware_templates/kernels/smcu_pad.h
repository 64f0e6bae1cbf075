/* PAD / PADV2, int8, rank <= 4 (shapes extended to rank 4 on the left). Elements outside the
 * input are the pad value: the output zero point (PAD) or the constant operand (PADV2). */
#ifndef SMCU_PAD_H
#define SMCU_PAD_H

#include <stdint.h>

typedef struct {
  int32_t in_d0, in_d1, in_d2, in_d3;     /* input shape */
  int32_t out_d0, out_d1, out_d2, out_d3; /* output shape */
  int32_t pad0, pad1, pad2, pad3;         /* leading pad of each dimension */
  int32_t pad_value;
} smcu_pad_params_t;

void smcu_pad_s8_generic(const smcu_pad_params_t *p, const int8_t *input, int8_t *output);

#endif /* SMCU_PAD_H */
