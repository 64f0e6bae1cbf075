"""DEPTHWISE_CONV_2D -> smcu_depthwise_conv2d_s8_{dense,rle} (per-channel int8, depth multiplier >= 1).

TFLite stores the filter as [1, k_h, k_w, out_c] (out_c = in_c * depth_multiplier, output channel
ic * depth_multiplier + m reads input channel ic). The encoder and both kernels use the transposed
layout: one row of k_h * k_w weights (ky, kx order) per output channel.
"""
from __future__ import annotations

from .base import KernelCall, LoweringContext, nhwc, register
from .conv2d import bias_values, multipliers, quant_fields, reference_candidates, spatial


@register("DEPTHWISE_CONV_2D")
def lower_depthwise_conv2d(ctx: LoweringContext) -> list[KernelCall]:
    inp, w, out = ctx.tensor(0), ctx.tensor(1), ctx.out
    n, _, _, in_c = nhwc(inp)
    if n != 1:
        raise ctx.fail(f"batch {n} not supported (batch 1 only)")
    if w.data is None:
        raise ctx.fail("weights are not constant")
    if len(w.shape) != 4 or w.shape[0] != 1:
        raise ctx.fail(f"unexpected depthwise filter shape {w.shape}")
    if w.zero_point is not None and any(int(z) != 0 for z in w.zero_point):
        raise ctx.fail("asymmetric weights are not supported")
    _, k_h, k_w, out_c = w.shape
    if out_c % in_c != 0 or nhwc(out)[3] != out_c:
        raise ctx.fail(f"{out_c} output channels is not a multiple of {in_c} input channels")
    depth_mult = out_c // in_c
    opt_mult = ctx.node.options.get("depth_multiplier", depth_mult)
    if opt_mult not in (0, depth_mult):  # some converters leave 0 / stale values; the shapes decide
        raise ctx.fail(f"depth_multiplier option {opt_mult} disagrees with the shapes ({depth_mult})")
    rows = w.data.reshape(k_h * k_w, out_c).T  # [out_c][k_h * k_w]
    sp = spatial(ctx, k_h, k_w)
    common = {**{k: sp[k] for k in ("in_h", "in_w")}, "in_c": in_c,
              **{k: sp[k] for k in ("out_h", "out_w")}, "out_c": out_c, "depth_mult": depth_mult,
              **{k: sp[k] for k in ("k_h", "k_w", "stride_h", "stride_w", "dil_h", "dil_w", "pad_h", "pad_w")},
              **quant_fields(ctx)}
    pixels = sp["out_h"] * sp["out_w"]
    features = {"pixels": pixels, "outputs": pixels * out_c, "macs": pixels * out_c * k_h * k_w}
    return reference_candidates(ctx, "smcu_depthwise_conv2d_s8", "smcu_depthwise_conv2d_ref_params_t", common, rows,
                                bias_values(ctx, 2, out_c), *multipliers(ctx, w.scale, out_c), pixels, features)
