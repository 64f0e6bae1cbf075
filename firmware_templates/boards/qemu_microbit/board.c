/*
 * qemu_microbit: the BBC micro:bit v1 (nRF51822, Cortex-M0 at 16 MHz, 256 KB flash, 16 KB RAM)
 * under `qemu-system-arm -M microbit -icount shift=0`, register level:
 * HFCLK from the crystal, UART0 at 115200 on P0.24/P0.25, TIMER0 as the tick counter.
 *
 * The nRF51 has no SysTick (QEMU's armv7m container provides one anyway; it is not used here).
 * TIMER0 counts at 16 MHz / 2 = 8 MHz: under -icount shift=0 one emulated instruction takes 1 ns,
 * so one tick = SMCU_TICK_SCALE (125, board.json "tick_scale") emulated instructions.
 */
#include "nrf51_regs.h"
#include "smcu_board.h"

#ifndef SMCU_TICK_SCALE
#define SMCU_TICK_SCALE 125u
#endif

const char board_name[] = "qemu_microbit";
const char board_tick_unit[] = "emulated_instructions";
const uint32_t board_clock_hz = HFCLK_HZ;

/* 1 once the crystal oscillator reported HFCLKSTARTED, 0 if the bounded wait ran out (the core
 * then stays on the internal 16 MHz RC oscillator: UART timing is less accurate, nothing else). */
volatile uint32_t nrf51_hfxo_running;

static void hfclk_start(void) {
  uint32_t n = READY_POLLS;
  CLOCK_EVENTS_HFCLKSTARTED = 0;
  CLOCK_TASKS_HFCLKSTART = 1;
  while (!CLOCK_EVENTS_HFCLKSTARTED && --n) {
  }
  nrf51_hfxo_running = CLOCK_EVENTS_HFCLKSTARTED != 0;
}

static void uart_init(void) {
  /* RM 29.2: TXD pin an output driven high (idle), RXD pin an input */
  GPIO_OUTSET = 1u << MICROBIT_UART_TX_PIN;
  GPIO_DIRSET = 1u << MICROBIT_UART_TX_PIN;
  GPIO_PIN_CNF(MICROBIT_UART_RX_PIN) = GPIO_PIN_CNF_INPUT_CONNECT;
  UART0_PSELTXD = MICROBIT_UART_TX_PIN;
  UART0_PSELRXD = MICROBIT_UART_RX_PIN;
  UART0_PSELRTS = UART_PSEL_DISCONNECTED;
  UART0_PSELCTS = UART_PSEL_DISCONNECTED;
  UART0_CONFIG = 0; /* no flow control, no parity */
  UART0_BAUDRATE = UART_BAUDRATE_115200;
  UART0_ENABLE = UART_ENABLE_ENABLED;
  UART0_EVENTS_RXDRDY = 0;
  UART0_EVENTS_TXDRDY = 0;
  UART0_TASKS_STARTTX = 1;
  UART0_TASKS_STARTRX = 1;
}

static void timer_init(void) {
  TIMER0_TASKS_STOP = 1;
  TIMER0_MODE = TIMER_MODE_TIMER;
  TIMER0_BITMODE = TIMER_BITMODE_32;
  TIMER0_PRESCALER = TIMER_PRESCALER_8MHZ;
  TIMER0_TASKS_CLEAR = 1;
  TIMER0_TASKS_START = 1;
}

void board_init(void) {
  hfclk_start();
  uart_init();
  timer_init();
}

int board_uart_getc(void) {
  for (;;) {
    if (UART0_EVENTS_RXDRDY) {
      /* clear the event before reading RXD: the next byte of the RX FIFO raises it again (RM 29.5) */
      UART0_EVENTS_RXDRDY = 0;
      return (int)(UART0_RXD & 0xFFu);
    }
    if (UART0_EVENTS_ERROR) { /* overrun/framing: clear and keep receiving */
      UART0_ERRORSRC = UART0_ERRORSRC;
      UART0_EVENTS_ERROR = 0;
    }
  }
}

void board_uart_write(const uint8_t *data, uint32_t len) {
  while (len--) {
    UART0_EVENTS_TXDRDY = 0;
    UART0_TXD = *data++;
    while (!UART0_EVENTS_TXDRDY) {
    }
  }
}

/* TIMER0 has no readable counter: CAPTURE[0] copies it into CC[0] (RM 18.5). The 32-bit count
 * times the integer scale wraps modulo 2^32 like the counter itself, so differences stay exact. */
uint32_t board_ticks(void) {
  TIMER0_TASKS_CAPTURE0 = 1;
  return TIMER0_CC0 * (uint32_t)SMCU_TICK_SCALE;
}
