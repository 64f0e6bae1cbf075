"""Render model.h / model.c from firmware_templates/model/*.j2 and gather the kernel sources."""
from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np

from sparsemcu.firmware_templates import root as _templates_root

from .ops.base import KernelCall

TEMPLATES = _templates_root()
KERNELS_DIR = TEMPLATES / "kernels"


def c_array_body(values: np.ndarray, per_line: int = 16) -> str:
    values = np.asarray(values)
    if values.ndim == 2:  # an array of structs: one initialiser per row
        return "\n".join("  {" + ", ".join(str(int(v)) for v in row) + "}," for row in values)
    flat = values.reshape(-1)
    lines = []
    for i in range(0, len(flat), per_line):
        lines.append("  " + ", ".join(str(int(v)) for v in flat[i:i + per_line]) + ",")
    return "\n".join(lines)


def c_value(v) -> str:
    """A parameter-struct field: an int, a C expression, or a nested struct (dict) as an initialiser."""
    if isinstance(v, dict):
        return "{" + ", ".join(f".{k} = {c_value(x)}" for k, x in v.items()) + "}"
    return v if isinstance(v, str) else str(int(v))


def c_float(v: float) -> str:
    return f"{float(np.float32(v))!r}f"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES / "model")),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(c_array=c_array_body, c_value=c_value, c_float=c_float)
    return env


def kernel_sources(calls: list[KernelCall]) -> dict[str, str]:
    """Every kernel header plus the sources of the variants the model calls."""
    used = {c.kernel for c in calls if c.kernel} | {c.band["pool"].kernel for c in calls if c.band}
    used |= {f.kernel for c in calls if c.stream for f in (c.stream["second"], c.stream["add"], c.stream["shortcut"])
             if f}
    files = {p.name: p.read_text() for p in sorted(KERNELS_DIR.glob("*.h"))}
    for name in sorted(used):
        src = KERNELS_DIR / f"{name}.c"
        if not src.exists():
            raise FileNotFoundError(f"kernel source missing: {src}")
        files[src.name] = src.read_text()
    return files


def shape_str(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def render(model, name: str) -> dict[str, str]:
    """All files of DIR/src as {filename: text}."""
    env = _env()
    g = model.graph
    calls = []
    for i, c in enumerate(model.calls):
        ins = ", ".join(shape_str(g.tensors[t].shape) for t in c.inputs)
        calls.append({"call": c, "comment": f"{c.op} [{ins}] -> [{shape_str(g.tensors[c.output].shape)}]"
                                           f" {c.kernel or 'in place'}",
                      "inputs": [model.plan.offset(t) for t in c.inputs],
                      "output": model.plan.offset(c.output),
                      "scratch": model.plan.scratch_offsets.get(i)})
    ctx = {"name": name, "model": model, "calls": calls, "plan": model.plan,
           "inp": model.input_tensor, "out": model.output_tensor,
           "input_offset": model.plan.offset(model.input), "output_offset": model.plan.offset(model.output)}
    files = {"model.h": env.get_template("model.h.j2").render(ctx),
             "model.c": env.get_template("model.c.j2").render(ctx)}
    files.update(kernel_sources(model.calls))
    return files
