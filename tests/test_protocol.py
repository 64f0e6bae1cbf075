"""The serial protocol (board_test/protocol.py): frame encoding, resync, and the real firmware
(runtime + `host` board natively, and qemu_mps2_an500 under QEMU) answering every command."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from sparsemcu.board_test import ci, dummy
from sparsemcu.board_test import protocol as P
from sparsemcu.board_test.client import Client
from sparsemcu.board_test.transport import PipeTransport, QemuTransport
from sparsemcu.firmware import build

needs_arm = ci.needs("arm-none-eabi-gcc", "qemu-system-arm")  # CI=true: missing = failure, not a skip


# ------------------------------------------------------------------ pure Python
def test_encode_layout_and_crc():
    f = P.encode(P.LOAD, b"\x01\x02\x03")
    assert f[:2] == b"\xA5\x5A" and f[2] == P.LOAD and struct.unpack("<H", f[3:5])[0] == 3
    assert f[5:8] == b"\x01\x02\x03"
    assert struct.unpack("<I", f[8:])[0] == zlib.crc32(f[2:8])


def test_decoder_resyncs_over_noise_and_split_reads():
    frames = P.encode(P.PING, b"abc") + P.encode(P.INFO) + P.encode(P.READ, bytes(range(256)) * 3)
    stream = b"garbage\xA5\xA5 FAULT text\r\n" + frames + b"\xA5"
    dec = P.FrameDecoder()
    got = []
    for i in range(0, len(stream), 7):  # arbitrary chunking
        got += dec.feed(stream[i:i + 7])
    assert [(f.cmd, f.payload) for f in got] == [(P.PING, b"abc"), (P.INFO, b""), (P.READ, bytes(range(256)) * 3)]
    assert all(f.crc_ok for f in got)
    assert "FAULT text" in dec.noise_text()


def test_decoder_flags_bad_crc_and_continues():
    bad = bytearray(P.encode(P.RUN, b"\x10\x00\x00\x00\x00"))
    bad[6] ^= 0x40
    dec = P.FrameDecoder()
    got = dec.feed(bytes(bad) + P.encode(P.STATS))
    assert [f.crc_ok for f in got] == [False, True] and got[1].cmd == P.STATS


def test_decoder_max_len_treats_huge_length_as_false_sync():
    dec = P.FrameDecoder(max_len=100)
    got = dec.feed(b"\xA5\x5A\x01\xff\xff" + P.encode(P.PING, b"x"))
    assert [(f.cmd, f.payload) for f in got] == [(P.PING, b"x")]


def test_info_roundtrip():
    info = P.Info(1, 216000000, 1536, 64, 10, 8192, 0.5, -128, 0.25, 3, "nucleo_f746", "cycles", "m", "0123456789abcdef")
    assert P.Info.decode(info.encode()) == info


def test_encode_rejects_oversized_payload():
    with pytest.raises(ValueError):
        P.encode(P.LOAD, bytes(70000))


# ------------------------------------------------------------------ real firmware
@pytest.fixture(scope="module")
def dummy_dir(tmp_path_factory):
    d = dummy.write_dummy_model(tmp_path_factory.mktemp("proto") / "m", "ok")
    build(d, "host")
    return d


@pytest.fixture
def host(dummy_dir):
    c = Client(PipeTransport(dummy_dir / "build" / "firmware"), timeout=3)
    c.connect()
    yield c
    c.close()


def test_host_boot_and_info(dummy_dir):
    c = Client(PipeTransport(dummy_dir / "build" / "firmware"), timeout=3)
    try:
        info = c.connect()
        assert c.boot is not None and c.boot.board == "host" and c.boot.model_hash == "0011223344556677"
        assert (info.board, info.tick_unit, info.model_name) == ("host", "ns", "dummy_ok")
        assert (info.input_bytes, info.output_bytes, info.arena_bytes) == (64, 10, 128)
        assert info.input_zero_point == -128 and info.input_scale == pytest.approx(1 / 255)
    finally:
        c.close()


def test_host_ping_load_run_read_stats(host):
    assert host.ping(b"hello") == b"hello"
    assert host.ping(b"") == b""
    rng = np.random.default_rng(1)
    for k in range(5):
        x = rng.integers(-128, 128, 64).astype(np.int8)
        y, ticks = host.infer(x)
        assert np.array_equal(y, dummy.reference(x))
        assert ticks > 0
    st = host.stats()
    assert st.runs == 5 and st.stack_size == 0
    host.load(np.zeros(64, np.int8))  # a new input invalidates the previous output
    with pytest.raises(P.DeviceError, match="no output"):
        host.read()


def test_host_error_frames(host):
    with pytest.raises(P.DeviceError, match="no output") as e:
        host.read()
    assert e.value.code == P.ERR_NO_OUTPUT
    with pytest.raises(P.DeviceError, match="no input"):
        host.run()
    with pytest.raises(P.DeviceError, match=r"bad length \(allowed 64 bytes\)") as e:
        host.load(np.zeros(10, np.int8))
    assert e.value.detail == 64
    with pytest.raises(P.DeviceError, match="unknown command"):
        host.request(0x42)
    # a frame longer than the device accepts is refused at once; the device resyncs
    with pytest.raises(P.DeviceError, match="bad length"):
        host.request(P.PING, bytes(200))
    assert host.ping(b"after") == b"after"


def test_host_bad_crc_and_garbage(host):
    frame = bytearray(P.encode(P.PING, b"abcd"))
    frame[-1] ^= 0xFF
    host.t.write(b"\x00\x13garbage\xA5" + bytes(frame))
    f = host.wait_frame(3, "ERROR")
    assert f.cmd == P.ERROR and P.ErrorFrame.decode(f.payload).code == P.ERR_BAD_CRC
    with pytest.raises(P.CrcError, match="corrupted PING"):
        host._check_event(f, "PING")
    assert host.ping(b"ok") == b"ok"
    # a LOAD with a bad CRC leaves no input behind
    frame = bytearray(P.encode(P.LOAD, bytes(64)))
    frame[10] ^= 1
    host.t.write(bytes(frame))
    with pytest.raises(P.CrcError):
        host._check_event(host.wait_frame(3, "LOAD"), "LOAD")
    with pytest.raises(P.DeviceError, match="no input"):
        host.run()


@needs_arm
@pytest.mark.parametrize("board,machine", [("qemu_mps2_an500", "mps2-an500"), ("qemu_mps2_an386", "mps2-an386")])
def test_qemu_protocol_and_tick_calibration(dummy_dir, board, machine):
    res = build(dummy_dir, board)
    c = Client(QemuTransport(res.elf, machine), timeout=5)
    try:
        info = c.connect()
        assert c.boot is not None and c.boot.board == board
        assert info.tick_unit == "emulated_instructions" and info.clock_hz == 25_000_000
        assert info.stack_size == 8192
        x = np.arange(64, dtype=np.int8) - 40
        y, ticks = c.infer(x)
        assert np.array_equal(y, dummy.reference(x)) and ticks > 0
        assert c.ping(bytes(range(64))) == bytes(range(64))
        # empirical check of "1 SysTick tick = 40 emulated instructions" under -icount shift=0:
        # the loop runs exactly 2n instructions; the ticks (SysTick * 40) must follow 2n
        # exactly, up to one tick of granularity plus the constant board_ticks() overhead.
        measured = {n: c.calibrate(n) for n in (10_000, 100_000, 1_000_000, 20_000_000, 340_000_000)}
        for n, (ticks, instructions) in measured.items():
            assert instructions == 2 * n
            assert 0 <= ticks - instructions <= 120, (n, ticks)
        # 680M instructions = 17M SysTick ticks: crosses the 24-bit SysTick wrap
        slope = (measured[340_000_000][0] - measured[10_000][0]) / (2 * (340_000_000 - 10_000))
        assert slope == pytest.approx(1.0, abs=1e-6)
        st = c.stats()
        assert 0 < st.stack_used < st.stack_size and st.runs == 1
    finally:
        c.close()


# ------------------------------------------------------------------ C and Python agree
def test_protocol_constants_agree_between_c_and_python():
    """firmware_templates/runtime/smcu_protocol.h and board_test/protocol.py define the same protocol."""
    import re
    from sparsemcu.firmware.boards import runtime_dir
    text = (runtime_dir() / "smcu_protocol.h").read_text()
    c = {m.group(1): int(m.group(2), 0) for m in re.finditer(r"^#define SMCU_(\w+) (0x[0-9A-Fa-f]+|\d+)u?\s*$", text, re.M)}
    py = {"PROTOCOL_VERSION": P.PROTOCOL_VERSION, "SYNC0": P.SYNC[0], "SYNC1": P.SYNC[1], "RX_MAX": P.RX_MAX,
          "PING": P.PING, "INFO": P.INFO, "LOAD": P.LOAD, "RUN": P.RUN, "READ": P.READ, "STATS": P.STATS,
          "CALIB": P.CALIB, "PROFILE_CMD": P.PROFILE, "RESPONSE": P.RESPONSE, "BOOT": P.BOOT, "ERROR": P.ERROR,
          "FAULT": P.FAULT, "ERR_BAD_CRC": P.ERR_BAD_CRC, "ERR_BAD_LENGTH": P.ERR_BAD_LENGTH,
          "ERR_UNKNOWN_CMD": P.ERR_UNKNOWN_CMD, "ERR_NO_INPUT": P.ERR_NO_INPUT, "ERR_NO_OUTPUT": P.ERR_NO_OUTPUT}
    assert c == py  # every C constant has its Python twin with the same value, and vice versa
    # every error code and command the firmware can send has a name on the host side
    assert set(P.ERROR_NAMES) == {v for k, v in c.items() if k.startswith("ERR_")}
    assert {P.PING, P.INFO, P.LOAD, P.RUN, P.READ, P.STATS, P.CALIB, P.PROFILE} <= set(P.CMD_NAMES)
