"""Magnitude pruning with tensorflow-model-optimization (Zhu & Gupta schedule).

`prune_low_magnitude` wraps the layers, the sparsity follows a PolynomialDecay (0 to the
target over the first ~2/3 of fine-tuning) or ConstantSparsity schedule, and
`strip_pruning` returns plain Keras layers whose pruned weights are exactly zero.
"""
from __future__ import annotations

import numpy as np
import tensorflow_model_optimization as tfmot

from .common import PruneResult, fit, masked_finetune, require_sequential, sparsity


def prune_magnitude(model, x, y, *, epochs: int = 2, batch_size: int = 64, lr: float = 1e-3,
                    target_sparsity: float = 0.75, schedule: str = "polynomial",
                    finetune_epochs: int = 0) -> PruneResult:
    require_sequential(model, "magnitude")
    before = sparsity(model)
    target = float(min(max(target_sparsity, 0.0), 0.99))
    steps = int(np.ceil(len(x) / batch_size)) * max(1, int(epochs))
    sk = tfmot.sparsity.keras
    if schedule == "constant":
        sched = sk.ConstantSparsity(target, begin_step=0, frequency=max(1, steps // 20))
    else:
        sched = sk.PolynomialDecay(initial_sparsity=0.0, final_sparsity=target, begin_step=0,
                                   end_step=max(1, int(steps * 0.67)), frequency=max(1, steps // 20))
    wrapped = sk.prune_low_magnitude(model, pruning_schedule=sched)
    fit(wrapped, x, y, epochs=max(1, int(epochs)), batch_size=batch_size, lr=lr,
        callbacks=[sk.UpdatePruningStep()])
    pruned = sk.strip_pruning(wrapped)
    if finetune_epochs > 0:
        masked_finetune(pruned, x, y, epochs=finetune_epochs, batch_size=batch_size, lr=lr / 3)
    return PruneResult(pruned, "magnitude", {"sparsity_before": before, "sparsity": sparsity(pruned),
                                             "target_sparsity": target, "schedule": schedule})
