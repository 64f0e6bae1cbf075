/*
 * STM32F746 registers used by the nucleo_f746 board that the STM32F4 does not share (RM0385
 * addresses and bit positions): over-drive, the ART accelerator, the USART v2 layout of USART3,
 * the Cortex-M7 caches and DWT. RCC, PWR_CR1, FLASH_ACR and GPIO: ../_common/stm32_regs.h.
 */
#ifndef STM32F746_REGS_H
#define STM32F746_REGS_H

#include <stdint.h>

#include "stm32_clock.h"

/* PWR (RM0385 4.4.1, 4.4.2) */
#define PWR_CR1_VOS_SCALE1 (3u << 14)
#define PWR_CR1_ODEN (1u << 16)
#define PWR_CR1_ODSWEN (1u << 17)
#define PWR_CSR1_ODRDY (1u << 16)
#define PWR_CSR1_ODSWRDY (1u << 17)

/* FLASH_ACR (RM0385 3.7.1) */
#define FLASH_ACR_ARTEN (1u << 9)

/* USART3, USART v2 layout (RM0385 34.8) */
#define USART3_BASE 0x40004800u
#define USART3_CR1 SMCU_REG(USART3_BASE + 0x00u)
#define USART3_CR2 SMCU_REG(USART3_BASE + 0x04u)
#define USART3_CR3 SMCU_REG(USART3_BASE + 0x08u)
#define USART3_BRR SMCU_REG(USART3_BASE + 0x0Cu)
#define USART3_ISR SMCU_REG(USART3_BASE + 0x1Cu)
#define USART3_ICR SMCU_REG(USART3_BASE + 0x20u)
#define USART3_RDR SMCU_REG(USART3_BASE + 0x24u)
#define USART3_TDR SMCU_REG(USART3_BASE + 0x28u)
#define USART_CR1_UE (1u << 0)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_ISR_ORE (1u << 3)
#define USART_ISR_RXNE (1u << 5)
#define USART_ISR_TXE (1u << 7)
#define USART_ICR_ORECF (1u << 3)

/* Cortex-M7 core (Cortex-M7 TRM / ARMv7-M ARM B3.2) */
#define SCB_CCR SMCU_REG(0xE000ED14u)
#define SCB_CCR_DC (1u << 16)
#define SCB_CCR_IC (1u << 17)
#define SCB_CCSIDR SMCU_REG(0xE000ED80u)
#define SCB_CSSELR SMCU_REG(0xE000ED84u)
#define SCB_ICIALLU SMCU_REG(0xE000EF50u)
#define SCB_DCISW SMCU_REG(0xE000EF60u)
#define DEMCR SMCU_REG(0xE000EDFCu)
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL SMCU_REG(0xE0001000u)
#define DWT_CYCCNT SMCU_REG(0xE0001004u)
#define DWT_LAR SMCU_REG(0xE0001FB0u)

/* Clock tree: HSE bypass 8 MHz (ST-LINK MCO) / M=4 -> 2 MHz * N=216 = 432 MHz VCO / P=2 -> 216 MHz
 * SYSCLK; Q=9 -> 48 MHz. AHB 216 MHz, APB1 /4 = 54 MHz, APB2 /2 = 108 MHz. */
#define HSE_HZ 8000000u
#define PLL_M 4u
#define PLL_N 216u
#define PLL_P 2u
#define PLL_Q 9u
#define SYSCLK_HZ (HSE_HZ / PLL_M * PLL_N / PLL_P)
#define APB1_HZ (SYSCLK_HZ / 4u)
#define FLASH_WAIT_STATES 7u /* RM0385 table 5: 210 < HCLK <= 216 MHz at 2.7-3.6 V */
#define UART_BAUD 115200u

/* USART3: PD8 TX, PD9 RX, AF7 (STM32F746 DS10916 table 12) */
#define UART_PORT GPIOD_BASE
#define UART_TX_PIN 8u
#define UART_RX_PIN 9u
#define UART_AF 7u

void nucleo_clock_init(void);
void nucleo_uart_init(void);
void nucleo_cache_enable(void);
void nucleo_cycle_counter_init(void);

#endif /* STM32F746_REGS_H */
