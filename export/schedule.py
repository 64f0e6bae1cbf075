"""Operator order for branched graphs: which valid execution order gives the smallest arena.

A chain has one order. Where the graph branches (residual shortcuts, concatenation), the order
decides how long each tensor stays live: computing a shortcut convolution early lets the block's
input die sooner. Candidates are the TFLite order and memory-aware list schedules (at each step
the ready call after which the fewest bytes stay live, under a few tie-breaks); the caller plans
each and keeps the smallest arena, the TFLite order on ties.
"""
from __future__ import annotations

from .ops.base import KernelCall


def _dependencies(calls: list[KernelCall]) -> list[set[int]]:
    writer = {c.output: i for i, c in enumerate(calls)}
    return [{writer[t] for t in c.inputs if t in writer and writer[t] != i} for i, c in enumerate(calls)]


def _list_schedule(calls: list[KernelCall], sizes: dict[int, int], deps: list[set[int]], key) -> list[int]:
    readers: dict[int, int] = {}
    for c in calls:
        for t in set(c.inputs):
            readers[t] = readers.get(t, 0) + 1
    done: list[int] = []
    left = set(range(len(calls)))
    remaining = dict(readers)
    while left:
        ready = [i for i in sorted(left) if deps[i] <= set(done)]

        def freed(i: int) -> int:
            return sum(sizes.get(t, 0) for t in set(calls[i].inputs) if remaining.get(t) == 1)

        pick = min(ready, key=lambda i: key(i, sizes.get(calls[i].output, 0) - freed(i)))
        done.append(pick)
        left.remove(pick)
        for t in set(calls[pick].inputs):
            remaining[t] -= 1
    return done


def candidate_orders(calls: list[KernelCall], sizes: dict[int, int]) -> list[list[int]]:
    """Distinct valid orders (indices into calls), the given order first."""
    deps = _dependencies(calls)
    identity = list(range(len(calls)))
    if all(d == ({i - 1} if i else set()) for i, d in enumerate(deps)):
        return [identity]  # a chain
    out = [identity]
    for key in (lambda i, growth: (growth, i), lambda i, growth: (growth > 0, i), lambda i, growth: (-i,)):
        order = _list_schedule(calls, sizes, deps, key)
        if order not in out:
            out.append(order)
    return out
