/* CONV_2D int8, 16-bit SIMD: per pair of output pixels, an im2col column of int16 (input zero
 * point where the window leaves the image, which the folded bias cancels), then a 2 x 2 tile of
 * (pixel, output channel) dot products with SMLAD over int16 weights laid out offline
 * (smcu_conv2d.h). Any kernel size, stride, dilation and padding. */
#include "smcu_conv2d.h"
#include "smcu_fixedpoint.h"
#include "smcu_simd.h"

/* One pixel's receptive field into slot 0 or 1 of the interleaved column: group g of 4 taps
 * (in (ky, kx, ic) order) at words col[4g], col[4g + 1]; the other slot at col[4g + 2], col[4g + 3]. */
static void im2col_pixel(const smcu_conv2d_params_t *c, const int8_t *input, int32_t oy, int32_t ox, int32_t k_pad,
                         int32_t *col) {
  const int32_t zp = -c->input_offset;
  const int32_t row_len = c->k_w * c->in_c;
  const int32_t in_y0 = oy * c->stride_h - c->pad_h;
  const int32_t in_x0 = ox * c->stride_w - c->pad_w;
  if ((row_len & 3) == 0 && c->dil_w == 1 && in_x0 >= 0 && in_x0 + c->k_w <= c->in_w) {
    /* whole window rows inside the image horizontally: k_w * in_c contiguous bytes per row */
    const int32_t zp2 = smcu_pack16(zp, zp);
    for (int32_t ky = 0; ky < c->k_h; ++ky) {
      const int32_t in_y = in_y0 + ky * c->dil_h;
      int32_t n = row_len >> 2;
      if (in_y < 0 || in_y >= c->in_h) {
        for (; n > 0; --n, col += 4) {
          col[0] = zp2;
          col[1] = zp2;
        }
        continue;
      }
      const int8_t *src = input + (in_y * c->in_w + in_x0) * c->in_c;
      for (; n > 0; --n, src += 4, col += 4) {
        const int32_t w = smcu_read_s32(src);
        col[0] = smcu_sxtb16(w);
        col[1] = smcu_sxtb16_ror8(w);
      }
    }
    return;
  }
  int32_t v[4];
  int32_t n = 0;
  for (int32_t ky = 0; ky < c->k_h; ++ky) {
    const int32_t in_y = in_y0 + ky * c->dil_h;
    const int32_t y_in = in_y >= 0 && in_y < c->in_h;
    for (int32_t kx = 0; kx < c->k_w; ++kx) {
      const int32_t in_x = in_x0 + kx * c->dil_w;
      const int8_t *src = input + (in_y * c->in_w + in_x) * c->in_c;
      const int32_t inside = y_in && in_x >= 0 && in_x < c->in_w;
      for (int32_t ic = 0; ic < c->in_c; ++ic) {
        v[n++] = inside ? src[ic] : zp;
        if (n == 4) {
          col[0] = smcu_pack16(v[0], v[2]);
          col[1] = smcu_pack16(v[1], v[3]);
          col += 4;
          n = 0;
        }
      }
    }
  }
  if (n) { /* the zero weights of the padding to k_pad meet zeros */
    for (; n < 4; ++n) {
      v[n] = 0;
    }
    col[0] = smcu_pack16(v[0], v[2]);
    col[1] = smcu_pack16(v[1], v[3]);
  }
  (void)k_pad;
}

/* One group of 4 taps for 2 pixels (x) x 2 channels (w): 4 LDRD, 8 SMLAD. */
#define DOT_2X2_GROUP()           \
  do {                            \
    int32_t x0, x1, y0, y1, w0, w1; \
    SMCU_LOAD2(x0, x1, x);        \
    SMCU_LOAD2(w0, w1, w);        \
    a00 = smcu_smlad(x0, w0, a00); \
    a00 = smcu_smlad(x1, w1, a00); \
    SMCU_LOAD2(y0, y1, x);        \
    a01 = smcu_smlad(y0, w0, a01); \
    a01 = smcu_smlad(y1, w1, a01); \
    SMCU_LOAD2(w0, w1, w);        \
    a10 = smcu_smlad(x0, w0, a10); \
    a10 = smcu_smlad(x1, w1, a10); \
    a11 = smcu_smlad(y0, w0, a11); \
    a11 = smcu_smlad(y1, w1, a11); \
  } while (0)

static inline int8_t requant(int32_t acc, int32_t mult, int32_t lo, int32_t hi, int32_t shift, int32_t act_min,
                             int32_t act_max) {
  return (int8_t)smcu_clamp_i32(smcu_requant_fused(acc, mult, lo, hi, shift), act_min, act_max);
}

void smcu_conv2d_s8_simd(const smcu_conv2d_simd_params_t *p, const int8_t *input, int8_t *output, void *scratch) {
  const smcu_conv2d_params_t *c = &p->c;
  int32_t *col = (int32_t *)scratch;
  const int32_t groups = p->k_pad >> 2;
  const int32_t n_pix = c->out_h * c->out_w;
  const int32_t out_c = c->out_c;
  const int32_t act_min = c->act_min, act_max = c->act_max;
  int32_t oy = 0, ox = 0;
  for (int32_t pix = 0; pix < n_pix; pix += 2) {
    const int32_t two = pix + 1 < n_pix;
    for (int32_t s = 0; s < 1 + two; ++s) {
      im2col_pixel(c, input, oy, ox, p->k_pad, col + 2 * s);
      if (++ox == c->out_w) {
        ox = 0;
        ++oy;
      }
    }
    int8_t *out0 = output + pix * out_c;
    int8_t *out1 = out0 + out_c;
    const int32_t *w = p->weights;
    const smcu_requant_t *q = p->requant;
    int32_t oc = 0;
    for (; oc + 1 < out_c; oc += 2, q += 2) {
      int32_t a00 = q[0].bias, a01 = a00, a10 = q[1].bias, a11 = a10; /* a<channel><pixel> */
      const int32_t *x = col;
      for (int32_t g = groups >> 1; g > 0; --g) {
        DOT_2X2_GROUP();
        DOT_2X2_GROUP();
      }
      if (groups & 1) {
        DOT_2X2_GROUP();
      }
      out0[oc] = requant(a00, q[0].mult, q[0].round_lo, q[0].round_hi, q[0].shift, act_min, act_max);
      out0[oc + 1] = requant(a10, q[1].mult, q[1].round_lo, q[1].round_hi, q[1].shift, act_min, act_max);
      if (two) {
        out1[oc] = requant(a01, q[0].mult, q[0].round_lo, q[0].round_hi, q[0].shift, act_min, act_max);
        out1[oc + 1] = requant(a11, q[1].mult, q[1].round_lo, q[1].round_hi, q[1].shift, act_min, act_max);
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
      out0[oc] = requant(a0, q[0].mult, q[0].round_lo, q[0].round_hi, q[0].shift, act_min, act_max);
      if (two) {
        out1[oc] = requant(a1, q[0].mult, q[0].round_lo, q[0].round_hi, q[0].shift, act_min, act_max);
      }
    }
  }
}
