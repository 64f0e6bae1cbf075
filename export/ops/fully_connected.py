"""FULLY_CONNECTED -> smcu_fully_connected_s8_{dense,rle,sparse} (per-tensor or per-channel int8 weights).

Candidates: the scalar reference kernel with dense or run-length sparse int8 weights and, where the
one-step requantisation is exact, the zero-skipping sparse kernel (one packed word per non-zero
weight: export/layouts.py sparse_index_entries).
"""
from __future__ import annotations

import numpy as np

from .. import layouts
from .base import KernelCall, LoweringContext, register
from .conv2d import bias_values, multipliers, quant_fields, reference_candidates, simd_requant


@register("FULLY_CONNECTED")
def lower_fully_connected(ctx: LoweringContext) -> list[KernelCall]:
    inp, w = ctx.tensor(0), ctx.tensor(1)
    if w.data is None:
        raise ctx.fail("weights are not constant")
    if w.zero_point is not None and any(int(z) != 0 for z in w.zero_point):
        raise ctx.fail("asymmetric weights are not supported")
    out_f, in_f = w.shape
    batches = inp.size // in_f
    common = {"batches": batches, "in_features": in_f, "out_features": out_f, **quant_fields(ctx)}
    features = {"pixels": batches, "outputs": batches * out_f, "macs": batches * out_f * in_f}
    bias, (mult, shift) = bias_values(ctx, 2, out_f), multipliers(ctx, w.scale, out_f)
    calls = reference_candidates(ctx, "smcu_fully_connected_s8", "smcu_fully_connected_ref_params_t", common, w.data,
                                 bias, mult, shift, batches, features)
    sparse = sparse_candidate(ctx, common, w.data, bias, mult, shift, batches, features)
    if sparse is not None:
        calls.append(sparse)
    return calls


def sparse_candidate(ctx: LoweringContext, common: dict, rows: np.ndarray, bias, mult, shift, batches: int,
                     features: dict) -> KernelCall | None:
    """The zero-skipping kernel (smcu_fully_connected_s8_sparse): per output only its non-zero weights,
    one word (weight, input index) each, the input zero point folded into the bias; None where the
    one-step requantisation is not exact or in_features exceeds the 16-bit index."""
    requant = simd_requant(ctx, common, rows, bias, mult, shift)
    stream = layouts.sparse_index_entries(rows)
    if requant is None or stream is None:
        return None
    entries = ctx.const("entries_sparse", stream)
    out_f = rows.shape[0]
    nonzeros = int(np.count_nonzero(rows))
    return KernelCall(
        node=ctx.node.index, op=ctx.node.op, kernel="smcu_fully_connected_s8_sparse", variant="sparse",
        params_type="smcu_fully_connected_sparse_params_t",
        fields={"c": common, "entries": entries.name, "requant": requant.name},
        inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], consts=[entries, requant],
        macs=rows.size * batches, nonzero_macs=nonzeros * batches, weight_encoding="sparse-index32",
        weight_bytes=entries.nbytes, dense_weight_bytes=rows.size, sparsity=1 - nonzeros / rows.size,
        features={**features, "sp_entries_x_uses": nonzeros * batches, "sp_outputs": batches * out_f})
