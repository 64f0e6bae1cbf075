"""The search driver: an Optuna study over the SpArSe space with the board's budget as constraints.

Stages (SpArSe's multi-fidelity search):
  1. screening: every trial trains `epochs` epochs (a morph child half of that, from its parent's
     function) on up to `max_train` images, is pruned, quantised and measured; the study runs until
     it holds `trials` completed trials or has spent `budget_epochs` (full-dataset-equivalent epochs);
  2. finalising (`nas/finalise.py`): the best screened trials by Pareto rank on validation (up to
     `final_top`) are retrained from scratch at full budget (`final_epochs` on the whole training
     split), pruned, quantised and measured into RUN/final/; `sparsemcu export RUN` picks from these.

Storage: a SQLite file in the run directory by default (re-running the same command resumes:
finished trials and finalised models are kept, a trial whose worker died is failed and re-queued
with the same parameters), or any Optuna RDB URL (PostgreSQL) shared by several workers, each
running the same command (their --out may differ; each writes its own trials' models, and every
worker writes the study-wide pareto.json). Only Optuna's public API is used.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sparsemcu.errors import SparsemcuError

from . import runs
from .budget import Budget
from .objectives import (DEFAULT_OBJECTIVES, OBJECTIVES, Fidelity, TrialData, epoch_cost, evaluate,
                         objective_values)
from .space import SPACE_VERSION, SpaceConfig, suggest

SAMPLERS = ("sparse", "nsga2", "tpe", "random")
WORKER_ATTR = "worker"
MORPH_ATTR = "morph_parent"
SUMMARY_ATTRS = ("val_error", "val_accuracy", "test_accuracy_int8", "flash_bytes", "weight_bytes", "arena_bytes",
                 "macs", "nonzero_macs", "predicted_instructions", "latency_ms", "sparsity", "feasible",
                 "constraints", "skipped_training", "collapsed", "description", "host", "tflite_path", "seconds",
                 "epoch_cost", "epochs_run", "inherited_layers", "function_preserving")
# Fewest filters a searched layer gets (unless --max-filters is lower): a 1- or 2-channel feature map
# is a bottleneck that screening kept re-proposing and no training recovered from (Fashion-MNIST:
# 55-70 % accuracy); channel pruning (Bayesian Compression) can still go below it.
MIN_FILTERS = 4
MAX_FAILS_IN_A_ROW = 3       # crashed trials in a row before the search gives up
MAX_COLLAPSES_IN_A_ROW = 6   # trials in a row that learned nothing before the search gives up


@dataclass
class SearchConfig:
    dataset: str
    out: Path
    trials: int
    epochs: int = 3
    storage: str | None = None
    study: str = "sparsemcu"
    sampler: str = "sparse"
    budget: Budget = field(default_factory=Budget)
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES
    seed: int = 0
    max_blocks: int = 3
    max_filters: int = 64
    max_train: int | None = None
    val_fraction: float = 0.15
    n_startup: int = 4
    progress: bool = True
    budget_epochs: float | None = None  # stop screening once the study spent this many epochs
    final_epochs: int = 0               # 0: no final stage
    final_top: int = 6
    error_weight: float = 1.0           # SpArSe sampler: Dirichlet weight of the error objective
    refit: bool = False                 # after the final stage: the most accurate model on train + val

    def space(self) -> SpaceConfig:
        return SpaceConfig(max_blocks=self.max_blocks, filters=(self.min_filters, max(2, self.max_filters)))

    @property
    def min_filters(self) -> int:
        return min(MIN_FILTERS, max(2, self.max_filters))

    def identity(self) -> dict:
        """What must not change when resuming or joining a study."""
        b = self.budget
        limits = {"max_flash": b.max_flash, "max_ram": b.max_ram, "max_latency_ms": b.max_latency_ms}
        return {"dataset": self.dataset, "objectives": list(self.objectives), "budget": limits,
                "max_blocks": self.max_blocks, "max_filters": self.max_filters, "max_train": self.max_train,
                "val_fraction": self.val_fraction, "epochs": self.epochs, "min_filters": self.min_filters,
                "space": SPACE_VERSION, "error_weight": self.error_weight}

    def screen_fidelity(self, data: TrialData) -> Fidelity:
        return Fidelity("screen", int(self.epochs), len(data.x_train) / max(1, data.full_train))


def storage_url(cfg: SearchConfig) -> str:
    return cfg.storage or f"sqlite:///{(Path(cfg.out) / 'study.db').resolve()}"


def normalise_url(url: str) -> str:
    """postgresql:// (or postgres://) -> an installed driver: SQLAlchemy 2.1 defaults to psycopg 3,
    the project installs psycopg2 (psycopg2-binary)."""
    import importlib.util
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            rest = url[len(scheme):]
            if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
                return "postgresql+psycopg2://" + rest
            return "postgresql://" + rest
    return url


def open_storage(url: str):
    import optuna
    url = normalise_url(url)
    kw = {}
    if url.startswith("sqlite"):
        kw["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    else:
        kw["engine_kwargs"] = {"pool_pre_ping": True}
    import random
    # Several workers starting together on an empty database race to create Optuna's tables:
    # the loser gets a unique-violation error and simply retries once the tables exist.
    for attempt in range(6):
        try:
            # a worker that stops heart-beating for 60 s (another machine died) has its trial failed
            # and re-queued once with the same parameters by whichever worker notices first
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=10, grace_period=60,
                failed_trial_callback=optuna.storages.RetryFailedTrialCallback(max_retry=1), **kw)
        except Exception as exc:  # sqlalchemy / driver errors: one line
            race = any(k in str(exc) for k in ("duplicate key", "already exists", "UniqueViolation"))
            if attempt < 5 and race:
                time.sleep(0.5 + random.random() * (attempt + 1))
                continue
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            safe = url.split("@")[-1] if "@" in url else url
            raise SparsemcuError(f"cannot open study storage {safe}: {msg}") from None


def _constraints(ft) -> list[float]:
    return list(ft.user_attrs.get("constraints", [0.0, 0.0]))


def expected_trials(cfg: SearchConfig, data: TrialData | None = None) -> int:
    """How many trials the screening will run: `cfg.trials`, or fewer when an epoch budget ends it
    first (estimated at what `epoch_cost` counts for a fresh, unpruned trial; pruning makes some
    trials cost more)."""
    if cfg.budget_epochs is None or data is None:
        return cfg.trials
    fidelity = cfg.screen_fidelity(data)
    per_trial = epoch_cost({"epochs_run": fidelity.epochs}, fidelity)
    return max(1, min(cfg.trials, int(cfg.budget_epochs / max(1e-9, per_trial))))


def make_sampler(cfg: SearchConfig, seed: int, data: TrialData | None = None):
    """The study's sampler; the SpArSe sampler draws its random points from `objectives.plausible`
    when the data (input shape, classes) is given."""
    import optuna
    if cfg.sampler == "sparse":
        from .sampler import SpArSeSampler
        budgets = {}
        for i, o in enumerate(cfg.objectives):
            if o == "flash" and cfg.budget.max_flash:
                budgets[i] = cfg.budget.max_flash
            if o == "ram" and cfg.budget.max_ram:
                budgets[i] = cfg.budget.max_ram
            if o == "latency" and cfg.budget.max_latency_ms:
                budgets[i] = cfg.budget.max_latency_ms
        prior = None
        if data is not None:
            from .objectives import plausible
            shape, classes = data.x_train.shape[1:], data.num_classes

            def prior(params):
                return plausible(params, shape, classes, cfg.budget)
        return SpArSeSampler(cfg.space(), n_startup_trials=cfg.n_startup, constraints_func=_constraints,
                             budgets=budgets, prior=prior, error_weight=cfg.error_weight, seed=seed)
    if cfg.sampler == "nsga2":  # at least three generations in the trials the search will run
        pop = max(4, min(20, expected_trials(cfg, data) // 3))
        return optuna.samplers.NSGAIISampler(population_size=pop, seed=seed, constraints_func=_constraints)
    if cfg.sampler == "tpe":
        return optuna.samplers.TPESampler(n_startup_trials=cfg.n_startup, seed=seed, multivariate=True,
                                          constraints_func=_constraints)
    if cfg.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SparsemcuError(f"unknown sampler {cfg.sampler!r}: use one of {', '.join(SAMPLERS)}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_dead_trials(study) -> list[int]:
    """Fail RUNNING trials whose worker process (on this host) is gone, and re-queue their
    parameters, so that a killed search resumes where it stopped."""
    from optuna.trial import TrialState
    host = socket.gethostname()
    requeued = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        w = t.user_attrs.get(WORKER_ATTR, "")
        h, _, pid = w.rpartition(":")
        if h != host or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        try:
            done = study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        except Exception:
            continue  # someone else got there first
        if done.state != TrialState.FAIL:
            continue
        attrs = {"retry_of": t.number}
        if MORPH_ATTR in t.user_attrs:
            attrs[MORPH_ATTR] = t.user_attrs[MORPH_ATTR]
        if t.params:
            study.enqueue_trial(t.params, user_attrs=attrs, skip_if_exists=False)
        requeued.append(t.number)
    return requeued


def _records(study) -> list[dict]:
    from optuna.trial import TrialState
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        r = {k: t.user_attrs[k] for k in SUMMARY_ATTRS if k in t.user_attrs}
        if "val_error" not in r:
            continue
        r["trial"] = t.number
        r["params"] = dict(t.params)
        r["_dir"] = t.user_attrs.get("dir")
        out.append(r)
    return out


def epochs_spent(study) -> float:
    """Full-dataset-equivalent training epochs of every finished trial (collapsed ones included)."""
    from optuna.trial import TrialState
    return float(sum(float(t.user_attrs.get("epoch_cost", 0.0))
                     for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))))


def _kb(n) -> str:
    return f"{n / 1024:.1f}K" if n is not None else "?"


def best_line(records: list[dict], limit: int = 4) -> str:
    fr = runs.front(records)
    if not fr:
        return "best feasible: none yet"
    pts = sorted(fr, key=lambda m: m["val_error"])[:limit]
    return "best feasible: " + "  ".join(
        f"#{m['trial']} err {100 * m['val_error']:.1f}% flash {_kb(m['flash_bytes'])} ram {_kb(m['arena_bytes'])}"
        for m in pts) + (f"  (+{len(fr) - limit} more on the front)" if len(fr) > limit else "")


def _measured_board_budget(budget: Budget) -> bool:
    """The budget is a board's memories minus a measured firmware reserve, not limits the user gave."""
    return budget.source.startswith("board ") and "overridden" not in budget.source


# settings added to SearchConfig.identity() since studies began recording it: what the older studies ran with
IDENTITY_BEFORE = {"error_weight": 1.0}


def _check_identity(study, cfg: SearchConfig, log=None) -> None:
    ident = cfg.identity()
    have = study.user_attrs.get("sparsemcu_config")
    if have is None:
        study.set_user_attr("sparsemcu_config", ident)
        return
    have = {**IDENTITY_BEFORE, **have}
    diff = [k for k in ident if have.get(k) != ident[k]]
    if diff == ["budget"] and _measured_board_budget(cfg.budget) and isinstance(have.get("budget"), dict):
        # the firmware (hence its measured reserve) changed since the study began: keep the study's budget
        cfg.budget.max_flash = have["budget"].get("max_flash", cfg.budget.max_flash)
        cfg.budget.max_ram = have["budget"].get("max_ram", cfg.budget.max_ram)
        if have["budget"].get("max_latency_ms") == cfg.budget.max_latency_ms:
            if log:
                log(f"the board's measured firmware reserve changed since study {cfg.study!r} began; keeping its "
                    f"budget (flash {cfg.budget.max_flash} B, RAM {cfg.budget.max_ram} B)")
            return
        diff = ["budget"]
    if diff:
        k = diff[0]
        raise SparsemcuError(f"study {cfg.study!r} was created with {k}={have.get(k)!r}, not {ident[k]!r}; "
                             "re-run with the same settings or use another --out/--study")


def load_data(cfg: SearchConfig, full: bool = False) -> TrialData:
    """The screening data (up to max_train training images) or, with `full`, the whole training split;
    both share one validation split and the test set."""
    from sparsemcu import datasets
    ds = datasets.load(cfg.dataset)
    xtr, ytr, xv, yv = ds.split_validation(cfg.val_fraction, seed=cfg.seed)
    n_full = len(xtr)
    if cfg.max_train and not full and cfg.max_train < len(xtr):
        import numpy as np
        idx = np.sort(np.random.default_rng(cfg.seed).permutation(len(xtr))[:cfg.max_train])
        xtr, ytr = xtr[idx], ytr[idx]
    return TrialData(xtr, ytr, xv, yv, ds.x_test, ds.y_test, ds.num_classes, dataset=cfg.dataset, full_train=n_full)


def _validate(cfg: SearchConfig) -> None:
    if cfg.trials < 1:
        raise SparsemcuError("--trials must be at least 1")
    bad = [o for o in cfg.objectives if o not in OBJECTIVES]
    if bad or not cfg.objectives or cfg.objectives[0] != "error":
        raise SparsemcuError(f"objectives must start with error and use {', '.join(OBJECTIVES)}")
    if cfg.refit and cfg.final_epochs <= 0:
        raise SparsemcuError("--refit retrains the final stage's most accurate model: it needs --final-epochs > 0")
    if cfg.error_weight != 1.0 and cfg.sampler != "sparse":
        raise SparsemcuError(f"--error-weight weights the sparse sampler's scalarisations; {cfg.sampler} has none")
    if ("latency" in cfg.objectives or cfg.budget.max_latency_ms) and not cfg.budget.clock_hz:
        raise SparsemcuError("a latency objective or --max-latency-ms needs --board (its clock converts "
                             "instructions into milliseconds)")


def _seed_for(cfg: SearchConfig, n_before: int) -> int:
    """Reproducible for one worker (same --seed, same history -> same proposals); workers sharing a
    --storage study must not propose identical random points, so their host and pid count too."""
    seed = cfg.seed * 1000003 + n_before * 7919
    if cfg.storage:
        import zlib
        seed += zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode())
    return seed % 2 ** 31


def open_study(cfg: SearchConfig, log, data: TrialData | None = None):
    import optuna
    storage = open_storage(storage_url(cfg))
    n_before = 0
    try:
        existing = optuna.load_study(study_name=cfg.study, storage=storage)
        n_before = len(existing.get_trials(deepcopy=False))
        if len(existing.directions) != len(cfg.objectives):
            raise SparsemcuError(f"study {cfg.study!r} has {len(existing.directions)} objectives, "
                                 f"not {len(cfg.objectives)}")
    except KeyError:
        pass
    sampler = make_sampler(cfg, _seed_for(cfg, n_before), data)
    study = optuna.create_study(study_name=cfg.study, storage=storage, sampler=sampler, load_if_exists=True,
                                directions=["minimize"] * len(cfg.objectives))
    _check_identity(study, cfg, log)
    return study, sampler


def _screening_done(study, cfg: SearchConfig) -> bool:
    from optuna.trial import TrialState
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    return done >= cfg.trials or (cfg.budget_epochs is not None and epochs_spent(study) >= cfg.budget_epochs)


def run_search(cfg: SearchConfig, log=None) -> dict:
    """Run (or resume / join) the screening until `cfg.trials` completed trials (or `cfg.budget_epochs`),
    then finalise the best (if `cfg.final_epochs`)."""
    import optuna
    from optuna.trial import TrialState
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    _validate(cfg)
    data = load_data(cfg)  # fail early on a bad dataset, before creating --out or touching the storage
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    url = storage_url(cfg)
    study, sampler = open_study(cfg, log, data)
    config_doc = {**asdict(cfg), "out": str(out), "budget": cfg.budget.to_dict(),
                  "storage": url if url.startswith("sqlite") else url.split("@")[-1]}
    (out / "search.json").write_text(json.dumps(config_doc, indent=1, default=str))
    requeued = recover_dead_trials(study)
    if requeued:
        log(f"resuming: trial(s) {', '.join(map(str, requeued))} lost their worker; re-queued with the same parameters")
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if done:
        log(f"study {cfg.study!r}: {done} trial(s) already complete, target {cfg.trials}")
    b = cfg.budget
    log(f"budget: flash <= {b.max_flash or 'inf'} B, RAM (arena) <= {b.max_ram or 'inf'} B"
        + (f", latency <= {b.max_latency_ms} ms" if b.max_latency_ms else "")
        + (f" ({b.source})" if b.source else ""))

    from tqdm import tqdm
    host = socket.gethostname()
    me = f"{host}:{os.getpid()}"
    fidelity = cfg.screen_fidelity(data)

    def objective(trial):
        trial.set_user_attr(WORKER_ATTR, me)
        params = suggest(trial, cfg.space())
        parent = trial.user_attrs.get(MORPH_ATTR)
        if parent is None and hasattr(sampler, "parent_of"):
            parent = sampler.parent_of(trial.number)
            if parent is not None:
                trial.set_user_attr(MORPH_ATTR, int(parent))
        parent_model = None
        if parent is not None:
            p = runs.trial_dir(out, int(parent)) / f"trial{int(parent):04d}_trained.keras"
            parent_model = p if p.exists() else None
        tdir = runs.trial_dir(out, trial.number)
        label = f"trial {trial.number}" + (f" (morph of #{parent})" if parent is not None else "")
        bar = tqdm(total=cfg.epochs + 4, desc=label, unit="step", leave=False, disable=not cfg.progress,
                   file=sys.stderr, dynamic_ncols=True)

        def progress(stage, n=1):
            bar.set_postfix_str(stage)
            bar.update(n)
        try:
            m = evaluate(params, data, budget=cfg.budget, out_dir=tdir, trial_number=trial.number,
                         parent_model=parent_model, seed=cfg.seed, progress=progress, fidelity=fidelity)
        except Exception as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            trial.set_user_attr("error", f"{type(exc).__name__}: {msg}"[:500])
            raise
        finally:
            bar.close()
        for k in SUMMARY_ATTRS:
            if k in m:
                trial.set_user_attr(k, m[k])
        trial.set_user_attr("dir", str(tdir.resolve()))
        if m.get("collapsed"):
            # learned nothing even after a retry: not a measurement of the architecture
            raise optuna.TrialPruned(f"collapsed to chance (val accuracy {m['val_accuracy']:.3f})")
        return objective_values(m, cfg.objectives)

    fails = collapses = 0
    while not _screening_done(study, cfg):
        t0 = time.time()
        study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=True)
        mine = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(WORKER_ATTR) == me]
        last = mine[-1] if mine else study.get_trials(deepcopy=False)[-1]
        records = _records(study)
        if last.state == TrialState.FAIL:
            fails += 1
            err = last.user_attrs.get("error", "unknown error")
            log(f"trial {last.number} failed: {err}")
            if fails >= MAX_FAILS_IN_A_ROW:
                raise SparsemcuError(f"{MAX_FAILS_IN_A_ROW} trials in a row failed; last: {err}")
            continue
        fails = 0
        a = last.user_attrs
        if last.state == TrialState.PRUNED:
            collapses += 1
            log(f"trial {last.number}: collapsed to chance (val acc {100 * a.get('val_accuracy', 0):.1f}%) "
                f"after a retry; marked, not recorded as the architecture's error  {a.get('description', '')}")
            if collapses >= MAX_COLLAPSES_IN_A_ROW:
                raise SparsemcuError(f"{MAX_COLLAPSES_IN_A_ROW} trials in a row learned nothing: check the data "
                                     "and the learning-rate range")
            continue
        collapses = 0
        if a.get("skipped_training"):
            status = "infeasible, not trained"
        else:
            status = "feasible" if a.get("feasible") else "over budget"
        lat = f" {a['latency_ms']:.2f}ms" if a.get("latency_ms") is not None else ""
        log(f"trial {last.number}: err {100 * a.get('val_error', 1):.1f}% flash {_kb(a.get('flash_bytes'))} "
            f"ram {_kb(a.get('arena_bytes'))}{lat} [{status}] {time.time() - t0:.0f}s "
            f"{a.get('epoch_cost', 0):.1f} epochs  {a.get('description', '')}")
        runs.write_pareto(out, records, config_doc)
        log(best_line(records))
    records = _records(study)
    doc = runs.write_pareto(out, records, config_doc)
    result = {"study": cfg.study, "storage": config_doc["storage"], "n_complete": len(records),
              "pareto": doc["pareto"], "n_feasible": doc["n_feasible"], "out": str(out),
              "epochs_spent": epochs_spent(study), "final": None}
    if cfg.final_epochs > 0:
        from .finalise import finalise
        result["final"] = finalise(cfg, records, log=log)
        if cfg.refit and result["final"]["pareto"]:
            from .finalise import refit_final
            from .runs import most_accurate
            result["refit"] = refit_final(cfg, int(most_accurate(result["final"]["pareto"])["trial"]), log=log)
    return result
