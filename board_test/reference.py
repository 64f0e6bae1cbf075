"""Model metadata (report.json) and the host reference: TFLM's reference kernels, the one oracle the
deploy, the tests and the benchmarks use."""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sparsemcu.errors import SparsemcuError
from sparsemcu.export.quant import dequantize, quantize_input


@dataclass
class ModelMeta:
    name: str
    hash: str
    input_bytes: int
    output_bytes: int
    arena_bytes: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    input_shape: tuple | None = None
    output_shape: tuple | None = None


def read_model_meta(model_dir: Path) -> ModelMeta:
    """The exported model's identity and edges from DIR/report.json (written by `sparsemcu export`
    from the same values it renders into model.h)."""
    path = Path(model_dir) / "report.json"
    if not path.is_file():
        raise SparsemcuError(f"{path} not found: export the model first (`sparsemcu export MODEL --out {model_dir}`)")
    try:
        rep = json.loads(path.read_text())
        inp, out = rep["input"], rep["output"]
        return ModelMeta(
            name=str(rep["model"]), hash=str(rep["model_hash"]),
            input_bytes=int(np.prod(inp["shape"])), output_bytes=int(np.prod(out["shape"])),
            arena_bytes=int(rep["arena_bytes"]),
            input_scale=float(inp["scale"]), input_zero_point=int(inp["zero_point"]),
            output_scale=float(out["scale"]), output_zero_point=int(out["zero_point"]),
            input_shape=tuple(inp["shape"]), output_shape=tuple(out["shape"]))
    except (ValueError, KeyError, TypeError) as exc:
        what = f"lacks {exc}" if isinstance(exc, KeyError) else f"is not valid ({exc})"
        raise SparsemcuError(f"{path} {what}: not a sparsemcu export report (export the model again)") from None


class TflmReference:
    """TFLM interpreter on DIR/model_int8.tflite: int8 in, int8 out (float edges handled)."""

    def __init__(self, tflite_bytes: bytes):
        from tflite_micro.python.tflite_micro import runtime

        self.it = runtime.Interpreter.from_bytes(tflite_bytes)
        ind, outd = self.it.get_input_details(0), self.it.get_output_details(0)
        self.input_shape = tuple(int(d) for d in ind["shape"])
        self.output_shape = tuple(int(d) for d in outd["shape"])
        self.input_dtype, self.output_dtype = np.dtype(ind["dtype"]), np.dtype(outd["dtype"])
        self.in_q = self._q(ind)
        self.out_q = self._q(outd)

    @staticmethod
    def _q(d) -> tuple[float, int] | None:
        qp = d.get("quantization_parameters") or {}
        scales, zps = qp.get("scales"), qp.get("zero_points")
        if scales is not None and len(scales):
            return float(scales[0]), int(zps[0])
        return None

    def __call__(self, x_int8: np.ndarray, scale_zp_in=None, scale_zp_out=None) -> np.ndarray:
        x = np.asarray(x_int8, np.int8).reshape(self.input_shape)
        if self.input_dtype == np.float32:  # QUANTIZE at the input edge: feed the exact dequantised value
            x = dequantize(x, *scale_zp_in)
        self.it.set_input(x, 0)
        self.it.invoke()
        y = np.array(self.it.get_output(0))
        if self.output_dtype == np.float32:
            y = quantize_input(y, *scale_zp_out)  # back to the int8 the device returns
        return y.astype(np.int8).reshape(self.output_shape)[0] if self.output_shape[0] == 1 else y.astype(np.int8)


def load_reference(model_dir: Path) -> TflmReference | None:
    p = Path(model_dir) / "model_int8.tflite"
    if not p.is_file():
        return None
    return TflmReference(p.read_bytes())


def run_tflm(tflite_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """The bit-exact oracle: TFLM reference kernels, one sample at a time; returns int8 [N, ...]."""
    from tflite_micro.python.tflite_micro import runtime
    it = runtime.Interpreter.from_bytes(tflite_bytes)
    outs = []
    for sample in x:
        it.set_input(sample[None, ...], 0)
        it.invoke()
        outs.append(np.array(it.get_output(0))[0])
    return np.stack(outs)


def tflm_arena_bytes(tflite_bytes: bytes) -> dict:
    """TFLM's arena use, parsed from RecordingMicroAllocator's report (written to fd 2)."""
    from tflite_micro.python.tflite_micro import runtime
    it = runtime.Interpreter.from_bytes(tflite_bytes)
    shape = it.get_input_details(0)["shape"]
    it.set_input(np.zeros(shape, np.int8), 0)
    it.invoke()
    with tempfile.TemporaryFile() as f:
        saved = os.dup(2)
        try:
            os.dup2(f.fileno(), 2)
            it.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode(errors="replace")
    out = {}
    for key, pat in (("total", r"allocation total (\d+)"), ("head", r"allocation head (\d+)"),
                     ("tail", r"allocation tail (\d+)")):
        m = re.search(pat, text)
        out[key] = int(m.group(1)) if m else None
    return out
