"""Read a TFLite flatbuffer into the graph IR (export/ir.py).

Everything decoded is checked before the graph is built: indices (buffers, tensors, operator
codes, graph inputs/outputs) in range, known tensor types, shapes non-negative and small enough
for 32-bit sizes, constant data that matches its tensor's shape and type, quantisation arrays of
consistent lengths with finite, non-negative scales, no variable or sparse tensors, decodable
strings, operator input/output counts, the builtin options table each operator needs (with
strides, filter sizes, dilations, padding and fused activation in range) and a data flow in which
every activation is written once, before it is read. A bad model raises SparsemcuError with one
line naming the tensor or operator.
"""
from __future__ import annotations

import functools
import importlib.util
import math
import re
from pathlib import Path

import numpy as np

from sparsemcu.errors import SparsemcuError
from .ir import Graph, Node, Tensor

_TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8"}
_NUMPY = {"float32": np.float32, "float16": np.float16, "int32": np.int32, "uint8": np.uint8, "int64": np.int64,
          "bool": np.bool_, "int16": np.int16, "int8": np.int8}
SCHEMA_VERSION = 3
MAX_TENSOR_BYTES = 2**31 - 1  # sizes and offsets are int32 in the generated C and in TFLM
MAX_SPATIAL_OPTION = 65535  # strides, dilations and pooling windows beyond this are no real model's
MAX_RANK = 8

# (min inputs, max inputs, outputs) of the operators the pipeline lowers; -1 marks an absent optional input
ARITY = {"CONV_2D": (2, 3, 1), "DEPTHWISE_CONV_2D": (2, 3, 1), "FULLY_CONNECTED": (2, 3, 1),
         "MAX_POOL_2D": (1, 1, 1), "AVERAGE_POOL_2D": (1, 1, 1), "ADD": (2, 2, 1), "MEAN": (2, 2, 1),
         "PAD": (2, 2, 1), "PADV2": (2, 3, 1), "RESHAPE": (1, 2, 1), "SQUEEZE": (1, 1, 1), "EXPAND_DIMS": (2, 2, 1),
         "SOFTMAX": (1, 1, 1), "QUANTIZE": (1, 1, 1), "DEQUANTIZE": (1, 1, 1), "CONCATENATION": (1, None, 1)}
# the builtin options table each operator reads; (name, required): a required table must be present
OPTIONS = {"CONV_2D": ("Conv2DOptions", True), "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", True),
           "FULLY_CONNECTED": ("FullyConnectedOptions", False), "MAX_POOL_2D": ("Pool2DOptions", True),
           "AVERAGE_POOL_2D": ("Pool2DOptions", True), "ADD": ("AddOptions", False),
           "MEAN": ("ReducerOptions", False), "PAD": ("PadOptions", False), "PADV2": ("PadV2Options", False),
           "RESHAPE": ("ReshapeOptions", False), "SQUEEZE": ("SqueezeOptions", False),
           "EXPAND_DIMS": ("ExpandDimsOptions", False), "SOFTMAX": ("SoftmaxOptions", True),
           "QUANTIZE": ("QuantizeOptions", False), "DEQUANTIZE": ("DequantizeOptions", False),
           "CONCATENATION": ("ConcatenationOptions", True)}
SPATIAL_OPTIONS = ("stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor", "filter_height", "filter_width")
PADDINGS = {0: "SAME", 1: "VALID"}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}  # what the int8 kernels fuse


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


def _enum_names(enum_class) -> dict[int, str]:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_") and isinstance(v, int)}


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


def _text(value, what: str) -> str:
    """A flatbuffer string (bytes or None) as str; SparsemcuError when it is not UTF-8."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise SparsemcuError(f"{what} is not valid UTF-8") from None


def _ints(values) -> list[int]:
    return [] if values is None else [int(v) for v in np.asarray(values).reshape(-1)]


def _unpack(schema_fb, model_bytes: bytes):
    if len(model_bytes) < 8 or bytes(model_bytes[4:8]) != b"TFL3":
        raise SparsemcuError("not a TFLite flatbuffer (file identifier TFL3 missing)")
    try:
        return schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(bytearray(model_bytes), 0))
    except Exception as exc:  # the flatbuffers runtime raises assorted errors on offsets outside the file
        raise SparsemcuError(f"not a valid TFLite flatbuffer: truncated or corrupt, an offset or length points "
                             f"outside the file ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                             ) from None


def _single_subgraph(model):
    if model.version != SCHEMA_VERSION:
        raise SparsemcuError(f"TFLite schema version {model.version} is not supported (expected {SCHEMA_VERSION})")
    if not model.subgraphs:
        raise SparsemcuError("TFLite model has no subgraph")
    if len(model.subgraphs) > 1:
        raise SparsemcuError(f"TFLite model has {len(model.subgraphs)} subgraphs; "
                             "only single-subgraph models are supported")
    sub = model.subgraphs[0]
    if not sub.tensors:
        raise SparsemcuError("TFLite subgraph 0 has no tensors")
    if not sub.operators:
        raise SparsemcuError("TFLite subgraph 0 has no operators")
    return sub


# ---- tensors ---------------------------------------------------------------------------------------
def _dtype(where: str, code: int) -> str:
    if code not in _TENSOR_TYPES:
        known = _enum_names(_schema().TensorType)
        kind = f"type {known[code]}" if code in known else f"unknown type code {code}"
        raise SparsemcuError(f"{where}: {kind} is not supported")
    return _TENSOR_TYPES[code]


def _shape(where: str, raw, dtype: str) -> tuple[int, ...]:
    shape = tuple(_ints(raw))
    if len(shape) > MAX_RANK:
        raise SparsemcuError(f"{where}: rank {len(shape)} exceeds the maximum {MAX_RANK}")
    if any(d < 0 for d in shape):
        raise SparsemcuError(f"{where}: shape {list(shape)} has a negative dimension")
    nbytes = math.prod(shape) * np.dtype(_NUMPY[dtype]).itemsize
    if nbytes > MAX_TENSOR_BYTES:
        raise SparsemcuError(f"{where}: shape {list(shape)} {dtype} is {nbytes} bytes, more than 2^31 - 1")
    return shape


def _quantization(where: str, q, shape: tuple[int, ...]):
    """(scale, zero_point, quant_dim) of a tensor; (None, None, 0) when it is not quantised."""
    if q is None or q.scale is None or len(q.scale) == 0:
        return None, None, 0
    scale = np.asarray(q.scale, dtype=np.float32).reshape(-1)
    zero_point = np.asarray(q.zeroPoint if q.zeroPoint is not None else [], dtype=np.int64).reshape(-1)
    if len(zero_point) != len(scale):
        raise SparsemcuError(f"{where}: {len(scale)} quantisation scales but {len(zero_point)} zero points")
    bad = [float(s) for s in scale if not (np.isfinite(s) and s >= 0)]
    if bad:
        raise SparsemcuError(f"{where}: quantisation scale {bad[0]} is not a finite non-negative number")
    quant_dim = int(q.quantizedDimension)
    if len(scale) > 1 and not (0 <= quant_dim < len(shape) and shape[quant_dim] == len(scale)):
        raise SparsemcuError(f"{where}: {len(scale)} per-channel scales do not match dimension {quant_dim} "
                             f"of shape {list(shape)}")
    return scale, zero_point, quant_dim


def _constant(where: str, buffers: list, index: int, shape: tuple[int, ...], dtype: str) -> np.ndarray | None:
    """The tensor's constant data (None for an activation: an empty buffer)."""
    if not 0 <= index < len(buffers):
        raise SparsemcuError(f"{where}: buffer index {index} is out of range ({len(buffers)} buffers)")
    buf = buffers[index]
    if buf is None:
        return None
    if int(getattr(buf, "offset", 0) or 0) > 1:
        raise SparsemcuError(f"{where}: buffer {index} keeps its data outside the flatbuffer (not supported)")
    if buf.data is None or len(buf.data) == 0:
        return None
    raw = np.asarray(buf.data, dtype=np.uint8).tobytes()
    itemsize = np.dtype(_NUMPY[dtype]).itemsize
    expected = math.prod(shape) * itemsize
    if len(raw) != expected:
        raise SparsemcuError(f"{where}: buffer {index} holds {len(raw)} bytes but shape {list(shape)} {dtype} "
                             f"needs {expected}")
    return np.frombuffer(raw, dtype=_NUMPY[dtype]).reshape(shape).copy()


def _check_plain(where: str, t) -> None:
    """No tensor features that change what TFLM does with the data (and that the kernels do not model)."""
    if t.isVariable:
        raise SparsemcuError(f"{where}: variable tensors (is_variable) are not supported")
    if t.sparsity is not None:
        raise SparsemcuError(f"{where}: sparse tensor encoding (sparsity) is not supported")
    if int(getattr(t, "externalBuffer", 0) or 0) != 0:
        raise SparsemcuError(f"{where}: data in an external buffer ({t.externalBuffer}) is not supported")
    if t.quantization is not None and int(t.quantization.detailsType or 0) != 0:
        raise SparsemcuError(f"{where}: custom quantisation details are not supported")


def _read_tensor(i: int, t, buffers: list) -> Tensor:
    name = _text(t.name, f"tensor {i}: name")
    where = f"tensor {i} ({name})"
    _check_plain(where, t)
    dtype = _dtype(where, int(t.type))
    shape = _shape(where, t.shape, dtype)
    scale, zero_point, quant_dim = _quantization(where, t.quantization, shape)
    data = _constant(where, buffers, int(t.buffer), shape, dtype)
    return Tensor(i, name, shape, dtype, scale, zero_point, quant_dim, data)


# ---- operators -------------------------------------------------------------------------------------
def _op_name(k: int, op, codes: list, names: dict[int, str]) -> str:
    if not 0 <= op.opcodeIndex < len(codes):
        raise SparsemcuError(f"operator {k}: opcode index {op.opcodeIndex} is out of range ({len(codes)} codes)")
    code = codes[op.opcodeIndex]
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    opname = names.get(builtin, f"BUILTIN_{builtin}")
    if opname == "CUSTOM":
        opname = "CUSTOM:" + _text(code.customCode, f"operator {k}: custom code")
    return opname


def _tensor_list(where: str, role: str, raw, n_tensors: int, optional: bool) -> list[int]:
    indices = _ints(raw)
    low = -1 if optional else 0
    for pos, t in enumerate(indices):
        if not low <= t < n_tensors:
            raise SparsemcuError(f"{where}: {role} {pos} is tensor {t}, out of range ({n_tensors} tensors)")
    return indices


def _check_arity(where: str, opname: str, inputs: list[int], outputs: list[int]) -> None:
    if opname not in ARITY:
        return  # not lowered: check_supported names it
    low, high, n_out = ARITY[opname]
    if len(inputs) < low or (high is not None and len(inputs) > high):
        expected = f"{low}" if low == high else f"{low}..{high if high is not None else 'n'}"
        raise SparsemcuError(f"{where}: {len(inputs)} inputs (expected {expected})")
    if len(outputs) != n_out:
        raise SparsemcuError(f"{where}: {len(outputs)} outputs (expected {n_out})")
    required = inputs if opname == "CONCATENATION" else inputs[:low]
    if any(t < 0 for t in required):
        raise SparsemcuError(f"{where}: required input {required.index(-1)} is absent (-1)")


def _check_options(where: str, opname: str, options_type: int, options) -> None:
    """The operator's builtin options table is the one it reads, with values in range; `options`
    the decoded table (None where it is absent, whatever the type says)."""
    if opname not in OPTIONS:
        return
    expected, required = OPTIONS[opname]
    union = _enum_names(_schema().BuiltinOptions)
    got = union.get(options_type, f"type {options_type}")
    if required and (options_type == 0 or options is None):
        raise SparsemcuError(f"{where}: builtin options ({expected}) are missing")
    if options_type != 0 and got != expected:
        raise SparsemcuError(f"{where}: builtin options are {got}, expected {expected}")


def _check_option_values(where: str, opname: str, options: dict) -> None:
    """Strides, filter sizes, dilations, padding, fused activation and op-specific values in range."""
    if opname not in OPTIONS:
        return  # not lowered: check_supported names it
    for key in SPATIAL_OPTIONS:
        if key in options and not 1 <= int(options[key]) <= MAX_SPATIAL_OPTION:
            raise SparsemcuError(f"{where}: option {key} = {options[key]} is out of range [1, {MAX_SPATIAL_OPTION}]")
    if "padding" in options and options["padding"] not in PADDINGS:
        raise SparsemcuError(f"{where}: option padding = {options['padding']} is not SAME (0) or VALID (1)")
    act = options.get("fused_activation_function", 0)
    if act not in ACTIVATIONS:
        raise SparsemcuError(f"{where}: fused activation {act} is not supported "
                             f"({', '.join(f'{v} ({k})' for k, v in ACTIVATIONS.items())})")
    if opname == "FULLY_CONNECTED" and options.get("weights_format", 0) != 0:
        raise SparsemcuError(f"{where}: weights_format {options['weights_format']} is not supported (DEFAULT only)")
    if opname == "SOFTMAX" and not (np.isfinite(options.get("beta", 1.0)) and options.get("beta", 1.0) > 0):
        raise SparsemcuError(f"{where}: softmax beta {options.get('beta')} is not a positive finite number")


def _read_operator(k: int, op, codes: list, names: dict[int, str], n_tensors: int) -> Node:
    opname = _op_name(k, op, codes, names)
    where = f"operator {k} ({opname})"
    inputs = _tensor_list(where, "input", op.inputs, n_tensors, optional=True)
    outputs = _tensor_list(where, "output", op.outputs, n_tensors, optional=False)
    _check_arity(where, opname, inputs, outputs)
    _check_options(where, opname, int(op.builtinOptionsType), op.builtinOptions)
    options = _options_dict(op.builtinOptions)
    _check_option_values(where, opname, options)
    return Node(k, opname, inputs, outputs, options)


# ---- the graph -------------------------------------------------------------------------------------
def _graph_io(role: str, raw, tensors: dict[int, Tensor]) -> list[int]:
    indices = _ints(raw)
    if not indices:
        raise SparsemcuError(f"the model has no {role}s")
    for t in indices:
        if t not in tensors:
            raise SparsemcuError(f"model {role} tensor {t} is out of range ({len(tensors)} tensors)")
    return indices


def _check_dataflow(graph: Graph) -> None:
    """Every operator reads constants, model inputs or tensors written by an earlier operator, and
    writes activations nothing else writes; every model output is written."""
    written = set(graph.inputs)
    for t in graph.inputs:
        if graph.tensors[t].is_const:
            raise SparsemcuError(f"model input tensor {t} ({graph.tensors[t].name}) is a constant")
    for n in graph.nodes:
        where = f"operator {n.index} ({n.op})"
        for pos, t in enumerate(n.inputs):
            if t >= 0 and not graph.tensors[t].is_const and t not in written:
                raise SparsemcuError(f"{where}: input {pos} (tensor {t}, {graph.tensors[t].name}) has no constant data "
                                     "and is not written by a model input or an earlier operator")
        for t in n.outputs:
            if graph.tensors[t].is_const:
                raise SparsemcuError(f"{where}: output tensor {t} ({graph.tensors[t].name}) is a constant")
            if t in written:
                raise SparsemcuError(f"{where}: output tensor {t} ({graph.tensors[t].name}) is already written "
                                     "by a model input or an earlier operator")
            written.add(t)
    for t in graph.outputs:
        if t not in written:
            raise SparsemcuError(f"model output tensor {t} ({graph.tensors[t].name}) is never written")


def read_tflite(model_bytes: bytes) -> Graph:
    """Parse and check a .tflite flatbuffer (single subgraph) into a Graph."""
    schema_fb = _schema()
    model = _unpack(schema_fb, model_bytes)
    sub = _single_subgraph(model)
    buffers = list(model.buffers or [])
    tensors = {i: _read_tensor(i, t, buffers) for i, t in enumerate(sub.tensors)}
    names = _builtin_names(schema_fb)
    codes = list(model.operatorCodes or [])
    nodes = [_read_operator(k, op, codes, names, len(tensors)) for k, op in enumerate(sub.operators)]
    desc = _text(model.description, "model description")
    graph = Graph(tensors, nodes, _graph_io("input", sub.inputs, tensors), _graph_io("output", sub.outputs, tensors),
                  desc)
    _check_dataflow(graph)
    return graph
