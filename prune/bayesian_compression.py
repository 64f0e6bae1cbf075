"""Bayesian Compression (Louizos, Ullrich & Welling, NeurIPS 2017): structured pruning.

Each output channel of every Conv2D (and each unit of every hidden Dense layer) gets a
multiplicative group scale z_c ~ N(mu_c, sigma_c^2) under a scale-invariant log-uniform
(normal-Jeffreys) prior, applied to the whole pre-activation output of the channel, so
z_c -> 0 silences the channel exactly. Training uses the local reparameterisation
(per-example noise on z) and the KL of Molchanov's approximation per group. Channels with
log alpha_c = log sigma_c^2 - log mu_c^2 above the threshold are removed and the model is
rebuilt with fewer channels (kept channels absorb mu_c into their weights and bias): the
exported graph is smaller, and so are its activations, hence the arena.

Depthwise layers follow their input's channels; the constant output (act(bias)) of a
depthwise channel whose input was removed is folded into the next layer's bias.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from sparsemcu.errors import SparsemcuError

from .common import (KLWarmup, PruneResult, channel_counts, clone_sequential, copy_layer, fit, neg_kl_approx,
                     require_sequential, sparsity)

LOG_SIGMA2_INIT = -6.0


class ChannelGate(keras.layers.Layer):
    """y = act(x * z), z ~ N(mu, sigma^2) per channel (last axis) while training."""

    scale = 40.0  # log sigma^2 = scale * raw (faster learning of the dropout rate)

    def __init__(self, activation=None, threshold: float = 0.0, **kw):
        super().__init__(**kw)
        self.activation = keras.activations.get(activation)
        self.threshold = float(threshold)

    def get_config(self):
        return {**super().get_config(), "activation": keras.activations.serialize(self.activation),
                "threshold": self.threshold}

    def build(self, input_shape):
        c = int(input_shape[-1])
        self.mu = self.add_weight(name="mu", shape=(c,), initializer="ones")
        self.ls2_raw = self.add_weight(name="log_sigma2_raw", shape=(c,),
                                       initializer=keras.initializers.Constant(LOG_SIGMA2_INIT / self.scale))
        self.kl_factor = self.add_weight(name="kl_factor", shape=(), trainable=False, initializer="zeros")

    def log_alpha(self):
        return tf.clip_by_value(self.ls2_raw * self.scale - tf.math.log(tf.square(self.mu) + 1e-8), -10.0, 10.0)

    def call(self, x, training=None):
        la = self.log_alpha()
        self.add_loss(-self.kl_factor * tf.reduce_sum(neg_kl_approx(la)))
        if training:
            shape = tf.concat([tf.shape(x)[:1], tf.ones([tf.rank(x) - 2], tf.int32), tf.shape(x)[-1:]], 0)
            sigma = tf.exp(0.5 * tf.clip_by_value(self.ls2_raw * self.scale, -20.0, 8.0))
            z = self.mu + sigma * tf.random.normal(shape)
        else:
            z = self.mu * tf.cast(la < self.threshold, self.mu.dtype)
        return self.activation(x * z)


def _gated(layer, is_last_dense: bool) -> bool:
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return False
    if isinstance(layer, keras.layers.Conv2D):
        return True
    return isinstance(layer, keras.layers.Dense) and not is_last_dense


def prune_bayesian_compression(model, x, y, *, epochs: int = 3, batch_size: int = 64, lr: float = 3e-3,
                               kl_scale: float = 5.0, threshold: float = 0.0, finetune_epochs: int = 1,
                               min_channels: int = 1) -> PruneResult:
    """Structured pruning of a trained Sequential model; returns a smaller standard model."""
    require_sequential(model, "Bayesian Compression")
    dense_idx = [i for i, l in enumerate(model.layers) if isinstance(l, keras.layers.Dense)]
    last_dense = dense_idx[-1] if dense_idx else -1
    gates: list[ChannelGate] = []
    pairs: list[tuple[int, ChannelGate | None]] = []  # (original layer index, its gate)

    def convert(l):
        i = model.layers.index(l)
        if _gated(l, i == last_dense):
            inner = copy_layer(l, activation="linear")
            g = ChannelGate(activation=keras.activations.serialize(l.activation), threshold=threshold,
                            name=f"{l.name}_gate")
            gates.append(g)
            pairs.append((i, g))
            return [inner, g]
        return type(l).from_config(l.get_config())

    train_model = clone_sequential(model, convert)
    gate_of = dict(pairs)
    # copy trained weights
    j = 0
    inner_of = {}
    for i, l in enumerate(model.layers):
        dst = train_model.layers[j]
        if l.get_weights():
            dst.set_weights(l.get_weights())
        inner_of[i] = dst
        j += 2 if i in gate_of else 1

    n = len(x)
    steps = int(np.ceil(n / batch_size)) * max(1, int(epochs))
    fit(train_model, x, y, epochs=epochs, batch_size=batch_size, lr=lr,
        callbacks=[KLWarmup(gates, float(kl_scale) / n, steps)])

    before = channel_counts(model)
    pruned = _rebuild(model, inner_of, gate_of, threshold, min_channels)
    if finetune_epochs > 0:
        fit(pruned, x, y, epochs=finetune_epochs, batch_size=batch_size, lr=lr / 3)
    after = channel_counts(pruned)
    return PruneResult(pruned, "bc", {"channels_before": before, "channels": after,
                                      "channels_removed": int(sum(before) - sum(after)),
                                      "sparsity": sparsity(pruned), "threshold": float(threshold),
                                      "kl_scale": float(kl_scale)})


def _rebuild(model, inner_of, gate_of, threshold, min_channels):
    act_const = {"relu": lambda b: np.maximum(b, 0), "linear": lambda b: b, "relu6": lambda b: np.clip(b, 0, 6)}
    new_layers = [keras.layers.Input(model.input_shape[1:])]
    weights: list[list[np.ndarray] | None] = []
    in_shape = model.input_shape[1:]
    keep = np.arange(in_shape[-1])          # kept channel indices of the current tensor
    n_ch = int(in_shape[-1])
    pending = {}                             # removed channel -> its constant value (folded later)
    flat_rows = None                         # after Flatten: kept row indices for the next Dense
    flat_pending = None
    for i, l in enumerate(model.layers):
        src = inner_of[i]
        ws = src.get_weights()
        if isinstance(l, keras.layers.DepthwiseConv2D):
            k, b = ws[0], (ws[1] if l.use_bias else np.zeros(ws[0].shape[2] * ws[0].shape[3], np.float32))
            if l.depth_multiplier != 1:
                raise SparsemcuError("Bayesian Compression supports depth_multiplier 1 only")
            removed = np.setdiff1d(np.arange(n_ch), keep)
            f = act_const.get(keras.activations.serialize(l.activation))
            if f is None:
                raise SparsemcuError(f"Bayesian Compression: unsupported activation in {l.name}")
            for c in removed:
                # input channel c is all zeros: the depthwise output is the constant act(b_c)
                pending[int(c)] = float(f(b[c] if l.use_bias else 0.0))
            new_layers.append(copy_layer(l))
            weights.append([k[:, :, keep, :]] + ([b[keep]] if l.use_bias else []))
        elif isinstance(l, (keras.layers.Conv2D, keras.layers.Dense)):
            k = ws[0]
            b = ws[1] if l.use_bias else np.zeros(k.shape[-1], np.float32)
            if isinstance(l, keras.layers.Dense) and flat_rows is not None:
                if flat_pending is not None:
                    b = b + flat_pending @ k
                k = k[flat_rows]
                flat_rows, flat_pending = None, None
            else:
                if pending:
                    idx = np.array(sorted(pending))
                    vals = np.array([pending[c] for c in idx], np.float32)
                    kk = k.reshape(-1, k.shape[-2], k.shape[-1]) if k.ndim == 4 else k[None]
                    b = b + np.einsum("c,pco->o", vals, kk[:, idx, :])
                    pending = {}
                k = k[..., keep, :]
            g = gate_of.get(i)
            if g is not None:
                mu = g.mu.numpy()
                la = g.log_alpha().numpy()
                out_keep = np.where(la < threshold)[0]
                if len(out_keep) < min_channels:
                    out_keep = np.sort(np.argsort(la)[:min_channels])
                k = k[..., out_keep] * mu[out_keep]
                b = b[out_keep] * mu[out_keep]
            else:
                out_keep = np.arange(k.shape[-1])
            total_out = int(ws[0].shape[-1])
            key = "filters" if isinstance(l, keras.layers.Conv2D) else "units"
            new_layers.append(copy_layer(l, **{key: int(len(out_keep)), "use_bias": True}))
            weights.append([k.astype(np.float32), b.astype(np.float32)])
            keep = out_keep          # indices into the original layer's output channels
            n_ch = total_out
        elif isinstance(l, keras.layers.Flatten):
            shape = l.input_shape[1:]  # (H, W, C_original)
            h, w = int(shape[0]), int(shape[1])
            c_all = n_ch
            kept = set(int(c) for c in keep)
            rows, pend = [], np.zeros(h * w * c_all, np.float32)
            for p in range(h * w):
                for c in range(c_all):
                    if c in kept:
                        rows.append(p * c_all + c)
                    elif c in pending:
                        pend[p * c_all + c] = pending[c]
            flat_rows = np.array(rows, dtype=np.int64)
            flat_pending = pend if pending else None
            pending = {}
            new_layers.append(copy_layer(l))
            weights.append(None)
            n_ch = h * w * c_all
            keep = flat_rows
        else:  # pooling, global pooling, activation, dropout: channel-preserving
            new_layers.append(copy_layer(l))
            weights.append(None)
    pruned = keras.Sequential(new_layers, name=model.name)
    for layer, w in zip(pruned.layers, weights):
        if w is not None:
            layer.set_weights(w)
    return pruned
