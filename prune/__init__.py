"""Pruning: Sparse Variational Dropout (unstructured), Bayesian Compression (structured,
removes channels) and magnitude pruning (tensorflow-model-optimization).

Every method takes a trained Sequential tf_keras model and training data and returns a
`PruneResult` whose `.model` uses standard Keras layers only; pruned weights are exactly
zero (they stay zero through symmetric int8 quantisation) and removed channels are gone.
"""
from __future__ import annotations

from .common import PruneResult, channel_counts, nonzero_weights, sparsity

METHODS = ("none", "svd", "bc", "magnitude")


def apply(method: str, model, x, y, **params) -> PruneResult:
    """Prune `model` with `method` in METHODS ('none' returns it unchanged)."""
    from sparsemcu.errors import SparsemcuError
    if method in (None, "none"):
        return PruneResult(model, "none", {"sparsity": sparsity(model)})
    if method == "svd":
        from .svd import prune_svd
        return prune_svd(model, x, y, **params)
    if method in ("bc", "bayesian_compression"):
        from .bayesian_compression import prune_bayesian_compression
        return prune_bayesian_compression(model, x, y, **params)
    if method == "magnitude":
        from .magnitude import prune_magnitude
        return prune_magnitude(model, x, y, **params)
    raise SparsemcuError(f"unknown pruning method {method!r}: use one of {', '.join(METHODS)}")


__all__ = ["apply", "METHODS", "PruneResult", "sparsity", "nonzero_weights", "channel_counts"]
