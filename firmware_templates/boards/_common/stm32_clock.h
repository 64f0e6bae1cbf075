/*
 * STM32F4/F7 system clock bring-up shared by the STM32 boards (stm32_clock.c): HSE, main PLL,
 * flash wait states, bus prescalers, switch to the PLL. Every wait for a ready flag is bounded;
 * if one runs out the core stays on (or returns to) the 16 MHz HSI and the reason is recorded in
 * stm32_clock_status, so a board whose RCC never answers (QEMU: the RCC is not modelled and
 * reads 0) still boots, and says so.
 */
#ifndef STM32_CLOCK_H
#define STM32_CLOCK_H

#include <stdint.h>

#include "stm32_regs.h"

/* stm32_clock_status */
#define STM32_CLOCK_NOT_STARTED 0u
#define STM32_CLOCK_PLL 1u        /* SYSCLK = the PLL (the configured frequency) */
#define STM32_CLOCK_NO_HSE 2u     /* HSERDY never came: on HSI */
#define STM32_CLOCK_NO_PLL 3u     /* PLLRDY never came: on HSI */
#define STM32_CLOCK_NO_BOOST 4u   /* the board's before_switch step (F7 over-drive) failed: on HSI */
#define STM32_CLOCK_NO_LATENCY 5u /* FLASH_ACR did not take the wait states: on HSI */
#define STM32_CLOCK_NO_SWITCH 6u  /* SWS never showed the PLL: back on HSI */

/* Polls of a ready flag before giving up: >= 100 ms at 16 MHz HSI (>= 8 cycles per poll), 50x the
 * typical HSE crystal start-up (2 ms, STM32F405 DS8626 table 36) and PLL lock (< 0.3 ms). */
#define STM32_READY_POLLS 200000u

typedef struct {
  uint32_t pwr_vos;         /* PWR_CR(1) voltage-scaling bits for the target frequency */
  uint32_t hse_bypass;      /* 1: an external clock on OSC_IN (HSEBYP), 0: a crystal */
  uint32_t pllcfgr;         /* RCC_PLLCFGR value, RCC_PLLCFGR_VALUE(m, n, p, q) */
  uint32_t flash_acr;       /* FLASH_ACR: wait states for the PLL clock and the accelerators */
  uint32_t cfgr_prescalers; /* RCC_CFGR HPRE / PPRE1 / PPRE2 */
  int (*before_switch)(void); /* run after PLL lock (F7: over-drive); returns 1 if ready; or 0 */
} stm32_clock_config_t;

extern volatile uint32_t stm32_clock_status;

/* Bring the clock up as `cfg` says; returns (and records) the stm32_clock_status value. */
uint32_t stm32_clock_init(const stm32_clock_config_t *cfg);

/* Wait until (register & mask) == want, at most STM32_READY_POLLS reads; 1 if it happened. */
int stm32_wait_bits(uint32_t addr, uint32_t mask, uint32_t want);

/* One text line on the board's UART if the bring-up gave up (stm32_clock_report.c; needs the UART). */
void stm32_clock_report(void);

/* Pin `pin` of GPIO port `port` (GPIO_PORT(n)) to alternate function `af`, very high speed,
 * pull GPIO_PULL_NONE or GPIO_PULL_UP (stm32_gpio.c). */
void stm32_gpio_af(uint32_t port, uint32_t pin, uint32_t af, uint32_t pull);

#endif /* STM32_CLOCK_H */
