/*
 * QEMU mps2 boards (an500 Cortex-M7, an386 Cortex-M4): CMSDK APB UART0 at 0x40004000 and
 * SysTick on the 25 MHz system clock. Under `qemu-system-arm -icount shift=0` one emulated
 * instruction takes 1 ns of virtual time, so one SysTick tick = SMCU_TICK_SCALE (40)
 * instructions; board_ticks() returns emulated instructions.
 * Needs SMCU_BOARD_NAME (string) and SMCU_TICK_SCALE from board.json.
 */
#include <stdint.h>

#include "smcu_board.h"

#define UART0_DATA (*(volatile uint32_t *)0x40004000u)
#define UART0_STATE (*(volatile uint32_t *)0x40004004u)
#define UART0_CTRL (*(volatile uint32_t *)0x40004008u)
#define UART0_BAUDDIV (*(volatile uint32_t *)0x40004010u)
#define UART_STATE_TXFULL 1u
#define UART_STATE_RXFULL 2u

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)

#define SYSCLK_HZ 25000000u

const char board_name[] = SMCU_BOARD_NAME;
const char board_tick_unit[] = "emulated_instructions";
const uint32_t board_clock_hz = SYSCLK_HZ;

static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

void board_init(void) {
  UART0_BAUDDIV = SYSCLK_HZ / 115200u;
  UART0_CTRL = 3u; /* TX and RX enable */
  SYST_RVR = 0x00FFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 7u; /* enable, interrupt, processor clock */
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

uint32_t board_ticks(void) {
  uint32_t w1, w2, v, pend;
  do {
    w1 = systick_wraps;
    v = SYST_CVR;
    pend = SCB_ICSR & ICSR_PENDSTSET;
    w2 = systick_wraps;
  } while (w1 != w2);
  if (pend && v > 0x800000u) w1++; /* wrapped, interrupt not yet taken */
  return ((w1 << 24) + (0x00FFFFFFu - v)) * (uint32_t)SMCU_TICK_SCALE;
}
