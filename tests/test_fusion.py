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


def _residual_model(identity: bool, with_add: bool = True):
    k = keras()
    L = k.layers
    x_in = L.Input(_shape(identity))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(x_in)
    if identity:  # resnet8's first block: conv, conv, add the block input
        y = L.Conv2D(8, 3, padding="same", activation="relu")(x)
        y = L.Conv2D(8, 3, padding="same")(y)
        out = L.ReLU()(L.Add()([x, y])) if with_add else y
    else:  # a downsampling block: stride-2 conv, conv, add a 1x1 stride-2 shortcut
        y = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
        y = L.Conv2D(16, 5, padding="same", dilation_rate=(1, 2))(y)
        out = L.ReLU()(L.Add()([y, L.Conv2D(16, 1, strides=2)(x)]))
    return k.Model(x_in, L.Dense(4)(L.GlobalAveragePooling2D()(out)))


def _shape(identity):
    return (10, 9, 8) if identity else (26, 14, 8)


@pytest.mark.parametrize("identity,with_add", [(True, True), (True, False), (False, True)])
def test_conv_chain_streamed_bit_exact_every_variant(identity, with_add, tmp_path):
    """Two convolutions (and the ADD after them, and the shortcut convolution the ADD takes) run row by
    row: the intermediate tensor exists only as a ring of rows, the shortcut's output as one row, and
    the outputs equal TFLM's for every conv variant."""
    tfl = to_int8_tflite(_residual_model(identity, with_add), seed=5)
    x = random_int8(_shape(identity), N_SAMPLES, seed=6)
    want = run_tflm(tfl, x)
    # the downsampling block's fusion does not shrink this small arena: it is forced to test its path
    fusion = "auto" if identity else "always"
    for variant in ("dense", "rle", "simd", "sparse"):
        m = lower(tfl, Options(variant=variant, fusion=fusion))
        streamed = [c for c in m.calls if c.stream]
        assert streamed and streamed[0].variant == variant, [c.op for c in m.calls]
        assert (streamed[0].stream["add"] is not None) == with_add
        assert (streamed[0].stream["shortcut"] is not None) == (not identity)  # the 1x1 shortcut streamed too
        hidden = streamed[0].stream["second"].inputs[0]
        assert hidden not in m.plan.tensor_offsets  # the intermediate tensor is never placed
        got = run_generated(tfl, x, tmp_path / variant, options=Options(variant=variant, fusion=fusion))
        np.testing.assert_array_equal(got, want, err_msg=f"identity={identity} add={with_add} {variant}")


def test_streamed_convs_then_pool_fuse_one_or_the_other(tmp_path):
    """conv -> conv -> pool: the pool fuses with the second conv or the two convs stream, never both
    at once (one call has one fused tail); forced fusion stays bit-exact for every variant."""
    k = keras()
    model = k.Sequential([k.layers.Input((14, 12, 3)), k.layers.Conv2D(8, 3, padding="same", activation="relu"),
                          k.layers.Conv2D(8, 3, padding="same", activation="relu"), k.layers.AveragePooling2D(2),
                          k.layers.Flatten(), k.layers.Dense(5)])
    tfl = to_int8_tflite(model, seed=9)
    x = random_int8((14, 12, 3), N_SAMPLES, seed=9)
    want = run_tflm(tfl, x)
    for variant in ("dense", "simd", "sparse"):
        options = Options(variant=variant, fusion="always")
        m = lower(tfl, options)
        assert not any(c.band and c.stream for c in m.calls)
        assert any(c.band or c.stream for c in m.calls)
        got = run_generated(tfl, x, tmp_path / variant, options=options)
        np.testing.assert_array_equal(got, want, err_msg=variant)
