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
Then, on the emulated M7, the instructions layer fusion adds (anchor models, speed export).
Writes bench/results/memory.{json,md} and memory_<model>_<policy>.png (per-layer live bytes); the
HIL models are trained once and cached where bench_boards.py caches them.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
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
    from bench_kernels import ANCHOR_DIR, anchor_figures
    return {n: (ANCHOR_DIR / f"{n}.tflite", f["tflm_arena"]) for n, f in anchor_figures().items()}


def _tflm_arena(tfl: bytes) -> int | None:
    from sparsemcu.board_test.reference import tflm_arena_bytes
    return tflm_arena_bytes(tfl)["total"]


def fusion_overhead(name: str, tfl: bytes, results: Path) -> dict:
    """Emulated instructions on the M7 with and without layer fusion (speed export, bit-exact checked)."""
    from bench_kernels import run
    work = results / "tmp" / "memory"
    work.mkdir(parents=True, exist_ok=True)
    runs = {f: run(name, tfl, BOARD, work, 3, fusion=f) for f in ("never", "auto")}
    base, fused = int(runs["never"]["instructions"]), int(runs["auto"]["instructions"])
    return {"model": name, "board": BOARD, "instructions_unfused": base, "instructions_fused": fused,
            "overhead": fused / base - 1, "arena_unfused": runs["never"]["arena_bytes"],
            "arena_fused": runs["auto"]["arena_bytes"],
            "bit_exact": bool(runs["never"]["bit_exact"] and runs["auto"]["bit_exact"])}


def measure(name: str, tfl: bytes, policy: str, tflm: int | None, results: Path) -> dict:
    options = Options.for_board(BOARD, optimize="balanced") if policy == "balanced" else Options(optimize=policy)
    t0 = time.perf_counter()
    m = lower(tfl, options)
    seconds = time.perf_counter() - t0
    # before: the same kernels unfused, in TFLite order, no overlaps
    unfused = lower(tfl, replace(options, fusion="never"))
    tflite_order = sorted(unfused.calls, key=lambda c: c.node)
    sizes = activation_sizes(unfused.graph, tflite_order, unfused.input)
    before = plan_memory(tflite_order, sizes, unfused.input, unfused.output, overlap=False)
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
        "order_changed": [c.node for c in m.calls] != sorted(c.node for c in m.calls),
        "fused": [c.op for c in m.calls if c.band or c.stream],
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
            "fused calls", "lower() s"]
    lines = ["# Activation RAM: arena against TFLM", "",
             "Before = the same kernels, unfused, every buffer disjoint while live, TFLite operator order (placed "
             "optimally, so at most the previous planner's arena). After = `sparsemcu export` today: each "
             "kernel's output may overlap the input it consumes (export/overlap.py), the operator order with the "
             "smallest arena (export/schedule.py), conv + pool and conv + conv (+ shortcut conv) + ADD fused row "
             "by row where that shrinks the arena (export/fuse.py), offsets by CP-SAT (export/planner.py); "
             "`optimal` = the solver proved no smaller arena exists for these calls. Balanced = the variants `--board {BOARD}` picks. "
             f"Target (issue 9): after <= {TARGET_RATIO}x TFLM's arena_used_bytes on the anchor models, no "
             "patch-based execution. Plots: memory_<model>_<policy>.png.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        target = "-" if r["ratio_after"] is None else ("yes" if r["ratio_after"] <= TARGET_RATIO else "no")
        cells = [r["model"], r["policy"], r["arena_before"], r["arena_after"], f"{r['saved']:.0%}", r["tflm_arena"],
                 r["ratio_before"], r["ratio_after"], target, r["optimal"], r["scratch_max"], r["overlaps_used"],
                 r["order_changed"], ", ".join(r["fused"]) or "-", r["lower_seconds"]]
        lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def overhead_markdown(rows: list[dict]) -> str:
    if not rows:
        return ""
    lines = ["", "## What layer fusion costs in time", "",
             f"Speed export on `{BOARD}`, emulated instructions per inference (not cycles), bit-exact checked: "
             "without fusion (`--fusion never`) and as exported by default (`--fusion auto`: conv + pool and "
             "conv + conv (+ shortcut conv) + ADD streamed row by row where the arena shrinks; nothing is "
             "recomputed, the extra work is the per-row kernel calls and the ring's row moves).", "",
             "| model | arena unfused B | arena fused B | instructions unfused | instructions fused | overhead | "
             "bit-exact |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['arena_unfused']:,} | {r['arena_fused']:,} | "
                     f"{r['instructions_unfused']:,} | {r['instructions_fused']:,} | {r['overhead']:+.1%} | "
                     f"{'yes' if r['bit_exact'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--models", help="comma-separated subset (anchor and HIL model names)")
    ap.add_argument("--no-run", action="store_true", help="plans only: no emulated runs of the fusion overhead")
    args = ap.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    models = {}
    anchors = _anchor_figures()
    for name, (path, arena) in anchors.items():
        models[name] = (path.read_bytes(), arena)
    for name in HIL_MODELS:
        tfl = tflite_path(RESULTS / "tmp" / "boards" / "models", name).read_bytes()
        models[name] = (tfl, _tflm_arena(tfl))
    wanted = args.models.split(",") if args.models else list(models)
    rows = [measure(n, models[n][0], policy, models[n][1], args.results)
            for n in wanted for policy in ("speed", "balanced")]
    overhead = [] if args.no_run else [fusion_overhead(n, models[n][0], args.results) for n in wanted
                                       if n in anchors]
    (args.results / "memory.json").write_text(json.dumps({"plans": rows, "fusion_overhead": overhead},
                                                         indent=1) + "\n")
    text = markdown(rows) + overhead_markdown(overhead)
    (args.results / "memory.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
