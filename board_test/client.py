"""Client for the serial protocol (board_test/protocol.py): info / load / run / read / stats."""
from __future__ import annotations

import struct

import numpy as np

from . import protocol as P
from .transport import Transport


class Client:
    def __init__(self, transport: Transport, timeout: float = 5.0, run_timeout: float = 60.0):
        self.t = transport
        self.timeout = timeout
        self.run_timeout = run_timeout
        self.dec = P.FrameDecoder()
        self.boot: P.Boot | None = None
        self.info_: P.Info | None = None
        self.context = ""  # e.g. "sample 17", used in error messages

    # ------------------------------------------------------------------ low level
    def _where(self) -> str:
        return f" ({self.context})" if self.context else ""

    def _next_frame(self, deadline: P.Deadline, waiting_for: str) -> P.Frame:
        pending: list[P.Frame] = []
        while True:
            frames = self.dec.feed(b"")
            if frames:
                # keep extra frames in the decoder's order: push back all but the first
                pending.extend(frames)
            if pending:
                f = pending.pop(0)
                if pending:
                    self._pushback(pending)
                return f
            left = deadline.left()
            if left <= 0:
                noise = self.dec.noise_text()
                raise P.SerialTimeout(f"no answer to {waiting_for} within {self._last_timeout:.1f} s from {self.t.describe()}{self._where()}"
                                      + (f"; received text: {noise[-80:]!r}" if noise else ""))
            data = self.t.read(min(left, 0.5))
            if data:
                pending.extend(self.dec.feed(data))

    def _pushback(self, frames: list[P.Frame]) -> None:
        # re-encode so the decoder hands them out again, in order
        raw = b"".join(P.encode(f.cmd, f.payload) if f.crc_ok else b"" for f in frames)
        self.dec.buf[0:0] = raw

    def wait_frame(self, timeout: float, waiting_for: str) -> P.Frame:
        self._last_timeout = timeout
        return self._next_frame(P.Deadline(timeout), waiting_for)

    def _check_event(self, f: P.Frame, waiting_for: str) -> None:
        if not f.crc_ok:
            raise P.CrcError(f"corrupted frame from the board (CRC mismatch) while waiting for {waiting_for}{self._where()}")
        if f.cmd == P.FAULT:
            fault = P.Fault.decode(f.payload)
            raise P.BoardFault(f"board {fault.describe()} during {waiting_for}{self._where()}", fault)
        if f.cmd == P.BOOT:
            raise P.BoardReset(f"board reset (BOOT frame) during {waiting_for}{self._where()}")
        if f.cmd == P.ERROR:
            e = P.ErrorFrame.decode(f.payload)
            if e.code == P.ERR_BAD_CRC:
                raise P.CrcError(f"board received a corrupted {P.CMD_NAMES.get(e.cmd, hex(e.cmd))} frame (CRC mismatch){self._where()}")
            raise P.DeviceError(e.describe() + self._where(), e.code, e.cmd, e.detail)

    def request(self, cmd: int, payload: bytes = b"", timeout: float | None = None) -> bytes:
        name = P.CMD_NAMES.get(cmd, hex(cmd))
        self.t.write(P.encode(cmd, payload))
        while True:
            f = self.wait_frame(self.timeout if timeout is None else timeout, name)
            try:
                self._check_event(f, name)
            except P.DeviceError as e:
                if e.code == P.ERR_BAD_LENGTH and e.cmd == cmd == P.LOAD:
                    raise P.DeviceError(f"device rejected LOAD of {len(payload)} bytes: bad length (allowed {e.detail} "
                                        f"bytes): the firmware's model takes {e.detail} input bytes per sample, so "
                                        f"these inputs or this firmware are for another model (export and deploy "
                                        f"again){self._where()}", e.code, e.cmd, e.detail) from None
                raise
            if f.cmd == (cmd | P.RESPONSE):
                return f.payload
            # a stray response (e.g. after an earlier timeout): ignore and keep waiting

    # ------------------------------------------------------------------ connection
    def connect(self, boot_timeout: float = 5.0, expect_boot: bool = True, settle: float = 0.5,
                flush_bytes: int = 0) -> P.Info:
        """Wait for the BOOT frame (a fresh start: host, QEMU) or, for a real board that may
        have booted before the port was opened, let any BOOT pass for `settle` s; then INFO.

        flush_bytes: send that many zero bytes first (at least the longest frame the device
        accepts) so that a frame left half-sent by an earlier session is completed; the device
        answers it with one ERROR, ignored here, and zeros never contain the sync pair."""
        if flush_bytes:
            self.t.write(bytes(flush_bytes))
        try:
            deadline = P.Deadline(boot_timeout if expect_boot else settle)
            while True:
                self._last_timeout = boot_timeout if expect_boot else settle
                f = self._next_frame(deadline, "BOOT")
                if f.cmd == P.BOOT and f.crc_ok:
                    self.boot = P.Boot.decode(f.payload)
                    if expect_boot:
                        break
                elif f.cmd == P.FAULT or not f.crc_ok:
                    self._check_event(f, "BOOT")
        except P.SerialTimeout:
            pass
        for _ in range(2):
            try:
                return self.info()
            except P.BoardReset:  # it (re)booted while we asked: ask again
                continue
        return self.info()

    # ------------------------------------------------------------------ commands
    def ping(self, payload: bytes = b"ping") -> bytes:
        return self.request(P.PING, payload)

    def info(self) -> P.Info:
        self.info_ = P.Info.decode(self.request(P.INFO))
        return self.info_

    def load(self, x: np.ndarray | bytes) -> None:
        data = x if isinstance(x, (bytes, bytearray)) else np.ascontiguousarray(x, dtype=np.int8).tobytes()
        self.request(P.LOAD, bytes(data))

    def run(self) -> P.RunResult:
        return P.RunResult.decode(self.request(P.RUN, timeout=self.run_timeout))

    def read(self) -> np.ndarray:
        return np.frombuffer(self.request(P.READ), dtype=np.int8).copy()

    def stats(self) -> P.Stats:
        return P.Stats.decode(self.request(P.STATS))

    def calibrate(self, n: int) -> tuple[int, int]:
        return struct.unpack("<II", self.request(P.CALIB, struct.pack("<I", n), timeout=self.run_timeout))

    def profile(self) -> list[int]:
        """Ticks per kernel call of the last RUN (empty unless a profiling build)."""
        return P.decode_profile(self.request(P.PROFILE))

    def infer(self, x: np.ndarray | bytes) -> tuple[np.ndarray, int]:
        """load + run + read: (int8 output, ticks)."""
        self.load(x)
        r = self.run()
        return self.read(), r.ticks

    def close(self) -> None:
        self.t.close()
