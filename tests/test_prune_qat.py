"""Quantisation-aware fine-tuning (used by the search only when int8 loses accuracy) keeps
pruned weights exactly zero and the int8 accuracy within tolerance."""
from __future__ import annotations

import pytest

from test_prune_svd import TOL, _base, int8_zero_weights

pytestmark = pytest.mark.filterwarnings("ignore")


def test_qat_preserves_zeros_and_accuracy():
    import numpy as np
    from sparsemcu import prune
    from sparsemcu.export.quantize import keras_to_int8_tflite
    from sparsemcu.nas.objectives import int8_accuracy
    from sparsemcu.prune.common import kernel_of, weighted_layers
    from sparsemcu.prune.qat import qat_finetune
    ds, model, base_acc = _base(seed=4)
    pruned = prune.apply("magnitude", model, ds.x_train, ds.y_train, epochs=2, batch_size=32, lr=2e-3,
                         target_sparsity=0.6).model
    zeros = [kernel_of(l).numpy() == 0 for l in weighted_layers(pruned)]
    q = qat_finetune(pruned, ds.x_train, ds.y_train, epochs=1, batch_size=32, lr=5e-4)
    for z, l in zip(zeros, weighted_layers(q)):
        assert np.all(kernel_of(l).numpy()[z] == 0)          # zeros stay zero
    assert not all(np.array_equal(kernel_of(a).numpy(), kernel_of(b).numpy())
                   for a, b in zip(weighted_layers(pruned), weighted_layers(q)))  # weights were tuned
    tfl = keras_to_int8_tflite(q, ds.x_train[:200])
    assert int8_zero_weights(tfl) >= sum(int(z.sum()) for z in zeros)
    assert int8_accuracy(tfl, ds.x_test, ds.y_test) >= base_acc - TOL
