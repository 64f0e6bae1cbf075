"""Shared helpers for the pruning methods: training, sparsity counting, masked fine-tuning."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sparsemcu.errors import SparsemcuError
from sparsemcu.tf import keras as _quiet_keras

keras = _quiet_keras()  # tf_keras (Keras 2), TensorFlow imported without its C++ banner

# Layers whose kernels are pruned (biases are never pruned: they are int32 and few).
WEIGHTED = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


@dataclass
class PruneResult:
    model: "keras.Model"          # standard Keras layers only: ready for the exporter
    method: str
    info: dict = field(default_factory=dict)


def kernel_of(layer):
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return layer.depthwise_kernel
    return layer.kernel


def weighted_layers(model):
    return [l for l in model.layers if isinstance(l, WEIGHTED)]


def sparsity(model) -> float:
    """Fraction of exactly-zero kernel weights over all Conv2D/DepthwiseConv2D/Dense layers."""
    total = zeros = 0
    for l in weighted_layers(model):
        k = kernel_of(l).numpy()
        total += k.size
        zeros += int(np.count_nonzero(k == 0))
    return zeros / total if total else 0.0


def nonzero_weights(model) -> int:
    return int(sum(np.count_nonzero(kernel_of(l).numpy()) for l in weighted_layers(model)))


def channel_counts(model) -> list[int]:
    """Output channels/units of every Conv2D and Dense layer, in order."""
    out = []
    for l in model.layers:
        if isinstance(l, keras.layers.DepthwiseConv2D):
            continue
        if isinstance(l, keras.layers.Conv2D):
            out.append(int(l.filters))
        elif isinstance(l, keras.layers.Dense):
            out.append(int(l.units))
    return out


def compile_model(model, lr: float):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def fit(model, x, y, *, epochs: int, batch_size: int, lr: float, callbacks=None, compile=True, seed=None):
    if compile:
        compile_model(model, lr)
    if epochs <= 0:
        return model
    model.fit(x, y, epochs=int(epochs), batch_size=int(batch_size), verbose=0,
              callbacks=list(callbacks or []), shuffle=True)
    return model


def accuracy(model, x, y, batch_size: int = 512) -> float:
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def masks_of(model) -> list[tuple[object, np.ndarray]]:
    return [(kernel_of(l), (kernel_of(l).numpy() != 0).astype(np.float32)) for l in weighted_layers(model)]


class KeepMasks(keras.callbacks.Callback):
    """Re-apply fixed zero masks after every batch, so fine-tuning keeps pruned weights at 0."""

    def __init__(self, masks):
        super().__init__()
        self.masks = masks

    def _apply(self):
        for var, m in self.masks:
            var.assign(var * m)

    def on_train_batch_end(self, batch, logs=None):
        self._apply()

    def on_train_end(self, logs=None):
        self._apply()


def zero_smallest_weights(model, fraction: float):
    """One-shot magnitude pruning: in every weighted layer, zero the `fraction` of kernel
    weights with the smallest magnitude (|w| <= the layer's quantile). Returns the model."""
    if fraction <= 0:
        return model
    for l in weighted_layers(model):
        var = kernel_of(l)
        k = var.numpy()
        var.assign(np.where(np.abs(k) <= np.quantile(np.abs(k), fraction), 0.0, k).astype(k.dtype))
    return model


class KLWarmup(keras.callbacks.Callback):
    """Linear KL annealing: each layer's `kl_factor` goes from 0 to `final` over the first half of training."""

    def __init__(self, layers, final, steps):
        super().__init__()
        self.layers, self.final, self.steps, self.step = layers, final, max(1, steps), 0

    def on_train_batch_begin(self, batch, logs=None):
        f = self.final * min(1.0, self.step / (0.5 * self.steps))
        for l in self.layers:
            l.kl_factor.assign(f)
        self.step += 1


def masked_finetune(model, x, y, *, epochs: int, batch_size: int, lr: float):
    """Fine-tune while every currently-zero kernel weight stays exactly zero."""
    masks = masks_of(model)
    fit(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, callbacks=[KeepMasks(masks)])
    KeepMasks(masks)._apply()
    return model


def require_sequential(model, method: str):
    if not isinstance(model, keras.Sequential):
        raise SparsemcuError(f"{method} pruning needs a Sequential model (as the search builds); "
                             f"got {type(model).__name__}")


def clone_sequential(model, layer_fn):
    """A new Sequential with `layer_fn(layer) -> layer or list of layers` applied to each layer."""
    require_sequential(model, "this")
    layers = [keras.layers.Input(model.input_shape[1:])]
    for l in model.layers:
        new = layer_fn(l)
        layers.extend(new if isinstance(new, (list, tuple)) else [new])
    return keras.Sequential(layers, name=model.name)


def copy_layer(layer, **overrides):
    cfg = layer.get_config()
    cfg.update(overrides)
    return type(layer).from_config(cfg)


# Molchanov et al. (2017) approximation of -KL(q(w) || log-uniform prior), per weight.
_K1, _K2, _K3 = 0.63576, 1.87320, 1.48695


def neg_kl_approx(log_alpha):
    import tensorflow as tf
    return (_K1 * tf.sigmoid(_K2 + _K3 * log_alpha) - 0.5 * tf.math.softplus(-log_alpha) - _K1)
