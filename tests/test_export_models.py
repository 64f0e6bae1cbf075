"""Whole models (plain, depthwise-separable, residual, pruned) on digits: generated C == TFLM."""

import numpy as np
import pytest

from harness import run_generated, run_tflm, tflm_arena_bytes, to_int8_tflite
from sparsemcu.board_test.model_zoo import MODELS
from sparsemcu.datasets import load
from sparsemcu.export.pipeline import Options, lower
from sparsemcu.export.quant import quantize_input
from sparsemcu.prune.common import zero_smallest_weights


@pytest.fixture(scope="module")
def digits():
    return load("digits")


@pytest.mark.parametrize("name,sparsity", [("plain_cnn", 0.0), ("ds_cnn", 0.0), ("residual_cnn", 0.0),
                                           ("mlp", 0.0), ("plain_cnn", 0.9), ("ds_cnn", 0.9),
                                           ("residual_cnn", 0.9)])
def test_whole_model_bit_exact(name, sparsity, digits, tmp_path):
    model = MODELS[name](digits.x_train.shape[1:], digits.num_classes)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(digits.x_train, digits.y_train, epochs=2, batch_size=64, verbose=0)  # realistic ranges
    model = zero_smallest_weights(model, sparsity)
    tfl = to_int8_tflite(model, digits.x_train[:100])
    lowered = lower(tfl)
    q = lowered.input_tensor
    x = quantize_input(digits.x_test[:100], q.per_tensor_scale, q.per_tensor_zero_point)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path), run_tflm(tfl, x))
    # the static plan never needs more than TFLM's arena
    assert lowered.plan.arena_bytes <= tflm_arena_bytes(tfl)["total"]
    if sparsity >= 0.9:  # optimised for size, the pruned weights are stored sparse
        smallest = lower(tfl, Options(optimize="size"))
        assert {c.weight_encoding for c in smallest.calls} >= {"rle"}
        assert smallest.weight_bytes <= 0.3 * smallest.dense_weight_bytes, (smallest.weight_bytes,
                                                                            smallest.dense_weight_bytes)
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, "rle"), run_tflm(tfl, x))
