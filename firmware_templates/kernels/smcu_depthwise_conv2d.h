/* DEPTHWISE_CONV_2D, int8 per-channel (TFLite int8 quantisation spec), NHWC, batch 1.
 * Output channel oc = ic * depth_mult + m reads input channel ic.
 *
 * Variants:
 *   dense  scalar reference (the oracle the others are tested against), int8 weights
 *   rle    scalar, run-length sparse weights
 *   simd   16-bit SIMD (SMLAD on Cortex-M4/M7, portable C elsewhere), depth multiplier 1: the input
 *          rows a window needs are expanded once each to int16 in scratch (one word per two input
 *          columns and channel), a pass computes two neighbouring output pixels per channel; weights
 *          are int16 tap pairs laid out offline; exact one-step requantisation (SMMLAR)
 *   sparse zero-skipping, channel by channel: only the non-zero taps, channels without any are constants */
#ifndef SMCU_DEPTHWISE_CONV2D_H
#define SMCU_DEPTHWISE_CONV2D_H

#include <stdint.h>

/* What every variant needs; each variant's struct starts with it (`c`). */
typedef struct {
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c; /* out_c = in_c * depth_mult */
  int32_t depth_mult;
  int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
  int32_t input_offset;  /* -input zero point */
  int32_t output_offset; /* output zero point */
  int32_t act_min, act_max;
} smcu_depthwise_conv2d_params_t;

/* dense and rle (scalar reference) */
typedef struct {
  smcu_depthwise_conv2d_params_t c;
  /* dense: [out_c][k_h][k_w] (TFLite's [1][k_h][k_w][out_c] transposed: one row per output channel);
   * rle: the entry values of those rows */
  const int8_t *weights;
  int32_t rle_entries;       /* rle: number of entries in the layer's stream; dense: 0 */
  const uint8_t *rle_skip;   /* rle: zeros skipped before each entry; dense: NULL */
  const int32_t *bias;       /* [out_c] */
  const int32_t *mult;       /* [out_c] Q31 multipliers */
  const int32_t *shift;      /* [out_c] */
} smcu_depthwise_conv2d_ref_params_t;

/* simd (depth_mult 1, any kernel size, stride, dilation and padding).
 *
 * Output pixels go in pairs (x0 = 2j, x1 = 2j + 1; the last alone when out_w is odd) along each output
 * row. Input row `a` is expanded once into ring slot a mod `ring` of the scratch (the ring holds the
 * (k_h - 1) * dil_h + 1 rows one output row spans): one word per "grid pair" g and channel, the int16
 * pair (input column 2g - pad_w, column 2g - pad_w + 1), the input zero point outside the image (which
 * the folded bias cancels). Channel ch of grid pair g is word (g - g % q) * in_c + ch * q + g % q:
 * q = 2 for stride_w 2 (grid pairs 2j and 2j + 1 of a channel adjacent), else 1. A pair j reads,
 * per kernel row, the n_w words of grid pairs j * stride_w + i, i < n_w (halfword h of word i is input
 * column 2j * stride_w - pad_w + 2i + h).
 *
 * `weights` is one stream per channel: bias2, the weight words of each kernel row, mult, rh, e, where
 *   paths 1 and 2 (3x3, stride_w 1 / 2): per row u = (w0 | w1 << 16), v = (w2 | w1 << 16)
 *   path 0 (any other):                  per row and word i < n_w: wa_i, wb_i (x0's and x1's weights
 *                                        for the word's two halfwords; 0 where a halfword is not one
 *                                        of the pixel's taps)
 * with every weight doubled (2w), bias2 = 2 * (bias + input_offset * sum(w)) (the input zero point
 * folded in), and the requantisation of the doubled accumulator
 * acc2 = bias2 + sum(x * 2w) = 2 * (bias + sum((x - zp) * w)):
 *   out = clamp((SMMLAR(acc2, mult, rh) - (acc2 < 0)) >> e, act_min, act_max)
 * (exactly TFLite's two-step MultiplyByQuantizedMultiplier plus output offset; rh = 2^(e-1) +
 * output_offset * 2^e, export/ops/depthwise_conv2d.py simd_requant). Paths 1 and 2 only saturate to
 * int8: the lowering gives them the layers whose activation range is all of int8 (no activation, or
 * RELU / RELU6 with output zero point -128, the usual case); the others take path 0. */
typedef struct {
  smcu_depthwise_conv2d_params_t c;
  const int32_t *weights; /* [out_c] streams, see above */
  int32_t path;           /* 1: 3x3 stride_w 1, 2: 3x3 stride_w 2 (dil_w 1, full int8 range), 0: any */
  int32_t n_w;            /* words per (pair, channel, kernel row) */
  int32_t ring;           /* ring slots */
} smcu_depthwise_conv2d_simd_params_t;

/* Scratch bytes of the simd variant: slot tags, word offsets, a zero-point row and the ring of slots
 * (grid pairs (out_w + 1) / 2 - 1) * stride_w + n_w, rounded up to q, per channel). */
#define SMCU_DEPTHWISE_CONV2D_SIMD_Q(stride_w) ((stride_w) == 2 ? 2 : 1)
#define SMCU_DEPTHWISE_CONV2D_SIMD_SCRATCH_BYTES(ring, k_h, out_w, ch, n_w, stride_w)                          \
  (4 * ((ring) + (k_h) * (n_w) + ((ch) + 3) / 4 +                                                            \
        (ring) * (ch) *                                                                                      \
            (((((out_w) + 1) / 2 - 1) * (stride_w) + (n_w) + SMCU_DEPTHWISE_CONV2D_SIMD_Q(stride_w) - 1) /   \
             SMCU_DEPTHWISE_CONV2D_SIMD_Q(stride_w) * SMCU_DEPTHWISE_CONV2D_SIMD_Q(stride_w))))

/* sparse (any kernel size, stride, dilation, padding and depth multiplier): zero-skipping, channel by
 * channel (smcu_depthwise_conv2d_s8_sparse.c). Where `fill` is set, every output pixel first gets the
 * channels' constants (`consts`, out_c bytes: the clamped requantised bias, what an output whose taps
 * all lie outside the image is). `stream` then holds per output channel, in order:
 *   h = n | e << 8                            n non-zero taps, requantisation shift e
 *   n == 0: nothing more (the channel is its constant)
 *   n >= 1: bias2, mult, rh                   the doubled accumulator's one-step requantisation (as simd)
 *   n == 1: w2, in_off, o_pix, rows | cols << 16
 *           the outputs whose tap lies inside the image: `rows` runs of `cols` outputs, the first at
 *           output pixel o_pix reading input[in_off + ic], the next ones stride_w * in_c input bytes
 *           further, each run stride_h * in_w * in_c input bytes and out_w output pixels after the
 *           previous one (the other outputs are the constant)
 *   n >= 2: n entries (w2 << 16) | tap offset in the zero-point padded plane of the input channel
 * with w2 = 2 * weight, bias2 = 2 * (bias + input_offset * sum(weights)), and
 * out = clamp((SMMLAR(acc2, mult, rh) - (acc2 < 0)) >> e, act_min, act_max) for acc2 = bias2 + sum(x * w2)
 * (export/ops/depthwise_conv2d_sparse.py). Channels with n >= 2 first copy their input channel into a
 * plane of plane_w columns (input pixel (y, x) at (y + pad_h) * plane_w + x + pad_w) whose frame holds
 * the input zero point. */
typedef struct {
  smcu_depthwise_conv2d_params_t c;
  const int32_t *stream;
  const int8_t *consts; /* [out_c] */
  int32_t fill;         /* 1: some outputs are constants */
  int32_t plane_w;      /* columns of the padded plane; 0: no channel needs it */
  int32_t plane_bytes;  /* scratch bytes of the plane */
} smcu_depthwise_conv2d_sparse_params_t;

void smcu_depthwise_conv2d_s8_dense(const smcu_depthwise_conv2d_ref_params_t *p, const int8_t *input, int8_t *output);
void smcu_depthwise_conv2d_s8_rle(const smcu_depthwise_conv2d_ref_params_t *p, const int8_t *input, int8_t *output);
void smcu_depthwise_conv2d_s8_simd(const smcu_depthwise_conv2d_simd_params_t *p, const int8_t *input, int8_t *output,
                                   void *scratch);
void smcu_depthwise_conv2d_s8_sparse(const smcu_depthwise_conv2d_sparse_params_t *p, const int8_t *input,
                                     int8_t *output, void *scratch);

#endif /* SMCU_DEPTHWISE_CONV2D_H */
