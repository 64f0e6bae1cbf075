/* AVERAGE_POOL_2D int8, variant fast: the window's in-image elements summed 16 (then 4) channels at a
 * time in 16-bit lanes (windows of at most 256 elements), rounded as TFLite (half away from zero),
 * four results a word, the activation clamp four bytes at a time. One copy of each step (summing
 * 16 or 4 channels, then one loop writing their words) keeps the code small. */
#include "smcu_fixedpoint.h"
#include "smcu_pool2d.h"

/* TFLite's int8 average: sum / count rounded half away from zero (C division truncates). */
static inline int32_t smcu_avg_round_div(int32_t sum, int32_t count, int32_t half) {
  const int32_t sign = sum >> 31;
  return (sum + ((half ^ sign) - sign)) / count;
}

/* Channels 4j..4j+3 from the lane sums even (4j, 4j+2) and odd (4j+1, 4j+3), written at out. */
static inline void smcu_avg_write4(int8_t *out, int32_t even, int32_t odd, int32_t count, int32_t half,
                                   int32_t clamp, uint32_t lo, uint32_t hi) {
  uint32_t w = smcu_pack_s8x4(smcu_avg_round_div(smcu_pool_lane0(even), count, half),
                               smcu_avg_round_div(smcu_pool_lane0(odd), count, half),
                               smcu_avg_round_div(smcu_pool_lane1(even), count, half),
                               smcu_avg_round_div(smcu_pool_lane1(odd), count, half));
  if (clamp) {
    w = smcu_min_s8x4(smcu_max_s8x4(w, lo), hi);
  }
  smcu_write_s32(out, (int32_t)w);
}

void smcu_avg_pool2d_s8_fast(const smcu_pool2d_params_t *p, const int8_t *input, int8_t *output) {
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
      const int32_t count = rows * cols, half = count / 2;
      const int8_t *window = input + ((in_y0 + ky_start) * p->in_w + in_x0 + kx_start) * channels;
      if (cols == p->in_w) { /* whole image rows: one run of pixels */
        cols = count;
        rows = 1;
      }
      const int32_t aligned = (((uint32_t)(uintptr_t)window | (uint32_t)channels) & 3u) == 0;
      int32_t c = 0;
      for (; c + 16 <= channels; c += 16) {
        int32_t acc[8];
        smcu_pool_sum16(window + c, rows, cols, channels, row_stride, aligned, acc);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 1
#endif
        for (int32_t j = 0; j < 8; j += 2) {
          smcu_avg_write4(output + c + 2 * j, acc[j], acc[j + 1], count, half, clamp, lo, hi);
        }
      }
      for (; c + 4 <= channels; c += 4) {
        int32_t acc[2];
        smcu_pool_sum4(window + c, rows, cols, channels, row_stride, acc);
        smcu_avg_write4(output + c, acc[0], acc[1], count, half, clamp, lo, hi);
      }
      for (; c < channels; ++c) {
        int32_t sum = 0;
        for (int32_t r = 0; r < rows; ++r) {
          const int8_t *q = window + r * row_stride + c;
          for (int32_t k = 0; k < cols; ++k) {
            sum += q[k * channels];
          }
        }
        output[c] = (int8_t)smcu_clamp_i32(smcu_avg_round_div(sum, count, half), p->act_min, p->act_max);
      }
      output += channels;
    }
  }
}
