/*
 * STM32F746 registers used by the nucleo_f746 board (RM0385 addresses and bit positions).
 * SMCU_REG(addr) is a volatile 32-bit register; a host-side test defines SMCU_FAKE_REGS and
 * provides smcu_fake_reg() to run the clock/UART setup against a fake register block.
 */
#ifndef STM32F746_REGS_H
#define STM32F746_REGS_H

#include <stdint.h>

#ifdef SMCU_FAKE_REGS
volatile uint32_t *smcu_fake_reg(uint32_t addr);
#define SMCU_REG(addr) (*smcu_fake_reg(addr))
#else
#define SMCU_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#endif

/* RCC */
#define RCC_BASE 0x40023800u
#define RCC_CR SMCU_REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR SMCU_REG(RCC_BASE + 0x04u)
#define RCC_CFGR SMCU_REG(RCC_BASE + 0x08u)
#define RCC_AHB1ENR SMCU_REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR SMCU_REG(RCC_BASE + 0x40u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_PLLCFGR_PLLSRC_HSE (1u << 22)
#define RCC_CFGR_SW_PLL 2u
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL (2u << 2)
#define RCC_CFGR_PPRE1_DIV4 (5u << 10)
#define RCC_CFGR_PPRE2_DIV2 (4u << 13)
#define RCC_AHB1ENR_GPIODEN (1u << 3)
#define RCC_APB1ENR_USART3EN (1u << 18)
#define RCC_APB1ENR_PWREN (1u << 28)

/* PWR */
#define PWR_BASE 0x40007000u
#define PWR_CR1 SMCU_REG(PWR_BASE + 0x00u)
#define PWR_CSR1 SMCU_REG(PWR_BASE + 0x04u)
#define PWR_CR1_VOS_SCALE1 (3u << 14)
#define PWR_CR1_ODEN (1u << 16)
#define PWR_CR1_ODSWEN (1u << 17)
#define PWR_CSR1_ODRDY (1u << 16)
#define PWR_CSR1_ODSWRDY (1u << 17)

/* FLASH */
#define FLASH_BASE_R 0x40023C00u
#define FLASH_ACR SMCU_REG(FLASH_BASE_R + 0x00u)
#define FLASH_ACR_LATENCY_MASK 0xFu
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ARTEN (1u << 9)

/* GPIOD */
#define GPIOD_BASE 0x40020C00u
#define GPIOD_MODER SMCU_REG(GPIOD_BASE + 0x00u)
#define GPIOD_OSPEEDR SMCU_REG(GPIOD_BASE + 0x08u)
#define GPIOD_PUPDR SMCU_REG(GPIOD_BASE + 0x0Cu)
#define GPIOD_AFRH SMCU_REG(GPIOD_BASE + 0x24u)

/* USART3 */
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

/* Cortex-M7 core */
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

void nucleo_clock_init(void);
void nucleo_uart_init(void);
void nucleo_cache_enable(void);
void nucleo_cycle_counter_init(void);

#endif /* STM32F746_REGS_H */
