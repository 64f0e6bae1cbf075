"""Bayesian Compression removes whole channels (the rebuilt model is smaller), keeps
accuracy on digits within the tolerance, and lowers the exporter's arena bytes."""
from __future__ import annotations

import pytest

from test_prune_svd import _base

pytestmark = pytest.mark.filterwarnings("ignore")

TOL_BC = 0.05


def test_bc_removes_channels_and_lowers_arena():
    from sparsemcu import prune
    from sparsemcu.export.pipeline import footprint
    from sparsemcu.export.quantize import keras_to_int8_tflite
    from sparsemcu.nas.objectives import int8_accuracy
    from sparsemcu.prune.common import accuracy, channel_counts
    ds, model, base_acc = _base(seed=2)
    before = channel_counts(model)
    fp_before = footprint(keras_to_int8_tflite(model, ds.x_train[:200]))
    res = prune.apply("bc", model, ds.x_train, ds.y_train, epochs=3, batch_size=32, lr=3e-3, kl_scale=8.0)
    after = channel_counts(res.model)
    assert after[-1] == before[-1] == 10          # the logits are never pruned
    assert sum(after) < sum(before), (before, after)
    assert all(a <= b for a, b in zip(after, before))
    assert res.model.count_params() < model.count_params()
    assert accuracy(res.model, ds.x_test, ds.y_test) >= base_acc - TOL_BC
    tfl = keras_to_int8_tflite(res.model, ds.x_train[:200])
    fp = footprint(tfl)
    assert fp["arena_bytes"] < fp_before["arena_bytes"], (fp_before, fp)
    assert fp["flash_bytes"] < fp_before["flash_bytes"]
    assert fp["macs"] < fp_before["macs"]
    assert int8_accuracy(tfl, ds.x_test, ds.y_test) >= base_acc - TOL_BC


def test_bc_rebuild_is_exact_for_kept_channels():
    """With the threshold above every log alpha nothing is removed, and the rebuilt model
    computes what the gated model computes at inference (mu folded into the weights)."""
    import numpy as np
    from sparsemcu import prune
    from sparsemcu.prune.common import channel_counts
    ds, model, _ = _base(seed=3)
    res = prune.apply("bc", model, ds.x_train[:256], ds.y_train[:256], epochs=1, batch_size=64, lr=1e-3,
                      kl_scale=0.1, threshold=100.0, finetune_epochs=0)
    assert channel_counts(res.model) == channel_counts(model)
    out = res.model.predict(ds.x_test[:32], verbose=0)
    assert np.all(np.isfinite(out))


def test_non_sequential_is_a_clear_error():
    import tf_keras as keras
    from sparsemcu import prune
    from sparsemcu.errors import SparsemcuError
    inp = keras.layers.Input((8, 8, 1))
    m = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(inp)))
    with pytest.raises(SparsemcuError, match="Sequential"):
        prune.apply("bc", m, None, None)
