"""Faults during a deploy, with real processes (native firmware, QEMU): serial timeout, corrupted
frames (CRC), a board that resets or hard-faults mid-run, QEMU exiting, a port that does not
exist. Each is one clear line; a failed deploy keeps the firmware and a
partial DIR/deploy_report.json."""
from __future__ import annotations

import json
import subprocess
import threading

import numpy as np
import pytest

from sparsemcu.board_test import ci, dummy
from sparsemcu.board_test import protocol as P
from sparsemcu.board_test.client import Client
from sparsemcu.deploy import deploy
from sparsemcu.board_test.transport import QemuTransport, Transport
from sparsemcu.cli import main as cli_main
from sparsemcu.firmware import build

needs_qemu = ci.needs("arm-none-eabi-gcc", "qemu-system-arm")  # CI=true: missing = failure, not a skip
QEMU = "qemu_mps2_an500"


def fresh(kind, tmp_path):
    return dummy.write_dummy_model(tmp_path / kind, kind)


def assert_failed_deploy(d, exc, *fragments):
    msg = str(exc)
    assert "\n" not in msg, msg
    for f in fragments:
        assert f in msg, (f, msg)
    assert "firmware kept in" in msg and "partial report" in msg
    rep = json.loads((d / "deploy_report.json").read_text())
    assert rep["status"] == "failed" and rep["error"] == msg.split("; firmware kept in")[0]
    assert (d / "build").is_dir()
    return rep


# ------------------------------------------------------------------ serial timeout
def test_serial_timeout_host(tmp_path):
    d = fresh("hang", tmp_path)
    with pytest.raises(P.SerialTimeout) as e:
        deploy(d, "host", limit=3, run_timeout=1.0, progress=False, check=False)
    rep = assert_failed_deploy(d, e.value, "no answer to RUN within 1.0 s", "(sample 0)")
    assert rep["samples"] == 0 and (d / "build" / "firmware").is_file()


@needs_qemu
def test_serial_timeout_qemu(tmp_path):
    d = fresh("hang", tmp_path)
    with pytest.raises(P.SerialTimeout) as e:
        deploy(d, QEMU, limit=3, run_timeout=1.0, progress=False, check=False)
    assert_failed_deploy(d, e.value, "no answer to RUN within 1.0 s", "QEMU mps2-an500")
    assert (d / "build" / "firmware.elf").is_file()


# ------------------------------------------------------------------ corrupted frames
class CorruptingLine(Transport):
    """A noisy serial line: flips one bit of the `at`-th byte received from the board."""

    def __init__(self, inner: Transport, at: int):
        self.inner, self.at, self.seen = inner, at, 0

    def write(self, data):
        self.inner.write(data)

    def read(self, timeout):
        data = bytearray(self.inner.read(timeout))
        if self.seen <= self.at < self.seen + len(data):
            data[self.at - self.seen] ^= 0x10
        self.seen += len(data)
        return bytes(data)

    def describe(self):
        return "noisy " + self.inner.describe()

    def close(self):
        self.inner.close()


@needs_qemu
def test_crc_error_from_board_and_to_board(tmp_path):
    d = dummy.write_dummy_model(tmp_path / "ok", "ok")
    res = build(d, QEMU)
    line = CorruptingLine(QemuTransport(res.elf, "mps2-an500"), at=10**9)
    c = Client(line, timeout=3)
    try:
        c.connect()
        x = np.arange(64, dtype=np.int8)
        c.load(x)
        c.run()
        line.at = line.seen + 8  # inside the READ response's payload
        c.context = "sample 0"
        with pytest.raises(P.CrcError, match=r"corrupted frame from the board \(CRC mismatch\) while waiting for READ \(sample 0\)"):
            c.read()
        # the other direction: the board rejects a corrupted request with ERROR BAD_CRC
        frame = bytearray(P.encode(P.LOAD, x.tobytes()))
        frame[30] ^= 0x01
        line.write(bytes(frame))
        with pytest.raises(P.CrcError, match="board received a corrupted LOAD frame"):
            c._check_event(c.wait_frame(3, "LOAD"), "LOAD")
        assert np.array_equal(c.infer(x)[0], dummy.reference(x))  # and the line recovers
    finally:
        c.close()


# ------------------------------------------------------------------ reset / hard fault mid-run
@needs_qemu
def test_board_reset_mid_run_qemu(tmp_path):
    d = fresh("reset", tmp_path)
    with pytest.raises(P.BoardReset) as e:
        deploy(d, QEMU, limit=3, progress=False, check=False)
    assert_failed_deploy(d, e.value, "board reset (BOOT frame) during RUN (sample 0)")


def test_board_reset_mid_run_host(tmp_path):
    d = fresh("reset", tmp_path)
    with pytest.raises(P.BoardReset) as e:
        deploy(d, "host", limit=3, progress=False, check=False)
    assert_failed_deploy(d, e.value, "board reset", "during RUN (sample 0)")


@needs_qemu
def test_hard_fault_mid_run_qemu(tmp_path):
    d = fresh("trap", tmp_path)
    with pytest.raises(P.BoardFault) as e:
        deploy(d, QEMU, limit=3, progress=False, check=False)
    rep = assert_failed_deploy(d, e.value, "board HardFault pc=0x", "cfsr=0x00010000", "during RUN (sample 0)")
    assert rep["samples"] == 0
    # the faulting pc lies inside model_invoke
    nm = subprocess.run(["arm-none-eabi-nm", "-S", str(d / "build" / "firmware.elf")], capture_output=True, text=True).stdout
    start, size = next((int(a, 16), int(s, 16)) for a, s, _, n in (ln.split() for ln in nm.splitlines() if len(ln.split()) == 4)
                       if n == "model_invoke")
    pc = int(str(e.value).split("pc=0x")[1][:8], 16)
    assert start <= pc < start + size


@needs_qemu
def test_fault_text_line_on_the_wire(tmp_path):
    d = dummy.write_dummy_model(tmp_path / "trap", "trap")
    res = build(d, QEMU)
    c = Client(QemuTransport(res.elf, "mps2-an500"), timeout=3)
    try:
        c.connect()
        c.load(np.zeros(64, np.int8))
        with pytest.raises(P.BoardFault) as e:
            c.run()
        assert e.value.fault.kind == 3 and e.value.fault.cfsr & (1 << 16)  # HardFault, UNDEFINSTR
        with pytest.raises(P.SerialTimeout):
            c.wait_frame(0.5, "the text line")
        assert "FAULT pc=0x" in c.dec.noise_text() and "cfsr=0x00010000" in c.dec.noise_text()
    finally:
        c.close()


def test_crash_mid_run_host(tmp_path):
    d = fresh("trap", tmp_path)
    with pytest.raises(P.BoardFault) as e:
        deploy(d, "host", limit=3, progress=False, check=False)
    assert_failed_deploy(d, e.value, "crashed with SIGILL", "during RUN (sample 0)")


# ------------------------------------------------------------------ QEMU exits
@needs_qemu
def test_qemu_exits_mid_run(tmp_path):
    d = dummy.write_dummy_model(tmp_path / "hang", "hang")
    res = build(d, QEMU)
    t = QemuTransport(res.elf, "mps2-an500")
    c = Client(t, timeout=3, run_timeout=30)
    try:
        c.connect()
        c.load(np.zeros(64, np.int8))
        threading.Timer(0.5, t.proc.kill).start()
        with pytest.raises(P.TransportClosed, match=r"QEMU exited \(exit code -9\)") as e:
            c.run()
        assert "\n" not in str(e.value)
    finally:
        c.close()


@needs_qemu
def test_qemu_cannot_start(tmp_path):
    bogus = tmp_path / "bogus.elf"
    bogus.write_bytes(b"not an elf")
    with pytest.raises(P.TransportClosed, match="QEMU did not start|QEMU exited"):
        c = Client(QemuTransport(bogus, "mps2-an500"), timeout=2)
        c.connect()


# ------------------------------------------------------------------ ports and flashing
@ci.needs("arm-none-eabi-gcc")
def test_missing_port(tmp_path, capsys):
    d = fresh("ok", tmp_path)
    with pytest.raises(P.PortNotFound) as e:
        deploy(d, "nucleo_f746", port="/dev/ttyNOSUCHPORT", do_flash=False, progress=False, check=False)
    assert_failed_deploy(d, e.value, "serial port /dev/ttyNOSUCHPORT does not exist")
    assert (d / "build" / "firmware.hex").is_file()
    # the CLI: exit code 2, exactly one line on stderr, no traceback
    code = cli_main(["deploy", str(d), "--board", "nucleo_f746", "--port", "/dev/ttyNOSUCHPORT", "--no-flash", "--no-progress",
                     "--no-verify"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "does not exist" in err and "Traceback" not in err


@needs_qemu
def test_half_frame_left_by_an_earlier_session_is_flushed(tmp_path):
    """A real board is not restarted between sessions: a frame cut off mid-payload must not
    swallow the next session's requests."""
    d = dummy.write_dummy_model(tmp_path / "ok", "ok")
    res = build(d, QEMU)
    t = QemuTransport(res.elf, "mps2-an500")
    try:
        Client(t, timeout=3).connect()
        t.write(P.encode(P.LOAD, bytes(64))[:30])  # the earlier session died here
        c = Client(t, timeout=3)
        info = c.connect(expect_boot=False, flush_bytes=64 + 9)
        assert info.board == "qemu_mps2_an500"
        x = np.arange(64, dtype=np.int8)
        assert np.array_equal(c.infer(x)[0], dummy.reference(x))
    finally:
        t.close()
