/* MEAN int8, variant fast: reduce the middle dimension of [outer][reduce][inner], 16 (then 4) inner
 * elements at a time. */
#include "smcu_fixedpoint.h"
#include "smcu_mean.h"
#include "smcu_pool2d.h"
#include "smcu_simd.h"

#define SMCU_MEAN_FAST_CHUNK 256 /* reduced elements a 16-bit lane sums without overflow */

static inline int32_t smcu_mean_fast_out(const smcu_requant_t *rq, int32_t sum) {
  return smcu_ssat8(smcu_requant_fused(sum + rq->bias, rq->mult, rq->round_lo, rq->round_hi, rq->shift));
}

/* Four outputs from the int32 sums s[0..3] */
static inline void smcu_mean_fast_write4(int8_t *out, const smcu_requant_t *rq, const int32_t *s) {
  smcu_write_s32(out, (int32_t)smcu_pack_s8x4(smcu_mean_fast_out(rq, s[0]), smcu_mean_fast_out(rq, s[1]),
                                                smcu_mean_fast_out(rq, s[2]), smcu_mean_fast_out(rq, s[3])));
}

/* Lane sums of 4 channels (even = channels 0 and 2, odd = 1 and 3) added to s[0..3]. */
static inline void smcu_mean_fast_widen4(int32_t *s, int32_t even, int32_t odd) {
  s[0] += smcu_pool_lane0(even), s[1] += smcu_pool_lane0(odd), s[2] += smcu_pool_lane1(even);
  s[3] += smcu_pool_lane1(odd);
}

/* Loops over the 4 words of a 16-channel group stay loops (-O2 would copy their bodies 4 times). */
#if defined(__GNUC__) && !defined(__clang__)
#define SMCU_MEAN_FAST_NO_UNROLL _Pragma("GCC unroll 1")
#else
#define SMCU_MEAN_FAST_NO_UNROLL
#endif

void smcu_mean_s8_fast(const smcu_mean_fast_params_t *p, const int8_t *input, int8_t *output) {
  const int32_t reduce = p->reduce, inner = p->inner;
  const smcu_requant_t rq = p->rq;
  for (int32_t o = 0; o < p->outer; ++o) {
    const int8_t *block = input + o * reduce * inner;
    const int32_t aligned = (((uint32_t)(uintptr_t)block | (uint32_t)inner) & 3u) == 0;
    int32_t c = 0;
    for (; c + 16 <= inner; c += 16) {
      int32_t s[16];
      for (int32_t k = 0; k < 16; ++k) { /* (the empty asm keeps this a loop, not a call to memset) */
        __asm__("");
        s[k] = 0;
      }
      for (int32_t start = 0; start < reduce; start += SMCU_MEAN_FAST_CHUNK) {
        int32_t acc[8];
        smcu_pool_sum16(block + start * inner + c, 1, smcu_min_i32(SMCU_MEAN_FAST_CHUNK, reduce - start), inner, 0,
                        aligned, acc);
        SMCU_MEAN_FAST_NO_UNROLL
        for (int32_t j = 0; j < 4; ++j) {
          smcu_mean_fast_widen4(s + 4 * j, acc[2 * j], acc[2 * j + 1]);
        }
      }
      SMCU_MEAN_FAST_NO_UNROLL
      for (int32_t j = 0; j < 4; ++j) {
        smcu_mean_fast_write4(output + c + 4 * j, &rq, s + 4 * j);
      }
    }
    for (; c + 4 <= inner; c += 4) {
      int32_t s[4] = {0};
      for (int32_t start = 0; start < reduce; start += SMCU_MEAN_FAST_CHUNK) {
        int32_t acc[2];
        smcu_pool_sum4(block + start * inner + c, 1, smcu_min_i32(SMCU_MEAN_FAST_CHUNK, reduce - start), inner, 0, acc);
        smcu_mean_fast_widen4(s, acc[0], acc[1]);
      }
      smcu_mean_fast_write4(output + c, &rq, s);
    }
    for (; c < inner; ++c) {
      int32_t sum = 0;
      for (int32_t r = 0; r < reduce; ++r) {
        sum += block[r * inner + c];
      }
      output[c] = (int8_t)smcu_mean_fast_out(&rq, sum);
    }
    output += inner;
  }
}
