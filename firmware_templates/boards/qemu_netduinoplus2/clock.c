/*
 * qemu_netduinoplus2 clock and UART setup (RM0090), register level: the STM32 clock sequence and
 * GPIO setup shared with nucleo_f746 (../_common/stm32_clock.c, stm32_gpio.c) with the F405's
 * parameters, and USART1 in the F4's USART v1 layout. Compiled into the firmware, and on the host
 * against a fake register block (tests/test_firmware_build.py).
 *
 * Under QEMU 7.2 the RCC, PWR, FLASH interface and GPIO ports are unimplemented regions (reads 0,
 * writes ignored): HSERDY never comes, stm32_clock_init() gives up after its bounded wait and
 * records STM32_CLOCK_NO_HSE, and USART1 is set up for the 16 MHz HSI. QEMU's USART ignores BRR and
 * its core clock is a fixed 168 MHz either way.
 */
#include "stm32f405_regs.h"

/* 168 MHz from the 25 MHz crystal, voltage scale 1, 5 wait states with prefetch, instruction and
 * data caches, AHB /1, APB1 /4 (42 MHz max), APB2 /2 (84 MHz max). */
static const stm32_clock_config_t f405_clock = {
    PWR_CR_VOS_SCALE1,
    0u,
    RCC_PLLCFGR_VALUE(PLL_M, PLL_N, PLL_P, PLL_Q),
    FLASH_WAIT_STATES | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN,
    RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2,
    0,
};

void f405_clock_init(void) { (void)stm32_clock_init(&f405_clock); }

void f405_uart_init(void) {
  /* APB2 is 84 MHz on the PLL, the 16 MHz HSI if the clock bring-up gave up */
  const uint32_t apb2 = stm32_clock_status == STM32_CLOCK_PLL ? APB2_HZ : STM32_HSI_HZ;
  RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN;
  RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
  (void)RCC_APB2ENR;
  stm32_gpio_af(UART_PORT, UART_TX_PIN, UART_AF, GPIO_PULL_NONE);
  stm32_gpio_af(UART_PORT, UART_RX_PIN, UART_AF, GPIO_PULL_UP);
  USART1_CR1 = 0;
  USART1_CR2 = 0;
  USART1_CR3 = 0;
  USART1_BRR = (apb2 + UART_BAUD / 2u) / UART_BAUD; /* oversampling by 16: BRR = f / baud (RM0090 30.3.4) */
  USART1_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE;
}
