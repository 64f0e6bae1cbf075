"""Model metadata (model.h, the int8 .tflite) and the host reference: TFLM's reference kernels."""
from __future__ import annotations

import re
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


def _eval_c_number(v: str) -> float:
    v = v.strip()
    while v.startswith("(") and v.endswith(")"):
        v = v[1:-1].strip()
    v = re.sub(r"(?<=[0-9.])[fFuUlL]+$", "", v)
    v = re.sub(r"^\(\s*(u?int\d+_t|float|double)\s*\)", "", v).strip()
    return float(v) if any(c in v for c in ".eE") and not v.lower().startswith("0x") else float(int(v, 0))


def read_model_h(model_dir: Path) -> ModelMeta:
    path = Path(model_dir) / "src" / "model.h"
    if not path.is_file():
        raise SparsemcuError(f"{path} not found: export the model first (`sparsemcu export MODEL --out {model_dir}`)")
    defs = {}
    for m in re.finditer(r"^\s*#\s*define\s+(MODEL_[A-Z_0-9]+)\s+(.+?)\s*(?:/\*.*)?$", path.read_text(), re.M):
        defs[m.group(1)] = m.group(2).strip()
    need = ["MODEL_NAME", "MODEL_HASH", "MODEL_INPUT_BYTES", "MODEL_OUTPUT_BYTES", "MODEL_ARENA_BYTES",
            "MODEL_INPUT_SCALE", "MODEL_INPUT_ZERO_POINT", "MODEL_OUTPUT_SCALE", "MODEL_OUTPUT_ZERO_POINT"]
    missing = [k for k in need if k not in defs]
    if missing:
        raise SparsemcuError(f"{path} lacks {', '.join(missing)} (not a sparsemcu model.h?)")
    try:
        return ModelMeta(
            name=defs["MODEL_NAME"].strip('"'), hash=defs["MODEL_HASH"].strip('"'),
            input_bytes=int(_eval_c_number(defs["MODEL_INPUT_BYTES"])),
            output_bytes=int(_eval_c_number(defs["MODEL_OUTPUT_BYTES"])),
            arena_bytes=int(_eval_c_number(defs["MODEL_ARENA_BYTES"])),
            input_scale=_eval_c_number(defs["MODEL_INPUT_SCALE"]),
            input_zero_point=int(_eval_c_number(defs["MODEL_INPUT_ZERO_POINT"])),
            output_scale=_eval_c_number(defs["MODEL_OUTPUT_SCALE"]),
            output_zero_point=int(_eval_c_number(defs["MODEL_OUTPUT_ZERO_POINT"])))
    except ValueError as exc:
        raise SparsemcuError(f"{path}: cannot read a MODEL_ constant ({exc})") from None


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
