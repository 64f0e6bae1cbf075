"""`sparsemcu export` from the command line: files written, one-line errors, nothing half-written."""
import json
import subprocess
import sys

import numpy as np
import pytest

from harness import to_int8_tflite
from sparsemcu.tf import keras


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "sparsemcu.cli", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def tflite_files(tmp_path_factory):
    k = keras()
    d = tmp_path_factory.mktemp("models")
    ok = k.Sequential([k.layers.Input((6, 6, 2)), k.layers.Conv2D(4, 3, activation="relu")])
    bad = k.Sequential([k.layers.Input((6, 6, 2)), k.layers.Conv2D(4, 3), k.layers.Activation("tanh")])
    (d / "ok.tflite").write_bytes(to_int8_tflite(ok))
    (d / "bad.tflite").write_bytes(to_int8_tflite(bad))
    (d / "garbage.tflite").write_bytes(b"not a model at all")
    return d


def test_export_writes_sources_report_and_plot(tflite_files, tmp_path):
    out = tmp_path / "ok"
    r = _cli("export", str(tflite_files / "ok.tflite"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "CONV_2D" in r.stdout and "arena" in r.stdout
    rep = json.loads((out / "report.json").read_text())
    for key in ("flash_bytes", "weight_bytes", "arena_bytes", "macs", "nonzero_macs", "layers"):
        assert key in rep
    assert rep["layers"][0]["op"] == "CONV_2D" and rep["layers"][0]["macs"] == 4 * 4 * 4 * 3 * 3 * 2
    assert (out / "src" / "model.c").exists() and (out / "src" / f"{rep['layers'][0]['kernel']}.c").exists()
    assert rep["layers"][0]["predicted_instructions"] > 0 and rep["predicted_instructions"] > 0
    assert (out / "memory.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "model_int8.tflite").read_bytes() == (tflite_files / "ok.tflite").read_bytes()


def test_unsupported_op_is_one_line_and_writes_nothing(tflite_files, tmp_path):
    out = tmp_path / "bad"
    r = _cli("export", str(tflite_files / "bad.tflite"), "--out", str(out))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()  # all of stderr: exactly the one error line
    assert len(lines) == 1 and lines[0].startswith("sparsemcu") and "Traceback" not in r.stderr, r.stderr
    assert "unsupported operator TANH at index 1" in lines[0] and "CONV_2D" in lines[0]
    assert not out.exists()


def test_failed_export_keeps_previous_results(tflite_files, tmp_path):
    out = tmp_path / "keep"
    assert _cli("export", str(tflite_files / "ok.tflite"), "--out", str(out)).returncode == 0
    before = (out / "src" / "model.c").read_text()
    r = _cli("export", str(tflite_files / "bad.tflite"), "--out", str(out))
    assert r.returncode == 2
    assert (out / "src" / "model.c").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]  # no temporary directory left behind


@pytest.mark.parametrize("name,expected", [("garbage.tflite", "not a TFLite flatbuffer"),
                                           ("missing.tflite", "model not found")])
def test_bad_files_give_clear_errors(tflite_files, tmp_path, name, expected):
    r = _cli("export", str(tflite_files / name), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and expected in r.stderr and "Traceback" not in r.stderr


def test_keras_model_needs_calibration(tmp_path):
    k = keras()
    model = k.Sequential([k.layers.Input((4,)), k.layers.Dense(3)])
    path = tmp_path / "m.keras"
    model.save(path)
    r = _cli("export", str(path), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "--calib" in r.stderr
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32))
    r = _cli("export", str(path), "--out", str(tmp_path / "x"), "--calib", str(tmp_path / "calib.npy"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "x" / "report.json").read_text())["layers"][0]["op"] == "FULLY_CONNECTED"


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_deploy_host_inputs_outputs(tflite_files, tmp_path, dtype):
    """export -> deploy --board host --inputs X.npy --outputs Y.npy: Y equals TFLM, row per input."""
    from harness import run_tflm
    from sparsemcu.export.quant import quantize_input
    out = tmp_path / "m"
    assert _cli("export", str(tflite_files / "ok.tflite"), "--out", str(out)).returncode == 0
    rep = json.loads((out / "report.json").read_text())
    rng = np.random.default_rng(5)
    x_float = rng.uniform(-1, 1, size=(12, 6, 6, 2)).astype(np.float32)
    x_int8 = quantize_input(x_float, rep["input"]["scale"], rep["input"]["zero_point"])
    np.save(tmp_path / "x.npy", x_float if dtype == "float32" else x_int8)
    r = _cli("deploy", str(out), "--board", "host", "--inputs", str(tmp_path / "x.npy"),
             "--outputs", str(tmp_path / "y.npy"))
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.int8 and y.shape == (12, 4, 4, 4)
    np.testing.assert_array_equal(y, run_tflm((tflite_files / "ok.tflite").read_bytes(), x_int8))
    assert json.loads((out / "deploy_report.json").read_text())["bit_exact"] is True


def test_float_edges_are_done_on_the_host(tmp_path):
    """A .tflite with float input/output (QUANTIZE/DEQUANTIZE at the edges): the device runs the
    int8 graph between them; deploy quantises X on the host and the outputs equal TFLM's."""
    from sparsemcu.export.pipeline import lower
    from sparsemcu.tf import tensorflow
    tf, k = tensorflow(), keras()
    model = k.Sequential([k.layers.Input((6, 6, 2)), k.layers.Conv2D(4, 3, activation="relu"),
                          k.layers.Flatten(), k.layers.Dense(5)])
    rng = np.random.default_rng(3)
    calib = rng.uniform(-1, 1, size=(32, 1, 6, 6, 2)).astype(np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([c] for c in calib)
    tfl = conv.convert()  # float32 input and output around an int8 graph
    lowered = lower(tfl)
    assert lowered.float_input and lowered.float_output
    assert [c.op for c in lowered.calls] == ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]
    (tmp_path / "f.tflite").write_bytes(tfl)
    out = tmp_path / "m"
    assert _cli("export", str(tmp_path / "f.tflite"), "--out", str(out)).returncode == 0
    x = rng.uniform(-1, 1, size=(10, 6, 6, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = _cli("deploy", str(out), "--board", "host", "--inputs", str(tmp_path / "x.npy"),
             "--outputs", str(tmp_path / "y.npy"))
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "deploy_report.json").read_text())
    assert rep["bit_exact"] is True and rep["samples"] == 10
    assert np.load(tmp_path / "y.npy").shape == (10, 5)


def test_cost_model_falls_back_per_kernel_to_the_m7_table():
    """A core whose table lacks a kernel predicts it with the Cortex-M7 coefficients, not the crude default."""
    from sparsemcu.export import cost
    model = cost.load_model()
    m7 = model["cores"][cost.DEFAULT_CORE]
    only_m7 = [k for k in m7 if k not in model["cores"].get("cortex-m4", {})]
    for kernel in only_m7:
        assert cost.coefficients(kernel, "cortex-m4") == m7[kernel]
    assert cost.coefficients("smcu_conv2d_s8_simd", "no-such-core") == m7["smcu_conv2d_s8_simd"]
    assert cost.coefficients("smcu_no_such_kernel", "cortex-m4") == model["default"]
