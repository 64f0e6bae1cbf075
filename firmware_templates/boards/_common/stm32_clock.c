/*
 * STM32F4/F7 system clock bring-up (RM0090 7.2, RM0385 5.2), register level, every wait bounded.
 * Order: power interface clock and voltage scale; HSE (bypass first if asked); main PLL from HSE;
 * the board's extra step (F7 over-drive); flash wait states before the clock rises; AHB/APB
 * prescalers; SYSCLK switch to the PLL. Compiled into the STM32 firmware and, on the host, against
 * a fake register block (tests/test_firmware_build.py) to check the values and their order, with
 * an RCC that answers (silicon) and one that reads 0 (QEMU).
 */
#include "stm32_clock.h"

volatile uint32_t stm32_clock_status = STM32_CLOCK_NOT_STARTED;

int stm32_wait_bits(uint32_t addr, uint32_t mask, uint32_t want) {
  uint32_t n;
  for (n = 0; n < STM32_READY_POLLS; n++) {
    if ((SMCU_REG(addr) & mask) == want) return 1;
  }
  return 0;
}

static uint32_t give_up(uint32_t status) {
  /* back to the reset clock tree: SYSCLK = HSI, no prescalers, PLL and HSE off, 0 wait states */
  RCC_CFGR = 0;
  RCC_CR &= ~(RCC_CR_PLLON | RCC_CR_HSEON | RCC_CR_HSEBYP);
  FLASH_ACR = 0;
  stm32_clock_status = status;
  return status;
}

uint32_t stm32_clock_init(const stm32_clock_config_t *cfg) {
  RCC_APB1ENR |= RCC_APB1ENR_PWREN;
  (void)RCC_APB1ENR; /* the enable takes effect before PWR is written (RM0090 7.3.10 note) */
  PWR_CR1 |= cfg->pwr_vos;

  if (cfg->hse_bypass) RCC_CR |= RCC_CR_HSEBYP; /* HSEBYP only while HSE is off (RM0090 7.3.1) */
  RCC_CR |= RCC_CR_HSEON;
  if (!stm32_wait_bits(RCC_CR_ADDR, RCC_CR_HSERDY, RCC_CR_HSERDY)) return give_up(STM32_CLOCK_NO_HSE);

  RCC_PLLCFGR = cfg->pllcfgr; /* only while the PLL is off */
  RCC_CR |= RCC_CR_PLLON;
  if (!stm32_wait_bits(RCC_CR_ADDR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) return give_up(STM32_CLOCK_NO_PLL);

  if (cfg->before_switch && !cfg->before_switch()) return give_up(STM32_CLOCK_NO_BOOST);

  /* wait states first, checked by reading back (RM0090 3.5.1) */
  FLASH_ACR = cfg->flash_acr;
  if (!stm32_wait_bits(FLASH_ACR_ADDR, FLASH_ACR_LATENCY_MASK, cfg->flash_acr & FLASH_ACR_LATENCY_MASK))
    return give_up(STM32_CLOCK_NO_LATENCY);

  RCC_CFGR = cfg->cfgr_prescalers;
  RCC_CFGR |= RCC_CFGR_SW_PLL;
  if (!stm32_wait_bits(RCC_CFGR_ADDR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL)) return give_up(STM32_CLOCK_NO_SWITCH);

  stm32_clock_status = STM32_CLOCK_PLL;
  return STM32_CLOCK_PLL;
}
