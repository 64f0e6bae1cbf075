/* qemu_mps2_an500: CMSDK UART0 + SysTick, see ../_common/mps2_board.c (shared with the other mps2 board).
 * SMCU_TICK_SCALE (instructions per SysTick tick) comes from board.json "tick_scale". */
#define SMCU_BOARD_NAME "qemu_mps2_an500"
#include "../_common/mps2_board.c"
