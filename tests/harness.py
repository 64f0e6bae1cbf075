"""Shared test helpers: generated C run natively, flatbuffer edits, random cases. The TFLM oracle and
the shared models come from the product package (sparsemcu.board_test.reference / model_zoo)."""
from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

import numpy as np

from sparsemcu.board_test.model_zoo import to_int8_tflite  # noqa: E402,F401  (re-exported for the tests)
from sparsemcu.board_test.reference import run_tflm, tflm_arena_bytes  # noqa: E402,F401
from sparsemcu.export.pipeline import Options, export_model  # noqa: E402

BATCH_RUNNER = Path(__file__).parent / "c" / "batch_runner.c"
CFLAGS = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function"]


def build_native(export_dir: Path) -> Path:
    src = Path(export_dir) / "src"
    exe = Path(export_dir) / "batch_runner"
    subprocess.run(["gcc", *CFLAGS, "-I", str(src), *sorted(str(p) for p in src.glob("*.c")), str(BATCH_RUNNER),
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    return exe


def run_native(exe: Path, x_int8: np.ndarray, out_shape) -> np.ndarray:
    x_int8 = np.ascontiguousarray(x_int8, dtype=np.int8)
    proc = subprocess.run([str(exe)], input=x_int8.tobytes(), capture_output=True, check=True)
    return np.frombuffer(proc.stdout, np.int8).reshape(len(x_int8), *out_shape)


def run_generated(tflite_bytes: bytes, x_int8: np.ndarray, tmp_path, variant: str | None = None,
                  name: str = "model", options: Options | None = None) -> np.ndarray:
    """Export to C (with `variant` wherever it applies, or with `options`), compile natively with -Werror,
    run every sample; returns int8 [N, ...]."""
    options = options or Options(variant=variant)
    variant = options.variant
    out_dir = Path(tmp_path) / f"export_{variant or 'auto'}"
    rep = export_model(tflite_bytes, out_dir, name=name, options=options)
    if variant is not None:
        assert variant in {layer["variant"] for layer in rep["layers"]}, f"no layer uses the {variant} variant"
    exe = build_native(out_dir)
    return run_native(exe, x_int8, tuple(rep["output"]["shape"][1:]))


def run_c_lines(source: str, lines: list[str], tmp_path) -> list[int]:
    """Compile `source` (a main that reads lines on stdin and prints an integer per line) against the
    kernel headers with -Werror, feed it `lines`; returns the integers it printed."""
    from sparsemcu.export.codegen import KERNELS_DIR
    src, exe = Path(tmp_path) / "t.c", Path(tmp_path) / "t"
    src.write_text(source)
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I", str(KERNELS_DIR), str(src),
                    "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True).stdout
    return [int(v) for v in out.split()]


def random_int8(shape, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *shape), dtype=np.int64).astype(np.int8)



def edit_tflite(tflite_bytes: bytes, edit) -> bytes:
    """Unpack the flatbuffer (object API), let `edit(model)` change it, pack it again."""
    import flatbuffers

    from sparsemcu.export.tflite_reader import _schema
    fb = _schema()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(bytearray(tflite_bytes), 0))
    edit(model)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def operators_named(model, op_name: str) -> list:
    """The operators of subgraph 0 whose builtin op is `op_name` (object API)."""
    from sparsemcu.export.tflite_reader import _builtin_names, _schema
    names = _builtin_names(_schema())
    return [op for op in model.subgraphs[0].operators
            if names[max(model.operatorCodes[op.opcodeIndex].builtinCode,
                          model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode)] == op_name]


def set_quantization(tensor, scale: float, zero_point: int) -> None:
    tensor.quantization.scale, tensor.quantization.zeroPoint = [float(scale)], [int(zero_point)]


def patch_activation(tflite_bytes: bytes, op_name: str, act_code: int) -> bytes:
    """Set fused_activation_function of every `op_name` operator (the converter never fuses some)."""
    def edit(model):
        for op in operators_named(model, op_name):
            op.builtinOptions.fusedActivationFunction = act_code
    return edit_tflite(tflite_bytes, edit)


# --- small single-operator models shared by the operator tests ---

@functools.lru_cache(maxsize=None)
def dense_tflite(in_shape: tuple, units: int, activation: str | None, seed: int) -> bytes:
    """One Keras Dense layer as int8 TFLite (FULLY_CONNECTED), cached across a test module."""
    from sparsemcu.tf import keras
    k = keras()
    model = k.Sequential([k.layers.Input(in_shape), k.layers.Dense(units, activation=activation)])
    return to_int8_tflite(model, seed=seed)


def dilated_depthwise_tflite(in_shape, mult, kernel, dilation, padding, seed, zero_fraction=0.0) -> bytes:
    """One dilated DEPTHWISE_CONV_2D (tf.nn.depthwise_conv2d; a Keras dilated depthwise converts to
    SPACE_TO_BATCH_ND) with RELU6, `zero_fraction` of the weights zero."""
    from sparsemcu.export.quantize import concrete_to_int8_tflite
    from sparsemcu.tf import tensorflow
    tf = tensorflow()
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(*kernel, in_shape[-1], mult)).astype(np.float32) * 0.4
    if zero_fraction:
        w[rng.random(w.shape) < zero_fraction] = 0
    w = tf.constant(w)
    b = tf.constant(rng.normal(size=(in_shape[-1] * mult,)).astype(np.float32) * 0.1)

    @tf.function(input_signature=[tf.TensorSpec((1, *in_shape), tf.float32)])
    def f(x):
        y = tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], padding, dilations=dilation)
        return tf.nn.relu6(tf.nn.bias_add(y, b))

    calib = rng.uniform(-1, 1, size=(32, *in_shape)).astype(np.float32)
    return concrete_to_int8_tflite(f.get_concrete_function(), f, calib)


# --- random requantisation channels for the fixed-point tests ---

def random_requant_channel(rng, trial: int, max_k: int, weight_low: int = -127):
    """One output channel for the requantisation tests: (k, weight row [1, k], mult, shift, bias,
    input offset, output offset); every 9th trial's weights all zero, multipliers 1e-7 .. 0.49."""
    from sparsemcu.export import quant
    k = int(rng.integers(1, max_k))
    rows = rng.integers(weight_low, 128, size=(1, k)) * (trial % 9 != 0)
    real = float(np.exp(rng.uniform(np.log(1e-7), np.log(0.49))))
    mult, shift = quant.quantize_multiplier(real)
    bias = int(rng.integers(-2**20, 2**20))
    in_off, out_off = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    return k, rows, mult, shift, bias, in_off, out_off


def tie_accumulator(rng, mult: int, shift: int, bound: int) -> int:
    """An accumulator (|acc| <= bound) at, or one off, a tie of the requantisation's second rounding."""
    e = -shift
    target = int(rng.integers(-50, 50)) * (1 << e) + (1 << (e - 1))
    return int(np.clip(round(target * 2**31 / mult) + int(rng.integers(-1, 2)), -bound, bound))


def fake_trial(run: Path, n: int, err: float, flash: int, ram: int = 100, feasible: bool = True,
               final: bool = False) -> Path:
    """A search trial's folder as the search writes it (RUN/trials/NNNN, or RUN/final/NNNN with
    `final`), with a placeholder model: for tests of what reads run folders."""
    from sparsemcu.nas import runs
    d = (runs.final_dir if final else runs.trial_dir)(run, n)
    d.mkdir(parents=True)
    (d / f"trial{n:04d}.tflite").write_bytes(b"x")
    (d / "metrics.json").write_text(json.dumps({
        "trial": n, "val_error": err, "flash_bytes": flash, "arena_bytes": ram, "feasible": feasible,
        "skipped_training": False, "tflite_path": f"trial{n:04d}.tflite", "num_classes": 10}))
    return d
