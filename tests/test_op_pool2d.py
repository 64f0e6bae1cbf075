"""MAX_POOL_2D and AVERAGE_POOL_2D: generated C equals TFLM element for element, every variant.

Random shapes (odd channel counts, and counts that use the fast variants' 16- and 4-channel groups
and their single-channel tail), pool sizes, strides (1-3), SAME/VALID (SAME windows at the border
cover fewer elements: AVG divides by the in-image count), global windows (whole rows walked as one
run). The converter does not fuse an activation into int8 pooling, so the RELU/RELU6 cases patch
fused_activation_function into the flatbuffer; TFLM honours it, and so must the kernels.
"""
import numpy as np
import pytest

from harness import patch_activation, random_int8, run_generated, run_tflm, to_int8_tflite
from sparsemcu.export.ops.base import LoweringContext, candidates
from sparsemcu.export.tflite_reader import read_tflite
from sparsemcu.tf import keras

N_SAMPLES = 50
ACT_CODES = {None: 0, "relu": 1, "relu6": 3}


def _random_case(seed):
    rng = np.random.default_rng(2000 + seed)
    p_h, p_w = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    strides = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding = str(rng.choice(["same", "valid"]))
    h, w = int(rng.integers(p_h, 13)), int(rng.integers(p_w, 13))
    c = int(rng.choice([1, 3, 5, 8]))
    return (h, w, c), (p_h, p_w), strides, padding, [None, "relu", "relu6"][seed % 3]


CASES = [_random_case(s) for s in range(6)] + [
    ((9, 9, 3), (3, 3), (2, 2), "same", None),
    ((7, 6, 5), (2, 2), (2, 2), "same", "relu6"),
    ((5, 8, 1), (5, 8), (1, 1), "valid", "relu"),  # one global window
    ((4, 4, 2), (3, 3), (1, 1), "same", None),   # windows clipped on every side
    ((8, 8, 64), (8, 8), (8, 8), "valid", None),  # resnet8's global pool
    ((9, 7, 35), (3, 3), (2, 2), "same", "relu"),  # 16 + 16 + 3 channels, clipped windows
    ((6, 10, 20), (2, 2), (2, 2), "valid", "relu6"),  # 16 + 4 channels
    ((11, 5, 16), (11, 5), (1, 1), "valid", None),  # global window, whole rows
    ((10, 9, 12), (4, 3), (3, 1), "same", "relu"),  # 4-channel groups only
    ((5, 5, 7), (5, 2), (1, 2), "same", None),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_pool2d_bit_exact(kind, case, tmp_path):
    k = keras()
    in_shape, pool, strides, padding, act = CASES[case]
    layer = (k.layers.MaxPooling2D if kind == "max" else k.layers.AveragePooling2D)(pool, strides, padding)
    model = k.Sequential([k.layers.Input(in_shape), layer])
    tfl = to_int8_tflite(model, seed=case)
    op = "MAX_POOL_2D" if kind == "max" else "AVERAGE_POOL_2D"
    if act is not None:
        tfl = patch_activation(tfl, op, ACT_CODES[act])
    nodes = [n for n in read_tflite(tfl).nodes if n.op == op]
    assert len(nodes) == 1 and nodes[0].options["fused_activation_function"] == ACT_CODES[act]
    g = read_tflite(tfl)
    proposed = {c.variant for c in candidates(LoweringContext(g, nodes[0]))}
    assert proposed == {"generic", "fast"}
    x = random_int8(in_shape, N_SAMPLES, seed=case)
    ref = run_tflm(tfl, x)
    for variant in sorted(proposed):
        np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, variant), ref, err_msg=f"{variant} {CASES[case]}")


def test_avg_pool_fast_only_for_windows_up_to_256(tmp_path):
    """A 17x16 window (272 elements) could overflow the fast kernel's 16-bit lane sums: generic only."""
    k = keras()
    for pool, expected in (((17, 16), {"generic"}), ((16, 16), {"generic", "fast"})):
        model = k.Sequential([k.layers.Input((17, 16, 4)), k.layers.AveragePooling2D(pool, 1, "valid")])
        tfl = to_int8_tflite(model, seed=0)
        g = read_tflite(tfl)
        node = [n for n in g.nodes if n.op == "AVERAGE_POOL_2D"][0]
        assert {c.variant for c in candidates(LoweringContext(g, node))} == expected
        x = np.full((2, 17, 16, 4), -128, np.int8)  # the extreme sums
        x[1] = 127
        ref = run_tflm(tfl, x)
        for variant in sorted(expected):
            np.testing.assert_array_equal(run_generated(tfl, x, tmp_path, variant), ref, err_msg=f"{variant} {pool}")
