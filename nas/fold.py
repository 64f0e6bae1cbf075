"""Fold batch normalisation into the layer before it, so pruning and the exporter see plain layers.

A trained `Conv2D | DepthwiseConv2D | Dense (linear) -> BatchNormalization [-> ReLU]` becomes one
layer with the ReLU as its activation and

    kernel' = kernel * gamma / sqrt(var + eps)      (per output channel)
    bias'   = beta + (bias - mean) * gamma / sqrt(var + eps)

which computes the same function as the inference-mode original. The folded model keeps the
original layer names (the BN/ReLU layers' names disappear), so weight inheritance by name works
across folded and unfolded models.
"""
from __future__ import annotations

import numpy as np

from sparsemcu.errors import SparsemcuError


def _keras():
    from sparsemcu.tf import keras
    return keras()


def _is_relu(layer) -> bool:
    keras = _keras()
    if isinstance(layer, keras.layers.ReLU):
        cfg = layer.get_config()
        return not cfg.get("max_value") and not cfg.get("negative_slope") and not cfg.get("threshold")
    return isinstance(layer, keras.layers.Activation) and layer.get_config().get("activation") == "relu"


def has_batchnorm(model) -> bool:
    keras = _keras()
    return any(isinstance(l, keras.layers.BatchNormalization) for l in model.layers)


def _folded_weights(layer, bn) -> list[np.ndarray]:
    keras = _keras()
    ws = layer.get_weights()
    k = ws[0]
    gamma, beta, mean, var = _bn_full(bn)
    scale = gamma / np.sqrt(var + bn.epsilon)
    bias = ws[1] if layer.use_bias else np.zeros_like(mean)
    if isinstance(layer, keras.layers.DepthwiseConv2D):  # (kh, kw, C, mult): out channel = c * mult + m
        k = k * scale.reshape(k.shape[2], k.shape[3])[None, None]
    else:
        k = k * scale  # last axis is the output channel
    return [k.astype(np.float32), (beta + (bias - mean) * scale).astype(np.float32)]


def _bn_full(bn):
    """gamma, beta, mean, var of a BN layer built without scale or centre."""
    ws = bn.get_weights()
    n = ws[-1].shape[0]
    it = iter(ws)
    gamma = next(it) if bn.scale else np.ones(n, np.float32)
    beta = next(it) if bn.center else np.zeros(n, np.float32)
    return gamma, beta, next(it), next(it)


def fold_batchnorm(model):
    """A plain Sequential computing the inference function of `model` with every BN folded."""
    keras = _keras()
    if not isinstance(model, keras.Sequential):
        raise SparsemcuError(f"batch-norm folding needs a Sequential model; got {type(model).__name__}")
    if not has_batchnorm(model):
        return model
    layers = list(model.layers)
    new_layers = [keras.layers.Input(model.input_shape[1:])]
    weights: list[list[np.ndarray] | None] = []
    i = 0
    linear = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    while i < len(layers):
        l = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(l, linear) and isinstance(nxt, keras.layers.BatchNormalization):
            if keras.activations.serialize(l.activation) != "linear":
                raise SparsemcuError(f"cannot fold {nxt.name}: {l.name} has an activation before it")
            relu = i + 2 < len(layers) and _is_relu(layers[i + 2])
            cfg = l.get_config()
            cfg.update(use_bias=True, activation="relu" if relu else "linear")
            new_layers.append(type(l).from_config(cfg))
            weights.append(_folded_weights(l, nxt))
            i += 3 if relu else 2
            continue
        if isinstance(l, keras.layers.BatchNormalization):
            raise SparsemcuError(f"cannot fold {l.name}: it does not follow a Conv2D/DepthwiseConv2D/Dense layer")
        new_layers.append(type(l).from_config(l.get_config()))
        weights.append(l.get_weights() or None)
        i += 1
    folded = keras.Sequential(new_layers, name=model.name)
    for layer, w in zip(folded.layers, weights):
        if w is not None:
            layer.set_weights(w)
    return folded
