"""The export pipeline: TFLite bytes -> lowered calls -> memory plan -> files.

`footprint()` is what the search uses for flash and RAM; `export_model()` is what
`sparsemcu export` writes. Both run the same lowering, encoder and planner.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from sparsemcu.errors import SparsemcuError, UnsupportedOpError
from .fuse import fuse_conv_chains, fuse_conv_pool, fuse_pads
from .ir import Graph, Tensor
from . import cost
from .ops import REGISTRY, SUPPORTED_OPS, KernelCall, LoweringContext
from .ops.base import candidates as propose
from .planner import MemoryPlan, plan_memory
from .schedule import candidate_orders
from .select import select
from .tflite_reader import read_tflite

EDGE_OPS = ("QUANTIZE", "DEQUANTIZE")


@dataclass
class Options:
    """How kernel variants are chosen (export/select.py) and which core's cost model predicts."""
    optimize: str = "balanced"  # speed | size | balanced
    flash_budget: int | None = None  # bytes of flash the model may take (balanced)
    ram_budget: int | None = None  # bytes of arena the model may take (balanced: less scratch if needed)
    variant: str | None = None  # a variant to prefer wherever it is proposed ("dense", "rle", "simd")
    core: str = cost.DEFAULT_CORE
    fusion: str = "auto"  # conv + pool and conv + conv (+ ADD) fusion: auto (where the arena shrinks) | always | never

    @classmethod
    def for_board(cls, board: str | None, **kw) -> "Options":
        """The board's core and the model's share of its flash (what the search budgets too)."""
        if not board:
            return cls(**kw)
        from sparsemcu.firmware.boards import get_board
        from sparsemcu.nas.budget import board_budget
        b, budget = get_board(board), board_budget(board)
        return cls(flash_budget=budget.max_flash, ram_budget=budget.max_ram,
                   core=b.cpu or ("host" if b.is_host else cls.core), **kw)


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
    options: Options = field(default_factory=Options)

    @property
    def input_tensor(self) -> Tensor:
        return self.graph.tensors[self.input]

    @property
    def output_tensor(self) -> Tensor:
        return self.graph.tensors[self.output]

    @property
    def flash_bytes(self) -> int:
        return sum(c.flash_bytes for c in self.calls)

    def plan_without_overlaps(self) -> MemoryPlan:
        """The plan of the same calls with every input/output overlap forbidden (the report's 'before')."""
        sizes = activation_sizes(self.graph, self.calls, self.input)
        return plan_memory(self.calls, sizes, self.input, self.output, overlap=False)

    @property
    def predicted_instructions(self) -> int:
        return sum(c.predicted_instructions for c in self.calls)

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


def check_activations(graph: Graph, nodes: list) -> None:
    """Every tensor the int8 operators read or write that is not a constant is an int8 activation
    quantised per tensor with a positive scale and an int8 zero point (what every kernel assumes)."""
    for n in nodes:
        for t in [i for i in n.inputs if i >= 0] + n.outputs:
            tensor = graph.tensors[t]
            if tensor.is_const:
                continue
            where = f"operator {n.index} ({n.op}): tensor {t} ({tensor.name})"
            if tensor.dtype != "int8":
                raise SparsemcuError(f"{where} is {tensor.dtype}; int8 activations are required")
            scale, zero_point = tensor.per_tensor_scale, tensor.per_tensor_zero_point
            if not (np.isfinite(scale) and scale > 0):
                raise SparsemcuError(f"{where}: activation scale {scale} is not a positive finite number")
            if not -128 <= zero_point <= 127:
                raise SparsemcuError(f"{where}: activation zero point {zero_point} is outside int8")
            if tensor.size == 0:
                raise SparsemcuError(f"{where}: activation shape {list(tensor.shape)} is empty")


def check_supported(graph: Graph) -> None:
    for n in graph.nodes:
        if n.op not in REGISTRY and n.op not in EDGE_OPS:
            raise UnsupportedOpError(f"unsupported operator {n.op} at index {n.index}; "
                                     f"supported: {', '.join(SUPPORTED_OPS)}")


def activation_sizes(graph: Graph, calls: list[KernelCall], model_input: int) -> dict[int, int]:
    """Bytes of every activation tensor the calls read or write (what the planner places; lower() has
    checked them with check_activations)."""
    sizes = {t: graph.tensors[t].nbytes for c in calls for t in c.inputs + [c.output]}
    sizes.setdefault(model_input, graph.tensors[model_input].nbytes)
    return sizes


def _best_order(calls: list[KernelCall], sizes: dict[int, int], inp: int, out: int, solver: bool = True
                ) -> tuple[list[KernelCall], MemoryPlan]:
    """The execution order (export/schedule.py) whose plan has the smallest arena, and that plan."""
    best = None
    for order in candidate_orders(calls, sizes):
        ordered = [calls[i] for i in order]
        plan = plan_memory(ordered, sizes, inp, out, solver=solver)
        if best is None or plan.arena_bytes < best[1].arena_bytes:
            best = (ordered, plan)
    return best


def _arrange(graph: Graph, chosen: list[KernelCall], inp: int, out: int, fusion: str = "auto"
             ) -> tuple[list[KernelCall], MemoryPlan]:
    """Execution order and memory plan of the chosen calls, with conv + pool pairs and conv + conv
    (+ ADD) chains fused where that makes the arena smaller (fusion costs a little time per row)."""
    keep = {inp, out}
    if fusion == "never":
        return _best_order(chosen, activation_sizes(graph, chosen, inp), inp, out)
    streamed = fuse_conv_chains(chosen, keep)
    everything = fuse_conv_pool(streamed, keep)
    if fusion == "always":
        return _best_order(everything, activation_sizes(graph, everything, inp), inp, out)
    # the fusions ranked by their greedy plans (fast); the best one and the unfused calls then planned
    # by the solver (optimal), the fusion kept only if its arena is smaller
    unfused = _best_order(chosen, activation_sizes(graph, chosen, inp), inp, out)
    winner, greedy_arena = None, None
    for fused in (fuse_conv_pool(chosen, keep), streamed, everything):
        if len(fused) < len(chosen):
            plan = _best_order(fused, activation_sizes(graph, fused, inp), inp, out, solver=False)[1]
            if greedy_arena is None or plan.arena_bytes < greedy_arena:
                winner, greedy_arena = fused, plan.arena_bytes
    if winner is not None:
        fused_best = _best_order(winner, activation_sizes(graph, winner, inp), inp, out)
        if fused_best[1].arena_bytes < unfused[1].arena_bytes:
            return fused_best
    return unfused


def lower(model_bytes: bytes, options: Options | None = None) -> LoweredModel:
    options = options or Options()
    graph = read_tflite(model_bytes)
    check_supported(graph)
    nodes, inp, out, float_in, float_out = _strip_edges(graph)
    check_activations(graph, nodes)
    nodes = fuse_pads(graph, nodes, protected={inp, out})
    proposed = []
    for n in nodes:
        if n.op not in REGISTRY:  # an inner float QUANTIZE/DEQUANTIZE
            raise UnsupportedOpError(f"unsupported operator {n.op} (float) at index {n.index}; "
                                     "only int8 graphs are supported inside the model")
        cands = cost.suited(propose(LoweringContext(graph, n)), options.core, options.variant)
        for c in cands:
            c.features = {"in_elems": sum(graph.tensors[t].size for t in c.inputs),
                          "out_elems": graph.tensors[c.output].size, "calls": 1, **c.features}
            c.predicted_instructions = cost.predict(c, options.core)
        proposed.append(cands)
    chosen = select(proposed, options.optimize, options.flash_budget, options.variant)
    calls, plan = _arrange(graph, chosen, inp, out, options.fusion)
    while options.optimize == "balanced" and options.ram_budget and plan.arena_bytes > options.ram_budget:
        # over the RAM budget: the layer with the most scratch takes its fastest variant with less
        worst = max(range(len(chosen)), key=lambda i: chosen[i].scratch_bytes)
        leaner = [c for c in proposed[worst] if c.scratch_bytes < chosen[worst].scratch_bytes]
        if not leaner:
            break  # the activations alone do not fit: the build reports it with the numbers
        chosen[worst] = min(leaner, key=lambda c: (c.predicted_instructions, c.flash_bytes))
        calls, plan = _arrange(graph, chosen, inp, out, options.fusion)
    digest = hashlib.sha256(model_bytes).hexdigest()[:16]
    return LoweredModel(graph, calls, inp, out, float_in, float_out, plan, digest, options)


def footprint(model_bytes: bytes, options: Options | None = None) -> dict:
    """Flash, RAM and predicted instructions of the model as exported: the figures the search optimises."""
    m = lower(model_bytes, options)
    return {"flash_bytes": m.flash_bytes, "weight_bytes": m.weight_bytes, "arena_bytes": m.plan.arena_bytes,
            "macs": m.macs, "nonzero_macs": m.nonzero_macs, "predicted_instructions": m.predicted_instructions}


def export_model(model_bytes: bytes, out_dir, name: str = "model", options: Options | None = None) -> dict:
    """Lower, plan, render C and write the report into out_dir; returns the report dict.

    Everything is rendered in memory first and written only when all of it succeeded.
    """
    from . import codegen, report
    model = lower(model_bytes, options)
    files = codegen.render(model, name)
    rep = report.build_report(model, name, len(model_bytes))
    return report.write_export(out_dir, model_bytes, files, rep, model)
