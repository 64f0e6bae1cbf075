"""Fixed bad models (issue 11): each defect in a decoded field is one clear SparsemcuError line that
names the tensor or operator and the field, from the reader or the lowering, never a traceback."""
from __future__ import annotations

import numpy as np
import pytest

from harness import edit_tflite, operators_named, to_int8_tflite
from sparsemcu.errors import SparsemcuError
from sparsemcu.export.pipeline import lower
from sparsemcu.export.tflite_reader import _schema, read_tflite


@pytest.fixture(scope="module")
def model() -> bytes:
    from sparsemcu.tf import tensorflow
    tf = tensorflow()
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    i = L.Input((6, 6, 2))
    x = L.MaxPooling2D(2)(L.Conv2D(3, 3, padding="same", activation="relu")(i))
    return to_int8_tflite(tf.keras.Model(i, L.Dense(4)(L.Flatten()(x))))


def conv(m):
    return operators_named(m, "CONV_2D")[0]


def conv_weights(m):
    return m.subgraphs[0].tensors[conv(m).inputs[1]]


def conv_output(m):
    return m.subgraphs[0].tensors[conv(m).outputs[0]]


def pool_output(m):
    return m.subgraphs[0].tensors[operators_named(m, "MAX_POOL_2D")[0].outputs[0]]


def set_field(obj, name, value):
    setattr(obj, name, value)


def assert_clear_error(model_bytes: bytes, *fragments: str) -> str:
    with pytest.raises(SparsemcuError) as e:
        lower(model_bytes)
    msg = str(e.value)
    assert msg and "\n" not in msg, msg
    for f in fragments:
        assert f in msg, (f, msg)
    return msg


CASES = {
    "buffer index": (lambda m: set_field(conv_weights(m), "buffer", 999), ["tensor", "buffer index 999"]),
    "tensor index": (lambda m: set_field(conv(m), "inputs", [conv(m).inputs[0], 77, conv(m).inputs[2]]),
                     ["operator 0 (CONV_2D)", "input 1 is tensor 77"]),
    "buffer size": (lambda m: set_field(conv_weights(m), "shape", [3, 3, 3, 3]), ["holds 54 bytes", "needs 81"]),
    "type code": (lambda m: set_field(conv_weights(m), "type", 77), ["unknown type code 77"]),
    "string type": (lambda m: set_field(conv_weights(m), "type", 5), ["type STRING is not supported"]),
    "name": (lambda m: set_field(conv_weights(m), "name", b"w\xff\xfe"), ["name is not valid UTF-8"]),
    "negative dim": (lambda m: set_field(conv_output(m), "shape", [1, -6, 6, 3]), ["negative dimension"]),
    "huge tensor": (lambda m: set_field(conv_output(m), "shape", [1, 65536, 65536, 3]), ["more than 2^31 - 1"]),
    "scales vs zero points": (lambda m: set_field(conv_weights(m).quantization, "zeroPoint", [0]),
                              ["3 quantisation scales but 1 zero points"]),
    "nan scale": (lambda m: set_field(conv_output(m).quantization, "scale", [float("nan")]),
                  ["scale nan is not a finite"]),
    "zero activation scale": (lambda m: set_field(conv_output(m).quantization, "scale", [0.0]),
                              ["activation scale 0.0 is not a positive finite number"]),
    "rescale overflow": (lambda m: set_field(conv_output(m).quantization, "scale", [1e-30]),
                         ["operator 0 (CONV_2D)", "beyond what int8 requantisation supports"]),
    "zero point": (lambda m: set_field(conv_output(m).quantization, "zeroPoint", [300]),
                   ["activation zero point 300 is outside int8"]),
    "stride": (lambda m: set_field(conv(m).builtinOptions, "strideH", 0), ["option stride_h = 0 is out of range"]),
    "padding enum": (lambda m: set_field(conv(m).builtinOptions, "padding", 7), ["option padding = 7"]),
    "activation enum": (lambda m: set_field(conv(m).builtinOptions, "fusedActivationFunction", 9),
                        ["fused activation 9 is not supported"]),
    "options type": (lambda m: set_field(conv(m), "builtinOptionsType", _schema().BuiltinOptions.AddOptions),
                     ["builtin options are AddOptions, expected Conv2DOptions"]),
    "options missing": (lambda m: (set_field(conv(m), "builtinOptionsType", 0),
                                   set_field(conv(m), "builtinOptions", None)),
                        ["builtin options (Conv2DOptions) are missing"]),
    "options table absent": (lambda m: set_field(conv(m), "builtinOptions", None),  # the type still says Conv2D
                             ["operator 0 (CONV_2D): builtin options (Conv2DOptions) are missing"]),
    "input count": (lambda m: set_field(conv(m), "inputs", conv(m).inputs[:1]), ["1 inputs (expected 2..3)"]),
    "opcode index": (lambda m: set_field(conv(m), "opcodeIndex", 40), ["opcode index 40 is out of range"]),
    "graph output": (lambda m: set_field(m.subgraphs[0], "outputs", [99]), ["model output tensor 99 is out of range"]),
    "read before write": (lambda m: set_field(conv(m), "inputs", [conv(m).outputs[0], *conv(m).inputs[1:]]),
                          ["input 0", "has no constant data and is not written by a model input or an earlier operator"]),
    "missing weights": (lambda m: set_field(m.buffers[conv_weights(m).buffer], "data", None),
                        ["operator 0 (CONV_2D): input 1", "has no constant data"]),
    "variable tensor": (lambda m: set_field(conv_weights(m), "isVariable", True),
                        ["variable tensors (is_variable) are not supported"]),
    "written twice": (lambda m: set_field(operators_named(m, "MAX_POOL_2D")[0], "outputs", conv(m).outputs),
                      ["is already written"]),
    "shape vs stride": (lambda m: set_field(conv(m).builtinOptions, "strideW", 2),
                        ["operator 0 (CONV_2D)", "output width 6 disagrees", "(expected 3)"]),
    "pool quantisation": (lambda m: set_field(pool_output(m).quantization, "zeroPoint", [5]),
                          ["operator 1 (MAX_POOL_2D)", "quantisation differ"]),
    "pool shape": (lambda m: set_field(pool_output(m), "shape", [1, 2, 3, 3]),
                   ["operator 1 (MAX_POOL_2D)", "output height 2 disagrees"]),
    "bias shape": (lambda m: set_field(m.subgraphs[0].tensors[conv(m).inputs[2]], "shape", [2]),
                   ["3 per-channel scales do not match dimension 0 of shape [2]"]),
    "bias length": (lambda m: set_field(conv(m), "inputs", [*conv(m).inputs[:2],
                                                            operators_named(m, "RESHAPE")[0].inputs[1]]),
                    ["operator 0 (CONV_2D)", "the bias has 2 values for 3 output channels"]),
    "schema version": (lambda m: set_field(m, "version", 4), ["schema version 4"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_field_is_one_clear_line(model, case):
    edit, fragments = CASES[case]
    assert_clear_error(edit_tflite(model, edit), *fragments)


def test_the_unedited_model_reads_and_lowers(model):
    g = read_tflite(model)
    assert [n.op for n in g.nodes] == ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED"]
    assert lower(model).calls


@pytest.mark.parametrize("cut", [9, 100, 400, -40])
def test_truncated_file_is_a_clear_error(model, cut):
    assert_clear_error(model[:cut], "TFLite flatbuffer")


def test_unquantised_weights_are_a_clear_error(model):
    def edit(m):
        conv_weights(m).quantization = None
    assert_clear_error(edit_tflite(model, edit), "operator 0 (CONV_2D)", "weights are not quantised")


def test_weights_of_the_wrong_type_are_a_clear_error(model):
    def edit(m):
        w = conv_weights(m)
        w.type = 2  # int32, with the data to match
        m.buffers[w.buffer].data = np.zeros(4 * 3 * 3 * 3 * 2, np.uint8)
    assert_clear_error(edit_tflite(model, edit), "operator 0 (CONV_2D)", "weights are int32")
