/* DEPTHWISE_CONV_2D int8, run-length sparse weights: only non-zero weights are visited.
 *
 * The layer's weights are one stream of (skip, value) entries over the rows
 * [out_c][k_h][k_w] laid end to end (export/encoder.py); output channel
 * oc = ic * depth_mult + m reads input channel ic. `pos` is the position of the next entry
 * (before its skip) relative to the start of the current row. */
#include "smcu_depthwise_conv2d.h"
#include "smcu_fixedpoint.h"

void smcu_depthwise_conv2d_s8_rle(const smcu_depthwise_conv2d_ref_params_t *p, const int8_t *input, int8_t *output) {
  const int32_t row_len = p->c.k_h * p->c.k_w;
  for (int32_t oy = 0; oy < p->c.out_h; ++oy) {
    const int32_t in_y0 = oy * p->c.stride_h - p->c.pad_h;
    for (int32_t ox = 0; ox < p->c.out_w; ++ox) {
      const int32_t in_x0 = ox * p->c.stride_w - p->c.pad_w;
      const int8_t *value = p->weights;
      const uint8_t *skip = p->rle_skip;
      int32_t entries = p->rle_entries;
      int32_t pos = 0;
      int32_t oc = 0;
      for (int32_t ic = 0; ic < p->c.in_c; ++ic) {
        for (int32_t m = 0; m < p->c.depth_mult; ++m, ++oc, pos -= row_len) {
          int32_t acc = p->bias[oc];
          int32_t ky = 0, kx = pos; /* (ky, kx) of the next weight, once kx is normalised */
          while (entries > 0 && pos + *skip < row_len) {
            pos += *skip;
            kx += *skip++;
            while (kx >= p->c.k_w) {
              kx -= p->c.k_w;
              ++ky;
            }
            const int32_t in_y = in_y0 + ky * p->c.dil_h;
            const int32_t in_x = in_x0 + kx * p->c.dil_w;
            const int32_t w = *value++;
            if (in_y >= 0 && in_y < p->c.in_h && in_x >= 0 && in_x < p->c.in_w) {
              acc += (input[(in_y * p->c.in_w + in_x) * p->c.in_c + ic] + p->c.input_offset) * w;
            }
            ++pos;
            ++kx;
            --entries;
          }
          *output++ = smcu_requantize_to_s8(acc, p->mult[oc], p->shift[oc], p->c.output_offset, p->c.act_min,
                                            p->c.act_max);
        }
      }
    }
  }
}
