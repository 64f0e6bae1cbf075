/* CONV_2D, int8 per-channel (TFLite int8 quantisation spec), NHWC, batch 1. */
#ifndef SMCU_CONV2D_H
#define SMCU_CONV2D_H

#include <stdint.h>

typedef struct {
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
  int32_t input_offset;  /* -input zero point */
  int32_t output_offset; /* output zero point */
  int32_t act_min, act_max;
  const int8_t *weights;     /* dense: [out_c][k_h][k_w][in_c]; rle: entry values (export/encoder.py) */
  int32_t rle_entries;       /* rle: number of entries in the layer's stream; dense: 0 */
  const uint8_t *rle_skip;   /* rle: zeros skipped before each entry; dense: NULL */
  const int32_t *bias;       /* [out_c] */
  const int32_t *mult;       /* [out_c] Q31 multipliers */
  const int32_t *shift;      /* [out_c] */
} smcu_conv2d_params_t;

void smcu_conv2d_s8_dense(const smcu_conv2d_params_t *p, const int8_t *input, int8_t *output);
void smcu_conv2d_s8_rle(const smcu_conv2d_params_t *p, const int8_t *input, int8_t *output);

#endif /* SMCU_CONV2D_H */
