"""Sparse Variational Dropout (Molchanov, Ashukha & Vetrov, ICML 2017): unstructured pruning.

Every kernel weight w gets a Gaussian posterior N(theta, sigma^2) with its own
log alpha = log sigma^2 - log theta^2, trained with the local reparameterisation trick
and the KL to the log-uniform prior (Molchanov's approximation). Weights with
log alpha > threshold (3, i.e. dropout rate > 0.95) are set to exactly zero; the result
is a standard Keras model (same layers and shapes) whose zero weights stay zero through
int8 quantisation (symmetric weights: 0 -> 0), so the exporter stores them sparse.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from .common import (KLWarmup, PruneResult, clone_sequential, fit, kernel_of, masked_finetune, neg_kl_approx,
                     require_sequential, sparsity)

LOG_SIGMA2_INIT = -10.0


class _SVDMixin:
    """Adds per-weight log sigma^2 to a Conv2D / DepthwiseConv2D / Dense layer."""

    svd_scale = 10.0  # log sigma^2 = scale * raw: raw moves ~lr per Adam step, so alpha learns faster

    def _svd_build(self):
        k = kernel_of(self)
        self.ls2_raw = self.add_weight(name="log_sigma2_raw", shape=k.shape, trainable=True,
                                       initializer=keras.initializers.Constant(LOG_SIGMA2_INIT / self.svd_scale))
        self.kl_factor = self.add_weight(name="kl_factor", shape=(), trainable=False,
                                         initializer=keras.initializers.Constant(0.0))
        self.threshold = 3.0

    def log_alpha(self):
        k = kernel_of(self)
        return tf.clip_by_value(self.ls2_raw * self.svd_scale - tf.math.log(tf.square(k) + 1e-8), -10.0, 10.0)

    def _svd_call(self, inputs, training, op):
        k = kernel_of(self)
        la = self.log_alpha()
        self.add_loss(-self.kl_factor * tf.reduce_sum(neg_kl_approx(la)))
        if training:
            mu = op(inputs, k)
            var = op(tf.square(inputs), tf.exp(tf.clip_by_value(self.ls2_raw * self.svd_scale, -20.0, 8.0)))
            out = mu + tf.sqrt(var + 1e-8) * tf.random.normal(tf.shape(mu))
        else:
            out = op(inputs, k * tf.cast(la < self.threshold, k.dtype))
        if self.use_bias:
            out = tf.nn.bias_add(out, self.bias)
        return self.activation(out)


class SVDConv2D(_SVDMixin, keras.layers.Conv2D):
    def build(self, input_shape):
        super().build(input_shape)
        self._svd_build()

    def call(self, inputs, training=None):
        return self._svd_call(inputs, training, self.convolution_op)


class SVDDepthwiseConv2D(_SVDMixin, keras.layers.DepthwiseConv2D):
    def build(self, input_shape):
        super().build(input_shape)
        self._svd_build()

    def call(self, inputs, training=None):
        strides = (1,) + tuple(self.strides) + (1,)

        def op(x, k):
            return tf.nn.depthwise_conv2d(x, k, strides=strides, padding=self.padding.upper(),
                                          dilations=self.dilation_rate)
        return self._svd_call(inputs, training, op)


class SVDDense(_SVDMixin, keras.layers.Dense):
    def build(self, input_shape):
        super().build(input_shape)
        self._svd_build()

    def call(self, inputs, training=None):
        return self._svd_call(inputs, training, tf.matmul)


_MAP = {keras.layers.Conv2D: SVDConv2D, keras.layers.DepthwiseConv2D: SVDDepthwiseConv2D,
        keras.layers.Dense: SVDDense}


def prune_svd(model, x, y, *, epochs: int = 3, batch_size: int = 64, lr: float = 3e-3,
              kl_scale: float = 1.0, threshold: float = 3.0, finetune_epochs: int = 1,
              finetune_lr: float | None = None) -> PruneResult:
    """Sparse VD on a trained Sequential model. `kl_scale` multiplies the (1/N-scaled) KL term:
    > 1 prunes harder. Returns a standard Keras model with exactly-zero pruned weights."""
    require_sequential(model, "Sparse Variational Dropout")
    before = sparsity(model)
    svd_layers = []

    def convert(l):
        cls = _MAP.get(type(l))
        if cls is None:
            return type(l).from_config(l.get_config())
        new = cls.from_config(l.get_config())
        svd_layers.append((l, new))
        return new

    svd_model = clone_sequential(model, convert)
    for old, new in svd_layers:
        n_own = len(old.get_weights())
        new.set_weights(old.get_weights() + new.get_weights()[n_own:])
        new.threshold = float(threshold)
    for old, new in zip(model.layers, svd_model.layers):  # non-SVD layers with weights
        if not isinstance(new, _SVDMixin) and old.get_weights():
            new.set_weights(old.get_weights())

    n = len(x)
    steps = int(np.ceil(n / batch_size)) * max(1, int(epochs))
    warm = KLWarmup([l for _, l in svd_layers], float(kl_scale) / n, steps)
    fit(svd_model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, callbacks=[warm])

    # Back to standard layers, theta masked by log alpha < threshold.
    for old, new in svd_layers:
        la = new.log_alpha().numpy()
        k = kernel_of(new).numpy()
        k = np.where(la < threshold, k, 0.0).astype(np.float32)
        new._pruned_weights = [k] + ([new.bias.numpy()] if new.use_bias else [])
    pruned = clone_sequential(model, lambda l: type(l).from_config(l.get_config()))
    by_name = {old.name: new for old, new in svd_layers}
    for src, dst in zip(model.layers, pruned.layers):
        if src.name in by_name:
            dst.set_weights(by_name[src.name]._pruned_weights)
        elif src.get_weights():
            idx = model.layers.index(src)
            dst.set_weights(svd_model.layers[idx].get_weights())
    mid = sparsity(pruned)
    if finetune_epochs > 0:
        masked_finetune(pruned, x, y, epochs=finetune_epochs, batch_size=batch_size,
                        lr=finetune_lr or lr / 3)
    return PruneResult(pruned, "svd", {"sparsity_before": before, "sparsity": sparsity(pruned),
                                       "sparsity_after_threshold": mid, "threshold": float(threshold),
                                       "kl_scale": float(kl_scale)})
