"""MAX_POOL_2D -> smcu_max_pool2d_s8_{generic,fast}, AVERAGE_POOL_2D -> smcu_avg_pool2d_s8_{generic,fast}.

As TFLM's int8 reference pooling, the kernels work on the raw int8 values (input and output share
the quantisation; the converter guarantees it, TFLM does not requantise), windows are clipped to
the image (SAME padding contributes no elements), and the fused activation clamps the result.

Candidates: the scalar reference kernel ("generic") and "fast": 16 (then 4) channels at a time in
registers, bytewise SIMD max or 16-bit lane sums (SXTAB16) with one SDIV per channel; for AVERAGE
only where no window has more than 256 elements (its 16-bit lane sums cannot overflow then).
"""
from __future__ import annotations

import numpy as np

from ..quant import activation_range
from .conv2d import check_out_size, out_size
from .base import PADDING_SAME, KernelCall, LoweringContext, nhwc, register, same_padding

AVG_FAST_MAX_WINDOW = 256  # elements per channel a 16-bit lane sums without overflow (|sum| <= 32768)


def _extent(in_size: int, out_size: int, k: int, stride: int, pad: int) -> list[int]:
    """In-image window length along one axis, per output position."""
    return [min(k, in_size - (o * stride - pad)) - max(0, pad - o * stride) for o in range(out_size)]


def pool_features(f: dict) -> dict[str, int]:
    """Shape figures of a pooling call (export/cost.py); f = the smcu_pool2d_params_t fields."""
    rows = _extent(f["in_h"], f["out_h"], f["k_h"], f["stride_h"], f["pad_h"])
    cols = _extent(f["in_w"], f["out_w"], f["k_w"], f["stride_w"], f["pad_w"])
    c = f["channels"]
    g16, g4, g1 = c // 16, (c % 16) // 4, c % 4
    window = sum(rows) * sum(cols)  # window pixels over all outputs
    out_pixels = f["out_h"] * f["out_w"]
    # row runs the fast kernels walk: one per window row, one per window where it spans whole rows
    runs = sum(1 if w == f["in_w"] else r for r in rows for w in cols)
    return {"out_pixels": out_pixels, "window_elems": window * c, "row_runs_c": sum(rows) * f["out_w"] * c,
            "win_g16": window * g16, "win_g4": window * g4, "win_g1": window * g1,
            "runs_g": runs * (g16 + g4), "groups": out_pixels * (g16 + g4), "outputs": out_pixels * c}


def _pool(ctx: LoweringContext, name: str) -> list[KernelCall]:
    inp, out = ctx.tensor(0), ctx.out
    if inp.dtype != "int8" or out.dtype != "int8":
        raise ctx.fail(f"only int8 is supported (got {inp.dtype} -> {out.dtype})")
    n, in_h, in_w, ch = nhwc(inp)
    if (inp.per_tensor_zero_point != out.per_tensor_zero_point
            or abs(np.float32(inp.per_tensor_scale) - np.float32(out.per_tensor_scale)) > np.float32(1e-6)):
        raise ctx.fail(f"input ({inp.per_tensor_scale}, {inp.per_tensor_zero_point}) and output "
                       f"({out.per_tensor_scale}, {out.per_tensor_zero_point}) quantisation differ "
                       "(pooling does not requantise; TFLM requires them equal)")
    out_n, out_h, out_w, out_c = nhwc(out)
    if n != 1 or out_n != 1:
        raise ctx.fail(f"batch {n} -> {out_n} not supported (batch 1 only)")
    if out_c != ch:
        raise ctx.fail("pooling must keep the channel count")
    o = ctx.node.options
    k_h, k_w = o.get("filter_height", 1), o.get("filter_width", 1)
    s_h, s_w = o.get("stride_h", 1), o.get("stride_w", 1)
    padding = o.get("padding", PADDING_SAME)
    check_out_size(ctx, "height", out_h, out_size(in_h, k_h, s_h, 1, padding))
    check_out_size(ctx, "width", out_w, out_size(in_w, k_w, s_w, 1, padding))
    if padding == PADDING_SAME:
        pad_h, pad_w = same_padding(in_h, k_h, s_h, 1, out_h), same_padding(in_w, k_w, s_w, 1, out_w)
    else:
        pad_h = pad_w = 0
    act_min, act_max = activation_range(o.get("fused_activation_function", 0),
                                        out.per_tensor_scale, out.per_tensor_zero_point)
    fields = {"in_h": in_h, "in_w": in_w, "channels": ch, "out_h": out_h, "out_w": out_w,
              "k_h": k_h, "k_w": k_w, "stride_h": s_h, "stride_w": s_w, "pad_h": pad_h, "pad_w": pad_w,
              "act_min": act_min, "act_max": act_max}
    features = pool_features(fields)
    variants = ["generic"]
    if name == "max_pool2d" or min(k_h, in_h) * min(k_w, in_w) <= AVG_FAST_MAX_WINDOW:
        variants.append("fast")
    return [KernelCall(node=ctx.node.index, op=ctx.node.op, kernel=f"smcu_{name}_s8_{v}", variant=v,
                       params_type="smcu_pool2d_params_t", fields=fields, inputs=[ctx.node.inputs[0]],
                       output=ctx.node.outputs[0], features=dict(features)) for v in variants]


@register("MAX_POOL_2D")
def lower_max_pool2d(ctx: LoweringContext) -> list[KernelCall]:
    return _pool(ctx, "max_pool2d")


@register("AVERAGE_POOL_2D")
def lower_avg_pool2d(ctx: LoweringContext) -> list[KernelCall]:
    return _pool(ctx, "avg_pool2d")
