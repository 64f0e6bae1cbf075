"""Board registry: firmware_templates/boards/<name>/board.json."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sparsemcu.errors import SparsemcuError


def templates_dir() -> Path:
    """The firmware_templates folder (kernels/, runtime/, boards/, model/)."""
    from sparsemcu.firmware_templates import root
    return root()


def boards_dir() -> Path:
    return templates_dir() / "boards"


def runtime_dir() -> Path:
    return templates_dir() / "runtime"


@dataclass
class Board:
    name: str
    kind: str  # "host" | "qemu" | "mcu"
    path: Path
    description: str = ""
    cc: str = "arm-none-eabi-gcc"
    cpu: str | None = None
    cflags: list[str] = field(default_factory=list)
    ldflags: list[str] = field(default_factory=list)
    clock_hz: int = 0
    tick_unit: str = "cycles"
    tick_scale: int = 1  # ticks x tick_scale / tick_scale_den = tick_unit (board.json: 40 or "125/21")
    tick_scale_den: int = 1
    flash: dict | None = None  # {"origin": int, "size": int}
    ram: dict | None = None
    stack_bytes: int = 0
    serial: dict = field(default_factory=dict)
    qemu: dict | None = None
    flash_tools: dict | None = None
    raw: dict = field(default_factory=dict)

    @property
    def is_host(self) -> bool:
        return self.kind == "host"

    @property
    def is_qemu(self) -> bool:
        return self.kind == "qemu"

    @property
    def flash_size(self) -> int:
        return int(self.flash["size"]) if self.flash else 0

    @property
    def ram_size(self) -> int:
        return int(self.ram["size"]) if self.ram else 0


def _int(v) -> int:
    return int(v, 0) if isinstance(v, str) else int(v)


def _fraction(v, where: str) -> tuple[int, int]:
    """board.json's tick_scale: an integer, or "num/den" where a tick is not a whole number of units."""
    try:
        num, _, den = str(v).partition("/")
        n, d = _int(num.strip()), _int(den.strip() or "1")
    except ValueError:
        n = d = 0
    if n <= 0 or d <= 0:
        raise SparsemcuError(f"{where}: tick_scale {v!r} is not a positive integer or fraction like \"125/21\"")
    return n, d


def load_board(path: Path) -> Board:
    raw = json.loads((path / "board.json").read_text())
    scale, scale_den = _fraction(raw.get("tick_scale", 1), str(path / "board.json"))
    mem = {}
    for key in ("flash", "ram"):
        m = raw.get(key)
        mem[key] = {"origin": _int(m["origin"]), "size": _int(m["size"])} if m else None
    return Board(
        name=raw["name"], kind=raw["kind"], path=path, description=raw.get("description", ""),
        cc=raw.get("cc", "arm-none-eabi-gcc"), cpu=raw.get("cpu"), cflags=list(raw.get("cflags", [])),
        ldflags=list(raw.get("ldflags", [])), clock_hz=_int(raw.get("clock_hz", 0)),
        tick_unit=raw.get("tick_unit", "cycles"), tick_scale=scale, tick_scale_den=scale_den,
        flash=mem["flash"], ram=mem["ram"], stack_bytes=_int(raw.get("stack_bytes", 0)),
        serial=raw.get("serial", {}), qemu=raw.get("qemu"), flash_tools=raw.get("flash_tools"), raw=raw)


def list_boards() -> list[str]:
    return sorted(p.name for p in boards_dir().iterdir() if (p / "board.json").is_file())


def get_board(name: str) -> Board:
    path = boards_dir() / name
    if not (path / "board.json").is_file():
        raise SparsemcuError(f"unknown board {name!r}; boards: {', '.join(list_boards())}")
    return load_board(path)
