"""CONV_2D -> smcu_conv2d_s8_{dense,rle,simd} (per-channel int8, any kernel/stride/dilation/padding).

Candidates: the scalar reference kernel with dense or run-length sparse int8 weights, and the
16-bit SIMD kernel (im2col into planned scratch, int16 weights re-laid out offline, input zero
point folded into the bias) where its one-step requantisation is exact for every channel.
"""
from __future__ import annotations

import numpy as np

from .. import encoder, layouts
from ..quant import activation_range, fused_requant_table, per_channel_multipliers
from .base import PADDING_SAME, KernelCall, LoweringContext, nhwc, register, same_padding


def bias_values(ctx: LoweringContext, position: int, channels: int) -> np.ndarray:
    """The int32 bias at input `position`, or zeros when the op has none."""
    if ctx.has_input(position):
        return ctx.tensor(position).data.astype(np.int32).reshape(-1)
    return np.zeros(channels, np.int32)


def multipliers(ctx: LoweringContext, weight_scales: np.ndarray, channels: int) -> tuple[np.ndarray, np.ndarray]:
    inp, out = ctx.tensor(0), ctx.out
    return per_channel_multipliers(inp.per_tensor_scale, weight_scales, out.per_tensor_scale, channels)


def quant_fields(ctx: LoweringContext) -> dict:
    """Zero points and activation range: fields every variant of a weighted op shares."""
    out = ctx.out
    act_min, act_max = activation_range(ctx.node.options.get("fused_activation_function", 0),
                                        out.per_tensor_scale, out.per_tensor_zero_point)
    return {"input_offset": -ctx.tensor(0).per_tensor_zero_point, "output_offset": out.per_tensor_zero_point,
            "act_min": act_min, "act_max": act_max}


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


def reference_candidates(ctx: LoweringContext, kernel_base: str, params_type: str, common: dict, rows: np.ndarray,
                         bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, uses_per_weight: int,
                         features: dict) -> list[KernelCall]:
    """The scalar reference kernel with dense and with run-length sparse int8 weights.
    `uses_per_weight` = output pixels each weight is used for."""
    consts = [ctx.const("bias", bias), ctx.const("mult", mult), ctx.const("shift", shift)]
    calls = []
    for fmt in encoder.FORMATS:
        enc = encoder.encode(ctx.prefix, rows, fmt)
        fields = {"c": common, **enc.fields, **{k: a.name for k, a in zip(("bias", "mult", "shift"), consts)}}
        calls.append(KernelCall(
            node=ctx.node.index, op=ctx.node.op, kernel=f"{kernel_base}_{fmt}", variant=fmt, params_type=params_type,
            fields=fields, inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], consts=enc.consts + consts,
            macs=enc.dense_nbytes * uses_per_weight, nonzero_macs=enc.nonzeros * uses_per_weight,
            weight_encoding=fmt, weight_bytes=enc.nbytes, dense_weight_bytes=enc.dense_nbytes, sparsity=enc.sparsity,
            features={**features, "entries_x_uses": enc.entries * uses_per_weight}))
    return calls


def simd_requant(ctx: LoweringContext, common: dict, rows: np.ndarray, bias, mult, shift):
    """The smcu_requant_t table const, or None where the SIMD variants do not apply."""
    table = fused_requant_table(bias, rows, common["input_offset"], mult, shift, common["output_offset"])
    return None if table is None else ctx.const("requant", table, "smcu_requant_t")


@register("CONV_2D")
def lower_conv2d(ctx: LoweringContext) -> list[KernelCall]:
    inp, w = ctx.tensor(0), ctx.tensor(1)
    if nhwc(inp)[0] != 1:
        raise ctx.fail(f"batch {nhwc(inp)[0]} not supported (batch 1 only)")
    if w.data is None:
        raise ctx.fail("weights are not constant")
    out_c, k_h, k_w, in_c = w.shape
    if in_c != nhwc(inp)[3]:
        raise ctx.fail("grouped convolution is not supported")
    rows = w.data.reshape(out_c, -1)
    bias = bias_values(ctx, 2, out_c)
    mult, shift = multipliers(ctx, w.scale, out_c)
    sp = spatial(ctx, k_h, k_w)
    common = {**{k: sp[k] for k in ("in_h", "in_w")}, "in_c": in_c,
              **{k: sp[k] for k in ("out_h", "out_w")}, "out_c": out_c,
              **{k: sp[k] for k in ("k_h", "k_w", "stride_h", "stride_w", "dil_h", "dil_w", "pad_h", "pad_w")},
              **quant_fields(ctx)}
    pixels = sp["out_h"] * sp["out_w"]
    k = k_h * k_w * in_c
    k_pad = layouts.padded_length(k)
    fast_im2col = in_c % 4 == 0
    features = {"pixels": pixels, "outputs": pixels * out_c, "macs": pixels * out_c * k,
                "k_pad_macs": pixels * out_c * k_pad, "im2col_fast": pixels * k_pad if fast_im2col else 0,
                "im2col_slow": 0 if fast_im2col else pixels * k_pad}
    calls = reference_candidates(ctx, "smcu_conv2d_s8", "smcu_conv2d_ref_params_t", common, rows, bias, mult, shift,
                                 pixels, features)
    requant = simd_requant(ctx, common, rows, bias, mult, shift)
    if requant is not None:
        weights = ctx.const("weights_simd", layouts.interleave_channel_pairs(layouts.sxtb16_words(rows)))
        nonzeros = int(np.count_nonzero(rows))
        calls.append(KernelCall(
            node=ctx.node.index, op=ctx.node.op, kernel="smcu_conv2d_s8_simd", variant="simd",
            params_type="smcu_conv2d_simd_params_t",
            fields={"c": common, "weights": weights.name, "requant": requant.name, "k_pad": k_pad},
            inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], consts=[weights, requant],
            macs=rows.size * pixels, nonzero_macs=nonzeros * pixels, weight_encoding="simd-int16",
            weight_bytes=weights.nbytes, dense_weight_bytes=rows.size, sparsity=1 - nonzeros / rows.size,
            scratch_bytes=4 * k_pad + (k_pad if in_c % 4 else 0), features=features))
    return calls
