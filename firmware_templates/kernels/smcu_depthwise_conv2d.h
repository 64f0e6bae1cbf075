/* DEPTHWISE_CONV_2D, int8 per-channel (TFLite int8 quantisation spec), NHWC, batch 1.
 * Output channel oc = ic * depth_mult + m reads input channel ic. */
#ifndef SMCU_DEPTHWISE_CONV2D_H
#define SMCU_DEPTHWISE_CONV2D_H

#include <stdint.h>

/* What every variant needs; each variant's struct starts with it (`c`). */
typedef struct {
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c; /* out_c = in_c * depth_mult */
  int32_t depth_mult;
  int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
  int32_t input_offset;  /* -input zero point */
  int32_t output_offset; /* output zero point */
  int32_t act_min, act_max;
} smcu_depthwise_conv2d_params_t;

/* dense and rle (scalar reference) */
typedef struct {
  smcu_depthwise_conv2d_params_t c;
  /* dense: [out_c][k_h][k_w] (TFLite's [1][k_h][k_w][out_c] transposed: one row per output channel);
   * rle: the entry values of those rows */
  const int8_t *weights;
  int32_t rle_entries;       /* rle: number of entries in the layer's stream; dense: 0 */
  const uint8_t *rle_skip;   /* rle: zeros skipped before each entry; dense: NULL */
  const int32_t *bias;       /* [out_c] */
  const int32_t *mult;       /* [out_c] Q31 multipliers */
  const int32_t *shift;      /* [out_c] */
} smcu_depthwise_conv2d_ref_params_t;

void smcu_depthwise_conv2d_s8_dense(const smcu_depthwise_conv2d_ref_params_t *p, const int8_t *input, int8_t *output);
void smcu_depthwise_conv2d_s8_rle(const smcu_depthwise_conv2d_ref_params_t *p, const int8_t *input, int8_t *output);

#endif /* SMCU_DEPTHWISE_CONV2D_H */
