/* CONV_2D int8, 16-bit SIMD: per pair of output pixels, an im2col column of int16 (input zero
 * point where the window leaves the image, which the folded bias cancels), then a 2 x 2 tile of
 * (pixel, output channel) dot products with SMLAD over int16 weights laid out offline
 * (smcu_conv2d.h). Any kernel size, stride, dilation and padding. */
#include "smcu_conv2d.h"
#include "smcu_fixedpoint.h"
#include "smcu_simd.h"

/* Four int8 values (one word) into slot words col[0], col[1] in SXTB16 lane order. */
static inline void expand4(int32_t *col, int32_t w) {
  col[0] = smcu_sxtb16(w);
  col[1] = smcu_sxtb16_ror8(w);
}

/* One pixel's receptive field into slot 0 or 1 of the interleaved column: group g of 4 taps
 * (in (ky, kx, ic) order) at words col[4g], col[4g + 1]; the other slot at col[4g + 2], col[4g + 3].
 * With in_c % 4 == 0 every tap is whole groups (word loads, no per-element work); otherwise the
 * window is gathered as bytes into `stage` (k_pad bytes; the gather writes the first k_h * k_w *
 * in_c, the zero tail is written once per call) and expanded by words. */
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
        const int8_t *src = row + in_x0 * in_c;
        for (int32_t n = c->k_w * tap_groups; n > 0; --n, src += 4, col += 4) {
          expand4(col, smcu_read_s32(src));
        }
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
          const int8_t *src = row + in_x * in_c;
          for (int32_t n = tap_groups; n > 0; --n, src += 4, col += 4) {
            expand4(col, smcu_read_s32(src));
          }
        }
      }
    }
    return;
  }
  int8_t *dst = stage;
  const int32_t row_len = c->k_w * in_c;
  const int32_t row_inside = c->dil_w == 1 && in_x0 >= 0 && in_x0 + c->k_w <= c->in_w;
  for (int32_t ky = 0; ky < c->k_h; ++ky) {
    const int32_t in_y = in_y0 + ky * c->dil_h;
    const int32_t y_in = in_y >= 0 && in_y < c->in_h;
    if (y_in && row_inside) { /* k_w * in_c contiguous bytes: by words, then the odd bytes */
      const int8_t *src = input + (in_y * c->in_w + in_x0) * in_c;
      int32_t n = row_len;
      for (; n >= 4; n -= 4, src += 4, dst += 4) {
        smcu_write_s32(dst, smcu_read_s32(src));
      }
      for (; n > 0; --n) {
        *dst++ = *src++;
      }
      continue;
    }
    for (int32_t kx = 0; kx < c->k_w; ++kx) {
      const int32_t in_x = in_x0 + kx * c->dil_w;
      if (y_in && in_x >= 0 && in_x < c->in_w) {
        const int8_t *src = input + (in_y * c->in_w + in_x) * in_c;
        for (int32_t ic = 0; ic < in_c; ++ic) {
          *dst++ = src[ic];
        }
      } else {
        for (int32_t ic = 0; ic < in_c; ++ic) {
          *dst++ = (int8_t)zp;
        }
      }
    }
  }
  for (const int8_t *src = stage; src < stage + k_pad; src += 4, col += 4) {
    expand4(col, smcu_read_s32(src));
  }
}

/* One group of 4 taps for 2 pixels (x) x 2 channels (w): the two pixels' words in one LDM
 * (Armv7E-M; two word pairs elsewhere), the channels' in two LDRD, 8 SMLAD. */
#if SMCU_HAVE_DSP
#define LOAD_PIXELS(x0, x1, y0, y1)                                                                   \
  register int32_t x0 __asm__("r8"), x1 __asm__("r9"), y0 __asm__("r10"), y1 __asm__("r11");     \
  __asm__ volatile("ldmia %4!, {r8, r9, r10, r11}"                                                \
                   : "=r"(x0), "=r"(x1), "=r"(y0), "=r"(y1), "+r"(x)                              \
                   : "m"(x[0]), "m"(x[1]), "m"(x[2]), "m"(x[3]))
#else
#define LOAD_PIXELS(x0, x1, y0, y1) \
  int32_t x0, x1, y0, y1;           \
  SMCU_LOAD2(x0, x1, x);            \
  SMCU_LOAD2(y0, y1, x)
#endif
#define DOT_2X2_GROUP()           \
  do {                            \
    int32_t w0, w1;               \
    LOAD_PIXELS(x0, x1, y0, y1);  \
    SMCU_LOAD2(w0, w1, w);        \
    a00 = smcu_smlad(x0, w0, a00); \
    a00 = smcu_smlad(x1, w1, a00); \
    a01 = smcu_smlad(y0, w0, a01); \
    a01 = smcu_smlad(y1, w1, a01); \
    SMCU_LOAD2(w0, w1, w);        \
    a10 = smcu_smlad(x0, w0, a10); \
    a10 = smcu_smlad(x1, w1, a10); \
    a11 = smcu_smlad(y0, w0, a11); \
    a11 = smcu_smlad(y1, w1, a11); \
  } while (0)

/* Requantised and saturated to int8, not yet clamped to the activation range. */
static inline int32_t requant8(int32_t acc, const smcu_requant_t *q) {
  return smcu_ssat8(smcu_requant_fused(acc, q->mult, q->round_lo, q->round_hi, q->shift));
}

/* Two channels' int8 results (lanes) clamped to the activation range, stored as two bytes. */
static inline void store_pair(int8_t *dst, int32_t lane0, int32_t lane1, int32_t act_min2, int32_t act_max2) {
  const int32_t v = smcu_min16x2(smcu_max16x2(smcu_pack16(lane0, lane1), act_min2), act_max2);
  smcu_write_2x8(dst, smcu_narrow16x2(v));
}

void smcu_conv2d_s8_simd(const smcu_conv2d_simd_params_t *p, const int8_t *input, int8_t *output, void *scratch) {
  const smcu_conv2d_params_t *c = &p->c;
  int32_t *col = (int32_t *)scratch;
  int8_t *stage = (int8_t *)(col + p->k_pad); /* after the two int16 columns (in_c % 4 != 0 only) */
  if (c->in_c & 3) {
    for (int32_t k = c->k_h * c->k_w * c->in_c; k < p->k_pad; ++k) {
      stage[k] = 0; /* meets the zero weights of the padding to k_pad */
    }
  }
  const int32_t groups = p->k_pad >> 2;
  const int32_t n_pix = c->out_h * c->out_w;
  const int32_t out_c = c->out_c;
  const int32_t act_min = c->act_min, act_max = c->act_max;
  const int32_t act_min2 = smcu_pack16(act_min, act_min), act_max2 = smcu_pack16(act_max, act_max);
  /* no activation, or ReLU / ReLU6 onto an output whose range starts at the activation's: the
   * clamp is int8 saturation (what converted models usually have) */
  const int32_t full_range = act_min == SMCU_INT8_MIN && act_max == SMCU_INT8_MAX;
  int32_t oy = 0, ox = 0;
  for (int32_t pix = 0; pix < n_pix; pix += 2) {
    /* an odd last pixel fills both slots and both rows store it (the same bytes, same place) */
    const int32_t two = pix + 1 < n_pix;
    im2col_pixel(c, input, oy, ox, p->k_pad, col, stage);
    if (!two) {
      im2col_pixel(c, input, oy, ox, p->k_pad, col + 2, stage);
    }
    if (++ox == c->out_w) {
      ox = 0;
      ++oy;
    }
    if (two) {
      im2col_pixel(c, input, oy, ox, p->k_pad, col + 2, stage);
      if (++ox == c->out_w) {
        ox = 0;
        ++oy;
      }
    }
    int8_t *out0 = output + pix * out_c;
    int8_t *out1 = two ? out0 + out_c : out0;
    const int32_t *w = p->weights;
    const smcu_requant_t *q = p->requant;
    int32_t oc = 0;
    for (; oc + 1 < out_c; oc += 2, q += 2) {
      int32_t a00 = q[0].bias, a01 = a00, a10 = q[1].bias, a11 = a10; /* a<channel><pixel> */
      const int32_t *x = col;
      for (int32_t g = groups >> 2; g > 0; --g) {
        DOT_2X2_GROUP();
        DOT_2X2_GROUP();
        DOT_2X2_GROUP();
        DOT_2X2_GROUP();
      }
      for (int32_t g = groups & 3; g > 0; --g) {
        DOT_2X2_GROUP();
      }
      const int32_t r00 = requant8(a00, &q[0]), r01 = requant8(a01, &q[0]);
      const int32_t r10 = requant8(a10, &q[1]), r11 = requant8(a11, &q[1]);
      if (full_range) { /* SSAT did the whole activation clamp */
        out0[oc] = (int8_t)r00;
        out0[oc + 1] = (int8_t)r10;
        out1[oc] = (int8_t)r01;
        out1[oc + 1] = (int8_t)r11;
      } else {
        store_pair(out0 + oc, r00, r10, act_min2, act_max2);
        store_pair(out1 + oc, r01, r11, act_min2, act_max2);
      }
    }
    if (oc < out_c) { /* odd last channel */
      int32_t a0 = q[0].bias, a1 = a0;
      const int32_t *x = col;
      for (int32_t g = groups; g > 0; --g) {
        a0 = smcu_smlad(x[0], w[0], a0);
        a0 = smcu_smlad(x[1], w[1], a0);
        a1 = smcu_smlad(x[2], w[0], a1);
        a1 = smcu_smlad(x[3], w[1], a1);
        x += 4;
        w += 2;
      }
      out0[oc] = (int8_t)smcu_clamp_i32(requant8(a0, q), act_min, act_max);
      out1[oc] = (int8_t)smcu_clamp_i32(requant8(a1, q), act_min, act_max);
    }
  }
}
