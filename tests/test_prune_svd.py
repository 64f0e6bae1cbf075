"""Sparse Variational Dropout raises sparsity on digits, keeps accuracy, and its zeros stay
zero in the int8 TFLite model (so the exporter stores them sparse)."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore")

TOL = 0.04  # accuracy drop allowed (absolute, on the 450-image digits test set)


def _base(seed=0):
    import tf_keras as keras
    from sparsemcu import datasets
    from sparsemcu.nas.space import BlockSpec, Candidate, LayerSpec, build_model
    from sparsemcu.prune.common import accuracy, fit
    keras.utils.set_random_seed(seed)
    ds = datasets.load("digits")
    cand = Candidate([BlockSpec([LayerSpec("conv", 16, 3)], "max"), BlockSpec([LayerSpec("dw", 24, 3)], "none")],
                     "flatten", [32])
    m = build_model(cand, ds.input_shape, ds.num_classes, batchnorm=False)  # plain layers (BN: test_nas_fold_morph)
    fit(m, ds.x_train, ds.y_train, epochs=8, batch_size=32, lr=3e-3)
    return ds, m, accuracy(m, ds.x_test, ds.y_test)


def int8_zero_weights(tflite: bytes) -> int:
    """Exact zeros in the int8 weight tensors (rank >= 2 constants) of a TFLite model."""
    import tensorflow as tf
    it = tf.lite.Interpreter(model_content=tflite)
    n = 0
    for d in it.get_tensor_details():
        if d["dtype"] == np.int8 and len(d["shape"]) >= 2:
            try:
                t = it.get_tensor(d["index"])
            except ValueError:
                continue
            n += int(np.count_nonzero(t == 0))
    return n


def test_svd_sparsity_accuracy_int8():
    from sparsemcu import prune
    from sparsemcu.export.pipeline import footprint
    from sparsemcu.export.quantize import keras_to_int8_tflite
    from sparsemcu.nas.objectives import int8_accuracy
    from sparsemcu.prune.common import accuracy, kernel_of, weighted_layers
    ds, model, base_acc = _base()
    assert base_acc > 0.9
    before = prune.sparsity(model)
    dense_fp = footprint(keras_to_int8_tflite(model, ds.x_train[:200]))
    res = prune.apply("svd", model, ds.x_train, ds.y_train, epochs=3, batch_size=32, lr=3e-3)
    pruned = res.model
    assert res.info["sparsity"] >= 0.5 > before, res.info
    assert accuracy(pruned, ds.x_test, ds.y_test) >= base_acc - TOL
    # standard layers only, pruned weights exactly zero
    assert all(type(l).__module__.startswith("tf_keras") for l in pruned.layers)
    zeros = sum(int(np.count_nonzero(kernel_of(l).numpy() == 0)) for l in weighted_layers(pruned))
    tfl = keras_to_int8_tflite(pruned, ds.x_train[:200])
    assert int8_zero_weights(tfl) >= zeros
    assert int8_accuracy(tfl, ds.x_test, ds.y_test) >= base_acc - TOL
    # the exporter stores the zeros sparse: less flash than the unpruned model
    assert footprint(tfl)["flash_bytes"] < dense_fp["flash_bytes"]
