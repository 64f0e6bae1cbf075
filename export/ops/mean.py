"""MEAN -> smcu_mean_s8_generic (int8; global average pooling and any contiguous run of axes).

TFLM's int8 MEAN (QuantizedMeanOrSum, also when input and output quantisation are equal):
    M, s = QuantizeMultiplier(double(input_scale) / double(output_scale))
    n = number of reduced elements; k = min(floor(log2 n), 32, 31 + s)
    M' = (M << k) // n (int64, truncating);  s' = s - k
    out = clamp(MultiplyByQuantizedMultiplier(int32(sum - input_zp * n), M', s') + output_zp)

Candidates: the reference kernel ("generic") and "fast" (16 inner elements at a time in 16-bit lane
sums, the requantisation in one rounding step), proposed where export/quant.py fused_requant_table
proves that step exact for every possible sum.
"""
from __future__ import annotations

import numpy as np

from ..quant import fused_requant_table, quantize_multiplier
from .base import KernelCall, LoweringContext, register


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """The (multiplier, shift) of QuantizedMeanOrSum with 1/count folded in."""
    mult, shift = quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return int((mult << k) // count), shift - k


CHUNK = 256  # SMCU_MEAN_FAST_CHUNK: reduced elements summed in 16-bit lanes before widening


def mean_features(outer: int, reduce: int, inner: int) -> dict[str, int]:
    """Shape figures of a MEAN call (export/cost.py)."""
    g16, g4, g1 = inner // 16, (inner % 16) // 4, inner % 4
    chunks = -(-reduce // CHUNK)
    return {"red_g16": outer * reduce * g16, "red_g4": outer * reduce * g4, "red_g1": outer * reduce * g1,
            "chunks_g": outer * chunks * (g16 + g4), "outputs": outer * inner}


@register("MEAN")
def lower_mean(ctx: LoweringContext) -> list[KernelCall]:
    inp, out = ctx.tensor(0), ctx.out
    if inp.dtype != "int8" or out.dtype != "int8":
        raise ctx.fail(f"only int8 is supported (got {inp.dtype} -> {out.dtype})")
    axis_t = ctx.tensor(1)
    if axis_t.data is None or axis_t.dtype not in ("int32", "int64"):
        raise ctx.fail(f"the reduction axes must be a constant int32 tensor (got {axis_t.dtype})")
    rank = len(inp.shape)
    axes = sorted({int(a) + rank if int(a) < 0 else int(a) for a in np.asarray(axis_t.data).reshape(-1)})
    if not axes or axes[0] < 0 or axes[-1] >= rank or axes != list(range(axes[0], axes[-1] + 1)):
        raise ctx.fail(f"MEAN over axes {np.asarray(axis_t.data).reshape(-1).tolist()} of a rank-{rank} "
                       "tensor is not supported (only one contiguous run of axes, e.g. (1, 2) of NHWC)")
    shape = [int(d) for d in inp.shape]
    outer = int(np.prod(shape[:axes[0]], dtype=np.int64))
    reduce = int(np.prod(shape[axes[0]:axes[-1] + 1], dtype=np.int64))
    inner = int(np.prod(shape[axes[-1] + 1:], dtype=np.int64))
    if out.size != outer * inner:
        raise ctx.fail(f"output shape {out.shape} does not match the reduction of {inp.shape}")
    if reduce == 0:
        raise ctx.fail("empty reduction")
    ctx.check_shifts([quantize_multiplier(float(np.float32(inp.per_tensor_scale))
                                          / float(np.float32(out.per_tensor_scale)))[1]])
    mult, shift = mean_multiplier(inp.per_tensor_scale, out.per_tensor_scale, reduce)
    fields = {"outer": outer, "reduce": reduce, "inner": inner,
              "input_zero_point": inp.per_tensor_zero_point, "output_zero_point": out.per_tensor_zero_point,
              "mult": mult, "shift": shift}
    features = mean_features(outer, reduce, inner)
    calls = [KernelCall(node=ctx.node.index, op=ctx.node.op, kernel="smcu_mean_s8_generic",
                        params_type="smcu_mean_params_t", fields=fields, inputs=[ctx.node.inputs[0]],
                        output=ctx.node.outputs[0], features=dict(features))]
    # fast: sum - zp * reduce requantised in one step; "weights" = reduce ones bound the sum
    rq = fused_requant_table(np.zeros(1, np.int64), np.ones((1, reduce), np.int64), -inp.per_tensor_zero_point,
                             np.array([mult]), np.array([shift]), out.per_tensor_zero_point)
    if rq is not None:
        calls.append(KernelCall(
            node=ctx.node.index, op=ctx.node.op, kernel="smcu_mean_s8_fast", variant="fast",
            params_type="smcu_mean_fast_params_t",
            fields={"outer": outer, "reduce": reduce, "inner": inner,
                    "rq": dict(zip(("bias", "mult", "round_lo", "round_hi", "shift"), (int(v) for v in rq[0])))},
            inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], features=dict(features)))
    return calls
