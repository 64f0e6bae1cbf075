"""FULLY_CONNECTED, zero-skipping `sparse` variant: generated C equals TFLM element for element on
random layers pruned to 50 / 90 / 97 % zeros (and with all-zero outputs), and its weight stream
round-trips."""

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
]


def _model(case: int) -> bytes:
    in_shape, units, act = CASES[case]
    return dense_tflite(in_shape, units, act, case)


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("sparsity", (0.5, 0.9, 0.97))
def test_fully_connected_sparse_bit_exact(case, sparsity, tmp_path):
    tfl = prune_tflite(_model(case), sparsity)
    x = random_int8(CASES[case][0], 20, seed=case)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, "sparse"), run_tflm(tfl, x))


def test_fully_connected_sparse_zero_outputs(tmp_path):
    def edit(model):
        sg = model.subgraphs[0]
        for op in operators_named(model, "FULLY_CONNECTED"):
            t = sg.tensors[op.inputs[1]]
            buf = model.buffers[t.buffer]
            w = np.frombuffer(np.asarray(buf.data, np.uint8).tobytes(), np.int8).reshape(t.shape).copy()
            w[::2] = 0
            buf.data = np.frombuffer(w.tobytes(), np.uint8).copy()
    tfl = edit_tflite(prune_tflite(_model(0), 0.9), edit)
    x = random_int8(CASES[0][0], 20, seed=7)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, "sparse"), run_tflm(tfl, x))


def test_sparse_index_entries_round_trip():
    rng = np.random.default_rng(1)
    rows = rng.integers(-128, 128, size=(6, 1000)).astype(np.int8)
    rows[rng.random(rows.shape) < 0.95] = 0
    rows[2] = 0
    stream = layouts.sparse_index_entries(rows)
    assert len(stream) == rows.shape[0] + np.count_nonzero(rows)
    np.testing.assert_array_equal(layouts.sparse_decode(stream, *rows.shape, unit_bytes=1), rows)
    assert layouts.sparse_index_entries(np.ones((1, 65537), np.int8)) is None
