/* MAX_POOL_2D int8, variant fast: the window's in-image elements compared 16 (then 4) channels at a
 * time, four bytes per SSUB8 + SEL, the activation clamp four bytes at a time. */
#include "smcu_fixedpoint.h"
#include "smcu_pool2d.h"

void smcu_max_pool2d_s8_fast(const smcu_pool2d_params_t *p, const int8_t *input, int8_t *output) {
  const int32_t channels = p->channels;
  const int32_t row_stride = p->in_w * channels;
  const int32_t clamp = p->act_min != SMCU_INT8_MIN || p->act_max != SMCU_INT8_MAX;
  const uint32_t lo = 0x01010101u * (uint8_t)p->act_min;
  const uint32_t hi = 0x01010101u * (uint8_t)p->act_max;
  for (int32_t oy = 0; oy < p->out_h; ++oy) {
    int32_t ky_start, ky_end;
    const int32_t in_y0 = smcu_pool_clip(oy, p->stride_h, p->pad_h, p->k_h, p->in_h, &ky_start, &ky_end);
    for (int32_t ox = 0; ox < p->out_w; ++ox) {
      int32_t kx_start, kx_end;
      const int32_t in_x0 = smcu_pool_clip(ox, p->stride_w, p->pad_w, p->k_w, p->in_w, &kx_start, &kx_end);
      int32_t rows = ky_end - ky_start, cols = kx_end - kx_start;
      const int8_t *window = input + ((in_y0 + ky_start) * p->in_w + in_x0 + kx_start) * channels;
      if (cols == p->in_w) { /* whole image rows: one run of pixels */
        cols *= rows;
        rows = 1;
      }
      const int32_t run = cols * channels; /* bytes of one window row */
      int32_t c = 0;
      for (; c + 16 <= channels; c += 16) {
        const int8_t *row = window + c, *q = row + channels; /* the first pixel initialises the maxima */
        uint32_t m0 = (uint32_t)smcu_read_s32(row), m1 = (uint32_t)smcu_read_s32(row + 4),
                 m2 = (uint32_t)smcu_read_s32(row + 8), m3 = (uint32_t)smcu_read_s32(row + 12);
        for (int32_t r = rows; r > 0; --r, row += row_stride, q = row) {
          for (const int8_t *const end = row + run; q != end; q += channels) {
            m0 = smcu_max_s8x4(m0, (uint32_t)smcu_read_s32(q));
            m1 = smcu_max_s8x4(m1, (uint32_t)smcu_read_s32(q + 4));
            m2 = smcu_max_s8x4(m2, (uint32_t)smcu_read_s32(q + 8));
            m3 = smcu_max_s8x4(m3, (uint32_t)smcu_read_s32(q + 12));
          }
        }
        if (clamp) {
          m0 = smcu_min_s8x4(smcu_max_s8x4(m0, lo), hi);
          m1 = smcu_min_s8x4(smcu_max_s8x4(m1, lo), hi);
          m2 = smcu_min_s8x4(smcu_max_s8x4(m2, lo), hi);
          m3 = smcu_min_s8x4(smcu_max_s8x4(m3, lo), hi);
        }
        smcu_write_s32(output + c, (int32_t)m0);
        smcu_write_s32(output + c + 4, (int32_t)m1);
        smcu_write_s32(output + c + 8, (int32_t)m2);
        smcu_write_s32(output + c + 12, (int32_t)m3);
      }
      for (; c + 4 <= channels; c += 4) {
        const int8_t *row = window + c, *q = row + channels;
        uint32_t m = (uint32_t)smcu_read_s32(row);
        for (int32_t r = rows; r > 0; --r, row += row_stride, q = row) {
          for (const int8_t *const end = row + run; q != end; q += channels) {
            m = smcu_max_s8x4(m, (uint32_t)smcu_read_s32(q));
          }
        }
        if (clamp) {
          m = smcu_min_s8x4(smcu_max_s8x4(m, lo), hi);
        }
        smcu_write_s32(output + c, (int32_t)m);
      }
      for (; c < channels; ++c) {
        int32_t max = SMCU_INT8_MIN;
        const int8_t *row = window + c;
        for (int32_t r = rows; r > 0; --r, row += row_stride) {
          for (const int8_t *q = row, *const end = row + run; q != end; q += channels) {
            max = smcu_max_i32(max, *q);
          }
        }
        output[c] = (int8_t)smcu_clamp_i32(max, p->act_min, p->act_max);
      }
      output += channels;
    }
  }
}
