"""CONV_2D, zero-skipping `sparse` variant: generated C equals TFLM element for element on random
convolutions pruned to 50 / 90 / 97 % zeros (and with all-zero output channels), and its offline
weight stream round-trips."""

import numpy as np
import pytest

from harness import edit_tflite, operators_named, random_int8, run_generated, run_tflm, to_int8_tflite
from sparsemcu.board_test.model_zoo import prune_tflite
from sparsemcu.export import layouts
from sparsemcu.tf import keras


CASES = [
    # (in_shape, filters, kernel, strides, padding, activation)
    ((9, 9, 8), 7, (3, 3), 1, "same", "relu"),      # pair im2col path inside, slot path at the edges
    ((10, 11, 3), 5, (3, 3), 2, "same", None),       # k_w * in_c odd: slot path only
    ((8, 7, 16), 9, (1, 1), 1, "valid", "relu6"),    # pointwise
    ((12, 10, 4), 3, (5, 5), 2, "valid", "relu"),
    ((11, 9, 5), 13, (5, 5), 1, "same", None),
    ((7, 9, 12), 6, (2, 3), (2, 1), "same", "relu"),
    ((13, 6, 1), 11, (4, 4), 2, "same", "relu"),     # in_c 1, k_w * in_c = 4: pair path with zero rows
    ((5, 5, 33), 17, (3, 3), 1, "valid", None),      # odd channels, pixel count not a multiple of 4
    # inputs whose zero-point padded copy would exceed SPARSE_PADDED_MAX_BYTES: windows bounds-checked
    ((26, 26, 8), 6, (3, 3), 1, "same", "relu"),     # whole window rows, partial rows copied word by word
    ((40, 38, 3), 5, (3, 3), 2, "same", None),       # k_w * in_c odd: one tap at a time
]
SPARSITIES = (0.5, 0.9, 0.97)


def _conv_tflite(case: int) -> bytes:
    k = keras()
    in_shape, filters, kernel, strides, padding, act = CASES[case]
    model = k.Sequential([k.layers.Input(in_shape),
                          k.layers.Conv2D(filters, kernel, strides=strides, padding=padding, activation=act)])
    return to_int8_tflite(model, seed=case)


@pytest.fixture(scope="module")
def conv_models():
    return {}


def _model(cache, case):
    if case not in cache:
        cache[case] = _conv_tflite(case)
    return cache[case]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_conv2d_sparse_bit_exact(case, sparsity, conv_models, tmp_path):
    tfl = prune_tflite(_model(conv_models, case), sparsity)
    in_shape = CASES[case][0]
    x = random_int8(in_shape, 12, seed=case)
    ref = run_tflm(tfl, x)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, "sparse"), ref)


def _zero_channels(tflite_bytes: bytes, channels) -> bytes:
    """Zero every weight of the given output channels of each CONV_2D."""
    def edit(model):
        sg = model.subgraphs[0]
        for op in operators_named(model, "CONV_2D"):
            t = sg.tensors[op.inputs[1]]
            buf = model.buffers[t.buffer]
            w = np.frombuffer(np.asarray(buf.data, np.uint8).tobytes(), np.int8).reshape(t.shape).copy()
            w[list(channels)] = 0
            buf.data = np.frombuffer(w.tobytes(), np.uint8).copy()
    return edit_tflite(tflite_bytes, edit)


@pytest.mark.parametrize("case", [0, 4, 7])
def test_conv2d_sparse_zero_channels(case, conv_models, tmp_path):
    filters = CASES[case][1]
    tfl = _zero_channels(prune_tflite(_model(conv_models, case), 0.9), range(0, filters, 3))
    x = random_int8(CASES[case][0], 12, seed=case + 100)
    ref = run_tflm(tfl, x)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, "sparse"), ref)


def test_conv2d_sparse_all_zero(conv_models, tmp_path):
    tfl = _zero_channels(_model(conv_models, 3), range(CASES[3][1]))
    x = random_int8(CASES[3][0], 6, seed=5)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, "sparse"), run_tflm(tfl, x))


def test_sparse_tap_entries_round_trip():
    rng = np.random.default_rng(0)
    rows = rng.integers(-128, 128, size=(9, 301)).astype(np.int8)
    rows[rng.random(rows.shape) < 0.9] = 0
    rows[3] = 0
    stream = layouts.sparse_tap_entries(rows)
    assert stream.dtype == np.int32 and len(stream) == rows.shape[0] + np.count_nonzero(rows)
    np.testing.assert_array_equal(layouts.sparse_decode(stream, *rows.shape), rows)
    assert layouts.sparse_max_taps() == 8192
    big = np.ones((2, layouts.sparse_max_taps() + 1), np.int8)
    assert layouts.sparse_tap_entries(big) is None
    assert layouts.sparse_tap_entries(big[:, :-1]) is not None


@pytest.mark.parametrize("in_c,padding", [(3, "SAME"), (4, "VALID"), (8, "SAME")])
def test_conv2d_sparse_dilation(in_c, padding, tmp_path):
    from test_op_conv2d import _dilated_conv_tflite
    tfl = prune_tflite(_dilated_conv_tflite((11, 10, in_c), 6, (3, 3), 2, padding, seed=in_c), 0.7)
    x = random_int8((11, 10, in_c), 12, seed=in_c)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, "sparse"), run_tflm(tfl, x))


def test_sparse_conv_stream_layout():
    """Per channel: bias2, n, (2w << 16) | 8 * tap for each non-zero weight in tap order, mult, rh, e."""
    rng = np.random.default_rng(1)
    rows = rng.integers(-128, 128, size=(5, 77)).astype(np.int8)
    rows[rng.random(rows.shape) < 0.85] = 0
    rows[2] = 0
    req = rng.integers(-2**20, 2**20, size=(5, 4))
    stream = layouts.sparse_conv_stream(rows, req).astype(np.int64)
    pos = 0
    for r, (b2, m, rh, e) in zip(rows.astype(np.int64), req):
        nz = np.flatnonzero(r)
        assert stream[pos] == b2 and stream[pos + 1] == len(nz)
        ent = stream[pos + 2:pos + 2 + len(nz)]
        np.testing.assert_array_equal(ent >> 16, 2 * r[nz])
        np.testing.assert_array_equal(ent & 0xFFFF, 8 * nz)
        np.testing.assert_array_equal(stream[pos + 2 + len(nz):pos + 5 + len(nz)], [m, rh, e])
        pos += 5 + len(nz)
    assert pos == len(stream)
    assert layouts.sparse_conv_stream(np.ones((1, layouts.sparse_max_taps() + 1), np.int8), req[:1]) is None


def test_balanced_drops_the_padded_copy_when_ram_is_short(tmp_path):
    """Two sparse candidates where the padded input copy applies (faster, more scratch, and without
    it): speed takes the copy; balanced under a RAM budget the copy does not fit takes the other,
    with a smaller arena, and both stay bit-exact."""
    from sparsemcu.export.pipeline import Options, lower

    k = keras()
    model = k.Sequential([k.layers.Input((9, 9, 8)), k.layers.Conv2D(7, 3, padding="same", activation="relu")])
    tfl = prune_tflite(to_int8_tflite(model, seed=2), 0.9)
    fast = lower(tfl, Options(optimize="speed", variant="sparse"))
    assert fast.calls[0].fields["padded_rows"] > 0
    budget = fast.plan.arena_bytes - 1
    lean = lower(tfl, Options(optimize="balanced", ram_budget=budget, variant="sparse"))
    assert lean.calls[0].variant == "sparse" and lean.calls[0].fields["padded_rows"] == 0
    assert lean.plan.arena_bytes <= budget
    x = random_int8((9, 9, 8), 20, seed=3)
    want = run_tflm(tfl, x)
    for name, options in (("fast", Options(optimize="speed", variant="sparse")),
                          ("lean", Options(optimize="balanced", ram_budget=budget, variant="sparse"))):
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path / name, options=options), want, err_msg=name)
