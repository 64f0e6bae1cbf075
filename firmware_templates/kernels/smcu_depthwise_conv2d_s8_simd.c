/* DEPTHWISE_CONV_2D int8, 16-bit SIMD, depth multiplier 1 (layout and requantisation:
 * smcu_depthwise_conv2d.h).
 *
 * Structure: one generic row expansion, two 3x3 pair passes, two lone-pixel passes, one generic pass.
 * Each input row a window needs is expanded once to int16 into a ring slot of the scratch (dw_expand:
 * one word per "grid pair" of columns and channel, the input zero point outside the image, no word
 * stored twice; per 4 channels LDR, LDR, PKHBT, PKHTB, four SXTB16, two STRD: ~2.8 instructions per
 * channel and grid pair). The grid pairs wholly outside the image are written once per slot, when the
 * slots are filled with the zero point; a row build rewrites only the others. A pass then walks the
 * channels of one output pixel pair (x0, x1):
 *   dw_pair_s1   3x3, stride_w 1: per kernel row 2 data loads (grid pairs j, j + 1), 1 weight LDRD,
 *                SMLAD, SMLATB, SMLABB, SMLADX: 34 instructions per channel for 18 MACs
 *   dw_pair_s2   3x3, stride_w 2: per row LDRD (grid pairs 2j, 2j + 1, adjacent: q = 2) + LDR
 *                (2j + 2), SMLAD, SMLAD, SMLABB, SMLABB: 34 for 18 MACs
 *   dw_one_s1/2  the lone last pixel of an odd output width: 22 / 18 for 9 MACs
 *   dw_generic   any other kernel / stride / dilation / activation range: per data word an SMLAD
 *                for each pixel (weights zero where a halfword is not one of the pixel's taps), ~7
 *                instructions per word
 * Per output the requantisation is SMMLAR, the sign correction, ASR, SSAT (or the activation clamp)
 * and STRB. Budget (emulated Cortex-M4/M7): dscnn_kws's 25x5x64 3x3 'same' layers 2.44 instructions
 * per MAC (passes 2.0, row expansion 0.25, per-row and per-pair overhead 0.15), 3x3 stride 1 on
 * 12x12x32 2.43, 3x3 stride 2 on 24x24x32 3.1 (there each input element serves only 2.25 MACs, so
 * the expansion costs ~0.9); ~1.87 KB of Thumb-2 code (-O2).
 *
 * The weight stream (bias2, per kernel row (u, v), mult, rh, e) is read with LDM into fixed
 * registers, and the data loads and output stores use write-back and register-offset addressing
 * through a little inline assembly (optimised Armv7E-M builds); the portable C of every macro
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

/* The inline assembly below takes fixed registers and assembler immediates: used in optimised Armv7E-M
 * builds, plain C otherwise. */
#if SMCU_HAVE_DSP && defined(__OPTIMIZE__)
#define DW_ASM 1
#else
#define DW_ASM 0
#endif

#define OUTSIDE_ROW (-1) /* a slot tag: the row is outside the image (all zero point) */

/* acc + a.lane0 * b.lane1 + a.lane1 * b.lane0 (wrapping): SMLADX. */
DW_INLINE int32_t dw_smladx(int32_t a, int32_t b, int32_t acc) {
#if SMCU_HAVE_DSP
  return __smladx(a, b, acc);
#else
  return smcu_smlatb(a, b, smcu_smlabt(a, b, acc));
#endif
}

DW_INLINE int32_t dw_sat8(int32_t v) {
#if SMCU_HAVE_DSP && defined(__ARM_FEATURE_SAT)
  return __ssat(v, 8);
#else
  return smcu_clamp_i32(v, SMCU_INT8_MIN, SMCU_INT8_MAX);
#endif
}

/* The doubled accumulator -> the output before the activation clamp (smcu_depthwise_conv2d.h). */
DW_INLINE int32_t dw_requant(int32_t acc2, int32_t mult, int32_t rh, int32_t e) {
  return (smcu_smmlar(acc2, mult, rh) - (int32_t)((uint32_t)acc2 >> 31)) >> e;
}

/* --- expansion of one input row into a ring slot --- */

/* t[0], t[1], .. t[3] = w0 .. w3; t += 4 (two STRD, the last with write-back); DW_ST8 likewise for 8 */
#if DW_ASM
#define DW_ST4(t, w0, w1, w2, w3)                                                                                 \
  __asm__ volatile("strd %3, %4, [%0, #8]\n\tstrd %1, %2, [%0], #16" : "+r"(t) : "r"(w0), "r"(w1), "r"(w2), "r"(w3) \
                   : "memory")
#define DW_ST8(t, w0, w1, w2, w3, w4, w5, w6, w7)                                                       \
  __asm__ volatile("strd %3, %4, [%0, #8]\n\tstrd %5, %6, [%0, #16]\n\tstrd %7, %8, [%0, #24]\n\t"     \
                   "strd %1, %2, [%0], #32"                                                             \
                   : "+r"(t)                                                                            \
                   : "r"(w0), "r"(w1), "r"(w2), "r"(w3), "r"(w4), "r"(w5), "r"(w6), "r"(w7)             \
                   : "memory")
#else
#define DW_ST4(t, w0, w1, w2, w3) ((t)[0] = (w0), (t)[1] = (w1), (t)[2] = (w2), (t)[3] = (w3), (t) += 4)
#define DW_ST8(t, w0, w1, w2, w3, w4, w5, w6, w7)                                            \
  do {                                                                                       \
    (t)[0] = (w0), (t)[1] = (w1), (t)[2] = (w2), (t)[3] = (w3), (t)[4] = (w4), (t)[5] = (w5); \
    (t)[6] = (w6), (t)[7] = (w7), (t) += 8;                                                  \
  } while (0)
#endif

/* Grid pairs g0 <= g < g1 of input row `row` (NULL: a row outside the image) into `slot`: grid pair
 * g (columns 2g - pad_w and 2g - pad_w + 1), channel ch at word (g - g % q) * ch_n + ch * q + g % q
 * (q = 2 for stride_w 2, so that a pair's words 2j and 2j + 1 are adjacent; else 1). Per 4 channels
 * and grid pair: LDR, LDR, PKHBT, PKHTB, four SXTB16, two STRD (q = 2: two grid pairs at a time, and
 * g0 rounded down to even; the extra grid pair is outside the image or rewritten unchanged). */
DW_NOINLINE void dw_expand(const smcu_depthwise_conv2d_params_t *c, const int8_t *row, const int8_t *zrow,
                           int32_t *slot, int32_t g0, int32_t g1, int32_t q) {
  const int32_t ch_n = c->in_c;
  for (int32_t g = g0 & -q; g < g1; g += q) {
    const int8_t *src[4]; /* columns 2g - pad_w .. 2g - pad_w + 2q - 1, or the zero-point row */
    for (int32_t k = 0, col = 2 * g - c->pad_w; k < 2 * q; ++k, ++col) {
      src[k] = row && (uint32_t)col < (uint32_t)c->in_w ? row + col * ch_n : zrow;
    }
    const int8_t *a = src[0], *b = src[1];
    const int8_t *const a_end = a + (ch_n & ~3);
    int32_t *t = slot + g * ch_n;
    if (q == 1) {
      while (a != a_end) {
        const int32_t va = smcu_read_s32(a), vb = smcu_read_s32(b);
        const int32_t lo = smcu_pack16(va, vb), hi = smcu_pack_hi_hi(va, vb); /* a0 a1 b0 b1, a2 a3 b2 b3 */
        a += 4;
        b += 4;
        DW_ST4(t, smcu_sxtb16(lo), smcu_sxtb16_ror8(lo), smcu_sxtb16(hi), smcu_sxtb16_ror8(hi));
      }
      for (int32_t n = ch_n & 3; n > 0; --n) {
        *t++ = smcu_pack16(*a++, *b++);
      }
    } else {
      const int8_t *cc = src[2], *d = src[3];
      while (a != a_end) {
        const int32_t va = smcu_read_s32(a), vb = smcu_read_s32(b), vc = smcu_read_s32(cc), vd = smcu_read_s32(d);
        const int32_t lo = smcu_pack16(va, vb), hi = smcu_pack_hi_hi(va, vb);
        const int32_t lo2 = smcu_pack16(vc, vd), hi2 = smcu_pack_hi_hi(vc, vd);
        a += 4;
        b += 4;
        cc += 4;
        d += 4;
        DW_ST8(t, smcu_sxtb16(lo), smcu_sxtb16(lo2), smcu_sxtb16_ror8(lo), smcu_sxtb16_ror8(lo2), smcu_sxtb16(hi),
               smcu_sxtb16(hi2), smcu_sxtb16_ror8(hi), smcu_sxtb16_ror8(hi2));
      }
      for (int32_t n = ch_n & 3; n > 0; --n, t += 2) {
        t[0] = smcu_pack16(*a++, *b++);
        t[1] = smcu_pack16(*cc++, *d++);
      }
    }
  }
}

/* --- one output pixel pair, every channel --- */

/* Loads with write-back into fixed ascending registers (LDM: one instruction whatever the count;
 * the register list of LDM must ascend, hence the explicit register variables; optimised builds). */
#if DW_ASM
#define DW_LDM3_REGS(p, a, b, c, ra, rb, rc)                                \
  do {                                                                      \
    register int32_t r0_ __asm__(ra);                                       \
    register int32_t r1_ __asm__(rb);                                       \
    register int32_t r2_ __asm__(rc);                                       \
    __asm__ volatile("ldmia %0!, {%1, %2, %3}"                              \
                     : "+r"(p), "=r"(r0_), "=r"(r1_), "=r"(r2_)             \
                     : "m"(*(const int32_t(*)[3])(p)));                     \
    (a) = r0_;                                                              \
    (b) = r1_;                                                              \
    (c) = r2_;                                                              \
  } while (0)
#define DW_LDM3(p, a, b, c) DW_LDM3_REGS(p, a, b, c, "r4", "r5", "r6")
/* r7 gives the pair loops their tightest allocation; it is Thumb's frame pointer, so a build that keeps
 * one (-fno-omit-frame-pointer: "r7 cannot be used in 'asm' here") defines SMCU_FRAME_POINTER and pays
 * about one instruction per channel. */
#if defined(SMCU_FRAME_POINTER)
#define DW_LDM3_END(p, a, b, c) DW_LDM3_REGS(p, a, b, c, "r4", "r5", "r6")
#else
#define DW_LDM3_END(p, a, b, c) DW_LDM3_REGS(p, a, b, c, "r4", "r5", "r7")
#endif
#define DW_LDM5(p, a, b, c, d, e)                                                     \
  do {                                                                                \
    register int32_t r0_ __asm__("r4");                                               \
    register int32_t r1_ __asm__("r5");                                               \
    register int32_t r2_ __asm__("r6");                                               \
    register int32_t r3_ __asm__("r8");                                               \
    register int32_t r4_ __asm__("r9");                                               \
    __asm__ volatile("ldmia %0!, {%1, %2, %3, %4, %5}"                                \
                     : "+r"(p), "=r"(r0_), "=r"(r1_), "=r"(r2_), "=r"(r3_), "=r"(r4_) \
                     : "m"(*(const int32_t(*)[5])(p)));                               \
    (a) = r0_;                                                                        \
    (b) = r1_;                                                                        \
    (c) = r2_;                                                                        \
    (d) = r3_;                                                                        \
    (e) = r4_;                                                                        \
  } while (0)
#else
#define DW_LDM3(p, a, b, c) \
  do {                      \
    (a) = (p)[0];           \
    (b) = (p)[1];           \
    (c) = (p)[2];           \
    (p) += 3;               \
  } while (0)
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
#endif

/* Data loads and output stores in the addressing modes of Armv7E-M (pre-indexed write-back,
 * register offsets), which the compiler does not pick by itself here. The loads read ring slots,
 * which nothing writes while a pass runs: they need no memory operand. */
#if DW_ASM
#define DW_LD_PRE(x, d, imm) __asm__ volatile("ldr %0, [%1, #" #imm "]!" : "=r"(x), "+r"(d))
#define DW_LD_IDX(x, d, n, sh) __asm__ volatile("ldr %0, [%1, %2, lsl #" #sh "]" : "=r"(x) : "r"(d), "r"(n))
#define DW_LDRD_PRE(x, y, d, imm) __asm__ volatile("ldrd %0, %1, [%2, #" #imm "]!" : "=r"(x), "=r"(y), "+r"(d))
#define DW_STB_IDX(v, o, n) __asm__ volatile("strb %0, [%1, %2]" : : "r"(v), "r"(o), "r"(n) : "memory")
#define DW_STB_POST(v, o) __asm__ volatile("strb %1, [%0], #1" : "+r"(o) : "r"(v) : "memory")
#else
#define DW_LD_PRE(x, d, imm) ((d) += (imm) / 4, (x) = *(d))
#define DW_LD_IDX(x, d, n, sh) ((x) = (d)[(n) << ((sh) - 2)])
#define DW_LDRD_PRE(x, y, d, imm) ((d) += (imm) / 4, (x) = (d)[0], (y) = (d)[1])
#define DW_STB_IDX(v, o, n) ((o)[n] = (int8_t)(v))
#define DW_STB_POST(v, o) (*(o)++ = (int8_t)(v))
#endif

/* The 3x3 paths' weight stream per channel: bias2, (u, v) per kernel row, mult, rh, e with
 * u = (w0, w1), v = (w2, w1) (doubled). A kernel row's columns c0.. in words x = (c0, c1),
 * y = (c2, c3) and, for stride 2, z = (c4, c5):
 *   x0 = SMLAD(x, u) + SMLABB(y, v)                  (both strides)
 *   x1 = SMLATB(x, u) + SMLADX(y, v)                 (stride 1: c1 w0 + c2 w1 + c3 w2)
 *   x1 = SMLAD(y, u) + SMLABB(z, v)                  (stride 2: c2 w0 + c3 w1 + c4 w2)
 * The row pointers start one channel step early (pre-indexed loads). Stride 1 (q = 1): x = d[0],
 * y = d[ch_n]; stride 2 (q = 2): x, y = d[0], d[1] (LDRD), z = d[2 ch_n]. */
#define DW_S1_ROW(d)                \
  do {                              \
    int32_t x_, y_;                 \
    DW_LD_PRE(x_, d, 4);            \
    DW_LD_IDX(y_, d, ch_n, 2);      \
    a0 = smcu_smlad(x_, u, a0);     \
    a1 = smcu_smlatb(x_, u, a1);    \
    a0 = smcu_smlabb(y_, v, a0);    \
    a1 = dw_smladx(y_, v, a1);      \
  } while (0)
#define DW_S2_ROW(d)                \
  do {                              \
    int32_t x_, y_, z_;             \
    DW_LDRD_PRE(x_, y_, d, 8);      \
    a0 = smcu_smlad(x_, u, a0);     \
    DW_LD_IDX(z_, d, ch_n, 3);      \
    a1 = smcu_smlad(y_, u, a1);     \
    a0 = smcu_smlabb(y_, v, a0);    \
    a1 = smcu_smlabb(z_, v, a1);    \
  } while (0)
#define DW_S1_ONE(d, u, v)          \
  do {                              \
    int32_t x_, y_;                 \
    DW_LD_PRE(x_, d, 4);            \
    DW_LD_IDX(y_, d, ch_n, 2);      \
    a0 = smcu_smlad(x_, u, a0);     \
    a0 = smcu_smlabb(y_, v, a0);    \
  } while (0)
#define DW_S2_ONE(d, u, v)          \
  do {                              \
    int32_t x_, y_;                 \
    DW_LDRD_PRE(x_, y_, d, 8);      \
    a0 = smcu_smlad(x_, u, a0);     \
    a0 = smcu_smlabb(y_, v, a0);    \
  } while (0)

/* A pixel pair, every channel. */
#define DW_PAIR_PASS(name, ROW)                                                                               \
  DW_NOINLINE void name(const int32_t *w, const int32_t *d0, const int32_t *d1, const int32_t *d2, int8_t *o, \
                        const int32_t ch_n) {                                                                 \
    for (const int8_t *const end = o + ch_n; o != end;) {                                                     \
      int32_t a0, a1, u, v, mult, rh, e;                                                                      \
      DW_LDM3(w, a0, u, v);                                                                                   \
      a1 = a0;                                                                                                \
      ROW(d0);                                                                                                \
      SMCU_LOAD2(u, v, w);                                                                                    \
      ROW(d1);                                                                                                \
      SMCU_LOAD2(u, v, w);                                                                                    \
      ROW(d2);                                                                                                \
      DW_LDM3_END(w, mult, rh, e);                                                                            \
      a1 = dw_sat8(dw_requant(a1, mult, rh, e));                                                              \
      a0 = dw_sat8(dw_requant(a0, mult, rh, e));                                                              \
      DW_STB_IDX(a1, o, ch_n);                                                                                \
      DW_STB_POST(a0, o);                                                                                     \
    }                                                                                                         \
  }
/* The lone last pixel of an odd output width. */
#define DW_ONE_PASS(name, ROW)                                                                                \
  DW_NOINLINE void name(const int32_t *w, const int32_t *d0, const int32_t *d1, const int32_t *d2, int8_t *o, \
                        const int32_t ch_n) {                                                                 \
    for (const int8_t *const end = o + ch_n; o != end;) {                                                     \
      int32_t a0, u0, v0, u1, v1, u2, v2, mult, rh, e;                                                        \
      DW_LDM5(w, a0, u0, v0, u1, v1);                                                                         \
      ROW(d0, u0, v0);                                                                                        \
      ROW(d1, u1, v1);                                                                                        \
      DW_LDM5(w, u2, v2, mult, rh, e);                                                                        \
      ROW(d2, u2, v2);                                                                                        \
      a0 = dw_sat8(dw_requant(a0, mult, rh, e));                                                              \
      DW_STB_POST(a0, o);                                                                                     \
    }                                                                                                         \
  }
DW_PAIR_PASS(dw_pair_s1, DW_S1_ROW)
DW_PAIR_PASS(dw_pair_s2, DW_S2_ROW)
DW_ONE_PASS(dw_one_s1, DW_S1_ONE)
DW_ONE_PASS(dw_one_s2, DW_S2_ONE)
typedef void (*dw_pass_fn)(const int32_t *w, const int32_t *d0, const int32_t *d1, const int32_t *d2, int8_t *o,
                           const int32_t ch_n);

/* Any kernel: the k_h * n_w data words of a pair and channel are base[offs[t]] (kernel row ky's slot
 * and word i at t = ky * n_w + i, set per output row); per word x0 += SMLAD(word, wa) and
 * x1 += SMLAD(word, wb) with the weight stream's (wa, wb). x1 is stored only if `two`. */
DW_NOINLINE void dw_generic(const smcu_depthwise_conv2d_simd_params_t *p, const int32_t *base, const int32_t *offs,
                            int8_t *o, const int32_t two) {
  const int32_t ch_n = p->c.in_c, steps = p->c.k_h * p->n_w, q = p->c.stride_w == 2 ? 2 : 1;
  const int32_t act_min = p->c.act_min, act_max = p->c.act_max;
  const int32_t *w = p->weights;
  for (const int8_t *const end = o + ch_n; o != end; ++o, base += q) {
    int32_t a0 = *w++, a1 = a0, mult, rh, e;
    for (const int32_t *t = offs, *const t_end = offs + steps; t != t_end; ++t) {
      int32_t wa, wb;
      const int32_t x = base[*t];
      SMCU_LOAD2(wa, wb, w);
      a0 = smcu_smlad(x, wa, a0);
      a1 = smcu_smlad(x, wb, a1);
    }
    DW_LDM3(w, mult, rh, e);
    o[0] = (int8_t)smcu_clamp_i32(dw_requant(a0, mult, rh, e), act_min, act_max);
    if (two) {
      o[ch_n] = (int8_t)smcu_clamp_i32(dw_requant(a1, mult, rh, e), act_min, act_max);
    }
  }
}

void smcu_depthwise_conv2d_s8_simd(const smcu_depthwise_conv2d_simd_params_t *p, const int8_t *input, int8_t *output,
                                   void *scratch) {
  const smcu_depthwise_conv2d_params_t *c = &p->c;
  const int32_t ch_n = c->in_c, ring = p->ring, n_w = p->n_w, path = p->path, k_h = c->k_h, sw = c->stride_w;
  const int32_t q = sw == 2 ? 2 : 1;
  const int32_t pairs = (c->out_w + 1) >> 1;
  const int32_t grid = (pairs - 1) * sw + n_w;               /* grid pairs a slot holds */
  const int32_t slot_words = ((grid + q - 1) & -q) * ch_n;
  const int32_t g0 = c->pad_w >> 1;                          /* the grid pairs touching the image */
  const int32_t g1 = smcu_min_i32(grid, (c->in_w + c->pad_w + 1) >> 1);
  int32_t *tags = (int32_t *)scratch;                        /* [ring] the row each slot holds */
  int32_t *offs = tags + ring;                               /* [k_h * n_w] word offsets of a pair's data */
  int8_t *zrow = (int8_t *)(offs + k_h * n_w);               /* [in_c] the input zero point */
  int32_t *slots = offs + k_h * n_w + ((ch_n + 3) >> 2);     /* [ring][slot_words] */
  for (int32_t ch = 0; ch < ch_n; ++ch) {
    zrow[ch] = (int8_t)(-c->input_offset);
  }
  for (int32_t s = 0; s < ring; ++s) { /* every slot all zero point: the grid pairs outside the image stay */
    dw_expand(c, 0, zrow, slots + s * slot_words, 0, grid, q);
    tags[s] = OUTSIDE_ROW;
  }
  for (int32_t oy = 0; oy < c->out_h; ++oy) {
    int32_t a = oy * c->stride_h - c->pad_h;
    for (int32_t ky = 0; ky < k_h; ++ky, a += c->dil_h) {
      const int32_t tag = (uint32_t)a < (uint32_t)c->in_h ? a : OUTSIDE_ROW;
      int32_t s = a % ring;
      if (s < 0) {
        s += ring;
      }
      if (tags[s] != tag) {
        dw_expand(c, tag == OUTSIDE_ROW ? 0 : input + a * c->in_w * ch_n, zrow, slots + s * slot_words, g0, g1, q);
        tags[s] = tag;
      }
      for (int32_t i = 0; i < n_w; ++i) {
        offs[ky * n_w + i] = s * slot_words + (i & -q) * ch_n + (i & (q - 1));
      }
    }
    int8_t *out = output + oy * c->out_w * ch_n;
    for (int32_t j = 0; j < pairs; ++j, out += 2 * ch_n) {
      const int32_t two = 2 * j + 1 < c->out_w;
      const int32_t *base = slots + j * sw * ch_n;
      if (!path) {
        dw_generic(p, base, offs, out, two);
      } else {
        const dw_pass_fn pass = path == 1 ? (two ? dw_pair_s1 : dw_one_s1) : (two ? dw_pair_s2 : dw_one_s2);
        base -= q; /* the passes' pre-indexed loads */
        pass(p->weights, base + offs[0], base + offs[n_w], base + offs[2 * n_w], out, ch_n);
      }
    }
  }
}
