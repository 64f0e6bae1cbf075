"""RESHAPE / SQUEEZE / EXPAND_DIMS: no code; the output aliases the input buffer (same bytes)."""
from __future__ import annotations

from .base import KernelCall, LoweringContext, register


@register("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def lower_reshape(ctx: LoweringContext) -> KernelCall:
    inp, out = ctx.tensor(0), ctx.out
    if inp.size != out.size or inp.dtype != out.dtype:
        raise ctx.fail(f"{inp.shape} {inp.dtype} -> {out.shape} {out.dtype} is not a pure reshape")
    if (inp.scale is not None and out.scale is not None
            and (list(inp.scale) != list(out.scale) or list(inp.zero_point) != list(out.zero_point))):
        raise ctx.fail("input and output quantisation differ")
    return KernelCall(node=ctx.node.index, op=ctx.node.op, kernel=None, params_type=None, fields={},
                      inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], alias_output_to_input=True)
