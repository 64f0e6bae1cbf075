/* qemu_mps2_an386: CMSDK UART0 + SysTick, see ../_common/mps2_board.c (shared with the other mps2 board). */
#define SMCU_BOARD_NAME "qemu_mps2_an386"
#define SMCU_TICK_SCALE 40
#include "../_common/mps2_board.c"
