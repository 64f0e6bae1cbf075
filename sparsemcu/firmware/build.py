"""`build(dir, board)`: compile an exported model (DIR/src) with the firmware runtime and a
board into DIR/build (ELF + BIN + HEX for Arm boards, a native executable for `host`), and
measure flash and RAM use from the ELF and the linker map (how much of it is the model).

A model that does not fit fails with DoesNotFitError naming needed vs available bytes.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sparsemcu.errors import DoesNotFitError, SparsemcuError

from .boards import Board, boards_dir, get_board, runtime_dir

WARNINGS = ["-Wall", "-Wextra", "-Werror"]
ARM_COMMON = ["-g", "-std=c99", "-ffunction-sections", "-fdata-sections", "-fno-common"]
# The int8 kernels with multiply-accumulates are what an inference spends its time in: -O2. The
# single-pass kernels (pooling, MEAN, SOFTMAX: well under 1 % of a model's instructions) and
# everything else (serial protocol, startup, board support, the generated call sequence, run once
# per frame or per call) are built for size: -Os.
KERNEL_OPT, OTHER_OPT = "-O2", "-Os"
SIZE_KERNELS = ("smcu_avg_pool2d_", "smcu_max_pool2d_", "smcu_mean_", "smcu_softmax_")


def optimisation(source: Path, model_src: Path) -> str:
    """-O2 for the model's MAC kernels, -Os for every other source of the firmware."""
    hot = source.parent == model_src and source.name.startswith("smcu_") and not source.name.startswith(SIZE_KERNELS)
    return KERNEL_OPT if hot else OTHER_OPT
ARM_LINK = ["--specs=nano.specs", "--specs=nosys.specs", "-nostartfiles", "-Wl,--gc-sections"]
MODEL_OBJECTS = re.compile(r"^(model|smcu_[a-z0-9_]+)\.o$")  # generated model + int8 kernels
# The firmware main per serial protocol (`sparsemcu build --protocol`): our framed protocol
# (board_test/protocol.py) by default, or the MLPerf Tiny benchmark's UART commands (board_test/mlperf.py).
RUNTIME_MAIN = {"sparsemcu": "smcu_main.c", "mlperf": "smcu_mlperf_main.c"}
PROTOCOLS = tuple(RUNTIME_MAIN)
RUNTIME_OBJECTS = {Path(m).stem + ".o" for m in RUNTIME_MAIN.values()}


@dataclass
class BuildResult:
    board: str
    build_dir: str
    elf: str
    bin: str | None = None
    hex: str | None = None
    map: str | None = None
    flash_bytes: int = 0  # whole firmware in flash (text + rodata + data init + vectors)
    ram_bytes: int = 0  # static RAM (data + bss) + the reserved stack
    static_bytes: int = 0  # data + bss (includes the model arena)
    stack_bytes: int = 0  # reserved stack
    flash_available: int = 0
    ram_available: int = 0
    model_flash_bytes: int = 0  # model.c + kernels in flash (from the map file)
    model_ram_bytes: int = 0  # model.c + kernels in RAM (the arena)
    sections: dict = field(default_factory=dict)
    fingerprint: str = ""  # of the sources, board and flags (see _fingerprint)
    reused: bool = False  # True: an up-to-date earlier build was returned as it was
    protocol: str = "sparsemcu"  # serial protocol of the firmware (RUNTIME_MAIN)
    mlperf_model: str | None = None  # protocol "mlperf": the benchmark id it reports (board_test/mlperf.py MODELS)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        if not self.flash_available:
            return f"{self.board}: built {self.elf}"

        def pct(a, b):
            return f"{100.0 * a / b:.1f}%" if b else "-"
        return (f"{self.board}: flash {self.flash_bytes:,} / {self.flash_available:,} B ({pct(self.flash_bytes, self.flash_available)}),"
                f" model {self.model_flash_bytes:,} B; RAM {self.ram_bytes:,} / {self.ram_available:,} B"
                f" ({pct(self.ram_bytes, self.ram_available)}): static {self.static_bytes:,} B (model {self.model_ram_bytes:,} B)"
                f" + stack {self.stack_bytes:,} B")


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    except FileNotFoundError:
        raise SparsemcuError(f"{cmd[0]} not found: install it (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi; `make setup`)") from None
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip()
        lines = [ln for ln in err.splitlines() if "error" in ln.lower()] or err.splitlines()
        first = lines[0] if lines else f"exit code {proc.returncode}"
        raise _CompileError(f"{what} failed: {first}", err)
    return proc


class _CompileError(SparsemcuError):
    def __init__(self, message: str, full: str = ""):
        super().__init__(message)
        self.full = full


def _sources(model_src: Path, board: Board, protocol: str = "sparsemcu") -> list[Path]:
    if not (model_src / "model.c").is_file() or not (model_src / "model.h").is_file():
        raise SparsemcuError(f"{model_src} has no model.c/model.h: run `sparsemcu export MODEL --out {model_src.parent}` first")
    srcs = sorted(model_src.glob("*.c"))
    srcs.append(runtime_dir() / RUNTIME_MAIN[protocol])
    for rel in board.raw.get("sources", ["board.c"]):
        srcs.append((board.path / rel).resolve())
    return srcs


def _includes(model_src: Path, board: Board) -> list[str]:
    return ["-I", str(model_src), "-I", str(runtime_dir()), "-I", str(board.path), "-I", str(boards_dir() / "_common")]


def _fingerprint(model_src: Path, board: Board, profile: bool, protocol: list[str] | None = None) -> str:
    """What the firmware is made of: every file under the include folders and every source, the board
    and the flags (`protocol`: the serial protocol's name, then its -D flags). An unchanged fingerprint
    means an existing build is the same build."""
    protocol = protocol or ["sparsemcu"]
    h = hashlib.sha256()
    h.update(json.dumps([board.raw, board.cc, profile, KERNEL_OPT, OTHER_OPT, ARM_COMMON, ARM_LINK, WARNINGS, protocol],
                        sort_keys=True).encode())
    folders = [model_src, runtime_dir(), board.path, boards_dir() / "_common"]
    files = {f.resolve() for d in folders for f in d.iterdir() if f.is_file()} | set(_sources(model_src, board, protocol[0]))
    for f in sorted(files):
        h.update(str(f).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _up_to_date(out: Path, fingerprint: str) -> BuildResult | None:
    """The result of an earlier build with the same fingerprint whose outputs are all still there."""
    try:
        d = json.loads((out / "build.json").read_text())
    except (OSError, ValueError):
        return None
    if d.pop("fingerprint", None) != fingerprint or not d.pop("fits", False):
        return None
    d.pop("reused", None)
    try:
        res = BuildResult(**d)
    except TypeError:
        return None
    if not all(Path(p).is_file() for p in (res.elf, res.bin, res.hex) if p):
        return None
    res.reused = True
    return res


def _write_memory_ld(path: Path, board: Board, scale: int = 1) -> None:
    f, r = board.flash, board.ram
    path.write_text(
        "/* written by sparsemcu build from board.json */\n"
        "MEMORY\n{\n"
        f"  FLASH (rx) : ORIGIN = 0x{f['origin']:08X}, LENGTH = 0x{f['size'] * scale:X}\n"
        f"  RAM (rwx)  : ORIGIN = 0x{r['origin']:08X}, LENGTH = 0x{r['size'] * scale:X}\n"
        "}\n"
        f"__smcu_stack_size = {board.stack_bytes};\n")


def _section_sizes(elf: Path) -> dict[str, tuple[int, int]]:
    out = _run(["arm-none-eabi-size", "-A", "-d", str(elf)], "arm-none-eabi-size").stdout
    secs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            secs[parts[0]] = (int(parts[1]), int(parts[2]))
    return secs


_MAP_LINE = re.compile(r"^ (\.[\w.$]+|COMMON)?\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S+)$")


def _map_sections(map_path: Path):
    """(input section name, size, object file name) for every non-empty input section of the link map."""
    text = map_path.read_text(errors="replace")
    start = text.find("Linker script and memory map")
    lines = text[start:].splitlines() if start >= 0 else []
    pending = None
    for line in lines:
        m = re.match(r"^ (\.[\w.$]+|COMMON)\s*$", line)
        if m:
            pending = m.group(1)
            continue
        m = _MAP_LINE.match(line)
        if not m:
            pending = None
            continue
        name = m.group(1) or pending
        pending = None
        size = int(m.group(3), 16)
        if name and size:
            yield name, size, Path(m.group(4)).name


def _model_bytes_from_map(map_path: Path) -> tuple[int, int]:
    """(flash, ram) bytes of input sections from model.o and the kernel objects."""
    flash = ram = 0
    for name, size, obj in _map_sections(map_path):
        if not MODEL_OBJECTS.match(obj) or obj in RUNTIME_OBJECTS:
            continue
        if name.startswith((".text", ".rodata")):
            flash += size
        elif name.startswith(".data"):
            flash += size
            ram += size
        elif name.startswith((".bss", "COMMON")):
            ram += size
    return flash, ram


def code_bytes_by_object(map_path: Path) -> dict[str, int]:
    """Machine code (.text) linked from each object file, e.g. {"smcu_conv2d_s8_simd.o": 620, ...}."""
    sizes: dict[str, int] = {}
    for name, size, obj in _map_sections(Path(map_path)):
        if name.startswith(".text"):
            sizes[obj] = sizes.get(obj, 0) + size
    return sizes


def _measure(result: BuildResult, board: Board, elf: Path, map_path: Path) -> None:
    secs = _section_sizes(elf)
    f0, f1 = board.flash["origin"], board.flash["origin"] + board.flash["size"] * 64
    r0 = board.ram["origin"]
    flash = ram = static = stack = 0
    for name, (size, addr) in secs.items():
        if not size or name.startswith((".ARM.attributes", ".comment", ".debug", ".stab")):
            continue
        if name == ".data":
            flash += size
            ram += size
            static += size
        elif f0 <= addr < f1:
            flash += size
        elif name == ".stack":
            stack += size
            ram += size
        elif addr >= r0:
            ram += size
            static += size
    result.sections = {k: v[0] for k, v in secs.items() if v[0] and not k.startswith((".debug", ".comment", ".ARM.attributes"))}
    result.flash_bytes, result.ram_bytes, result.static_bytes, result.stack_bytes = flash, ram, static, stack
    result.flash_available, result.ram_available = board.flash["size"], board.ram["size"]
    result.model_flash_bytes, result.model_ram_bytes = _model_bytes_from_map(map_path)


def _protocol_defines(board: Board, protocol: str, mlperf_model: str | None) -> list[str]:
    """The -D flags of the firmware main for `protocol` (none for the default protocol)."""
    if protocol not in RUNTIME_MAIN:
        raise SparsemcuError(f"unknown protocol {protocol!r}; protocols: {', '.join(PROTOCOLS)}")
    if protocol != "mlperf":
        if mlperf_model is not None:
            raise SparsemcuError("an MLPerf benchmark id (--mlperf-model) needs --protocol mlperf")
        return []
    from sparsemcu.board_test import mlperf
    if board.serial.get("baud", mlperf.BAUD) != mlperf.BAUD:
        raise SparsemcuError(f"{board.name}'s serial port runs at {board.serial['baud']} baud; MLPerf Tiny's performance "
                             f"mode needs {mlperf.BAUD}")
    if mlperf_model not in mlperf.MODELS:
        raise SparsemcuError(f"unknown MLPerf Tiny benchmark {mlperf_model!r} for an int8-input model; "
                             f"choose one of {', '.join(mlperf.MODELS)}")
    return [f'-DSMCU_MLPERF_MODEL="{mlperf_model}"', f"-DSMCU_MLPERF_INPUT_OFFSET={mlperf.MODELS[mlperf_model]}u",
            f"-DSMCU_TICKS_PER_US={mlperf.ticks_per_us(board)}", f"-DSMCU_MLPERF_EMULATED={int(board.is_qemu)}"]


def build(model_dir, board: str | Board, jobs: int | None = None, profile: bool = False, protocol: str = "sparsemcu",
          mlperf_model: str | None = None) -> BuildResult:
    """Build DIR/src for `board` into DIR/build; returns sizes. Raises SparsemcuError.
    `profile`: time every kernel call (SMCU_PROFILE; read with the PROFILE command).
    `protocol`: "sparsemcu" (default: smcu_main.c) or "mlperf" (smcu_mlperf_main.c, the MLPerf Tiny
    benchmark's UART commands; `mlperf_model` the benchmark id, default ic01).
    A build whose sources, board and flags are unchanged since the last one is not redone."""
    model_dir = Path(model_dir)
    board = get_board(board) if isinstance(board, str) else board
    if protocol == "mlperf" and mlperf_model is None:
        from sparsemcu.board_test.mlperf import DEFAULT_MODEL
        mlperf_model = DEFAULT_MODEL
    if protocol == "mlperf" and profile:
        raise SparsemcuError("--profile needs the sparsemcu protocol (its PROFILE command); the mlperf firmware has none")
    proto_defines = _protocol_defines(board, protocol, mlperf_model)
    src = model_dir / "src"
    out = model_dir / "build"
    srcs = _sources(src, board, protocol)
    inc = _includes(src, board)
    fingerprint = _fingerprint(src, board, profile, [protocol, *proto_defines])
    if (done := _up_to_date(out, fingerprint)) is not None:
        return done
    out.mkdir(parents=True, exist_ok=True)

    if board.is_host:
        exe = out / "firmware"
        cmd = [board.cc, *board.cflags, *WARNINGS, *(["-DSMCU_PROFILE"] if profile else []), *proto_defines, *inc,
               *map(str, srcs), "-o", str(exe)]
        _run(cmd, f"host build ({board.cc})")
        res = BuildResult(board=board.name, build_dir=str(out), elf=str(exe), fingerprint=fingerprint, protocol=protocol,
                          mlperf_model=mlperf_model)
        _write_result(out, res)
        return res

    objdir = out / "obj"
    if objdir.exists():
        shutil.rmtree(objdir)
    objdir.mkdir()
    defines = [f"-DSMCU_TICK_SCALE={board.tick_scale}u", f"-DSMCU_TICK_SCALE_DEN={board.tick_scale_den}u",
               *(["-DSMCU_PROFILE"] if profile else []), *proto_defines]
    cflags = [*board.cflags, *ARM_COMMON, *WARNINGS, *defines, *inc]

    def compile_one(s: Path) -> Path:
        obj = objdir / (s.stem + ".o")
        _run([board.cc, optimisation(s, src), *cflags, "-c", str(s), "-o", str(obj)],
             f"compiling {s.name} for {board.name}")
        return obj

    with ThreadPoolExecutor(max_workers=jobs or max(2, os.cpu_count() or 2)) as pool:
        objs = list(pool.map(compile_one, srcs))

    elf, map_path = out / "firmware.elf", out / "firmware.map"
    mem = out / "smcu_memory.ld"

    def link(scale: int) -> subprocess.CompletedProcess | None:
        _write_memory_ld(mem, board, scale)
        cmd = [board.cc, *board.cflags, *ARM_LINK, f"-Wl,-Map={map_path}", "-L", str(out),
               "-L", str(boards_dir() / "_common"), "-T", str(board.path / "linker.ld"),
               *board.ldflags, *map(str, objs), "-o", str(elf)]
        return _run(cmd, f"linking for {board.name}")

    res = BuildResult(board=board.name, build_dir=str(out), elf=str(elf), map=str(map_path), fingerprint=fingerprint,
                      protocol=protocol, mlperf_model=mlperf_model)
    # Link with roomy memory first to measure, then check the board's limits ourselves
    # (clear numbers), then link for real with the board's limits.
    link(64)
    _measure(res, board, elf, map_path)
    problems = []
    if res.flash_bytes > res.flash_available:
        problems.append(f"flash {res.flash_bytes:,} B needed (model {res.model_flash_bytes:,} B) > {res.flash_available:,} B available")
    if res.ram_bytes > res.ram_available:
        problems.append(f"RAM {res.ram_bytes:,} B needed (model/arena {res.model_ram_bytes:,} B + other static "
                        f"{res.static_bytes - res.model_ram_bytes:,} B + stack {res.stack_bytes:,} B) > {res.ram_available:,} B available")
    if problems:
        _write_result(out, res, fits=False)
        for p in (elf, map_path):
            p.unlink(missing_ok=True)
        raise DoesNotFitError(f"model does not fit on {board.name}: " + "; ".join(problems))
    link(1)
    _measure(res, board, elf, map_path)
    binf, hexf = out / "firmware.bin", out / "firmware.hex"
    _run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(binf)], "objcopy (bin)")
    _run(["arm-none-eabi-objcopy", "-O", "ihex", str(elf), str(hexf)], "objcopy (hex)")
    res.bin, res.hex = str(binf), str(hexf)
    _write_result(out, res)
    return res


def _write_result(out: Path, res: BuildResult, fits: bool = True) -> None:
    d = res.to_dict()
    d["fits"] = fits
    (out / "build.json").write_text(json.dumps(d, indent=2) + "\n")
