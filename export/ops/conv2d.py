"""CONV_2D -> smcu_conv2d_s8_{dense,rle} (per-channel int8, any kernel/stride/dilation/padding)."""
from __future__ import annotations

import numpy as np

from .. import encoder
from ..quant import activation_range, per_channel_multipliers
from .base import PADDING_SAME, KernelCall, LoweringContext, nhwc, register, same_padding


def bias_const(ctx: LoweringContext, position: int, channels: int):
    """The int32 bias at input `position`, or zeros when the op has none."""
    if ctx.has_input(position):
        return ctx.const("bias", ctx.tensor(position).data.astype(np.int32).reshape(-1))
    return ctx.const("bias", np.zeros(channels, np.int32))


def requant_consts(ctx: LoweringContext, weight_scales: np.ndarray, channels: int):
    inp, out = ctx.tensor(0), ctx.out
    mult, shift = per_channel_multipliers(inp.per_tensor_scale, weight_scales, out.per_tensor_scale, channels)
    return ctx.const("mult", mult), ctx.const("shift", shift)


def conv_fields(ctx: LoweringContext, enc: encoder.EncodedWeights, bias, mult, shift) -> dict:
    out = ctx.out
    act_min, act_max = activation_range(ctx.node.options.get("fused_activation_function", 0),
                                        out.per_tensor_scale, out.per_tensor_zero_point)
    return {"input_offset": -ctx.tensor(0).per_tensor_zero_point, "output_offset": out.per_tensor_zero_point,
            "act_min": act_min, "act_max": act_max, **enc.fields,
            "bias": bias.name, "mult": mult.name, "shift": shift.name}


def spatial(ctx: LoweringContext, k_h: int, k_w: int):
    o = ctx.node.options
    _, in_h, in_w, _ = nhwc(ctx.tensor(0))
    _, out_h, out_w, _ = nhwc(ctx.out)
    s_h, s_w = o.get("stride_h", 1), o.get("stride_w", 1)
    d_h, d_w = o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1)
    if o.get("padding", PADDING_SAME) == PADDING_SAME:
        pad_h, pad_w = same_padding(in_h, k_h, s_h, d_h, out_h), same_padding(in_w, k_w, s_w, d_w, out_w)
    else:
        pad_h = pad_w = 0
    return {"in_h": in_h, "in_w": in_w, "out_h": out_h, "out_w": out_w, "k_h": k_h, "k_w": k_w,
            "stride_h": s_h, "stride_w": s_w, "dil_h": d_h, "dil_w": d_w, "pad_h": pad_h, "pad_w": pad_w}


def weights_call(ctx: LoweringContext, kernel_base: str, params_type: str, fields: dict,
                 enc: encoder.EncodedWeights, consts: list, macs_per_weight_use: int) -> KernelCall:
    """A KernelCall for a weighted op; `macs_per_weight_use` = output pixels each weight is used for."""
    return KernelCall(
        node=ctx.node.index, op=ctx.node.op, kernel=f"{kernel_base}_{enc.format}", params_type=params_type,
        fields=fields, inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], consts=enc.consts + consts,
        macs=enc.dense_nbytes * macs_per_weight_use, nonzero_macs=enc.nonzeros * macs_per_weight_use,
        weight_encoding=enc.format, weight_bytes=enc.nbytes, dense_weight_bytes=enc.dense_nbytes,
        sparsity=enc.sparsity)


@register("CONV_2D")
def lower_conv2d(ctx: LoweringContext) -> KernelCall:
    inp, w = ctx.tensor(0), ctx.tensor(1)
    if nhwc(inp)[0] != 1:
        raise ctx.fail(f"batch {nhwc(inp)[0]} not supported (batch 1 only)")
    if w.data is None:
        raise ctx.fail("weights are not constant")
    out_c, k_h, k_w, in_c = w.shape
    if in_c != nhwc(inp)[3]:
        raise ctx.fail("grouped convolution is not supported")
    enc = encoder.encode(f"{ctx.prefix}", w.data.reshape(out_c, -1), ctx.force_encoding)
    bias = bias_const(ctx, 2, out_c)
    mult, shift = requant_consts(ctx, w.scale, out_c)
    sp = spatial(ctx, k_h, k_w)
    fields = {**{k: sp[k] for k in ("in_h", "in_w")}, "in_c": in_c,
              **{k: sp[k] for k in ("out_h", "out_w")}, "out_c": out_c,
              **{k: sp[k] for k in ("k_h", "k_w", "stride_h", "stride_w", "dil_h", "dil_w", "pad_h", "pad_w")},
              **conv_fields(ctx, enc, bias, mult, shift)}
    return weights_call(ctx, "smcu_conv2d_s8", "smcu_conv2d_params_t", fields, enc, [bias, mult, shift],
                        sp["out_h"] * sp["out_w"])
