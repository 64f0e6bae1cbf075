/* nucleo_f746: STM32F746ZG at 216 MHz, USART3 (ST-LINK VCP) at 115200, DWT cycle counter. */
#include "smcu_board.h"
#include "stm32f746_regs.h"

const char board_name[] = "nucleo_f746";
const char board_tick_unit[] = "cycles";
const uint32_t board_clock_hz = SYSCLK_HZ;

void board_init(void) {
  nucleo_clock_init();
  nucleo_cache_enable();
  nucleo_uart_init();
  stm32_clock_report();
  nucleo_cycle_counter_init();
}

int board_uart_getc(void) {
  for (;;) {
    uint32_t isr = USART3_ISR;
    if (isr & USART_ISR_RXNE) return (int)(USART3_RDR & 0xFFu);
    if (isr & USART_ISR_ORE) USART3_ICR = USART_ICR_ORECF;
  }
}

void board_uart_write(const uint8_t *data, uint32_t len) {
  while (len--) {
    while (!(USART3_ISR & USART_ISR_TXE)) {
    }
    USART3_TDR = *data++;
  }
}

uint32_t board_ticks(void) { return DWT_CYCCNT; }
