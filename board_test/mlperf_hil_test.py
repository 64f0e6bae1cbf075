"""MLPerf Tiny mode in the hardware-in-the-loop suite: `pytest board_test [--board B --port P]` also
deploys a trained HIL model (res_cnn: convolutions, ADD, pooling, dense) built with
`--protocol mlperf` and runs the MLPerf Tiny flow on the board (name, profile, db load/db, infer N W,
results; board_test/mlperf.py): every output equal to TFLM's, the accuracy equal to the host's,
and the median latency computed by the MLPerf Tiny rules. On an emulated board it is checked against
the instruction count the sparsemcu protocol measures for the same model (QEMU -icount: one emulated
microsecond = 1000 instructions), so the benchmark's timestamps are known to measure the inference.
"""
from __future__ import annotations

import shutil

import pytest

from sparsemcu.board_test.test_hil import CACHE_KEY, _core, _need_tools, export_for_core
from sparsemcu.deploy import deploy
from sparsemcu.firmware import get_board

pytestmark = pytest.mark.hil

MODEL = "res_cnn"


@pytest.fixture(scope="session")
def mlperf_run(request, hil_board, hil_port, hil_samples, tmp_path_factory):
    """(MLPerf-mode report, sparsemcu-protocol report on emulated boards or None)."""
    _need_tools(hil_board)
    cache = request.config.cache.mkdir(CACHE_KEY.replace("/", "_"))
    work = tmp_path_factory.mktemp(f"mlperf_{hil_board}")
    src = export_for_core(cache, work / "exports", _core(hil_board))[MODEL]
    d, base_dir = work / MODEL, work / f"{MODEL}_sparsemcu"
    for dst in (d, base_dir):
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("build", "deploy_report.json", "*.npy"))
    rep = deploy(d, hil_board, port=hil_port, protocol="mlperf", data="digits", limit=hil_samples, progress=False,
                 do_flash=not request.config.getoption("--no-flash"))
    base = None
    if get_board(hil_board).is_qemu:
        base = deploy(base_dir, hil_board, data="digits", limit=5, progress=False)
    return rep, base


def test_mlperf_flow_bit_exact_with_tflm(mlperf_run, hil_samples):
    rep, _ = mlperf_run
    assert rep["status"] == "ok" and rep["protocol"] == "mlperf" and rep["verified"] is True
    assert rep["bit_exact"] is True and rep["samples"] == hil_samples
    assert rep["accuracy"] == rep["accuracy_reference"] and rep["accuracy"] > 0.5
    assert rep["device"]["model"] == "ic01" and rep["device"]["name"] == f"sparsemcu {rep['model_hash']}"


def test_mlperf_median_latency(mlperf_run, hil_board):
    rep, base = mlperf_run
    ml, lat = rep["mlperf"], rep["latency"]
    n, w = ml["infer"]
    assert (n, w) == (20, 5) and len(ml["windows"]) == 5 and all(x["iterations"] == n for x in ml["windows"])
    assert lat["median"] == pytest.approx(ml["median_latency_us"]) and lat["median"] > 0
    assert ml["median_throughput_inf_per_s"] == pytest.approx(1e6 / lat["median"])
    if base is None:  # a real board: microseconds of its cycle counter
        assert lat["unit"] == "us" and lat["ms"]["median"] > 0
        return
    assert lat["unit"] == "emulated_us" and "not a real-board latency" in ml["timer"]
    # the same inference measured by the sparsemcu protocol (RUN ticks around model_invoke()): the
    # MLPerf figure adds only the input copy and the 64-bit clock update per inference
    instructions = base["latency"]["median"]
    assert base["latency"]["unit"] == "emulated_instructions"
    assert 1.0 <= lat["median"] * 1000 / instructions <= 1.01, (lat["median"], instructions)
