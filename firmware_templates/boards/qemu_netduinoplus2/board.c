/*
 * qemu_netduinoplus2: STM32F405 (Cortex-M4F) of QEMU's netduinoplus2 machine, register level in
 * the style of nucleo_f746: the shared STM32 clock bring-up (clock.c), USART1 on PA9/PA10 at
 * 115200, SysTick on the core clock as the tick counter.
 *
 * QEMU 7.2 fixes the core clock at 168 MHz and has no DWT. Under -icount shift=0 one emulated
 * instruction takes 1 ns, so one SysTick tick at 168 MHz = 1000/168 = 125/21 instructions:
 * board.json "tick_scale" "125/21" (SMCU_TICK_SCALE / SMCU_TICK_SCALE_DEN). The 24-bit SysTick
 * is extended in software to 64 bits so that the scaled count wraps modulo 2^32 exactly.
 */
#include "smcu_board.h"
#include "stm32f405_regs.h"

#ifndef SMCU_TICK_SCALE
#define SMCU_TICK_SCALE 125u
#endif
#ifndef SMCU_TICK_SCALE_DEN
#define SMCU_TICK_SCALE_DEN 21u
#endif

const char board_name[] = "qemu_netduinoplus2";
const char board_tick_unit[] = "emulated_instructions";
const uint32_t board_clock_hz = SYSCLK_HZ;

static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

void board_init(void) {
  f405_clock_init();
  f405_uart_init();
  stm32_clock_report();
  SYST_RVR = 0x00FFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = SYST_CSR_ENABLE_TICKINT_CORECLK;
}

int board_uart_getc(void) {
  for (;;) {
    const uint32_t sr = USART1_SR;
    if (sr & USART_SR_RXNE) return (int)(USART1_DR & 0xFFu);
    if (sr & USART_SR_ORE) (void)USART1_DR; /* ORE clears by reading SR then DR (RM0090 30.6.1) */
  }
}

void board_uart_write(const uint8_t *data, uint32_t len) {
  while (len--) {
    while (!(USART1_SR & USART_SR_TXE)) {
    }
    USART1_DR = *data++;
  }
}

uint32_t board_ticks(void) {
  uint32_t w1, w2, v, pend;
  uint64_t ticks;
  do {
    w1 = systick_wraps;
    v = SYST_CVR;
    pend = SCB_ICSR & ICSR_PENDSTSET;
    w2 = systick_wraps;
  } while (w1 != w2);
  if (pend && v > 0x800000u) w1++; /* wrapped, interrupt not yet taken */
  ticks = ((uint64_t)w1 << 24) + (0x00FFFFFFu - v);
  return (uint32_t)(ticks * SMCU_TICK_SCALE / SMCU_TICK_SCALE_DEN);
}
