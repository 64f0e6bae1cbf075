"""A small graph IR read from an int8 TFLite flatbuffer.

Tensors carry shape, dtype, quantisation and (for constants) their data; nodes are the
operators in execution order. Everything downstream (lowering, planner, encoder, codegen,
report) works on this IR, never on the flatbuffer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sparsemcu.errors import SparsemcuError

DTYPE_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "int64": 8, "float16": 2, "float32": 4, "bool": 1}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: np.ndarray | None = None  # float32, one per channel (len 1 = per-tensor)
    zero_point: np.ndarray | None = None  # int64, same length as scale
    quant_dim: int = 0
    data: np.ndarray | None = None  # constant tensors only

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * DTYPE_BYTES[self.dtype]

    def _per_tensor(self, values: np.ndarray | None):
        if values is None or len(values) != 1:
            raise SparsemcuError(f"tensor {self.index} ({self.name}) is not per-tensor quantised")
        return values[0]

    @property
    def per_tensor_scale(self) -> float:
        return float(self._per_tensor(self.scale))

    @property
    def per_tensor_zero_point(self) -> int:
        return int(self._per_tensor(self.zero_point))


@dataclass
class Node:
    index: int
    op: str  # TFLite builtin name, e.g. "CONV_2D"
    inputs: list[int]  # tensor indices; -1 = optional input absent
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    tensors: dict[int, Tensor]
    nodes: list[Node]
    inputs: list[int]
    outputs: list[int]
    description: str = ""

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def consumers(self, index: int) -> list[Node]:
        return [n for n in self.nodes if index in n.inputs]

    def producer(self, index: int) -> Node | None:
        for n in self.nodes:
            if index in n.outputs:
                return n
        return None
