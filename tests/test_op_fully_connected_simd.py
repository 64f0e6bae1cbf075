"""FULLY_CONNECTED, dense 16-bit SIMD `simd` variant (portable C path on the host): generated C equals
TFLM element for element on random layers: in_features with and without a tail (1 to 3 inputs past a
multiple of 4, tiny layers), out_features with and without single outputs after the quads, batches 1 to
3, per-tensor and per-channel weights, relu / relu6 / none, dense and pruned weights, all-zero outputs;
and its weight stream lays the weights out as the kernel reads them."""

import numpy as np
import pytest

from harness import dense_tflite, edit_tflite, operators_named, random_int8, run_generated, run_tflm
from sparsemcu.board_test.model_zoo import prune_tflite
from sparsemcu.export import layouts


CASES = [
    # (input shape, units, activation)
    ((37,), 19, "relu"),
    ((64,), 10, None),
    ((5,), 33, "relu6"),
    ((300,), 7, "relu"),
    ((3, 20), 9, None),  # 3 rows through the same weights (batches)
    ((2, 7), 4, "relu6"),
    ((1,), 3, None),
    ((3,), 1, "relu"),
    ((2, 2), 6, None),
    ((16,), 8, "relu"),
    ((3, 130), 13, None),
]


def _model(case: int) -> bytes:
    in_shape, units, act = CASES[case]
    return dense_tflite(in_shape, units, act, case)


def _weights(model, op):
    sg = model.subgraphs[0]
    t = sg.tensors[op.inputs[1]]
    buf = model.buffers[t.buffer]
    return sg, t, buf, np.frombuffer(np.asarray(buf.data, np.uint8).tobytes(), np.int8).reshape(t.shape).copy()


def _per_channel(seed: int):
    """Edit: each output's weight scale (and its bias scale) multiplied by its own factor in [0.25, 2)."""
    def edit(model):
        rng = np.random.default_rng(seed)
        for op in operators_named(model, "FULLY_CONNECTED"):
            sg, t, _, w = _weights(model, op)
            f = rng.uniform(0.25, 2.0, size=w.shape[0])
            t.quantization.scale = [float(t.quantization.scale[0] * v) for v in f]
            t.quantization.zeroPoint = [0] * w.shape[0]
            t.quantization.quantizedDimension = 0
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                b = sg.tensors[op.inputs[2]]
                b.quantization.scale = [float(b.quantization.scale[0] * v) for v in f]
                b.quantization.zeroPoint = [0] * w.shape[0]
                b.quantization.quantizedDimension = 0
    return edit


def _check(tfl, case, tmp_path, seed=None):
    x = random_int8(CASES[case][0], 12, seed=case if seed is None else seed)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, "simd"), run_tflm(tfl, x))


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("sparsity", (0.0, 0.9))
def test_fully_connected_simd_bit_exact(case, sparsity, tmp_path):
    tfl = _model(case)
    _check(prune_tflite(tfl, sparsity) if sparsity else tfl, case, tmp_path)


@pytest.mark.parametrize("case", (0, 2, 4, 6, 10))
def test_fully_connected_simd_per_channel(case, tmp_path):
    _check(edit_tflite(_model(case), _per_channel(case)), case, tmp_path)


def test_fully_connected_simd_zero_outputs(tmp_path):
    def edit(model):
        for op in operators_named(model, "FULLY_CONNECTED"):
            _, _, buf, w = _weights(model, op)
            w[1::3] = 0
            buf.data = np.frombuffer(w.tobytes(), np.uint8).copy()
    _check(edit_tflite(_model(0), edit), 0, tmp_path, seed=7)


def _decode(stream: np.ndarray, out_f: int, in_f: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of fc_simd_stream: (doubled int16 weights [out_f, in_f], table rows [out_f, 4])."""
    s = np.asarray(stream, np.int64)
    groups = -(-in_f // 4)
    w = np.zeros((out_f, 4 * groups), np.int64)
    table = np.zeros((out_f, 4), np.int64)

    def lanes(word):
        lo, hi = word & 0xFFFF, (word >> 16) & 0xFFFF
        return lo - (lo >= 2**15) * 2**16, hi - (hi >= 2**15) * 2**16

    pos, o = 0, 0
    while o < out_f:
        n = 4 if out_f - o >= 4 else 1
        table[o:o + n, 0] = s[pos:pos + n]
        pos += n
        for g in range(groups):
            for j in range(n):
                (w0, w2), (w1, w3) = lanes(s[pos]), lanes(s[pos + 1])
                w[o + j, 4 * g:4 * g + 4] = (w0, w1, w2, w3)
                pos += 2
        table[o:o + n, 1:] = s[pos:pos + 3 * n].reshape(n, 3)
        pos += 3 * n
        o += n
    assert pos == len(s)
    return w[:, :in_f], table


@pytest.mark.parametrize("shape", ((9, 13), (4, 8), (3, 1), (1, 5), (6, 300)))
def test_fc_simd_stream_round_trip(shape):
    rng = np.random.default_rng(sum(shape))
    rows = rng.integers(-128, 128, size=shape).astype(np.int8)
    table = rng.integers(-2**31, 2**31, size=(shape[0], 4)).astype(np.int32)
    w2, t = _decode(layouts.fc_simd_stream(rows, table), *shape)
    np.testing.assert_array_equal(w2, 2 * rows.astype(np.int64))
    np.testing.assert_array_equal(t, table.astype(np.int64))
