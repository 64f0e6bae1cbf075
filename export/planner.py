"""Static memory plan: every activation buffer gets a fixed offset in one arena.

Buffers are live from the call that writes them to the last call that reads them (the
model input from the start, the model output to the end). Buffers whose lifetimes overlap
may not overlap in memory; an in-place call (RESHAPE) makes its output an alias of its
input. Several placement strategies are tried and the smallest valid plan is kept; for a
plain chain the alternating "ping-pong" placement reaches the lower bound
max over calls of the bytes live at that call.

The plan is data (MemoryPlan), used by codegen, the report and the search alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .ops.base import KernelCall


@dataclass
class Buffer:
    id: int
    tensors: list[int]  # the tensors sharing this buffer (aliases); scratch buffers have none
    size: int
    first: int  # first call index at which it is live (-1: before the first call)
    last: int  # last call index at which it is live
    offset: int = -1
    label: str = ""
    scratch_of: int = -1  # a kernel call's scratch: that call's index
    align: int = 1  # its offset is a multiple of this

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return not (self.last < other.first or other.last < self.first)

    def overlaps_in_memory(self, other: "Buffer") -> bool:
        return not (self.offset + self.size <= other.offset or other.offset + other.size <= self.offset)


@dataclass
class MemoryPlan:
    arena_bytes: int
    lower_bound: int
    strategy: str
    buffers: list[Buffer]
    tensor_offsets: dict[int, int] = field(default_factory=dict)
    live_bytes: list[int] = field(default_factory=list)  # bytes live at each call
    scratch_offsets: dict[int, int] = field(default_factory=dict)  # call index -> its scratch's offset

    def offset(self, tensor: int) -> int:
        return self.tensor_offsets[tensor]


SCRATCH_ALIGNMENT = 4  # kernels read their scratch by words and word pairs (LDRD)


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def build_buffers(calls: list[KernelCall], sizes: dict[int, int], model_input: int,
                  model_output: int) -> list[Buffer]:
    """Lifetimes of the activation buffers, merging in-place aliases."""
    alias: dict[int, int] = {}

    def root(t: int) -> int:
        while t in alias:
            t = alias[t]
        return t

    for c in calls:
        if c.alias_output_to_input:
            alias[c.output] = root(c.inputs[0])
    first: dict[int, int] = {root(model_input): -1}
    last: dict[int, int] = {}
    members: dict[int, list[int]] = {}
    for t in sizes:
        members.setdefault(root(t), []).append(t)
    for i, c in enumerate(calls):
        for t in c.inputs:
            last[root(t)] = i
        r = root(c.output)
        first.setdefault(r, i)
        last[r] = max(last.get(r, i), i)
    last[root(model_output)] = len(calls)
    buffers = []
    for r, ts in members.items():
        if r not in first:
            continue  # a tensor nothing produces or reads (never allocated)
        size = max(sizes[t] for t in ts)
        buffers.append(Buffer(len(buffers), sorted(ts), size, first[r], last.get(r, first[r]), label=f"t{r}"))
    for i, c in enumerate(calls):
        if c.scratch_bytes:
            buffers.append(Buffer(len(buffers), [], c.scratch_bytes, i, i, label=f"scratch{c.node}", scratch_of=i,
                                  align=SCRATCH_ALIGNMENT))
    return buffers


def live_bytes(buffers: list[Buffer], steps: int) -> list[int]:
    return [sum(b.size for b in buffers if b.first <= s <= b.last) for s in range(-1, steps + 1)]


def _greedy(buffers: list[Buffer], order: list[Buffer], alignment: int) -> int:
    placed: list[Buffer] = []
    for b in order:
        offset = 0
        align = max(alignment, b.align)
        for other in sorted((p for p in placed if p.overlaps_in_time(b)), key=lambda p: p.offset):
            if offset + b.size <= other.offset:
                break
            offset = max(offset, _align(other.offset + other.size, align))
        b.offset = offset
        placed.append(b)
    return max((b.offset + b.size for b in buffers), default=0)


def _ping_pong(buffers: list[Buffer], arena: int, alignment: int) -> int:
    """Alternate buffers, in order of birth, between the bottom and the top of the arena."""
    for k, b in enumerate(sorted(buffers, key=lambda b: (b.first, b.id))):
        align = max(alignment, b.align)
        b.offset = 0 if k % 2 == 0 else (arena - b.size) // align * align
        if b.offset < 0:
            return -1
    return arena


def _valid(buffers: list[Buffer]) -> bool:
    for i, a in enumerate(buffers):
        for b in buffers[i + 1:]:
            if a.overlaps_in_time(b) and a.overlaps_in_memory(b):
                return False
    return True


def plan_memory(calls: list[KernelCall], sizes: dict[int, int], model_input: int, model_output: int,
                alignment: int = 1) -> MemoryPlan:
    buffers = build_buffers(calls, sizes, model_input, model_output)
    live = live_bytes(buffers, len(calls))
    lower = max(live, default=0)
    candidates = {
        "greedy-by-size": sorted(buffers, key=lambda b: (-b.size, b.first)),
        "greedy-by-birth": sorted(buffers, key=lambda b: (b.first, -b.size)),
        "greedy-by-lifetime": sorted(buffers, key=lambda b: (-(b.last - b.first) * b.size, b.first)),
    }
    best: tuple[int, str, list[int]] | None = None
    for name, order in candidates.items():
        arena = _greedy(buffers, order, alignment)
        if _valid(buffers) and (best is None or arena < best[0]):
            best = (arena, name, [b.offset for b in buffers])
    arena = _ping_pong(buffers, _align(lower, alignment), alignment)
    if arena >= 0 and _valid(buffers) and (best is None or arena < best[0]):
        best = (arena, "ping-pong", [b.offset for b in buffers])
    assert best is not None, "no valid memory plan"
    for b, off in zip(buffers, best[2]):
        b.offset = off
    offsets = {t: b.offset for b in buffers for t in b.tensors}
    scratch = {b.scratch_of: b.offset for b in buffers if b.scratch_of >= 0}
    return MemoryPlan(max(best[0], 1), lower, best[1], buffers, offsets, live[1:-1], scratch)
