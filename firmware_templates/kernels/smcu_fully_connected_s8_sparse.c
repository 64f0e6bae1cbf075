/* FULLY_CONNECTED int8, zero-skipping sparse: per output only its non-zero weights, one word each,
 * (weight << 16) | input index (export/layouts.py sparse_index_entries): LDRD of two entries, then
 * per entry UXTH (the index), LDRSB (the input value) and SMLABT by the weight in the entry's top
 * lane. The input zero point is folded into the bias; requantisation in one exact step
 * (smcu_requant_fused). */
#include "smcu_fixedpoint.h"
#include "smcu_fully_connected.h"
#include "smcu_simd.h"

/* One entry e. */
#define FC_STEP(e) acc = smcu_smlabt(x[(uint16_t)(uint32_t)(e)], (e), acc)

/* Two entries: one LDRD with write-back. */
#define FC_PAIR()           \
  do {                      \
    int32_t e0, e1;         \
    SMCU_LOAD2(e0, e1, wp); \
    FC_STEP(e0);            \
    FC_STEP(e1);            \
  } while (0)

void smcu_fully_connected_s8_sparse(const smcu_fully_connected_sparse_params_t *p, const int8_t *input,
                                    int8_t *output) {
  const smcu_fully_connected_params_t *c = &p->c;
  for (int32_t b = 0; b < c->batches; ++b) {
    const int8_t *const x = input + b * c->in_features;
    const int32_t *wp = p->entries;
    const smcu_requant_t *q = p->requant;
    for (int32_t o = 0; o < c->out_features; ++o, ++q) {
      int32_t acc = q->bias;
      const int32_t n = *wp++;
      const int32_t *const end = wp + n;
      if (n & 1) {
        const int32_t e = *wp++;
        FC_STEP(e);
      }
      if (n & 2) {
        FC_PAIR();
      }
      while (wp != end) {
        FC_PAIR();
        FC_PAIR();
      }
      const int32_t v = smcu_requant_fused(acc, q->mult, q->round_lo, q->round_hi, q->shift);
      *output++ = (int8_t)smcu_clamp_i32(v, c->act_min, c->act_max);
    }
  }
}
