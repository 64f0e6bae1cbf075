/*
 * Cortex-M startup shared by the Arm boards (register level, no CMSIS/HAL): vector table,
 * reset handler (FPU on, .data copied from flash, .bss zeroed, VTOR set), fault handlers that
 * report pc/lr/cfsr over the UART as a FAULT frame + text line, stack painting. No libc: the
 * copy/zero loops carry an empty asm so that the compiler does not turn them into memcpy/memset.
 * The board provides SMCU_NUM_IRQS (external interrupt count) and SysTick_Handler if used.
 *
 * Armv6-M (Cortex-M0, __ARM_ARCH_6M__): Thumb-1 only (no IT blocks, B reaches +-2 KB), no
 * configurable fault status registers (CFSR/HFSR/MMFAR/BFAR are Armv7-M, ARMv7-M ARM B3.2.15) and
 * no VTOR on the Cortex-M0 (the vector table stays at address 0): the fault frame reports them as 0.
 */
#include <stdint.h>

#include "smcu_board.h"
#include "smcu_protocol.h"

#ifndef SMCU_NUM_IRQS
#define SMCU_NUM_IRQS 32
#endif

#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)

#define STACK_PAINT 0xC5C5C5C5u

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void smcu_fault_c(const uint32_t *frame, uint32_t ipsr);
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*smcu_vector_t)(void);

__attribute__((section(".isr_vector"), used)) const smcu_vector_t smcu_vectors[16 + SMCU_NUM_IRQS] = {
    (smcu_vector_t)(uintptr_t)&_estack, /* initial MSP */
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    HardFault_Handler, /* MemManage */
    HardFault_Handler, /* BusFault */
    HardFault_Handler, /* UsageFault */
    0, 0, 0, 0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
    /* external interrupts: Default_Handler (filled below by the range initialiser) */
    [16 ... 16 + SMCU_NUM_IRQS - 1] = Default_Handler,
};

void Reset_Handler(void) {
  uint32_t *src, *dst;
#if defined(__ARM_FP)
  SCB_CPACR |= 0xFu << 20; /* CP10, CP11 full access */
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
  for (src = &_sidata, dst = &_sdata; dst < &_edata;) {
    __asm__ volatile("");
    *dst++ = *src++;
  }
  for (dst = &_sbss; dst < &_ebss;) {
    __asm__ volatile("");
    *dst++ = 0;
  }
#if !defined(__ARM_ARCH_6M__)
  SCB_VTOR = (uint32_t)(uintptr_t)smcu_vectors;
#endif
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  (void)main();
  for (;;) {
  }
}

/* Any other exception or interrupt: reported like a fault, without a stacked frame (pc = lr = 0). */
#if defined(__ARM_ARCH_6M__)
/* Thumb-1: a register-indirect branch (smcu_fault_c may lie beyond B's +-2 KB). */
__attribute__((naked)) void Default_Handler(void) {
  __asm__ volatile(
      "movs r0, #0\n\t"
      "mrs r1, ipsr\n\t"
      "ldr r2, =smcu_fault_c\n\t"
      "bx r2\n\t"
      ".ltorg\n\t");
}

/* EXC_RETURN bit 2 selects the stack the frame is on (ARMv6-M ARM B1.5.8): 0 = MSP, 1 = PSP. */
__attribute__((naked)) void HardFault_Handler(void) {
  __asm__ volatile(
      "movs r0, #4\n\t"
      "mov r1, lr\n\t"
      "tst r0, r1\n\t"
      "bne 1f\n\t"
      "mrs r0, msp\n\t"
      "b 2f\n"
      "1:\n\t"
      "mrs r0, psp\n"
      "2:\n\t"
      "mrs r1, ipsr\n\t"
      "ldr r2, =smcu_fault_c\n\t"
      "bx r2\n\t"
      ".ltorg\n\t");
}
#else
__attribute__((naked)) void Default_Handler(void) {
  __asm__ volatile(
      "movs r0, #0\n\t"
      "mrs r1, ipsr\n\t"
      "b smcu_fault_c\n\t");
}

/* Find the stacked exception frame (MSP or PSP) and hand it to C. */
__attribute__((naked)) void HardFault_Handler(void) {
  __asm__ volatile(
      "tst lr, #4\n\t"
      "ite eq\n\t"
      "mrseq r0, msp\n\t"
      "mrsne r0, psp\n\t"
      "mrs r1, ipsr\n\t"
      "b smcu_fault_c\n\t");
}
#endif

void smcu_fault_c(const uint32_t *frame, uint32_t ipsr) {
  /* stacked frame: r0 r1 r2 r3 r12 lr pc xpsr (none from Default_Handler) */
#if defined(__ARM_ARCH_6M__)
  smcu_report_fault(ipsr & 0x1FFu, frame ? frame[6] : 0, frame ? frame[5] : 0, 0, 0, 0, 0);
#else
  smcu_report_fault(ipsr & 0x1FFu, frame ? frame[6] : 0, frame ? frame[5] : 0, SCB_CFSR, SCB_HFSR, SCB_MMFAR, SCB_BFAR);
#endif
  for (;;) {
  }
}

void board_stack_paint(void) {
  uint32_t sp;
  uint32_t *p = &_sstack;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  while ((uintptr_t)p + 64u < sp) *p++ = STACK_PAINT;
}

uint32_t board_stack_size(void) { return (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack); }

uint32_t board_stack_used(void) {
  const uint32_t *p = &_sstack;
  while (p < &_estack && *p == STACK_PAINT) p++;
  return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}
