"""`sparsemcu export MODEL --out DIR`: int8 TFLite (or Keras + calibration data, or a search run) -> C."""
from __future__ import annotations

import argparse
from pathlib import Path

from sparsemcu.errors import SparsemcuError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help="quantise to int8 and generate C code (model.c/model.h + kernels)",
                       description="Export MODEL to DIR: model_int8.tflite, src/ (model.c, model.h, kernels), "
                                   "report.json and memory.png.")
    p.add_argument("model", help="full-int8 .tflite, a Keras model (.keras/.h5/SavedModel dir; needs --calib), "
                                 "or a search run directory (with --pick)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--calib", help="calibration data for Keras models: a dataset name (digits, fashion_mnist, ...) "
                                   "or an .npz/.npy of inputs")
    p.add_argument("--pick", default="most-accurate",
                   help="for a search run: smallest | most-accurate | TRIAL number (default: most-accurate)")
    p.add_argument("--name", help="model name in the generated code (default: from MODEL)")
    p.add_argument("--optimize", choices=["speed", "size", "balanced"], default="balanced",
                   help="kernel variant per layer: fewest predicted instructions (speed), fewest flash bytes "
                        "(size), or the fastest that fits the board's flash (balanced, default)")
    p.add_argument("--board", help="target board: its core's cost model and its flash budget (balanced)")
    p.add_argument("--fusion", choices=["auto", "always", "never"], default="auto",
                   help="run a conv and the pooling after it, or two convs (and the ADD after them), as one "
                        "row-by-row call so the intermediate tensor never exists in RAM: where it makes the "
                        "arena smaller (auto, the default), wherever possible, or never (slightly faster)")
    p.add_argument("--variant", choices=["dense", "rle", "simd", "sparse"],
                   help="use this kernel variant wherever it applies (dense/rle: the scalar reference kernels)")
    return p


def load_model_bytes(model: str, calib: str | None, pick: str) -> tuple[bytes, str]:
    """Resolve MODEL to int8 TFLite bytes and a default name."""
    path = Path(model)
    if not path.exists():
        raise SparsemcuError(f"model not found: {path}")
    if path.is_dir() and not (path / "saved_model.pb").exists():
        from sparsemcu.nas import runs
        chosen = Path(runs.pick(path, pick))
        return chosen.read_bytes(), chosen.stem
    if path.suffix == ".tflite":
        return path.read_bytes(), path.stem
    from sparsemcu.export.quantize import KERAS_SUFFIXES, keras_to_int8_tflite, load_keras_model
    if path.suffix not in KERAS_SUFFIXES and not path.is_dir():
        raise SparsemcuError(f"unknown model format {path.suffix!r}: expected .tflite, .keras, .h5 or a "
                             "SavedModel directory")
    if not calib:
        raise SparsemcuError("a Keras model needs --calib (a dataset name or an .npz/.npy of inputs) "
                             "for int8 calibration")
    from sparsemcu.datasets import load_calibration
    keras_model = load_keras_model(path)
    return keras_to_int8_tflite(keras_model, load_calibration(calib)), path.stem


def run(args) -> int:
    from sparsemcu.export.pipeline import Options, export_model
    from sparsemcu.export.report import summary_table
    model_bytes, default_name = load_model_bytes(args.model, args.calib, args.pick)
    name = args.name or default_name
    options = Options.for_board(args.board, optimize=args.optimize, variant=args.variant, fusion=args.fusion)
    rep = export_model(model_bytes, args.out, name=name, options=options)
    print(summary_table(rep))
    print(f"wrote {args.out}/ (src/, model_int8.tflite, report.json, memory.png)")
    return 0
