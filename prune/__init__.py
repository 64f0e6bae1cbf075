"""Pruning: Sparse Variational Dropout (unstructured), Bayesian Compression (structured,
removes channels) and magnitude pruning (tensorflow-model-optimization).

Every method takes a trained Sequential tf_keras model and training data and returns a
`PruneResult` whose `.model` uses standard Keras layers only; pruned weights are exactly
zero (they stay zero through symmetric int8 quantisation) and removed channels are gone.
Batch normalisation is folded into the layer before it first (`sparsemcu.nas.fold`), so the
methods only ever see plain Conv2D / DepthwiseConv2D / Dense layers.
"""
from __future__ import annotations

from .common import PruneResult, channel_counts, nonzero_weights, sparsity

METHODS = ("none", "svd", "bc", "magnitude")


def _method(method: str):
    from sparsemcu.errors import SparsemcuError
    if method == "svd":
        from .svd import prune_svd
        return prune_svd
    if method in ("bc", "bayesian_compression"):
        from .bayesian_compression import prune_bayesian_compression
        return prune_bayesian_compression
    if method == "magnitude":
        from .magnitude import prune_magnitude
        return prune_magnitude
    raise SparsemcuError(f"unknown pruning method {method!r}: use one of {', '.join(METHODS)}")


def apply(method: str, model, x, y, **params) -> PruneResult:
    """Prune `model` with `method` in METHODS ('none' returns it unchanged). A parameter the method
    does not take is an error (a misspelt one must not be dropped silently)."""
    import inspect

    from sparsemcu.errors import SparsemcuError
    from sparsemcu.nas.fold import fold_batchnorm
    if method in (None, "none"):
        model = fold_batchnorm(model)
        return PruneResult(model, "none", {"sparsity": sparsity(model)})
    fn = _method(method)
    takes = [n for n, p in inspect.signature(fn).parameters.items() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(params) - set(takes))
    if unknown:
        raise SparsemcuError(f"pruning method {method!r} has no parameter {', '.join(unknown)}; "
                             f"it takes {', '.join(takes)}")
    return fn(fold_batchnorm(model), x, y, **params)


__all__ = ["apply", "METHODS", "PruneResult", "sparsity", "nonzero_weights", "channel_counts"]
