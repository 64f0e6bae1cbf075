"""Kernel speed on the emulated Cortex-M7 and M4, against TFLM + CMSIS-NN, and the cost model.

    .venv/bin/python bench/bench_kernels.py [--boards qemu_mps2_an500,qemu_mps2_an386] [--samples 3] [--refit]

Models: the two MLPerf-Tiny-shaped anchors of ../shared/anchor/ (whose README holds TFLM + CMSIS-NN's
figures on the same emulated board), each also magnitude-pruned to 90 % sparsity (same shapes), and
a calibration chain of varied layers. Each is exported with `--optimize speed`, built with per-layer
profiling, run on every board with random int8 inputs and checked bit-exactly against TFLM.
Instructions are emulated instructions (QEMU -icount shift=0, SysTick x 40), never cycles.

--refit refits export/cost_model.json (per core and kernel, non-negative least squares on the
per-layer measurements; kernel code bytes from the link map) before the tables are written, then
re-exports so the predictions shown are the refitted model's.
Writes bench/results/kernels.json, kernels.md and kernels_layers.png.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np

import sparsemcu.tf  # noqa: F401  (TensorFlow environment, before TensorFlow is imported)

from sparsemcu.deploy import deploy  # noqa: E402
from sparsemcu.export import cost  # noqa: E402
from sparsemcu.export.pipeline import Options, export_model  # noqa: E402
from sparsemcu.firmware.boards import get_board  # noqa: E402
from sparsemcu.firmware.build import code_bytes_by_object  # noqa: E402

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
ANCHOR_DIR = ROOT.parent.parent / "shared" / "anchor"
DEFAULT_BOARDS = ["qemu_mps2_an500", "qemu_mps2_an386"]
TARGET_RATIO = 0.5  # of TFLM + CMSIS-NN's instructions (dense models)
TARGET_PRUNED_RATIO = 0.2  # 90 %-pruned model, of TFLM + CMSIS-NN's instructions on the dense model
KIND_TARGETS = {"3x3 conv (>= 16 in ch)": 1.0, "1x1 conv": 1.0, "depthwise 3x3": 2.5, "first conv (1-3 in ch)": 2.0}


def anchor_figures() -> dict[str, dict]:
    """The anchor README's table: MACs, TFLM + CMSIS-NN instructions, TFLM reference, arena."""
    rows = {}
    for line in (ANCHOR_DIR / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and (ANCHOR_DIR / f"{cells[0]}.tflite").exists():
            nums = [int(c.replace(",", "")) for c in (cells[1], cells[2], cells[4], cells[5])]
            rows[cells[0]] = dict(zip(("macs", "tflm_cmsis", "tflm_reference", "tflm_arena"), nums))
    return rows


def cmsis_kind_figures() -> dict[str, str]:
    """CMSIS-NN instructions per MAC by layer kind, as the anchor README states them."""
    text = (ANCHOR_DIR / "README.md").read_text()
    out = {}
    for kind, pat in (("3x3 conv (>= 16 in ch)", r"3x3 conv, >= 16 input channels \| ([^|]+)\|"),
                      ("1x1 conv", r"1x1 conv [^|]*\| ([^|]+)\|"), ("first conv (1-3 in ch)", r"first conv [^|]*\| ([^|]+)\|"),
                      ("depthwise 3x3", r"depthwise 3x3 \| ([^|(]+)")):
        m = re.search(pat, text)
        out[kind] = m.group(1).strip() if m else "-"
    return out


def calibration_model():
    """A chain of varied layers (kernel sizes, strides, channel counts) for the cost-model fit."""
    from sparsemcu.tf import keras
    k = keras()
    L = k.layers
    return k.Sequential([
        L.Input((24, 24, 3)), L.Conv2D(8, 5, strides=2, padding="same", activation="relu"),
        L.Conv2D(24, 3, padding="same", activation="relu"), L.DepthwiseConv2D(3, padding="same", activation="relu"),
        L.Conv2D(40, 1, activation="relu"), L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6"),
        L.Conv2D(48, 3, padding="valid", activation="relu"), L.MaxPool2D(), L.Conv2D(20, 1),
        L.GlobalAveragePooling2D(), L.Dense(32, activation="relu"), L.Dense(10), L.Softmax()], name="calibration")


MODEL_NAMES = ("dscnn_kws", "resnet8", "dscnn_kws_pruned90", "resnet8_pruned90", "calibration")


def model_bytes(name: str, work: Path) -> bytes:
    if name == "calibration":
        from sparsemcu.board_test.model_zoo import to_int8_tflite
        cal = work / "calibration.tflite"
        if not cal.exists():
            cal.write_bytes(to_int8_tflite(calibration_model(), seed=1))
        return cal.read_bytes()
    dense = (ANCHOR_DIR / f"{name.replace('_pruned90', '')}.tflite").read_bytes()
    if name.endswith("_pruned90"):
        from sparsemcu.board_test.model_zoo import prune_tflite
        return prune_tflite(dense, 0.9)
    return dense


def layer_kind(layer: dict) -> str:
    op, ins = layer["op"], layer["input_shapes"][0]
    if op == "CONV_2D":
        k = layer.get("kernel_hw")
        if ins[-1] <= 3:
            return "first conv (1-3 in ch)"
        if k == [1, 1]:
            return "1x1 conv"
        if k == [3, 3] and ins[-1] >= 16:
            return "3x3 conv (>= 16 in ch)"
        return "other conv"
    if op == "DEPTHWISE_CONV_2D":
        return "depthwise 3x3" if layer.get("kernel_hw") == [3, 3] else "depthwise other"
    return op.lower()


def run(name: str, tfl: bytes, board: str, work: Path, samples: int, fusion: str = "never") -> dict:
    """Export for speed, deploy with per-layer profiling. Layer fusion (export/fuse.py) is off by
    default: these figures are the kernels' own (bench_memory.py measures what fusion costs)."""
    d = work / f"{name}__{board}__{fusion}"
    if d.exists():
        shutil.rmtree(d)
    core = get_board(board).cpu
    export = export_model(tfl, d, name=name, options=Options(optimize="speed", core=core, fusion=fusion))
    rep = deploy(d, board, limit=samples, progress=False, profile=True)
    code = code_bytes_by_object(Path(rep["build"]["map"]))
    kernels = {o[:-2]: b for o, b in code.items() if o.startswith("smcu_") and o != "smcu_main.o"}
    runtime = {o: b for o, b in code.items() if not o.startswith("smcu_") or o == "smcu_main.o"}
    layers = []
    for ex, meas in zip(export["layers"], rep["layers"]):
        layers.append({**{k: ex[k] for k in ("index", "op", "kernel", "variant", "macs", "nonzero_macs",
                                                "input_shapes", "output_shape", "predicted_instructions")},
                       "kernel_hw": ex.get("kernel_hw"), "features": ex.get("features", {}),
                       "measured": meas["measured"]})
    return {"model": name, "board": board, "core": core, "bit_exact": rep["bit_exact"], "samples": rep["samples"],
            "instructions": rep["latency"]["median"], "predicted": export["predicted_instructions"],
            "macs": export["macs"], "nonzero_macs": export["nonzero_macs"], "arena_bytes": export["arena_bytes"],
            "flash_bytes": rep["flash_bytes"], "kernel_code_bytes": kernels,
            "runtime_code_bytes": sum(runtime.values()) + sum(kernels.values()), "stack_bytes": rep["ram"]["stack_bytes"],
            "layers": layers}


def refit(rows: list[dict]) -> dict:
    """Non-negative least squares per (core, kernel) over the per-layer measurements."""
    from scipy.optimize import nnls
    model = json.loads(cost.MODEL_PATH.read_text())
    samples: dict[tuple[str, str], list] = {}
    for r in rows:
        for la in r["layers"]:
            if la["kernel"] != "in-place" and la["measured"]:
                samples.setdefault((r["core"], la["kernel"]), []).append(la)
    for (core, kernel), layers in sorted(samples.items()):
        current = model["cores"].get(core, {}).get(kernel) or model["cores"][cost.DEFAULT_CORE].get(kernel)
        names = sorted(set(current or {}) | set(cost.BASE_FEATURES)) if current else list(cost.BASE_FEATURES)
        names = [f for f in names if any(la["features"].get(f) for la in layers)]
        A = np.array([[la["features"].get(f, 0) for f in names] for la in layers], np.float64)
        y = np.array([la["measured"] for la in layers], np.float64)
        if len(layers) >= len(names):
            scale = np.maximum(A.max(axis=0), 1)
            coef, _ = nnls(A / scale, y)
            coef = coef / scale
        elif current:  # too few layers for every coefficient: scale the current prediction to them
            names = list(current)
            base = np.array([sum(c * la["features"].get(f, 0) for f, c in current.items()) for la in layers])
            factor = float(y @ base / (base @ base)) if base.any() else 1.0
            coef = np.array([c * factor for c in current.values()])
        else:
            coef = np.linalg.lstsq(A, y, rcond=None)[0].clip(0)
        model["cores"].setdefault(core, {})[kernel] = {f: round(float(c), 6) for f, c in zip(names, coef) if c > 0}
    measured: dict[str, int] = {}  # the largest build of each kernel measured now replaces the old figure
    for r in rows:
        for k, b in r["kernel_code_bytes"].items():
            measured[k] = max(b, measured.get(k, 0))
    model.setdefault("code_bytes", {}).update(measured)
    model["about"] = ("Predicted instructions per kernel call = sum(coefficient * feature) (export/cost.py); "
                      "fitted by bench/bench_kernels.py --refit on per-layer emulated instructions.")
    cost.save_model(model)
    return model


def kind_table(rows: list[dict]) -> list[dict]:
    """Instructions per MAC by layer kind (dense anchor models), with CMSIS-NN's figures."""
    cmsis = cmsis_kind_figures()
    out = []
    for board in sorted({r["board"] for r in rows}):
        acc: dict[str, list[float]] = {}
        for r in rows:
            if r["board"] != board or r["model"] not in ("dscnn_kws", "resnet8"):
                continue
            for la in r["layers"]:
                if la["macs"] and la["measured"]:
                    kind = layer_kind(la)
                    acc.setdefault(kind, [0.0, 0.0])
                    acc[kind][0] += la["measured"]
                    acc[kind][1] += la["macs"]
        for kind, (ins, macs) in sorted(acc.items()):
            out.append({"board": board, "kind": kind, "instructions_per_mac": ins / macs, "macs": int(macs),
                        "cmsis_nn": cmsis.get(kind, "-"), "target": KIND_TARGETS.get(kind)})
    return out


def markdown(rows: list[dict], kinds: list[dict], anchors: dict) -> str:
    lines = ["# Kernels: emulated instructions against TFLM + CMSIS-NN", "",
             "Emulated instructions per inference (QEMU 7.2 `-icount shift=0`, SysTick x 40; instructions, not "
             "cycles), median of the samples, outputs bit-exact with TFLM. TFLM + CMSIS-NN figures are from "
             "`../shared/anchor/README.md` (same emulated Cortex-M7). Export: `--optimize speed`.", "",
             "## Whole models", "",
             "| model | board | instructions | TFLM+CMSIS-NN (dense) | ratio | target | predicted | prediction error "
             "| MACs | non-zero MACs | arena B | TFLM arena B | flash B | runtime+kernel code B | bit-exact |",
             "|" + "---|" * 15]
    for r in rows:
        base = anchors.get(r["model"].replace("_pruned90", ""))
        target = TARGET_PRUNED_RATIO if "pruned" in r["model"] else TARGET_RATIO
        err = (r["predicted"] - r["instructions"]) / r["instructions"]
        cells = [r["model"], r["board"], f"{r['instructions']:,.0f}",
                 f"{base['tflm_cmsis']:,}" if base else "-",
                 f"{r['instructions'] / base['tflm_cmsis']:.3f}x" if base else "-",
                 f"<= {target}x" if base else "-", f"{r['predicted']:,}", f"{err:+.1%}", f"{r['macs']:,}",
                 f"{r['nonzero_macs']:,}", f"{r['arena_bytes']:,}", f"{base['tflm_arena']:,}" if base else "-",
                 f"{r['flash_bytes']:,}", f"{r['runtime_code_bytes']:,}", "yes" if r["bit_exact"] else "NO"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Instructions per MAC by layer kind (dense anchors)", "",
              "| board | layer kind | instructions / MAC | target | CMSIS-NN | MACs |", "|---|---|---|---|---|---|"]
    for k in kinds:
        lines.append(f"| {k['board']} | {k['kind']} | {k['instructions_per_mac']:.2f} | "
                     f"{'<= ' + str(k['target']) if k['target'] else '-'} | {k['cmsis_nn']} | {k['macs']:,} |")
    lines += ["", "## Kernel code bytes (Thumb-2, from the link map; MAC kernels -O2, pooling, MEAN and SOFTMAX -Os)", "", "| kernel | bytes |", "|---|---|"]
    code: dict[str, int] = {}
    for r in rows:
        for k, b in r["kernel_code_bytes"].items():
            code[k] = max(b, code.get(k, 0))
    lines += [f"| {k} | {b:,} |" for k, b in sorted(code.items())]
    lines += ["", "## Per layer", "", "| model | board | # | op | variant | MACs | measured | predicted | instr/MAC |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for la in r["layers"]:
            if la["kernel"] == "in-place":
                continue
            ipm = f"{la['measured'] / la['macs']:.2f}" if la["macs"] and la["measured"] else "-"
            lines.append(f"| {r['model']} | {r['board']} | {la['index']} | {la['op']} | {la['variant']} | {la['macs']:,} | "
                         f"{la['measured'] or 0:,.0f} | {la['predicted_instructions']:,} | {ipm} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], anchors: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shown = [r for r in rows if r["model"].replace("_pruned90", "") in anchors]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(shown) + 2), 4))
    x = np.arange(len(shown))
    ax.bar(x - 0.2, [r["instructions"] / 1e6 for r in shown], width=0.4, label="sparsemcu (measured)")
    ax.bar(x + 0.2, [anchors[r["model"].replace("_pruned90", "")]["tflm_cmsis"] / 1e6 for r in shown], width=0.4,
           label="TFLM + CMSIS-NN (dense)")
    ax.set_xticks(list(x))
    ax.set_xticklabels([f"{r['model']}\n{r['board'].replace('qemu_mps2_', '')}" for r in shown], fontsize=7)
    ax.set_ylabel("million emulated instructions / inference")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default=",".join(DEFAULT_BOARDS))
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--refit", action="store_true", help="refit export/cost_model.json from the measurements")
    ap.add_argument("--models", help="comma-separated subset of the models")
    ap.add_argument("--results", type=Path, default=RESULTS,
                    help="folder for the result files and the build work (default bench/results)")
    args = ap.parse_args(argv)
    results = args.results
    work = results / "tmp" / "kernels"
    work.mkdir(parents=True, exist_ok=True)
    anchors = anchor_figures()
    names = args.models.split(",") if args.models else MODEL_NAMES
    todo = {n: model_bytes(n, work) for n in names}
    boards = [b for b in args.boards.split(",") if b]
    rows = [run(n, tfl, b, work, args.samples) for n, tfl in todo.items() for b in boards]
    if args.refit:
        refit(rows)
        rows = [run(n, tfl, b, work, args.samples) for n, tfl in todo.items() for b in boards]
    kinds = kind_table(rows)
    results.mkdir(parents=True, exist_ok=True)
    (results / "kernels.json").write_text(json.dumps({"anchors": anchors, "runs": rows, "kinds": kinds}, indent=1) + "\n")
    (results / "kernels.md").write_text(markdown(rows, kinds, anchors))
    plot(rows, anchors, results / "kernels_layers.png")
    print(markdown(rows, kinds, anchors).split("## Per layer")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
