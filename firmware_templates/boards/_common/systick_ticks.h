/*
 * The SysTick timer as the board's tick counter (boards whose timer is SysTick on the core clock:
 * the QEMU mps2 boards and qemu_netduinoplus2). systick_ticks.c defines board_ticks() and the
 * SysTick_Handler; the board calls systick_ticks_start() at the end of board_init().
 */
#ifndef SYSTICK_TICKS_H
#define SYSTICK_TICKS_H

void systick_ticks_start(void);

#endif
