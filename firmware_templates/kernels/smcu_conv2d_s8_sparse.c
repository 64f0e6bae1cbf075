/* CONV_2D int8, zero-skipping sparse: the work scales with the non-zero weights.
 *
 * Per group of 4 output pixels an im2col column of int16 (the input zero point where the window
 * leaves the image, which the folded bias cancels: no bounds checks in the MAC loop): tap t is the
 * words col[2t] = (p0 | p1 << 16) and col[2t + 1] = (p2 | p3 << 16), built for the 4 pixels at
 * once, 4 taps at a time (4 word loads, SXTB16, PKHBT / PKHTB) where the window's contiguous input
 * bytes come in multiples of 4, else tap by tap (a window row partly outside the image is first
 * copied with zero points); pixel by pixel only for dil_w != 1 with in_c not a multiple of 4. Then
 * per output channel its non-zero weights only, one
 * word each, (weight << 16) | (8 * tap) (export/layouts.py sparse_tap_entries): one LDRD per two
 * entries, UXTAH for the tap's address, one LDRD of the 4 pixels' values and SMLABT / SMLATT by the
 * weight in the entry's top lane: ~7 instructions per 4 MACs. The 4 x 4 int8 results of 4
 * channels are clamped to the activation range 4 at a time (SSUB8 / SEL) and stored one word per
 * pixel. A group past the last pixel repeats the last pixel (its outputs are written twice,
 * identically). Any kernel size, stride, dilation and padding; K <= 8192. */
#include <string.h>

#include "smcu_conv2d.h"
#include "smcu_fixedpoint.h"
#include "smcu_simd.h"

/* ---- im2col ---- */
static inline void store16(uint8_t *d, int32_t v) {
  const int16_t h = (int16_t)v;
  memcpy(d, &h, 2);
}

static void fill16(uint8_t *d, int32_t n, int32_t v) {
  for (; n >= 2; n -= 2, d += 16) {
    store16(d, v);
    store16(d + 8, v);
  }
  if (n) {
    store16(d, v);
  }
}

static void copy16(uint8_t *d, const int8_t *src, int32_t n) {
  for (; n >= 2; n -= 2, d += 16, src += 2) {
    store16(d, src[0]);
    store16(d + 8, src[1]);
  }
  if (n) {
    store16(d, src[0]);
  }
}

/* One pixel into slot 0..3 (halfword 4t + slot) of every tap t, tap by tap: any shape (used where
 * dil_w != 1 and in_c is not a multiple of 4). */
static void im2col_slot(const smcu_conv2d_params_t *c, const int8_t *input, int32_t pix, int32_t slot,
                        int32_t *col) {
  const int32_t zp = -c->input_offset;
  const int32_t in_c = c->in_c;
  const int32_t oy = pix / c->out_w, ox = pix - oy * c->out_w;
  const int32_t in_y0 = oy * c->stride_h - c->pad_h;
  const int32_t in_x0 = ox * c->stride_w - c->pad_w;
  uint8_t *d = (uint8_t *)col + 2 * slot;
  for (int32_t ky = 0; ky < c->k_h; ++ky) {
    const int32_t in_y = in_y0 + ky * c->dil_h;
    const int32_t y_in = in_y >= 0 && in_y < c->in_h;
    const int8_t *row = input + in_y * c->in_w * in_c;
    for (int32_t kx = 0; kx < c->k_w; ++kx, d += 8 * in_c) {
      const int32_t in_x = in_x0 + kx * c->dil_w;
      if (y_in && in_x >= 0 && in_x < c->in_w) {
        copy16(d, row + in_x * in_c, in_c);
      } else {
        fill16(d, in_c, zp);
      }
    }
  }
}

/* 4 taps of the 4 pixels, bytes s0..s3[4i .. 4i + 3], into taps 4i .. 4i + 3 of the column. */
#define QUAD_STEP(i)                                                                  \
  do {                                                                                \
    int32_t *const t_ = col + 8 * (i);                                                \
    const int32_t a = smcu_read_s32(s0 + 4 * (i)), b = smcu_read_s32(s1 + 4 * (i));   \
    const int32_t a02 = smcu_sxtb16(a), a13 = smcu_sxtb16_ror8(a);                         \
    const int32_t b02 = smcu_sxtb16(b), b13 = smcu_sxtb16_ror8(b);                         \
    t_[0] = smcu_pack16(a02, b02);                                                          \
    t_[2] = smcu_pack16(a13, b13);                                                          \
    t_[4] = smcu_pack_hi_hi(a02, b02);                                                          \
    t_[6] = smcu_pack_hi_hi(a13, b13);                                                          \
    const int32_t c_ = smcu_read_s32(s2 + 4 * (i)), d_ = smcu_read_s32(s3 + 4 * (i)); \
    const int32_t c02 = smcu_sxtb16(c_), c13 = smcu_sxtb16_ror8(c_);                       \
    const int32_t d02 = smcu_sxtb16(d_), d13 = smcu_sxtb16_ror8(d_);                       \
    t_[1] = smcu_pack16(c02, d02);                                                          \
    t_[3] = smcu_pack16(c13, d13);                                                          \
    t_[5] = smcu_pack_hi_hi(c02, d02);                                                          \
    t_[7] = smcu_pack_hi_hi(c13, d13);                                                          \
  } while (0)

/* The 4 pixels px[0..3] in segments of contiguous bytes: whole window rows (dil_w == 1; a row
 * partly left or right of the image is first copied with input zero points into the pixel's
 * `pad_rows` buffer) or else single taps' channels (in_c a multiple of 4); 4 taps at a time where
 * segments are multiples of 4 taps, else one tap (4 byte loads) at a time. Segments outside the
 * image read `zrow` (input zero points, k_w * in_c >= in_c bytes). */
static void im2col_quad(const smcu_conv2d_params_t *c, const int8_t *input, const int32_t *px, int32_t *col,
                        const int8_t *zrow, int8_t *pad_rows, int32_t whole_rows) {
  const int32_t in_c = c->in_c;
  const int32_t row_bytes = c->in_w * in_c;
  const int32_t row_len = c->k_w * in_c;
  const int32_t pad_stride = (row_len + 3) & ~3;
  int32_t y0[4], x0[4], lo[4], hi[4]; /* window origin; bytes [lo, hi) of a window row inside the image */
  for (int32_t s = 0; s < 4; ++s) {
    const int32_t oy = px[s] / c->out_w;
    y0[s] = oy * c->stride_h - c->pad_h;
    x0[s] = (px[s] - oy * c->out_w) * c->stride_w - c->pad_w;
    const int32_t kx_lo = x0[s] < 0 ? -x0[s] : 0;
    const int32_t kx_hi = c->in_w - x0[s] < c->k_w ? c->in_w - x0[s] : c->k_w;
    lo[s] = (kx_lo < c->k_w ? kx_lo : c->k_w) * in_c;
    hi[s] = kx_hi > kx_lo ? kx_hi * in_c : lo[s];
  }
  const int32_t segs = whole_rows ? 1 : c->k_w;
  const int32_t seg_len = whole_rows ? row_len : in_c;
  const int32_t bytes = seg_len & 3; /* not a multiple of 4 taps: one tap at a time */
  const int32_t steps = seg_len >> 2;
  const int8_t zp = (int8_t)(-c->input_offset);
  const int32_t zp4 = (int32_t)(0x01010101u * (uint8_t)zp);
  for (int32_t ky = 0; ky < c->k_h; ++ky) {
    for (int32_t kx = 0; kx < segs; ++kx) {
      const int8_t *src[4];
      for (int32_t s = 0; s < 4; ++s) {
        const int32_t y = y0[s] + ky * c->dil_h, x = x0[s] + kx * c->dil_w;
        if (y < 0 || y >= c->in_h) {
          src[s] = zrow;
        } else if (!whole_rows) {
          src[s] = x >= 0 && x < c->in_w ? input + y * row_bytes + x * in_c : zrow;
        } else if (lo[s] == 0 && hi[s] == row_len) {
          src[s] = input + y * row_bytes + x * in_c;
        } else { /* the row partly outside: zero points, the inside bytes, zero points */
          int8_t *t = pad_rows + s * pad_stride;
          const int8_t *in = input + y * row_bytes + x * in_c;
          int32_t i = 0;
          if (((lo[s] | hi[s] | row_len) & 3) == 0) { /* whole words (in_c a multiple of 4) */
            for (; i < lo[s]; i += 4) {
              smcu_write_s32(t + i, zp4);
            }
            for (; i < hi[s]; i += 4) {
              smcu_write_s32(t + i, smcu_read_s32(in + i));
            }
            for (; i < row_len; i += 4) {
              smcu_write_s32(t + i, zp4);
            }
          } else {
            for (; i < lo[s]; ++i) {
              t[i] = zp;
            }
            for (; i < hi[s]; ++i) {
              t[i] = in[i];
            }
            for (; i < row_len; ++i) {
              t[i] = zp;
            }
          }
          src[s] = t;
        }
      }
      const int8_t *s0 = src[0], *s1 = src[1], *s2 = src[2], *s3 = src[3];
      if (bytes) {
        for (int32_t n = seg_len; n > 0; --n, col += 2) {
          const int32_t a = *s0++, b = *s1++;
          const int32_t c_ = *s2++, d_ = *s3++;
          col[0] = smcu_pack16(a, b);
          col[1] = smcu_pack16(c_, d_);
        }
        continue;
      }
      for (int32_t n = steps; n > 0; --n, s0 += 4, s1 += 4, s2 += 4, s3 += 4, col += 8) {
        QUAD_STEP(0);
      }
    }
  }
}

/* ---- multiply-accumulate over one channel's entries ---- */
/* a = p[0], b = p[1] for a word-aligned int32_t pointer p: one LDRD. */
#if SMCU_HAVE_DSP
#define LOAD_PAIR(a, b, p) __asm__("ldrd %0, %1, [%2]" : "=r"(a), "=r"(b) : "r"(p), "m"((p)[0]), "m"((p)[1]))
#else
#define LOAD_PAIR(a, b, p) \
  do {                     \
    (a) = (p)[0];          \
    (b) = (p)[1];          \
  } while (0)
#endif

/* One entry e for the 4 pixels. */
#define SPARSE_STEP(e)                                                                     \
  do {                                                                                     \
    const int32_t *x = (const int32_t *)((const uint8_t *)col + (uint16_t)(uint32_t)(e));  \
    int32_t x01, x23;                                                                      \
    LOAD_PAIR(x01, x23, x);                                                                \
    a0 = smcu_smlabt(x01, (e), a0);                                                        \
    a1 = smcu_smlatt(x01, (e), a1);                                                        \
    a2 = smcu_smlabt(x23, (e), a2);                                                        \
    a3 = smcu_smlatt(x23, (e), a3);                                                        \
  } while (0)

/* Two entries: one LDRD with write-back. */
#define SPARSE_PAIR()          \
  do {                         \
    int32_t e0, e1;            \
    SMCU_LOAD2(e0, e1, wp);    \
    SPARSE_STEP(e0);           \
    SPARSE_STEP(e1);           \
  } while (0)

/* The requantised output before the activation clamp, saturated to int8: smcu_requant_fused's
 * one-step form (smcu_simd.h), here as  (hi:lo) = round (one LDRD from the table row q),
 * += acc * mult, += (acc < 0) * -2^31 (two SMLAL), out = hi >> shift: the 4 pixels of a channel
 * then share only the row pointer, the multiplier, the shift and -2^31 in registers. */
static inline int32_t requant8(int32_t acc, const smcu_requant_t *q, int32_t mult, int32_t shift) {
#if SMCU_HAVE_DSP
  uint32_t lo, neg;
  int32_t hi;
  __asm__("ldrd %0, %1, [%3, #8]\n\t"
          "smlal %0, %1, %4, %5\n\t"
          "lsr %2, %4, #31\n\t"
          "smlal %0, %1, %2, %6"
          : "=&r"(lo), "=&r"(hi), "=&r"(neg)
          : "r"(q), "r"(acc), "r"(mult), "r"(INT32_MIN), "m"(q->round_lo), "m"(q->round_hi));
  return smcu_ssat8(hi >> shift);
#else
  return smcu_ssat8(smcu_requant_fused(acc, mult, q->round_lo, q->round_hi, shift));
#endif
}

/* Every output channel of the 4 pixels whose column is `col`, into the output rows o[0..3] (kept out
 * of line: its registers are then allocated for its own loops alone). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void channels(const smcu_conv2d_sparse_params_t *p, const int32_t *col, int8_t *const *o) {
  const int32_t out_c = p->c.out_c;
  /* the activation range in every byte lane */
  const int32_t act_min4 = (int32_t)(0x01010101u * (uint8_t)p->c.act_min);
  const int32_t act_max4 = (int32_t)(0x01010101u * (uint8_t)p->c.act_max);
  const int32_t *wp = p->entries;
  const smcu_requant_t *q = p->requant;
  for (int32_t oc = 0; oc < out_c; oc += 4) {
    /* 4 channels x 4 pixels of int8 results, transposed: word s = pixel s, byte j = channel oc + j */
    int32_t res[4];
    uint8_t *rb = (uint8_t *)res;
    const int32_t nb = out_c - oc < 4 ? out_c - oc : 4;
    for (int32_t j = 0; j < nb; ++j, ++q, ++rb) {
      int32_t a0 = q->bias, a1 = a0, a2 = a0, a3 = a0;
      const int32_t n = *wp++;
      const int32_t *const end = wp + n;
      if (n & 1) {
        const int32_t e = *wp++;
        SPARSE_STEP(e);
      }
      if (n & 2) {
        SPARSE_PAIR();
      }
      while (wp != end) {
        SPARSE_PAIR();
        SPARSE_PAIR();
      }
      const int32_t mult = q->mult, sh = q->shift;
      rb[0] = (uint8_t)requant8(a0, q, mult, sh);
      rb[4] = (uint8_t)requant8(a1, q, mult, sh);
      rb[8] = (uint8_t)requant8(a2, q, mult, sh);
      rb[12] = (uint8_t)requant8(a3, q, mult, sh);
    }
    if (nb == 4) {
      smcu_write_s32(o[0] + oc, smcu_min_s8x4(smcu_max_s8x4(res[0], act_min4), act_max4));
      smcu_write_s32(o[1] + oc, smcu_min_s8x4(smcu_max_s8x4(res[1], act_min4), act_max4));
      smcu_write_s32(o[2] + oc, smcu_min_s8x4(smcu_max_s8x4(res[2], act_min4), act_max4));
      smcu_write_s32(o[3] + oc, smcu_min_s8x4(smcu_max_s8x4(res[3], act_min4), act_max4));
    } else { /* the last 1..3 channels */
      for (int32_t s = 0; s < 4; ++s) {
        const int32_t v = smcu_min_s8x4(smcu_max_s8x4(res[s], act_min4), act_max4);
        memcpy(o[s] + oc, &v, (size_t)nb); /* little endian: byte j = channel oc + j */
      }
    }
  }
}

void smcu_conv2d_s8_sparse(const smcu_conv2d_sparse_params_t *p, const int8_t *input, int8_t *output,
                           void *scratch) {
  const smcu_conv2d_params_t *c = &p->c;
  int32_t *col = (int32_t *)scratch;
  const int32_t row_len = c->k_w * c->in_c;
  const int32_t col_words = 2 * ((p->k + 3) & ~3);
  int8_t *const zrow = (int8_t *)(col + col_words);
  int8_t *const pad_rows = zrow + ((row_len + 3) & ~3); /* 4 padded window rows (rows_fast) */
  const int32_t rows_fast = c->dil_w == 1;      /* whole window rows (4 taps at a time if k_w * in_c allows) */
  const int32_t taps_fast = (c->in_c & 3) == 0; /* one tap's channels, 4 at a time */
  const int32_t n_pix = c->out_h * c->out_w;
  const int32_t out_c = c->out_c;
  if (rows_fast || taps_fast) {
    memset(zrow, (uint8_t)(-c->input_offset), (size_t)row_len);
  }
  for (int32_t pix = 0; pix < n_pix; pix += 4) {
    int32_t px[4];
    for (int32_t s = 0; s < 4; ++s) {
      px[s] = pix + s < n_pix ? pix + s : n_pix - 1;
    }
    if (rows_fast) {
      im2col_quad(c, input, px, col, zrow, pad_rows, 1);
    } else if (taps_fast) {
      im2col_quad(c, input, px, col, zrow, pad_rows, 0);
    } else {
      for (int32_t s = 0; s < 4; ++s) {
        im2col_slot(c, input, px[s], s, col);
      }
    }
    int8_t *const o[4] = {output + px[0] * out_c, output + px[1] * out_c, output + px[2] * out_c,
                          output + px[3] * out_c};
    channels(p, col, o);
  }
}
