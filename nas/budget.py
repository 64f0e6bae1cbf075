"""The model's budget on a board: flash, RAM (arena) and latency, as Optuna constraints.

Flash and RAM are the board's memories minus what the firmware needs besides the model, measured
from a real firmware build (`nas/reserve.py`); latency is the exporter's predicted instructions
(the kernel cost model, `export/cost.py`) at the board's clock.
"""
from __future__ import annotations

from dataclasses import dataclass

# Without a cost-model prediction (a kernel the model does not know) a MAC costs about this many
# instructions on a Cortex-M (int8 reference kernels: load, widen, multiply-accumulate).
INSTRUCTIONS_PER_MAC = 2.0


@dataclass
class Budget:
    max_flash: int | None = None
    max_ram: int | None = None
    source: str = ""
    max_latency_ms: float | None = None
    clock_hz: int | None = None  # converts predicted instructions into milliseconds

    def constraints(self, flash: int, ram: int, latency_ms: float | None = None) -> list[float]:
        """Optuna convention: feasible iff every value <= 0 (flash, RAM, then latency if budgeted)."""
        c = [float(flash - self.max_flash) if self.max_flash else -1.0,
             float(ram - self.max_ram) if self.max_ram else -1.0]
        if self.max_latency_ms:
            c.append(float(latency_ms) - self.max_latency_ms if latency_ms is not None else 0.0)
        return c

    def feasible(self, flash: int, ram: int, latency_ms: float | None = None) -> bool:
        return all(c <= 0 for c in self.constraints(flash, ram, latency_ms))

    def to_dict(self) -> dict:
        d = {"max_flash": self.max_flash, "max_ram": self.max_ram, "source": self.source}
        if self.max_latency_ms or self.clock_hz:
            d.update(max_latency_ms=self.max_latency_ms, clock_hz=self.clock_hz)
        return d


def latency_ms(footprint: dict, clock_hz: int | None) -> float | None:
    """Predicted milliseconds of one inference: cost-model instructions (MACs x INSTRUCTIONS_PER_MAC
    where the model predicts nothing) at one instruction per cycle of `clock_hz`."""
    if not clock_hz:
        return None
    instr = footprint.get("predicted_instructions") or INSTRUCTIONS_PER_MAC * float(footprint.get("macs", 0))
    return 1000.0 * float(instr) / float(clock_hz)


def board_budget(name: str, measure: bool = True) -> Budget:
    """The model's share of a board's memories: flash - (runtime + kernels), RAM - (runtime statics + stack),
    both from a firmware build for the board (cached; `measure=False` or no toolchain: the board.json
    stack and nothing else is reserved, and the source says so)."""
    from sparsemcu.firmware.boards import get_board

    from .reserve import runtime_reserve
    b = get_board(name)  # an unknown board is a one-line SparsemcuError
    flash, ram = b.flash_size or None, b.ram_size or None
    clock = int(getattr(b, "clock_hz", 0) or 0) or None
    if not flash and not ram:
        return Budget(None, None, f"board {name}: no memory limits", clock_hz=clock)
    r = runtime_reserve(b, measure=measure)
    return Budget(flash - r.flash_bytes if flash else None, ram - r.ram_bytes if ram else None,
                  f"board {name}: flash {flash} B - {r.flash_bytes} B firmware; RAM {ram} B - {r.ram_bytes} B "
                  f"firmware ({r.source})", clock_hz=clock)
