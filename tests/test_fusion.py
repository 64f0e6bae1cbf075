"""Conv + pool fusion (export/fuse.py): the pre-pool tensor never exists, outputs stay bit-exact.

Convolutions followed by 2x2 / 3x3 max and average pooling (odd heights whose last conv row the
pool drops, strides, SAME and VALID), with every conv variant, on the host build against TFLM.
"""
import numpy as np
import pytest

from harness import random_int8, run_generated, run_tflm, to_int8_tflite
from sparsemcu.export.pipeline import Options, activation_sizes, lower
from sparsemcu.export.planner import plan_memory
from sparsemcu.tf import keras

N_SAMPLES = 30

CASES = [
    # input, conv filters, kernel, stride, padding, pool, pool size
    ((12, 10, 3), 8, 3, 1, "same", "max", 2),
    ((11, 9, 2), 6, 3, 1, "valid", "avg", 2),  # conv out 9x7: the last row is not pooled
    ((16, 12, 4), 24, 3, 2, "same", "max", 2),
    ((13, 13, 1), 4, 5, 1, "same", "avg", 3),
]


def _model(case):
    k = keras()
    shape, filters, ksize, stride, padding, pool, size = case
    pool_layer = k.layers.MaxPool2D(size) if pool == "max" else k.layers.AveragePooling2D(size)
    return k.Sequential([k.layers.Input(shape),
                         k.layers.Conv2D(filters, ksize, strides=stride, padding=padding, activation="relu"),
                         pool_layer, k.layers.Flatten(), k.layers.Dense(5)])


@pytest.mark.parametrize("case", range(len(CASES)))
def test_conv_pool_fused_bit_exact_every_variant(case, tmp_path):
    tfl = to_int8_tflite(_model(CASES[case]), seed=case)
    x = random_int8(CASES[case][0], N_SAMPLES, seed=case)
    want = run_tflm(tfl, x)
    for variant in ("dense", "rle", "simd", "sparse"):
        m = lower(tfl, Options(variant=variant))
        assert any(c.band and c.variant == variant for c in m.calls), f"conv ({variant}) + pool not fused"
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path / variant, variant=variant), want,
                                      err_msg=f"{CASES[case]} {variant}")


def test_fusion_removes_the_pre_pool_tensor():
    """The fused plan never places the conv's output, and its arena is below the unfused one."""
    tfl = to_int8_tflite(_model(CASES[0]), seed=0)
    m = lower(tfl)
    fused = next(c for c in m.calls if c.band)
    pool = fused.band["pool"]
    assert pool.inputs[0] not in m.plan.tensor_offsets  # the 12x10x8 conv output
    assert fused.output == pool.output and fused.op == "CONV_2D+MAX_POOL_2D"
    unfused = [fused_part for c in m.calls for fused_part in ([_conv_alone(c), pool] if c.band else [c])]
    before = plan_memory(unfused, activation_sizes(m.graph, unfused, m.input), m.input, m.output)
    assert m.plan.arena_bytes < before.arena_bytes
    assert fused.scratch_bytes >= fused.band["band_bytes"] == 2 * 10 * 8


def _conv_alone(c):
    from dataclasses import replace
    return replace(c, op="CONV_2D", output=c.band["pool"].inputs[0], band=None,
                   scratch_bytes=c.band["band_offset"] if c.band["band_offset"] else 0)
