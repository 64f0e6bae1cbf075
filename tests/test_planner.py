"""Memory planner: valid (checked), optimal (against brute force), overlaps only where allowed."""
import itertools

import numpy as np
import pytest

from sparsemcu.export.ops.base import KernelCall
from sparsemcu.export.overlap import window_lag
from sparsemcu.export.planner import PlanError, check_plan, plan_memory


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
    greedy = plan_memory(calls, sizes, 0, n, solver=False)
    _check_valid(greedy)
    assert plan.optimal and plan.arena_bytes <= greedy.arena_bytes


def test_residual_keeps_skip_tensor_alive():
    # 0 -> a(1) -> b(2) -> add(1, 2) -> 3
    sizes = {0: 50, 1: 40, 2: 40, 3: 40}
    calls = [_call(0, [0], 1), _call(1, [1], 2), _call(2, [1, 2], 3)]
    plan = plan_memory(calls, sizes, 0, 3)
    _check_valid(plan)
    assert plan.arena_bytes == plan.lower_bound == 120


# --- input/output overlaps (export/overlap.py) ---

def _conv_call(i, inp, out, h, w, c_in, c_out, k, stride, pad, kernel="smcu_conv2d_s8_dense"):
    out_h, out_w = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    common = {"in_h": h, "in_w": w, "in_c": c_in, "out_h": out_h, "out_w": out_w, "out_c": c_out, "k_h": k,
              "k_w": k, "stride_h": stride, "stride_w": stride, "dil_h": 1, "dil_w": 1, "pad_h": pad, "pad_w": pad}
    return KernelCall(node=i, op="CONV_2D", kernel=kernel, params_type="t", fields={"c": common},
                      inputs=[inp], output=out), out_h * out_w * c_out


def _window(f, shape, oy, ox):
    """Byte offsets of the input pixels in output pixel (oy, ox)'s window, in read order."""
    h, w, c_in = shape
    for ky in range(f["k_h"]):
        for kx in range(f["k_w"]):
            y, x = oy * f["stride_h"] - f["pad_h"] + ky, ox * f["stride_w"] - f["pad_w"] + kx
            if 0 <= y < h and 0 <= x < w:
                yield ky, kx, (y * w + x) * c_in


def _raster_conv_in_memory(mem, i_off, o_off, x, f, wts):
    """The strictest of our raster kernels' orders, run in one byte array: per output pixel, per output
    channel, the window read, then that one output byte written."""
    out = np.zeros((f["out_h"], f["out_w"], f["out_c"]), np.int64)
    c_in = x.shape[2]
    for oy in range(f["out_h"]):
        for ox in range(f["out_w"]):
            p = oy * f["out_w"] + ox
            for oc in range(f["out_c"]):
                acc = sum(int(wts[ky, kx, :, oc] @ mem[i_off + b:i_off + b + c_in])
                          for ky, kx, b in _window(f, x.shape, oy, ox))
                out[oy, ox, oc] = mem[o_off + p * f["out_c"] + oc] = acc % 251 - 125
    return out


@pytest.mark.parametrize("seed", range(12))
def test_window_lag_is_safe_and_tight(seed):
    """A raster kernel whose output starts `lag` bytes past its input computes what it computes apart,
    and within a byte of the largest offset up to which no read meets a written byte."""
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(3, 9)), int(rng.integers(3, 9))
    c_in, c_out = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    k, stride = int(rng.choice([1, 3])), int(rng.integers(1, 3))
    pad = int(rng.integers(0, k // 2 + 1))
    call, _ = _conv_call(0, 0, 1, h, w, c_in, c_out, k, stride, pad)
    f = call.fields["c"]
    lag = window_lag(f)
    x = rng.integers(-128, 128, (h, w, c_in))
    wts = rng.integers(-3, 4, (k, k, c_in, c_out))
    n_in, n_out = x.size, f["out_h"] * f["out_w"] * c_out
    size = 3 * (n_in + n_out)
    apart = np.zeros(size, np.int64)
    apart[:n_in] = x.ravel()
    ref = _raster_conv_in_memory(apart, 0, n_in, x, f, wts)
    base = n_out + 8  # the input; the output starts at base + lag
    mem = np.zeros(size, np.int64)
    mem[base:base + n_in] = x.ravel()
    assert np.array_equal(_raster_conv_in_memory(mem, base, base + lag, x, f, wts), ref)
    # the largest offset below which every placement is safe (further up, past the input's remaining
    # reads, it may be safe again: the planner counts that as disjoint only once wholly past the input)
    exact = next(d for d in range(-n_out, n_in + 1) if d == n_in or _reads_written(f, x.shape, d)) - 1
    assert exact - 1 <= lag <= exact


def _reads_written(f, shape, delta):
    """Whether, in that order with the output `delta` bytes past the input, a read meets a written byte."""
    written = set()
    c_in = shape[2]
    for oy in range(f["out_h"]):
        for ox in range(f["out_w"]):
            p = oy * f["out_w"] + ox
            reads = {b + i for _, _, b in _window(f, shape, oy, ox) for i in range(c_in)}
            for oc in range(f["out_c"]):
                if reads & written:
                    return True
                written.add(delta + p * f["out_c"] + oc)
    return False


def test_chain_of_convs_overlaps_and_checker_rejects_more():
    """Three convolutions: each output trails its input, the arena is below any disjoint plan, and
    moving an output one byte past its lag is caught by the checker."""
    c0, n1 = _conv_call(0, 0, 1, 8, 8, 4, 4, 3, 1, 1)
    c1, n2 = _conv_call(1, 1, 2, 8, 8, 4, 4, 3, 1, 1)
    c2, n3 = _conv_call(2, 2, 3, 8, 8, 4, 4, 1, 1, 0)
    sizes = {0: 256, 1: n1, 2: n2, 3: n3}
    plan = plan_memory([c0, c1, c2], sizes, 0, 3)
    disjoint = plan_memory([c0, c1, c2], sizes, 0, 3, overlap=False)
    assert disjoint.arena_bytes == 512 and not disjoint.overlaps
    # pixel p's window starts W + 1 pixels back (within the image) and its output ends one pixel on
    assert window_lag(c1.fields["c"]) == -(8 + 2) * 4
    # each output starts below its input, so the chain drifts down: at most the sum of the lags
    assert plan.arena_bytes <= 256 + 40 + 40 + 4 < disjoint.arena_bytes
    assert plan.optimal and len(plan.overlap_used) >= 2
    check_plan(plan)
    o = plan.overlap_used[0]
    reader, writer = plan.buffers[o.reader], plan.buffers[o.writer]
    writer.offset = reader.offset + o.lag + 1
    with pytest.raises(PlanError, match="overlap without an allowed overlap"):
        check_plan(plan)


def _brute_force(buffers_spec, overlaps, step=4):
    """Smallest arena over all offsets (multiples of `step`) for a handful of buffers."""
    sizes = [s for s, _, _ in buffers_spec]
    top = sum(sizes)
    best = top
    ranges = [range(0, top - s + 1, step) for s in sizes]
    for offs in itertools.product(*ranges):
        arena = max(o + s for o, s in zip(offs, sizes))
        if arena >= best:
            continue
        ok = True
        for i, j in itertools.combinations(range(len(sizes)), 2):
            (si, fi, li), (sj, fj, lj) = buffers_spec[i], buffers_spec[j]
            if li < fj or lj < fi or offs[i] + si <= offs[j] or offs[j] + sj <= offs[i]:
                continue
            lag = overlaps.get((i, j))
            if lag is not None and offs[j] - offs[i] <= lag:
                continue
            lag = overlaps.get((j, i))
            if lag is not None and offs[i] - offs[j] <= lag:
                continue
            ok = False
            break
        if ok:
            best = arena
    return best


@pytest.mark.parametrize("seed", range(10))
def test_solver_matches_brute_force(seed):
    """Elementwise chains with a skip: the planner's arena is the true minimum (exhaustive search)."""
    rng = np.random.default_rng(500 + seed)
    n = int(rng.integers(2, 4))
    sizes = {t: 4 * int(rng.integers(1, 6)) for t in range(n + 1)}
    sizes[1] = sizes[0]
    calls = []
    for i in range(n):
        inputs = [i] + ([0] if i == n - 1 and n > 2 and rng.random() < 0.5 else [])
        kernel = "smcu_add_s8_elementwise" if rng.random() < 0.7 else "k"
        calls.append(KernelCall(node=i, op="X", kernel=kernel, params_type=None, fields={}, inputs=inputs,
                                output=i + 1))
    plan = plan_memory(calls, sizes, 0, n, alignment=4)
    _check_valid_with_overlaps(plan)
    spec = [(b.size, b.first, b.last) for b in plan.buffers]
    allowed = {(o.reader, o.writer): o.lag for o in plan.overlaps}
    assert plan.optimal
    assert plan.arena_bytes == _brute_force(spec, allowed)


def _check_valid_with_overlaps(plan):
    check_plan(plan)
    for a in plan.buffers:
        assert 0 <= a.offset and a.offset + a.size <= plan.arena_bytes


def test_branch_order_search_frees_the_block_input_early():
    """t0 -> c0 -> t1 -> c2 -> t3 and a shortcut t0 -> c1 -> t2 read by the last call: running the
    shortcut first lets t0 die before t3 is written (210 B instead of 300 B)."""
    from sparsemcu.export.pipeline import _best_order
    from sparsemcu.export.schedule import candidate_orders

    sizes = {0: 100, 1: 100, 2: 10, 3: 100, 4: 10}
    calls = [_call(0, [0], 1), _call(2, [1], 3), _call(1, [0], 2), _call(3, [3, 2], 4)]
    assert plan_memory(calls, sizes, 0, 4).arena_bytes == 300
    ordered, plan = _best_order(calls, sizes, 0, 4)
    assert plan.arena_bytes == 210
    assert [c.node for c in ordered].index(1) < [c.node for c in ordered].index(2)
    for order in candidate_orders(calls, sizes):  # every candidate respects the dependencies
        pos = {calls[i].node: k for k, i in enumerate(order)}
        assert pos[0] < pos[2] < pos[3] and pos[1] < pos[3]
    chain = [_call(i, [i], i + 1) for i in range(4)]
    assert candidate_orders(chain, {t: 1 for t in range(5)}) == [[0, 1, 2, 3]]
