/*
 * Board support interface: what the firmware runtime (main + serial protocol) needs from
 * a board. Each board under firmware_templates/boards/<name>/ implements it, register-level,
 * no vendor HAL. The `host` board implements it on stdin/stdout for native builds.
 *
 * Boot order (firmware_templates/runtime/smcu_main.c): board_stack_paint(), board_init(),
 * BOOT frame, then the protocol loop (board_test/protocol.py is the specification).
 * Fault handlers (Arm: boards/_common/cortexm_startup.c; host: signal handlers) report through
 * smcu_report_fault() in smcu_protocol.h: a FAULT frame plus a "FAULT pc=... lr=... cfsr=..." line.
 * Board sources, compiler flags, memory and stack size are listed in the board's board.json.
 */
#ifndef SMCU_BOARD_H
#define SMCU_BOARD_H

#include <stdint.h>

/* Clocks, caches, serial port, tick counter. Called once at boot. */
void board_init(void);

/* Blocking read of one byte from the serial port; returns -1 if the port is closed (host only). */
int board_uart_getc(void);

/* Write bytes to the serial port (blocking until queued). */
void board_uart_write(const uint8_t *data, uint32_t len);

/* A free-running, monotonically increasing 32-bit tick counter (wraps). */
uint32_t board_ticks(void);

/* Unit of board_ticks(): "cycles" (DWT CYCCNT), "emulated_instructions" (QEMU -icount), "ns" (host). */
extern const char board_tick_unit[];

/* Board name (as in firmware_templates/boards/<name>) and the core clock in Hz. */
extern const char board_name[];
extern const uint32_t board_clock_hz;

/* Stack high-water mark: paint the unused stack at boot, measure the untouched part later.
 * Boards without a stack to measure return 0 from both size and used. */
void board_stack_paint(void);
uint32_t board_stack_size(void);
uint32_t board_stack_used(void);

#endif /* SMCU_BOARD_H */
