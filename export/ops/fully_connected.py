"""FULLY_CONNECTED -> smcu_fully_connected_s8_{dense,rle} (per-tensor or per-channel int8 weights)."""
from __future__ import annotations

from .. import encoder
from .base import KernelCall, LoweringContext, register
from .conv2d import bias_const, conv_fields, requant_consts, weights_call


@register("FULLY_CONNECTED")
def lower_fully_connected(ctx: LoweringContext) -> KernelCall:
    inp, w = ctx.tensor(0), ctx.tensor(1)
    if w.data is None:
        raise ctx.fail("weights are not constant")
    if w.zero_point is not None and any(int(z) != 0 for z in w.zero_point):
        raise ctx.fail("asymmetric weights are not supported")
    out_f, in_f = w.shape
    batches = inp.size // in_f
    enc = encoder.encode(ctx.prefix, w.data, ctx.force_encoding)
    bias = bias_const(ctx, 2, out_f)
    mult, shift = requant_consts(ctx, w.scale, out_f)
    fields = {"batches": batches, "in_features": in_f, "out_features": out_f,
              **conv_fields(ctx, enc, bias, mult, shift)}
    return weights_call(ctx, "smcu_fully_connected_s8", "smcu_fully_connected_params_t", fields, enc,
                        [bias, mult, shift], batches)
