"""`sparsemcu build`: every board builds with -Werror, sizes come from the ELF/map, a model that
does not fit fails with the numbers, the nucleo_f746 ELF has its vector table at 0x08000000,
and its clock/UART/cache/DWT setup writes the right register values in the right order
(compiled natively against a fake register block)."""
from __future__ import annotations

import json
import struct
import subprocess

import pytest

from sparsemcu.board_test import dummy
from sparsemcu.board_test import ci
from sparsemcu.cli import main as cli_main
from sparsemcu.errors import DoesNotFitError, SparsemcuError
from sparsemcu.firmware import build, get_board, list_boards, templates_dir

ARM_BOARDS = ["qemu_mps2_an500", "qemu_mps2_an386", "nucleo_f746"]
needs_arm = ci.needs("arm-none-eabi-gcc")  # CI=true: missing = failure, not a skip


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return dummy.write_dummy_model(tmp_path_factory.mktemp("fw") / "m", "ok")


def test_board_registry():
    names = list_boards()
    assert {"host", *ARM_BOARDS} <= set(names)
    for name in names:
        b = get_board(name)
        assert b.name == name
        if not b.is_host:
            assert b.flash_size == 1024 * 1024 and b.ram_size == 320 * 1024  # the Nucleo-F746's limits
            assert b.cpu in ("cortex-m7", "cortex-m4") and b.stack_bytes > 0
            assert (b.path / "linker.ld").is_file()
    with pytest.raises(SparsemcuError, match="unknown board"):
        get_board("nope")


def test_host_build(model_dir):
    res = build(model_dir, "host")
    assert (model_dir / "build" / "firmware").is_file()
    assert json.loads((model_dir / "build" / "build.json").read_text())["board"] == "host"
    assert res.elf.endswith("firmware")


@needs_arm
@pytest.mark.parametrize("board", ARM_BOARDS)
def test_arm_build_outputs_and_sizes(model_dir, board):
    res = build(model_dir, board)
    out = model_dir / "build"
    for f in ("firmware.elf", "firmware.bin", "firmware.hex", "firmware.map", "build.json"):
        assert (out / f).is_file(), f
    b = get_board(board)
    size = subprocess.run(["arm-none-eabi-size", "-A", "-d", res.elf], capture_output=True, text=True, check=True).stdout
    secs = {ln.split()[0]: int(ln.split()[1]) for ln in size.splitlines() if ln.startswith(".")}
    assert res.flash_bytes == secs[".isr_vector"] + secs[".text"] + secs[".rodata"] + secs.get(".data", 0) \
        + secs.get(".ARM.exidx", 0) + secs.get(".init_array", 0) + secs.get(".fini_array", 0) + secs.get(".preinit_array", 0)
    assert res.stack_bytes >= b.stack_bytes
    assert res.static_bytes >= 128  # the dummy's arena
    assert res.model_ram_bytes == 128  # arena in model.o's .bss, from the map file
    assert 0 < res.model_flash_bytes < res.flash_bytes
    assert res.flash_available == 1 << 20 and res.ram_available == 320 << 10
    # the .bin starts with the vector table: initial SP at the top of the stack, Thumb reset vector
    sp, reset = struct.unpack("<II", (out / "firmware.bin").read_bytes()[:8])
    ram0, flash0 = b.ram["origin"], b.flash["origin"]
    assert ram0 < sp <= ram0 + b.ram_size and sp % 8 == 0
    assert flash0 <= reset < flash0 + b.flash_size and reset & 1


@needs_arm
def test_nucleo_vector_table_at_0x08000000(model_dir):
    res = build(model_dir, "nucleo_f746")
    hdr = subprocess.run(["arm-none-eabi-readelf", "-S", res.elf], capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in hdr.splitlines() if ".isr_vector" in ln)
    assert int(line.split()[line.split().index("PROGBITS") + 1], 16) == 0x08000000
    syms = subprocess.run(["arm-none-eabi-nm", res.elf], capture_output=True, text=True, check=True).stdout
    addr = {ln.split()[2]: int(ln.split()[0], 16) for ln in syms.splitlines() if len(ln.split()) == 3}
    assert addr["smcu_vectors"] == 0x08000000
    assert addr["_estack"] <= 0x20000000 + 320 * 1024
    ent = subprocess.run(["arm-none-eabi-readelf", "-h", res.elf], capture_output=True, text=True, check=True).stdout
    entry = int(next(ln for ln in ent.splitlines() if "Entry point" in ln).split()[-1], 16)
    assert entry & ~1 == addr["Reset_Handler"] and 0x08000000 <= entry < 0x08100000
    # the Intel HEX image starts at 0x0800xxxx too (extended linear address record 0x0800)
    assert ":020000040800F2" in (model_dir / "build" / "firmware.hex").read_text()


@needs_arm
def test_model_that_does_not_fit(tmp_path):
    d = dummy.write_dummy_model(tmp_path / "big", "big")
    with pytest.raises(DoesNotFitError) as e:
        build(d, "qemu_mps2_an500")
    msg = str(e.value)
    assert "does not fit on qemu_mps2_an500" in msg and "327,680 B available" in msg and "2,097,152" in msg
    assert "\n" not in msg
    assert not (d / "build" / "firmware.elf").exists()
    assert json.loads((d / "build" / "build.json").read_text())["fits"] is False
    # the host board has no limits
    build(d, "host")


@needs_arm
def test_warnings_are_errors(tmp_path):
    d = dummy.write_dummy_model(tmp_path / "w", "ok")
    src = d / "src" / "model.c"
    src.write_text(src.read_text() + "\nstatic int unused_fn(void) { int x; return 1; }\n")
    with pytest.raises(SparsemcuError, match="compiling model.c for qemu_mps2_an500 failed"):
        build(d, "qemu_mps2_an500")


def test_missing_model_sources(tmp_path):
    with pytest.raises(SparsemcuError, match="no model.c/model.h"):
        build(tmp_path, "host")


@needs_arm
def test_cli_build(model_dir, capsys):
    assert cli_main(["build", str(model_dir), "--board", "qemu_mps2_an386"]) == 0
    out = capsys.readouterr().out
    assert "qemu_mps2_an386: flash" in out and "firmware.elf" in out


# ---------------------------------------------------------------- nucleo register values
FAKE_REGS_C = r"""
#include <stdio.h>
#include <stdint.h>
#include "stm32f746_regs.h"

#define N 64
static uint32_t addr_[N], val_[N], shadow_[N];
static int used_;
static int log_n_;

static int slot(uint32_t a) {
  int i;
  for (i = 0; i < used_; i++) if (addr_[i] == a) return i;
  addr_[used_] = a; val_[used_] = 0; shadow_[used_] = 0;
  if (a == 0xE000ED80u) val_[used_] = shadow_[used_] = 0xF003E019u; /* CCSIDR of the F7 D-cache: 4 ways x 32 sets x 32 B = 4 KB */
  if (a == 0x4000481Cu) val_[used_] = shadow_[used_] = 0x80u;        /* USART3 ISR: TXE */
  return used_++;
}

static void log_writes(void) {
  int i;
  for (i = 0; i < used_; i++) if (val_[i] != shadow_[i]) {
    printf("W %d 0x%08x 0x%08x\n", log_n_++, addr_[i], val_[i]);
    shadow_[i] = val_[i];
  }
}

static void hardware(void) { /* what the hardware does when it sees the enable bits */
  int cr = slot(0x40023800u), csr = slot(0x40007004u), pcr = slot(0x40007000u), cfgr = slot(0x40023808u);
  if (val_[cr] & (1u << 16)) val_[cr] |= 1u << 17;
  if (val_[cr] & (1u << 24)) val_[cr] |= 1u << 25;
  if (val_[pcr] & (1u << 16)) val_[csr] |= 1u << 16;
  if (val_[pcr] & (1u << 17)) val_[csr] |= 1u << 17;
  val_[cfgr] = (val_[cfgr] & ~0xCu) | ((val_[cfgr] & 3u) << 2);
  shadow_[cr] = val_[cr]; shadow_[csr] = val_[csr]; shadow_[cfgr] = val_[cfgr];
}

static int dcisw_writes_;
volatile uint32_t *smcu_fake_reg(uint32_t a) {
  int s;
  log_writes();
  hardware();
  s = slot(a);
  if (a == 0xE000EF60u) dcisw_writes_++;
  return (volatile uint32_t *)&val_[s];
}

int main(void) {
  int i;
  nucleo_clock_init();
  nucleo_cache_enable();
  nucleo_uart_init();
  nucleo_cycle_counter_init();
  log_writes();
  for (i = 0; i < used_; i++) printf("R 0x%08x 0x%08x\n", addr_[i], val_[i]);
  printf("D %d\n", dcisw_writes_);
  printf("C %u\n", (unsigned)SYSCLK_HZ);
  return 0;
}
"""


@pytest.fixture(scope="module")
def nucleo_regs(tmp_path_factory):
    d = tmp_path_factory.mktemp("fake_regs")
    (d / "main.c").write_text(FAKE_REGS_C)
    bdir = templates_dir() / "boards" / "nucleo_f746"
    exe = d / "regs"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-DSMCU_FAKE_REGS", "-I", str(bdir),
                    str(d / "main.c"), str(bdir / "clock.c"), "-o", str(exe)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=10).stdout
    final, writes, other = {}, [], {}
    for ln in out.splitlines():
        k, *v = ln.split()
        if k == "R":
            final[int(v[0], 16)] = int(v[1], 16)
        elif k == "W":
            writes.append((int(v[1], 16), int(v[2], 16)))
        else:
            other[k] = int(v[0])
    return final, writes, other


def _first_write(writes, addr, pred):
    return next(i for i, (a, v) in enumerate(writes) if a == addr and pred(v))


RCC_CR, RCC_PLLCFGR, RCC_CFGR, PWR_CR1, FLASH_ACR = 0x40023800, 0x40023804, 0x40023808, 0x40007000, 0x40023C00


def test_nucleo_pll_gives_216_mhz_from_hse_bypass(nucleo_regs):
    final, writes, other = nucleo_regs
    pll = final[RCC_PLLCFGR]
    m, n, p, q = pll & 0x3F, (pll >> 6) & 0x1FF, 2 * (((pll >> 16) & 3) + 1), (pll >> 24) & 0xF
    assert pll & (1 << 22), "PLL source must be HSE"
    hse = 8_000_000
    assert 1e6 <= hse / m <= 2e6  # VCO input 1..2 MHz
    assert 100e6 <= hse / m * n <= 432e6  # VCO output range
    assert hse / m * n / p == 216e6 == other["C"] == get_board("nucleo_f746").clock_hz
    assert hse / m * n / q == 48e6
    cr = final[RCC_CR]
    assert cr & (1 << 18) and cr & (1 << 16) and cr & (1 << 24)  # HSEBYP, HSEON, PLLON
    # bypass is set before the oscillator is switched on
    assert _first_write(writes, RCC_CR, lambda v: v & (1 << 18)) <= _first_write(writes, RCC_CR, lambda v: v & (1 << 16))


def test_nucleo_overdrive_and_wait_states_before_switch(nucleo_regs):
    final, writes, _ = nucleo_regs
    assert (final[PWR_CR1] >> 14) & 3 == 3  # voltage scale 1
    assert final[PWR_CR1] & (1 << 16) and final[PWR_CR1] & (1 << 17)  # ODEN, ODSWEN
    assert final[FLASH_ACR] & 0xF == 7
    assert final[FLASH_ACR] & (1 << 8) and final[FLASH_ACR] & (1 << 9)  # prefetch, ART
    cfgr = final[RCC_CFGR]
    assert cfgr & 3 == 2 and (cfgr >> 2) & 3 == 2  # SW = SWS = PLL
    assert (cfgr >> 4) & 0xF == 0  # AHB /1
    apb1 = 216e6 / {0: 1, 4: 2, 5: 4, 6: 8, 7: 16}[(cfgr >> 10) & 7]
    apb2 = 216e6 / {0: 1, 4: 2, 5: 4, 6: 8, 7: 16}[(cfgr >> 13) & 7]
    assert apb1 == 54e6 and apb2 == 108e6  # at their maxima (54 / 108 MHz)
    switch = _first_write(writes, RCC_CFGR, lambda v: v & 3 == 2)
    assert _first_write(writes, FLASH_ACR, lambda v: v & 0xF == 7) < switch
    assert _first_write(writes, PWR_CR1, lambda v: v & (1 << 17)) < switch  # over-drive switched before
    assert _first_write(writes, PWR_CR1, lambda v: v & (1 << 16)) < _first_write(writes, PWR_CR1, lambda v: v & (1 << 17))
    assert _first_write(writes, RCC_CR, lambda v: v & (1 << 24)) < _first_write(writes, PWR_CR1, lambda v: v & (1 << 16))


def test_nucleo_usart3_pd8_pd9_115200(nucleo_regs):
    final, writes, _ = nucleo_regs
    moder, afrh = final[0x40020C00], final[0x40020C24]
    assert (moder >> 16) & 3 == 2 and (moder >> 18) & 3 == 2  # PD8, PD9 alternate function
    assert afrh & 0xF == 7 and (afrh >> 4) & 0xF == 7  # AF7 = USART3
    assert final[0x40023830] & (1 << 3)  # GPIODEN
    assert final[0x40023840] & (1 << 18) and final[0x40023840] & (1 << 28)  # USART3EN, PWREN
    brr = final[0x4000480C]
    assert abs(54e6 / brr - 115200) / 115200 < 0.005
    assert final[0x40004800] == (1 << 0) | (1 << 2) | (1 << 3)  # UE, RE, TE
    assert _first_write(writes, 0x4000480C, lambda v: v) < _first_write(writes, 0x40004800, lambda v: v & 1)


def test_nucleo_caches_and_cycle_counter(nucleo_regs):
    final, _, other = nucleo_regs
    assert final[0xE000ED14] & (1 << 16) and final[0xE000ED14] & (1 << 17)  # DC, IC
    assert other["D"] == 4 * 32  # every set/way invalidated
    assert final[0xE000EDFC] & (1 << 24)  # TRCENA
    assert final[0xE0001FB0] == 0xC5ACCE55 and final[0xE0001000] & 1


@needs_arm
@pytest.mark.parametrize("board", ["qemu_mps2_an500", "qemu_mps2_an386"])
def test_every_kernel_compiles_for_arm_with_werror(board, tmp_path):
    """All int8 kernels (not only those a given model uses) build with the board's flags."""
    from sparsemcu.firmware.build import ARM_COMMON, KERNEL_OPT, WARNINGS
    b = get_board(board)
    kdir = templates_dir() / "kernels"
    failures = []
    for src in sorted(kdir.glob("*.c")):
        p = subprocess.run([b.cc, KERNEL_OPT, *b.cflags, *ARM_COMMON, *WARNINGS, "-I", str(kdir), "-c", str(src),
                            "-o", str(tmp_path / (src.stem + ".o"))], capture_output=True, text=True)
        if p.returncode:
            failures.append(f"{src.name}: {p.stderr.strip().splitlines()[0] if p.stderr.strip() else p.returncode}")
    assert not failures, failures


@needs_arm
def test_unchanged_build_is_reused_and_a_change_rebuilds(tmp_path):
    """`make deploy` runs `build` then `deploy`: the second build of the same sources, board and flags
    returns the first one's result without compiling; changing a source or an output rebuilds."""
    d = dummy.write_dummy_model(tmp_path / "m", "ok")
    first = build(d, "qemu_mps2_an500")
    elf = d / "build" / "firmware.elf"
    stamp = elf.stat().st_mtime_ns
    again = build(d, "qemu_mps2_an500")
    assert again.reused and not first.reused
    assert elf.stat().st_mtime_ns == stamp and again.flash_bytes == first.flash_bytes
    assert not build(d, "qemu_mps2_an386").reused  # another board
    model_c = d / "src" / "model.c"
    model_c.write_text(model_c.read_text() + "\n/* changed */\n")
    changed = build(d, "qemu_mps2_an386")
    assert not changed.reused and changed.fingerprint != first.fingerprint
    assert build(d, "qemu_mps2_an386").reused
    elf.unlink()  # an output gone: rebuilt
    assert not build(d, "qemu_mps2_an386").reused
