/* `host` board: the serial port is stdin/stdout (a pipe), ticks are CLOCK_MONOTONIC ns.
 * Crashes (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) are reported as a FAULT frame. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smcu_board.h"
#include "smcu_protocol.h"

const char board_name[] = "host";
const char board_tick_unit[] = "ns";
const uint32_t board_clock_hz = 0;

static void on_fatal_signal(int sig) {
  /* write() only (async-signal-safe); stdout is unbuffered here, see board_init */
  smcu_report_fault(0x100u + (uint32_t)sig, 0, 0, 0, 0, 0, 0);
  _exit(128 + sig);
}

void board_init(void) {
  static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
  unsigned i;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
  signal(SIGPIPE, SIG_DFL);
}

int board_uart_getc(void) {
  static unsigned char buf[4096];
  static ssize_t have, pos;
  if (pos == have) {
    do {
      have = read(0, buf, sizeof buf);
    } while (have < 0);
    pos = 0;
    if (have == 0) return -1;
  }
  return (int)buf[pos++];
}

void board_uart_write(const uint8_t *data, uint32_t len) {
  while (len) {
    ssize_t n = write(1, data, len);
    if (n <= 0) _exit(1); /* the host went away */
    data += n;
    len -= (uint32_t)n;
  }
}

uint32_t board_ticks(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
}

void board_stack_paint(void) {}
uint32_t board_stack_size(void) { return 0; }
uint32_t board_stack_used(void) { return 0; }
