"""The lowering interface: one TFLite operator -> candidate calls into int8 C kernel variants.

Every operator module in this package registers a lowering function with `@register(...)`.
A lowering function gets a LoweringContext and returns its candidates, one KernelCall per
kernel variant that can run the operator (a single KernelCall where there is one): the C
function to call, its parameter struct (fields rendered as a `static const` initialiser;
a nested dict is a nested struct, the fields every variant shares under "c"), the const
arrays it needs in the variant's own weight layout, the activation tensors it reads and
writes, the scratch bytes it needs (placed by the memory planner, passed as the last
argument) and its cost figures. `export/select.py` picks one candidate per operator under a
policy with the instruction counts of `export/cost.py`; codegen, planner and report only
ever see the chosen KernelCalls.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from sparsemcu.errors import SparsemcuError
from ..ir import Graph, Node, Tensor

_CTYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.uint8): "uint8_t", np.dtype(np.int16): "int16_t",
           np.dtype(np.uint16): "uint16_t", np.dtype(np.int32): "int32_t", np.dtype(np.uint32): "uint32_t"}

MAX_LEFT_SHIFT = 30  # largest requantisation shift (x * 2^shift stays an int32 operation)

# Size of one parameter-struct field on the 32-bit targets (int32_t or a pointer).
PARAM_FIELD_BYTES = 4


@dataclass
class ConstArray:
    """A `static const` array in model.c (lives in flash); with `struct`, an array of that C struct,
    one row of `values` (all int32 fields) per element."""
    name: str
    values: np.ndarray
    struct: str | None = None

    @property
    def ctype(self) -> str:
        return self.struct or _CTYPES[self.values.dtype]

    @property
    def length(self) -> int:
        return int(self.values.shape[0]) if self.struct else int(self.values.size)

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)


@dataclass
class KernelCall:
    node: int  # index of the TFLite operator
    op: str  # TFLite op name
    kernel: str | None  # C function; None = no code (e.g. RESHAPE aliased in place)
    params_type: str | None  # C struct typedef of the kernel's parameters
    fields: dict[str, int | str]  # ordered struct fields; str values are C expressions (array names, NULL)
    inputs: list[int]  # activation tensors passed as `const int8_t *`, in order
    output: int  # activation tensor written (`int8_t *`)
    consts: list[ConstArray] = field(default_factory=list)
    variant: str = "generic"  # kernel variant: "dense" / "rle" (scalar reference), "simd", "generic"
    inputs_as_array: bool = False  # pass inputs as one `const int8_t *const[]` (CONCATENATION)
    alias_output_to_input: bool = False  # output shares input[0]'s buffer (in place)
    macs: int = 0  # dense multiply-accumulates
    nonzero_macs: int = 0  # MACs with a non-zero weight (what a zero-skipping kernel executes)
    weight_encoding: str = "-"  # "dense", "rle", or "-" for ops without weights
    weight_bytes: int = 0  # bytes of the (encoded) weight arrays
    dense_weight_bytes: int = 0  # what dense int8 storage of the same weights takes
    sparsity: float = 0.0  # fraction of zero weights
    scratch_bytes: int = 0  # temporary arena bytes during the call (planned, word aligned, passed last)
    features: dict[str, int] = field(default_factory=dict)  # shape figures the cost model reads
    predicted_instructions: int = 0  # filled by export/cost.py
    band: dict | None = None  # a pooling fused in: run band by band through scratch (export/fuse.py)
    stream: dict | None = None  # a second convolution (and ADD) streamed row by row (export/fuse.py)

    @property
    def const_bytes(self) -> int:
        return sum(c.nbytes for c in self.consts)

    @property
    def params_bytes(self) -> int:
        own = PARAM_FIELD_BYTES * count_fields(self.fields) if self.params_type else 0
        fused = [self.band["pool"]] if self.band else []
        if self.stream:
            fused += [f for f in (self.stream["second"], self.stream["add"], self.stream["shortcut"]) if f]
        return own + sum(f.params_bytes for f in fused)

    @property
    def flash_bytes(self) -> int:
        return self.const_bytes + self.params_bytes


def count_fields(fields: dict) -> int:
    """Leaf fields of a (nested) parameter struct."""
    return sum(count_fields(v) if isinstance(v, dict) else 1 for v in fields.values())


@dataclass
class LoweringContext:
    graph: Graph
    node: Node

    @property
    def prefix(self) -> str:
        return f"L{self.node.index}"

    def tensor(self, position: int) -> Tensor:
        """The node's input tensor at `position`."""
        if not self.has_input(position):
            raise self.fail(f"input {position} is absent")
        return self.graph.tensors[self.node.inputs[position]]

    def has_input(self, position: int) -> bool:
        return position < len(self.node.inputs) and self.node.inputs[position] >= 0

    @property
    def out(self) -> Tensor:
        return self.graph.tensors[self.node.outputs[0]]

    def const(self, name: str, values: np.ndarray, struct: str | None = None) -> ConstArray:
        return ConstArray(f"{self.prefix}_{name}", np.ascontiguousarray(values), struct)

    def fail(self, why: str) -> SparsemcuError:
        return SparsemcuError(f"operator {self.node.index} ({self.node.op}): {why}")

    def check_shifts(self, shifts) -> None:
        """Requantisation left shifts beyond 30 overflow int32 in TFLite's and our fixed-point recipe."""
        largest = int(np.max(shifts)) if np.size(shifts) else 0
        if largest > MAX_LEFT_SHIFT:
            raise self.fail(f"the input/weight/output scales give a rescale of 2^{largest} or more, "
                            f"beyond what int8 requantisation supports (2^{MAX_LEFT_SHIFT})")


Lowering = Callable[[LoweringContext], "KernelCall | list[KernelCall]"]
REGISTRY: dict[str, Lowering] = {}


def candidates(ctx: LoweringContext) -> list[KernelCall]:
    """Every kernel variant the registered lowering proposes for ctx.node."""
    proposed = REGISTRY[ctx.node.op](ctx)
    return proposed if isinstance(proposed, list) else [proposed]


def register(*ops: str) -> Callable[[Lowering], Lowering]:
    def deco(fn: Lowering) -> Lowering:
        for op in ops:
            REGISTRY[op] = fn
        return fn
    return deco


def nhwc(t: Tensor) -> tuple[int, int, int, int]:
    """Shape as (batch, height, width, channels); rank-2/3 tensors are padded with 1s."""
    s = tuple(t.shape)
    if len(s) == 4:
        return s  # type: ignore[return-value]
    if len(s) == 3:
        return (s[0], 1, s[1], s[2])
    if len(s) == 2:
        return (s[0], 1, 1, s[1])
    raise SparsemcuError(f"tensor {t.index} ({t.name}): shape {list(s)} cannot be viewed as NHWC (rank 2 to 4)")


def same_padding(in_size: int, filter_size: int, stride: int, dilation: int, out_size: int) -> int:
    """TFLite ComputePaddingWithOffset: the leading pad (the odd pixel goes to the end)."""
    effective = (filter_size - 1) * dilation + 1
    total = max(0, (out_size - 1) * stride + effective - in_size)
    return total // 2


PADDING_SAME, PADDING_VALID = 0, 1
