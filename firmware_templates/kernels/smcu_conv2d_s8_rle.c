/* CONV_2D int8, run-length sparse weights: only non-zero weights are visited.
 *
 * The layer's weights are one stream of (skip, value) entries over the rows
 * [out_c][k_h][k_w][in_c] laid end to end (export/encoder.py). `pos` is the position of
 * the next entry (before its skip) relative to the start of the current row; an entry
 * that lands beyond the row belongs to a later output channel. */
#include "smcu_conv2d.h"
#include "smcu_fixedpoint.h"

void smcu_conv2d_s8_rle(const smcu_conv2d_ref_params_t *p, const int8_t *input, int8_t *output) {
  const int32_t row_len = p->c.k_h * p->c.k_w * p->c.in_c;
  for (int32_t oy = 0; oy < p->c.out_h; ++oy) {
    const int32_t in_y0 = oy * p->c.stride_h - p->c.pad_h;
    for (int32_t ox = 0; ox < p->c.out_w; ++ox) {
      const int32_t in_x0 = ox * p->c.stride_w - p->c.pad_w;
      const int8_t *value = p->weights;
      const uint8_t *skip = p->rle_skip;
      int32_t entries = p->rle_entries;
      int32_t pos = 0;
      for (int32_t oc = 0; oc < p->c.out_c; ++oc, pos -= row_len) {
        int32_t acc = p->bias[oc];
        int32_t ky = 0, kx = 0, ic = pos; /* (ky, kx, ic) of the next weight, once ic is normalised */
        while (entries > 0 && pos + *skip < row_len) {
          pos += *skip;
          ic += *skip++;
          while (ic >= p->c.in_c) {
            ic -= p->c.in_c;
            if (++kx == p->c.k_w) {
              kx = 0;
              ++ky;
            }
          }
          const int32_t in_y = in_y0 + ky * p->c.dil_h;
          const int32_t in_x = in_x0 + kx * p->c.dil_w;
          const int32_t w = *value++;
          if (in_y >= 0 && in_y < p->c.in_h && in_x >= 0 && in_x < p->c.in_w) {
            acc += (input[(in_y * p->c.in_w + in_x) * p->c.in_c + ic] + p->c.input_offset) * w;
          }
          ++pos;
          ++ic;
          --entries;
        }
        *output++ = smcu_requantize_to_s8(acc, p->mult[oc], p->shift[oc], p->c.output_offset, p->c.act_min, p->c.act_max);
      }
    }
  }
}
