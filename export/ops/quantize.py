"""QUANTIZE int8 -> int8 -> smcu_requantize_s8_generic (TFLM's reference Requantize).

multiplier, shift = QuantizeMultiplier(double(input_scale) / double(output_scale));
out = clamp(MultiplyByQuantizedMultiplier(in - input_zp, multiplier, shift) + output_zp).
Float QUANTIZE / DEQUANTIZE at the model edges are stripped by the pipeline before lowering.
"""
from __future__ import annotations

import numpy as np

from ..quant import quantize_multiplier
from .base import KernelCall, LoweringContext, register


@register("QUANTIZE")
def lower_quantize(ctx: LoweringContext) -> KernelCall:
    inp, out = ctx.tensor(0), ctx.out
    if inp.dtype != "int8" or out.dtype != "int8":
        raise ctx.fail(f"only int8 -> int8 requantisation is supported (got {inp.dtype} -> {out.dtype})")
    if out.size != inp.size:
        raise ctx.fail(f"output shape {list(out.shape)} does not match input shape {list(inp.shape)}")
    mult, shift = quantize_multiplier(float(np.float32(inp.per_tensor_scale)) / float(np.float32(out.per_tensor_scale)))
    ctx.check_shifts([shift])
    fields = {"size": inp.size, "input_zero_point": inp.per_tensor_zero_point,
              "output_zero_point": out.per_tensor_zero_point, "mult": mult, "shift": shift}
    return KernelCall(node=ctx.node.index, op=ctx.node.op, kernel="smcu_requantize_s8_generic",
                      params_type="smcu_requantize_params_t", fields=fields, inputs=[ctx.node.inputs[0]],
                      output=ctx.node.outputs[0])
