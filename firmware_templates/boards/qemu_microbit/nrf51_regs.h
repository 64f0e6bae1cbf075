/*
 * nRF51822 registers used by the qemu_microbit board (nRF51 Series Reference Manual v3.0,
 * "RM"; addresses from the nRF51822 Product Specification v3.1 memory map, table 7).
 * Peripherals are driven by TASKS_* registers (write 1 to start) and report EVENTS_* (read 1 when
 * the event happened, write 0 to clear), RM 10.1.
 */
#ifndef NRF51_REGS_H
#define NRF51_REGS_H

#include <stdint.h>

#define NRF_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* CLOCK (RM 13.1): 16 MHz HFCLK from the crystal (the micro:bit's 16 MHz XTAL) */
#define CLOCK_BASE 0x40000000u
#define CLOCK_TASKS_HFCLKSTART NRF_REG(CLOCK_BASE + 0x000u)
#define CLOCK_EVENTS_HFCLKSTARTED NRF_REG(CLOCK_BASE + 0x100u)

/* UART0 (RM 29.9) */
#define UART0_BASE 0x40002000u
#define UART0_TASKS_STARTRX NRF_REG(UART0_BASE + 0x000u)
#define UART0_TASKS_STARTTX NRF_REG(UART0_BASE + 0x008u)
#define UART0_EVENTS_RXDRDY NRF_REG(UART0_BASE + 0x108u)
#define UART0_EVENTS_TXDRDY NRF_REG(UART0_BASE + 0x11Cu)
#define UART0_EVENTS_ERROR NRF_REG(UART0_BASE + 0x124u)
#define UART0_ERRORSRC NRF_REG(UART0_BASE + 0x480u)
#define UART0_ENABLE NRF_REG(UART0_BASE + 0x500u)
#define UART0_PSELRTS NRF_REG(UART0_BASE + 0x508u)
#define UART0_PSELTXD NRF_REG(UART0_BASE + 0x50Cu)
#define UART0_PSELCTS NRF_REG(UART0_BASE + 0x510u)
#define UART0_PSELRXD NRF_REG(UART0_BASE + 0x514u)
#define UART0_RXD NRF_REG(UART0_BASE + 0x518u)
#define UART0_TXD NRF_REG(UART0_BASE + 0x51Cu)
#define UART0_BAUDRATE NRF_REG(UART0_BASE + 0x524u)
#define UART0_CONFIG NRF_REG(UART0_BASE + 0x56Cu)
#define UART_ENABLE_ENABLED 4u
#define UART_BAUDRATE_115200 0x01D7E000u /* RM 29.9.14 */
#define UART_PSEL_DISCONNECTED 0xFFFFFFFFu

/* TIMER0 (RM 18.10): 32-bit capable (TIMER1/2 are 16-bit), f = 16 MHz / 2^PRESCALER */
#define TIMER0_BASE 0x40008000u
#define TIMER0_TASKS_START NRF_REG(TIMER0_BASE + 0x000u)
#define TIMER0_TASKS_STOP NRF_REG(TIMER0_BASE + 0x004u)
#define TIMER0_TASKS_CLEAR NRF_REG(TIMER0_BASE + 0x00Cu)
#define TIMER0_TASKS_CAPTURE0 NRF_REG(TIMER0_BASE + 0x040u)
#define TIMER0_MODE NRF_REG(TIMER0_BASE + 0x504u)
#define TIMER0_BITMODE NRF_REG(TIMER0_BASE + 0x508u)
#define TIMER0_PRESCALER NRF_REG(TIMER0_BASE + 0x510u)
#define TIMER0_CC0 NRF_REG(TIMER0_BASE + 0x540u)
#define TIMER_MODE_TIMER 0u
#define TIMER_BITMODE_32 3u
#define TIMER_PRESCALER_8MHZ 1u /* 16 MHz / 2 */

/* GPIO (RM 14.2) */
#define GPIO_BASE 0x50000000u
#define GPIO_OUTSET NRF_REG(GPIO_BASE + 0x508u)
#define GPIO_DIRSET NRF_REG(GPIO_BASE + 0x518u)
#define GPIO_PIN_CNF(n) NRF_REG(GPIO_BASE + 0x700u + 4u * (n))
#define GPIO_PIN_CNF_INPUT_CONNECT 0u /* DIR=input, INPUT=connect, PULL=disabled */

/* micro:bit v1.x: the interface chip's USB serial port is on P0.24 (TX) / P0.25 (RX) */
#define MICROBIT_UART_TX_PIN 24u
#define MICROBIT_UART_RX_PIN 25u

#define HFCLK_HZ 16000000u /* the CPU clock is always 16 MHz (nRF51822 PS 8.1) */
#define READY_POLLS 100000u /* >= 25 ms at 16 MHz (>= 4 cycles per poll); HFXO start-up is ~0.8 ms (PS 8.1.1) */

#endif /* NRF51_REGS_H */
