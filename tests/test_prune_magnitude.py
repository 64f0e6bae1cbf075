"""Magnitude pruning (tensorflow-model-optimization) reaches its target sparsity on digits
within the accuracy tolerance; int8 quantisation keeps the zeros and the accuracy."""
from __future__ import annotations

import pytest

from test_prune_svd import TOL, _base, int8_zero_weights

pytestmark = pytest.mark.filterwarnings("ignore")


def test_magnitude_sparsity_accuracy_int8():
    import numpy as np
    from sparsemcu import prune
    from sparsemcu.export.quantize import keras_to_int8_tflite
    from sparsemcu.nas.objectives import int8_accuracy
    from sparsemcu.prune.common import accuracy, kernel_of, weighted_layers
    ds, model, base_acc = _base(seed=1)
    res = prune.apply("magnitude", model, ds.x_train, ds.y_train, epochs=3, batch_size=32, lr=2e-3,
                      target_sparsity=0.75)
    pruned = res.model
    assert res.info["sparsity"] >= 0.70, res.info
    assert accuracy(pruned, ds.x_test, ds.y_test) >= base_acc - TOL
    assert not any("Prune" in type(l).__name__ for l in pruned.layers)  # stripped
    zeros = sum(int(np.count_nonzero(kernel_of(l).numpy() == 0)) for l in weighted_layers(pruned))
    tfl = keras_to_int8_tflite(pruned, ds.x_train[:200])
    assert int8_zero_weights(tfl) >= zeros
    assert int8_accuracy(tfl, ds.x_test, ds.y_test) >= base_acc - TOL


def test_unknown_pruning_parameter_is_an_error():
    """A misspelt parameter is named, with what the method takes, before any work (never dropped)."""
    from sparsemcu import prune
    from sparsemcu.errors import SparsemcuError
    with pytest.raises(SparsemcuError, match=r"'magnitude' has no parameter target_sparsty; it takes .*target_sparsity"):
        prune.apply("magnitude", None, None, None, target_sparsty=0.5)
    with pytest.raises(SparsemcuError, match="unknown pruning method 'l1'"):
        prune.apply("l1", None, None, None)
