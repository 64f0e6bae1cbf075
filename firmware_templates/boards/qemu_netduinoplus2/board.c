/*
 * qemu_netduinoplus2: STM32F405 (Cortex-M4F) of QEMU's netduinoplus2 machine, register level in
 * the style of nucleo_f746: the shared STM32 clock bring-up (clock.c), USART1 on PA9/PA10 at
 * 115200, SysTick on the core clock as the tick counter.
 *
 * QEMU 7.2 fixes the core clock at 168 MHz and has no DWT. Under -icount shift=0 one emulated
 * instruction takes 1 ns, so one SysTick tick at 168 MHz = 1000/168 = 125/21 instructions:
 * board.json "tick_scale" "125/21" (SMCU_TICK_SCALE / SMCU_TICK_SCALE_DEN), applied by
 * board_ticks() in ../_common/systick_ticks.c.
 */
#include "smcu_board.h"
#include "stm32f405_regs.h"
#include "systick_ticks.h"

const char board_name[] = "qemu_netduinoplus2";
const char board_tick_unit[] = "emulated_instructions";
const uint32_t board_clock_hz = SYSCLK_HZ;

void board_init(void) {
  f405_clock_init();
  f405_uart_init();
  stm32_clock_report();
  systick_ticks_start();
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
