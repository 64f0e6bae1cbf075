"""MAX_POOL_2D -> smcu_max_pool2d_s8_generic, AVERAGE_POOL_2D -> smcu_avg_pool2d_s8_generic.

As TFLM's int8 reference pooling, the kernels work on the raw int8 values (input and output share
the quantisation; the converter guarantees it, TFLM does not requantise), windows are clipped to
the image (SAME padding contributes no elements), and the fused activation clamps the result.
"""
from __future__ import annotations

from ..quant import activation_range
from .base import PADDING_SAME, KernelCall, LoweringContext, nhwc, register, same_padding


def _pool(ctx: LoweringContext, name: str) -> KernelCall:
    inp, out = ctx.tensor(0), ctx.out
    if inp.dtype != "int8" or out.dtype != "int8":
        raise ctx.fail(f"only int8 is supported (got {inp.dtype} -> {out.dtype})")
    n, in_h, in_w, ch = nhwc(inp)
    if n != 1:
        raise ctx.fail(f"batch {n} not supported (batch 1 only)")
    _, out_h, out_w, out_c = nhwc(out)
    if out_c != ch:
        raise ctx.fail("pooling must keep the channel count")
    o = ctx.node.options
    k_h, k_w = o.get("filter_height", 1), o.get("filter_width", 1)
    s_h, s_w = o.get("stride_h", 1), o.get("stride_w", 1)
    if o.get("padding", PADDING_SAME) == PADDING_SAME:
        pad_h, pad_w = same_padding(in_h, k_h, s_h, 1, out_h), same_padding(in_w, k_w, s_w, 1, out_w)
    else:
        pad_h = pad_w = 0
    act_min, act_max = activation_range(o.get("fused_activation_function", 0),
                                        out.per_tensor_scale, out.per_tensor_zero_point)
    fields = {"in_h": in_h, "in_w": in_w, "channels": ch, "out_h": out_h, "out_w": out_w,
              "k_h": k_h, "k_w": k_w, "stride_h": s_h, "stride_w": s_w, "pad_h": pad_h, "pad_w": pad_w,
              "act_min": act_min, "act_max": act_max}
    return KernelCall(node=ctx.node.index, op=ctx.node.op, kernel=f"smcu_{name}_s8_generic",
                      params_type="smcu_pool2d_params_t", fields=fields, inputs=[ctx.node.inputs[0]],
                      output=ctx.node.outputs[0])


@register("MAX_POOL_2D")
def lower_max_pool2d(ctx: LoweringContext) -> KernelCall:
    return _pool(ctx, "max_pool2d")


@register("AVERAGE_POOL_2D")
def lower_avg_pool2d(ctx: LoweringContext) -> KernelCall:
    return _pool(ctx, "avg_pool2d")
