"""The zero-skipping kernels on magnitude-pruned int8 models (`prune_tflite`, in
sparsemcu.board_test.model_zoo, shared with the tests).

    python bench/sparse_models.py /work/shared/anchor/resnet8.tflite --sparsity 0.9 --board qemu_mps2_an500
measures the pruned model on a board per layer (variants sparse, simd, dense);
    python bench/sparse_models.py --calibrate --board qemu_mps2_an500 [--write]
measures chains of convolutions / dense layers pruned to several sparsities with the sparse kernels,
fits their cost-model coefficients (non-negative least squares on the features the lowerings put
into KernelCall.features) and, with --write, stores them for the board's core in
export/cost_model.json (only those kernels' entries).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from sparsemcu.board_test.model_zoo import prune_tflite


def measure(tflite_bytes: bytes, board: str, variants=("sparse", "simd", "dense"), out_dir: str = "/tmp/smcu_sparse",
            optimize: str = "speed", limit: int = 3) -> dict:
    """Per variant: deploy with that variant preferred; bit-exactness, median instructions and the layers."""
    import sparsemcu.tf  # noqa: F401  (before TensorFlow)
    from sparsemcu.deploy import deploy
    from sparsemcu.export.pipeline import Options, export_model
    results = {}
    for v in variants:
        d = f"{out_dir}/{v}"
        rep = export_model(tflite_bytes, d, name="m", options=Options(optimize=optimize, variant=v))
        r = deploy(d, board, limit=limit, progress=False, profile=True)
        layers = [{**la, **{k: ex.get(k) for k in ("nonzero_macs", "weight_bytes", "sparsity")}}
                  for la, ex in zip(r["layers"], rep["layers"])]
        results[v] = {"bit_exact": r["bit_exact"], "median": r["latency"]["median"], "layers": layers}
    return results


def per_layer_table(results: dict) -> str:
    """One line per kernel call: op, variant, MACs, non-zero MACs and instructions per non-zero MAC."""
    lines = []
    for v, r in results.items():
        lines.append(f"== {v}: bit_exact={r['bit_exact']} median={r['median']}")
        for i, layer in enumerate(r["layers"]):
            nz = layer.get("nonzero_macs") or 0
            meas = layer.get("measured")
            per = f"{meas / nz:.2f}" if nz and meas else "-"
            lines.append(f"  {i:2d} {layer['op']:<18} {layer['variant']:<8} macs={layer.get('macs', 0):>9} "
                         f"nz={nz:>8} pred={layer.get('predicted_instructions', 0):>9} meas={meas} "
                         f"instr/nzMAC={per}")
    return "\n".join(lines)


# ---- cost-model calibration of the sparse kernels (export/cost_model.json) ----
# Chains of convolutions covering the im2col paths (whole rows, single taps, one by one), strides,
# kernel sizes and channel counts; each pruned to several sparsities.
CALIBRATION_MODELS = [
    # (input shape, [(filters, kernel, strides, padding), ...])
    ((16, 16, 8), [(16, 3, 1, "same"), (24, 3, 2, "same"), (32, 1, 1, "valid"), (20, 3, 1, "valid")]),
    ((20, 12, 3), [(12, 3, 1, "same"), (16, 5, 2, "same"), (28, 1, 1, "valid"), (9, (3, 1), 1, "same")]),
    ((10, 10, 32), [(64, 3, 1, "same"), (64, 1, 1, "valid"), (48, 3, 2, "valid")]),
    ((49, 10, 1), [(32, (10, 4), 2, "same"), (32, 1, 1, "valid"), (20, 3, 1, "same")]),
    ((24, 24, 3), [(8, 5, 1, "same"), (12, 3, 2, "valid")]),
    ((15, 15, 6), [(10, 3, 1, "same"), (40, 3, 1, "same")]),
    ((20, 20, 3), [(8, 3, 1, "valid"), (12, 3, 1, "valid")]),
    ((14, 9, 5), [(24, 5, 1, "valid")]),
    # dilated (tf.nn.conv2d, one CONV_2D each): (input shape, [("dilated", filters, kernel, dilation, padding)])
    ((16, 14, 3), [("dilated", 12, (3, 3), 2, "SAME")]),
    ((16, 14, 8), [("dilated", 20, (3, 3), 2, "SAME")]),
    # fully connected: (input shape, [units, ...])
    ((400,), [64, 32, 10]),
    ((3, 128), [48, 5]),
    # depthwise: (input shape, [("dw", kernel, strides, padding, depth multiplier, activation), ...])
    ((25, 5, 64), [("dw", 3, 1, "same", 1, "relu"), ("dw", 3, 1, "same", 1, "relu")]),
    ((16, 16, 16), [("dw", 3, 2, "same", 1, "relu6"), ("dw", 5, 1, "same", 1, "relu")]),
    ((12, 10, 8), [("dw", 3, 1, "valid", 2, None), ("dw", (3, 1), 1, "same", 1, "relu")]),
    ((20, 20, 24), [("dw", 3, 1, "same", 1, "relu"), ("dw", 3, 2, "valid", 1, "relu")]),
]
CALIBRATION_SPARSITIES = (0.5, 0.8, 0.9, 0.95, 0.99)
# The features each sparse kernel's cost is fitted on (plus "calls").
SPARSE_FEATURES = {
    "smcu_conv2d_s8_sparse": ("sp_entries_x_groups", "sp_channel_groups", "sp_quad_taps", "sp_quad_byte_taps",
                              "sp_segments", "sp_pad_word_bytes", "sp_pad_bytes", "sp_whole_segments",
                              "sp_padded_bytes", "sp_padded_rows", "sp_clamp_bytes", "sp_tail_bytes", "sp_groups"),
    "smcu_fully_connected_s8_sparse": ("sp_entries_x_uses", "sp_outputs", "pixels"),
    "smcu_depthwise_conv2d_s8_sparse": ("dws_channels", "dws_fill_bytes", "dws_one_px", "dws_one_pairs",
                                        "dws_one_runs", "dws_plane_px", "dws_plane_runs", "dws_plane_taps",
                                        "dws_extract_px", "dws_extract_rows", "dws_slow_px"),
}


def dilated_tflite(in_shape, filters, kernel, dilation, padding, seed: int = 0) -> bytes:
    """One dilated CONV_2D (tf.nn.conv2d with dilations converts to a single op) with ReLU, int8."""
    from sparsemcu.export.quantize import concrete_to_int8_tflite
    from sparsemcu.tf import tensorflow
    tf = tensorflow()
    rng = np.random.default_rng(seed)
    w = tf.constant(rng.normal(size=(*kernel, in_shape[-1], filters)).astype(np.float32) * 0.3)
    b = tf.constant(rng.normal(size=(filters,)).astype(np.float32) * 0.1)

    @tf.function(input_signature=[tf.TensorSpec((1, *in_shape), tf.float32)])
    def f(x):
        return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w, 1, padding, dilations=dilation), b))

    calib = rng.uniform(-1, 1, size=(32, *in_shape)).astype(np.float32)
    return concrete_to_int8_tflite(f.get_concrete_function(), f, calib)


def calibration_tflite(spec, seed: int = 0) -> bytes:
    """One calibration chain as an int8 .tflite (random weights, ReLU)."""
    from sparsemcu.export.quantize import keras_to_int8_tflite
    from sparsemcu.tf import keras
    in_shape, layers = spec
    if isinstance(layers[0], tuple) and layers[0][0] == "dilated":
        return dilated_tflite(in_shape, *layers[0][1:], seed=seed)
    k = keras()
    model = k.Sequential([k.layers.Input(in_shape)] + [
        k.layers.Dense(layer, activation="relu") if isinstance(layer, int) else
        k.layers.DepthwiseConv2D(layer[1], strides=layer[2], padding=layer[3], depth_multiplier=layer[4],
                                 activation=layer[5]) if layer[0] == "dw" else
        k.layers.Conv2D(layer[0], layer[1], strides=layer[2], padding=layer[3], activation="relu")
        for layer in layers])
    calib = np.random.default_rng(seed).uniform(-1, 1, size=(32, *in_shape)).astype(np.float32)
    return keras_to_int8_tflite(model, calib)


def profile_calls(tflite_bytes: bytes, board: str, variant: str, out_dir: str) -> list[dict]:
    """Per kernel call of the export (with `variant` preferred): kernel, features, measured instructions."""
    import sparsemcu.tf  # noqa: F401
    from sparsemcu.deploy import deploy
    from sparsemcu.export.pipeline import Options, export_model, lower
    from sparsemcu.firmware.boards import get_board
    opts = Options(optimize="speed", variant=variant, core=get_board(board).cpu or "cortex-m7")
    calls = lower(tflite_bytes, opts).calls
    export_model(tflite_bytes, out_dir, name="m", options=opts)
    try:
        r = deploy(out_dir, board, limit=2, progress=False, profile=True)
        exact = r["bit_exact"]
    except Exception:  # noqa: BLE001 - the host reference cannot run some shapes: measure without it
        r = deploy(out_dir, board, limit=2, progress=False, profile=True, check=False)
        exact = None
    return [{"kernel": c.kernel, "features": dict(c.features), "measured": la["measured"], "bit_exact": exact,
             "predicted": c.predicted_instructions} for c, la in zip(calls, r["layers"])]


def calibrate(board: str, variant: str = "sparse", out_dir: str = "/tmp/smcu_sparse_calib") -> list[dict]:
    """Measured calls of every calibration chain at every calibration sparsity."""
    rows = []
    for i, spec in enumerate(CALIBRATION_MODELS):
        base = calibration_tflite(spec, seed=i)
        for sp in CALIBRATION_SPARSITIES:
            rows += profile_calls(prune_tflite(base, sp), board, variant, f"{out_dir}/{board}_{i}_{sp}")
    return rows


def fit_kernel(rows: list[dict], kernel: str, features=None) -> dict[str, float]:
    """Non-negative least squares of measured instructions on the kernel's features + a constant per call,
    relative error weighted (every layer counts alike)."""
    from scipy.optimize import nnls
    features = tuple(features or SPARSE_FEATURES[kernel]) + ("calls",)
    sel = [r for r in rows if r["kernel"] == kernel and r["measured"]]
    a = np.array([[r["features"].get(f, 0) for f in features] for r in sel], np.float64)
    y = np.array([r["measured"] for r in sel], np.float64)
    w = 1.0 / np.maximum(y, 1.0)
    coef, _ = nnls(a * w[:, None], y * w)
    return {f: round(float(c), 4) for f, c in zip(features, coef)}


def write_coefficients(core: str, kernel: str, coef: dict[str, float]) -> None:
    """Set cores[core][kernel] in export/cost_model.json. The file is shared: re-read right before
    writing, change nothing else."""
    from sparsemcu.export import cost
    model = json.loads(cost.MODEL_PATH.read_text())
    model["cores"].setdefault(core, {})[kernel] = coef
    cost.save_model(model)


def main(argv=None) -> int:
    import sparsemcu.tf  # noqa: F401  (TensorFlow environment first)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?")
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--by", choices=("float", "int8"), default="float")
    ap.add_argument("--board", default=None, help="measure on this board (e.g. qemu_mps2_an500)")
    ap.add_argument("--variants", default="sparse,simd,dense")
    ap.add_argument("--out", default=None, help="write the pruned .tflite here")
    ap.add_argument("--json", default=None, help="write the measurements here")
    ap.add_argument("--calibrate", action="store_true",
                    help="measure the calibration chains on --board, fit the sparse kernels' cost coefficients "
                         "and print them (--write: into export/cost_model.json for the board's core)")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args(argv)
    if a.calibrate:
        from sparsemcu.firmware.boards import get_board
        rows = calibrate(a.board)
        if a.json:
            Path(a.json).write_text(json.dumps(rows, indent=1))
        core = get_board(a.board).cpu
        for kernel in SPARSE_FEATURES:
            coef = fit_kernel(rows, kernel)
            sel = [r for r in rows if r["kernel"] == kernel]
            err = [abs(sum(c * r["features"].get(f, 0) for f, c in coef.items()) / r["measured"] - 1) for r in sel]
            print(f"{core} {kernel}: {coef}  (max rel. error {max(err):.1%}, mean {np.mean(err):.1%}, "
                  f"{len(sel)} layers)")
            if a.write:
                write_coefficients(core, kernel, coef)
        return 0
    if not a.model:
        ap.error("a .tflite model is required (or --calibrate)")
    pruned = prune_tflite(Path(a.model).read_bytes(), a.sparsity, by=a.by)
    if a.out:
        Path(a.out).write_bytes(pruned)
    if a.board:
        res = measure(pruned, a.board, tuple(a.variants.split(",")))
        print(per_layer_table(res))
        if a.json:
            Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
