"""MLPerf Tiny mode (`--protocol mlperf`, board_test/mlperf.py is the specification): the C and Python
constants agree, the host-side parsing and the MLPerf median, and the real firmware answering every
command over QEMU's pty (qemu_mps2_an500) and the host pipe."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from sparsemcu.board_test import ci, dummy
from sparsemcu.board_test import mlperf as M
from sparsemcu.board_test.transport import PipeTransport, QemuTransport
from sparsemcu.errors import SparsemcuError
from sparsemcu.firmware import build
from sparsemcu.firmware.boards import get_board, runtime_dir

needs_arm = ci.needs("arm-none-eabi-gcc", "qemu-system-arm")  # CI=true: missing = failure, not a skip


# ------------------------------------------------------------------ one definition
def test_constants_agree_between_c_and_python():
    text = (runtime_dir() / "smcu_mlperf.h").read_text()
    c = {}
    for m in re.finditer(r"^#define SMCU_MLPERF_(\w+) (\"(?:[^\"\\]|\\.)*\"|'.'|\d+)u?", text, re.M):
        v = m.group(2)
        c[m.group(1)] = v[1:-1] if v[0] in "\"'" else int(v)
    py = {name: getattr(M, name) for name in c if hasattr(M, name)}
    defined = {n for n in re.findall(r"^#define SMCU_MLPERF_(\w+)", text, re.M)} - {"H"}  # all but the include guard
    assert set(c) == defined and len(c) > 30  # the regex read every constant
    assert py == c  # every C constant has its Python twin with the same value
    # and every message/error/setting the Python side defines is in the C header
    assert {n for n in vars(M) if re.fullmatch(r"(MSG|ERR)_[A-Z_]+", n)} <= set(c)


# ------------------------------------------------------------------ host side, pure Python
def test_median_latency_follows_the_runner():
    # 5 windows of 20 inferences: throughput 20 / elapsed; the median throughput and its inverse
    w = [(20, 10_000_000), (20, 12_500_000), (20, 11_000_000), (20, 20_000_000), (20, 10_500_000)]
    r = M.median_latency(w)
    assert r["median_throughput_inf_per_s"] == pytest.approx(20 / 11.0)
    assert r["median_latency_us"] == pytest.approx(11_000_000 / 20)
    assert r["rules"] == {"windows": 5, "five_windows": True, "shortest_window_s": 10.0, "each_window_at_least_10_s": True}
    # short windows and a wrong count are flagged like the runner's "error 1" / "error 2"
    r = M.median_latency([(20, 1000), (20, 3000), (20, 2000), (20, 4000)])
    assert r["rules"]["five_windows"] is False and r["rules"]["each_window_at_least_10_s"] is False
    # an even count: numpy's median of throughputs (mean of the middle two), latency its inverse
    assert r["median_throughput_inf_per_s"] == pytest.approx((20 / 2000e-6 + 20 / 3000e-6) / 2)
    assert r["median_latency_us"] == pytest.approx(1e6 / r["median_throughput_inf_per_s"])
    with pytest.raises(M.MlperfError, match="timer did not advance"):
        M.median_latency([(20, 0)])


@pytest.mark.parametrize("scale,zp", [(1 / 256, -128), (0.11946132779121399, -24), (0.5, 3), (1e-4, 0)])
def test_results_map_back_to_int8_exactly(scale, zp):
    q = np.arange(-128, 128)
    # what the firmware prints: (q - zp) * scale, rounded to 6 decimals
    printed = [float(f"{(v - zp) * scale:.6f}") for v in q]
    assert np.array_equal(M.to_int8(printed, scale, zp), q)
    with pytest.raises(M.MlperfError, match="result 5"):
        M.to_int8(printed[:5] + [printed[5] + scale / 3], scale, zp)
    with pytest.raises(M.MlperfError, match="too fine"):
        M.to_int8(printed, 1e-6, zp)


def test_input_bytes_undo_the_device_conversion():
    x = np.arange(-128, 128).astype(np.int8)
    for model, off in M.MODELS.items():
        b = np.frombuffer(M.input_bytes(x, model), np.uint8)
        assert np.array_equal(((b.astype(np.int16) - off) & 0xFF).astype(np.uint8).view(np.int8), x)
    assert M.input_bytes(np.array([-128, 0, 127], np.int8), "ic01") == bytes([0, 128, 255])  # pixels 0..255


def test_parse_infer_rejects_what_the_spec_does_not_say():
    good = ["m-warmup-start-5", "m-warmup-done", "m-infer-start-20", "m-lap-us-100", "m-lap-us-350", "m-infer-done",
            "m-results-[0.500000,-1.250000]"]
    r = M.parse_infer(good)
    assert (r.iterations, r.warmups, r.elapsed_us, r.results) == (20, 5, 250, [0.5, -1.25])
    for bad in (good[:-1], good[:3] + good[4:], [good[0], good[2], good[1], *good[3:]],
                good[:3] + ["m-lap-us-350", "m-lap-us-100"] + good[5:], ["e-[Inference iterations must be >0]"]):
        with pytest.raises(M.MlperfError):
            M.parse_infer(bad)


def test_ticks_per_us_from_board_json():
    assert M.ticks_per_us(get_board("nucleo_f746")) == 216  # DWT cycles at 216 MHz
    assert M.ticks_per_us(get_board("qemu_mps2_an500")) == 1000  # -icount shift=0: 1 instruction = 1 ns
    assert M.ticks_per_us(get_board("host")) == 1000  # ns


# ------------------------------------------------------------------ build selection
@pytest.fixture(scope="module")
def dummy_dir(tmp_path_factory):
    return dummy.write_dummy_model(tmp_path_factory.mktemp("mlperf") / "m", "ok")


def test_protocol_is_part_of_the_build(dummy_dir):
    a = build(dummy_dir, "host")
    b = build(dummy_dir, "host", protocol="mlperf")
    c = build(dummy_dir, "host", protocol="mlperf", mlperf_model="kws01")
    assert len({a.fingerprint, b.fingerprint, c.fingerprint}) == 3 and not (b.reused or c.reused)
    assert (b.protocol, b.mlperf_model, c.mlperf_model) == ("mlperf", "ic01", "kws01")
    assert json.loads((dummy_dir / "build" / "build.json").read_text())["protocol"] == "mlperf"
    with pytest.raises(SparsemcuError, match="needs the sparsemcu protocol"):
        build(dummy_dir, "host", protocol="mlperf", profile=True)
    with pytest.raises(SparsemcuError, match="unknown MLPerf Tiny benchmark 'ad01'"):
        build(dummy_dir, "host", protocol="mlperf", mlperf_model="ad01")
    with pytest.raises(SparsemcuError, match="needs --protocol mlperf"):
        build(dummy_dir, "host", mlperf_model="ic01")


@needs_arm
def test_default_firmware_has_no_mlperf_code(dummy_dir):
    from sparsemcu.firmware.build import code_bytes_by_object
    default = code_bytes_by_object(build(dummy_dir, "qemu_mps2_an500").map)
    assert "smcu_main.o" in default and "smcu_mlperf_main.o" not in default
    mlperf = code_bytes_by_object(build(dummy_dir, "qemu_mps2_an500", protocol="mlperf").map)
    assert "smcu_mlperf_main.o" in mlperf and "smcu_main.o" not in mlperf


# ------------------------------------------------------------------ the firmware over a pty / pipe
@pytest.fixture(scope="module")
def qemu_elf(dummy_dir, tmp_path_factory):
    import shutil
    if missing := ci.missing_tools("arm-none-eabi-gcc", "qemu-system-arm"):
        ci.unavailable(f"{', '.join(missing)} not installed")
    res = build(dummy_dir, "qemu_mps2_an500", protocol="mlperf")
    keep = tmp_path_factory.mktemp("elf") / "firmware.elf"  # other tests rebuild dummy_dir
    shutil.copy(res.elf, keep)
    return keep


@pytest.fixture
def dut(qemu_elf):
    c = M.MlperfClient(QemuTransport(qemu_elf, "mps2-an500"), timeout=5)
    c.wait_boot()
    yield c
    c.close()


def _x(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, dummy.IN_BYTES).astype(np.int8)


def test_qemu_boot_name_profile_timestamp(dut):
    assert dut.boot_lines[0] == "m-timestamp-mode-performance" and dut.boot_lines[-1] == "m-init-done"
    assert re.fullmatch(r"m-lap-us-\d+", dut.boot_lines[1])
    assert int(dut.boot_lines[1][len(M.MSG_LAP_US):]) < 1000  # the clock starts at boot (not off by a timer wrap)
    assert dut.name() == "sparsemcu 0011223344556677"  # vendor + MODEL_HASH: the deploy checks it
    assert dut.profile() == ("ULPMark for tinyML Firmware V0.0.1", "ic01")
    t0, t1 = dut.timestamp(), dut.timestamp()
    assert t1 >= t0
    help_lines = dut.command("help")
    assert help_lines[0] == M.FW_VERSION and any("infer N" in ln for ln in help_lines)
    assert "emulated time under QEMU -icount, not a real-board latency" in help_lines[-1]


def test_qemu_db_load_infer_results(dut):
    x = _x(1)
    data = M.input_bytes(x, "ic01")
    dut.load(data)  # db load 64, then 31 + 31 + 2 bytes as the MLCommons runner sends them
    shown = "".join(ln[len("m-buffer-"):].replace("-", "") for ln in dut.command("db print"))
    assert bytes.fromhex(shown) == data
    r = dut.infer(20, 5)
    assert (r.iterations, r.warmups) == (20, 5) and r.elapsed_us > 0
    assert np.array_equal(M.to_int8(r.results, dummy.OUT_SCALE, -128), dummy.reference(x))
    assert dut.results() == r.results
    # defaults: infer alone = 1 inference after 10 warm-ups
    assert M.parse_infer(dut.command("infer", check=False)).iterations == 1
    assert dut.command("infer", check=False)[0] == "m-warmup-start-10"
    # a new input in pieces of another size: the same answer as the reference
    x2 = _x(2)
    dut.load(M.input_bytes(x2, "ic01"), per_command=5)
    assert np.array_equal(M.to_int8(dut.infer(1, 0).results, dummy.OUT_SCALE, -128), dummy.reference(x2))


def test_qemu_timing_is_deterministic_and_proportional(dut):
    """-icount: the emulated microseconds of N inferences grow with N (1 us = 1000 instructions)."""
    dut.load(M.input_bytes(_x(3), "ic01"))
    e = {n: dut.infer(n, 0).elapsed_us for n in (50, 500)}
    assert e[50] > 0 and abs(e[500] - 10 * e[50]) <= 12  # only the 1-us truncation of each timestamp
    windows = [(r.iterations, r.elapsed_us) for r in (dut.infer(100, 2) for _ in range(5))]
    med = M.median_latency(windows)
    assert med["median_latency_us"] == pytest.approx(e[500] / 500, rel=0.05)
    assert med["rules"]["five_windows"] and not med["rules"]["each_window_at_least_10_s"]


MALFORMED = [
    ("", [M.ERR_UNKNOWN + "]"]),
    ("bogus 1 2", [M.ERR_UNKNOWN + "bogus]"]),
    ("NAME", [M.ERR_UNKNOWN + "NAME]"]),
    ("db", [M.ERR_DB_SUBCMD]),
    ("db load", [M.ERR_DB_LOAD_N]),
    ("db load 0", [M.ERR_DB_LOAD_ZERO]),
    ("db load abc", [M.ERR_DB_LOAD_ZERO]),  # atoi: not a number = 0
    ("db load 65", [M.ERR_TOO_BIG + "64]"]),
    ("db 00", [M.ERR_DB_FULL]),
    ("infer", [M.ERR_INPUT + "0 bytes, expected 64]"]),
    ("results", [M.ERR_NO_RESULTS]),
    ("db load 64", ["m-[Expecting 64 bytes]"]),
    ("db 001", [M.ERR_HEX_ODD]),
    ("db 00zz", [M.ERR_HEX_DIGIT + "zz']"]),
    ("db 00", []),
    ("infer 1", [M.ERR_INPUT + "1 bytes, expected 64]"]),
    ("infer 0", [M.ERR_ITERATIONS]),
    ("infer -3 1", [M.ERR_ITERATIONS]),
    ("infer x", [M.ERR_ITERATIONS]),
    ("infer 1 -1", [M.ERR_WARMUPS]),
]


def test_qemu_malformed_commands_answered_and_followed_by_m_ready(dut):
    for cmd, expected in MALFORMED:
        assert dut.command(cmd, check=False) == expected, cmd
    # longer than the 80-character command buffer: refused, not truncated
    dut.t.write(b"db load 64 " + b"0" * 80 + b"%")
    assert dut.reply(5, "long") == [M.ERR_TOO_LONG]
    # the device still works afterwards
    dut.load(bytes(64))
    assert len(dut.infer(1, 0).results) == dummy.OUT_BYTES


def test_host_pipe_same_commands(dummy_dir):
    res = build(dummy_dir, "host", protocol="mlperf", mlperf_model="kws01")
    c = M.MlperfClient(PipeTransport(res.elf), timeout=5)
    try:
        assert c.wait_boot()[-1] == M.MSG_INIT_DONE
        assert c.profile()[1] == "kws01"
        x = _x(4)
        c.load(M.input_bytes(x, "kws01"))  # kws01: the bytes are the int8 input as they are
        assert M.input_bytes(x, "kws01") == x.tobytes()
        assert np.array_equal(M.to_int8(c.infer(3, 1).results, dummy.OUT_SCALE, -128), dummy.reference(x))
        assert "board        : host" in c.command("help")[-1]
    finally:
        c.close()


# ------------------------------------------------------------------ deploy
@needs_arm
def test_deploy_mlperf_verifies_and_reports_the_median(dummy_dir):
    from sparsemcu.deploy import MismatchError, deploy, summary
    rep = deploy(dummy_dir, "qemu_mps2_an500", protocol="mlperf", reference=dummy.reference, limit=7, progress=False,
                 iterations=30, warmups=2)
    assert rep["status"] == "ok" and rep["bit_exact"] is True and rep["samples"] == 7 and rep["protocol"] == "mlperf"
    ml = rep["mlperf"]
    assert ml["benchmark"] == "ic01" and ml["infer"] == [30, 2] and len(ml["windows"]) == 5
    assert all(w["iterations"] == 30 and w["elapsed_us"] > 0 for w in ml["windows"])
    assert rep["latency"]["unit"] == "emulated_us" and "ms" not in rep["latency"]
    assert rep["latency"]["median"] == pytest.approx(ml["median_latency_us"])
    assert "not a real-board latency" in ml["timer"] and "bit-exactly" in ml["verified"]
    assert json.loads((dummy_dir / "deploy_report.json").read_text())["mlperf"]["windows"] == ml["windows"]
    assert "[emulated time]" in summary(rep) and "not a valid MLPerf run" in summary(rep)
    with pytest.raises(MismatchError, match="sample 0, first differing output index 0"):
        deploy(dummy_dir, "qemu_mps2_an500", protocol="mlperf", reference=lambda x: dummy.reference(x) ^ 1, limit=2,
               progress=False, iterations=1, warmups=0)


def test_sync_recovers_a_half_sent_command(dummy_dir):
    """A board that booted before the port was opened (real boards): sync() ends whatever half command
    is pending with the terminator and drops its answer; the next command gets its own answer."""
    res = build(dummy_dir, "host", protocol="mlperf")
    c = M.MlperfClient(PipeTransport(res.elf), timeout=5)
    try:
        c.t.write(b"db lo")  # an earlier session died mid-command (the boot lines are still unread too)
        c.sync()
        assert c.name() == "sparsemcu 0011223344556677"
    finally:
        c.close()


@needs_arm
def test_qemu_fault_is_one_error_line(tmp_path):
    """A HardFault inside model_invoke() (the `trap` dummy) is reported as an e-[FAULT ...] line."""
    d = dummy.write_dummy_model(tmp_path / "trap", "trap")
    res = build(d, "qemu_mps2_an500", protocol="mlperf")
    c = M.MlperfClient(QemuTransport(res.elf, "mps2-an500"), timeout=5)
    try:
        c.wait_boot()
        c.load(bytes(64))
        with pytest.raises(M.MlperfError, match=r"board fault during 'infer 1 0': e-\[FAULT kind=0x00000003 pc=0x"):
            c.infer(1, 0)
    finally:
        c.close()
