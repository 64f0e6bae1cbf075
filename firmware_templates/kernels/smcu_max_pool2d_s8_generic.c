/* MAX_POOL_2D int8: maximum over the window's in-image elements, then the activation clamp. */
#include "smcu_fixedpoint.h"
#include "smcu_pool2d.h"

void smcu_max_pool2d_s8_generic(const smcu_pool2d_params_t *p, const int8_t *input, int8_t *output) {
  for (int32_t oy = 0; oy < p->out_h; ++oy) {
    int32_t ky_start, ky_end;
    const int32_t in_y0 = smcu_pool_clip(oy, p->stride_h, p->pad_h, p->k_h, p->in_h, &ky_start, &ky_end);
    for (int32_t ox = 0; ox < p->out_w; ++ox) {
      int32_t kx_start, kx_end;
      const int32_t in_x0 = smcu_pool_clip(ox, p->stride_w, p->pad_w, p->k_w, p->in_w, &kx_start, &kx_end);
      for (int32_t c = 0; c < p->channels; ++c) {
        int32_t max = SMCU_INT8_MIN;
        for (int32_t ky = ky_start; ky < ky_end; ++ky) {
          const int32_t row = (in_y0 + ky) * p->in_w + in_x0; /* pixel index of kx = 0 */
          for (int32_t kx = kx_start; kx < kx_end; ++kx) {
            const int32_t v = input[(row + kx) * p->channels + c];
            max = v > max ? v : max;
          }
        }
        *output++ = (int8_t)smcu_clamp_i32(max, p->act_min, p->act_max);
      }
    }
  }
}
