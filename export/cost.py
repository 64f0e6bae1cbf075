"""Kernel cost model: predicted instructions per kernel call from the layer's shape.

Each kernel variant's instructions are a linear function of shape figures the lowering puts into
`KernelCall.features` (pixels, outputs, MACs, MACs over the padded K, im2col taps, run-length
entries x uses, input and output elements) plus a constant per call. The coefficients live in
export/cost_model.json, one table per core (`cortex-m7`, `cortex-m4`, `host`), and are refitted
from per-layer measurements on the emulated boards by bench/bench_kernels.py (--refit). A
kernel with no fitted coefficients falls back to its Cortex-M7 ones, then to `default`: a
pessimistic MACs/elements estimate (20 instructions per MAC), so an unmeasured variant is not chosen
over measured ones.

On a core without the DSP extension (cost_model.json `dsp.cores_without`: Cortex-M0/M0+/M3, ...) the
variants built around it (`dsp.variants`: the 16-bit SIMD ones) are not proposed at all (`suited`):
their M7/M4 figures assume SMLAD, and their portable C path, though bit-exact, is the slower choice
there. The Cortex-M0 table is fitted on the emulated micro:bit (bench/bench_boards.py --fit).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from .ops.base import KernelCall

MODEL_PATH = Path(__file__).with_name("cost_model.json")
DEFAULT_CORE = "cortex-m7"
# Figures every call has (filled by pipeline.lower) besides the lowering's own.
BASE_FEATURES = ("in_elems", "out_elems", "calls")


@lru_cache(maxsize=1)
def load_model() -> dict:
    return json.loads(MODEL_PATH.read_text())


def format_model(model: dict) -> str:
    """cost_model.json's layout: one line per top-level entry and, under "cores", per kernel."""
    def one(v):
        return json.dumps(v, separators=(", ", ": "))
    lines = ["{"]
    keys = list(model)
    for i, key in enumerate(keys):
        comma = "," if i < len(keys) - 1 else ""
        if key != "cores":
            lines.append(f"  {one(key)}: {one(model[key])}{comma}")
            continue
        lines.append('  "cores": {')
        cores = list(model["cores"])
        for j, core in enumerate(cores):
            lines.append(f"    {one(core)}: {{")
            kernels = list(model["cores"][core])
            for m, kernel in enumerate(kernels):
                sep = "," if m < len(kernels) - 1 else ""
                lines.append(f"      {one(kernel)}: {one(model['cores'][core][kernel])}{sep}")
            lines.append("    }" + ("," if j < len(cores) - 1 else ""))
        lines.append("  }" + comma)
    return "\n".join(lines + ["}"]) + "\n"


def save_model(model: dict) -> None:
    """Write cost_model.json (the benchmarks that fit it) in its layout, and forget the cached copy."""
    MODEL_PATH.write_text(format_model(model))
    load_model.cache_clear()


def coefficients(kernel: str, core: str = DEFAULT_CORE) -> dict[str, float]:
    """The kernel's coefficients on `core`; else its Cortex-M7 ones; else the generic default."""
    model = load_model()
    return (model["cores"].get(core, {}).get(kernel) or model["cores"][DEFAULT_CORE].get(kernel)
            or model["default"])


def has_dsp(core: str) -> bool:
    """False for the Arm cores without the DSP extension (cost_model.json `dsp.cores_without`)."""
    return core not in load_model().get("dsp", {}).get("cores_without", [])


def suited(candidates: list[KernelCall], core: str, prefer: str | None = None) -> list[KernelCall]:
    """The candidates `core` runs as designed: without the DSP extension, no variant built around it
    (unless asked for by name with `prefer`, or nothing else is proposed)."""
    if has_dsp(core):
        return candidates
    dsp = set(load_model().get("dsp", {}).get("variants", []))
    kept = [c for c in candidates if c.variant not in dsp or c.variant == prefer]
    return kept or candidates


def predict(call: KernelCall, core: str = DEFAULT_CORE) -> int:
    """Predicted instructions of one call (0 for calls with no code)."""
    if not call.kernel:
        return 0
    coef = coefficients(call.kernel, core)
    return int(round(sum(c * call.features.get(f, 0) for f, c in coef.items())))


def code_bytes(kernel: str) -> int:
    """Flash of one kernel variant's code (Thumb-2, -O2), measured by bench/bench_kernels.py."""
    return int(load_model().get("code_bytes", {}).get(kernel, 0))
