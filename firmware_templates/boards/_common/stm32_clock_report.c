/*
 * Tell the host how the STM32 clock came up: after the UART is set up, a board whose clock
 * bring-up gave up (stm32_clock_status, ../_common/stm32_clock.c) prints one text line before the
 * BOOT frame, e.g. "CLOCK status=2: HSE not ready, SYSCLK = HSI 16 MHz". The serial protocol
 * ignores bytes outside frames (board_test/protocol.py); the host keeps them as received text.
 * Under QEMU (no RCC model) every boot prints it: the emulator does not run the PLL.
 */
#include "smcu_board.h"
#include "stm32_clock.h"

void stm32_clock_report(void) {
  static const char *const why[] = {"not started", "PLL", "HSE not ready", "PLL not locked",
                                    "over-drive not ready", "flash wait states not taken", "SYSCLK switch not seen"};
  const uint32_t s = stm32_clock_status;
  const char *w = s < sizeof why / sizeof why[0] ? why[s] : "?";
  uint8_t line[96];
  uint32_t n = 0;
  const char *p;
  if (s == STM32_CLOCK_PLL) return;
  for (p = "CLOCK status="; *p; p++) line[n++] = (uint8_t)*p;
  line[n++] = (uint8_t)('0' + s % 10u);
  line[n++] = ':';
  line[n++] = ' ';
  for (p = w; *p && n < sizeof line - 32u; p++) line[n++] = (uint8_t)*p;
  for (p = ", SYSCLK = HSI 16 MHz\r\n"; *p; p++) line[n++] = (uint8_t)*p;
  board_uart_write(line, n);
}
