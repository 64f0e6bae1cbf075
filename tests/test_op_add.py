"""ADD: generated C equals TFLM element for element, for every kernel variant.

Residual-style adds of two differently quantised branches (random shapes, odd channel counts),
fused RELU / RELU6 (patched into the flatbuffer when the converter does not fuse it), and
broadcasting ([1,H,W,C] + [1,1,1,C] either way round, [1,H,1,C] + [1,1,W,C], [1,H,W,C] + [C]).
Equal shapes run the reference kernel ("generic") and "fast" (per-input tables; both of its modes:
Q12 table sums, and the one-step requantisation where no such tables exist). The tables are also
checked on all 65536 input pairs against a Python model of TFLite's recipe, itself checked against
the scalar fixed-point primitives.
"""
import numpy as np
import pytest

from harness import edit_tflite, patch_activation, random_int8, run_generated, run_tflm, set_quantization, to_int8_tflite
from sparsemcu.export import quant
from sparsemcu.export.ops.add import LEFT_SHIFT, add_scalars
from sparsemcu.export.pipeline import Options, lower
from sparsemcu.export.tflite_reader import read_tflite
from sparsemcu.tf import keras, tensorflow

ELEMENTWISE_VARIANTS = ("generic", "fast")

N_SAMPLES = 60
ACT_CODES = {None: 0, "relu": 1, "relu6": 3}


def _randomise(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) * 0.6 for w in model.get_weights()])


def _residual_model(in_shape, seed):
    """x -> (1x1 conv a, 3x3 depthwise b) -> a + b: two branches with their own scales."""
    k = keras()
    x = k.layers.Input(in_shape)
    a = k.layers.Conv2D(in_shape[-1], 1)(x)
    b = k.layers.DepthwiseConv2D(3, padding="same")(x)
    model = k.Model(x, k.layers.Add()([a, b]))
    _randomise(model, seed)
    return model


def _random_case(seed):
    rng = np.random.default_rng(4000 + seed)
    return (int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.choice([1, 3, 5, 7]))), \
        [None, "relu", "relu6"][seed % 3]


RESIDUAL_CASES = [_random_case(s) for s in range(6)]


@pytest.mark.parametrize("case", range(len(RESIDUAL_CASES)))
def test_add_residual_bit_exact(case, tmp_path):
    in_shape, act = RESIDUAL_CASES[case]
    tfl = to_int8_tflite(_residual_model(in_shape, case), seed=case)
    if act is not None:
        tfl = patch_activation(tfl, "ADD", ACT_CODES[act])
    adds = [n for n in read_tflite(tfl).nodes if n.op == "ADD"]
    assert len(adds) == 1 and adds[0].options["fused_activation_function"] == ACT_CODES[act]
    x = random_int8(in_shape, N_SAMPLES, seed=case)
    ref = run_tflm(tfl, x)
    for variant in ELEMENTWISE_VARIANTS:
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, variant), ref,
                                      err_msg=f"{variant} {RESIDUAL_CASES[case]}")


def _broadcast_model(kind, in_shape, seed):
    k, tf = keras(), tensorflow()
    x = k.layers.Input(in_shape)
    a = k.layers.Conv2D(in_shape[-1], 1)(x)
    if kind == "hwc+c11":
        b = k.layers.GlobalAveragePooling2D(keepdims=True)(x)
        out = k.layers.Lambda(lambda t: t[0] + t[1])([a, b])
    elif kind == "c11+hwc":
        b = k.layers.GlobalAveragePooling2D(keepdims=True)(x)
        out = k.layers.Lambda(lambda t: t[1] + t[0])([a, b])
    elif kind == "h1c+1wc":
        rows = k.layers.Lambda(lambda t: tf.reduce_mean(t, axis=2, keepdims=True))(a)
        cols = k.layers.Lambda(lambda t: tf.reduce_mean(t, axis=1, keepdims=True))(x)
        out = k.layers.Lambda(lambda t: t[0] + t[1])([rows, cols])
    else:  # "hwc+vector": [1,H,W,C] + [1,C] (rank 4 + rank 2, aligned on the right)
        b = k.layers.GlobalAveragePooling2D()(x)
        out = k.layers.Lambda(lambda t: t[0] + t[1])([a, b])
    model = k.Model(x, out)
    _randomise(model, seed)
    return model


@pytest.mark.parametrize("kind", ["hwc+c11", "c11+hwc", "h1c+1wc", "hwc+vector"])
def test_add_broadcast_bit_exact(kind, tmp_path):
    in_shape = (5, 7, 3)
    tfl = to_int8_tflite(_broadcast_model(kind, in_shape, 1), seed=2)
    adds = [n for n in read_tflite(tfl).nodes if n.op == "ADD"]
    assert len(adds) == 1
    g = read_tflite(tfl)
    assert g.tensors[adds[0].inputs[0]].shape != g.tensors[adds[0].inputs[1]].shape
    x = random_int8(in_shape, N_SAMPLES, seed=3)
    np.testing.assert_array_equal(run_generated(tfl, x, tmp_path), run_tflm(tfl, x), err_msg=kind)


def requantise(tflite_bytes: bytes, changes: dict) -> bytes:
    """Re-quantise tensors {index: (scale, zero_point)} in the flatbuffer."""
    def edit(model):
        for t, (scale, zp) in changes.items():
            set_quantization(model.subgraphs[0].tensors[t], scale, zp)
    return edit_tflite(tflite_bytes, edit)


@pytest.fixture(scope="module")
def residual_7x5x3():
    return to_int8_tflite(_residual_model((7, 5, 3), 42), seed=42)


@pytest.mark.parametrize("seed", range(12))
def test_add_random_scales_bit_exact(seed, residual_7x5x3, tmp_path):
    """One residual model; both ADD inputs and its output re-quantised at random (ratios up to 1e3)."""
    rng = np.random.default_rng(9000 + seed)
    g = read_tflite(residual_7x5x3)
    add = [n for n in g.nodes if n.op == "ADD"][0]
    changes = {t: (float(np.float32(10 ** rng.uniform(-3, 0))), int(rng.integers(-128, 128)))
               for t in (*add.inputs, add.outputs[0])}
    tfl = patch_activation(requantise(residual_7x5x3, changes), "ADD", [0, 1, 3][seed % 3])
    x = random_int8((7, 5, 3), N_SAMPLES, seed=seed)
    ref = run_tflm(tfl, x)
    for variant in ELEMENTWISE_VARIANTS:
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, variant), ref, err_msg=f"{variant} {changes}")


def _fast_mode(tfl: bytes):
    calls = [c for c in lower(tfl, Options(variant="fast")).calls if c.op == "ADD"]
    assert len(calls) == 1
    return calls[0].fields["mode"] if calls[0].variant == "fast" else None


# (scale1, scale2, output scale, zero points, activation): mode 1 (one-step requantisation) where no
# Q12 tables exist: exact ties rounded away from zero on both sides, an output 10^4 times finer than
# the inputs; mode 0 for plain and nearly-equal scales.
MODE_CASES = [((0.1, 0.05, 0.3), (0, 0, 0), 0, 1), ((0.01, 0.01, 1e-6), (5, -7, 3), 1, 1),
              ((0.01, 0.01, 1e-6), (0, 0, 0), 0, 1), ((0.02, 0.02, 0.02), (0, 0, 0), 0, 0),
              ((0.011, 0.016, 0.012), (-128, -56, -128), 1, 0), ((0.05, 0.001, 0.04), (3, 100, -9), 3, 0)]


@pytest.mark.parametrize("case", range(len(MODE_CASES)))
def test_add_fast_modes_bit_exact(case, residual_7x5x3, tmp_path):
    (s1, s2, so), (z1, z2, zo), act, mode = MODE_CASES[case]
    g = read_tflite(residual_7x5x3)
    add = [n for n in g.nodes if n.op == "ADD"][0]
    changes = {add.inputs[0]: (s1, z1), add.inputs[1]: (s2, z2), add.outputs[0]: (so, zo)}
    tfl = patch_activation(requantise(residual_7x5x3, changes), "ADD", act)
    assert _fast_mode(tfl) == mode
    x = random_int8((7, 5, 3), N_SAMPLES, seed=case)
    ref = run_tflm(tfl, x)
    for variant in ELEMENTWISE_VARIANTS:
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, variant), ref, err_msg=f"{variant} {changes}")


def _add_fields(s1, s2, so, z1, z2, zo, act) -> dict:
    act_min, act_max = quant.activation_range(act, so, zo)
    return {"left_shift": LEFT_SHIFT, "input1_offset": -z1, "input2_offset": -z2, "output_offset": zo,
            "act_min": act_min, "act_max": act_max, **add_scalars(s1, s2, so)}


def _scalar_add(p: dict, x1: int, x2: int) -> int:
    """TFLite's int8 ADD for one pair, with the scalar primitives of export/quant.py."""
    def rescale(x, mult, shift):
        return quant.rounding_divide_by_pot(quant.saturating_rounding_doubling_high_mul(x, mult), -shift)
    a = rescale((x1 + p["input1_offset"]) * (1 << p["left_shift"]), p["input1_mult"], p["input1_shift"])
    b = rescale((x2 + p["input2_offset"]) * (1 << p["left_shift"]), p["input2_mult"], p["input2_shift"])
    out = rescale(a + b, p["output_mult"], p["output_shift"]) + p["output_offset"]
    return min(max(out, p["act_min"]), p["act_max"])


def _random_fields(rng):
    while True:
        scales = [float(np.float32(10 ** rng.uniform(-4, 0))) for _ in range(3)]
        if rng.random() < 0.3:  # equal or simply related scales: exact ties
            scales[1] = scales[0] * float(rng.choice([1, 0.5, 2]))
            scales[2] = scales[0] * float(rng.choice([1, 2, 3, 4, 0.5]))
        try:
            return _add_fields(*scales, *(int(v) for v in rng.integers(-128, 128, 3)), int(rng.choice([0, 1, 2, 3])))
        except AssertionError:  # scales outside what TFLite's int8 ADD supports
            continue


def test_add_reference_model_matches_scalar_primitives():
    rng = np.random.default_rng(5)
    for _ in range(40):
        p = _random_fields(rng)
        _, _, out = quant.add_reference_outputs(p)
        for x1, x2 in rng.integers(-128, 128, size=(64, 2)):
            assert out[x1 & 0xFF, x2 & 0xFF] == _scalar_add(p, int(x1), int(x2)), (p, x1, x2)


def test_add_fast_tables_exact_on_every_pair():
    """Whatever add_fast_tables returns reproduces every input pair (both modes occur), and it
    returns tables for nearly every ADD."""
    rng = np.random.default_rng(6)
    modes = []
    for _ in range(150):
        p = _random_fields(rng)
        fast = quant.add_fast_tables(p)
        modes.append(None if fast is None else fast["mode"])
        if fast is not None:
            _, _, ref = quant.add_reference_outputs(p)
            got = quant.add_fast_simulate(fast, fast["table1"], fast["table2"])
            np.testing.assert_array_equal(got, ref, err_msg=str(p))
            assert fast["table1"].dtype == np.int32 and fast["table1"].shape == (256,)
    assert modes.count(quant.ADD_FAST_TABLE) > 120 and modes.count(None) <= 3, modes
