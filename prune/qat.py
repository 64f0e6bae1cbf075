"""Quantisation-aware fine-tuning, used only when int8 post-training quantisation loses accuracy.

The model is wrapped by tensorflow-model-optimization's QAT with the prune-preserving
scheme (zero weights stay zero), fine-tuned briefly with fake int8 quantisation, and the
adapted float weights are copied back into a plain copy of the model: the result stays a
standard Keras model, still converted by the exporter's post-training int8 path, whose
weights now sit well on the int8 grid.
"""
from __future__ import annotations

import numpy as np
import tensorflow_model_optimization as tfmot

from .common import clone_sequential, compile_model, masks_of, require_sequential


def qat_finetune(model, x, y, *, epochs: int = 1, batch_size: int = 64, lr: float = 5e-4):
    require_sequential(model, "quantisation-aware")
    masks = masks_of(model)
    q = tfmot.quantization.keras
    annotated = q.quantize_annotate_model(model)
    scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
    with q.quantize_scope():
        qat = q.quantize_apply(annotated, scheme)
    compile_model(qat, lr)
    qat.fit(x, y, epochs=max(1, int(epochs)), batch_size=int(batch_size), verbose=0)
    plain = clone_sequential(model, lambda l: type(l).from_config(l.get_config()))
    wrapped = {getattr(l, "layer", l).name: l for l in qat.layers}
    for dst in plain.layers:
        src = wrapped.get(dst.name)
        if src is None or not dst.get_weights():
            continue
        by_kind = {w.name.split("/")[-1].split(":")[0]: w for w in src.weights}
        for w in dst.weights:
            kind = w.name.split("/")[-1].split(":")[0]   # kernel, depthwise_kernel, bias
            if kind in by_kind and tuple(by_kind[kind].shape) == tuple(w.shape):
                w.assign(by_kind[kind])
    # exact zeros of the pruned model are kept (the scheme preserves them; re-apply to be exact)
    pmasks = masks_of(plain)
    for (var, _), (_, m) in zip(pmasks, masks):
        var.assign(var * m.astype(np.float32))
    return plain


__all__ = ["qat_finetune"]
