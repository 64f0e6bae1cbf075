#!/usr/bin/env python3
"""Fixed-budget search benchmark on Fashion-MNIST: the SpArSe sampler vs Optuna's NSGA-II.

Each sampler gets the same budget (completed trials, epochs per trial, training images)
and the same flash/RAM constraint; every trial's int8 model is measured by the exporter
(footprint) and its test accuracy is that of the int8 TFLite model. Writes
bench/results/search.json, search.md and search_pareto.png (test error vs flash and
vs RAM, Pareto fronts of both samplers), with hypervolumes and the budget used.

Hypervolume: over the feasible points in (test error, log(flash)/log(max flash),
log(RAM)/log(max RAM)) with reference point (1, 1, 1): every axis in [0, 1], 1 = worst
(error 100 %, or a model using the whole budget), so a larger hypervolume is better.

    .venv/bin/python bench/bench_search.py --trials 24 --epochs 3 --max-train 6000   (the defaults)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import sparsemcu.tf  # noqa: E402,F401  (TensorFlow environment)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"


def _points(records, budget):
    pts = []
    for m in records:
        if not m.get("feasible") or m.get("skipped_training") or m.get("test_accuracy_int8") is None:
            continue
        pts.append({"trial": m["trial"], "test_accuracy_int8": m["test_accuracy_int8"],
                    "val_error": m["val_error"], "flash_bytes": m["flash_bytes"], "arena_bytes": m["arena_bytes"],
                    "macs": m.get("macs"), "description": m.get("description", "")})
    return pts


def _normalised(p, budget):
    lf = math.log(max(p["flash_bytes"], 2)) / math.log(budget["max_flash"])
    lr = math.log(max(p["arena_bytes"], 2)) / math.log(budget["max_ram"])
    return [1.0 - p["test_accuracy_int8"], lf, lr]


def hypervolume(points, budget) -> float:
    from sparsemcu.nas.runs import hypervolume as hv
    if not points:
        return 0.0
    return hv(np.array([_normalised(p, budget) for p in points]), np.array([1.0, 1.0, 1.0]))


def front(points):
    from sparsemcu.nas.runs import pareto_mask
    if not points:
        return []
    Y = np.array([[1 - p["test_accuracy_int8"], p["flash_bytes"], p["arena_bytes"]] for p in points])
    return sorted([p for p, k in zip(points, pareto_mask(Y)) if k], key=lambda p: p["flash_bytes"])


def plot(results, path: Path, budget):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"sparse": "tab:red", "nsga2": "tab:blue", "tpe": "tab:green", "random": "tab:gray"}
    for name, r in results.items():
        c = colors.get(name, "k")
        pts, fr = r["points"], r["front"]
        for ax, key in ((axes[0], "flash_bytes"), (axes[1], "arena_bytes")):
            ax.scatter([p[key] for p in pts], [100 * (1 - p["test_accuracy_int8"]) for p in pts], s=14,
                       color=c, alpha=0.35)
            ax.scatter([p[key] for p in fr], [100 * (1 - p["test_accuracy_int8"]) for p in fr], s=40,
                       facecolors="none", edgecolors=c, label=f"{name} front (HV {r['hypervolume']:.3f})")
    for ax, xl, lim in ((axes[0], "flash (bytes, exporter)", budget["max_flash"]),
                        (axes[1], "RAM (arena bytes, exporter)", budget["max_ram"])):
        ax.axvline(lim, color="k", ls="--", lw=0.8, label="budget")
        ax.set_xscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel("test error of the int8 model (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Fashion-MNIST: SpArSe sampler vs NSGA-II at a fixed budget")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--samplers", default="sparse,nsga2")
    ap.add_argument("--trials", type=int, default=24, help="completed trials per sampler (the budget)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per trial (and per pruning phase)")
    ap.add_argument("--max-train", type=int, default=6000, help="training images per trial")
    ap.add_argument("--max-blocks", type=int, default=2)
    ap.add_argument("--max-filters", type=int, default=32)
    ap.add_argument("--startup", type=int, default=4)
    ap.add_argument("--board", default="nucleo_f746")
    ap.add_argument("--max-flash", type=int, default=65536, help="flash budget (bytes; default 64 KiB)")
    ap.add_argument("--max-ram", type=int, default=32768, help="RAM budget (bytes; default 32 KiB)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=str(RESULTS / "tmp"), help="run directories (resumable)")
    ap.add_argument("--out", default=str(RESULTS), help="where search.json/.md/_pareto.png go")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")

    from sparsemcu.commands.search import resolve_budget
    from sparsemcu.nas.search import SearchConfig, _records, run_search
    import optuna

    budget = resolve_budget(args.board, args.max_flash, args.max_ram)
    bdict = budget.to_dict()
    results = {}
    for name in [s.strip() for s in args.samplers.split(",") if s.strip()]:
        run_dir = Path(args.workdir) / f"search_{name}_{args.dataset}_t{args.trials}_e{args.epochs}"
        cfg = SearchConfig(dataset=args.dataset, out=run_dir, trials=args.trials, epochs=args.epochs,
                           sampler=name, budget=budget, seed=args.seed, max_blocks=args.max_blocks,
                           max_filters=args.max_filters, max_train=args.max_train, n_startup=args.startup,
                           progress=args.progress, study=f"bench_{name}")
        t0 = time.time()
        run_search(cfg)
        wall = time.time() - t0
        study = optuna.load_study(study_name=cfg.study, storage=f"sqlite:///{(run_dir / 'study.db').resolve()}")
        records = _records(study)
        seconds = float(sum(r.get("seconds", 0.0) for r in records))
        pts = _points(records, bdict)
        fr = front(pts)
        results[name] = {
            "run_dir": str(run_dir), "trials_complete": len(records),
            "trials_failed": len(study.get_trials(states=(optuna.trial.TrialState.FAIL,))),
            "feasible": sum(1 for r in records if r.get("feasible")),
            "skipped_infeasible": sum(1 for r in records if r.get("skipped_training")),
            "trial_seconds_total": round(seconds, 1), "wall_seconds_this_invocation": round(wall, 1),
            "hypervolume": hypervolume(pts, bdict), "points": pts, "front": fr,
            "best_test_accuracy_int8": max((p["test_accuracy_int8"] for p in pts), default=None),
            "smallest_flash_at_80pct": min((p["flash_bytes"] for p in pts if p["test_accuracy_int8"] >= 0.8),
                                           default=None),
        }
        print(f"{name}: {len(records)} trials, {results[name]['feasible']} feasible, "
              f"HV {results[name]['hypervolume']:.4f}, best int8 test acc "
              f"{results[name]['best_test_accuracy_int8']}", file=sys.stderr)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "search", "dataset": args.dataset,
        "budget": {"trials_per_sampler": args.trials, "epochs_per_trial": args.epochs,
                   "train_images": args.max_train, "max_blocks": args.max_blocks, "max_filters": args.max_filters,
                   "random_startup_trials": args.startup, "seed": args.seed},
        "constraint": bdict,
        "hypervolume_definition": "feasible points in (test error, log flash / log max_flash, "
                                  "log RAM / log max_RAM), reference (1, 1, 1); larger is better",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "samplers": results,
    }
    (out / "search.json").write_text(json.dumps(doc, indent=1))
    plot(results, out / "search_pareto.png", bdict)
    lines = [f"# Search benchmark: {args.dataset}, SpArSe sampler vs NSGA-II", "",
             f"Budget per sampler: {args.trials} completed trials, {args.epochs} epochs per trial (and per "
             f"pruning phase), {args.max_train} training images, up to {args.max_blocks} conv blocks of up to "
             f"{args.max_filters} filters, {args.startup} random start-up trials, seed {args.seed}.",
             f"Constraint: flash <= {bdict['max_flash']} B, RAM (arena) <= {bdict['max_ram']} B "
             f"(exporter figures). Machine: {os.cpu_count()} CPU cores, no GPU.", "",
             "| sampler | trials | feasible | hypervolume | best int8 test acc | least flash at >= 80 % acc | "
             "trial time (s) |", "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        best = r["best_test_accuracy_int8"]
        lines.append(f"| {name} | {r['trials_complete']} | {r['feasible']} | {r['hypervolume']:.4f} | "
                     f"{'-' if best is None else f'{100 * best:.2f} %'} | "
                     f"{r['smallest_flash_at_80pct'] or '-'} | {r['trial_seconds_total']} |")
    lines += ["", doc["hypervolume_definition"].capitalize() + ".", "",
              "Pareto fronts (test accuracy of the int8 model, flash, RAM):", ""]
    for name, r in results.items():
        lines += [f"**{name}**", "", "| trial | int8 test acc | flash B | RAM B | MACs | architecture |",
                  "|---|---|---|---|---|---|"]
        for p in r["front"]:
            lines.append(f"| {p['trial']} | {100 * p['test_accuracy_int8']:.2f} % | {p['flash_bytes']} | "
                         f"{p['arena_bytes']} | {p['macs']} | {p['description']} |")
        lines.append("")
    lines += ["![Pareto fronts](search_pareto.png)", "",
              "At this budget the comparison is indicative only: a handful of trials per sampler, one seed."]
    (out / "search.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'search.json'}, search.md, search_pareto.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
