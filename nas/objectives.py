"""Evaluate one candidate: screen, train, fold + prune, quantise to int8, measure with the exporter, score.

`evaluate()` runs the named steps below in order and writes the trial's artefacts:

  1. `screen`    certain infeasibility before any training (the shapes alone exceed the budget);
  2. `train`     the recipe of `nas/training.py` (batch norm, warm-up + cosine learning rate,
                 augmentation, early stopping, seeded; a run collapsing to chance is retried, and
                 marked `collapsed` if it never learns);
  3. `compress`  batch norm folded into the convolutions (`nas/fold.py`), then the pruning method;
  4. `quantise`  full-int8 TFLite, falling back to quantisation-aware fine-tuning where post-training
                 quantisation loses more than QAT_TRIGGER of validation accuracy;
  5. `measure`   flash, RAM, MACs and predicted instructions from `sparsemcu.export.pipeline.footprint`
                 on that int8 TFLite (`sparsemcu export` deploys it), latency at the board's clock,
                 the validation (objective) and test (report only) accuracy of the int8 model.

Every objective is measured on the deployed artefact; nothing is estimated.
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from sparsemcu.export.quant import quantize_input

from .budget import Budget, latency_ms
from .training import Recipe, augmentation_for, is_collapsed, train

OBJECTIVES = {"error": "val_error", "flash": "flash_bytes", "ram": "arena_bytes", "macs": "macs",
              "latency": "latency_ms"}
DEFAULT_OBJECTIVES = ("error", "flash", "ram")

QAT_TRIGGER = 0.02  # int8 validation accuracy this far below float -> quantisation-aware fine-tuning
QAT_LR_DIVISOR = 5.0  # QAT fine-tunes at the trial's learning rate / this
# Screening without training. An unpruned int8 model stores >= 1 byte per weight, so more weights
# than UNPRUNED_WEIGHT_MARGIN x the flash budget cannot fit (the margin absorbs the rough count);
# pruning in practice keeps more than 1 / PRUNED_WEIGHT_MARGIN of the weights.
UNPRUNED_WEIGHT_MARGIN = 4
PRUNED_WEIGHT_MARGIN = 50
# The SpArSe sampler's prior (`plausible`): a proposal is drawn again unless its rough size is within
# PRIOR_SLACK x the budget; pruning is assumed to keep PRIOR_PRUNED_KEEP of the weights (magnitude
# pruning: twice its kept share, for the sparse encoding's indices), and Bayesian Compression
# PRIOR_PRUNED_KEEP of the channels' activations.
PRIOR_SLACK = 1.25
PRIOR_PRUNED_KEEP = 0.3
SCREEN_CALIB_SAMPLES = 16  # calibration images for measuring an untrained model's shapes
PRUNE_EPOCH_FRACTION = 0.34  # pruning phase epochs as a fraction of the training epochs (>= 1) ...
MAX_PRUNE_EPOCHS = 4         # ... and at most this many (the model is trained already)
FINETUNE_EPOCH_FRACTION = 0.15  # fine-tuning after pruning, as a fraction of the training epochs (>= 1) ...
MAX_FINETUNE_EPOCHS = 2         # ... and at most this many
PRUNE_LR_DIVISOR = 3.0  # pruning trains at the trial's learning rate / this (the model is trained already)
MORPH_EPOCH_FRACTION = 0.5  # a child inheriting its parent's trained function trains this share of the epochs


@dataclass(frozen=True)
class Fidelity:
    """How much a trial costs: training epochs, and the fraction of the training images it uses."""
    name: str
    epochs: int
    data_fraction: float = 1.0
    early_stop: bool = True  # False: train every epoch and keep the last weights (no validation to judge by)

    def prune_epochs(self) -> int:
        return min(MAX_PRUNE_EPOCHS, max(1, int(round(self.epochs * PRUNE_EPOCH_FRACTION))))

    def finetune_epochs(self) -> int:
        return min(MAX_FINETUNE_EPOCHS, max(1, int(round(self.epochs * FINETUNE_EPOCH_FRACTION))))


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
    dataset: str = ""
    full_train: int = 0  # training images of the full split (for epoch costs of subsets)

    def __post_init__(self):
        if self.calib is None:
            idx = np.random.default_rng(0).permutation(len(self.x_train))[:200]
            self.calib = self.x_train[np.sort(idx)]
        if not self.full_train:
            self.full_train = len(self.x_train)


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


def _one_channel(cand):
    import copy
    c = copy.deepcopy(cand)
    for b in c.blocks:
        for l in b.layers:
            l.filters, l.reduce = 1, 1
    c.dense = [1 for _ in c.dense]
    return c


# ------------------------------------------------------------------------------------------- steps
def screen(cand, data: TrialData, budget: Budget) -> tuple[str | None, dict]:
    """Why the candidate certainly cannot meet the budget (None if it may), and the untrained
    model's footprint when it was measured. Only Bayesian Compression changes the shapes (hence
    the arena); flash can only shrink by pruning."""
    from .space import build_model, params_count
    shape = data.x_train.shape[1:]
    n_params = params_count(cand, shape, data.num_classes)
    if budget.max_flash and cand.prune == "none" and n_params > UNPRUNED_WEIGHT_MARGIN * budget.max_flash:
        return f"{n_params} weights cannot fit {budget.max_flash} B of flash", {}
    if budget.max_flash and n_params > PRUNED_WEIGHT_MARGIN * budget.max_flash:
        return f"{n_params} weights: far beyond {budget.max_flash} B of flash even when pruned", {}
    if not (budget.max_ram or budget.max_flash):
        return None, {}
    calib = data.calib[:SCREEN_CALIB_SAMPLES]
    _, fp = quantize_and_measure(build_model(cand, shape, data.num_classes, batchnorm=False), calib)
    if budget.max_ram and cand.prune != "bc" and fp["arena_bytes"] > budget.max_ram:
        return f"arena {fp['arena_bytes']} B > {budget.max_ram} B (no channel pruning)", fp
    if budget.max_flash and cand.prune == "none" and fp["flash_bytes"] > budget.max_flash:
        return f"flash {fp['flash_bytes']} B > {budget.max_flash} B (no pruning)", fp
    if budget.max_ram and cand.prune == "bc" and fp["arena_bytes"] > budget.max_ram:
        # Bayesian Compression keeps >= 1 channel per layer: measure that smallest model
        _, fp1 = quantize_and_measure(build_model(_one_channel(cand), shape, data.num_classes, batchnorm=False),
                                      calib)
        if fp1["arena_bytes"] > budget.max_ram:
            return f"arena {fp1['arena_bytes']} B > {budget.max_ram} B even with one channel per layer", fp
    return None, fp


def plausible(params: dict, input_shape, num_classes: int, budget: Budget) -> bool:
    """Whether a point of the space is likely to fit the budget, by its rough size (`space.size_estimate`):
    the prior the SpArSe sampler draws its random proposals from. Unlike `screen` it may be wrong
    either way; it only decides what is proposed, never what is measured."""
    from .space import decode, size_estimate
    if not (budget.max_flash or budget.max_ram):
        return True
    cand = decode(params)
    weights, arena = size_estimate(cand, input_shape, num_classes)
    keep = {"none": 1.0, "magnitude": min(1.0, 2 * (1 - float(cand.prune_params.get("target_sparsity", 0))))}
    flash_keep = max(PRIOR_PRUNED_KEEP, keep.get(cand.prune, PRIOR_PRUNED_KEEP))
    arena_keep = PRIOR_PRUNED_KEEP if cand.prune == "bc" else 1.0
    return ((not budget.max_flash or weights * flash_keep <= PRIOR_SLACK * budget.max_flash)
            and (not budget.max_ram or arena * arena_keep <= PRIOR_SLACK * budget.max_ram))


def train_step(cand, data: TrialData, fidelity: Fidelity, *, seed: int, parent_model: Path | None,
               on_epoch: Callable | None) -> tuple[object, dict]:
    """Train the candidate (BN model) with the recipe; a morph child starts from its parent's function."""
    from .morph import morph_into
    from .space import build_model
    shape = data.x_train.shape[1:]
    info: dict = {"inherited_layers": 0}
    epochs = fidelity.epochs

    def fresh():
        model = build_model(cand, shape, data.num_classes)
        if parent_model is not None:
            info.update(morph_into(model, parent_model, data.x_val[:64]))
        return model
    fresh()  # decides whether the child inherits (and so trains fewer epochs)
    if info.get("inherited_layers"):
        epochs = max(1, int(round(epochs * MORPH_EPOCH_FRACTION)))
    recipe = Recipe(epochs=epochs, lr=cand.lr, batch_size=cand.batch_size,
                    augment=augmentation_for(data.dataset, cand.augment), early_stop=fidelity.early_stop)
    model, outcome = train(fresh, data, recipe, seed=seed, on_epoch=on_epoch)
    info.update({"recipe": recipe.to_dict(), "epochs_run": outcome.epochs_run, "collapsed": outcome.collapsed,
                 "train_attempts": outcome.attempts, "val_accuracy_float_unpruned": outcome.val_accuracy,
                 "val_history": outcome.history})
    return model, info


def compress_step(model, cand, data: TrialData, fidelity: Fidelity) -> tuple[object, dict]:
    """Fold batch norm, then prune with the candidate's method (plain layers from here on)."""
    from sparsemcu import prune

    from .fold import fold_batchnorm
    folded = fold_batchnorm(model)
    res = prune.apply(cand.prune, folded, data.x_train, data.y_train, **_prune_kwargs(cand, fidelity))
    info = {"prune": {"method": res.method, **res.info}, "sparsity": prune.sparsity(res.model),
            "nonzero_weights": prune.nonzero_weights(res.model)}
    return res.model, info


def _prune_kwargs(cand, fidelity: Fidelity) -> dict:
    if cand.prune in (None, "none"):
        return {}
    kw = {"epochs": fidelity.prune_epochs(), "batch_size": cand.batch_size, "lr": cand.lr / PRUNE_LR_DIVISOR,
          **cand.prune_params}
    if cand.prune in ("svd", "bc"):
        kw["finetune_epochs"] = fidelity.finetune_epochs()
    return kw


def quantise_step(model, cand, data: TrialData) -> tuple[object, bytes, dict, float, dict]:
    """int8 TFLite of the model (with quantisation-aware fine-tuning where it helps)."""
    from sparsemcu.prune.common import accuracy
    float_acc = accuracy(model, data.x_val, data.y_val)
    tfl, fp = quantize_and_measure(model, data.calib)
    val_acc = int8_accuracy(tfl, data.x_val, data.y_val)
    info: dict = {"val_accuracy_float": float_acc}
    if float_acc - val_acc > QAT_TRIGGER:
        from sparsemcu.prune.qat import qat_finetune
        qm = qat_finetune(model, data.x_train, data.y_train, epochs=1, batch_size=cand.batch_size,
                          lr=cand.lr / QAT_LR_DIVISOR)
        tfl_q, fp_q = quantize_and_measure(qm, data.calib)
        acc_q = int8_accuracy(tfl_q, data.x_val, data.y_val)
        info["qat"] = {"int8_val_accuracy_before": val_acc, "int8_val_accuracy_after": acc_q, "kept": acc_q > val_acc}
        if acc_q > val_acc:
            model, tfl, fp, val_acc = qm, tfl_q, fp_q, acc_q
    return model, tfl, fp, val_acc, info


def epoch_cost(metrics: dict, fidelity: Fidelity) -> float:
    """Full-dataset-equivalent epochs this trial trained (training, pruning, fine-tuning, QAT)."""
    n = float(metrics.get("epochs_run", 0)) * max(1, int(metrics.get("train_attempts", 1)))
    prune = (metrics.get("prune") or {}).get("method", "none")
    if prune != "none":
        n += fidelity.prune_epochs() + (fidelity.finetune_epochs() if prune in ("svd", "bc") else 0)
    if "qat" in metrics:
        n += 1
    return n * fidelity.data_fraction


def _skipped(metrics: dict, reason: str, fp0: dict, budget: Budget) -> dict:
    """Metrics of a candidate screened out before training (certainly infeasible)."""
    flash, ram = int(fp0.get("flash_bytes", metrics["params_count"])), int(fp0.get("arena_bytes", 0))
    lat = latency_ms(fp0, budget.clock_hz)
    return {**metrics, **fp0, "skipped_training": True, "skip_reason": reason, "val_error": 1.0, "val_accuracy": 0.0,
            "test_accuracy_int8": None, "flash_bytes": flash, "arena_bytes": ram, "macs": int(fp0.get("macs", 0)),
            "latency_ms": lat, "constraints": budget.constraints(flash, ram, lat), "feasible": False,
            "epoch_cost": 0.0}


def _collapsed(metrics: dict, model, data: TrialData, budget: Budget, fidelity: Fidelity) -> dict:
    """Metrics of a candidate whose training learned nothing in every attempt: its size is measured,
    it is never feasible, and its error is not the architecture's (the search marks the trial)."""
    from .fold import fold_batchnorm
    _, fp = quantize_and_measure(fold_batchnorm(model), data.calib[:SCREEN_CALIB_SAMPLES])
    acc = metrics["val_accuracy_float_unpruned"]
    out = {**metrics, **{k: int(v) for k, v in fp.items() if v is not None}, "skipped_training": False,
           "val_accuracy": acc, "val_error": 1.0 - acc, "test_accuracy_int8": None,
           "constraints": [1.0] * len(budget.constraints(0, 0, 0.0)), "feasible": False}
    out["epoch_cost"] = epoch_cost(out, fidelity)
    return out


def _measured(metrics: dict, fp: dict, val_acc: float, test_acc: float | None, data: TrialData,
              budget: Budget) -> dict:
    """Metrics of a trained, compressed, quantised and measured candidate."""
    flash, ram = int(fp["flash_bytes"]), int(fp["arena_bytes"])
    lat = latency_ms(fp, budget.clock_hz)
    return {**metrics, **{k: int(v) for k, v in fp.items() if v is not None}, "val_accuracy": val_acc,
            "val_error": 1.0 - val_acc, "test_accuracy_int8": test_acc, "latency_ms": lat,
            "constraints": budget.constraints(flash, ram, lat),
            "feasible": budget.feasible(flash, ram, lat) and not is_collapsed(val_acc, data.num_classes),
            "skipped_training": False}


def evaluate(params: dict, data: TrialData, *, epochs: int | None = None, budget: Budget, out_dir: Path,
             trial_number: int, parent_model: Path | None = None, seed: int = 0,
             progress: Callable[[str, int], None] | None = None, fidelity: Fidelity | None = None,
             stem: str | None = None) -> dict:
    """Screen, train, compress, quantise and measure one candidate; write its artefacts (trained BN
    model, compressed Keras model, int8 .tflite) and metrics.json into out_dir. Returns the metrics."""
    from sparsemcu.tf import keras as _keras

    from .space import decode, params_count
    fidelity = fidelity or Fidelity("screen", int(epochs or 1))

    def step(label, n=1):
        if progress:
            progress(label, n)

    t0 = time.time()
    _keras().backend.clear_session()
    cand = decode(params)
    stem = stem or f"trial{trial_number:04d}"
    metrics: dict = {"trial": trial_number, "params": params, "candidate": cand.to_dict(),
                     "description": cand.describe(), "host": socket.gethostname(), "pid": os.getpid(),
                     "budget": budget.to_dict(), "epochs": fidelity.epochs, "fidelity": asdict(fidelity),
                     "num_classes": int(data.num_classes),
                     "params_count": params_count(cand, data.x_train.shape[1:], data.num_classes)}
    skip_reason, fp0 = screen(cand, data, budget)
    step("screen")
    if skip_reason:
        return _write_metrics(out_dir, {**_skipped(metrics, skip_reason, fp0, budget), "seconds": time.time() - t0})

    model, info = train_step(cand, data, fidelity, seed=(seed + trial_number) % (2 ** 31),
                             parent_model=parent_model, on_epoch=lambda e, logs: step("train"))
    metrics.update(info)
    if info["collapsed"]:
        return _write_metrics(out_dir, {**_collapsed(metrics, model, data, budget, fidelity),
                                        "seconds": time.time() - t0})
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / f"{stem}_trained.keras")  # the BN model a morph child inherits from
    model, info = compress_step(model, cand, data, fidelity)
    metrics.update(info)
    step("prune")
    model, tfl, fp, val_acc, info = quantise_step(model, cand, data)
    metrics.update(info)
    step("quantize")
    test_acc = int8_accuracy(tfl, data.x_test, data.y_test) if len(data.x_test) else None
    step("evaluate")
    metrics = _measured(metrics, fp, val_acc, test_acc, data, budget)
    model.save(out_dir / f"{stem}.keras")
    (out_dir / f"{stem}.tflite").write_bytes(tfl)
    metrics.update(keras_path=f"{stem}.keras", tflite_path=f"{stem}.tflite", trained_path=f"{stem}_trained.keras",
                   epoch_cost=epoch_cost(metrics, fidelity), seconds=time.time() - t0)
    return _write_metrics(out_dir, metrics)


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


def _write_metrics(out_dir: Path, metrics: dict) -> dict:
    """Write metrics.json atomically (a killed worker never leaves half a file); returns the metrics."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=1, default=_jsonable))
    os.replace(tmp, out_dir / "metrics.json")
    return metrics


def objective_values(metrics: dict, objectives) -> list[float]:
    return [float(metrics[OBJECTIVES[o]] if metrics.get(OBJECTIVES[o]) is not None else math.inf)
            for o in objectives]


__all__ = ["Fidelity", "TrialData", "evaluate", "int8_accuracy", "measure_options", "objective_values",
           "quantize_and_measure"]
