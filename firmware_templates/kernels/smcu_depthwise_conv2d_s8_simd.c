/* DEPTHWISE_CONV_2D int8, 16-bit SIMD, depth multiplier 1 (layout and requantisation:
 * smcu_depthwise_conv2d.h).
 *
 * Each input row a window needs is expanded once to int16 into a ring slot of the scratch: per pair of
 * output pixels and channel, n_w words whose halfwords are consecutive input columns of that channel
 * (the input zero point outside the image; 4 channels x 2 columns per LDR, LDR, PKHBT, PKHTB and four
 * SXTB16). A pass then walks the channels of one output pixel pair. For 3x3 (paths 1, 2), per channel
 * of a pair on Armv7E-M: 4 weight loads (LDM, LDRD, LDRD, LDM), one LDRD / LDM of each kernel row's
 * slot, 12 SMLAD-family instructions for the 18 MACs, and per output SMMLAR, the sign correction,
 * ASR, SSAT and STRB: 30 instructions with the loop (two channels per iteration), 17-18 for a lone
 * last pixel. Any other kernel (path 0) takes per data word an SMLAD for each pixel.
 *
 * The hot loops use a little inline assembly where the compiler would otherwise not use the Armv7E-M
 * addressing modes (LDM into fixed registers, stores with write-back); the portable C of every macro
 * computes the same bits on the host. */
#include "smcu_depthwise_conv2d.h"
#include "smcu_fixedpoint.h"
#include "smcu_simd.h"

#if defined(__GNUC__)
#define DW_INLINE static inline __attribute__((always_inline))
#define DW_NOINLINE static __attribute__((noinline))
#else
#define DW_INLINE static inline
#define DW_NOINLINE static
#endif

/* The inline assembly below takes offsets as assembler immediates (constants only once optimised) and
 * fixed registers: it is used in optimised builds, plain C otherwise. */
#if SMCU_HAVE_DSP && defined(__OPTIMIZE__)
#define DW_ASM_IMM 1
#else
#define DW_ASM_IMM 0
#endif

#define OUTSIDE_ROW (-1) /* a slot tag: the row is outside the image (all zero point) */

/* (acc * 2^32 + a * b + 2^31) >> 32, wrapping: SMMLAR. */
DW_INLINE int32_t dw_smmlar(int32_t a, int32_t b, int32_t acc) {
#if SMCU_HAVE_DSP
  int32_t r;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
#else
  const uint64_t v = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * b) + (UINT64_C(1) << 31);
  return (int32_t)(uint32_t)(v >> 32);
#endif
}

DW_INLINE int32_t dw_sat8(int32_t v) {
#if SMCU_HAVE_DSP && defined(__ARM_FEATURE_SAT)
  return __ssat(v, 8);
#else
  return smcu_clamp_i32(v, SMCU_INT8_MIN, SMCU_INT8_MAX);
#endif
}

/* Bytes 1 and 3 of x sign-extended into lanes 0 and 1 (SXTB16 with its rotation). */
DW_INLINE int32_t dw_sxtb16_ror8(int32_t x) {
#if SMCU_HAVE_DSP
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
#else
  return smcu_sxtb16_ror8(x);
#endif
}

/* Lane 1 of `lo` and lane 1 of `hi` in one word (PKHTB). */
DW_INLINE int32_t dw_pack_hi_hi(int32_t lo, int32_t hi) {
#if SMCU_HAVE_DSP
  int32_t r;
  __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
  return r;
#else
  return smcu_pack_hi_hi(lo, hi);
#endif
}

/* The doubled accumulator -> the output before the activation clamp (smcu_depthwise_conv2d.h). */
DW_INLINE int32_t dw_requant(int32_t acc2, int32_t mult, int32_t rh, int32_t e) {
  return (dw_smmlar(acc2, mult, rh) - (int32_t)((uint32_t)acc2 >> 31)) >> e;
}

/* --- expansion of one input row into a ring slot --- */

/* t[0], t[nw], t[2 nw], t[3 nw] = w0 .. w3; t += 4 nw (the last store with write-back; nw a constant) */
#if DW_ASM_IMM
#define DW_STORE4(t, w0, w1, w2, w3, nw)                                                          \
  __asm__ volatile("str %2, [%0, %5]\n\tstr %3, [%0, %6]\n\tstr %4, [%0, %7]\n\tstr %1, [%0], %8" \
                   : "+r"(t)                                                                     \
                   : "r"(w0), "r"(w1), "r"(w2), "r"(w3), "i"(4 * (nw)), "i"(8 * (nw)), "i"(12 * (nw)), \
                     "i"(16 * (nw))                                                              \
                   : "memory")
#else
#define DW_STORE4(t, w0, w1, w2, w3, nw) \
  do {                                   \
    (t)[0] = (w0);                       \
    (t)[nw] = (w1);                      \
    (t)[2 * (nw)] = (w2);                \
    (t)[3 * (nw)] = (w3);                \
    (t) += 4 * (nw);                     \
  } while (0)
#endif
#define DW_STORE4_ANY(t, w0, w1, w2, w3, nw_k, nw) \
  do {                                             \
    if (nw_k) {                                    \
      DW_STORE4(t, w0, w1, w2, w3, nw_k);          \
    } else {                                       \
      (t)[0] = (w0);                               \
      (t)[nw] = (w1);                              \
      (t)[2 * (nw)] = (w2);                        \
      (t)[3 * (nw)] = (w3);                        \
      (t) += 4 * (nw);                             \
    }                                              \
  } while (0)

/* Grid pair (columns a, b: `ch_n` int8 each, the zero-point row where a column is outside the image),
 * every channel, into one or two targets (channel ch's word at t[ch * nw]): per 4 channels 2 LDR,
 * 2 PKH, 4 SXTB16 and 4 STR per target. `nw_k`: nw when it is a constant of the instantiation. */
DW_INLINE void expand_g(const int8_t *a, const int8_t *b, int32_t ch_n, int32_t *t0, int32_t *t1, const int32_t nw,
                        const int32_t nw_k) {
  const int8_t *const a_end = a + (ch_n & ~3);
  if (t1) {
    while (a != a_end) {
      const int32_t va = smcu_read_s32(a), vb = smcu_read_s32(b);
      const int32_t lo = smcu_pack16(va, vb), hi = dw_pack_hi_hi(va, vb); /* a0 a1 b0 b1, a2 a3 b2 b3 */
      const int32_t w0 = smcu_sxtb16(lo), w1 = dw_sxtb16_ror8(lo), w2 = smcu_sxtb16(hi), w3 = dw_sxtb16_ror8(hi);
      a += 4;
      b += 4;
      DW_STORE4_ANY(t0, w0, w1, w2, w3, nw_k, nw);
      DW_STORE4_ANY(t1, w0, w1, w2, w3, nw_k, nw);
    }
  } else {
    while (a != a_end) {
      const int32_t va = smcu_read_s32(a), vb = smcu_read_s32(b);
      const int32_t lo = smcu_pack16(va, vb), hi = dw_pack_hi_hi(va, vb);
      const int32_t w0 = smcu_sxtb16(lo), w1 = dw_sxtb16_ror8(lo), w2 = smcu_sxtb16(hi), w3 = dw_sxtb16_ror8(hi);
      a += 4;
      b += 4;
      DW_STORE4_ANY(t0, w0, w1, w2, w3, nw_k, nw);
    }
  }
  for (int32_t n = ch_n & 3; n > 0; --n, ++a, ++b, t0 += nw) {
    const int32_t v = smcu_pack16(*a, *b);
    t0[0] = v;
    if (t1) {
      t1[0] = v;
      t1 += nw;
    }
  }
}

/* Input row `row` (NULL: a row outside the image) into `slot`: word i of pair j is grid pair
 * g = j * s + i, columns 2g - pad_w and 2g - pad_w + 1. `init`: only the grid pairs wholly outside
 * the image (the zero point for every row, written once); otherwise only the others. */
DW_INLINE void expand_row(const smcu_depthwise_conv2d_params_t *c, const int8_t *row, const int8_t *zrow,
                          int32_t *slot, int32_t pairs, int32_t n_w, int32_t nw_k, int32_t init) {
  const int32_t ch_n = c->in_c, in_w = c->in_w, s = c->stride_w;
  const int32_t nw = nw_k ? nw_k : n_w;
  const int32_t grid = (pairs - 1) * s + nw;
  for (int32_t g = 0; g < grid; ++g) {
    const int32_t ca = 2 * g - c->pad_w;
    if ((ca + 1 < 0 || ca >= in_w) != init) {
      continue;
    }
    const int8_t *a = row && ca >= 0 ? row + ca * ch_n : zrow;
    const int8_t *b = row && ca + 1 < in_w ? row + (ca + 1) * ch_n : zrow;
    int32_t j = g - nw + 1 <= 0 ? 0 : (g - nw + s) / s; /* the pairs covering g: j .. j_end */
    int32_t j_end = g / s;
    if (j_end > pairs - 1) {
      j_end = pairs - 1;
    }
    for (; j <= j_end; j += 2) {
      int32_t *t0 = slot + j * ch_n * nw + (g - j * s);
      int32_t *t1 = j + 1 <= j_end ? slot + (j + 1) * ch_n * nw + (g - (j + 1) * s) : 0;
      expand_g(a, b, ch_n, t0, t1, nw, nw_k);
    }
  }
}

/* Stores of channel k (0..3) of a group of 4 at target t, channel stride nw words; the last one steps
 * t to the next group. On Armv7E-M t points one channel early, so that channel 3's store is
 * STR / STRD with pre-indexed write-back (offset 16 nw); the order of the stores is kept. (Plain C
 * stores elsewhere, and in unoptimised builds, where the offsets are not constants.) */
#if DW_ASM_IMM
#define DW_TBASE(t, nw) ((int32_t *)((uintptr_t)(t) - 4u * (uint32_t)(nw)))
#define DW_STR_K(v, t, k, nw) __asm__ volatile("str %0, [%1, %2]" : : "r"(v), "r"(t), "i"(4 * (nw) * ((k) + 1)) : "memory")
#define DW_STRD_K(x, y, t, k, nw) \
  __asm__ volatile("strd %0, %1, [%2, %3]" : : "r"(x), "r"(y), "r"(t), "i"(4 * (nw) * ((k) + 1)) : "memory")
#define DW_STR_3(v, t, nw) __asm__ volatile("str %1, [%0, %2]!" : "+r"(t) : "r"(v), "i"(16 * (nw)) : "memory")
#define DW_STRD_3(x, y, t, nw) \
  __asm__ volatile("strd %1, %2, [%0, %3]!" : "+r"(t) : "r"(x), "r"(y), "i"(16 * (nw)) : "memory")
#else
#define DW_TBASE(t, nw) (t)
#define DW_STR_K(v, t, k, nw) ((t)[(k) * (nw)] = (v))
#define DW_STRD_K(x, y, t, k, nw) ((t)[(k) * (nw)] = (x), (t)[(k) * (nw) + 1] = (y))
#define DW_STR_3(v, t, nw) ((t)[3 * (nw)] = (v), (t) += 4 * (nw))
#define DW_STRD_3(x, y, t, nw) ((t)[3 * (nw)] = (x), (t)[3 * (nw) + 1] = (y), (t) += 4 * (nw))
#endif

/* Grid pairs g, g + 1 (columns a, b and c, d), every channel, into tq (a pair's words g, g + 1: STRD),
 * tp (W_g) and, for stride 1, tn (W_g+1); channel ch at +ch * nw. A target that does not exist points
 * at tq + 1: tp is stored before tq's STRD overwrites it, tn gets the value STRD puts there. */
DW_INLINE void expand_dbl(const int8_t *a, const int8_t *b, const int8_t *c, const int8_t *d, int32_t ch_n,
                          int32_t *tp, int32_t *tq, int32_t *tn, const int32_t nw, const int32_t s2) {
  const int8_t *const a_end = a + (ch_n & ~3);
  int32_t *bp = DW_TBASE(tp, nw), *bq = DW_TBASE(tq, nw), *bn = DW_TBASE(tn, nw);
  while (a != a_end) {
    const int32_t va = smcu_read_s32(a), vb = smcu_read_s32(b);
    const int32_t lo1 = smcu_pack16(va, vb), hi1 = dw_pack_hi_hi(va, vb);
    const int32_t vc = smcu_read_s32(c), vd = smcu_read_s32(d);
    const int32_t lo2 = smcu_pack16(vc, vd), hi2 = dw_pack_hi_hi(vc, vd);
    int32_t x, y;
    a += 4;
    b += 4;
    c += 4;
    d += 4;
    x = smcu_sxtb16(lo1);
    y = smcu_sxtb16(lo2);
    DW_STR_K(x, bp, 0, nw);
    DW_STRD_K(x, y, bq, 0, nw);
    if (!s2) {
      DW_STR_K(y, bn, 0, nw);
    }
    x = dw_sxtb16_ror8(lo1);
    y = dw_sxtb16_ror8(lo2);
    DW_STR_K(x, bp, 1, nw);
    DW_STRD_K(x, y, bq, 1, nw);
    if (!s2) {
      DW_STR_K(y, bn, 1, nw);
    }
    x = smcu_sxtb16(hi1);
    y = smcu_sxtb16(hi2);
    DW_STR_K(x, bp, 2, nw);
    DW_STRD_K(x, y, bq, 2, nw);
    if (!s2) {
      DW_STR_K(y, bn, 2, nw);
    }
    x = dw_sxtb16_ror8(hi1);
    y = dw_sxtb16_ror8(hi2);
    DW_STR_3(x, bp, nw);
    DW_STRD_3(x, y, bq, nw);
    if (!s2) {
      DW_STR_3(y, bn, nw);
    }
  }
  tp += (ch_n & ~3) * nw;
  tq += (ch_n & ~3) * nw;
  tn += (ch_n & ~3) * nw;
  for (int32_t n = ch_n & 3; n > 0; --n, tp += nw, tq += nw, tn += nw) {
    const int32_t x = smcu_pack16(*a++, *b++), y = smcu_pack16(*c++, *d++);
    tp[0] = x;
    tq[0] = x;
    tq[1] = y;
    if (!s2) {
      tn[0] = y;
    }
  }
}

/* Paths 1 and 2 (nw = 2, stride_w 1 / nw = 3, stride_w 2): the targets of grid pair g worked out
 * directly, two grid pairs at a time where both have their full set of targets. Stride 1: g goes to
 * pair g (word 0) and pair g - 1 (word 1); stride 2: even g to pair g / 2 (word 0) and pair g / 2 - 1
 * (word 2), odd g to pair (g - 1) / 2 (word 1). */
DW_INLINE void expand_row_fixed(const smcu_depthwise_conv2d_params_t *c, const int8_t *row, const int8_t *zrow,
                                int32_t *slot, int32_t pairs, const int32_t s2) {
  const int32_t ch_n = c->in_c, in_w = c->in_w, pad_w = c->pad_w;
  const int32_t nw = s2 ? 3 : 2;
  const int32_t blk = ch_n * nw; /* words per pair */
  const int32_t grid = s2 ? 2 * pairs + 1 : pairs + 1;
  int32_t g = pad_w >> 1;                  /* the first grid pair touching the image: 2g + 1 >= pad_w */
  int32_t g_end = (in_w + pad_w + 1) >> 1; /* past the last: 2g - pad_w <= in_w - 1 */
  if (g_end > grid) {
    g_end = grid;
  }
#define DW_COL(col) (row && (col) >= 0 && (col) < in_w ? row + (col) * ch_n : zrow)
  while (g < g_end) {
    const int32_t ca = 2 * g - pad_w;
    int32_t *t0, *t1;
    if (s2) {
      const int32_t j = g >> 1;
      if (!(g & 1) && j < pairs && g + 1 < g_end) {
        int32_t *tq = slot + j * blk;
        expand_dbl(DW_COL(ca), DW_COL(ca + 1), DW_COL(ca + 2), DW_COL(ca + 3), ch_n,
                   j > 0 ? tq - blk + 2 : tq + 1, tq, tq + 1, 3, 1);
        g += 2;
        continue;
      }
      if (g & 1) {
        t0 = slot + j * blk + 1;
        t1 = 0;
      } else {
        t0 = j < pairs ? slot + j * blk : 0;
        t1 = j > 0 ? slot + (j - 1) * blk + 2 : 0;
      }
    } else {
      if (g > 0 && g + 1 < pairs && g + 1 < g_end) {
        int32_t *tq = slot + g * blk;
        expand_dbl(DW_COL(ca), DW_COL(ca + 1), DW_COL(ca + 2), DW_COL(ca + 3), ch_n, tq - blk + 1, tq, tq + blk, 2,
                   0);
        g += 2;
        continue;
      }
      t0 = g < pairs ? slot + g * blk : 0;
      t1 = g > 0 ? slot + (g - 1) * blk + 1 : 0;
    }
    if (!t0) {
      t0 = t1;
      t1 = 0;
    }
    expand_g(DW_COL(ca), DW_COL(ca + 1), ch_n, t0, t1, nw, nw);
    ++g;
  }
#undef DW_COL
}

typedef void (*expand_fn)(const smcu_depthwise_conv2d_params_t *c, const int8_t *row, const int8_t *zrow,
                          int32_t *slot, int32_t pairs, int32_t n_w);
DW_NOINLINE void expand_s1(const smcu_depthwise_conv2d_params_t *c, const int8_t *row, const int8_t *zrow,
                           int32_t *slot, int32_t pairs, int32_t n_w) {
  (void)n_w;
  expand_row_fixed(c, row, zrow, slot, pairs, 0);
}
DW_NOINLINE void expand_s2(const smcu_depthwise_conv2d_params_t *c, const int8_t *row, const int8_t *zrow,
                           int32_t *slot, int32_t pairs, int32_t n_w) {
  (void)n_w;
  expand_row_fixed(c, row, zrow, slot, pairs, 1);
}
DW_NOINLINE void expand_any(const smcu_depthwise_conv2d_params_t *c, const int8_t *row, const int8_t *zrow,
                            int32_t *slot, int32_t pairs, int32_t n_w, int32_t init) {
  expand_row(c, row, zrow, slot, pairs, n_w, 0, init);
}
static void expand_n(const smcu_depthwise_conv2d_params_t *c, const int8_t *row, const int8_t *zrow, int32_t *slot,
                     int32_t pairs, int32_t n_w) {
  expand_any(c, row, zrow, slot, pairs, n_w, 0);
}

/* --- one output pixel pair (x0, x0 + 1; `two` = 0: x0 only), every channel --- */

/* Loads with write-back into fixed ascending registers (LDM: one instruction whatever the count;
 * the register list of LDM must ascend, hence the explicit register variables; optimised builds). */
#if DW_ASM_IMM
#define DW_LDM3_REGS(p, a, b, c, ra, rb, rc)                                                  \
  do {                                                                                        \
    register int32_t r0_ __asm__(ra);                                                         \
    register int32_t r1_ __asm__(rb);                                                         \
    register int32_t r2_ __asm__(rc);                                                         \
    __asm__ volatile("ldmia %0!, {%1, %2, %3}"                                                \
                     : "+r"(p), "=r"(r0_), "=r"(r1_), "=r"(r2_)                               \
                     : "m"(*(const int32_t(*)[3])(p)));                                       \
    (a) = r0_;                                                                                \
    (b) = r1_;                                                                                \
    (c) = r2_;                                                                                \
  } while (0)
#define DW_LDM3(p, a, b, c) DW_LDM3_REGS(p, a, b, c, "r4", "r5", "r6")
#define DW_LDM3_HI(p, a, b, c) DW_LDM3_REGS(p, a, b, c, "r8", "r9", "r10")
/* r7 gives the 3x3 pair loop its tightest allocation; it is Thumb's frame pointer, so a build that
 * keeps one (-fno-omit-frame-pointer: "r7 cannot be used in 'asm' here") defines SMCU_FRAME_POINTER
 * and pays about one instruction per channel. */
#if defined(SMCU_FRAME_POINTER)
#define DW_R7 "r8" /* DW_LDM5's 4th and 5th registers */
#define DW_R8 "r9"
#define DW_LDM3_END(p, a, b, c) DW_LDM3_REGS(p, a, b, c, "r4", "r5", "r6")
#else
#define DW_R7 "r7"
#define DW_R8 "r8"
#define DW_LDM3_END(p, a, b, c) DW_LDM3_REGS(p, a, b, c, "r4", "r5", "r7")
#endif
#define DW_LDM5(p, a, b, c, d, e)                                                             \
  do {                                                                                        \
    register int32_t r0_ __asm__("r4");                                                       \
    register int32_t r1_ __asm__("r5");                                                       \
    register int32_t r2_ __asm__("r6");                                                       \
    register int32_t r3_ __asm__(DW_R7);                                                      \
    register int32_t r4_ __asm__(DW_R8);                                                      \
    __asm__ volatile("ldmia %0!, {%1, %2, %3, %4, %5}"                                        \
                     : "+r"(p), "=r"(r0_), "=r"(r1_), "=r"(r2_), "=r"(r3_), "=r"(r4_)         \
                     : "m"(*(const int32_t(*)[5])(p)));                                       \
    (a) = r0_;                                                                                \
    (b) = r1_;                                                                                \
    (c) = r2_;                                                                                \
    (d) = r3_;                                                                                \
    (e) = r4_;                                                                                \
  } while (0)
/* a = p[0], b = p[1], p += 3 (LDRD with write-back) */
#define DW_LOAD2_SKIP1(a, b, p) \
  __asm__ volatile("ldrd %0, %1, [%2], #12" : "=r"(a), "=r"(b), "+r"(p) : "m"((p)[0]), "m"((p)[1]))
#else
#define DW_LDM3(p, a, b, c) \
  do {                      \
    (a) = (p)[0];           \
    (b) = (p)[1];           \
    (c) = (p)[2];           \
    (p) += 3;               \
  } while (0)
#define DW_LDM3_HI DW_LDM3
#define DW_LDM3_END DW_LDM3
#define DW_LDM5(p, a, b, c, d, e) \
  do {                            \
    (a) = (p)[0];                 \
    (b) = (p)[1];                 \
    (c) = (p)[2];                 \
    (d) = (p)[3];                 \
    (e) = (p)[4];                 \
    (p) += 5;                     \
  } while (0)
#define DW_LOAD2_SKIP1(a, b, p) \
  do {                          \
    (a) = (p)[0];               \
    (b) = (p)[1];               \
    (p) += 3;                   \
  } while (0)
#endif

/* Paths 1 and 2: the weight stream per channel is bias2, u0, v0, u1, v1, u2, v2, mult, rh, e (row ky's
 * words u, v); a pair pass reads it as LDM3, LDRD, LDRD, LDM3, a single-pixel pass as LDM5, LDM5.
 *
 * 3x3, stride_w 1: row words x = (c0, c1), y = (c2, c3); weights u = (w0, w1), v = (w1, w2):
 *   x0 = c0 w0 + c1 w1 + c2 w2 = SMLAD(x, u) + SMLABT(y, v)
 *   x1 = c1 w0 + c2 w1 + c3 w2 = SMLATB(x, u) + SMLAD(y, v)
 * 3x3, stride_w 2: row words x = (c0, c1), y = (c2, c3), z = (c4, c5); weights u = (w0, w1), v = (w2, 0):
 *   x0 = SMLAD(x, u) + SMLABB(y, v);  x1 = SMLAD(y, u) + SMLABB(z, v) */
#define DW_S1_PAIR_ROW(d)           \
  do {                              \
    int32_t x_, y_;                 \
    SMCU_LOAD2(x_, y_, d);          \
    a0 = smcu_smlad(x_, u, a0);     \
    a1 = smcu_smlatb(x_, u, a1);    \
    a0 = smcu_smlabt(y_, v, a0);    \
    a1 = smcu_smlad(y_, v, a1);     \
  } while (0)
#define DW_S1_ONE_ROW(d, u, v)      \
  do {                              \
    int32_t x_, y_;                 \
    SMCU_LOAD2(x_, y_, d);          \
    a0 = smcu_smlad(x_, u, a0);     \
    a0 = smcu_smlabt(y_, v, a0);    \
  } while (0)
#define DW_S2_PAIR_ROW(d)                  \
  do {                                     \
    int32_t x_, y_, z_;                    \
    DW_LDM3_HI(d, x_, y_, z_);             \
    a0 = smcu_smlad(x_, u, a0);            \
    a1 = smcu_smlad(y_, u, a1);            \
    a0 = smcu_smlabb(y_, v, a0);           \
    a1 = smcu_smlabb(z_, v, a1);           \
  } while (0)
#define DW_S2_ONE_ROW(d, u, v)      \
  do {                              \
    int32_t x_, y_;                 \
    DW_LOAD2_SKIP1(x_, y_, d);      \
    a0 = smcu_smlad(x_, u, a0);     \
    a0 = smcu_smlabb(y_, v, a0);    \
  } while (0)

#if SMCU_HAVE_DSP
#define DW_STORE(o, acc, mult, rh, e)                                                          \
  do {                                                                                        \
    const int32_t q_ = dw_sat8(dw_requant(acc, mult, rh, e));                                 \
    __asm__ volatile("strb %1, [%0], #1" : "+r"(o) : "r"(q_) : "memory"); /* write-back */   \
  } while (0)
#else
#define DW_STORE(o, acc, mult, rh, e) *(o)++ = (int8_t)dw_sat8(dw_requant(acc, mult, rh, e))
#endif

/* Both passes take two channels per loop iteration (an odd one first). */
DW_INLINE void pair_3x3(const int32_t *w, const int32_t *d0, const int32_t *d1, const int32_t *d2, int8_t *o,
                        int32_t ch_n, const int32_t s2) {
  int8_t *o0 = o, *o1 = o + ch_n;
  int32_t n;
#define DW_PAIR_BODY()                 \
  do {                                 \
    int32_t a0, a1, u, v, mult, rh, e; \
    DW_LDM3(w, a0, u, v);              \
    a1 = a0;                           \
    if (s2) {                          \
      DW_S2_PAIR_ROW(d0);              \
      SMCU_LOAD2(u, v, w);             \
      DW_S2_PAIR_ROW(d1);              \
      SMCU_LOAD2(u, v, w);             \
      DW_S2_PAIR_ROW(d2);              \
    } else {                           \
      DW_S1_PAIR_ROW(d0);              \
      SMCU_LOAD2(u, v, w);             \
      DW_S1_PAIR_ROW(d1);              \
      SMCU_LOAD2(u, v, w);             \
      DW_S1_PAIR_ROW(d2);              \
    }                                  \
    DW_LDM3_END(w, mult, rh, e);       \
    DW_STORE(o0, a0, mult, rh, e);     \
    DW_STORE(o1, a1, mult, rh, e);     \
  } while (0)
  if (ch_n & 1) {
    DW_PAIR_BODY();
  }
  for (n = ch_n >> 1; n > 0; --n) {
    DW_PAIR_BODY();
    DW_PAIR_BODY();
  }
#undef DW_PAIR_BODY
}

DW_INLINE void one_3x3(const int32_t *w, const int32_t *d0, const int32_t *d1, const int32_t *d2, int8_t *o,
                       int32_t ch_n, const int32_t s2) {
  int32_t n;
#define DW_ONE_BODY()                                   \
  do {                                                  \
    int32_t a0, u0, v0, u1, v1, u2, v2, mult, rh, e;    \
    DW_LDM5(w, a0, u0, v0, u1, v1);                     \
    if (s2) {                                           \
      DW_S2_ONE_ROW(d0, u0, v0);                        \
      DW_S2_ONE_ROW(d1, u1, v1);                        \
    } else {                                            \
      DW_S1_ONE_ROW(d0, u0, v0);                        \
      DW_S1_ONE_ROW(d1, u1, v1);                        \
    }                                                   \
    DW_LDM5(w, u2, v2, mult, rh, e);                    \
    if (s2) {                                           \
      DW_S2_ONE_ROW(d2, u2, v2);                        \
    } else {                                            \
      DW_S1_ONE_ROW(d2, u2, v2);                        \
    }                                                   \
    DW_STORE(o, a0, mult, rh, e);                       \
  } while (0)
  if (ch_n & 1) {
    DW_ONE_BODY();
  }
  for (n = ch_n >> 1; n > 0; --n) {
    DW_ONE_BODY();
    DW_ONE_BODY();
  }
#undef DW_ONE_BODY
}

/* Path 0, any kernel: the k_h * n_w data words of a pair and channel are base[offs[t]] (offs: kernel
 * row ky's slot offset + word i at t = ky * n_w + i, set per output row); per word, x0 += SMLAD(word, wa)
 * and x1 += SMLAD(word, wb) with the weight stream's (wa, wb) (zero where a lane is not one of that
 * pixel's taps). */
DW_INLINE void pair_generic(const smcu_depthwise_conv2d_simd_params_t *p, const int32_t *base, const int32_t *offs,
                            int8_t *o, const int32_t two) {
  const int32_t ch_n = p->c.in_c, nw = p->n_w, steps = p->c.k_h * p->n_w;
  const int32_t act_min = p->c.act_min, act_max = p->c.act_max;
  const int32_t full = act_min <= SMCU_INT8_MIN && act_max >= SMCU_INT8_MAX;
  const int32_t *w = p->weights;
  const int8_t *const end = o + ch_n;
  for (; o != end; base += nw) {
    int32_t a0 = *w++, a1 = a0;
    const int32_t *t = offs;
#define DW_GSTEP()                    \
  do {                                \
    int32_t wa, wb;                   \
    const int32_t x = base[*t++];     \
    SMCU_LOAD2(wa, wb, w);            \
    a0 = smcu_smlad(x, wa, a0);       \
    if (two) {                        \
      a1 = smcu_smlad(x, wb, a1);     \
    }                                 \
  } while (0)
    for (int32_t n = steps & 3; n > 0; --n) {
      DW_GSTEP();
    }
    for (int32_t n = steps >> 2; n > 0; --n) {
      DW_GSTEP();
      DW_GSTEP();
      DW_GSTEP();
      DW_GSTEP();
    }
#undef DW_GSTEP
    int32_t mult, rh, e;
    DW_LDM3(w, mult, rh, e);
    const int32_t v0 = dw_requant(a0, mult, rh, e);
    o[0] = (int8_t)(full ? dw_sat8(v0) : smcu_clamp_i32(v0, act_min, act_max));
    if (two) {
      const int32_t v1 = dw_requant(a1, mult, rh, e);
      o[ch_n] = (int8_t)(full ? dw_sat8(v1) : smcu_clamp_i32(v1, act_min, act_max));
    }
    ++o;
  }
}

/* n_w 3 and 4 (5x5 stride 1 and 2, 7x7 stride 1): per kernel row its slot offset (row_off), the words
 * unrolled. */
DW_INLINE void pair_rows(const smcu_depthwise_conv2d_simd_params_t *p, const int32_t *base, const int32_t *row_off,
                         int8_t *o, const int32_t two, const int32_t nw) {
  const int32_t ch_n = p->c.in_c, k_h = p->c.k_h;
  const int32_t act_min = p->c.act_min, act_max = p->c.act_max;
  const int32_t full = act_min <= SMCU_INT8_MIN && act_max >= SMCU_INT8_MAX;
  const int32_t *w = p->weights;
  const int8_t *const end = o + ch_n;
  for (; o != end; base += nw) {
    int32_t a0 = *w++, a1 = a0;
    const int32_t *off = row_off;
    for (int32_t ky = k_h; ky > 0; --ky) {
      const int32_t *d = base + *off++;
#define DW_RWORD(i)                   \
  do {                                \
    int32_t wa, wb;                   \
    const int32_t x = d[i];           \
    SMCU_LOAD2(wa, wb, w);            \
    a0 = smcu_smlad(x, wa, a0);       \
    if (two) {                        \
      a1 = smcu_smlad(x, wb, a1);     \
    }                                 \
  } while (0)
      DW_RWORD(0);
      DW_RWORD(1);
      DW_RWORD(2);
      if (nw > 3) {
        DW_RWORD(3);
      }
#undef DW_RWORD
    }
    int32_t mult, rh, e;
    DW_LDM3(w, mult, rh, e);
    const int32_t v0 = dw_requant(a0, mult, rh, e);
    o[0] = (int8_t)(full ? dw_sat8(v0) : smcu_clamp_i32(v0, act_min, act_max));
    if (two) {
      const int32_t v1 = dw_requant(a1, mult, rh, e);
      o[ch_n] = (int8_t)(full ? dw_sat8(v1) : smcu_clamp_i32(v1, act_min, act_max));
    }
    ++o;
  }
}

/* (offs: the per-word offsets for pair_generic, the per-row ones for pair_rows) */
typedef void (*generic_fn)(const smcu_depthwise_conv2d_simd_params_t *p, const int32_t *base, const int32_t *offs,
                           int8_t *o);
static void generic_two(const smcu_depthwise_conv2d_simd_params_t *p, const int32_t *base, const int32_t *offs,
                        int8_t *o) {
  pair_generic(p, base, offs, o, 1);
}
static void generic_one(const smcu_depthwise_conv2d_simd_params_t *p, const int32_t *base, const int32_t *offs,
                        int8_t *o) {
  pair_generic(p, base, offs, o, 0);
}
#define DW_ROWS_FN(name, two, nw)                                                                            \
  static void name(const smcu_depthwise_conv2d_simd_params_t *p, const int32_t *base, const int32_t *row_off, \
                   int8_t *o) {                                                                              \
    pair_rows(p, base, row_off, o, two, nw);                                                                 \
  }
DW_ROWS_FN(rows3_two, 1, 3)
DW_ROWS_FN(rows3_one, 0, 3)
DW_ROWS_FN(rows4_two, 1, 4)
DW_ROWS_FN(rows4_one, 0, 4)

/* The 3x3 passes as separate functions (each gets every register of its own). */
typedef void (*pair_fn)(const int32_t *w, const int32_t *d0, const int32_t *d1, const int32_t *d2, int8_t *o,
                        int32_t ch_n);
#define DW_PAIR_FN(name, body, s2)                                                                        \
  static void name(const int32_t *w, const int32_t *d0, const int32_t *d1, const int32_t *d2, int8_t *o,  \
                   int32_t ch_n) {                                                                        \
    body(w, d0, d1, d2, o, ch_n, s2);                                                                     \
  }
DW_PAIR_FN(f1_two, pair_3x3, 0)
DW_PAIR_FN(f1_one, one_3x3, 0)
DW_PAIR_FN(f2_two, pair_3x3, 1)
DW_PAIR_FN(f2_one, one_3x3, 1)

void smcu_depthwise_conv2d_s8_simd(const smcu_depthwise_conv2d_simd_params_t *p, const int8_t *input, int8_t *output,
                                   void *scratch) {
  const smcu_depthwise_conv2d_params_t *c = &p->c;
  const int32_t ch_n = c->in_c, ring = p->ring, n_w = p->n_w, path = p->path;
  const int32_t pairs = (c->out_w + 1) >> 1;
  const int32_t slot_words = pairs * ch_n * n_w;
  int32_t *tags = (int32_t *)scratch;                  /* [ring] the row each slot holds */
  int32_t *row_off = tags + ring;                      /* [k_h] word offset of kernel row ky's slot */
  int32_t *offs = row_off + c->k_h;                    /* [k_h * n_w] path 0: row_off[ky] + i */
  int8_t *zrow = (int8_t *)(offs + c->k_h * n_w);      /* [in_c] the input zero point */
  int32_t *slots = offs + c->k_h * n_w + ((ch_n + 3) >> 2); /* [ring][slot_words] */
  const pair_fn two_fn = path == 1 ? f1_two : f2_two;
  const pair_fn one_fn = path == 1 ? f1_one : f2_one;
  const generic_fn g_two = n_w == 3 ? rows3_two : n_w == 4 ? rows4_two : generic_two;
  const generic_fn g_one = n_w == 3 ? rows3_one : n_w == 4 ? rows4_one : generic_one;
  for (int32_t ch = 0; ch < ch_n; ++ch) {
    zrow[ch] = (int8_t)(-c->input_offset);
  }
  const expand_fn expand = path == 1 ? expand_s1 : path == 2 ? expand_s2 : expand_n;
  for (int32_t s = 0; s < ring; ++s) {
    tags[s] = INT32_MIN; /* holds nothing yet */
    expand_any(c, 0, zrow, slots + s * slot_words, pairs, n_w, 1);
  }
  for (int32_t oy = 0; oy < c->out_h; ++oy) {
    const int32_t a0 = oy * c->stride_h - c->pad_h;
    for (int32_t ky = 0; ky < c->k_h; ++ky) {
      const int32_t a = a0 + ky * c->dil_h;
      const int32_t tag = a >= 0 && a < c->in_h ? a : OUTSIDE_ROW;
      int32_t s = a % ring;
      if (s < 0) {
        s += ring;
      }
      if (tags[s] != tag) {
        const int8_t *row = tag == OUTSIDE_ROW ? 0 : input + a * c->in_w * ch_n;
        int32_t *slot = slots + s * slot_words;
        expand(c, row, zrow, slot, pairs, n_w);
        tags[s] = tag;
      }
      row_off[ky] = s * slot_words;
      if (!path) {
        for (int32_t i = 0; i < n_w; ++i) {
          offs[ky * n_w + i] = s * slot_words + i;
        }
      }
    }
    int8_t *out = output + oy * c->out_w * ch_n;
    for (int32_t j = 0; j < pairs; ++j, out += 2 * ch_n) {
      const int32_t two = 2 * j + 1 < c->out_w;
      const int32_t *base = slots + j * ch_n * n_w;
      if (path) {
        (two ? two_fn : one_fn)(p->weights, base + row_off[0], base + row_off[1], base + row_off[2], out, ch_n);
      } else {
        (two ? g_two : g_one)(p, base, n_w == 3 || n_w == 4 ? row_off : offs, out);
      }
    }
  }
}
