"""Hardware-in-the-loop suite: `pytest board_test` runs it on every emulated board (CI: the mps2
Cortex-M7 and M4, the STM32F405 of netduinoplus2, the Cortex-M0 micro:bit), `pytest board_test
--board nucleo_f746 [--port /dev/ttyACM0]` on a real board.

Three CNNs trained on digits (depthwise-separable, residual with ADD, 90%-pruned with
run-length sparse weights) are exported for the board's core, built for the board and deployed:
every output must equal TFLM's, on-device accuracy must equal the host's, RAM must fit the
board's budget and a timing figure must be reported.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sparsemcu.board_test import ci
from sparsemcu.deploy import deploy
from sparsemcu.board_test.models import MODEL_NAMES, tflite_path
from sparsemcu.firmware import get_board

pytestmark = pytest.mark.hil

CACHE_KEY = "sparsemcu/hil_models_v2"


def _need_tools(board):
    b = get_board(board)
    # CI=true: a missing toolchain or QEMU fails the test instead of skipping it
    if not b.is_host:
        ci.require_tools("arm-none-eabi-gcc")
    if b.is_qemu:
        ci.require_tools("qemu-system-arm")


def _core(board: str) -> str:
    b = get_board(board)
    return b.cpu or "host"


@pytest.fixture(scope="session")
def hil_exports(request, tmp_path_factory):
    """export(core) -> {name: export dir}: the trained int8 .tflite files (cached in pytest's cache
    dir) exported once per core, whose cost model picks the kernel variants."""
    cache = request.config.cache.mkdir(CACHE_KEY.replace("/", "_"))
    done: dict[str, dict] = {}

    def export(core: str) -> dict:
        if core not in done:
            done[core] = export_for_core(cache, tmp_path_factory.mktemp(f"hil_{core}"), core)
        return done[core]
    return export


def export_for_core(cache, out_dir, core: str) -> dict:
    """The HIL models exported as board_test/models.py does, with `core`'s cost model."""
    from sparsemcu.export.pipeline import Options, export_model

    out = {}
    for name in MODEL_NAMES:
        d = out_dir / name
        export_model(tflite_path(cache, name).read_bytes(), d, name=name,
                     options=Options(optimize="size" if "pruned" in name else "speed", core=core))
        out[name] = d
    return out


@pytest.fixture(scope="session")
def host_runs(hil_samples):
    """(export dir, name) -> (host report, host outputs): the host build of an export, run once."""
    done: dict = {}

    def run(d, name):
        if d not in done:
            host_dir = d.parent / f"{name}_host"
            shutil.copytree(d, host_dir, ignore=shutil.ignore_patterns("build", "deploy_report.json", "*.npy"))
            host = deploy(host_dir, "host", data="digits", limit=hil_samples, outputs=host_dir / "y_host.npy",
                          progress=False)
            done[d] = (host, np.load(host_dir / "y_host.npy"))
        return done[d]
    return run


@pytest.fixture(scope="session")
def hil_models(hil_exports, hil_board):
    """{name: export dir} for the board's core."""
    return hil_exports(_core(hil_board))


@pytest.fixture(scope="session")
def deployed(hil_models, host_runs, hil_board, hil_port, hil_samples, request, tmp_path_factory):
    """{name: (board report, host report, board outputs, host outputs)}, one deploy per model."""
    _need_tools(hil_board)
    no_flash = request.config.getoption("--no-flash")
    work = tmp_path_factory.mktemp(f"hil_{hil_board}")
    out = {}
    for name, src in hil_models.items():
        d = work / name
        shutil.copytree(src, d, ignore=shutil.ignore_patterns("build", "deploy_report.json", "*.npy"))
        rep = deploy(d, hil_board, port=hil_port, data="digits", limit=hil_samples, outputs=d / "y_board.npy",
                     progress=False, do_flash=not no_flash)
        host, y_host = host_runs(src, name)
        out[name] = (rep, host, np.load(d / "y_board.npy"), y_host)
    return out


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bit_exact_with_tflm(deployed, name, hil_samples):
    rep, host, y_board, y_host = deployed[name]
    assert rep["status"] == "ok" and rep["bit_exact"] is True
    assert rep["samples"] == hil_samples == len(y_board)
    assert np.array_equal(y_board, y_host) and y_board.dtype == np.int8


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_accuracy_equals_host(deployed, name):
    rep, host, _, _ = deployed[name]
    assert rep["accuracy"] is not None
    assert rep["accuracy"] == rep["accuracy_reference"] == host["accuracy"]
    assert rep["accuracy"] > 0.5  # trained, not random (10 classes)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_ram_within_budget(deployed, hil_models, hil_board, name):
    rep, _, _, _ = deployed[name]
    board = get_board(hil_board)
    export = json.loads((hil_models[name] / "report.json").read_text())
    ram = rep["ram"]
    assert ram["arena_bytes"] == export["arena_bytes"]
    if board.is_host:
        return
    assert ram["static_bytes"] >= ram["arena_bytes"]
    assert 0 < ram["stack_bytes"] < ram["stack_reserved_bytes"]
    assert ram["static_bytes"] + ram["stack_reserved_bytes"] <= board.ram_size
    assert rep["build"]["model_ram_bytes"] >= ram["arena_bytes"]
    assert rep["build"]["model_flash_bytes"] >= export["weight_bytes"]
    assert 0 < rep["flash_bytes"] <= board.flash_size


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_timing_reported(deployed, hil_board, name):
    rep, _, _, _ = deployed[name]
    lat = rep["latency"]
    unit = get_board(hil_board).tick_unit
    assert lat["unit"] == unit and lat["median"] > 0 and lat["max"] >= lat["median"]
    if unit == "cycles":
        assert lat["ms"]["median"] > 0
    if unit == "emulated_instructions":
        assert lat["max"] - lat["min"] < 0.05 * lat["median"]  # deterministic under -icount


def test_kernel_variants_suit_the_core(hil_models, hil_board):
    """The export for the board's core: a core without the DSP extension (Cortex-M0) runs no 16-bit
    SIMD variant (their portable C path is correct there but slower than the reference kernels)."""
    core = _core(hil_board)
    for name in MODEL_NAMES:
        export = json.loads((hil_models[name] / "report.json").read_text())
        assert export["core"] == core
        if core == "cortex-m0":
            assert not any(layer["variant"] == "simd" for layer in export["layers"]), (name, export["layers"])


def test_pruned_model_is_sparse_encoded(hil_models):
    export = json.loads((hil_models["pruned_cnn"] / "report.json").read_text())
    assert any(layer["encoding"] == "rle" for layer in export["layers"])
    assert export["weight_bytes"] <= 0.3 * export["dense_weight_bytes"]
