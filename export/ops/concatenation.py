"""CONCATENATION -> smcu_concatenation_s8_generic (int8, any axis, inputs quantised like the output)."""
from __future__ import annotations

import numpy as np

from .base import KernelCall, LoweringContext, register


@register("CONCATENATION")
def lower_concatenation(ctx: LoweringContext) -> KernelCall:
    out = ctx.out
    ins = [ctx.graph.tensors[i] for i in ctx.node.inputs]
    if out.dtype != "int8" or any(t.dtype != "int8" for t in ins):
        raise ctx.fail("only int8 is supported")
    if any(t.is_const for t in ins):
        raise ctx.fail("constant inputs are not supported")
    if ctx.node.options.get("fused_activation_function", 0) != 0:
        raise ctx.fail("a fused activation on CONCATENATION is not supported")
    for t in ins:
        if (np.float32(t.per_tensor_scale) != np.float32(out.per_tensor_scale)
                or t.per_tensor_zero_point != out.per_tensor_zero_point):
            raise ctx.fail(f"input {t.name!r} is quantised differently from the output "
                           f"({t.per_tensor_scale}, {t.per_tensor_zero_point}) vs "
                           f"({out.per_tensor_scale}, {out.per_tensor_zero_point}); requantising concat is not supported")
    rank = len(out.shape)
    axis = int(ctx.node.options.get("axis", 0))
    if axis < 0:
        axis += rank
    if not 0 <= axis < rank or any(len(t.shape) != rank for t in ins):
        raise ctx.fail(f"bad axis {ctx.node.options.get('axis')} for rank {rank}")
    for t in ins:
        if any(int(d) != int(o) for i, (d, o) in enumerate(zip(t.shape, out.shape)) if i != axis):
            raise ctx.fail(f"input {list(t.shape)} and output {list(out.shape)} differ outside axis {axis}")
    outer = int(np.prod(out.shape[:axis], dtype=np.int64))
    after = int(np.prod(out.shape[axis + 1:], dtype=np.int64))
    blocks = np.asarray([int(t.shape[axis]) * after for t in ins], np.int32)
    if int(blocks.sum()) * outer != out.size:
        raise ctx.fail("input shapes do not add up to the output shape")
    sizes = ctx.const("block_size", blocks)
    fields = {"num_inputs": len(ins), "outer": outer, "block_size": sizes.name}
    return KernelCall(node=ctx.node.index, op=ctx.node.op, kernel="smcu_concatenation_s8_generic",
                      params_type="smcu_concatenation_params_t", fields=fields, inputs=list(ctx.node.inputs),
                      output=ctx.node.outputs[0], consts=[sizes], inputs_as_array=True)
