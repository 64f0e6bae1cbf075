import numpy as np
import pytest

from sparsemcu.export import encoder


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.99, 1.0])
def test_rle_round_trip_and_byte_count(sparsity):
    rng = np.random.default_rng(1)
    rows = rng.integers(-127, 128, size=(13, 700)).astype(np.int8)
    rows[rng.random(rows.shape) < sparsity] = 0
    skips, values = encoder.rle_encode(rows)
    np.testing.assert_array_equal(encoder.rle_decode(skips, values, rows.shape), rows)
    assert encoder.rle_nbytes(rows) == skips.nbytes + values.nbytes


def test_long_zero_gaps_use_escapes():
    row = np.zeros((1, 1000), np.int8)
    row[0, 999] = 5
    skips, values = encoder.rle_encode(row)
    assert len(values) == 4  # 3 escapes of 256 positions + the value
    np.testing.assert_array_equal(encoder.rle_decode(skips, values, row.shape), row)


def test_smallest_encoding_wins_and_90_percent_sparse_is_under_0_3x():
    rng = np.random.default_rng(2)
    dense_rows = rng.integers(1, 100, size=(16, 144)).astype(np.int8)
    assert encoder.encode("L", dense_rows).format == "dense"
    sparse_rows = dense_rows.copy()
    sparse_rows[rng.random(sparse_rows.shape) < 0.9] = 0
    enc = encoder.encode("L", sparse_rows)
    assert enc.format == "rle"
    assert enc.nbytes <= 0.3 * enc.dense_nbytes
    assert enc.nbytes == sum(c.nbytes for c in enc.consts)


def test_all_zero_layer_encodes():
    enc = encoder.encode("L", np.zeros((4, 9), np.int8), force="rle")
    assert enc.entries == 0 and enc.nonzeros == 0


def test_gaps_across_rows_and_empty_rows():
    rows = np.zeros((5, 7), np.int8)
    rows[0, 6], rows[3, 0], rows[3, 6] = 1, -2, 3  # rows 1, 2 and 4 empty
    skips, values = encoder.rle_encode(rows)
    assert list(values) == [1, -2, 3] and list(skips) == [6, 14, 5]
    np.testing.assert_array_equal(encoder.rle_decode(skips, values, rows.shape), rows)
