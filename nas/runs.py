"""A search run directory: per-trial artefacts, the Pareto front (JSON + PNG), and `pick`.

    RUN/search.json              the search configuration (checked when resuming)
    RUN/study.db                 Optuna SQLite storage (unless --storage was given)
    RUN/trials/NNNN/metrics.json every objective and measurement of trial NNNN
    RUN/trials/NNNN/trialNNNN.keras, trialNNNN.tflite   pruned Keras model, int8 TFLite
    RUN/pareto.json, RUN/pareto.png                     feasible Pareto front (screening)
    RUN/final/NNNN/metrics.json, trialNNNN.tflite       trial NNNN retrained at full budget (final stage)
    RUN/final/pareto.json                               feasible Pareto front of the finalised models
    RUN/final/NNNN/refit/metrics.json, trialNNNN.tflite finalised trial NNNN retrained on train + validation

`pick` chooses among the finalised models when the final stage left a feasible one, else among the
screened trials; a chosen finalised trial that was refit ships as its refit.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from sparsemcu.errors import SparsemcuError

from .hypervolume import hypervolume as _exact_hypervolume
from .hypervolume import pareto_mask  # noqa: F401  (part of this module's interface)


def trial_dir(run_dir: Path, number: int) -> Path:
    return Path(run_dir) / "trials" / f"{number:04d}"


def final_dir(run_dir: Path, number: int) -> Path:
    return Path(run_dir) / "final" / f"{number:04d}"


def refit_dir(run_dir: Path, number: int) -> Path:
    return final_dir(run_dir, number) / "refit"


def most_accurate(models: list[dict]) -> dict:
    """The model of least validation error; ties by flash, then RAM (what `pick most-accurate` ships)."""
    return min(models, key=lambda m: (m["val_error"], m["flash_bytes"], m["arena_bytes"]))


def has_final(run_dir: Path) -> bool:
    """Whether the final stage left a deployable model (feasible, with its .tflite) to pick from."""
    return any(_usable(m) for m in load_trials(run_dir, stage="final"))


_REQUIRED = {"trial": int, "val_error": (int, float), "flash_bytes": int, "arena_bytes": int}


def _metrics_problem(m) -> str | None:
    """Why a parsed metrics.json cannot be used (None if it can)."""
    if not isinstance(m, dict):
        return f"a JSON {type(m).__name__}, not an object"
    for k, t in _REQUIRED.items():
        if k not in m:
            return f"no {k!r}"
        if not isinstance(m[k], t) or isinstance(m[k], bool):
            return f"{k!r} is {m[k]!r}, not a number"
    if not 0.0 <= float(m["val_error"]) <= 1.0:
        return f"'val_error' is {m['val_error']!r}, outside 0..1"
    return None


def load_trials(run_dir: Path, problems: list | None = None, stage: str = "trials") -> list[dict]:
    """Metrics of every finished trial stored in this run directory (`stage` "trials": screened,
    "final": retrained at full budget). A metrics.json that cannot be read or lacks the objectives
    is left out; with `problems` (a list) each such file is appended to it as (path, reason)."""
    out = []
    for p in sorted((Path(run_dir) / stage).glob("*/metrics.json")):
        try:
            m = json.loads(p.read_text())
            why = _metrics_problem(m)
        except OSError as exc:
            why = exc.strerror or str(exc)
        except ValueError as exc:
            why = f"not valid JSON ({exc})"
        if why:
            if problems is not None:
                problems.append((p, why))
            continue
        m["_dir"] = str(p.parent)
        out.append(m)
    return out




def _usable(m: dict) -> bool:
    return bool(m.get("feasible")) and not m.get("skipped_training") and m.get("tflite_path")


def _at_chance(m: dict) -> bool:
    """A model no better than 1.5x chance accuracy has learned nothing worth deploying."""
    k = m.get("num_classes")
    return bool(k) and (1.0 - float(m["val_error"])) <= 1.5 / float(k)


def pick(run_dir, pick: str | int = "most-accurate") -> Path:
    """Path of the chosen trial's int8 .tflite: 'smallest' (least flash among feasible
    trials that learned something, i.e. above 1.5x chance accuracy; ties by error), 'most-accurate' (least validation error among feasible trials,
    ties by flash, then RAM) or a trial number (any finished trial of this run).

    A metrics.json that cannot be read (or lacks the objectives) is an error naming the file, not
    a silent omission: it could hold the trial that should win. For a trial number only that
    trial's own file matters. A trial whose model file is gone is an error too."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SparsemcuError(f"search run directory not found: {run_dir}")
    problems: list = []
    key = str(pick).strip().lower()
    by_number = key.lstrip("-").isdigit()
    stage = "final" if has_final(run_dir) else "trials"
    if by_number and stage == "final" and not final_dir(run_dir, int(key)).is_dir():
        stage = "trials"  # a trial that was screened but not finalised
    trials = load_trials(run_dir, problems, stage)
    if not by_number and key not in ("smallest", "small", "most-accurate", "most_accurate", "accurate", "best"):
        raise SparsemcuError(f"unknown --pick {pick!r}: use smallest, most-accurate or a trial number")
    if by_number:
        n = int(key)
        # only the chosen trial's own file matters
        problems = [(p, why) for p, why in problems if p.parent.name.isdigit() and int(p.parent.name) == n]
    if problems:
        p, why = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        choice = f"trial {key}" if by_number else f"--pick {key}, which compares every trial,"
        raise SparsemcuError(f"cannot read {p}{more}: {why}; {choice} cannot be decided: restore the file, "
                             f"or delete {p.parent} to leave that trial out")
    if not trials:
        raise SparsemcuError(f"{run_dir} holds no finished trials (trials/*/metrics.json)")
    if by_number:
        for m in trials:
            if int(m["trial"]) == n:
                if not m.get("tflite_path"):
                    raise SparsemcuError(f"trial {n} of {run_dir} has no model ({m.get('skip_reason', 'not trained')})")
                return _model_file(_shipped(m))
        raise SparsemcuError(f"trial {n} is not in {run_dir} (trials here: "
                             f"{', '.join(str(m['trial']) for m in trials)})")
    ok = [m for m in trials if _usable(m)]
    if not ok:
        raise SparsemcuError(f"no feasible trial in {run_dir} ({len(trials)} trials, none within the budget)")
    if key in ("smallest", "small"):
        learned = [m for m in ok if not _at_chance(m)] or ok
        best = min(learned, key=lambda m: (m["flash_bytes"], m["val_error"], m["arena_bytes"]))
    elif key in ("most-accurate", "most_accurate", "accurate", "best"):
        best = most_accurate(ok)
    else:
        raise SparsemcuError(f"unknown --pick {pick!r}: use smallest, most-accurate or a trial number")
    return _model_file(_shipped(best))


def _shipped(m: dict) -> dict:
    """The model that ships for a chosen trial: its refit on training + validation images
    (RUN/final/NNNN/refit/, `nas/finalise.refit_final`) when that finished and fits, else the trial."""
    p = Path(m["_dir"]) / "refit" / "metrics.json"  # a screened trial's folder has none
    try:
        r = json.loads(p.read_text())
    except (OSError, ValueError):
        return m
    return {**r, "_dir": str(p.parent)} if "refit_of" in r and _usable(r) else m


def _model_file(m: dict) -> Path:
    path = Path(m["_dir"]) / m["tflite_path"]
    if not path.is_file():
        raise SparsemcuError(f"trial {m['trial']}'s model {path} is missing (its metrics.json names it): restore it, "
                             f"or delete {m['_dir']} to leave that trial out, or pick another trial")
    return path


def front(records: list[dict], objectives=("val_error", "flash_bytes", "arena_bytes")) -> list[dict]:
    ok = [m for m in records if m.get("feasible") and not m.get("skipped_training")]
    if not ok:
        return []
    Y = np.array([[float(m[k]) for k in objectives] for m in ok])
    mask = pareto_mask(Y)
    return sorted([m for m, k in zip(ok, mask) if k], key=lambda m: (m["flash_bytes"], m["val_error"]))


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume dominated by `points` (minimisation) up to `ref`."""
    pts = np.asarray(points, float)
    if len(pts) == 0:
        return 0.0
    return _exact_hypervolume(pts, np.asarray(ref, float))


def write_pareto(run_dir: Path, records: list[dict], config: dict | None = None) -> dict:
    """Write DIR/pareto.json and DIR/pareto.png from trial records (study-wide; DIR = RUN or RUN/final)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    fr = front(records)
    keys = ("trial", "val_error", "val_accuracy", "test_accuracy_int8", "flash_bytes", "arena_bytes", "macs",
            "latency_ms", "sparsity", "description", "host", "tflite_path", "_dir")
    doc = {
        "budget": (config or {}).get("budget"),
        "objectives": ["val_error", "flash_bytes", "arena_bytes"],
        "n_trials": len(records),
        "n_feasible": sum(1 for m in records if m.get("feasible")),
        "n_infeasible": sum(1 for m in records if not m.get("feasible")),
        "pareto": [{k: m.get(k) for k in keys if k in m} for m in fr],
    }
    tmp = run_dir / "pareto.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, run_dir / "pareto.json")
    try:
        plot_pareto(records, run_dir / "pareto.png", title=f"{run_dir.name}: {len(records)} trials")
    except Exception:  # plotting must never break a search
        pass
    return doc


def plot_pareto(records: list[dict], path: Path, title: str = "", extra_fronts: dict | None = None) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    fr_ids = {m["trial"] for m in front(records)}
    feas = [m for m in records if m.get("feasible") and not m.get("skipped_training")]
    infeas = [m for m in records if not m.get("feasible") and not m.get("skipped_training")]
    for ax, xk, ck, xl, cl in ((axes[0], "flash_bytes", "arena_bytes", "flash (bytes)", "RAM (arena bytes)"),
                               (axes[1], "arena_bytes", "flash_bytes", "RAM (arena bytes)", "flash (bytes)")):
        if feas:
            sc = ax.scatter([m[xk] for m in feas], [100 * m["val_error"] for m in feas],
                            c=np.log10([max(1, m[ck]) for m in feas]), cmap="viridis", s=28, label="feasible")
            fig.colorbar(sc, ax=ax, label=f"log10 {cl}")
            fp = sorted([m for m in feas if m["trial"] in fr_ids], key=lambda m: m[xk])
            ax.plot([m[xk] for m in fp], [100 * m["val_error"] for m in fp], "r.", ms=12, mfc="none",
                    label="Pareto (3 objectives)")
        if infeas:
            ax.scatter([m[xk] for m in infeas], [100 * m["val_error"] for m in infeas], marker="x",
                       c="0.6", s=20, label="over budget")
        ax.set_xscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel("validation error of int8 model (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
