/*
 * nucleo_f746 clock, cache, UART and cycle-counter setup (RM0385), register level.
 * Compiled into the firmware, and on the host against a fake register block
 * (tests/test_firmware_build.py) to check the register values and their order.
 */
#include "stm32f746_regs.h"

static void dsb_isb(void) {
#if defined(__arm__)
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
}

void nucleo_clock_init(void) {
  /* power interface clock, voltage scale 1 (needed for 216 MHz with over-drive) */
  RCC_APB1ENR |= RCC_APB1ENR_PWREN;
  (void)RCC_APB1ENR;
  PWR_CR1 |= PWR_CR1_VOS_SCALE1;

  /* HSE in bypass mode: the ST-LINK's 8 MHz MCO on OSC_IN */
  RCC_CR |= RCC_CR_HSEBYP;
  RCC_CR |= RCC_CR_HSEON;
  while (!(RCC_CR & RCC_CR_HSERDY)) {
  }

  /* main PLL from HSE: 8 / 4 * 216 / 2 = 216 MHz; reserved bit 29 keeps its reset value */
  RCC_PLLCFGR = (1u << 29) | (PLL_Q << 24) | RCC_PLLCFGR_PLLSRC_HSE | (((PLL_P / 2u) - 1u) << 16) |
                (PLL_N << 6) | PLL_M;
  RCC_CR |= RCC_CR_PLLON;
  while (!(RCC_CR & RCC_CR_PLLRDY)) {
  }

  /* over-drive (RM0385 4.1.4): ODEN, wait ODRDY, ODSWEN, wait ODSWRDY */
  PWR_CR1 |= PWR_CR1_ODEN;
  while (!(PWR_CSR1 & PWR_CSR1_ODRDY)) {
  }
  PWR_CR1 |= PWR_CR1_ODSWEN;
  while (!(PWR_CSR1 & PWR_CSR1_ODSWRDY)) {
  }

  /* 7 wait states before raising the clock; ART accelerator and prefetch */
  FLASH_ACR = FLASH_WAIT_STATES | FLASH_ACR_PRFTEN | FLASH_ACR_ARTEN;
  while ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != FLASH_WAIT_STATES) {
  }

  /* AHB /1, APB1 /4 (54 MHz max), APB2 /2 (108 MHz max), then switch SYSCLK to the PLL */
  RCC_CFGR = RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2;
  RCC_CFGR |= RCC_CFGR_SW_PLL;
  while ((RCC_CFGR & RCC_CFGR_SWS_MASK) != RCC_CFGR_SWS_PLL) {
  }
}

void nucleo_uart_init(void) {
  /* USART3 on PD8 (TX) / PD9 (RX), AF7: the ST-LINK virtual COM port */
  RCC_AHB1ENR |= RCC_AHB1ENR_GPIODEN;
  RCC_APB1ENR |= RCC_APB1ENR_USART3EN;
  (void)RCC_APB1ENR;
  GPIOD_MODER = (GPIOD_MODER & ~((3u << 16) | (3u << 18))) | (2u << 16) | (2u << 18);
  GPIOD_OSPEEDR |= (3u << 16) | (3u << 18);
  GPIOD_PUPDR = (GPIOD_PUPDR & ~(3u << 18)) | (1u << 18); /* pull-up on RX */
  GPIOD_AFRH = (GPIOD_AFRH & ~0xFFu) | (7u << 0) | (7u << 4);
  USART3_CR1 = 0;
  USART3_CR2 = 0;
  USART3_CR3 = 0;
  USART3_BRR = (APB1_HZ + UART_BAUD / 2u) / UART_BAUD; /* oversampling by 16 */
  USART3_CR1 = USART_CR1_TE | USART_CR1_RE | USART_CR1_UE;
}

void nucleo_cache_enable(void) {
  uint32_t sets, ways, ccsidr, w;
  /* I-cache: invalidate, enable */
  dsb_isb();
  SCB_ICIALLU = 0;
  dsb_isb();
  SCB_CCR |= SCB_CCR_IC;
  dsb_isb();
  /* D-cache: invalidate by set/way (level 1), enable */
  SCB_CSSELR = 0;
  dsb_isb();
  ccsidr = SCB_CCSIDR;
  sets = (ccsidr >> 13) & 0x7FFFu;
  do {
    ways = (ccsidr >> 3) & 0x3FFu;
    w = ways;
    do {
      SCB_DCISW = ((sets << 5) & (0x1FFu << 5)) | ((w << 30) & (3u << 30));
    } while (w-- != 0u);
  } while (sets-- != 0u);
  dsb_isb();
  SCB_CCR |= SCB_CCR_DC;
  dsb_isb();
}

void nucleo_cycle_counter_init(void) {
  DEMCR |= DEMCR_TRCENA;
  DWT_LAR = 0xC5ACCE55u; /* unlock the DWT (Cortex-M7) */
  DWT_CYCCNT = 0;
  DWT_CTRL |= 1u;
}
