"""FULLY_CONNECTED -> smcu_fully_connected_s8_{dense,rle} (per-tensor or per-channel int8 weights)."""
from __future__ import annotations

from .base import KernelCall, LoweringContext, register
from .conv2d import bias_values, multipliers, quant_fields, reference_candidates


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
    return reference_candidates(ctx, "smcu_fully_connected_s8", "smcu_fully_connected_ref_params_t", common, w.data,
                                bias_values(ctx, 2, out_f), *multipliers(ctx, w.scale, out_f), batches, features)
