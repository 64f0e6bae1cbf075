"""Exporter benchmark: our arena vs TFLM's, encoded vs dense weight bytes at several sparsities.

Writes bench/results/export.json and bench/results/export.md. Usage:
    python bench/bench_export.py [--data fashion_mnist] [--sparsities 0 0.5 0.8 0.9 0.95]

Each model is trained for one short epoch (realistic int8 ranges), then pruned by magnitude
to each sparsity and exported.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sparsemcu.board_test.model_zoo import MODELS, to_int8_tflite
from sparsemcu.board_test.reference import tflm_arena_bytes
from sparsemcu.export.pipeline import lower
from sparsemcu.prune.common import zero_smallest_weights


def trained_weights(build, data, samples: int = 6000):
    """One short epoch on real data, so that activation ranges (and int8 scales) are realistic."""
    model = build(data.x_train.shape[1:], data.num_classes)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train[:samples], data.y_train[:samples], epochs=1, batch_size=64, verbose=0)
    return model.get_weights()


def measure(name: str, build, data, weights, sparsity: float) -> dict:
    model = build(data.x_train.shape[1:], data.num_classes)
    model.set_weights(weights)
    model = zero_smallest_weights(model, sparsity)
    tfl = to_int8_tflite(model, data.x_train[:200])
    lowered = lower(tfl)
    tflm = tflm_arena_bytes(tfl)
    return {
        "model": name, "sparsity_target": sparsity, "tflite_bytes": len(tfl),
        "arena_bytes": lowered.plan.arena_bytes, "arena_lower_bound": lowered.plan.lower_bound,
        "tflm_arena_used_bytes": tflm["total"], "tflm_activation_bytes": tflm["head"],
        "weight_bytes_encoded": lowered.weight_bytes, "weight_bytes_dense": lowered.dense_weight_bytes,
        "weight_ratio": round(lowered.weight_bytes / lowered.dense_weight_bytes, 3),
        "flash_bytes": lowered.flash_bytes, "macs": lowered.macs, "nonzero_macs": lowered.nonzero_macs,
        "encodings": sorted({c.weight_encoding for c in lowered.calls if c.weight_encoding != "-"}),
    }


def markdown(rows: list[dict]) -> str:
    head = ("| model | sparsity | .tflite B | arena B | lower bound B | TFLM arena_used B | TFLM activations B "
            "| weights dense B | weights encoded B | ratio | flash B | MACs | non-zero MACs |")
    lines = [head, "|" + "|".join(["---"] * 13) + "|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['sparsity_target']:.2f} | {r['tflite_bytes']} | {r['arena_bytes']} | "
                     f"{r['arena_lower_bound']} | {r['tflm_arena_used_bytes']} | {r['tflm_activation_bytes']} | "
                     f"{r['weight_bytes_dense']} | {r['weight_bytes_encoded']} | {r['weight_ratio']} | "
                     f"{r['flash_bytes']} | {r['macs']} | {r['nonzero_macs']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="fashion_mnist", help="dataset for training and calibration")
    ap.add_argument("--sparsities", type=float, nargs="+", default=[0.0, 0.5, 0.8, 0.9, 0.95])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args()
    from tqdm import tqdm

    from sparsemcu.datasets import load
    data = load(args.data)
    rows = []
    with tqdm(total=len(args.models) * len(args.sparsities), desc="export bench", unit="model") as bar:
        for name in args.models:
            weights = trained_weights(MODELS[name], data)
            for s in args.sparsities:
                rows.append(measure(name, MODELS[name], data, weights, s))
                bar.update()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "export.json").write_text(json.dumps({"dataset": args.data, "rows": rows}, indent=2) + "\n")
    md = (f"# Export benchmark ({args.data})\n\nArena = our static plan; TFLM arena_used = RecordingMicroAllocator total "
          "(activations + TFLM's own structures); TFLM activations = its non-persistent head.\n\n" + markdown(rows))
    (args.out / "export.md").write_text(md)
    print(md)
    bad = [r for r in rows if r["arena_bytes"] > r["tflm_arena_used_bytes"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
