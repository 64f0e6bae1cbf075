"""Graph rewrites before lowering that save activation memory without changing any output bit.

PAD into its consumer: a PAD over height and width whose only reader is a VALID convolution or
depthwise convolution is dropped; the convolution reads the unpadded tensor with the top / left
pads as its own (`pad_top` / `pad_left` options, read by export/ops/conv2d.py spatial()). Bottom
and right pads need nothing: our kernels treat window taps past the image as the input zero
point, which is what PAD writes (the padded tensor's zero point, equal to the input's), exactly
as TFLM's reference kernels skip them. The padded copy never exists in RAM.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .ir import Graph
from .ops.base import PADDING_VALID

PAD_CONSUMERS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _hw_pads(graph: Graph, node) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of a PAD over H and W only with the zero point as the value and an
    output shape that agrees with the paddings, else None (the PAD is then lowered, and checked, alone)."""
    if node.op != "PAD" or len(node.inputs) < 2:
        return None
    inp, out, pads_t = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]], graph.tensors[node.inputs[1]]
    if len(inp.shape) != 4 or inp.dtype != "int8" or out.dtype != "int8" or pads_t.data is None:
        return None
    if inp.zero_point is None or out.zero_point is None or (
            inp.per_tensor_zero_point != out.per_tensor_zero_point
            or np.float32(inp.per_tensor_scale) != np.float32(out.per_tensor_scale)):
        return None
    if pads_t.dtype not in ("int32", "int64") or pads_t.size != 8:
        return None
    pads = np.asarray(pads_t.data, dtype=np.int64).reshape(4, 2)
    if (pads < 0).any() or pads[0].any() or pads[3].any():
        return None
    if list(out.shape) != [int(d) + int(a) + int(b) for d, (a, b) in zip(inp.shape, pads)]:
        return None
    return int(pads[1, 0]), int(pads[2, 0]), int(pads[1, 1]), int(pads[2, 1])


def fuse_pads(graph: Graph, nodes: list, protected: set[int]) -> list:
    """`nodes` without the PADs folded into their consumer (which is edited in place)."""
    readers: dict[int, list] = {}
    for n in nodes:
        for t in n.inputs:
            readers.setdefault(t, []).append(n)
    keep = []
    for n in nodes:
        hw = _hw_pads(graph, n)
        out = n.outputs[0] if n.outputs else None
        users = readers.get(out, [])
        if (hw is None or out in protected or len(users) != 1 or users[0].op not in PAD_CONSUMERS
                or users[0].inputs[0] != out or users[0].options.get("padding") != PADDING_VALID
                or "pad_top" in users[0].options):
            keep.append(n)
            continue
        consumer = users[0]
        consumer.inputs = [n.inputs[0]] + consumer.inputs[1:]
        consumer.options = {**consumer.options, "pad_top": hw[0], "pad_left": hw[1], "pad_bottom": hw[2],
                            "pad_right": hw[3]}
    return keep


# --- a pooling fused into the convolution before it ---
# Conv kernels whose geometry is all in their common struct `c` (no per-row plan laid out offline):
# a band of rows is the same kernel with in_h, pad_h and out_h changed and the input pointer moved.
BAND_KERNELS = ("smcu_conv2d_s8_dense", "smcu_conv2d_s8_rle", "smcu_conv2d_s8_simd", "smcu_conv2d_s8_sparse")
POOL_OPS = ("MAX_POOL_2D", "AVERAGE_POOL_2D")
BAND_ALIGNMENT = 4  # scratch parts (a kernel's own scratch, then the band / ring / rows) start on words


def align(n: int) -> int:
    return (n + BAND_ALIGNMENT - 1) // BAND_ALIGNMENT * BAND_ALIGNMENT


def fuse_conv_pool(calls: list, protected: set[int]) -> list:
    """Calls with each CONV_2D -> POOL pair (the pool the only reader, VALID, window rows = stride rows)
    merged into one call that computes k_p conv rows into scratch, pools them into one output row and
    moves on: the pre-pool tensor never exists (TinyEngine / vMCU-style operator fusion)."""
    readers: dict[int, int] = {}
    for c in calls:
        for t in set(c.inputs):
            readers[t] = readers.get(t, 0) + 1
    out, skip = [], set()
    for i, c in enumerate(calls):
        if i in skip:
            continue
        nxt = calls[i + 1] if i + 1 < len(calls) else None
        if nxt is None or not _fusable(c, nxt, readers, protected):
            out.append(c)
            continue
        out.append(_fused(c, nxt))
        skip.add(i + 1)
    return out


def _fusable(conv, pool, readers: dict[int, int], protected: set[int]) -> bool:
    if (conv.kernel not in BAND_KERNELS or conv.band or conv.stream or pool.op not in POOL_OPS
            or pool.inputs[0] != conv.output):
        return False
    if readers.get(conv.output) != 1 or conv.output in protected:
        return False
    f, c = pool.fields, conv.fields["c"]
    return (f["pad_h"] == 0 and f["pad_w"] == 0 and f["k_h"] == f["stride_h"]
            and f["out_h"] * f["k_h"] <= c["out_h"] and f["in_w"] == c["out_w"])


def _fused(conv, pool):
    c, f = conv.fields["c"], pool.fields
    k_p = f["k_h"]
    band_bytes = k_p * c["out_w"] * c["out_c"]
    band_offset = align(conv.scratch_bytes)
    band_pool = replace(pool, fields={**f, "in_h": k_p, "out_h": 1})
    band = {"pool": band_pool, "rows": k_p, "pooled_rows": f["out_h"], "row_step": k_p * c["stride_h"],
            "pad_h": c["pad_h"], "in_h": c["in_h"], "in_row_bytes": c["in_w"] * c["in_c"],
            "out_row_bytes": f["out_w"] * f["channels"], "band_offset": band_offset, "band_bytes": band_bytes}
    return replace(conv, op=f"{conv.op}+{pool.op}", output=pool.output, band=band,
                   scratch_bytes=band_offset + band_bytes,
                   predicted_instructions=conv.predicted_instructions + pool.predicted_instructions,
                   features={**conv.features, "bands": f["out_h"]})


# --- two convolutions (and the ADD after them) streamed row by row ---
ADD_KERNELS = ("smcu_add_s8_elementwise", "smcu_add_s8_fast")


def fuse_conv_chains(calls: list, protected: set[int]) -> list:
    """Calls with each CONV_2D -> CONV_2D pair (the second the only reader of the first), and the
    elementwise ADD that alone reads the second's output if there is one, merged into one call that
    runs row by row: the intermediate tensor lives only as a ring of the rows the second convolution's
    window needs, the second's output one row at a time when the ADD takes it. Line-buffer fusion:
    nothing is computed twice. The merged call takes the ADD's place in the order."""
    readers: dict[int, int] = {}
    for c in calls:
        for t in set(c.inputs):
            readers[t] = readers.get(t, 0) + 1
    by_input: dict[int, list[int]] = {}
    for i, c in enumerate(calls):
        for t in set(c.inputs):
            by_input.setdefault(t, []).append(i)
    out, taken = [], set()
    for i, first in enumerate(calls):
        if i in taken or first.kernel not in BAND_KERNELS or first.band or first.stream:
            continue
        users = by_input.get(first.output, [])
        if len(users) != 1 or readers.get(first.output) != 1 or first.output in protected:
            continue
        j = users[0]
        second = calls[j]
        if (j in taken or second.kernel not in BAND_KERNELS or second.band or second.stream
                or second.inputs[0] != first.output):
            continue
        add, k = None, None
        users2 = by_input.get(second.output, [])
        if len(users2) == 1 and readers.get(second.output) == 1 and second.output not in protected:
            cand = calls[users2[0]]
            if cand.kernel in ADD_KERNELS and cand.inputs.count(second.output) == 1 and users2[0] not in taken:
                add, k = cand, users2[0]
        shortcut, m = None, None
        if add is not None:  # the ADD's other operand: a convolution of the same input, streamed too
            skip = add.inputs[1] if add.inputs[0] == second.output else add.inputs[0]
            producers = [q for q, c in enumerate(calls) if c.output == skip]
            if producers and readers.get(skip) == 1 and skip not in protected:
                cand = calls[producers[0]]
                if (cand.kernel in BAND_KERNELS and not cand.band and not cand.stream and producers[0] not in taken
                        and cand.inputs[0] == first.inputs[0]):
                    shortcut, m = cand, producers[0]
        taken.update({i, j} | ({k} if add else set()) | ({m} if shortcut else set()))
        out.append((k if add else j, _streamed(first, second, add, shortcut)))
    rest = [(i, c) for i, c in enumerate(calls) if i not in taken]
    return [c for _, c in sorted(rest + out, key=lambda ic: ic[0])]


def _streamed(first, second, add, shortcut=None):
    p, c = first.fields["c"], second.fields["c"]
    y_row = p["out_w"] * p["out_c"]
    window = (c["k_h"] - 1) * c["dil_h"] + 1
    ring_rows = min(window, p["out_h"])
    shared = align(max(first.scratch_bytes, second.scratch_bytes))
    ring_bytes = ring_rows * y_row
    z_row = c["out_w"] * c["out_c"]
    if shortcut is not None:
        shared = align(max(shared, shortcut.scratch_bytes))
    stream = {"second": second, "add": None, "shortcut": None, "ring_offset": shared, "ring_rows": ring_rows,
              "y_row_bytes": y_row,
              "y_h": p["out_h"], "window": window, "x_h": p["in_h"], "x_row_bytes": p["in_w"] * p["in_c"],
              "z_row_bytes": z_row, "out_h": c["out_h"], "z_offset": align(shared + ring_bytes),
              "skip": None, "skip_index": None, "z_first": True, "first_scratch": first.scratch_bytes}
    inputs, output, scratch = [first.inputs[0]], second.output, align(shared + ring_bytes)
    predicted = first.predicted_instructions + second.predicted_instructions
    op = f"{first.op}+{second.op}"
    if add is not None:
        skip = add.inputs[1] if add.inputs[0] == second.output else add.inputs[0]
        stream.update(add=replace(add, fields={**add.fields, "size": z_row}), skip=skip,
                      z_first=add.inputs[0] == second.output)
        output, scratch = add.output, stream["z_offset"] + z_row
        predicted += add.predicted_instructions
        if shortcut is not None:  # its row r goes to scratch just before the ADD takes it
            stream.update(shortcut=shortcut, d_offset=align(scratch))
            scratch = stream["d_offset"] + z_row
            predicted += shortcut.predicted_instructions
            op += f"+{shortcut.op}"
        elif skip not in inputs:
            inputs.append(skip)
        stream["skip_index"] = inputs.index(skip) if shortcut is None else None
        op += f"+{add.op}"
    parts = [first, second] + ([shortcut] if shortcut else [])
    return replace(first, op=op, inputs=inputs, output=output, scratch_bytes=scratch, stream=stream,
                   predicted_instructions=predicted, macs=sum(f.macs for f in parts),
                   nonzero_macs=sum(f.nonzero_macs for f in parts), weight_bytes=sum(f.weight_bytes for f in parts),
                   dense_weight_bytes=sum(f.dense_weight_bytes for f in parts),
                   consts=first.consts + second.consts + (add.consts if add else [])
                   + (shortcut.consts if shortcut else []),
                   features={**first.features, "rows": c["out_h"]})


def stream_rows(s: dict, p_stride: int, p_pad: int, c_stride: int, c_pad: int):
    """The row schedule the generated loop follows: per output row r, (rows of the intermediate
    computed now [hi_before, hi_after), the first input row they read, or None)."""
    lo = hi = 0
    for r in range(s["out_h"]):
        y = r * c_stride - c_pad
        want_lo, want_hi = max(y, 0), min(y + s["window"], s["y_h"])
        if want_lo >= hi:
            lo = hi = want_lo
        elif want_lo > lo:
            lo = want_lo
        first_read = None
        if want_hi > hi:
            first_read = max(hi * p_stride - p_pad, 0)
            hi = want_hi
        yield r, first_read
