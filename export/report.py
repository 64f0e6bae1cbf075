"""DIR/report.json, the per-layer memory plot, the printed summary, and the atomic write of DIR."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .codegen import shape_str


def _quant(t, is_float: bool) -> dict:
    return {"shape": list(t.shape), "dtype": "int8", "scale": t.per_tensor_scale,
            "zero_point": t.per_tensor_zero_point, "float_in_tflite": is_float}


def _kernel_hw(call) -> list[int] | None:
    common = call.fields.get("c") if isinstance(call.fields.get("c"), dict) else call.fields
    return [common["k_h"], common["k_w"]] if "k_h" in common else None


def _shared(a, b) -> int:
    return max(0, min(a.offset + a.size, b.offset + b.size) - max(a.offset, b.offset))


def build_report(model, name: str, tflite_bytes: int) -> dict:
    g = model.graph
    layers = []
    for i, c in enumerate(model.calls):
        layers.append({
            "index": c.node, "op": c.op, "kernel": c.kernel or "in-place", "variant": c.variant,
            "predicted_instructions": c.predicted_instructions, "scratch_bytes": c.scratch_bytes,
            "kernel_hw": _kernel_hw(c), "features": c.features,
            "input_shapes": [list(g.tensors[t].shape) for t in c.inputs],
            "output_shape": list(g.tensors[c.output].shape),
            "encoding": c.weight_encoding, "weight_bytes": c.weight_bytes,
            "dense_weight_bytes": c.dense_weight_bytes, "flash_bytes": c.flash_bytes,
            "macs": c.macs, "nonzero_macs": c.nonzero_macs, "sparsity": round(c.sparsity, 4),
            "live_bytes": model.plan.live_bytes[i] if i < len(model.plan.live_bytes) else 0,
            "output_offset": model.plan.offset(c.output),
        })
    plan, before = model.plan, model.plan_without_overlaps()
    by_id = {b.id: b for b in plan.buffers}
    memory = {
        "arena_bytes": plan.arena_bytes, "arena_lower_bound": plan.lower_bound, "optimal": plan.optimal,
        "strategy": plan.strategy, "arena_bytes_without_overlaps": before.arena_bytes,
        "scratch_bytes": max((c.scratch_bytes for c in model.calls), default=0),
        "live_bytes_without_overlaps": before.live_bytes,
        "overlaps": [{"call": o.call, "node": model.calls[o.call].node, "input_tensors": by_id[o.reader].tensors,
                      "output_tensors": by_id[o.writer].tensors, "lag": o.lag,
                      "shared_bytes": _shared(by_id[o.reader], by_id[o.writer])} for o in plan.overlap_used],
    }
    return {
        "model": name, "model_hash": model.model_hash, "tflite_bytes": tflite_bytes,
        "flash_bytes": model.flash_bytes, "weight_bytes": model.weight_bytes,
        "dense_weight_bytes": model.dense_weight_bytes,
        "arena_bytes": model.plan.arena_bytes, "arena_lower_bound": model.plan.lower_bound,
        "memory_plan": model.plan.strategy, "macs": model.macs, "nonzero_macs": model.nonzero_macs,
        "optimize": model.options.optimize, "flash_budget": model.options.flash_budget, "core": model.options.core,
        "predicted_instructions": model.predicted_instructions,
        "input": _quant(model.input_tensor, model.float_input),
        "output": _quant(model.output_tensor, model.float_output),
        "layers": layers,
        "memory": memory,
        "buffers": [{"tensors": b.tensors, "size": b.size, "offset": b.offset, "first_call": b.first,
                     "last_call": b.last} for b in model.plan.buffers],
    }


def summary_table(rep: dict) -> str:
    rows = [("#", "op", "output", "variant", "weights B", "MACs", "sparsity", "pred. instr", "live B")]
    for layer in rep["layers"]:
        rows.append((str(layer["index"]), layer["op"], shape_str(layer["output_shape"]), layer["variant"],
                     str(layer["weight_bytes"]) if layer["encoding"] != "-" else "-", str(layer["macs"]),
                     f"{layer['sparsity']:.0%}" if layer["encoding"] != "-" else "-",
                     f"{layer['predicted_instructions']:,}", str(layer["live_bytes"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"flash {rep['flash_bytes']} B (weights {rep['weight_bytes']} B, dense would be "
                 f"{rep['dense_weight_bytes']} B)  arena {rep['arena_bytes']} B ({_arena_note(rep)})  MACs {rep['macs']} "
                 f"(non-zero {rep['nonzero_macs']})  predicted {rep['predicted_instructions']:,} instructions "
                 f"on {rep['core']} ({rep['optimize']})")
    return "\n".join(lines)


def _arena_note(rep: dict) -> str:
    mem = rep.get("memory", {})
    note = "optimal" if mem.get("optimal") else f"lower bound {rep['arena_lower_bound']} B"
    if mem.get("arena_bytes_without_overlaps"):
        note += f", {mem['arena_bytes_without_overlaps']} B without overlaps"
    return f"{note}, {rep['memory_plan']}"


def plot_memory(rep: dict, path: Path) -> None:
    """Per-layer arena bytes in use, with and without input/output overlaps, and weight bytes, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers, mem = rep["layers"], rep.get("memory", {})
    labels = [f"{la['index']}:{la['op'].replace('_2D', '').lower()}" for la in layers]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(layers) + 2), 4))
    x = range(len(layers))
    before = mem.get("live_bytes_without_overlaps")
    if before:
        ax.bar([i - 0.27 for i in x], before[:len(layers)], width=0.27, color="0.75",
               label="live activations, no overlaps (B)")
    ax.bar(list(x), [la["live_bytes"] for la in layers], width=0.27,
           label="arena in use, overlaps counted once (B)")
    ax.bar([i + 0.27 for i in x], [la["weight_bytes"] for la in layers], width=0.27, label="weights, encoded (B)")
    ax.axhline(rep["arena_bytes"], color="k", linestyle="--", linewidth=1, label=f"arena {rep['arena_bytes']} B")
    if mem.get("arena_bytes_without_overlaps"):
        ax.axhline(mem["arena_bytes_without_overlaps"], color="0.5", linestyle=":", linewidth=1,
                   label=f"arena without overlaps {mem['arena_bytes_without_overlaps']} B")
    for o in mem.get("overlaps", []):
        if o["call"] < len(layers):
            ax.annotate(f"-{o['shared_bytes']}", (o["call"], layers[o["call"]]["live_bytes"]), fontsize=6,
                        ha="center", va="bottom")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("bytes")
    ax.set_title(f"{rep['model']}: per-layer memory (numbers: bytes an output shares with its input)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_export(out_dir, model_bytes: bytes, files: dict[str, str], rep: dict, model) -> dict:
    """Write everything into a temporary sibling, then swap it into place (nothing half-written)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        (tmp / "src").mkdir()
        for fname, text in files.items():
            (tmp / "src" / fname).write_text(text)
        (tmp / "model_int8.tflite").write_bytes(model_bytes)
        (tmp / "report.json").write_text(json.dumps(rep, indent=2) + "\n")
        plot_memory(rep, tmp / "memory.png")
        out_dir.mkdir(exist_ok=True)
        for item in ("src", "model_int8.tflite", "report.json", "memory.png"):
            dest = out_dir / item
            if dest.is_dir():
                shutil.rmtree(dest)
            os.replace(tmp / item, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rep
