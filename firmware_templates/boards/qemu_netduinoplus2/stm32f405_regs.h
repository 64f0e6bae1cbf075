/*
 * STM32F405 registers used by the qemu_netduinoplus2 board that the STM32F7 does not share
 * (RM0090 addresses and bit positions): the USART v1 layout of USART1, FLASH_ACR caches, PWR_CR
 * VOS, SysTick. RCC, PWR_CR, FLASH_ACR latency and GPIO: ../_common/stm32_regs.h.
 */
#ifndef STM32F405_REGS_H
#define STM32F405_REGS_H

#include <stdint.h>

#include "stm32_clock.h"

/* PWR_CR (RM0090 5.4.1): VOS bit 14 = scale 1 (needed above 144 MHz) */
#define PWR_CR_VOS_SCALE1 (1u << 14)

/* FLASH_ACR (RM0090 3.9.1) */
#define FLASH_ACR_ICEN (1u << 9)
#define FLASH_ACR_DCEN (1u << 10)

/* USART1, USART v1 layout (RM0090 30.6; base: RM0090 table 1) */
#define USART1_BASE 0x40011000u
#define USART1_SR SMCU_REG(USART1_BASE + 0x00u)
#define USART1_DR SMCU_REG(USART1_BASE + 0x04u)
#define USART1_BRR SMCU_REG(USART1_BASE + 0x08u)
#define USART1_CR1 SMCU_REG(USART1_BASE + 0x0Cu)
#define USART1_CR2 SMCU_REG(USART1_BASE + 0x10u)
#define USART1_CR3 SMCU_REG(USART1_BASE + 0x14u)
#define USART_SR_ORE (1u << 3)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_UE (1u << 13)

/* SysTick (ARMv7-M ARM B3.3) and the SysTick pending bit of ICSR (B3.2.4) */
#define SYST_CSR SMCU_REG(0xE000E010u)
#define SYST_RVR SMCU_REG(0xE000E014u)
#define SYST_CVR SMCU_REG(0xE000E018u)
#define SYST_CSR_ENABLE_TICKINT_CORECLK 7u
#define SCB_ICSR SMCU_REG(0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)

/* Clock tree: the Netduino Plus 2's 25 MHz crystal / M=25 -> 1 MHz * N=336 = 336 MHz VCO / P=2 ->
 * 168 MHz SYSCLK; Q=7 -> 48 MHz. AHB 168 MHz, APB1 /4 = 42 MHz, APB2 /2 = 84 MHz (the maxima,
 * RM0090 7.2). */
#define HSE_HZ 25000000u
#define PLL_M 25u
#define PLL_N 336u
#define PLL_P 2u
#define PLL_Q 7u
#define SYSCLK_HZ (HSE_HZ / PLL_M * PLL_N / PLL_P)
#define APB2_HZ (SYSCLK_HZ / 2u)
#define FLASH_WAIT_STATES 5u /* RM0090 table 10: 150 < HCLK <= 168 MHz at 2.7-3.6 V */
#define UART_BAUD 115200u

/* USART1: PA9 TX, PA10 RX, AF7 (STM32F405 DS8626 table 9); QEMU's first serial port */
#define UART_PORT GPIOA_BASE
#define UART_TX_PIN 9u
#define UART_RX_PIN 10u
#define UART_AF 7u

void f405_clock_init(void);
void f405_uart_init(void);

#endif /* STM32F405_REGS_H */
