"""Static memory plan: every activation buffer gets a fixed offset in one arena.

Buffers are live from the call that writes them to the last call that reads them (the model
input from the start, the model output to the end). Buffers whose lifetimes overlap may not
overlap in memory, with two exceptions:
- an aliasing call (RESHAPE) makes its output the same buffer as its input;
- a call that is its input's last reader and its output's writer may place the output over the
  input where the kernel's traversal allows it (export/overlap.py): output offset - input offset
  <= the kernel's lag.

The offsets are chosen by OR-Tools CP-SAT (minimum arena, proven optimal on the models we
export), started from the best of a few greedy placements; past SOLVER_MAX_BUFFERS buffers, or if
the solver finds nothing within its (deterministic) time limit, the greedy plan stands.
`check_plan` proves every plan: each pair of buffers live at the same call is disjoint or an
allowed overlap. The plan is data (MemoryPlan), used by codegen, the report and the search alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .ops.base import KernelCall
from .overlap import output_lag

SCRATCH_ALIGNMENT = 4  # kernels read their scratch by words and word pairs (LDRD)
SOLVER_MAX_BUFFERS = 160  # beyond this the greedy plan is used
SOLVER_TIME = 20.0  # CP-SAT deterministic time limit (about seconds; reproducible, unlike wall time)


class PlanError(RuntimeError):
    """A memory plan breaks its own rules (a planner bug, never the user's input)."""


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


@dataclass(frozen=True)
class Overlap:
    """Call `call` may write buffer `writer` over buffer `reader`: writer.offset - reader.offset <= lag."""
    reader: int
    writer: int
    lag: int
    call: int


@dataclass
class MemoryPlan:
    arena_bytes: int
    lower_bound: int  # no valid plan of these buffers is smaller (the solver's bound)
    strategy: str
    buffers: list[Buffer]
    tensor_offsets: dict[int, int] = field(default_factory=dict)
    live_bytes: list[int] = field(default_factory=list)  # arena bytes in use at each call (overlaps counted once)
    scratch_offsets: dict[int, int] = field(default_factory=dict)  # call index -> its scratch's offset
    overlaps: list[Overlap] = field(default_factory=list)  # allowed input/output overlaps
    optimal: bool = False  # proven minimal for these buffers, lifetimes and allowed overlaps

    def offset(self, tensor: int) -> int:
        return self.tensor_offsets[tensor]

    @property
    def overlap_used(self) -> list[Overlap]:
        """The allowed overlaps the plan actually uses (the buffers share bytes)."""
        by_id = {b.id: b for b in self.buffers}
        return [o for o in self.overlaps if by_id[o.reader].overlaps_in_memory(by_id[o.writer])]


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


def build_overlaps(calls: list[KernelCall], buffers: list[Buffer], sizes: dict[int, int]) -> list[Overlap]:
    """The input/output overlaps the kernels allow where the call ends the input's life."""
    of_tensor = {t: b for b in buffers for t in b.tensors}
    out = []
    for i, c in enumerate(calls):
        if c.alias_output_to_input or c.kernel is None or c.output not in of_tensor:
            continue
        w = of_tensor[c.output]
        if w.first != i:
            continue
        for k, t in enumerate(c.inputs):
            r = of_tensor.get(t)
            if r is None or r is w or r.last != i or c.inputs.count(t) != 1:
                continue
            lag = output_lag(c, k, sizes)
            if lag is not None and lag > -w.size:  # else the overlap could never save a byte
                out.append(Overlap(r.id, w.id, lag, i))
                break  # one input per call (two overlaps would not compose)
    return out


def _conflict(a: Buffer, oa: int, b: Buffer, ob: int, allowed: dict) -> bool:
    """Whether a at offset oa and b at offset ob may not coexist."""
    if not a.overlaps_in_time(b):
        return False
    if oa + a.size <= ob or ob + b.size <= oa:
        return False
    lag = allowed.get((a.id, b.id))
    if lag is not None:  # a is the reader, b the writer
        return ob - oa > lag
    lag = allowed.get((b.id, a.id))
    if lag is not None:
        return oa - ob > lag
    return True


def check_plan(plan: MemoryPlan) -> None:
    """Raise PlanError unless every pair of buffers live at one call is disjoint or an allowed overlap."""
    allowed = {(o.reader, o.writer): o.lag for o in plan.overlaps}
    bufs = plan.buffers
    for i, a in enumerate(bufs):
        if a.offset < 0 or a.offset + a.size > plan.arena_bytes or a.offset % a.align:
            raise PlanError(f"buffer {a.label} at {a.offset} (+{a.size} B, align {a.align}) is outside the "
                            f"{plan.arena_bytes} B arena or misaligned")
        for b in bufs[i + 1:]:
            if _conflict(a, a.offset, b, b.offset, allowed):
                raise PlanError(f"buffers {a.label} [{a.offset}, +{a.size}) and {b.label} [{b.offset}, +{b.size}) "
                                f"are live together (calls {max(a.first, b.first)}..{min(a.last, b.last)}) "
                                "and overlap without an allowed overlap")


def _greedy(buffers: list[Buffer], order: list[Buffer], alignment: int, allowed: dict) -> int:
    """First fit: each buffer at the lowest candidate offset compatible with those already placed."""
    placed: list[Buffer] = []
    for b in order:
        align = max(alignment, b.align)
        live = [p for p in placed if p.overlaps_in_time(b)]
        points = {0}
        for p in live:
            points.add(_align(p.offset + p.size, align))
            if (p.id, b.id) in allowed:  # b may be written over p
                points.add(max(0, (p.offset + allowed[p.id, b.id]) // align * align))
            if (b.id, p.id) in allowed:  # p may be written over b
                points.add(_align(max(0, p.offset - allowed[b.id, p.id]), align))
        for off in sorted(points):
            if not any(_conflict(b, off, p, p.offset, allowed) for p in live):
                b.offset = off
                break
        placed.append(b)
    return max((b.offset + b.size for b in buffers), default=0)


def _solve(buffers: list[Buffer], alignment: int, allowed: dict, upper: int, lower: int,
           hint: list[int]) -> tuple[list[int], int, bool] | None:
    """CP-SAT: minimal arena; (offsets, proven lower bound, optimal) or None if it found nothing."""
    try:
        from ortools.sat.python import cp_model
    except ImportError:  # ortools comes with `make setup` (Makefile); without it the greedy plan stands
        return None
    m = cp_model.CpModel()
    arena = m.NewIntVar(lower, upper, "arena")
    offs = []
    for b, h in zip(buffers, hint):
        align = max(alignment, b.align)
        k = m.NewIntVar(0, max(0, (upper - b.size) // align), f"k{b.id}")
        m.AddHint(k, h // align)
        off = align * k
        m.Add(off + b.size <= arena)
        offs.append(off)
    for i, a in enumerate(buffers):
        for j in range(i + 1, len(buffers)):
            b = buffers[j]
            if not a.overlaps_in_time(b):
                continue
            if (a.id, b.id) in allowed or (b.id, a.id) in allowed:
                r, w, ro, wo = (a, b, offs[i], offs[j]) if (a.id, b.id) in allowed else (b, a, offs[j], offs[i])
                over, above = m.NewBoolVar(""), m.NewBoolVar("")
                m.Add(wo - ro <= allowed[r.id, w.id]).OnlyEnforceIf(over)
                m.Add(ro + r.size <= wo).OnlyEnforceIf(above)
                m.AddBoolOr([over, above])
            else:
                below = m.NewBoolVar("")
                m.Add(offs[i] + a.size <= offs[j]).OnlyEnforceIf(below)
                m.Add(offs[j] + b.size <= offs[i]).OnlyEnforceIf(below.Not())
    m.Minimize(arena)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1  # deterministic: the same model gives the same plan
    solver.parameters.max_deterministic_time = SOLVER_TIME
    status = solver.Solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return ([int(solver.Value(o)) for o in offs], int(solver.BestObjectiveBound()),
            status == cp_model.OPTIMAL)


def _live_union(buffers: list[Buffer], steps: int) -> list[int]:
    """Bytes of the arena in use at each call from -1 to steps (shared bytes counted once)."""
    out = []
    for s in range(-1, steps + 1):
        spans = sorted((b.offset, b.offset + b.size) for b in buffers if b.first <= s <= b.last)
        total, end = 0, 0
        for lo, hi in spans:
            if hi > end:
                total += hi - max(lo, end)
                end = hi
        out.append(total)
    return out


def _overlap_free_bound(buffers: list[Buffer], overlaps: list[Overlap], steps: int) -> int:
    """Bytes live at the busiest call, less what the allowed overlaps there could share at most."""
    by_id = {b.id: b for b in buffers}
    best = 0
    for s in range(-1, steps + 1):
        live = sum(b.size for b in buffers if b.first <= s <= b.last)
        shared = sum(min(by_id[o.reader].size, by_id[o.writer].size) for o in overlaps if o.call == s)
        best = max(best, live - shared)
    return best


def plan_memory(calls: list[KernelCall], sizes: dict[int, int], model_input: int, model_output: int,
                alignment: int = 1, overlap: bool = True, solver: bool = True) -> MemoryPlan:
    """The arena plan of `calls` in their order; overlap=False forbids input/output overlaps."""
    buffers = build_buffers(calls, sizes, model_input, model_output)
    overlaps = build_overlaps(calls, buffers, sizes) if overlap else []
    allowed = {(o.reader, o.writer): o.lag for o in overlaps}
    lower = _overlap_free_bound(buffers, overlaps, len(calls))
    orders = {
        "greedy-by-size": sorted(buffers, key=lambda b: (-b.size, b.first)),
        "greedy-by-birth": sorted(buffers, key=lambda b: (b.first, -b.size)),
        "greedy-by-lifetime": sorted(buffers, key=lambda b: (-(b.last - b.first + 1) * b.size, b.first)),
    }
    best: tuple[int, str, list[int]] | None = None
    for name, order in orders.items():
        arena = _greedy(buffers, order, alignment, allowed)
        if best is None or arena < best[0]:
            best = (arena, name, [b.offset for b in buffers])
    assert best is not None or not buffers
    arena, strategy, offsets = best if best else (0, "empty", [])
    optimal = arena <= lower
    if buffers and not optimal and solver and len(buffers) <= SOLVER_MAX_BUFFERS:
        solved = _solve(buffers, alignment, allowed, arena, lower, offsets)
        if solved is not None:
            s_offsets, bound, optimal = solved
            s_arena = max(o + b.size for o, b in zip(s_offsets, buffers))
            lower = max(lower, bound)
            if s_arena < arena or optimal:
                arena, strategy, offsets = s_arena, "cp-sat", s_offsets
    if arena <= lower:
        lower, optimal = arena, True
    for b, off in zip(buffers, offsets):
        b.offset = off
    tensor_offsets = {t: b.offset for b in buffers for t in b.tensors}
    scratch = {b.scratch_of: b.offset for b in buffers if b.scratch_of >= 0}
    plan = MemoryPlan(max(arena, 1), lower, strategy, buffers, tensor_offsets,
                      _live_union(buffers, len(calls))[1:-1], scratch, overlaps, optimal)
    check_plan(plan)
    return plan
