/* DEPTHWISE_CONV_2D int8, zero-skipping sparse (layout: smcu_depthwise_conv2d.h), any kernel size,
 * stride, dilation, padding and depth multiplier.
 *
 * A pruned depthwise channel has few non-zero taps (at 90 % sparsity a 3x3 channel has 0.9 on average,
 * and 39 % of the channels none), so the work goes channel by channel, output pixels in the inner loop
 * (stores with a stride of out_c). Where some outputs are constants, the output is first filled with
 * every channel's constant (the clamped requantised bias, computed offline): one pixel copied, then the
 * filled part doubled by memcpy, ~0.4 instructions per byte. Then per channel:
 *   no tap     nothing more
 *   one tap    only the outputs whose tap lies inside the image (runs of a rectangle, offline; full-width
 *              rows are one run) read the input directly: LDRSB, MLA, SMMLAR, the sign correction, ASR,
 *              SSAT, STRB and the pointer steps, two outputs per iteration: ~10.5 instructions per output
 *   more taps  the input channel is first copied into a plane whose frame holds the input zero point
 *              (~5.5 instructions per pixel, once for the depth_mult channels that read it), then per
 *              output LDRSB + SMLATB per tap (the first two taps' offsets and weights in registers) and
 *              the same requantisation: ~14.5 instructions for two taps, ~7 per further tap
 * The requantisation is the simd variant's exact one-step form on the doubled accumulator
 * acc2 = bias2 + sum(x * w2): (SMMLAR(acc2, mult, rh) - (acc2 < 0)) >> e, then SSAT to int8 (where the
 * activation range is all of int8) or the clamp to [act_min, act_max]. The row loops are out of line
 * and copy what they need into locals (the int8 stores may alias anything read through a pointer). */
#include <string.h>

#include "smcu_depthwise_conv2d.h"
#include "smcu_fixedpoint.h"
#include "smcu_simd.h"

#if defined(__GNUC__)
#define DWS_INLINE static inline __attribute__((always_inline))
#define DWS_NOINLINE static __attribute__((noinline))
#else
#define DWS_INLINE static inline
#define DWS_NOINLINE static
#endif

/* One rectangle of outputs of one channel: what the row loops need, copied into locals by each loop
 * (the int8 output stores may alias anything read through a pointer). */
typedef struct {
  const int8_t *in;       /* input (one tap) or plane (more taps) of the rectangle's first output */
  int8_t *o;              /* its output */
  int32_t in_step, in_row; /* input bytes to the next output in the row / to the next row */
  int32_t o_step, o_row;
  int32_t rows, cols;
  int32_t bias2, mult, rh, e, lo, hi;
  const int32_t *ent; /* more taps: the entries */
  int32_t taps;
} dws_job_t;

#define DWS_REQUANT(acc2) ((smcu_smmlar((acc2), mult, rh) - (int32_t)((uint32_t)(acc2) >> 31)) >> e)

/* One tap, the activation range all of int8: per output LDRSB, MLA, SMMLAR, SUB, ASR, SSAT, STRB. */
DWS_NOINLINE void dws_one_full(const dws_job_t *j) {
  const int32_t in_step = j->in_step, o_step = j->o_step, cols = j->cols;
  const int32_t w2 = j->ent[0], bias2 = j->bias2, mult = j->mult, rh = j->rh, e = j->e;
  const int8_t *in = j->in;
  int8_t *o = j->o;
  for (int32_t y = j->rows; y > 0; --y, in += j->in_row, o += j->o_row) {
    const int8_t *x = in;
    int8_t *d = o;
    int32_t n = cols;
    for (; n >= 2; n -= 2, x += 2 * in_step, d += 2 * o_step) {
      const int32_t a0 = bias2 + w2 * x[0], a1 = bias2 + w2 * x[in_step];
      d[0] = (int8_t)smcu_ssat8(DWS_REQUANT(a0));
      d[o_step] = (int8_t)smcu_ssat8(DWS_REQUANT(a1));
    }
    if (n) {
      const int32_t a0 = bias2 + w2 * x[0];
      d[0] = (int8_t)smcu_ssat8(DWS_REQUANT(a0));
    }
  }
}

/* Two taps (full range) or any number of taps and any activation range (taps == 1: w2 is the one
 * tap's weight, read at offset 0 of j->in). */
DWS_INLINE void dws_taps(const dws_job_t *j, int32_t full2) {
  const int32_t in_step = j->in_step, o_step = j->o_step, cols = j->cols, taps = j->taps;
  const int32_t bias2 = j->bias2, mult = j->mult, rh = j->rh, e = j->e, lo = j->lo, hi = j->hi;
  const int32_t *ent = j->ent;
  const int32_t e0 = ent[0], e1 = taps > 1 ? ent[1] : 0;
  const int32_t off0 = taps > 1 ? (uint16_t)e0 : 0, off1 = (uint16_t)e1;
  const int32_t w0 = taps > 1 ? e0 : (int32_t)((uint32_t)e0 << 16);
  const int8_t *in = j->in;
  int8_t *o = j->o;
  for (int32_t y = j->rows; y > 0; --y, in += j->in_row, o += j->o_row) {
    const int8_t *x = in;
    int8_t *d = o;
    for (int32_t n = cols; n > 0; --n, x += in_step, d += o_step) {
      int32_t acc = smcu_smlatb(w0, x[off0], bias2);
      acc = smcu_smlatb(e1, x[off1], acc);
      if (!full2) {
        for (int32_t t = 2; t < taps; ++t) {
          acc = smcu_smlatb(ent[t], x[(uint16_t)ent[t]], acc);
        }
        *d = (int8_t)smcu_clamp_i32(DWS_REQUANT(acc), lo, hi);
      } else {
        *d = (int8_t)smcu_ssat8(DWS_REQUANT(acc));
      }
    }
  }
}

DWS_NOINLINE void dws_taps_full2(const dws_job_t *j) { dws_taps(j, 1); }
DWS_NOINLINE void dws_taps_any(const dws_job_t *j) { dws_taps(j, 0); }

/* The input channel into the plane (its frame stays the zero point). */
DWS_NOINLINE void dws_extract(const int8_t *src, int32_t in_c, int32_t in_h, int32_t in_w, int8_t *dst,
                              int32_t plane_w) {
  for (int32_t y = in_h; y > 0; --y, dst += plane_w) {
    int8_t *d = dst;
    for (int32_t x = in_w; x > 0; --x, src += in_c) {
      *d++ = *src;
    }
  }
}

void smcu_depthwise_conv2d_s8_sparse(const smcu_depthwise_conv2d_sparse_params_t *p, const int8_t *input,
                                     int8_t *output, void *scratch) {
  const smcu_depthwise_conv2d_params_t *c = &p->c;
  const int32_t out_c = c->out_c, out_w = c->out_w, out_h = c->out_h;
  const int32_t full = c->act_min <= SMCU_INT8_MIN && c->act_max >= SMCU_INT8_MAX;
  int8_t *const plane = (int8_t *)scratch;
  int32_t plane_ic = -1; /* the input channel the plane holds */
  if (p->plane_w) {
    memset(plane, (uint8_t)(-c->input_offset), (size_t)p->plane_bytes);
  }
  if (p->fill) { /* the constants into the first pixel, then the filled part doubled until all are */
    const int32_t total = out_h * out_w * out_c;
    memcpy(output, p->consts, (size_t)out_c);
    for (int32_t done = out_c; done < total; done *= 2) {
      memcpy(output + done, output, (size_t)(total - done < done ? total - done : done));
    }
  }
  dws_job_t j;
  j.o_step = out_c;
  j.o_row = out_w * out_c;
  j.lo = c->act_min;
  j.hi = c->act_max;
  const int32_t *s = p->stream;
  for (int32_t oc = 0; oc < out_c; ++oc) {
    const int32_t h = *s++;
    const int32_t n = h & 0xFF;
    if (n == 0) {
      continue;
    }
    const int32_t ic = oc / c->depth_mult;
    j.bias2 = s[0];
    j.mult = s[1];
    j.rh = s[2];
    j.e = h >> 8;
    j.taps = n;
    s += 3;
    if (n == 1) { /* the outputs whose tap lies inside the image */
      j.in_step = c->stride_w * c->in_c;
      j.in_row = c->stride_h * c->in_w * c->in_c;
      j.in = input + s[1] + ic;
      j.o = output + s[2] * out_c + oc;
      j.ent = s;
      j.rows = s[3] & 0xFFFF;
      j.cols = s[3] >> 16;
      s += 4;
      if (full) {
        dws_one_full(&j);
      } else {
        dws_taps_any(&j);
      }
      continue;
    }
    if (ic != plane_ic) {
      plane_ic = ic;
      dws_extract(input + ic, c->in_c, c->in_h, c->in_w, plane + c->pad_h * p->plane_w + c->pad_w, p->plane_w);
    }
    j.in = plane;
    j.in_step = c->stride_w;
    j.in_row = c->stride_h * p->plane_w;
    j.ent = s;
    j.rows = out_h;
    j.cols = out_w;
    j.o = output + oc;
    if (full && n == 2) {
      dws_taps_full2(&j);
    } else {
      dws_taps_any(&j);
    }
    s += n;
  }
}
