#!/usr/bin/env python3
"""Search benchmark: the SpArSe sampler against NSGA-II, TPE and random search at equal budgets.

Two parts, both resumable:

1. The sampler comparison. Every (sampler, seed) run screens trials until it has spent
   `--budget-epochs` full-dataset-equivalent training epochs (a trial on a fifth of the images
   for 5 epochs costs 1), under the same flash/RAM budget. Fronts are chosen on validation and
   scored on test: the hypervolume of a run is that of its validation-Pareto models' int8 *test*
   errors, in (test error, size(flash), size(RAM)) with
   size(x) = log(x / 256 B) / log(max / 256 B) (0 at or below 256 B, 1 at the budget) and
   reference (1, 1, 1) (larger is better). The samplers differ only in screening, so the
   comparison is on the screened trials. Runs of `--final-samplers` (default: none) also
   retrain their best trials, plus the most accurate trial within each size target, at full
   budget (the final stage, `nas/finalise.py`); it costs about three times the screening and
   compares nothing unless every sampler gets it, so by default the target searches show it.
2. The target searches. For each `--target-searches` budget (flash:RAM[:epochs[:weight]]), one SpArSe
   search under that budget (its epochs or `--target-budget-epochs` of screening, then the final
   stage, then, with `--target-refit` (default), the refit of the finalised model validation chooses
   within the budget on training + validation images), as a user would run `sparsemcu search
   --max-flash F --max-ram R [--error-weight W] --refit`; the targets table takes its finalised models
   too (scoring the refit, the model that ships, where there is one), with the search's measured
   screening time.

Writes bench/results/search.json, search.md and search_pareto.png (the fronts of every seed), and
copies the models of every screened front and every finalised model (int8 .tflite; input: the
28x28x1 image with pixels scaled to [0, 1] before quantisation) to bench/results/search/. A finished run is kept as
bench/results/search_runs/<name>.json (with its models in search/) and is not redone, so the
benchmark can be completed over several sessions or machines, and by several processes at once
(each on its own runs). The report always covers every saved run of these settings, whichever
process ran it; `--report-only` rewrites it without running anything.

    .venv/bin/python bench/bench_search.py                       (the full benchmark: hours)
    .venv/bin/python bench/bench_search.py --samplers sparse,random --seeds 0 --budget-epochs 4 ...
    .venv/bin/python bench/bench_search.py --report-only         (the report from the saved runs)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import time
import warnings
from pathlib import Path

import sparsemcu.tf  # noqa: E402,F401  (TensorFlow environment)

import numpy as np  # noqa: E402

from sparsemcu.nas.space import SPACE_VERSION  # noqa: E402

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
# (max flash B, max arena B, wanted int8 test accuracy): the targets
TARGETS = ((4096, 4096, 0.89), (32768, 16384, 0.91))
COLORS = {"sparse": "tab:red", "nsga2": "tab:blue", "tpe": "tab:green", "random": "tab:gray"}
MARKERS = "os^Dv<>"


# Sizes at or below this count as 0 in the hypervolume: log(x) / log(max) would put every model above
# about 1 KB near 1 (0.7 of the way from 1 B to 32 KB) and compress the differences between fronts.
HV_SIZE_FLOOR = 256


def _size(x: float, max_x: float) -> float:
    import math
    return math.log(max(x, HV_SIZE_FLOOR) / HV_SIZE_FLOOR) / math.log(max_x / HV_SIZE_FLOOR)


def _normalised(p, budget):
    return [1.0 - p["test_accuracy_int8"], _size(p["flash_bytes"], budget["max_flash"]),
            _size(p["arena_bytes"], budget["max_ram"])]


def hypervolume(points, budget) -> float:
    from sparsemcu.nas.hypervolume import hypervolume as hv
    if not points:
        return 0.0
    return hv(np.array([_normalised(p, budget) for p in points]), np.array([1.0, 1.0, 1.0]))


def validation_front(records):
    """Feasible models on the Pareto front of (validation error, flash, RAM)."""
    from sparsemcu.nas.runs import front
    return [m for m in front(records) if m.get("test_accuracy_int8") is not None]


def _point(m) -> dict:
    return {k: m.get(k) for k in ("trial", "val_error", "test_accuracy_int8", "flash_bytes", "arena_bytes", "macs",
                                  "latency_ms", "description", "tflite_path", "_dir", "epoch_cost", "seconds")}


def best_within(records, max_flash, max_ram, key="val_error"):
    ok = [m for m in records if m.get("feasible") and m["flash_bytes"] <= max_flash
          and m["arena_bytes"] <= max_ram and m.get("test_accuracy_int8") is not None]
    return min(ok, key=lambda m: (m[key], m["flash_bytes"])) if ok else None


def _search_config(args, name: str, sampler: str, seed: int, budget, *, study: str, budget_epochs: float,
                   final_epochs: int, final_top: int, workdir: Path, error_weight: float = 1.0):
    from sparsemcu.nas.search import SearchConfig
    return SearchConfig(dataset=args.dataset, out=workdir / name, trials=10 ** 6, epochs=args.epochs,
                        sampler=sampler, budget=budget, seed=seed, max_blocks=args.max_blocks,
                        max_filters=args.max_filters, max_train=args.max_train, n_startup=args.startup,
                        progress=args.progress, study=study, budget_epochs=budget_epochs,
                        final_epochs=final_epochs, final_top=final_top, error_weight=error_weight)


def run_one(cfg, log, final: bool, refit: bool = False) -> dict:
    """Screen (resumably) with `cfg`; with `final`, retrain the validation Pareto ranks and the most
    accurate trial within each target at full budget; with `refit`, retrain the finalised model that
    validation chooses within the run's own budget once more on training + validation images.
    Returns the run's summary."""
    from sparsemcu.nas import runs
    from sparsemcu.nas.finalise import finalise, refit_final
    from sparsemcu.nas.search import _records, open_study, run_search
    final_epochs, final_top = cfg.final_epochs, cfg.final_top
    cfg.final_epochs = 0  # screening first; the final stage below also gets the target candidates
    t0 = time.time()
    res = run_search(cfg, log=log)
    study, _ = open_study(cfg, log)
    records = _records(study)
    import optuna
    states = [t.state for t in study.get_trials(deepcopy=False)]
    finals = []
    if final:
        include = [m["trial"] for m in (best_within(records, f, r) for f, r, _ in TARGETS) if m]
        cfg.final_epochs, cfg.final_top = final_epochs, final_top
        finalise(cfg, records, log=log, include=include)
        finals = [m for m in runs.load_trials(cfg.out, stage="final") if not m.get("collapsed")]
    chosen = best_within(finals, cfg.budget.max_flash, cfg.budget.max_ram) if refit else None
    refits = [refit_final(cfg, chosen["trial"], log=log)] if chosen else []
    screen_front = validation_front(records)
    final_front = validation_front(finals)
    bd = cfg.budget.to_dict()
    return {
        "run_dir": str(cfg.out), "budget": bd, "trials_complete": len(records),
        "trials_collapsed": sum(s == optuna.trial.TrialState.PRUNED for s in states),
        "trials_failed": sum(s == optuna.trial.TrialState.FAIL for s in states),
        "feasible": sum(1 for r in records if r.get("feasible")),
        "skipped_infeasible": sum(1 for r in records if r.get("skipped_training")),
        "morph_children": sum(1 for r in records if r.get("inherited_layers")),
        "morph_function_preserving": sum(1 for r in records if r.get("function_preserving")),
        "morph_pairs": morph_pairs(study),
        "epochs_spent": res["epochs_spent"],
        "mean_epoch_cost_fresh": _mean([r.get("epoch_cost") for r in records
                                        if not r.get("inherited_layers") and not r.get("skipped_training")]),
        "mean_epoch_cost_morph": _mean([r.get("epoch_cost") for r in records if r.get("inherited_layers")]),
        # wall seconds of the screened trials; the run's CPU time is at most this times the threads used
        "trial_seconds": round(float(sum(r.get("seconds", 0.0) for r in records)), 1),
        "final_seconds": round(float(sum(m.get("seconds", 0.0) for m in finals)), 1),
        "tf_threads": _tf_threads(),
        "wall_seconds_this_invocation": round(time.time() - t0, 1),
        "hv_screen": hypervolume(screen_front, bd), "hv_final": hypervolume(final_front, bd) if final else None,
        "screen_front": [_point(m) for m in screen_front], "final_front": [_point(m) for m in final_front],
        "finals": [_point(m) for m in finals],
        "refits": [_point(m) for m in refits if not m.get("collapsed")],
        "refit_seconds": round(float(sum(m.get("seconds", 0.0) for m in refits)), 1),
    }


def morph_pairs(study) -> list[dict]:
    """Each morph child that inherited its parent's weights, with its parent: validation errors and
    training cost in epochs (what morphism saves, and at what accuracy)."""
    from optuna.trial import TrialState

    from sparsemcu.nas.search import MORPH_ATTR
    done = {t.number: t.user_attrs for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    out = []
    for n, a in sorted(done.items()):
        parent = done.get(a.get(MORPH_ATTR)) if a.get(MORPH_ATTR) is not None else None
        if parent and a.get("inherited_layers") and not a.get("skipped_training") and "val_error" in parent:
            out.append({"child": n, "parent": int(a[MORPH_ATTR]), "child_val_error": a["val_error"],
                        "parent_val_error": parent["val_error"], "child_epochs": a.get("epoch_cost"),
                        "parent_epochs": parent.get("epoch_cost")})
    return out


def _morph_summary(rs: list[dict]) -> str:
    pairs = [p for r in rs for p in r.get("morph_pairs", [])]
    if not pairs:
        return "-"
    d_err = 100 * np.mean([p["child_val_error"] - p["parent_val_error"] for p in pairs])
    ratio = np.mean([p["child_epochs"] / p["parent_epochs"] for p in pairs if p["parent_epochs"]])
    return f"{len(pairs)}: {d_err:+.1f} pp val error vs parent at {ratio:.2f}x its epochs"


def _tf_threads() -> int:
    """The CPU threads a run's TensorFlow may use (its CPU time is at most wall time times this)."""
    n = int(os.environ.get("TF_NUM_INTRAOP_THREADS") or 0)
    return n if n > 0 else (os.cpu_count() or 1)


def _mean(xs):
    xs = [float(x) for x in xs if x is not None]
    return round(float(np.mean(xs)), 3) if xs else None


def summarise(results: dict) -> dict:
    out = {}
    for sampler, by_seed in results.items():
        s = {}
        for key in ("hv_screen", "hv_final"):
            v = np.array([r[key] for r in by_seed.values() if r.get(key) is not None], float)
            s[key] = {"mean": float(v.mean()) if len(v) else None, "std": float(v.std(ddof=1)) if len(v) > 1 else None,
                      "min": float(v.min()) if len(v) else None, "max": float(v.max()) if len(v) else None,
                      "n": int(len(v))}
        out[sampler] = s
    return out


def verdict(summary: dict, key: str = "hv_screen") -> str:
    sp = summary.get("sparse", {}).get(key)
    if not sp or sp["n"] < 2:
        return "not enough seeds of the SpArSe sampler yet to compare"
    lines = []
    for name, s in summary.items():
        if name == "sparse":
            continue
        if s[key]["n"] < 2:
            lines.append(f"not yet compared with {name} ({s[key]['n']} seed(s) done)")
            continue
        gap = sp["mean"] - s[key]["mean"]
        spread = max(sp["std"] or 0.0, s[key]["std"] or 0.0)
        ahead = gap > spread
        lines.append(f"{'ahead of' if ahead else 'NOT ahead of'} {name} by more than the spread "
                     f"(mean difference {gap:+.4f}, larger standard deviation {spread:.4f})")
    return "the SpArSe sampler is " + "; ".join(lines) if lines else "no baseline run yet"


def plot(results: dict, summary: dict, path: Path, budget: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(results)
    fig, axes = plt.subplots(2, max(1, len(names)), figsize=(4.2 * max(1, len(names)), 7.5), squeeze=False,
                             sharey="row")
    for col, name in enumerate(names):
        for row, (key, xl) in enumerate((("flash_bytes", "flash (bytes)"), ("arena_bytes", "RAM (arena bytes)"))):
            ax = axes[row][col]
            for i, (seed, r) in enumerate(sorted(results[name].items())):
                m = MARKERS[i % len(MARKERS)]
                sc = sorted(r["screen_front"], key=lambda p: p[key])
                ax.plot([p[key] for p in sc], [100 * (1 - p["test_accuracy_int8"]) for p in sc], marker=m, ms=4,
                        color=COLORS.get(name, "k"), lw=0.8, alpha=0.45,
                        label=f"seed {seed} screened (HV {r['hv_screen']:.3f})")
                if r.get("hv_final") is not None:
                    fr = sorted(r["final_front"], key=lambda p: p[key])
                    ax.plot([p[key] for p in fr], [100 * (1 - p["test_accuracy_int8"]) for p in fr], marker=m,
                            ms=7, color=COLORS.get(name, "k"), lw=1.6, label=f"seed {seed} final "
                            f"(HV {r['hv_final']:.3f})")
            for f, ram, acc in TARGETS:
                lim = f if key == "flash_bytes" else ram
                ax.plot([lim], [100 * (1 - acc)], "k*", ms=9)
            limit = budget["max_flash" if key == "flash_bytes" else "max_ram"]
            ax.axvline(limit, color="k", ls="--", lw=0.7)
            ax.set_xscale("log")
            ax.set_xlim(HV_SIZE_FLOOR, 2 * limit)  # the same axes for every sampler
            ax.set_xlabel(xl)
            ax.grid(True, alpha=0.3)
            if col == 0:
                ax.set_ylabel("int8 test error (%)")
            if row == 0:
                hv = summary[name]["hv_screen"]
                ax.set_title(f"{name}: HV {hv['mean']:.3f} ± {hv['std'] or 0:.3f}" if hv["mean"] is not None else name)
            ax.legend(fontsize=6)
    finalised = any(r.get("hv_final") is not None for by_seed in results.values() for r in by_seed.values())
    fronts = "screened fronts (faint) and finalised fronts (bold)" if finalised else "screened fronts"
    fig.suptitle(f"Fashion-MNIST search: {fronts} of every seed, chosen on validation, scored on test; "
                 "stars = targets", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def copy_models(results: dict, dest: Path) -> None:
    """Copy the models of every run's screened front (`<run>_seed<s>_screen<trial>.tflite`), every
    finalised model (`<run>_seed<s>_trial<trial>.tflite`) and every refit one (`..._refit<trial>.tflite`)
    to dest, and name the file in each point.
    A saved run whose run directory is gone (another machine) keeps the files copied when it ran."""
    dest.mkdir(parents=True, exist_ok=True)
    for sampler, by_seed in results.items():
        for seed, r in by_seed.items():
            for kind, points in (("screen", r["screen_front"]), ("trial", r["final_front"] + r["finals"]),
                                 ("refit", r.get("refits", []))):
                for p in points:
                    name = f"{sampler}_seed{seed}_{kind}{p['trial']:04d}.tflite"
                    src = Path(p["_dir"]) / p["tflite_path"]
                    if src.is_file():
                        shutil.copyfile(src, dest / name)
                    if (dest / name).is_file():
                        p["file"] = f"search/{name}"


def _hours(r: dict) -> str:
    cpu_h = r["trial_seconds"] * r.get("tf_threads", os.cpu_count() or 1) / 3600
    return f"{r['trial_seconds'] / 3600:.2f} h screening wall time (<= {cpu_h:.2f} CPU-h)"


def targets_table(results: dict, targets: dict) -> list[str]:
    """For each target, the most accurate on *validation* of the finalised models within it, from the
    comparison runs with a final stage and from the target searches."""
    lines = ["| target | wanted int8 test acc | best finalised model (validation-chosen) | search | int8 test acc | "
             "flash B | RAM B | met |", "|---|---|---|---|---|---|---|---|"]
    sources = [(f"{s}, seed {seed}", r) for s, by_seed in results.items() for seed, r in by_seed.items()]
    sources += [(f"target search {name} ({r['epochs_spent']:.0f} epochs screened"
                 + (f", error weight {r['error_weight']:g}" if r["error_weight"] != 1.0 else "") + ")", r)
                for name, r in targets.items()]
    for f, ram, acc in TARGETS:
        best = None
        for label, r in sources:
            m = best_within([{**p, "feasible": True} for p in r["finals"]], f, ram, key="val_error")
            if m and (best is None or m["val_error"] < best[0]["val_error"]):
                best = (m, label, r)
        if best is None:
            lines.append(f"| <= {f} B flash, <= {ram} B RAM | {100 * acc:.0f} % | none yet | - | - | - | - | no |")
            continue
        m, label, r = best
        # what ships (as `pick` decides): the refit when it fits, else the final run
        refit = next((p for p in r.get("refits", []) if p["trial"] == m["trial"]), None)
        fits = refit is not None and refit["flash_bytes"] <= f and refit["arena_bytes"] <= ram
        shipped = refit if fits else m
        test = f"{100 * shipped['test_accuracy_int8']:.2f} %"
        if refit is not None:
            test += (f" (refit; final run {100 * m['test_accuracy_int8']:.2f} %)" if fits else
                     f" (its refit, {refit['flash_bytes']} B flash / {refit['arena_bytes']} B RAM, does not fit)")
        lines.append(f"| <= {f} B flash, <= {ram} B RAM | {100 * acc:.0f} % | {shipped.get('file', '')} "
                     f"({m['description']}) | {label}: {_hours(r)} | {test} | {shipped['flash_bytes']} | "
                     f"{shipped['arena_bytes']} | {'yes' if shipped['test_accuracy_int8'] >= acc else 'no'} |")
    return lines


def _front_table(title: str, r: dict, key: str) -> list[str]:
    L = [title, "", "| trial | int8 val acc | int8 test acc | flash B | RAM B | MACs | model | architecture |",
         "|---|---|---|---|---|---|---|---|"]
    for p in r[key]:
        L.append(f"| {p['trial']} | {100 * (1 - p['val_error']):.2f} % | {100 * p['test_accuracy_int8']:.2f} % | "
                 f"{p['flash_bytes']} | {p['arena_bytes']} | {p['macs']} | {p.get('file', '')} | {p['description']} |")
    return L + [""]


def write_report(args, results, targets, budget, out: Path) -> None:
    summary = summarise(results)
    bd = budget.to_dict()
    doc = {"benchmark": "search", "dataset": args.dataset,
           "budget": {"epochs_per_run": args.budget_epochs, "screen_epochs": args.epochs, "screen_train_images":
                      args.max_train, "final_epochs": args.final_epochs, "final_top": args.final_top,
                      "final_samplers": args.final_samplers, "max_blocks": args.max_blocks,
                      "max_filters": args.max_filters, "startup": args.startup, "seeds": args.seeds,
                      "target_budget_epochs": args.target_budget_epochs, "target_final_top": args.target_final_top},
           "constraint": bd, "targets": [{"max_flash": f, "max_ram": r, "test_accuracy": a} for f, r, a in TARGETS],
           "hypervolume_definition": f"validation-Pareto models scored by int8 test error in (test error, size(flash), "
                                     f"size(RAM)), size(x) = log(x / {HV_SIZE_FLOOR} B) / log(max / {HV_SIZE_FLOOR} B) "
                                     f"(0 at or below {HV_SIZE_FLOOR} B), reference (1, 1, 1); larger is better",
           "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                       "python": platform.python_version()},
           "summary": summary, "verdict_screen": verdict(summary, "hv_screen"),
           "verdict_final": verdict(summary, "hv_final") if args.final_samplers else None,
           "runs": {s: {str(k): v for k, v in r.items()} for s, r in results.items()},
           "target_searches": targets}
    out.mkdir(parents=True, exist_ok=True)
    copy_models({**results, **{f"target_{k}": {0: v} for k, v in targets.items()}}, out / "search")
    (out / "search.json").write_text(json.dumps(doc, indent=1, default=str))
    if results:
        plot(results, summary, out / "search_pareto.png", bd)
    seeds = ", ".join(map(str, args.seeds))
    L = [f"# Search benchmark: {args.dataset}, SpArSe sampler vs NSGA-II, TPE and random search", "",
         f"Comparison: every run (sampler x seed) screens {args.budget_epochs} full-dataset-equivalent training "
         f"epochs ({args.epochs} epochs per trial on {args.max_train} training images, a morph child half of that). "
         + (f"Runs of {', '.join(args.final_samplers)} then retrain up to {args.final_top} validation-Pareto "
            f"trials plus the most accurate trial within each target for {args.final_epochs} epochs on the whole "
            "training split. " if args.final_samplers else "The comparison runs are not finalised (the final "
            "stage would compare nothing unless every sampler got it); the target searches are. ")
         + f"Seeds: {seeds}. Space: up to {args.max_blocks} conv blocks of up to "
         f"{args.max_filters} filters. Constraint: flash <= {bd['max_flash']} B, RAM (arena) <= {bd['max_ram']} B "
         f"(exporter figures). Target searches: the SpArSe sampler under each target's own budget, "
         f"screening for the epochs its row gives (default {args.target_budget_epochs}; the sampler's error weight "
         f"1 unless the row gives another), then the final stage for its "
         f"{args.target_final_top} best trials"
         + (", and the refit of the finalised model validation chooses within its budget on the training and "
            "validation images together (the final run's epochs, no early stopping: `nas/finalise.refit_final`, "
            "`sparsemcu search --refit`)" if args.target_refit else "")
         + f". Machine: {os.cpu_count()} CPU cores, no GPU.", "",
         "## Targets", ""] + targets_table(results, targets) + [
         "", "A target is met only by a model a search found and finalised, chosen on validation; where that "
         "model was refit, the refit is what ships and what the row scores (its validation figure is the final "
         "run's, which chose it). What the training recipe reaches on "
         "hand-picked architectures of the same space is in [search_recipe.md](search_recipe.md).",
         "", "## Hypervolume of the screened fronts (mean ± standard deviation over seeds)", "",
         "| sampler | seeds | HV screened | HV final | trials | collapsed | feasible | morph children "
         "(function-preserving) | epochs/trial fresh, morph | morph child vs parent | screening wall s | "
         "final wall s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, by_seed in results.items():
        s = summary[name]
        rs = list(by_seed.values())

        def ms(k):
            return f"{s[k]['mean']:.4f} ± {s[k]['std'] or 0:.4f} (n={s[k]['n']})" if s[k]["mean"] is not None else "-"
        L.append(f"| {name} | {len(rs)} | {ms('hv_screen')} | {ms('hv_final')} | {sum(r['trials_complete'] for r in rs)} | "
                 f"{sum(r['trials_collapsed'] for r in rs)} | {sum(r['feasible'] for r in rs)} | "
                 f"{sum(r['morph_children'] for r in rs)} ({sum(r['morph_function_preserving'] for r in rs)}) | "
                 f"{_mean([r['mean_epoch_cost_fresh'] for r in rs]) or '-'}, "
                 f"{_mean([r['mean_epoch_cost_morph'] for r in rs]) or '-'} | "
                 f"{_morph_summary(rs)} | {sum(r['trial_seconds'] for r in rs):.0f} | {sum(r['final_seconds'] for r in rs):.0f} |")
    L += ["", f"Verdict (screened fronts, the samplers' comparison): {doc['verdict_screen']}.", "",
          *([f"Verdict (finalised fronts): {doc['verdict_final']}.", ""] if doc["verdict_final"] else []),
          doc["hypervolume_definition"][:1].upper() + doc["hypervolume_definition"][1:] + ".", ""]
    for name, r in targets.items():
        L += _front_table(f"## Target search {name} ({r['trials_complete']} trials, {_hours(r)}; "
                          f"{r['final_seconds'] / 3600:.2f} h final stage): finalised models", r, "finals")
        for p in r.get("refits", []):
            L += [f"Refit of trial {p['trial']} on the training + validation images "
                  f"({r['refit_seconds'] / 3600:.2f} h): int8 test acc {100 * p['test_accuracy_int8']:.2f} %, "
                  f"{p['flash_bytes']} B flash, {p['arena_bytes']} B RAM, {p.get('file', '')}.", ""]
    L += ["## Fronts per run (chosen on validation, scored on test)", ""]
    for name, by_seed in results.items():
        for seed, r in sorted(by_seed.items()):
            key = "final_front" if r.get("hv_final") is not None else "screen_front"
            hv = r["hv_final"] if key == "final_front" else r["hv_screen"]
            L += _front_table(f"**{name}, seed {seed}** ({'finalised' if key == 'final_front' else 'screened'}, "
                              f"HV {hv:.4f})", r, key)
    L += ["![Pareto fronts of every seed](search_pareto.png)", "",
          "The training recipe alone, on hand-picked architectures of the same space: "
          "[search_recipe.md](search_recipe.md) (`bench/bench_recipe.py`).", ""]
    (out / "search.md").write_text("\n".join(L) + "\n")


def run_settings(args, budget, final: bool) -> dict:
    """What a saved comparison run must share with this invocation to be reused."""
    d = {"dataset": args.dataset, "space": SPACE_VERSION, "hv_size_floor": HV_SIZE_FLOOR,
         "budget_epochs": args.budget_epochs, "epochs": args.epochs,
         "max_train": args.max_train, "max_blocks": args.max_blocks, "max_filters": args.max_filters,
         "startup": args.startup, "constraint": budget.to_dict()}
    if final:
        d.update(final_epochs=args.final_epochs, final_top=args.final_top)
    return d


def target_settings(args, budget, budget_epochs: float, error_weight: float = 1.0, refit: bool = False) -> dict:
    """What a target search was run with; the error weight only when not the default 1 (as in
    SearchConfig.identity), the refit only when on (searches saved before it existed had none)."""
    return {"dataset": args.dataset, "space": SPACE_VERSION, "budget_epochs": budget_epochs,
            "epochs": args.epochs,
            "max_train": args.max_train, "max_blocks": args.max_blocks, "max_filters": args.max_filters,
            "startup": args.startup, "final_epochs": args.final_epochs, "final_top": args.target_final_top,
            "constraint": budget.to_dict(), **({"error_weight": error_weight} if error_weight != 1.0 else {}),
            **({"refit": True} if refit else {})}


def load_saved(path: Path, settings: dict) -> dict | None:
    """The summary of a run finished earlier (perhaps on another machine) and saved at `path`, None if
    there is none; a saved run of other settings is an error (it would be silently mixed in)."""
    if not path.is_file():
        return None
    rec = json.loads(path.read_text())
    if rec.get("settings") != settings:
        raise SystemExit(f"{path} was run with other settings ({rec.get('settings')}); delete it to re-run")
    r = rec["result"]
    db = Path(r["run_dir"]) / "study.db"
    if "morph_pairs" not in r and db.is_file():  # saved before the benchmark recorded them
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        r["morph_pairs"] = morph_pairs(optuna.load_study(study_name=None, storage=f"sqlite:///{db.resolve()}"))
    return r


def save_run(path: Path, settings: dict, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"settings": settings, "result": result}, indent=1, default=str))
    os.replace(tmp, path)


def collect_saved(args, budget, saved: Path, log) -> tuple[dict, dict]:
    """Every finished run in `saved` with this benchmark's settings, whichever process ran it: the
    comparison runs by sampler and seed, and the target searches by name. Runs of other settings are
    left out of the report (with a line saying so)."""
    from sparsemcu.commands.search import resolve_budget
    results: dict = {s: {} for s in COLORS}
    targets: dict = {}
    for path in sorted(saved.glob("*.json")):
        m_run = re.fullmatch(r"(\w+)_seed(\d+)", path.stem)
        m_target = re.fullmatch(r"target_flash(\d+)_ram(\d+)", path.stem)
        if m_target:  # each target search has its own screening budget and error weight, recorded with it
            own = json.loads(path.read_text()).get("settings", {})
            settings = target_settings(args, resolve_budget(args.board, int(m_target[1]), int(m_target[2])),
                                       own.get("budget_epochs"), own.get("error_weight", 1.0), own.get("refit", False))
        elif m_run and m_run[1] in results:
            settings = run_settings(args, budget, m_run[1] in args.final_samplers)
        else:
            continue
        try:
            r = load_saved(path, settings)
        except SystemExit as exc:
            log(f"not in the report: {exc}")
            continue
        if m_target:
            targets[path.stem[len("target_"):]] = dict(r, error_weight=own.get("error_weight", 1.0))
        else:
            results[m_run[1]][int(m_run[2])] = r
    return {k: dict(sorted(v.items())) for k, v in results.items() if v}, targets


def _targets(text: str) -> list[tuple[int, int, float | None, float]]:
    """"F:R[:E[:W]],...": flash and RAM budgets in bytes, and optionally that search's screening epochs
    and the SpArSe sampler's error weight (default 1)."""
    out = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        f, r, *rest = item.split(":")
        e, w = (rest + ["", ""])[:2]
        out.append((int(f), int(r), float(e) if e else None, float(w) if w else 1.0))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--samplers", default="sparse,nsga2,tpe,random")
    ap.add_argument("--seeds", default="0,1,2", type=lambda s: [int(x) for x in s.split(",") if x.strip()])
    ap.add_argument("--budget-epochs", type=float, default=16.0,
                    help="screening budget per run in full-dataset-equivalent epochs")
    ap.add_argument("--epochs", type=int, default=5, help="screening epochs per trial")
    ap.add_argument("--max-train", type=int, default=10000, help="screening training images")
    ap.add_argument("--final-samplers", default="", type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                    help="comparison runs of these samplers also get the final stage")
    ap.add_argument("--final-epochs", type=int, default=30)
    ap.add_argument("--final-top", type=int, default=2)
    ap.add_argument("--target-searches", default="4096:4096", type=_targets,
                    help="FLASH:RAM[:EPOCHS[:W]] budgets of the target searches, comma-separated ('' for none); "
                         "EPOCHS: that search's screening budget (default --target-budget-epochs); W: the "
                         "sampler's error weight (search --error-weight, default 1)")
    ap.add_argument("--target-budget-epochs", type=float, default=40.0, help="screening budget of a target search")
    ap.add_argument("--target-final-top", type=int, default=3)
    ap.add_argument("--target-refit", action=argparse.BooleanOptionalAction, default=True,
                    help="retrain a target search's validation-chosen finalised model on training + validation "
                         "images (the model the targets table scores)")
    ap.add_argument("--max-blocks", type=int, default=3)
    ap.add_argument("--max-filters", type=int, default=64)
    ap.add_argument("--startup", type=int, default=8)
    ap.add_argument("--board", default="nucleo_f746", help="clock for latency (and the measured firmware reserve)")
    ap.add_argument("--max-flash", type=int, default=32768)
    ap.add_argument("--max-ram", type=int, default=16384)
    ap.add_argument("--threads", type=int, default=0, help="TensorFlow CPU threads per run (0: all cores)")
    ap.add_argument("--report-only", action="store_true", help="run nothing: the report from the saved runs")
    ap.add_argument("--workdir", default=str(RESULTS / "tmp" / "search_runs"), help="run directories (resumable)")
    ap.add_argument("--out", default=str(RESULTS), help="where search.json/.md/_pareto.png and search/ go")
    ap.add_argument("--progress", action="store_true", help="per-trial progress bars")
    args = ap.parse_args(argv)
    if args.threads > 0:  # read when TensorFlow starts, which is later
        os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(args.threads)
    warnings.filterwarnings("ignore")
    from tqdm import tqdm

    from sparsemcu.commands.search import resolve_budget
    budget = resolve_budget(args.board, args.max_flash, args.max_ram)
    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    workdir, out = Path(args.workdir), Path(args.out)
    saved = out / "search_runs"  # one small JSON per finished run, kept with the results
    order = [(seed, s) for seed in args.seeds for s in samplers]  # every sampler's seed 0 first
    jobs = [] if args.report_only else (
        [("run", s, seed) for seed, s in order] + [("target", (f, r), (e, w)) for f, r, e, w in args.target_searches])
    bar = tqdm(jobs, desc="bench runs", unit="run", file=sys.stderr, dynamic_ncols=True)
    log = lambda s: tqdm.write(s, file=sys.stderr)  # noqa: E731
    for kind, a, b in bar:
        if kind == "run":
            sampler, seed = a, b
            bar.set_postfix_str(f"{sampler} seed {seed}")
            final = sampler in args.final_samplers
            cfg = _search_config(args, f"{sampler}_seed{seed}", sampler, seed, budget, study=f"bench_{sampler}",
                                 budget_epochs=args.budget_epochs, final_epochs=args.final_epochs,
                                 final_top=args.final_top, workdir=workdir)
            path, settings, run = (saved / f"{sampler}_seed{seed}.json", run_settings(args, budget, final),
                                   lambda: run_one(cfg, log, final))
        else:
            (flash, ram), (epochs, error_weight) = a, (b[0] or args.target_budget_epochs, b[1])
            name = f"flash{flash}_ram{ram}"
            bar.set_postfix_str(f"target search {name}")
            tb = resolve_budget(args.board, flash, ram)
            cfg = _search_config(args, name, "sparse", 0, tb, study="target", budget_epochs=epochs,
                                 final_epochs=args.final_epochs, final_top=args.target_final_top,
                                 workdir=workdir.parent / "targets", error_weight=error_weight)
            path, settings = (saved / f"target_{name}.json",
                              target_settings(args, tb, epochs, error_weight, args.target_refit))
            run = lambda: run_one(cfg, log, True, refit=args.target_refit)  # noqa: E731
        if load_saved(path, settings) is None:  # else finished earlier: not redone
            save_run(path, settings, run())
            write_report(args, *collect_saved(args, budget, saved, log), budget, out)
    write_report(args, *collect_saved(args, budget, saved, log), budget, out)
    print(f"wrote {out / 'search.json'}, search.md, search_pareto.png, search/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
