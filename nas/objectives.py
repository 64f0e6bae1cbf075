"""Evaluate one candidate: train, prune, quantise to int8, measure with the exporter, score.

Flash and RAM come only from `sparsemcu.export.pipeline.footprint` on the int8 TFLite
that `sparsemcu export` would deploy (flash_bytes, arena_bytes); the error objective is
the validation error *of that int8 model* (TFLite interpreter), so every objective is
measured on the deployed artefact.
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from sparsemcu.errors import SparsemcuError
from sparsemcu.export.quant import quantize_input

OBJECTIVES = {"error": "val_error", "flash": "flash_bytes", "ram": "arena_bytes", "macs": "macs"}
DEFAULT_OBJECTIVES = ("error", "flash", "ram")
QAT_TRIGGER = 0.02  # int8 validation accuracy this far below float -> quantisation-aware fine-tuning


@dataclass
class Budget:
    max_flash: int | None = None
    max_ram: int | None = None
    source: str = ""

    def constraints(self, flash: int, ram: int) -> list[float]:
        """Optuna convention: feasible iff every value <= 0."""
        return [float(flash - self.max_flash) if self.max_flash else -1.0,
                float(ram - self.max_ram) if self.max_ram else -1.0]

    def feasible(self, flash: int, ram: int) -> bool:
        return all(c <= 0 for c in self.constraints(flash, ram))

    def to_dict(self) -> dict:
        return {"max_flash": self.max_flash, "max_ram": self.max_ram, "source": self.source}


# Firmware share of the board that the model cannot use: runtime + kernels in flash,
# stack (from board.json) + runtime buffers in RAM.
FLASH_RESERVE = 64 * 1024
RAM_RESERVE = 4 * 1024


def board_budget(name: str) -> Budget:
    """The model's share of a board's memories (board.json): flash - 64 KiB, RAM - stack - 4 KiB."""
    from sparsemcu.firmware.boards import get_board
    b = get_board(name)  # an unknown board is a one-line SparsemcuError
    flash, ram, stack = b.flash_size or None, b.ram_size or None, int(b.stack_bytes or 0)
    if not flash and not ram:
        return Budget(None, None, f"board {name}: no memory limits")
    return Budget(flash - FLASH_RESERVE if flash else None,
                  ram - stack - RAM_RESERVE if ram else None,
                  f"board {name}: flash {flash} B - {FLASH_RESERVE} B runtime reserve; "
                  f"RAM {ram} B - {stack} B stack - {RAM_RESERVE} B runtime reserve")


@dataclass
class TrialData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    calib: np.ndarray = field(default=None)

    def __post_init__(self):
        if self.calib is None:
            idx = np.random.default_rng(0).permutation(len(self.x_train))[:200]
            self.calib = self.x_train[np.sort(idx)]


def int8_accuracy(tflite_bytes: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the int8 model (int8 input/output) with the TFLite interpreter."""
    from sparsemcu.tf import tensorflow
    tf = tensorflow()
    # Default kernels without the XNNPACK delegate (it cannot re-plan a resized batch).
    it = tf.lite.Interpreter(model_content=tflite_bytes, experimental_op_resolver_type=(
        tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    inp = it.get_input_details()[0]
    out = it.get_output_details()[0]
    scale, zp = inp["quantization"]
    xq = quantize_input(x, scale, zp)  # exactly as deploy quantises for the board
    correct = 0
    bs = 256
    for s in range(0, len(xq), bs):
        chunk = xq[s:s + bs]
        it.resize_tensor_input(inp["index"], list(chunk.shape))
        it.allocate_tensors()
        it.set_tensor(inp["index"], chunk)
        it.invoke()
        pred = np.argmax(it.get_tensor(out["index"]), axis=-1)
        correct += int(np.sum(pred == y[s:s + bs]))
    return correct / max(1, len(y))


def measure_options():
    """How the search measures a model: its smallest deployable footprint (optimize="size": SpArSe's
    model size and working memory); a balanced export with the board's budgets fits whenever this does."""
    from sparsemcu.export.pipeline import Options
    return Options(optimize="size")


def quantize_and_measure(model, calib: np.ndarray) -> tuple[bytes, dict]:
    from sparsemcu.export.pipeline import footprint
    from sparsemcu.export.quantize import keras_to_int8_tflite
    tfl = keras_to_int8_tflite(model, calib)
    return tfl, dict(footprint(tfl, measure_options()))


def inherit_weights(model, parent_path: Path) -> int:
    """Copy weights from a parent model for every layer whose name and shapes match."""
    if not parent_path or not Path(parent_path).exists():
        return 0
    from sparsemcu.export.quantize import load_keras_model
    try:
        parent = load_keras_model(parent_path)
    except SparsemcuError:
        return 0
    src = {l.name: l for l in parent.layers}
    n = 0
    for l in model.layers:
        p = src.get(l.name)
        if p is None or not l.get_weights():
            continue
        pw, lw = p.get_weights(), l.get_weights()
        if len(pw) == len(lw) and all(a.shape == b.shape for a, b in zip(pw, lw)):
            l.set_weights(pw)
            n += 1
    return n


def _one_channel(cand):
    import copy
    c = copy.deepcopy(cand)
    for b in c.blocks:
        for l in b.layers:
            l.filters, l.reduce = 1, 1
    c.dense = [1 for _ in c.dense]
    return c


def evaluate(params: dict, data: TrialData, *, epochs: int, budget: Budget, out_dir: Path,
             trial_number: int, parent_model: Path | None = None, seed: int = 0,
             progress: Callable[[str, int], None] | None = None) -> dict:
    """Train/prune/quantise/measure one candidate and write its artefacts into out_dir.

    Returns the metrics dict (also written to out_dir/metrics.json)."""
    from sparsemcu.tf import keras as _keras, tensorflow
    tf = tensorflow()
    keras = _keras()
    from sparsemcu import prune
    from sparsemcu.prune.common import fit
    from .space import build_model, decode, params_count

    def step(label, n=1):
        if progress:
            progress(label, n)

    t0 = time.time()
    keras.backend.clear_session()
    tf.random.set_seed(seed + trial_number)
    np.random.seed((seed + trial_number) % (2 ** 31))
    cand = decode(params)
    shape = data.x_train.shape[1:]
    metrics: dict = {"trial": trial_number, "params": params, "candidate": cand.to_dict(),
                     "description": cand.describe(), "host": socket.gethostname(), "pid": os.getpid(),
                     "budget": budget.to_dict(), "epochs": epochs, "num_classes": int(data.num_classes)}
    n_params = params_count(cand, shape, data.num_classes)
    metrics["params_count"] = n_params
    model = build_model(cand, shape, data.num_classes)
    step("build")

    # Certain infeasibility before training: the arena depends only on the shapes, which only
    # Bayesian Compression changes; flash can only shrink by pruning.
    skip_reason = None
    if budget.max_flash and cand.prune == "none" and n_params > 4 * budget.max_flash:
        skip_reason = f"{n_params} weights cannot fit {budget.max_flash} B of flash"
    elif budget.max_flash and n_params > 50 * budget.max_flash:
        skip_reason = f"{n_params} weights: far beyond {budget.max_flash} B of flash even when pruned"
    if skip_reason is None and (budget.max_ram or budget.max_flash):
        tfl0, fp0 = quantize_and_measure(model, data.calib[:16])
        step("measure untrained")
        if budget.max_ram and cand.prune != "bc" and fp0["arena_bytes"] > budget.max_ram:
            skip_reason = f"arena {fp0['arena_bytes']} B > {budget.max_ram} B (no channel pruning)"
        elif budget.max_flash and cand.prune == "none" and fp0["flash_bytes"] > budget.max_flash:
            skip_reason = f"flash {fp0['flash_bytes']} B > {budget.max_flash} B (no pruning)"
        elif budget.max_ram and cand.prune == "bc" and fp0["arena_bytes"] > budget.max_ram:
            # Bayesian Compression keeps >= 1 channel per layer: measure that smallest model
            _, fp1 = quantize_and_measure(build_model(_one_channel(cand), shape, data.num_classes),
                                          data.calib[:16])
            if fp1["arena_bytes"] > budget.max_ram:
                skip_reason = (f"arena {fp1['arena_bytes']} B > {budget.max_ram} B even with one channel "
                               "per layer")
        if skip_reason:
            metrics.update(fp0)
    if skip_reason:
        flash = int(metrics.get("flash_bytes", n_params))
        ram = int(metrics.get("arena_bytes", 0))
        metrics.update({"skipped_training": True, "skip_reason": skip_reason, "val_error": 1.0,
                        "val_accuracy": 0.0, "test_accuracy_int8": None,
                        "flash_bytes": flash, "arena_bytes": ram, "macs": int(metrics.get("macs", 0)),
                        "constraints": budget.constraints(flash, ram), "feasible": False,
                        "seconds": time.time() - t0})
        _write_metrics(out_dir, metrics)
        return metrics

    metrics["inherited_layers"] = inherit_weights(model, parent_model) if parent_model else 0
    x, y = data.x_train, data.y_train

    class _Epoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            step("train")

    fit(model, x, y, epochs=epochs, batch_size=cand.batch_size, lr=cand.lr, callbacks=[_Epoch()])
    from sparsemcu.prune.common import accuracy
    metrics["val_accuracy_float_unpruned"] = accuracy(model, data.x_val, data.y_val)
    res = prune.apply(cand.prune, model, x, y, epochs=max(1, epochs), batch_size=cand.batch_size,
                      lr=cand.lr, **cand.prune_params)
    model = res.model
    metrics["prune"] = {"method": res.method, **{k: v for k, v in res.info.items()}}
    metrics["sparsity"] = prune.sparsity(model)
    metrics["nonzero_weights"] = prune.nonzero_weights(model)
    metrics["val_accuracy_float"] = accuracy(model, data.x_val, data.y_val)
    step("prune")
    tfl, fp = quantize_and_measure(model, data.calib)
    step("quantize")
    metrics.update({k: int(v) for k, v in fp.items()})
    val_acc = int8_accuracy(tfl, data.x_val, data.y_val)
    if metrics["val_accuracy_float"] - val_acc > QAT_TRIGGER:
        # int8 lost accuracy: quantisation-aware fine-tuning (zeros preserved), keep it if it helps
        from sparsemcu.prune.qat import qat_finetune
        qm = qat_finetune(model, x, y, epochs=1, batch_size=cand.batch_size, lr=cand.lr / 5)
        tfl_q, fp_q = quantize_and_measure(qm, data.calib)
        acc_q = int8_accuracy(tfl_q, data.x_val, data.y_val)
        metrics["qat"] = {"int8_val_accuracy_before": val_acc, "int8_val_accuracy_after": acc_q,
                          "kept": acc_q > val_acc}
        if acc_q > val_acc:
            model, tfl, fp, val_acc = qm, tfl_q, fp_q, acc_q
            metrics.update({k: int(v) for k, v in fp.items()})
    test_acc = int8_accuracy(tfl, data.x_test, data.y_test) if len(data.x_test) else None
    step("evaluate")
    flash, ram = int(fp["flash_bytes"]), int(fp["arena_bytes"])
    metrics.update({"val_accuracy": val_acc, "val_error": 1.0 - val_acc, "test_accuracy_int8": test_acc,
                    "constraints": budget.constraints(flash, ram), "feasible": budget.feasible(flash, ram),
                    "skipped_training": False})
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"trial{trial_number:04d}"
    model.save(out_dir / f"{stem}.keras")
    (out_dir / f"{stem}.tflite").write_bytes(tfl)
    metrics["keras_path"] = f"{stem}.keras"
    metrics["tflite_path"] = f"{stem}.tflite"
    metrics["seconds"] = time.time() - t0
    _write_metrics(out_dir, metrics)
    return metrics


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, float) and math.isnan(o):
        return None
    return str(o)


def _write_metrics(out_dir: Path, metrics: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=1, default=_jsonable))
    os.replace(tmp, out_dir / "metrics.json")


def objective_values(metrics: dict, objectives) -> list[float]:
    return [float(metrics[OBJECTIVES[o]]) for o in objectives]
