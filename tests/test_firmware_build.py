"""`sparsemcu build`: every board builds with -Werror, sizes come from the ELF/map, a model that
does not fit fails with the numbers, the nucleo_f746 ELF has its vector table at 0x08000000,
and its clock/UART/cache/DWT setup writes the right register values in the right order
(compiled natively against a fake register block)."""
from __future__ import annotations

import json
import struct
import subprocess

import numpy as np
import pytest

from sparsemcu.board_test import dummy
from sparsemcu.board_test import ci
from sparsemcu.cli import main as cli_main
from sparsemcu.errors import DoesNotFitError, SparsemcuError
from sparsemcu.firmware import build, get_board, list_boards, templates_dir

ARM_BOARDS = ["qemu_mps2_an500", "qemu_mps2_an386", "nucleo_f746", "qemu_netduinoplus2", "qemu_microbit"]
# Each board's memories (flash, RAM at 0x20000000) and core, from its datasheet: what board.json must say.
KB = 1024
REAL = {
    "nucleo_f746": (1024 * KB, 320 * KB, "cortex-m7"),  # STM32F746ZG: 1 MB flash, 64 KB DTCM + 240 + 16 KB SRAM
    "qemu_mps2_an500": (1024 * KB, 320 * KB, "cortex-m7"),  # linked with the Nucleo-F746's limits
    "qemu_mps2_an386": (1024 * KB, 320 * KB, "cortex-m4"),  # likewise
    "qemu_netduinoplus2": (1024 * KB, 128 * KB, "cortex-m4"),  # STM32F405RG: 1 MB flash, 112 + 16 KB SRAM (CCM unused)
    "qemu_microbit": (256 * KB, 16 * KB, "cortex-m0"),  # nRF51822-QFAA on the micro:bit v1
}
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
            assert (b.flash_size, b.ram_size, b.cpu) == REAL[name]
            assert b.ram["origin"] == 0x20000000 and 0 < b.stack_bytes < b.ram_size // 4
            assert f"-mcpu={b.cpu}" in b.cflags
            assert (b.path / "linker.ld").is_file()
        if b.is_qemu:  # emulated instructions, scaled from the board's timer exactly
            assert b.tick_unit == "emulated_instructions" and b.tick_scale >= 1 and b.tick_scale_den >= 1
            assert "shift=0" in b.qemu["args"]
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
    assert (res.flash_available, res.ram_available) == REAL[board][:2]
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


# ---------------------------------------------------------------- STM32 register values
# The clock/UART setup of nucleo_f746 and qemu_netduinoplus2 (board clock.c + the shared
# _common/stm32_clock.c, stm32_gpio.c) compiled natively against a fake register block. With
# -DFAKE_SILICON the fake sets the ready flags the way the chip does; without it the RCC, PWR, FLASH
# and GPIO regions read 0 and ignore writes, as QEMU's unimplemented regions do.
FAKE_REGS_C = r"""
#include <stdio.h>
#include <stdint.h>
#include BOARD_HEADER

#define N 64
static uint32_t addr_[N], val_[N], shadow_[N];
static int used_;
static int log_n_;
static uint32_t dead_;   /* what an unimplemented region gives: reads 0, writes vanish */
static long rcc_cr_reads_;
#ifdef FAKE_SILICON
static const int silicon_ = 1;
#else
static const int silicon_ = 0;
#endif

static int dead_region(uint32_t a) {
#ifdef FAKE_SILICON
  (void)a;
  return 0;
#else
  return (a >= 0x40023800u && a < 0x40024000u) || (a >= 0x40007000u && a < 0x40007400u) ||
         (a >= 0x40020000u && a < 0x40022400u);
#endif
}

static int slot(uint32_t a) {
  int i;
  for (i = 0; i < used_; i++) if (addr_[i] == a) return i;
  addr_[used_] = a; val_[used_] = 0; shadow_[used_] = 0;
  if (a == 0xE000ED80u) val_[used_] = shadow_[used_] = 0xF003E019u; /* CCSIDR of the F7 D-cache: 4 ways x 32 sets x 32 B = 4 KB */
  if (a == 0x4000481Cu) val_[used_] = shadow_[used_] = 0x80u;        /* USART3 ISR: TXE */
  if (a == 0x40011000u) val_[used_] = shadow_[used_] = 0xC0u;        /* USART1 SR: TXE, TC */
  return used_++;
}

static void log_writes(void) {
  int i;
  for (i = 0; i < used_; i++) if (val_[i] != shadow_[i]) {
    printf("W %d 0x%08x 0x%08x\n", log_n_++, addr_[i], val_[i]);
    shadow_[i] = val_[i];
  }
}

static void hardware(void) { /* what the silicon does when it sees the enable bits */
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
  if (a == 0x40023800u) rcc_cr_reads_++;
  if (dead_region(a)) {
    dead_ = 0;
    return (volatile uint32_t *)&dead_;
  }
  if (silicon_) hardware();
  s = slot(a);
  if (a == 0xE000EF60u) dcisw_writes_++;
  return (volatile uint32_t *)&val_[s];
}

int main(void) {
  int i;
  BOARD_SETUP;
  log_writes();
  for (i = 0; i < used_; i++) printf("R 0x%08x 0x%08x\n", addr_[i], val_[i]);
  printf("D %d\n", dcisw_writes_);
  printf("C %u\n", (unsigned)SYSCLK_HZ);
  printf("S %u\n", (unsigned)stm32_clock_status);
  printf("P %ld\n", rcc_cr_reads_);
  printf("L %u\n", (unsigned)STM32_READY_POLLS);
  return 0;
}
"""

FAKE_BOARDS = {
    "nucleo_f746": ("stm32f746_regs.h", "nucleo_clock_init(); nucleo_cache_enable(); nucleo_uart_init(); "
                                         "nucleo_cycle_counter_init()"),
    "qemu_netduinoplus2": ("stm32f405_regs.h", "f405_clock_init(); f405_uart_init()"),
}
STATUS_PLL, STATUS_NO_HSE = 1, 2  # _common/stm32_clock.h


def _fake_regs(tmp_path_factory, board: str, silicon: bool):
    """(final register values, ordered writes, other figures) of the board's setup on the fake."""
    header, setup = FAKE_BOARDS[board]
    d = tmp_path_factory.mktemp(f"fake_regs_{board}")
    (d / "main.c").write_text(FAKE_REGS_C)
    boards = templates_dir() / "boards"
    bdir, common = boards / board, boards / "_common"
    exe = d / "regs"
    defines = [f'-DBOARD_HEADER="{header}"', f"-DBOARD_SETUP={setup}", *(["-DFAKE_SILICON"] if silicon else [])]
    p = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-DSMCU_FAKE_REGS", *defines, "-I", str(bdir),
                        "-I", str(common), str(d / "main.c"), str(bdir / "clock.c"), str(common / "stm32_clock.c"),
                        str(common / "stm32_gpio.c"), "-o", str(exe)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=60).stdout
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


@pytest.fixture(scope="module")
def nucleo_regs(tmp_path_factory):
    return _fake_regs(tmp_path_factory, "nucleo_f746", silicon=True)


@pytest.fixture(scope="module")
def f405_regs(tmp_path_factory):
    return _fake_regs(tmp_path_factory, "qemu_netduinoplus2", silicon=True)


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


def test_nucleo_clock_status_pll(nucleo_regs):
    assert nucleo_regs[2]["S"] == STATUS_PLL


def test_f405_pll_gives_168_mhz_from_25_mhz_crystal(f405_regs):
    final, writes, other = f405_regs
    pll = final[RCC_PLLCFGR]
    m, n, p, q = pll & 0x3F, (pll >> 6) & 0x1FF, 2 * (((pll >> 16) & 3) + 1), (pll >> 24) & 0xF
    assert pll & (1 << 22) and pll & (1 << 29)  # source HSE; reserved bit 29 at its reset value
    hse = 25_000_000  # the Netduino Plus 2's crystal
    assert 1e6 <= hse / m <= 2e6 and 100e6 <= hse / m * n <= 432e6  # VCO input and output (RM0090 7.3.2)
    assert hse / m * n / p == 168e6 == other["C"] == get_board("qemu_netduinoplus2").clock_hz
    assert hse / m * n / q == 48e6
    cr = final[RCC_CR]
    assert cr & (1 << 16) and cr & (1 << 24) and not cr & (1 << 18)  # HSEON, PLLON, a crystal (no bypass)
    assert other["S"] == STATUS_PLL


def test_f405_scale1_wait_states_and_prescalers_before_switch(f405_regs):
    final, writes, _ = f405_regs
    assert final[PWR_CR1] & (1 << 14)  # VOS scale 1 (RM0090 5.4.1)
    assert final[FLASH_ACR] & 0xF == 5  # RM0090 table 10: 150 < HCLK <= 168 MHz at 2.7-3.6 V
    assert final[FLASH_ACR] & (7 << 8) == 7 << 8  # PRFTEN, ICEN, DCEN
    cfgr = final[RCC_CFGR]
    assert cfgr & 3 == 2 and (cfgr >> 2) & 3 == 2 and (cfgr >> 4) & 0xF == 0
    div = {0: 1, 4: 2, 5: 4, 6: 8, 7: 16}
    assert 168e6 / div[(cfgr >> 10) & 7] == 42e6 and 168e6 / div[(cfgr >> 13) & 7] == 84e6  # APB1/APB2 maxima
    switch = _first_write(writes, RCC_CFGR, lambda v: v & 3 == 2)
    assert _first_write(writes, FLASH_ACR, lambda v: v & 0xF == 5) < switch
    assert _first_write(writes, RCC_CR, lambda v: v & (1 << 24)) < _first_write(writes, FLASH_ACR, lambda v: v & 0xF)
    assert _first_write(writes, 0x40023840, lambda v: v & (1 << 28)) < _first_write(writes, PWR_CR1, lambda v: v)


def test_f405_usart1_pa9_pa10_115200(f405_regs):
    final, writes, _ = f405_regs
    moder, afrh, pupdr = final[0x40020000], final[0x40020024], final[0x4002000C]
    assert (moder >> 18) & 3 == 2 and (moder >> 20) & 3 == 2  # PA9, PA10 alternate function
    assert (afrh >> 4) & 0xF == 7 and (afrh >> 8) & 0xF == 7  # AF7 = USART1 (DS8626 table 9)
    assert (pupdr >> 20) & 3 == 1  # pull-up on RX
    assert final[0x40023830] & 1 and final[0x40023844] & (1 << 4)  # GPIOAEN, USART1EN (APB2)
    assert abs(84e6 / final[0x40011008] - 115200) / 115200 < 0.005  # BRR on the 84 MHz APB2
    assert final[0x4001100C] == (1 << 13) | (1 << 3) | (1 << 2)  # UE, TE, RE (USART v1 layout)
    assert _first_write(writes, 0x40011008, lambda v: v) < _first_write(writes, 0x4001100C, lambda v: v & (1 << 13))


@pytest.mark.parametrize("board,apb", [("qemu_netduinoplus2", 0x40011008), ("nucleo_f746", 0x4000480C)])
def test_clock_without_rcc_falls_back_to_hsi_and_says_so(tmp_path_factory, board, apb):
    """QEMU's STM32 machines have no RCC (unimplemented: reads 0, writes ignored): HSERDY never comes.
    The shared bring-up gives up after its bounded wait, records it, and the UART runs off the HSI."""
    final, _, other = _fake_regs(tmp_path_factory, board, silicon=False)
    assert other["S"] == STATUS_NO_HSE
    assert other["L"] <= other["P"] <= other["L"] + 10  # the wait was bounded, and nothing else waited
    assert abs(16e6 / final[apb] - 115200) / 115200 < 0.01  # BRR for the 16 MHz HSI


@needs_arm
# one board per core (nucleo_f746 and qemu_netduinoplus2 compile with the an500 and an386 -mcpu/-mfpu)
@pytest.mark.parametrize("board", ["qemu_mps2_an500", "qemu_mps2_an386", "qemu_microbit"])
def test_every_kernel_compiles_for_arm_with_werror(board, tmp_path):
    """All int8 kernels (not only those a given model uses) build with the board's flags; on the
    Cortex-M0 (Armv6-M: Thumb-1, no DSP) too, where every inline-assembly block must be guarded."""
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


# ---------------------------------------------------------------- the new emulated boards
def _symbol(elf: str, name: str) -> int:
    syms = subprocess.run(["arm-none-eabi-nm", elf], capture_output=True, text=True, check=True).stdout
    return next(int(ln.split()[0], 16) for ln in syms.splitlines() if ln.split()[-1] == name)


def _read_word(transport, addr: int) -> int:
    """One 32-bit word of the running emulated board's memory, through QEMU's monitor (xp)."""
    import re
    import time
    transport.monitor(f"xp /1wx 0x{addr:08x}")
    pat = re.compile(rf"^0*{addr:x}:\s+0x([0-9a-f]{{8}})", re.I)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for ln in list(transport.out):
            m = pat.search(ln.replace("(qemu) ", "").strip())
            if m:
                return int(m.group(1), 16)
        time.sleep(0.05)
    raise AssertionError(f"no answer to xp 0x{addr:08x}: {list(transport.out)[-3:]}")


@needs_arm
@ci.needs("qemu-system-arm")
@pytest.mark.parametrize("board,flag,expected", [("qemu_netduinoplus2", "stm32_clock_status", STATUS_NO_HSE),
                                                 ("qemu_microbit", "nrf51_hfxo_running", 1)])
def test_emulated_board_boots_ticks_in_instructions_and_records_its_clock(model_dir, board, flag, expected):
    """The STM32F405 and Cortex-M0 boards under QEMU: BOOT and INFO, an inference, the tick unit
    checked against a loop of known length, and what the clock code recorded (QEMU 7.2 has no STM32
    RCC: the bounded HSE wait gives up and says so; its nRF51 CLOCK stub reads HFCLKSTARTED = 1)."""
    from sparsemcu.board_test.client import Client
    from sparsemcu.board_test.transport import QemuTransport
    b = get_board(board)
    res = build(model_dir, board)
    t = QemuTransport(res.elf, b.qemu["machine"], b.qemu["args"])
    c = Client(t, timeout=5)
    try:
        info = c.connect()
        assert c.boot is not None and c.boot.board == board == info.board
        assert info.tick_unit == "emulated_instructions" and info.clock_hz == b.clock_hz
        assert info.stack_size == b.stack_bytes
        x = np.arange(64, dtype=np.int8) - 40
        y, ticks = c.infer(x)
        assert np.array_equal(y, dummy.reference(x)) and ticks > 0
        # the CALIB loop runs 2 instructions per iteration (SUBS, BNE; Thumb-1 on the M0, as on the
        # M4/M7): ticks x tick_scale must count them to within one tick
        step = b.tick_scale / b.tick_scale_den
        measured = {n: c.calibrate(n) for n in (100_000, 1_000_000, 10_000_000)}
        per_iter = (measured[10_000_000][0] - measured[100_000][0]) / (10_000_000 - 100_000)
        assert per_iter == pytest.approx(2, abs=2 * step / 9_900_000)
        for n, (tk, instructions) in measured.items():
            assert instructions == 2 * n and 0 <= tk - instructions <= 40 * step
        assert _read_word(t, _symbol(res.elf, flag)) == expected
        if flag == "stm32_clock_status":  # and the firmware said so on the serial line, before BOOT
            assert "CLOCK status=2: HSE not ready, SYSCLK = HSI 16 MHz" in c.dec.noise_text()
        st = c.stats()
        assert 0 < st.stack_used < st.stack_size and st.runs == 1
    finally:
        c.close()


@needs_arm
@ci.needs("qemu-system-arm")
@pytest.mark.parametrize("board", ["qemu_netduinoplus2", "qemu_microbit"])
def test_emulated_board_reports_a_hardfault(tmp_path, board):
    """The shared fault handler on both new cores (the Armv6-M one has its own Thumb-1 entry and no
    CFSR): an undefined instruction in model_invoke comes back as a HardFault frame with its pc."""
    from sparsemcu.board_test import protocol as P
    from sparsemcu.board_test.client import Client
    from sparsemcu.board_test.transport import QemuTransport
    b = get_board(board)
    res = build(dummy.write_dummy_model(tmp_path / "trap", "trap"), board)
    c = Client(QemuTransport(res.elf, b.qemu["machine"], b.qemu["args"]), timeout=3)
    try:
        c.connect()
        c.load(np.zeros(64, np.int8))
        with pytest.raises(P.BoardFault) as e:
            c.run()
        f = e.value.fault
        assert f.kind == 3 and b.flash["origin"] <= f.pc < b.flash["origin"] + b.flash_size  # HardFault in flash
        assert (f.cfsr & (1 << 16)) if b.cpu != "cortex-m0" else f.cfsr == 0  # UNDEFINSTR; Armv6-M has no CFSR
    finally:
        c.close()


def test_cores_without_dsp_get_no_dsp_variant():
    """export/cost.py suited(): a board whose core lacks the DSP extension is never given a variant built
    around it by the selector (asked for by name it still gets it); the other cores keep every variant."""
    from types import SimpleNamespace
    from sparsemcu.export import cost
    cands = [SimpleNamespace(variant=v) for v in ("dense", "rle", "simd", "sparse")]
    for name in list_boards():
        b = get_board(name)
        if b.is_host:
            continue
        got = [c.variant for c in cost.suited(cands, b.cpu)]
        if b.cpu == "cortex-m0":
            assert not cost.has_dsp(b.cpu) and got == ["dense", "rle", "sparse"]
            assert "simd" in [c.variant for c in cost.suited(cands, b.cpu, prefer="simd")]
            assert cost.coefficients("smcu_conv2d_s8_dense", b.cpu) != cost.coefficients("smcu_conv2d_s8_dense")
        else:
            assert cost.has_dsp(b.cpu) and got == ["dense", "rle", "simd", "sparse"]
