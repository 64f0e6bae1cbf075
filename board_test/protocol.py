"""sparsemcu serial protocol, version 1: the single specification (device side:
firmware_templates/runtime/smcu_main.c; host side: this module and board_test/client.py).

Transport
---------
A byte stream: stdin/stdout pipes (`host` board), a QEMU `-serial pty` opened with pyserial,
or a real UART (115200 8N1, no flow control). All integers are little-endian.

Frame (both directions)
-----------------------
    offset  size  field
    0       2     sync   0xA5 0x5A
    2       1     cmd    command / response / event code
    3       2     len    payload length in bytes, u16 (0..65535)
    5       len   payload
    5+len   4     crc    CRC-32 (zlib/IEEE 802.3: poly 0xEDB88320 reflected, init and final
                         xor 0xFFFFFFFF = Python's zlib.crc32) over cmd, len and payload
                         (bytes 2 .. 5+len-1), u32 LE

Resynchronisation: a receiver hunts for the sync pair; bytes outside frames are ignored
(the fault handlers also print a human-readable ASCII line, see FAULT). A frame with a bad
CRC is dropped (the device answers ERROR BAD_CRC; the host raises CrcError).

Requests (host -> device) and their responses (device -> host: cmd | 0x80)
-------------------------------------------------------------------------
The host sends one request and waits for its response (or an ERROR / FAULT / BOOT frame)
before sending the next. The device sends nothing else while running the model
(except FAULT, or BOOT after a reset).

  0x01 PING   payload: 0..RX_MAX (=64) bytes   -> 0x81, the same payload (echo)
  0x02 INFO   payload: empty                   -> 0x82:
                u8  protocol version (1)
                u32 clock_hz          core clock in Hz
                u32 arena_bytes       MODEL_ARENA_BYTES
                u32 input_bytes       MODEL_INPUT_BYTES
                u32 output_bytes      MODEL_OUTPUT_BYTES
                u32 stack_size        bytes reserved for the stack (0 = not measured, host)
                f32 input_scale,  i32 input_zero_point
                f32 output_scale, i32 output_zero_point
                then 4 strings, each u8 length + bytes (ASCII):
                board name, tick unit ("cycles" | "emulated_instructions" | "ns"),
                MODEL_NAME (cut to fit the device's 128-byte reply buffer), MODEL_HASH
                (16 hex digits)
  0x03 LOAD   payload: exactly input_bytes int8 values (the input tensor, NHWC)
                                               -> 0x83, empty. The bytes are written into the
                model's input buffer as they arrive; a LOAD with a bad CRC leaves no input.
                len != input_bytes -> ERROR BAD_LENGTH (detail = input_bytes); nothing is
                written (the host says which model the firmware expects). The firmware does
                not compile (#error in model.h / smcu_main.c) unless the input and the output
                lie inside the arena and each fits one frame (<= 65535 bytes).
  0x04 RUN    payload: empty                   -> 0x84:
                u32 ticks   board_ticks() after model_invoke() minus before (unit as INFO)
                u8  status  0 = ok
                Needs a LOAD since the last RUN (the arena reuses the input buffer):
                otherwise ERROR NO_INPUT.
  0x05 READ   payload: empty                   -> 0x85, output_bytes int8 values (the
                output tensor); ERROR NO_OUTPUT if there was no RUN since the last LOAD (the
                input and output buffers may share arena bytes) or since boot.
  0x06 STATS  payload: empty                   -> 0x86:
                u32 stack_used (high-water bytes since boot, painted-stack method; 0 on host)
                u32 stack_size
                u32 runs        RUN count since boot
                u32 last_ticks  ticks of the last RUN
  0x07 CALIB  payload: u32 n (n >= 1)           -> 0x87: u32 ticks, u32 instructions
                runs a loop of exactly 2*n instructions (Arm: `subs; bne`; instructions =
                2*n; host: a C loop, instructions = 0) between two board_ticks() and returns
                the difference: checks the tick unit (1 SysTick tick = 40 emulated
                instructions on QEMU mps2 with -icount shift=0).

  0x08 PROFILE payload: empty                  -> 0x88: u16 count, then count u32 ticks:
                board_ticks() spent in each kernel call of model_invoke() during the last RUN
                (index = position in the generated model_invoke, in-place calls 0); count = 0
                unless the firmware was built for profiling (`sparsemcu build --profile`).

Events (device -> host, unsolicited)
------------------------------------
  0xB0 BOOT   sent once after reset, after board_init():
                u8 protocol version, then strings (u8 len + bytes): board name, MODEL_HASH.
                A BOOT while the host waits for a response means the board reset.
  0xEE ERROR  u8 code, u8 cmd (the offending request's cmd byte), u32 detail
                codes: 1 BAD_CRC (detail: received crc), 2 BAD_LENGTH (detail: the allowed
                length), 3 UNKNOWN_CMD, 4 NO_INPUT, 5 NO_OUTPUT.
                The device reads a payload only if (cmd == LOAD and len == input_bytes) or
                len <= RX_MAX; any other len is answered BAD_LENGTH at once (detail:
                input_bytes for LOAD, RX_MAX otherwise) without reading the payload, and
                the device hunts for the next sync pair (the skipped payload is ignored, or,
                should it contain a sync pair, answered with ERROR BAD_CRC).
  0xFF FAULT  u32 kind (Arm: 3 = HardFault, 4 MemManage, 5 BusFault, 6 UsageFault, i.e. the
                exception number; host: 0x100 + signal number), u32 pc, u32 lr, u32 cfsr,
                u32 hfsr, u32 mmfar, u32 bfar (Arm: from the stacked frame and SCB; host:
                pc = lr = 0). Followed by an ASCII line
                "\\r\\nFAULT pc=0x........ lr=0x........ cfsr=0x........\\r\\n". The device then
                stops (Arm: spins; host: exits).

Host-side errors (all sparsemcu.errors.SparsemcuError, one line each): SerialTimeout,
CrcError, DeviceError (an ERROR frame), BoardReset (BOOT mid-request), BoardFault (FAULT),
TransportClosed (pipe closed / QEMU exited / port vanished), PortNotFound.
"""
from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

from sparsemcu.errors import SparsemcuError

PROTOCOL_VERSION = 1
SYNC = b"\xA5\x5A"
HEADER = struct.Struct("<BH")  # cmd, len (after the sync pair)
RX_MAX = 64

PING, INFO, LOAD, RUN, READ, STATS, CALIB, PROFILE = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08
RESPONSE = 0x80
BOOT, ERROR, FAULT = 0xB0, 0xEE, 0xFF

CMD_NAMES = {PING: "PING", INFO: "INFO", LOAD: "LOAD", RUN: "RUN", READ: "READ", STATS: "STATS",
             CALIB: "CALIB", PROFILE: "PROFILE", BOOT: "BOOT", ERROR: "ERROR", FAULT: "FAULT"}

ERR_BAD_CRC, ERR_BAD_LENGTH, ERR_UNKNOWN_CMD, ERR_NO_INPUT, ERR_NO_OUTPUT = 1, 2, 3, 4, 5
ERROR_NAMES = {ERR_BAD_CRC: "bad CRC", ERR_BAD_LENGTH: "bad length", ERR_UNKNOWN_CMD: "unknown command",
               ERR_NO_INPUT: "no input loaded", ERR_NO_OUTPUT: "no output yet"}

FAULT_KINDS = {3: "HardFault", 4: "MemManage fault", 5: "BusFault", 6: "UsageFault"}


# ------------------------------------------------------------------------------- errors
class ProtocolError(SparsemcuError):
    """Base of every serial-protocol failure."""


class SerialTimeout(ProtocolError):
    pass


class CrcError(ProtocolError):
    pass


class DeviceError(ProtocolError):
    def __init__(self, message: str, code: int = 0, cmd: int = 0, detail: int = 0):
        super().__init__(message)
        self.code, self.cmd, self.detail = code, cmd, detail


class BoardReset(ProtocolError):
    pass


class BoardFault(ProtocolError):
    def __init__(self, message: str, fault: "Fault | None" = None):
        super().__init__(message)
        self.fault = fault


class TransportClosed(ProtocolError):
    pass


class PortNotFound(ProtocolError):
    pass


# ------------------------------------------------------------------------------- frames
def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode(cmd: int, payload: bytes = b"") -> bytes:
    """One frame: sync, cmd, u16 len, payload, CRC-32 over cmd+len+payload."""
    if not 0 <= cmd <= 0xFF:
        raise ValueError(f"cmd {cmd} out of range")
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the u16 length field")
    body = HEADER.pack(cmd, len(payload)) + bytes(payload)
    return SYNC + body + struct.pack("<I", crc32(body))


@dataclass
class Frame:
    cmd: int
    payload: bytes
    crc_ok: bool = True

    @property
    def name(self) -> str:
        base = self.cmd & 0x7F if self.cmd & RESPONSE and self.cmd not in (BOOT, ERROR, FAULT) else self.cmd
        n = CMD_NAMES.get(base, f"0x{self.cmd:02x}")
        return n + ("(response)" if base != self.cmd else "")


class FrameDecoder:
    """Incremental decoder: feed() bytes, get complete frames; resyncs on the sync pair.

    Bytes outside frames (e.g. the FAULT text line) are collected in `.noise`.
    A frame with a bad CRC is returned with crc_ok=False (the caller decides); decoding
    continues after it. `max_len` bounds the length field: a larger one is treated as a
    false sync (the decoder skips one byte and hunts again).
    """

    def __init__(self, max_len: int = 0xFFFF):
        self.buf = bytearray()
        self.max_len = max_len
        self.noise = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        frames = []
        while True:
            i = self.buf.find(SYNC)
            if i < 0:
                keep = 1 if self.buf[-1:] == SYNC[:1] else 0
                self.noise += self.buf[: len(self.buf) - keep]
                del self.buf[: len(self.buf) - keep]
                return frames
            if i:
                self.noise += self.buf[:i]
                del self.buf[:i]
            if len(self.buf) < 5:
                return frames
            cmd, n = HEADER.unpack_from(self.buf, 2)
            if n > self.max_len:
                self.noise += self.buf[:1]
                del self.buf[:1]
                continue
            if len(self.buf) < 9 + n:
                return frames
            body = bytes(self.buf[2:5 + n])
            (crc,) = struct.unpack_from("<I", self.buf, 5 + n)
            del self.buf[:9 + n]
            frames.append(Frame(cmd, body[3:], crc == crc32(body)))

    def noise_text(self) -> str:
        return self.noise.decode("ascii", "replace").strip()


# ------------------------------------------------------------------------------- payloads
def _strings(payload: bytes, off: int, count: int) -> tuple[list[str], int]:
    out = []
    for _ in range(count):
        if off >= len(payload):
            raise ProtocolError("truncated string in payload")
        n = payload[off]
        out.append(payload[off + 1: off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    return out, off


@dataclass
class Info:
    version: int
    clock_hz: int
    arena_bytes: int
    input_bytes: int
    output_bytes: int
    stack_size: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    board: str
    tick_unit: str
    model_name: str
    model_hash: str

    _FIXED = struct.Struct("<BIIIIIfifi")

    @classmethod
    def decode(cls, payload: bytes) -> "Info":
        if len(payload) < cls._FIXED.size:
            raise ProtocolError(f"INFO payload too short ({len(payload)} bytes)")
        fixed = cls._FIXED.unpack_from(payload, 0)
        strings, _ = _strings(payload, cls._FIXED.size, 4)
        return cls(*fixed, *strings)

    def encode(self) -> bytes:  # used by tests (a fake device)
        out = self._FIXED.pack(self.version, self.clock_hz, self.arena_bytes, self.input_bytes,
                               self.output_bytes, self.stack_size, self.input_scale,
                               self.input_zero_point, self.output_scale, self.output_zero_point)
        for s in (self.board, self.tick_unit, self.model_name, self.model_hash):
            b = s.encode()
            out += bytes([len(b)]) + b
        return out


@dataclass
class Boot:
    version: int
    board: str
    model_hash: str

    @classmethod
    def decode(cls, payload: bytes) -> "Boot":
        if not payload:
            raise ProtocolError("empty BOOT payload")
        (board, model_hash), _ = _strings(payload, 1, 2)
        return cls(payload[0], board, model_hash)


@dataclass
class RunResult:
    ticks: int
    status: int

    @classmethod
    def decode(cls, payload: bytes) -> "RunResult":
        if len(payload) != 5:
            raise ProtocolError(f"RUN response of {len(payload)} bytes, expected 5")
        return cls(*struct.unpack("<IB", payload))


@dataclass
class Stats:
    stack_used: int
    stack_size: int
    runs: int
    last_ticks: int

    @classmethod
    def decode(cls, payload: bytes) -> "Stats":
        if len(payload) != 16:
            raise ProtocolError(f"STATS response of {len(payload)} bytes, expected 16")
        return cls(*struct.unpack("<IIII", payload))


def decode_profile(payload: bytes) -> list[int]:
    if len(payload) < 2:
        raise ProtocolError(f"PROFILE response of {len(payload)} bytes, expected at least 2")
    (count,) = struct.unpack_from("<H", payload)
    if len(payload) != 2 + 4 * count:
        raise ProtocolError(f"PROFILE response of {len(payload)} bytes, expected {2 + 4 * count} for {count} calls")
    return list(struct.unpack_from(f"<{count}I", payload, 2))


@dataclass
class Fault:
    kind: int
    pc: int
    lr: int
    cfsr: int
    hfsr: int
    mmfar: int
    bfar: int

    @classmethod
    def decode(cls, payload: bytes) -> "Fault":
        vals = list(struct.unpack_from("<7I", payload.ljust(28, b"\0")))
        return cls(*vals)

    def describe(self) -> str:
        if self.kind >= 0x100:
            import signal
            try:
                name = signal.Signals(self.kind - 0x100).name
            except ValueError:
                name = f"signal {self.kind - 0x100}"
            return f"crashed with {name}"
        kind = FAULT_KINDS.get(self.kind, f"fault (exception {self.kind})")
        return f"{kind} pc=0x{self.pc:08x} lr=0x{self.lr:08x} cfsr=0x{self.cfsr:08x} hfsr=0x{self.hfsr:08x}"


@dataclass
class ErrorFrame:
    code: int
    cmd: int
    detail: int

    @classmethod
    def decode(cls, payload: bytes) -> "ErrorFrame":
        code, cmd, detail = struct.unpack_from("<BBI", payload.ljust(6, b"\0"))
        return cls(code, cmd, detail)

    def describe(self) -> str:
        what = ERROR_NAMES.get(self.code, f"error {self.code}")
        cmd = CMD_NAMES.get(self.cmd, f"0x{self.cmd:02x}")
        if self.code == ERR_BAD_LENGTH:
            return f"device rejected {cmd}: {what} (allowed {self.detail} bytes)"
        return f"device rejected {cmd}: {what}"


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end
