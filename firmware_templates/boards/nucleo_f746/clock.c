/*
 * nucleo_f746 clock, cache, UART and cycle-counter setup (RM0385), register level. The clock
 * sequence and the GPIO setup are the STM32 code shared with the STM32F405 board
 * (../_common/stm32_clock.c, stm32_gpio.c); over-drive, USART3 (v2 layout), caches and DWT are
 * the F7's own. Compiled into the firmware, and on the host against a fake register block
 * (tests/test_firmware_build.py) to check the register values and their order.
 */
#include "stm32f746_regs.h"

static void dsb_isb(void) {
#if defined(__arm__)
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
}

/* over-drive (RM0385 4.1.4): ODEN, wait ODRDY, ODSWEN, wait ODSWRDY; after PLL lock, before the switch */
static int nucleo_overdrive(void) {
  PWR_CR1 |= PWR_CR1_ODEN;
  if (!stm32_wait_bits(PWR_CSR1_ADDR, PWR_CSR1_ODRDY, PWR_CSR1_ODRDY)) return 0;
  PWR_CR1 |= PWR_CR1_ODSWEN;
  return stm32_wait_bits(PWR_CSR1_ADDR, PWR_CSR1_ODSWRDY, PWR_CSR1_ODSWRDY);
}

/* 216 MHz from the ST-LINK's 8 MHz MCO on OSC_IN (HSE bypass), voltage scale 1 + over-drive,
 * 7 wait states with prefetch and the ART accelerator, AHB /1, APB1 /4 (54 MHz max), APB2 /2
 * (108 MHz max): ../_common/stm32_clock.c runs the sequence. */
static const stm32_clock_config_t nucleo_clock = {
    PWR_CR1_VOS_SCALE1,
    1u,
    RCC_PLLCFGR_VALUE(PLL_M, PLL_N, PLL_P, PLL_Q),
    FLASH_WAIT_STATES | FLASH_ACR_PRFTEN | FLASH_ACR_ARTEN,
    RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2,
    nucleo_overdrive,
};

void nucleo_clock_init(void) { (void)stm32_clock_init(&nucleo_clock); }

void nucleo_uart_init(void) {
  /* USART3 on PD8 (TX) / PD9 (RX), AF7: the ST-LINK virtual COM port. APB1 is 54 MHz on the PLL,
   * the 16 MHz HSI if the clock bring-up gave up (stm32_clock_status). */
  const uint32_t apb1 = stm32_clock_status == STM32_CLOCK_PLL ? APB1_HZ : STM32_HSI_HZ;
  RCC_AHB1ENR |= RCC_AHB1ENR_GPIODEN;
  RCC_APB1ENR |= RCC_APB1ENR_USART3EN;
  (void)RCC_APB1ENR;
  stm32_gpio_af(UART_PORT, UART_TX_PIN, UART_AF, GPIO_PULL_NONE);
  stm32_gpio_af(UART_PORT, UART_RX_PIN, UART_AF, GPIO_PULL_UP);
  USART3_CR1 = 0;
  USART3_CR2 = 0;
  USART3_CR3 = 0;
  USART3_BRR = (apb1 + UART_BAUD / 2u) / UART_BAUD; /* oversampling by 16 */
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
