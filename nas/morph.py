"""Network morphism that keeps the parent's trained function (Net2Net / network morphism).

`morph_into(child, parent_path, x)` initialises the child (a batch-norm model from
`space.build_model`) from its parent's trained weights, layer by layer by name:

  widen        a layer with more output channels copies the parent's channels and fills the new
               ones with copies of randomly chosen parent channels (their batch-norm too); the next
               summing layer divides the weights it reads from every copy by the number of copies,
               so the sum is unchanged;
  kernel-grow  a larger kernel holds the parent's kernel in its centre and zeros around it ('same'
               padding: the output is unchanged);
  deepen       a layer the parent did not have starts as the identity (centre-tap identity kernel,
               batch norm with unit variance and zero mean, ReLU of a ReLU output is itself) where
               its input and output channels agree.

Anything else (fewer channels, another pooling, a 1x1 reduction inserted) copies what matches and
leaves the rest freshly initialised. The child's and parent's logits on a few validation images
tell whether the function was preserved (`function_preserving`, `max_logit_diff`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

PRESERVED_TOLERANCE = 1e-3  # max |child - parent| logit difference (relative to the logits' scale)


def _keras():
    from sparsemcu.tf import keras
    return keras()


def load_parent(path):
    if not path or not Path(path).exists():
        return None
    from sparsemcu.errors import SparsemcuError
    from sparsemcu.export.quantize import load_keras_model
    try:
        return load_keras_model(path)
    except SparsemcuError:
        return None


def _fit_kernel(pk: np.ndarray, shape) -> np.ndarray:
    """The parent's spatial kernel centred in (zero padded) or cropped to the child's size."""
    kh, kw = shape[0], shape[1]
    out = np.zeros((kh, kw) + pk.shape[2:], pk.dtype)
    ph, pw = pk.shape[0], pk.shape[1]
    h, w = min(kh, ph), min(kw, pw)
    oy, ox = (kh - h) // 2, (kw - w) // 2
    sy, sx = (ph - h) // 2, (pw - w) // 2
    out[oy:oy + h, ox:ox + w] = pk[sy:sy + h, sx:sx + w]
    return out


class _Morpher:
    def __init__(self, parent, rng):
        self.parent = {l.name: l for l in parent.layers}
        self.rng = rng
        self.map = None          # child channel -> parent channel of the current tensor (None: unknown)
        self.exact = True
        self.inherited = 0
        self.ops: list[str] = []
        self.flat_hw = None      # spatial size at a Flatten (child, parent)

    def _out_map(self, n_child: int, n_parent: int, name: str) -> np.ndarray:
        if n_child < n_parent:
            self.exact = False
            self.ops.append(f"narrow {name}")
            return np.arange(n_child)
        extra = self.rng.integers(0, n_parent, n_child - n_parent) if n_child > n_parent else []
        if n_child > n_parent:
            self.ops.append(f"widen {name}")
        return np.concatenate([np.arange(n_parent), extra]).astype(int)

    def _in_rows(self, pk: np.ndarray, n_child_in: int) -> np.ndarray:
        """Parent kernel rows (axis -2) for the child's inputs, divided by each channel's copies."""
        if self.map is None or len(self.map) != n_child_in or self.map.max() >= pk.shape[-2]:
            raise _Mismatch
        counts = np.bincount(self.map, minlength=pk.shape[-2]).astype(pk.dtype)
        return pk[..., self.map, :] / counts[self.map][:, None]

    def conv_or_dense(self, l, bn):
        keras = _keras()
        p = self.parent.get(l.name)
        w = l.get_weights()
        k = w[0]
        if p is None:
            self._new_layer(l, bn)
            return
        pw = p.get_weights()
        pk = pw[0]
        if isinstance(l, keras.layers.Dense) and self.flat_hw is not None:
            pk = self._flat_rows(pk, k.shape[0])
        else:
            pk = self._in_rows(pk if pk.ndim == 2 else _fit_kernel(pk, k.shape), k.shape[-2])
        if pk.ndim == 4 and p.get_weights()[0].shape[:2] != k.shape[:2]:
            self.ops.append(f"kernel {p.get_weights()[0].shape[0]}->{k.shape[0]} {l.name}")
            if k.shape[0] < p.get_weights()[0].shape[0]:
                self.exact = False
        out_map = self._out_map(k.shape[-1], pk.shape[-1], l.name)
        new = [pk[..., out_map]] + [b[out_map] for b in pw[1:]]
        l.set_weights([a.astype(np.float32) for a in new])
        if bn is not None:
            self._copy_bn(bn, out_map)
        self.map = out_map
        self.inherited += 1

    def _flat_rows(self, pk, n_rows):
        (ch, cw), (ph, pwid) = self.flat_hw
        self.flat_hw = None
        if (ch, cw) != (ph, pwid) or self.map is None:
            raise _Mismatch
        c_parent = pk.shape[0] // (ph * pwid)
        counts = np.bincount(self.map, minlength=c_parent).astype(pk.dtype)
        rows = (np.arange(ch * cw)[:, None] * c_parent + self.map[None, :]).reshape(-1)
        div = np.tile(counts[self.map], ch * cw)
        if len(rows) != n_rows:
            raise _Mismatch
        return pk[rows] / div[:, None]

    def depthwise(self, l, bn):
        p = self.parent.get(l.name)
        k = l.get_weights()[0]
        if p is None:
            self._new_layer(l, bn)
            return
        if self.map is None or len(self.map) != k.shape[2]:
            raise _Mismatch
        pw = p.get_weights()
        pk = _fit_kernel(pw[0], k.shape)[:, :, self.map, :]
        l.set_weights([pk.astype(np.float32)] + [b[self.map] for b in pw[1:]])
        if bn is not None:
            self._copy_bn(bn, self.map)
        self.inherited += 1

    def _copy_bn(self, bn, out_map):
        pbn = self.parent.get(bn.name)
        if pbn is None:
            raise _Mismatch
        bn.set_weights([w[out_map] for w in pbn.get_weights()])

    def _new_layer(self, l, bn):
        """Deepen: an identity layer where the channels allow it."""
        keras = _keras()
        k = l.get_weights()[0]
        cin = k.shape[-2] if not isinstance(l, keras.layers.DepthwiseConv2D) else k.shape[2]
        cout = k.shape[-1] if not isinstance(l, keras.layers.DepthwiseConv2D) else cin
        if cin != cout or (len(l.get_weights()) > 1):
            self.exact = False
            self.map = None
            self.ops.append(f"new {l.name} (not identity)")
            return
        ident = np.zeros_like(k)
        cy, cx = k.shape[0] // 2, k.shape[1] // 2
        if isinstance(l, keras.layers.DepthwiseConv2D):
            ident[cy, cx, :, 0] = 1.0
        else:
            ident[cy, cx] = np.eye(cin, dtype=k.dtype)
        l.set_weights([ident])
        if bn is not None:
            n = cout
            eps = float(bn.epsilon)
            bn.set_weights([np.full(n, np.sqrt(1.0 + eps), np.float32), np.zeros(n, np.float32),
                            np.zeros(n, np.float32), np.ones(n, np.float32)])
        self.ops.append(f"deepen {l.name}")


class _Mismatch(Exception):
    pass


def morph_into(child, parent_path, x_probe: np.ndarray, seed: int = 0) -> dict:
    """Initialise `child` from the trained parent; returns what was inherited and whether the
    child computes the parent's function (on `x_probe`)."""
    keras = _keras()
    parent = load_parent(parent_path)
    if parent is None:
        return {"inherited_layers": 0}
    m = _Morpher(parent, np.random.default_rng(seed))
    m.map = np.arange(int(child.input_shape[-1]))
    layers = list(child.layers)
    weighted = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    for i, l in enumerate(layers):
        bn = layers[i + 1] if i + 1 < len(layers) and isinstance(layers[i + 1], keras.layers.BatchNormalization) \
            else None
        try:
            if isinstance(l, keras.layers.DepthwiseConv2D):
                m.depthwise(l, bn)
            elif isinstance(l, weighted):
                m.conv_or_dense(l, bn)
            elif isinstance(l, keras.layers.Flatten):
                p = m.parent.get(l.name)
                m.flat_hw = (tuple(l.input_shape[1:3]), tuple(p.input_shape[1:3]) if p is not None else (0, 0))
            elif isinstance(l, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
                if l.name not in m.parent:
                    m.exact = False
                    m.ops.append(f"new {l.name}")
        except _Mismatch:
            m.exact = False
            m.map = None
            m.flat_hw = None
            m.ops.append(f"fresh {l.name}")
    for name in m.parent:  # a parent layer the child dropped changes the function
        if name not in {l.name for l in layers}:
            m.exact = False
    info = {"inherited_layers": m.inherited, "morph_ops": m.ops}
    if m.inherited and len(x_probe):
        a = child.predict(x_probe, verbose=0)
        b = parent.predict(x_probe, verbose=0)
        diff = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
        info["max_logit_diff"] = diff
        info["function_preserving"] = bool(diff <= PRESERVED_TOLERANCE * max(1.0, float(np.max(np.abs(b)))))
    return info
