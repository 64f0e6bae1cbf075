"""PAD / PADV2 -> smcu_pad_s8_generic (int8, rank <= 4).

The pad value is the output zero point (PAD; TFLM pads int8 with it) or the int8 constant operand
(PADV2). Paddings must be a constant [rank, 2] tensor.
"""
from __future__ import annotations

import numpy as np

from .base import KernelCall, LoweringContext, register


@register("PAD", "PADV2")
def lower_pad(ctx: LoweringContext) -> KernelCall:
    inp, out = ctx.tensor(0), ctx.out
    if inp.dtype != "int8" or out.dtype != "int8":
        raise ctx.fail(f"only int8 is supported (got {inp.dtype} -> {out.dtype})")
    rank = len(inp.shape)
    if rank > 4:
        raise ctx.fail("rank > 4 is not supported")
    pads_t = ctx.tensor(1)
    if pads_t.data is None:
        raise ctx.fail("paddings are not constant")
    if pads_t.dtype not in ("int32", "int64") or pads_t.size != 2 * rank:
        raise ctx.fail(f"paddings are {pads_t.dtype} {list(pads_t.shape)}; int32 [{rank}, 2] expected")
    pads = np.asarray(pads_t.data, dtype=np.int64).reshape(rank, 2)
    if (pads < 0).any():
        raise ctx.fail("negative paddings are not supported")
    if inp.zero_point is not None and out.zero_point is not None and (
            inp.per_tensor_zero_point != out.per_tensor_zero_point
            or np.float32(inp.per_tensor_scale) != np.float32(out.per_tensor_scale)):
        raise ctx.fail("input and output quantisation differ (PAD does not requantise)")
    pad_value = out.per_tensor_zero_point
    if ctx.node.op == "PADV2" and ctx.has_input(2):
        cv = ctx.tensor(2)
        if cv.data is None or cv.dtype != "int8":
            raise ctx.fail("the PADV2 constant value must be a constant int8 tensor")
        pad_value = int(np.asarray(cv.data).reshape(-1)[0])
    in_shape = [1] * (4 - rank) + [int(d) for d in inp.shape]
    lead = [0] * (4 - rank) + [int(p) for p in pads[:, 0]]
    out_shape = [i + int(a) + int(b) for i, (a, b) in zip(in_shape[4 - rank:], pads)]
    out_shape = [1] * (4 - rank) + out_shape
    if int(np.prod(out_shape)) != out.size:
        raise ctx.fail(f"output shape {out.shape} does not match the paddings")
    fields = {**{f"in_d{i}": in_shape[i] for i in range(4)}, **{f"out_d{i}": out_shape[i] for i in range(4)},
              **{f"pad{i}": lead[i] for i in range(4)}, "pad_value": pad_value}
    return KernelCall(node=ctx.node.index, op=ctx.node.op, kernel="smcu_pad_s8_generic",
                      params_type="smcu_pad_params_t", fields=fields, inputs=[ctx.node.inputs[0]],
                      output=ctx.node.outputs[0])
