"""ADD -> smcu_add_s8_{elementwise,broadcast} (int8, TFLite's fixed-point recipe).

As TFLM's CalculateOpDataAdd for int8:
    left_shift = 20;  twice_max = 2 * double(max(s1, s2))
    input_i multiplier  = QuantizeMultiplierSmallerThanOneExp(double(s_i) / twice_max)
    output multiplier   = QuantizeMultiplierSmallerThanOneExp(twice_max / (2^20 * double(s_out)))
Equal input shapes use the flat kernel; other shapes numpy-style broadcasting (rank <= 4).

Equal shapes also get the candidate "fast" (smcu_add_s8_fast): a 256-entry int32 table per input
(2 KB of flash) and one add + saturate per element, proposed only where export/quant.py
add_fast_tables reproduces TFLite on all 65536 input pairs.
"""
from __future__ import annotations

import numpy as np

from ..quant import activation_range, add_fast_tables, quantize_multiplier_smaller_than_one
from .base import KernelCall, LoweringContext, register

LEFT_SHIFT = 20


def add_scalars(s1: float, s2: float, s_out: float) -> dict[str, int]:
    s1, s2, s_out = (float(np.float32(s)) for s in (s1, s2, s_out))
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = quantize_multiplier_smaller_than_one(s1 / twice_max)
    m2, sh2 = quantize_multiplier_smaller_than_one(s2 / twice_max)
    mo, sho = quantize_multiplier_smaller_than_one(twice_max / ((1 << LEFT_SHIFT) * s_out))
    return {"input1_mult": m1, "input1_shift": sh1, "input2_mult": m2, "input2_shift": sh2,
            "output_mult": mo, "output_shift": sho}


def broadcast_strides(shape: tuple[int, ...], out_shape: list[int]) -> list[int]:
    """Element strides of `shape` (right-aligned, extended to rank 4) along out_shape; 0 = broadcast."""
    ext = [1] * (4 - len(shape)) + [int(d) for d in shape]
    strides, step = [0] * 4, 1
    for i in range(3, -1, -1):
        strides[i] = 0 if (ext[i] == 1 and out_shape[i] != 1) else step
        step *= ext[i]
    return strides


def fast_candidate(ctx: LoweringContext, fields: dict) -> KernelCall | None:
    """smcu_add_s8_fast where its tables are exact for every input pair, else None."""
    fast = add_fast_tables(fields)
    if fast is None:
        return None
    tables = ctx.const("add_tables", np.concatenate([fast["table1"], fast["table2"]]).astype(np.int32))
    f = {"size": fields["size"], "table1": tables.name, "table2": f"{tables.name} + 256",
         **{k: fast[k] for k in ("mode", "mult", "round", "shift", "act_min", "act_max")}}
    n, table_mode = fields["size"], fast["mode"] == 0
    sides = int(fast["act_min"] != -128) + int(fast["act_max"] != 127)  # bytewise clamps a word needs
    return KernelCall(node=ctx.node.index, op=ctx.node.op, kernel="smcu_add_s8_fast", variant="fast",
                      params_type="smcu_add_fast_params_t", fields=f,
                      inputs=[ctx.node.inputs[0], ctx.node.inputs[1]], output=ctx.node.outputs[0], consts=[tables],
                      features={"table_elems": n if table_mode else 0, "exact_elems": 0 if table_mode else n,
                                "clamp_side_elems": n * sides if table_mode else 0, "tail_elems": n % 8})


@register("ADD")
def lower_add(ctx: LoweringContext) -> list[KernelCall]:
    a, b, out = ctx.tensor(0), ctx.tensor(1), ctx.out
    if {a.dtype, b.dtype, out.dtype} != {"int8"}:
        raise ctx.fail(f"only int8 is supported (got {a.dtype} + {b.dtype} -> {out.dtype})")
    if a.is_const or b.is_const:
        raise ctx.fail("adding a constant tensor is not supported (both operands must be activations)")
    if max(len(a.shape), len(b.shape), len(out.shape)) > 4:
        raise ctx.fail("rank > 4 is not supported")
    act_min, act_max = activation_range(ctx.node.options.get("fused_activation_function", 0),
                                        out.per_tensor_scale, out.per_tensor_zero_point)
    try:
        q = add_scalars(a.per_tensor_scale, b.per_tensor_scale, out.per_tensor_scale)
    except AssertionError:
        raise ctx.fail("input/output scales out of the range TFLite's int8 ADD supports") from None
    out_shape = [1] * (4 - len(out.shape)) + [int(d) for d in out.shape]
    same = tuple(a.shape) == tuple(b.shape) and a.size == out.size
    if same:
        s1 = s2 = [0, 0, 0, 0]
    else:
        for t in (a, b):
            ext = [1] * (4 - len(t.shape)) + [int(d) for d in t.shape]
            if any(d not in (1, o) for d, o in zip(ext, out_shape)):
                raise ctx.fail(f"cannot broadcast {a.shape} and {b.shape} to {out.shape}")
        s1, s2 = broadcast_strides(a.shape, out_shape), broadcast_strides(b.shape, out_shape)
    fields = {"size": out.size,
              "dim0": out_shape[0], "dim1": out_shape[1], "dim2": out_shape[2], "dim3": out_shape[3],
              **{f"in1_stride{i}": s1[i] for i in range(4)}, **{f"in2_stride{i}": s2[i] for i in range(4)},
              "left_shift": LEFT_SHIFT,
              "input1_offset": -a.per_tensor_zero_point, "input1_mult": q["input1_mult"],
              "input1_shift": q["input1_shift"],
              "input2_offset": -b.per_tensor_zero_point, "input2_mult": q["input2_mult"],
              "input2_shift": q["input2_shift"],
              "output_offset": out.per_tensor_zero_point, "output_mult": q["output_mult"],
              "output_shift": q["output_shift"], "act_min": act_min, "act_max": act_max}
    calls = [KernelCall(node=ctx.node.index, op=ctx.node.op,
                        kernel="smcu_add_s8_elementwise" if same else "smcu_add_s8_broadcast",
                        params_type="smcu_add_params_t", fields=fields,
                        inputs=[ctx.node.inputs[0], ctx.node.inputs[1]], output=ctx.node.outputs[0],
                        features={} if same else {"bcast_rows": out_shape[0] * out_shape[1] * out_shape[2]})]
    if same:
        fast = fast_candidate(ctx, fields)
        if fast is not None:
            calls.append(fast)
    return calls
