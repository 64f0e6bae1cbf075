"""Memory planner: valid (no two live buffers overlap), optimal on chains, never above TFLM."""
import numpy as np
import pytest

from sparsemcu.export.ops.base import KernelCall
from sparsemcu.export.planner import plan_memory


def _call(i, inputs, output, alias=False):
    return KernelCall(node=i, op="X", kernel=None if alias else "k", params_type=None, fields={},
                      inputs=list(inputs), output=output, alias_output_to_input=alias)


def _check_valid(plan):
    bufs = plan.buffers
    for i, a in enumerate(bufs):
        assert a.offset >= 0 and a.offset + a.size <= plan.arena_bytes
        for b in bufs[i + 1:]:
            if a.overlaps_in_time(b):
                assert not a.overlaps_in_memory(b), (a, b)


@pytest.mark.parametrize("seed", range(20))
def test_chain_reaches_lower_bound(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    sizes = {t: int(rng.integers(1, 5000)) for t in range(n + 1)}
    calls = [_call(i, [i], i + 1) for i in range(n)]
    plan = plan_memory(calls, sizes, 0, n)
    _check_valid(plan)
    expected = max(sizes[i] + sizes[i + 1] for i in range(n))
    assert plan.lower_bound == expected
    assert plan.arena_bytes == expected


def test_reshape_is_in_place():
    sizes = {0: 100, 1: 100, 2: 100, 3: 10}
    calls = [_call(0, [0], 1), _call(1, [1], 2, alias=True), _call(2, [2], 3)]
    plan = plan_memory(calls, sizes, 0, 3)
    _check_valid(plan)
    assert plan.offset(1) == plan.offset(2)
    assert plan.arena_bytes == 200


@pytest.mark.parametrize("seed", range(30))
def test_random_dags_are_valid(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 15))
    sizes = {t: int(rng.integers(1, 3000)) for t in range(n + 1)}
    calls = []
    for i in range(n):
        extra = [int(rng.integers(0, i + 1))] if i > 0 and rng.random() < 0.4 else []
        calls.append(_call(i, [i] + [e for e in extra if e != i], i + 1))
    plan = plan_memory(calls, sizes, 0, n)
    _check_valid(plan)
    assert plan.arena_bytes >= plan.lower_bound


def test_residual_keeps_skip_tensor_alive():
    # 0 -> a(1) -> b(2) -> add(1, 2) -> 3
    sizes = {0: 50, 1: 40, 2: 40, 3: 40}
    calls = [_call(0, [0], 1), _call(1, [1], 2), _call(2, [1, 2], 3)]
    plan = plan_memory(calls, sizes, 0, 3)
    _check_valid(plan)
    assert plan.arena_bytes == plan.lower_bound == 120
