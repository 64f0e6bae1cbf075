/* ADD int8, variant fast: both inputs of the output's shape; per-input tables (export/quant.py
 * add_fast_tables), 4 elements an iteration into one output word, the activation clamp 4 bytes at a
 * time (only the bounds that are not int8's own), then the last size % 4 elements one by one.
 * Code size: one 4-element loop per (mode, clamp) case, one shared scalar tail. */
#include "smcu_add.h"
#include "smcu_fixedpoint.h"
#include "smcu_simd.h"

#define SMCU_ADD_FAST_FRAC_BITS 12 /* export/quant.py ADD_FAST_FRAC_BITS */

#if SMCU_HAVE_DSP

/* SSAT8(sum >> 12): one instruction */
static inline int32_t smcu_add_fast_q12_to_s8(int32_t sum) {
  int32_t r;
  __asm__("ssat %0, #8, %1, asr #12" : "=r"(r) : "r"(sum));
  return r;
}
/* acc + (a * b + 2^31) / 2^32 (floor): SMMLAR */
static inline int32_t smcu_add_fast_smmlar(int32_t a, int32_t b, int32_t acc) {
  int32_t r;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
}

/* x = *p++ for a byte pointer p (one LDRB with post-increment) */
#define SMCU_ADD_FAST_LOAD(x, p) __asm__("ldrb %0, [%1], #1" : "=r"(x), "+r"(p) : "m"(*(p)))
/* *p = w, p += 4 for a byte pointer p (one STR with post-increment; unaligned is fine on Armv7-M) */
#define SMCU_ADD_FAST_STORE4(w, p) __asm__("str %2, [%0], #4" : "+r"(p), "=m"(*(uint32_t *)(p)) : "r"(w))

#else /* portable C: the same results */

static inline int32_t smcu_add_fast_q12_to_s8(int32_t sum) {
  return smcu_clamp_i32(sum >> SMCU_ADD_FAST_FRAC_BITS, SMCU_INT8_MIN, SMCU_INT8_MAX);
}
static inline int32_t smcu_add_fast_smmlar(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((((int64_t)acc * 4294967296LL) + (int64_t)a * b + 2147483648LL) >> 32);
}
#define SMCU_ADD_FAST_LOAD(x, p) ((x) = *(p)++)
#define SMCU_ADD_FAST_STORE4(w, p) (smcu_write_s32((p), (int32_t)(w)), (p) += 4)

#endif

/* mode 1: TFLite's output rescale of acc (twice the scaled sum) in one rounding step, saturated */
static inline int32_t smcu_add_fast_requant(int32_t acc, int32_t mult, int32_t round, int32_t shift) {
  const int32_t t = smcu_add_fast_smmlar(acc, mult, round) + (acc >> 31);
  return smcu_ssat8(t >> shift);
}

/* Every whole group of 4 elements (a, b, output advance). OUT(s) maps a table sum to the saturated
 * int8; CLAMP: 0 none, bit 0: act_min applies, bit 1: act_max applies. */
#define SMCU_ADD_FAST_LOOP4(OUT, CLAMP)                                                                    \
  while (a != a_end4) {                                                                                    \
    uint32_t x0, x1, x2, x3, y0, y1, y2, y3;                                                               \
    SMCU_ADD_FAST_LOAD(x0, a);                                                                             \
    SMCU_ADD_FAST_LOAD(y0, b);                                                                             \
    SMCU_ADD_FAST_LOAD(x1, a);                                                                             \
    SMCU_ADD_FAST_LOAD(y1, b);                                                                             \
    SMCU_ADD_FAST_LOAD(x2, a);                                                                             \
    SMCU_ADD_FAST_LOAD(y2, b);                                                                             \
    SMCU_ADD_FAST_LOAD(x3, a);                                                                             \
    SMCU_ADD_FAST_LOAD(y3, b);                                                                             \
    uint32_t w = smcu_pack_s8x4(OUT(t1[x0] + t2[y0]), OUT(t1[x1] + t2[y1]), OUT(t1[x2] + t2[y2]),     \
                                     OUT(t1[x3] + t2[y3]));                                                \
    if ((CLAMP) & 1) {                                                                                     \
      w = smcu_max_s8x4(w, lo);                                                                       \
    }                                                                                                      \
    if ((CLAMP) & 2) {                                                                                     \
      w = smcu_min_s8x4(w, hi);                                                                       \
    }                                                                                                      \
    SMCU_ADD_FAST_STORE4(w, out);                                                                          \
  }

#define SMCU_ADD_FAST_REQUANT(s) smcu_add_fast_requant((s), mult, round, shift)

void smcu_add_s8_fast(const smcu_add_fast_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
  const uint8_t *a = (const uint8_t *)input1;
  const uint8_t *b = (const uint8_t *)input2;
  uint8_t *out = (uint8_t *)output;
  const int32_t *const t1 = p->table1;
  const int32_t *const t2 = p->table2;
  const uint8_t *const a_end4 = a + (p->size & ~INT32_C(3));
  const uint32_t lo = 0x01010101u * (uint8_t)p->act_min;
  const uint32_t hi = 0x01010101u * (uint8_t)p->act_max;
  if (p->mode != 0) {
    const int32_t mult = p->mult, round = p->round, shift = p->shift;
    SMCU_ADD_FAST_LOOP4(SMCU_ADD_FAST_REQUANT, 3)
  } else if (p->act_max != SMCU_INT8_MAX) {
    SMCU_ADD_FAST_LOOP4(smcu_add_fast_q12_to_s8, 3)
  } else if (p->act_min != SMCU_INT8_MIN) { /* RELU: the lower bound only */
    SMCU_ADD_FAST_LOOP4(smcu_add_fast_q12_to_s8, 1)
  } else {
    SMCU_ADD_FAST_LOOP4(smcu_add_fast_q12_to_s8, 0)
  }
  for (const uint8_t *const a_end = (const uint8_t *)input1 + p->size; a != a_end;) { /* the last size % 4 */
    const int32_t s = t1[*a++] + t2[*b++];
    const int32_t o = p->mode != 0 ? smcu_add_fast_requant(s, p->mult, p->round, p->shift) : smcu_add_fast_q12_to_s8(s);
    *out++ = (uint8_t)smcu_clamp_i32(o, p->act_min, p->act_max);
  }
}
