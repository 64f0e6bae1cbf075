"""Read a TFLite flatbuffer into the graph IR (export/ir.py)."""
from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import numpy as np

from sparsemcu.errors import SparsemcuError
from .ir import Graph, Node, Tensor

_TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8"}
_NUMPY = {"float32": np.float32, "float16": np.float16, "int32": np.int32, "uint8": np.uint8, "int64": np.int64,
          "bool": np.bool_, "int16": np.int16, "int8": np.int8}


@functools.lru_cache(maxsize=1)
def _schema():
    """The flatbuffer schema bindings that ship with TensorFlow, loaded without importing TensorFlow."""
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        raise SparsemcuError("tensorflow is not installed (its TFLite schema bindings are needed)")
    path = Path(list(spec.submodule_search_locations)[0]) / "lite" / "python" / "schema_py_generated.py"
    mod_spec = importlib.util.spec_from_file_location("_smcu_tflite_schema", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


def _builtin_names(schema_fb) -> dict[int, str]:
    return {v: k for k, v in vars(schema_fb.BuiltinOperator).items() if not k.startswith("_")}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _options_dict(options) -> dict:
    if options is None:
        return {}
    out = {}
    for key, value in vars(options).items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        out[_snake(key)] = value
    return out


def read_tflite(model_bytes: bytes) -> Graph:
    """Parse a .tflite flatbuffer (single subgraph) into a Graph."""
    schema_fb = _schema()
    if len(model_bytes) < 8 or bytes(model_bytes[4:8]) != b"TFL3":
        raise SparsemcuError("not a TFLite flatbuffer (file identifier TFL3 missing)")
    try:
        model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(bytearray(model_bytes), 0))
    except Exception as exc:  # flatbuffers raises assorted errors on garbage
        raise SparsemcuError(f"not a valid TFLite flatbuffer ({type(exc).__name__})") from None
    if not model.subgraphs:
        raise SparsemcuError("TFLite model has no subgraph")
    if len(model.subgraphs) > 1:
        raise SparsemcuError(f"TFLite model has {len(model.subgraphs)} subgraphs; only single-subgraph models are supported")
    names = _builtin_names(schema_fb)
    sub = model.subgraphs[0]

    tensors: dict[int, Tensor] = {}
    for i, t in enumerate(sub.tensors):
        dtype = _TENSOR_TYPES.get(t.type, f"type{t.type}")
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        scale = zero_point = None
        quant_dim = 0
        q = t.quantization
        if q is not None and q.scale is not None and len(q.scale) > 0:
            scale = np.asarray(q.scale, dtype=np.float32)
            zero_point = np.asarray(q.zeroPoint, dtype=np.int64)
            quant_dim = int(q.quantizedDimension)
        data = None
        buf = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
        if buf is not None and buf.data is not None and len(buf.data) > 0:
            raw = np.asarray(buf.data, dtype=np.uint8).tobytes()
            data = np.frombuffer(raw, dtype=_NUMPY[dtype]).reshape(shape).copy()
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        tensors[i] = Tensor(i, name, shape, dtype, scale, zero_point, quant_dim, data)

    nodes = []
    for k, op in enumerate(sub.operators):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        opname = names.get(builtin, f"BUILTIN_{builtin}")
        if opname == "CUSTOM":
            cc = code.customCode
            opname = "CUSTOM:" + (cc.decode() if isinstance(cc, bytes) else str(cc))
        nodes.append(Node(k, opname, [int(i) for i in op.inputs], [int(i) for i in op.outputs],
                          _options_dict(op.builtinOptions)))
    desc = model.description.decode() if isinstance(model.description, bytes) else str(model.description or "")
    return Graph(tensors, nodes, [int(i) for i in sub.inputs], [int(i) for i in sub.outputs], desc)
