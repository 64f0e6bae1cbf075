/* DEPTHWISE_CONV_2D int8, dense weights (one row of k_h * k_w weights per output channel). */
#include "smcu_depthwise_conv2d.h"
#include "smcu_fixedpoint.h"

void smcu_depthwise_conv2d_s8_dense(const smcu_depthwise_conv2d_ref_params_t *p, const int8_t *input, int8_t *output) {
  for (int32_t oy = 0; oy < p->c.out_h; ++oy) {
    const int32_t in_y0 = oy * p->c.stride_h - p->c.pad_h;
    for (int32_t ox = 0; ox < p->c.out_w; ++ox) {
      const int32_t in_x0 = ox * p->c.stride_w - p->c.pad_w;
      const int8_t *w = p->weights;
      int32_t oc = 0;
      for (int32_t ic = 0; ic < p->c.in_c; ++ic) {
        for (int32_t m = 0; m < p->c.depth_mult; ++m, ++oc) {
          int32_t acc = 0;
          for (int32_t ky = 0; ky < p->c.k_h; ++ky) {
            const int32_t in_y = in_y0 + ky * p->c.dil_h;
            for (int32_t kx = 0; kx < p->c.k_w; ++kx) {
              const int32_t in_x = in_x0 + kx * p->c.dil_w;
              const int32_t wv = *w++;
              if (in_y < 0 || in_y >= p->c.in_h || in_x < 0 || in_x >= p->c.in_w) {
                continue; /* zero padding: the input is the zero point, (in + offset) = 0 */
              }
              acc += (input[(in_y * p->c.in_w + in_x) * p->c.in_c + ic] + p->c.input_offset) * wv;
            }
          }
          acc += p->bias[oc];
          acc = smcu_multiply_by_quantized_multiplier(acc, p->mult[oc], p->shift[oc]);
          acc += p->c.output_offset;
          *output++ = (int8_t)smcu_clamp_i32(acc, p->c.act_min, p->c.act_max);
        }
      }
    }
  }
}
