"""What the firmware needs besides the model, measured from a real build for the board.

A probe model using every kind of layer the search builds (conv, 1x1 conv, depthwise, max and
average pooling, dense, global pooling) is exported with the speed policy (the largest kernel
variants a balanced export links) and built by `sparsemcu.firmware.build`:

  flash reserve = firmware flash - the probe's model flash (`footprint`): runtime, startup,
                  board support and kernel code;
  RAM reserve   = static RAM that is not the model's arena + the stack the linker reserves
                  (board.json); the stack high-water of the probe running on the emulated twin
                  of the board's core (QEMU, painted-stack method) is recorded next to it.

The result is cached per board and firmware sources in CACHE_DIR (a changed runtime, kernel or
board file is measured again). Without the Arm toolchain the reserve falls back to the assumed
FALLBACK_* figures and says so.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

CACHE_DIR = Path(os.environ.get("SPARSEMCU_CACHE", Path.home() / ".cache" / "sparsemcu")) / "reserve"
FALLBACK_FLASH = 64 * 1024  # assumed runtime + kernels when no firmware can be built
FALLBACK_RAM = 4 * 1024     # assumed runtime statics (plus the board's stack)
PROBE_SAMPLES = 2           # inferences run on the emulator to measure the stack


@dataclass
class Reserve:
    flash_bytes: int
    ram_bytes: int
    source: str
    stack_reserved: int = 0
    stack_high_water: int | None = None
    measured: bool = False


def _fingerprint(board) -> str:
    from sparsemcu.firmware.boards import templates_dir
    h = hashlib.sha256(board.name.encode())
    root = templates_dir()
    for sub in ("runtime", "kernels", "boards/_common", f"boards/{board.name}"):
        for p in sorted((root / sub).rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(root)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _assumed(board, why: str) -> Reserve:
    stack = int(board.stack_bytes or 0)
    return Reserve(FALLBACK_FLASH, FALLBACK_RAM + stack,
                   f"assumed, not measured ({why}): {FALLBACK_FLASH} B flash, {FALLBACK_RAM} B + {stack} B stack",
                   stack_reserved=stack)


def probe_tflite() -> bytes:
    """A small int8 model with every layer kind the search builds (random weights: only sizes matter)."""
    import numpy as np

    from sparsemcu.export.quantize import keras_to_int8_tflite
    from sparsemcu.tf import keras as _keras
    keras = _keras()
    L = keras.layers
    keras.utils.set_random_seed(0)
    m = keras.Sequential([L.Input((16, 16, 1)), L.Conv2D(8, 3, padding="same", activation="relu"),
                          L.MaxPooling2D(2), L.DepthwiseConv2D(3, padding="same", activation="relu"),
                          L.Conv2D(8, 1, activation="relu"), L.AveragePooling2D(2),
                          L.Conv2D(8, 5, padding="same", activation="relu"), L.Flatten(),
                          L.Dense(16, activation="relu"), L.Dense(10)])
    return keras_to_int8_tflite(m, np.random.default_rng(0).random((16, 16, 16, 1), np.float32))


def _twin(board):
    """The emulated board with the same core (itself if it is emulated), or None."""
    from sparsemcu.firmware.boards import get_board, list_boards
    if board.is_qemu:
        return board
    for name in list_boards():
        b = get_board(name)
        if b.is_qemu and b.cpu == board.cpu:
            return b
    return None


def _stack_high_water(model_dir: Path, board) -> int | None:
    twin = _twin(board)
    if twin is None or shutil.which((twin.qemu or {}).get("binary", "qemu-system-arm")) is None:
        return None
    from sparsemcu.deploy import deploy
    try:
        rep = deploy(model_dir, twin, limit=PROBE_SAMPLES, progress=False, check=False)
    except Exception:  # the stack figure is informative: a failed emulator run leaves it unknown
        return None
    return (rep.get("ram") or {}).get("stack_bytes")


def measure_reserve(board) -> Reserve:
    from sparsemcu.export.pipeline import Options, export_model, footprint
    from sparsemcu.firmware.build import build
    tfl = probe_tflite()
    opts = Options(optimize="speed", core=board.cpu or Options.core)
    with tempfile.TemporaryDirectory(prefix="smcu-reserve-") as tmp:
        export_model(tfl, tmp, name="probe", options=opts)
        res = build(tmp, board)
        model_flash = int(footprint(tfl, opts)["flash_bytes"])
        other_static = int(res.static_bytes - res.model_ram_bytes)
        high = _stack_high_water(Path(tmp), board)
    flash = int(res.flash_bytes - model_flash)
    stack = int(res.stack_bytes or board.stack_bytes or 0)
    hw = f", stack high-water {high} B of it" if high else ""
    return Reserve(flash, other_static + stack,
                   f"measured on a {board.name} firmware build: runtime + kernels {flash} B flash; "
                   f"{other_static} B static RAM + {stack} B stack{hw}",
                   stack_reserved=stack, stack_high_water=high, measured=True)


def runtime_reserve(board, measure: bool = True) -> Reserve:
    """The board's reserve: cached, else measured (if `measure`), else the assumed fallback."""
    if board.is_host:
        return Reserve(0, 0, "host: no reserve", measured=True)
    key = CACHE_DIR / f"{board.name}-{_fingerprint(board)}.json"
    if key.is_file():
        try:
            return Reserve(**json.loads(key.read_text()))
        except (ValueError, TypeError):
            pass
    if not measure:
        return _assumed(board, "measuring disabled")
    if shutil.which(board.cc) is None:
        return _assumed(board, f"{board.cc} not found")
    from sparsemcu.errors import SparsemcuError
    try:
        r = measure_reserve(board)
    except SparsemcuError as exc:
        return _assumed(board, f"firmware build failed: {str(exc).splitlines()[0]}")
    try:
        key.parent.mkdir(parents=True, exist_ok=True)
        tmp = key.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(r), indent=1))
        os.replace(tmp, key)
    except OSError:  # an unwritable cache only costs a measurement next time
        pass
    return r
