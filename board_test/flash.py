"""Flashing real boards and finding their serial port (ST-LINK virtual COM port)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from sparsemcu.errors import SparsemcuError
from sparsemcu.firmware.boards import Board

from .protocol import PortNotFound


class FlashError(SparsemcuError):
    pass


def tool_path(name: str) -> str | None:
    """Where a flashing tool is: on PATH, or beside the running Python (pyocd lives in the venv's
    bin/, which is not on PATH when .venv/bin/sparsemcu is run without activating the venv)."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def flash_commands(board: Board, elf: Path, binf: Path, hexf: Path) -> list[tuple[str, list[str]]]:
    """Candidate (tool, argv) pairs in board.json `flash_tools` order (its order is the preference)."""
    subst = {"elf": str(elf), "bin": str(binf), "hex": str(hexf),
             "origin": f"0x{board.flash['origin']:08x}" if board.flash else "0x08000000"}
    return [(tool, [a.format(**subst) for a in argv]) for tool, argv in (board.flash_tools or {}).items()]


def find_flasher(board: Board, elf: Path, binf: Path, hexf: Path) -> tuple[str, list[str]]:
    """The first installed tool of board.json's list, with its argv (argv[0] the tool's full path)."""
    cands = flash_commands(board, elf, binf, hexf)
    for tool, argv in cands:
        path = tool_path(argv[0])
        if path:
            return tool, [path, *argv[1:]]
    names = ", ".join(t for t, _ in cands) or "none configured"
    raise FlashError(f"no flashing tool installed for {board.name} (tried {names}; Debian: stlink-tools or openocd, "
                     f"PyPI: pyocd; `make setup` installs them)")


def flash(board: Board, elf: Path, binf: Path, hexf: Path, timeout: float = 120.0) -> str:
    tool, argv = find_flasher(board, elf, binf, hexf)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FlashError(f"{tool} timed out after {timeout:.0f} s flashing {board.name}") from None
    except OSError as exc:
        raise FlashError(f"{tool} could not be started ({argv[0]}: {exc.strerror or exc})") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        causes = ("error", "couldn't", "could not", "no connected", "failed", "not found")
        err = next((ln for ln in lines if any(c in ln.lower() for c in causes)),
                   lines[-1] if lines else f"exit code {proc.returncode}")
        hint = "board connected?"
        if tool == "pyocd" and "not recognized" in err and "--target" in argv[:-1]:
            target = argv[argv.index("--target") + 1]
            hint = f"install its CMSIS device pack once: pyocd pack install {target} (needs network)"
        raise FlashError(f"{tool} failed to flash {board.name}: {err} ({hint})")
    return tool


def usb_ids(board: Board) -> tuple[int | None, set[int]]:
    """The USB vendor and product ids of the board's serial port, as board.json `serial` states them."""
    vid = board.serial.get("usb_vid")
    return (int(vid, 0) if isinstance(vid, str) else vid), {int(p, 0) if isinstance(p, str) else int(p)
                                                            for p in board.serial.get("usb_pids", [])}


def find_port(board: Board) -> str:
    """The board's serial port: the USB device with board.json's vendor/product ids (the ST-LINK
    virtual COM port on the Nucleo boards), or one that names itself ST-LINK."""
    from serial.tools import list_ports

    vid, pids = usb_ids(board)
    matches = []
    for p in list_ports.comports():
        desc = f"{p.description or ''} {p.manufacturer or ''} {p.product or ''}".lower()
        if (vid is not None and p.vid == vid and (p.pid in pids or p.pid is None)) or "stlink" in desc or "st-link" in desc:
            matches.append(p.device)
    if not matches:
        raise PortNotFound(f"no ST-LINK virtual COM port found for {board.name} (board not connected?); give --port")
    return sorted(matches)[0]
