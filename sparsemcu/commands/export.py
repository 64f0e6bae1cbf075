"""`sparsemcu export MODEL --out DIR`: int8 TFLite (or Keras + calibration data, or a search run) -> C."""
from __future__ import annotations

import argparse
from pathlib import Path

from sparsemcu.checks import c_identifier_problem, check_output_dir, sanitize_c_identifier
from sparsemcu.errors import SparsemcuError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help="quantise to int8 and generate C code (model.c/model.h + kernels)",
                       description="Export MODEL to DIR: model_int8.tflite, src/ (model.c, model.h, kernels), "
                                   "report.json and memory.png.")
    p.add_argument("model", help="full-int8 .tflite, a Keras model (.keras/.h5/SavedModel dir; needs --calib), "
                                 "or a search run directory (with --pick)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--calib", help="calibration data for Keras models: a dataset name (digits, fashion_mnist, ...) "
                                   "or an .npz/.npy of inputs (finite values, the model's input shape); "
                                   "not used for a .tflite or a search run, which are quantised already")
    p.add_argument("--pick", default=None,
                   help="for a search run directory only: smallest | most-accurate | TRIAL number "
                        "(default: most-accurate), among the models the final stage retrained at full budget "
                        "(RUN/final/) when the run has any, else among the screened trials")
    p.add_argument("--name", help="model name in the generated code: a C identifier (letters, digits, '_', not "
                                  "starting with a digit, not a C keyword; default: from MODEL's file name)")
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


def load_model_bytes(model: str, calib: str | None, pick: str | None) -> tuple[bytes, str]:
    """Resolve MODEL to int8 TFLite bytes and a default name."""
    path = Path(model)
    if not path.exists():
        raise SparsemcuError(f"model not found: {path}")
    if path.is_dir() and not (path / "saved_model.pb").exists():
        from sparsemcu.nas import runs
        chosen = Path(runs.pick(path, pick or "most-accurate"))
        return chosen.read_bytes(), chosen.stem
    if pick is not None:
        raise SparsemcuError(f"--pick chooses a trial of a search run directory; {path} is a single model: "
                             "drop --pick")
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
    return keras_to_int8_tflite(keras_model, check_calibration(load_calibration(calib), calib, keras_model)), path.stem


def check_calibration(x, calib: str, keras_model):
    """Calibration data the converter can use: numbers, finite, the model's input shape (a NaN
    would crash TensorFlow's converter, a wrong shape fail deep inside it)."""
    import numpy as np
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)) or x.size == 0:
        raise SparsemcuError(f"--calib {calib}: need a non-empty numeric array of inputs, got {x.dtype} {x.shape}")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        i = int(np.flatnonzero((~np.isfinite(x.reshape(len(x), -1))).any(axis=1))[0])
        raise SparsemcuError(f"--calib {calib} contains NaN or Inf (first in sample {i}): every value must be finite")
    try:
        want = tuple(int(d) for d in keras_model.inputs[0].shape[1:])
    except (AttributeError, IndexError, TypeError):
        return x
    if tuple(x.shape[1:]) != want and int(np.prod(x.shape[1:])) != int(np.prod(want)):
        raise SparsemcuError(f"--calib {calib}: samples of shape {tuple(x.shape[1:])}, the model takes {want}")
    return x.reshape(len(x), *want) if tuple(x.shape[1:]) != want else x


def check_name(name: str) -> str:
    why = c_identifier_problem(name)
    if why:
        raise SparsemcuError(f"--name {name!r} is not a valid C identifier ({why}): use letters, digits and '_', "
                             f"not starting with a digit, e.g. --name {sanitize_c_identifier(name)}")
    return name


def run(args) -> int:
    # everything the user typed is checked before any work starts
    if args.name is not None:
        check_name(args.name)
    check_output_dir(args.out, "--out")
    from sparsemcu.export.pipeline import Options, export_model
    from sparsemcu.export.report import summary_table
    model_bytes, default_name = load_model_bytes(args.model, args.calib, args.pick)
    name = args.name or sanitize_c_identifier(default_name)
    options = Options.for_board(args.board, optimize=args.optimize, variant=args.variant, fusion=args.fusion)
    rep = export_model(model_bytes, args.out, name=name, options=options)
    print(summary_table(rep))
    print(f"wrote {args.out}/ (src/, model_int8.tflite, report.json, memory.png)")
    return 0
