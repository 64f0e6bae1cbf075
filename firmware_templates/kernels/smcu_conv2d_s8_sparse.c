/* CONV_2D int8, zero-skipping sparse: the work scales with the non-zero weights.
 *
 * Per group of 4 output pixels an im2col column of int16 (the input zero point where the window
 * leaves the image, which the folded bias cancels: no bounds checks in the MAC loop): tap t is the
 * words col[2t] = (p0 | p1 << 16) and col[2t + 1] = (p2 | p3 << 16), built for the 4 pixels at
 * once, 4 taps at a time (4 word loads, SXTB16, PKHBT / PKHTB) where the window's contiguous input
 * bytes come in multiples of 4, else tap by tap. With dil_w == 1 the windows are read whole, row by
 * row: from the input itself where no window leaves it, else from a zero-point padded copy of the
 * input in scratch where that is small (padded_rows), else with the rows partly outside the image
 * first copied with zero points; with dil_w != 1 one tap's channels at a time.
 *
 * Then per output channel one stream (export/layouts.py sparse_conv_stream): bias2, n, its non-zero
 * weights only, one word each, (2 * weight << 16) | (8 * tap), then mult, rh, e. One LDRD per two
 * entries, UXTAH for the tap's address, one LDRD of the 4 pixels' values and SMLABT / SMLATT by the
 * doubled weight in the entry's top lane: ~6.5 instructions per 4 MACs. Per channel and group ~30
 * more: the count and its dispatch, and per output the exact one-step requantisation of the doubled
 * accumulator, SMMLAR, the sign correction, ASR, SSAT, and STRB straight into the output (the 4
 * pixels' rows are out_c bytes apart). Where the activation range is not all of int8 the group's
 * outputs are then clamped 4 at a time (SSUB8 / SEL). The last group, when the pixels do not fill it,
 * repeats the last pixel and is written through scratch. Any kernel size, stride, dilation and
 * padding; K <= 8192. */
#include <string.h>

#include "smcu_conv2d.h"
#include "smcu_fixedpoint.h"
#include "smcu_simd.h"

/* ---- im2col ---- */
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

/* n contiguous taps of the 4 pixels (bytes s[0..3][0 .. n - 1]) into the column at col: 4 taps at a
 * time where n is a multiple of 4, else one at a time. Returns the column's next free word. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int32_t *gather(const int8_t *const *src, int32_t n, int32_t *col) {
  const int8_t *s0 = src[0], *s1 = src[1], *s2 = src[2], *s3 = src[3];
  if (n & 3) {
    for (; n > 0; --n, col += 2) {
      const int32_t a = *s0++, b = *s1++;
      const int32_t c_ = *s2++, d_ = *s3++;
      col[0] = smcu_pack16(a, b);
      col[1] = smcu_pack16(c_, d_);
    }
    return col;
  }
  for (n >>= 2; n > 0; --n, s0 += 4, s1 += 4, s2 += 4, s3 += 4, col += 8) {
    QUAD_STEP(0);
  }
  return col;
}

/* The 4 pixels px[0..3] in segments of contiguous bytes, with bounds checks (inputs too large for
 * the padded copy, or dil_w != 1): whole window rows (dil_w == 1; a row partly left or right of the
 * image is first copied with input zero points into the pixel's `pad_rows` buffer) or else single
 * taps' channels; 4 taps at a time where segments are multiples of 4 taps, else one tap (4 byte
 * loads) at a time. Segments outside the image read `zrow` (input zero points, k_w * in_c >= in_c
 * bytes). */
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
      col = gather(src, seg_len, col);
    }
  }
}

/* The 4 pixels px[0..3] from an image whose rows are `prow` bytes apart and that holds every window
 * whole (the zero-point padded copy of the input, or the input itself where no window leaves it):
 * whole window rows, no bounds checks. */
static void im2col_padded(const smcu_conv2d_params_t *c, const int8_t *img, int32_t prow, const int32_t *px,
                          int32_t *col) {
  const int32_t in_c = c->in_c;
  const int32_t row_len = c->k_w * in_c;
  const int32_t step = c->dil_h * prow;
  const int8_t *b[4];
  for (int32_t s = 0; s < 4; ++s) {
    const int32_t oy = px[s] / c->out_w;
    b[s] = img + oy * c->stride_h * prow + (px[s] - oy * c->out_w) * c->stride_w * in_c;
  }
  for (int32_t ky = c->k_h; ky > 0; --ky) {
    col = gather(b, row_len, col);
    b[0] += step;
    b[1] += step;
    b[2] += step;
    b[3] += step;
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

/* The doubled accumulator requantised and saturated to int8 (SMMLAR, SUB, ASR, SSAT). */
#define REQUANT(acc2) smcu_ssat8((smcu_smmlar((acc2), mult, rh) - (int32_t)((uint32_t)(acc2) >> 31)) >> e)

/* Every output channel of the 4 pixels whose column is `col`: channel oc of pixel s at o[s * out_c + oc]
 * (kept out of line: its registers are then allocated for its own loops alone). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void channels(const int32_t *wp, int32_t out_c, const int32_t *col, int8_t *o) {
  const int32_t step = out_c;
  for (int8_t *const o_end = o + out_c; o != o_end; ++o) {
    int32_t a0 = *wp++;
    int32_t a1 = a0, a2 = a0, a3 = a0;
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
    const int32_t mult = wp[0], rh = wp[1], e = wp[2];
    wp += 3;
    o[0] = (int8_t)REQUANT(a0);
    o[step] = (int8_t)REQUANT(a1);
    int8_t *const o2 = o + 2 * step;
    o2[0] = (int8_t)REQUANT(a2);
    o2[step] = (int8_t)REQUANT(a3);
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
  int8_t *const tail = pad_rows + 4 * ((row_len + 3) & ~3); /* the last group's outputs (4 x out_c) */
  const int32_t rows_fast = c->dil_w == 1; /* whole window rows, else one tap's channels at a time */
  const int32_t n_pix = c->out_h * c->out_w;
  const int32_t out_c = c->out_c;
  const int32_t full = c->act_min <= SMCU_INT8_MIN && c->act_max >= SMCU_INT8_MAX;
  /* the activation range in every byte lane */
  const uint32_t act_min4 = 0x01010101u * (uint8_t)c->act_min, act_max4 = 0x01010101u * (uint8_t)c->act_max;
  const int8_t *img = input; /* windows read whole from img where padded_row != 0 */
  if (p->padded_rows) {      /* from a zero-point padded copy of the input */
    int8_t *const copy = tail + 4 * out_c;
    const int32_t in_row = c->in_w * c->in_c;
    memset(copy, (uint8_t)(-c->input_offset), (size_t)(p->padded_rows * p->padded_row));
    for (int32_t y = 0; y < c->in_h; ++y) {
      memcpy(copy + (y + c->pad_h) * p->padded_row + c->pad_w * c->in_c, input + y * in_row, (size_t)in_row);
    }
    img = copy;
  } else if (!p->padded_row) {
    memset(zrow, (uint8_t)(-c->input_offset), (size_t)row_len);
  }
  for (int32_t pix = 0; pix < n_pix; pix += 4) {
    int32_t px[4];
    for (int32_t s = 0; s < 4; ++s) {
      px[s] = pix + s < n_pix ? pix + s : n_pix - 1;
    }
    if (p->padded_row) {
      im2col_padded(c, img, p->padded_row, px, col);
    } else {
      im2col_quad(c, input, px, col, zrow, pad_rows, rows_fast);
    }
    const int32_t last = n_pix - pix < 4;
    int8_t *const o = last ? tail : output + pix * out_c;
    channels(p->entries, out_c, col, o);
    if (!full) { /* the 4 pixels' outputs (4 * out_c bytes) clamped 4 at a time */
      for (int32_t i = 0; i < 4 * out_c; i += 4) {
        const uint32_t v = smcu_max_s8x4((uint32_t)smcu_read_s32(o + i), act_min4);
        smcu_write_s32(o + i, (int32_t)smcu_min_s8x4(v, act_max4));
      }
    }
    if (last) {
      memcpy(output + pix * out_c, tail, (size_t)((n_pix - pix) * out_c));
    }
  }
}
