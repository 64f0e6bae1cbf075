#!/usr/bin/env python3
"""The training recipe on fixed Fashion-MNIST architectures: does it reach the search's targets?

Trains hand-picked candidates of the search space with the search's own recipe (`nas/training.py`:
batch norm folded before export, warm-up + cosine learning rate, early stopping, augmentation
level), quantises them to int8 like every trial and reports the int8 test accuracy with the
exporter's flash and arena. Writes bench/results/search_recipe.json / .md and the models to
bench/results/search/recipe_*.tflite (input: the 28x28x1 image with pixels in [0, 1] before
quantisation). Resumable: a model already written is measured again, not retrained.

    .venv/bin/python bench/bench_recipe.py                 (about 10-20 minutes per model on 2 cores)
    .venv/bin/python bench/bench_recipe.py --only tiny_flatten --epochs 60
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import sparsemcu.tf  # noqa: F401  (TensorFlow environment)

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"


def candidates():
    from sparsemcu.nas.space import BlockSpec, Candidate, LayerSpec

    def conv(f, k=3):
        return LayerSpec("conv", f, k, max(1, f // 2))
    return {
        # <= 4 KB flash, <= 4 KB arena
        "tiny_flatten": (Candidate([BlockSpec([conv(8)], "max"), BlockSpec([conv(12)], "max"),
                                    BlockSpec([conv(10)], "max")], "flatten", lr=5e-3, batch_size=64,
                                   augment="light"), (4096, 4096, 0.89)),
        # <= 32 KB flash, <= 16 KB arena
        "small_gap": (Candidate([BlockSpec([conv(16)], "max"), BlockSpec([conv(32)], "max"),
                                 BlockSpec([conv(64)], "none")], "gap", lr=5e-3, batch_size=128,
                                augment="full"), (32768, 16384, 0.91)),
    }


def run(name, cand, epochs: int, seed: int, out: Path) -> dict:
    from sparsemcu import datasets
    from sparsemcu.nas.fold import fold_batchnorm
    from sparsemcu.nas.objectives import TrialData, int8_accuracy, quantize_and_measure
    from sparsemcu.nas.space import build_model
    from sparsemcu.nas.training import Recipe, augmentation_for, train
    ds = datasets.load("fashion_mnist")
    xtr, ytr, xv, yv = ds.split_validation(0.1, seed=seed)
    data = TrialData(xtr, ytr, xv, yv, ds.x_test, ds.y_test, ds.num_classes, dataset="fashion_mnist")
    path = out / "search" / f"recipe_{name}.tflite"
    meta = out / "search" / f"recipe_{name}.json"
    t0 = time.time()
    if path.is_file() and meta.is_file() and json.loads(meta.read_text()).get("epochs") == epochs:
        tfl, info = path.read_bytes(), json.loads(meta.read_text())
    else:
        recipe = Recipe(epochs, cand.lr, cand.batch_size, augmentation_for("fashion_mnist", cand.augment))
        model, outcome = train(lambda: build_model(cand, ds.input_shape, ds.num_classes), data, recipe, seed=seed)
        tfl, _ = quantize_and_measure(fold_batchnorm(model), data.calib)
        info = {"epochs": epochs, "epochs_run": outcome.epochs_run, "val_accuracy_float": outcome.val_accuracy,
                "train_seconds": round(time.time() - t0, 1), "recipe": recipe.to_dict()}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tfl)
        meta.write_text(json.dumps(info, indent=1))
    from sparsemcu.export.pipeline import footprint
    from sparsemcu.nas.objectives import measure_options
    fp = footprint(tfl, measure_options())
    return {"name": name, "description": cand.describe(), "augment": cand.augment, **info, "int8_val_accuracy": int8_accuracy(tfl, xv, yv),
            "int8_test_accuracy": int8_accuracy(tfl, ds.x_test, ds.y_test), "flash_bytes": fp["flash_bytes"],
            "arena_bytes": fp["arena_bytes"], "macs": fp["macs"], "file": f"search/{path.name}"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="comma list of candidate names")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    out = Path(args.out)
    rows = []
    for name, (cand, target) in candidates().items():
        if args.only and name not in args.only.split(","):
            continue
        r = run(name, cand, args.epochs, args.seed, out)
        f, ram, acc = target
        r["target"] = {"max_flash": f, "max_ram": ram, "test_accuracy": acc}
        r["met"] = r["flash_bytes"] <= f and r["arena_bytes"] <= ram and r["int8_test_accuracy"] >= acc
        rows.append(r)
        print(f"{name}: int8 test {100 * r['int8_test_accuracy']:.2f} % flash {r['flash_bytes']} B "
              f"arena {r['arena_bytes']} B", file=sys.stderr)
    (out / "search_recipe.json").write_text(json.dumps(rows, indent=1))
    lines = ["# The search's training recipe on fixed Fashion-MNIST architectures", "",
             f"Recipe (`nas/training.py`): batch norm (folded before export), Adam with a linear warm-up and cosine "
             f"decay, early stopping on validation accuracy (not before half the epochs), augmentation level per "
             f"candidate; {args.epochs} epochs on 54,000 images (6,000 for validation), seed {args.seed}; int8 via "
             f"the exporter's own quantiser; flash and arena from `footprint()` (size policy).", "",
             "| model | architecture | int8 test acc | int8 val acc | flash B | arena B | target | met |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["target"]
        lines.append(f"| {r['file']} | {r['description']} (augment {r['augment']}) | "
                     f"{100 * r['int8_test_accuracy']:.2f} % | {100 * r['int8_val_accuracy']:.2f} % | {r['flash_bytes']} | "
                     f"{r['arena_bytes']} | >= {100 * t['test_accuracy']:.0f} % at <= {t['max_flash']} B flash, "
                     f"<= {t['max_ram']} B arena | {'yes' if r['met'] else 'no'} |")
    (out / "search_recipe.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
