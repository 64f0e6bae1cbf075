"""Batch norm in the search's models: folding is exact, the exporter sees only plain layers and
stays bit-exact against TFLM; network morphism keeps the parent's function."""
from __future__ import annotations

import numpy as np
import pytest

from harness import run_generated, run_tflm
from sparsemcu.export.quantize import keras_to_int8_tflite
from sparsemcu.export.tflite_reader import read_tflite
from sparsemcu.nas.fold import fold_batchnorm, has_batchnorm
from sparsemcu.nas.space import BlockSpec, Candidate, LayerSpec, build_model

pytestmark = pytest.mark.filterwarnings("ignore")

SHAPE = (12, 12, 1)


def _every_block_kind(filters=6, kernel=3, dense=(8,)):
    """Every layer kind, strided too (SAME padding on odd sizes: 12 -> 6 -> pool 3 -> 2 -> pool 1)."""
    return Candidate([BlockSpec([LayerSpec("dw", filters, kernel, stride=2), LayerSpec("conv", filters, kernel)], "max"),
                      BlockSpec([LayerSpec("down", filters, kernel, max(1, filters // 2), stride=2)], "avg")],
                     "flatten", list(dense))


def _randomise_bn(model, seed=0):
    """Trained-looking batch-norm statistics (the initial ones are the identity)."""
    import tf_keras as keras
    rng = np.random.default_rng(seed)
    for l in model.layers:
        if isinstance(l, keras.layers.BatchNormalization):
            n = l.get_weights()[0].shape[0]
            l.set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 0.3, n), rng.normal(0, 0.3, n),
                           rng.uniform(0.3, 3, n)])


def test_folding_is_exact_and_exports_plain_layers_bit_exact(tmp_path):
    import tf_keras as keras
    keras.utils.set_random_seed(0)
    model = build_model(_every_block_kind(), SHAPE, 10)
    assert has_batchnorm(model)
    _randomise_bn(model)
    folded = fold_batchnorm(model)
    assert not has_batchnorm(folded)
    assert not any(isinstance(l, keras.layers.ReLU) for l in folded.layers)
    x = np.random.default_rng(1).random((32, *SHAPE), np.float32)
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)

    tfl = keras_to_int8_tflite(folded, x)
    ops = {n.op for n in read_tflite(tfl).nodes}
    assert ops <= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE"}, ops
    # the converter, given the unfolded model, folds batch norm into the same kinds of op
    ops_bn = {n.op for n in read_tflite(keras_to_int8_tflite(model, x)).nodes}
    assert ops_bn == ops
    xq = np.random.default_rng(2).integers(-128, 128, (8, *SHAPE), dtype=np.int8)
    np.testing.assert_array_equal(run_generated(tfl, xq, tmp_path), run_tflm(tfl, xq))


def test_pruning_accepts_a_batchnorm_model():
    import tf_keras as keras

    from sparsemcu import prune
    keras.utils.set_random_seed(0)
    model = build_model(_every_block_kind(), SHAPE, 10)
    _randomise_bn(model)
    x = np.random.default_rng(0).random((64, *SHAPE), np.float32)
    y = np.random.default_rng(1).integers(0, 10, 64)
    res = prune.apply("magnitude", model, x, y, epochs=1, batch_size=32, target_sparsity=0.5)
    assert not has_batchnorm(res.model) and res.info["sparsity"] > 0.3


def test_morphism_preserves_the_parents_function(tmp_path):
    import copy

    import tf_keras as keras

    from sparsemcu.nas.morph import morph_into
    keras.utils.set_random_seed(0)
    cand = Candidate([BlockSpec([LayerSpec("conv", 4, 3, stride=2)], "max"), BlockSpec([LayerSpec("dw", 6, 3)], "none")],
                     "flatten", [8])
    parent = build_model(cand, SHAPE, 10)
    _randomise_bn(parent)
    parent.save(tmp_path / "parent.keras")
    child_cand = copy.deepcopy(cand)
    for b, f in zip(child_cand.blocks, (7, 9)):   # widen both blocks: the dw block and Flatten -> Dense follow
        b.layers[0].filters = f
    child_cand.blocks[1].layers.append(LayerSpec("conv", 9, 3))   # deepen
    child_cand.blocks[0].layers[0].kernel = 5                      # grow a (strided) kernel
    child_cand.dense = [13]                                        # widen the dense layer
    child = build_model(child_cand, SHAPE, 10)
    x = np.random.default_rng(3).random((16, *SHAPE), np.float32)
    info = morph_into(child, tmp_path / "parent.keras", x)
    assert info["function_preserving"], info
    np.testing.assert_allclose(child.predict(x, verbose=0), parent.predict(x, verbose=0), atol=1e-3)
    ops = " ".join(info["morph_ops"])
    assert all(k in ops for k in ("widen b0_l0_conv", "widen b1_l0_pw", "deepen b1_l1_conv", "kernel 3->5",
                                  "widen d0")), ops


def test_morphism_that_cannot_preserve_says_so(tmp_path):
    import tf_keras as keras

    from sparsemcu.nas.morph import morph_into
    keras.utils.set_random_seed(0)
    parent = build_model(Candidate([BlockSpec([LayerSpec("conv", 4, 3)], "max")], "gap"), SHAPE, 10)
    parent.save(tmp_path / "parent.keras")
    child = build_model(Candidate([BlockSpec([LayerSpec("conv", 2, 3)], "max")], "gap"), SHAPE, 10)  # narrower
    info = morph_into(child, tmp_path / "parent.keras", np.random.default_rng(0).random((4, *SHAPE), np.float32))
    assert info["function_preserving"] is False and any("narrow" in op for op in info["morph_ops"])
