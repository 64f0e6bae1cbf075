"""Byte transports for the serial protocol: a subprocess pipe (`host` board), QEMU with
`-serial pty` (the pty is opened with pyserial, exactly like a real port), a real serial port.

Every transport offers write(data), read(timeout) -> bytes (b"" on timeout), close(), and
`describe()`; a dead peer raises TransportClosed with the reason (exit code, last stderr).
"""
from __future__ import annotations

import os
import re
import select
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

from .protocol import PortNotFound, SerialTimeout, TransportClosed


class Transport:
    name = "transport"

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, timeout: float) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return self.name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _StderrTail:
    """Collects a subprocess's stderr in a thread (last lines kept for error messages)."""

    def __init__(self, stream, keep: int = 20):
        self.lines: deque[str] = deque(maxlen=keep)
        self._t = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._t.start()

    def _pump(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            self.lines.append(raw.decode(errors="replace").rstrip())

    def last(self) -> str:
        lines = [ln for ln in self.lines if ln.strip()]
        return lines[-1] if lines else ""


class PipeTransport(Transport):
    """The `host` board: the firmware executable with the protocol on stdin/stdout."""

    name = "pipe"

    def __init__(self, exe: str | Path, args: list[str] | None = None):
        self.exe = str(exe)
        if not os.path.isfile(self.exe):
            raise TransportClosed(f"host firmware {self.exe} does not exist: run `sparsemcu build DIR --board host`")
        self.proc = subprocess.Popen([self.exe, *(args or [])], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0)
        self._err = _StderrTail(self.proc.stderr)
        self.fd = self.proc.stdout.fileno()

    def describe(self) -> str:
        return f"host firmware {self.exe} (pid {self.proc.pid})"

    def _closed(self, what: str) -> TransportClosed:
        try:
            code = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            code = None
        tail = self._err.last()
        return TransportClosed(f"host firmware {what} (exit code {code})" + (f": {tail}" if tail else ""))

    def write(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise self._closed("closed its input") from None

    def read(self, timeout: float) -> bytes:
        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not r:
            return b""
        data = os.read(self.fd, 65536)
        if not data:
            raise self._closed("exited")
        return data

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for s in (self.proc.stdout, self.proc.stderr):
            try:
                s.close()
            except OSError:
                pass


class SerialTransport(Transport):
    """A serial port through pyserial (a real board's USB VCP, or QEMU's pty)."""

    name = "serial"

    def __init__(self, port: str, baud: int = 115200, exists_check: bool = True):
        import serial  # pyserial

        self.port = port
        if exists_check and not os.path.exists(port):
            raise PortNotFound(f"serial port {port} does not exist (board unplugged? give the right --port)")
        try:
            self.ser = serial.Serial(port, baudrate=baud, timeout=0, write_timeout=10, exclusive=True)
        except serial.SerialException as exc:
            msg = str(exc).splitlines()[0]
            if "No such file" in msg or "could not open" in msg and "FileNotFound" in msg:
                raise PortNotFound(f"serial port {port} does not exist") from None
            raise TransportClosed(f"cannot open serial port {port}: {msg}") from None

    def describe(self) -> str:
        return f"serial port {self.port}"

    def write(self, data: bytes) -> None:
        import serial

        try:
            self.ser.write(data)
            self.ser.flush()
        except (serial.SerialException, OSError) as exc:
            raise TransportClosed(f"serial port {self.port} failed on write: {exc}") from None

    def read(self, timeout: float) -> bytes:
        import serial

        try:
            fd = self.ser.fileno()
            r, _, _ = select.select([fd], [], [], max(0.0, timeout))
            if not r:
                return b""
            data = self.ser.read(65536)
        except (serial.SerialException, OSError, TypeError) as exc:
            raise TransportClosed(f"serial port {self.port} closed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        if not data:
            # readable but no data: the other end went away (pty closed, USB unplugged)
            raise TransportClosed(f"serial port {self.port} closed (device disconnected)")
        return data

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:  # noqa: BLE001 - closing a dead port
            pass


class QemuTransport(Transport):
    """qemu-system-arm with `-serial pty -monitor stdio -S`: read the pty path QEMU prints,
    open it with pyserial (exactly as a real port), then `cont` on the monitor so the
    firmware's BOOT frame is not lost."""

    name = "qemu"

    def __init__(self, elf: str | Path, machine: str, extra_args: list[str] | None = None,
                 binary: str = "qemu-system-arm", start_timeout: float = 10.0):
        self.elf = str(elf)
        if not os.path.isfile(self.elf):
            raise TransportClosed(f"firmware {self.elf} does not exist: run `sparsemcu build` first")
        args = extra_args or ["-nographic", "-icount", "shift=0", "-serial", "pty", "-monitor", "stdio", "-S"]
        self.cmd = [binary, "-M", machine, *args, "-kernel", self.elf]
        try:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, bufsize=0)
        except FileNotFoundError:
            raise TransportClosed(f"{binary} not found: install qemu-system-arm (`make setup`)") from None
        self.machine = machine
        self.out: deque[str] = deque(maxlen=50)
        pty = self._wait_pty(start_timeout)
        self.pty = pty
        self._pump = threading.Thread(target=self._read_stdout, daemon=True)
        self._pump.start()
        try:
            self.serial = SerialTransport(pty, exists_check=False)
        except Exception:
            self.close()
            raise
        self.monitor("cont")

    def _wait_pty(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
                m = re.search(rb"char device redirected to (/dev/pts/\d+)", buf)
                if m:
                    for ln in buf.decode(errors="replace").splitlines():
                        self.out.append(ln)
                    return m.group(1).decode()
            elif self.proc.poll() is not None:
                break
        code = self.proc.poll()
        self.close()
        tail = buf.decode(errors="replace").strip().splitlines()
        raise TransportClosed(f"QEMU did not start ({' '.join(self.cmd[:3])} ...; exit code {code})"
                              + (f": {tail[-1]}" if tail else ""))

    def _read_stdout(self) -> None:
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                self.out.append(raw.decode(errors="replace").rstrip())
        except (OSError, ValueError):
            pass

    def monitor(self, command: str) -> None:
        try:
            self.proc.stdin.write(command.encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise self._exited() from None

    def describe(self) -> str:
        return f"QEMU {self.machine} (pid {self.proc.pid}, serial {self.pty})"

    def _exited(self) -> TransportClosed:
        try:
            code = self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            code = None
        lines = [ln for ln in self.out if ln.strip() and not ln.startswith("(qemu)") and "monitor" not in ln]
        tail = lines[-1] if lines else ""
        return TransportClosed(f"QEMU exited (exit code {code})" + (f": {tail}" if tail else ""))

    def write(self, data: bytes) -> None:
        if self.proc.poll() is not None:
            raise self._exited()
        try:
            self.serial.write(data)
        except TransportClosed:
            raise self._exited() from None

    def read(self, timeout: float) -> bytes:
        # poll in slices so that a QEMU exit is noticed even if the pty stays quiet
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise self._exited()
            try:
                data = self.serial.read(min(0.2, max(0.0, deadline - time.monotonic())))
            except TransportClosed:
                raise self._exited() from None
            if data or time.monotonic() >= deadline:
                return data

    def close(self) -> None:
        s = getattr(self, "serial", None)
        if s is not None:
            s.close()
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=2)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for s in (self.proc.stdin, self.proc.stdout):
            try:
                s.close()
            except OSError:
                pass


__all__ = ["Transport", "PipeTransport", "SerialTransport", "QemuTransport", "SerialTimeout", "PortNotFound"]
