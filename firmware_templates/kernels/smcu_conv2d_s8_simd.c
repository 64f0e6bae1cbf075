/* CONV_2D int8, 16-bit SIMD: per pair of output pixels, an im2col column of int16 (input zero
 * point where the window leaves the image, which the folded bias cancels), then 2 x 2 tiles of
 * (pixel, output channel) dot products with SMLAD over doubled int16 weights laid out offline in one
 * stream with the biases and requantisation parameters (smcu_conv2d.h). Any kernel size, stride,
 * dilation and padding.
 *
 * Structure and instruction budget (Armv7E-M; emulated instructions, bench/results/kernels.md):
 *   tile loop (all_pairs, inline assembly: the 14 usable registers are all live in the inner loop)
 *     per 4 taps x 2 pixels x 2 channels: LDM of the column, LDM of the stream, 8 SMLAD = 10 for
 *     16 MACs; unrolled 4 times + 3 for the end test (0.67 / MAC at K % 16 == 0), entered part-way
 *     when K / 4 is not a multiple of 4 (one LDR PC);
 *     per tile (4 outputs) 31: bias LDM (stored duplicated), 2 x (parameter LDM + 2 x 5: ADD sign,
 *     SMMLAR, ASR, SSAT, STRB with post-increment: smcu_requant_smmlar), out pointers, loop;
 *   im2col per pixel: 4 taps = LDR, 2 SXTB16, STRD (in_c % 4 == 0: straight from the input row;
 *     else the window gathered as bytes into a stage first, zero points copied from a row of them);
 *   an activation range narrower than int8: one clamp pass at the end, 4 outputs per 6 instructions.
 * An odd last channel goes through C (same arithmetic); the portable C path (host, no DSP) computes
 * the same bits. */
#include "smcu_conv2d.h"
#include "smcu_fixedpoint.h"
#include "smcu_simd.h"

/* Four int8 values (one word) into slot words col[i], col[i + 1] in SXTB16 lane order (one STRD;
 * i a constant). */
#if SMCU_HAVE_DSP
#define EXPAND4_AT(col, i, w)                                                                    \
  __asm__("strd %1, %2, [%0, #%c3]"                                                              \
          :                                                                                      \
          : "r"(col), "r"(smcu_sxtb16(w)), "r"(smcu_sxtb16_ror8(w)), "i"(4 * (i)), "m"((col)[i]), \
            "m"((col)[(i) + 1]))
#else
#define EXPAND4_AT(col, i, w)             \
  do {                                    \
    (col)[i] = smcu_sxtb16(w);            \
    (col)[(i) + 1] = smcu_sxtb16_ror8(w); \
  } while (0)
#endif

/* n words of int8 from src (any alignment) into n slot word pairs, col[4i], col[4i + 1]: 4 words a
 * pass (4 LDR, 8 SXTB16, 4 STRD). */
static void expand_words(int32_t *col, const int8_t *src, int32_t n) {
  for (; n >= 4; n -= 4, src += 16, col += 16) {
    const int32_t w0 = smcu_read_s32(src), w1 = smcu_read_s32(src + 4);
    const int32_t w2 = smcu_read_s32(src + 8), w3 = smcu_read_s32(src + 12);
    EXPAND4_AT(col, 0, w0);
    EXPAND4_AT(col, 4, w1);
    EXPAND4_AT(col, 8, w2);
    EXPAND4_AT(col, 12, w3);
  }
  for (; n > 0; --n, src += 4, col += 4) {
    const int32_t w = smcu_read_s32(src);
    EXPAND4_AT(col, 0, w);
  }
}

/* n bytes from src to dst (by words, then bytes); returns dst + n. */
static inline int8_t *copy_bytes(int8_t *dst, const int8_t *src, int32_t n) {
  for (; n >= 4; n -= 4, src += 4, dst += 4) {
    smcu_write_s32(dst, smcu_read_s32(src));
  }
  for (; n > 0; --n) {
    *dst++ = *src++;
  }
  return dst;
}

/* One pixel's receptive field into slot 0 or 1 of the interleaved column: group g of 4 taps
 * (in (ky, kx, ic) order) at words col[4g], col[4g + 1]; the other slot at col[4g + 2], col[4g + 3].
 * With in_c % 4 == 0 every tap is whole groups (word loads, no per-element work); otherwise the
 * window is gathered as bytes into `stage` (k_pad bytes; the gather writes the first k_h * k_w *
 * in_c, the zero tail is written once per call) and expanded by words; zero points are copied
 * from a window row of them after the stage. */
static void im2col_pixel(const smcu_conv2d_params_t *c, const int8_t *input, int32_t oy, int32_t ox, int32_t k_pad,
                         int32_t *col, int8_t *stage) {
  const int32_t zp = -c->input_offset;
  const int32_t in_y0 = oy * c->stride_h - c->pad_h;
  const int32_t in_x0 = ox * c->stride_w - c->pad_w;
  const int32_t in_c = c->in_c;
  if ((in_c & 3) == 0) {
    const int32_t zp2 = smcu_pack16(zp, zp);
    const int32_t tap_groups = in_c >> 2;
    const int32_t row_inside = c->dil_w == 1 && in_x0 >= 0 && in_x0 + c->k_w <= c->in_w;
    for (int32_t ky = 0; ky < c->k_h; ++ky) {
      const int32_t in_y = in_y0 + ky * c->dil_h;
      if (in_y < 0 || in_y >= c->in_h) {
        for (int32_t n = c->k_w * tap_groups; n > 0; --n, col += 4) {
          col[0] = zp2;
          col[1] = zp2;
        }
        continue;
      }
      const int8_t *row = input + in_y * c->in_w * in_c;
      if (row_inside) { /* k_w * in_c contiguous bytes */
        expand_words(col, row + in_x0 * in_c, c->k_w * tap_groups);
        col += 4 * c->k_w * tap_groups;
        continue;
      }
      for (int32_t kx = 0; kx < c->k_w; ++kx) {
        const int32_t in_x = in_x0 + kx * c->dil_w;
        if (in_x < 0 || in_x >= c->in_w) {
          for (int32_t n = tap_groups; n > 0; --n, col += 4) {
            col[0] = zp2;
            col[1] = zp2;
          }
        } else {
          expand_words(col, row + in_x * in_c, tap_groups);
          col += 4 * tap_groups;
        }
      }
    }
    return;
  }
  int8_t *dst = stage;
  const int8_t *zrow = stage + k_pad; /* k_w * in_c input zero points */
  const int32_t row_len = c->k_w * in_c;
  const int32_t row_inside = c->dil_w == 1 && in_x0 >= 0 && in_x0 + c->k_w <= c->in_w;
  if (row_inside) { /* every window row is k_w * in_c contiguous bytes, or outside the image */
    const int32_t row_step = c->dil_h * c->in_w * in_c;
    int32_t off = (in_y0 * c->in_w + in_x0) * in_c;
    for (int32_t ky = 0, in_y = in_y0; ky < c->k_h; ++ky, in_y += c->dil_h, off += row_step) {
      dst = copy_bytes(dst, (uint32_t)in_y < (uint32_t)c->in_h ? input + off : zrow, row_len);
    }
  } else {
    for (int32_t ky = 0, in_y = in_y0; ky < c->k_h; ++ky, in_y += c->dil_h) {
      if ((uint32_t)in_y >= (uint32_t)c->in_h) {
        dst = copy_bytes(dst, zrow, row_len);
        continue;
      }
      const int8_t *row = input + in_y * c->in_w * in_c;
      for (int32_t kx = 0, in_x = in_x0; kx < c->k_w; ++kx, in_x += c->dil_w) {
        dst = copy_bytes(dst, (uint32_t)in_x < (uint32_t)c->in_w ? row + in_x * in_c : zrow, in_c);
      }
    }
  }
  expand_words(col, stage, k_pad >> 2);
}

/* The requantised int8 output (not yet clamped to the activation range) of a doubled accumulator;
 * q = m, round_hi, shift of the stream. */
static inline int32_t requant8(int32_t acc2, const int32_t *q) {
  return smcu_ssat8(smcu_requant_smmlar(acc2, q[0], q[1], q[2]));
}

#if SMCU_HAVE_DSP
/* 4 taps x 2 pixels x 2 channels: r4-r7 = the pixels' words (LDM of the column), r8-r11 = the channels'
 * (LDM of the stream), 8 SMLAD into r0 = (c, p0), r1 = (c, p1), r2 = (d, p0), r3 = (d, p1). Forced wide
 * encodings: 40 bytes exactly, which the entry into the unrolled loop relies on. */
#define SMCU_GROUP                      \
  "ldmia.w r12!, {r4, r5, r6, r7}\n\t"  \
  "ldmia.w lr!, {r8, r9, r10, r11}\n\t" \
  "smlad r0, r4, r8, r0\n\t"            \
  "smlad r1, r6, r8, r1\n\t"            \
  "smlad r2, r4, r10, r2\n\t"           \
  "smlad r3, r6, r10, r3\n\t"           \
  "smlad r0, r5, r9, r0\n\t"            \
  "smlad r1, r7, r9, r1\n\t"            \
  "smlad r2, r5, r11, r2\n\t"           \
  "smlad r3, r7, r11, r3\n\t"
#define SMCU_GROUP_BYTES 40
/* Accumulator `acc` requantised (m, round_hi, shift in r6, r7, r8), saturated, stored at [out], out += 1. */
#define SMCU_REQUANT_STORE(acc, out)    \
  "add r9, r7, " acc ", asr #31\n\t"   \
  "smmlar r9, " acc ", r6, r9\n\t"      \
  "asr r9, r9, r8\n\t"                  \
  "ssat r9, #8, r9\n\t"                 \
  "strb r9, [" out "], #1\n\t"

typedef struct {
  int8_t *out0, *out1;   /* the two pixels' outputs, channel c */
  int8_t *out0_end;      /* out0 + 2 * pairs */
  const int32_t *col;    /* the im2col column */
  const int32_t *col_end; /* col + 4 * groups */
  uint32_t entry;        /* byte offset into the unrolled loop (groups % 4 != 0), + 1 (Thumb bit) */
  const int32_t *stream;
} pairs_args_t;

/* Every channel pair for one pixel pair, in registers: r0-r3 accumulators, r4-r7 pixels, r8-r11
 * weights, r12 column pointer, lr stream pointer; out0, out1, their end, col, col_end and the loop
 * entry live on the stack. Per pair: bias LDM, groups / 4 passes of the 4-group loop (+ 3 for its
 * end test, entered part-way when groups % 4 != 0: `ldr pc`), then 2 x (param LDM + 2 x 5) for the
 * requantisation and stores, + 8 for pointers and the pair loop. */
static void all_pairs(const pairs_args_t *args) {
  register const pairs_args_t *a __asm__("r0") = args;
  __asm__ volatile(
      "ldm r0, {r1, r2, r3, r4, r5, r6, r7}\n\t"
      "adr.w r8, 1f\n\t"
      "add r6, r6, r8\n\t" /* entry address | 1 */
      "mov lr, r7\n\t"
      "push {r1, r2, r3, r4, r5, r6}\n\t" /* [sp] out0, out1, out0_end, col, col_end, entry */
      "2:\n\t"
      "ldmia lr!, {r0, r1, r2, r3}\n\t"
      "ldr r12, [sp, #12]\n\t"
      "ldr pc, [sp, #20]\n\t"
      "1:\n\t" SMCU_GROUP SMCU_GROUP SMCU_GROUP SMCU_GROUP
      "ldr r8, [sp, #16]\n\t"
      "cmp r12, r8\n\t"
      "bne.w 1b\n\t"
      "ldrd r4, r5, [sp]\n\t"
      "ldmia lr!, {r6, r7, r8}\n\t" SMCU_REQUANT_STORE("r0", "r4") SMCU_REQUANT_STORE("r1", "r5")
      "ldmia lr!, {r6, r7, r8}\n\t" SMCU_REQUANT_STORE("r2", "r4") SMCU_REQUANT_STORE("r3", "r5")
      "strd r4, r5, [sp]\n\t"
      "ldr r6, [sp, #8]\n\t"
      "cmp r4, r6\n\t"
      "bne.w 2b\n\t"
      "add sp, sp, #24\n\t"
      : "+r"(a)
      : "m"(*args)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}
#endif

void smcu_conv2d_s8_simd(const smcu_conv2d_simd_params_t *p, const int8_t *input, int8_t *output, void *scratch) {
  const smcu_conv2d_params_t *c = &p->c;
  int32_t *col = (int32_t *)scratch;
  int8_t *stage = (int8_t *)(col + p->k_pad); /* after the two int16 columns (in_c % 4 != 0 only) */
  if (c->in_c & 3) {
    for (int32_t k = c->k_h * c->k_w * c->in_c; k < p->k_pad; ++k) {
      stage[k] = 0; /* meets the zero weights of the padding to k_pad */
    }
    for (int32_t k = 0; k < c->k_w * c->in_c; ++k) {
      stage[p->k_pad + k] = (int8_t)(-c->input_offset); /* the zero-point row after the stage */
    }
  }
  const int32_t groups = p->k_pad >> 2;
  const int32_t n_pix = c->out_h * c->out_w;
  const int32_t out_c = c->out_c;
  const int32_t pairs = out_c >> 1;
  const int32_t *last = p->stream + pairs * (4 * groups + 10); /* the odd last channel's part */
#if SMCU_HAVE_DSP
  pairs_args_t args;
  args.col = col;
  args.col_end = col + 4 * groups;
  args.entry = (uint32_t)((-groups) & 3) * SMCU_GROUP_BYTES + 1u;
  args.stream = p->stream;
#endif
  const int32_t direct = c->k_h == 1 && c->k_w == 1 && c->pad_h == 0 && c->pad_w == 0 && (c->in_c & 3) == 0;
  int32_t oy = 0, ox = 0;
  for (int32_t pix = 0; pix < n_pix; pix += 2) {
    /* an odd last pixel fills both slots and both rows store it (the same bytes, same place) */
    const int32_t two = pix + 1 < n_pix;
    int32_t oy1 = oy, ox1 = ox; /* the second pixel */
    if (two && ++ox1 == c->out_w) {
      ox1 = 0;
      ++oy1;
    }
    if (direct) { /* 1x1, no padding, in_c % 4 == 0: the input pixel is the column */
      expand_words(col, input + (oy * c->stride_h * c->in_w + ox * c->stride_w) * c->in_c, c->in_c >> 2);
      expand_words(col + 2, input + (oy1 * c->stride_h * c->in_w + ox1 * c->stride_w) * c->in_c, c->in_c >> 2);
    } else {
      im2col_pixel(c, input, oy, ox, p->k_pad, col, stage);
      im2col_pixel(c, input, oy1, ox1, p->k_pad, col + 2, stage);
    }
    oy = oy1;
    ox = ox1;
    if (++ox == c->out_w) {
      ox = 0;
      ++oy;
    }
    int8_t *out0 = output + pix * out_c;
    int8_t *out1 = two ? out0 + out_c : out0;
#if SMCU_HAVE_DSP
    if (pairs > 0) {
      args.out0 = out0;
      args.out1 = out1;
      args.out0_end = out0 + 2 * pairs;
      all_pairs(&args);
    }
#else
    const int32_t *w = p->stream;
    for (int32_t oc = 0; oc < 2 * pairs; oc += 2) {
      int32_t a00 = w[0], a01 = w[1], a10 = w[2], a11 = w[3]; /* a<channel><pixel> */
      w += 4;
      const int32_t *x = col;
      for (int32_t g = groups; g > 0; --g, x += 4, w += 4) {
        a00 = smcu_smlad(x[1], w[1], smcu_smlad(x[0], w[0], a00));
        a01 = smcu_smlad(x[3], w[1], smcu_smlad(x[2], w[0], a01));
        a10 = smcu_smlad(x[1], w[3], smcu_smlad(x[0], w[2], a10));
        a11 = smcu_smlad(x[3], w[3], smcu_smlad(x[2], w[2], a11));
      }
      out0[oc] = (int8_t)requant8(a00, w);
      out1[oc] = (int8_t)requant8(a01, w);
      out0[oc + 1] = (int8_t)requant8(a10, w + 3);
      out1[oc + 1] = (int8_t)requant8(a11, w + 3);
      w += 6;
    }
#endif
    if (out_c & 1) { /* odd last channel */
      int32_t a0 = last[0], a1 = a0;
      const int32_t *w = last + 1;
      const int32_t *x = col;
      for (int32_t g = groups; g > 0; --g, x += 4, w += 2) {
        a0 = smcu_smlad(x[1], w[1], smcu_smlad(x[0], w[0], a0));
        a1 = smcu_smlad(x[3], w[1], smcu_smlad(x[2], w[0], a1));
      }
      out0[out_c - 1] = (int8_t)requant8(a0, w);
      out1[out_c - 1] = (int8_t)requant8(a1, w);
    }
  }
  /* an activation range narrower than int8: one clamp pass, 4 outputs a word */
  if (c->act_min != SMCU_INT8_MIN || c->act_max != SMCU_INT8_MAX) {
    const uint32_t lo4 = 0x01010101u * (uint8_t)c->act_min, hi4 = 0x01010101u * (uint8_t)c->act_max;
    int8_t *o = output;
    int8_t *const end = output + n_pix * out_c;
    for (; o + 4 <= end; o += 4) {
      smcu_write_s32(o, (int32_t)smcu_min_s8x4(smcu_max_s8x4((uint32_t)smcu_read_s32(o), lo4), hi4));
    }
    for (; o < end; ++o) {
      *o = (int8_t)smcu_clamp_i32(*o, c->act_min, c->act_max);
    }
  }
}
