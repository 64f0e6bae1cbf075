"""Issue 11: every bad input is one clear line on stderr (exit code != 0, no traceback), never a false
success; the deploy report always ends with a final status. The real CLI (`python -m sparsemcu.cli`,
the same entry point as .venv/bin/sparsemcu) and the real native firmware (`host` board)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import to_int8_tflite
from sparsemcu.board_test import dummy
from sparsemcu.board_test import protocol as P
from sparsemcu.deploy import deploy
from sparsemcu.errors import SparsemcuError
from sparsemcu.nas import runs
from sparsemcu.tf import keras

# a directory no one (root included) can create files in
UNWRITABLE = Path("/proc/sparsemcu-no-such-dir")


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sparsemcu.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def one_line_error(r, *fragments):
    """exit code != 0, exactly one line on stderr naming the problem, no traceback"""
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny int8 .tflite, exported to DIR (with model_int8.tflite: the deploy reference)."""
    k = keras()
    d = tmp_path_factory.mktemp("cli_errors")
    net = k.Sequential([k.layers.Input((6, 6, 2)), k.layers.Conv2D(4, 3, activation="relu")])
    (d / "ok.tflite").write_bytes(to_int8_tflite(net))
    r = cli("export", d / "ok.tflite", "--out", d / "exp")
    assert r.returncode == 0, r.stderr
    return d


# ------------------------------------------------------------------ file-system errors, checked first
def test_output_dir_that_is_a_file(model, tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    one_line_error(cli("export", model / "ok.tflite", "--out", f), f"--out {f} is an existing file")
    one_line_error(cli("export", model / "ok.tflite", "--out", f / "sub"), f"{f} is a file, not a directory")
    one_line_error(cli("search", "--out", f, "--trials", "1"), f"--out {f} is an existing file")
    assert f.read_text() == "x"


def test_unwritable_output_places(model, tmp_path):
    one_line_error(cli("export", model / "ok.tflite", "--out", UNWRITABLE), "--out", "is not writable")
    one_line_error(cli("search", "--out", UNWRITABLE / "run"), "--out", "is not writable")
    one_line_error(cli("deploy", model / "exp", "--board", "host", "--outputs", UNWRITABLE / "y.npy"),
                   "--outputs", "cannot be written")
    one_line_error(cli("deploy", model / "exp", "--board", "host", "--outputs", model / "exp"),
                   "--outputs", "must end in .npy")


def test_build_and_deploy_directories(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    one_line_error(cli("build", f, "--board", "host"), "is a file, not a directory")
    one_line_error(cli("deploy", tmp_path / "nope", "--board", "host"), "not found")
    d = tmp_path / "d"
    dummy.write_dummy_model(d)
    (d / "build").write_text("in the way")
    one_line_error(cli("build", d, "--board", "host"), f"{d / 'build'} is an existing file")


def test_run_directory_with_trial_files_gone(model, tmp_path):
    run = tmp_path / "run"
    for i, err in enumerate((0.2, 0.1)):
        t = runs.trial_dir(run, i)
        t.mkdir(parents=True)
        (t / f"trial{i:04d}.tflite").write_bytes((model / "ok.tflite").read_bytes())
        (t / "metrics.json").write_text(json.dumps({
            "trial": i, "val_error": err, "flash_bytes": 100 + i, "arena_bytes": 50, "feasible": True,
            "skipped_training": False, "tflite_path": f"trial{i:04d}.tflite", "num_classes": 10}))
    (runs.trial_dir(run, 1) / "trial0001.tflite").unlink()
    one_line_error(cli("export", run, "--out", tmp_path / "x"), "trial 1's model", "trial0001.tflite is missing")
    assert not (tmp_path / "x").exists()
    import shutil
    shutil.rmtree(run / "trials")
    one_line_error(cli("export", run, "--out", tmp_path / "x"), "holds no finished trials")


def test_corrupted_metrics_is_an_error_naming_the_file(model, tmp_path):
    """A corrupted metrics.json could hide the most accurate trial: never a silent different pick."""
    run = tmp_path / "run"
    for i, err in enumerate((0.3, 0.1, 0.2)):
        t = runs.trial_dir(run, i)
        t.mkdir(parents=True)
        (t / f"trial{i:04d}.tflite").write_bytes((model / "ok.tflite").read_bytes())
        (t / "metrics.json").write_text(json.dumps({
            "trial": i, "val_error": err, "flash_bytes": 100, "arena_bytes": 50, "feasible": True,
            "skipped_training": False, "tflite_path": f"trial{i:04d}.tflite", "num_classes": 10}))
    assert runs.pick(run, "most-accurate").name == "trial0001.tflite"
    bad = runs.trial_dir(run, 1) / "metrics.json"
    bad.write_text('{"trial": 1, "val_err')  # cut off
    for how in ("most-accurate", "smallest"):
        line = one_line_error(cli("export", run, "--pick", how, "--out", tmp_path / "x"), f"cannot read {bad}")
        assert "not valid JSON" in line and "delete" in line
    # a trial picked by number does not depend on the others
    assert runs.pick(run, "2").name == "trial0002.tflite"
    with pytest.raises(SparsemcuError, match="cannot read"):
        runs.pick(run, "1")
    bad.write_text(json.dumps({"trial": 1, "val_error": "low", "flash_bytes": 100, "arena_bytes": 50}))
    one_line_error(cli("export", run, "--out", tmp_path / "x"), f"cannot read {bad}", "'val_error' is 'low'")
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------ numeric flags
@pytest.mark.parametrize("args,fragment", [
    (["deploy", "D", "--board", "host", "--limit", "-1"], "argument --limit: must be at least 1, got -1"),
    (["deploy", "D", "--board", "host", "--limit", "0"], "argument --limit: must be at least 1, got 0"),
    (["deploy", "D", "--board", "host", "--limit", "2.5"], "argument --limit: not a whole number"),
    (["deploy", "D", "--board", "host", "--timeout", "0"], "argument --timeout: must be a positive number"),
    (["deploy", "D", "--board", "host", "--timeout", "nan"], "argument --timeout: must be a positive number"),
    (["deploy", "D", "--board", "host", "--run-timeout", "-5"], "argument --run-timeout: must be a positive"),
    (["search", "--out", "R", "--max-filters", "0"], "argument --max-filters: must be at least 2, got 0"),
    (["search", "--out", "R", "--max-train", "0"], "argument --max-train: must be at least 10, got 0"),
    (["search", "--out", "R", "--trials", "0"], "argument --trials: must be at least 1"),
    (["search", "--out", "R", "--epochs", "-3"], "argument --epochs: must be at least 1"),
    (["search", "--out", "R", "--max-blocks", "4"], "argument --max-blocks: must be from 1 to 3, got 4"),
    (["search", "--out", "R", "--startup", "-1"], "argument --startup: must be at least 0"),
    (["search", "--out", "R", "--seed", "-1"], "argument --seed: must be from 0 to"),
    (["search", "--out", "R", "--max-flash", "0"], "argument --max-flash: a budget must be positive"),
    (["search", "--out", "R", "--max-ram", "lots"], "argument --max-ram: not a byte count"),
    (["search", "--out", "R", "--error-weight", "0"], "argument --error-weight: must be a positive number"),
])
def test_numeric_flags_are_validated_not_clamped(tmp_path, args, fragment):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2
    one_line_error(r, fragment)
    assert list(tmp_path.iterdir()) == []  # nothing started


# ------------------------------------------------------------------ --name
@pytest.mark.parametrize("name,why", [("my-model", "contains '-'"), ('a"b', "contains '\"'"), ("3net", "starts with a digit"),
                                      ("int", "C keyword"), ("", "empty"), ("x*/y", "contains")])
def test_name_must_be_a_c_identifier(model, tmp_path, name, why):
    line = one_line_error(cli("export", model / "ok.tflite", "--out", tmp_path / "x", "--name", name),
                          "is not a valid C identifier", why)
    assert "--name" in line
    assert not (tmp_path / "x").exists()


def test_default_name_from_file_name_is_made_a_c_identifier(model, tmp_path):
    src = tmp_path / "my-model v2.tflite"
    src.write_bytes((model / "ok.tflite").read_bytes())
    out = tmp_path / "x"
    assert cli("export", src, "--out", out).returncode == 0
    assert '#define MODEL_NAME "my_model_v2"' in (out / "src" / "model.h").read_text()
    r = cli("build", out, "--board", "host")  # and the C compiles
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ .npy inputs
def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, list[str]]]:
    rng = np.random.default_rng(0)
    files = {}

    def save(name, arr, *frag, **kw):
        p = tmp_path / name
        np.save(p, arr, **kw)
        files[name] = (p, list(frag))
    save("objects.npy", np.array([{"a": 1}, None], dtype=object), "holds Python objects", allow_pickle=True)
    save("shape.npy", np.zeros((3, 5), np.float32), "shape (3, 5)", "72 values per sample")
    save("int32.npy", np.zeros((2, 6, 6, 2), np.int32), "are int32", "float", "int8")
    x = rng.uniform(-1, 1, (3, 6, 6, 2)).astype(np.float32)
    x[1, 2, 3, 0] = np.nan
    save("nan.npy", x, "contain NaN", "sample 1")
    x = rng.uniform(-1, 1, (3, 6, 6, 2)).astype(np.float32)
    x[2, 0, 0, 1] = -np.inf
    save("inf.npy", x, "contain Inf", "sample 2")
    save("range.npy", rng.uniform(0, 255, (3, 6, 6, 2)).astype(np.float32), "outside the model's input range")
    save("empty.npy", np.zeros((0, 72), np.float32), "no samples")
    (tmp_path / "corrupt.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    files["corrupt.npy"] = (tmp_path / "corrupt.npy", ["is not a readable .npy array"])
    good = tmp_path / "good.npy"
    np.save(good, rng.uniform(-1, 1, (4, 6, 6, 2)).astype(np.float32))
    (tmp_path / "trunc.npy").write_bytes(good.read_bytes()[:100])
    files["trunc.npy"] = (tmp_path / "trunc.npy", ["is not a readable .npy array"])
    np.savez(tmp_path / "arch.npz", x=np.zeros(3))
    files["arch.npz"] = (tmp_path / "arch.npz", ["is an .npz archive"])
    files["missing.npy"] = (tmp_path / "missing.npy", ["--inputs", "missing.npy not found"])
    return files


def test_bad_npy_inputs_are_one_line_errors(model, tmp_path):
    files = _bad_inputs(tmp_path)
    d = model / "exp"
    for name, (path, frags) in files.items():
        r = cli("deploy", d, "--board", "host", "--inputs", path, "--no-progress")
        one_line_error(r, *frags)
        rep = json.loads((d / "deploy_report.json").read_text())
        assert rep["status"] == "failed" and rep["samples"] == 0 and rep["error"], name
    # the library entry point says the same
    with pytest.raises(SparsemcuError, match="contain NaN"):
        deploy(d, "host", inputs=files["nan.npy"][0], progress=False)


# ------------------------------------------------------------------ verification is never silently skipped
def test_deploy_without_reference_fails_unless_no_verify(model, tmp_path):
    import shutil
    d = tmp_path / "noref"
    shutil.copytree(model / "exp", d, ignore=shutil.ignore_patterns("build", "deploy_report.json"))
    (d / "model_int8.tflite").unlink()
    one_line_error(cli("deploy", d, "--board", "host", "--limit", "3", "--no-progress"),
                   "model_int8.tflite not found", "--no-verify")
    assert json.loads((d / "deploy_report.json").read_text())["status"] == "failed"
    assert not (d / "build").exists()  # refused before building
    r = cli("deploy", d, "--board", "host", "--limit", "3", "--no-progress", "--no-verify")
    assert r.returncode == 0, r.stderr
    assert "NOT VERIFIED" in r.stdout
    rep = json.loads((d / "deploy_report.json").read_text())
    assert rep["status"] == "ok" and rep["verified"] is False and rep["bit_exact"] is None and rep["samples"] == 3
    r = cli("deploy", model / "exp", "--board", "host", "--limit", "2", "--no-progress", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["verified"] is True and rep["bit_exact"] is True


# ------------------------------------------------------------------ the deploy report is always final
def _dummy(tmp_path, name="m"):
    return dummy.write_dummy_model(tmp_path / name, "ok")


def _x(n):
    return np.random.default_rng(1).integers(-128, 128, (n, dummy.IN_BYTES)).astype(np.int8)


def test_report_is_final_after_ctrl_c(tmp_path):
    d = _dummy(tmp_path)
    calls = []

    def ref(x):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return dummy.reference(x)
    with pytest.raises(KeyboardInterrupt):
        deploy(d, "host", inputs=_x(40), reference=ref, progress=False)
    rep = json.loads((d / "deploy_report.json").read_text())
    assert rep["status"] == "interrupted" and rep["samples"] == 3 and "interrupted" in rep["error"]
    assert rep["latency"]["unit"] == "ns" and rep["latency"]["median"] > 0  # latency of the samples done
    assert not list(d.glob("*.tmp"))


def test_report_is_final_after_an_unexpected_error(tmp_path):
    d = _dummy(tmp_path)

    def ref(x):
        raise RuntimeError("reference exploded")
    with pytest.raises(RuntimeError):
        deploy(d, "host", inputs=_x(5), reference=ref, progress=False)
    rep = json.loads((d / "deploy_report.json").read_text())
    assert rep["status"] == "failed" and "reference exploded" in rep["error"] and rep["samples"] == 1


def test_outputs_that_cannot_be_saved_lose_no_result(tmp_path):
    """--outputs was fine when checked, but saving fails at the end: the verified run stays in the report."""
    d = _dummy(tmp_path)
    target = tmp_path / "later" / "y.npy"
    x = _x(6)

    def ref(xi):
        if np.array_equal(xi, x[-1]):  # the last sample: something takes the outputs' directory name
            (tmp_path / "later").write_text("in the way")
        return dummy.reference(xi)
    with pytest.raises(SparsemcuError) as e:
        deploy(d, "host", inputs=x, outputs=target, reference=ref, progress=False)
    msg = str(e.value)
    assert "could not save the outputs" in msg and str(target) in msg and "\n" not in msg
    rep = json.loads((d / "deploy_report.json").read_text())
    assert rep["status"] == "failed" and "could not save the outputs" in rep["error"]
    assert rep["samples"] == 6 and rep["bit_exact"] is True and rep["verified"] is True
    assert rep["latency"]["median"] is not None and "outputs" not in rep


def test_report_written_atomically_and_final_on_success(tmp_path):
    d = _dummy(tmp_path)
    out = tmp_path / "y.npy"
    rep = deploy(d, "host", inputs=_x(4), outputs=out, reference=dummy.reference, progress=False)
    on_disk = json.loads((d / "deploy_report.json").read_text())
    assert on_disk["status"] == rep["status"] == "ok" and on_disk["outputs"] == str(out)
    assert np.load(out).shape == (4, dummy.OUT_BYTES)
    assert sorted(p.name for p in d.iterdir()) == ["build", "deploy_report.json", "report.json", "src"]


# ------------------------------------------------------------------ firmware: the model must fit its arena
def test_input_beyond_the_arena_does_not_compile(tmp_path):
    d = _dummy(tmp_path)
    h = d / "src" / "model.h"
    h.write_text(h.read_text().replace("#define MODEL_ARENA_BYTES 128",
                                       "#define MODEL_ARENA_BYTES 128\n#define MODEL_INPUT_OFFSET 100"))
    one_line_error(cli("build", d, "--board", "host"), "#error", "input", "does not fit the arena")


def test_generated_model_h_checks_its_offsets(model, tmp_path):
    import shutil
    d = tmp_path / "e"
    shutil.copytree(model / "exp", d, ignore=shutil.ignore_patterns("build", "deploy_report.json"))
    h = d / "src" / "model.h"
    text = h.read_text()
    arena = int(re.search(r"#define MODEL_ARENA_BYTES (\d+)", text).group(1))
    assert "#define MODEL_INPUT_OFFSET" in text and "#error" in text
    h.write_text(re.sub(r"#define MODEL_OUTPUT_OFFSET \d+", f"#define MODEL_OUTPUT_OFFSET {arena}", text))
    one_line_error(cli("build", d, "--board", "host"), "#error", "output", "does not fit the arena")


def test_load_of_the_wrong_length_is_rejected_with_a_clear_message(tmp_path):
    from sparsemcu.board_test.client import Client
    from sparsemcu.board_test.transport import PipeTransport
    from sparsemcu.firmware import build
    d = _dummy(tmp_path)
    build(d, "host")
    c = Client(PipeTransport(d / "build" / "firmware"), timeout=3)
    try:
        c.connect()
        for n in (dummy.IN_BYTES - 1, dummy.IN_BYTES + 1, 1000):
            with pytest.raises(P.DeviceError) as e:
                c.load(bytes(n))
            assert e.value.code == P.ERR_BAD_LENGTH and e.value.detail == dummy.IN_BYTES
            assert f"LOAD of {n} bytes" in str(e.value) and "another model" in str(e.value)
        y, _ = c.infer(_x(1)[0])  # the firmware is still fine
        assert np.array_equal(y, dummy.reference(_x(1)[0]))
    finally:
        c.close()


# ------------------------------------------------------------------ unexpected errors are one line too
def test_internal_error_is_one_line_without_traceback(capsys, monkeypatch):
    """A bug (any other exception) is still one line, pointing at SPARSEMCU_DEBUG for the traceback."""
    from sparsemcu.cli import main
    from sparsemcu.commands import build as build_cmd
    monkeypatch.setattr(build_cmd, "run", lambda args: 1 / 0)  # stands in for a bug
    monkeypatch.delenv("SPARSEMCU_DEBUG", raising=False)
    assert main(["build", "x", "--board", "host"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error ZeroDivisionError" in err[0] and "SPARSEMCU_DEBUG" in err[0]


# ------------------------------------------------------------------ CI: a missing component is a failure
@pytest.mark.parametrize("ci_value,outcome", [("true", "1 failed"), ("", "1 skipped")])
def test_missing_component_fails_under_ci(tmp_path, ci_value, outcome):
    (tmp_path / "test_needs.py").write_text(
        "from sparsemcu.board_test import ci\n\n"
        "@ci.needs('sparsemcu-no-such-toolchain-gcc')\n"
        "def test_uses_the_toolchain(tmp_path):\n"
        "    raise AssertionError('must not run')\n")
    import os
    env = {**os.environ, "CI": ci_value}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert outcome in r.stdout, r.stdout
    if ci_value:
        assert "CI=true and sparsemcu-no-such-toolchain-gcc not installed" in r.stdout


# ------------------------------------------------------------------ flags that do not apply, calibration data
def test_pick_on_a_single_model_is_an_error(model, tmp_path):
    one_line_error(cli("export", model / "ok.tflite", "--pick", "3", "--out", tmp_path / "x"),
                   "--pick chooses a trial of a search run directory")
    assert not (tmp_path / "x").exists()


def test_calibration_with_nan_is_an_error(tmp_path):
    k = keras()
    net = k.Sequential([k.layers.Input((4,)), k.layers.Dense(3)])
    net.save(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    x[7, 2] = np.nan
    np.save(tmp_path / "calib.npy", x)
    one_line_error(cli("export", tmp_path / "m.keras", "--calib", tmp_path / "calib.npy", "--out", tmp_path / "x"),
                   "contains NaN or Inf (first in sample 7)")
    np.save(tmp_path / "calib.npy", np.zeros((20, 3, 3), np.float32))
    one_line_error(cli("export", tmp_path / "m.keras", "--calib", tmp_path / "calib.npy", "--out", tmp_path / "x"),
                   "samples of shape (3, 3, 1), the model takes (4,)")
    assert not (tmp_path / "x").exists()


def test_os_error_line_names_the_file_and_the_fix(tmp_path):
    from sparsemcu.cli import os_error_line
    (tmp_path / "f").write_text("x")
    with pytest.raises(OSError) as e:
        (tmp_path / "f" / "g").mkdir()
    line = os_error_line(e.value)
    assert str(tmp_path / "f" / "g") in line and "a file is in the way" in line and "\n" not in line


def test_search_on_an_unknown_dataset_creates_nothing(tmp_path):
    """A bad --dataset is one line, and the --out directory is not left behind empty."""
    out = tmp_path / "run"
    r = cli("search", "--dataset", "no-such-data", "--trials", "1", "--out", str(out))
    one_line_error(r, "no-such-data")
    assert not out.exists()


def test_error_weight_with_a_sampler_that_has_no_weights(tmp_path):
    out = tmp_path / "run"
    r = cli("search", "--dataset", "digits", "--sampler", "tpe", "--error-weight", "8", "--trials", "1",
            "--out", str(out))
    one_line_error(r, "--error-weight weights the sparse sampler's scalarisations; tpe has none")
    assert not out.exists()
