/* FULLY_CONNECTED int8, dense 16-bit SIMD: four outputs per pass over the input row, each input word
 * expanded once (SXTB16, SXTB16 ROR 8) into the int16 pairs (x0, x2), (x1, x3) and multiplied by the
 * four outputs' doubled int16 weights, laid out offline in that lane order in one stream with the
 * biases and requantisation parameters (export/layouts.py fc_simd_stream, smcu_fully_connected.h).
 * The input zero point is folded into the (doubled) bias, so the raw input is multiplied; the doubled
 * accumulator is requantised exactly in one step (smcu_requant_smmlar, export/quant.py
 * smmlar_requant_table). No scratch: the expanded input lives in registers.
 *
 * Structure and instruction budget (Armv7E-M; emulated instructions, export/cost_model.json):
 *   per 4 inputs x 4 outputs (16 MACs, inline assembly): LDR of the input word, 2 SXTB16, 2 LDM of
 *     4 stream words, 8 SMLAD, CMP + BNE = 15 (0.94 / MAC);
 *   per pass (4 outputs, or 1) ~40: the biases, the call of the loop, its entry and exit; then per
 *     output ~17: parameter loads, ADD sign, SMMLAR, ASR, clamp to the activation range, STRB, loop;
 *   in_features % 4 != 0: the last 1 to 3 inputs (zero padded to a word on the stack, built once per
 *     batch row) go through the same loop as one more word against zero-padded weights (~13 a pass);
 *   out_features % 4 != 0: the last 1 to 3 outputs one at a time (per 4 inputs: LDR, LDRD, 2 SXTB16,
 *     2 SMLAD, CMP + BNE = 8);
 *   batches > 1: the whole stream once per batch row.
 * Measured: 256 x 64 1.04 instructions / MAC (M7 and M4), 512 x 96 0.99, 64 x 10 1.75; ~416 bytes
 * of code (-O2 Thumb-2). Weights take 2 bytes each (doubled int16) plus 16 bytes per output.
 * The portable C path (host, no DSP) computes the same bits with smcu_simd.h's C helpers. */
#include "smcu_fixedpoint.h"
#include "smcu_fully_connected.h"
#include "smcu_simd.h"

#if defined(__GNUC__)
#define FC_NOINLINE __attribute__((noinline))
#else
#define FC_NOINLINE
#endif

/* acc[0..3] += four outputs' dot products with the input words [x, end) (x != end); returns the
 * stream after their weights (8 words per input word). Not inlined: called for the row's whole words
 * and for the tail word, one copy of the loop. */
FC_NOINLINE static const int32_t *quad_words(const int8_t *x, const int8_t *end, const int32_t *w, int32_t *acc) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if SMCU_HAVE_DSP
  int32_t v, t;
  __asm__ volatile(
      "1:\n\t"
      "ldr %[v], [%[x]], #4\n\t"
      "sxtb16 %[t], %[v], ror #8\n\t"
      "sxtb16 %[v], %[v]\n\t"
      "ldmia %[w]!, {r8, r9, r10, r11}\n\t"
      "smlad %[a0], %[v], r8, %[a0]\n\t"
      "smlad %[a1], %[v], r10, %[a1]\n\t"
      "smlad %[a0], %[t], r9, %[a0]\n\t"
      "smlad %[a1], %[t], r11, %[a1]\n\t"
      "ldmia %[w]!, {r8, r9, r10, r11}\n\t"
      "smlad %[a2], %[v], r8, %[a2]\n\t"
      "smlad %[a3], %[v], r10, %[a3]\n\t"
      "smlad %[a2], %[t], r9, %[a2]\n\t"
      "smlad %[a3], %[t], r11, %[a3]\n\t"
      "cmp %[x], %[end]\n\t"
      "bne 1b\n\t"
      : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w] "+r"(w), [v] "=&r"(v),
        [t] "=&r"(t)
      : [end] "r"(end)
      : "r8", "r9", "r10", "r11", "cc", "memory");
#else
  do {
    const int32_t v = smcu_read_s32(x);
    const int32_t x02 = smcu_sxtb16(v), x13 = smcu_sxtb16_ror8(v);
    a0 = smcu_smlad(x13, w[1], smcu_smlad(x02, w[0], a0));
    a1 = smcu_smlad(x13, w[3], smcu_smlad(x02, w[2], a1));
    a2 = smcu_smlad(x13, w[5], smcu_smlad(x02, w[4], a2));
    a3 = smcu_smlad(x13, w[7], smcu_smlad(x02, w[6], a3));
    x += 4;
    w += 8;
  } while (x != end);
#endif
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
  return w;
}

/* acc[0] += one output's dot product with the input words [x, end) (x != end); returns the stream
 * after its weights (2 words per input word). */
FC_NOINLINE static const int32_t *single_words(const int8_t *x, const int8_t *end, const int32_t *w, int32_t *acc) {
  int32_t a = acc[0];
#if SMCU_HAVE_DSP
  int32_t v, t, u0, u1;
  __asm__ volatile(
      "1:\n\t"
      "ldr %[v], [%[x]], #4\n\t"
      "ldrd %[u0], %[u1], [%[w]], #8\n\t"
      "sxtb16 %[t], %[v], ror #8\n\t"
      "sxtb16 %[v], %[v]\n\t"
      "smlad %[a], %[v], %[u0], %[a]\n\t"
      "smlad %[a], %[t], %[u1], %[a]\n\t"
      "cmp %[x], %[end]\n\t"
      "bne 1b\n\t"
      : [a] "+r"(a), [x] "+r"(x), [w] "+r"(w), [v] "=&r"(v), [t] "=&r"(t), [u0] "=&r"(u0), [u1] "=&r"(u1)
      : [end] "r"(end)
      : "cc", "memory");
#else
  do {
    const int32_t v = smcu_read_s32(x);
    a = smcu_smlad(smcu_sxtb16_ror8(v), w[1], smcu_smlad(smcu_sxtb16(v), w[0], a));
    x += 4;
    w += 2;
  } while (x != end);
#endif
  acc[0] = a;
  return w;
}

void smcu_fully_connected_s8_simd(const smcu_fully_connected_simd_params_t *p, const int8_t *input,
                                  int8_t *output) {
  const smcu_fully_connected_params_t *c = &p->c;
  const int32_t in_f = c->in_features;
  const int32_t act_min = c->act_min, act_max = c->act_max;
  const int32_t rest = in_f & 3;
  for (int32_t b = 0; b < c->batches; ++b, input += in_f) {
    const int8_t *const x_end = input + (in_f - rest);
    int32_t tail = 0; /* the last `rest` inputs, zero padded (their weights are zero padded too) */
    for (int32_t i = rest; i-- > 0;) {
      tail = (int32_t)(((uint32_t)tail << 8) | (uint8_t)x_end[i]);
    }
    const int8_t *const tail_x = (const int8_t *)&tail;
    const int32_t *w = p->stream;
    for (int32_t left = c->out_features, n; left > 0; left -= n) {
      n = left >= 4 ? 4 : 1; /* outputs in this pass */
      /* doubled biases, input zero point folded in (a single pass reads 3 words past its bias: its
       * own weights or requantisation parameters, unused) */
      int32_t acc[4] = {w[0], w[1], w[2], w[3]};
      w += n;
      const int32_t *(*const words)(const int8_t *, const int8_t *, const int32_t *, int32_t *) =
          n == 4 ? quad_words : single_words;
      if (x_end != input) { /* the row's whole words */
        w = words(input, x_end, w, acc);
      }
      if (rest) { /* the tail word */
        w = words(tail_x, tail_x + 4, w, acc);
      }
      for (int32_t j = 0; j < n; ++j, w += 3) {
        *output++ = (int8_t)smcu_clamp_i32(smcu_requant_smmlar(acc[j], w[0], w[1], w[2]), act_min, act_max);
      }
    }
  }
}
