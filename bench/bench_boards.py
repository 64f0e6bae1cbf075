"""Per model and board: latency per inference (emulated instructions on the QEMU boards, ns on
`host`, cycles on a real board), arena, stack high-water, static RAM and flash.

    .venv/bin/python bench/bench_boards.py [--boards qemu_mps2_an500,qemu_mps2_an386,...,nucleo_f746,host]
                                           [--samples 20] [--port P]
    .venv/bin/python bench/bench_boards.py --fit qemu_microbit

Models: the HIL models (board_test/models.py: depthwise-separable, residual, 90%-pruned CNNs on
digits), trained once and cached under bench/results/tmp/, exported for each board's core (its cost
model picks the kernel variants, as `sparsemcu export --board` does). Boards that cannot run here (a
real board without --port, or a missing tool) are built only: flash/RAM figures, no latency.
Writes bench/results/boards.json and bench/results/boards.md; rows of boards not run this time are
kept from the previous boards.json.

--fit BOARD fits the cost-model table of BOARD's core (export/cost_model.json) from per-layer
emulated instructions: the HIL models and bench_kernels.py's calibration chain exported with each
kernel variant in turn (layer fusion off), profiled on BOARD and checked bit-exactly against TFLM;
non-negative least squares per kernel (bench_kernels.refit). Made for the cores bench_kernels.py
cannot measure because its anchor models do not fit them (the 16 KB Cortex-M0 micro:bit). The
measurements go to bench/results/boards_fit_<core>.json; variants the core does not run as designed
(export/cost.py suited) are measured but not fitted.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import sparsemcu.tf  # noqa: E402,F401  (TensorFlow environment)

from sparsemcu.deploy import deploy  # noqa: E402
from sparsemcu.board_test.models import MODEL_NAMES, tflite_path  # noqa: E402
from sparsemcu.errors import SparsemcuError  # noqa: E402
from sparsemcu.export import cost  # noqa: E402
from sparsemcu.export.pipeline import Options, export_model  # noqa: E402
from sparsemcu.firmware import build, get_board  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_BOARDS = ["qemu_mps2_an500", "qemu_mps2_an386", "qemu_netduinoplus2", "qemu_microbit", "nucleo_f746", "host"]
FIT_VARIANTS = ["dense", "rle", "sparse", "simd", "fast", "generic"]


def core_of(board_name: str) -> str:
    b = get_board(board_name)
    return b.cpu or ("host" if b.is_host else cost.DEFAULT_CORE)


def export_for_core(work: Path, core: str, **options) -> dict[str, Path]:
    """The HIL models exported with `core`'s cost model: {name: export dir}."""
    out = {}
    for name in MODEL_NAMES:
        d = work / "exports" / core / name
        export_model(tflite_path(work / "models", name).read_bytes(), d, name=name,
                     options=Options(optimize="size" if "pruned" in name else "speed", core=core, **options))
        out[name] = d
    return out


def bench(boards: list[str], samples: int, port: str | None) -> list[dict]:
    work = RESULTS / "tmp" / "boards"
    exports: dict[str, dict[str, Path]] = {}
    rows = []
    for name in MODEL_NAMES:
        for board_name in boards:
            board = get_board(board_name)
            core = core_of(board_name)
            if core not in exports:
                exports[core] = export_for_core(work, core)
            src = exports[core][name]
            export = json.loads((src / "report.json").read_text())
            d = work / f"{name}__{board_name}"
            if d.exists():
                shutil.rmtree(d)
            shutil.copytree(src, d)
            row = {"model": name, "board": board_name, "core": core, "arena_bytes": export["arena_bytes"],
                   "model_flash_bytes_report": export["flash_bytes"], "weight_bytes": export["weight_bytes"],
                   "macs": export["macs"], "nonzero_macs": export["nonzero_macs"],
                   "variants": "/".join(sorted({la["variant"] for la in export["layers"] if la["kernel"] != "in-place"})),
                   "ram_available_bytes": board.ram_size or None}
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
            print(f"{name:12s} {board_name:18s} {row.get('latency_median')} {row.get('latency_unit', '')} "
                  f"arena {row['arena_bytes']} stack {row.get('stack_bytes')} flash {row.get('flash_bytes')} [{row['status']}]",
                  file=sys.stderr)
    return rows


def merge(old: list[dict], new: list[dict]) -> list[dict]:
    """The new rows, and the old rows of (model, board) pairs not run now; in model, board order."""
    done = {(r["model"], r["board"]) for r in new}
    rows = [r for r in old if (r.get("model"), r.get("board")) not in done] + new
    order = {b: i for i, b in enumerate(DEFAULT_BOARDS)}
    models = {m: i for i, m in enumerate(MODEL_NAMES)}
    return sorted(rows, key=lambda r: (models.get(r["model"], len(models)), order.get(r["board"], len(order)), r["board"]))


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
    cols = [("model", "model"), ("board", "board"), ("core", "core"), ("latency_median", "latency / inference (median)"),
            ("latency_unit", "unit"), ("macs", "MACs"), ("nonzero_macs", "non-zero MACs"), ("variants", "variants"),
            ("arena_bytes", "arena B"), ("stack_bytes", "stack B"), ("static_bytes", "static RAM B"),
            ("ram_available_bytes", "RAM B"), ("flash_bytes", "flash B"), ("model_flash_bytes", "model flash B"),
            ("samples", "samples"), ("accuracy", "accuracy"), ("bit_exact", "bit-exact"), ("status", "status")]
    lines = ["# Boards: latency and memory per model", "",
             "Latency: `emulated_instructions` under `qemu-system-arm -icount shift=0` (one instruction = 1 ns of "
             "virtual time; each board's timer scaled by board.json `tick_scale`: SysTick x 40 on the mps2 boards, "
             "SysTick x 125/21 on netduinoplus2's 168 MHz STM32F405, TIMER0 x 125 on the micro:bit), `ns` on the "
             "host (wall clock, noisy), `cycles` (DWT) on a real board. Each model is exported for the board's core "
             "(its cost model picks the variants; the Cortex-M0 gets no DSP variant). Stack = high-water mark "
             "measured on the device (painted stack). Flash = whole firmware (runtime + board + model); RAM B = "
             "the board's RAM.", "",
             "| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(k)) for k, _ in cols) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ cost-model table of one core
def fit_models(work: Path) -> dict[str, bytes]:
    from bench_kernels import calibration_model
    from sparsemcu.board_test.model_zoo import to_int8_tflite
    out = {name: tflite_path(work / "models", name).read_bytes() for name in MODEL_NAMES}
    out["calibration"] = to_int8_tflite(calibration_model(), seed=0)
    return out


def fit(board_name: str, samples: int) -> dict:
    from bench_kernels import refit
    core = core_of(board_name)
    work = RESULTS / "tmp" / "boards" / f"fit_{board_name}"
    layers = []
    for model, tfl in fit_models(RESULTS / "tmp" / "boards").items():
        for variant in FIT_VARIANTS:
            d = work / f"{model}__{variant}"
            if d.exists():
                shutil.rmtree(d)
            export = export_model(tfl, d, name=model, options=Options(optimize="size", variant=variant, core=core,
                                                                       fusion="never"))
            if variant not in {la["variant"] for la in export["layers"]}:
                continue
            try:
                rep = deploy(d, board_name, limit=samples, progress=False, profile=True)
            except SparsemcuError as exc:  # e.g. a model that does not fit the board
                print(f"fit {board_name}: {model} {variant}: skipped ({exc})", file=sys.stderr)
                continue
            assert rep["bit_exact"], (model, variant)
            for ex, meas in zip(export["layers"], rep["layers"]):
                if ex["kernel"] != "in-place" and meas["measured"]:
                    layers.append({"kernel": ex["kernel"], "variant": ex["variant"], "features": ex.get("features", {}),
                                   "measured": meas["measured"], "model": model})
            print(f"fit {board_name}: {model} {variant}: {rep['latency']['median']:,.0f} instructions", file=sys.stderr)
    dsp = set(cost.load_model().get("dsp", {}).get("variants", [])) if not cost.has_dsp(core) else set()
    fitted = [la for la in layers if la["variant"] not in dsp]
    original = cost.MODEL_PATH.read_text()
    # the features each kernel's fit may use: all its lowering reports where there are more distinct
    # layers than features (else refit scales the Cortex-M7 coefficients to the measurements)
    seeds: dict[str, dict] = {}
    for kernel in sorted({la["kernel"] for la in fitted}):
        ls = [la for la in fitted if la["kernel"] == kernel]
        feats = sorted({f for la in ls for f, v in la["features"].items() if v})
        if len({tuple(la["features"].get(f, 0) for f in feats) for la in ls}) > len(feats):
            seeds[kernel] = {f: 1.0 for f in feats}
    seeded = json.loads(original)
    seeded["cores"][core] = seeds
    cost.save_model(seeded)
    try:
        model = refit([{"core": core, "layers": fitted, "kernel_code_bytes": {}}])  # rewrites the file
    finally:
        cost.MODEL_PATH.write_text(original)
    kept = json.loads(original)
    kept["cores"][core] = model["cores"][core]
    cost.save_model(kept)  # only this core's table changes
    (RESULTS / f"boards_fit_{core}.json").write_text(json.dumps(layers, indent=1) + "\n")
    return kept["cores"][core]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default=",".join(DEFAULT_BOARDS))
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--port", default=None, help="serial port of a real board (nucleo_f746)")
    ap.add_argument("--fit", metavar="BOARD", default=None, help="fit the cost-model table of BOARD's core instead")
    args = ap.parse_args(argv)
    if args.fit:
        table = fit(args.fit, min(args.samples, 3))
        print(json.dumps(table, indent=1))
        return 0
    rows = bench([b for b in args.boards.split(",") if b], args.samples, args.port)
    RESULTS.mkdir(parents=True, exist_ok=True)
    try:
        old = json.loads((RESULTS / "boards.json").read_text())
    except (OSError, ValueError):
        old = []
    rows = merge(old, rows)
    (RESULTS / "boards.json").write_text(json.dumps(rows, indent=2) + "\n")
    (RESULTS / "boards.md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
