/* CONV_2D, int8 per-channel (TFLite int8 quantisation spec), NHWC, batch 1.
 *
 * smcu_conv2d_params_t is what every variant needs; each variant's struct starts with it (`c`)
 * and adds its own weight layout and requantisation data. Variants:
 *   dense  scalar reference (the oracle the others are tested against), int8 weights
 *   rle    scalar, run-length sparse weights: only non-zero weights are visited
 *   simd   16-bit SIMD (SMLAD on Cortex-M4/M7, portable C elsewhere): im2col into int16 scratch,
 *          int16 weights re-laid out offline, 2 pixels x 2 output channels per inner loop
 *   sparse zero-skipping: im2col of 4 pixels into int16 scratch, then per output channel only its
 *          non-zero weights, each one packed word (weight, tap offset): 4 MACs per entry */
#ifndef SMCU_CONV2D_H
#define SMCU_CONV2D_H

#include <stdint.h>

#include "smcu_simd.h"

typedef struct {
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
  int32_t input_offset;  /* -input zero point */
  int32_t output_offset; /* output zero point */
  int32_t act_min, act_max;
} smcu_conv2d_params_t;

/* dense and rle */
typedef struct {
  smcu_conv2d_params_t c;
  const int8_t *weights;     /* dense: [out_c][k_h][k_w][in_c]; rle: entry values (export/encoder.py) */
  int32_t rle_entries;       /* rle: number of entries in the layer's stream; dense: 0 */
  const uint8_t *rle_skip;   /* rle: zeros skipped before each entry; dense: NULL */
  const int32_t *bias;       /* [out_c] */
  const int32_t *mult;       /* [out_c] Q31 multipliers */
  const int32_t *shift;      /* [out_c] */
} smcu_conv2d_ref_params_t;

/* simd */
typedef struct {
  smcu_conv2d_params_t c;
  /* One int32 stream walked front to back (export/layouts.py conv_simd_stream). Weights are doubled
   * int16 pairs (the accumulator holds 2 * acc, smcu_requant_smmlar), per channel k_pad of them in
   * (ky, kx, ic) order, zero-padded to k_pad; each group of 4 weights is two words (w0 | w2 << 16),
   * (w1 | w3 << 16): the lane order SXTB16 gives the input. Per pair of channels (c, d):
   *   2b_c, 2b_c, 2b_d, 2b_d              doubled bias' (input zero point folded in), once per pixel
   *   c's g0 words, d's g0 words, c's g1 words, ...               4 words per group of 4 taps
   *   m_c, round_hi_c, shift_c, m_d, round_hi_d, shift_d          (export/quant.py smmlar_requant_table)
   * then an odd last channel: 2b, its 2 words per group, m, round_hi, shift. */
  const int32_t *stream;
  int32_t k_pad; /* k_h * k_w * in_c rounded up to a multiple of 4 */
} smcu_conv2d_simd_params_t;

/* Scratch bytes of the simd variant: two im2col columns of k_pad int16, and when in_c % 4 != 0 a
 * k_pad-byte staging area and a window row (k_w * in_c bytes, rounded up to a word) of input zero
 * points (export/ops/conv2d.py sizes it). */

/* sparse: zero-skipping, cost proportional to the non-zero weights. Per group of 4 output pixels an
 * im2col column of int16 (input zero point where the window leaves the image, which the folded
 * bias cancels): tap t is the two words col[2t] = (p0 | p1 << 16), col[2t + 1] = (p2 | p3 << 16).
 * Then per output channel one stream: bias2, n, its n non-zero weights (tap order), one word each,
 *   entry = (2 * weight << 16) | (8 * tap)  (int16 doubled weight in the top lane, byte offset of the tap)
 * and its requantisation mult, rh, e (export/layouts.py sparse_conv_stream). Each entry is one LDRD
 * of the 4 pixels' values and 4 multiply-adds into the doubled accumulator acc2 = bias2 + sum(x * 2w)
 * (bias2 = 2 * (bias + input_offset * sum(weights)): the input zero point folded in), requantised
 * exactly in one step: out = clamp((SMMLAR(acc2, mult, rh) - (acc2 < 0)) >> e, act_min, act_max).
 * K <= 8192. */
typedef struct {
  smcu_conv2d_params_t c;
  const int32_t *entries; /* per channel: bias2, n, n entries, mult, rh, e */
  int32_t k;              /* taps: k_h * k_w * in_c */
  /* dil_w 1 and every window inside the input (no padding): padded_row = in_w * in_c, padded_rows = 0,
   * the windows are read from the input; else where the input is small, a zero-point padded copy of it
   * in scratch, padded_rows rows of padded_row bytes (input pixel (y, x) at row y + pad_h, column
   * x + pad_w); else both 0 (bounds handled per window row) */
  int32_t padded_row, padded_rows;
} smcu_conv2d_sparse_params_t;

/* Scratch bytes of the sparse variant: the column (8 bytes per tap, k rounded up to a multiple of
 * 4), one window row of input zero points, 4 zero-padded window rows (k_w * in_c bytes rounded
 * up to a word, each), the last pixel group's outputs (4 * out_c bytes) and the padded input copy. */
#define SMCU_CONV2D_SPARSE_SCRATCH_BYTES(k, row_len, out_c, padded_row, padded_rows) \
  (8 * (((k) + 3) & ~3) + 5 * (((row_len) + 3) & ~3) + 4 * (out_c) + (padded_row) * (padded_rows))

void smcu_conv2d_s8_dense(const smcu_conv2d_ref_params_t *p, const int8_t *input, int8_t *output);
void smcu_conv2d_s8_rle(const smcu_conv2d_ref_params_t *p, const int8_t *input, int8_t *output);
void smcu_conv2d_s8_simd(const smcu_conv2d_simd_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void smcu_conv2d_s8_sparse(const smcu_conv2d_sparse_params_t *p, const int8_t *input, int8_t *output,
                           void *scratch);

#endif /* SMCU_CONV2D_H */
