"""Graph rewrites before lowering that save activation memory without changing any output bit.

PAD into its consumer: a PAD over height and width whose only reader is a VALID convolution or
depthwise convolution is dropped; the convolution reads the unpadded tensor with the top / left
pads as its own (`pad_top` / `pad_left` options, read by export/ops/conv2d.py spatial()). Bottom
and right pads need nothing: our kernels treat window taps past the image as the input zero
point, which is what PAD writes (the padded tensor's zero point, equal to the input's), exactly
as TFLM's reference kernels skip them. The padded copy never exists in RAM.
"""
from __future__ import annotations

import numpy as np

from .ir import Graph
from .ops.base import PADDING_VALID

PAD_CONSUMERS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _hw_pads(graph: Graph, node) -> tuple[int, int] | None:
    """(top, left) of a PAD over H and W only with the zero point as the value, else None."""
    if node.op != "PAD" or len(node.inputs) < 2:
        return None
    inp, out, pads_t = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]], graph.tensors[node.inputs[1]]
    if len(inp.shape) != 4 or inp.dtype != "int8" or out.dtype != "int8" or pads_t.data is None:
        return None
    if inp.zero_point is None or out.zero_point is None or (
            inp.per_tensor_zero_point != out.per_tensor_zero_point
            or np.float32(inp.per_tensor_scale) != np.float32(out.per_tensor_scale)):
        return None
    pads = np.asarray(pads_t.data, dtype=np.int64).reshape(4, 2)
    if (pads < 0).any() or pads[0].any() or pads[3].any():
        return None
    return int(pads[1, 0]), int(pads[2, 0])


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
        consumer.options = {**consumer.options, "pad_top": hw[0], "pad_left": hw[1]}
    return keep
