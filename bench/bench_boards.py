"""Per model and board: latency per inference (emulated instructions on the QEMU boards, ns on
`host`, cycles on a real board), arena, stack high-water, static RAM and flash.

    .venv/bin/python bench/bench_boards.py [--boards qemu_mps2_an500,qemu_mps2_an386,nucleo_f746,host]
                                           [--samples 20] [--port P]

Models: the HIL models (board_test/models.py: depthwise-separable, residual, 90%-pruned CNNs on
digits), trained once and cached under bench/results/tmp/. Boards that cannot run here (a real
board without --port, or a missing tool) are built only: flash/RAM figures, no latency.
Writes bench/results/boards.json and bench/results/boards.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import sparsemcu.tf  # noqa: E402,F401  (TensorFlow environment)

from sparsemcu.deploy import deploy  # noqa: E402
from sparsemcu.board_test.models import MODEL_NAMES, export_hil_models  # noqa: E402
from sparsemcu.errors import SparsemcuError  # noqa: E402
from sparsemcu.firmware import build, get_board  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_BOARDS = ["qemu_mps2_an500", "qemu_mps2_an386", "nucleo_f746", "host"]


def bench(boards: list[str], samples: int, port: str | None) -> list[dict]:
    work = RESULTS / "tmp" / "boards"
    models = export_hil_models(work / "models")
    rows = []
    for name in MODEL_NAMES:
        export = json.loads((models[name] / "report.json").read_text())
        for board_name in boards:
            board = get_board(board_name)
            d = work / f"{name}__{board_name}"
            if d.exists():
                shutil.rmtree(d)
            shutil.copytree(models[name], d)
            row = {"model": name, "board": board_name, "arena_bytes": export["arena_bytes"],
                   "model_flash_bytes_report": export["flash_bytes"], "weight_bytes": export["weight_bytes"],
                   "macs": export["macs"], "nonzero_macs": export["nonzero_macs"]}
            runnable = board.is_host or board.is_qemu or port
            try:
                if runnable:
                    rep = deploy(d, board, port=port, data="digits", limit=samples, progress=False)
                    lat = rep["latency"]
                    row.update(status="ok", bit_exact=rep["bit_exact"], samples=rep["samples"], accuracy=rep["accuracy"],
                               latency_unit=lat["unit"], latency_median=lat["median"], latency_max=lat["max"],
                               latency_ms=(lat.get("ms") or {}).get("median"),
                               stack_bytes=rep["ram"]["stack_bytes"], static_bytes=rep["ram"]["static_bytes"],
                               flash_bytes=rep["flash_bytes"], model_flash_bytes=(rep.get("build") or {}).get("model_flash_bytes") or None)
                else:
                    res = build(d, board)
                    row.update(status="built only (no board attached)", static_bytes=res.static_bytes,
                               flash_bytes=res.flash_bytes, model_flash_bytes=res.model_flash_bytes)
            except SparsemcuError as exc:
                row.update(status=f"failed: {exc}")
            rows.append(row)
            print(f"{name:12s} {board_name:16s} {row.get('latency_median')} {row.get('latency_unit', '')} "
                  f"arena {row['arena_bytes']} stack {row.get('stack_bytes')} flash {row.get('flash_bytes')} [{row['status']}]",
                  file=sys.stderr)
    return rows


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float) and v <= 1.0:
        return f"{v:.3f}"
    if isinstance(v, float):
        return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def markdown(rows: list[dict]) -> str:
    cols = [("model", "model"), ("board", "board"), ("latency_median", "latency / inference (median)"),
            ("latency_unit", "unit"), ("macs", "MACs"), ("nonzero_macs", "non-zero MACs"), ("arena_bytes", "arena B"),
            ("stack_bytes", "stack B"), ("static_bytes", "static RAM B"), ("flash_bytes", "flash B"),
            ("model_flash_bytes", "model flash B"), ("accuracy", "accuracy"), ("bit_exact", "bit-exact"), ("status", "status")]
    lines = ["# Boards: latency and memory per model", "",
             "Latency: `emulated_instructions` under `qemu-system-arm -icount shift=0` (SysTick x 40), `ns` on the "
             "host (wall clock, noisy), `cycles` (DWT) on a real board. Stack = high-water mark measured on the "
             "device (painted stack). Flash = whole firmware (runtime + board + model).", "",
             "| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(k)) for k, _ in cols) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default=",".join(DEFAULT_BOARDS))
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--port", default=None, help="serial port of a real board (nucleo_f746)")
    args = ap.parse_args(argv)
    rows = bench([b for b in args.boards.split(",") if b], args.samples, args.port)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "boards.json").write_text(json.dumps(rows, indent=2) + "\n")
    (RESULTS / "boards.md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
