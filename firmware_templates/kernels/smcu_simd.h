/*
 * sparsemcu int8 kernels: the 16-bit SIMD primitives the optimised variants use.
 *
 * On cores with the DSP extension (Cortex-M4/M7/M33/M55: __ARM_FEATURE_DSP) these are the
 * ACLE intrinsics of arm_acle.h; elsewhere (host builds, Cortex-M0/M3) a portable C path
 * computes the same bits, so every variant is tested bit-exactly on the host too.
 *
 * Packed int16 pairs: a 32-bit word holds lane 0 in bits 0..15 and lane 1 in bits 16..31.
 */
#ifndef SMCU_SIMD_H
#define SMCU_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define SMCU_HAVE_DSP 1
#else
#define SMCU_HAVE_DSP 0
#endif

/* Unaligned-safe 32-bit load and store (one LDR/STR on Armv7-M). */
static inline int32_t smcu_read_s32(const void *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}
static inline void smcu_write_s32(void *p, int32_t v) { memcpy(p, &v, 4); }

/* a = p[0], b = p[1], p += 2 for an int32_t pointer p (one LDRD with write-back on Armv7E-M;
 * p must be word aligned). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define SMCU_LOAD2(a, b, p) \
  __asm__ volatile("ldrd %0, %1, [%2], #8" : "=r"(a), "=r"(b), "+r"(p) : "m"((p)[0]), "m"((p)[1]))
#else
#define SMCU_LOAD2(a, b, p) \
  do {                      \
    (a) = (p)[0];           \
    (b) = (p)[1];           \
    (p) += 2;               \
  } while (0)
#endif

/* Lane 0 of `lane0` and lane 0 of `lane1` in one word (PKHBT). */
static inline int32_t smcu_pack16(int32_t lane0, int32_t lane1) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  int32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lane0), "r"(lane1));
  return r;
#else
  return (int32_t)(((uint32_t)lane0 & 0xFFFFu) | ((uint32_t)lane1 << 16));
#endif
}
/* Two bytes to (unaligned) dst, low byte first. */
static inline void smcu_write_2x8(int8_t *dst, uint32_t two) {
  const uint16_t v = (uint16_t)two;
  memcpy(dst, &v, 2);
}

/* Four int8 values (in int32s, already in range) as one little-endian word. */
static inline uint32_t smcu_pack_s8x4(int32_t o0, int32_t o1, int32_t o2, int32_t o3) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  uint32_t w = (uint32_t)o0;
  __asm__("bfi %0, %1, #8, #8" : "+r"(w) : "r"(o1));
  __asm__("bfi %0, %1, #16, #8" : "+r"(w) : "r"(o2));
  __asm__("bfi %0, %1, #24, #8" : "+r"(w) : "r"(o3));
  return w;
#else
  return ((uint32_t)o0 & 0xFFu) | (((uint32_t)o1 & 0xFFu) << 8) | (((uint32_t)o2 & 0xFFu) << 16) |
         ((uint32_t)o3 << 24);
#endif
}

/* Bytewise signed max(a, b) and min(a, b) of four packed int8 (SSUB8 + SEL). */
static inline uint32_t smcu_max_s8x4(uint32_t a, uint32_t b) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  uint32_t t;
  __asm__("ssub8 %1, %0, %2\n\tsel %0, %0, %2" : "+r"(a), "=&r"(t) : "r"(b) : "cc");
  return a;
#else
  uint32_t r = 0;
  for (int32_t k = 0; k < 32; k += 8) {
    const int32_t x = (int8_t)(uint8_t)(a >> k), y = (int8_t)(uint8_t)(b >> k);
    r |= (uint32_t)(uint8_t)(x > y ? x : y) << k;
  }
  return r;
#endif
}
static inline uint32_t smcu_min_s8x4(uint32_t a, uint32_t b) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  uint32_t t;
  __asm__("ssub8 %1, %2, %0\n\tsel %0, %0, %2" : "+r"(a), "=&r"(t) : "r"(b) : "cc");
  return a;
#else
  uint32_t r = 0;
  for (int32_t k = 0; k < 32; k += 8) {
    const int32_t x = (int8_t)(uint8_t)(a >> k), y = (int8_t)(uint8_t)(b >> k);
    r |= (uint32_t)(uint8_t)(x < y ? x : y) << k;
  }
  return r;
#endif
}

/* Lane 1 of `lo` and lane 1 of `hi` in one word (PKHTB). */
static inline int32_t smcu_pack_hi_hi(int32_t lo, int32_t hi) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  int32_t r;
  __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(lo), "r"(hi));
  return r;
#else
  return (int32_t)(((uint32_t)hi & 0xFFFF0000u) | ((uint32_t)lo >> 16));
#endif
}

#if SMCU_HAVE_DSP

/* Bytes 0 and 2 of x sign-extended into lanes 0 and 1. */
static inline int32_t smcu_sxtb16(int32_t x) { return (int32_t)__sxtb16((uint32_t)x); }
/* Bytes 1 and 3 of x sign-extended into lanes 0 and 1. */
static inline int32_t smcu_sxtb16_ror8(int32_t x) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x)); /* one instruction: GCC would rotate first */
  return r;
}
/* acc + a.lane0 * b.lane0 + a.lane1 * b.lane1 (wrapping). */
static inline int32_t smcu_smlad(int32_t a, int32_t b, int32_t acc) { return __smlad(a, b, acc); }
/* acc + a.lane0 * b.lane0 */
static inline int32_t smcu_smlabb(int32_t a, int32_t b, int32_t acc) { return __smlabb(a, b, acc); }
/* x saturated to [-128, 127] (SSAT #8). */
static inline int32_t smcu_ssat8(int32_t x) { return __ssat(x, 8); }
/* Lane-wise max / min of packed int16 pairs (SSUB16 sets GE per lane, SEL picks). */
static inline int32_t smcu_max16x2(int32_t a, int32_t b) {
  (void)__ssub16((int16x2_t)a, (int16x2_t)b);
  return (int32_t)__sel((uint8x4_t)a, (uint8x4_t)b);
}
static inline int32_t smcu_min16x2(int32_t a, int32_t b) {
  (void)__ssub16((int16x2_t)a, (int16x2_t)b);
  return (int32_t)__sel((uint8x4_t)b, (uint8x4_t)a);
}
/* The low bytes of both lanes as two consecutive bytes (UXTB16, ORR). */
static inline uint32_t smcu_narrow16x2(int32_t v) {
  const uint32_t b = __uxtb16((uint32_t)v);
  return b | (b >> 8);
}
/* acc + a.lane1 * b.lane1 */
static inline int32_t smcu_smlatt(int32_t a, int32_t b, int32_t acc) { return __smlatt(a, b, acc); }
/* acc + a.lane0 * b.lane1 */
static inline int32_t smcu_smlabt(int32_t a, int32_t b, int32_t acc) { return __smlabt(a, b, acc); }
/* acc + a.lane1 * b.lane0 */
static inline int32_t smcu_smlatb(int32_t a, int32_t b, int32_t acc) { return __smlatb(a, b, acc); }

#else /* portable C: the same results */

static inline int32_t smcu_lane0(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline int32_t smcu_lane1(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x >> 16); }
static inline int32_t smcu_sxtb16(int32_t x) {
  return smcu_pack16((int8_t)(uint8_t)((uint32_t)x & 0xFFu), (int8_t)(uint8_t)(((uint32_t)x >> 16) & 0xFFu));
}
static inline int32_t smcu_sxtb16_ror8(int32_t x) {
  return smcu_pack16((int8_t)(uint8_t)(((uint32_t)x >> 8) & 0xFFu), (int8_t)(uint8_t)((uint32_t)x >> 24));
}
static inline int32_t smcu_smlad(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(smcu_lane0(a) * smcu_lane0(b)) + (uint32_t)(smcu_lane1(a) * smcu_lane1(b)));
}
static inline int32_t smcu_smlabb(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(smcu_lane0(a) * smcu_lane0(b)));
}
static inline int32_t smcu_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
static inline int32_t smcu_max16x2(int32_t a, int32_t b) {
  const int32_t l0 = smcu_lane0(a) >= smcu_lane0(b) ? smcu_lane0(a) : smcu_lane0(b);
  const int32_t l1 = smcu_lane1(a) >= smcu_lane1(b) ? smcu_lane1(a) : smcu_lane1(b);
  return smcu_pack16(l0, l1);
}
static inline int32_t smcu_min16x2(int32_t a, int32_t b) {
  const int32_t l0 = smcu_lane0(a) >= smcu_lane0(b) ? smcu_lane0(b) : smcu_lane0(a);
  const int32_t l1 = smcu_lane1(a) >= smcu_lane1(b) ? smcu_lane1(b) : smcu_lane1(a);
  return smcu_pack16(l0, l1);
}
static inline uint32_t smcu_narrow16x2(int32_t v) {
  return ((uint32_t)v & 0xFFu) | (((uint32_t)v >> 8) & 0xFF00u);
}
static inline int32_t smcu_smlatt(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(smcu_lane1(a) * smcu_lane1(b)));
}
static inline int32_t smcu_smlabt(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(smcu_lane0(a) * smcu_lane1(b)));
}
static inline int32_t smcu_smlatb(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(smcu_lane1(a) * smcu_lane0(b)));
}

#endif

/*
 * Requantisation in one rounding step, exactly TFLite's
 *   clamp(MultiplyByQuantizedMultiplier(acc, mult, -rshift) + output_offset, act_min, act_max)
 * for multipliers below 0.5 (rshift >= 1) whose 64-bit intermediate cannot overflow for any int8
 * input (export/quant.py fused_requant_table checks each channel; the lowering proposes the
 * optimised variants only then). The two roundings of the spec (SaturatingRoundingDoublingHighMul, then
 * RoundingDivideByPOT with ties away from zero) and the output zero point fold into
 *   z   = acc * mult + round - 2^31 * (acc < 0)                  (64-bit)
 *   out = (z >> 32) >> (rshift - 1)
 * with round = 2^30 + 2^(30 + rshift) + output_offset * 2^(31 + rshift), precomputed per
 * channel (export/quant.py fused_requant_table; checked against the spec's two-step form in the
 * tests). A channel with all-zero weights is a constant: mult 0, round = output << 32.
 */
typedef struct {
  int32_t bias;     /* bias + input_offset * sum(weights): the input zero point folded in */
  int32_t mult;     /* Q31 multiplier */
  int32_t round_lo; /* round, low word */
  int32_t round_hi; /* round, high word */
  int32_t shift;    /* rshift - 1 */
} smcu_requant_t;

static inline int32_t smcu_requant_fused(int32_t acc, int32_t mult, int32_t round_lo, int32_t round_hi,
                                         int32_t shift) {
#if SMCU_HAVE_DSP
  /* (hi:lo) = round - 2^31 * (acc < 0): the sign bit added into lo, its carry and acc's sign
   * extension (-1 or 0) into hi; then + acc * mult. round stays in registers for the next call. */
  uint32_t lo;
  int32_t hi;
  __asm__("adds %0, %2, %3\n\tadc %1, %4, %5, asr #31"
          : "=&r"(lo), "=r"(hi)
          : "r"(round_lo), "r"((uint32_t)acc & 0x80000000u), "r"(round_hi), "r"(acc)
          : "cc");
  __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(acc), "r"(mult));
  return hi >> shift;
#else
  int64_t z = (int64_t)(((uint64_t)(uint32_t)round_hi << 32) | (uint32_t)round_lo);
  z += (int64_t)acc * mult;
  z -= (int64_t)((uint32_t)acc >> 31) << 31;
  return (int32_t)(z >> 32) >> shift;
#endif
}

/* (acc * 2^32 + a * b + 2^31) >> 32, wrapping: SMMLAR (the kernels' one-step requantisation). */
static inline int32_t smcu_smmlar(int32_t a, int32_t b, int32_t acc) {
#if SMCU_HAVE_DSP
  int32_t r;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
#else
  const uint64_t v = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * b) + (UINT64_C(1) << 31);
  return (int32_t)(uint32_t)(v >> 32);
#endif
}

/*
 * The same requantisation for a doubled accumulator a2 = 2 * acc (|acc| < 2^30), in one SMMLAR:
 *   2z  = a2 * m + 2^31 + 2^32 * (round_hi - (acc < 0)),   round_hi = 2^(rshift-1) + output_offset * 2^rshift
 *   out = floor(2z / 2^32) >> rshift = SMMLAR(a2, m, round_hi + (a2 >> 31)) >> rshift
 * (export/quant.py smmlar_requant_table derives it from the fused form above and checks each channel;
 * tests/test_fixedpoint.py checks it against the spec's two-step form). A channel with all-zero
 * weights: m = 0, round_hi = its constant output, rshift = 0.
 */
static inline int32_t smcu_requant_smmlar(int32_t acc2, int32_t mult, int32_t round_hi, int32_t rshift) {
  int32_t r = round_hi + (acc2 >> 31);
#if SMCU_HAVE_DSP
  __asm__("smmlar %0, %1, %2, %0" : "+r"(r) : "r"(acc2), "r"(mult));
#else
  r = (int32_t)((((int64_t)r * 4294967296) + (int64_t)acc2 * mult + 2147483648) >> 32);
#endif
  return r >> rshift;
}

#endif /* SMCU_SIMD_H */
