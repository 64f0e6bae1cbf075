"""SOFTMAX -> smcu_softmax_s8_generic (int8 -> int8 over the last dimension).

Scalars exactly as TFLM's CalculateSoftmaxParams for int8 (kScaledDiffIntegerBits = 5):
    real = min(double(beta) * double(input_scale) * 2^26, 2^31 - 1)
    input_mult, input_left_shift = QuantizeMultiplier(real)             (PreprocessSoftmaxScaling)
    diff_min = -floor(31 * 2^26 / 2^input_left_shift)                   (-CalculateInputRadius(5, .))
The output must be quantised with scale 1/256 and zero point -128 (TFLM requires it).
"""
from __future__ import annotations

import math

import numpy as np

from ..quant import quantize_multiplier
from .base import KernelCall, LoweringContext, register

SCALED_DIFF_INTEGER_BITS = 5


def softmax_scalars(beta: float, input_scale: float) -> dict[str, int]:
    real = min(float(np.float32(beta)) * float(np.float32(input_scale)) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)),
               float((1 << 31) - 1))
    if not real > 1.0:
        raise ValueError(f"beta * input_scale = {real / (1 << 26)} is too small for TFLite's int8 softmax")
    mult, left_shift = quantize_multiplier(real)
    radius = math.floor(((1 << SCALED_DIFF_INTEGER_BITS) - 1) * float(1 << (31 - SCALED_DIFF_INTEGER_BITS))
                        / float(1 << left_shift))
    return {"input_mult": mult, "input_left_shift": left_shift, "diff_min": -int(radius)}


@register("SOFTMAX")
def lower_softmax(ctx: LoweringContext) -> KernelCall:
    inp, out = ctx.tensor(0), ctx.out
    if inp.dtype != "int8" or out.dtype != "int8":
        raise ctx.fail(f"only int8 -> int8 is supported (got {inp.dtype} -> {out.dtype})")
    if out.per_tensor_zero_point != -128 or np.float32(out.per_tensor_scale) != np.float32(1.0 / 256):
        raise ctx.fail("the int8 output must have scale 1/256 and zero point -128")
    if not inp.shape or inp.size == 0:
        raise ctx.fail(f"input shape {list(inp.shape)} is scalar or empty")
    if out.size != inp.size:
        raise ctx.fail(f"output shape {list(out.shape)} does not match input shape {list(inp.shape)}")
    depth = int(inp.shape[-1])
    try:
        sc = softmax_scalars(ctx.node.options.get("beta", 1.0), inp.per_tensor_scale)
    except ValueError as exc:
        raise ctx.fail(str(exc)) from None
    fields = {"outer": inp.size // depth if depth else 0, "depth": depth, **sc}
    return KernelCall(node=ctx.node.index, op=ctx.node.op, kernel="smcu_softmax_s8_generic",
                      params_type="smcu_softmax_params_t", fields=fields, inputs=[ctx.node.inputs[0]],
                      output=ctx.node.outputs[0])
