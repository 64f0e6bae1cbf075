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
  return (int32_t)(((uint32_t)lane0 & 0xFFFFu) | ((uint32_t)lane1 << 16));
}
/* Lane 1 of `lo` and lane 1 of `hi` in one word (PKHTB). */
static inline int32_t smcu_pack_hi_hi(int32_t lo, int32_t hi) {
  return (int32_t)(((uint32_t)hi & 0xFFFF0000u) | ((uint32_t)lo >> 16));
}

#if SMCU_HAVE_DSP

/* Bytes 0 and 2 of x sign-extended into lanes 0 and 1. */
static inline int32_t smcu_sxtb16(int32_t x) { return (int32_t)__sxtb16((uint32_t)x); }
/* Bytes 1 and 3 of x sign-extended into lanes 0 and 1. */
static inline int32_t smcu_sxtb16_ror8(int32_t x) {
  return (int32_t)__sxtb16(((uint32_t)x >> 8) | ((uint32_t)x << 24));
}
/* acc + a.lane0 * b.lane0 + a.lane1 * b.lane1 (wrapping). */
static inline int32_t smcu_smlad(int32_t a, int32_t b, int32_t acc) { return __smlad(a, b, acc); }
/* acc + a.lane0 * b.lane0 */
static inline int32_t smcu_smlabb(int32_t a, int32_t b, int32_t acc) { return __smlabb(a, b, acc); }
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
  uint32_t lo = (uint32_t)round_lo;
  int32_t hi = round_hi;
  const uint32_t neg = (uint32_t)acc >> 31;
  const int32_t min = INT32_MIN;
  __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(acc), "r"(mult));
  __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(neg), "r"(min));
  return hi >> shift;
#else
  int64_t z = (int64_t)(((uint64_t)(uint32_t)round_hi << 32) | (uint32_t)round_lo);
  z += (int64_t)acc * mult;
  z -= (int64_t)((uint32_t)acc >> 31) << 31;
  return (int32_t)(z >> 32) >> shift;
#endif
}

#endif /* SMCU_SIMD_H */
