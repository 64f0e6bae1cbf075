/*
 * QEMU mps2 boards (an500 Cortex-M7, an386 Cortex-M4): CMSDK APB UART0 at 0x40004000 and
 * SysTick on the 25 MHz system clock. Under `qemu-system-arm -icount shift=0` one emulated
 * instruction takes 1 ns of virtual time, so one SysTick tick = SMCU_TICK_SCALE (40)
 * instructions; board_ticks() (../_common/systick_ticks.c) returns emulated instructions.
 * Needs SMCU_BOARD_NAME (string); SMCU_TICK_SCALE comes from board.json.
 */
#include <stdint.h>

#include "smcu_board.h"
#include "systick_ticks.h"

#define UART0_DATA (*(volatile uint32_t *)0x40004000u)
#define UART0_STATE (*(volatile uint32_t *)0x40004004u)
#define UART0_CTRL (*(volatile uint32_t *)0x40004008u)
#define UART0_BAUDDIV (*(volatile uint32_t *)0x40004010u)
#define UART_STATE_TXFULL 1u
#define UART_STATE_RXFULL 2u

#define SYSCLK_HZ 25000000u

const char board_name[] = SMCU_BOARD_NAME;
const char board_tick_unit[] = "emulated_instructions";
const uint32_t board_clock_hz = SYSCLK_HZ;

void board_init(void) {
  UART0_BAUDDIV = SYSCLK_HZ / 115200u;
  UART0_CTRL = 3u; /* TX and RX enable */
  systick_ticks_start();
}

int board_uart_getc(void) {
  while (!(UART0_STATE & UART_STATE_RXFULL)) {
  }
  return (int)(UART0_DATA & 0xFFu);
}

void board_uart_write(const uint8_t *data, uint32_t len) {
  while (len--) {
    while (UART0_STATE & UART_STATE_TXFULL) {
    }
    UART0_DATA = *data++;
  }
}
