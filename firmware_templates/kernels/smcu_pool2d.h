/* MAX_POOL_2D and AVERAGE_POOL_2D, int8, NHWC, batch 1 (input and output share the
 * quantisation, as TFLite requires). Windows at the border cover only their in-image
 * elements; AVERAGE divides by that count, rounded half away from zero (TFLite's int8 rule). */
#ifndef SMCU_POOL2D_H
#define SMCU_POOL2D_H

#include <stdint.h>

#include "smcu_fixedpoint.h"

#include "smcu_simd.h"

typedef struct {
  int32_t in_h, in_w, channels;
  int32_t out_h, out_w;
  int32_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
  int32_t act_min, act_max;
} smcu_pool2d_params_t;

/* A pooling window along one axis: the input index of output index o's tap 0 (returned) and the taps
 * [*k_start, *k_end) that fall inside the image (SAME padding contributes no elements). */
static inline int32_t smcu_pool_clip(int32_t o, int32_t stride, int32_t pad, int32_t k, int32_t in,
                                     int32_t *k_start, int32_t *k_end) {
  const int32_t in0 = o * stride - pad;
  *k_start = smcu_max_i32(0, -in0);
  *k_end = smcu_min_i32(k, in - in0);
  return in0;
}

void smcu_max_pool2d_s8_generic(const smcu_pool2d_params_t *p, const int8_t *input, int8_t *output);
void smcu_avg_pool2d_s8_generic(const smcu_pool2d_params_t *p, const int8_t *input, int8_t *output);

/* Variant "fast" (same parameters and results): 16 or 4 channels at a time in registers, the window
 * walked without bounds checks (clipped once per output pixel; rows that are whole image rows walked
 * as one run). MAX: bytewise signed max (SSUB8 + SEL); AVERAGE: sums in 16-bit lanes (SXTAB16), so
 * windows of at most 256 elements (export/ops/pool2d.py proposes it only then), one SDIV per channel. */
void smcu_max_pool2d_s8_fast(const smcu_pool2d_params_t *p, const int8_t *input, int8_t *output);
void smcu_avg_pool2d_s8_fast(const smcu_pool2d_params_t *p, const int8_t *input, int8_t *output);

/* ---- SIMD helpers of the fast pooling variants (also used by smcu_mean_s8_fast) ---- */
#if SMCU_HAVE_DSP
/* acc + bytes 0 and 2 of w, sign-extended, in the two 16-bit lanes */
static inline int32_t smcu_pool_sxtab16(int32_t acc, int32_t w) {
  int32_t r;
  __asm__("sxtab16 %0, %1, %2" : "=r"(r) : "r"(acc), "r"(w));
  return r;
}
/* acc + bytes 1 and 3 of w, sign-extended, in the two 16-bit lanes */
static inline int32_t smcu_pool_sxtab16_ror8(int32_t acc, int32_t w) {
  int32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(w));
  return r;
}
#else /* portable C: the same results */
static inline int32_t smcu_pool_sxtab16(int32_t acc, int32_t w) {
  const uint32_t b0 = (uint32_t)(int32_t)(int8_t)(uint8_t)((uint32_t)w & 0xFFu);
  const uint32_t b2 = (uint32_t)(int32_t)(int8_t)(uint8_t)(((uint32_t)w >> 16) & 0xFFu);
  const uint32_t lo = ((uint32_t)acc + b0) & 0xFFFFu;
  const uint32_t hi = (((uint32_t)acc >> 16) + b2) & 0xFFFFu;
  return (int32_t)(lo | (hi << 16));
}
static inline int32_t smcu_pool_sxtab16_ror8(int32_t acc, int32_t w) {
  return smcu_pool_sxtab16(acc, (int32_t)((uint32_t)w >> 8));
}
#endif

/* Lanes of a 16-bit pair word. */
static inline int32_t smcu_pool_lane0(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline int32_t smcu_pool_lane1(int32_t x) { return x >> 16; }

/* One pixel's 16 channels at q added to the lane sums a0..a7, then q += pixel_stride (four LDR,
 * any alignment on Armv7-M). */
#define SMCU_POOL_SUM16_PIXEL()                                                          \
  do {                                                                                   \
    const int32_t w0 = smcu_read_s32(q), w1 = smcu_read_s32(q + 4);                      \
    const int32_t w2 = smcu_read_s32(q + 8), w3 = smcu_read_s32(q + 12);                 \
    a0 = smcu_pool_sxtab16(a0, w0);                                                      \
    a1 = smcu_pool_sxtab16_ror8(a1, w0);                                                 \
    a2 = smcu_pool_sxtab16(a2, w1);                                                      \
    a3 = smcu_pool_sxtab16_ror8(a3, w1);                                                 \
    a4 = smcu_pool_sxtab16(a4, w2);                                                      \
    a5 = smcu_pool_sxtab16_ror8(a5, w2);                                                 \
    a6 = smcu_pool_sxtab16(a6, w3);                                                      \
    a7 = smcu_pool_sxtab16_ror8(a7, w3);                                                 \
    q += pixel_stride;                                                                   \
  } while (0)

/* Sums of the 16 channels at p over rows x cols pixels (pixel_stride bytes apart in a row, rows
 * row_stride apart), rows * cols <= 256, in 16-bit lanes: acc[2j] holds channels 4j and 4j+2,
 * acc[2j+1] channels 4j+1 and 4j+3 (lane 0, lane 1). aligned: p and pixel_stride are multiples of
 * 4 (word-pair loads, two pixels an iteration, an odd count entering the loop at its second pixel). */
static inline void smcu_pool_sum16(const int8_t *p, int32_t rows, int32_t cols, int32_t pixel_stride,
                                   int32_t row_stride, int32_t aligned, int32_t acc[8]) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  for (int32_t r = cols > 0 ? rows : 0; r > 0; --r) {
    const int8_t *q = p;
#if SMCU_HAVE_DSP
    if (aligned) { /* two pixels an iteration: 2 x (2 LDRD + 8 SXTAB16 + ADD) + SUBS + BPL */
      int32_t n = cols, w0, w1;
      __asm__ volatile(
          "subs %[n], %[n], #1\n\t" /* n = (cols - 1) / 2 pairs after the first; C: cols is even */
          "lsrs %[n], %[n], #1\n\t"
          "bcc 2f\n\t"
          "1:\n\t"
          "ldrd %[w0], %[w1], [%[q]]\n\t"
          "sxtab16 %[a0], %[a0], %[w0]\n\t"
          "sxtab16 %[a1], %[a1], %[w0], ror #8\n\t"
          "sxtab16 %[a2], %[a2], %[w1]\n\t"
          "sxtab16 %[a3], %[a3], %[w1], ror #8\n\t"
          "ldrd %[w0], %[w1], [%[q], #8]\n\t"
          "sxtab16 %[a4], %[a4], %[w0]\n\t"
          "sxtab16 %[a5], %[a5], %[w0], ror #8\n\t"
          "sxtab16 %[a6], %[a6], %[w1]\n\t"
          "sxtab16 %[a7], %[a7], %[w1], ror #8\n\t"
          "add %[q], %[q], %[stride]\n\t"
          "2:\n\t"
          "ldrd %[w0], %[w1], [%[q]]\n\t"
          "sxtab16 %[a0], %[a0], %[w0]\n\t"
          "sxtab16 %[a1], %[a1], %[w0], ror #8\n\t"
          "sxtab16 %[a2], %[a2], %[w1]\n\t"
          "sxtab16 %[a3], %[a3], %[w1], ror #8\n\t"
          "ldrd %[w0], %[w1], [%[q], #8]\n\t"
          "sxtab16 %[a4], %[a4], %[w0]\n\t"
          "sxtab16 %[a5], %[a5], %[w0], ror #8\n\t"
          "sxtab16 %[a6], %[a6], %[w1]\n\t"
          "sxtab16 %[a7], %[a7], %[w1], ror #8\n\t"
          "add %[q], %[q], %[stride]\n\t"
          "subs %[n], %[n], #1\n\t"
          "bpl 1b"
          : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4), [a5] "+r"(a5),
            [a6] "+r"(a6), [a7] "+r"(a7), [q] "+r"(q), [n] "+r"(n), [w0] "=&r"(w0), [w1] "=&r"(w1)
          : [stride] "r"(pixel_stride)
          : "cc", "memory");
    } else
#endif
    {
      (void)aligned;
      for (int32_t k = cols; k > 0; --k) {
        SMCU_POOL_SUM16_PIXEL();
      }
    }
    p += row_stride;
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5, acc[6] = a6, acc[7] = a7;
}

/* smcu_pool_sum16 for the 4 channels at p: acc[0] = channels 0 and 2, acc[1] = channels 1 and 3. */
static inline void smcu_pool_sum4(const int8_t *p, int32_t rows, int32_t cols, int32_t pixel_stride,
                                  int32_t row_stride, int32_t acc[2]) {
  int32_t a0 = 0, a1 = 0;
  for (int32_t r = rows; r > 0; --r) {
    const int8_t *q = p, *const end = p + cols * pixel_stride;
    while (q != end) {
      const int32_t w = smcu_read_s32(q);
      a0 = smcu_pool_sxtab16(a0, w);
      a1 = smcu_pool_sxtab16_ror8(a1, w);
      q += pixel_stride;
    }
    p += row_stride;
  }
  acc[0] = a0, acc[1] = a1;
}

#endif /* SMCU_POOL2D_H */
