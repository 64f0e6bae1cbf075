/* FULLY_CONNECTED, int8 (per-tensor or per-channel weights, symmetric). */
#ifndef SMCU_FULLY_CONNECTED_H
#define SMCU_FULLY_CONNECTED_H

#include <stdint.h>

#include "smcu_simd.h"

/* What every variant needs; each variant's struct starts with it (`c`). */
typedef struct {
  int32_t batches, in_features, out_features;
  int32_t input_offset, output_offset;
  int32_t act_min, act_max;
} smcu_fully_connected_params_t;

/* dense and rle (scalar reference) */
typedef struct {
  smcu_fully_connected_params_t c;
  const int8_t *weights;     /* dense: [out_features][in_features]; rle: entry values (export/encoder.py) */
  int32_t rle_entries;       /* rle: number of entries in the layer's stream; dense: 0 */
  const uint8_t *rle_skip;   /* rle: zeros skipped before each entry; dense: NULL */
  const int32_t *bias;       /* [out_features] */
  const int32_t *mult;       /* [out_features] (a per-tensor multiplier is repeated) */
  const int32_t *shift;      /* [out_features] */
} smcu_fully_connected_ref_params_t;

/* sparse: zero-skipping, one word per non-zero weight, (weight << 16) | input index (int16 weight
 * in the top lane; in_features <= 65536); per output the stream is its entry count n, then its n
 * entries (index order). The input zero point is folded into the bias (smcu_requant_t). ~4
 * instructions per non-zero MAC: LDRD (2 entries), UXTH, LDRSB, SMLABT. */
typedef struct {
  smcu_fully_connected_params_t c;
  const int32_t *entries;        /* per output: n, then n entries (export/layouts.py sparse_index_entries) */
  const smcu_requant_t *requant; /* [out_features], the input zero point folded into the bias */
} smcu_fully_connected_sparse_params_t;

/* simd: dense, 16-bit SIMD, four outputs per pass (smcu_fully_connected_s8_simd.c). One int32 stream
 * (export/layouts.py fc_simd_stream), G = ceil(in_features / 4) groups of 4 inputs (zero padded):
 * per quad of outputs (o0..o3): their 4 doubled biases (input zero point folded in), then per group
 * each output's two words of doubled int16 weights in SXTB16 lane order, (w0 | w2 << 16),
 * (w1 | w3 << 16), then per output m, round_hi, shift (export/quant.py smmlar_requant_table);
 * then each of the last out_features % 4 outputs alone: doubled bias, 2 words per group, m,
 * round_hi, shift. */
typedef struct {
  smcu_fully_connected_params_t c;
  const int32_t *stream;
} smcu_fully_connected_simd_params_t;

void smcu_fully_connected_s8_dense(const smcu_fully_connected_ref_params_t *p, const int8_t *input, int8_t *output);
void smcu_fully_connected_s8_rle(const smcu_fully_connected_ref_params_t *p, const int8_t *input, int8_t *output);
void smcu_fully_connected_s8_sparse(const smcu_fully_connected_sparse_params_t *p, const int8_t *input,
                                    int8_t *output);
void smcu_fully_connected_s8_simd(const smcu_fully_connected_simd_params_t *p, const int8_t *input,
                                  int8_t *output);

#endif /* SMCU_FULLY_CONNECTED_H */
