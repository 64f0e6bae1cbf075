/*
 * board_ticks() from SysTick (ARMv7-M / ARMv6-M Architecture Reference Manual, B3.3 "The system
 * timer, SysTick"): the 24-bit down-counter runs free from the processor clock with its interrupt
 * counting wraps, extended in software to 64 bits and scaled by SMCU_TICK_SCALE /
 * SMCU_TICK_SCALE_DEN (board.json "tick_scale", e.g. 40 or "125/21": emulated instructions per
 * SysTick tick under qemu -icount shift=0), so that the returned count wraps modulo 2^32 exactly.
 */
#include <stdint.h>

#include "smcu_board.h"
#include "systick_ticks.h"

#ifndef SMCU_TICK_SCALE
#error "systick_ticks.c needs SMCU_TICK_SCALE (board.json tick_scale)"
#endif
#ifndef SMCU_TICK_SCALE_DEN
#define SMCU_TICK_SCALE_DEN 1u
#endif

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u) /* control and status */
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u) /* reload value */
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u) /* current value */
#define SYST_CSR_ENABLE_TICKINT_CLKSOURCE 7u          /* enable, interrupt on wrap, processor clock */
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26) /* SysTick exception pending */

static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

void systick_ticks_start(void) {
  SYST_RVR = 0x00FFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = SYST_CSR_ENABLE_TICKINT_CLKSOURCE;
}

uint32_t board_ticks(void) {
  uint32_t w1, w2, v, pend;
  uint64_t ticks;
  do {
    w1 = systick_wraps;
    v = SYST_CVR;
    pend = SCB_ICSR & ICSR_PENDSTSET;
    w2 = systick_wraps;
  } while (w1 != w2);
  if (pend && v > 0x800000u) w1++; /* wrapped, interrupt not yet taken */
  ticks = ((uint64_t)w1 << 24) + (0x00FFFFFFu - v);
  return (uint32_t)(ticks * SMCU_TICK_SCALE / SMCU_TICK_SCALE_DEN);
}
