"""MLPerf Tiny benchmark mode: the specification we implement, and a host client written from it.

Device side: firmware_templates/runtime/smcu_mlperf_main.c (constants in smcu_mlperf.h, checked
against this module by tests/test_mlperf.py), built with `sparsemcu build --protocol mlperf`.

Sources (the mlcommons/tiny repository, read to understand; no code taken from it):
  [API]    benchmark/api/internally_implemented.h/.cpp, submitter_implemented.h: command parser,
           messages, EE_CMD_SIZE, the `%` terminator, infer N W, db, th_timestamp's m-lap-us-.
  [REF]    benchmark/reference_submissions/{image_classification,person_detection,keyword_spotting}/
           submitter_implemented.cpp: input conversion of int8 models, m-results-[...], 115200 baud.
  [RUNNER] benchmark/runner/{device_under_test.py,serial_device.py,script.py,main.py,
           devices_kws_ic_vww.yaml,tests_performance.yaml}: what the MLCommons runner sends and parses,
           and how it computes the median throughput.

Transport: UART 8N1 at 115200 baud (performance mode: the DUT wired to the host [REF]
th_serialport_initialize, [RUNNER] devices yaml `performance: 115200`); QEMU: its `-serial pty`.
Energy mode (9600 baud through the EEMBC IO manager, GPIO timestamps) is not implemented.

Commands (host -> device): ASCII, tokens separated by spaces, ended by `%` (no newline) [API].
At most CMD_SIZE = 80 characters: a longer one is answered ERR_TOO_LONG (the reference silently
truncates it). Every command, known or not, is answered by zero or more lines and then `m-ready`;
each line ends with \\r\\n. Lines starting with `e-[` are errors.

  name           m-name-dut-[sparsemcu <MODEL_HASH>]  (the runner matches ^m-name-dut-\\[([^]]+)]$)
  profile        m-profile-[ULPMark for tinyML Firmware V0.0.1]
                 m-model-[<id>]          id = the benchmark (ic01, vww01, kws01): the runner picks its
                                         test script by it [RUNNER main.py]
  timestamp      m-lap-us-<u>            microseconds of the board's clock (see Timing)
  help           the command list, then a `board : ...` line naming the timer (and, on QEMU, that its
                 microseconds are emulated time, not a real-board latency)
  db load N      m-[Expecting N bytes]   a buffer of N bytes (1 <= N <= MAX_DB = the model's input bytes),
                                         loading position 0
                 e-[Command 'db load' requires the # of bytes] / e-[Command 'db load' must be >0 bytes] /
                 e-[Supplied buffer size exceeds maximum of M] (ours; the reference would overflow)
  db HH[HH]*     stores the bytes at the loading position; m-load-done when the N bytes are complete,
                 the rest of the digits ignored [API]. e-[Insufficent number of hex digits] (odd count,
                 the reference's spelling), e-[Invalid hex digit 'XY'] (nothing stored),
                 e-[No room: send 'db load N' first] (ours: the buffer is already full)
  db             e-[Command 'db' requires a subcommand]
  db print       m-buffer-xx-xx-... 8 bytes per line
  infer [N [W]]  N >= 1 timed inferences after W >= 0 warm-ups (defaults N = 1, W = 10 [API]):
                   m-warmup-start-W, m-warmup-done, m-infer-start-N, m-lap-us-<start>, m-lap-us-<end>,
                   m-infer-done, m-results-[...]
                 e-[Inference iterations must be >0] / e-[Inference warmup must be >=0] (atoi rules:
                 a non-number counts as 0); e-[Input db has K bytes, expected M] (ours: the reference
                 would run on a stale input) when the loaded input is not complete.
  results        m-results-[...] of the last inference; e-[No results: run infer first]
  anything else  e-[Unknown command: <first token>]

Boot (after reset): m-timestamp-mode-performance, m-lap-us-<u>, m-init-done, m-ready [API, REF].
A board fault prints e-[FAULT kind=0x.. pc=0x.. lr=0x.. cfsr=0x..] (ours).

Input conversion (int8 models, [REF]): the loaded bytes are the benchmark's input bytes; the model's
int8 input is `byte - offset (mod 256)`, offset = 128 for the image benchmarks ic01/vww01 (uint8
pixels, as the reference submissions convert them) and 0 for kws01 (bytes already int8). So the host
sends `(x_int8 + offset) mod 256` to feed an exact int8 input. Every timed inference rewrites the
model's input from the loaded bytes (our memory plan lets activations overwrite the input) and then
calls the generated model_invoke(): that copy (MODEL_INPUT_BYTES bytes) is inside the timed loop.

Results: m-results-[v0,...,vK-1], one value per output byte: (q - output zero point) * output scale,
with RESULT_DECIMALS = 6 decimals (the reference prints 3; the runner parses any float). The int8
output is recovered exactly as round(v / scale) + zero point (`to_int8`, which refuses values that
are not within the print's rounding of a quantisation level), so a deploy compares it bit-exactly.

Timing (performance mode): `m-lap-us-` = board ticks since boot / ticks per microsecond, the ticks
kept in 64 bits. Ticks per microsecond come from board.json (`ticks_per_us`): clock_hz / 1e6 for
`cycles` (216 on the Nucleo-F746ZG); for QEMU's `emulated_instructions` under -icount shift=0 one
instruction is 1 ns of QEMU's virtual clock, so 1000 (= 25 SysTick ticks of the emulated 25 MHz
mps2 clock); 1000 for `ns` (host). On QEMU these are EMULATED microseconds of the emulated board's
clock: not a real-board latency.

Median latency [RUNNER script.py/main.py]: the performance test runs 5 windows (a new input, then
`infer N W`; ic01: N = 20, W = 5); each window's throughput = N / ((end - start) us / 1e6); the
score is the median throughput over the windows, the median latency its inverse. The runner flags
"error 1" unless there are exactly 5 windows and "error 2" unless each lasts at least 10 s.
`median_latency` computes the same and says which of these rules a run met.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np

from sparsemcu.errors import SparsemcuError

from .protocol import Deadline, SerialTimeout
from .transport import Transport

# ------------------------------------------------------------------ constants (= smcu_mlperf.h)
CMD_SIZE = 80
TERMINATOR = "%"
BAUD = 115200
DEVICE_NAME = "dut"
VENDOR = "sparsemcu"
FW_VERSION = "ULPMark for tinyML Firmware V0.0.1"
DEFAULT_ITERATIONS = 1
DEFAULT_WARMUPS = 10
RESULT_DECIMALS = 6

MSG_READY = "m-ready"
MSG_INIT_DONE = "m-init-done"
MSG_TIMESTAMP_MODE = "m-timestamp-mode-performance"
MSG_LAP_US = "m-lap-us-"
MSG_NAME = "m-name-"
MSG_PROFILE = "m-profile-["
MSG_MODEL = "m-model-["
MSG_EXPECTING = "m-[Expecting "
MSG_LOAD_DONE = "m-load-done"
MSG_BUFFER = "m-buffer-"
MSG_WARMUP_START = "m-warmup-start-"
MSG_WARMUP_DONE = "m-warmup-done"
MSG_INFER_START = "m-infer-start-"
MSG_INFER_DONE = "m-infer-done"
MSG_RESULTS = "m-results-["

ERR_UNKNOWN = "e-[Unknown command: "
ERR_DB_SUBCMD = "e-[Command 'db' requires a subcommand]"
ERR_DB_LOAD_N = "e-[Command 'db load' requires the # of bytes]"
ERR_DB_LOAD_ZERO = "e-[Command 'db load' must be >0 bytes]"
ERR_HEX_ODD = "e-[Insufficent number of hex digits]"
ERR_HEX_DIGIT = "e-[Invalid hex digit '"
ERR_ITERATIONS = "e-[Inference iterations must be >0]"
ERR_WARMUPS = "e-[Inference warmup must be >=0]"
ERR_TOO_BIG = "e-[Supplied buffer size exceeds maximum of "
ERR_DB_FULL = "e-[No room: send 'db load N' first]"
ERR_INPUT = "e-[Input db has "
ERR_NO_RESULTS = "e-[No results: run infer first]"
ERR_TOO_LONG = "e-[Command longer than 80 characters]"
ERR_FAULT = "e-[FAULT "

# Benchmarks whose input is int8 bytes, and their conversion offset (int8 = byte - offset mod 256).
MODELS = {"ic01": 128, "vww01": 128, "kws01": 0}
DEFAULT_MODEL = "ic01"
HEX_BYTES_PER_DB = 31  # bytes per `db` command, as the MLCommons runner sends them (62 hex digits)
# The performance test [RUNNER tests_performance.yaml, script.py]: per benchmark `infer N W` per
# window, 5 windows, each at least 10 s long. (The accuracy test runs `infer 1 0` per input.)
PERFORMANCE_INFER = {"ic01": (20, 5), "vww01": (20, 5), "kws01": (70, 10)}
WINDOWS = 5
MIN_WINDOW_S = 10.0


class MlperfError(SparsemcuError):
    """The device answered with an e-[...] line, or not in the specified form."""


def ticks_per_us(board) -> int:
    """board_ticks() per microsecond of the board's clock, from board.json's facts: `cycles` at clock_hz;
    `emulated_instructions` under QEMU -icount shift=S, where one instruction is 2**S ns of QEMU's
    virtual clock (the emulated board's time); `ns` (host)."""
    if board.tick_unit == "ns":
        return 1000
    if board.tick_unit == "cycles" and board.clock_hz and board.clock_hz % 1_000_000 == 0:
        return board.clock_hz // 1_000_000
    if board.tick_unit == "emulated_instructions":
        args = list((board.qemu or {}).get("args", []))
        shift = next((a.split("=", 1)[1] for i, a in enumerate(args[1:]) if args[i] == "-icount" and
                      a.startswith("shift=")), None)
        if shift is not None and shift.isdigit() and 1000 % (1 << int(shift)) == 0:
            return 1000 // (1 << int(shift))
    raise SparsemcuError(f"{board.name}: board.json's tick unit {board.tick_unit!r} (clock {board.clock_hz} Hz) gives no whole "
                         "number of ticks per microsecond: MLPerf timestamps need one")


def input_bytes(x_int8: np.ndarray, model: str) -> bytes:
    """The bytes to load with `db` so that the device's model input is exactly `x_int8`."""
    off = MODELS[model]
    return ((np.asarray(x_int8, np.int8).reshape(-1).astype(np.int16) + off) & 0xFF).astype(np.uint8).tobytes()


def to_int8(values: list[float], scale: float, zero_point: int, decimals: int = RESULT_DECIMALS) -> np.ndarray:
    """The int8 outputs behind dequantised values printed with `decimals` decimals; an error unless
    every value lies within the print's rounding of a quantisation level (then the recovery is exact)."""
    v = np.asarray(values, np.float64)
    tol = 0.5 * 10.0 ** -decimals + 256 * 0.5e-9 + 1e-12  # print rounding + the device's scale rounding
    if scale / 2 <= tol:
        raise MlperfError(f"output scale {scale:g} is too fine for {decimals} decimals: the results cannot be "
                          "mapped back to int8 exactly")
    q = np.rint(v / scale) + zero_point
    off = np.abs(v - (q - zero_point) * scale)
    bad = np.flatnonzero((off > tol) | (q < -128) | (q > 127))
    if bad.size:
        i = int(bad[0])
        raise MlperfError(f"result {i} = {values[i]!r} is not an int8 output dequantised with scale {scale:g} and "
                          f"zero point {zero_point}")
    return q.astype(np.int8)


def parse_results(line: str) -> list[float]:
    m = re.fullmatch(re.escape(MSG_RESULTS) + r"([^]]*)\]", line)
    if not m:
        raise MlperfError(f"not a results line: {line!r}")
    try:
        return [float(t) for t in m.group(1).split(",") if t.strip()]
    except ValueError:
        raise MlperfError(f"results line with a non-number: {line!r}") from None


@dataclass
class InferResult:
    iterations: int
    warmups: int
    start_us: int
    end_us: int
    results: list[float]
    lines: list[str] = field(default_factory=list)

    @property
    def elapsed_us(self) -> int:
        return self.end_us - self.start_us


def parse_infer(lines: list[str]) -> InferResult:
    """The reply to `infer N W`, checked line by line against the specified sequence."""
    pats = [re.escape(MSG_WARMUP_START) + r"(\d+)", re.escape(MSG_WARMUP_DONE), re.escape(MSG_INFER_START) + r"(\d+)",
            re.escape(MSG_LAP_US) + r"(\d+)", re.escape(MSG_LAP_US) + r"(\d+)", re.escape(MSG_INFER_DONE),
            re.escape(MSG_RESULTS) + r"[^]]*\]"]
    _raise_errors(lines, "infer")
    if len(lines) != len(pats):
        raise MlperfError(f"infer answered {len(lines)} lines, expected {len(pats)}: {lines!r}")
    got = []
    for pat, line in zip(pats, lines):
        m = re.fullmatch(pat, line)
        if not m:
            raise MlperfError(f"infer: expected a line like {pat!r}, got {line!r}")
        got.append(int(m.group(1)) if m.groups() else None)
    w, _, n, t0, t1, _, _ = got
    if t1 < t0:
        raise MlperfError(f"infer: m-lap-us went backwards ({t0} then {t1})")
    return InferResult(iterations=n, warmups=w, start_us=t0, end_us=t1, results=parse_results(lines[-1]), lines=lines)


def _raise_errors(lines: list[str], what: str) -> None:
    for ln in lines:
        if ln.startswith("e-"):
            raise MlperfError(f"device answered {what!r} with {ln}")


def median_latency(windows: list[tuple[int, int]]) -> dict:
    """The MLPerf Tiny performance score of (iterations, elapsed microseconds) windows: per-window
    throughput N / elapsed, the median throughput (numpy's median, as the runner) and its inverse,
    the median latency; and whether the run met the runner's rules (5 windows, each >= 10 s)."""
    if not windows:
        raise MlperfError("no performance windows to compute a median latency from")
    rows = []
    for i, (n, us) in enumerate(windows):
        if n < 1 or us <= 0:
            raise MlperfError(f"window {i}: {n} inferences in {us} us: the timer did not advance; run more iterations")
        rows.append({"iterations": int(n), "elapsed_us": int(us), "throughput_inf_per_s": n / (us / 1e6),
                     "latency_us": us / n})
    med = float(np.median([r["throughput_inf_per_s"] for r in rows]))
    return {"windows": rows, "median_throughput_inf_per_s": med, "median_latency_us": 1e6 / med,
            "rules": {"windows": len(rows), "five_windows": len(rows) == WINDOWS,
                      "shortest_window_s": min(r["elapsed_us"] for r in rows) / 1e6,
                      "each_window_at_least_10_s": all(r["elapsed_us"] >= MIN_WINDOW_S * 1e6 for r in rows)}}


# ------------------------------------------------------------------ client
class MlperfClient:
    """Drives the MLPerf Tiny command set over a byte transport (QEMU pty, serial port, host pipe),
    line by line as the MLCommons runner does: send `cmd%`, collect lines up to `m-ready`."""

    def __init__(self, transport: Transport, timeout: float = 5.0, infer_timeout: float = 120.0):
        self.t = transport
        self.timeout = timeout
        self.infer_timeout = infer_timeout
        self._buf = b""
        self.boot_lines: list[str] = []

    def _line(self, deadline: Deadline, waiting_for: str) -> str:
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                raw, self._buf = self._buf[:i], self._buf[i + 1:]
                return raw.replace(b"\r", b"").replace(b"\0", b"").decode("ascii", errors="replace")
            if deadline.expired():
                tail = self._buf.decode("ascii", errors="replace")[-60:]
                raise SerialTimeout(f"no answer to {waiting_for!r} from {self.t.describe()}"
                                    + (f"; received {tail!r}" if tail else ""))
            self._buf += self.t.read(min(deadline.left(), 0.5))

    def reply(self, timeout: float, waiting_for: str) -> list[str]:
        """The lines up to the next m-ready (m-ready itself and empty lines left out)."""
        deadline, lines = Deadline(timeout), []
        while True:
            ln = self._line(deadline, waiting_for)
            if ln.startswith(ERR_FAULT):
                raise MlperfError(f"board fault during {waiting_for!r}: {ln}")
            if MSG_READY in ln:  # the runner's end-of-response test
                return lines
            if ln:
                lines.append(ln)

    def wait_boot(self, timeout: float = 10.0) -> list[str]:
        """The boot lines up to the first m-ready (a fresh start: QEMU, host)."""
        self.boot_lines = self.reply(timeout, "boot")
        return self.boot_lines

    def sync(self, settle: float = 0.5) -> None:
        """A board that may have booted before the port was opened: drop what it sent, then end any
        half-received command with the terminator and wait for its m-ready."""
        self._drain(settle)
        self.t.write(TERMINATOR.encode("ascii"))
        self.reply(self.timeout, "the terminator")
        self._drain(0.3)  # the m-ready may have been a late boot's: drop the terminator's own answer too

    def _drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.t.read(max(0.0, end - time.monotonic()))
        self._buf = b""

    def command(self, cmd: str, timeout: float | None = None, check: bool = True) -> list[str]:
        """Send `cmd%`; the lines before m-ready. check: an e-[...] line raises MlperfError."""
        if TERMINATOR in cmd or len(cmd) > CMD_SIZE:
            raise ValueError(f"not a single MLPerf command: {cmd!r}")
        self.t.write((cmd + TERMINATOR).encode("ascii"))
        lines = self.reply(self.timeout if timeout is None else timeout, cmd)
        if check:
            _raise_errors(lines, cmd)
        return lines

    def _one(self, cmd: str, pattern: str) -> re.Match:
        lines = self.command(cmd)
        for ln in lines:
            m = re.fullmatch(pattern, ln)
            if m:
                return m
        raise MlperfError(f"{cmd!r} answered {lines!r}, no line like {pattern!r}")

    def name(self) -> str:
        """The bracketed part of m-name-dut-[...], as the runner extracts it."""
        return self._one("name", r"m-(?:name)-dut-\[([^]]+)\]").group(1)

    def profile(self) -> tuple[str, str]:
        """(profile, model) from m-profile-[...] and m-model-[...]."""
        lines = self.command("profile")
        got = dict(m.groups() for ln in lines if (m := re.fullmatch(r"m-(model|profile)-\[([^]]+)\]", ln)))
        if set(got) != {"model", "profile"}:
            raise MlperfError(f"profile answered {lines!r}")
        return got["profile"], got["model"]

    def timestamp(self) -> int:
        return int(self._one("timestamp", re.escape(MSG_LAP_US) + r"(\d+)").group(1))

    def load(self, data: bytes, per_command: int = HEX_BYTES_PER_DB) -> None:
        """db load N, then `db` commands of `per_command` bytes; the last must answer m-load-done."""
        self._one(f"db load {len(data)}", re.escape(MSG_EXPECTING) + rf"{len(data)} bytes\]")
        for i in range(0, len(data), per_command):
            lines = self.command("db " + data[i:i + per_command].hex())
            last = i + per_command >= len(data)
            if (MSG_LOAD_DONE in lines) != last:
                raise MlperfError(f"db: {'no' if last else 'early'} m-load-done after byte {min(i + per_command, len(data))}"
                                  f" of {len(data)}: {lines!r}")

    def infer(self, iterations: int, warmups: int) -> InferResult:
        r = parse_infer(self.command(f"infer {iterations} {warmups}", timeout=self.infer_timeout, check=False))
        if (r.iterations, r.warmups) != (iterations, warmups):
            raise MlperfError(f"infer {iterations} {warmups} ran {r.iterations} after {r.warmups} warm-ups")
        return r

    def results(self) -> list[float]:
        lines = self.command("results")
        if len(lines) != 1:
            raise MlperfError(f"results answered {lines!r}")
        return parse_results(lines[0])

    def close(self) -> None:
        self.t.close()
