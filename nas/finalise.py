"""The final stage: retrain the best screened trials at full budget before export.

The feasible screened trials are ranked by non-dominated sorting on their validation objectives
(error, flash, RAM, and latency when budgeted); the first fronts fill up to `final_top` places
(spread evenly over flash where a front has more), leaving out trials with more than MAX_ERROR_RATIO
times the best validation error. Each is trained from scratch with
`final_epochs` epochs on the whole training split, pruned, quantised and measured exactly as in
screening, into RUN/final/NNNN/ (NNNN = the screened trial). A finalised model is never redone:
killing and re-running the search resumes the final stage where it stopped.

`refit_final` retrains finalised trials chosen on validation once more, on the training and validation
images together (as AutoML tools do after model selection), for the epochs their final run trained
and without early stopping, into RUN/final/NNNN/refit/. Validation can no longer judge such a model,
so its metrics keep the final run's validation figures (what chose it) and hold its own only as
`val_accuracy_seen`; its size is measured anew (pruning may keep other weights).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import runs
from .hypervolume import pareto_mask

RANK_KEYS = ("val_error", "flash_bytes", "arena_bytes")
# A front point with more than this many times the best validation error is not worth a full-budget
# retraining (a tiny model that learned little); the caller may still include such a trial by number.
MAX_ERROR_RATIO = 2.0


def select(records: list[dict], top: int, keys=RANK_KEYS) -> list[dict]:
    """Up to `top` feasible trials, front by front; a front larger than the places left is thinned
    to points evenly spaced in flash."""
    pool = [m for m in records if m.get("feasible") and not m.get("skipped_training")]
    if pool:
        worst = MAX_ERROR_RATIO * min(float(m["val_error"]) for m in pool)
        pool = [m for m in pool if float(m["val_error"]) <= worst]
    chosen: list[dict] = []
    while pool and len(chosen) < top:
        Y = np.array([[float(m.get(k) if m.get(k) is not None else np.inf) for k in keys] for m in pool])
        mask = pareto_mask(Y)
        front = sorted([m for m, k in zip(pool, mask) if k], key=lambda m: (m["flash_bytes"], m["val_error"]))
        room = top - len(chosen)
        if len(front) > room:
            idx = np.unique(np.round(np.linspace(0, len(front) - 1, room)).astype(int))
            front = [front[i] for i in idx]
        chosen += front
        rank = {id(m) for m, k in zip(pool, mask) if k}  # the whole front leaves the pool
        pool = [m for m in pool if id(m) not in rank]
    return chosen[:top]


def _done(path: Path, epochs: int, stage: str = "final") -> dict | None:
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    fid = m.get("fidelity") or {}
    finished = fid.get("name") == stage and int(fid.get("epochs", -1)) == int(epochs)
    return m if finished and (stage != "refit" or "refit_of" in m) else None


def finalise(cfg, records: list[dict], log=print, include=()) -> dict:
    """Retrain the selected trials (and the trial numbers in `include`) at full budget (resumable);
    writes RUN/final/pareto.json."""
    from .objectives import Fidelity, evaluate
    from .search import load_data
    out = Path(cfg.out)
    chosen = select(records, cfg.final_top,
                    RANK_KEYS + (("latency_ms",) if "latency" in cfg.objectives else ()))
    ids = {m["trial"] for m in chosen}
    chosen += [m for m in records if m["trial"] in set(include) - ids]
    if not chosen:
        log("final stage: no feasible screened trial to retrain")
        return {"n_final": 0, "pareto": []}
    data = load_data(cfg, full=True)
    fidelity = Fidelity("final", int(cfg.final_epochs), 1.0)
    finals = []
    for i, m in enumerate(sorted(chosen, key=lambda m: m["trial"])):
        n = int(m["trial"])
        d = runs.final_dir(out, n)
        done = _done(d / "metrics.json", cfg.final_epochs)
        if done is None:
            log(f"final stage {i + 1}/{len(chosen)}: trial {n} ({m.get('description', '')}), "
                f"{cfg.final_epochs} epochs on {len(data.x_train)} images")
            done = evaluate(m["params"], data, budget=cfg.budget, out_dir=d, trial_number=n, seed=cfg.seed,
                            fidelity=fidelity)
        if done.get("collapsed"):
            log(f"final stage: trial {n} collapsed to chance at full budget; left out")
            continue
        done["_dir"] = str(d)
        finals.append(done)
        log(f"final trial {n}: val err {100 * done['val_error']:.2f}% test acc "
            f"{100 * (done.get('test_accuracy_int8') or 0):.2f}% flash {done['flash_bytes']} B "
            f"ram {done['arena_bytes']} B")
    doc = runs.write_pareto(out / "final", finals, {"budget": cfg.budget.to_dict()})
    return {"n_final": len(finals), "pareto": doc["pareto"]}


def refit_data(data):
    """The training and validation splits as one training set (the validation split kept for the
    record only: it is no longer held out)."""
    from .objectives import TrialData
    return TrialData(np.concatenate([data.x_train, data.x_val]), np.concatenate([data.y_train, data.y_val]),
                     data.x_val, data.y_val, data.x_test, data.y_test, data.num_classes, dataset=data.dataset)


def refit_final(cfg, trial: int, log=print) -> dict:
    """Retrain finalised trial `trial` on training + validation images (resumable); returns the refit's
    metrics, with the final run's validation figures."""
    from .objectives import Fidelity, _write_metrics, evaluate
    from .search import load_data
    n = int(trial)
    parent = runs.final_dir(cfg.out, n)
    final = json.loads((parent / "metrics.json").read_text())
    epochs = int(final["epochs_run"])
    d = runs.refit_dir(cfg.out, n)
    done = _done(d / "metrics.json", epochs, stage="refit")
    if done is None:
        data = refit_data(load_data(cfg, full=True))
        log(f"refit: trial {n} ({final.get('description', '')}), {epochs} epochs on {len(data.x_train)} images "
            "(training + validation)")
        m = evaluate(final["params"], data, budget=cfg.budget, out_dir=d, trial_number=n, seed=cfg.seed,
                     fidelity=Fidelity("refit", epochs, 1.0, early_stop=False))
        done = _write_metrics(d, {**m, "val_accuracy_seen": m["val_accuracy"], "val_accuracy": final["val_accuracy"],
                                  "val_error": final["val_error"], "refit_of": str(parent)})
    log(f"refit trial {n}: test acc {100 * (done.get('test_accuracy_int8') or 0):.2f}% (final run: "
        f"{100 * (final.get('test_accuracy_int8') or 0):.2f}%) flash {done['flash_bytes']} B ram {done['arena_bytes']} B")
    return {**done, "_dir": str(d)}
