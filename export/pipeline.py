"""The export pipeline: TFLite bytes -> lowered calls -> memory plan -> files.

`footprint()` is what the search uses for flash and RAM; `export_model()` is what
`sparsemcu export` writes. Both run the same lowering, encoder and planner.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sparsemcu.errors import SparsemcuError, UnsupportedOpError
from .ir import Graph, Tensor
from .ops import REGISTRY, SUPPORTED_OPS, KernelCall, LoweringContext
from .planner import MemoryPlan, plan_memory
from .tflite_reader import read_tflite

EDGE_OPS = ("QUANTIZE", "DEQUANTIZE")


@dataclass
class LoweredModel:
    graph: Graph
    calls: list[KernelCall]
    input: int  # int8 activation tensor the device is fed
    output: int  # int8 activation tensor the device returns
    float_input: bool  # the .tflite takes float (a QUANTIZE at the edge, done on the host)
    float_output: bool
    plan: MemoryPlan
    model_hash: str

    @property
    def input_tensor(self) -> Tensor:
        return self.graph.tensors[self.input]

    @property
    def output_tensor(self) -> Tensor:
        return self.graph.tensors[self.output]

    @property
    def flash_bytes(self) -> int:
        return sum(c.flash_bytes for c in self.calls)

    @property
    def weight_bytes(self) -> int:
        return sum(c.weight_bytes for c in self.calls)

    @property
    def dense_weight_bytes(self) -> int:
        return sum(c.dense_weight_bytes for c in self.calls)

    @property
    def macs(self) -> int:
        return sum(c.macs for c in self.calls)

    @property
    def nonzero_macs(self) -> int:
        return sum(c.nonzero_macs for c in self.calls)


def _strip_edges(graph: Graph) -> tuple[list, int, int, bool, bool]:
    """Drop float QUANTIZE at the input and DEQUANTIZE at the output (the host does them)."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise SparsemcuError(f"model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
                             "exactly one of each is supported")
    nodes = list(graph.nodes)
    inp, out = graph.inputs[0], graph.outputs[0]
    float_in = float_out = False
    if graph.tensors[inp].dtype == "float32":
        first = [n for n in nodes if inp in n.inputs]
        if len(first) != 1 or first[0].op != "QUANTIZE":
            raise SparsemcuError("model input is float but is not quantised by a single QUANTIZE; "
                                 "export a full-integer int8 model")
        nodes.remove(first[0])
        inp, float_in = first[0].outputs[0], True
    if graph.tensors[out].dtype == "float32":
        last = [n for n in nodes if out in n.outputs]
        if len(last) != 1 or last[0].op != "DEQUANTIZE":
            raise SparsemcuError("model output is float but does not come from a DEQUANTIZE; "
                                 "export a full-integer int8 model")
        nodes.remove(last[0])
        out, float_out = last[0].inputs[0], True
    for t in (inp, out):
        if graph.tensors[t].dtype != "int8":
            raise SparsemcuError(f"tensor {graph.tensors[t].name} is {graph.tensors[t].dtype}; int8 is required")
    return nodes, inp, out, float_in, float_out


def check_supported(graph: Graph) -> None:
    for n in graph.nodes:
        if n.op not in REGISTRY and n.op not in EDGE_OPS:
            raise UnsupportedOpError(f"unsupported operator {n.op} at index {n.index}; "
                                     f"supported: {', '.join(SUPPORTED_OPS)}")


def lower(model_bytes: bytes, force_encoding: str | None = None) -> LoweredModel:
    graph = read_tflite(model_bytes)
    check_supported(graph)
    nodes, inp, out, float_in, float_out = _strip_edges(graph)
    calls = []
    for n in nodes:
        if n.op not in REGISTRY:  # an inner float QUANTIZE/DEQUANTIZE
            raise UnsupportedOpError(f"unsupported operator {n.op} (float) at index {n.index}; "
                                     "only int8 graphs are supported inside the model")
        calls.append(REGISTRY[n.op](LoweringContext(graph, n, force_encoding)))
    sizes = {}
    for c in calls:
        for t in c.inputs + [c.output]:
            tensor = graph.tensors[t]
            if tensor.dtype != "int8":
                raise SparsemcuError(f"operator {c.node} ({c.op}): tensor {tensor.name} is {tensor.dtype}; "
                                     "int8 activations are required")
            sizes[t] = tensor.nbytes
    sizes.setdefault(inp, graph.tensors[inp].nbytes)
    plan = plan_memory(calls, sizes, inp, out)
    digest = hashlib.sha256(model_bytes).hexdigest()[:16]
    return LoweredModel(graph, calls, inp, out, float_in, float_out, plan, digest)


def footprint(model_bytes: bytes) -> dict:
    """Flash and RAM of the model as exported: the figures the search optimises."""
    m = lower(model_bytes)
    return {"flash_bytes": m.flash_bytes, "weight_bytes": m.weight_bytes, "arena_bytes": m.plan.arena_bytes,
            "macs": m.macs, "nonzero_macs": m.nonzero_macs}


def export_model(model_bytes: bytes, out_dir, name: str = "model", force_encoding: str | None = None) -> dict:
    """Lower, plan, render C and write the report into out_dir; returns the report dict.

    Everything is rendered in memory first and written only when all of it succeeded.
    """
    from . import codegen, report
    model = lower(model_bytes, force_encoding)
    files = codegen.render(model, name)
    rep = report.build_report(model, name, len(model_bytes))
    return report.write_export(out_dir, model_bytes, files, rep, model)
