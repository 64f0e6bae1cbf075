/*
 * Registers the STM32F4 (RM0090, F405/407: RCC in section 7) and STM32F7 (RM0385) families share:
 * same addresses, same bit positions. RCC clock control and enables, PWR_CR(1)/PWR_CSR(1),
 * FLASH_ACR, the GPIO ports. A board's own header adds what only its part has (USART layout,
 * over-drive, caches, its clock tree).
 *
 * SMCU_REG(addr) is a volatile 32-bit register; a host-side test defines SMCU_FAKE_REGS and
 * provides smcu_fake_reg() to run the clock/UART setup against a fake register block.
 */
#ifndef STM32_REGS_H
#define STM32_REGS_H

#include <stdint.h>

#ifdef SMCU_FAKE_REGS
volatile uint32_t *smcu_fake_reg(uint32_t addr);
#define SMCU_REG(addr) (*smcu_fake_reg(addr))
#else
#define SMCU_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#endif

/* RCC (RM0090 7.3, RM0385 5.3; base: RM0090 table 1, RM0385 table 1) */
#define RCC_BASE 0x40023800u
#define RCC_CR_ADDR (RCC_BASE + 0x00u)
#define RCC_CR SMCU_REG(RCC_CR_ADDR)
#define RCC_PLLCFGR SMCU_REG(RCC_BASE + 0x04u)
#define RCC_CFGR_ADDR (RCC_BASE + 0x08u)
#define RCC_CFGR SMCU_REG(RCC_CFGR_ADDR)
#define RCC_AHB1ENR SMCU_REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR SMCU_REG(RCC_BASE + 0x40u)
#define RCC_APB2ENR SMCU_REG(RCC_BASE + 0x44u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
/* PLLCFGR: PLLM [5:0], PLLN [14:6], PLLP [17:16] (P = 2, 4, 6, 8), PLLSRC bit 22, PLLQ [27:24];
 * bit 29 is reserved and resets to 1 (RM0090 7.3.2, RM0385 5.3.2) */
#define RCC_PLLCFGR_RESERVED_29 (1u << 29)
#define RCC_PLLCFGR_PLLSRC_HSE (1u << 22)
#define RCC_PLLCFGR_VALUE(m, n, p, q) \
  (RCC_PLLCFGR_RESERVED_29 | ((q) << 24) | RCC_PLLCFGR_PLLSRC_HSE | ((((p) / 2u) - 1u) << 16) | ((n) << 6) | (m))
#define RCC_CFGR_SW_PLL 2u
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL (2u << 2)
#define RCC_CFGR_PPRE1_DIV4 (5u << 10)
#define RCC_CFGR_PPRE2_DIV2 (4u << 13)
#define RCC_AHB1ENR_GPIOAEN (1u << 0)
#define RCC_AHB1ENR_GPIODEN (1u << 3)
#define RCC_APB1ENR_USART3EN (1u << 18)
#define RCC_APB1ENR_PWREN (1u << 28)
#define RCC_APB2ENR_USART1EN (1u << 4)

/* PWR (RM0090 5.4, RM0385 4.4): PWR_CR on the F4, PWR_CR1 on the F7 */
#define PWR_BASE 0x40007000u
#define PWR_CR1 SMCU_REG(PWR_BASE + 0x00u)
#define PWR_CSR1_ADDR (PWR_BASE + 0x04u)
#define PWR_CSR1 SMCU_REG(PWR_CSR1_ADDR)

/* FLASH interface (RM0090 3.9.1, RM0385 3.7.1): LATENCY in the low bits, PRFTEN bit 8 */
#define FLASH_R_BASE 0x40023C00u
#define FLASH_ACR_ADDR (FLASH_R_BASE + 0x00u)
#define FLASH_ACR SMCU_REG(FLASH_ACR_ADDR)
#define FLASH_ACR_LATENCY_MASK 0xFu
#define FLASH_ACR_PRFTEN (1u << 8)

/* GPIO ports A..K, 0x400 apart from 0x40020000 (RM0090 8.4, RM0385 6.4) */
#define GPIO_PORT(n) (0x40020000u + 0x400u * (n))
#define GPIOA_BASE GPIO_PORT(0u)
#define GPIOD_BASE GPIO_PORT(3u)
#define GPIO_MODER(port) SMCU_REG((port) + 0x00u)
#define GPIO_OSPEEDR(port) SMCU_REG((port) + 0x08u)
#define GPIO_PUPDR(port) SMCU_REG((port) + 0x0Cu)
#define GPIO_AFRL(port) SMCU_REG((port) + 0x20u)
#define GPIO_AFRH(port) SMCU_REG((port) + 0x24u)
#define GPIO_MODE_AF 2u
#define GPIO_SPEED_VERY_HIGH 3u
#define GPIO_PULL_NONE 0u
#define GPIO_PULL_UP 1u

/* The internal RC oscillator both families start on (RM0090 7.2.2, RM0385 5.2.2) */
#define STM32_HSI_HZ 16000000u

#endif /* STM32_REGS_H */
