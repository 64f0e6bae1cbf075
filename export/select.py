"""One selector for every operator: picks a kernel variant per layer from the candidates the
lowerings propose, under a policy.

  speed     fewest predicted instructions per layer (ties: fewer flash bytes)
  size      fewest flash bytes per layer (ties: fewer instructions)
  balanced  the speed choice where it fits `flash_budget`; when it does not, layers move to
            smaller candidates, best bytes saved per instruction added first, until it fits
            (with no budget, balanced = speed)

A `prefer`red variant name (tests, `sparsemcu export --variant`) wins wherever it is proposed.
"""
from __future__ import annotations

from sparsemcu.errors import SparsemcuError

from .cost import code_bytes
from .ops.base import KernelCall

POLICIES = ("speed", "size", "balanced")


def _speed_key(c: KernelCall):
    return (c.predicted_instructions, c.flash_bytes)


def _size_key(c: KernelCall):
    return (c.flash_bytes, c.predicted_instructions)


def total_flash(chosen: list[KernelCall]) -> int:
    """Constant data plus the code of each distinct kernel variant."""
    return sum(c.flash_bytes for c in chosen) + sum(code_bytes(k) for k in {c.kernel for c in chosen if c.kernel})


def select(candidates: list[list[KernelCall]], policy: str = "balanced", flash_budget: int | None = None,
           prefer: str | None = None) -> list[KernelCall]:
    if policy not in POLICIES:
        raise SparsemcuError(f"unknown optimisation policy {policy!r}; choose from {', '.join(POLICIES)}")
    key = _size_key if policy == "size" else _speed_key
    chosen = []
    for cands in candidates:
        preferred = [c for c in cands if c.variant == prefer]
        chosen.append(min(preferred or cands, key=key))
    if policy != "balanced" or flash_budget is None:
        return chosen
    while total_flash(chosen) > flash_budget:
        best = None
        for i, cands in enumerate(candidates):
            cur = chosen[i]
            for c in cands:
                saved = cur.flash_bytes - c.flash_bytes
                if saved <= 0:
                    continue
                cost = max(c.predicted_instructions - cur.predicted_instructions, 0) + 1
                if best is None or saved / cost > best[0]:
                    best = (saved / cost, i, c)
        if best is None:
            break  # nothing smaller left: the build reports it does not fit, with the numbers
        chosen[best[1]] = best[2]
    return chosen
