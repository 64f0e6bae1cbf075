"""MEAN: generated C equals TFLM element for element, every variant.

Global average pooling (axes 1, 2; keep_dims true and false) over random spatial sizes and odd
channel counts (and counts that use the fast variant's 16- and 4-channel groups; more than 256
reduced elements, summed in chunks), other contiguous axis runs, the converter's quantisation and
patched ones (output quantised exactly like the input, and much finer / coarser output scales that
saturate), and a clear error for non-contiguous axes. "fast" runs wherever it is proposed (its
one-step requantisation is exact), which is most cases.
"""
import numpy as np
import pytest

from harness import edit_tflite, random_int8, run_generated, run_tflm, set_quantization, to_int8_tflite
from sparsemcu.errors import SparsemcuError
from sparsemcu.export.ops.base import LoweringContext, candidates
from sparsemcu.export.pipeline import lower
from sparsemcu.export.tflite_reader import read_tflite
from sparsemcu.tf import keras

N_SAMPLES = 60


def _gap_model(in_shape, keepdims):
    k = keras()
    return k.Sequential([k.layers.Input(in_shape), k.layers.GlobalAveragePooling2D(keepdims=keepdims)])


def _mean_model(in_shape, axes, keepdims):
    k = keras()
    from sparsemcu.tf import tensorflow
    tf = tensorflow()
    inp = k.layers.Input(in_shape)
    out = k.layers.Lambda(lambda t: tf.reduce_mean(t, axis=axes, keepdims=keepdims))(inp)
    return k.Model(inp, out)


def patch_output_quant(tflite_bytes: bytes, scale: float | None = None, zero_point: int | None = None) -> bytes:
    """Re-quantise the model output tensor (default: exactly like the model input)."""
    def edit(model):
        sg = model.subgraphs[0]
        qi = sg.tensors[sg.inputs[0]].quantization
        set_quantization(sg.tensors[sg.outputs[0]], qi.scale[0] if scale is None else scale,
                         qi.zeroPoint[0] if zero_point is None else zero_point)
    return edit_tflite(tflite_bytes, edit)


def _random_gap_case(seed):
    rng = np.random.default_rng(3000 + seed)
    return (int(rng.integers(1, 14)), int(rng.integers(1, 14)), int(rng.choice([1, 3, 5, 7, 16]))), bool(seed % 2)


GAP_CASES = [_random_gap_case(s) for s in range(5)] + [((16, 16, 3), False), ((2, 1, 9), True),
                                                       ((8, 8, 64), False), ((25, 5, 64), True),
                                                       ((23, 13, 20), False), ((3, 4, 35), True)]


def mean_variants(tflite_bytes: bytes) -> set[str]:
    g = read_tflite(tflite_bytes)
    node = [n for n in g.nodes if n.op == "MEAN"][0]
    return {c.variant for c in candidates(LoweringContext(g, node))}


def check_variants(tflite_bytes: bytes, x, tmp_path, msg: str) -> set[str]:
    ref = run_tflm(tflite_bytes, x)
    variants = mean_variants(tflite_bytes)
    for variant in sorted(variants):
        got = run_generated(tflite_bytes, x, tmp_path / variant, variant)
        np.testing.assert_array_equal(got, ref, err_msg=f"{variant} {msg}")
    return variants


@pytest.mark.parametrize("case", range(len(GAP_CASES)))
def test_global_average_pool_bit_exact(case, tmp_path):
    in_shape, keepdims = GAP_CASES[case]
    tfl = to_int8_tflite(_gap_model(in_shape, keepdims), seed=case)
    nodes = [n for n in read_tflite(tfl).nodes if n.op == "MEAN"]
    assert len(nodes) == 1
    x = random_int8(in_shape, N_SAMPLES, seed=case)
    for quant, model in (("converter", tfl), ("same quant", patch_output_quant(tfl)),
                         ("fine output", patch_output_quant(tfl, 0.002, -7)),
                         ("coarse output", patch_output_quant(tfl, 0.9, 100))):
        variants = check_variants(model, x, tmp_path / quant.replace(" ", "_"), f"{quant} {GAP_CASES[case]}")
        if quant == "converter" and in_shape[0] * in_shape[1] >= 4:
            assert "fast" in variants


@pytest.mark.parametrize("in_shape,axes,keepdims", [((5, 6, 7), [3], False), ((4, 5, 6), [1], True),
                                                    ((3, 4, 5), [2, 3], False)])
def test_mean_other_contiguous_axes_bit_exact(in_shape, axes, keepdims, tmp_path):
    tfl = to_int8_tflite(_mean_model(in_shape, axes, keepdims), seed=1)
    nodes = [n for n in read_tflite(tfl).nodes if n.op == "MEAN"]
    assert len(nodes) == 1
    x = random_int8(in_shape, N_SAMPLES, seed=2)
    check_variants(tfl, x, tmp_path, str((in_shape, axes)))


def test_mean_non_contiguous_axes_fails_clearly():
    tfl = to_int8_tflite(_mean_model((4, 5, 6), [1, 3], False), seed=1)
    with pytest.raises(SparsemcuError, match="MEAN over axes"):
        lower(tfl)
