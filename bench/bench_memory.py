#!/usr/bin/env python3
"""Activation RAM: our arena against TFLM's, before and after input/output overlaps and order search.

For each model (the ../shared/anchor models and the HIL models of bench/results/boards.md) and
variant policy (`speed`, and `balanced` for the board's budgets):
- before: every buffer disjoint while live (no input/output overlaps), TFLite operator order,
  placed optimally (CP-SAT) -- at most what the previous planner gave;
- after: what `sparsemcu export` plans today (overlaps the kernels allow, the best operator
  order, CP-SAT), with whether the solver proved it optimal and how long planning took;
- TFLM's arena_used_bytes for the same .tflite (the anchor README's figure where there is one,
  else measured with the tflite_micro interpreter).
Writes bench/results/memory.{json,md} and memory_<model>_<policy>.png (per-layer live bytes); the
HIL models are trained once and cached where bench_boards.py caches them.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import sparsemcu.tf  # noqa: F401  (TensorFlow environment, before TensorFlow is imported)

from sparsemcu.board_test.models import MODEL_NAMES as HIL_MODELS, tflite_path  # noqa: E402
from sparsemcu.export import report as export_report  # noqa: E402
from sparsemcu.export.pipeline import Options, activation_sizes, lower  # noqa: E402
from sparsemcu.export.planner import plan_memory  # noqa: E402

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
TARGET_RATIO = 0.6  # of TFLM's arena_used_bytes, without patch-based execution
BOARD = "qemu_mps2_an500"


def _anchor_figures() -> dict:
    sys.path.insert(0, str(ROOT))
    from bench_kernels import ANCHOR_DIR, anchor_figures
    return {n: (ANCHOR_DIR / f"{n}.tflite", f["tflm_arena"]) for n, f in anchor_figures().items()}


def _tflm_arena(tfl: bytes) -> int | None:
    sys.path.insert(0, str(ROOT.parent / "tests"))
    from harness import tflm_arena_bytes
    return tflm_arena_bytes(tfl)["total"]


def measure(name: str, tfl: bytes, policy: str, tflm: int | None, results: Path) -> dict:
    options = Options.for_board(BOARD, optimize="balanced") if policy == "balanced" else Options(optimize=policy)
    t0 = time.perf_counter()
    m = lower(tfl, options)
    seconds = time.perf_counter() - t0
    # before: the same calls in TFLite order, no overlaps
    tflite_order = sorted(m.calls, key=lambda c: c.node)
    sizes = activation_sizes(m.graph, tflite_order, m.input)
    before = plan_memory(tflite_order, sizes, m.input, m.output, overlap=False)
    rep = export_report.build_report(m, name, len(tfl))
    png = results / f"memory_{name}_{policy}.png"
    export_report.plot_memory(rep, png)
    after = m.plan.arena_bytes
    return {
        "model": name, "policy": policy, "arena_before": before.arena_bytes, "arena_after": after,
        "saved": 1 - after / before.arena_bytes, "tflm_arena": tflm,
        "ratio_before": before.arena_bytes / tflm if tflm else None, "ratio_after": after / tflm if tflm else None,
        "optimal": m.plan.optimal, "lower_bound": m.plan.lower_bound, "strategy": m.plan.strategy,
        "scratch_max": max((c.scratch_bytes for c in m.calls), default=0),
        "overlaps_used": len(m.plan.overlap_used),
        "order_changed": [c.node for c in m.calls] != [c.node for c in tflite_order],
        "lower_seconds": round(seconds, 3), "plot": png.name,
    }


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def markdown(rows: list[dict]) -> str:
    head = ["model", "policy", "arena before B", "arena after B", "saved", "TFLM arena B", "before / TFLM",
            "after / TFLM", "target", "optimal", "largest scratch B", "overlaps used", "order changed",
            "lower() s"]
    lines = ["# Activation RAM: arena against TFLM", "",
             "Before = the same kernels with every buffer disjoint while live, TFLite operator order (placed "
             "optimally, so at most the previous planner's arena). After = `sparsemcu export` today: each "
             "kernel's output may overlap the input it consumes (export/overlap.py), the operator order with the "
             "smallest arena (export/schedule.py), offsets by CP-SAT (export/planner.py); `optimal` = the solver "
             f"proved no smaller arena exists for these kernels. Balanced = the variants `--board {BOARD}` picks. "
             f"Target (issue 9): after <= {TARGET_RATIO}x TFLM's arena_used_bytes on the anchor models, no "
             "patch-based execution. Plots: memory_<model>_<policy>.png.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        target = "-" if r["ratio_after"] is None else ("yes" if r["ratio_after"] <= TARGET_RATIO else "no")
        cells = [r["model"], r["policy"], r["arena_before"], r["arena_after"], f"{r['saved']:.0%}", r["tflm_arena"],
                 r["ratio_before"], r["ratio_after"], target, r["optimal"], r["scratch_max"], r["overlaps_used"],
                 r["order_changed"], r["lower_seconds"]]
        lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--models", help="comma-separated subset (anchor and HIL model names)")
    args = ap.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    models = {}
    for name, (path, arena) in _anchor_figures().items():
        models[name] = (path.read_bytes(), arena)
    for name in HIL_MODELS:
        tfl = tflite_path(RESULTS / "tmp" / "boards" / "models", name).read_bytes()
        models[name] = (tfl, _tflm_arena(tfl))
    wanted = args.models.split(",") if args.models else list(models)
    rows = [measure(n, models[n][0], policy, models[n][1], args.results)
            for n in wanted for policy in ("speed", "balanced")]
    (args.results / "memory.json").write_text(json.dumps(rows, indent=1) + "\n")
    (args.results / "memory.md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
