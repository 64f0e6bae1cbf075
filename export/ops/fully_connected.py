"""FULLY_CONNECTED -> smcu_fully_connected_s8_{dense,rle,simd,sparse} (per-tensor or per-channel int8 weights).

Candidates: the scalar reference kernel with dense or run-length sparse int8 weights and, where the
one-step requantisation is exact, the zero-skipping sparse kernel (one packed word per non-zero
weight: export/layouts.py sparse_index_entries); where the one-SMMLAR requantisation of a doubled
accumulator is exact, the dense 16-bit SIMD kernel (four outputs per pass, doubled int16 weights in
SXTB16 lane order: export/layouts.py fc_simd_stream).
"""
from __future__ import annotations

import numpy as np

from .. import layouts
from ..quant import smmlar_requant_table
from .base import KernelCall, LoweringContext, register
from .conv2d import bias_values, const_weights, multipliers, quant_fields, reference_candidates, simd_requant


@register("FULLY_CONNECTED")
def lower_fully_connected(ctx: LoweringContext) -> list[KernelCall]:
    inp, out = ctx.tensor(0), ctx.out
    w = const_weights(ctx, 2, 0)
    out_f, in_f = w.shape
    batches = inp.size // in_f
    if inp.size != batches * in_f or not out.shape or out.shape[-1] != out_f or out.size != batches * out_f:
        raise ctx.fail(f"input {list(inp.shape)} and output {list(out.shape)} do not fit weights {list(w.shape)}")
    common = {"batches": batches, "in_features": in_f, "out_features": out_f, **quant_fields(ctx)}
    features = {"pixels": batches, "outputs": batches * out_f, "macs": batches * out_f * in_f}
    bias, (mult, shift) = bias_values(ctx, 2, out_f), multipliers(ctx, w.scale, out_f)
    calls = reference_candidates(ctx, "smcu_fully_connected_s8", "smcu_fully_connected_ref_params_t", common, w.data,
                                 bias, mult, shift, batches, features)
    sparse = sparse_candidate(ctx, common, w.data, bias, mult, shift, batches, features)
    if sparse is not None:
        calls.append(sparse)
    simd = simd_candidate(ctx, common, w.data, bias, mult, shift, batches, features)
    if simd is not None:
        calls.append(simd)
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


def simd_candidate(ctx: LoweringContext, common: dict, rows: np.ndarray, bias, mult, shift, batches: int,
                   features: dict) -> KernelCall | None:
    """The dense 16-bit SIMD kernel (smcu_fully_connected_s8_simd): four outputs per pass over the input,
    doubled int16 weights in SXTB16 lane order in one stream with the biases (input zero point folded
    in) and the one-SMMLAR requantisation (export/layouts.py fc_simd_stream); None where that
    requantisation is not exact (export/quant.py smmlar_requant_table)."""
    table = smmlar_requant_table(bias, rows, common["input_offset"], mult, shift, common["output_offset"])
    if table is None:
        return None
    stream = ctx.const("stream_simd", layouts.fc_simd_stream(rows, table))
    out_f, in_f = rows.shape
    nonzeros = int(np.count_nonzero(rows))
    return KernelCall(
        node=ctx.node.index, op=ctx.node.op, kernel="smcu_fully_connected_s8_simd", variant="simd",
        params_type="smcu_fully_connected_simd_params_t", fields={"c": common, "stream": stream.name},
        inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], consts=[stream],
        macs=rows.size * batches, nonzero_macs=nonzeros * batches, weight_encoding="simd-int16",
        weight_bytes=stream.nbytes, dense_weight_bytes=rows.size, sparsity=1 - nonzeros / rows.size,
        features={**features, **fc_simd_work(batches, in_f, out_f)})


def fc_simd_work(batches: int, in_f: int, out_f: int) -> dict[str, int]:
    """What smcu_fully_connected_s8_simd.c does per layer (cost-model features): per batch row, the groups
    of 4 inputs of each output quad ("fs_quad_groups": LDR, 2 SXTB16, 2 LDM, 8 SMLAD, loop) and of each
    of the last out_features % 4 outputs ("fs_single_groups": LDR, LDRD, 2 SXTB16, 2 SMLAD, loop), the
    passes (quads and single outputs: "fs_passes", each one call over the row's whole words and, with
    in_features % 4 != 0, one over the tail word: "fs_tail_passes"), the requantised outputs ("outputs")
    and the batch rows ("pixels")."""
    groups, quads, singles = -(-in_f // 4), out_f // 4, out_f % 4
    passes = batches * (quads + singles)
    return {"fs_quad_groups": batches * quads * groups, "fs_single_groups": batches * singles * groups,
            "fs_passes": passes, "fs_tail_passes": passes if in_f % 4 else 0}
